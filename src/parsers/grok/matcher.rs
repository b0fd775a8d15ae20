//! Matching compiled grok patterns against lines and turning the captures
//! into fields.
//!
//! Everything that can be decided before the first line is: each capture
//! group's index is resolved to its field [`Path`] and [`Kind`] once, so a
//! match walks a flat slice of slots. Captured strings are `Bytes` slices of
//! the input (a reference count, no copy). The capture-position buffers the
//! regex crate needs are reused per thread, so a line costs no allocation
//! beyond the fields it produces.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use regex::bytes::{CaptureLocations, Regex};

use super::compile::{Expansion, Kind, GROUP_PREFIX};
use super::segment::{self, Outcome, Segmented, Spans};
use crate::event::{Fields, Path, Segment, Value};

/// One capture group that produces a field.
#[derive(Debug)]
struct Slot {
    group: usize,
    path: Path,
    kind: Kind,
    /// Another slot of the same pattern writes the same path: values are
    /// collected into an array instead of replacing each other.
    shared: bool,
}

/// One compiled pattern.
#[derive(Debug)]
pub struct CompiledPattern {
    /// The pattern as the user wrote it.
    pub source: String,
    regex: Regex,
    slots: Box<[Slot]>,
    /// Distinct top-level keys the pattern can write (capacity hint).
    top_level_keys: usize,
    /// The fast capture engine, when the pattern's shape allows it.
    segmented: Option<Segmented>,
    /// The document's shape, when no field is both a value and a parent.
    tree: Option<Vec<TreeNode>>,
}

/// One key of the document a pattern builds: the shape is known before any
/// line is read, so each object is created once with its final capacity and
/// keys are appended without searching.
#[derive(Debug)]
struct TreeNode {
    key: Bytes,
    kind: TreeKind,
}

#[derive(Debug)]
enum TreeKind {
    /// Indices into `slots`; several make an array of the captures present.
    Leaf(Vec<usize>),
    Object(Vec<TreeNode>),
}

/// Builds the tree of `slots`' paths, or `None` when a path is both a value
/// and a parent (`a` and `a.b`) or uses array indices: the generic
/// insertion handles those.
fn build_tree(slots: &[Slot]) -> Option<Vec<TreeNode>> {
    let mut roots: Vec<TreeNode> = Vec::new();
    for (index, slot) in slots.iter().enumerate() {
        let mut level = &mut roots;
        let segments = slot.path.segments();
        for (depth, segment) in segments.iter().enumerate() {
            let Segment::Key(key) = segment else {
                return None;
            };
            let last = depth + 1 == segments.len();
            let pos = match level.iter().position(|n| n.key == *key) {
                Some(pos) => pos,
                None => {
                    level.push(TreeNode {
                        key: key.clone(),
                        kind: if last {
                            TreeKind::Leaf(Vec::new())
                        } else {
                            TreeKind::Object(Vec::new())
                        },
                    });
                    level.len() - 1
                }
            };
            match (&mut level[pos].kind, last) {
                (TreeKind::Leaf(indices), true) => {
                    indices.push(index);
                    break;
                }
                (TreeKind::Object(children), false) => level = children,
                _ => return None,
            }
        }
    }
    Some(roots)
}

impl CompiledPattern {
    /// Resolves the groups of `regex` (compiled from `expansion`) to slots.
    pub fn new(source: String, expansion: &Expansion, regex: Regex) -> Self {
        let mut slots: Vec<Slot> = Vec::new();
        for (group, name) in regex.capture_names().enumerate() {
            let Some(index) = name
                .and_then(|n| n.strip_prefix(GROUP_PREFIX))
                .and_then(|n| n.parse::<usize>().ok())
            else {
                continue;
            };
            if let Some(spec) = expansion.captures.get(index) {
                slots.push(Slot {
                    group,
                    path: spec.path.clone(),
                    kind: spec.kind,
                    shared: false,
                });
            }
        }
        for i in 0..slots.len() {
            let shared = slots
                .iter()
                .enumerate()
                .any(|(j, s)| j != i && s.path == slots[i].path);
            slots[i].shared = shared;
        }
        let roots: HashSet<&Segment> = slots
            .iter()
            .filter_map(|s| s.path.segments().first())
            .collect();
        let top_level_keys = roots.len();
        let groups: HashMap<String, usize> = regex
            .capture_names()
            .enumerate()
            .filter_map(|(i, name)| Some((name?.to_owned(), i)))
            .collect();
        let segmented =
            segment::parse_hir(regex.as_str()).and_then(|hir| Segmented::new(&hir, &groups));
        let tree = build_tree(&slots);
        CompiledPattern {
            source,
            regex,
            slots: slots.into_boxed_slice(),
            top_level_keys,
            segmented,
            tree,
        }
    }

