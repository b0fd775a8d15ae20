//! `metric_filter`: CloudWatch metric filters, published as Prometheus metrics.
//!
//! A CloudWatch metric filter is a pattern plus a metric transformation
//! (`metricName`, `metricValue`, `defaultValue`, `dimensions`, `unit`). This
//! filter takes the same pieces — the pattern pasted unchanged — and records
//! into weir's metrics registry ([`crate::telemetry`]), which `/metrics` and
//! the Prometheus output expose. Events always pass through unchanged: a metric
//! filter observes, it never drops or edits.
//!
//! # Semantics (as CloudWatch defines them)
//!
//! - A matching event contributes `value`: a constant (default `1`, "count the
//!   matches"), `$.field` (read from the event's fields, or from the message
//!   parsed as JSON) or `$name` / `$3` (a field the space-delimited pattern
//!   captured).
//! - `default_value` is published for every event that does **not** match, so a
//!   counter reports 0 instead of nothing (CloudWatch's advice for alarms). As
//!   in CloudWatch it cannot be combined with `dimensions`.
//! - A matching event whose value is missing or not a number is not counted:
//!   CloudWatch drops it. weir counts it in
//!   `weir_metric_filter_skipped_total{pipeline,component,metric,reason}` so
//!   the loss is visible (`reason`: `value_missing`, `value_not_numeric`,
//!   `negative_value` for counters, `dimension_missing`).
//! - Up to three `dimensions`, each a `$.field` or `$name`; an event lacking one
//!   of them (missing, empty, null, an object or array) is not counted either.
//!
//! # Prometheus mapping
//!
//! | `kind` | a matching event | a non-matching event with `default_value` |
//! |---|---|---|
//! | `counter` (default) | adds `value` (rounded to a whole number; counters cannot go down, so a negative value is skipped) | adds `default_value` (0: the series exists at 0) |
//! | `gauge` | sets the series to `value` (the last value wins) | sets it to `default_value` |
//! | `histogram` | observes `value` into `buckets` | observes `default_value` |
//!
//! Names follow Prometheus' rules (see `shared/formats/prometheus.md` §3): the
//! configured name is normalised (`Error Count/5xx` → `error_count_5xx`), the
//! unit's base-unit suffix is appended when missing (`unit: Seconds` →
//! `…_seconds`), and counters end in `_total`. When that changes the name a
//! warning says so at load time (`weir validate` shows it). Dimension names
//! become label names the same way.
//!
//! # Cardinality and the hot path
//!
//! Dimension values come from log data, so the registry caps each metric at
//! `max_series` label sets (default: the registry's, 1000 — the number at which
//! CloudWatch disables a filter); later label sets are folded into one
//! `__overflow__` series and counted in `weir_metric_series_overflow_total`.
//!
//! Resolving labels in the registry costs about 0.6 µs and allocates, so each
//! filter keeps the handle of every dimension tuple it has seen in a small map
//! bounded by `max_series`. The lookup key is the tuple's values encoded into a
//! per-thread buffer, so recording a known tuple allocates nothing: resolve the
//! selectors (`Bytes` slices, no copies), encode, one read-locked hash lookup,
//! one atomic add. Only a new tuple, or one past the cap, goes to the registry.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{BuildContext, Filter, FilterContext};
use crate::config::{from_node, DeError, Node};
use crate::event::{Event, Value};
use crate::pattern::{Captures, Pattern, PatternKind, ValueRef};
use crate::telemetry::exposition::{normalize_config_name, sanitize_label_name};
use crate::telemetry::{MetricOptions, Registry};

/// CloudWatch's limit of dimensions per metric filter.
pub const MAX_DIMENSIONS: usize = 3;
/// Counter of matching events that could not be recorded.
pub const SKIPPED_METRIC: &str = "weir_metric_filter_skipped_total";

/// Options of `metric_filter`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricFilterConfig {
    /// The metric's name (CloudWatch `metricName`); normalised to Prometheus'
    /// rules.
    pub name: String,
    /// The filter pattern (`filterPattern`), any of the four forms.
    pub pattern: Pattern,
    /// What a matching event contributes (`metricValue`): a number, `$.field`
    /// or `$name`. Default 1.
    #[serde(default)]
    pub value: Option<ValueRef>,
    /// Published for events that do not match (`defaultValue`).
    #[serde(default)]
    pub default_value: Option<f64>,
    /// Label name → `$.field` / `$name`; at most three.
    #[serde(default)]
    pub dimensions: BTreeMap<String, ValueRef>,
    #[serde(default)]
    pub kind: MetricKind,
    /// Histogram bucket upper bounds (default: the registry's, Prometheus'
    /// conventional latency buckets).
    #[serde(default)]
    pub buckets: Option<Vec<f64>>,
    /// A CloudWatch `StandardUnit`; adds the base-unit suffix to the name.
    #[serde(default)]
    pub unit: Option<CloudWatchUnit>,
    /// HELP text (default: derived from the pattern).
    #[serde(default)]
    pub help: Option<String>,
    /// Label sets kept before new ones overflow (default: the registry's).
    #[serde(default)]
    pub max_series: Option<usize>,
    /// Hide a series (and free it once unused) after this long without events,
    /// e.g. `10m`. Off by default: counters must not vanish and restart at 0.
    #[serde(default, deserialize_with = "duration")]
    pub expire_after: Option<Duration>,
}

