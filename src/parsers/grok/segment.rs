//! Fast capture extraction for grok patterns that are a chain of fields.
//!
//! # Why
//! Finding *whether* a line matches is fast in the regex crate (a lazy DFA,
//! about a nanosecond per byte). Finding *where each group matched* is not:
//! the one-pass DFA handles at most 16 groups and no ambiguity (`(?:-|%{INT})`
//! is ambiguous on `-`), so a 27-field S3 pattern falls to the bounded
//! backtracker at ~25 ns per byte, fifteen times the cost of the match itself.
//!
//! # How
//! Log patterns are concatenations of fields separated by literal text:
//! `A " " B " [" C "] " …`. When the piece before a literal cannot contain the
//! literal's first byte, that piece must end at the next occurrence of that
//! byte ([`Locate::Byte`], a `memchr`); otherwise a lazy DFA for the piece
//! lists where it can end followed by the literal, and if that is exactly one
//! place, the boundary is forced too ([`Locate::Dfa`]). Either way every
//! overall match has the piece on exactly that span, so the piece's captures
//! are those of its own highest-priority parse *of that span*: a byte-class
//! check, a literal comparison, or a small regex anchored at both ends
//! ([`Exact`]). What follows the last forced boundary (the "tail") is matched
//! by a regex anchored where the chain stopped; a tail made only of optional
//! pieces (the fields AWS appended over the years) is matched one piece at a
//! time, since the rest of the pattern can then always match empty.
//!
//! A tail piece that is a greedy run of a byte class (`%{GREEDYDATA}`) takes
//! the longest run, and an optional group `(?:X)?` whose `X` splits the same
//! way is matched by a nested plan for `X`, falling back to the piece's regex
//! when that cannot decide.
//!
//! This gives the same captures as the full regex: the boundaries are forced
//! in *every* match, and within a forced span leftmost-first priority picks
//! the same parse. A match this engine reports is constructed piece by piece,
//! so it is a real match; whenever it reports anything else ([`Outcome`]) the
//! caller asks the full regex, so a gap in this reasoning costs speed, never
//! correctness. The differential tests compare both engines.

use std::collections::HashMap;

use regex_automata::hybrid::dfa::{Cache as DfaCache, DFA};
use regex_automata::meta::{self, Cache as MetaCache};
use regex_automata::nfa::thompson;
use regex_automata::util::captures::Captures;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, MatchKind};
use regex_syntax::hir::{Class, Hir, HirKind, Look};

/// A capture span per group of the full regex (group 0 unused here).
pub type Spans = [Option<(usize, usize)>];

/// The result of [`Segmented::captures`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `spans` holds the captures; the match ends at this offset.
    Match(usize),
    /// This engine could not decide (the full regex must).
    Unknown,
}

/// How to find where the piece before a literal ends.
#[derive(Debug)]
enum Locate {
    /// The piece is empty: the literal comes next.
    Here,
    /// The piece cannot contain this byte: it ends at its next occurrence.
    Byte(u8),
    /// Index of a lazy DFA (all match ends) for the piece.
    Dfa(usize),
}

/// How to check that a piece matches an exact span, and capture from it.
#[derive(Debug)]
enum Exact {
    /// The empty piece.
    Nothing,
    /// `class{min,max}`; `group` captures the whole span.
    Class {
        table: Box<[bool; 256]>,
        min: usize,
        max: Option<usize>,
        group: Option<usize>,
    },
    Literal {
        bytes: Box<[u8]>,
        group: Option<usize>,
    },
    /// A capture-free regex (index into `regexes`) that must match the span
    /// exactly; `group` captures the whole span.
    Verify { regex: usize, group: Option<usize> },
    /// Alternatives in priority order: the first that matches exactly wins.
    /// With each, the groups it may set, cleared again when it fails half-way.
    Alt(Vec<(Exact, Vec<usize>)>),
    /// A capture around a piece that has captures of its own.
    Group { group: usize, inner: Box<Exact> },
    /// A concatenation split at forced boundaries like the whole pattern;
    /// `rest` must match from the last boundary to the end of the span.
    Chain { steps: Vec<Step>, rest: Box<Exact> },
    /// A regex with captures that must match the span exactly.
    Captures { regex: usize },
}

