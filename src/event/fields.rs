//! [`Fields`]: an ordered map of field names to values.

use std::sync::OnceLock;

use bytes::Bytes;

use super::flat::FlatDoc;
use super::path::{Path, Segment};
use super::Value;

type Entries = Vec<(Bytes, Value)>;

/// An object's fields, in insertion order.
///
/// A `Vec` of pairs searched linearly: log events have a few dozen keys at most
/// per level, where a linear scan of short keys beats hashing, and insertion
/// order is kept, so documents come out in the order parsers wrote them.
/// Keys are [`Bytes`] so a JSON parser can slice them out of its input.
///
/// A parser's [`FlatDoc`] can be merged in without building its tree: it is
/// kept deferred, the JSON encoder writes it straight from its line, and the
/// first method that reads or changes the fields builds the tree (as if
/// [`Fields::merge`] had been called with it).
#[derive(Clone, Default)]
pub struct Fields {
    /// The fields themselves, or with `deferred`, those the record is
    /// merged over.
    entries: Entries,
    deferred: Option<Box<Deferred>>,
}

/// A record merged over `Fields::entries` whose tree is not built yet.
#[derive(Clone)]
struct Deferred {
    doc: FlatDoc,
    /// The merged tree, once a reader asked for it.
    built: OnceLock<Entries>,
}

impl PartialEq for Fields {
    fn eq(&self, other: &Self) -> bool {
        self.view() == other.view()
    }
}

impl std::fmt::Debug for Fields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fields")
            .field("entries", &self.view())
            .finish()
    }
}

impl From<FlatDoc> for Fields {
    fn from(doc: FlatDoc) -> Self {
        Fields {
            entries: Vec::new(),
            deferred: Some(Box::new(Deferred {
                doc,
                built: OnceLock::new(),
            })),
        }
    }
}

impl Fields {
    pub fn new() -> Self {
        Fields {
            entries: Vec::new(),
            deferred: None,
        }
    }

    pub fn with_capacity(n: usize) -> Self {
        Fields {
            entries: Vec::with_capacity(n),
            deferred: None,
        }
    }

    /// The entries, building a deferred record's tree first.
    pub(crate) fn view(&self) -> &Entries {
        match &self.deferred {
            None => &self.entries,
            Some(d) => d.built.get_or_init(|| merged(&self.entries, &d.doc)),
        }
    }

    /// The entries for changing, with a deferred record merged in for good.
    fn entries_mut(&mut self) -> &mut Entries {
        if let Some(d) = self.deferred.take() {
            let Deferred { doc, built } = *d;
            self.entries = match built.into_inner() {
                Some(entries) => entries,
                None => merged(&self.entries, &doc),
            };
        }
        &mut self.entries
    }

    /// For the JSON encoder: the fields a deferred record is merged over
    /// and the record, while its tree is not built.
    pub(crate) fn deferred_parts(&self) -> Option<(&[(Bytes, Value)], &FlatDoc)> {
        let d = self.deferred.as_ref()?;
        if d.built.get().is_some() {
            return None;
        }
        Some((&self.entries, &d.doc))
    }

    pub fn len(&self) -> usize {
        self.view().len()
    }

    pub fn is_empty(&self) -> bool {
        match &self.deferred {
            None => self.entries.is_empty(),
            Some(d) => self.entries.is_empty() && d.doc.is_empty(),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &Value)> {
        self.view().iter().map(|(k, v)| (k, v))
    }

    /// Whether a direct child `key` exists, without building a deferred
    /// record's tree.
    pub fn contains_key(&self, key: &str) -> bool {
        let key = key.as_bytes();
        match self.deferred_parts() {
            Some((entries, doc)) => {
                entries.iter().any(|(k, _)| k.as_ref() == key)
                    || doc.member(doc.root(), key).is_some()
            }
            None => self.get_bytes(key).is_some(),
        }
    }

    /// The value of a direct child `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.get_bytes(key.as_bytes())
    }

    pub fn get_bytes(&self, key: &[u8]) -> Option<&Value> {
        self.view()
            .iter()
            .find(|(k, _)| k.as_ref() == key)
            .map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.child_mut(key.as_bytes())
    }

