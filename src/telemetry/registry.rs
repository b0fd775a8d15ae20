//! The metrics registry: weir's [`metrics::Recorder`] and the direct API that
//! log-derived metrics (metric filters, error-code counts, thresholds) use.
//!
//! # Why its own registry
//!
//! weir's metrics are read by Prometheus for months and often pushed through a
//! Pushgateway, so the registry enforces the lifecycle rules those systems
//! assume instead of leaving them to configuration:
//!
//! - **Counters never reset while weir runs** and a series that stops receiving
//!   events keeps its value. Dropping idle series (what `idle_timeout` in
//!   metrics-exporter-prometheus or `flush_period_secs` in Vector do) makes a
//!   sparse counter vanish and come back from 0, and `rate()`/`increase()`
//!   under-count. Expiry exists, but only per metric and only when asked
//!   ([`MetricOptions::expire_after`]), for gauges of things that go away.
//! - **Cardinality is capped per metric** ([`MetricOptions::max_series`], default
//!   [`DEFAULT_MAX_SERIES`]). Dimension values come from log data; a user id or a
//!   raw path used as a dimension must not grow memory without bound nor blow
//!   Prometheus' `sample_limit` (which fails the whole scrape). Once a metric is
//!   at its cap, every new label set is folded into ONE overflow series whose
//!   dimension labels all read [`OVERFLOW_LABEL_VALUE`] (so totals stay right),
//!   and the refused label sets are counted in
//!   `weir_metric_series_overflow_total{metric="…"}`.
//! - **Memory is bounded** everywhere input can reach: series per metric (cap + 1
//!   overflow series), label value length ([`RegistryConfig::max_label_value_bytes`]),
//!   families ([`RegistryConfig::max_families`]), and every lookup cache.
//!
//! # Hot path
//!
//! A handle ([`metrics::Counter`], [`metrics::Gauge`], [`metrics::Histogram`])
//! points straight at its series' atomics: recording is a `fetch_add` (or a
//! compare-and-swap loop for floats) and never takes a lock. Registration —
//! resolving a name and labels to a series — takes read locks, and a write lock
//! only the first time a family or label set is seen. Code that records often
//! with the same labels should keep the handle.
//!
//! # Names
//!
//! Names and label names are sanitised once, at registration (see
//! [`super::exposition`]). A counter's family is named without `_total`
//! (`x_total` and `x` are the same counter); the encoder adds the suffix back.
//! Two metrics whose exposed names would clash — a counter `x` and a gauge
//! `x_total`, a histogram `x` and a gauge `x_count`, a gauge and a counter of
//! the same name — cannot both exist: the first registration wins, the other
//! gets a no-op handle, a warning is logged and
//! `weir_metric_registrations_rejected_total{reason="name_conflict"}` counts it.
//! Exposing both would make Prometheus reject or silently mangle the scrape.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};

use super::exposition::{escape_label_value, sanitize_label_name, sanitize_metric_name};
use super::exposition::{Encoder, Format};

/// Prometheus' conventional latency buckets, in seconds.
pub const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Series per metric before new label sets go to the overflow series.
pub const DEFAULT_MAX_SERIES: usize = 1000;
/// Metric families per registry before new metric names are refused.
pub const DEFAULT_MAX_FAMILIES: usize = 10_000;
/// Label values are cut to this many bytes (on a character boundary).
pub const DEFAULT_MAX_LABEL_VALUE_BYTES: usize = 128;
/// The value of every dimension label of a metric's overflow series.
pub const OVERFLOW_LABEL_VALUE: &str = "__overflow__";
/// Counter of label sets refused by a metric's series cap, labelled `metric`.
pub const SERIES_OVERFLOW_METRIC: &str = "weir_metric_series_overflow_total";
/// Counter of refused metric registrations, labelled `reason`
/// (`name_conflict`, `family_limit`).
pub const REGISTRATIONS_REJECTED_METRIC: &str = "weir_metric_registrations_rejected_total";

/// Registry-wide limits and defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryConfig {
    /// Series cap for metrics without their own [`MetricOptions::max_series`].
    pub default_max_series: usize,
    /// Metric families (distinct exposed names) the registry accepts; later
    /// names get no-op handles. weir's own two bookkeeping counters are exempt.
    pub max_families: usize,
    /// Label values longer than this are cut on a character boundary (0 = no
    /// limit). Bounds memory, and keeps Prometheus' `label_value_length_limit`
    /// from failing the whole scrape.
    pub max_label_value_bytes: usize,
    /// Buckets of histograms without their own [`MetricOptions::buckets`].
    pub default_buckets: Vec<f64>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            default_max_series: DEFAULT_MAX_SERIES,
            max_families: DEFAULT_MAX_FAMILIES,
            max_label_value_bytes: DEFAULT_MAX_LABEL_VALUE_BYTES,
            default_buckets: DEFAULT_BUCKETS.to_vec(),
        }
    }
}

/// Per-metric settings; `None` keeps the current (or default) value.
///
/// Options are keyed by the metric's sanitised name without a `_total` suffix,
/// so `s3_errors` and `s3_errors_total` configure the same counter. They may be
/// set before or after the metric is first registered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricOptions {
    /// Label sets kept before new ones go to the overflow series. Lowering it
    /// does not evict existing series; it only stops new ones.
    pub max_series: Option<usize>,
    /// Hide, and free once no handle refers to it, a series that received nothing
    /// for this long. Off by default: counters must not vanish and come back from
    /// zero. `Some(Duration::ZERO)` turns a previously set expiry off again.
    pub expire_after: Option<Duration>,
    /// Histogram bucket upper bounds. Sorted and deduplicated; `+Inf` is implied
    /// (and dropped if given); NaN and `-Inf` are rejected.
    pub buckets: Option<Vec<f64>>,
}

/// Why [`Registry::configure`] refused options.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OptionsError {
    /// A bucket bound that cannot be an upper bound.
    #[error(
        "histogram `{metric}`: bucket bound {bound} is not a number an observation can be below"
    )]
    InvalidBucket {
        /// The metric, as given.
        metric: String,
        /// The offending bound (NaN or -Inf).
        bound: f64,
    },
    /// The histogram already has series with other buckets; mixing bucket layouts
    /// within one family breaks `histogram_quantile` over aggregations.
    #[error("histogram `{metric}` already has series with other buckets; set its buckets before first use")]
    BucketsInUse {
        /// The metric, as given.
        metric: String,
    },
}

// ---------------------------------------------------------------------------
// Kinds and names
// ---------------------------------------------------------------------------

/// The metric types the registry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn index(self) -> usize {
        match self {
            Kind::Counter => 0,
            Kind::Gauge => 1,
            Kind::Histogram => 2,
        }
    }

    /// The `# TYPE` keyword, identical in both formats.
    pub(crate) fn type_name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }

    /// Every sample and family name a family of this kind may expose in either
    /// format; two families must not share any (OpenMetrics "Suffixes" rule).
    fn exposed_names(self, name: &str) -> Vec<String> {
        let suffixes: &[&str] = match self {
            Kind::Counter => &["", "_total", "_created"],
            Kind::Gauge => &[""],
            Kind::Histogram => &["", "_bucket", "_sum", "_count", "_created"],
        };
        suffixes.iter().map(|s| format!("{name}{s}")).collect()
    }
}

