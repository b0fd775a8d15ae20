//! `set`: writes a value to a field. String values may reference other fields
//! with `%{field}` (`value: "%{host.name}/%{service}"`).

use serde::Deserialize;

use super::{EventFilter, Verdict};
use crate::event::{Event, Path, Template, Value};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetConfig {
    /// The field to write (dotted path).
    pub field: Path,
    /// Any YAML value: a string (with `%{field}` references), number, boolean,
    /// list or map.
    pub value: serde_json::Value,
    /// Leave the field alone when it already has a value.
    #[serde(default)]
    pub only_if_missing: bool,
}

#[derive(Debug)]
pub struct Set {
    field: Path,
    value: SetValue,
    only_if_missing: bool,
}

#[derive(Debug)]
enum SetValue {
    Constant(Value),
    Template(Template),
}

impl Set {
    pub fn new(config: SetConfig) -> Result<Self, String> {
        let value = match &config.value {
            serde_json::Value::String(s) => {
                let t = Template::parse(s, false)?;
                if t.is_constant() {
                    SetValue::Constant(Value::from(s.as_str()))
                } else {
                    SetValue::Template(t)
                }
            }
            other => SetValue::Constant(Value::from(other)),
        };
        Ok(Set {
            field: config.field,
            value,
            only_if_missing: config.only_if_missing,
        })
    }
}

impl EventFilter for Set {
    fn apply(&self, event: &mut Event) -> Verdict {
        if self.only_if_missing && event.get(&self.field).is_some() {
            return Verdict::Keep;
        }
        let value = match &self.value {
            SetValue::Constant(v) => v.clone(),
            // A missing reference renders empty, as Logstash's sprintf leaves
            // it visible rather than failing the event.
            SetValue::Template(t) => Value::from(t.render(event).unwrap_or_else(|(s, _)| s)),
        };
        event.insert(&self.field, value);
        Verdict::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(field: &str, value: serde_json::Value) -> Set {
        Set::new(SetConfig {
            field: Path::parse(field).unwrap(),
            value,
            only_if_missing: false,
        })
        .unwrap()
    }

    #[test]
    fn constants_and_templates() {
        let mut e = Event::from_text("m");
        set("service.name", serde_json::json!("api")).apply(&mut e);
        set("labels.env", serde_json::json!({"k": [1, true]})).apply(&mut e);
        set("route", serde_json::json!("%{service.name}/v1")).apply(&mut e);
        let json = crate::event::json::to_string(&e);
        assert!(json.contains(r#""service":{"name":"api"}"#), "{json}");
        assert!(
            json.contains(r#""labels":{"env":{"k":[1,true]}}"#),
            "{json}"
        );
        assert!(json.contains(r#""route":"api/v1""#), "{json}");
    }

    #[test]
    fn only_if_missing() {
        let mut e = Event::from_text("m");
        let mut s = set("a", serde_json::json!(1));
        s.apply(&mut e);
        s.only_if_missing = true;
        s.value = SetValue::Constant(Value::Int(2));
        s.apply(&mut e);
        assert_eq!(e.fields.get("a"), Some(&Value::Int(1)));
    }
}