    fn child_mut(&mut self, key: &[u8]) -> Option<&mut Value> {
        self.entries_mut()
            .iter_mut()
            .find(|(k, _)| k.as_ref() == key)
            .map(|(_, v)| v)
    }

    /// Sets a direct child, replacing an existing value in place (keeping its
    /// position); returns the old value.
    pub fn insert(&mut self, key: impl Into<Key>, value: Value) -> Option<Value> {
        let key = key.into().0;
        match self.child_mut(&key) {
            Some(slot) => Some(std::mem::replace(slot, value)),
            None => {
                self.entries.push((key, value));
                None
            }
        }
    }

    /// Appends without looking for an existing key: for parsers that know the
    /// key is new (building a fresh object). A duplicate would be written twice.
    pub fn push_unchecked(&mut self, key: impl Into<Key>, value: Value) {
        self.entries_mut().push((key.into().0, value));
    }

    /// The value of `key`, inserting `default()` first when it is missing.
    pub fn entry_or_insert(&mut self, key: &str, default: impl FnOnce() -> Value) -> &mut Value {
        let entries = self.entries_mut();
        let i = match entries
            .iter()
            .position(|(k, _)| k.as_ref() == key.as_bytes())
        {
            Some(i) => i,
            None => {
                entries.push((Bytes::copy_from_slice(key.as_bytes()), default()));
                entries.len() - 1
            }
        };
        &mut entries[i].1
    }

    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.remove_key(key.as_bytes())
    }

    fn remove_key(&mut self, key: &[u8]) -> Option<Value> {
        let entries = self.entries_mut();
        let i = entries.iter().position(|(k, _)| k.as_ref() == key)?;
        Some(entries.remove(i).1)
    }

    /// Moves every field of `other` into `self`. A same-named field is
    /// replaced, except that two objects are merged key by key: an input's
    /// `aws.s3.*` fields survive a parser that adds `aws.s3access.*`.
    ///
    /// A deferred record in `other` stays deferred (see [`FlatDoc`]).
    pub fn merge(&mut self, other: Fields) {
        if self.is_plain_and_empty() {
            *self = other;
            return;
        }
        // A record alone, merged into plain fields: keep it deferred over
        // them (what `view` builds is this same merge).
        let record_alone = other.entries.is_empty()
            && other
                .deferred
                .as_ref()
                .is_some_and(|d| d.built.get().is_none());
        if record_alone && self.deferred.is_none() {
            self.deferred = other.deferred;
            return;
        }
        let mut other = other;
        let theirs = std::mem::take(other.entries_mut());
        merge_entries(self.entries_mut(), theirs);
    }

    fn is_plain_and_empty(&self) -> bool {
        self.deferred.is_none() && self.entries.is_empty()
    }

    /// The value at a nested `path`.
    pub fn get_path(&self, path: &Path) -> Option<&Value> {
        let mut segments = path.segments().iter();
        let mut current = match segments.next()? {
            Segment::Key(k) => self.get_bytes(k)?,
            Segment::Index(_) => return None,
        };
        for seg in segments {
            current = match (seg, current) {
                (Segment::Key(k), Value::Object(f)) => f.get_bytes(k)?,
                (Segment::Index(i), Value::Array(a)) => a.get(*i)?,
                _ => return None,
            };
        }
        Some(current)
    }

    /// A mutable reference to the value at `path`.
    pub fn get_path_mut(&mut self, path: &Path) -> Option<&mut Value> {
        let mut segments = path.segments().iter();
        let mut current = match segments.next()? {
            Segment::Key(k) => self.child_mut(k)?,
            Segment::Index(_) => return None,
        };
        for seg in segments {
            current = match (seg, current) {
                (Segment::Key(k), Value::Object(f)) => f.child_mut(k)?,
                (Segment::Index(i), Value::Array(a)) => a.get_mut(*i)?,
                _ => return None,
            };
        }
        Some(current)
    }

    /// Sets the value at `path`, creating intermediate objects. An intermediate
    /// of the wrong kind is replaced (the later writer wins, as in Logstash);
    /// an array index past the end appends.
    pub fn insert_path(&mut self, path: &Path, value: Value) {
        insert_into_fields(self, path.segments(), value);
    }

    /// Removes the value at `path`; empty parent objects are left in place.
    pub fn remove_path(&mut self, path: &Path) -> Option<Value> {
        let segments = path.segments();
        let (last, parents) = segments.split_last()?;
        if parents.is_empty() {
            return match last {
                Segment::Key(k) => self.remove_key(k),
                Segment::Index(_) => None,
            };
        }
        let parent = self.get_path_mut(&Path::from_segments(parents.to_vec()))?;
        match (last, parent) {
            (Segment::Key(k), Value::Object(f)) => f.remove_key(k),
            (Segment::Index(i), Value::Array(a)) if *i < a.len() => Some(a.remove(*i)),
            _ => None,
        }
    }

    /// The child `key`, inserted as `Null` when missing.
    fn child_or_null(&mut self, key: &Bytes) -> &mut Value {
        let entries = self.entries_mut();
        let i = match entries.iter().position(|(k, _)| k == key) {
            Some(i) => i,
            None => {
                entries.push((key.clone(), Value::Null));
                entries.len() - 1
            }
        };
        &mut entries[i].1
    }
}

