//! Running pipelines: channels, workers, fan-out, acknowledgements, shutdown.
//!
//! ```text
//! inputs ─► bounded channel of batches ─► N worker threads ─► bounded channel per output ─► outputs
//! ```
//! Workers are OS threads running the filter chain synchronously, so CPU work
//! never stalls the async I/O of inputs and outputs. Every channel is bounded:
//! a full output buffer blocks the workers (or, with `when_full: drop_newest`,
//! drops for that output only), full workers block the inputs, and blocked
//! inputs stop reading their sockets.

pub mod ack;
pub mod batch;
pub mod dead_letter;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use self::batch::{Batch, OutputBatch};
use self::dead_letter::DeadLetterQueue;
use crate::config::PipelineSpec;
use crate::filters::{Chain, Condition, Filter, FilterContext};
use crate::inputs::{BatchSender, InputContext};
use crate::outputs::{OutputContext, OutputMetrics, WhenFull};

/// How often channel fill levels are sampled into gauges.
const GAUGE_INTERVAL: Duration = Duration::from_secs(1);

/// One output as the workers see it.
struct Route {
    name: Arc<str>,
    tx: async_channel::Sender<OutputBatch>,
    when: Option<Arc<dyn Condition>>,
    when_full: WhenFull,
    dropped: metrics::Counter,
    last_drop_log: std::sync::atomic::AtomicI64,
}

/// Runs one pipeline until its inputs finish (end of input, or `shutdown`)
/// and everything they produced has left the outputs.
pub async fn run_pipeline(spec: PipelineSpec, shutdown: CancellationToken) -> anyhow::Result<()> {
    let pipeline = spec.name.clone();
    let data_dir = spec.settings.data_dir();
    let input_capacity = (spec.workers * 2).max(4);
    let (in_tx, in_rx) = async_channel::bounded::<Batch>(input_capacity);

    // Outputs first, so workers always have somewhere to send.
    let mut output_tasks = JoinSet::new();
    let mut routes = Vec::new();
    let mut gauges = vec![(
        "input".to_owned(),
        in_tx.clone().downgrade_capacity(input_capacity),
    )];
    for out in &spec.outputs {
        let (tx, rx) = async_channel::bounded::<OutputBatch>(out.buffer_batches);
        let cx = OutputContext {
            pipeline: pipeline.clone(),
            name: out.name.clone(),
            input: rx,
            data_dir: data_dir.clone(),
            metrics: OutputMetrics::new(&pipeline, &out.name),
        };
        let task = out
            .config
            .build(cx)
            .with_context(|| format!("pipeline `{pipeline}`: starting output `{}`", out.name))?;
        let name = out.name.clone();
        output_tasks.spawn(async move { (name, task.await) });
        gauges.push((
            format!("output:{}", out.name),
            tx.clone().downgrade_capacity(out.buffer_batches),
        ));
        routes.push(Route {
            name: out.name.clone(),
            tx,
            when: out.when.clone(),
            when_full: out.when_full,
            dropped: metrics::counter!(
                "weir_component_discarded_events_total",
                "pipeline" => pipeline.to_string(),
                "component" => out.name.to_string(),
                "kind" => "output",
            ),
            last_drop_log: std::sync::atomic::AtomicI64::new(0),
        });
    }
    let routes = Arc::new(routes);

    // Workers.
    let formats: Arc<Vec<Option<Arc<dyn Filter>>>> =
        Arc::new(spec.inputs.iter().map(|i| i.format.clone()).collect());
    let dlq = Arc::new(DeadLetterQueue::new(&data_dir, &pipeline));
    let mut workers = Vec::new();
    for i in 0..spec.workers {
        let rx = in_rx.clone();
        let chain = spec.chain.clone();
        let routes = routes.clone();
        let formats = formats.clone();
        let dlq = dlq.clone();
        let pipeline = pipeline.clone();
        let handle = std::thread::Builder::new()
            .name(format!("weir-{pipeline}-w{i}"))
            .spawn(move || worker(rx, &chain, &formats, &routes, &dlq, &pipeline))
            .context("starting a worker thread")?;
        workers.push(handle);
    }
    drop(in_rx);
    drop(routes);

    // Inputs.
    let mut input_tasks = JoinSet::new();
    for (index, input) in spec.inputs.iter().enumerate() {
        let cx = InputContext {
            pipeline: pipeline.clone(),
            name: input.name.clone(),
            out: BatchSender::new(
                in_tx.clone(),
                index,
                spec.batch_size,
                &pipeline,
                &input.name,
            ),
            shutdown: shutdown.clone(),
            data_dir: data_dir.clone(),
        };
        let task = input
            .config
            .build(cx)
            .with_context(|| format!("pipeline `{pipeline}`: starting input `{}`", input.name))?;
        let name = input.name.clone();
        input_tasks.spawn(async move { (name, task.await) });
    }
    drop(in_tx);

    let sampler = tokio::spawn(sample_channels(pipeline.clone(), gauges));
    info!(pipeline = %pipeline, inputs = spec.inputs.len(), filters = spec.chain.len(),
        outputs = spec.outputs.len(), workers = spec.workers, "pipeline started");

    let mut failure: Option<anyhow::Error> = None;
    while let Some(joined) = input_tasks.join_next().await {
        match joined {
            Ok((_, Ok(()))) => {}
            Ok((name, Err(e))) => {
                error!(pipeline = %pipeline, input = %name, error = format!("{e:#}"), "input failed");
                // A failed input stops the pipeline: the others shut down and drain.
                shutdown.cancel();
                failure.get_or_insert(e);
            }
            Err(e) => {
                shutdown.cancel();
                failure.get_or_insert(anyhow::anyhow!("an input task panicked: {e}"));
            }
        }
    }
    // Inputs are done and their senders dropped: workers drain the channel
    // and exit, which closes the output channels.
    let joined = tokio::task::spawn_blocking(move || {
        // Join every worker, even after one panicked.
        let joined: Vec<bool> = workers.into_iter().map(|w| w.join().is_ok()).collect();
        joined.iter().all(|ok| *ok)
    })
    .await
    .unwrap_or(false);
    if !joined {
        failure.get_or_insert(anyhow::anyhow!("a worker thread panicked"));
    }
    while let Some(joined) = output_tasks.join_next().await {
        match joined {
            Ok((_, Ok(()))) => {}
            Ok((name, Err(e))) => {
                error!(pipeline = %pipeline, output = %name, error = format!("{e:#}"), "output failed");
                failure.get_or_insert(e);
            }
            Err(e) => {
                failure.get_or_insert(anyhow::anyhow!("an output task panicked: {e}"));
            }
        }
    }
    sampler.abort();
    info!(pipeline = %pipeline, "pipeline stopped");
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// A worker: filter chain, then fan-out, until the input channel closes.
fn worker(
    rx: async_channel::Receiver<Batch>,
    chain: &Chain,
    formats: &[Option<Arc<dyn Filter>>],
    routes: &[Route],
    dlq: &DeadLetterQueue,
    pipeline: &str,
) {
    let mut cx = FilterContext::default();
    while let Ok(mut batch) = rx.recv_blocking() {
        if let Some(Some(format)) = formats.get(batch.input) {
            format.process(&mut batch.events, &mut cx);
        }
        chain.run(&mut batch.events, &mut cx);
        if !cx.dead_letters.is_empty() {
            dlq.write(pipeline, std::mem::take(&mut cx.dead_letters));
        }
        if batch.events.is_empty() {
            // Dropping the batch acknowledges it.
            continue;
        }
        fan_out(Arc::new(batch), routes);
    }
}

fn fan_out(batch: Arc<Batch>, routes: &[Route]) {
    for route in routes {
        let out = match &route.when {
            None => OutputBatch::all(batch.clone()),
            Some(cond) => {
                let picked: Vec<u32> = batch
                    .events
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| cond.matches(e))
                    .map(|(i, _)| i as u32)
                    .collect();
                if picked.is_empty() {
                    continue;
                }
                if picked.len() == batch.events.len() {
                    OutputBatch::all(batch.clone())
                } else {
                    OutputBatch::selected(batch.clone(), Arc::from(picked))
                }
            }
        };
        match route.when_full {
            WhenFull::Block => {
                // Only fails when the output stopped (it failed): its error is
                // reported by the pipeline; the events are marked undelivered.
                if let Err(e) = route.tx.send_blocking(out) {
                    e.into_inner().fail();
                }
            }
            WhenFull::DropNewest => match route.tx.try_send(out) {
                Ok(()) => {}
                Err(async_channel::TrySendError::Full(out)) => {
                    route.dropped.increment(out.len() as u64);
                    let now = chrono::Utc::now().timestamp();
                    let last = route
                        .last_drop_log
                        .swap(now, std::sync::atomic::Ordering::Relaxed);
                    if now - last >= 10 {
                        warn!(output = %route.name, events = out.len(),
                            "output buffer full: dropping events for this output (when_full: drop_newest)");
                    }
                }
                Err(async_channel::TrySendError::Closed(out)) => out.fail(),
            },
        }
    }
}

