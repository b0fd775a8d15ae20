//! The differential check the AWS parsers' fuzz targets share: a parsed
//! record is written as JSON straight from its deferred form, and again
//! after its field tree was built; the two must be the same bytes.

use bytes::BytesMut;
use weir::event::json::write_event;
use weir::event::{Event, Fields};

/// Writes `fields` (a parser's output) over an input-like field, deferred
/// and built, and checks both agree and are JSON.
pub fn check(fields: &Fields) {
    let mut event = Event::from_text("");
    event.meta.message_consumed = true;
    event.fields.insert("aws", weir::event::Value::from("input"));
    event.fields.merge(fields.clone());
    let mut deferred = BytesMut::new();
    write_event(&event, &mut deferred);
    // Reading a field builds the tree; the next write walks that tree.
    let _ = event.fields.len();
    let mut built = BytesMut::new();
    write_event(&event, &mut built);
    assert_eq!(deferred, built);
    assert!(serde_json::from_slice::<serde_json::Value>(&built).is_ok());
}
