//! The `elasticsearch` output's options: what a pipeline file may say, the
//! defaults, and the checks that run before anything starts (URLs, mutually
//! exclusive options, files that must exist), each error pointing at the
//! offending line and column.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use elasticsearch::http::Url;
use serde::de::{self, Deserializer};
use serde::Deserialize;

use crate::config::{from_node, DeError, Node};
use crate::event::{Path, Template};

/// The index when neither `index` nor `data_stream` is set.
pub const DEFAULT_INDEX: &str = "weir-%Y.%m.%d";
pub const DEFAULT_HOST: &str = "http://localhost:9200";
pub const DEFAULT_BATCH_MAX_EVENTS: usize = 10_000;
pub const DEFAULT_BATCH_MAX_BYTES: u64 = 10 * 1024 * 1024;
pub const DEFAULT_BATCH_TIMEOUT: Duration = Duration::from_secs(1);
pub const DEFAULT_RETRY_INITIAL_BACKOFF: Duration = Duration::from_millis(100);
pub const DEFAULT_RETRY_MAX_BACKOFF: Duration = Duration::from_secs(30);
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_HEALTH_CHECK_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_COMPRESSION_LEVEL: u32 = 1;
/// Elasticsearch rejects `http.max_content_length` above 2^31 - 1 bytes, so a
/// bulk body can never be larger.
pub const MAX_BODY_BYTES: u64 = (1 << 31) - 1;

