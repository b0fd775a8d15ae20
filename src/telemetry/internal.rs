//! weir's own metrics: their names, types and HELP texts in one table.
//!
//! Components record these through the `metrics` facade where they do their
//! work (`metrics::counter!("weir_component_received_events_total", …)`); this
//! table only describes them, so that every family on `/metrics` and on a
//! `prometheus` output has a HELP line (`promtool check metrics` reports a
//! family without one) and so that the README's table can be checked against
//! the code. A component that adds an internal metric adds a row here.
//!
//! Internal metrics are the families whose name starts with
//! [`INTERNAL_PREFIX`]: a `prometheus` output's `namespace` is not applied to
//! them (they stay `weir_…` whatever the namespace) and `include_internal:
//! false` leaves them out.

use metrics::Unit;

use super::registry::{Registry, REGISTRATIONS_REJECTED_METRIC, SERIES_OVERFLOW_METRIC};

/// The name prefix of weir's own metrics.
pub const INTERNAL_PREFIX: &str = "weir_";

/// True if a metric family (by its registered name) is one of weir's own.
pub fn is_internal(name: &str) -> bool {
    name.starts_with(INTERNAL_PREFIX)
}

/// The kind of an internal metric, for documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InternalKind {
    Counter,
    Gauge,
    Histogram,
}

/// One of weir's own metrics.
#[derive(Debug, Clone, Copy)]
pub struct InternalMetric {
    /// The exposed name (counters with `_total`).
    pub name: &'static str,
    pub kind: InternalKind,
    pub unit: Option<Unit>,
    /// The labels its series carry.
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

const fn m(
    name: &'static str,
    kind: InternalKind,
    unit: Option<Unit>,
    labels: &'static [&'static str],
    help: &'static str,
) -> InternalMetric {
    InternalMetric {
        name,
        kind,
        unit,
        labels,
        help,
    }
}

use InternalKind::{Counter, Gauge, Histogram};

const COMPONENT: &[&str] = &["pipeline", "component", "kind"];
const PIPELINE_COMPONENT: &[&str] = &["pipeline", "component"];