/// The Prometheus metric type a metric filter records into.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    #[default]
    Counter,
    Gauge,
    Histogram,
}

/// CloudWatch's `StandardUnit` values, spelled as in CloudWatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum CloudWatchUnit {
    Seconds,
    Microseconds,
    Milliseconds,
    Bytes,
    Kilobytes,
    Megabytes,
    Gigabytes,
    Terabytes,
    Bits,
    Kilobits,
    Megabits,
    Gigabits,
    Terabits,
    Percent,
    Count,
    #[serde(rename = "Bytes/Second")]
    BytesPerSecond,
    #[serde(rename = "Kilobytes/Second")]
    KilobytesPerSecond,
    #[serde(rename = "Megabytes/Second")]
    MegabytesPerSecond,
    #[serde(rename = "Gigabytes/Second")]
    GigabytesPerSecond,
    #[serde(rename = "Terabytes/Second")]
    TerabytesPerSecond,
    #[serde(rename = "Bits/Second")]
    BitsPerSecond,
    #[serde(rename = "Kilobits/Second")]
    KilobitsPerSecond,
    #[serde(rename = "Megabits/Second")]
    MegabitsPerSecond,
    #[serde(rename = "Gigabits/Second")]
    GigabitsPerSecond,
    #[serde(rename = "Terabits/Second")]
    TerabitsPerSecond,
    #[serde(rename = "Count/Second")]
    CountPerSecond,
    None,
}

impl CloudWatchUnit {
    /// The name suffix Prometheus' conventions give the unit (`None` for
    /// `Count` and `None`: a counter's `_total` already says "count").
    pub fn suffix(self) -> Option<&'static str> {
        use CloudWatchUnit::*;
        Some(match self {
            Seconds => "seconds",
            Microseconds => "microseconds",
            Milliseconds => "milliseconds",
            Bytes => "bytes",
            Kilobytes => "kilobytes",
            Megabytes => "megabytes",
            Gigabytes => "gigabytes",
            Terabytes => "terabytes",
            Bits => "bits",
            Kilobits => "kilobits",
            Megabits => "megabits",
            Gigabits => "gigabits",
            Terabits => "terabits",
            Percent => "percent",
            BytesPerSecond => "bytes_per_second",
            KilobytesPerSecond => "kilobytes_per_second",
            MegabytesPerSecond => "megabytes_per_second",
            GigabytesPerSecond => "gigabytes_per_second",
            TerabytesPerSecond => "terabytes_per_second",
            BitsPerSecond => "bits_per_second",
            KilobitsPerSecond => "kilobits_per_second",
            MegabitsPerSecond => "megabits_per_second",
            GigabitsPerSecond => "gigabits_per_second",
            TerabitsPerSecond => "terabits_per_second",
            CountPerSecond => "count_per_second",
            Count | None => return Option::None,
        })
    }

    /// The unit for the registry's metadata (OpenMetrics `# UNIT`), where the
    /// `metrics` crate has one that means the same.
    fn metrics_unit(self) -> Option<metrics::Unit> {
        use CloudWatchUnit::*;
        Some(match self {
            Seconds => metrics::Unit::Seconds,
            Milliseconds => metrics::Unit::Milliseconds,
            Microseconds => metrics::Unit::Microseconds,
            Bytes => metrics::Unit::Bytes,
            Percent => metrics::Unit::Percent,
            Count => metrics::Unit::Count,
            CountPerSecond => metrics::Unit::CountPerSecond,
            BitsPerSecond => metrics::Unit::BitsPerSecond,
            KilobitsPerSecond => metrics::Unit::KilobitsPerSecond,
            MegabitsPerSecond => metrics::Unit::MegabitsPerSecond,
            GigabitsPerSecond => metrics::Unit::GigabitsPerSecond,
            TerabitsPerSecond => metrics::Unit::TerabitsPerSecond,
            _ => return Option::None,
        })
    }

    /// The base unit Prometheus recommends instead, for units that are not one.
    fn base_unit(self) -> Option<&'static str> {
        use CloudWatchUnit::*;
        match self {
            Microseconds | Milliseconds => Some("Seconds"),
            Kilobytes | Megabytes | Gigabytes | Terabytes => Some("Bytes"),
            Kilobits | Megabits | Gigabits | Terabits => Some("Bits"),
            KilobytesPerSecond | MegabytesPerSecond | GigabytesPerSecond | TerabytesPerSecond => {
                Some("Bytes/Second")
            }
            KilobitsPerSecond | MegabitsPerSecond | GigabitsPerSecond | TerabitsPerSecond => {
                Some("Bits/Second")
            }
            _ => Option::None,
        }
    }
}

/// Reads `500ms`, `30s`, `10m`, `2h`, `1d` (a bare number is seconds).
pub(crate) fn duration<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

use crate::config::duration::parse_duration;

/// The Prometheus name for a configured metric name: normalised (lowercase,
/// `[a-z0-9_]`, see [`normalize_config_name`]), with the unit suffix appended
/// when missing and, for counters, exactly one `_total` at the end.
pub(crate) fn prometheus_name(name: &str, counter: bool, unit_suffix: Option<&str>) -> String {
    let mut out = normalize_config_name(name);
    if counter {
        if let Some(stem) = out.strip_suffix("_total").filter(|s| !s.is_empty()) {
            out.truncate(stem.len());
        }
    }
    if let Some(suffix) = unit_suffix {
        if out != suffix && !out.ends_with(&format!("_{suffix}")) {
            out.push('_');
            out.push_str(suffix);
        }
    }
    if counter {
        out.push_str("_total");
    }
    out
}