/// The options as written in the pipeline file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElasticsearchConfig {
    #[serde(default = "default_hosts")]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// `id:key` or the base64 `encoded` form Kibana shows.
    #[serde(default)]
    pub api_key: Option<String>,
    #[serde(default)]
    pub tls: TlsConfig,
    #[serde(default)]
    pub index: Option<Template>,
    #[serde(default)]
    pub action: Option<Action>,
    #[serde(default)]
    pub data_stream: Option<DataStreamConfig>,
    /// Ingest pipeline run on every document.
    #[serde(default)]
    pub pipeline: Option<String>,
    #[serde(default)]
    pub id: Option<IdConfig>,
    #[serde(default = "default_batch_max_events")]
    pub batch_max_events: usize,
    #[serde(default = "default_batch_max_bytes")]
    pub batch_max_bytes: ByteSize,
    #[serde(default = "default_batch_timeout")]
    pub batch_timeout: ConfigDuration,
    #[serde(default)]
    pub compression: Compression,
    #[serde(default = "default_compression_level")]
    pub compression_level: u32,
    /// Bulk requests in flight at once; default two per core.
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// Retries of one document before it is dead-lettered; unset: forever.
    #[serde(default)]
    pub max_retries: Option<u32>,
    #[serde(default = "default_retry_initial_backoff")]
    pub retry_initial_backoff: ConfigDuration,
    #[serde(default = "default_retry_max_backoff")]
    pub retry_max_backoff: ConfigDuration,
    #[serde(default = "default_request_timeout")]
    pub request_timeout: ConfigDuration,
    #[serde(default = "default_health_check_interval")]
    pub health_check_interval: ConfigDuration,
    #[serde(default)]
    pub dead_letter: DeadLetterConfig,
    #[serde(default)]
    pub template: Option<IndexTemplateConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the certificate authorities to trust (besides the
    /// built-in roots).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Add or replace.
    Index,
    /// Add only: an existing `_id` is a 409 conflict, which counts as
    /// delivered (a replay).
    Create,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Index => "index",
            Action::Create => "create",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataStreamConfig {
    #[serde(rename = "type", default = "default_ds_type")]
    pub kind: String,
    #[serde(default = "default_ds_dataset")]
    pub dataset: String,
    #[serde(default = "default_ds_namespace")]
    pub namespace: String,
}

impl DataStreamConfig {
    /// The data stream's name: `type-dataset-namespace`.
    pub fn name(&self) -> String {
        format!("{}-{}-{}", self.kind, self.dataset, self.namespace)
    }
}

/// Where a document's `_id` comes from.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdConfig {
    /// A 128-bit hash of the event's source (`origin`) and position in it:
    /// the same record read again gets the same `_id`.
    AutoSource,
    /// The value of a field.
    Field(Path),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    #[default]
    Gzip,
    None,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterConfig {
    /// Default: `<data_dir>/dead_letter/<pipeline>-<output>.ndjson`.
    #[serde(default)]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexTemplateConfig {
    pub name: String,
    pub file: PathBuf,
    /// Replace a template of that name that already exists.
    #[serde(default)]
    pub overwrite: bool,
}

/// A duration written as `500ms`, `1s`, `2m`, `1h` or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigDuration(pub Duration);

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = ConfigDuration;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a duration such as `500ms`, `1s`, `2m` or a number of seconds")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(ConfigDuration(Duration::from_secs(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u64::try_from(v)
                    .map(|v| ConfigDuration(Duration::from_secs(v)))
                    .map_err(|_| E::custom("a duration cannot be negative"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Duration::try_from_secs_f64(v)
                    .map(ConfigDuration)
                    .map_err(|_| E::custom(format!("`{v}` is not a valid duration")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                parse_duration(v).map(ConfigDuration).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

pub use crate::config::duration::parse_duration;

pub use crate::config::size::{parse_size, ByteSize};

fn default_hosts() -> Vec<String> {
    vec![DEFAULT_HOST.to_owned()]
}
fn default_batch_max_events() -> usize {
    DEFAULT_BATCH_MAX_EVENTS
}
fn default_batch_max_bytes() -> ByteSize {
    ByteSize(DEFAULT_BATCH_MAX_BYTES)
}
fn default_batch_timeout() -> ConfigDuration {
    ConfigDuration(DEFAULT_BATCH_TIMEOUT)
}
fn default_compression_level() -> u32 {
    DEFAULT_COMPRESSION_LEVEL
}
fn default_retry_initial_backoff() -> ConfigDuration {
    ConfigDuration(DEFAULT_RETRY_INITIAL_BACKOFF)
}
fn default_retry_max_backoff() -> ConfigDuration {
    ConfigDuration(DEFAULT_RETRY_MAX_BACKOFF)
}
fn default_request_timeout() -> ConfigDuration {
    ConfigDuration(DEFAULT_REQUEST_TIMEOUT)
}
fn default_health_check_interval() -> ConfigDuration {
    ConfigDuration(DEFAULT_HEALTH_CHECK_INTERVAL)
}
fn default_ds_type() -> String {
    "logs".to_owned()
}
fn default_ds_dataset() -> String {
    "generic".to_owned()
}
fn default_ds_namespace() -> String {
    "default".to_owned()
}

/// Everything the output needs at run time, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub hosts: Vec<Url>,
    pub auth: Auth,
    /// PEM bytes of `tls.ca_file`, read when the pipeline is loaded.
    pub ca_pem: Option<Bytes>,
    pub target: Target,
    pub action: Action,
    pub pipeline: Option<String>,
    pub id: Option<IdConfig>,
    pub batch_max_events: usize,
    pub batch_max_bytes: usize,
    pub batch_timeout: Duration,
    pub compression: Option<u32>,
    pub concurrency: usize,
    pub max_retries: Option<u32>,
    pub retry_initial_backoff: Duration,
    pub retry_max_backoff: Duration,
    pub request_timeout: Duration,
    pub health_check_interval: Duration,
    pub dead_letter_path: Option<PathBuf>,
    pub template: Option<InstallTemplate>,
}

#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    Basic { user: String, password: String },
    ApiKey(String),
}

/// Never prints secrets (the settings are `Debug` for diagnostics).
impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Basic { user, .. } => write!(f, "Basic {{ user: {user:?}, password: \"***\" }}"),
            Auth::ApiKey(_) => f.write_str("ApiKey(\"***\")"),
        }
    }
}