/// Every internal metric weir records (a test checks the sources name no
/// other `weir_…` metric).
pub const INTERNAL_METRICS: &[InternalMetric] = &[
    m(
        "weir_component_received_events_total",
        Counter,
        None,
        COMPONENT,
        "Events read by an input.",
    ),
    m(
        "weir_component_received_bytes_total",
        Counter,
        Some(Unit::Bytes),
        COMPONENT,
        "Bytes of raw messages read by an input.",
    ),
    m(
        "weir_component_sent_events_total",
        Counter,
        None,
        COMPONENT,
        "Events an output delivered (a prometheus output counts the events it consumed).",
    ),
    m(
        "weir_component_sent_bytes_total",
        Counter,
        Some(Unit::Bytes),
        COMPONENT,
        "Bytes an output wrote for its events.",
    ),
    m(
        "weir_component_discarded_events_total",
        Counter,
        None,
        COMPONENT,
        "Events dropped on purpose: by a filter (drop, parse with on_error: drop) or by an \
         output's when_full: drop_newest.",
    ),
    m(
        "weir_component_errors_total",
        Counter,
        None,
        COMPONENT,
        "Output errors: failed writes, failed Pushgateway pushes.",
    ),
    m(
        "weir_output_batch_duration_seconds",
        Histogram,
        Some(Unit::Seconds),
        COMPONENT,
        "Time an output took to deliver one batch.",
    ),
    m(
        "weir_parse_failures_total",
        Counter,
        None,
        &["pipeline", "component", "format"],
        "Events a parser could not parse (kept and tagged, dropped or dead-lettered per \
         on_error).",
    ),
    m(
        "weir_dead_letter_events_total",
        Counter,
        None,
        &["pipeline"],
        "Events written to the dead-letter queue.",
    ),
    m(
        "weir_dead_letter_write_errors_total",
        Counter,
        None,
        &["pipeline"],
        "Dead-letter queue writes that failed.",
    ),
    m(
        "weir_channel_batches",
        Gauge,
        None,
        &["pipeline", "channel"],
        "Batches waiting in a channel, sampled every second.",
    ),
    m(
        "weir_channel_fill_ratio",
        Gauge,
        None,
        &["pipeline", "channel"],
        "How full a channel is, 0 to 1, sampled every second; near 1 shows where the \
         pipeline is held back.",
    ),
    m(
        "weir_tcp_connections_open",
        Gauge,
        None,
        PIPELINE_COMPONENT,
        "TCP connections a tcp input is serving.",
    ),
    m(
        "weir_tcp_connections_refused_total",
        Counter,
        None,
        PIPELINE_COMPONENT,
        "TCP connections closed at once because the input was at max_connections.",
    ),
    m(
        "weir_s3_objects_total",
        Counter,
        None,
        &["pipeline", "component", "result"],
        "S3 objects an s3 input finished, by result: done (every line acknowledged), skipped \
         (filtered out), missing (deleted before it was read), failed (an attempt that will be \
         retried).",
    ),
    m(
        "weir_s3_bytes_total",
        Counter,
        None,
        PIPELINE_COMPONENT,
        "Bytes of S3 objects an s3 input read to the end, as stored (compressed).",
    ),
    m(
        "weir_s3_objects_in_flight",
        Gauge,
        None,
        PIPELINE_COMPONENT,
        "S3 objects an s3 input is reading or waiting on acknowledgements for.",
    ),
    m(
        "weir_s3_lines_skipped_total",
        Counter,
        None,
        PIPELINE_COMPONENT,
        "Lines an s3 input skipped when resuming an object after a restart (delivered before).",
    ),
    m(
        "weir_s3_sqs_messages_total",
        Counter,
        None,
        &["pipeline", "component", "result"],
        "SQS messages an s3 input handled, by result: deleted (every object delivered), \
         test_event, unparseable, failed (left in the queue to be received again).",
    ),
    m(
        "weir_s3_errors_total",
        Counter,
        None,
        &["pipeline", "component", "kind"],
        "Failed calls of an s3 input, by kind: list, get, read, sqs, checkpoint.",
    ),
    m(
        "weir_cloudwatch_control_messages_total",
        Counter,
        None,
        &[],
        "CloudWatch Logs subscription CONTROL_MESSAGE batches skipped (delivery checks, not logs).",
    ),
    m(
        "weir_kinesis_records_total",
        Counter,
        None,
        PIPELINE_COMPONENT,
        "Kinesis records read by a kinesis input (before KPL de-aggregation and decoding).",
    ),
    m(
        "weir_kinesis_millis_behind_latest",
        Gauge,
        None,
        &["pipeline", "component", "shard"],
        "How far a kinesis input's reader of a shard is behind the shard's newest record, in \
         milliseconds (MillisBehindLatest of the last GetRecords).",
    ),
    m(
        "weir_kinesis_throttled_total",
        Counter,
        None,
        PIPELINE_COMPONENT,
        "Kinesis calls of a kinesis input refused with ProvisionedThroughputExceeded (retried \
         after a back-off).",
    ),
    m(
        "weir_kinesis_leases_held",
        Gauge,
        None,
        PIPELINE_COMPONENT,
        "Shard leases a kinesis input holds in its DynamoDB lease table.",
    ),
    m(
        "weir_prometheus_pushes_total",
        Counter,
        None,
        &["pipeline", "component", "outcome"],
        "Pushes of a prometheus output to its Pushgateway, by outcome (ok, failed).",
    ),
    m(
        SERIES_OVERFLOW_METRIC,
        Counter,
        None,
        &["metric"],
        "Label sets refused because the metric reached its series limit; their events were \
         counted in its __overflow__ series.",
    ),
    m(
        REGISTRATIONS_REJECTED_METRIC,
        Counter,
        None,
        &["reason"],
        "Metric registrations refused (name clashing with another metric, or too many \
         metrics); they record nothing.",
    ),
    m(
        "weir_elasticsearch_documents_total",
        Counter,
        None,
        &["pipeline", "component", "result"],
        "Documents handled by an elasticsearch output, by result: indexed, conflict (a replay \
         of a document already there), retried, dead_lettered.",
    ),
    m(
        "weir_elasticsearch_id_fallbacks_total",
        Counter,
        None,
        PIPELINE_COMPONENT,
        "Events without a source position that got automatic ids despite id: auto_source.",
    ),
    m(
        "weir_elasticsearch_bulk_duration_seconds",
        Histogram,
        Some(Unit::Seconds),
        PIPELINE_COMPONENT,
        "Time of one _bulk request, sent to answered.",
    ),
    m(
        "weir_elasticsearch_requests_in_flight",
        Gauge,
        None,
        PIPELINE_COMPONENT,
        "_bulk requests an elasticsearch output has in flight.",
    ),
    m(
        "weir_elasticsearch_healthy_hosts",
        Gauge,
        None,
        PIPELINE_COMPONENT,
        "Hosts an elasticsearch output currently sends to.",
    ),
    m(
        "weir_s3_output_objects_total",
        Counter,
        None,
        &["pipeline", "component", "result"],
        "Objects an s3 output finished, by result: uploaded, failed (given up after max_retries; \
         their batches were reported as failed).",
    ),
    m(
        "weir_s3_output_bytes_total",
        Counter,
        None,
        PIPELINE_COMPONENT,
        "Bytes an s3 output uploaded, as stored (compressed when gzip).",
    ),
    m(
        "weir_s3_output_upload_duration_seconds",
        Histogram,
        Some(Unit::Seconds),
        PIPELINE_COMPONENT,
        "Time of one S3 request of an s3 output (PutObject, CreateMultipartUpload, UploadPart, \
         CompleteMultipartUpload), sent to answered, failed attempts included.",
    ),
    m(
        "weir_s3_output_retries_total",
        Counter,
        None,
        PIPELINE_COMPONENT,
        "S3 requests of an s3 output that failed and were retried.",
    ),
    m(
        "weir_s3_output_open_objects",
        Gauge,
        None,
        PIPELINE_COMPONENT,
        "Objects an s3 output is writing (one per rendered key_prefix), not yet uploaded.",
    ),
];

