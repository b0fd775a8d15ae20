//! [`FlatDoc`]: a parsed record held as slots over its line, so building it
//! costs one allocation and no reference counting per field.
//!
//! A hand-written parser (S3 access logs, VPC flow logs) knows the shape of
//! its document in advance: the same nested ECS objects every time, only
//! some leaves missing. It describes that shape once as a static [`Schema`]
//! and, per record, fills a slot per leaf: a span of the line, a number, a
//! constant, or (rarely) an owned [`Value`] for text that had to be
//! unescaped. Writing the record as JSON walks the schema and copies straight
//! from the line. The [`Fields`] tree the rest of weir works with is built
//! only when a filter reads or changes the document ([`Fields`] keeps a
//! `FlatDoc` deferred and builds it on first use), so a pipeline that only
//! parses and ships never builds it.
//!
//! Absent leaves are left out, and so are objects and arrays with nothing
//! present in them, which is what the tree-building parsers did.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};

use super::json::{write_key, write_str, write_timestamp, write_value};
use super::{Fields, Value};

/// The fixed shape of a parser's document: a `static` for a format whose
/// layout never changes, or built at run time (and shared by every record
/// read with it) when the layout comes from configuration or a header line.
#[derive(Debug)]
pub struct Schema {
    /// The top-level members, in the order they are written.
    pub root: Cow<'static, [Node]>,
    /// How many slots a record of this schema has (one past the highest
    /// slot number any node uses).
    pub slots: usize,
}

/// One member of an object in a [`Schema`].
#[derive(Debug, Clone)]
pub struct Node {
    pub key: Cow<'static, str>,
    pub kind: Kind,
}

/// What a [`Node`] holds.
#[derive(Debug, Clone)]
pub enum Kind {
    /// The value in one slot.
    Leaf(u16),
    /// An object of further members.
    Object(Cow<'static, [Node]>),
    /// An array of the present values among these slots, in order.
    Array(Cow<'static, [u16]>),
}

/// Builds a static [`Node`]: `node!(leaf "key", SLOT)`,
/// `node!(object "key", [node!(…), …])`, `node!(array "key", [SLOT, …])`.
/// (A macro rather than `const fn`s so that nested member lists can be
/// written inline in a `static`.)
#[macro_export]
macro_rules! node {
    (leaf $key:literal, $slot:expr $(,)?) => {
        $crate::event::flat::Node {
            key: ::std::borrow::Cow::Borrowed($key),
            kind: $crate::event::flat::Kind::Leaf($slot),
        }
    };
    (object $key:literal, [$($member:expr),* $(,)?] $(,)?) => {
        $crate::event::flat::Node {
            key: ::std::borrow::Cow::Borrowed($key),
            kind: $crate::event::flat::Kind::Object(::std::borrow::Cow::Borrowed(&[$($member),*])),
        }
    };
    (array $key:literal, [$($slot:expr),* $(,)?] $(,)?) => {
        $crate::event::flat::Node {
            key: ::std::borrow::Cow::Borrowed($key),
            kind: $crate::event::flat::Kind::Array(::std::borrow::Cow::Borrowed(&[$($slot),*])),
        }
    };
}

/// A [`FlatDoc`]'s schema: cloning a static one costs nothing, a shared one
/// a reference count.
#[derive(Debug, Clone)]
pub enum SchemaRef {
    Static(&'static Schema),
    Shared(Arc<Schema>),
}

impl std::ops::Deref for SchemaRef {
    type Target = Schema;

    fn deref(&self) -> &Schema {
        match self {
            SchemaRef::Static(s) => s,
            SchemaRef::Shared(s) => s,
        }
    }
}

impl From<&'static Schema> for SchemaRef {
    fn from(s: &'static Schema) -> Self {
        SchemaRef::Static(s)
    }
}

impl From<Arc<Schema>> for SchemaRef {
    fn from(s: Arc<Schema>) -> Self {
        SchemaRef::Shared(s)
    }
}

/// A leaf's value in one record.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Slot {
    /// Not in this record: the member is left out.
    #[default]
    Absent,
    /// A string: these bytes of the record's line.
    Span(u32, u32),
    Int(i64),
    Bool(bool),
    /// A string the parser chose from a fixed set (`aws`, `success`, `tcp`).
    Static(&'static str),
    /// A list of such strings (possibly empty, which is still written).
    List(&'static [&'static str]),
    Timestamp(DateTime<Utc>),
    /// The record's owned value number `n` (unescaped text, a variable list).
    Owned(u32),
}

/// One parsed record: a [`Schema`], the line its spans point into, and a
/// slot per leaf. Cloning shares the line.
#[derive(Debug, Clone)]
pub struct FlatDoc {
    schema: SchemaRef,
    line: Bytes,
    slots: Vec<Slot>,
    owned: Vec<Value>,
}

impl FlatDoc {
    /// A record of `schema` over `line` with every slot absent.
    pub fn new(schema: impl Into<SchemaRef>, line: Bytes) -> Self {
        let schema = schema.into();
        FlatDoc {
            slots: vec![Slot::Absent; schema.slots],
            schema,
            line,
            owned: Vec::new(),
        }
    }

