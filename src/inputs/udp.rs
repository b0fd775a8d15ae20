//! `udp`: one message per datagram (syslog over UDP, default port 514 in the
//! examples). A datagram holding several newline-separated lines gives one
//! event per line.

use std::net::SocketAddr;

use anyhow::Context as _;
use bytes::{Bytes, BytesMut};
use chrono::Utc;
use serde::Deserialize;
use tokio::net::UdpSocket;
use tracing::{info, warn};

use super::{InputConfig, InputContext, InputTask};
use crate::event::{Event, Fields, Value};
use crate::topology::ack::Ack;

fn default_address() -> String {
    "0.0.0.0:514".to_owned()
}

fn default_max_datagram_bytes() -> usize {
    65_535
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UdpConfig {
    #[serde(default = "default_address")]
    pub address: String,
    /// Largest datagram read whole; longer ones are truncated by the socket
    /// and tagged `_line_truncated`.
    #[serde(default = "default_max_datagram_bytes")]
    pub max_datagram_bytes: usize,
    /// Requested kernel receive buffer (bytes): UDP has no backpressure, so a
    /// larger buffer absorbs bursts while the pipeline is busy.
    #[serde(default)]
    pub receive_buffer_bytes: Option<usize>,
}

impl UdpConfig {
    pub fn validate(&self) -> Result<(), String> {
        self.address.parse::<SocketAddr>().map(|_| ()).map_err(|e| {
            format!(
                "address `{}` is not `host:port` with a numeric IP ({e})",
                self.address
            )
        })
    }
}

impl InputConfig for UdpConfig {
    fn build(&self, cx: InputContext) -> anyhow::Result<InputTask> {
        let config = self.clone();
        Ok(Box::pin(run(config, cx)))
    }
}

fn events_of(datagram: Bytes, peer: SocketAddr, truncated: bool, out: &mut Vec<Event>) {
    let mut source = Fields::with_capacity(2);
    source.insert("ip", Value::from(peer.ip().to_string()));
    source.insert("port", Value::from(peer.port()));
    let mut template = Fields::with_capacity(1);
    template.insert("source", Value::Object(source));
    let now = Utc::now();
    let mut rest = datagram;
    while !rest.is_empty() {
        let line = match memchr::memchr(b'\n', &rest) {
            Some(i) => {
                let line = rest.split_to(i);
                let _ = rest.split_to(1);
                line
            }
            None => std::mem::take(&mut rest),
        };
        let line = match line.last() {
            Some(b'\r') => line.slice(..line.len() - 1),
            _ => line,
        };
        if line.is_empty() {
            continue;
        }
        let mut event = Event::new(line, now);
        event.fields = template.clone();
        if truncated && rest.is_empty() {
            event.add_tag(crate::codecs::TAG_TRUNCATED);
        }
        out.push(event);
    }
}

async fn run(config: UdpConfig, cx: InputContext) -> anyhow::Result<()> {
    let socket = UdpSocket::bind(&config.address)
        .await
        .with_context(|| format!("input `{}`: cannot bind UDP {}", cx.name, config.address))?;
    if let Some(size) = config.receive_buffer_bytes {
        let sock = socket2_ref(&socket);
        if let Err(e) = sock.set_recv_buffer_size(size) {
            warn!(input = %cx.name, error = %e, "cannot set the UDP receive buffer size");
        }
    }
    info!(input = %cx.name, address = %socket.local_addr()?, "listening (udp)");
    let batch_size = cx.out.batch_size();
    let mut buf = BytesMut::with_capacity(config.max_datagram_bytes + 1);
    loop {
        let mut events = Vec::new();
        // Wait for one datagram, then take whatever else is already queued.
        loop {
            buf.clear();
            buf.reserve(config.max_datagram_bytes + 1);
            let received = if events.is_empty() {
                tokio::select! {
                    _ = cx.shutdown.cancelled() => None,
                    r = socket.recv_buf_from(&mut buf) => Some(r),
                }
            } else {
                match socket.try_recv_buf_from(&mut buf) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    r => Some(r),
                }
            };
            let Some(received) = received else {
                return Ok(());
            };
            match received {
                Ok((n, peer)) => {
                    let truncated = n > config.max_datagram_bytes;
                    let mut data = buf.split().freeze();
                    if truncated {
                        data.truncate(config.max_datagram_bytes);
                    }
                    events_of(data, peer, truncated, &mut events);
                }
                Err(e) => warn!(input = %cx.name, error = %e, "UDP receive failed"),
            }
            if events.len() >= batch_size {
                break;
            }
        }
        if cx.out.send(events, Ack::untracked()).await.is_err() {
            return Ok(());
        }
    }
}

/// socket2 view of a tokio socket, for options tokio does not expose.
fn socket2_ref(socket: &UdpSocket) -> socket2::SockRef<'_> {
    socket2::SockRef::from(socket)
}
