//! The HTTP API on `api.listen` (default 127.0.0.1:9600): `/metrics` in the
//! Prometheus text format and `/health` for load balancers and container
//! health checks.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio_util::sync::CancellationToken;
use tracing::info;

/// A pipeline's state as `/health` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipelineState {
    Starting,
    Running,
    /// Finished normally (end of input, or shut down).
    Stopped,
    Failed,
}

impl PipelineState {
    fn as_str(self) -> &'static str {
        match self {
            PipelineState::Starting => "starting",
            PipelineState::Running => "running",
            PipelineState::Stopped => "stopped",
            PipelineState::Failed => "failed",
        }
    }
}

/// Shared health state, written by the runner, read by `/health`.
#[derive(Debug, Default)]
pub struct Health {
    pipelines: Mutex<BTreeMap<String, PipelineState>>,
}

impl Health {
    pub fn set(&self, pipeline: &str, state: PipelineState) {
        let mut map = match self.pipelines.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        map.insert(pipeline.to_owned(), state);
    }

    /// Healthy while no pipeline has failed.
    fn report(&self) -> (bool, String) {
        let map = match self.pipelines.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        let healthy = map.values().all(|s| *s != PipelineState::Failed);
        let mut body = String::from("{\"status\":");
        body.push_str(if healthy { "\"ok\"" } else { "\"failed\"" });
        body.push_str(",\"version\":\"");
        body.push_str(env!("CARGO_PKG_VERSION"));
        body.push_str("\",\"pipelines\":{");
        for (i, (name, state)) in map.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&serde_json::Value::String(name.clone()).to_string());
            body.push(':');
            body.push('"');
            body.push_str(state.as_str());
            body.push('"');
        }
        body.push_str("}}");
        (healthy, body)
    }
}

/// Renders the metrics exposition for a request's `Accept` header:
/// returns the content type and the body.
pub type Renderer = Arc<dyn Fn(Option<&str>) -> (String, String) + Send + Sync>;

#[derive(Clone)]
struct ApiState {
    health: Arc<Health>,
    render: Renderer,
}

async fn metrics_handler(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let (content_type, body) = (state.render)(accept);
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn health_handler(State(state): State<ApiState>) -> Response {
    let (healthy, body) = state.health.report();
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Binds `listen` and serves until `shutdown`; returns the bound address
/// (useful with port 0) and the server task.
pub async fn serve(
    listen: SocketAddr,
    health: Arc<Health>,
    render: Renderer,
    shutdown: CancellationToken,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| {
            format!("api: cannot listen on {listen} (set `api: {{ listen: … }}` to change it)")
        })?;
    let local = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/health", get(health_handler))
        .route("/", get(health_handler))
        .with_state(ApiState { health, render });
    info!(address = %local, "api listening (/metrics, /health)");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
    });
    Ok((local, task))
}