    /// Sets a slot. A slot number outside the schema is a parser bug; it is
    /// ignored rather than panicking on a log line.
    #[inline]
    pub fn set(&mut self, slot: u16, value: Slot) {
        debug_assert!(usize::from(slot) < self.slots.len(), "slot {slot}");
        if let Some(s) = self.slots.get_mut(usize::from(slot)) {
            *s = value;
        }
    }

    /// Sets a slot to the bytes `start..end` of the line.
    #[inline]
    pub fn set_span(&mut self, slot: u16, start: usize, end: usize) {
        // Clamped so that a parser's off-by-one can never read past the line.
        let end = end.min(self.line.len());
        let start = start.min(end);
        let value = match (u32::try_from(start), u32::try_from(end)) {
            (Ok(s), Ok(e)) => Slot::Span(s, e),
            // Lines over 4 GiB cannot be framed by any input; keep the value
            // correct anyway.
            _ => self.own(Value::Str(self.line.slice(start..end))),
        };
        self.set(slot, value);
    }

    /// Sets a slot to an owned value.
    pub fn set_owned(&mut self, slot: u16, value: Value) {
        let value = self.own(value);
        self.set(slot, value);
    }

    fn own(&mut self, value: Value) -> Slot {
        self.owned.push(value);
        Slot::Owned(u32::try_from(self.owned.len() - 1).unwrap_or(u32::MAX))
    }

    /// The slot's current value.
    pub fn get(&self, slot: u16) -> Slot {
        self.slots
            .get(usize::from(slot))
            .copied()
            .unwrap_or(Slot::Absent)
    }

    /// The string a slot holds, for parsers that derive one field from
    /// another.
    pub fn bytes(&self, slot: u16) -> Option<&[u8]> {
        match self.get(slot) {
            Slot::Span(s, e) => self.line.get(s as usize..e as usize),
            Slot::Static(s) => Some(s.as_bytes()),
            Slot::Owned(n) => self.owned.get(n as usize).and_then(Value::as_bytes),
            _ => None,
        }
    }

    /// The top-level members.
    pub fn root(&self) -> &[Node] {
        &self.schema.root
    }

    /// Whether nothing at all is present.
    pub fn is_empty(&self) -> bool {
        !self.schema.root.iter().any(|n| self.present(n))
    }

    /// Whether `node` is written: a present leaf, or an object or array
    /// with something present in it.
    pub fn present(&self, node: &Node) -> bool {
        match &node.kind {
            Kind::Leaf(slot) => self.get(*slot) != Slot::Absent,
            Kind::Object(members) => members.iter().any(|m| self.present(m)),
            Kind::Array(slots) => slots.iter().any(|s| self.get(*s) != Slot::Absent),
        }
    }

