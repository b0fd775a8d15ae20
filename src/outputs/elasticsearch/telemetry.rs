//! The output's own metrics and its rate-limited error log.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::bulk::ItemOutcome;

/// How often one kind of error may be logged.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

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
        let labels = [
            ("pipeline", pipeline.to_owned()),
            ("component", component.to_owned()),
        ];
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

/// Lets each kind of message through at most once per [`LOG_INTERVAL`] and
/// counts what it held back, so a storm of identical errors makes one line
/// every ten seconds with a tally instead of flooding the log.
#[derive(Default)]
pub struct LogLimiter {
    last: Mutex<HashMap<String, (Instant, u64)>>,
}

impl LogLimiter {
    /// `Some(suppressed since the last line)` when `kind` may be logged now.
    pub fn allow(&self, kind: &str) -> Option<u64> {
        self.allow_at(kind, Instant::now())
    }

    fn allow_at(&self, kind: &str, now: Instant) -> Option<u64> {
        let mut last = match self.last.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        match last.get_mut(kind) {
            Some((at, suppressed)) => {
                if now.duration_since(*at) >= LOG_INTERVAL {
                    let n = *suppressed;
                    *at = now;
                    *suppressed = 0;
                    Some(n)
                } else {
                    *suppressed += 1;
                    None
                }
            }
            None => {
                last.insert(kind.to_owned(), (now, 0));
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_kind_per_interval() {
        let l = LogLimiter::default();
        let t0 = Instant::now();
        assert_eq!(l.allow_at("429", t0), Some(0));
        assert_eq!(l.allow_at("429", t0 + Duration::from_secs(1)), None);
        assert_eq!(l.allow_at("429", t0 + Duration::from_secs(2)), None);
        assert_eq!(l.allow_at("mapping", t0 + Duration::from_secs(2)), Some(0));
        assert_eq!(l.allow_at("429", t0 + Duration::from_secs(11)), Some(2));
        assert_eq!(l.allow_at("429", t0 + Duration::from_secs(12)), None);
    }
}
