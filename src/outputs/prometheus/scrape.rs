//! Serving the registry for Prometheus to scrape.
//!
//! `GET <path>` answers in the format the scraper's `Accept` header asks for
//! ([`negotiate`]: OpenMetrics 1.0 when offered at least as highly as the text
//! format, otherwise text 0.0.4), always with one concrete Content-Type —
//! Prometheus 3 fails a scrape without it. With `basic_auth`, a request without
//! the right credentials gets 401 and a `WWW-Authenticate` challenge; the
//! credentials are compared in constant time. Any other path is 404.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use tokio_util::sync::CancellationToken;

use super::BasicAuth;
use crate::telemetry::{negotiate, Encoder, Registry};

struct Shared {
    encoder: Encoder,
    registry: &'static Registry,
    /// `user:password`, what a client's `Authorization: Basic` must decode to.
    credentials: Option<Vec<u8>>,
    path: String,
}

/// A bound, not yet serving, scrape endpoint.
pub(super) struct Server {
    listener: tokio::net::TcpListener,
    address: SocketAddr,
    shared: Arc<Shared>,
}

impl Server {
    /// Binds `address` now, so that a port in use fails the pipeline's start
    /// with the address in the message rather than later in a task.
    pub(super) fn bind(
        address: SocketAddr,
        path: &str,
        auth: Option<&BasicAuth>,
        encoder: Encoder,
        registry: &'static Registry,
    ) -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind(address)
            .with_context(|| format!("cannot listen on {address} (set `listen` to change it)"))?;
        listener
            .set_nonblocking(true)
            .context("setting the listener non-blocking")?;
        let listener = tokio::net::TcpListener::from_std(listener)
            .context("registering the listener with the runtime")?;
        let address = listener.local_addr().unwrap_or(address);
        let credentials = auth.map(|a| {
            let mut c = a.username.clone().into_bytes();
            c.push(b':');
            c.extend_from_slice(a.password.expose().as_bytes());
            c
        });
        Ok(Server {
            listener,
            address,
            shared: Arc::new(Shared {
                encoder,
                registry,
                credentials,
                path: path.to_owned(),
            }),
        })
    }

    pub(super) fn address(&self) -> SocketAddr {
        self.address
    }

    pub(super) fn path(&self) -> &str {
        &self.shared.path
    }

    /// Serves until `stop`; requests in progress are finished.
    pub(super) async fn serve(self, stop: CancellationToken) {
        let app = Router::new()
            .route(&self.shared.path, get(metrics))
            .fallback(not_found)
            .with_state(self.shared.clone());
        let address = self.address;
        if let Err(e) = axum::serve(self.listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
        {
            tracing::error!(%address, "metrics endpoint stopped: {e}");
        }
    }
}

async fn metrics(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(expected) = &shared.credentials {
        if !authorized(&headers, expected) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Basic realm=\"weir\"")],
                "401 Unauthorized\n",
            )
                .into_response();
        }
    }
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = negotiate(accept);
    let body = shared.encoder.render(shared.registry, format);
    ([(header::CONTENT_TYPE, format.content_type())], body).into_response()
}

async fn not_found(State(shared): State<Arc<Shared>>) -> Response {
    (
        StatusCode::NOT_FOUND,
        format!("404 Not Found: metrics are at {}\n", shared.path),
    )
        .into_response()
}

/// Whether the request carries `Authorization: Basic` with the expected
/// `user:password`.
fn authorized(headers: &HeaderMap, expected: &[u8]) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, token)) = value.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    match base64::engine::general_purpose::STANDARD.decode(token.trim()) {
        Ok(given) => constant_time_eq(&given, expected),
        Err(_) => false,
    }
}

/// Compares without stopping at the first difference, so the time taken does
/// not tell an attacker how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_auth(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(value).expect("header"),
        );
        h
    }

    #[test]
    fn basic_auth_is_checked() {
        let expected = b"prom:s3cr:et";
        // base64("prom:s3cr:et")
        assert!(authorized(&with_auth("Basic cHJvbTpzM2NyOmV0"), expected));
        assert!(authorized(&with_auth("basic  cHJvbTpzM2NyOmV0 "), expected));
        assert!(!authorized(&with_auth("Basic cHJvbTpzM2Ny"), expected));
        assert!(!authorized(&with_auth("Bearer cHJvbTpzM2NyOmV0"), expected));
        assert!(!authorized(&with_auth("Basic !!!"), expected));
        assert!(!authorized(&HeaderMap::new(), expected));
    }

    #[test]
    fn constant_time_eq_compares_whole_slices() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }
}