/// Where documents go.
#[derive(Debug, Clone)]
pub enum Target {
    Index(Template),
    DataStream(DataStreamConfig),
}

/// An index template to install at start.
#[derive(Debug, Clone)]
pub struct InstallTemplate {
    pub name: String,
    pub file: PathBuf,
    pub overwrite: bool,
    /// The file's JSON, read and checked when the pipeline is loaded.
    pub body: Bytes,
}

fn err_at(node: &Node, key_path: &[&str], message: impl Into<String>) -> DeError {
    let mut at = node;
    for key in key_path {
        match at.get(key) {
            Some(n) => at = n,
            None => break,
        }
    }
    DeError {
        message: message.into(),
        loc: Some(at.loc),
    }
}

/// Reads and checks the options (`type` and the common output keys removed).
pub fn load(node: &Node) -> Result<Settings, DeError> {
    let raw: ElasticsearchConfig = from_node(node)?;
    raw.check(node)
}

impl ElasticsearchConfig {
    /// Turns the raw options into [`Settings`]; `node` locates errors.
    pub fn check(self, node: &Node) -> Result<Settings, DeError> {
        if self.hosts.is_empty() {
            return Err(err_at(node, &["hosts"], "`hosts` needs at least one URL"));
        }
        let mut hosts = Vec::with_capacity(self.hosts.len());
        for (i, h) in self.hosts.iter().enumerate() {
            let at = |m: String| {
                let loc = match node.get("hosts").map(|n| &n.kind) {
                    Some(crate::config::NodeKind::Seq(items)) => items.get(i).map(|n| n.loc),
                    _ => None,
                };
                DeError {
                    message: m,
                    loc: loc.or_else(|| node.get("hosts").map(|n| n.loc)),
                }
            };
            let mut url = Url::parse(h.trim()).map_err(|e| {
                at(format!(
                    "host `{h}` is not a URL ({e}); write e.g. `http://localhost:9200`"
                ))
            })?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(at(format!(
                    "host `{h}`: the scheme must be http or https, not `{}`",
                    url.scheme()
                )));
            }
            if url.host_str().is_none_or(str::is_empty) {
                return Err(at(format!("host `{h}` has no host name")));
            }
            if !url.username().is_empty() || url.password().is_some() {
                return Err(at(format!(
                    "host `{h}`: put credentials in `user`/`password` or `api_key`, not in the URL"
                )));
            }
            if url.query().is_some() || url.fragment().is_some() {
                return Err(at(format!("host `{h}` must not have a query or fragment")));
            }
            // A path prefix (a proxy at /es) must end with `/` for joins.
            if !url.path().ends_with('/') {
                let path = format!("{}/", url.path());
                url.set_path(&path);
            }
            hosts.push(url);
        }

