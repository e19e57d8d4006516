//! Redelivery: the events a checkout's (or a deposit's) record shows now, published again with the ids
//! they were first published with. For a consumer that lost them or wants them again; one that already
//! has them drops them by `detail.eventId`.

use crate::bus::EventBus;
use crate::publish::{Published, RetryPolicy, publish};
use crate::stream::RecordEvents;
use shared::domain::ids::{CheckoutId, TransactionId};
use shared::domain::settlement_event::{SettlementEvent, checkout_events, deposit_events};
use shared::storage::{CheckoutStore, StoreError, TransferStore};

/// What to redeliver: a checkout (`chk_…`) or a deposit's transfer (`txn_…`, or any other transaction id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Checkout(CheckoutId),
    Transfer(TransactionId),
}

impl Target {
    pub fn parse(raw: &str) -> Result<Self, RedeliverError> {
        let raw = raw.trim();
        let bad = |_| RedeliverError::BadId(raw.to_string());
        if raw.starts_with("chk_") {
            CheckoutId::parse(raw).map(Self::Checkout).map_err(bad)
        } else {
            TransactionId::parse(raw).map(Self::Transfer).map_err(bad)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RedeliverError {
    #[error("{0:?} is neither a checkout id nor a transaction id")]
    BadId(String),
    #[error("no record for {0}")]
    NotFound(String),
    #[error("reading the record failed: {0}")]
    Store(#[from] StoreError),
}

/// The events the record shows now: as if every change it went through were seen at once.
pub async fn current_events<S: CheckoutStore + TransferStore>(
    store: &S,
    target: &Target,
) -> Result<Vec<SettlementEvent>, RedeliverError> {
    match target {
        Target::Checkout(id) => {
            let c = store.get_checkout(id).await?.ok_or_else(|| RedeliverError::NotFound(id.to_string()))?;
            Ok(checkout_events(None, &c))
        }
        Target::Transfer(id) => {
            let t = store.get(id).await?.ok_or_else(|| RedeliverError::NotFound(id.to_string()))?;
            Ok(deposit_events(None, &t))
        }
    }
}

/// Publishes `events` again (same ids), with the function's retries.
pub async fn redeliver<B: EventBus>(bus: &B, events: Vec<SettlementEvent>) -> Published {
    let record = RecordEvents { sequence_number: "redelivery".into(), events: Ok(events) };
    publish(bus, std::slice::from_ref(&record), RetryPolicy::default()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::memory::MemoryBus;
    use shared::domain::checkout::{CheckoutStatus, ReviewFlag};
    use shared::storage::MemoryTransferStore;

    #[tokio::test]
    async fn a_checkout_s_events_are_published_again_with_the_ids_the_stream_gave_them() {
        let store = MemoryTransferStore::default();
        let open = crate::test_support::open_checkout(7);
        store.open_checkout(&open, None).await.unwrap();
        let target = Target::parse("chk_7").unwrap();
        assert!(current_events(&store, &target).await.unwrap().is_empty(), "nothing happened yet");

        let mut canceled = open.clone();
        canceled.status = CheckoutStatus::Canceled;
        canceled.closed_at = Some(5);
        canceled.flags = vec![ReviewFlag::Late];
        let from_stream: Vec<String> = checkout_events(Some(&open), &canceled).iter().map(|e| e.id.clone()).collect();
        // What the store holds after those two changes, read back.
        let mut stored = open.clone();
        stored.status = CheckoutStatus::Canceled;
        stored.closed_at = Some(5);
        stored.flags = vec![ReviewFlag::Late];
        stored.version = 4;
        let events = checkout_events(None, &stored);
        let bus = MemoryBus::default();
        let out = redeliver(&bus, events).await;
        assert_eq!(out.failed_records.len(), 0);
        assert_eq!(bus.ids(), from_stream);
        assert!(matches!(Target::parse("no such"), Err(RedeliverError::BadId(_))));
        assert!(matches!(
            current_events(&store, &Target::parse("chk_8").unwrap()).await,
            Err(RedeliverError::NotFound(_))
        ));
    }
}
