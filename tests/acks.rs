//! Batch acknowledgements through a real pipeline: an input's ack resolves
//! only once every output has finished with the batch.
//!
//! The outputs here are test doubles that hold batches until released: no
//! real program produces "delivery is stuck" on demand.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use weir::config::pipeline::{InputSpec, OutputSpec};
use weir::config::{PipelineSpec, Settings};
use weir::event::Event;
use weir::filters::drop::Drop as DropAll;
use weir::filters::{BuildContext, Chain, Filter, PerEvent};
use weir::inputs::{InputConfig, InputContext, InputTask};
use weir::outputs::{OutputConfig, OutputContext, OutputTask, WhenFull};
use weir::topology::ack::{Ack, BatchStatus};
use weir::topology::run_pipeline;

/// Sends `batches` batches of 3 events with tracked acks and reports each
/// batch's status as it resolves.
#[derive(Debug)]
struct AckingInput {
    batches: usize,
    statuses: mpsc::UnboundedSender<(usize, BatchStatus)>,
}

impl InputConfig for AckingInput {
    fn build(&self, cx: InputContext) -> anyhow::Result<InputTask> {
        let batches = self.batches;
        let statuses = self.statuses.clone();
        Ok(Box::pin(async move {
            let mut waits = Vec::new();
            for b in 0..batches {
                let (ack, rx) = Ack::new();
                let events = (0..3)
                    .map(|i| Event::from_text(&format!("b{b} e{i}")))
                    .collect();
                cx.out.send(events, ack).await?;
                let statuses = statuses.clone();
                waits.push(tokio::spawn(async move {
                    let status = rx.await;
                    let _ = statuses.send((b, status));
                }));
            }
            for w in waits {
                let _ = w.await;
            }
            Ok(())
        }))
    }
}

/// Holds every batch until `release` turns true, then drops (acknowledges)
/// or fails it.
#[derive(Debug)]
struct HeldOutput {
    release: watch::Receiver<bool>,
    fail: bool,
    seen: Arc<Mutex<usize>>,
    /// Stop taking batches after holding this many (a sink that is stuck).
    max_held: usize,
}

