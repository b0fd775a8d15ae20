//! Grok text → one regex plus a table of what each capture group means.
//!
//! Expansion is textual, as in Logstash: `%{NAME}` is replaced by the
//! definition of `NAME` (recursively) inside a non-capturing group, and
//! `%{NAME:field}` / `%{NAME:field:type}` by a *named* group. The groups get
//! generated names (`__grok0`, `__grok1`, …) and the field path and type of
//! each are kept in [`Expansion::captures`]: field names in Logstash's bracket
//! form (`[source][ip]`) or with dots are not valid regex group names, and the
//! same field may be captured twice (`%{IP:client}|%{HOSTNAME:client}`),
//! which duplicate group names would forbid.
//!
//! The scanner also adapts regex text written for Logstash's engine
//! (Oniguruma) to the `regex` crate where the meaning is kept:
//! - `(?<name>…)` / `(?P<name>…)`: a field capture like `%{…:name}`;
//! - plain `( )`: non-capturing. Oniguruma does not capture unnamed groups
//!   when named ones exist, which is always the case in grok; and fewer
//!   capture slots make matching faster;
//! - `(?>…)` (atomic group): a plain group. Without backtracking to cut off
//!   it can only let a pattern match more lines, never fewer.
//!
//! Everything else is passed through for the regex crate to judge; its
//! errors are narrowed down to the definition that causes them
//! ([`diagnose`]).

use std::fmt;

use regex::bytes::{Regex, RegexBuilder};

use super::library::{is_pattern_name, Definitions};
use crate::event::Path;

/// Prefix of the generated capture group names; the number after it indexes
/// [`Expansion::captures`].
pub const GROUP_PREFIX: &str = "__grok";

/// A pattern may not expand to more regex text than this: definitions that
/// reference each other several times each grow exponentially, and that is a
/// mistake to report, not memory to spend.
pub const MAX_EXPANDED_LEN: usize = 1 << 20;

/// Deeper nesting of definitions than this is reported as an error (a chain
/// this long is generated, not written, and would only exhaust the stack).
pub const MAX_DEPTH: usize = 128;

/// Regex size limits: well above what the shipped patterns need (the S3
/// access pattern compiles to well under 1 MiB).
const REGEX_SIZE_LIMIT: usize = 32 << 20;
const DFA_SIZE_LIMIT: usize = 8 << 20;

/// What a captured field is converted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A slice of the input (the default).
    Str,
    /// `:int` (alias `:long`): a 64-bit integer.
    Int,
    /// `:float` (alias `:double`).
    Float,
    /// `:boolean` (alias `:bool`): `true` / `false`, any case.
    Bool,
}

impl Kind {
    fn parse(text: &str) -> Option<Kind> {
        Some(match text {
            "string" => Kind::Str,
            "int" | "long" => Kind::Int,
            "float" | "double" => Kind::Float,
            "boolean" | "bool" => Kind::Bool,
            _ => return None,
        })
    }
}

/// One field capture: group `__grok<i>` fills `path` converted to `kind`.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureSpec {
    pub path: Path,
    pub kind: Kind,
}

/// A fully expanded grok pattern.
#[derive(Debug, Clone)]
pub struct Expansion {
    pub regex: String,
    /// Indexed by the number in the generated group name.
    pub captures: Vec<CaptureSpec>,
}

/// A grok compile error: what is wrong, and whose text holds the mistake.
#[derive(Debug, Clone, PartialEq)]
pub struct CompileError {
    pub message: String,
    /// The definition whose text is at fault (with the chain of references
    /// that led there from the pattern); `None` when it is the pattern itself.
    pub site: Option<Site>,
}

