//! Prometheus text format 0.0.4 and OpenMetrics 1.0 encoders for the [`Registry`].
//!
//! The rules implemented here come from the shared format reference
//! (`formats/prometheus.md`); the ones that are easy to get wrong, and that
//! `promtool` does *not* catch, are enforced by construction:
//!
//! - **Names.** Metric names are sanitised to `[a-zA-Z_:][a-zA-Z0-9_:]*` and label
//!   names to `[a-zA-Z_][a-zA-Z0-9_]*` when a metric is registered (invalid
//!   characters become `_`, a leading digit gets a `_` prefix), so the encoder
//!   only ever sees valid names. Label names that Prometheus reserves (`__…`)
//!   or that would clash with generated or target labels (`le`, `quantile`,
//!   `job`, `instance`) get an `x_` prefix instead of being dropped.
//! - **Escaping.** Label values escape `\\`, `\"` and `\n` (both formats); HELP
//!   text escapes only `\\` and `\n` in the text format (a `\"` there is a parse
//!   error for Prometheus) but also `\"` in OpenMetrics. Two separate routines.
//! - **Counters.** In the text format the family (HELP/TYPE) and its samples are
//!   named `x_total`; in OpenMetrics the family is `x` and its samples `x_total`.
//!   No `_created` sample is emitted: Prometheus 2.x stores it as its own series.
//! - **Histograms.** Buckets are rendered cumulative, in ascending `le`, ending
//!   with `+Inf`, and `_count` is *computed from* the buckets so that it always
//!   equals the `+Inf` bucket even while other threads record.
//! - **Structure.** One HELP/TYPE per family, families sorted by exposed name,
//!   series sorted by labels, each family contiguous, no timestamps (they break
//!   staleness handling and the Pushgateway rejects them), every line ends with
//!   `\n`, OpenMetrics ends with `# EOF\n`.
//!
//! A Pushgateway body is just [`Format::Text`]; the push client lives elsewhere.

use std::fmt::Write as _;
use std::sync::Arc;

use super::registry::{Kind, Registry, Series};

/// Content-Type of the Prometheus text format 0.0.4.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Content-Type of OpenMetrics 1.0 text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Which exposition format to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// Prometheus text format 0.0.4: the default, and the Pushgateway body format.
    #[default]
    Text,
    /// OpenMetrics 1.0 text, served when the scraper asks for it.
    OpenMetrics,
}

impl Format {
    /// The one concrete Content-Type to send with this format. Prometheus 3
    /// fails a scrape whose Content-Type is missing or unknown, so never omit it.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => TEXT_CONTENT_TYPE,
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }
}

/// Picks the exposition format from a scrape's `Accept` header.
///
/// OpenMetrics is chosen when the header lists `application/openmetrics-text`
/// (version 1.0.0, 0.0.1 — which our 1.0.0 output satisfies — or no version) with
/// a non-zero quality at least as high as any `text/plain` it also lists; every
/// other case (no header, only `text/plain`, `*/*`, an OpenMetrics version we do
/// not speak) gets the text format 0.0.4. Prometheus 2.x sends OpenMetrics with
/// q=1 and text with q=0.5, so it gets OpenMetrics; a Prometheus 3 configured to
/// prefer the text format lowers OpenMetrics' q and is honoured.
pub fn negotiate(accept_header: Option<&str>) -> Format {
    let Some(accept) = accept_header else {
        return Format::Text;
    };
    let mut best_openmetrics: Option<f32> = None;
    let mut best_text: Option<f32> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim();
        let is_openmetrics = media.eq_ignore_ascii_case("application/openmetrics-text");
        let is_text = media.eq_ignore_ascii_case("text/plain");
        if !is_openmetrics && !is_text {
            continue;
        }
        let mut q = 1.0_f32;
        let mut version_ok = true;
        for param in parts {
            let Some((key, value)) = param.split_once('=') else {
                continue;
            };
            let key = key.trim();
            let value = value.trim().trim_matches('"');
            if key.eq_ignore_ascii_case("q") {
                // An unparsable quality is treated as "not acceptable" rather than
                // guessed at: the scraper still gets a valid text reply.
                q = value
                    .parse::<f32>()
                    .ok()
                    .filter(|q| q.is_finite())
                    .unwrap_or(0.0);
            } else if key.eq_ignore_ascii_case("version") && is_openmetrics {
                version_ok = matches!(value, "1.0.0" | "0.0.1");
            }
        }
        if q <= 0.0 {
            continue;
        }
        if is_openmetrics && version_ok {
            best_openmetrics = Some(best_openmetrics.map_or(q, |b| b.max(q)));
        } else if is_text {
            best_text = Some(best_text.map_or(q, |b| b.max(q)));
        }
    }
    match (best_openmetrics, best_text) {
        (Some(om), Some(text)) if om >= text => Format::OpenMetrics,
        (Some(_), None) => Format::OpenMetrics,
        _ => Format::Text,
    }
}