/// Gives every internal metric its HELP text (and unit) in `registry`.
pub fn describe_all(registry: &Registry) {
    for metric in INTERNAL_METRICS {
        registry.describe(metric.name, metric.unit, metric.help);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_internal_metric_is_named_and_described_by_the_rules() {
        for metric in INTERNAL_METRICS {
            assert!(is_internal(metric.name), "{}", metric.name);
            assert!(
                crate::telemetry::exposition::is_valid_metric_name(metric.name),
                "{}",
                metric.name
            );
            assert_eq!(
                metric.kind == Counter,
                metric.name.ends_with("_total"),
                "{}: counters, and only counters, end in _total",
                metric.name
            );
            assert!(metric.help.ends_with('.'), "{}", metric.name);
        }
    }

    #[test]
    fn every_weir_metric_in_the_sources_is_in_the_table() {
        // Facade calls are `metrics::counter!("weir_…"`; scan for that shape.
        fn scan(dir: &std::path::Path, found: &mut Vec<(String, String)>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    // The registry's own tests and examples record made-up names.
                    if !path.ends_with("telemetry") {
                        scan(&path, found);
                    }
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    for kind in ["counter!(", "gauge!(", "histogram!("] {
                        for (i, _) in text.match_indices(kind) {
                            let rest = text[i + kind.len()..].trim_start();
                            let Some(rest) = rest.strip_prefix('"') else {
                                continue;
                            };
                            let name: String = rest.chars().take_while(|c| *c != '"').collect();
                            if name.starts_with(INTERNAL_PREFIX) {
                                found.push((name, path.display().to_string()));
                            }
                        }
                    }
                }
            }
        }
        let mut found = Vec::new();
        scan(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut found,
        );
        assert!(!found.is_empty());
        for (name, file) in found {
            assert!(
                INTERNAL_METRICS.iter().any(|m| m.name == name),
                "{file} records `{name}`, which src/telemetry/internal.rs does not describe"
            );
        }
    }

    #[test]
    fn the_readme_documents_every_internal_metric() {
        let readme = include_str!("../../README.md");
        for metric in INTERNAL_METRICS {
            assert!(
                readme.contains(&format!("`{}`", metric.name)),
                "README.md does not document `{}`",
                metric.name
            );
        }
    }
}