#[derive(Debug)]
struct Step {
    locate: Locate,
    literal: Box<[u8]>,
    piece: Exact,
}

#[derive(Debug)]
enum Tail {
    None,
    /// Optional pieces, each matched where the previous one ended.
    Greedy(Vec<TailPart>),
    /// One regex anchored where the steps ended.
    Regex(usize),
}

/// One optional piece of a [`Tail::Greedy`].
#[derive(Debug)]
struct TailPart {
    /// The piece as a regex anchored where the previous piece ended: the
    /// reference, and the fallback whenever `fast` cannot decide.
    regex: usize,
    /// A literal the piece must start with to match anything but the empty
    /// string (skipped without running anything when absent).
    lead: Box<[u8]>,
    fast: FastPart,
}

/// A way to match a tail piece without the regex's capture engine (a
/// bounded backtracker, the slowest part of a line otherwise).
#[derive(Debug)]
enum FastPart {
    None,
    /// Literals and greedy byte-class runs (`%{NOTSPACE}`, `%{GREEDYDATA}`,
    /// ` ?`), as alternatives in priority order (one for a piece that is not
    /// an alternation): the first that matches here wins, taking the longest
    /// run, as leftmost-first does when everything after the piece can match
    /// empty. Each is an [`Exact::Literal`] or [`Exact::Class`].
    Simple(Vec<Exact>),
    /// `(?:X)?` where `X` segments like a whole pattern: when `X` matches
    /// here, greedy `?` takes it with `X`'s own preferred captures.
    /// `groups` are cleared again when `X` cannot be decided.
    Optional {
        inner: Box<Segmented>,
        groups: Vec<usize>,
    },
}

/// A sub-regex and the full regex's group index for each of its groups.
#[derive(Debug)]
struct SubRegex {
    regex: meta::Regex,
    groups: Vec<usize>,
}

/// The segmented form of one pattern.
#[derive(Debug)]
pub struct Segmented {
    /// Group name → index in the full regex.
    groups: HashMap<String, usize>,
    /// Whether the pattern starts with `^` (else the start comes from `find`).
    pub anchored: bool,
    steps: Vec<Step>,
    tail: Tail,
    regexes: Vec<SubRegex>,
    dfas: Vec<DFA>,
}

/// Per-thread working memory of one [`Segmented`].
#[derive(Debug)]
pub struct Scratch {
    regexes: Vec<(MetaCache, Captures)>,
    dfas: Vec<DfaCache>,
    /// Per tail part, the scratch of its [`FastPart::Optional`] pattern.
    tail: Vec<Option<Scratch>>,
}

fn syntax_config() -> syntax::Config {
    syntax::Config::new().unicode(false).utf8(false)
}

/// Parses expanded grok regex text the way [`super::compile::build_regex`]
/// compiles it.
pub fn parse_hir(text: &str) -> Option<Hir> {
    regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(text)
        .ok()
}

impl Segmented {
    /// Builds the segmented form of `hir` (the whole pattern), or `None`
    /// when the pattern has no forced boundary to exploit.
    /// `groups` maps the full regex's group names to their indices.
    pub fn new(hir: &Hir, groups: &HashMap<String, usize>) -> Option<Segmented> {
        let mut items = Vec::new();
        flatten(hir, &mut items);
        let anchored = matches!(
            items.first().map(Hir::kind),
            Some(HirKind::Look(Look::Start))
        );
        Segmented::from_items(&items, usize::from(anchored), anchored, groups)
    }

