//! Applying what Mesh reports about a transfer, from a webhook or from reconciliation: the same
//! plan and the same atomic write for both, so neither can undo the other. `plan` is pure; `ingest`
//! runs it against a store with optimistic locking and retries a lost race.

use crate::domain::ids::{EventId, TransactionId, TransferId};
use crate::domain::transfer::{
    Decision, Mismatch, Received, RefundStatus, ReportedStatus, TransferRecord, TransferStatus, Unchanged, decide,
};
use crate::storage::{EventRecord, StatusUpdate, StoreError, TransferChange, TransferStore};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// How long an event id is remembered: far beyond any retry horizon a sender would use.
pub const EVENT_RETENTION_SECS: i64 = 90 * 24 * 3600;
/// Tolerance on the amount received in a USD stablecoin against the fiat amount asked for.
pub const AMOUNT_TOLERANCE: Decimal = Decimal::from_parts(1, 0, 0, false, 2);
const MAX_ATTEMPTS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportSource {
    Webhook,
    Reconcile,
}

/// One report of a transfer's status by Mesh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The webhook's `EventId`; for reconciliation, an id derived from the transfer and status.
    pub event_id: EventId,
    pub source: ReportSource,
    pub transfer_id: TransferId,
    /// Our transaction id as Mesh echoes it; `None` when absent or not one of ours in shape.
    pub transaction_id: Option<TransactionId>,
    pub user_id: Option<String>,
    pub status: ReportedStatus,
    /// When the status event occurred (Unix ms).
    pub event_at: Option<i64>,
    pub tx_hash: Option<String>,
    pub received: Received,
}

/// What became of a report. Every outcome but `Duplicate` leaves exactly one event record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Applied,
    Refreshed,
    Refunded,
    Duplicate,
    Stale,
    Regression,
    Conflict,
    /// Unknown status: kept for a human, acknowledged so Mesh does not retry forever.
    Parked,
    /// No transfer of ours has this transaction id: kept and flagged, never dropped.
    Orphan,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Refreshed => "refreshed",
            Self::Refunded => "refunded",
            Self::Duplicate => "duplicate",
            Self::Stale => "stale",
            Self::Regression => "regression",
            Self::Conflict => "conflict",
            Self::Parked => "parked",
            Self::Orphan => "orphan",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub outcome: Outcome,
    pub event: EventRecord,
    pub change: Option<TransferChange>,
}

/// Decides what a report does to the transfer it names (if we have it). Pure.
pub fn plan(record: Option<&TransferRecord>, report: &Report, raw_status: &str, now_ms: i64) -> Plan {
    let mismatches = record.map(|r| check_received(r, report)).unwrap_or_default();
    let (outcome, change) = match record {
        None => (Outcome::Orphan, None),
        Some(r) => match decide(&r.progress(), &report.status, report.event_at) {
            Decision::Advance(status) => {
                (Outcome::Applied, Some(status_change(r, report, status, &mismatches, now_ms)))
            }
            Decision::Refresh => (Outcome::Refreshed, Some(status_change(r, report, r.status, &mismatches, now_ms))),
            Decision::Refund(refund) => (Outcome::Refunded, Some(refund_change(r, refund, now_ms))),
            Decision::Keep(Unchanged::Stale) => (Outcome::Stale, None),
            Decision::Keep(Unchanged::Regression) => (Outcome::Regression, None),
            Decision::Keep(Unchanged::Conflict) => (Outcome::Conflict, None),
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
    Plan { outcome, event, change }
}

fn status_change(
    r: &TransferRecord,
    report: &Report,
    status: TransferStatus,
    mismatches: &[Mismatch],
    now_ms: i64,
) -> TransferChange {
    let has_received = report.received != Received::default();
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
            received: has_received.then(|| report.received.clone()),
            mismatches: has_received.then(|| mismatches.to_vec()),
        },
    }
}

fn refund_change(r: &TransferRecord, refund: RefundStatus, now_ms: i64) -> TransferChange {
    TransferChange::Refund { id: r.transaction_id.clone(), expected_version: r.version, refund, now: now_ms }
}

const USD_STABLECOINS: [&str; 6] = ["USDC", "USDT", "PYUSD", "USDP", "DAI", "FDUSD"];

/// Compares what Mesh says arrived with what the link token offered and expected.
pub fn check_received(record: &TransferRecord, report: &Report) -> Vec<Mismatch> {
    let got = &report.received;
    let mut out = Vec::new();
    if let Some(user) = report.user_id.as_deref().filter(|u| !u.is_empty())
        && user != record.user_id.as_str()
    {
        out.push(Mismatch::User);
    }
    if record.offered.is_empty() {
        return out;
    }
    let eq = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
    let token_matches: Vec<_> = match got.token.as_deref() {
        Some(token) => record.offered.iter().filter(|o| eq(&o.symbol, token)).collect(),
        None => record.offered.iter().collect(),
    };
    if token_matches.is_empty() {
        out.push(Mismatch::Token);
        return out;
    }
    let network_matches: Vec<_> = match got.chain.as_deref() {
        Some(chain) => {
            token_matches.into_iter().filter(|o| eq(&o.network_name, chain) || eq(&o.network_id, chain)).collect()
        }
        None => token_matches,
    };
    if network_matches.is_empty() {
        out.push(Mismatch::Network);
        return out;
    }
    if let Some(address) = got.address.as_deref() {
        // EVM addresses are case-insensitive (EIP-55 case is only a checksum); others are exact.
        let same = |o: &str| if o.starts_with("0x") { eq(o, address) } else { o == address.trim() };
        if !network_matches.iter().any(|o| same(&o.address)) {
            out.push(Mismatch::Address);
        }
    }
    if let (Some(expected), Some(amount), Some(token)) = (record.expected_amount_fiat, got.amount, got.token.as_deref())
        && USD_STABLECOINS.iter().any(|s| eq(s, token))
    {
        let margin = expected * AMOUNT_TOLERANCE;
        if amount < expected - margin {
            out.push(Mismatch::Underpaid);
        } else if amount > expected + margin {
            out.push(Mismatch::Overpaid);
        }
    }
    out
}