        let auth = match (&self.user, &self.password, &self.api_key) {
            (None, None, None) => Auth::None,
            (Some(u), Some(p), None) => Auth::Basic {
                user: u.clone(),
                password: p.clone(),
            },
            (Some(_), None, None) => {
                return Err(err_at(node, &["user"], "`user` needs a `password`"));
            }
            (None, Some(_), None) => {
                return Err(err_at(node, &["password"], "`password` needs a `user`"));
            }
            (_, _, Some(key)) => {
                if self.user.is_some() || self.password.is_some() {
                    return Err(err_at(
                        node,
                        &["api_key"],
                        "`api_key` and `user`/`password` are mutually exclusive",
                    ));
                }
                let key = key.trim();
                if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(err_at(
                        node,
                        &["api_key"],
                        "`api_key` must be `id:key` or the base64 encoded key, without spaces",
                    ));
                }
                Auth::ApiKey(key.to_owned())
            }
        };

        let ca_pem = match &self.tls.ca_file {
            None => None,
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| {
                    err_at(
                        node,
                        &["tls", "ca_file"],
                        format!("tls.ca_file `{}`: {e}", path.display()),
                    )
                })?;
                elasticsearch::cert::Certificate::from_pem(&pem).map_err(|e| {
                    err_at(
                        node,
                        &["tls", "ca_file"],
                        format!(
                            "tls.ca_file `{}` is not a PEM certificate: {e}",
                            path.display()
                        ),
                    )
                })?;
                Some(Bytes::from(pem))
            }
        };

        let (target, action) = match (&self.data_stream, self.index) {
            (Some(_), Some(_)) => {
                return Err(err_at(
                    node,
                    &["data_stream"],
                    "`data_stream` and `index` are mutually exclusive: a data stream's name is `type-dataset-namespace`",
                ));
            }
            (Some(ds), None) => {
                if self.action == Some(Action::Index) {
                    return Err(err_at(
                        node,
                        &["action"],
                        "data streams only accept `action: create`",
                    ));
                }
                for (key, value, hyphen_ok) in [
                    ("type", &ds.kind, false),
                    ("dataset", &ds.dataset, false),
                    ("namespace", &ds.namespace, false),
                ] {
                    check_ds_part(value, hyphen_ok).map_err(|m| {
                        err_at(
                            node,
                            &["data_stream", key],
                            format!("data_stream.{key}: {m}"),
                        )
                    })?;
                }
                (Target::DataStream(ds.clone()), Action::Create)
            }
            (None, index) => {
                let index = match index {
                    Some(t) => t,
                    None => {
                        Template::parse(DEFAULT_INDEX, true).map_err(|m| err_at(node, &[], m))?
                    }
                };
                if index.as_str().trim().is_empty() {
                    return Err(err_at(node, &["index"], "`index` must not be empty"));
                }
                (Target::Index(index), self.action.unwrap_or(Action::Index))
            }
        };

        if let Some(p) = &self.pipeline {
            if p.trim().is_empty() {
                return Err(err_at(node, &["pipeline"], "`pipeline` must not be empty"));
            }
        }
        if self.batch_max_events == 0 {
            return Err(err_at(
                node,
                &["batch_max_events"],
                "batch_max_events must be at least 1",
            ));
        }
        let max_bytes = self.batch_max_bytes.0;
        if !(1024..=MAX_BODY_BYTES).contains(&max_bytes) {
            return Err(err_at(
                node,
                &["batch_max_bytes"],
                format!("batch_max_bytes must be between 1KiB and {MAX_BODY_BYTES} bytes (the largest http.max_content_length Elasticsearch accepts)"),
            ));
        }
        if self.batch_timeout.0.is_zero() {
            return Err(err_at(
                node,
                &["batch_timeout"],
                "batch_timeout must be above 0",
            ));
        }
        if !(1..=9).contains(&self.compression_level) {
            return Err(err_at(
                node,
                &["compression_level"],
                "compression_level is 1 (fastest) to 9 (smallest)",
            ));
        }
        let concurrency = match self.concurrency {
            Some(0) => {
                return Err(err_at(
                    node,
                    &["concurrency"],
                    "concurrency must be at least 1",
                ));
            }
            Some(n) => n,
            None => 2 * std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        if self.retry_initial_backoff.0.is_zero()
            || self.retry_max_backoff.0 < self.retry_initial_backoff.0
        {
            return Err(err_at(
                node,
                &["retry_max_backoff"],
                "retry_initial_backoff must be above 0 and at most retry_max_backoff",
            ));
        }
        if self.request_timeout.0.is_zero() || self.health_check_interval.0.is_zero() {
            return Err(err_at(
                node,
                &["request_timeout"],
                "request_timeout and health_check_interval must be above 0",
            ));
        }

        let template = match self.template {
            None => None,
            Some(t) => {
                if t.name.trim().is_empty() || t.name.contains(['/', '?', '#', ' ']) {
                    return Err(err_at(
                        node,
                        &["template", "name"],
                        format!("template.name `{}` is not a valid template name", t.name),
                    ));
                }
                let body = std::fs::read(&t.file).map_err(|e| {
                    err_at(
                        node,
                        &["template", "file"],
                        format!("template.file `{}`: {e}", t.file.display()),
                    )
                })?;
                serde_json::from_slice::<serde::de::IgnoredAny>(&body).map_err(|e| {
                    err_at(
                        node,
                        &["template", "file"],
                        format!("template.file `{}` is not JSON: {e}", t.file.display()),
                    )
                })?;
                Some(InstallTemplate {
                    name: t.name,
                    file: t.file,
                    overwrite: t.overwrite,
                    body: Bytes::from(body),
                })
            }
        };

        Ok(Settings {
            hosts,
            auth,
            ca_pem,
            target,
            action,
            pipeline: self.pipeline,
            id: self.id,
            batch_max_events: self.batch_max_events,
            batch_max_bytes: max_bytes as usize,
            batch_timeout: self.batch_timeout.0,
            compression: match self.compression {
                Compression::Gzip => Some(self.compression_level),
                Compression::None => None,
            },
            concurrency,
            max_retries: self.max_retries,
            retry_initial_backoff: self.retry_initial_backoff.0,
            retry_max_backoff: self.retry_max_backoff.0,
            request_timeout: self.request_timeout.0,
            health_check_interval: self.health_check_interval.0,
            dead_letter_path: self.dead_letter.path,
            template,
        })
    }
}

