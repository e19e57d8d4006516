//! Applying what Mesh reports about a transfer, from a webhook or from reconciliation: the same
//! plan and the same atomic write for both, so neither can undo the other. `plan` is pure; `ingest`
//! runs it against a store with optimistic locking and retries a lost race. When the transfer pays
//! a checkout, the checkout's settlement is planned from the transfer as it will be after the change
//! and written in the same transaction: the two can never disagree.

use crate::domain::checkout::{AttemptNews, CheckoutRecord, settle};
use crate::domain::mismatch::check_received;
use crate::domain::report::{Outcome, Report};
use crate::domain::transfer::{
    Conflict, Decision, Mismatch, Received, RefundStatus, ReportedStatus, TransferRecord, TransferStatus, Unchanged,
    decide,
};
use crate::storage::{
    CheckoutChange, CheckoutStore, EVENT_RETENTION_SECS, EventRecord, StatusUpdate, StoreError, TransferChange,
    TransferStore,
};

const MAX_ATTEMPTS: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub outcome: Outcome,
    pub event: EventRecord,
    pub change: Option<TransferChange>,
    /// What the change does to the checkout the transfer pays, if anything.
    pub checkout: Option<CheckoutChange>,
}

/// Decides what a report does to the transfer it names (if we have it), and through it to the
/// checkout the transfer pays (`checkout`, as read). Pure.
pub fn plan(
    record: Option<&TransferRecord>,
    checkout: Option<&CheckoutRecord>,
    report: &Report,
    raw_status: &str,
    now_ms: i64,
) -> Plan {
    let mismatches = record.map(|r| check_received(r, report)).unwrap_or_default();
    let (outcome, change) = match record {
        None => (Outcome::Orphan, None),
        Some(r) => match decide(&r.progress(), &report.status, report.event_at) {
            Decision::Advance(status) => {
                (Outcome::Applied, Some(status_change(r, report, status, &mismatches, now_ms)))
            }
            Decision::Refresh => (Outcome::Refreshed, Some(status_change(r, report, r.status, &mismatches, now_ms))),
            Decision::Refund(refund) => (Outcome::Refunded, Some(refund_change(r, refund, now_ms))),
            Decision::Keep(Unchanged::Stale) if learns_value(r, report) => {
                let mut change = status_change(r, report, r.status, &mismatches, now_ms);
                if let TransferChange::Status { update, .. } = &mut change {
                    // Not a newer event, only a figure we lacked: ordered just after what we hold, so
                    // the forward-only condition lets it through once.
                    update.event_at = update.event_at.max(r.last_event_at.map_or(0, |t| t.saturating_add(1)));
                }
                (Outcome::Refreshed, Some(change))
            }
            Decision::Keep(Unchanged::Stale) => (Outcome::Stale, None),
            Decision::Keep(Unchanged::Regression) => (Outcome::Regression, None),
            Decision::Keep(Unchanged::Conflict) => (Outcome::Conflict, conflict_change(r, &report.status, now_ms)),
            Decision::Keep(Unchanged::UnknownStatus) => (Outcome::Parked, None),
        },
    };
    let event = EventRecord {
        event_id: report.event_id.clone(),
        source: report.source,
        outcome,
        transfer_id: report.transfer_id.clone(),
        transaction_id: report.transaction_id.clone(),
        status: raw_status.to_string(),
        event_at: report.event_at,
        received_at: now_ms,
        tx_hash: report.tx_hash.clone(),
        received: report.received.clone(),
        mismatches,
        expires_at: now_ms / 1000 + EVENT_RETENTION_SECS,
    };
    let checkout = match (record, checkout, &change) {
        (Some(r), Some(c), Some(change)) if r.checkout_id.as_ref() == Some(&c.checkout_id) => {
            settle(c, &news_after(r, change), now_ms).map(|state| CheckoutChange {
                id: c.checkout_id.clone(),
                expected_version: c.version,
                state,
                now: now_ms,
            })
        }
        _ => None,
    };
    Plan { outcome, event, change, checkout }
}

