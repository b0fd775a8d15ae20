//! Notification mode: long-polls `sqs_queue_url` for S3 event notifications
//! and reads the objects they name.
//!
//! The queue is the state: a message is deleted only once every event of
//! every object it names is acknowledged by every output. Until then its
//! visibility is renewed every third of `visibility_timeout`, so no other
//! consumer takes it; if weir dies, the message reappears when the
//! visibility lapses and an instance (this one restarted, or another sharing
//! the queue) reads the objects again. Any number of instances can share
//! one queue: each received message is hidden from the others.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::types::Message;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::notification::{self, Notification, ObjectRef};
use super::object::{read_object, ObjectCx, ReadEnd};
use super::polling::wait_acks;
use super::progress::AckTracker;
use super::{wanted, S3Format, S3InputConfig};
use crate::aws::{backoff, describe};
use crate::inputs::InputContext;

/// SQS long-poll wait, the maximum.
const WAIT_SECONDS: i32 = 20;
/// Attempts at one object within one receipt of its message.
const ATTEMPTS: u32 = 3;

struct Handler {
    objects: ObjectCx,
    sqs: aws_sdk_sqs::Client,
    url: String,
    visibility: Duration,
    ack_timeout: Duration,
    delete_unparseable: bool,
    format: S3Format,
    prefix: String,
    input: Arc<str>,
}

pub async fn run(
    config: &S3InputConfig,
    cx: &InputContext,
    objects: ObjectCx,
    sqs: aws_sdk_sqs::Client,
    url: String,
) -> anyhow::Result<()> {
    info!(input = %cx.name, queue = %url, "s3 input reading notifications");
    let shutdown = cx.shutdown.clone();
    let handler = Arc::new(Handler {
        objects,
        sqs,
        url,
        visibility: config.visibility_timeout,
        ack_timeout: config.ack_timeout,
        delete_unparseable: config.delete_unparseable,
        format: config.format,
        prefix: config.prefix.clone(),
        input: cx.name.clone(),
    });
    let visibility = i32::try_from(config.visibility_timeout.as_secs()).unwrap_or(43_200);
    // One slot per message being handled; a receive asks for as many
    // messages as there are free slots (at most 10, SQS's limit).
    let slots = Arc::new(Semaphore::new(config.concurrency));
    let mut tasks = JoinSet::new();
    let mut failures = 0u32;
    loop {
        let first = tokio::select! {
            _ = shutdown.cancelled() => break,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let mut permits = vec![first];
        while permits.len() < 10 {
            match slots.clone().try_acquire_owned() {
                Ok(p) => permits.push(p),
                Err(_) => break,
            }
        }
        let request = handler
            .sqs
            .receive_message()
            .queue_url(&handler.url)
            .max_number_of_messages(permits.len() as i32)
            .wait_time_seconds(WAIT_SECONDS)
            .visibility_timeout(visibility);
        let received = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = request.send() => r,
        };
        let messages = match received {
            Ok(r) => {
                failures = 0;
                r.messages.unwrap_or_default()
            }
            Err(e) => {
                handler.objects.metrics.error("sqs");
                let delay = backoff(
                    failures,
                    Duration::from_millis(500),
                    Duration::from_secs(30),
                );
                warn!(input = %cx.name, queue = %handler.url, error = describe(&e), retry_in = ?delay,
                    "ReceiveMessage failed");
                failures = failures.saturating_add(1);
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(delay) => continue,
                }
            }
        };
        for (message, permit) in messages.into_iter().zip(permits) {
            let handler = handler.clone();
            tasks.spawn(async move {
                let _permit = permit;
                handler.handle(message).await;
            });
        }
        while tasks.try_join_next().is_some() {}
    }
    // Messages in flight stop reading and wait (bounded) for their acks;
    // unfinished ones are released for another consumer.
    while tasks.join_next().await.is_some() {}
    info!(input = %cx.name, "s3 input stopped");
    Ok(())
}

