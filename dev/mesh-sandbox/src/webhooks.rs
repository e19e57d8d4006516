//! Webhook delivery: every event of a transfer goes through that transfer's own worker, so a transfer's
//! webhooks arrive in the order they were queued. Each attempt gets a new `Id` and `SentTimestamp` (hence
//! new bytes and a new signature) while `EventId` stays; anything but HTTP 200 within the timeout is
//! retried with exponential backoff up to the attempt limit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::{info, warn};
use uuid::Uuid;

use crate::signature::{SIGNATURE_HEADER, sign};
use crate::state::{AppState, Attempt, Batch, Delivery, DeliveryOutcome, Inner, now_secs};
use crate::transfer::WebhookBody;

/// Longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Per-call delivery knobs (`webhooks` in the control API).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebhookOptions {
    /// Record the deliveries as dropped and never send them.
    pub drop: bool,
    /// Extra deliveries of each event (same `EventId`, new `Id`).
    pub duplicates: u32,
    /// Deliver this call's events in reverse order (terminal before pending).
    pub reverse: bool,
    /// Wait before the first delivery.
    pub delay: Duration,
    /// Wait between two deliveries.
    pub gap: Duration,
}

/// Wait before attempt `attempt + 1` after attempt `attempt` (1-based) failed: `base × 2^(attempt−1)`,
/// capped at [`MAX_BACKOFF`].
pub fn backoff_delay(base: Duration, attempt: u32) -> Duration {
    let factor = 1u32 << attempt.saturating_sub(1).min(20);
    base.saturating_mul(factor).min(MAX_BACKOFF)
}

/// Records one delivery per event (plus duplicates), applying the drop/duplicate knobs, and queues the
/// ones to send on the transfer's worker. Call with the state lock held; never blocks.
pub fn dispatch(
    state: &Arc<AppState>,
    world: &mut Inner,
    transfer_id: Uuid,
    mut events: Vec<WebhookBody>,
    options: &WebhookOptions,
) {
    if options.reverse {
        events.reverse();
    }
    let mut queued = Vec::new();
    for event in events {
        let extra = u32::from(world.knobs.duplicate_rate > 0.0 && fastrand::f64() < world.knobs.duplicate_rate);
        let copies = 1 + options.duplicates.saturating_add(extra);
        for copy in 0..copies {
            let dropped = options.drop || (world.knobs.drop_rate > 0.0 && fastrand::f64() < world.knobs.drop_rate);
            let mut body = event.clone();
            body.id = Uuid::new_v4();
            body.sent_timestamp = now_secs();
            let delivery_id = world.deliveries.len();
            if dropped {
                info!(
                    "webhook {} event={} transfer={} dropped (never sent)",
                    body.transfer_status, body.event_id, body.transfer_id
                );
            } else {
                queued.push(delivery_id);
            }
            world.deliveries.push(Delivery {
                delivery_id,
                duplicate: copy > 0,
                outcome: if dropped { DeliveryOutcome::Dropped } else { DeliveryOutcome::Pending },
                url: world.knobs.webhook_url.clone(),
                attempts: Vec::new(),
                body,
            });
        }
    }
    if queued.is_empty() {
        return;
    }
    let batch = Batch { generation: world.generation, deliveries: queued, delay: options.delay, gap: options.gap };
    let sender = match world.queues.get(&transfer_id) {
        Some(tx) if !tx.is_closed() => tx.clone(),
        _ => {
            let (tx, rx) = mpsc::unbounded_channel();
            world.queues.insert(transfer_id, tx.clone());
            tokio::spawn(worker(Arc::clone(state), transfer_id, tx.downgrade(), rx));
            tx
        }
    };
    if let Err(unsent) = sender.send(batch) {
        // The worker just stopped (shutdown): nothing will send these.
        warn!("webhook worker gone; {} deliveries not sent", unsent.0.deliveries.len());
    }
}

/// Sleeps unless the sandbox shuts down first; `false` on shutdown.
async fn pause(state: &AppState, duration: Duration) -> bool {
    if duration.is_zero() {
        return !state.is_shutting_down();
    }
    tokio::select! {
        _ = tokio::time::sleep(duration) => true,
        _ = state.shutdown_signal() => false,
    }
}

/// How long a transfer's worker waits for more work before it goes away (a later event starts a new one).
const WORKER_IDLE: Duration = Duration::from_secs(30);

async fn worker(
    state: Arc<AppState>,
    transfer_id: Uuid,
    own: mpsc::WeakUnboundedSender<Batch>,
    mut rx: mpsc::UnboundedReceiver<Batch>,
) {
    loop {
        let batch = tokio::select! {
            batch = rx.recv() => match batch {
                Some(batch) => batch,
                None => return,
            },
            _ = state.shutdown_signal() => return,
            _ = tokio::time::sleep(WORKER_IDLE) => {
                // `dispatch` sends while holding the lock, so nothing can arrive between this check and
                // the removal.
                let mut world = state.lock();
                if !rx.is_empty() {
                    continue;
                }
                let ours = match (world.queues.get(&transfer_id), own.upgrade()) {
                    (Some(registered), Some(own)) => registered.same_channel(&own),
                    _ => false,
                };
                if ours {
                    world.queues.remove(&transfer_id);
                }
                return;
            }
        };
        if !pause(&state, batch.delay).await {
            return;
        }
        for (i, &delivery) in batch.deliveries.iter().enumerate() {
            if i > 0 && !pause(&state, batch.gap).await {
                return;
            }
            if !deliver(&state, batch.generation, delivery).await {
                return;
            }
        }
    }
}