/// `name` without one trailing `_total` (unless that would leave nothing).
fn stem(name: &str) -> &str {
    match name.strip_suffix("_total") {
        Some(rest) if !rest.is_empty() => rest,
        _ => name,
    }
}

/// The key of options and descriptions: sanitised, without `_total`.
fn options_key(name: &str) -> String {
    stem(&sanitize_metric_name(name)).to_owned()
}

/// Why a registration got a no-op handle.
#[derive(Debug, Clone, Copy)]
enum Rejection {
    NameConflict,
    FamilyLimit,
}

impl Rejection {
    fn as_str(self) -> &'static str {
        match self {
            Rejection::NameConflict => "name_conflict",
            Rejection::FamilyLimit => "family_limit",
        }
    }
}

// ---------------------------------------------------------------------------
// Locks
// ---------------------------------------------------------------------------

// A panic while holding one of these locks cannot leave a half-applied change
// that matters (every critical section is a handful of map operations), so a
// poisoned lock is used as is rather than turning one panic into a cascade.
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// `metrics::Key` already carries a hash of its name and labels and its `Hash`
/// impl writes only that `u64`, so hashing it again would be wasted work.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used by `Key`; a simple FNV-1a keeps this correct for any caller.
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 ^= v;
    }
}

type KeyMap<V> = HashMap<Key, V, BuildHasherDefault<KeyHasher>>;

// ---------------------------------------------------------------------------
// Series
// ---------------------------------------------------------------------------

/// A series' labels: sanitised names, sorted by name, unique, no empty values.
pub(crate) type LabelSet = Arc<[(Box<str>, Box<str>)]>;

/// One time series: the atomics its handles record into, plus what the encoder
/// and the expiry sweep need.
pub(crate) struct Series {
    data: Data,
    /// Set by every recording, cleared by the expiry sweep: lets the sweep see
    /// activity without putting a clock read on the hot path.
    touched: AtomicBool,
    /// Expired but still referenced by a handle: not exposed until it records
    /// again.
    hidden: AtomicBool,
    /// Milliseconds since the registry's epoch at which the sweep last saw
    /// activity.
    last_active_ms: AtomicU64,
    labels: LabelSet,
    /// `name="value",…`, escaped once at creation so a scrape is mostly copying.
    rendered: Box<str>,
}

enum Data {
    Counter(AtomicU64),
    /// `f64` bits.
    Gauge(AtomicU64),
    Histogram(HistogramData),
}

struct HistogramData {
    /// Finite upper bounds, ascending; `+Inf` is the extra last count.
    bounds: Arc<[f64]>,
    /// Per-bucket (non-cumulative) counts, `bounds.len() + 1` of them, so a
    /// recording touches one bucket and `_count` is derived from the same reads.
    counts: Box<[AtomicU64]>,
    /// `f64` bits.
    sum: AtomicU64,
}

fn add_f64(cell: &AtomicU64, delta: f64) {
    let mut current = cell.load(Relaxed);
    loop {
        let next = (f64::from_bits(current) + delta).to_bits();
        match cell.compare_exchange_weak(current, next, Relaxed, Relaxed) {
            Ok(_) => return,
            Err(actual) => current = actual,
        }
    }
}

impl Series {
    fn new(kind: Kind, labels: LabelSet, bounds: &Arc<[f64]>, now_ms: u64) -> Self {
        let data = match kind {
            Kind::Counter => Data::Counter(AtomicU64::new(0)),
            Kind::Gauge => Data::Gauge(AtomicU64::new(0.0_f64.to_bits())),
            Kind::Histogram => Data::Histogram(HistogramData {
                bounds: bounds.clone(),
                counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
                sum: AtomicU64::new(0.0_f64.to_bits()),
            }),
        };
        let mut rendered = String::new();
        for (i, (name, value)) in labels.iter().enumerate() {
            if i > 0 {
                rendered.push(',');
            }
            rendered.push_str(name);
            rendered.push_str("=\"");
            escape_label_value(&mut rendered, value);
            rendered.push('"');
        }
        Self {
            data,
            touched: AtomicBool::new(true),
            hidden: AtomicBool::new(false),
            last_active_ms: AtomicU64::new(now_ms),
            labels,
            rendered: rendered.into_boxed_str(),
        }
    }

    #[inline]
    fn touch(&self) {
        // Load first: once set, recording only reads this flag, so the cache line
        // is not written twice per increment.
        if !self.touched.load(Relaxed) {
            self.touched.store(true, Relaxed);
        }
    }

    /// The series' labels rendered as `name="escaped",…` (no braces).
    pub(crate) fn rendered_labels(&self) -> &str {
        &self.rendered
    }

    /// Whether the series has its own label called `name`.
    pub(crate) fn has_label(&self, name: &str) -> bool {
        self.labels
            .binary_search_by(|(n, _)| n.as_ref().cmp(name))
            .is_ok()
    }

    pub(crate) fn counter_value(&self) -> u64 {
        match &self.data {
            Data::Counter(v) => v.load(Relaxed),
            _ => 0,
        }
    }

    pub(crate) fn gauge_value(&self) -> f64 {
        match &self.data {
            Data::Gauge(v) => f64::from_bits(v.load(Relaxed)),
            _ => 0.0,
        }
    }

    /// Fills `counts` with the per-bucket counts (the last one is the `+Inf`
    /// overflow) and returns the bounds and the sum.
    pub(crate) fn histogram_snapshot(&self, counts: &mut Vec<u64>) -> Option<(Arc<[f64]>, f64)> {
        let Data::Histogram(h) = &self.data else {
            return None;
        };
        counts.clear();
        counts.extend(h.counts.iter().map(|c| c.load(Relaxed)));
        Some((h.bounds.clone(), f64::from_bits(h.sum.load(Relaxed))))
    }

    fn observe(&self, value: f64, n: u64) {
        if let Data::Histogram(h) = &self.data {
            // NaN would make the sum NaN forever and ±Inf would do the same to
            // any later arithmetic; neither is a measurement.
            if !value.is_finite() {
                return;
            }
            let index = h.bounds.partition_point(|b| *b < value);
            if let Some(bucket) = h.counts.get(index) {
                bucket.fetch_add(n, Relaxed);
            }
            add_f64(&h.sum, value * n as f64);
        }
        self.touch();
    }
}

impl CounterFn for Series {
    fn increment(&self, value: u64) {
        if let Data::Counter(v) = &self.data {
            v.fetch_add(value, Relaxed);
        }
        self.touch();
    }

    fn absolute(&self, value: u64) {
        // `fetch_max`: the counter never goes backwards even if callers race
        // with older readings of an external counter.
        if let Data::Counter(v) = &self.data {
            v.fetch_max(value, Relaxed);
        }
        self.touch();
    }
}