    /// The segmented engine's plan, if any.
    pub fn describe_segments(&self) -> Option<String> {
        self.segmented.as_ref().map(Segmented::describe)
    }

    /// Whether captures are extracted by the segmented engine.
    pub fn is_segmented(&self) -> bool {
        self.segmented.is_some()
    }

    /// Matches `input` and fills `spans` (one per group, `None` on entry) by
    /// the segmented engine when the pattern has one, else the full regex.
    fn spans(&self, input: &[u8], scratch: &mut PatternScratch, spans: &mut Spans) -> bool {
        if let (Some(seg), Some(seg_scratch)) = (&self.segmented, scratch.segmented.as_mut()) {
            // A match the segmented engine reports is a real one (each piece
            // and literal matched its span, in order), so an anchored
            // pattern needs no full-regex scan of the line first. An
            // unanchored one needs the regex to find where the match starts.
            let start = if seg.anchored {
                Some(0)
            } else {
                self.regex.find(input).map(|m| m.start())
            };
            let Some(start) = start else {
                return false;
            };
            if let Outcome::Match(_) = seg.captures(input, start, seg_scratch, spans) {
                return true;
            }
            spans.iter_mut().for_each(|s| *s = None);
            // Undecided: the full regex decides, and most lines of other
            // formats end here, rejected within their first bytes.
            if seg.anchored && !self.regex.is_match(input) {
                return false;
            }
        }
        if self
            .regex
            .captures_read(&mut scratch.locations, input)
            .is_none()
        {
            return false;
        }
        for (group, slot) in spans.iter_mut().enumerate() {
            *slot = scratch.locations.get(group);
        }
        true
    }

    /// The full regex's capture positions for `input` (tests compare the
    /// segmented engine with this).
    pub fn regex_spans(&self, input: &[u8]) -> Option<Vec<Option<(usize, usize)>>> {
        let mut locs = self.regex.capture_locations();
        self.regex.captures_read(&mut locs, input)?;
        Some((0..locs.len()).map(|g| locs.get(g)).collect())
    }

    /// The segmented engine's capture positions for `input`, when it has
    /// one and it decides (group 0 is not filled).
    pub fn segmented_spans(&self, input: &[u8]) -> Option<Vec<Option<(usize, usize)>>> {
        let seg = self.segmented.as_ref()?;
        let start = if seg.anchored {
            0
        } else {
            self.regex.find(input)?.start()
        };
        let mut spans = vec![None; self.regex.captures_len()];
        match seg.captures(input, start, &mut seg.scratch(), &mut spans) {
            Outcome::Match(_) => Some(spans),
            Outcome::Unknown => None,
        }
    }

    pub fn regex(&self) -> &Regex {
        &self.regex
    }

    /// The value of slot `index`, if it captured something to keep.
    fn slot_value(
        &self,
        index: usize,
        input: &Bytes,
        spans: &Spans,
        keep_empty: bool,
    ) -> Option<Value> {
        let slot = self.slots.get(index)?;
        let &Some((start, end)) = spans.get(slot.group)? else {
            return None;
        };
        if start == end && !keep_empty {
            return None;
        }
        let text = input.get(start..end)?;
        Some(convert(slot.kind, text, || input.slice(start..end)))
    }

    /// Builds the objects of `nodes`; empty objects are left out, as they
    /// would be by inserting only the captured paths.
    fn build(&self, nodes: &[TreeNode], input: &Bytes, spans: &Spans, keep_empty: bool) -> Fields {
        let mut fields = Fields::with_capacity(nodes.len());
        for node in nodes {
            let value = match &node.kind {
                TreeKind::Leaf(indices) => match indices.as_slice() {
                    [one] => self.slot_value(*one, input, spans, keep_empty),
                    many => {
                        let mut values: Vec<Value> = many
                            .iter()
                            .filter_map(|&i| self.slot_value(i, input, spans, keep_empty))
                            .collect();
                        match values.len() {
                            0 => None,
                            1 => values.pop(),
                            _ => Some(Value::Array(values)),
                        }
                    }
                },
                TreeKind::Object(children) => {
                    let child = self.build(children, input, spans, keep_empty);
                    (!child.is_empty()).then_some(Value::Object(child))
                }
            };
            if let Some(value) = value {
                fields.push_unchecked(node.key.clone(), value);
            }
        }
        fields
    }

