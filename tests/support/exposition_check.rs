//! A strict well-formedness checker for Prometheus text 0.0.4 and OpenMetrics
//! 1.0 expositions, used by weir's tests.
//!
//! `promtool check metrics` (2.42) accepts duplicate series, split families,
//! non-cumulative buckets and a missing `+Inf` bucket, and does not read
//! OpenMetrics at all, so the tests parse the output back with this and assert:
//!
//! - every line ends with `\n`; no blank lines, no comments other than HELP/TYPE
//!   (and UNIT, `# EOF` in OpenMetrics), OpenMetrics ends with exactly `# EOF\n`;
//! - each family is declared once by TYPE before its first sample (HELP/UNIT at
//!   most once each), its samples are contiguous and carry names its type allows
//!   (`x_total` for counters, `_bucket`/`_sum`/`_count` for histograms);
//! - metric and label names are valid, no `__` label names, no duplicate label
//!   names within a sample, label values and HELP use only the escapes each
//!   format allows;
//! - no two samples are the same series (empty label values count as absent);
//! - values use the float syntax (`+Inf`, `-Inf`, `NaN`), counters are
//!   non-negative, histogram buckets are integers, strictly ascending in `le`,
//!   cumulative, end with `le="+Inf"`, and `_count` equals that bucket;
//!   OpenMetrics `le` values are canonical (`1.0`, not `1`);
//! - a series' samples are not interleaved with another series'.
//!
//! Included by `#[path]` from unit tests and integration tests alike.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};

/// Which grammar to check against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Text,
    OpenMetrics,
}

/// One parsed sample, with label values unescaped.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// One parsed family.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: String,
    pub kind: String,
    pub help: Option<String>,
    pub unit: Option<String>,
    pub samples: Vec<Sample>,
}

/// Parses and checks `input`; returns the families in order, or the first
/// problem found with its line number.
pub fn check(input: &str, syntax: Syntax) -> Result<Vec<Family>, String> {
    let mut c = Checker {
        syntax,
        families: Vec::new(),
        declared: HashSet::new(),
        series_seen: HashSet::new(),
        finished_series: HashSet::new(),
        current_series: None,
    };
    c.run(input)?;
    Ok(c.families)
}

struct Checker {
    syntax: Syntax,
    families: Vec<Family>,
    declared: HashSet<String>,
    /// (sample name, labels without empty values) already seen.
    series_seen: HashSet<(String, Vec<(String, String)>)>,
    /// (family, labels without `le`) whose samples are complete.
    finished_series: HashSet<(String, Vec<(String, String)>)>,
    current_series: Option<(String, Vec<(String, String)>)>,
}

fn err<T>(line: usize, msg: impl AsRef<str>) -> Result<T, String> {
    Err(format!("line {line}: {}", msg.as_ref()))
}

impl Checker {
    fn run(&mut self, input: &str) -> Result<(), String> {
        if input.is_empty() {
            return match self.syntax {
                Syntax::Text => Ok(()),
                Syntax::OpenMetrics => err(0, "OpenMetrics exposition must end with # EOF"),
            };
        }
        let Some(body) = input.strip_suffix('\n') else {
            return err(0, "exposition does not end with a newline");
        };
        let lines: Vec<&str> = body.split('\n').collect();
        let mut eof_seen = false;
        for (i, line) in lines.iter().enumerate() {
            let n = i + 1;
            if eof_seen {
                return err(n, "content after # EOF");
            }
            if line.is_empty() {
                return err(n, "blank line");
            }
            if *line == "# EOF" {
                if self.syntax == Syntax::Text {
                    return err(n, "# EOF in the text format");
                }
                eof_seen = true;
                continue;
            }
            if let Some(rest) = line.strip_prefix("# ") {
                self.metadata(n, rest)?;
            } else if line.starts_with('#') {
                return err(n, format!("unexpected comment {line:?}"));
            } else {
                self.sample(n, line)?;
            }
        }
        if self.syntax == Syntax::OpenMetrics && !eof_seen {
            return err(lines.len(), "OpenMetrics exposition must end with # EOF");
        }
        self.close_family(lines.len())
    }