/// A channel's fill level, sampled without holding it open.
trait Fill: Send {
    fn fill(&self) -> Option<(usize, usize)>;
}

struct WeakFill<T> {
    tx: async_channel::WeakSender<T>,
    capacity: usize,
}

impl<T: Send> Fill for WeakFill<T> {
    fn fill(&self) -> Option<(usize, usize)> {
        self.tx.upgrade().map(|tx| (tx.len(), self.capacity))
    }
}

trait DowngradeCapacity<T> {
    fn downgrade_capacity(self, capacity: usize) -> Box<dyn Fill>;
}

impl<T: Send + 'static> DowngradeCapacity<T> for async_channel::Sender<T> {
    fn downgrade_capacity(self, capacity: usize) -> Box<dyn Fill> {
        Box::new(WeakFill {
            tx: self.downgrade(),
            capacity,
        })
    }
}

async fn sample_channels(pipeline: Arc<str>, channels: Vec<(String, Box<dyn Fill>)>) {
    let gauges: Vec<_> = channels
        .into_iter()
        .map(|(name, fill)| {
            let batches = metrics::gauge!("weir_channel_batches", "pipeline" => pipeline.to_string(), "channel" => name.clone());
            let ratio = metrics::gauge!("weir_channel_fill_ratio", "pipeline" => pipeline.to_string(), "channel" => name);
            (fill, batches, ratio)
        })
        .collect();
    let mut tick = tokio::time::interval(GAUGE_INTERVAL);
    loop {
        tick.tick().await;
        for (fill, batches, ratio) in &gauges {
            if let Some((len, cap)) = fill.fill() {
                batches.set(len as f64);
                ratio.set(len as f64 / cap.max(1) as f64);
            }
        }
    }
}
