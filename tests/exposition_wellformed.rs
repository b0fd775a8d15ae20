//! Property tests: whatever names, label names, label values, HELP texts and
//! values users and log data throw at the registry, both exposition formats
//! stay well-formed (checked by `support/exposition_check.rs`, which is stricter
//! than promtool), label values survive escaping unchanged, and floats
//! round-trip.

#[path = "support/exposition_check.rs"]
mod exposition_check;

use std::collections::HashSet;

use exposition_check::{check, families_sorted, parse_float, Syntax};
use proptest::prelude::*;
use weir::telemetry::exposition::write_float;
use weir::telemetry::registry::{RegistryConfig, OVERFLOW_LABEL_VALUE};
use weir::telemetry::{Encoder, Format, MetricOptions, Registry};

/// Characters that stress escaping and sanitising, mixed with arbitrary ones.
fn weird_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => any::<char>(),
        2 => prop::sample::select(vec!['\\', '"', '\n', '\r', '\t', '\0', '{', '}', ',', '=', ' ', '#', ':', '_', '1', 'é', '🦀']),
        4 => prop::char::range('a', 'z'),
    ]
}

fn weird_string(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(weird_char(), 0..max).prop_map(String::from_iter)
}

#[derive(Debug, Clone)]
enum Op {
    Counter(u64),
    Gauge(f64),
    Histogram(Vec<f64>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        any::<u32>().prop_map(|v| Op::Counter(u64::from(v))),
        any::<f64>().prop_map(Op::Gauge),
        prop::collection::vec(any::<f64>(), 0..5).prop_map(Op::Histogram),
    ]
}

#[derive(Debug, Clone)]
struct Metric {
    name: String,
    help: String,
    labels: Vec<(String, String)>,
    op: Op,
}

fn metric() -> impl Strategy<Value = Metric> {
    (
        prop_oneof![
            weird_string(12),
            prop::sample::select(vec![
                "a".to_owned(),
                "a_total".to_owned(),
                "b_count".to_owned(),
                "b".to_owned()
            ])
        ],
        weird_string(20),
        prop::collection::vec((weird_string(6), weird_string(10)), 0..4),
        op(),
    )
        .prop_map(|(name, help, labels, op)| Metric {
            name,
            help,
            labels,
            op,
        })
}

fn record(registry: &Registry, m: &Metric) {
    let labels: Vec<(&str, &str)> = m
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    match &m.op {
        Op::Counter(v) => registry.counter(&m.name, &labels, &m.help).increment(*v),
        Op::Gauge(v) => registry.gauge(&m.name, &labels, &m.help).set(*v),
        Op::Histogram(vs) => {
            let h = registry.histogram(&m.name, &labels, &m.help);
            for v in vs {
                h.record(*v);
            }
        }
    }
}

fn syntax(format: Format) -> Syntax {
    match format {
        Format::Text => Syntax::Text,
        Format::OpenMetrics => Syntax::OpenMetrics,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_metrics_render_well_formed(
        metrics in prop::collection::vec(metric(), 1..12),
        max_series in 1usize..4,
        buckets in prop::collection::vec(any::<f64>(), 0..5),
        namespace in weird_string(6),
        const_labels in prop::collection::vec((weird_string(6), weird_string(8)), 0..3),
    ) {
        let registry = Registry::with_config(RegistryConfig {
            default_max_series: max_series,
            max_label_value_bytes: 8,
            ..RegistryConfig::default()
        });
        for m in &metrics {
            // Invalid bucket lists are refused; the histogram then keeps the
            // default buckets, which is fine for this test.
            let _ = registry.configure(&m.name, MetricOptions { buckets: Some(buckets.clone()), ..MetricOptions::default() });
            record(&registry, m);
        }
        let mut encoder = Encoder::new().namespace(&namespace);
        for (k, v) in &const_labels {
            encoder = encoder.const_label(k, v);
        }

        // Every label value in the output is an input value (cut to 8 bytes on
        // a char boundary), a const label value or the overflow marker.
        let cut = |s: &str| {
            let mut end = s.len().min(8);
            while !s.is_char_boundary(end) { end -= 1; }
            s[..end].to_owned()
        };
        let mut allowed: HashSet<String> = metrics.iter().flat_map(|m| m.labels.iter().map(|(_, v)| cut(v))).collect();
        allowed.extend(const_labels.iter().map(|(_, v)| v.clone()));
        allowed.insert(OVERFLOW_LABEL_VALUE.to_owned());

        for format in [Format::Text, Format::OpenMetrics] {
            let out = encoder.render(&registry, format);
            let families = check(&out, syntax(format)).map_err(|e| TestCaseError::fail(format!("{e}\n--- {format:?} ---\n{out}")))?;
            prop_assert!(families_sorted(&families), "families not sorted:\n{}", out);
            for f in &families {
                for s in &f.samples {
                    for (k, v) in &s.labels {
                        if k == "le" || k == "metric" || k == "reason" { continue; }
                        prop_assert!(allowed.contains(v), "label value {:?} not from input\n{}", v, out);
                    }
                }
            }
        }
    }

    #[test]
    fn arbitrary_facade_metrics_render_well_formed(
        metrics in prop::collection::vec(metric(), 1..10),
    ) {
        let registry = Registry::new();
        metrics::with_local_recorder(&registry, || {
            for m in &metrics {
                let labels: Vec<metrics::Label> = m.labels.iter().map(|(k, v)| metrics::Label::new(k.clone(), v.clone())).collect();
                let key_name = m.name.clone();
                match &m.op {
                    Op::Counter(v) => metrics::counter!(key_name, labels).increment(*v),
                    Op::Gauge(v) => metrics::gauge!(key_name, labels).set(*v),
                    Op::Histogram(vs) => {
                        let h = metrics::histogram!(key_name, labels);
                        for v in vs { h.record(*v); }
                    }
                }
                metrics::describe_gauge!(m.name.clone(), m.help.clone());
            }
        });
        for format in [Format::Text, Format::OpenMetrics] {
            let out = registry.render(format);
            check(&out, syntax(format)).map_err(|e| TestCaseError::fail(format!("{e}\n{out}")))?;
        }
    }

    #[test]
    fn floats_round_trip_through_the_exposition_syntax(v in any::<f64>()) {
        let mut s = String::new();
        write_float(&mut s, v);
        let parsed = parse_float(&s);
        prop_assert!(parsed.is_some(), "{:?} is not valid float syntax", s);
        let parsed = parsed.unwrap_or_default();
        if v.is_nan() {
            prop_assert!(parsed.is_nan());
        } else {
            prop_assert_eq!(parsed, v, "{}", s);
        }
    }

    #[test]
    fn gauge_values_round_trip(v in any::<f64>(), labels in prop::collection::vec((weird_string(5), weird_string(12)), 0..3)) {
        let registry = Registry::with_config(RegistryConfig { max_label_value_bytes: 0, ..RegistryConfig::default() });
        let l: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        registry.gauge("g", &l, "A gauge.").set(v);
        let out = registry.render(Format::Text);
        let families = check(&out, Syntax::Text).map_err(|e| TestCaseError::fail(format!("{e}\n{out}")))?;
        let sample = &families[0].samples[0];
        if v.is_nan() { prop_assert!(sample.value.is_nan()); } else { prop_assert_eq!(sample.value, v); }
        // Label values come back byte for byte (first of duplicate names wins,
        // empty values are absent).
        for (_, value) in &sample.labels {
            prop_assert!(labels.iter().any(|(_, v)| v == value), "{:?} not in {:?}", value, labels);
        }
    }
}
