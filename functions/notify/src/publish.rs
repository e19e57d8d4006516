//! Publishing one batch of stream records: their events in `PutEvents` calls of at most ten, failed
//! entries retried with backoff (bounded), and the records whose events still failed handed back, so
//! the event source mapping retries them and, in the end, sends them to the on-failure queue. Nothing is
//! dropped, and a retry carries the same ids: they are derived from the change, not drawn at random.

use crate::bus::{BusEntry, EntryOutcome, EventBus, MAX_ENTRIES};
use crate::stream::RecordEvents;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Calls per entry, the first included.
    pub attempts: u32,
    /// Wait before the first retry; doubled for each next one, with jitter.
    pub first_backoff: Duration,
}

impl Default for RetryPolicy {
    /// Four calls over about 1.4 s: enough for a throttle or a blip, well inside the function's timeout;
    /// anything longer is the event source mapping's retry to make.
    fn default() -> Self {
        Self { attempts: 4, first_backoff: Duration::from_millis(200) }
    }
}

/// What became of a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Published {
    pub events: usize,
    /// Entries a call failed (counted per call: a retried entry that fails again counts again).
    pub failed_entries: usize,
    /// Sequence numbers of the records to hand back, in batch order.
    pub failed_records: Vec<String>,
    /// Events of those records (not published, or not known to be).
    pub undelivered_events: usize,
}

/// Publishes every event of `records`; returns which records must be retried.
pub async fn publish<B: EventBus>(bus: &B, records: &[RecordEvents], policy: RetryPolicy) -> Published {
    let mut failed = vec![false; records.len()];
    // (record index, entry) still to publish.
    let mut pending: Vec<(usize, BusEntry)> = Vec::new();
    for (i, record) in records.iter().enumerate() {
        match &record.events {
            Ok(events) => pending.extend(events.iter().map(|e| (i, BusEntry::from_event(e)))),
            Err(e) => {
                tracing::error!(sequence_number = %record.sequence_number, error = %e, "stream record unreadable");
                failed[i] = true;
            }
        }
    }
    let mut result = Published::default();
    for attempt in 0..policy.attempts.max(1) {
        if pending.is_empty() {
            break;
        }
        if attempt > 0 {
            tokio::time::sleep(backoff(policy.first_backoff, attempt)).await;
        }
        let mut again = Vec::new();
        for chunk in pending.chunks(MAX_ENTRIES) {
            let entries: Vec<BusEntry> = chunk.iter().map(|(_, e)| e.clone()).collect();
            let outcomes = match bus.put(&entries).await {
                Ok(outcomes) => outcomes,
                Err(e) => {
                    tracing::warn!(error = %e, entries = entries.len(), attempt, "PutEvents call failed");
                    vec![EntryOutcome::Failed { code: "CallFailed".into() }; entries.len()]
                }
            };
            for (item, outcome) in chunk.iter().zip(outcomes) {
                match outcome {
                    EntryOutcome::Published => result.events += 1,
                    EntryOutcome::Failed { code } => {
                        tracing::warn!(event_id = %item.1.event_id, code = %code, attempt, "event not accepted by the bus");
                        result.failed_entries += 1;
                        again.push(item.clone());
                    }
                }
            }
        }
        pending = again;
    }
    result.undelivered_events = pending.len();
    for (i, entry) in &pending {
        tracing::error!(event_id = %entry.event_id, sequence_number = %records[*i].sequence_number, "event not published; record handed back");
        failed[*i] = true;
    }
    result.failed_records =
        records.iter().zip(&failed).filter(|(_, f)| **f).map(|(r, _)| r.sequence_number.clone()).collect();
    result
}

