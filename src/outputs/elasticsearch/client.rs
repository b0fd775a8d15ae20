//! The cluster as the output sees it: one `elasticsearch` transport per
//! configured host, round-robin over the healthy ones, failover when one
//! stops answering, and health checks (`GET /`, `GET /_cluster/health`) that
//! bring it back.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use elasticsearch::auth::Credentials;
use elasticsearch::cert::{Certificate, CertificateValidation};
use elasticsearch::http::headers::{HeaderMap, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE};
use elasticsearch::http::transport::{SingleNodeConnectionPool, Transport, TransportBuilder};
use elasticsearch::http::{Method, Url};

use super::config::{Auth, InstallTemplate, Settings};

/// One configured host.
pub struct Host {
    pub url: Url,
    transport: Transport,
    healthy: AtomicBool,
}

impl Host {
    /// The URL without credentials or trailing slash, for logs.
    pub fn name(&self) -> &str {
        self.url.as_str().trim_end_matches('/')
    }

    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }
}

/// One request to a host.
struct Call<'a> {
    method: Method,
    path: &'a str,
    headers: HeaderMap,
    query: &'a [(&'a str, &'a str)],
    body: Option<Bytes>,
    /// Overrides the transport's `request_timeout`.
    timeout: Option<Duration>,
}

impl<'a> Call<'a> {
    fn new(method: Method, path: &'a str) -> Self {
        Call {
            method,
            path,
            headers: HeaderMap::new(),
            query: &[],
            body: None,
            timeout: None,
        }
    }
}

/// What a request got back.
pub struct Reply {
    pub status: u16,
    pub body: Bytes,
}

/// A request that got no HTTP answer (refused, reset, timed out, TLS).
#[derive(Debug)]
pub struct TransportError(pub String);

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a health check found.
#[derive(Debug)]
pub struct Health {
    pub version: String,
    pub distribution: String,
    pub cluster_status: String,
}

/// The result of installing an index template.
#[derive(Debug, PartialEq, Eq)]
pub enum TemplateInstall {
    Installed,
    AlreadyThere,
}

/// Why installing the template failed.
#[derive(Debug)]
pub enum TemplateError {
    /// Worth trying again (no answer, 429, 5xx).
    Transient(String),
    /// The server refused the template: a configuration problem.
    Refused(String),
}

pub struct Cluster {
    hosts: Vec<Host>,
    next: AtomicUsize,
    /// Health checks and other small requests give up sooner than bulks, so
    /// a host that swallows packets cannot stall the checks of the others.
    probe_timeout: Duration,
}

/// The longest a health check waits.
const MAX_PROBE_TIMEOUT: Duration = Duration::from_secs(10);

