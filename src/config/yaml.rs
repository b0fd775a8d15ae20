//! A YAML document as a tree of [`Node`]s that remember where they were written.
//!
//! serde's YAML crates lose positions as soon as a value is buffered (tagged
//! enums, flattened maps), and weir's config errors must name file, line and
//! column for every mistake. So the document is first read into this tree with
//! saphyr's event parser, and typed config structs are then deserialized from
//! the tree ([`super::de`]), which attaches the node's position to each error.

use std::collections::HashMap;
use std::fmt;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// A 1-based line and column in a config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Loc {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

impl Loc {
    fn of(span: &Span) -> Loc {
        Loc {
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }
}

/// One YAML node and its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A scalar's text; `plain` scalars are typed by their text (`5044` is a
    /// number, `true` a boolean, `~` null), quoted and block scalars are strings.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    /// Entries in document order; keys are scalars in weir's configs.
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub fn scalar(text: impl Into<String>, loc: Loc) -> Node {
        Node {
            kind: NodeKind::Scalar {
                text: text.into(),
                plain: false,
            },
            loc,
        }
    }

    /// The empty map, for components given no options (`drop: {}` or `drop:`).
    pub fn empty_map(loc: Loc) -> Node {
        Node {
            kind: NodeKind::Map(Vec::new()),
            loc,
        }
    }

    /// Whether this is YAML null (`~`, `null`, or nothing at all).
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar { text, plain: true } if is_null_text(text))
    }

    /// The scalar's text.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The value of `key` in a map.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// Splits a map into the entries named in `keys` and a map of the rest
    /// (what a component's own options struct is deserialized from).
    pub fn split_keys(&self, keys: &[&str]) -> (Vec<(String, Node)>, Node) {
        let mut taken = Vec::new();
        let mut rest = Vec::new();
        if let NodeKind::Map(entries) = &self.kind {
            for (k, v) in entries {
                match k.as_str() {
                    Some(name) if keys.contains(&name) => taken.push((name.to_owned(), v.clone())),
                    _ => rest.push((k.clone(), v.clone())),
                }
            }
        }
        (
            taken,
            Node {
                kind: NodeKind::Map(rest),
                loc: self.loc,
            },
        )
    }

    /// What kind of node this is, for error messages.
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar { .. } if self.is_null() => "nothing (null)",
            NodeKind::Scalar { .. } => "a scalar",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a map",
        }
    }

    /// Applies `f` to every scalar (keys excluded), stopping at nothing: errors
    /// are collected so that one pass reports them all.
    pub fn visit_scalars_mut<E>(
        &mut self,
        f: &mut impl FnMut(&mut String, &mut bool, Loc) -> Result<(), E>,
        errors: &mut Vec<E>,
    ) {
        match &mut self.kind {
            NodeKind::Scalar { text, plain } => {
                if let Err(e) = f(text, plain, self.loc) {
                    errors.push(e);
                }
            }
            NodeKind::Seq(items) => {
                for item in items {
                    item.visit_scalars_mut(f, errors);
                }
            }
            NodeKind::Map(entries) => {
                for (_, v) in entries {
                    v.visit_scalars_mut(f, errors);
                }
            }
        }
    }
}

pub(crate) fn is_null_text(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// A YAML syntax error.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub loc: Loc,
    pub message: String,
}

