//! Property: whatever order Mesh delivers a transfer's events in, and however often it repeats them,
//! the transfer ends in the right state and never moves backwards on the way.

use proptest::prelude::*;
use shared::domain::ids::{EventId, TransactionId, TransferId, UserId};
use shared::domain::report::{Outcome, Report, ReportSource};
use shared::domain::transfer::{Received, ReportedStatus, TransferRecord, TransferStatus};
use shared::ingest::ingest;
use shared::storage::{MemoryTransferStore, TransferStore};

/// A transfer's true history: some pending updates, then one terminal event.
fn history() -> impl Strategy<Value = Vec<(&'static str, i64)>> {
    (0usize..4, prop::bool::ANY).prop_map(|(pendings, succeeded)| {
        let mut events: Vec<(&'static str, i64)> = (0..=pendings).map(|i| ("Pending", 1_000 + i as i64 * 10)).collect();
        events.push((if succeeded { "Succeeded" } else { "Failed" }, 5_000));
        events
    })
}

/// Deliveries: every event at least once, some repeated, in any order.
fn deliveries() -> impl Strategy<Value = (Vec<(&'static str, i64)>, Vec<usize>)> {
    history().prop_flat_map(|events| {
        let n = events.len();
        let repeats = prop::collection::vec(0..n, 0..6);
        (Just(events), repeats).prop_flat_map(move |(events, repeats)| {
            let mut order: Vec<usize> = (0..n).chain(repeats).collect();
            order.sort_unstable();
            (Just(events), Just(order).prop_shuffle())
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_order_with_duplicates_ends_terminal_and_monotone((events, order) in deliveries()) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let store = MemoryTransferStore::default();
            let record = TransferRecord::created(TransactionId::generate(), UserId::parse("u").unwrap(), 1);
            store.create(&record).await.unwrap();
            let mut last_rank = 0;
            let mut last_version = 1;
            let mut applied = 0;
            for &i in &order {
                let (status, at) = events[i];
                let report = Report {
                    event_id: EventId::parse(format!("evt-{i}")).unwrap(),
                    source: ReportSource::Webhook,
                    transfer_id: TransferId::parse("tr-1").unwrap(),
                    transaction_id: Some(record.transaction_id.clone()),
                    user_id: None,
                    status: ReportedStatus::parse(status),
                    event_at: Some(at),
                    tx_hash: None,
                    received: Received::default(),
                };
                let outcome = ingest(&store, &report, status, 10_000).await.unwrap().outcome;
                let now = store.get(&record.transaction_id).await.unwrap().unwrap();
                prop_assert!(now.status.rank() >= last_rank, "moved backwards: {:?} after {:?}", now.status, order);
                match outcome {
                    Outcome::Applied | Outcome::Refreshed => {
                        applied += 1;
                        prop_assert_eq!(now.version, last_version + 1);
                    }
                    _ => prop_assert_eq!(now.version, last_version, "{:?} changed the transfer", outcome),
                }
                last_rank = now.status.rank();
                last_version = now.version;
            }
            let done = store.get(&record.transaction_id).await.unwrap().unwrap();
            let want = if events.last().unwrap().0 == "Succeeded" { TransferStatus::Succeeded } else { TransferStatus::Failed };
            prop_assert_eq!(done.status, want);
            prop_assert!(applied <= events.len(), "an event applied twice");
            Ok(())
        })?;
    }
}