impl Cluster {
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let mut hosts = Vec::with_capacity(settings.hosts.len());
        for url in &settings.hosts {
            let mut builder = TransportBuilder::new(SingleNodeConnectionPool::new(url.clone()))
                .timeout(settings.request_timeout)
                .enable_meta_header(false);
            builder = match &settings.auth {
                Auth::None => builder,
                Auth::Basic { user, password } => {
                    builder.auth(Credentials::Basic(user.clone(), password.clone()))
                }
                Auth::ApiKey(key) => builder.auth(match key.split_once(':') {
                    Some((id, secret)) => Credentials::ApiKey(id.to_owned(), secret.to_owned()),
                    None => Credentials::EncodedApiKey(key.clone()),
                }),
            };
            if let Some(pem) = &settings.ca_pem {
                let cert = Certificate::from_pem(pem).context("reading tls.ca_file")?;
                builder = builder.cert_validation(CertificateValidation::Full(cert));
            }
            let transport = builder
                .build()
                .with_context(|| format!("setting up the HTTP client for {url}"))?;
            hosts.push(Host {
                url: url.clone(),
                transport,
                // Optimistic: the first request is the first health check.
                healthy: AtomicBool::new(true),
            });
        }
        Ok(Cluster {
            hosts,
            next: AtomicUsize::new(0),
            probe_timeout: settings.request_timeout.min(MAX_PROBE_TIMEOUT),
        })
    }

    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    pub fn healthy_count(&self) -> usize {
        self.hosts.iter().filter(|h| h.is_healthy()).count()
    }

    /// The next host to use: round-robin over the healthy ones, or over all
    /// of them when none is healthy (a request is then its own probe).
    pub fn pick(&self) -> usize {
        let n = self.hosts.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| (start + i) % n)
            .find(|&i| self.hosts[i].is_healthy())
            .unwrap_or(start % n)
    }

    /// Marks a host down after it failed to answer; returns whether another
    /// host is still healthy (then a retry can go there at once).
    pub fn mark_down(&self, host: usize) -> bool {
        if let Some(h) = self.hosts.get(host) {
            h.healthy.store(false, Ordering::Relaxed);
        }
        self.healthy_count() > 0
    }

    pub fn mark_up(&self, host: usize) {
        if let Some(h) = self.hosts.get(host) {
            h.healthy.store(true, Ordering::Relaxed);
        }
    }

    /// `POST /_bulk` to `host` with an NDJSON body, gzip-compressed or not.
    pub async fn bulk(
        &self,
        host: usize,
        body: Bytes,
        gzipped: bool,
        query: &[(&str, &str)],
    ) -> Result<Reply, TransportError> {
        let mut headers = HeaderMap::with_capacity(2);
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        );
        if gzipped {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        let mut call = Call::new(Method::Post, "_bulk");
        call.headers = headers;
        call.query = query;
        call.body = Some(body);
        self.send(host, call).await
    }

    async fn send(&self, host: usize, call: Call<'_>) -> Result<Reply, TransportError> {
        let Some(h) = self.hosts.get(host) else {
            return Err(TransportError(format!("no host #{host}")));
        };
        let query = (!call.query.is_empty()).then_some(call.query);
        let response = h
            .transport
            .send(
                call.method,
                call.path,
                call.headers,
                query,
                call.body,
                call.timeout,
            )
            .await
            .map_err(|e| TransportError(describe(&e)))?;
        let status = response.status_code().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| TransportError(describe(&e)))?;
        Ok(Reply { status, body })
    }

    async fn get(&self, host: usize, path: &str) -> Result<Reply, TransportError> {
        let mut call = Call::new(Method::Get, path);
        call.timeout = Some(self.probe_timeout);
        self.send(host, call).await
    }

    /// `GET /` and `GET /_cluster/health` on one host.
    pub async fn check(&self, host: usize) -> Result<Health, String> {
        let root = self.get(host, "").await.map_err(|e| e.to_string())?;
        if !(200..300).contains(&root.status) {
            return Err(format!(
                "GET / answered {}: {}",
                root.status,
                super::bulk::preview(&root.body)
            ));
        }
        let info: serde_json::Value = serde_json::from_slice(&root.body)
            .map_err(|e| format!("GET / did not answer JSON: {e}"))?;
        let version = info["version"]["number"].as_str().unwrap_or("?").to_owned();
        let distribution = info["version"]["distribution"]
            .as_str()
            .unwrap_or("elasticsearch")
            .to_owned();
        let health = self
            .get(host, "_cluster/health")
            .await
            .map_err(|e| e.to_string())?;
        // 408 is a `wait_for_*` that timed out: the node still answered.
        if !(200..300).contains(&health.status) && health.status != 408 {
            return Err(format!(
                "GET /_cluster/health answered {}: {}",
                health.status,
                super::bulk::preview(&health.body)
            ));
        }
        let health: serde_json::Value = serde_json::from_slice(&health.body)
            .map_err(|e| format!("GET /_cluster/health did not answer JSON: {e}"))?;
        Ok(Health {
            version,
            distribution,
            cluster_status: health["status"].as_str().unwrap_or("unknown").to_owned(),
        })
    }

    /// The smallest `http.max_content_length` the nodes report, if they do
    /// (`GET /_nodes/http`). Bulk bodies must stay below it.
    pub async fn max_content_length(&self) -> Option<u64> {
        let host = self.pick();
        let reply = self.get(host, "_nodes/http").await.ok()?;
        if !(200..300).contains(&reply.status) {
            return None;
        }
        let nodes: serde_json::Value = serde_json::from_slice(&reply.body).ok()?;
        nodes["nodes"]
            .as_object()?
            .values()
            .filter_map(|n| n["http"]["max_content_length_in_bytes"].as_u64())
            .min()
    }

    /// Installs a composable index template unless one of that name exists
    /// (or `overwrite` is set).
    pub async fn install_template(
        &self,
        template: &InstallTemplate,
    ) -> Result<TemplateInstall, TemplateError> {
        let host = self.pick();
        let path = format!("_index_template/{}", template.name);
        if !template.overwrite {
            let head = self
                .send(host, Call::new(Method::Head, &path))
                .await
                .map_err(|e| TemplateError::Transient(e.to_string()))?;
            match head.status {
                200..=299 => return Ok(TemplateInstall::AlreadyThere),
                404 => {}
                s => return Err(classify_template_failure(s, &head.body, "HEAD", &path)),
            }
        }
        let mut put = Call::new(Method::Put, &path);
        put.headers
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        put.body = Some(template.body.clone());
        let put = self
            .send(host, put)
            .await
            .map_err(|e| TemplateError::Transient(e.to_string()))?;
        match put.status {
            200..=299 => Ok(TemplateInstall::Installed),
            s => Err(classify_template_failure(s, &put.body, "PUT", &path)),
        }
    }
}

fn classify_template_failure(status: u16, body: &[u8], method: &str, path: &str) -> TemplateError {
    let message = format!(
        "{method} /{path} answered {status}: {}",
        super::bulk::preview(body)
    );
    if super::bulk::is_transient(status) {
        TemplateError::Transient(message)
    } else {
        TemplateError::Refused(message)
    }
}

/// An error with its causes: reqwest's own message ("error sending request")
/// hides the useful part ("connection refused").
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Checks the hosts marked down every `interval` and brings back those that
/// answer. Runs until aborted.
pub async fn health_loop(
    cluster: std::sync::Arc<Cluster>,
    interval: Duration,
    component: std::sync::Arc<str>,
    healthy_gauge: metrics::Gauge,
) {
    let mut last_logged: Vec<Option<Instant>> = vec![None; cluster.hosts().len()];
    loop {
        tokio::time::sleep(interval).await;
        for (i, host) in cluster.hosts().iter().enumerate() {
            if host.is_healthy() {
                continue;
            }
            match cluster.check(i).await {
                Ok(health) => {
                    cluster.mark_up(i);
                    tracing::info!(output = %component, host = host.name(),
                        version = %health.version, cluster_status = %health.cluster_status,
                        "Elasticsearch host is back");
                }
                Err(e) => {
                    let due = last_logged[i]
                        .is_none_or(|t| t.elapsed() >= super::telemetry::LOG_INTERVAL);
                    if due {
                        last_logged[i] = Some(Instant::now());
                        tracing::warn!(output = %component, host = host.name(), error = %e,
                            "Elasticsearch host still down");
                    }
                }
            }
        }
        healthy_gauge.set(cluster.healthy_count() as f64);
    }
}