    /// The fields a successful match produced.
    fn fields(&self, input: &Bytes, spans: &Spans, keep_empty: bool) -> Fields {
        if let Some(tree) = &self.tree {
            return self.build(tree, input, spans, keep_empty);
        }
        let mut fields = Fields::with_capacity(self.top_level_keys);
        for slot in self.slots.iter() {
            let Some(&Some((start, end))) = spans.get(slot.group) else {
                continue;
            };
            if start == end && !keep_empty {
                continue;
            }
            let Some(text) = input.get(start..end) else {
                continue;
            };
            let value = convert(slot.kind, text, || input.slice(start..end));
            if slot.shared {
                if let Some(existing) = fields.get_path_mut(&slot.path) {
                    append(existing, value);
                    continue;
                }
            }
            fields.insert_path(&slot.path, value);
        }
        fields
    }
}

/// Adds `value` to an existing capture of the same field: Logstash's rule of
/// turning repeated captures into an array.
fn append(existing: &mut Value, value: Value) {
    match existing {
        Value::Array(items) => items.push(value),
        other => {
            let first = std::mem::take(other);
            *other = Value::Array(vec![first, value]);
        }
    }
}

/// Converts captured text to `kind`. Text that does not convert (a `-` where
/// a number was expected, say) is kept as a string: grok never drops data,
/// and the pattern is what should be made stricter.
fn convert(kind: Kind, text: &[u8], slice: impl FnOnce() -> Bytes) -> Value {
    match kind {
        Kind::Str => Value::Str(slice()),
        Kind::Int => match parse_int(text) {
            Some(i) => Value::Int(i),
            None => Value::Str(slice()),
        },
        Kind::Float => match parse_float(text) {
            Some(f) => Value::Float(f),
            None => Value::Str(slice()),
        },
        Kind::Bool => {
            if text.eq_ignore_ascii_case(b"true") {
                Value::Bool(true)
            } else if text.eq_ignore_ascii_case(b"false") {
                Value::Bool(false)
            } else {
                Value::Str(slice())
            }
        }
    }
}

/// An integer; a decimal number is truncated towards zero, as Logstash's
/// integer conversion does (`"12.7"` → 12).
fn parse_int(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if !digits.is_empty() && digits.len() <= 18 && digits.iter().all(u8::is_ascii_digit) {
        // Fast path: 18 digits cannot overflow an i64.
        let n = digits
            .iter()
            .fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
        return Some(if negative { -n } else { n });
    }
    let text = std::str::from_utf8(text).ok()?;
    if let Ok(i) = text.parse::<i64>() {
        return Some(i);
    }
    let f = parse_float(text.as_bytes())?;
    let t = f.trunc();
    // The cast saturates; only accept values an i64 represents.
    (t >= i64::MIN as f64 && t < i64::MAX as f64).then_some(t as i64)
}

/// A finite float (JSON has no NaN or infinity).
fn parse_float(text: &[u8]) -> Option<f64> {
    let f: f64 = std::str::from_utf8(text).ok()?.parse().ok()?;
    f.is_finite().then_some(f)
}

/// The patterns of one grok parser, tried in order.
#[derive(Debug)]
pub struct Matcher {
    /// Tried in order. Each is first checked with its own lazy DFA, which
    /// rejects a line of another format within its first few bytes when the
    /// pattern starts with `^`. (A `RegexSet` of all patterns was measured
    /// slower: its combined automaton is large, and it must run to the end of
    /// every line.)
    patterns: Vec<CompiledPattern>,
    keep_empty: bool,
    /// Key of this matcher's entry in the per-thread scratch.
    id: u64,
}

/// How many matchers' capture buffers a thread keeps; a worker runs the
/// filter chains of a few pipelines, each with a few grok filters at most.
const SCRATCH_ENTRIES: usize = 16;

/// One pattern's per-thread working memory.
struct PatternScratch {
    locations: CaptureLocations,
    segmented: Option<segment::Scratch>,
}

/// One matcher's per-thread working memory.
struct Scratch {
    patterns: Vec<PatternScratch>,
    spans: Vec<Option<(usize, usize)>>,
}