    fn metadata(&mut self, n: usize, rest: &str) -> Result<(), String> {
        let (keyword, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        let (name, value) = rest.split_once(' ').unwrap_or((rest, ""));
        if !valid_metric_name(name) {
            return err(n, format!("invalid metric name {name:?} in {keyword}"));
        }
        // Metadata for a name other than the current family (or after its
        // samples started) opens a new family.
        let opens_new = match self.families.last() {
            Some(f) => f.name != name || !f.samples.is_empty(),
            None => true,
        };
        if opens_new {
            self.close_family(n)?;
            if !self.declared.insert(name.to_owned()) {
                return err(
                    n,
                    format!("family {name} declared twice (split or duplicate)"),
                );
            }
            self.families.push(Family {
                name: name.to_owned(),
                kind: String::new(),
                help: None,
                unit: None,
                samples: Vec::new(),
            });
        }
        let syntax = self.syntax;
        let Some(family) = self.families.last_mut() else {
            return err(n, "internal: no family");
        };
        match keyword {
            "TYPE" => {
                if !family.kind.is_empty() {
                    return err(n, format!("second TYPE for {name}"));
                }
                let allowed: &[&str] = match syntax {
                    Syntax::Text => &["counter", "gauge", "histogram", "summary", "untyped"],
                    Syntax::OpenMetrics => &[
                        "counter",
                        "gauge",
                        "histogram",
                        "gaugehistogram",
                        "stateset",
                        "info",
                        "summary",
                        "unknown",
                    ],
                };
                if !allowed.contains(&value) {
                    return err(n, format!("unknown type {value:?}"));
                }
                if syntax == Syntax::OpenMetrics && (family.help.is_some() || family.unit.is_some())
                {
                    return err(n, "OpenMetrics metadata must start with TYPE");
                }
                if syntax == Syntax::Text && value == "counter" && !name.ends_with("_total") {
                    return err(
                        n,
                        format!("text-format counter {name} must be named *_total"),
                    );
                }
                family.kind = value.to_owned();
            }
            "HELP" => {
                if family.help.is_some() {
                    return err(n, format!("second HELP for {name}"));
                }
                family.help = Some(unescape(n, value, syntax, false)?);
            }
            "UNIT" => {
                if syntax == Syntax::Text {
                    return err(n, "UNIT in the text format");
                }
                if family.unit.is_some() {
                    return err(n, format!("second UNIT for {name}"));
                }
                if family.help.is_some() {
                    return err(n, "OpenMetrics UNIT must come before HELP");
                }
                if !value.is_empty() && !name.ends_with(&format!("_{value}")) {
                    return err(n, format!("unit {value} is not a suffix of {name}"));
                }
                family.unit = Some(value.to_owned());
            }
            other => return err(n, format!("unknown metadata {other:?}")),
        }
        Ok(())
    }

    fn sample(&mut self, n: usize, line: &str) -> Result<(), String> {
        let (name, labels, value) = parse_sample(n, line, self.syntax)?;
        let syntax = self.syntax;
        let Some(family) = self.families.last_mut() else {
            return err(n, format!("sample {name} before any TYPE"));
        };
        if family.kind.is_empty() {
            return err(
                n,
                format!("sample {name} in family {} without TYPE", family.name),
            );
        }
        let fam = family.name.as_str();
        let suffix = name.strip_prefix(fam).map(str::to_owned);
        let allowed: &[&str] = match (syntax, family.kind.as_str()) {
            (Syntax::Text, "counter") => &[""],
            (Syntax::OpenMetrics, "counter") => &["_total", "_created"],
            (_, "histogram") => &["_bucket", "_sum", "_count", "_created"],
            (_, "summary") => &["", "_sum", "_count", "_created"],
            _ => &[""],
        };
        match &suffix {
            Some(s) if allowed.contains(&s.as_str()) => {}
            _ => {
                return err(
                    n,
                    format!(
                        "sample {name} does not belong to {} family {fam}",
                        family.kind
                    ),
                )
            }
        }
        let suffix = suffix.unwrap_or_default();

        // Label rules.
        let mut names = HashSet::new();
        for (k, _) in &labels {
            if !names.insert(k.as_str()) {
                return err(n, format!("duplicate label name {k}"));
            }
            if k.starts_with("__") {
                return err(n, format!("reserved label name {k}"));
            }
        }
        let le = labels
            .iter()
            .find(|(k, _)| k == "le")
            .map(|(_, v)| v.clone());
        let is_bucket = family.kind == "histogram" && suffix == "_bucket";
        if is_bucket != le.is_some() {
            return err(n, format!("`le` label on {name} is wrong"));
        }
        if labels.iter().any(|(k, _)| k == "quantile") && family.kind != "summary" {
            return err(n, "`quantile` label outside a summary");
        }

        // Duplicate series.
        let mut key_labels: Vec<(String, String)> = labels
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .cloned()
            .collect();
        key_labels.sort();
        if !self.series_seen.insert((name.clone(), key_labels.clone())) {
            return err(n, format!("duplicate series {name}{key_labels:?}"));
        }

        // Interleaving: the samples of one series (labels without `le`) are
        // contiguous.
        let series_labels: Vec<(String, String)> = key_labels
            .iter()
            .filter(|(k, _)| k != "le")
            .cloned()
            .collect();
        let series_key = (fam.to_owned(), series_labels);
        if self.current_series.as_ref() != Some(&series_key) {
            if let Some(prev) = self.current_series.take() {
                self.finished_series.insert(prev);
            }
            if self.finished_series.contains(&series_key) {
                return err(
                    n,
                    format!("samples of {name}{:?} are interleaved", series_key.1),
                );
            }
            self.current_series = Some(series_key);
        }

        // Values.
        if family.kind == "counter" && (value.is_nan() || value < 0.0) {
            return err(n, format!("counter {name} has value {value}"));
        }
        if family.kind == "histogram" && (suffix == "_bucket" || suffix == "_count") {
            if value.is_nan() || value < 0.0 || value.fract() != 0.0 {
                return err(
                    n,
                    format!("{name} must be a non-negative integer, got {value}"),
                );
            }
            if syntax == Syntax::OpenMetrics {
                let raw = line.rsplit(' ').next().unwrap_or_default();
                if !raw.bytes().all(|b| b.is_ascii_digit()) {
                    return err(n, format!("OpenMetrics count {raw:?} must be an integer"));
                }
            }
        }
        if let (Some(le), Syntax::OpenMetrics) = (&le, syntax) {
            if le != "+Inf" && !le.contains(['.', 'e']) {
                return err(
                    n,
                    format!("le={le:?} is not canonical (OpenMetrics wants e.g. 1.0)"),
                );
            }
        }
        family.samples.push(Sample {
            name,
            labels,
            value,
        });
        Ok(())
    }

    /// Checks the histogram invariants of the family just finished.
    fn close_family(&mut self, n: usize) -> Result<(), String> {
        if let Some(prev) = self.current_series.take() {
            self.finished_series.insert(prev);
        }
        let Some(family) = self.families.last() else {
            return Ok(());
        };
        if family.kind.is_empty() {
            return err(n, format!("family {} has no TYPE", family.name));
        }
        if family.kind != "histogram" {
            return Ok(());
        }
        #[derive(Default)]
        struct H {
            buckets: Vec<(f64, f64)>,
            sum: Option<f64>,
            count: Option<f64>,
        }
        let mut series: BTreeMap<Vec<(String, String)>, H> = BTreeMap::new();
        for s in &family.samples {
            let mut labels: Vec<(String, String)> = s
                .labels
                .iter()
                .filter(|(k, _)| k != "le")
                .cloned()
                .collect();
            labels.sort();
            let h = series.entry(labels).or_default();
            let suffix = &s.name[family.name.len()..];
            match suffix {
                "_bucket" => {
                    let le = s
                        .labels
                        .iter()
                        .find(|(k, _)| k == "le")
                        .map(|(_, v)| v.as_str())
                        .unwrap_or_default();
                    let Some(bound) = parse_float(le) else {
                        return err(n, format!("{}: le={le:?} is not a number", family.name));
                    };
                    if h.sum.is_some() || h.count.is_some() {
                        return err(n, format!("{}: bucket after _sum/_count", family.name));
                    }
                    h.buckets.push((bound, s.value));
                }
                "_sum" => h.sum = Some(s.value),
                "_count" => h.count = Some(s.value),
                _ => {}
            }
        }
        for (labels, h) in &series {
            let what = format!("{}{labels:?}", family.name);
            let Some(&(last_bound, last_value)) = h.buckets.last() else {
                return err(n, format!("{what}: histogram without buckets"));
            };
            if last_bound != f64::INFINITY {
                return err(n, format!("{what}: last bucket is not +Inf"));
            }
            for w in h.buckets.windows(2) {
                if w[0].0 >= w[1].0 || w[0].0.is_nan() || w[1].0.is_nan() {
                    return err(n, format!("{what}: le values not strictly ascending"));
                }
                if w[0].1 > w[1].1 {
                    return err(n, format!("{what}: buckets not cumulative"));
                }
            }
            match h.count {
                Some(c) if c == last_value => {}
                Some(c) => {
                    return err(n, format!("{what}: _count {c} != +Inf bucket {last_value}"))
                }
                None => return err(n, format!("{what}: no _count")),
            }
            if self.syntax == Syntax::Text && h.sum.is_none() {
                return err(n, format!("{what}: no _sum"));
            }
        }
        Ok(())
    }
}

fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The float syntax weir emits: `[+-]?digits[.digits][e[+-]digits]`, `+Inf`,
/// `-Inf`, `NaN` (stricter than Go's ParseFloat: no hex, no underscores).
pub fn parse_float(s: &str) -> Option<f64> {
    match s {
        "+Inf" => return Some(f64::INFINITY),
        "-Inf" => return Some(f64::NEG_INFINITY),
        "NaN" => return Some(f64::NAN),
        _ => {}
    }
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_start = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let mut digits = i - int_start;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let frac_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        digits += i - frac_start;
    }
    if digits == 0 {
        return None;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == exp_start {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    s.parse().ok()
}

/// Unescapes a label value (`quoted`) or HELP text. Label values and
/// OpenMetrics HELP allow `\\`, `\"`, `\n`; text-format HELP only `\\`, `\n`.
/// Raw `"` is not allowed inside a label value nor in OpenMetrics HELP.
fn unescape(n: usize, s: &str, syntax: Syntax, quoted: bool) -> Result<String, String> {
    let quotes = quoted || syntax == Syntax::OpenMetrics;
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                Some('"') if quotes => out.push('"'),
                other => return err(n, format!("invalid escape \\{other:?} in {s:?}")),
            },
            '"' if quotes => return err(n, format!("unescaped quote in {s:?}")),
            '\n' => return err(n, "raw newline"),
            c => out.push(c),
        }
    }
    Ok(out)
}