// ---------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------

/// Sanitises a metric name to `[a-zA-Z_:][a-zA-Z0-9_:]*`: every other character
/// becomes `_` (one per character, not per byte), a leading digit gets a `_`
/// prefix, and an empty name becomes `unnamed`. Case is kept; this is the
/// minimal repair of a name the code or a config chose (see
/// [`normalize_config_name`] for the full config-name normalisation).
pub fn sanitize_metric_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    for (i, c) in name.chars().enumerate() {
        if i == 0 && c.is_ascii_digit() {
            out.push('_');
        }
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            out.push(c);
        } else {
            out.push('_');
        }
    }
    if out.is_empty() {
        out.push_str("unnamed");
    }
    out
}

/// True if `name` is a valid metric name as-is.
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Label names that must not be used for a dimension: `le`/`quantile` are
/// generated by histograms/summaries, and `job`/`instance` are the target
/// labels Prometheus and the Pushgateway attach (a body label of that name gets
/// renamed to `exported_*` or silently overwritten).
const RESERVED_LABEL_NAMES: [&str; 4] = ["le", "quantile", "job", "instance"];

/// Sanitises a label (dimension) name to `[a-zA-Z_][a-zA-Z0-9_]*` and keeps it
/// clear of reserved names.
///
/// Invalid characters become `_`, a leading digit gets a `_` prefix, an empty
/// name becomes `unnamed`. Names starting with `__` (reserved for Prometheus'
/// internal labels; the Pushgateway rejects a whole push that carries one) and
/// the names `le`, `quantile`, `job`, `instance` get an `x_` prefix, so a
/// dimension is renamed rather than lost.
pub fn sanitize_label_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    for (i, c) in name.chars().enumerate() {
        if i == 0 && c.is_ascii_digit() {
            out.push('_');
        }
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else {
            out.push('_');
        }
    }
    if out.is_empty() {
        out.push_str("unnamed");
    }
    if out.starts_with("__") || RESERVED_LABEL_NAMES.contains(&out.as_str()) {
        out.insert_str(0, "x_");
    }
    out
}

/// True if `name` is a valid label name that is not reserved (see
/// [`sanitize_label_name`]); equivalently, `sanitize_label_name(name) == name`.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
        && !RESERVED_LABEL_NAMES.contains(&name)
}

