//! [`Path`]: a parsed field reference such as `http.response.status_code`.

use std::fmt;

use bytes::Bytes;

/// One step of a [`Path`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Segment {
    Key(Bytes),
    Index(usize),
}

/// A parsed reference to a nested field.
///
/// Accepted forms: dotted (`http.response.status_code`), with array indices
/// (`records[0].id`), and Logstash's bracket form (`[http][response][status_code]`).
/// Parse once at configuration time; lookups then walk the segments.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Path {
    text: String,
    segments: Vec<Segment>,
}

/// Why a field reference did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid field path `{path}`: {reason}")]
pub struct PathError {
    pub path: String,
    pub reason: String,
}

impl Path {
    /// Parses a field reference.
    pub fn parse(text: &str) -> Result<Path, PathError> {
        let err = |reason: &str| PathError {
            path: text.to_owned(),
            reason: reason.to_owned(),
        };
        if text.is_empty() {
            return Err(err("the path is empty"));
        }
        let mut segments = Vec::new();
        if text.starts_with('[') {
            let mut rest = text;
            while !rest.is_empty() {
                let inner = rest
                    .strip_prefix('[')
                    .ok_or_else(|| err("expected `[` to open the next segment"))?;
                let close = inner
                    .find(']')
                    .ok_or_else(|| err("a `[` is never closed"))?;
                let name = &inner[..close];
                if name.is_empty() {
                    return Err(err("empty segment `[]`"));
                }
                segments.push(match name.parse::<usize>() {
                    Ok(i) if !segments.is_empty() => Segment::Index(i),
                    _ => Segment::Key(Bytes::copy_from_slice(name.as_bytes())),
                });
                rest = &inner[close + 1..];
            }
        } else {
            for part in text.split('.') {
                let (name, mut indices) = match part.find('[') {
                    Some(i) => (&part[..i], &part[i..]),
                    None => (part, ""),
                };
                if name.is_empty() {
                    return Err(err(
                        "empty segment (two dots in a row, or a leading or trailing dot)",
                    ));
                }
                segments.push(Segment::Key(Bytes::copy_from_slice(name.as_bytes())));
                while !indices.is_empty() {
                    let inner = indices
                        .strip_prefix('[')
                        .ok_or_else(|| err("unexpected text after `]`"))?;
                    let close = inner
                        .find(']')
                        .ok_or_else(|| err("a `[` is never closed"))?;
                    let index = inner[..close]
                        .parse::<usize>()
                        .map_err(|_| err("an array index must be a non-negative integer"))?;
                    segments.push(Segment::Index(index));
                    indices = &inner[close + 1..];
                }
            }
        }
        Ok(Path {
            text: text.to_owned(),
            segments,
        })
    }

    /// Parses a path written in weir's own code.
    ///
    /// # Panics
    /// If `text` is not a valid path: only for literals known to be valid.
    pub fn parse_static(text: &'static str) -> Path {
        match Path::parse(text) {
            Ok(p) => p,
            Err(e) => panic!("weir bug: {e}"),
        }
    }

    pub(crate) fn from_segments(segments: Vec<Segment>) -> Path {
        let mut text = String::new();
        for s in &segments {
            match s {
                Segment::Key(k) => {
                    if !text.is_empty() {
                        text.push('.');
                    }
                    text.push_str(&String::from_utf8_lossy(k));
                }
                Segment::Index(i) => text.push_str(&format!("[{i}]")),
            }
        }
        Path { text, segments }
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the path is the single top-level key `key`.
    pub fn is_root_key(&self, key: &str) -> bool {
        matches!(self.segments.as_slice(), [Segment::Key(k)] if k.as_ref() == key.as_bytes())
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for Path {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Path::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(p: &Path) -> Vec<String> {
        p.segments()
            .iter()
            .map(|s| match s {
                Segment::Key(k) => String::from_utf8_lossy(k).into_owned(),
                Segment::Index(i) => format!("#{i}"),
            })
            .collect()
    }

    #[test]
    fn dotted_and_bracketed_forms_agree() {
        let a = Path::parse("http.response.status_code").unwrap();
        let b = Path::parse("[http][response][status_code]").unwrap();
        assert_eq!(a.segments(), b.segments());
        assert_eq!(keys(&a), ["http", "response", "status_code"]);
    }

    #[test]
    fn indices() {
        let p = Path::parse("records[0][2].id").unwrap();
        assert_eq!(keys(&p), ["records", "#0", "#2", "id"]);
    }

    #[test]
    fn errors_say_why() {
        for bad in ["", "a..b", ".a", "a.", "a[x]", "a[1", "[a", "[a]b", "a[1]x"] {
            assert!(Path::parse(bad).is_err(), "{bad:?} should fail");
        }
        let e = Path::parse("a..b").unwrap_err();
        assert!(e.to_string().contains("a..b"));
    }

    #[test]
    fn special_names() {
        assert!(Path::parse("@timestamp").unwrap().is_root_key("@timestamp"));
        assert!(!Path::parse("a.message").unwrap().is_root_key("message"));
    }
}
