//! Pushing the registry to a Prometheus Pushgateway.
//!
//! The rules (from the Pushgateway's documentation and observed behaviour):
//!
//! - **What is pushed** is the whole registry in the text format 0.0.4 — the
//!   cumulative values since weir started, exactly what a scrape shows, never
//!   deltas, never reset after a push. No timestamps and no `_created` samples
//!   (the gateway rejects the first; the encoder emits neither).
//! - **Where**: `<url>/metrics/job/<job>{/<label>/<value>}`. The gateway keys
//!   a group by those labels, so one key per weir process: the default
//!   grouping is `instance=<host name>`, otherwise two weirs would overwrite
//!   each other's counters and Prometheus would see fake resets. A value with
//!   `/` (or an empty one) goes as `<label>@base64/<URL-safe base64>`; other
//!   values are percent-encoded.
//! - **PUT** (default) replaces the whole group, so a metric that is no longer
//!   in the registry (an expired series) also leaves the gateway. **POST**
//!   replaces only the families in the body.
//! - **Body labels named like a grouping label** would be overwritten by the
//!   gateway, collapsing distinct series into duplicates and getting the whole
//!   push rejected (400): they are exposed as `exported_<name>` instead; const
//!   labels of that name are refused when the config is loaded.
//! - **Failures**: the next push carries the same cumulative values, so a lost
//!   push loses nothing but freshness. After a failure the pusher retries with
//!   exponential backoff (0.5 s, 1 s, 2 s, … capped at `interval`); a 4xx
//!   answer (the body was refused) waits for the next `interval` instead, as
//!   resending the same body cannot help. Failures are logged (the first, then
//!   at 2, 4, 8, … in a row) with the gateway's reason, and counted.
//! - **Shutdown**: once the pipeline has drained, one final push (up to
//!   [`FINAL_ATTEMPTS`] attempts), so a batch job's last counts arrive. If it
//!   fails, the output fails and weir exits non-zero.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{check_credentials, error, loc_of, BasicAuth};
use crate::config::duration::deserialize_duration;
use crate::config::{DeError, Node};
use crate::telemetry::exposition::TEXT_CONTENT_TYPE;
use crate::telemetry::{Encoder, Format, Registry};

/// Attempts of the final push at shutdown.
pub const FINAL_ATTEMPTS: u32 = 3;
/// The first retry delay after a failed push; doubled per failure.
const BACKOFF_START: Duration = Duration::from_millis(500);
/// How much of a refusal's body goes into the log.
const MAX_REASON_BYTES: usize = 512;

/// PUT replaces the whole group; POST only the families it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushMethod {
    #[default]
    Put,
    Post,
}

fn default_job() -> String {
    "weir".to_owned()
}

fn default_interval() -> Duration {
    Duration::from_secs(15)
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// `push:` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPushConfig {
    url: String,
    #[serde(default = "default_job")]
    job: String,
    #[serde(default)]
    grouping: Option<BTreeMap<String, String>>,
    #[serde(
        default = "default_interval",
        deserialize_with = "deserialize_duration"
    )]
    interval: Duration,
    #[serde(default = "default_timeout", deserialize_with = "deserialize_duration")]
    timeout: Duration,
    #[serde(default)]
    method: PushMethod,
    #[serde(default)]
    basic_auth: Option<BasicAuth>,
    #[serde(default)]
    ca_file: Option<std::path::PathBuf>,
}

/// The checked `push:` block.
#[derive(Debug, Clone)]
pub struct PushConfig {
    /// The gateway's base URL (scheme, host, port, optional path prefix), no
    /// trailing `/`.
    pub url: reqwest::Url,
    pub job: String,
    /// Grouping labels besides `job`, in URL order.
    pub grouping: Vec<(String, String)>,
    pub interval: Duration,
    pub timeout: Duration,
    pub method: PushMethod,
    pub basic_auth: Option<BasicAuth>,
    /// PEM certificates trusted for `https` besides the system's and
    /// Mozilla's roots (a private CA). Read when the config is loaded, so a
    /// bad path fails `weir validate`.
    pub ca_pem: Option<Vec<u8>>,
}

