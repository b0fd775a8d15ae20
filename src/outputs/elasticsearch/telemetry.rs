//! The output's own metrics and its rate-limited error log.

use super::bulk::ItemOutcome;

pub use crate::outputs::log_limit::{LogLimiter, LOG_INTERVAL};

/// `weir_elasticsearch_*` metrics of one output.
#[derive(Clone)]
pub struct EsMetrics {
    pub indexed: metrics::Counter,
    pub conflict: metrics::Counter,
    pub retried: metrics::Counter,
    pub dead_lettered: metrics::Counter,
    pub id_fallbacks: metrics::Counter,
    pub bulk_seconds: metrics::Histogram,
    pub in_flight: metrics::Gauge,
    pub healthy_hosts: metrics::Gauge,
}

impl EsMetrics {
    pub fn new(pipeline: &str, component: &str) -> Self {
        let docs = |result: &'static str| {
            metrics::counter!(
                "weir_elasticsearch_documents_total",
                "pipeline" => pipeline.to_owned(),
                "component" => component.to_owned(),
                "result" => result,
            )
        };
        let labels = crate::telemetry::component_labels(pipeline, component);
        EsMetrics {
            indexed: docs("indexed"),
            conflict: docs("conflict"),
            retried: docs("retried"),
            dead_lettered: docs("dead_lettered"),
            id_fallbacks: metrics::counter!("weir_elasticsearch_id_fallbacks_total", &labels),
            bulk_seconds: metrics::histogram!("weir_elasticsearch_bulk_duration_seconds", &labels),
            in_flight: metrics::gauge!("weir_elasticsearch_requests_in_flight", &labels),
            healthy_hosts: metrics::gauge!("weir_elasticsearch_healthy_hosts", &labels),
        }
    }

    /// Counts a delivered item.
    pub fn delivered(&self, outcome: &ItemOutcome) {
        match outcome {
            ItemOutcome::Conflict => self.conflict.increment(1),
            _ => self.indexed.increment(1),
        }
    }
}