/// Reads a YAML document into a [`Node`] tree. An empty document is an empty map.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut parser = Parser::new_from_str(text);
    let mut builder = Builder {
        anchors: HashMap::new(),
        stack: Vec::new(),
        root: None,
    };
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|e| SyntaxError {
            loc: Loc {
                line: e.marker().line(),
                column: e.marker().col() + 1,
            },
            message: e.info().to_owned(),
        })?;
        match event {
            Event::DocumentStart(_) if builder.root.is_some() => {
                return Err(SyntaxError {
                    loc: Loc::of(&span),
                    message: "a pipeline file holds one YAML document; found a second `---`".into(),
                });
            }
            Event::Scalar(value, style, anchor, _tag) => {
                let node = Node {
                    kind: NodeKind::Scalar {
                        text: value.into_owned(),
                        plain: style == ScalarStyle::Plain,
                    },
                    loc: Loc::of(&span),
                };
                builder.add(node, anchor, &span)?;
            }
            Event::SequenceStart(anchor, _) => builder.stack.push(Open {
                node: Node {
                    kind: NodeKind::Seq(Vec::new()),
                    loc: Loc::of(&span),
                },
                anchor,
                pending_key: None,
            }),
            Event::MappingStart(anchor, _) => builder.stack.push(Open {
                node: Node {
                    kind: NodeKind::Map(Vec::new()),
                    loc: Loc::of(&span),
                },
                anchor,
                pending_key: None,
            }),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(open) = builder.stack.pop() {
                    builder.add(open.node, open.anchor, &span)?;
                }
            }
            Event::Alias(id) => {
                let node = builder
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| SyntaxError {
                        loc: Loc::of(&span),
                        message: "alias to an unknown anchor".into(),
                    })?;
                builder.add(node, 0, &span)?;
            }
            _ => {}
        }
    }
    Ok(builder.root.unwrap_or(Node {
        kind: NodeKind::Map(Vec::new()),
        loc: Loc { line: 1, column: 1 },
    }))
}

struct Open {
    node: Node,
    anchor: usize,
    pending_key: Option<Node>,
}

struct Builder {
    anchors: HashMap<usize, Node>,
    stack: Vec<Open>,
    root: Option<Node>,
}

impl Builder {
    fn add(&mut self, node: Node, anchor: usize, span: &Span) -> Result<(), SyntaxError> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let Some(open) = self.stack.last_mut() else {
            self.root = Some(node);
            return Ok(());
        };
        match &mut open.node.kind {
            NodeKind::Seq(items) => items.push(node),
            NodeKind::Map(entries) => match open.pending_key.take() {
                None => {
                    if !matches!(node.kind, NodeKind::Scalar { .. }) {
                        return Err(SyntaxError {
                            loc: node.loc,
                            message: "map keys must be plain names, not lists or maps".into(),
                        });
                    }
                    if let Some((dup, _)) =
                        entries.iter().find(|(k, _)| k.as_str() == node.as_str())
                    {
                        return Err(SyntaxError {
                            loc: Loc::of(span),
                            message: format!(
                                "duplicate key `{}` (first written at line {})",
                                node.as_str().unwrap_or_default(),
                                dup.loc.line
                            ),
                        });
                    }
                    open.pending_key = Some(node);
                }
                Some(key) => entries.push((key, node)),
            },
            NodeKind::Scalar { .. } => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let doc = parse("inputs:\n  tcp_in:\n    type: tcp\n").unwrap();
        let ty = doc
            .get("inputs")
            .unwrap()
            .get("tcp_in")
            .unwrap()
            .get("type")
            .unwrap();
        assert_eq!(ty.as_str(), Some("tcp"));
        assert_eq!(
            ty.loc,
            Loc {
                line: 3,
                column: 11
            }
        );
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = parse("a: [1, 2\nb: c\n").unwrap_err();
        assert!(e.loc.line >= 1, "{e:?}");
        let e = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!(e.loc.line, 2);
        assert!(e.message.contains("duplicate key `a`"), "{}", e.message);
    }

    #[test]
    fn anchors_and_styles() {
        let doc = parse("a: &x {k: 1}\nb: *x\nc: '5'\nd: 5\n").unwrap();
        assert_eq!(
            doc.get("a").unwrap().get("k").unwrap().as_str(),
            doc.get("b").unwrap().get("k").unwrap().as_str()
        );
        assert!(matches!(
            &doc.get("c").unwrap().kind,
            NodeKind::Scalar { plain: false, .. }
        ));
        assert!(matches!(
            &doc.get("d").unwrap().kind,
            NodeKind::Scalar { plain: true, .. }
        ));
        assert_eq!(doc.get("b").unwrap().get("k").unwrap().as_str(), Some("1"));
    }

    #[test]
    fn empty_document_is_an_empty_map() {
        assert_eq!(parse("").unwrap().as_map().map(|m| m.len()), Some(0));
    }
}