impl PushConfig {
    pub(super) fn check(raw: &RawPushConfig, node: &Node) -> Result<Self, DeError> {
        let url_loc = loc_of(node, "url");
        let url = reqwest::Url::parse(&raw.url).map_err(|e| {
            error(
                format!("push.url `{}` is not a URL ({e})", raw.url),
                url_loc,
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(error(
                format!(
                    "push.url `{}` must be http:// or https:// with a host",
                    raw.url
                ),
                url_loc,
            ));
        }
        if url.query().is_some() || url.fragment().is_some() || url.path().contains("/metrics/") {
            return Err(error(
                format!(
                    "push.url `{}` is the Pushgateway's base URL (`http://pushgateway:9091`); \
                     the group path is built from `job` and `grouping`",
                    raw.url
                ),
                url_loc,
            ));
        }
        if raw.job.is_empty() {
            return Err(error(
                "push.job must not be empty (the Pushgateway refuses it)",
                loc_of(node, "job"),
            ));
        }
        let grouping: Vec<(String, String)> = match &raw.grouping {
            Some(g) => g.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            None => vec![("instance".to_owned(), host_name())],
        };
        for (name, _) in &grouping {
            if !is_grouping_label(name) {
                return Err(error(
                    format!(
                        "push.grouping label `{name}` must be a label name (letters, digits, `_`, \
                         not starting with a digit or `__`) other than `job`"
                    ),
                    loc_of(node, "grouping"),
                ));
            }
        }
        if raw.interval < Duration::from_millis(100) {
            return Err(error(
                "push.interval must be at least 100ms",
                loc_of(node, "interval"),
            ));
        }
        if raw.timeout.is_zero() {
            return Err(error(
                "push.timeout must be more than 0",
                loc_of(node, "timeout"),
            ));
        }
        if let Some(auth) = &raw.basic_auth {
            check_credentials(auth, node.get("basic_auth").unwrap_or(node))?;
        }
        let ca_pem = match &raw.ca_file {
            Some(path) => {
                let at = loc_of(node, "ca_file");
                let pem = std::fs::read(path).map_err(|e| {
                    error(
                        format!("push.ca_file: cannot read {}: {e}", path.display()),
                        at,
                    )
                })?;
                match reqwest::Certificate::from_pem_bundle(&pem) {
                    Ok(certs) if !certs.is_empty() => Some(pem),
                    Ok(_) => {
                        return Err(error(
                            format!("push.ca_file: {} holds no PEM certificate", path.display()),
                            at,
                        ))
                    }
                    Err(e) => {
                        return Err(error(format!("push.ca_file: {}: {e}", path.display()), at))
                    }
                }
            }
            None => None,
        };
        Ok(PushConfig {
            url,
            job: raw.job.clone(),
            grouping,
            interval: raw.interval,
            timeout: raw.timeout,
            method: raw.method,
            basic_auth: raw.basic_auth.clone(),
            ca_pem,
        })
    }

    /// The group's URL: `<url>/metrics/job/<job>{/<label>/<value>}`.
    pub fn group_url(&self) -> String {
        let mut out = self.url.as_str().trim_end_matches('/').to_owned();
        out.push_str("/metrics");
        push_segment(&mut out, "job", &self.job);
        for (name, value) in &self.grouping {
            push_segment(&mut out, name, value);
        }
        out
    }
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, not `__…`, not `job` (it has its own option).
fn is_grouping_label(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
        && name != "job"
}

/// Appends `/<name>/<value>`: values with `/`, and empty ones, as
/// `/<name>@base64/<URL-safe base64>` (empty is `=`), others percent-encoded.
fn push_segment(out: &mut String, name: &str, value: &str) {
    out.push('/');
    out.push_str(name);
    if value.is_empty() {
        out.push_str("@base64/=");
    } else if value.contains('/') {
        out.push_str("@base64/");
        out.push_str(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value));
    } else {
        out.push('/');
        for b in value.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(char::from(b));
            } else {
                out.push('%');
                out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
                out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
            }
        }
    }
}