    /// The present member of `members` named `key`.
    pub fn member<'a>(&self, members: &'a [Node], key: &[u8]) -> Option<&'a Node> {
        members
            .iter()
            .find(|m| m.key.as_bytes() == key && self.present(m))
    }

    /// The document as a field tree.
    pub fn to_fields(&self) -> Fields {
        self.object_fields(&self.schema.root)
    }

    fn object_fields(&self, members: &[Node]) -> Fields {
        let mut fields = Fields::with_capacity(members.len());
        for m in members {
            if let Some(v) = self.node_value(m) {
                let key = match &m.key {
                    Cow::Borrowed(k) => Bytes::from_static(k.as_bytes()),
                    Cow::Owned(k) => Bytes::copy_from_slice(k.as_bytes()),
                };
                fields.push_unchecked(key, v);
            }
        }
        fields
    }

    /// A member's value as a [`Value`], `None` when it is not present.
    pub fn node_value(&self, node: &Node) -> Option<Value> {
        match &node.kind {
            Kind::Leaf(slot) => self.slot_value(*slot),
            Kind::Object(members) => {
                let fields = self.object_fields(members);
                (!fields.is_empty()).then_some(Value::Object(fields))
            }
            Kind::Array(slots) => {
                let items: Vec<Value> = slots.iter().filter_map(|s| self.slot_value(*s)).collect();
                (!items.is_empty()).then_some(Value::Array(items))
            }
        }
    }

    fn slot_value(&self, slot: u16) -> Option<Value> {
        Some(match self.get(slot) {
            Slot::Absent => return None,
            Slot::Span(s, e) => Value::Str(self.line.slice(s as usize..e as usize)),
            Slot::Int(i) => Value::Int(i),
            Slot::Bool(b) => Value::Bool(b),
            Slot::Static(s) => Value::Str(Bytes::from_static(s.as_bytes())),
            Slot::List(items) => Value::Array(
                items
                    .iter()
                    .map(|s| Value::Str(Bytes::from_static(s.as_bytes())))
                    .collect(),
            ),
            Slot::Timestamp(t) => Value::Timestamp(t),
            Slot::Owned(n) => self.owned.get(n as usize)?.clone(),
        })
    }

    /// Appends `node`'s value as JSON; `false` (and nothing written) when it
    /// is not present.
    pub fn write_node(&self, node: &Node, out: &mut BytesMut) -> bool {
        match &node.kind {
            Kind::Leaf(slot) => self.write_slot(*slot, out),
            Kind::Object(members) => {
                let mark = out.len();
                out.extend_from_slice(b"{");
                let mut first = true;
                for m in members.iter() {
                    self.write_member(m, &mut first, out);
                }
                if first {
                    out.truncate(mark);
                    return false;
                }
                out.extend_from_slice(b"}");
                true
            }
            Kind::Array(slots) => {
                let mark = out.len();
                out.extend_from_slice(b"[");
                let mut first = true;
                for s in slots.iter() {
                    let comma = out.len();
                    if !first {
                        out.extend_from_slice(b",");
                    }
                    if self.write_slot(*s, out) {
                        first = false;
                    } else {
                        out.truncate(comma);
                    }
                }
                if first {
                    out.truncate(mark);
                    return false;
                }
                out.extend_from_slice(b"]");
                true
            }
        }
    }

    /// Appends `"key":value` (preceded by a comma unless `first`) when
    /// `node` is present.
    pub fn write_member(&self, node: &Node, first: &mut bool, out: &mut BytesMut) {
        let (mark, was_first) = (out.len(), *first);
        write_key(node.key.as_bytes(), first, out);
        if !self.write_node(node, out) {
            out.truncate(mark);
            *first = was_first;
        }
    }

    fn write_slot(&self, slot: u16, out: &mut BytesMut) -> bool {
        match self.get(slot) {
            Slot::Absent => return false,
            Slot::Span(s, e) => match self.line.get(s as usize..e as usize) {
                Some(text) => write_str(text, out),
                None => return false,
            },
            Slot::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes()),
            Slot::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
            Slot::Static(s) => write_str(s.as_bytes(), out),
            Slot::List(items) => {
                out.extend_from_slice(b"[");
                for (i, s) in items.iter().enumerate() {
                    if i > 0 {
                        out.extend_from_slice(b",");
                    }
                    write_str(s.as_bytes(), out);
                }
                out.extend_from_slice(b"]");
            }
            Slot::Timestamp(t) => write_timestamp(&t, out),
            Slot::Owned(n) => match self.owned.get(n as usize) {
                Some(v) => write_value(v, out),
                None => return false,
            },
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: u16 = 0;
    const B: u16 = 1;
    const C: u16 = 2;
    const D: u16 = 3;
    static SCHEMA: Schema = Schema {
        root: Cow::Borrowed(&[
            node!(leaf "a", A),
            node!(object "o", [node!(leaf "b", B), node!(object "empty", [node!(leaf "c", C)])]),
            node!(array "list", [A, C, D]),
        ]),
        slots: 4,
    };

    fn json(doc: &FlatDoc) -> String {
        let mut out = BytesMut::new();
        out.extend_from_slice(b"{");
        let mut first = true;
        for n in doc.root() {
            doc.write_member(n, &mut first, &mut out);
        }
        out.extend_from_slice(b"}");
        String::from_utf8(out.to_vec()).expect("utf-8")
    }

    #[test]
    fn absent_leaves_and_empty_containers_are_left_out() {
        let mut doc = FlatDoc::new(&SCHEMA, Bytes::from_static(b"hello world"));
        assert!(doc.is_empty());
        assert_eq!(json(&doc), "{}");
        assert!(doc.to_fields().is_empty());
        doc.set_span(A, 0, 5);
        doc.set(D, Slot::Int(7));
        assert_eq!(json(&doc), r#"{"a":"hello","list":["hello",7]}"#);
        doc.set(B, Slot::Static("x\"y"));
        doc.set_owned(C, Value::from("un\\escaped"));
        assert_eq!(
            json(&doc),
            r#"{"a":"hello","o":{"b":"x\"y","empty":{"c":"un\\escaped"}},"list":["hello","un\\escaped",7]}"#
        );
        assert_eq!(doc.bytes(C), Some(&b"un\\escaped"[..]));
    }

    #[test]
    fn the_tree_and_the_json_agree() {
        let mut doc = FlatDoc::new(&SCHEMA, Bytes::from_static(b"hello world"));
        doc.set_span(B, 6, 11);
        doc.set(C, Slot::Bool(true));
        doc.set(A, Slot::List(&[]));
        doc.set(
            D,
            Slot::Timestamp(DateTime::from_timestamp(1, 0).unwrap_or_default()),
        );
        let mut out = BytesMut::new();
        write_value(&Value::Object(doc.to_fields()), &mut out);
        assert_eq!(out, json(&doc).as_bytes());
        assert_eq!(
            json(&doc),
            r#"{"a":[],"o":{"b":"world","empty":{"c":true}},"list":[[],true,"1970-01-01T00:00:01.000Z"]}"#
        );
    }

    #[test]
    fn a_span_past_the_line_is_kept_safe() {
        let mut doc = FlatDoc::new(&SCHEMA, Bytes::from_static(b"abc"));
        doc.set_span(A, 1, 99);
        doc.set_span(B, 2, 1);
        assert_eq!(doc.bytes(A), Some(&b"bc"[..]));
        assert_eq!(doc.bytes(B), Some(&b""[..]));
        let _ = json(&doc);
        let _ = doc.to_fields();
    }
}