async fn released(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

fn bump(seen: &Mutex<usize>, n: usize) {
    if let Ok(mut s) = seen.lock() {
        *s += n;
    }
}

impl OutputConfig for HeldOutput {
    fn build(&self, cx: OutputContext) -> anyhow::Result<OutputTask> {
        let mut release = self.release.clone();
        let fail = self.fail;
        let seen = self.seen.clone();
        let max_held = self.max_held;
        Ok(Box::pin(async move {
            let mut held = Vec::new();
            loop {
                tokio::select! {
                    b = cx.input.recv(), if held.len() < max_held => match b {
                        Ok(b) => {
                            bump(&seen, b.len());
                            held.push(b);
                        }
                        Err(_) => break,
                    },
                    _ = released(&mut release) => break,
                }
            }
            // Hold what arrived until released, then acknowledge (or fail)
            // it and everything after it.
            released(&mut release).await;
            for b in held.drain(..) {
                if fail {
                    b.fail();
                }
            }
            while let Ok(b) = cx.input.recv().await {
                bump(&seen, b.len());
                if fail {
                    b.fail();
                }
            }
            Ok(())
        }))
    }
}

fn spec(input: AckingInput, outputs: Vec<(HeldOutput, WhenFull)>, chain: Chain) -> PipelineSpec {
    PipelineSpec {
        name: "acks".into(),
        file: "acks.yaml".into(),
        workers: 2,
        batch_size: 512,
        inputs: vec![InputSpec {
            name: "in".into(),
            kind: "test".into(),
            config: Arc::new(input),
            format: None,
        }],
        chain,
        outputs: outputs
            .into_iter()
            .enumerate()
            .map(|(i, (o, when_full))| OutputSpec {
                name: format!("out{i}").into(),
                kind: "test".into(),
                config: Arc::new(o),
                when: None,
                when_full,
                buffer_batches: 2,
                loc: Default::default(),
            })
            .collect(),
        settings: Settings {
            data_dir: Some(std::env::temp_dir()),
            api_listen: None,
            shutdown_timeout: None,
        },
    }
}

async fn no_status_for(rx: &mut mpsc::UnboundedReceiver<(usize, BatchStatus)>, d: Duration) {
    if let Ok(Some(s)) = tokio::time::timeout(d, rx.recv()).await {
        panic!("a batch resolved while an output still held it: {s:?}");
    }
}

/// Waits until the outputs have taken `n` events between them, checking
/// all the while that no batch resolves.
async fn wait_seen(
    seen: &Mutex<usize>,
    n: usize,
    rx: &mut mpsc::UnboundedReceiver<(usize, BatchStatus)>,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while *seen.lock().unwrap() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the outputs took {} of {n} events",
            *seen.lock().unwrap()
        );
        no_status_for(rx, Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_wait_for_every_output() {
    let (tx, mut statuses) = mpsc::unbounded_channel();
    let (release_a, ra) = watch::channel(false);
    let (release_b, rb) = watch::channel(false);
    let seen = Arc::new(Mutex::new(0));
    let p = spec(
        AckingInput {
            batches: 2,
            statuses: tx,
        },
        vec![
            (
                HeldOutput {
                    release: ra,
                    fail: false,
                    seen: seen.clone(),
                    max_held: usize::MAX,
                },
                WhenFull::Block,
            ),
            (
                HeldOutput {
                    release: rb,
                    fail: false,
                    seen: seen.clone(),
                    max_held: usize::MAX,
                },
                WhenFull::Block,
            ),
        ],
        Chain::default(),
    );
    let run = tokio::spawn(run_pipeline(p, CancellationToken::new()));
    wait_seen(&seen, 12, &mut statuses).await;
    no_status_for(&mut statuses, Duration::from_millis(300)).await;
    assert_eq!(*seen.lock().unwrap(), 12, "both outputs hold both batches");
    release_a.send(true).unwrap();
    no_status_for(&mut statuses, Duration::from_millis(300)).await;
    release_b.send(true).unwrap();
    let mut got = vec![
        statuses.recv().await.unwrap(),
        statuses.recv().await.unwrap(),
    ];
    got.sort_by_key(|(b, _)| *b);
    assert_eq!(
        got,
        vec![(0, BatchStatus::Delivered), (1, BatchStatus::Delivered)]
    );
    run.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_output_fails_the_batch() {
    let (tx, mut statuses) = mpsc::unbounded_channel();
    let (release, r) = watch::channel(false);
    let (release_ok, r_ok) = watch::channel(true);
    let p = spec(
        AckingInput {
            batches: 1,
            statuses: tx,
        },
        vec![
            (
                HeldOutput {
                    release: r,
                    fail: true,
                    seen: Default::default(),
                    max_held: usize::MAX,
                },
                WhenFull::Block,
            ),
            (
                HeldOutput {
                    release: r_ok,
                    fail: false,
                    seen: Default::default(),
                    max_held: usize::MAX,
                },
                WhenFull::Block,
            ),
        ],
        Chain::default(),
    );
    let run = tokio::spawn(run_pipeline(p, CancellationToken::new()));
    no_status_for(&mut statuses, Duration::from_millis(300)).await;
    release.send(true).unwrap();
    assert_eq!(statuses.recv().await.unwrap(), (0, BatchStatus::Failed));
    drop(release_ok);
    run.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_emptied_by_filters_resolve_without_reaching_outputs() {
    let (tx, mut statuses) = mpsc::unbounded_channel();
    let (_release, r) = watch::channel(false);
    let seen = Arc::new(Mutex::new(0));
    let cx = BuildContext {
        pipeline: "acks".into(),
        component: "drop#0".into(),
    };
    let drop_all: Arc<dyn Filter> = Arc::new(PerEvent::new(DropAll, &cx));
    let p = spec(
        AckingInput {
            batches: 3,
            statuses: tx,
        },
        vec![(
            HeldOutput {
                release: r,
                fail: false,
                seen: seen.clone(),
                max_held: usize::MAX,
            },
            WhenFull::Block,
        )],
        Chain::new(vec![drop_all]),
    );
    let run = tokio::spawn(run_pipeline(p, CancellationToken::new()));
    for _ in 0..3 {
        assert_eq!(statuses.recv().await.unwrap().1, BatchStatus::Delivered);
    }
    assert_eq!(*seen.lock().unwrap(), 0);
    drop(_release);
    run.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_newest_keeps_a_stuck_output_from_holding_the_others_back() {
    let (tx, mut statuses) = mpsc::unbounded_channel();
    let (release_stuck, stuck) = watch::channel(false);
    let (_release_ok, ok) = watch::channel(true);
    let p = spec(
        AckingInput {
            batches: 20,
            statuses: tx,
        },
        vec![
            (
                HeldOutput {
                    release: stuck,
                    fail: false,
                    seen: Default::default(),
                    max_held: 1,
                },
                WhenFull::DropNewest,
            ),
            (
                HeldOutput {
                    release: ok,
                    fail: false,
                    seen: Default::default(),
                    max_held: usize::MAX,
                },
                WhenFull::Block,
            ),
        ],
        Chain::default(),
    );
    let run = tokio::spawn(run_pipeline(p, CancellationToken::new()));
    // The stuck output's buffer holds 2 batches (plus what its task took);
    // every other batch resolves even though that output never releases.
    // However slowly they resolve: a stuck output holding the others back
    // would leave most unresolved for good.
    let mut resolved = 0;
    while resolved < 16 {
        match tokio::time::timeout(Duration::from_secs(30), statuses.recv()).await {
            Ok(Some(_)) => resolved += 1,
            _ => panic!("only {resolved} of 20 batches resolved"),
        }
    }
    release_stuck.send(true).unwrap();
    run.await.unwrap().unwrap();
}