/// A registry handle of the metric's kind.
#[derive(Clone)]
enum Handle {
    Counter(metrics::Counter),
    Gauge(metrics::Gauge),
    Histogram(metrics::Histogram),
}

impl Handle {
    /// `value` is finite, and not negative for counters (checked before).
    #[inline]
    fn record(&self, value: f64) {
        match self {
            // `as` saturates: a value beyond u64 adds u64::MAX rather than wrapping.
            Handle::Counter(c) => c.increment(value.round() as u64),
            Handle::Gauge(g) => g.set(value),
            Handle::Histogram(h) => h.record(value),
        }
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Handle::Counter(_) => "Counter",
            Handle::Gauge(_) => "Gauge",
            Handle::Histogram(_) => "Histogram",
        })
    }
}

/// Why a matching event was not recorded; the `reason` label. The
/// discriminant indexes [`MetricFilter::skipped`].
#[derive(Debug, Clone, Copy)]
enum Skip {
    ValueMissing = 0,
    ValueNotNumeric = 1,
    NegativeValue = 2,
    DimensionMissing = 3,
}

impl Skip {
    fn as_str(self) -> &'static str {
        match self {
            Skip::ValueMissing => "value_missing",
            Skip::ValueNotNumeric => "value_not_numeric",
            Skip::NegativeValue => "negative_value",
            Skip::DimensionMissing => "dimension_missing",
        }
    }
}

/// Dimension tuple → handle. Keys are the encoded values (see [`encode`]).
#[derive(Debug)]
struct Cache {
    map: HashMap<Box<[u8]>, Handle>,
    /// When the map was last emptied; with `expire_after`, a full map is
    /// emptied at most once per `expire_after` so expired series can be freed.
    cleared: Instant,
}