/// Data stream name parts: lowercase, no hyphen (it separates the parts),
/// none of the characters index names forbid, at most 100 bytes.
fn check_ds_part(value: &str, hyphen_ok: bool) -> Result<(), String> {
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    if value.len() > 100 {
        return Err("at most 100 characters".into());
    }
    if value != value.to_lowercase() {
        return Err(format!("`{value}` must be lowercase"));
    }
    if let Some(c) = value.chars().find(|c| {
        matches!(
            c,
            '\\' | '/' | '*' | '?' | '"' | '<' | '>' | '|' | ',' | '#' | ' ' | ':'
        )
    }) {
        return Err(format!("`{value}` must not contain `{c}`"));
    }
    if !hyphen_ok && value.contains('-') {
        return Err(format!(
            "`{value}` must not contain `-` (it separates type, dataset and namespace)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml;

    fn load_yaml(text: &str) -> Result<Settings, DeError> {
        let node = yaml::parse(text).expect("yaml");
        load(&node)
    }

    fn err(text: &str) -> (String, usize, usize) {
        let e = load_yaml(text).expect_err("should fail");
        let loc = e.loc.expect("a location");
        (e.message, loc.line, loc.column)
    }

    #[test]
    fn defaults() {
        let s = load_yaml("{}").unwrap();
        assert_eq!(s.hosts[0].as_str(), "http://localhost:9200/");
        assert_eq!(s.action, Action::Index);
        assert!(matches!(&s.target, Target::Index(t) if t.as_str() == DEFAULT_INDEX));
        assert_eq!(s.batch_max_bytes, 10 * 1024 * 1024);
        assert_eq!(s.batch_timeout, Duration::from_secs(1));
        assert_eq!(s.compression, Some(1));
        assert_eq!(s.max_retries, None);
        assert!(s.concurrency >= 2);
        assert_eq!(s.auth, Auth::None);
    }

    #[test]
    fn every_option() {
        let s = load_yaml(
            "hosts: [ 'https://a:9200', 'http://b:9200/prefix' ]\nuser: u\npassword: p\n\
             index: 'logs-%{service}-%Y'\naction: create\npipeline: geo\nid: { field: request.id }\n\
             batch_max_events: 100\nbatch_max_bytes: 2MiB\nbatch_timeout: 250ms\ncompression: none\n\
             concurrency: 3\nmax_retries: 5\nretry_initial_backoff: 10ms\nretry_max_backoff: 2s\n\
             request_timeout: 5s\nhealth_check_interval: 1s\ndead_letter: { path: /tmp/x.ndjson }\n",
        )
        .unwrap();
        assert_eq!(s.hosts[1].as_str(), "http://b:9200/prefix/");
        assert_eq!(
            s.auth,
            Auth::Basic {
                user: "u".into(),
                password: "p".into()
            }
        );
        assert_eq!(s.action, Action::Create);
        assert_eq!(
            s.id,
            Some(IdConfig::Field(Path::parse("request.id").unwrap()))
        );
        assert_eq!(s.batch_max_bytes, 2 * 1024 * 1024);
        assert_eq!(s.batch_timeout, Duration::from_millis(250));
        assert_eq!(s.compression, None);
        assert_eq!(s.concurrency, 3);
        assert_eq!(s.max_retries, Some(5));
        assert_eq!(s.pipeline.as_deref(), Some("geo"));
    }

    #[test]
    fn auto_source_and_data_streams() {
        let s = load_yaml("id: auto_source\ndata_stream: { dataset: nginx }\n").unwrap();
        assert_eq!(s.id, Some(IdConfig::AutoSource));
        assert_eq!(s.action, Action::Create);
        assert!(matches!(&s.target, Target::DataStream(d) if d.name() == "logs-nginx-default"));
    }

    #[test]
    fn errors_point_at_the_option() {
        let (m, line, col) = err("hosts:\n  - http://ok:9200\n  - 'ftp://x'\n");
        assert!(m.contains("scheme must be http or https"), "{m}");
        assert_eq!((line, col), (3, 5));

        let (m, line, _) = err("hosts: [ 'not a url' ]\n");
        assert!(m.contains("is not a URL"), "{m}");
        assert_eq!(line, 1);

        let (m, line, col) = err("user: a\npassword: b\napi_key: k\n");
        assert!(m.contains("mutually exclusive"), "{m}");
        assert_eq!((line, col), (3, 10));

        let (m, line, _) = err("index: x\ndata_stream: { dataset: a }\n");
        assert!(m.contains("mutually exclusive"), "{m}");
        assert_eq!(line, 2);

        let (m, _, _) = err("data_stream: { dataset: a }\naction: index\n");
        assert!(m.contains("only accept `action: create`"), "{m}");

        let (m, _, _) = err("data_stream: { dataset: my-app }\n");
        assert!(m.contains("must not contain `-`"), "{m}");

        let (m, line, col) = err("tls:\n  ca_file: /nonexistent/ca.pem\n");
        assert!(m.contains("/nonexistent/ca.pem"), "{m}");
        assert_eq!((line, col), (2, 12));

        let (m, _, _) = err("user: a\n");
        assert!(m.contains("needs a `password`"), "{m}");

        let (m, _, _) = err("batch_max_bytes: 4GiB\n");
        assert!(m.contains("batch_max_bytes"), "{m}");

        let (m, line, col) = err("id: { fieldd: x }\n");
        assert!(m.contains("unknown variant `fieldd`"), "{m}");
        assert_eq!((line, col), (1, 7));

        let (m, _, _) = err("template: { name: t, file: /nonexistent/t.json }\n");
        assert!(m.contains("/nonexistent/t.json"), "{m}");

        let (m, line, col) = err("batch_timeout: 1 fortnight\n");
        assert!(m.contains("unknown duration unit"), "{m}");
        assert_eq!((line, col), (1, 16));

        let e = load_yaml("hostz: []\n").unwrap_err();
        assert!(e.message.contains("unknown field `hostz`"), "{}", e.message);
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert_eq!(parse_size("5MB"), Ok(5_000_000));
        assert_eq!(parse_size("2048"), Ok(2048));
        assert!(parse_size("3 parsecs").is_err());
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("20"), Ok(Duration::from_secs(20)));
        assert!(parse_duration("-1s").is_err());
    }
}
