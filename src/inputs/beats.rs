//! `beats`: the Lumberjack v2 protocol Filebeat, Winlogbeat and every Beats
//! shipper speak to Logstash on port 5044.
//!
//! Delivery is at least once: a window is acknowledged only after every output
//! has delivered (or dead-lettered) all its events and those of the windows
//! before it ([`crate::codecs::acker`]). While a window waits, `ACK(0)`
//! keepalives go out every few seconds so a slow output does not make the
//! shipper time out and reconnect. If the pipeline fails a batch, the
//! connection is closed once that window is the oldest, so the shipper
//! resends it. Protocol errors close only the connection they happen on.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::tls::TlsConfig;
use super::{BatchSender, InputConfig, InputContext, InputTask};
use crate::codecs::acker::{Acker, BatchTicket};
use crate::codecs::beats_event::{frame_event, set_peer_ip, EventOptions};
use crate::codecs::lumberjack::{AckFrame, Limits, LumberjackCodec};
use crate::codecs::window::WindowReader;
use crate::event::Event;
use crate::topology::ack::{Ack, BatchStatus};

fn default_address() -> String {
    "0.0.0.0:5044".to_owned()
}
fn default_keepalive_secs() -> u64 {
    5
}
fn default_max_connections() -> usize {
    10_000
}
fn default_idle_timeout() -> u64 {
    60
}
fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BeatsConfig {
    #[serde(default = "default_address")]
    pub address: String,
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Seconds between `ACK(0)` keepalives while a window waits for delivery.
    #[serde(default = "default_keepalive_secs")]
    pub keepalive_secs: u64,
    /// Largest frame payload (bytes) accepted.
    #[serde(default)]
    pub max_frame_bytes: Option<usize>,
    /// Largest decompressed size (bytes) of one compressed frame.
    #[serde(default)]
    pub max_decompressed_bytes: Option<usize>,
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Seconds a client may send nothing while nothing is in flight.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_secs: u64,
    /// Add Logstash's `beats_input_codec_plain_applied` tag to events.
    #[serde(default = "default_true")]
    pub include_codec_tag: bool,
}

impl BeatsConfig {
    pub fn validate(&self) -> Result<(), String> {
        self.address.parse::<SocketAddr>().map_err(|e| {
            format!(
                "address `{}` is not `host:port` with a numeric IP ({e})",
                self.address
            )
        })?;
        if self.max_connections == 0 {
            return Err("max_connections must be at least 1".into());
        }
        if self.keepalive_secs == 0 {
            return Err("keepalive_secs must be at least 1".into());
        }
        if let Some(tls) = &self.tls {
            tls.server_config()?;
        }
        Ok(())
    }

    fn limits(&self) -> Limits {
        let mut limits = Limits::default();
        if let Some(n) = self.max_frame_bytes {
            limits.max_frame_bytes = n;
        }
        if let Some(n) = self.max_decompressed_bytes {
            limits.max_decompressed_bytes = n;
        }
        limits
    }
}

impl InputConfig for BeatsConfig {
    fn build(&self, cx: InputContext) -> anyhow::Result<InputTask> {
        Ok(Box::pin(run(self.clone(), cx)))
    }
}

async fn run(config: BeatsConfig, cx: InputContext) -> anyhow::Result<()> {
    let listener = TcpListener::bind(&config.address)
        .await
        .with_context(|| format!("input `{}`: cannot listen on {}", cx.name, config.address))?;
    let tls = match &config.tls {
        Some(t) => Some(tokio_rustls::TlsAcceptor::from(
            t.server_config()
                .map_err(|e| anyhow::anyhow!("input `{}`: {e}", cx.name))?,
        )),
        None => None,
    };
    info!(input = %cx.name, address = %listener.local_addr()?, tls = tls.is_some(), "listening (beats)");
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let config = Arc::new(config);
    let mut connections = JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = cx.shutdown.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            r = listener.accept() => match r {
                Ok(a) => a,
                Err(e) => {
                    warn!(input = %cx.name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            warn!(input = %cx.name, peer = %peer, "connection refused: max_connections reached");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (config, out, shutdown, name, tls) = (
            config.clone(),
            cx.out.clone(),
            cx.shutdown.clone(),
            cx.name.clone(),
            tls.clone(),
        );
        connections.spawn(async move {
            let result = match tls {
                None => serve(stream, peer, &config, &out, &shutdown).await,
                Some(acceptor) => {
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(s)) => serve(s, peer, &config, &out, &shutdown).await,
                        Ok(Err(e)) => Err(format!("TLS handshake failed: {e}")),
                        Err(_) => Err("TLS handshake timed out".to_owned()),
                    }
                }
            };
            match result {
                Ok(()) => debug!(input = %name, peer = %peer, "beats connection closed"),
                Err(reason) => {
                    warn!(input = %name, peer = %peer, "closing beats connection: {reason}")
                }
            }
            drop(permit);
        });
    }
    while connections.join_next().await.is_some() {}
    info!(input = %cx.name, "stopped");
    Ok(())
}