/// Records the report's event and applies its change in one atomic write; re-plans after a lost
/// race (another writer changed the transfer between our read and our write).
pub async fn ingest<S: TransferStore>(
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
        let plan = plan(record.as_ref(), report, raw_status, now_ms);
        match store.record_event(&plan.event, plan.change.as_ref()).await {
            Ok(()) => return Ok(plan),
            Err(StoreError::DuplicateEvent) => return Ok(Plan { outcome: Outcome::Duplicate, ..plan }),
            Err(StoreError::VersionConflict) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Unavailable("the transfer kept changing under us".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::UserId;
    use crate::domain::transfer::OfferedDestination;

    fn record() -> TransferRecord {
        let mut r =
            TransferRecord::created(TransactionId::parse("txn_1").unwrap(), UserId::parse("user-1").unwrap(), 1);
        r.expected_amount_fiat = Some("50".parse().unwrap());
        r.offered = vec![
            OfferedDestination {
                symbol: "USDC".into(),
                network_id: "aa883b03-120d-477c-a588-37c2afd3ca71".into(),
                network_name: "Base".into(),
                address: "0xAbC0000000000000000000000000000000000001".into(),
            },
            OfferedDestination {
                symbol: "USDC".into(),
                network_id: "0291810a-5947-424d-9a59-e88bb33e999d".into(),
                network_name: "Solana".into(),
                address: "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin".into(),
            },
        ];
        r
    }

    fn report(status: &str, token: &str, chain: &str, address: &str, amount: &str) -> Report {
        Report {
            event_id: EventId::parse("evt-1").unwrap(),
            source: ReportSource::Webhook,
            transfer_id: TransferId::parse("tr-1").unwrap(),
            transaction_id: Some(TransactionId::parse("txn_1").unwrap()),
            user_id: Some("user-1".into()),
            status: ReportedStatus::parse(status),
            event_at: Some(1_000),
            tx_hash: Some("0xhash".into()),
            received: Received {
                amount: Some(amount.parse().unwrap()),
                token: Some(token.into()),
                chain: Some(chain.into()),
                address: Some(address.into()),
            },
        }
    }

    const BASE_ADDR: &str = "0xabc0000000000000000000000000000000000001";
    const SOL_ADDR: &str = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin";

    #[test]
    fn what_was_offered_arrives_cleanly() {
        assert!(check_received(&record(), &report("Succeeded", "USDC", "Base", BASE_ADDR, "50")).is_empty());
        assert!(check_received(&record(), &report("Succeeded", "usdc", "solana", SOL_ADDR, "49.6")).is_empty());
    }

    #[test]
    fn every_kind_of_mismatch_is_caught() {
        let r = record();
        let cases = [
            (report("Succeeded", "USDT", "Base", BASE_ADDR, "50"), vec![Mismatch::Token]),
            (report("Succeeded", "USDC", "Ethereum", BASE_ADDR, "50"), vec![Mismatch::Network]),
            (report("Succeeded", "USDC", "Base", SOL_ADDR, "50"), vec![Mismatch::Address]),
            (report("Succeeded", "USDC", "Solana", &SOL_ADDR.to_lowercase(), "50"), vec![Mismatch::Address]),
            (report("Succeeded", "USDC", "Base", BASE_ADDR, "49.49"), vec![Mismatch::Underpaid]),
            (report("Succeeded", "USDC", "Base", BASE_ADDR, "50.51"), vec![Mismatch::Overpaid]),
        ];
        for (rep, want) in cases {
            assert_eq!(check_received(&r, &rep), want, "{:?}", rep.received);
        }
        let mut other_user = report("Succeeded", "USDC", "Base", BASE_ADDR, "50");
        other_user.user_id = Some("user-2".into());
        assert_eq!(check_received(&r, &other_user), vec![Mismatch::User]);
    }

    #[test]
    fn plan_applies_forward_moves_with_the_read_version() {
        let r = record();
        let p = plan(Some(&r), &report("Succeeded", "USDC", "Base", BASE_ADDR, "49"), "Succeeded", 5_000);
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
        for (status, outcome) in [
            ("Pending", Outcome::Regression),
            ("Failed", Outcome::Conflict),
            ("Succeeded", Outcome::Stale),
            ("Exploded", Outcome::Parked),
        ] {
            let p = plan(Some(&r), &report(status, "USDC", "Base", BASE_ADDR, "50"), status, 5_000);
            assert_eq!((p.outcome, p.change.is_none()), (outcome, true), "{status}");
            assert_eq!(p.event.status, status);
        }
        let p = plan(Some(&r), &report("RefundPending", "USDC", "Base", BASE_ADDR, "50"), "RefundPending", 5_000);
        assert_eq!(p.outcome, Outcome::Refunded);
        assert!(matches!(p.change, Some(TransferChange::Refund { refund: RefundStatus::Pending, .. })));
    }

    #[test]
    fn an_unknown_transaction_is_an_orphan_not_dropped() {
        let p = plan(None, &report("Succeeded", "USDC", "Base", BASE_ADDR, "50"), "Succeeded", 5_000);
        assert_eq!(p.outcome, Outcome::Orphan);
        assert!(p.change.is_none());
        assert_eq!(p.event.transfer_id.as_str(), "tr-1");
    }
}