struct Prepared {
    url: String,
    bytes: Vec<u8>,
    signature: String,
    attempt_id: Uuid,
    sent_timestamp: i64,
    timeout: Duration,
    backoff: Duration,
    max_attempts: u32,
    label: String,
}

enum Step {
    Send(Box<Prepared>),
    Done,
}

/// Prepares the next attempt under the lock: new `Id`, new `SentTimestamp`, serialised and signed.
fn prepare(state: &AppState, generation: u64, index: usize) -> Step {
    let mut world = state.lock();
    if world.generation != generation {
        return Step::Done;
    }
    let knobs = world.knobs.clone();
    let Some(delivery) = world.deliveries.get_mut(index) else {
        return Step::Done;
    };
    let Some(url) = knobs.webhook_url.clone() else {
        delivery.outcome = DeliveryOutcome::Skipped;
        delivery.url = None;
        info!(
            "webhook {} event={} skipped: no webhook URL configured",
            delivery.body.transfer_status, delivery.body.event_id
        );
        return Step::Done;
    };
    delivery.url = Some(url.clone());
    delivery.body.id = Uuid::new_v4();
    delivery.body.sent_timestamp = now_secs();
    let bytes = match serde_json::to_vec(&delivery.body) {
        Ok(bytes) => bytes,
        Err(e) => {
            delivery.outcome = DeliveryOutcome::Failed;
            warn!("webhook body could not be serialised: {e}");
            return Step::Done;
        }
    };
    Step::Send(Box::new(Prepared {
        signature: sign(&knobs.webhook_secret, &bytes),
        url,
        bytes,
        attempt_id: delivery.body.id,
        sent_timestamp: delivery.body.sent_timestamp,
        timeout: knobs.webhook_timeout,
        backoff: knobs.webhook_backoff,
        max_attempts: knobs.webhook_max_attempts.max(1),
        label: format!(
            "{} event={} transfer={}",
            delivery.body.transfer_status, delivery.body.event_id, delivery.body.transfer_id
        ),
    }))
}

fn describe(error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        return format!("no response within {} ms", timeout.as_millis());
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Runs one delivery to completion (delivered, failed, skipped). `false` when the sandbox shuts down.
async fn deliver(state: &AppState, generation: u64, index: usize) -> bool {
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let prepared = match prepare(state, generation, index) {
            Step::Send(p) => p,
            Step::Done => return true,
        };
        let started = Instant::now();
        let request = state
            .http
            .post(&prepared.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, &prepared.signature)
            .timeout(prepared.timeout)
            .body(prepared.bytes.clone())
            .send();
        let result = tokio::select! {
            result = request => result,
            _ = state.shutdown_signal() => return false,
        };
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let (http_status, error) = match &result {
            Ok(response) => (Some(response.status().as_u16()), None),
            Err(e) => (None, Some(describe(e, prepared.timeout))),
        };
        drop(result);
        let delivered = http_status == Some(200);
        let last = attempt >= prepared.max_attempts;
        let outcome = if delivered {
            DeliveryOutcome::Delivered
        } else if last {
            DeliveryOutcome::Failed
        } else {
            DeliveryOutcome::Pending
        };
        {
            let mut world = state.lock();
            if world.generation != generation {
                return true;
            }
            if let Some(delivery) = world.deliveries.get_mut(index) {
                delivery.attempts.push(Attempt {
                    id: prepared.attempt_id,
                    sent_timestamp: prepared.sent_timestamp,
                    http_status,
                    error: error.clone(),
                    elapsed_ms,
                    signature: prepared.signature.clone(),
                });
                delivery.outcome = outcome;
            }
        }
        let answer = match (http_status, &error) {
            (Some(code), _) => format!("HTTP {code}"),
            (None, Some(e)) => e.clone(),
            (None, None) => "no answer".to_string(),
        };
        info!(
            "webhook {} id={} attempt={}/{} -> {} ({} ms) [{}]",
            prepared.label,
            prepared.attempt_id,
            attempt,
            prepared.max_attempts,
            answer,
            elapsed_ms,
            outcome.as_str()
        );
        if delivered || last {
            return true;
        }
        if !pause(state, backoff_delay(prepared.backoff, attempt)).await {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let base = Duration::from_millis(500);
        assert_eq!(backoff_delay(base, 1), Duration::from_millis(500));
        assert_eq!(backoff_delay(base, 2), Duration::from_millis(1000));
        assert_eq!(backoff_delay(base, 3), Duration::from_millis(2000));
        assert_eq!(backoff_delay(base, 30), MAX_BACKOFF);
        assert_eq!(backoff_delay(Duration::ZERO, 4), Duration::ZERO);
    }
}