    /// The segmented form of the concatenation `items[start..]`.
    fn from_items(
        items: &[Hir],
        start: usize,
        anchored: bool,
        groups: &HashMap<String, usize>,
    ) -> Option<Segmented> {
        let mut seg = Segmented {
            groups: groups.clone(),
            anchored,
            steps: Vec::new(),
            tail: Tail::None,
            regexes: Vec::new(),
            dfas: Vec::new(),
        };
        let (steps, mut i) = seg.chain(items, start)?;
        seg.steps = steps;
        i = i.min(items.len());
        let tail = &items[i..];
        seg.tail = if tail.is_empty() {
            Tail::None
        } else if tail.iter().skip(1).all(always_matches_empty) {
            // Everything after the first item can match empty, so each item's
            // own highest-priority match where the previous ended is the one
            // the whole pattern takes.
            let mut parts = Vec::with_capacity(tail.len());
            for item in tail {
                let fast = seg.fast_part(item);
                parts.push(TailPart {
                    regex: seg.add_regex(&item.to_string())?,
                    lead: leading_literal(item),
                    fast,
                });
            }
            Tail::Greedy(parts)
        } else {
            Tail::Regex(seg.add_regex(&concat_text(tail))?)
        };
        if seg.steps.is_empty() {
            return None;
        }
        Some(seg)
    }

    /// The fast way to match tail piece `item`, if it has one.
    fn fast_part(&self, item: &Hir) -> FastPart {
        if let Some(part) = self.simple_part(item) {
            return FastPart::Simple(vec![part]);
        }
        if let HirKind::Alternation(alts) = item.kind() {
            let parts: Option<Vec<Exact>> = alts.iter().map(|alt| self.simple_part(alt)).collect();
            return parts.map_or(FastPart::None, FastPart::Simple);
        }
        let HirKind::Repetition(rep) = item.kind() else {
            return FastPart::None;
        };
        if !rep.greedy || rep.min != 0 || rep.max != Some(1) {
            return FastPart::None;
        }
        let mut items = Vec::new();
        flatten(&rep.sub, &mut items);
        match Segmented::from_items(&items, 0, true, &self.groups) {
            Some(inner) => {
                let mut groups = Vec::new();
                self.groups_in(&rep.sub, &mut groups);
                FastPart::Optional {
                    inner: Box::new(inner),
                    groups,
                }
            }
            None => FastPart::None,
        }
    }

    /// `item` as a literal or a greedy repetition of a byte class,
    /// optionally inside a named group.
    fn simple_part(&self, item: &Hir) -> Option<Exact> {
        let (group, inner) = match item.kind() {
            HirKind::Capture(cap) => (Some(*self.groups.get(cap.name.as_deref()?)?), &*cap.sub),
            _ => (None, item),
        };
        if matches!(inner.kind(), HirKind::Repetition(rep) if !rep.greedy) {
            return None;
        }
        simple(inner, group)
    }

    /// Splits `items[start..]` at forced boundaries: the steps, and the index
    /// of the first item not covered by them.
    fn chain(&mut self, items: &[Hir], start: usize) -> Option<(Vec<Step>, usize)> {
        let mut steps = Vec::new();
        let mut i = start;
        while i < items.len() {
            let Some(offset) = items[i..].iter().position(|h| literal_of(h).is_some()) else {
                break;
            };
            let j = i + offset;
            let piece = &items[i..j];
            // Consecutive literals form one.
            let mut literal = Vec::new();
            let mut k = j;
            while let Some(bytes) = items.get(k).and_then(literal_of) {
                literal.extend_from_slice(bytes);
                k += 1;
            }
            let Some(&first) = literal.first() else {
                break;
            };
            // A piece is checked on a slice of the line that ends at the
            // literal: anchors would see a false end there, and a word
            // boundary before a word byte would too.
            let looks = piece
                .iter()
                .fold(regex_syntax::hir::LookSet::empty(), |s, h| {
                    s.union(h.properties().look_set())
                });
            if looks.contains_anchor() || (looks.contains_word() && is_word_byte(first)) {
                break;
            }
            let locate = if piece.is_empty() {
                Locate::Here
            } else if !piece.iter().any(|h| can_match_byte(h, first)) {
                Locate::Byte(first)
            } else {
                match self.add_dfa(piece) {
                    Some(index) => Locate::Dfa(index),
                    None => break,
                }
            };
            let Some(exact) = self.exact(piece) else {
                break;
            };
            steps.push(Step {
                locate,
                literal: literal.into_boxed_slice(),
                piece: exact,
            });
            i = k;
        }
        Some((steps, i))
    }