thread_local! {
    /// The lookup key of the current event's dimension tuple, reused so a
    /// known tuple costs no allocation.
    static KEY: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The compiled filter.
#[derive(Debug)]
pub struct MetricFilter {
    registry: &'static Registry,
    /// The exposed name (with `_total` for counters).
    name: Arc<str>,
    kind: MetricKind,
    pattern: Pattern,
    value: ValueRef,
    default_value: Option<f64>,
    /// (label name, source), in label-name order.
    dimensions: Box<[(Box<str>, ValueRef)]>,
    /// Whether values come from what the pattern captured (so `captures`
    /// rather than the cheaper `matches` is needed).
    use_captures: bool,
    /// The dimensionless series (no dimensions, or `default_value`).
    plain: OnceLock<Handle>,
    cache: RwLock<Cache>,
    max_cached: usize,
    max_value_bytes: usize,
    expire_after: Option<Duration>,
    pipeline: Arc<str>,
    component: Arc<str>,
    skipped: [OnceLock<metrics::Counter>; 4],
}

fn error_at(node: &Node, message: impl Into<String>) -> DeError {
    DeError {
        message: message.into(),
        loc: Some(node.loc),
    }
}

impl MetricFilter {
    /// Reads and checks the options; problems name the option's position.
    pub fn build(
        options: &Node,
        cx: &BuildContext,
        registry: &'static Registry,
    ) -> Result<MetricFilter, DeError> {
        let config: MetricFilterConfig = from_node(options)?;
        let at = |key: &str| options.get(key).unwrap_or(options);
        let counter = config.kind == MetricKind::Counter;
        let value = config.value.clone().unwrap_or(ValueRef::Number(1.0));

        if config.name.trim().is_empty() {
            return Err(error_at(at("name"), "`name` must not be empty"));
        }
        if let Err(e) = value.check_against(&config.pattern) {
            return Err(error_at(at("value"), format!("`value`: {e}")));
        }
        if let ValueRef::Number(n) = value {
            if counter && (n < 0.0 || n.fract() != 0.0) {
                return Err(error_at(
                    at("value"),
                    format!("a counter adds whole, non-negative numbers; `value: {n}` needs `kind: gauge` or `kind: histogram`"),
                ));
            }
        }
        if config.dimensions.len() > MAX_DIMENSIONS {
            return Err(error_at(
                at("dimensions"),
                format!(
                    "a metric filter has at most {MAX_DIMENSIONS} dimensions (as in CloudWatch); found {}",
                    config.dimensions.len()
                ),
            ));
        }
        if let Some(d) = config.default_value {
            if !config.dimensions.is_empty() {
                return Err(error_at(
                    at("default_value"),
                    "`default_value` cannot be combined with `dimensions` (as in CloudWatch): \
                     a non-matching event has no dimension values",
                ));
            }
            if !d.is_finite() || (counter && d < 0.0) {
                return Err(error_at(
                    at("default_value"),
                    format!(
                        "`default_value: {d}` is not a finite number{}",
                        if counter {
                            " ≥ 0 (a counter cannot go down)"
                        } else {
                            ""
                        }
                    ),
                ));
            }
        }
        if config.buckets.is_some() && config.kind != MetricKind::Histogram {
            return Err(error_at(
                at("buckets"),
                "`buckets` only applies to `kind: histogram`",
            ));
        }
        if config.max_series == Some(0) {
            return Err(error_at(
                at("max_series"),
                "`max_series` must be at least 1",
            ));
        }

        let unit_suffix = config.unit.and_then(CloudWatchUnit::suffix);
        let name = prometheus_name(&config.name, counter, unit_suffix);
        if name != config.name {
            tracing::warn!(
                pipeline = %cx.pipeline,
                component = %cx.component,
                "metric_filter `{}` is exposed as `{name}` (Prometheus naming: lowercase \
                 `[a-z0-9_]`, base-unit suffix{})",
                config.name,
                if counter { ", counters end in `_total`" } else { "" }
            );
        }
        if let Some(base) = config.unit.and_then(CloudWatchUnit::base_unit) {
            tracing::warn!(
                pipeline = %cx.pipeline,
                component = %cx.component,
                "metric_filter `{name}`: Prometheus recommends base units; consider `unit: {base}` \
                 with values converted at the source"
            );
        }

        let mut dimensions = Vec::with_capacity(config.dimensions.len());
        let dims_node = at("dimensions");
        for (dim, source) in &config.dimensions {
            let node = dims_node.get(dim).unwrap_or(dims_node);
            if let Err(e) = source.check_against(&config.pattern) {
                return Err(error_at(node, format!("dimension `{dim}`: {e}")));
            }
            if let ValueRef::Number(_) = source {
                return Err(error_at(
                    node,
                    format!("dimension `{dim}` must be a `$.field` or `$name`, not a constant"),
                ));
            }
            let label = sanitize_label_name(&normalize_config_name(dim));
            if label != *dim {
                tracing::warn!(
                    pipeline = %cx.pipeline,
                    component = %cx.component,
                    "metric_filter `{name}`: dimension `{dim}` is exposed as label `{label}`"
                );
            }
            if dimensions
                .iter()
                .any(|(l, _): &(Box<str>, ValueRef)| **l == *label)
            {
                return Err(error_at(
                    node,
                    format!(
                        "dimensions `{dim}` and another one are both exposed as label `{label}`"
                    ),
                ));
            }
            dimensions.push((label.into_boxed_str(), source.clone()));
        }
        dimensions.sort_by(|a, b| a.0.cmp(&b.0));

        registry
            .configure(
                &name,
                MetricOptions {
                    max_series: config.max_series,
                    expire_after: config.expire_after,
                    buckets: config.buckets.clone(),
                },
            )
            .map_err(|e| error_at(at("buckets"), e.to_string()))?;
        let help = config
            .help
            .clone()
            .unwrap_or_else(|| default_help(&config, &value));
        registry.describe(
            &name,
            config.unit.and_then(CloudWatchUnit::metrics_unit),
            &help,
        );

        let uses_capture = |r: &ValueRef| match r {
            ValueRef::Capture(_) => true,
            // A JSON pattern on an unparsed event parses the message; its
            // captures hand that document on so selectors need not parse again.
            ValueRef::Json(_) => config.pattern.kind() == PatternKind::Json,
            ValueRef::Number(_) => false,
        };
        let use_captures =
            uses_capture(&value) || dimensions.iter().any(|(_, source)| uses_capture(source));

        let filter = MetricFilter {
            registry,
            name: name.into(),
            kind: config.kind,
            pattern: config.pattern,
            value,
            default_value: config.default_value,
            dimensions: dimensions.into(),
            use_captures,
            plain: OnceLock::new(),
            cache: RwLock::new(Cache {
                map: HashMap::new(),
                cleared: Instant::now(),
            }),
            max_cached: config
                .max_series
                .unwrap_or(registry.config().default_max_series),
            max_value_bytes: registry.config().max_label_value_bytes,
            expire_after: config.expire_after,
            pipeline: cx.pipeline.clone(),
            component: cx.component.clone(),
            skipped: Default::default(),
        };
        // A counter with a default value exists at 0 from the start, as
        // CloudWatch's "report zero" metrics do once events arrive.
        if filter.kind == MetricKind::Counter && filter.default_value.is_some() {
            filter.plain_handle();
        }
        Ok(filter)
    }

    /// The exposed metric name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn register(&self, labels: &[(&str, &str)]) -> Handle {
        match self.kind {
            MetricKind::Counter => Handle::Counter(self.registry.counter(&self.name, labels, "")),
            MetricKind::Gauge => Handle::Gauge(self.registry.gauge(&self.name, labels, "")),
            MetricKind::Histogram => {
                Handle::Histogram(self.registry.histogram(&self.name, labels, ""))
            }
        }
    }

    fn plain_handle(&self) -> &Handle {
        self.plain.get_or_init(|| self.register(&[]))
    }

    fn skip(&self, why: Skip) {
        self.skipped[why as usize]
            .get_or_init(|| {
                self.registry.counter(
                    SKIPPED_METRIC,
                    &[
                        ("pipeline", &self.pipeline),
                        ("component", &self.component),
                        ("metric", &self.name),
                        ("reason", why.as_str()),
                    ],
                    "Events a metric filter matched but could not record (value or dimension \
                     missing or not a number); CloudWatch drops them too.",
                )
            })
            .increment(1);
    }

    /// Records what one event contributes.
    pub fn observe(&self, event: &Event) {
        let captures: Option<Captures>;
        let matched = if self.use_captures {
            captures = self.pattern.captures(event);
            captures.is_some()
        } else {
            captures = None;
            self.pattern.matches(event)
        };
        if !matched {
            if let Some(default) = self.default_value {
                self.plain_handle().record(default);
            }
            return;
        }
        let value = match &self.value {
            ValueRef::Number(n) => *n,
            source => match source.resolve(event, captures.as_ref()) {
                None => return self.skip(Skip::ValueMissing),
                Some(v) => match v.as_f64().filter(|x| x.is_finite()) {
                    Some(x) => x,
                    None => return self.skip(Skip::ValueNotNumeric),
                },
            },
        };
        if self.kind == MetricKind::Counter && value < 0.0 {
            return self.skip(Skip::NegativeValue);
        }
        if self.dimensions.is_empty() {
            self.plain_handle().record(value);
            return;
        }
        let recorded = KEY.with(|key| {
            // Never re-entered: nothing below calls back into a metric filter.
            let Ok(mut key) = key.try_borrow_mut() else {
                return false;
            };
            key.clear();
            for (_, source) in self.dimensions.iter() {
                let Some(v) = source.resolve(event, captures.as_ref()) else {
                    return false;
                };
                if !encode(&v, self.max_value_bytes, &mut key) {
                    return false;
                }
            }
            self.record_tuple(&key, value);
            true
        });
        if !recorded {
            self.skip(Skip::DimensionMissing);
        }
    }

    /// Records `value` into the series of the encoded dimension tuple `key`.
    fn record_tuple(&self, key: &[u8], value: f64) {
        if let Some(handle) = read(&self.cache).map.get(key) {
            handle.record(value);
            return;
        }
        // A new tuple (or one past the cap): the registry decides whether it
        // gets its own series or the overflow series, and counts overflow.
        let values = decode(key);
        let labels: Vec<(&str, &str)> = self
            .dimensions
            .iter()
            .zip(&values)
            .map(|((label, _), v)| (&**label, &**v))
            .collect();
        let handle = self.register(&labels);
        handle.record(value);
        let mut cache = write(&self.cache);
        if cache.map.len() >= self.max_cached {
            // With expiry on, cached handles would keep idle series alive
            // forever; let go of all of them now and then (hot tuples come
            // back at the cost of one registration each).
            if let Some(expire) = self.expire_after {
                if cache.cleared.elapsed() >= expire {
                    cache.map.clear();
                    cache.cleared = Instant::now();
                }
            }
        }
        if cache.map.len() < self.max_cached {
            cache.map.insert(key.into(), handle);
        }
    }
}