/// This machine's name, the default `instance` grouping label.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "weir".to_owned())
}

/// Why a push failed.
#[derive(Debug)]
enum PushError {
    /// The gateway answered 4xx: the body or the path was refused. Sending the
    /// same again will not help.
    Refused(String),
    /// No answer, a timeout, or 5xx: worth retrying soon.
    Unavailable(String),
}

impl std::fmt::Display for PushError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PushError::Refused(m) | PushError::Unavailable(m) => f.write_str(m),
        }
    }
}

/// The running pusher of one output.
pub(super) struct Pusher {
    client: reqwest::Client,
    group_url: String,
    config: PushConfig,
    encoder: Encoder,
    registry: &'static Registry,
    errors: metrics::Counter,
    pushed: metrics::Counter,
    failed: metrics::Counter,
}

impl Pusher {
    pub(super) fn new(
        config: &PushConfig,
        encoder: Encoder,
        registry: &'static Registry,
        pipeline: &str,
        name: &str,
    ) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .user_agent(concat!("weir/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &config.ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem).context("push.ca_file")? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .context("creating the Pushgateway HTTP client")?;
        let counter = |outcome: &str| {
            metrics::counter!(
                "weir_prometheus_pushes_total",
                "pipeline" => pipeline.to_owned(),
                "component" => name.to_owned(),
                "outcome" => outcome.to_owned(),
            )
        };
        Ok(Pusher {
            client,
            group_url: config.group_url(),
            // Series labels named like a grouping label would be overwritten
            // by the gateway: expose them as `exported_<name>`.
            encoder: encoder.export_labels(
                std::iter::once("job").chain(config.grouping.iter().map(|(n, _)| n.as_str())),
            ),
            config: config.clone(),
            registry,
            errors: metrics::counter!(
                "weir_component_errors_total",
                "pipeline" => pipeline.to_owned(),
                "component" => name.to_owned(),
                "kind" => "output",
            ),
            pushed: counter("ok"),
            failed: counter("failed"),
        })
    }

    /// Pushes now and every `interval` until `stop`, then once more.
    pub(super) async fn run(self, stop: CancellationToken) -> anyhow::Result<()> {
        info!(url = %self.group_url, interval = ?self.config.interval, method = ?self.config.method,
            "pushing metrics to the Pushgateway");
        let mut failures = 0_u32;
        let mut wait = Duration::ZERO;
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
            wait = match self.push_once().await {
                Ok(()) => {
                    if failures > 0 {
                        info!(url = %self.group_url, failures, "push succeeded again");
                    }
                    failures = 0;
                    self.config.interval
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    if failures.is_power_of_two() {
                        warn!(url = %self.group_url, failures, "push failed: {e}");
                    }
                    match e {
                        PushError::Refused(_) => self.config.interval,
                        PushError::Unavailable(_) => backoff(failures, self.config.interval),
                    }
                }
            };
        }
        // Final push: everything the pipeline recorded is in the registry now.
        let mut last = String::new();
        for attempt in 1..=FINAL_ATTEMPTS {
            match self.push_once().await {
                Ok(()) => {
                    info!(url = %self.group_url, "final push done");
                    return Ok(());
                }
                Err(e) => {
                    warn!(url = %self.group_url, attempt, "final push failed: {e}");
                    last = e.to_string();
                    if attempt < FINAL_ATTEMPTS {
                        tokio::time::sleep(backoff(attempt, self.config.interval)).await;
                    }
                }
            }
        }
        anyhow::bail!(
            "the final push to {} failed {FINAL_ATTEMPTS} times; the last counts did not reach \
             the Pushgateway: {last}",
            self.group_url
        )
    }

