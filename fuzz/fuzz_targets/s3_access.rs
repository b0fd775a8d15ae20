//! `format: s3_access` on arbitrary bytes: never panics, never reads past the
//! input, a parsed record always yields one object with `aws.s3access`, and
//! it writes the same JSON deferred as built.
#![no_main]

#[path = "../common/deferred.rs"]
mod deferred;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use weir::event::{Event, Value};
use weir::parsers::s3_access::{S3AccessOptions, S3AccessParser};
use weir::parsers::Parser;

fuzz_target!(|data: &[u8]| {
    let event = Event::from_text("");
    for decode_key in [false, true] {
        let parser = S3AccessParser::new(S3AccessOptions { decode_key });
        let mut out = Vec::new();
        match parser.parse(&Bytes::copy_from_slice(data), &event, &mut out) {
            Ok(()) => {
                assert_eq!(out.len(), 1);
                let fields = out[0].value.as_object().expect("an object");
                deferred::check(fields);
                assert!(matches!(fields.get("aws"), Some(Value::Object(_))));
                assert!(out[0].timestamp.is_some());
            }
            Err(e) => {
                assert!(out.is_empty());
                assert!(!e.reason.is_empty());
            }
        }
    }
});