/// A report that repeats a success we hold, now with Mesh's fiat value of it, which the success we
/// hold lacks (webhooks carry none; the transfers API does): worth recording, as it can settle a
/// checkout that a non-stablecoin payment left unpriced.
fn learns_value(r: &TransferRecord, report: &Report) -> bool {
    r.status == TransferStatus::Succeeded
        && report.status == ReportedStatus::Succeeded
        && report.received.amount_in_fiat.is_some()
        && r.received.as_ref().is_none_or(|got| got.amount_in_fiat.is_none())
}

/// The attempt as it will be once `change` is applied.
fn news_after(r: &TransferRecord, change: &TransferChange) -> AttemptNews {
    let mut news = AttemptNews {
        transaction_id: r.transaction_id.clone(),
        status: r.status,
        received: r.received.clone(),
        mismatches: r.mismatches.clone(),
        conflict: r.conflict.is_some(),
    };
    match change {
        TransferChange::Status { update, .. } => {
            news.status = update.status;
            if update.received.is_some() {
                news.received.clone_from(&update.received);
            }
            if let Some(m) = &update.mismatches {
                news.mismatches.clone_from(m);
            }
        }
        TransferChange::Conflict { .. } => news.conflict = true,
        TransferChange::Refund { .. } => {}
    }
    news
}

fn status_change(
    r: &TransferRecord,
    report: &Report,
    status: TransferStatus,
    mismatches: &[Mismatch],
    now_ms: i64,
) -> TransferChange {
    let has_received = report.received != Received::default();
    let mut received = report.received.clone();
    // Webhooks carry no fiat figure: a later webhook must not erase the one the transfers API gave.
    if received.amount_in_fiat.is_none() {
        received.amount_in_fiat = r.received.as_ref().and_then(|got| got.amount_in_fiat);
    }
    TransferChange::Status {
        id: r.transaction_id.clone(),
        expected_version: r.version,
        update: StatusUpdate {
            status,
            // An event without a time still moves the status; it is ordered as "now".
            event_at: report.event_at.unwrap_or(now_ms),
            now: now_ms,
            mesh_transfer_id: Some(report.transfer_id.clone()),
            tx_hash: report.tx_hash.clone().filter(|h| !h.is_empty()),
            received: has_received.then_some(received),
            mismatches: has_received.then(|| mismatches.to_vec()),
        },
    }
}

fn refund_change(r: &TransferRecord, refund: RefundStatus, now_ms: i64) -> TransferChange {
    TransferChange::Refund { id: r.transaction_id.clone(), expected_version: r.version, refund, now: now_ms }
}

/// The flag a contradicting terminal report leaves on the transfer (the status itself stays).
fn conflict_change(r: &TransferRecord, reported: &ReportedStatus, now_ms: i64) -> Option<TransferChange> {
    let reported = match reported {
        ReportedStatus::Succeeded => TransferStatus::Succeeded,
        ReportedStatus::Failed => TransferStatus::Failed,
        _ => return None,
    };
    Some(TransferChange::Conflict {
        id: r.transaction_id.clone(),
        expected_version: r.version,
        conflict: Conflict { reported, flagged_at: now_ms },
    })
}