    pub fn scratch(&self) -> Scratch {
        Scratch {
            regexes: self
                .regexes
                .iter()
                .map(|r| (r.regex.create_cache(), r.regex.create_captures()))
                .collect(),
            dfas: self.dfas.iter().map(DFA::create_cache).collect(),
            tail: match &self.tail {
                Tail::Greedy(parts) => parts
                    .iter()
                    .map(|part| match &part.fast {
                        FastPart::Optional { inner, .. } => Some(inner.scratch()),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            },
        }
    }

    fn add_regex(&mut self, text: &str) -> Option<usize> {
        let regex = meta::Builder::new()
            .syntax(syntax_config())
            .configure(meta::Config::new().utf8_empty(false))
            .build(text)
            .ok()?;
        let info = regex.group_info();
        let pid = regex_automata::PatternID::ZERO;
        let mut groups = Vec::new();
        for local in 0..info.group_len(pid) {
            let global = match info.to_name(pid, local) {
                Some(name) => *self.groups.get(name)?,
                None if local == 0 => 0,
                // Every group of an expanded pattern is named.
                None => return None,
            };
            groups.push(global);
        }
        self.regexes.push(SubRegex { regex, groups });
        Some(self.regexes.len() - 1)
    }

    fn add_dfa(&mut self, piece: &[Hir]) -> Option<usize> {
        let dfa = DFA::builder()
            .configure(DFA::config().match_kind(MatchKind::All))
            .syntax(syntax_config())
            .thompson(thompson::Config::new().utf8(false))
            .build(&concat_text(piece))
            .ok()?;
        self.dfas.push(dfa);
        Some(self.dfas.len() - 1)
    }

    /// The exact-span matcher of a piece.
    fn exact(&mut self, piece: &[Hir]) -> Option<Exact> {
        match piece {
            [] => Some(Exact::Nothing),
            [one] => self.exact_one(one),
            many if many.iter().all(|h| captures_in(h) == 0) => Some(Exact::Verify {
                regex: self.add_regex(&format!("(?:{})\\z", concat_text(many)))?,
                group: None,
            }),
            many => self.exact_one(&Hir::concat(many.to_vec())),
        }
    }

    fn exact_one(&mut self, hir: &Hir) -> Option<Exact> {
        if captures_in(hir) == 0 {
            return match simple(hir, None) {
                Some(e) => Some(e),
                None => Some(Exact::Verify {
                    regex: self.add_regex(&format!("(?:{hir})\\z"))?,
                    group: None,
                }),
            };
        }
        match hir.kind() {
            HirKind::Capture(cap) => {
                let group = *self.groups.get(cap.name.as_deref()?)?;
                if captures_in(&cap.sub) == 0 {
                    return match simple(&cap.sub, Some(group)) {
                        Some(e) => Some(e),
                        None => Some(Exact::Verify {
                            regex: self.add_regex(&format!("(?:{})\\z", cap.sub))?,
                            group: Some(group),
                        }),
                    };
                }
                Some(Exact::Group {
                    group,
                    inner: Box::new(self.exact_one(&cap.sub)?),
                })
            }
            HirKind::Alternation(alts) => {
                let mut out = Vec::with_capacity(alts.len());
                for alt in alts {
                    let mut groups = Vec::new();
                    self.groups_in(alt, &mut groups);
                    out.push((self.exact_one(alt)?, groups));
                }
                Some(Exact::Alt(out))
            }
            HirKind::Concat(_) => {
                let mut items = Vec::new();
                flatten(hir, &mut items);
                let (steps, i) = self.chain(&items, 0)?;
                if steps.is_empty() {
                    return self.captures_regex(hir);
                }
                let rest = items.get(i..).unwrap_or_default();
                let rest = match rest {
                    [] => Exact::Nothing,
                    [one] => self.exact_one(one)?,
                    many => self.exact(many)?,
                };
                Some(Exact::Chain {
                    steps,
                    rest: Box::new(rest),
                })
            }
            _ => self.captures_regex(hir),
        }
    }

    /// The full regex's indices of the groups inside `hir`.
    fn groups_in(&self, hir: &Hir, out: &mut Vec<usize>) {
        match hir.kind() {
            HirKind::Capture(cap) => {
                if let Some(g) = cap.name.as_deref().and_then(|n| self.groups.get(n)) {
                    out.push(*g);
                }
                self.groups_in(&cap.sub, out);
            }
            HirKind::Repetition(rep) => self.groups_in(&rep.sub, out),
            HirKind::Concat(items) | HirKind::Alternation(items) => {
                items.iter().for_each(|h| self.groups_in(h, out));
            }
            _ => {}
        }
    }

    fn captures_regex(&mut self, hir: &Hir) -> Option<Exact> {
        Some(Exact::Captures {
            regex: self.add_regex(&format!("(?:{hir})\\z"))?,
        })
    }

    /// Fills `spans` with the captures of the match that starts at `start`.
    /// `spans` must be all `None` on entry.
    pub fn captures(
        &self,
        hay: &[u8],
        start: usize,
        scratch: &mut Scratch,
        spans: &mut Spans,
    ) -> Outcome {
        let Some(mut p) = self.run_steps(&self.steps, hay, start, hay.len(), scratch, spans) else {
            return Outcome::Unknown;
        };
        match &self.tail {
            Tail::None => Outcome::Match(p),
            Tail::Greedy(parts) => {
                for (i, part) in parts.iter().enumerate() {
                    if !hay
                        .get(p..)
                        .is_some_and(|rest| rest.starts_with(&part.lead))
                    {
                        continue;
                    }
                    if let Some(end) = self.fast_tail_part(i, part, hay, p, scratch, spans) {
                        p = end;
                        continue;
                    }
                    match self.anchored_at(part.regex, hay, p, scratch, spans) {
                        Some(end) => p = end,
                        None => return Outcome::Unknown,
                    }
                }
                Outcome::Match(p)
            }
            Tail::Regex(r) => match self.anchored_at(*r, hay, p, scratch, spans) {
                Some(end) => Outcome::Match(end),
                None => Outcome::Unknown,
            },
        }
    }

    /// Matches tail part `i` at `p` without its regex; `None` when the fast
    /// way does not apply or cannot decide (its groups are left unset).
    fn fast_tail_part(
        &self,
        i: usize,
        part: &TailPart,
        hay: &[u8],
        p: usize,
        scratch: &mut Scratch,
        spans: &mut Spans,
    ) -> Option<usize> {
        match &part.fast {
            FastPart::None => None,
            FastPart::Simple(alts) => {
                let (end, group) = alts.iter().find_map(|alt| longest_at(alt, hay, p))?;
                if let Some(slot) = group.and_then(|g| spans.get_mut(g)) {
                    *slot = Some((p, end));
                }
                Some(end)
            }
            FastPart::Optional { inner, groups } => {
                let inner_scratch = scratch.tail.get_mut(i)?.as_mut()?;
                match inner.captures(hay, p, inner_scratch, spans) {
                    Outcome::Match(end) => Some(end),
                    Outcome::Unknown => {
                        for g in groups {
                            if let Some(slot) = spans.get_mut(*g) {
                                *slot = None;
                            }
                        }
                        None
                    }
                }
            }
        }
    }

    /// Runs `steps` from `p`, every piece and literal inside `..end`; returns
    /// where the last literal ended.
    fn run_steps(
        &self,
        steps: &[Step],
        hay: &[u8],
        mut p: usize,
        end: usize,
        scratch: &mut Scratch,
        spans: &mut Spans,
    ) -> Option<usize> {
        let hay = hay.get(..end)?;
        for step in steps {
            let q = match step.locate {
                Locate::Here => p,
                Locate::Byte(b) => p + memchr::memchr(b, hay.get(p..)?)?,
                Locate::Dfa(d) => self.unique_end(d, hay, p, &step.literal, scratch)?,
            };
            if !hay.get(q..)?.starts_with(&step.literal) {
                return None;
            }
            if !self.matches_exactly(&step.piece, hay, p, q, scratch, spans) {
                return None;
            }
            p = q + step.literal.len();
        }
        Some(p)
    }

    /// Runs sub-regex `r` anchored at `p` over the rest of the line; copies
    /// its captures and returns where it ended.
    fn anchored_at(
        &self,
        r: usize,
        hay: &[u8],
        p: usize,
        scratch: &mut Scratch,
        spans: &mut Spans,
    ) -> Option<usize> {
        let sub = self.regexes.get(r)?;
        let (cache, caps) = scratch.regexes.get_mut(r)?;
        let input = Input::new(hay).span(p..hay.len()).anchored(Anchored::Yes);
        sub.regex.search_captures_with(cache, &input, caps);
        let end = caps.get_match()?.end();
        copy_groups(sub, caps, spans);
        Some(end)
    }

    /// Where the piece starting at `p` can end with `literal` after it, when
    /// that is exactly one place.
    fn unique_end(
        &self,
        d: usize,
        hay: &[u8],
        p: usize,
        literal: &[u8],
        scratch: &mut Scratch,
    ) -> Option<usize> {
        let dfa = self.dfas.get(d)?;
        let cache = scratch.dfas.get_mut(d)?;
        let input = Input::new(hay).span(p..hay.len()).anchored(Anchored::Yes);
        let mut sid = dfa.start_state_forward(cache, &input).ok()?;
        let mut found = None;
        for (at, &byte) in hay.iter().enumerate().skip(p) {
            let mut next = if sid.is_tagged() {
                dfa.next_state(cache, sid, byte).ok()?
            } else {
                dfa.next_state_untagged(cache, sid, byte)
            };
            if next.is_tagged() {
                if next.is_unknown() {
                    next = dfa.next_state(cache, sid, byte).ok()?;
                }
                if next.is_match() && hay[at..].starts_with(literal) {
                    if found.is_some() {
                        return None;
                    }
                    found = Some(at);
                }
                if next.is_dead() || next.is_quit() {
                    break;
                }
            }
            sid = next;
        }
        found
    }

    fn matches_exactly(
        &self,
        e: &Exact,
        hay: &[u8],
        p: usize,
        q: usize,
        scratch: &mut Scratch,
        spans: &mut Spans,
    ) -> bool {
        let Some(text) = hay.get(p..q) else {
            return false;
        };
        let set = |spans: &mut Spans, group: &Option<usize>| {
            if let Some(slot) = group.and_then(|g| spans.get_mut(g)) {
                *slot = Some((p, q));
            }
        };
        match e {
            Exact::Nothing => text.is_empty(),
            Exact::Class {
                table,
                min,
                max,
                group,
            } => {
                let ok = text.len() >= *min
                    && max.is_none_or(|m| text.len() <= m)
                    && text.iter().all(|&b| table[usize::from(b)]);
                if ok {
                    set(spans, group);
                }
                ok
            }
            Exact::Literal { bytes, group } => {
                let ok = text == &bytes[..];
                if ok {
                    set(spans, group);
                }
                ok
            }
            Exact::Verify { regex, group } => {
                let (Some(sub), Some((cache, _))) =
                    (self.regexes.get(*regex), scratch.regexes.get_mut(*regex))
                else {
                    return false;
                };
                let input = Input::new(&hay[..q]).span(p..q).anchored(Anchored::Yes);
                let ok = sub.regex.search_half_with(cache, &input).is_some();
                if ok {
                    set(spans, group);
                }
                ok
            }
            Exact::Alt(alts) => alts.iter().any(|(alt, groups)| {
                let ok = self.matches_exactly(alt, hay, p, q, scratch, spans);
                if !ok {
                    for g in groups {
                        if let Some(slot) = spans.get_mut(*g) {
                            *slot = None;
                        }
                    }
                }
                ok
            }),
            Exact::Group { group, inner } => {
                let ok = self.matches_exactly(inner, hay, p, q, scratch, spans);
                if ok {
                    set(spans, &Some(*group));
                }
                ok
            }
            Exact::Chain { steps, rest } => {
                match self.run_steps(steps, hay, p, q, scratch, spans) {
                    Some(at) => self.matches_exactly(rest, hay, at, q, scratch, spans),
                    None => false,
                }
            }
            Exact::Captures { regex } => {
                let (Some(sub), Some((cache, caps))) =
                    (self.regexes.get(*regex), scratch.regexes.get_mut(*regex))
                else {
                    return false;
                };
                let input = Input::new(&hay[..q]).span(p..q).anchored(Anchored::Yes);
                sub.regex.search_captures_with(cache, &input, caps);
                if !caps.is_match() {
                    return false;
                }
                copy_groups(sub, caps, spans);
                true
            }
        }
    }
}

fn copy_groups(sub: &SubRegex, caps: &Captures, spans: &mut Spans) {
    for (local, &global) in sub.groups.iter().enumerate().skip(1) {
        if let (Some(span), Some(slot)) = (caps.get_group(local), spans.get_mut(global)) {
            *slot = Some((span.start, span.end));
        }
    }
}

/// The top-level items of a concatenation, nested concatenations inlined.
fn flatten(hir: &Hir, out: &mut Vec<Hir>) {
    match hir.kind() {
        HirKind::Concat(items) => {
            for item in items {
                flatten(item, out);
            }
        }
        _ => out.push(hir.clone()),
    }
}

/// The literal an optional item `(?:L…)?` must start with to match
/// anything but the empty string (empty when there is none to rely on).
fn leading_literal(hir: &Hir) -> Box<[u8]> {
    if let HirKind::Repetition(rep) = hir.kind() {
        if rep.min == 0 && rep.max == Some(1) {
            let mut items = Vec::new();
            flatten(&rep.sub, &mut items);
            if let Some(lit) = items.first().and_then(literal_of) {
                return lit.into();
            }
        }
    }
    Box::new([])
}

fn literal_of(hir: &Hir) -> Option<&[u8]> {
    match hir.kind() {
        HirKind::Literal(lit) => Some(&lit.0),
        _ => None,
    }
}

fn concat_text(items: &[Hir]) -> String {
    Hir::concat(items.to_vec()).to_string()
}

fn captures_in(hir: &Hir) -> usize {
    hir.properties().explicit_captures_len()
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether the item can match the empty string whatever surrounds it, so a
/// tail of such items always matches.
fn always_matches_empty(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Repetition(rep) => rep.min == 0,
        HirKind::Empty => true,
        _ => hir.properties().minimum_len() == Some(0) && hir.properties().look_set().is_empty(),
    }
}

/// A piece that needs no regex: a literal, or a repeated byte class or byte.
fn simple(hir: &Hir, group: Option<usize>) -> Option<Exact> {
    let class = |class: &Class| -> Option<Box<[bool; 256]>> {
        let Class::Bytes(bytes) = class else {
            return None;
        };
        let mut table = Box::new([false; 256]);
        for range in bytes.ranges() {
            for b in range.start()..=range.end() {
                table[usize::from(b)] = true;
            }
        }
        Some(table)
    };
    match hir.kind() {
        HirKind::Literal(lit) => Some(Exact::Literal {
            bytes: lit.0.clone(),
            group,
        }),
        HirKind::Empty => Some(Exact::Literal {
            bytes: Box::new([]),
            group,
        }),
        HirKind::Class(c) => Some(Exact::Class {
            table: class(c)?,
            min: 1,
            max: Some(1),
            group,
        }),
        HirKind::Repetition(rep) => {
            let table = match rep.sub.kind() {
                HirKind::Class(c) => class(c)?,
                // ` ?`, `0*`: a repeated byte is a one-byte class.
                HirKind::Literal(lit) if lit.0.len() == 1 => {
                    let mut table = Box::new([false; 256]);
                    table[usize::from(lit.0[0])] = true;
                    table
                }
                _ => return None,
            };
            Some(Exact::Class {
                table,
                min: usize::try_from(rep.min).ok()?,
                max: match rep.max {
                    Some(m) => Some(usize::try_from(m).ok()?),
                    None => None,
                },
                group,
            })
        }
        _ => None,
    }
}

/// Where a literal or byte-class run ([`simple`]'s pieces) starting at `p`
/// ends when it matches there, taking the longest run, and its group.
fn longest_at(e: &Exact, hay: &[u8], p: usize) -> Option<(usize, Option<usize>)> {
    let rest = hay.get(p..)?;
    match e {
        Exact::Literal { bytes, group } => {
            rest.starts_with(bytes).then_some((p + bytes.len(), *group))
        }
        Exact::Class {
            table,
            min,
            max,
            group,
        } => {
            let limit = max.map_or(rest.len(), |m| m.min(rest.len()));
            let run = rest[..limit]
                .iter()
                .position(|&b| !table[usize::from(b)])
                .unwrap_or(limit);
            (run >= *min).then_some((p + run, *group))
        }
        _ => None,
    }
}

/// Whether `hir` can match a string containing byte `b` (conservatively:
/// anything not understood counts as yes).
fn can_match_byte(hir: &Hir, b: u8) -> bool {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => false,
        HirKind::Literal(lit) => lit.0.contains(&b),
        HirKind::Class(Class::Bytes(c)) => {
            c.ranges().iter().any(|r| r.start() <= b && b <= r.end())
        }
        HirKind::Class(Class::Unicode(c)) => {
            // Non-ASCII code points encode to bytes >= 0x80 only.
            b >= 0x80
                || c.ranges()
                    .iter()
                    .any(|r| (r.start() as u32) <= u32::from(b) && u32::from(b) <= (r.end() as u32))
        }
        HirKind::Repetition(rep) => rep.max != Some(0) && can_match_byte(&rep.sub, b),
        HirKind::Capture(cap) => can_match_byte(&cap.sub, b),
        HirKind::Concat(items) | HirKind::Alternation(items) => {
            items.iter().any(|h| can_match_byte(h, b))
        }
    }
}

impl Segmented {
    /// A one-line summary of the plan, for debugging and tests.
    pub fn describe(&self) -> String {
        fn exact(e: &Exact) -> String {
            match e {
                Exact::Nothing => "-".into(),
                Exact::Class { .. } => "class".into(),
                Exact::Literal { .. } => "lit".into(),
                Exact::Verify { .. } => "verify".into(),
                Exact::Alt(a) => format!(
                    "alt({})",
                    a.iter()
                        .map(|(e, _)| exact(e))
                        .collect::<Vec<_>>()
                        .join("|")
                ),
                Exact::Captures { .. } => "captures".into(),
                Exact::Group { inner, .. } => format!("group({})", exact(inner)),
                Exact::Chain { steps, rest } => {
                    format!("chain({} steps, {})", steps.len(), exact(rest))
                }
            }
        }
        let mut out: Vec<String> = self
            .steps
            .iter()
            .map(|s| {
                let l = match s.locate {
                    Locate::Here => "here".to_owned(),
                    Locate::Byte(b) => format!("byte {:?}", char::from(b)),
                    Locate::Dfa(_) => "dfa".to_owned(),
                };
                format!(
                    "[{l}: {} {:?}]",
                    exact(&s.piece),
                    String::from_utf8_lossy(&s.literal)
                )
            })
            .collect();
        out.push(match &self.tail {
            Tail::None => "tail none".into(),
            Tail::Greedy(parts) => format!(
                "tail greedy({})",
                parts
                    .iter()
                    .map(|part| match &part.fast {
                        FastPart::None => "regex".to_owned(),
                        FastPart::Simple(alts) => format!("simple x{}", alts.len()),
                        FastPart::Optional { inner, .. } => format!("opt{{{}}}", inner.describe()),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Tail::Regex(_) => "tail regex".into(),
        });
        out.join(" ")
    }
}
