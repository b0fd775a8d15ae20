//! `prometheus`: exposes weir's metrics registry to Prometheus — served for
//! scraping on `listen` (text format 0.0.4, or OpenMetrics when the scraper
//! asks for it), pushed to a Pushgateway (`push:`), or both.
//!
//! # What it exposes
//!
//! The process-wide registry ([`crate::telemetry::global`]): the metrics that
//! filters derive from events (metric filters, error-code counts) and, unless
//! `include_internal: false`, weir's own `weir_…` metrics — the same registry
//! the API's `/metrics` serves. Every `prometheus` output of every pipeline
//! exposes all of it; outputs differ only in address, namespace, const labels
//! and whether they push.
//!
//! # Its events
//!
//! As a pipeline output it also receives the pipeline's events. It has nothing
//! to write for them — the metrics were already recorded by the filters before
//! the events reached any output — so it acknowledges each batch as soon as it
//! arrives and counts the events in `weir_component_sent_events_total` (bytes:
//! 0), like any output that delivered them. That keeps the usual accounting
//! (`received = sent + discarded` per output) true, and shows in the metrics
//! that the output is being fed. A `when:` on the output therefore only
//! changes that count, never what is exposed.
//!
//! # Lifecycle
//!
//! The listener is bound when the pipeline starts (a port in use fails the
//! pipeline at once, with the address in the error) and closed when the
//! pipeline has drained. A pusher pushes at start, every `interval` after that,
//! sooner (with backoff) after a failure, and once more when the pipeline has
//! drained, so a batch job's final counts reach the gateway; see [`push`].
//!
//! The registry's own rules apply unchanged: counters never reset while weir
//! runs, a series only disappears when its metric has an `expire_after`, and
//! every metric's label sets are capped (`max_series`) with an overflow
//! series. The `metrics:` option sets those per metric.

mod push;
mod scrape;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::{Claim, OutputConfig, OutputContext, OutputTask};
use crate::config::duration::deserialize_opt_duration;
use crate::config::{from_node, DeError, Loc, Node};
use crate::telemetry::exposition::{sanitize_label_name, sanitize_metric_name};
use crate::telemetry::{Encoder, MetricOptions, Registry};

pub use push::{PushConfig, PushMethod};

/// Where Prometheus scrapes by default: the port Vector's exporter uses too.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:9598";
/// The scrape path by default.
pub const DEFAULT_PATH: &str = "/metrics";

/// A password that never shows in `Debug` output (configs are logged and
/// printed in error messages).
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

/// HTTP basic auth credentials: required from scrapers on `listen`, or sent
/// to the Pushgateway.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    pub password: Secret,
}

/// Per-metric settings of the shared registry.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MetricSettings {
    /// Label sets kept before new ones are folded into the overflow series.
    #[serde(default)]
    pub max_series: Option<usize>,
    /// Hide a series that received nothing for this long (off by default).
    #[serde(default, deserialize_with = "deserialize_opt_duration")]
    pub expire_after: Option<Duration>,
    /// Histogram bucket upper bounds.
    #[serde(default)]
    pub buckets: Option<Vec<f64>>,
}

/// The options as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    listen: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    basic_auth: Option<BasicAuth>,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    const_labels: BTreeMap<String, String>,
    #[serde(default = "default_true")]
    include_internal: bool,
    #[serde(default)]
    metrics: BTreeMap<String, MetricSettings>,
    #[serde(default)]
    push: Option<push::RawPushConfig>,
}

fn default_true() -> bool {
    true
}

/// The checked configuration of a `prometheus` output.
#[derive(Debug, Clone)]
pub struct PrometheusConfig {
    /// Where scrapers connect; `None` when the output only pushes.
    pub listen: Option<SocketAddr>,
    pub path: String,
    pub basic_auth: Option<BasicAuth>,
    pub namespace: String,
    pub const_labels: BTreeMap<String, String>,
    pub include_internal: bool,
    pub metrics: BTreeMap<String, MetricSettings>,
    pub push: Option<PushConfig>,
}

fn error(message: impl Into<String>, loc: Option<Loc>) -> DeError {
    DeError {
        message: message.into(),
        loc,
    }
}

/// The position of `key` within `node`, or of `node` itself.
fn loc_of(node: &Node, key: &str) -> Option<Loc> {
    Some(node.get(key).map_or(node.loc, |n| n.loc))
}