impl GaugeFn for Series {
    fn increment(&self, value: f64) {
        if let Data::Gauge(v) = &self.data {
            add_f64(v, value);
        }
        self.touch();
    }

    fn decrement(&self, value: f64) {
        if let Data::Gauge(v) = &self.data {
            add_f64(v, -value);
        }
        self.touch();
    }

    fn set(&self, value: f64) {
        if let Data::Gauge(v) = &self.data {
            v.store(value.to_bits(), Relaxed);
        }
        self.touch();
    }
}

impl HistogramFn for Series {
    fn record(&self, value: f64) {
        self.observe(value, 1);
    }

    fn record_many(&self, value: f64, count: usize) {
        self.observe(value, count as u64);
    }
}

// ---------------------------------------------------------------------------
// Families
// ---------------------------------------------------------------------------

/// Labels as the two registration paths hand them over.
#[derive(Clone, Copy)]
enum LabelsIn<'a> {
    Key(&'a Key),
    Slice(&'a [(&'a str, &'a str)]),
}

/// Sanitises, truncates, drops empty values (an empty value means "no label"),
/// sorts by name and keeps the first of duplicate names.
fn normalize_labels(labels: LabelsIn<'_>, max_value_bytes: usize) -> LabelSet {
    let mut out: Vec<(Box<str>, Box<str>)> = Vec::new();
    let mut push = |name: &str, value: &str| {
        let value = truncate(value, max_value_bytes);
        if !value.is_empty() {
            out.push((sanitize_label_name(name).into(), value.into()));
        }
    };
    match labels {
        LabelsIn::Key(key) => key.labels().for_each(|l| push(l.key(), l.value())),
        LabelsIn::Slice(slice) => slice.iter().for_each(|(k, v)| push(k, v)),
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.dedup_by(|later, earlier| later.0 == earlier.0);
    out.into()
}

fn truncate(value: &str, max_bytes: usize) -> &str {
    if max_bytes == 0 || value.len() <= max_bytes {
        return value;
    }
    let mut end = max_bytes;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

fn label_hash(labels: &LabelSet) -> u64 {
    // Fixed keys: deterministic, and the set only holds our own label sets.
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new();
    labels.hash(&mut h);
    h.finish()
}

/// The series of one metric family and their settings.
struct SeriesSet {
    series: BTreeMap<LabelSet, Arc<Series>>,
    /// `metrics::Key` → series, so the facade's `counter!(…)` resolves without
    /// re-sanitising labels. Bounded; overflowed keys are never cached.
    by_key: KeyMap<Arc<Series>>,
    /// Where refused label sets go; separate from `series` unless its label set
    /// happens to be a regular series too.
    overflow: Option<Arc<Series>>,
    /// Hashes of refused label sets, so each is counted once (up to a bound).
    refused: HashSet<u64>,
    max_series: usize,
    expire_after: Option<Duration>,
    buckets: Arc<[f64]>,
}

impl SeriesSet {
    fn alias_cap(&self) -> usize {
        self.max_series.saturating_mul(2).max(64)
    }

    fn refused_cap(&self) -> usize {
        self.max_series.max(4096)
    }

    fn alias(&mut self, labels: LabelsIn<'_>, series: &Arc<Series>) {
        if let LabelsIn::Key(key) = labels {
            if self.by_key.len() < self.alias_cap() {
                self.by_key.insert(key.clone(), series.clone());
            }
        }
    }
}

/// One metric family: a name, a kind and its series.
pub(crate) struct Family {
    kind: Kind,
    /// Sanitised; for counters without `_total`.
    name: Arc<str>,
    /// Options/description key (see [`options_key`]).
    key: String,
    /// weir's own bookkeeping counters: their overflow is not counted (that
    /// would recurse into themselves).
    internal: bool,
    set: RwLock<SeriesSet>,
    overflow_counter: OnceLock<Counter>,
}

impl Family {
    pub(crate) fn kind(&self) -> Kind {
        self.kind
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The name as the text format exposes it (without namespace).
    fn exposed_name(&self) -> String {
        match self.kind {
            Kind::Counter => format!("{}_total", self.name),
            _ => self.name.to_string(),
        }
    }

    /// Resolves labels to a series, creating it or redirecting to the overflow
    /// series. Returns the series and whether a label set was newly refused.
    fn series(
        &self,
        labels: LabelsIn<'_>,
        max_value_bytes: usize,
        now_ms: impl Fn() -> u64,
    ) -> (Arc<Series>, bool) {
        if let LabelsIn::Key(key) = labels {
            if let Some(s) = read(&self.set).by_key.get(key) {
                return (s.clone(), false);
            }
        }
        let normalized = normalize_labels(labels, max_value_bytes);
        let hash = label_hash(&normalized);
        {
            let set = read(&self.set);
            if let Some(s) = set.series.get(&normalized) {
                let s = s.clone();
                let cache =
                    matches!(labels, LabelsIn::Key(_)) && set.by_key.len() < set.alias_cap();
                drop(set);
                if cache {
                    write(&self.set).alias(labels, &s);
                }
                return (s, false);
            }
            if let Some(overflow) = &set.overflow {
                if set.refused.contains(&hash) {
                    return (overflow.clone(), false);
                }
            }
        }

        let mut set = write(&self.set);
        if let Some(s) = set.series.get(&normalized).cloned() {
            set.alias(labels, &s);
            return (s, false);
        }
        if set.series.len() < set.max_series {
            let s = Arc::new(Series::new(
                self.kind,
                normalized.clone(),
                &set.buckets,
                now_ms(),
            ));
            set.series.insert(normalized, s.clone());
            set.alias(labels, &s);
            return (s, false);
        }

        // At the cap: fold into the overflow series.
        let newly_refused = if set.refused.contains(&hash) {
            false
        } else {
            // Past the bound, every refusal counts (over-counting beats
            // unbounded memory).
            if set.refused.len() < set.refused_cap() {
                set.refused.insert(hash);
            }
            true
        };
        if let Some(overflow) = &set.overflow {
            return (overflow.clone(), newly_refused);
        }
        let overflow_labels: LabelSet = normalized
            .iter()
            .map(|(name, _)| (name.clone(), Box::<str>::from(OVERFLOW_LABEL_VALUE)))
            .collect::<Vec<_>>()
            .into();
        let overflow = match set.series.get(&overflow_labels) {
            Some(existing) => existing.clone(),
            None => Arc::new(Series::new(
                self.kind,
                overflow_labels,
                &set.buckets,
                now_ms(),
            )),
        };
        set.overflow = Some(overflow.clone());
        (overflow, newly_refused)
    }

    /// The series a scrape shows, sorted by labels.
    pub(crate) fn visible_series(&self) -> Vec<Arc<Series>> {
        let set = read(&self.set);
        let mut out: Vec<Arc<Series>> = set
            .series
            .values()
            .filter(|s| !s.hidden.load(Relaxed))
            .cloned()
            .collect();
        if let Some(overflow) = &set.overflow {
            if !overflow.hidden.load(Relaxed) && !set.series.contains_key(&overflow.labels) {
                let at = out.partition_point(|s| s.labels < overflow.labels);
                out.insert(at, overflow.clone());
            }
        }
        out
    }

    /// Hides series idle for `expire_after` and frees those no handle refers to.
    fn sweep(&self, now_ms: u64) {
        let mut candidates = false;
        {
            let set = read(&self.set);
            let Some(expire_after) = set.expire_after else {
                return;
            };
            let expire_ms = u64::try_from(expire_after.as_millis()).unwrap_or(u64::MAX);
            for s in set.series.values().chain(set.overflow.iter()) {
                if s.touched.swap(false, Relaxed) {
                    s.last_active_ms.store(now_ms, Relaxed);
                    s.hidden.store(false, Relaxed);
                } else if now_ms.saturating_sub(s.last_active_ms.load(Relaxed)) >= expire_ms {
                    s.hidden.store(true, Relaxed);
                    candidates = true;
                }
            }
        }
        if !candidates {
            return;
        }
        let mut set = write(&self.set);
        // Drop cached aliases of hidden series first so that only handles held
        // elsewhere keep them alive. No handle can be created meanwhile: that
        // takes this lock.
        let expired = |s: &Arc<Series>| s.hidden.load(Relaxed) && !s.touched.load(Relaxed);
        set.by_key.retain(|_, s| !expired(s));
        let overflow_in_map = set
            .overflow
            .as_ref()
            .is_some_and(|o| set.series.contains_key(&o.labels));
        if let Some(o) = &set.overflow {
            if expired(o) && (Arc::strong_count(o) == 1 + usize::from(overflow_in_map)) {
                set.overflow = None;
            }
        }
        set.series
            .retain(|_, s| !(expired(s) && Arc::strong_count(s) == 1));
    }

    #[cfg(test)]
    fn sizes(&self) -> (usize, usize, usize, bool) {
        let set = read(&self.set);
        (
            set.series.len(),
            set.by_key.len(),
            set.refused.len(),
            set.overflow.is_some(),
        )
    }
}

// ---------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Default)]
struct Description {
    help: Option<Arc<str>>,
    unit: Option<Unit>,
}

#[derive(Default)]
struct State {
    /// Raw name as registered → family (`None`: refused), per kind. Bounded.
    aliases: [HashMap<String, Option<Arc<Family>>>; 3],
    alias_count: usize,
    /// Canonical name → family.
    families: HashMap<Arc<str>, Arc<Family>>,
    /// Every name some family may expose (see [`Kind::exposed_names`]).
    reserved: HashSet<String>,
    descriptions: HashMap<String, Description>,
    options: HashMap<String, MetricOptions>,
}

/// What the encoder needs of one family.
pub(crate) struct FamilySnapshot {
    pub(crate) family: Arc<Family>,
    pub(crate) help: Option<Arc<str>>,
    pub(crate) unit: Option<Unit>,
}

/// weir's metrics registry. See the [module docs](self) for its rules.
///
/// ```
/// use weir::telemetry::{Format, Registry};
/// let registry = Registry::new();
/// let errors = registry.counter("s3_server_errors_total", &[("bucket", "logs")], "5xx responses.");
/// errors.increment(1);
/// assert!(registry.render(Format::Text).contains("s3_server_errors_total{bucket=\"logs\"} 1\n"));
/// ```
pub struct Registry {
    config: RegistryConfig,
    default_buckets: Arc<[f64]>,
    epoch: Instant,
    state: RwLock<State>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("config", &self.config)
            .field("families", &read(&self.state).families.len())
            .finish_non_exhaustive()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// A registry with [`RegistryConfig::default`].
    pub fn new() -> Self {
        Self::with_config(RegistryConfig::default())
    }

    /// A registry with the given limits. Invalid default buckets (NaN, -Inf)
    /// are dropped.
    pub fn with_config(config: RegistryConfig) -> Self {
        let default_buckets: Arc<[f64]> = clean_buckets(&config.default_buckets)
            .unwrap_or_else(|_| {
                config
                    .default_buckets
                    .iter()
                    .copied()
                    .filter(|b| b.is_finite())
                    .collect()
            })
            .into();
        let registry = Self {
            config,
            default_buckets,
            epoch: Instant::now(),
            state: RwLock::new(State::default()),
        };
        registry.describe(
            SERIES_OVERFLOW_METRIC,
            None,
            "Label sets refused because the metric reached its series limit; their events were \
             counted in its __overflow__ series.",
        );
        registry.describe(
            REGISTRATIONS_REJECTED_METRIC,
            None,
            "Metric registrations refused (name clashing with another metric, or too many \
             metrics); they record nothing.",
        );
        {
            // One overflow series per family at most: never cap below that.
            let mut state = write(&registry.state);
            let max = registry.config.max_families.saturating_add(2);
            state.options.insert(
                options_key(SERIES_OVERFLOW_METRIC),
                MetricOptions {
                    max_series: Some(max),
                    ..MetricOptions::default()
                },
            );
        }
        registry
    }

    /// The registry's limits.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// A counter handle for `name` with `labels`; `help` (if non-empty) becomes
    /// the family's HELP text. Returns a no-op handle if the name clashes with
    /// another metric or the family limit is reached (logged and counted).
    ///
    /// Each call resolves the labels (read locks, allocation for the normalised
    /// label set); keep the handle when recording repeatedly with the same labels.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)], help: &str) -> Counter {
        match self.register(Kind::Counter, name, LabelsIn::Slice(labels), help, false) {
            Some(s) => Counter::from_arc(s),
            None => Counter::noop(),
        }
    }

    /// A gauge handle; see [`Registry::counter`].
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)], help: &str) -> Gauge {
        match self.register(Kind::Gauge, name, LabelsIn::Slice(labels), help, false) {
            Some(s) => Gauge::from_arc(s),
            None => Gauge::noop(),
        }
    }

    /// A histogram handle; its buckets are the metric's configured ones
    /// ([`Registry::set_buckets`]) or the registry default. See
    /// [`Registry::counter`].
    pub fn histogram(&self, name: &str, labels: &[(&str, &str)], help: &str) -> Histogram {
        match self.register(Kind::Histogram, name, LabelsIn::Slice(labels), help, false) {
            Some(s) => Histogram::from_arc(s),
            None => Histogram::noop(),
        }
    }

    /// Sets a metric's HELP text (if `help` is non-empty) and unit (if given).
    /// The unit is exposed as OpenMetrics `# UNIT` when the name ends in
    /// `_<unit>`, as OpenMetrics requires; names are never changed to fit.
    pub fn describe(&self, name: &str, unit: Option<Unit>, help: &str) {
        self.describe_key(options_key(name), unit, help);
    }

    fn describe_key(&self, key: String, unit: Option<Unit>, help: &str) {
        let mut state = write(&self.state);
        let bound = self.config.max_families.saturating_mul(2);
        if !state.descriptions.contains_key(&key) && state.descriptions.len() >= bound {
            return;
        }
        let entry = state.descriptions.entry(key).or_default();
        if !help.is_empty() {
            entry.help = Some(help.into());
        }
        if unit.is_some() {
            entry.unit = unit;
        }
    }

    /// Sets a family's HELP text unless it already reads `help`: the direct API
    /// passes the text on every call, so the common case is one read-locked
    /// comparison, without allocating.
    fn ensure_help(&self, family: &Family, help: &str) {
        if help.is_empty() {
            return;
        }
        let current = read(&self.state)
            .descriptions
            .get(&family.key)
            .and_then(|d| d.help.as_deref())
            == Some(help);
        if !current {
            self.describe_key(family.key.clone(), None, help);
        }
    }

    /// Sets per-metric options (see [`MetricOptions`]); fields left `None` keep
    /// their value. Applies to the metric's existing series too, except that a
    /// histogram's buckets cannot change once it has series.
    pub fn configure(&self, name: &str, options: MetricOptions) -> Result<(), OptionsError> {
        let buckets: Option<Arc<[f64]>> = match &options.buckets {
            Some(b) => Some(
                clean_buckets(b)
                    .map_err(|bound| OptionsError::InvalidBucket {
                        metric: name.to_owned(),
                        bound,
                    })?
                    .into(),
            ),
            None => None,
        };
        let key = options_key(name);
        let mut state = write(&self.state);
        let families: Vec<Arc<Family>> = state
            .families
            .values()
            .filter(|f| f.key == key)
            .cloned()
            .collect();
        if let Some(buckets) = &buckets {
            for f in families.iter().filter(|f| f.kind == Kind::Histogram) {
                let set = read(&f.set);
                let has_series = !set.series.is_empty() || set.overflow.is_some();
                if has_series && set.buckets[..] != buckets[..] {
                    return Err(OptionsError::BucketsInUse {
                        metric: name.to_owned(),
                    });
                }
            }
        }
        let stored = state.options.entry(key).or_default();
        if options.max_series.is_some() {
            stored.max_series = options.max_series;
        }
        if let Some(expire) = options.expire_after {
            stored.expire_after = (!expire.is_zero()).then_some(expire);
        }
        if let Some(b) = &buckets {
            stored.buckets = Some(b.to_vec());
        }
        for f in &families {
            let mut set = write(&f.set);
            if let Some(max) = options.max_series {
                set.max_series = max;
            }
            if let Some(expire) = options.expire_after {
                set.expire_after = (!expire.is_zero()).then_some(expire);
            }
            if let Some(b) = &buckets {
                set.buckets = b.clone();
            }
        }
        Ok(())
    }

    /// Sets a histogram's bucket upper bounds (see [`MetricOptions::buckets`]).
    pub fn set_buckets(&self, name: &str, buckets: Vec<f64>) -> Result<(), OptionsError> {
        self.configure(
            name,
            MetricOptions {
                buckets: Some(buckets),
                ..MetricOptions::default()
            },
        )
    }

    /// Sets a metric's series cap (see [`MetricOptions::max_series`]).
    pub fn set_max_series(&self, name: &str, max_series: usize) {
        // Cannot fail: only buckets are validated.
        let _ = self.configure(
            name,
            MetricOptions {
                max_series: Some(max_series),
                ..MetricOptions::default()
            },
        );
    }

    /// Sets (or with `None`, clears) a metric's idle expiry (see
    /// [`MetricOptions::expire_after`]).
    pub fn set_expire_after(&self, name: &str, expire_after: Option<Duration>) {
        let _ = self.configure(
            name,
            MetricOptions {
                expire_after: Some(expire_after.unwrap_or(Duration::ZERO)),
                ..MetricOptions::default()
            },
        );
    }

    /// Number of series (including hidden and overflow ones) a metric holds, or
    /// `None` if no metric of that name is registered. For health checks and tests.
    pub fn series_count(&self, name: &str) -> Option<usize> {
        let sanitized = sanitize_metric_name(name);
        let state = read(&self.state);
        let family = state
            .families
            .get(sanitized.as_str())
            .or_else(|| state.families.get(stem(&sanitized)))?
            .clone();
        drop(state);
        let set = read(&family.set);
        let overflow_extra = set
            .overflow
            .as_ref()
            .is_some_and(|o| !set.series.contains_key(&o.labels));
        Some(set.series.len() + usize::from(overflow_extra))
    }

    /// Applies idle expiry now. The encoder calls this before every render, so
    /// series expire with a precision of one scrape interval; call it
    /// periodically if nothing scrapes and memory from expired series should
    /// be returned anyway.
    pub fn sweep_expired(&self) {
        self.sweep_at(Instant::now());
    }

    pub(crate) fn sweep_at(&self, now: Instant) {
        let now_ms = self.millis(now);
        let families: Vec<Arc<Family>> = read(&self.state).families.values().cloned().collect();
        for f in families {
            f.sweep(now_ms);
        }
    }

    /// Renders the registry with a default [`Encoder`] (no namespace, no const
    /// labels).
    pub fn render(&self, format: Format) -> String {
        Encoder::new().render(self, format)
    }

    /// The families and their metadata, for the encoder.
    pub(crate) fn snapshot(&self) -> Vec<FamilySnapshot> {
        let state = read(&self.state);
        state
            .families
            .values()
            .map(|family| {
                let d = state.descriptions.get(&family.key);
                FamilySnapshot {
                    family: family.clone(),
                    help: d.and_then(|d| d.help.clone()),
                    unit: d.and_then(|d| d.unit),
                }
            })
            .collect()
    }

    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// Resolves name and labels to a series, counting overflow.
    fn register(
        &self,
        kind: Kind,
        name: &str,
        labels: LabelsIn<'_>,
        help: &str,
        internal: bool,
    ) -> Option<Arc<Series>> {
        let family = self.family(kind, name, internal)?;
        self.ensure_help(&family, help);
        let (series, newly_refused) =
            family.series(labels, self.config.max_label_value_bytes, || {
                self.millis(Instant::now())
            });
        // Never from an internal registration: counting overflow registers into
        // the overflow counter, which must not recurse into itself (even when a
        // user metric squats on its name and is the family overflowing).
        if newly_refused && !internal && !family.internal {
            family
                .overflow_counter
                .get_or_init(|| {
                    let metric = family.exposed_name();
                    self.internal_counter(SERIES_OVERFLOW_METRIC, &[("metric", &metric)])
                })
                .increment(1);
        }
        Some(series)
    }

    fn internal_counter(&self, name: &str, labels: &[(&str, &str)]) -> Counter {
        match self.register(Kind::Counter, name, LabelsIn::Slice(labels), "", true) {
            Some(s) => Counter::from_arc(s),
            None => Counter::noop(),
        }
    }

    /// Finds or creates the family for `name`, or `None` if it is refused.
    fn family(&self, kind: Kind, name: &str, internal: bool) -> Option<Arc<Family>> {
        if let Some(entry) = read(&self.state).aliases[kind.index()].get(name) {
            return entry.clone();
        }
        let sanitized = sanitize_metric_name(name);
        let canonical = match kind {
            Kind::Counter => stem(&sanitized),
            _ => sanitized.as_str(),
        };
        let mut state = write(&self.state);
        if let Some(entry) = state.aliases[kind.index()].get(name) {
            return entry.clone();
        }
        let outcome = match state.families.get(canonical) {
            Some(f) if f.kind == kind => Ok(f.clone()),
            Some(_) => Err(Rejection::NameConflict),
            None => self.create_family(&mut state, kind, canonical, internal),
        };
        let alias_cap = self.config.max_families.saturating_mul(4);
        let cached = state.alias_count < alias_cap;
        if cached {
            state.aliases[kind.index()].insert(name.to_owned(), outcome.as_ref().ok().cloned());
            state.alias_count += 1;
        }
        drop(state);
        match outcome {
            Ok(family) => Some(family),
            Err(reason) => {
                if !internal {
                    if cached {
                        // Once per name: later registrations hit the cache.
                        tracing::warn!(
                            metric = name,
                            kind = kind.type_name(),
                            reason = reason.as_str(),
                            "metric refused; it records nothing"
                        );
                    }
                    self.internal_counter(
                        REGISTRATIONS_REJECTED_METRIC,
                        &[("reason", reason.as_str())],
                    )
                    .increment(1);
                }
                None
            }
        }
    }

    fn create_family(
        &self,
        state: &mut State,
        kind: Kind,
        canonical: &str,
        internal: bool,
    ) -> Result<Arc<Family>, Rejection> {
        if !internal && state.families.len() >= self.config.max_families {
            return Err(Rejection::FamilyLimit);
        }
        let exposed = kind.exposed_names(canonical);
        if exposed.iter().any(|n| state.reserved.contains(n)) {
            return Err(Rejection::NameConflict);
        }
        // Same key as `options_key(raw name)`: a counter's canonical name is
        // already stemmed (stemming again would turn `x_total_total` into `x`).
        let key = match kind {
            Kind::Counter => canonical.to_owned(),
            _ => stem(canonical).to_owned(),
        };
        let options = state.options.get(&key);
        let buckets = options
            .and_then(|o| o.buckets.as_ref())
            .map_or_else(|| self.default_buckets.clone(), |b| b.as_slice().into());
        let set = SeriesSet {
            series: BTreeMap::new(),
            by_key: KeyMap::default(),
            overflow: None,
            refused: HashSet::new(),
            max_series: options
                .and_then(|o| o.max_series)
                .unwrap_or(self.config.default_max_series),
            expire_after: options.and_then(|o| o.expire_after),
            buckets,
        };
        let name: Arc<str> = canonical.into();
        let family = Arc::new(Family {
            kind,
            name: name.clone(),
            key,
            internal,
            set: RwLock::new(set),
            overflow_counter: OnceLock::new(),
        });
        state.reserved.extend(exposed);
        state.families.insert(name, family.clone());
        Ok(family)
    }

    #[cfg(test)]
    fn family_sizes(&self, kind: Kind, name: &str) -> Option<(usize, usize, usize, bool)> {
        self.family(kind, name, true).map(|f| f.sizes())
    }
}