/// Serves one connection until the client closes it, a protocol error, or
/// shutdown (after the windows in flight are acknowledged).
async fn serve<S>(
    stream: S,
    peer: SocketAddr,
    config: &BeatsConfig,
    out: &BatchSender,
    shutdown: &CancellationToken,
) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (reader, mut writer) = tokio::io::split(stream);
    let mut windows = WindowReader::from_reader(reader, LumberjackCodec::new(config.limits()));
    let mut acker = Acker::new();
    let mut pending: JoinSet<(BatchTicket, BatchStatus)> = JoinSet::new();
    let keepalive_every = Duration::from_secs(config.keepalive_secs);
    let mut keepalive = tokio::time::interval(keepalive_every);
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let idle = Duration::from_secs(config.idle_timeout_secs);
    let options = EventOptions {
        include_codec_tag: config.include_codec_tag,
    };
    let mut reading = true;
    let mut last_activity = Instant::now();
    loop {
        if !reading && !acker.in_flight() && pending.is_empty() {
            return Ok(());
        }
        tokio::select! {
            _ = shutdown.cancelled(), if reading => {
                // Stop taking windows; those in flight are still acknowledged.
                reading = false;
            }
            window = windows.next_window(), if reading && !acker.must_close() => {
                let window = match window {
                    Ok(Some(w)) => w,
                    Ok(None) => {
                        reading = false;
                        continue;
                    }
                    Err(e) => return Err(format!("protocol error: {e}")),
                };
                last_activity = Instant::now();
                let open = acker.open_window(window.version, Instant::now());
                let ack_seq = window.ack_seq();
                let now = Utc::now();
                let mut events: Vec<Event> = Vec::with_capacity(window.frames.len().min(out.batch_size()));
                for frame in window.frames {
                    if let Some(mut event) = frame_event(frame, now, &options) {
                        set_peer_ip(&mut event, peer.ip());
                        events.push(event);
                    }
                    if events.len() >= out.batch_size() {
                        let batch = std::mem::take(&mut events);
                        let ticket = acker.add_batch(&open);
                        send(batch, ticket, out, &mut pending, &mut acker, &mut writer, &mut keepalive).await?;
                    }
                }
                if !events.is_empty() {
                    let ticket = acker.add_batch(&open);
                    send(events, ticket, out, &mut pending, &mut acker, &mut writer, &mut keepalive).await?;
                }
                acker.seal(open, ack_seq);
                flush_acks(&mut acker, &mut writer).await?;
            }
            Some(done) = pending.join_next(), if !pending.is_empty() => {
                if let Ok((ticket, status)) = done {
                    record(&mut acker, ticket, status);
                }
                flush_acks(&mut acker, &mut writer).await?;
                if acker.must_close() {
                    return Err("the pipeline could not deliver a window: closing so the client resends it".into());
                }
            }
            _ = keepalive.tick() => {
                if let Some(frame) = acker.keepalive() {
                    write_ack(&mut writer, frame).await?;
                } else if reading && !idle.is_zero() && !windows.in_window() && last_activity.elapsed() > idle {
                    return Err(format!("idle for {}s", idle.as_secs()));
                }
            }
        }
    }
}

/// Hands a batch to the pipeline. While the pipeline holds it back, keepalives
/// and ACKs for earlier windows keep flowing.
async fn send<W: AsyncWrite + Unpin>(
    events: Vec<Event>,
    ticket: BatchTicket,
    out: &BatchSender,
    pending: &mut JoinSet<(BatchTicket, BatchStatus)>,
    acker: &mut Acker,
    writer: &mut W,
    keepalive: &mut tokio::time::Interval,
) -> Result<(), String> {
    let (ack, receiver) = Ack::new();
    let sending = out.send(events, ack);
    tokio::pin!(sending);
    loop {
        tokio::select! {
            sent = &mut sending => {
                if sent.is_err() {
                    return Err("the pipeline is shutting down".into());
                }
                pending.spawn(async move { (ticket, receiver.await) });
                return Ok(());
            }
            Some(done) = pending.join_next(), if !pending.is_empty() => {
                if let Ok((t, status)) = done {
                    record(acker, t, status);
                }
                flush_acks(acker, writer).await?;
            }
            _ = keepalive.tick() => {
                if let Some(frame) = acker.keepalive() {
                    write_ack(writer, frame).await?;
                }
            }
        }
    }
}

fn record(acker: &mut Acker, ticket: BatchTicket, status: BatchStatus) {
    match status {
        BatchStatus::Delivered => acker.complete(ticket),
        BatchStatus::Failed => acker.fail(ticket),
    }
}

async fn flush_acks<W: AsyncWrite + Unpin>(
    acker: &mut Acker,
    writer: &mut W,
) -> Result<(), String> {
    while let Some(frame) = acker.next_ack() {
        write_ack(writer, frame).await?;
    }
    Ok(())
}

async fn write_ack<W: AsyncWrite + Unpin>(writer: &mut W, frame: AckFrame) -> Result<(), String> {
    writer
        .write_all(&frame.to_bytes())
        .await
        .map_err(|e| format!("writing an ACK: {e}"))?;
    writer
        .flush()
        .await
        .map_err(|e| format!("writing an ACK: {e}"))
}