    async fn push_once(&self) -> Result<(), PushError> {
        let body = self.encoder.render(self.registry, Format::Text);
        let method = match self.config.method {
            PushMethod::Put => reqwest::Method::PUT,
            PushMethod::Post => reqwest::Method::POST,
        };
        let mut request = self
            .client
            .request(method, &self.group_url)
            .header(reqwest::header::CONTENT_TYPE, TEXT_CONTENT_TYPE)
            .body(body);
        if let Some(auth) = &self.config.basic_auth {
            request = request.basic_auth(&auth.username, Some(auth.password.expose()));
        }
        let result = match request.send().await {
            Err(e) => Err(PushError::Unavailable(format!(
                "{}: {}",
                self.group_url,
                error_chain(&e)
            ))),
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => {
                let status = response.status();
                let reason = response.text().await.unwrap_or_default();
                let reason = truncate(reason.trim(), MAX_REASON_BYTES);
                let message = format!("the Pushgateway answered {status}: {reason}");
                if status.is_client_error() {
                    Err(PushError::Refused(message))
                } else {
                    Err(PushError::Unavailable(message))
                }
            }
        };
        match &result {
            Ok(()) => self.pushed.increment(1),
            Err(_) => {
                self.failed.increment(1);
                self.errors.increment(1);
            }
        }
        result
    }
}

/// 0.5 s after the first failure, doubling, never more than `cap`.
fn backoff(failures: u32, cap: Duration) -> Duration {
    let factor = 2_u32.saturating_pow(failures.saturating_sub(1).min(16));
    BACKOFF_START.saturating_mul(factor).min(cap)
}

/// reqwest's errors say "error sending request"; the cause (connection
/// refused, timed out, certificate) is in the source chain.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(job: &str, grouping: &[(&str, &str)]) -> PushConfig {
        PushConfig {
            url: reqwest::Url::parse("http://gw:9091/prefix/").expect("url"),
            job: job.to_owned(),
            grouping: grouping
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            method: PushMethod::Put,
            basic_auth: None,
            ca_pem: None,
        }
    }

    #[test]
    fn group_urls_encode_values_as_the_pushgateway_wants() {
        assert_eq!(
            config("weir", &[("instance", "host-a")]).group_url(),
            "http://gw:9091/prefix/metrics/job/weir/instance/host-a"
        );
        // `/` → base64 (URL-safe, no padding); empty → `=`; the rest percent-encoded.
        assert_eq!(
            config("nightly/export", &[("shard", ""), ("path", "a b?#%é")]).group_url(),
            "http://gw:9091/prefix/metrics/job@base64/bmlnaHRseS9leHBvcnQ/shard@base64/=\
             /path/a%20b%3F%23%25%C3%A9"
        );
        // URL-safe alphabet: `?>` encodes to `Pz4` with `-`/`_` where standard uses `+`/`/`.
        assert_eq!(
            config("a/?>?", &[]).group_url(),
            "http://gw:9091/prefix/metrics/job@base64/YS8_Pj8"
        );
    }

    #[test]
    fn grouping_labels_are_checked() {
        assert!(is_grouping_label("instance"));
        assert!(is_grouping_label("_x1"));
        assert!(!is_grouping_label("job"));
        assert!(!is_grouping_label("__name__"));
        assert!(!is_grouping_label("1a"));
        assert!(!is_grouping_label("a-b"));
        assert!(!is_grouping_label(""));
    }

    #[test]
    fn backoff_doubles_up_to_the_interval() {
        let cap = Duration::from_secs(15);
        assert_eq!(backoff(1, cap), Duration::from_millis(500));
        assert_eq!(backoff(2, cap), Duration::from_secs(1));
        assert_eq!(backoff(4, cap), Duration::from_secs(4));
        assert_eq!(backoff(6, cap), cap);
        assert_eq!(backoff(u32::MAX, cap), cap);
    }
}
