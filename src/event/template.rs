//! Templates: strings with `%{field}` references and, where enabled,
//! strftime fields taken from the event's `@timestamp` (`logs-%Y.%m.%d`).

use std::fmt::Write as _;

use super::{Event, Path, Value};

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    Field(Path),
    /// A strftime specifier such as `%Y`.
    Time(String),
}

/// A parsed template; render it per event.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    text: String,
    parts: Vec<Part>,
}

/// The strftime specifiers templates accept (a stray `%` stays literal).
const TIME_SPECIFIERS: &str = "YCymbBdejHIMSpFTDaAUWVGgsZz";

impl Template {
    /// Parses `%{path}` references, and strftime specifiers when `strftime`
    /// is true. `%%` is a literal `%`.
    pub fn parse(text: &str, strftime: bool) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c != '%' {
                literal.push(c);
                continue;
            }
            match chars.peek().map(|&(_, n)| n) {
                Some('{') => {
                    let body = &text[i + 2..];
                    let end = body
                        .find('}')
                        .ok_or_else(|| format!("`%{{` at byte {i} of `{text}` is never closed"))?;
                    let path = Path::parse(&body[..end]).map_err(|e| e.to_string())?;
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Field(path));
                    // Skip `{`, the path and `}`.
                    let stop = i + 2 + end;
                    while chars.peek().is_some_and(|&(j, _)| j <= stop) {
                        chars.next();
                    }
                }
                Some('%') => {
                    chars.next();
                    literal.push('%');
                }
                Some(spec) if strftime && TIME_SPECIFIERS.contains(spec) => {
                    chars.next();
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Time(format!("%{spec}")));
                }
                _ => literal.push('%'),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Template {
            text: text.to_owned(),
            parts,
        })
    }

    /// Whether the template is the same for every event.
    pub fn is_constant(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Renders the template for `event`. A missing field renders as an empty
    /// string and is reported in `Err` (with the rendered text) so callers can
    /// decide: an index name with a hole is usually a mistake worth tagging.
    pub fn render(&self, event: &Event) -> Result<String, (String, String)> {
        let mut out = String::new();
        let mut missing = None;
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Time(spec) => {
                    let _ = write!(out, "{}", event.timestamp.format(spec));
                }
                Part::Field(path) => match event.get(path) {
                    Some(Value::Str(b)) => out.push_str(&String::from_utf8_lossy(&b)),
                    Some(Value::Null) | None => {
                        missing.get_or_insert_with(|| path.to_string());
                    }
                    Some(other) => out.push_str(&other.to_text()),
                },
            }
        }
        match missing {
            None => Ok(out),
            Some(field) => Err((out, field)),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Template {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Template::parse(&text, true).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn event() -> Event {
        let mut e = Event::from_text("m");
        e.timestamp = Utc.with_ymd_and_hms(2024, 3, 9, 1, 2, 3).unwrap();
        e.fields
            .insert_path(&Path::parse("host.name").unwrap(), Value::from("web-1"));
        e.fields.insert("n", Value::Int(7));
        e
    }

    #[test]
    fn fields_and_time() {
        let t = Template::parse("logs-%{host.name}-%Y.%m.%d-%{n}", true).unwrap();
        assert_eq!(t.render(&event()).unwrap(), "logs-web-1-2024.03.09-7");
        assert!(!t.is_constant());
    }

    #[test]
    fn literal_percent_and_no_strftime() {
        let t = Template::parse("100%% at %Y %{n}%", false).unwrap();
        assert_eq!(t.render(&event()).unwrap(), "100% at %Y 7%");
        assert!(Template::parse("plain", true).unwrap().is_constant());
    }

    #[test]
    fn missing_field_is_reported() {
        let t = Template::parse("a-%{nope}-b", true).unwrap();
        assert_eq!(t.render(&event()), Err(("a--b".into(), "nope".into())));
        assert!(Template::parse("%{open", true).is_err());
    }
}
