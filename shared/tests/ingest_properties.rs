//! Properties of the ingest path on the in-memory store:
//! - whatever order Mesh delivers a transfer's events in, and however often it repeats them, the
//!   transfer ends in the right state and never moves backwards on the way;
//! - over arbitrary sequences of reports (any status, any time, event ids reused with other content,
//!   transactions we never created), every step keeps the store's rule (`MemorySnapshot::check_step`):
//!   a terminal status never changes, the rank never decreases, each event id applies once.

use proptest::prelude::*;
use shared::domain::ids::{EventId, TransactionId, TransferId, UserId};
use shared::domain::report::{Outcome, Report, ReportSource};
use shared::domain::transfer::{Received, ReportedStatus, TransferRecord, TransferStatus};
use shared::ingest::ingest;
use shared::storage::{MemoryTransferStore, TransferStore};

/// Two transfers of ours, and a transaction id Mesh may name that we never created.
const TRANSACTIONS: [&str; 3] = ["txn_prop_a", "txn_prop_b", "txn_prop_unknown"];
/// Few event ids, so the same id often comes back, with the same content or another.
const EVENT_IDS: usize = 6;
const STATUSES: [&str; 7] =
    ["Pending", "Succeeded", "Failed", "RefundPending", "RefundSucceeded", "pending", "Exploded"];

/// One report as Mesh might send it: which event id, which transaction, which status, when.
fn any_report() -> impl Strategy<Value = (usize, usize, &'static str, Option<i64>)> {
    (0..EVENT_IDS, 0..TRANSACTIONS.len(), prop::sample::select(&STATUSES[..]), prop::option::of(any::<i64>()))
}

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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_report_sequences_keep_the_store_rule(reports in prop::collection::vec(any_report(), 1..24)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let store = MemoryTransferStore::default();
            for id in &TRANSACTIONS[..2] {
                let record = TransferRecord::created(TransactionId::parse(*id).unwrap(), UserId::parse("u").unwrap(), 1);
                store.create(&record).await.unwrap();
            }
            let mut applied_ids = Vec::new();
            for (i, &(event, txn, status, event_at)) in reports.iter().enumerate() {
                let report = Report {
                    event_id: EventId::parse(format!("evt-{event}")).unwrap(),
                    source: ReportSource::Webhook,
                    transfer_id: TransferId::parse(format!("tr-{txn}")).unwrap(),
                    transaction_id: Some(TransactionId::parse(TRANSACTIONS[txn]).unwrap()),
                    user_id: None,
                    status: ReportedStatus::parse(status),
                    event_at,
                    tx_hash: None,
                    received: Received::default(),
                };
                let before = store.snapshot();
                let outcome = ingest(&store, &report, status, 10_000 + i as i64).await.unwrap().outcome;
                let after = store.snapshot();
                if let Err(broken) = before.check_step(&after, Some(&report.event_id), outcome) {
                    prop_assert!(false, "step {} of {:?}: {}", i, reports, broken);
                }
                if matches!(outcome, Outcome::Applied | Outcome::Refreshed | Outcome::Refunded) {
                    prop_assert!(!applied_ids.contains(&event), "event {} applied twice in {:?}", event, reports);
                    applied_ids.push(event);
                }
            }
            Ok(())
        })?;
    }
}