/// The definition a [`CompileError`] is in.
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    pub name: String,
    /// Definition names from the outermost reference in the pattern down to
    /// `name` itself.
    pub chain: Vec<String>,
    /// Where the definition was written ([`super::library::Origin`] rendered).
    pub origin: String,
    /// Whether the definition is one of the filter's `pattern_definitions`.
    pub inline: bool,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(site) = &self.site {
            write!(f, " (in the definition of `{}`, {}", site.name, site.origin)?;
            if site.chain.len() > 1 {
                let chain: Vec<String> = site.chain.iter().map(|n| format!("%{{{n}}}")).collect();
                write!(f, "; reached through {}", chain.join(" → "))?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// Expands `pattern` with `defs`.
pub fn expand(pattern: &str, defs: &Definitions) -> Result<Expansion, CompileError> {
    let mut ex = Expander::new(defs, false);
    ex.text(pattern)?;
    Ok(Expansion {
        regex: ex.out,
        captures: ex.captures,
    })
}

/// Compiles expanded regex text the way grok patterns are compiled: on bytes
/// (log lines need not be UTF-8) with Unicode classes off, so `\d`, `\w`, `\s`
/// and `\b` are ASCII as in Logstash, and `.` / `[^x]` match any byte. This
/// also keeps the automata small, which is most of grok's speed. `(?u:…)`
/// turns Unicode back on for a part of a pattern that needs it.
pub fn build_regex(text: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(text)
        .unicode(false)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(DFA_SIZE_LIMIT)
        .build()
}

/// Explains why the regex of `pattern` did not compile, by compiling the
/// pattern's own text and each definition it uses on its own (references
/// replaced by empty groups): the first that fails alone is the culprit, and
/// its error shows a few dozen characters instead of the expanded whole.
/// Returns `None` when each piece compiles alone (the failure comes from the
/// combination, e.g. a size limit).
pub fn diagnose(pattern: &str, defs: &Definitions) -> Option<CompileError> {
    // Collect the definitions used, with the chain leading to each.
    let mut ex = Expander::new(defs, false);
    ex.record_uses = true;
    ex.text(pattern).ok()?;
    let uses = std::mem::take(&mut ex.uses);
    let own_error = |text: &str| -> Option<regex::Error> {
        let mut stub = Expander::new(defs, true);
        stub.text(text).ok()?;
        build_regex(&stub.out).err()
    };
    if let Some(e) = own_error(pattern) {
        return Some(CompileError {
            message: format!("invalid regex: {}", regex_error_text(&e)),
            site: None,
        });
    }
    for chain in uses {
        let name = chain.last()?;
        let def = defs.get(name)?;
        if let Some(e) = own_error(&def.text) {
            return Some(CompileError {
                message: format!("invalid regex: {}", regex_error_text(&e)),
                site: Some(Site {
                    name: name.clone(),
                    origin: def.origin.to_string(),
                    inline: matches!(def.origin, super::library::Origin::Inline),
                    chain,
                }),
            });
        }
    }
    None
}

/// A regex error as text, cut short when it quotes a huge expanded regex.
pub fn regex_error_text(e: &regex::Error) -> String {
    const MAX: usize = 2000;
    let text = e.to_string();
    if text.len() <= MAX {
        return text;
    }
    let mut cut = MAX;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{} … ({} more characters)", &text[..cut], text.len() - cut)
}

struct Expander<'d> {
    defs: &'d Definitions,
    out: String,
    captures: Vec<CaptureSpec>,
    /// Definitions being expanded, outermost first (cycle detection, blame).
    stack: Vec<String>,
    /// Diagnostics mode: references become `(?:)` and are not followed.
    stub: bool,
    /// Whether to record in `uses` the chain to each definition used.
    record_uses: bool,
    uses: Vec<Vec<String>>,
}

impl<'d> Expander<'d> {
    fn new(defs: &'d Definitions, stub: bool) -> Self {
        Expander {
            defs,
            out: String::new(),
            captures: Vec::new(),
            stack: Vec::new(),
            stub,
            record_uses: false,
            uses: Vec::new(),
        }
    }

    /// An error located in the text currently being scanned.
    fn error(&self, message: String) -> CompileError {
        let site = self.stack.last().map(|name| {
            let def = self.defs.get(name);
            Site {
                name: name.clone(),
                chain: self.stack.clone(),
                origin: def.map(|d| d.origin.to_string()).unwrap_or_default(),
                inline: def.is_some_and(|d| matches!(d.origin, super::library::Origin::Inline)),
            }
        });
        CompileError { message, site }
    }

    fn open_capture(&mut self, path: Path, kind: Kind) {
        let index = self.captures.len();
        self.captures.push(CaptureSpec { path, kind });
        self.out.push_str("(?<");
        self.out.push_str(GROUP_PREFIX);
        self.out.push_str(&index.to_string());
        self.out.push('>');
    }

    /// Scans grok text, appending the regex it stands for to `out`.
    fn text(&mut self, text: &str) -> Result<(), CompileError> {
        let bytes = text.as_bytes();
        let mut i = 0;
        // Start of the text not yet copied to `out`.
        let mut copied = 0;
        // Nesting depth inside `[...]` character classes.
        let mut class_depth = 0usize;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => {
                    // An escape pair, copied as is: `\%{` and `\(` stay literal.
                    i += 1;
                    i += text[i..].chars().next().map_or(0, char::len_utf8);
                }
                b'[' => {
                    class_depth += 1;
                    i = skip_class_start(bytes, i + 1);
                }
                b']' if class_depth > 0 => {
                    class_depth -= 1;
                    i += 1;
                }
                _ if class_depth > 0 => i += 1,
                b'(' => {
                    let rest = &text[i..];
                    let name_start = if rest.starts_with("(?<")
                        && !rest.starts_with("(?<=")
                        && !rest.starts_with("(?<!")
                    {
                        Some(i + 3)
                    } else if rest.starts_with("(?P<") {
                        Some(i + 4)
                    } else {
                        None
                    };
                    if let Some(start) = name_start {
                        let Some(len) = text[start..].find('>') else {
                            // Unterminated: the regex crate reports it.
                            i += 1;
                            continue;
                        };
                        let name = &text[start..start + len];
                        let path = Path::parse(name).map_err(|e| {
                            self.error(format!("invalid field name in `(?<{name}>`: {}", e.reason))
                        })?;
                        self.out.push_str(&text[copied..i]);
                        self.open_capture(path, Kind::Str);
                        i = start + len + 1;
                        copied = i;
                    } else if rest.starts_with("(?>") {
                        self.out.push_str(&text[copied..i]);
                        self.out.push_str("(?:");
                        i += 3;
                        copied = i;
                    } else if !rest.starts_with("(?") {
                        self.out.push_str(&text[copied..i]);
                        self.out.push_str("(?:");
                        i += 1;
                        copied = i;
                    } else {
                        i += 1;
                    }
                }
                b'%' if bytes.get(i + 1) == Some(&b'{') => {
                    let Some(len) = text[i + 2..].find('}') else {
                        return Err(self.error(format!(
                            "unterminated `%{{` in `{}`: expected `%{{NAME}}`, `%{{NAME:field}}` \
                             or `%{{NAME:field:type}}` (write `\\%{{` for a literal `%{{`)",
                            shorten(&text[i..])
                        )));
                    };
                    let body = &text[i + 2..i + 2 + len];
                    self.out.push_str(&text[copied..i]);
                    self.reference(body)?;
                    i += 2 + len + 1;
                    copied = i;
                    if self.out.len() > MAX_EXPANDED_LEN {
                        return Err(self.error(format!(
                            "the pattern expands to more than {MAX_EXPANDED_LEN} bytes of regex \
                             (definitions that each use another several times multiply)"
                        )));
                    }
                }
                _ => i += 1,
            }
        }
        self.out.push_str(&text[copied..]);
        Ok(())
    }

    /// Expands the inside of one `%{…}`.
    fn reference(&mut self, body: &str) -> Result<(), CompileError> {
        let mut parts = body.splitn(3, ':');
        let name = parts.next().unwrap_or_default();
        let field = parts.next();
        let kind_text = parts.next();
        if let Some((def_name, _)) = name.split_once('=') {
            return Err(self.error(format!(
                "inline definitions such as `%{{{}}}` are not supported; \
                 define `{def_name}` under pattern_definitions instead",
                shorten(body)
            )));
        }
        if !is_pattern_name(name) {
            return Err(self.error(format!(
                "`%{{{}}}` is not a grok reference: a pattern name is letters, digits and `_`; \
                 expected `%{{NAME}}`, `%{{NAME:field}}` or `%{{NAME:field:type}}` \
                 (write `\\%{{` for a literal `%{{`)",
                shorten(body)
            )));
        }
        let capture = match field {
            None => None,
            Some("") => {
                return Err(self.error(format!("empty field name in `%{{{body}}}`")));
            }
            Some(field) => {
                let path = Path::parse(field).map_err(|e| {
                    self.error(format!(
                        "invalid field name `{field}` in `%{{{body}}}`: {}",
                        e.reason
                    ))
                })?;
                let kind = match kind_text {
                    None => Kind::Str,
                    Some(t) => Kind::parse(t).ok_or_else(|| {
                        self.error(format!(
                            "unknown type `{t}` in `%{{{body}}}`; expected int, float or string \
                             (also long, double, boolean)"
                        ))
                    })?,
                };
                Some((path, kind))
            }
        };
        if self.stub {
            self.out.push_str("(?:)");
            return Ok(());
        }
        let defs = self.defs;
        let Some(def) = defs.get(name) else {
            let hint = match closest_name(name, defs.names()) {
                Some(near) => format!("; did you mean `{near}`?"),
                None => " (not in weir's library, patterns_dir or pattern_definitions)".to_owned(),
            };
            return Err(self.error(format!("unknown grok pattern `{name}`{hint}")));
        };
        if let Some(start) = self.stack.iter().position(|n| n == name) {
            let mut cycle: Vec<&str> = self.stack[start..].iter().map(String::as_str).collect();
            cycle.push(name);
            let cycle: Vec<String> = cycle.iter().map(|n| format!("%{{{n}}}")).collect();
            return Err(CompileError {
                message: format!(
                    "recursive grok pattern definition: {} (a pattern cannot contain itself)",
                    cycle.join(" → ")
                ),
                site: None,
            });
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.error(format!(
                "grok definitions are nested more than {MAX_DEPTH} deep at `%{{{name}}}`"
            )));
        }
        match capture {
            Some((path, kind)) => self.open_capture(path, kind),
            None => self.out.push_str("(?:"),
        }
        self.stack.push(name.to_owned());
        if self.record_uses {
            self.uses.push(self.stack.clone());
        }
        self.text(&def.text)?;
        self.stack.pop();
        self.out.push(')');
        Ok(())
    }
}