/// `entries` with a record merged over them, as [`Fields::merge`] does.
fn merged(entries: &Entries, doc: &FlatDoc) -> Entries {
    let mut out = entries.clone();
    merge_entries(&mut out, doc.to_fields().entries);
    out
}

/// The merge of [`Fields::merge`] on plain entries. Both sides have unique
/// keys; `theirs` wins, except that two objects are merged key by key.
/// The JSON encoder's writing of deferred records follows the same order
/// (see `json::write_merged`): change both together.
fn merge_entries(ours: &mut Entries, theirs: Entries) {
    if ours.is_empty() {
        *ours = theirs;
        return;
    }
    if theirs.len() > ours.len() {
        // The common case: a parsed document merged into the few fields
        // an input set. Keep the larger allocation and put the input's
        // fields first (same order as appending).
        let mut merged = theirs;
        let mine = std::mem::take(ours);
        let mut kept = Vec::with_capacity(mine.len());
        for (k, v) in mine {
            match merged.iter_mut().find(|(m, _)| *m == k) {
                Some((_, newer)) => {
                    if let (Value::Object(older), Value::Object(newer)) = (v, newer) {
                        let mut combined = older;
                        combined.merge(std::mem::take(newer));
                        *newer = combined;
                    }
                }
                None => kept.push((k, v)),
            }
        }
        merged.splice(0..0, kept);
        *ours = merged;
        return;
    }
    ours.reserve(theirs.len());
    for (k, v) in theirs {
        match ours.iter().position(|(m, _)| *m == k) {
            Some(i) => match (&mut ours[i].1, v) {
                (Value::Object(older), Value::Object(newer)) => older.merge(newer),
                (slot, v) => *slot = v,
            },
            None => ours.push((k, v)),
        }
    }
}

fn insert_into_fields(fields: &mut Fields, segments: &[Segment], value: Value) {
    match segments {
        [Segment::Key(k)] => {
            fields.insert(Key(k.clone()), value);
        }
        [Segment::Key(k), rest @ ..] => insert_into_value(fields.child_or_null(k), rest, value),
        // The root is an object: a leading index addresses nothing.
        [] | [Segment::Index(_), ..] => {}
    }
}

fn insert_into_value(target: &mut Value, segments: &[Segment], value: Value) {
    match segments.first() {
        Some(Segment::Key(_)) => {
            if !matches!(target, Value::Object(_)) {
                *target = Value::Object(Fields::new());
            }
            if let Value::Object(f) = target {
                insert_into_fields(f, segments, value);
            }
        }
        Some(Segment::Index(i)) => {
            if !matches!(target, Value::Array(_)) {
                *target = Value::Array(Vec::new());
            }
            if let Value::Array(a) = target {
                let idx = if *i < a.len() {
                    *i
                } else {
                    a.push(Value::Null);
                    a.len() - 1
                };
                if segments.len() == 1 {
                    a[idx] = value;
                } else {
                    insert_into_value(&mut a[idx], &segments[1..], value);
                }
            }
        }
        None => *target = value,
    }
}

/// A field name, convertible from the string types callers have at hand.
pub struct Key(pub Bytes);