/// Normalises a name written for another system (a CloudWatch metric filter
/// name such as `Error Count/5xx`, a dimension name) into Prometheus style,
/// per step 1 of the naming rules: characters outside `[a-zA-Z0-9_]` become
/// `_` (so `:`, reserved for recording rules, goes too), the result is
/// lowercased, runs of `_` collapse to one, leading/trailing `_` are trimmed,
/// an empty result becomes `unnamed`, and a leading digit gets a `_` prefix.
///
/// `Error Count/5xx` → `error_count_5xx`. Adding the application prefix and
/// the `_total` suffix is the caller's business (the registry adds `_total` to
/// counters itself).
pub fn normalize_config_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    let mut last_underscore = true; // trims leading underscores
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '_'
        };
        if c == '_' {
            if !last_underscore {
                out.push('_');
            }
            last_underscore = true;
        } else {
            out.push(c);
            last_underscore = false;
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    if out.is_empty() {
        return "unnamed".to_owned();
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

// ---------------------------------------------------------------------------
// Escaping and numbers
// ---------------------------------------------------------------------------

/// Appends a label value escaped for either format: `\` → `\\`, `"` → `\"`,
/// LF → `\n`; nothing else is escaped (the text parser rejects any other escape
/// such as `\t`), so tabs, CR and NUL pass through raw, which both parsers accept
/// inside a quoted value.
pub fn escape_label_value(out: &mut String, value: &str) {
    escape_into(out, value, true);
}

/// Appends HELP text escaped for `format`. The text format escapes only `\` and
/// LF — Prometheus' parser treats `\"` in HELP as an error — whereas
/// OpenMetrics HELP is an escaped string like a label value.
pub fn escape_help(out: &mut String, help: &str, format: Format) {
    escape_into(out, help, format == Format::OpenMetrics);
}

fn escape_into(out: &mut String, s: &str, quotes: bool) {
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let replacement = match b {
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'"' if quotes => "\\\"",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        out.push_str(replacement);
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// A fixed-size stack buffer for `{:e}` formatting, so rendering floats does not
/// allocate. 40 bytes hold the longest `f64` in scientific notation
/// (`-1.7976931348623157e308` is 23).
struct StackBuf {
    buf: [u8; 40],
    len: usize,
}

impl std::fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Appends `v` exactly as Go's `strconv.FormatFloat(v, 'g', -1, 64)` renders it
/// (what client_golang exposes, and the basis of OpenMetrics' canonical
/// numbers): the shortest digits that round-trip, in plain notation when the
/// decimal exponent is in `-4..6` and as `d.ddde±XX` otherwise (`1e+06`,
/// `1.5e-07`), with `+Inf`, `-Inf` and `NaN` for the non-finite values.
pub fn write_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    if v == 0.0 {
        out.push('0');
        return;
    }
    // Rust's `{:e}` yields the shortest round-trip digits, e.g. `1.2345e-7`.
    let mut tmp = StackBuf {
        buf: [0; 40],
        len: 0,
    };
    if write!(tmp, "{:e}", v.abs()).is_err() {
        // Cannot happen (the buffer fits every f64), but never lose a sample:
        // the Display form is valid Go float syntax too.
        let _ = write!(out, "{v}");
        return;
    }
    let s = std::str::from_utf8(&tmp.buf[..tmp.len]).unwrap_or("0e0");
    let (mantissa, exp) = s.split_once('e').unwrap_or((s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits = [0u8; 24];
    let mut nd = 0;
    for b in mantissa.bytes().filter(u8::is_ascii_digit) {
        if let Some(slot) = digits.get_mut(nd) {
            *slot = b;
            nd += 1;
        }
    }
    let digits = &digits[..nd];
    if v < 0.0 {
        out.push('-');
    }
    let push_digits = |out: &mut String, d: &[u8]| {
        for &b in d {
            out.push(char::from(b));
        }
    };
    if !(-4..6).contains(&exp) {
        push_digits(out, &digits[..1]);
        if nd > 1 {
            out.push('.');
            push_digits(out, &digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        let _ = write!(out, "{e}");
    } else if exp >= 0 {
        let int_digits = (exp + 1) as usize; // 1..=6
        if nd <= int_digits {
            push_digits(out, digits);
            for _ in nd..int_digits {
                out.push('0');
            }
        } else {
            push_digits(out, &digits[..int_digits]);
            out.push('.');
            push_digits(out, &digits[int_digits..]);
        }
    } else {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        push_digits(out, digits);
    }
}

/// Appends a histogram bound in OpenMetrics' canonical form: Go's `%g` with
/// `.0` appended when there is neither a decimal point nor an exponent
/// (`1.0`, `10.0`, `0.005`, `1e+06`, `+Inf`).
fn write_canonical_bound(out: &mut String, v: f64) {
    let start = out.len();
    write_float(out, v);
    if v.is_finite() && !out[start..].contains(['.', 'e']) {
        out.push_str(".0");
    }
}

// ---------------------------------------------------------------------------
// Encoder
// ---------------------------------------------------------------------------

/// A const label, validated once and pre-rendered as `name="escaped value"`.
#[derive(Debug, Clone)]
struct ConstLabel {
    name: String,
    rendered: String,
}

/// Renders a [`Registry`] in either exposition format, adding an optional
/// namespace prefix and const labels at encode time.
///
/// Build it once (it validates and pre-renders its settings) and call
/// [`Encoder::encode`] per scrape or push:
///
/// ```
/// use weir::telemetry::{Encoder, Format, Registry};
/// let registry = Registry::new();
/// registry.counter("events_total", &[("pipeline", "main")], "Events seen.").increment(3);
/// let body = Encoder::new().namespace("weir").const_label("env", "prod").render(&registry, Format::Text);
/// assert!(body.contains("weir_events_total{pipeline=\"main\",env=\"prod\"} 3\n"));
/// ```
///
/// Const labels never override a series' own label of the same name (the more
/// specific label wins, as with Prometheus' external labels), and one with an
/// empty value is ignored, because an empty value means "no label".
#[derive(Debug, Clone, Default)]
pub struct Encoder {
    prefix: String,
    const_labels: Vec<ConstLabel>,
}

impl Encoder {
    /// An encoder with no namespace and no const labels.
    pub fn new() -> Self {
        Self::default()
    }

    /// Prefixes every family with `namespace_` (sanitised like a metric name;
    /// an empty namespace means none).
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.prefix = if namespace.is_empty() {
            String::new()
        } else {
            let mut p = sanitize_metric_name(namespace);
            p.push('_');
            p
        };
        self
    }

    /// Adds a label to every series. The name is sanitised like a dimension name;
    /// a later const label with the same (sanitised) name replaces an earlier one.
    pub fn const_label(mut self, name: &str, value: &str) -> Self {
        let name = sanitize_label_name(name);
        self.const_labels.retain(|c| c.name != name);
        if !value.is_empty() {
            let mut rendered = String::with_capacity(name.len() + value.len() + 3);
            rendered.push_str(&name);
            rendered.push_str("=\"");
            escape_label_value(&mut rendered, value);
            rendered.push('"');
            self.const_labels.push(ConstLabel { name, rendered });
            self.const_labels.sort_by(|a, b| a.name.cmp(&b.name));
        }
        self
    }

    /// Renders `registry` in `format` into a new string.
    pub fn render(&self, registry: &Registry, format: Format) -> String {
        let mut out = String::new();
        self.encode(registry, format, &mut out);
        out
    }

    /// Appends the exposition of `registry` in `format` to `out`.
    ///
    /// Expired series (see [`Registry::set_expire_after`]) are swept first, so
    /// each scrape shows exactly the series that are live. Families without any
    /// visible series are left out.
    pub fn encode(&self, registry: &Registry, format: Format, out: &mut String) {
        registry.sweep_expired();
        let mut families: Vec<(String, _)> = registry
            .snapshot()
            .into_iter()
            .map(|f| {
                (
                    self.family_name(f.family.kind(), f.family.name(), format),
                    f,
                )
            })
            .collect();
        families.sort_by(|a, b| a.0.cmp(&b.0));

        let mut labels = String::new();
        let mut bounds_cache: Option<(Arc<[f64]>, Vec<String>)> = None;
        let mut counts = Vec::new();
        for (family_name, snap) in &families {
            let series = snap.family.visible_series();
            if series.is_empty() {
                continue;
            }
            let kind = snap.family.kind();
            let help = snap.help.as_deref().filter(|h| !h.is_empty());
            match format {
                Format::Text => {
                    if let Some(help) = help {
                        out.push_str("# HELP ");
                        out.push_str(family_name);
                        out.push(' ');
                        escape_help(out, help, format);
                        out.push('\n');
                    }
                    out.push_str("# TYPE ");
                    out.push_str(family_name);
                    out.push(' ');
                    out.push_str(kind.type_name());
                    out.push('\n');
                }
                Format::OpenMetrics => {
                    out.push_str("# TYPE ");
                    out.push_str(family_name);
                    out.push(' ');
                    out.push_str(kind.type_name());
                    out.push('\n');
                    // OpenMetrics requires the unit to be the name's `_<unit>`
                    // suffix; a unit that is not is left out rather than
                    // renaming a metric behind its owner's back.
                    if let Some(unit) = snap.unit {
                        let unit = unit.as_str();
                        if family_name
                            .strip_suffix(unit)
                            .is_some_and(|rest| rest.ends_with('_'))
                        {
                            out.push_str("# UNIT ");
                            out.push_str(family_name);
                            out.push(' ');
                            out.push_str(unit);
                            out.push('\n');
                        }
                    }
                    if let Some(help) = help {
                        out.push_str("# HELP ");
                        out.push_str(family_name);
                        out.push(' ');
                        escape_help(out, help, format);
                        out.push('\n');
                    }
                }
            }

            let base: &str = family_name;
            for s in &series {
                self.series_labels(s, &mut labels);
                match kind {
                    Kind::Counter => {
                        let total = s.counter_value();
                        // The text family is already `x_total`; an OpenMetrics
                        // counter family `x` has samples `x_total`.
                        out.push_str(base);
                        if format == Format::OpenMetrics {
                            out.push_str("_total");
                        }
                        push_labels(out, &labels, None);
                        out.push(' ');
                        push_u64(out, total);
                        out.push('\n');
                    }
                    Kind::Gauge => {
                        out.push_str(base);
                        push_labels(out, &labels, None);
                        out.push(' ');
                        write_float(out, s.gauge_value());
                        out.push('\n');
                    }
                    Kind::Histogram => {
                        let Some((bounds, sum)) = s.histogram_snapshot(&mut counts) else {
                            continue;
                        };
                        let rendered = match &bounds_cache {
                            Some((cached, r)) if Arc::ptr_eq(cached, &bounds) => r,
                            _ => {
                                let r = render_bounds(&bounds, format);
                                &bounds_cache.insert((bounds.clone(), r)).1
                            }
                        };
                        let mut cumulative = 0_u64;
                        for (le, count) in rendered.iter().zip(&counts) {
                            cumulative = cumulative.saturating_add(*count);
                            out.push_str(base);
                            out.push_str("_bucket");
                            push_labels(out, &labels, Some(le));
                            out.push(' ');
                            push_u64(out, cumulative);
                            out.push('\n');
                        }
                        // OpenMetrics: sum is a counter, so it is left out when it
                        // could be negative (negative buckets or observations).
                        let sum_ok = format == Format::Text
                            || (sum >= 0.0 && bounds.iter().all(|b| *b >= 0.0));
                        if sum_ok {
                            out.push_str(base);
                            out.push_str("_sum");
                            push_labels(out, &labels, None);
                            out.push(' ');
                            write_float(out, sum);
                            out.push('\n');
                        }
                        out.push_str(base);
                        out.push_str("_count");
                        push_labels(out, &labels, None);
                        out.push(' ');
                        push_u64(out, cumulative);
                        out.push('\n');
                    }
                }
            }
        }
        if format == Format::OpenMetrics {
            out.push_str("# EOF\n");
        }
    }

    /// The exposed family name: namespace + name, with `_total` on counters
    /// in the text format only.
    fn family_name(&self, kind: Kind, name: &str, format: Format) -> String {
        let mut s = String::with_capacity(self.prefix.len() + name.len() + 6);
        s.push_str(&self.prefix);
        s.push_str(name);
        if kind == Kind::Counter && format == Format::Text {
            s.push_str("_total");
        }
        s
    }

    /// Fills `buf` with a series' rendered labels followed by the const labels
    /// it does not override, comma-separated, without braces.
    fn series_labels(&self, series: &Series, buf: &mut String) {
        buf.clear();
        buf.push_str(series.rendered_labels());
        for c in &self.const_labels {
            if series.has_label(&c.name) {
                continue;
            }
            if !buf.is_empty() {
                buf.push(',');
            }
            buf.push_str(&c.rendered);
        }
    }
}

/// Appends `{labels,le="…"}`, or nothing at all when there are no labels.
fn push_labels(out: &mut String, labels: &str, le: Option<&str>) {
    if labels.is_empty() && le.is_none() {
        return;
    }
    out.push('{');
    out.push_str(labels);
    if let Some(le) = le {
        if !labels.is_empty() {
            out.push(',');
        }
        out.push_str("le=\"");
        out.push_str(le);
        out.push('"');
    }
    out.push('}');
}

fn push_u64(out: &mut String, v: u64) {
    out.push_str(itoa::Buffer::new().format(v));
}

/// Renders the `le` values of a histogram's buckets, `+Inf` last.
fn render_bounds(bounds: &[f64], format: Format) -> Vec<String> {
    bounds
        .iter()
        .copied()
        .chain(std::iter::once(f64::INFINITY))
        .map(|b| {
            let mut s = String::new();
            match format {
                Format::Text => write_float(&mut s, b),
                Format::OpenMetrics => write_canonical_bound(&mut s, b),
            }
            s
        })
        .collect()
}

#[cfg(test)]
#[path = "../../tests/support/exposition_check.rs"]
mod check;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::registry::{MetricOptions, RegistryConfig};
    use metrics::Unit;

    fn float(v: f64) -> String {
        let mut s = String::new();
        write_float(&mut s, v);
        s
    }

    fn bound(v: f64) -> String {
        let mut s = String::new();
        write_canonical_bound(&mut s, v);
        s
    }

    #[test]
    fn floats_follow_go_formatting() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-1.0, "-1"),
            (17.0, "17"),
            (2.5, "2.5"),
            (0.005, "0.005"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (100000.0, "100000"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (4.20072246e6, "4.20072246e+06"),
            (1e10, "1e+10"),
            (1e100, "1e+100"),
            (-2.5e-300, "-2.5e-300"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ];
        for (v, want) in cases {
            assert_eq!(float(*v), *want, "formatting {v:e}");
        }
    }

    #[test]
    fn floats_round_trip() {
        for v in [
            0.1,
            1.0 / 3.0,
            123.456,
            9.999e-5,
            5e-324,
            12345678.9,
            1e21,
            1e22,
        ] {
            assert_eq!(float(v).parse::<f64>().ok(), Some(v));
        }
    }

    #[test]
    fn openmetrics_canonical_bounds_match_the_spec_examples() {
        // The spec's lists of canonical renderings.
        let cases: &[(f64, &str)] = &[
            (0.0, "0.0"),
            (0.001, "0.001"),
            (0.01, "0.01"),
            (0.1, "0.1"),
            (0.9, "0.9"),
            (0.95, "0.95"),
            (0.999, "0.999"),
            (1.0, "1.0"),
            (1.7, "1.7"),
            (10.0, "10.0"),
            (1e-10, "1e-10"),
            (1e-9, "1e-09"),
            (1e-5, "1e-05"),
            (1e-4, "0.0001"),
            (1e5, "100000.0"),
            (1e6, "1e+06"),
            (1e10, "1e+10"),
            (f64::INFINITY, "+Inf"),
        ];
        for (v, want) in cases {
            assert_eq!(bound(*v), *want);
        }
    }

    #[test]
    fn metric_names_are_sanitised() {
        assert_eq!(
            sanitize_metric_name("weir_events_total"),
            "weir_events_total"
        );
        assert_eq!(sanitize_metric_name("Error Count/5xx"), "Error_Count_5xx");
        assert_eq!(sanitize_metric_name("1bad-name"), "_1bad_name");
        assert_eq!(sanitize_metric_name("job:rate5m"), "job:rate5m");
        assert_eq!(sanitize_metric_name("café"), "caf_");
        assert_eq!(sanitize_metric_name(""), "unnamed");
        assert!(is_valid_metric_name("a:b_c1"));
        assert!(!is_valid_metric_name("1a"));
        assert!(!is_valid_metric_name(""));
    }

    #[test]
    fn label_names_are_sanitised_and_kept_off_reserved_names() {
        assert_eq!(sanitize_label_name("status"), "status");
        assert_eq!(sanitize_label_name("1bad-key"), "_1bad_key");
        assert_eq!(sanitize_label_name("a:b"), "a_b");
        assert_eq!(sanitize_label_name("__name__"), "x___name__");
        assert_eq!(sanitize_label_name("-_x"), "x___x");
        assert_eq!(sanitize_label_name("le"), "x_le");
        assert_eq!(sanitize_label_name("quantile"), "x_quantile");
        assert_eq!(sanitize_label_name("job"), "x_job");
        assert_eq!(sanitize_label_name("instance"), "x_instance");
        assert_eq!(sanitize_label_name(""), "unnamed");
        assert_eq!(sanitize_label_name("_private"), "_private");
        for n in ["status", "_private", "x___name__", "a1"] {
            assert!(is_valid_label_name(n), "{n}");
        }
        for n in ["", "1a", "__x", "le", "a-b", "a:b"] {
            assert!(!is_valid_label_name(n), "{n}");
        }
    }

    #[test]
    fn config_names_are_normalised() {
        assert_eq!(normalize_config_name("Error Count/5xx"), "error_count_5xx");
        assert_eq!(normalize_config_name("__Weird::Name__"), "weird_name");
        assert_eq!(normalize_config_name("5xx errors"), "_5xx_errors");
        assert_eq!(normalize_config_name("///"), "unnamed");
        assert_eq!(normalize_config_name("Latency (ms)"), "latency_ms");
    }

    #[test]
    fn label_values_and_help_are_escaped_per_format() {
        let mut s = String::new();
        escape_label_value(&mut s, "C:\\tmp \"x\"\nnext\ttab");
        assert_eq!(s, "C:\\\\tmp \\\"x\\\"\\nnext\ttab");
        s.clear();
        escape_help(&mut s, "a \\ \"b\"\nc", Format::Text);
        assert_eq!(s, "a \\\\ \"b\"\\nc");
        s.clear();
        escape_help(&mut s, "a \\ \"b\"\nc", Format::OpenMetrics);
        assert_eq!(s, "a \\\\ \\\"b\\\"\\nc");
        s.clear();
        // Two backslashes stay two (metrics-exporter-prometheus loses one).
        escape_label_value(&mut s, "\\\\");
        assert_eq!(s, "\\\\\\\\");
    }

    #[test]
    fn negotiation() {
        let prom2 = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(negotiate(Some(prom2)), Format::OpenMetrics);
        assert_eq!(negotiate(None), Format::Text);
        assert_eq!(negotiate(Some("")), Format::Text);
        assert_eq!(negotiate(Some("*/*")), Format::Text);
        assert_eq!(negotiate(Some("text/plain;version=0.0.4")), Format::Text);
        assert_eq!(
            negotiate(Some("Application/OpenMetrics-Text")),
            Format::OpenMetrics
        );
        assert_eq!(
            negotiate(Some("application/openmetrics-text; version=1.0.0; q=0")),
            Format::Text
        );
        assert_eq!(
            negotiate(Some("application/openmetrics-text;version=2.0.0")),
            Format::Text
        );
        // A scraper that prefers the text format is honoured.
        assert_eq!(
            negotiate(Some(
                "text/plain;version=0.0.4;q=1,application/openmetrics-text;version=1.0.0;q=0.5"
            )),
            Format::Text
        );
        assert_eq!(
            negotiate(Some("application/openmetrics-text;q=garbage,text/plain")),
            Format::Text
        );
        assert_eq!(
            Format::OpenMetrics.content_type(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        );
        assert_eq!(
            Format::Text.content_type(),
            "text/plain; version=0.0.4; charset=utf-8"
        );
    }

    /// The doc's reference exposition, reproduced byte for byte.
    #[test]
    fn text_format_matches_reference_example() {
        let r = Registry::new();
        r.describe(
            "logpipe_events_total",
            None,
            "Log events matched by a metric filter.",
        );
        r.counter(
            "logpipe_events_total",
            &[("filter", "error_count_5xx"), ("status", "503")],
            "",
        )
        .increment(17);
        r.counter(
            "logpipe_events_total",
            &[
                ("filter", "error_count_5xx"),
                ("path", "C:\\tmp \"x\"\nnext"),
            ],
            "",
        )
        .increment(2);
        r.set_buckets("logpipe_request_duration_seconds", vec![0.1, 0.5])
            .expect("valid buckets");
        let h = r.histogram(
            "logpipe_request_duration_seconds",
            &[],
            "Request latency parsed from access logs.",
        );
        for v in [0.05, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 1.15, 1.5] {
            h.record(v);
        }
        let text = Encoder::new().render(&r, Format::Text);
        assert_eq!(
            text,
            "# HELP logpipe_events_total Log events matched by a metric filter.\n\
             # TYPE logpipe_events_total counter\n\
             logpipe_events_total{filter=\"error_count_5xx\",path=\"C:\\\\tmp \\\"x\\\"\\nnext\"} 2\n\
             logpipe_events_total{filter=\"error_count_5xx\",status=\"503\"} 17\n\
             # HELP logpipe_request_duration_seconds Request latency parsed from access logs.\n\
             # TYPE logpipe_request_duration_seconds histogram\n\
             logpipe_request_duration_seconds_bucket{le=\"0.1\"} 3\n\
             logpipe_request_duration_seconds_bucket{le=\"0.5\"} 7\n\
             logpipe_request_duration_seconds_bucket{le=\"+Inf\"} 9\n\
             logpipe_request_duration_seconds_sum 4.25\n\
             logpipe_request_duration_seconds_count 9\n"
        );
        check::check(&text, check::Syntax::Text).expect("well-formed");
    }

    #[test]
    fn openmetrics_counter_family_unit_help_and_eof() {
        let r = Registry::new();
        r.describe(
            "weir_output_sent_bytes_total",
            Some(Unit::Bytes),
            "Bytes \"sent\"\nby outputs.",
        );
        r.counter("weir_output_sent_bytes_total", &[("output", "es")], "")
            .increment(1024);
        r.describe(
            "weir_queue_depth",
            Some(Unit::Seconds),
            "Unit not a suffix.",
        );
        r.gauge("weir_queue_depth", &[], "").set(3.5);
        let om = Encoder::new().render(&r, Format::OpenMetrics);
        assert_eq!(
            om,
            "# TYPE weir_output_sent_bytes counter\n\
             # UNIT weir_output_sent_bytes bytes\n\
             # HELP weir_output_sent_bytes Bytes \\\"sent\\\"\\nby outputs.\n\
             weir_output_sent_bytes_total{output=\"es\"} 1024\n\
             # TYPE weir_queue_depth gauge\n\
             # HELP weir_queue_depth Unit not a suffix.\n\
             weir_queue_depth 3.5\n\
             # EOF\n"
        );
        check::check(&om, check::Syntax::OpenMetrics).expect("well-formed");

        let text = Encoder::new().render(&r, Format::Text);
        assert_eq!(
            text,
            "# HELP weir_output_sent_bytes_total Bytes \"sent\"\\nby outputs.\n\
             # TYPE weir_output_sent_bytes_total counter\n\
             weir_output_sent_bytes_total{output=\"es\"} 1024\n\
             # HELP weir_queue_depth Unit not a suffix.\n\
             # TYPE weir_queue_depth gauge\n\
             weir_queue_depth 3.5\n"
        );
    }

    #[test]
    fn counters_get_total_exactly_once() {
        let r = Registry::new();
        r.counter("a_total", &[], "").increment(1);
        r.counter("a", &[], "").increment(1); // same family as `a_total`
        r.counter("b", &[], "").increment(5);
        let text = Encoder::new().render(&r, Format::Text);
        assert_eq!(
            text,
            "# TYPE a_total counter\na_total 2\n# TYPE b_total counter\nb_total 5\n"
        );
        let om = Encoder::new().render(&r, Format::OpenMetrics);
        assert_eq!(
            om,
            "# TYPE a counter\na_total 2\n# TYPE b counter\nb_total 5\n# EOF\n"
        );
    }

    #[test]
    fn openmetrics_histogram_uses_canonical_bounds_and_drops_negative_sum() {
        let r = Registry::new();
        r.set_buckets("lat_seconds", vec![1.0, 0.5, 10.0, f64::INFINITY, 1.0])
            .expect("valid");
        let h = r.histogram("lat_seconds", &[("op", "get")], "Latency.");
        h.record(0.2);
        h.record(3.0);
        h.record(f64::NAN); // dropped: would poison the sum forever
        let om = Encoder::new().render(&r, Format::OpenMetrics);
        assert_eq!(
            om,
            "# TYPE lat_seconds histogram\n\
             # HELP lat_seconds Latency.\n\
             lat_seconds_bucket{op=\"get\",le=\"0.5\"} 1\n\
             lat_seconds_bucket{op=\"get\",le=\"1.0\"} 1\n\
             lat_seconds_bucket{op=\"get\",le=\"10.0\"} 2\n\
             lat_seconds_bucket{op=\"get\",le=\"+Inf\"} 2\n\
             lat_seconds_sum{op=\"get\"} 3.2\n\
             lat_seconds_count{op=\"get\"} 2\n\
             # EOF\n"
        );
        check::check(&om, check::Syntax::OpenMetrics).expect("well-formed");

        let r = Registry::new();
        r.set_buckets("temp_celsius", vec![-10.0, 0.0])
            .expect("valid");
        r.histogram("temp_celsius", &[], "Temperatures.")
            .record(-20.0);
        let om = Encoder::new().render(&r, Format::OpenMetrics);
        assert!(!om.contains("_sum"), "{om}");
        check::check(&om, check::Syntax::OpenMetrics).expect("well-formed");
        let text = Encoder::new().render(&r, Format::Text);
        assert!(text.contains("temp_celsius_sum -20\n"), "{text}");
        check::check(&text, check::Syntax::Text).expect("well-formed");
    }

    #[test]
    fn gauges_render_special_floats() {
        let r = Registry::new();
        r.gauge("g", &[("k", "inf")], "").set(f64::INFINITY);
        r.gauge("g", &[("k", "nan")], "").set(f64::NAN);
        r.gauge("g", &[("k", "ninf")], "").set(f64::NEG_INFINITY);
        r.gauge("g", &[("k", "big")], "").set(2e9);
        let text = Encoder::new().render(&r, Format::Text);
        assert_eq!(
            text,
            "# TYPE g gauge\n\
             g{k=\"big\"} 2e+09\n\
             g{k=\"inf\"} +Inf\n\
             g{k=\"nan\"} NaN\n\
             g{k=\"ninf\"} -Inf\n"
        );
    }

    #[test]
    fn namespace_and_const_labels_apply_at_encode_time() {
        let r = Registry::new();
        r.counter("events_total", &[("env", "dev")], "Events.")
            .increment(1);
        r.counter("events_total", &[("pipeline", "p")], "Events.")
            .increment(2);
        let enc = Encoder::new()
            .namespace("my-app")
            .const_label("env", "prod")
            .const_label("__region", "eu\"1")
            .const_label("empty", "");
        let text = enc.render(&r, Format::Text);
        assert_eq!(
            text,
            "# HELP my_app_events_total Events.\n\
             # TYPE my_app_events_total counter\n\
             my_app_events_total{env=\"dev\",x___region=\"eu\\\"1\"} 1\n\
             my_app_events_total{pipeline=\"p\",env=\"prod\",x___region=\"eu\\\"1\"} 2\n"
        );
        check::check(&text, check::Syntax::Text).expect("well-formed");
        let om = enc.render(&r, Format::OpenMetrics);
        assert!(om.starts_with("# TYPE my_app_events counter\n"), "{om}");
        check::check(&om, check::Syntax::OpenMetrics).expect("well-formed");
    }

    #[test]
    fn families_and_series_are_sorted_and_unlabelled_series_have_no_braces() {
        let r = Registry::new();
        r.gauge("zz", &[], "").set(1.0);
        r.gauge("aa", &[("b", "2")], "").set(1.0);
        r.gauge("aa", &[("a", "9")], "").set(1.0);
        r.gauge("aa", &[("b", "10")], "").set(1.0);
        let text = Encoder::new().render(&r, Format::Text);
        assert_eq!(
            text,
            "# TYPE aa gauge\naa{a=\"9\"} 1\naa{b=\"10\"} 1\naa{b=\"2\"} 1\n# TYPE zz gauge\nzz 1\n"
        );
    }

    #[test]
    fn empty_registry_renders_nothing_or_just_eof() {
        let r = Registry::new();
        assert_eq!(Encoder::new().render(&r, Format::Text), "");
        assert_eq!(Encoder::new().render(&r, Format::OpenMetrics), "# EOF\n");
    }

    #[test]
    fn options_and_overflow_render_well_formed() {
        let r = Registry::with_config(RegistryConfig::default());
        r.configure(
            "s3_errors_total",
            MetricOptions {
                max_series: Some(2),
                ..MetricOptions::default()
            },
        )
        .expect("valid");
        for b in ["a", "b", "c", "d"] {
            r.counter("s3_errors_total", &[("bucket", b)], "Errors.")
                .increment(1);
        }
        for format in [Format::Text, Format::OpenMetrics] {
            let out = Encoder::new().render(&r, format);
            let syntax = match format {
                Format::Text => check::Syntax::Text,
                Format::OpenMetrics => check::Syntax::OpenMetrics,
            };
            check::check(&out, syntax).expect("well-formed");
            assert!(
                out.contains("s3_errors_total{bucket=\"__overflow__\"} 2\n"),
                "{out}"
            );
            assert!(
                out.contains("weir_metric_series_overflow_total{metric=\"s3_errors_total\"} 2\n"),
                "{out}"
            );
        }
    }
}