impl PrometheusConfig {
    /// Reads and checks the output's options (everything but `type`, `when`,
    /// `when_full` and `buffer_batches`).
    pub fn from_options(options: &Node) -> Result<Self, DeError> {
        let raw: RawConfig = from_node(options)?;
        let listen = match (&raw.listen, &raw.push) {
            (Some(text), _) => Some(text.parse::<SocketAddr>().map_err(|e| {
                error(
                    format!("listen `{text}` is not `ip:port` ({e})"),
                    loc_of(options, "listen"),
                )
            })?),
            // Scraping is the default; with `push:` it is only on when asked for.
            (None, None) => Some(
                DEFAULT_LISTEN
                    .parse()
                    .map_err(|e| error(format!("default listen address: {e}"), None))?,
            ),
            (None, Some(_)) => None,
        };
        let path = raw.path.clone().unwrap_or_else(|| DEFAULT_PATH.to_owned());
        let path_ok = path.starts_with('/')
            && path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/-._~".contains(&b));
        if !path_ok {
            return Err(error(
                format!(
                    "path `{path}` must start with `/` and use only letters, digits and `/-._~`"
                ),
                loc_of(options, "path"),
            ));
        }
        if listen.is_none() && (raw.path.is_some() || raw.basic_auth.is_some()) {
            let key = if raw.path.is_some() {
                "path"
            } else {
                "basic_auth"
            };
            return Err(error(
                "`path` and `basic_auth` are for scraping, and this output only pushes: \
                 add `listen` to serve scrapes too, or set credentials for the \
                 Pushgateway under `push: { basic_auth: … }`",
                loc_of(options, key),
            ));
        }
        if let Some(auth) = &raw.basic_auth {
            check_credentials(auth, options.get("basic_auth").unwrap_or(options))?;
        }
        for (name, value) in &raw.const_labels {
            let sanitized = sanitize_label_name(name);
            if sanitized != *name {
                return Err(error(
                    format!(
                        "const label `{name}` is not a usable label name (letters, digits, `_`; \
                         not starting with a digit or `__`; not le, quantile, job or instance): \
                         use `{sanitized}`"
                    ),
                    loc_of(options, "const_labels"),
                ));
            }
            if value.is_empty() {
                return Err(error(
                    format!("const label `{name}` is empty; an empty label means no label"),
                    loc_of(options, "const_labels"),
                ));
            }
        }
        for (name, settings) in &raw.metrics {
            let at = options
                .get("metrics")
                .and_then(|m| m.get(name))
                .map(|n| n.loc);
            if settings.max_series == Some(0) {
                return Err(error(
                    format!("metrics.{name}: max_series must be at least 1"),
                    at,
                ));
            }
            if let Some(bad) = settings
                .buckets
                .iter()
                .flatten()
                .find(|b| b.is_nan() || **b == f64::NEG_INFINITY)
            {
                return Err(error(
                    format!("metrics.{name}: bucket bound {bad} cannot be an upper bound"),
                    at,
                ));
            }
        }
        let push = match &raw.push {
            Some(p) => {
                let node = options.get("push").unwrap_or(options);
                let push = PushConfig::check(p, node)?;
                for name in raw.const_labels.keys() {
                    if push.grouping.iter().any(|(g, _)| g == name) {
                        return Err(error(
                            format!(
                                "const label `{name}` is also a grouping label of `push`: the \
                                 Pushgateway would overwrite it; keep it in `grouping` only"
                            ),
                            loc_of(options, "const_labels"),
                        ));
                    }
                }
                Some(push)
            }
            None => None,
        };
        Ok(PrometheusConfig {
            listen,
            path,
            basic_auth: raw.basic_auth,
            namespace: raw.namespace,
            const_labels: raw.const_labels,
            include_internal: raw.include_internal,
            metrics: raw.metrics,
            push,
        })
    }

    /// The encoder every scrape and push of this output uses.
    fn encoder(&self) -> Encoder {
        let mut encoder = Encoder::new()
            .namespace(&self.namespace)
            .include_internal(self.include_internal);
        for (name, value) in &self.const_labels {
            encoder = encoder.const_label(name, value);
        }
        encoder
    }