/// Validates, sorts and deduplicates bucket bounds; `+Inf` is implied and
/// dropped. Returns the first invalid bound (NaN, -Inf) as the error.
fn clean_buckets(buckets: &[f64]) -> Result<Vec<f64>, f64> {
    if let Some(bad) = buckets
        .iter()
        .find(|b| b.is_nan() || **b == f64::NEG_INFINITY)
    {
        return Err(*bad);
    }
    let mut out: Vec<f64> = buckets
        .iter()
        .copied()
        .filter(|b| *b != f64::INFINITY)
        .map(|b| if b == 0.0 { 0.0 } else { b }) // -0 and 0 are one bound
        .collect();
    out.sort_by(f64::total_cmp);
    out.dedup();
    Ok(out)
}

impl Recorder for Registry {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key.as_str(), unit, &description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key.as_str(), unit, &description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key.as_str(), unit, &description);
    }

    fn register_counter(&self, key: &Key, _metadata: &Metadata<'_>) -> Counter {
        match self.register(Kind::Counter, key.name(), LabelsIn::Key(key), "", false) {
            Some(s) => Counter::from_arc(s),
            None => Counter::noop(),
        }
    }

    fn register_gauge(&self, key: &Key, _metadata: &Metadata<'_>) -> Gauge {
        match self.register(Kind::Gauge, key.name(), LabelsIn::Key(key), "", false) {
            Some(s) => Gauge::from_arc(s),
            None => Gauge::noop(),
        }
    }

    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> Histogram {
        match self.register(Kind::Histogram, key.name(), LabelsIn::Key(key), "", false) {
            Some(s) => Histogram::from_arc(s),
            None => Histogram::noop(),
        }
    }
}

