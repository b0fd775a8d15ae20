//! `remove`: deletes fields.

use serde::Deserialize;

use super::{EventFilter, Verdict};
use crate::event::{Event, Path};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveConfig {
    pub fields: Vec<Path>,
}

#[derive(Debug)]
pub struct Remove {
    fields: Vec<Path>,
}

impl Remove {
    pub fn new(config: RemoveConfig) -> Self {
        Remove {
            fields: config.fields,
        }
    }
}

impl EventFilter for Remove {
    fn apply(&self, event: &mut Event) -> Verdict {
        for f in &self.fields {
            event.remove(f);
        }
        Verdict::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Value;

    #[test]
    fn removes_fields_and_message() {
        let mut e = Event::from_text("m");
        e.fields.insert("a", Value::Int(1));
        e.fields.insert("b", Value::Int(2));
        Remove::new(RemoveConfig {
            fields: vec![Path::parse("a").unwrap(), Path::parse("message").unwrap()],
        })
        .apply(&mut e);
        assert_eq!(
            crate::event::json::to_string(&e)
                .split_once(',')
                .map(|x| x.1),
            Some(r#""b":2}"#)
        );
    }
}