fn default_help(config: &MetricFilterConfig, value: &ValueRef) -> String {
    match value {
        ValueRef::Number(n) if *n == 1.0 => {
            format!(
                "Events matching the metric filter pattern `{}`.",
                config.pattern
            )
        }
        other => format!(
            "`{other}` of events matching the metric filter pattern `{}`.",
            config.pattern
        ),
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// Appends a dimension value to the key: its length (4 bytes) and its text,
/// cut to `max_bytes` as the registry cuts label values. Returns false for a
/// value that cannot be a dimension: empty (Prometheus reads an empty label
/// as no label), null, an object or an array (CloudWatch: selectors must
/// reach a scalar).
fn encode(value: &Value, max_bytes: usize, key: &mut Vec<u8>) -> bool {
    let mut ints = itoa::Buffer::new();
    let mut floats = ryu::Buffer::new();
    let owned;
    let text: &[u8] = match value {
        Value::Str(b) => b,
        Value::Int(i) => ints.format(*i).as_bytes(),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => ints.format(*f as i64).as_bytes(),
        Value::Float(f) if f.is_finite() => floats.format_finite(*f).as_bytes(),
        Value::Bool(b) => {
            if *b {
                b"true"
            } else {
                b"false"
            }
        }
        Value::Timestamp(t) => {
            owned = t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
            owned.as_bytes()
        }
        Value::Float(_) | Value::Null | Value::Array(_) | Value::Object(_) => return false,
    };
    if text.is_empty() {
        return false;
    }
    let text = if max_bytes > 0 && text.len() > max_bytes {
        &text[..max_bytes]
    } else {
        text
    };
    // `text.len()` fits: it is at most `max_bytes` or a value's real length,
    // and saturating keeps a (theoretical) 4 GiB value distinct enough.
    let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
    key.extend_from_slice(&len.to_le_bytes());
    key.extend_from_slice(text);
    true
}

/// The values of an encoded key, as label values (invalid UTF-8 replaced).
fn decode(mut key: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    while key.len() >= 4 {
        let (len, rest) = key.split_at(4);
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let len = len.min(rest.len());
        out.push(String::from_utf8_lossy(&rest[..len]).into_owned());
        key = &rest[len..];
    }
    out
}

impl Filter for MetricFilter {
    fn process(&self, events: &mut Vec<Event>, _cx: &mut FilterContext) {
        for event in events.iter() {
            self.observe(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::{Format, RegistryConfig};

    fn registry() -> &'static Registry {
        Box::leak(Box::new(Registry::new()))
    }

    fn cx() -> BuildContext {
        BuildContext {
            pipeline: "p".into(),
            component: "metric_filter#0".into(),
        }
    }

    fn build_in(registry: &'static Registry, yaml: &str) -> Result<MetricFilter, DeError> {
        let node = crate::config::yaml::parse(yaml).expect("test YAML");
        MetricFilter::build(&node, &cx(), registry)
    }

    fn run(filter: &MetricFilter, lines: &[&str]) {
        let mut events: Vec<Event> = lines.iter().map(|l| Event::from_text(l)).collect();
        filter.process(&mut events, &mut FilterContext::default());
        assert_eq!(events.len(), lines.len(), "metric filters never drop");
    }

    /// The exposition lines of metric `name` (samples only).
    fn samples(registry: &Registry, name: &str) -> Vec<String> {
        registry
            .render(Format::Text)
            .lines()
            .filter(|l| l.starts_with(name) && !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn counts_matches_and_publishes_the_default_value() {
        let r = registry();
        let f = build_in(r, "name: errors_total\npattern: ERROR\ndefault_value: 0\n").unwrap();
        // The series exists at 0 before any event.
        assert_eq!(samples(r, "errors_total"), ["errors_total 0"]);
        run(&f, &["INFO a", "ERROR b", "ERROR c", "WARN d"]);
        assert_eq!(samples(r, "errors_total"), ["errors_total 2"]);
    }

    #[test]
    fn without_default_value_nothing_exists_until_a_match() {
        let r = registry();
        let f = build_in(r, "name: misses_total\npattern: NEVER\n").unwrap();
        run(&f, &["INFO a"]);
        assert!(samples(r, "misses_total").is_empty());
    }

    #[test]
    fn default_value_for_gauges_and_histograms() {
        let r = registry();
        let g = build_in(
            r,
            "name: last_latency\nkind: gauge\npattern: '{ $.latency = * }'\nvalue: $.latency\ndefault_value: -1\n",
        )
        .unwrap();
        run(&g, &[r#"{"latency":50}"#]);
        assert_eq!(samples(r, "last_latency"), ["last_latency 50"]);
        run(&g, &["not json"]);
        assert_eq!(samples(r, "last_latency"), ["last_latency -1"]);

        let h = build_in(
            r,
            "name: latency_seconds\nkind: histogram\npattern: '{ $.latency = * }'\nvalue: $.latency\ndefault_value: 0\nbuckets: [0.5, 1]\n",
        )
        .unwrap();
        run(
            &h,
            &[r#"{"latency":0.7}"#, "plain text", r#"{"latency":3}"#],
        );
        assert_eq!(
            samples(r, "latency_seconds"),
            [
                r#"latency_seconds_bucket{le="0.5"} 1"#,
                r#"latency_seconds_bucket{le="1"} 2"#,
                r#"latency_seconds_bucket{le="+Inf"} 3"#,
                "latency_seconds_sum 3.7",
                "latency_seconds_count 3",
            ]
        );
    }

    #[test]
    fn json_values_and_dimensions() {
        let r = registry();
        let f = build_in(
            r,
            "name: bytes_sent\npattern: '{ $.status >= 500 }'\nvalue: $.bytes\nunit: Bytes\n\
             dimensions: { status: $.status, bucket: $.bucket }\n",
        )
        .unwrap();
        assert_eq!(f.name(), "bytes_sent_bytes_total");
        run(
            &f,
            &[
                r#"{"status":503,"bytes":100,"bucket":"logs"}"#,
                r#"{"status":503,"bytes":"20","bucket":"logs"}"#,
                r#"{"status":500,"bytes":1,"bucket":"web"}"#,
                r#"{"status":200,"bytes":1000,"bucket":"web"}"#,
            ],
        );
        assert_eq!(
            samples(r, "bytes_sent"),
            [
                r#"bytes_sent_bytes_total{bucket="logs",status="503"} 120"#,
                r#"bytes_sent_bytes_total{bucket="web",status="500"} 1"#,
            ]
        );
    }

    #[test]
    fn parsed_events_use_their_fields() {
        let r = registry();
        let f = build_in(
            r,
            "name: by_level_total\npattern: '{ $.level = * }'\ndimensions: { level: $.level }\n",
        )
        .unwrap();
        let mut events = Vec::new();
        for level in ["error", "error", "info"] {
            let mut e = Event::from_text("raw text, not JSON");
            e.insert(
                &crate::event::Path::parse("level").unwrap(),
                Value::from(level),
            );
            events.push(e);
        }
        f.process(&mut events, &mut FilterContext::default());
        assert_eq!(
            samples(r, "by_level_total"),
            [
                r#"by_level_total{level="error"} 2"#,
                r#"by_level_total{level="info"} 1"#
            ]
        );
    }

    #[test]
    fn space_delimited_field_values_and_dimensions() {
        // Row 48 of the golden table: dimension `$server`, value `$bytes`.
        let r = registry();
        let f = build_in(
            r,
            "name: Response Bytes\npattern: '[ip, server, username, timestamp, request, status_code, bytes > 1000]'\n\
             value: $bytes\ndimensions: { server: $server, status: $6 }\n",
        )
        .unwrap();
        assert_eq!(f.name(), "response_bytes_total");
        run(
            &f,
            &[
                r#"127.0.0.1 Prod frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534"#,
                r#"127.0.0.1 Prod frank [10/Oct/2000:13:25:16 -0700] "GET /a HTTP/1.0" 404 2000"#,
                r#"127.0.0.1 Test frank [10/Oct/2000:13:25:17 -0700] "GET /b HTTP/1.0" 200 5000"#,
                r#"127.0.0.1 Prod frank [10/Oct/2000:13:25:18 -0700] "GET /c HTTP/1.0" 200 10"#,
            ],
        );
        assert_eq!(
            samples(r, "response_bytes_total"),
            [
                r#"response_bytes_total{server="Prod",status="404"} 3534"#,
                r#"response_bytes_total{server="Test",status="200"} 5000"#,
            ]
        );
    }

    #[test]
    fn unusable_values_and_dimensions_are_skipped_and_counted() {
        let r = registry();
        let f = build_in(
            r,
            "name: latency\nkind: gauge\npattern: '{ $.op = * }'\nvalue: $.ms\ndimensions: { op: $.op }\n",
        )
        .unwrap();
        run(
            &f,
            &[
                r#"{"op":"get"}"#,             // value missing
                r#"{"op":"get","ms":"fast"}"#, // not numeric
                r#"{"op":"get","ms":"NaN"}"#,  // not finite
                r#"{"op":"","ms":5}"#,         // empty dimension
                r#"{"op":{"a":1},"ms":5}"#,    // `= *` needs a scalar: no match
                r#"{"op":"put","ms":7}"#,
            ],
        );
        assert_eq!(samples(r, "latency"), [r#"latency{op="put"} 7"#]);
        let skipped = samples(r, SKIPPED_METRIC);
        let want = |reason: &str, n: u32| {
            format!(
                r#"{SKIPPED_METRIC}{{component="metric_filter#0",metric="latency",pipeline="p",reason="{reason}"}} {n}"#
            )
        };
        assert_eq!(
            skipped,
            [
                want("dimension_missing", 1),
                want("value_missing", 1),
                want("value_not_numeric", 2)
            ]
        );
        // A dimension the selector cannot reach in a matching event.
        let g = build_in(
            r,
            "name: by_user_total\npattern: '{ $.op = * }'\ndimensions: { user: $.user.id }\n",
        )
        .unwrap();
        run(
            &g,
            &[
                r#"{"op":"x"}"#,
                r#"{"op":"x","user":{"id":[7]}}"#,
                r#"{"op":"x","user":{"id":null}}"#,
                r#"{"op":"x","user":{"id":7}}"#,
            ],
        );
        assert_eq!(
            samples(r, "by_user_total"),
            [r#"by_user_total{user="7"} 1"#]
        );
        assert!(samples(r, SKIPPED_METRIC)
            .iter()
            .any(|l| l
                .contains(r#"metric="by_user_total",pipeline="p",reason="dimension_missing"} 3"#)));
    }

    #[test]
    fn counters_skip_negative_values_and_round_fractions() {
        let r = registry();
        let f = build_in(r, "name: units_total\npattern: '{ $.n = * }'\nvalue: $.n\n").unwrap();
        run(&f, &[r#"{"n":-3}"#, r#"{"n":2.6}"#, r#"{"n":"4"}"#]);
        assert_eq!(samples(r, "units_total"), ["units_total 7"]);
        assert!(samples(r, SKIPPED_METRIC)
            .iter()
            .any(|l| l.contains(r#"reason="negative_value"} 1"#)));
    }

    #[test]
    fn overflow_is_capped_and_counted() {
        let r = registry();
        let f = build_in(
            r,
            "name: per_user_total\npattern: '{ $.user = * }'\ndimensions: { user: $.user }\nmax_series: 3\n",
        )
        .unwrap();
        let lines: Vec<String> = (0..50)
            .map(|i| format!(r#"{{"user":"u{}"}}"#, i % 10))
            .collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        run(&f, &refs);
        let got = samples(r, "per_user_total");
        assert_eq!(
            got,
            [
                r#"per_user_total{user="__overflow__"} 35"#,
                r#"per_user_total{user="u0"} 5"#,
                r#"per_user_total{user="u1"} 5"#,
                r#"per_user_total{user="u2"} 5"#,
            ]
        );
        assert_eq!(r.series_count("per_user_total"), Some(4));
        assert_eq!(read(&f.cache).map.len(), 3, "the cache is bounded too");
        assert_eq!(
            samples(r, "weir_metric_series_overflow_total"),
            [r#"weir_metric_series_overflow_total{metric="per_user_total"} 7"#]
        );
    }

    #[test]
    fn long_dimension_values_are_cut_like_label_values() {
        let r: &'static Registry = Box::leak(Box::new(Registry::with_config(RegistryConfig {
            max_label_value_bytes: 4,
            ..RegistryConfig::default()
        })));
        let f = build_in(
            r,
            "name: paths_total\npattern: '{ $.p = * }'\ndimensions: { path: $.p }\n",
        )
        .unwrap();
        run(&f, &[r#"{"p":"/api/a"}"#, r#"{"p":"/api/b"}"#]);
        assert_eq!(samples(r, "paths_total"), [r#"paths_total{path="/api"} 2"#]);
        assert_eq!(read(&f.cache).map.len(), 1);
    }

    #[test]
    fn term_patterns_with_field_dimensions_and_numbers_as_labels() {
        let r = registry();
        let f = build_in(
            r,
            "name: http_errors\npattern: '{ $.status >= 500 }'\ndimensions: { code: $.status, ok: $.ok, ratio: $.r }\n",
        )
        .unwrap();
        run(
            &f,
            &[
                r#"{"status":503,"ok":false,"r":0.25}"#,
                r#"{"status":503.0,"ok":false,"r":0.25}"#,
            ],
        );
        assert_eq!(
            samples(r, "http_errors_total"),
            [r#"http_errors_total{code="503",ok="false",ratio="0.25"} 2"#]
        );
    }

    #[test]
    fn names_follow_prometheus_rules() {
        assert_eq!(
            prometheus_name("Error Count/5xx", true, None),
            "error_count_5xx_total"
        );
        assert_eq!(prometheus_name("errors_total", true, None), "errors_total");
        assert_eq!(
            prometheus_name("Latency", false, Some("seconds")),
            "latency_seconds"
        );
        assert_eq!(
            prometheus_name("latency_seconds", false, Some("seconds")),
            "latency_seconds"
        );
        assert_eq!(
            prometheus_name("bytes_sent_total", true, Some("bytes")),
            "bytes_sent_bytes_total"
        );
        assert_eq!(prometheus_name("5xx", true, None), "_5xx_total");
        assert_eq!(prometheus_name("_total", true, None), "total_total");
    }

    #[test]
    fn configuration_errors_name_the_option() {
        let r = registry();
        let err = |yaml: &str| build_in(r, yaml).unwrap_err();

        let e = err("name: x\npattern: '[ip, user'\n");
        assert_eq!(e.loc.map(|l| (l.line, l.column)), Some((2, 10)));
        assert!(
            e.message.contains("invalid filter pattern at column 10"),
            "{}",
            e.message
        );

        let e = err("name: x\npattern: '[ip, bytes]'\nvalue: $size\n");
        assert_eq!(e.loc.map(|l| l.line), Some(3));
        assert!(
            e.message
                .contains("`$size` is not a field of `[ip, bytes]`"),
            "{}",
            e.message
        );

        let e = err("name: x\npattern: 'ERROR'\ndimensions: { host: $host }\n");
        assert_eq!(e.loc.map(|l| (l.line, l.column)), Some((3, 21)));
        assert!(e.message.contains("dimension `host`"), "{}", e.message);

        let e = err(
            "name: x\npattern: '{ $.a = 1 }'\ndimensions: { a: $.a, b: $.b, c: $.c, d: $.d }\n",
        );
        assert!(e.message.contains("at most 3 dimensions"), "{}", e.message);

        let e = err("name: x\npattern: '{ $.a = 1 }'\ndefault_value: 0\ndimensions: { a: $.a }\n");
        assert_eq!(e.loc.map(|l| l.line), Some(3));
        assert!(
            e.message.contains("cannot be combined with `dimensions`"),
            "{}",
            e.message
        );

        let e = err("name: x\npattern: ERROR\nbuckets: [1]\n");
        assert!(
            e.message.contains("only applies to `kind: histogram`"),
            "{}",
            e.message
        );

        let e = err("name: x\npattern: ERROR\nvalue: 0.5\n");
        assert!(e.message.contains("whole, non-negative"), "{}", e.message);

        let e = err("name: x\npattern: ERROR\nkind: summary\n");
        assert!(
            e.message.contains("unknown variant `summary`"),
            "{}",
            e.message
        );

        let e = err("name: x\npattern: ERROR\nunit: Parsecs\n");
        assert!(
            e.message.contains("unknown variant `Parsecs`"),
            "{}",
            e.message
        );

        let e = err("name: x\npattern: ERROR\nmetric_value: 1\n");
        assert!(
            e.message.contains("unknown field `metric_value`"),
            "{}",
            e.message
        );

        let e = err("name: x\npattern: ERROR\nexpire_after: soon\n");
        assert!(e.message.contains("expected a duration"), "{}", e.message);

        let e = err("name: x\nkind: histogram\npattern: ERROR\nbuckets: [.nan]\n");
        assert!(e.message.contains("bucket bound NaN"), "{}", e.message);

        let e = err("name: x\npattern: '{ $.a = 1 }'\ndimensions: { A: $.a, a: $.b }\n");
        assert!(
            e.message.contains("both exposed as label `a`"),
            "{}",
            e.message
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("1y").is_err());
    }

    #[test]
    fn keys_round_trip() {
        let mut key = Vec::new();
        assert!(encode(&Value::from("a"), 0, &mut key));
        assert!(encode(&Value::Int(-5), 0, &mut key));
        assert!(encode(&Value::Float(1.5), 0, &mut key));
        assert!(!encode(&Value::Null, 0, &mut key));
        assert!(!encode(&Value::from(""), 0, &mut key));
        assert_eq!(decode(&key), ["a", "-5", "1.5"]);
        // A truncated key decodes to what is there, never panics.
        assert_eq!(decode(&key[..6]), ["a"]);
        assert_eq!(decode(&key[..9]), ["a", ""]);
    }

    #[test]
    fn expiry_lets_go_of_cached_handles_once_full() {
        let r = registry();
        let f = build_in(
            r,
            "name: hosts\nkind: gauge\npattern: '{ $.h = * }'\nvalue: 1\ndimensions: { h: $.h }\nmax_series: 2\nexpire_after: 1ms\n",
        )
        .unwrap();
        run(&f, &[r#"{"h":"a"}"#, r#"{"h":"b"}"#]);
        assert_eq!(read(&f.cache).map.len(), 2);
        std::thread::sleep(Duration::from_millis(5));
        run(&f, &[r#"{"h":"c"}"#]);
        assert_eq!(read(&f.cache).map.len(), 1, "full and expired: emptied");
    }
}
