//! `blackhole`: accepts and discards events, counting them; prints a rate
//! summary when the pipeline stops. For benchmarks and dry runs.

use std::time::Instant;

use serde::Deserialize;
use tracing::info;

use super::{OutputConfig, OutputContext, OutputTask};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlackholeConfig {
    /// Log a running rate every this many seconds (0: only at exit).
    #[serde(default)]
    pub print_interval_secs: u64,
}

impl OutputConfig for BlackholeConfig {
    fn build(&self, cx: OutputContext) -> anyhow::Result<OutputTask> {
        let interval = self.print_interval_secs;
        Ok(Box::pin(async move {
            let mut events = 0u64;
            let mut bytes = 0u64;
            let mut first: Option<Instant> = None;
            let mut last_print = Instant::now();
            while let Ok(batch) = cx.input.recv().await {
                let started = Instant::now();
                first.get_or_insert(started);
                let n = batch.len();
                let b: usize = batch.events().map(|e| e.message.len()).sum();
                events += n as u64;
                bytes += b as u64;
                cx.metrics.delivered(n, b, started);
                if interval > 0 && last_print.elapsed().as_secs() >= interval {
                    last_print = Instant::now();
                    info!(output = %cx.name, events, bytes, "blackhole running total");
                }
            }
            let secs = first.map_or(0.0, |f| f.elapsed().as_secs_f64()).max(1e-9);
            info!(
                output = %cx.name,
                events,
                bytes,
                seconds = format!("{secs:.3}"),
                events_per_sec = format!("{:.0}", events as f64 / secs),
                mb_per_sec = format!("{:.1}", bytes as f64 / secs / 1e6),
                "blackhole summary"
            );
            eprintln!(
                "blackhole `{}`: {events} events, {bytes} bytes in {secs:.3}s ({:.0} events/s, {:.1} MB/s)",
                cx.name,
                events as f64 / secs,
                bytes as f64 / secs / 1e6
            );
            Ok(())
        }))
    }
}