thread_local! {
    /// Working memory per matcher id.
    static SCRATCH: RefCell<Vec<(u64, Scratch)>> = const { RefCell::new(Vec::new()) };
}

impl Matcher {
    pub fn new(patterns: Vec<CompiledPattern>, keep_empty: bool) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Matcher {
            patterns,
            keep_empty,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    pub fn patterns(&self) -> &[CompiledPattern] {
        &self.patterns
    }

    /// The index of the first pattern that matches `input`, and its fields.
    pub fn find(&self, input: &Bytes) -> Option<(usize, Fields)> {
        SCRATCH.with(|cell| {
            // A matcher never calls another matcher while this is borrowed,
            // so the borrow cannot fail; fresh memory would do if it did.
            let Ok(mut entries) = cell.try_borrow_mut() else {
                return self.find_with(input, &mut self.fresh_scratch());
            };
            let pos = match entries.iter().position(|(id, _)| *id == self.id) {
                Some(pos) => pos,
                None => {
                    if entries.len() >= SCRATCH_ENTRIES {
                        entries.remove(0);
                    }
                    entries.push((self.id, self.fresh_scratch()));
                    entries.len() - 1
                }
            };
            self.find_with(input, &mut entries[pos].1)
        })
    }

    fn fresh_scratch(&self) -> Scratch {
        let groups = self
            .patterns
            .iter()
            .map(|p| p.regex.captures_len())
            .max()
            .unwrap_or(0);
        Scratch {
            patterns: self
                .patterns
                .iter()
                .map(|p| PatternScratch {
                    locations: p.regex.capture_locations(),
                    segmented: p.segmented.as_ref().map(Segmented::scratch),
                })
                .collect(),
            spans: vec![None; groups],
        }
    }

    fn find_with(&self, input: &Bytes, scratch: &mut Scratch) -> Option<(usize, Fields)> {
        let Scratch { patterns, spans } = scratch;
        let mut try_one = |i: usize| {
            let pattern = self.patterns.get(i)?;
            let pattern_scratch = patterns.get_mut(i)?;
            let spans = spans.get_mut(..pattern.regex.captures_len())?;
            spans.iter_mut().for_each(|s| *s = None);
            if !pattern.spans(input, pattern_scratch, spans) {
                return None;
            }
            Some((i, pattern.fields(input, spans, self.keep_empty)))
        };
        (0..self.patterns.len()).find_map(&mut try_one)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        assert_eq!(parse_int(b"42"), Some(42));
        assert_eq!(parse_int(b"-7"), Some(-7));
        assert_eq!(parse_int(b"+7"), Some(7));
        assert_eq!(parse_int(b"12.7"), Some(12));
        assert_eq!(parse_int(b"-12.7"), Some(-12));
        assert_eq!(parse_int(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_int(b"99999999999999999999999"), None);
        assert_eq!(parse_int(b"-"), None);
        assert_eq!(parse_int(b""), None);
        assert_eq!(parse_int(b"0x10"), None);
        assert_eq!(parse_int(b"NaN"), None);
    }

    #[test]
    fn floats() {
        assert_eq!(parse_float(b"0.000073"), Some(0.000073));
        assert_eq!(parse_float(b"-1"), Some(-1.0));
        assert_eq!(parse_float(b"inf"), None);
        assert_eq!(parse_float(b"x"), None);
    }

    #[test]
    fn conversions_keep_unconvertible_text() {
        let b = |s: &'static str| Bytes::from_static(s.as_bytes());
        assert_eq!(convert(Kind::Int, b"5", || b("5")), Value::Int(5));
        assert_eq!(convert(Kind::Int, b"-", || b("-")), Value::from("-"));
        assert_eq!(convert(Kind::Float, b"2.5", || b("2.5")), Value::Float(2.5));
        assert_eq!(
            convert(Kind::Bool, b"TRUE", || b("TRUE")),
            Value::Bool(true)
        );
        assert_eq!(convert(Kind::Bool, b"no", || b("no")), Value::from("no"));
    }

    #[test]
    fn repeated_fields_become_arrays() {
        let mut v = Value::from("a");
        append(&mut v, Value::from("b"));
        append(&mut v, Value::from("c"));
        assert_eq!(
            v,
            Value::Array(vec![Value::from("a"), Value::from("b"), Value::from("c")])
        );
    }
}