/// `first * 2^(attempt-1)`, scaled by a random factor in [0.5, 1.5) so concurrent batches spread out.
fn backoff(first: Duration, attempt: u32) -> Duration {
    let exp = first.saturating_mul(1 << (attempt - 1).min(10));
    exp.mul_f64(0.5 + fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::memory::MemoryBus;
    use crate::stream::DecodeError;
    use shared::domain::checkout::CheckoutStatus;
    use shared::domain::settlement_event::checkout_events;

    fn paid_events(n: usize) -> Vec<shared::domain::settlement_event::SettlementEvent> {
        let mut c = crate::test_support::open_checkout(n);
        c.status = CheckoutStatus::Canceled;
        c.closed_at = Some(1);
        checkout_events(None, &c)
    }

    fn records(n: usize) -> Vec<RecordEvents> {
        (0..n).map(|i| RecordEvents { sequence_number: format!("{:04}", i), events: Ok(paid_events(i)) }).collect()
    }

    const FAST: RetryPolicy = RetryPolicy { attempts: 3, first_backoff: Duration::from_millis(1) };

    #[tokio::test]
    async fn calls_carry_at_most_ten_entries() {
        let bus = MemoryBus::default();
        let out = publish(&bus, &records(23), FAST).await;
        assert_eq!(*bus.calls.lock().unwrap(), vec![10, 10, 3]);
        assert_eq!((out.events, out.failed_records.len()), (23, 0));
    }

    #[tokio::test]
    async fn a_failed_entry_is_retried_with_its_id_and_nothing_else_is_sent_twice() {
        let bus = MemoryBus::default();
        let batch = records(12);
        let flaky = batch[4].events.as_ref().unwrap()[0].id.clone();
        bus.fail_entry(&flaky, 2);
        let out = publish(&bus, &batch, FAST).await;
        assert_eq!(out, Published { events: 12, failed_entries: 2, failed_records: vec![], undelivered_events: 0 });
        assert_eq!(*bus.calls.lock().unwrap(), vec![10, 2, 1, 1], "only the failed entry is retried");
        let ids = bus.ids();
        assert_eq!(ids.iter().filter(|i| **i == flaky).count(), 1);
        assert_eq!(ids.len(), 12);
    }

    #[tokio::test]
    async fn what_still_fails_is_handed_back_by_sequence_number_never_dropped() {
        let bus = MemoryBus::default();
        let batch = records(5);
        let stuck = batch[3].events.as_ref().unwrap()[0].id.clone();
        bus.fail_entry(&stuck, 100);
        let out = publish(&bus, &batch, FAST).await;
        assert_eq!(out.failed_records, vec!["0003".to_string()]);
        assert_eq!((out.events, out.failed_entries, out.undelivered_events), (4, 3, 1));
        // The event source mapping retries from that record; the retry carries the same ids, so the
        // ones already published are not new events to a consumer deduplicating on the id.
        let retried = records(5);
        assert_eq!(retried[3].events.as_ref().unwrap()[0].id, stuck);
        assert_eq!(retried[0].events.as_ref().unwrap()[0].id, batch[0].events.as_ref().unwrap()[0].id);
    }

    #[tokio::test]
    async fn a_failed_call_is_retried_then_every_record_in_it_handed_back() {
        let bus = MemoryBus::default();
        *bus.failing_calls.lock().unwrap() = 1;
        let out = publish(&bus, &records(3), FAST).await;
        assert_eq!((out.events, out.failed_entries, out.failed_records.len()), (3, 3, 0));
        let bus = MemoryBus::default();
        *bus.failing_calls.lock().unwrap() = 99;
        let out = publish(&bus, &records(3), FAST).await;
        assert_eq!(out.failed_records, vec!["0000", "0001", "0002"]);
        assert_eq!(bus.calls.lock().unwrap().len(), 3, "bounded: FAST allows three calls");
    }

    #[tokio::test]
    async fn an_unreadable_record_is_handed_back_and_the_others_published() {
        let bus = MemoryBus::default();
        let mut batch = records(3);
        batch[1].events = Err(DecodeError::NoSequenceNumber);
        let out = publish(&bus, &batch, FAST).await;
        assert_eq!(out.failed_records, vec!["0001"]);
        assert_eq!(bus.ids().len(), 2);
    }

    #[test]
    fn backoff_doubles_with_jitter() {
        for attempt in 1..=3 {
            let base = Duration::from_millis(200) * (1 << (attempt - 1));
            let d = backoff(Duration::from_millis(200), attempt);
            assert!(d >= base / 2 && d < base * 3 / 2, "{attempt}: {d:?}");
        }
    }
}