    /// Applies the `metrics:` settings to `registry`.
    fn configure(&self, registry: &Registry) -> anyhow::Result<()> {
        for (name, settings) in &self.metrics {
            registry
                .configure(
                    name,
                    MetricOptions {
                        max_series: settings.max_series,
                        // Zero turns expiry off in the registry; here "not
                        // set" already means off, so zero is the same.
                        expire_after: settings.expire_after,
                        buckets: settings.buckets.clone(),
                    },
                )
                .with_context(|| format!("metrics.{name}"))?;
        }
        Ok(())
    }
}

/// Usernames cannot hold `:` in basic auth (RFC 7617): the first `:` ends them.
pub(crate) fn check_credentials(auth: &BasicAuth, node: &Node) -> Result<(), DeError> {
    if auth.username.is_empty() || auth.username.contains(':') {
        return Err(error(
            "basic_auth.username must be non-empty and without `:`",
            loc_of(node, "username"),
        ));
    }
    Ok(())
}

/// The registry's options key of a metric name: sanitised, without `_total`
/// (so `x` and `x_total` are one counter).
fn metric_key(name: &str) -> String {
    let sanitized = sanitize_metric_name(name);
    match sanitized.strip_suffix("_total") {
        Some(stem) if !stem.is_empty() => stem.to_owned(),
        _ => sanitized,
    }
}

impl OutputConfig for PrometheusConfig {
    fn claims(&self) -> Vec<Claim> {
        let mut claims = Vec::new();
        if let Some(listen) = self.listen {
            claims.push(Claim::Listen(listen));
        }
        if let Some(push) = &self.push {
            claims.push(Claim::Exclusive(format!(
                "the Pushgateway group {}",
                push.group_url()
            )));
        }
        // The registry is shared: two outputs setting one metric differently
        // would silently depend on which started last.
        for (name, settings) in &self.metrics {
            let key = metric_key(name);
            if let Some(max) = settings.max_series {
                claims.push(Claim::Setting {
                    key: format!("`metrics.{key}.max_series`"),
                    value: max.to_string(),
                });
            }
            if let Some(expire) = settings.expire_after {
                claims.push(Claim::Setting {
                    key: format!("`metrics.{key}.expire_after`"),
                    value: format!("{expire:?}"),
                });
            }
            if let Some(buckets) = &settings.buckets {
                claims.push(Claim::Setting {
                    key: format!("`metrics.{key}.buckets`"),
                    value: format!("{buckets:?}"),
                });
            }
        }
        claims
    }

    fn build(&self, cx: OutputContext) -> anyhow::Result<OutputTask> {
        let registry: &'static Registry = crate::telemetry::global();
        self.configure(registry)
            .with_context(|| format!("output `{}`", cx.name))?;
        let encoder = self.encoder();
        let server = match self.listen {
            Some(address) => Some(
                scrape::Server::bind(
                    address,
                    &self.path,
                    self.basic_auth.as_ref(),
                    encoder.clone(),
                    registry,
                )
                .with_context(|| format!("output `{}`", cx.name))?,
            ),
            None => None,
        };
        let pusher = match &self.push {
            Some(config) => Some(
                push::Pusher::new(config, encoder, registry, &cx.pipeline, &cx.name)
                    .with_context(|| format!("output `{}`", cx.name))?,
            ),
            None => None,
        };
        Ok(Box::pin(run(cx, server, pusher)))
    }
}

async fn run(
    cx: OutputContext,
    server: Option<scrape::Server>,
    pusher: Option<push::Pusher>,
) -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    let server = server.map(|s| {
        info!(output = %cx.name, address = %s.address(), path = %s.path(), "serving metrics for scraping");
        tokio::spawn(s.serve(stop.clone()))
    });
    let pusher = pusher.map(|p| tokio::spawn(p.run(stop.clone())));
    while let Ok(batch) = cx.input.recv().await {
        // Nothing to write: the filters already recorded what these events
        // mean. Dropping the batch acknowledges it.
        cx.metrics.delivered(batch.len(), 0, Instant::now());
    }
    // The pipeline has drained: its filters have recorded everything they will.
    stop.cancel();
    if let Some(server) = server {
        let _ = server.await;
    }
    match pusher {
        Some(task) => match task.await {
            Ok(result) => result.with_context(|| format!("output `{}`", cx.name)),
            Err(e) => Err(anyhow::anyhow!(
                "output `{}`: the pusher failed: {e}",
                cx.name
            )),
        },
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
