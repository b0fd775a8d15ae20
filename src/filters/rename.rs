//! `rename`: moves a field to a new name (a missing source is left alone).

use serde::Deserialize;

use super::{EventFilter, Verdict};
use crate::event::{Event, Path};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenameConfig {
    pub from: Path,
    pub to: Path,
}

#[derive(Debug)]
pub struct Rename {
    from: Path,
    to: Path,
}

impl Rename {
    pub fn new(config: RenameConfig) -> Self {
        Rename {
            from: config.from,
            to: config.to,
        }
    }
}

impl EventFilter for Rename {
    fn apply(&self, event: &mut Event) -> Verdict {
        if let Some(v) = event.remove(&self.from) {
            event.insert(&self.to, v);
        }
        Verdict::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Value;

    #[test]
    fn renames_nested_and_the_raw_message() {
        let mut e = Event::from_text("raw text");
        e.fields
            .insert_path(&Path::parse("a.b").unwrap(), Value::Int(1));
        let r = |from: &str, to: &str| {
            Rename::new(RenameConfig {
                from: Path::parse(from).unwrap(),
                to: Path::parse(to).unwrap(),
            })
        };
        r("a.b", "c").apply(&mut e);
        r("message", "event.original").apply(&mut e);
        r("missing", "x").apply(&mut e);
        let json = crate::event::json::to_string(&e);
        assert!(
            json.contains(r#""a":{},"c":1,"event":{"original":"raw text"}"#),
            "{json}"
        );
        assert!(!json.contains(r#""message""#), "{json}");
    }
}