impl Handler {
    async fn handle(&self, message: Message) {
        let Some(receipt) = message.receipt_handle() else {
            return;
        };
        let id = message.message_id().unwrap_or("?");
        let metrics = &self.objects.metrics;
        let objects = match notification::parse(message.body().unwrap_or("")) {
            Ok(Notification::Test) => {
                debug!(input = %self.input, message = id, "deleting the s3:TestEvent");
                if self.delete(receipt).await {
                    metrics.message("test_event");
                }
                return;
            }
            Ok(Notification::Objects(objects)) => objects,
            Err(reason) => {
                metrics.message("unparseable");
                warn!(input = %self.input, message = id, reason,
                    deleted = self.delete_unparseable,
                    "an SQS message is not an S3 notification");
                if self.delete_unparseable {
                    self.delete(receipt).await;
                }
                return;
            }
        };
        let extender = tokio::spawn(extend_visibility(
            self.sqs.clone(),
            self.url.clone(),
            receipt.to_owned(),
            self.visibility,
        ));
        let mut complete = true;
        for object in &objects {
            if !object.key.starts_with(&self.prefix)
                || !wanted(self.format, &self.prefix, &object.key)
            {
                metrics.object("skipped");
                continue;
            }
            if !self.read(object).await {
                complete = false;
                break;
            }
        }
        extender.abort();
        if complete {
            if self.delete(receipt).await {
                metrics.message("deleted");
            }
            return;
        }
        metrics.message("failed");
        if self.objects.shutdown.is_cancelled() {
            // Hand it to another consumer now rather than after the lease.
            let _ = self
                .sqs
                .change_message_visibility()
                .queue_url(&self.url)
                .receipt_handle(receipt)
                .visibility_timeout(0)
                .send()
                .await;
        } else {
            warn!(input = %self.input, message = id,
                "the message's objects were not all delivered; it will be received again");
        }
    }

    /// Reads one object until every line is acknowledged; false when it
    /// could not be (the message is then left in the queue).
    async fn read(&self, object: &ObjectRef) -> bool {
        let metrics = &self.objects.metrics;
        metrics.in_flight.increment(1.0);
        let mut skip = 0;
        let mut done = false;
        for attempt in 0..ATTEMPTS {
            let (tracker, acks) = AckTracker::spawn(skip, |_| {});
            let read = read_object(&self.objects, &object.bucket, &object.key, skip, tracker).await;
            let outcome = wait_acks(acks, &self.objects.shutdown, self.ack_timeout, skip).await;
            match (read, outcome) {
                (Ok(ReadEnd::Eof), Some(o)) if !o.failed => {
                    metrics.object("done");
                    done = true;
                    break;
                }
                (Ok(ReadEnd::Missing), _) => {
                    warn!(bucket = %object.bucket, key = %object.key,
                        "a notified object does not exist (deleted since); skipping it");
                    metrics.object("missing");
                    done = true;
                    break;
                }
                (Ok(ReadEnd::Shutdown | ReadEnd::Closed), _) | (_, None) => break,
                (read, Some(outcome)) => {
                    metrics.object("failed");
                    let reason = match read {
                        Err(e) => format!("{e:#}"),
                        Ok(_) => "an output did not deliver a batch".to_owned(),
                    };
                    warn!(bucket = %object.bucket, key = %object.key, error = reason,
                        attempt = attempt + 1, "reading the object failed");
                    skip = outcome.acked_through;
                    let delay =
                        backoff(attempt, Duration::from_millis(500), Duration::from_secs(10));
                    tokio::select! {
                        _ = self.objects.shutdown.cancelled() => break,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
        metrics.in_flight.decrement(1.0);
        done
    }

    async fn delete(&self, receipt: &str) -> bool {
        match self
            .sqs
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
        {
            Ok(_) => true,
            Err(e) => {
                self.objects.metrics.error("sqs");
                warn!(input = %self.input, queue = %self.url, error = describe(&e),
                    "DeleteMessage failed; the message will be received again");
                false
            }
        }
    }
}

/// Renews a message's lease every third of the visibility timeout while its
/// objects are read (aborted when they are done). A third, not a half, so a
/// slow endpoint has most of the timeout to answer; a failed renewal is
/// tried again soon rather than a period later, when the lease may be gone.
async fn extend_visibility(
    sqs: aws_sdk_sqs::Client,
    url: String,
    receipt: String,
    visibility: Duration,
) {
    let secs = i32::try_from(visibility.as_secs()).unwrap_or(43_200);
    let period = visibility / 3;
    let retry = (visibility / 10).max(Duration::from_millis(200));
    let mut wait = period;
    loop {
        tokio::time::sleep(wait).await;
        wait = match sqs
            .change_message_visibility()
            .queue_url(&url)
            .receipt_handle(&receipt)
            .visibility_timeout(secs)
            .send()
            .await
        {
            Ok(_) => period,
            Err(e) => {
                warn!(queue = %url, error = describe(&e), retry_in = ?retry,
                    "ChangeMessageVisibility failed; trying again");
                retry
            }
        };
    }
}
