//! One measured `weir run` of an end-to-end harness: the workload size,
//! weir started on a generated pipeline, feeding it over TCP, waiting until a
//! component has sent every event, stopping weir, and the report's rows.
//! Harnesses whose workload is loaded before weir starts (the AWS ones)
//! measure from the spawn; those that feed a listening weir measure from
//! [`Weir::measure_from_now`].
//!
//! Needs `support/process.rs` mounted beside it as `mod process`.
//!
//! `WEIR_E2E_BIN=/path/to/weir` measures that binary instead of this
//! build's (to compare with another commit's build on the same host).

#![allow(dead_code)]

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{cpu_seconds, fetch_metrics, free_port, proc_status, sum_metric};

/// Whether this is a measurement (`cargo bench` passes `--bench`) rather
/// than the smoke load `cargo test` runs.
pub fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// A workload size: the number in environment variable `var`, else `default`.
pub fn size(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A running `weir run` under measurement.
pub struct Weir {
    child: Child,
    pub pid: u32,
    /// The API port, for `/metrics`.
    pub api: u16,
    /// Where rates count from: just before the process was spawned (so
    /// weir's start-up is measured), or the last [`Weir::measure_from_now`].
    pub started: Instant,
    /// weir's CPU seconds at `started`.
    cpu_base: f64,
    /// The pipeline file and data_dir, kept until weir has stopped.
    _dir: tempfile::TempDir,
}

impl Weir {
    /// Writes `pipeline(api_port, data_dir)` to `<name>.yaml` in a fresh
    /// temporary directory and starts weir on it, quiet but for warnings, with
    /// `setup` applied to the command first (the environment of a peer).
    pub fn start(
        name: &str,
        pipeline: impl FnOnce(u16, &Path) -> String,
        setup: impl FnOnce(&mut Command),
    ) -> Weir {
        let api = free_port();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&path, pipeline(api, &dir.path().join("data"))).expect("write pipeline");
        // `WEIR_E2E_BIN` runs another build (an older commit's, to compare).
        let bin =
            std::env::var("WEIR_E2E_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_weir").to_owned());
        let mut cmd = Command::new(bin);
        setup(&mut cmd);
        let started = Instant::now();
        let child = cmd
            .args(["run", path.to_str().expect("path")])
            .env("WEIR_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn weir");
        Weir {
            pid: child.id(),
            child,
            api,
            started,
            cpu_base: 0.0,
            _dir: dir,
        }
    }

    /// Waits until weir accepts connections on `port`.
    pub fn wait_for_port(&self, port: u16) {
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                self.started.elapsed() < Duration::from_secs(30),
                "weir did not start listening on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the measurement now: what weir used before (starting up,
    /// idling) is not counted.
    pub fn measure_from_now(&mut self) {
        self.cpu_base = cpu_seconds(self.pid);
        self.started = Instant::now();
    }

    /// weir's resident memory now, in bytes.
    pub fn rss(&self) -> u64 {
        proc_status(self.pid, "VmRSS:")
    }

    /// The events `component` has sent so far (0 while `/metrics` does not
    /// answer yet).
    pub fn sent(&self, component: &str) -> u64 {
        sum_metric(
            &fetch_metrics(self.api),
            "weir_component_sent_events_total",
            component,
        )
    }

    /// Polls every `poll` until `component` has sent at least `events`, and
    /// returns how many it had sent by then; panics once `limit` has passed
    /// since the start.
    pub fn wait_sent(&self, component: &str, events: u64, poll: Duration, limit: Duration) -> u64 {
        loop {
            let sent = self.sent(component);
            if sent >= events {
                return sent;
            }
            assert!(
                self.started.elapsed() < limit,
                "weir's {component} sent only {sent} of {events} events in {limit:?}"
            );
            std::thread::sleep(poll);
        }
    }

    /// What weir has used since the start, measured now, before it is
    /// stopped (SIGTERM, then waited for).
    pub fn stop(mut self) -> Usage {
        let usage = Usage {
            secs: self.started.elapsed().as_secs_f64(),
            cpu: cpu_seconds(self.pid) - self.cpu_base,
            peak_rss: proc_status(self.pid, "VmHWM:"),
        };
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let _ = self.child.wait();
        usage
    }
}

impl Drop for Weir {
    /// A bench that panics mid-run must not leave weir running; after
    /// [`Weir::stop`] this finds the process gone and does nothing.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Writes each of `parts` to `port` over its own connection, all at once,
/// and returns when every part is written.
pub fn send_tcp(port: u16, parts: &[Vec<u8>]) {
    std::thread::scope(|scope| {
        for part in parts {
            scope.spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                for chunk in part.chunks(256 * 1024) {
                    s.write_all(chunk).expect("write");
                }
            });
        }
    });
}

/// What a run took: wall seconds, weir's CPU seconds and its peak RSS.
pub struct Usage {
    pub secs: f64,
    pub cpu: f64,
    pub peak_rss: u64,
}

impl Usage {
    /// `count` per wall second.
    pub fn per_second(&self, count: u64) -> f64 {
        count as f64 / self.secs
    }

    /// The note for the CPU row when weir is all that is measured.
    pub fn cores_busy(&self) -> String {
        format!("({:.2} cores busy)", self.cpu / self.secs)
    }

    /// The rows every report ends with: wall seconds, CPU seconds and peak
    /// RSS; the notes follow the values unless empty.
    pub fn print(&self, wall_note: &str, cpu_note: &str) {
        row("wall seconds", self.secs, 3, wall_note);
        row("CPU seconds", self.cpu, 2, cpu_note);
        row(
            "peak RSS MiB",
            self.peak_rss as f64 / (1 << 20) as f64,
            1,
            "",
        );
    }
}

/// One report row: the label, the value right-aligned with `decimals`
/// places, and the note after it unless empty.
pub fn row(label: &str, value: f64, decimals: usize, note: &str) {
    if note.is_empty() {
        println!("  {label:<14}{value:>12.decimals$}");
    } else {
        println!("  {label:<14}{value:>12.decimals$}  {note}");
    }
}