type ParsedSample = (String, Vec<(String, String)>, f64);

fn parse_sample(n: usize, line: &str, syntax: Syntax) -> Result<ParsedSample, String> {
    let name_end = line.find(['{', ' ']).unwrap_or(line.len());
    let name = &line[..name_end];
    if !valid_metric_name(name) {
        return err(n, format!("invalid metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = after;
        if let Some(after) = rest.strip_prefix('}') {
            rest = after;
        } else {
            loop {
                let Some(eq) = rest.find('=') else {
                    return err(n, "label without =");
                };
                let lname = &rest[..eq];
                if !valid_label_name(lname) {
                    return err(n, format!("invalid label name {lname:?}"));
                }
                rest = &rest[eq + 1..];
                let Some(after) = rest.strip_prefix('"') else {
                    return err(n, "label value not quoted");
                };
                // Find the closing quote, skipping escaped characters.
                let bytes = after.as_bytes();
                let mut i = 0;
                let close = loop {
                    match bytes.get(i) {
                        None => return err(n, "unterminated label value"),
                        Some(b'\\') => i += 2,
                        Some(b'"') => break i,
                        Some(_) => i += 1,
                    }
                };
                let raw = &after[..close];
                labels.push((lname.to_owned(), unescape(n, raw, syntax, true)?));
                rest = &after[close + 1..];
                if let Some(after) = rest.strip_prefix(',') {
                    rest = after;
                    if rest.starts_with('}') {
                        return err(n, "trailing comma in labels");
                    }
                } else if let Some(after) = rest.strip_prefix('}') {
                    rest = after;
                    break;
                } else {
                    return err(n, format!("unexpected {rest:?} after label value"));
                }
            }
        }
    }
    let Some(value) = rest.strip_prefix(' ') else {
        return err(n, "no space before value");
    };
    if value.contains(' ') {
        return err(
            n,
            "timestamp or extra tokens after the value (weir never emits them)",
        );
    }
    let Some(v) = parse_float(value) else {
        return err(n, format!("invalid value {value:?}"));
    };
    Ok((name.to_owned(), labels, v))
}

/// Asserts families appear sorted by name (weir's own ordering rule).
pub fn families_sorted(families: &[Family]) -> bool {
    families.windows(2).all(|w| w[0].name < w[1].name)
}

/// All samples indexed by (name, sorted labels) → value.
pub fn sample_index(families: &[Family]) -> HashMap<(String, Vec<(String, String)>), f64> {
    let mut out = HashMap::new();
    for f in families {
        for s in &f.samples {
            let mut labels = s.labels.clone();
            labels.sort();
            out.insert((s.name.clone(), labels), s.value);
        }
    }
    out
}

#[cfg(test)]
mod self_tests {
    use super::*;

    #[test]
    fn catches_what_promtool_misses() {
        let dup = "# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n";
        assert!(check(dup, Syntax::Text).is_err());
        let empty_is_absent = "# TYPE a gauge\na{x=\"\"} 1\na 2\n";
        assert!(check(empty_is_absent, Syntax::Text).is_err());
        let split = "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\n# TYPE a gauge\n";
        assert!(check(split, Syntax::Text).is_err());
        let non_cumulative = "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n";
        assert!(check(non_cumulative, Syntax::Text).is_err());
        let no_inf = "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n";
        assert!(check(no_inf, Syntax::Text).is_err());
        let bad_count = "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n";
        assert!(check(bad_count, Syntax::Text).is_err());
        let untyped_sample = "a 1\n";
        assert!(check(untyped_sample, Syntax::Text).is_err());
        let help_quote = "# HELP a say \\\"hi\\\"\n# TYPE a gauge\na 1\n";
        assert!(check(help_quote, Syntax::Text).is_err());
        let no_eof = "# TYPE a gauge\na 1\n";
        assert!(check(no_eof, Syntax::OpenMetrics).is_err());
        let counter_name = "# TYPE a counter\na 1\n";
        assert!(check(counter_name, Syntax::Text).is_err());
        let om_le =
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n# EOF\n";
        assert!(check(om_le, Syntax::OpenMetrics).is_err());
        let tab_escape = "# TYPE a gauge\na{x=\"\\t\"} 1\n";
        assert!(check(tab_escape, Syntax::Text).is_err());
        let interleaved = "# TYPE h histogram\nh_bucket{a=\"1\",le=\"+Inf\"} 1\nh_bucket{a=\"2\",le=\"+Inf\"} 1\nh_sum{a=\"1\"} 1\nh_count{a=\"1\"} 1\nh_sum{a=\"2\"} 1\nh_count{a=\"2\"} 1\n";
        assert!(check(interleaved, Syntax::Text).is_err());
    }

    #[test]
    fn accepts_valid_expositions() {
        let text = "# HELP a_total Help with \\\\ and \\n and \"quotes\".\n# TYPE a_total counter\na_total{p=\"x\\\"y\\\\z\\n\"} 1\n# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1e+06\nh_count 2\n";
        let fams = check(text, Syntax::Text).expect("valid");
        assert_eq!(fams[0].samples[0].labels[0].1, "x\"y\\z\n");
        let om = "# TYPE a counter\n# UNIT a_seconds seconds\n";
        assert!(check(om, Syntax::OpenMetrics).is_err()); // unit not a suffix
        let om = "# TYPE a_seconds counter\n# UNIT a_seconds seconds\n# HELP a_seconds x\na_seconds_total 1\n# EOF\n";
        check(om, Syntax::OpenMetrics).expect("valid");
    }
}