static GLOBAL: OnceLock<Registry> = OnceLock::new();
static INSTALL: std::sync::Once = std::sync::Once::new();

/// The process-wide registry (created on first use, with default limits).
pub fn global() -> &'static Registry {
    GLOBAL.get_or_init(Registry::new)
}

/// Makes [`global`] the `metrics` facade's global recorder, so
/// `metrics::counter!(…)` anywhere in weir records into it, and returns it.
///
/// Idempotent. If a different recorder was installed first (a test harness,
/// say), that is logged and facade metrics go there; the returned registry
/// still serves the direct API.
pub fn install() -> &'static Registry {
    let registry = global();
    INSTALL.call_once(|| {
        if metrics::set_global_recorder(registry).is_err() {
            tracing::warn!(
                "another metrics recorder is already installed; facade metrics will not reach \
                 weir's registry"
            );
        }
    });
    registry
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::exposition::Encoder;

    fn text(r: &Registry) -> String {
        Encoder::new().render(r, Format::Text)
    }

    #[test]
    fn facade_and_direct_api_share_series() {
        let r = Registry::new();
        metrics::with_local_recorder(&r, || {
            metrics::describe_counter!("weir_component_received_events_total", "Events received.");
            metrics::counter!("weir_component_received_events_total", "pipeline" => "p", "component" => "c")
                .increment(2);
            // Label order does not matter.
            metrics::counter!("weir_component_received_events_total", "component" => "c", "pipeline" => "p")
                .increment(3);
            metrics::gauge!("weir_queue_depth").set(4.0);
            metrics::gauge!("weir_queue_depth").increment(1.5);
            metrics::histogram!("weir_batch_seconds").record(0.3);
        });
        r.counter(
            "weir_component_received_events_total",
            &[("pipeline", "p"), ("component", "c")],
            "",
        )
        .increment(5);
        let out = text(&r);
        assert!(
            out.contains(
                "# HELP weir_component_received_events_total Events received.\n\
             # TYPE weir_component_received_events_total counter\n\
             weir_component_received_events_total{component=\"c\",pipeline=\"p\"} 10\n"
            ),
            "{out}"
        );
        assert!(out.contains("weir_queue_depth 5.5\n"), "{out}");
        assert!(
            out.contains("weir_batch_seconds_bucket{le=\"0.5\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("weir_batch_seconds_bucket{le=\"0.25\"} 0\n"),
            "{out}"
        );
    }

    #[test]
    fn help_and_options_follow_the_name_whatever_its_total_suffixes() {
        let r = Registry::new();
        r.describe("jobs_total_total", None, "Doubly suffixed.");
        r.set_max_series("jobs_total_total", 1);
        r.counter("jobs_total_total", &[("k", "a")], "")
            .increment(1);
        r.counter("jobs_total_total", &[("k", "b")], "")
            .increment(1);
        let out = text(&r);
        assert!(
            out.contains("# HELP jobs_total_total Doubly suffixed.\n"),
            "{out}"
        );
        assert!(
            out.contains("jobs_total_total{k=\"__overflow__\"} 1\n"),
            "{out}"
        );
        // Help passed on every direct-API call is stored once and can change.
        r.gauge("g", &[], "First.").set(1.0);
        r.gauge("g", &[], "First.").set(1.0);
        r.gauge("g", &[], "Second.").set(1.0);
        assert!(text(&r).contains("# HELP g Second.\n"));
    }

    #[test]
    fn counter_absolute_never_goes_backwards() {
        let r = Registry::new();
        let c = r.counter("c_total", &[], "");
        c.absolute(10);
        c.absolute(7);
        c.increment(1);
        assert!(text(&r).contains("c_total 11\n"));
    }

    #[test]
    fn gauges_and_counters_keep_values_when_idle() {
        let r = Registry::new();
        r.counter("idle_total", &[("k", "v")], "").increment(4);
        let t0 = Instant::now();
        r.sweep_at(t0 + Duration::from_secs(86_400 * 30));
        assert!(text(&r).contains("idle_total{k=\"v\"} 4\n"));
        assert_eq!(r.series_count("idle_total"), Some(1));
    }

    #[test]
    fn name_conflicts_are_refused_and_counted() {
        let r = Registry::new();
        r.counter("x", &[], "").increment(1); // exposes x_total, OM family x
        r.gauge("x_total", &[], "").set(5.0); // clash with the counter's sample
        r.gauge("x", &[], "").set(5.0); // clash with the OM family name
        r.histogram("h", &[], "").record(1.0);
        r.gauge("h_count", &[], "").set(1.0); // clash with a histogram sample
        r.gauge("h_count", &[], "").set(2.0); // same refusal, counted once
        let out = text(&r);
        assert!(!out.contains("gauge"), "{out}");
        assert!(
            out.contains("weir_metric_registrations_rejected_total{reason=\"name_conflict\"} 3\n"),
            "{out}"
        );
    }

    #[test]
    fn family_limit_refuses_new_names_but_keeps_bookkeeping() {
        let r = Registry::with_config(RegistryConfig {
            max_families: 2,
            ..RegistryConfig::default()
        });
        for i in 0..5 {
            r.counter(&format!("m{i}_total"), &[], "").increment(1);
        }
        let out = text(&r);
        assert!(out.contains("m0_total 1\n") && out.contains("m1_total 1\n"));
        assert!(!out.contains("m2_total"), "{out}");
        assert!(
            out.contains("weir_metric_registrations_rejected_total{reason=\"family_limit\"} 3\n"),
            "{out}"
        );
    }

    #[test]
    fn labels_are_normalised() {
        let r = Registry::with_config(RegistryConfig {
            max_label_value_bytes: 5,
            ..RegistryConfig::default()
        });
        r.counter(
            "n_total",
            &[
                ("b-b", "x"),
                ("a", "éééé"), // 8 bytes → cut to 4 on a char boundary
                ("empty", ""),
                ("b_b", "dup"), // same sanitised name: first one wins
                ("le", "1"),
            ],
            "",
        )
        .increment(1);
        assert!(
            text(&r).contains("n_total{a=\"éé\",b_b=\"x\",x_le=\"1\"} 1\n"),
            "{}",
            text(&r)
        );
    }

    #[test]
    fn cardinality_cap_folds_into_one_overflow_series() {
        let r = Registry::new();
        r.set_max_series("req_total", 3);
        for i in 0..10 {
            r.counter(
                "req_total",
                &[("path", &format!("/u/{i}")), ("method", "GET")],
                "",
            )
            .increment(1);
        }
        // A refused label set seen again is not counted again.
        r.counter("req_total", &[("path", "/u/9"), ("method", "GET")], "")
            .increment(1);
        // An existing series keeps working at the cap.
        r.counter("req_total", &[("path", "/u/0"), ("method", "GET")], "")
            .increment(1);
        let out = text(&r);
        assert!(
            out.contains("req_total{method=\"GET\",path=\"/u/0\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("req_total{method=\"__overflow__\",path=\"__overflow__\"} 8\n"),
            "{out}"
        );
        assert!(
            out.contains("weir_metric_series_overflow_total{metric=\"req_total\"} 7\n"),
            "{out}"
        );
        assert_eq!(r.series_count("req_total"), Some(4));
        assert_eq!(out.matches("req_total{").count(), 4);
    }

    #[test]
    fn overflow_works_through_the_facade_and_is_not_cached() {
        let r = Registry::new();
        r.set_max_series("f_total", 2);
        metrics::with_local_recorder(&r, || {
            for i in 0..1000 {
                metrics::counter!("f_total", "id" => i.to_string()).increment(1);
            }
        });
        let (series, aliases, refused, overflow) =
            r.family_sizes(Kind::Counter, "f_total").expect("family");
        assert_eq!((series, aliases, refused, overflow), (2, 2, 998, true));
        let out = text(&r);
        assert!(out.contains("f_total{id=\"__overflow__\"} 998\n"), "{out}");
        assert!(out.contains("weir_metric_series_overflow_total{metric=\"f_total\"} 998\n"));
    }

    #[test]
    fn memory_stays_bounded_under_a_cardinality_explosion() {
        let r = Registry::new();
        r.set_max_series("boom_total", 100);
        let long = "v".repeat(10_000);
        for i in 0..20_000 {
            let value = format!("{i}{long}");
            r.counter("boom_total", &[("id", &value)], "").increment(1);
        }
        let (series, aliases, refused, _) =
            r.family_sizes(Kind::Counter, "boom_total").expect("family");
        assert_eq!(series, 100);
        assert_eq!(aliases, 0); // the direct API does not cache aliases
        assert_eq!(refused, 4096); // bounded dedup set
        let out = text(&r);
        // Values are capped at 128 bytes.
        assert!(out.lines().all(|l| l.len() < 300), "a line is too long");
        // Every event is still counted somewhere.
        let total: u64 = out
            .lines()
            .filter(|l| l.starts_with("boom_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum();
        assert_eq!(total, 20_000);
        // Beyond the dedup bound every refusal counts.
        assert!(out.contains("weir_metric_series_overflow_total{metric=\"boom_total\"} 19900\n"));
    }

    #[test]
    fn many_threads_one_counter_exact_total() {
        let r = Arc::new(Registry::new());
        let threads = 8;
        let per_thread = 100_000;
        std::thread::scope(|s| {
            for t in 0..threads {
                let r = r.clone();
                s.spawn(move || {
                    // Half the threads hold a handle, half re-register each time.
                    if t % 2 == 0 {
                        let c = r.counter("hits_total", &[("k", "v")], "");
                        for _ in 0..per_thread {
                            c.increment(1);
                        }
                    } else {
                        metrics::with_local_recorder(&*r, || {
                            for _ in 0..per_thread / 100 {
                                let c = metrics::counter!("hits_total", "k" => "v");
                                for _ in 0..100 {
                                    c.increment(1);
                                }
                            }
                        });
                    }
                });
            }
        });
        let want = format!("hits_total{{k=\"v\"}} {}\n", threads * per_thread);
        assert!(text(&r).contains(&want), "{}", text(&r));
    }

    #[test]
    fn concurrent_registration_respects_the_cap() {
        let r = Arc::new(Registry::new());
        r.set_max_series("race_total", 50);
        std::thread::scope(|s| {
            for t in 0..4 {
                let r = r.clone();
                s.spawn(move || {
                    for i in 0..500 {
                        let v = format!("{}", (i * 7 + t) % 300);
                        r.counter("race_total", &[("id", &v)], "").increment(1);
                    }
                });
            }
        });
        assert_eq!(r.series_count("race_total"), Some(51));
        let out = text(&r);
        let total: u64 = out
            .lines()
            .filter(|l| l.starts_with("race_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum();
        assert_eq!(total, 2000);
        assert!(
            out.contains("weir_metric_series_overflow_total{metric=\"race_total\"} 250\n"),
            "{out}"
        );
    }

    #[test]
    fn histograms_are_cumulative_with_configured_buckets() {
        let r = Registry::new();
        r.set_buckets("size_bytes", vec![100.0, 1000.0])
            .expect("valid");
        let h = r.histogram("size_bytes", &[], "Sizes.");
        h.record(50.0);
        h.record(100.0); // le is inclusive
        h.record(500.0);
        h.record_many(5000.0, 3);
        let out = text(&r);
        assert!(
            out.contains(
                "size_bytes_bucket{le=\"100\"} 2\n\
             size_bytes_bucket{le=\"1000\"} 3\n\
             size_bytes_bucket{le=\"+Inf\"} 6\n\
             size_bytes_sum 15650\n\
             size_bytes_count 6\n"
            ),
            "{out}"
        );
    }

    #[test]
    fn bucket_options_are_validated() {
        let r = Registry::new();
        assert!(matches!(
            r.set_buckets("h", vec![1.0, f64::NAN]),
            Err(OptionsError::InvalidBucket { .. })
        ));
        assert!(matches!(
            r.set_buckets("h", vec![f64::NEG_INFINITY]),
            Err(OptionsError::InvalidBucket { .. })
        ));
        r.histogram("h", &[], "").record(1.0);
        assert_eq!(
            r.set_buckets("h", vec![1.0]),
            Err(OptionsError::BucketsInUse {
                metric: "h".to_owned()
            })
        );
        // Same buckets again is fine.
        assert_eq!(r.set_buckets("h", DEFAULT_BUCKETS.to_vec()), Ok(()));
        // Only `+Inf` is a valid (if coarse) histogram.
        r.set_buckets("only_inf", vec![f64::INFINITY])
            .expect("valid");
        r.histogram("only_inf", &[], "").record(3.0);
        assert!(
            text(&r).contains("only_inf_bucket{le=\"+Inf\"} 1\nonly_inf_sum 3\nonly_inf_count 1\n")
        );
    }

    #[test]
    fn expire_after_hides_then_frees_idle_series() {
        let r = Registry::new();
        r.set_expire_after("shard_lag_seconds", Some(Duration::from_secs(60)));
        let busy = r.gauge("shard_lag_seconds", &[("shard", "1")], "");
        let idle = r.gauge("shard_lag_seconds", &[("shard", "2")], "");
        busy.set(1.0);
        idle.set(2.0);
        let t0 = Instant::now();
        r.sweep_at(t0); // sees the activity
        busy.set(1.5);
        r.sweep_at(t0 + Duration::from_secs(30));
        let visible = |r: &Registry| {
            r.family(Kind::Gauge, "shard_lag_seconds", true)
                .map(|f| f.visible_series().len())
        };
        assert_eq!(visible(&r), Some(2));
        r.sweep_at(t0 + Duration::from_secs(61));
        // `idle` is hidden but still held: kept, not shown.
        assert_eq!(visible(&r), Some(1));
        assert_eq!(r.series_count("shard_lag_seconds"), Some(2));
        // Recording again brings it back with its value.
        idle.increment(1.0);
        r.sweep_at(t0 + Duration::from_secs(62));
        assert_eq!(visible(&r), Some(2));
        // Once no handle refers to it, an expired series is freed.
        drop(idle);
        r.sweep_at(t0 + Duration::from_secs(200));
        // `busy` is idle too by now, but its handle is still held.
        assert_eq!(r.series_count("shard_lag_seconds"), Some(1));
        drop(busy);
        r.sweep_at(t0 + Duration::from_secs(201));
        assert_eq!(r.series_count("shard_lag_seconds"), Some(0));
        // A new registration starts a fresh series.
        r.gauge("shard_lag_seconds", &[("shard", "2")], "").set(9.0);
        assert_eq!(r.series_count("shard_lag_seconds"), Some(1));
        // Other metrics are untouched by expiry.
        r.counter("kept_total", &[], "").increment(1);
        r.sweep_at(t0 + Duration::from_secs(100_000));
        assert_eq!(r.series_count("kept_total"), Some(1));
    }

    #[test]
    fn expiry_frees_facade_series_and_their_cache_entries() {
        let r = Registry::new();
        r.set_expire_after("temp", Some(Duration::from_secs(1)));
        metrics::with_local_recorder(&r, || {
            for i in 0..10 {
                metrics::gauge!("temp", "id" => i.to_string()).set(1.0);
            }
        });
        let t0 = Instant::now();
        r.sweep_at(t0);
        r.sweep_at(t0 + Duration::from_secs(5));
        let (series, aliases, _, _) = r.family_sizes(Kind::Gauge, "temp").expect("family");
        assert_eq!((series, aliases), (0, 0));
    }

    #[test]
    fn a_user_metric_named_like_the_overflow_counter_cannot_deadlock() {
        let r = Registry::new();
        r.set_max_series(SERIES_OVERFLOW_METRIC, 1);
        for m in ["a", "b", "c"] {
            r.counter(SERIES_OVERFLOW_METRIC, &[("metric", m)], "")
                .increment(1);
        }
        r.set_max_series("other_total", 1);
        for v in ["x", "y", "z"] {
            r.counter("other_total", &[("k", v)], "").increment(1);
        }
        let out = text(&r);
        assert!(out.contains("other_total{k=\"__overflow__\"} 2\n"), "{out}");
    }

    #[test]
    fn install_is_idempotent() {
        let a = install() as *const Registry;
        let b = install() as *const Registry;
        assert_eq!(a, b);
        assert_eq!(a, global() as *const Registry);
    }
}
