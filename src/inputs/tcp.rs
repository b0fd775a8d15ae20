//! `tcp`: newline-delimited text, JSON documents or octet-counted syslog on a
//! TCP port (default `0.0.0.0:5044`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::reader::{is_disconnect, read_stream, StreamEnd, Untracked};
use super::tls::TlsConfig;
use super::{BatchSender, InputConfig, InputContext, InputTask};
use crate::codecs::{FrameDecoder, FrameError, Framing, Oversize};
use crate::event::{Event, Fields, Value};

fn default_address() -> String {
    "0.0.0.0:5044".to_owned()
}

fn default_max_line_bytes() -> usize {
    1024 * 1024
}

fn default_max_connections() -> usize {
    10_000
}

fn default_idle_timeout() -> u64 {
    300
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpConfig {
    /// `host:port` to listen on.
    #[serde(default = "default_address")]
    pub address: String,
    #[serde(default)]
    pub framing: Framing,
    /// Longest message kept; longer ones are truncated or rejected.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    #[serde(default)]
    pub on_oversize: Oversize,
    /// Connections served at once; more are accepted and closed at once,
    /// with a log line.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Seconds a connection may stay silent before it is closed (0: never).
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_secs: u64,
    /// Serve TLS instead of plain TCP.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

impl TcpConfig {
    /// Checks what types alone can't: the address parses.
    pub fn validate(&self) -> Result<(), String> {
        self.address
            .parse::<SocketAddr>()
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "address `{}` is not `host:port` with a numeric IP ({e})",
                    self.address
                )
            })?;
        if self.max_connections == 0 {
            return Err("max_connections must be at least 1".into());
        }
        if let Some(tls) = &self.tls {
            tls.server_config()?;
        }
        Ok(())
    }
}

impl InputConfig for TcpConfig {
    fn build(&self, cx: InputContext) -> anyhow::Result<InputTask> {
        let config = self.clone();
        Ok(Box::pin(run(config, cx)))
    }
}

async fn run(config: TcpConfig, cx: InputContext) -> anyhow::Result<()> {
    let listener = TcpListener::bind(&config.address)
        .await
        .with_context(|| format!("input `{}`: cannot listen on {}", cx.name, config.address))?;
    let local = listener.local_addr()?;
    let tls = match &config.tls {
        Some(t) => Some(tokio_rustls::TlsAcceptor::from(
            t.server_config()
                .map_err(|e| anyhow::anyhow!("input `{}`: {e}", cx.name))?,
        )),
        None => None,
    };
    info!(input = %cx.name, address = %local, framing = ?config.framing, tls = tls.is_some(), "listening");
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let refused = metrics::counter!(
        "weir_tcp_connections_refused_total",
        "pipeline" => cx.pipeline.to_string(),
        "component" => cx.name.to_string(),
    );
    let open = metrics::gauge!(
        "weir_tcp_connections_open",
        "pipeline" => cx.pipeline.to_string(),
        "component" => cx.name.to_string(),
    );
    let last_refusal_log = AtomicU64::new(0);
    let mut connections = JoinSet::new();
    let config = Arc::new(config);
    loop {
        let accepted = tokio::select! {
            _ = cx.shutdown.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and similar: back off, don't spin.
                warn!(input = %cx.name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            refused.increment(1);
            let now = Utc::now().timestamp() as u64;
            if last_refusal_log.swap(now, Ordering::Relaxed) != now {
                warn!(input = %cx.name, peer = %peer, max_connections = config.max_connections,
                    "connection refused: max_connections reached");
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let out = cx.out.clone();
        let shutdown = cx.shutdown.clone();
        let name = cx.name.clone();
        let config = config.clone();
        let open = open.clone();
        let tls = tls.clone();
        open.increment(1.0);
        connections.spawn(async move {
            match tls {
                None => serve(stream, peer, &config, &out, &shutdown, &name).await,
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await;
                    match handshake {
                        Ok(Ok(tls_stream)) => {
                            serve(tls_stream, peer, &config, &out, &shutdown, &name).await
                        }
                        Ok(Err(e)) => {
                            warn!(input = %name, peer = %peer, error = %e, "TLS handshake failed")
                        }
                        Err(_) => warn!(input = %name, peer = %peer, "TLS handshake timed out"),
                    }
                }
            }
            open.decrement(1.0);
            drop(permit);
        });
    }
    // Connections stop reading on the same shutdown signal and flush what
    // they framed; wait for them so nothing read is lost.
    while connections.join_next().await.is_some() {}
    info!(input = %cx.name, "stopped");
    Ok(())
}

/// The `source` object every event of a connection carries.
fn source_fields(peer: SocketAddr) -> Fields {
    let mut source = Fields::with_capacity(2);
    source.insert("ip", Value::from(peer.ip().to_string()));
    source.insert("port", Value::from(peer.port()));
    let mut fields = Fields::with_capacity(1);
    fields.insert("source", Value::Object(source));
    fields
}

/// A client gets this long to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

async fn serve<S: tokio::io::AsyncRead + Unpin>(
    stream: S,
    peer: SocketAddr,
    config: &TcpConfig,
    out: &BatchSender,
    shutdown: &tokio_util::sync::CancellationToken,
    name: &str,
) {
    debug!(input = %name, peer = %peer, "connection opened");
    let template = source_fields(peer);
    let decoder = FrameDecoder::new(config.framing, config.max_line_bytes, config.on_oversize);
    let idle = Duration::from_secs(config.idle_timeout_secs);
    let reader = IdleTimeout::new(stream, idle);
    let mut sink = Untracked::new(out, |frame, now| {
        let mut event = Event::new(frame.bytes, now);
        event.fields = template.clone();
        event
    });
    let result = read_stream(reader, decoder, shutdown, &mut sink).await;
    match result {
        Ok((end, stats)) => {
            if stats.oversized_rejected > 0 || stats.truncated > 0 {
                warn!(input = %name, peer = %peer, rejected = stats.oversized_rejected,
                    truncated = stats.truncated, max_line_bytes = config.max_line_bytes,
                    "messages longer than max_line_bytes");
            }
            debug!(input = %name, peer = %peer, events = stats.events, bytes = stats.bytes,
                shutdown = (end != StreamEnd::Eof), "connection closed");
        }
        Err((FrameError::Io(e), stats)) if e.kind() == std::io::ErrorKind::TimedOut => {
            info!(input = %name, peer = %peer, idle_secs = config.idle_timeout_secs, events = stats.events,
                "closing idle connection");
        }
        Err((FrameError::Io(e), stats)) if is_disconnect(&e) => {
            debug!(input = %name, peer = %peer, events = stats.events, "connection reset by peer");
        }
        Err((e, stats)) => {
            warn!(input = %name, peer = %peer, error = %e, events = stats.events,
                "closing connection: unreadable stream");
        }
    }
}

/// Fails a read with `TimedOut` when nothing arrives for `idle`
/// (a zero duration disables the limit).
struct IdleTimeout<R> {
    inner: R,
    idle: Duration,
    deadline: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl<R> IdleTimeout<R> {
    fn new(inner: R, idle: Duration) -> Self {
        IdleTimeout {
            inner,
            idle,
            deadline: None,
        }
    }
}

impl<R: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for IdleTimeout<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        let this = &mut *self;
        match std::pin::Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.deadline = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                if this.idle.is_zero() {
                    return Poll::Pending;
                }
                let idle = this.idle;
                let sleep = this
                    .deadline
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "idle timeout",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

use std::future::Future as _;