/// Records the report's event and applies its changes in one atomic write; re-plans after a lost
/// race (another writer changed the transfer or its checkout between our read and our write).
pub async fn ingest<S: TransferStore + CheckoutStore>(
    store: &S,
    report: &Report,
    raw_status: &str,
    now_ms: i64,
) -> Result<Plan, StoreError> {
    for _ in 0..MAX_ATTEMPTS {
        let record = match &report.transaction_id {
            Some(id) => store.get(id).await?,
            None => None,
        };
        let checkout = match record.as_ref().and_then(|r| r.checkout_id.as_ref()) {
            Some(id) => store.get_checkout(id).await?,
            None => None,
        };
        let plan = plan(record.as_ref(), checkout.as_ref(), report, raw_status, now_ms);
        match store.record_event(&plan.event, plan.change.as_ref(), plan.checkout.as_ref()).await {
            Ok(()) => {
                if let (Some(before), Some(change)) = (&checkout, &plan.checkout) {
                    count_settlement(before, change);
                }
                return Ok(plan);
            }
            Err(StoreError::DuplicateEvent) => return Ok(Plan { outcome: Outcome::Duplicate, ..plan }),
            Err(StoreError::VersionConflict) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Unavailable("the transfer kept changing under us".into()))
}

/// What a committed checkout change means to the dashboard and the alarms: a new closed status, a
/// new flag. Emitted once, by the writer whose transaction committed it.
pub fn count_settlement(before: &CheckoutRecord, change: &CheckoutChange) {
    let after = &change.state;
    if after.status != before.status && !after.status.is_open() {
        metrics::counter!("CheckoutsSettled", "Status" => after.status.as_str()).increment(1);
        tracing::info!(checkout_id = %before.checkout_id, status = after.status.as_str(), "checkout closed");
    }
    for flag in after.flags.iter().filter(|f| !before.flags.contains(f)) {
        metrics::counter!("CheckoutsFlagged", "Flag" => flag.as_str()).increment(1);
        tracing::warn!(checkout_id = %before.checkout_id, flag = flag.as_str(), "checkout needs review");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::mismatch::fixtures::{BASE_ADDR, record, report};

    #[test]
    fn plan_applies_forward_moves_with_the_read_version() {
        let r = record();
        let p = plan(Some(&r), None, &report("Succeeded", "USDC", "Base", BASE_ADDR, "49"), "Succeeded", 5_000);
        assert_eq!(p.outcome, Outcome::Applied);
        assert_eq!(p.event.mismatches, vec![Mismatch::Underpaid]);
        match p.change.unwrap() {
            TransferChange::Status { expected_version, update, .. } => {
                assert_eq!(expected_version, 1);
                assert_eq!(update.status, TransferStatus::Succeeded);
                assert_eq!(update.tx_hash.as_deref(), Some("0xhash"));
                assert_eq!(update.mismatches, Some(vec![Mismatch::Underpaid]));
                assert_eq!(update.mesh_transfer_id.unwrap().as_str(), "tr-1");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(p.event.expires_at, 5 + EVENT_RETENTION_SECS);
    }

    #[test]
    fn plan_keeps_terminal_transfers_and_records_why() {
        let mut r = record();
        r.status = TransferStatus::Succeeded;
        r.last_event_at = Some(2_000);
        for (status, outcome) in
            [("Pending", Outcome::Regression), ("Succeeded", Outcome::Stale), ("Exploded", Outcome::Parked)]
        {
            let p = plan(Some(&r), None, &report(status, "USDC", "Base", BASE_ADDR, "50"), status, 5_000);
            assert_eq!((p.outcome, p.change.is_none()), (outcome, true), "{status}");
            assert_eq!(p.event.status, status);
        }
        // The other terminal status: the status stays, the transfer is flagged.
        let p = plan(Some(&r), None, &report("Failed", "USDC", "Base", BASE_ADDR, "50"), "Failed", 5_000);
        assert_eq!(p.outcome, Outcome::Conflict);
        let flag = Conflict { reported: TransferStatus::Failed, flagged_at: 5_000 };
        assert!(
            matches!(p.change, Some(TransferChange::Conflict { expected_version: 1, conflict, .. }) if conflict == flag)
        );
        let p = plan(Some(&r), None, &report("RefundPending", "USDC", "Base", BASE_ADDR, "50"), "RefundPending", 5_000);
        assert_eq!(p.outcome, Outcome::Refunded);
        assert!(matches!(p.change, Some(TransferChange::Refund { refund: RefundStatus::Pending, .. })));
    }

    #[test]
    fn an_unknown_transaction_is_an_orphan_not_dropped() {
        let p = plan(None, None, &report("Succeeded", "USDC", "Base", BASE_ADDR, "50"), "Succeeded", 5_000);
        assert_eq!(p.outcome, Outcome::Orphan);
        assert!(p.change.is_none());
        assert_eq!(p.event.transfer_id.as_str(), "tr-1");
    }
}