impl From<&str> for Key {
    fn from(s: &str) -> Self {
        Key(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<&'static [u8]> for Key {
    fn from(s: &'static [u8]) -> Self {
        Key(Bytes::from_static(s))
    }
}

impl From<String> for Key {
    fn from(s: String) -> Self {
        Key(Bytes::from(s))
    }
}

impl From<Bytes> for Key {
    fn from(b: Bytes) -> Self {
        Key(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Path {
        Path::parse(s).unwrap()
    }

    #[test]
    fn nested_insert_get_remove() {
        let mut f = Fields::new();
        f.insert_path(&p("http.response.status_code"), Value::Int(200));
        f.insert_path(&p("http.request.method"), Value::from("GET"));
        assert_eq!(
            f.get_path(&p("http.response.status_code")),
            Some(&Value::Int(200))
        );
        assert_eq!(f.len(), 1);
        assert_eq!(
            f.remove_path(&p("http.request.method")),
            Some(Value::from("GET"))
        );
        assert_eq!(f.get_path(&p("http.request.method")), None);
        assert!(f.get_path(&p("http.request")).is_some());
    }

    #[test]
    fn insert_replaces_scalars_on_the_way() {
        let mut f = Fields::new();
        f.insert("a", Value::Int(1));
        f.insert_path(&p("a.b"), Value::Int(2));
        assert_eq!(f.get_path(&p("a.b")), Some(&Value::Int(2)));
    }

    #[test]
    fn arrays_by_index() {
        let mut f = Fields::new();
        f.insert_path(&p("a[0]"), Value::Int(1));
        f.insert_path(&p("a[5]"), Value::Int(2));
        f.insert_path(&p("a[0]"), Value::Int(3));
        assert_eq!(
            f.get("a"),
            Some(&Value::Array(vec![Value::Int(3), Value::Int(2)]))
        );
        f.insert_path(&p("b[0].c"), Value::Int(4));
        assert_eq!(f.get_path(&p("b[0].c")), Some(&Value::Int(4)));
        assert_eq!(f.remove_path(&p("a[1]")), Some(Value::Int(2)));
    }

    #[test]
    fn merge_keeps_order_and_lets_the_merged_side_win() {
        let mut small = Fields::new();
        small.insert("source", Value::Int(1));
        small.insert("x", Value::Int(2));
        let mut big = Fields::new();
        for (k, v) in [("a", 1), ("x", 9), ("b", 2)] {
            big.insert(k, Value::Int(v));
        }
        let mut merged = small.clone();
        merged.merge(big.clone());
        let keys: Vec<_> = merged
            .iter()
            .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
            .collect();
        assert_eq!(keys, ["source", "a", "x", "b"]);
        assert_eq!(merged.get("x"), Some(&Value::Int(9)));
        let mut other_way = big;
        other_way.merge(small);
        assert_eq!(other_way.get("x"), Some(&Value::Int(2)));
    }

    #[test]
    fn merge_combines_same_named_objects_both_ways() {
        let obj = |pairs: &[(&str, i64)]| {
            let mut f = Fields::new();
            for (k, v) in pairs {
                f.insert(*k, Value::Int(*v));
            }
            Value::Object(f)
        };
        // An input's `aws.s3` next to a parser's `aws.s3access`, in both
        // size orders (the two code paths), and a scalar still replaced.
        for extra in [0, 5] {
            let mut input = Fields::new();
            input.insert("aws", obj(&[("s3", 1), ("shared", 1)]));
            input.insert("n", Value::Int(1));
            let mut parsed = Fields::new();
            parsed.insert("aws", obj(&[("s3access", 2), ("shared", 2)]));
            parsed.insert("n", Value::Int(2));
            for i in 0..extra {
                parsed.insert(format!("k{i}").as_str(), Value::Int(i));
            }
            input.merge(parsed);
            assert_eq!(
                input.get("aws"),
                Some(&obj(&[("s3", 1), ("shared", 2), ("s3access", 2)])),
                "extra={extra}"
            );
            assert_eq!(input.get("n"), Some(&Value::Int(2)));
        }
    }

    #[test]
    fn insert_keeps_order_and_replaces_in_place() {
        let mut f = Fields::new();
        f.insert("x", Value::Int(1));
        f.insert("y", Value::Int(2));
        f.insert("x", Value::Int(3));
        let keys: Vec<_> = f.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(keys, vec![Bytes::from("x"), Bytes::from("y")]);
        assert_eq!(f.get("x"), Some(&Value::Int(3)));
    }
}