/// Skips what follows a class's opening `[`: a `^`, then a `]` that is a
/// literal because it comes first (`[]a]`, `[^]a]`).
fn skip_class_start(bytes: &[u8], mut i: usize) -> usize {
    if bytes.get(i) == Some(&b'^') {
        i += 1;
    }
    if bytes.get(i) == Some(&b']') {
        i += 1;
    }
    i
}

/// At most 60 characters of `text`, for quoting in messages.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The known name closest to a mistyped one: same name in another case, or
/// within an edit distance of about a third of its length. Ties go to the
/// alphabetically first name, so messages are stable.
pub fn closest_name<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let wanted = name.to_ascii_uppercase();
    let limit = (wanted.len() / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    for candidate in known {
        let d = edit_distance(&wanted, &candidate.to_ascii_uppercase());
        let better = match best {
            None => true,
            Some((bd, bn)) => d < bd || (d == bd && candidate < bn),
        };
        if d <= limit && better {
            best = Some((d, candidate));
        }
    }
    best.map(|(_, n)| n)
}

/// Levenshtein distance over bytes (pattern names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::super::library::Origin;
    use super::*;

    fn defs(list: &[(&str, &str)]) -> Definitions {
        let mut d = Definitions::new();
        for (n, t) in list {
            d.insert(*n, *t, Origin::Inline);
        }
        d
    }

    #[test]
    fn references_expand_into_groups() {
        let d = defs(&[("A", "a+"), ("B", "%{A}-%{A:x}"), ("N", "\\d+")]);
        let e = expand("^%{B} %{N:n:int}$", &d).unwrap();
        assert_eq!(e.regex, "^(?:(?:a+)-(?<__grok0>a+)) (?<__grok1>\\d+)$");
        assert_eq!(e.captures[0].path.as_str(), "x");
        assert_eq!(e.captures[0].kind, Kind::Str);
        assert_eq!(e.captures[1].kind, Kind::Int);
    }

    #[test]
    fn oniguruma_forms_are_adapted() {
        let d = Definitions::new();
        let e = expand(r"(a)(?:b)(?<source.ip>c)(?P<[x][y]>d)(?>e)(?i)f", &d).unwrap();
        assert_eq!(e.regex, r"(?:a)(?:b)(?<__grok0>c)(?<__grok1>d)(?:e)(?i)f");
        assert_eq!(
            e.captures[1].path.segments(),
            Path::parse("x.y").unwrap().segments()
        );
    }

    #[test]
    fn escapes_and_classes_are_left_alone() {
        let d = Definitions::new();
        let text = r"\(x\) \%{X} [(%{Y}] []%{] [^](] [[:alpha:](] \é(";
        let e = expand(text, &d).unwrap();
        assert_eq!(
            e.regex,
            r"\(x\) \%{X} [(%{Y}] []%{] [^](] [[:alpha:](] \é(?:"
        );
    }

    #[test]
    fn unknown_names_suggest_the_closest() {
        let lib = Definitions::library();
        let e = expand("%{IPV5:ip}", lib).unwrap_err();
        assert_eq!(
            e.message,
            "unknown grok pattern `IPV5`; did you mean `IPV4`?"
        );
        assert!(e.site.is_none());
        let e = expand("%{combinedapachelog}", lib).unwrap_err();
        assert!(
            e.message.contains("did you mean `COMBINEDAPACHELOG`?"),
            "{e}"
        );
        let e = expand("%{ZZZZZZZZZZ}", lib).unwrap_err();
        assert!(
            e.message
                .contains("not in weir's library, patterns_dir or pattern_definitions"),
            "{e}"
        );
    }

    #[test]
    fn unknown_names_inside_definitions_are_blamed_on_them() {
        let d = defs(&[
            ("OUTER", "x %{INNER}"),
            ("INNER", "%{MISSNG}"),
            ("MISSING", "m"),
        ]);
        let e = expand("%{OUTER:o}", &d).unwrap_err();
        let site = e.site.clone().unwrap();
        assert_eq!(site.name, "INNER");
        assert_eq!(site.chain, ["OUTER", "INNER"]);
        assert!(site.inline);
        assert_eq!(
            e.to_string(),
            "unknown grok pattern `MISSNG`; did you mean `MISSING`? (in the definition of \
             `INNER`, pattern_definitions; reached through %{OUTER} → %{INNER})"
        );
    }

    #[test]
    fn cycles_show_the_chain() {
        let d = defs(&[("A", "a%{B}"), ("B", "b%{C}"), ("C", "%{A}")]);
        let e = expand("x %{A}", &d).unwrap_err();
        assert_eq!(
            e.message,
            "recursive grok pattern definition: %{A} → %{B} → %{C} → %{A} \
             (a pattern cannot contain itself)"
        );
        let d = defs(&[("SELF", "%{SELF:x}")]);
        let e = expand("%{SELF}", &d).unwrap_err();
        assert!(e.message.contains("%{SELF} → %{SELF}"), "{e}");
    }

    #[test]
    fn malformed_references() {
        let d = defs(&[("A", "a")]);
        let cases = [
            ("%{A", "unterminated `%{`"),
            ("%{A:}", "empty field name in `%{A:}`"),
            ("%{A:x:integer}", "unknown type `integer` in `%{A:x:integer}`; expected int, float or string"),
            ("%{A:x..y}", "invalid field name `x..y` in `%{A:x..y}`"),
            ("%{A-B}", "`%{A-B}` is not a grok reference"),
            ("%{}", "`%{}` is not a grok reference"),
            ("%{A=\\d+}", "inline definitions such as `%{A=\\d+}` are not supported; define `A` under pattern_definitions"),
            ("(?<a..b>x)", "invalid field name in `(?<a..b>`"),
        ];
        for (text, want) in cases {
            let e = expand(text, &d).unwrap_err();
            assert!(e.message.contains(want), "{text}: {}", e.message);
        }
    }

    #[test]
    fn exponential_expansion_is_stopped() {
        let mut list = vec![("P0".to_owned(), "xxxxxxxx".to_owned())];
        for i in 1..30 {
            list.push((format!("P{i}"), format!("%{{P{}}}%{{P{}}}", i - 1, i - 1)));
        }
        let mut d = Definitions::new();
        for (n, t) in &list {
            d.insert(n.as_str(), t.as_str(), Origin::Inline);
        }
        let e = expand("%{P29}", &d).unwrap_err();
        assert!(e.message.contains("expands to more than"), "{e}");
    }

    #[test]
    fn deep_nesting_is_stopped() {
        let mut d = Definitions::new();
        for i in 0..500 {
            d.insert(format!("D{i}"), format!("%{{D{}}}", i + 1), Origin::Inline);
        }
        d.insert("D500", "x", Origin::Inline);
        let e = expand("%{D0}", &d).unwrap_err();
        assert!(e.message.contains("nested more than 128 deep"), "{e}");
    }

    #[test]
    fn diagnose_blames_the_definition_with_the_bad_regex() {
        let d = defs(&[
            ("GOOD", "g+"),
            ("BAD", "%{GOOD}[a-"),
            ("TOP", "%{GOOD} %{BAD}"),
        ]);
        let e = expand("^%{TOP}$", &d).unwrap();
        assert!(build_regex(&e.regex).is_err());
        let diag = diagnose("^%{TOP}$", &d).unwrap();
        let site = diag.site.clone().unwrap();
        assert_eq!(site.name, "BAD");
        assert_eq!(site.chain, ["TOP", "BAD"]);
        assert!(diag.message.starts_with("invalid regex: "), "{diag}");
        assert!(diag.message.contains("[a-"), "{diag}");
        // A mistake in the pattern's own text is blamed on the pattern.
        let diag = diagnose("%{GOOD} x{2,1}", &d).unwrap();
        assert!(diag.site.is_none());
        assert!(diag.message.contains("invalid regex"), "{diag}");
    }

    #[test]
    fn closest_name_needs_to_be_close() {
        let names = ["IPV4", "IPV6", "HOSTNAME", "WORD"];
        assert_eq!(closest_name("IPV5", names.into_iter()), Some("IPV4"));
        assert_eq!(
            closest_name("hostname", names.into_iter()),
            Some("HOSTNAME")
        );
        assert_eq!(closest_name("HOSTNAM", names.into_iter()), Some("HOSTNAME"));
        assert_eq!(closest_name("QQQQ", names.into_iter()), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
