//! The plan of a run, pure: which window of Mesh's listing to page and which open transfers to look
//! up one by one; and how a listed Mesh transfer becomes a report for the ingest path.

use crate::lease::{Checkpoint, WindowCursor};
use crate::settings::Settings;
use serde::{Deserialize, Serialize};
use shared::domain::ids::{EventId, TransactionId, TransferId};
use shared::domain::report::{Report, ReportSource};
use shared::domain::transfer::{Received, ReportedStatus, TransferRecord, TransferStatus};
use shared::mesh::{TransferModel, TransferOrderBy, TransferQuery};
use std::time::Duration;

/// The unit of Mesh's `createdTimestamp` and `FromTimestamp`/`ToTimestamp`. Mesh's examples disagree
/// (the listing's look like seconds, the webhook's `Timestamp` is milliseconds), so a run learns it
/// from the `createdTimestamp` values Mesh returns and keeps it in the checkpoint; seconds until then.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimestampUnit {
    #[default]
    Seconds,
    Milliseconds,
}

impl TimestampUnit {
    /// What a `createdTimestamp` says of its unit: above 10^12 is milliseconds (10^12 s is the year 33658).
    pub fn of(created_timestamp: i64) -> Self {
        if created_timestamp > 1_000_000_000_000 { Self::Milliseconds } else { Self::Seconds }
    }

    /// Unix ms in this unit, rounded down.
    pub fn from_ms(self, ms: i64) -> i64 {
        match self {
            Self::Seconds => ms.div_euclid(1000),
            Self::Milliseconds => ms,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanKind {
    /// The recent window, plus a lookup per older open transfer.
    Lookup,
    /// One window stretched back to the oldest open transfer: cheaper than looking each up.
    Window,
    /// Finish the window a previous run left unfinished.
    Resume,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub kind: PlanKind,
    pub window: Option<WindowCursor>,
    /// Open transfers the window cannot see, oldest first.
    pub lookups: Vec<TransactionId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Draft {
    Ready(Plan),
    /// Many open transfers predate the recent window: how many Mesh transfers the `stretched` window
    /// holds decides between it and `lookup` (see `settle`).
    Probe {
        lookup: Plan,
        stretched: WindowCursor,
    },
}

pub(crate) fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The plan for open transfers `open` (past the grace period, within the horizon, oldest first).
pub fn draft_plan(open: &[TransferRecord], checkpoint: &Checkpoint, now_ms: i64, settings: &Settings) -> Draft {
    let skew = ms(settings.clock_skew);
    let older_than =
        |from: i64| -> Vec<&TransferRecord> { open.iter().filter(|r| r.created_at < from + skew).collect() };
    let ids = |records: &[&TransferRecord]| records.iter().map(|r| r.transaction_id.clone()).collect::<Vec<_>>();
    if let Some(window) = checkpoint.unfinished {
        let lookups = ids(&older_than(window.from_ms));
        return Draft::Ready(Plan { kind: PlanKind::Resume, window: Some(window), lookups });
    }
    let cutoff = now_ms - ms(settings.grace);
    let from = checkpoint.scanned_until.unwrap_or(cutoff - ms(settings.lookback));
    let window = (from <= cutoff).then_some(WindowCursor { from_ms: from, to_ms: cutoff, offset: 0 });
    let uncovered = older_than(from);
    let lookup = Plan { kind: PlanKind::Lookup, window, lookups: ids(&uncovered) };
    match uncovered.iter().map(|r| r.created_at).min() {
        Some(oldest) if uncovered.len() > settings.lookup_max => {
            let stretched = WindowCursor { from_ms: (oldest - skew).min(from), to_ms: cutoff, offset: 0 };
            Draft::Probe { lookup, stretched }
        }
        _ => Draft::Ready(lookup),
    }
}

/// The cheaper plan, once Mesh said the stretched window holds `total` transfers: its pages against
/// one call per lookup.
pub fn settle(lookup: Plan, stretched: WindowCursor, total: u64, page_size: u32) -> Plan {
    let pages = total.div_ceil(u64::from(page_size.max(1)));
    if pages <= lookup.lookups.len() as u64 {
        Plan { kind: PlanKind::Window, window: Some(stretched), lookups: Vec::new() }
    } else {
        lookup
    }
}

/// The listing query of a window (Mesh's bounds are inclusive, in `unit`), oldest first.
pub fn window_query(window: &WindowCursor, page_size: u32, unit: TimestampUnit) -> TransferQuery {
    TransferQuery {
        count: Some(page_size),
        offset: Some(window.offset),
        from_timestamp: Some(unit.from_ms(window.from_ms)),
        to_timestamp: Some(unit.from_ms(window.to_ms)),
        order_by: Some(TransferOrderBy::CreatedTimestamp),
        descending_order: Some(false),
        ..TransferQuery::default()
    }
}

/// The event id of what reconciliation learnt: one per (Mesh transfer, status), so a second run
/// that sees the same is a duplicate. Readable when it fits, hashed otherwise.
pub fn reconcile_event_id(transfer_id: &TransferId, raw_status: &str) -> EventId {
    let status = raw_status.trim().to_ascii_lowercase();
    let readable = format!("rc:{transfer_id}:{}", if status.is_empty() { "none" } else { &status });
    EventId::parse(readable).unwrap_or_else(|_| {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!("{transfer_id}\n{status}").as_bytes());
        let hex: String = digest.iter().take(20).map(|b| format!("{b:02x}")).collect();
        EventId::parse(format!("rc:{hex}"))
            .unwrap_or_else(|_| unreachable!("43 characters of [rc:0-9a-f] are an event id"))
    })
}

/// What Mesh's listing says of a transfer, as a report for `ingest`, and the status as Mesh wrote it.
/// `None` when Mesh's transfer id is not usable as one.
///
/// The report carries no event time: the listing tells the state *now*, so it is ordered as the time
/// it is applied. A webhook for the same status that arrives later carries an earlier time and is
/// therefore stale: it can change nothing.
pub fn report_from(model: &TransferModel) -> Option<(Report, String)> {
    let transfer_id = TransferId::parse(model.id.clone()).ok()?;
    let raw_status = model.status.as_ref().map(|s| s.as_str().to_string()).unwrap_or_default();
    let report = Report {
        event_id: reconcile_event_id(&transfer_id, &raw_status),
        source: ReportSource::Reconcile,
        transfer_id,
        transaction_id: model.client_transaction_id.clone().and_then(|t| TransactionId::parse(t).ok()),
        user_id: model.user_id.clone(),
        status: ReportedStatus::parse(&raw_status),
        event_at: None,
        tx_hash: model.hash.clone().filter(|h| !h.is_empty()),
        received: Received {
            amount: model.destination_amount,
            token: model.symbol.clone(),
            chain: model.network_name.clone(),
            address: model.destination_address.clone(),
            amount_in_fiat: model.destination_amount_in_fiat,
        },
    };
    Some((report, raw_status))
}

/// Mesh says what our record says: there is nothing to write. (A pending report without an event
/// time can only be stale against a pending record, so it is skipped too.) Except a success that pays
/// a checkout and that Mesh now values (`prices`): the ingest path records the value and settles the
/// checkout with it.
pub(crate) fn agrees(ours: &TransferRecord, report: &Report) -> bool {
    let same = matches!(
        (ours.status, &report.status),
        (TransferStatus::Pending, ReportedStatus::Pending)
            | (TransferStatus::Succeeded, ReportedStatus::Succeeded)
            | (TransferStatus::Failed, ReportedStatus::Failed)
    );
    same && !prices(ours, report)
}

/// The report gives Mesh's fiat value of a success we hold without one, and the success pays a
/// checkout: the only reader of that value (a non-stablecoin payment stays unpriced without it).
/// Other transfers are not rewritten for it, so a run keeps writing nothing Mesh and we agree on.
pub(crate) fn prices(ours: &TransferRecord, report: &Report) -> bool {
    ours.status == TransferStatus::Succeeded
        && ours.checkout_id.is_some()
        && report.status == ReportedStatus::Succeeded
        && report.received.amount_in_fiat.is_some()
        && ours.received.as_ref().is_none_or(|got| got.amount_in_fiat.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::domain::ids::UserId;
    use std::collections::HashMap as Map;

    const MIN: i64 = 60_000;
    const NOW: i64 = 1_800_000_000_000;

    fn open_at(created_at: i64) -> TransferRecord {
        TransferRecord::created(TransactionId::generate(), UserId::parse("u").unwrap(), created_at)
    }

    fn settings() -> Settings {
        Settings { lookup_max: 3, ..Settings::default() }
    }
    #[test]
    fn the_first_run_looks_back_and_few_old_open_transfers_are_looked_up() {
        let s = settings();
        let cutoff = NOW - 15 * MIN;
        let from = cutoff - 24 * 60 * MIN;
        let old = open_at(from - 60 * MIN);
        let recent = open_at(cutoff - 10 * MIN);
        let Draft::Ready(plan) = draft_plan(&[old.clone(), recent], &Checkpoint::default(), NOW, &s) else {
            panic!("no probe for one old transfer")
        };
        assert_eq!(plan.kind, PlanKind::Lookup);
        assert_eq!(plan.window, Some(WindowCursor { from_ms: from, to_ms: cutoff, offset: 0 }));
        assert_eq!(plan.lookups, vec![old.transaction_id], "the recent one is in the window");
    }
    #[test]
    fn later_runs_slide_the_window_from_where_the_last_one_ended() {
        let s = settings();
        let scanned = NOW - 40 * MIN;
        let cp = Checkpoint { scanned_until: Some(scanned), unfinished: None, ..Checkpoint::default() };
        // Created within the clock-skew allowance before the window: its Mesh transfer may be just
        // before `from`, so it is looked up.
        let edge = open_at(scanned - 2 * MIN);
        let inside = open_at(scanned + 6 * MIN);
        let Draft::Ready(plan) = draft_plan(&[edge.clone(), inside], &cp, NOW, &s) else { panic!() };
        assert_eq!(plan.window, Some(WindowCursor { from_ms: scanned, to_ms: NOW - 15 * MIN, offset: 0 }));
        assert_eq!(plan.lookups, vec![edge.transaction_id]);
    }
    #[test]
    fn many_old_open_transfers_ask_mesh_and_the_cheaper_plan_wins() {
        let s = settings();
        let cp = Checkpoint { scanned_until: Some(NOW - 30 * MIN), unfinished: None, ..Checkpoint::default() };
        let open: Vec<_> = (0..10).map(|i| open_at(NOW - (300 - i) * MIN)).collect();
        let Draft::Probe { lookup, stretched } = draft_plan(&open, &cp, NOW, &s) else { panic!("10 > lookup_max") };
        assert_eq!(lookup.lookups.len(), 10);
        assert_eq!(stretched, WindowCursor { from_ms: NOW - 300 * MIN - 5 * MIN, to_ms: NOW - 15 * MIN, offset: 0 });
        // 900 transfers = 9 pages < 10 lookups: page the stretched window.
        let plan = settle(lookup.clone(), stretched, 900, 100);
        assert_eq!((plan.kind, plan.window, plan.lookups.len()), (PlanKind::Window, Some(stretched), 0));
        // 1,001 transfers = 11 pages > 10 lookups: look them up.
        assert_eq!(settle(lookup.clone(), stretched, 1_001, 100), lookup);
    }
    #[test]
    fn an_unfinished_window_is_finished_first_and_unchanged() {
        let unfinished = WindowCursor { from_ms: NOW - 90 * MIN, to_ms: NOW - 60 * MIN, offset: 300 };
        let cp =
            Checkpoint { scanned_until: Some(NOW - 90 * MIN), unfinished: Some(unfinished), ..Checkpoint::default() };
        let older = open_at(NOW - 200 * MIN);
        let Draft::Ready(plan) = draft_plan(&[older.clone(), open_at(NOW - 70 * MIN)], &cp, NOW, &settings()) else {
            panic!()
        };
        assert_eq!((plan.kind, plan.window), (PlanKind::Resume, Some(unfinished)));
        assert_eq!(plan.lookups, vec![older.transaction_id]);
    }
    #[test]
    fn the_window_query_is_ascending_in_the_learnt_unit_with_inclusive_bounds() {
        let window = WindowCursor { from_ms: 1_700_000_000_999, to_ms: 1_700_000_600_000, offset: 200 };
        let in_ms: Map<_, _> = window_query(&window, 100, TimestampUnit::Milliseconds).pairs().into_iter().collect();
        assert_eq!(
            (in_ms["FromTimestamp"].as_str(), in_ms["ToTimestamp"].as_str()),
            ("1700000000999", "1700000600000")
        );
        assert_eq!(TimestampUnit::of(1_767_225_600), TimestampUnit::Seconds);
        assert_eq!(TimestampUnit::of(1_767_225_600_000), TimestampUnit::Milliseconds);
        let q = window_query(&window, 100, TimestampUnit::Seconds);
        let pairs: Map<_, _> = q.pairs().into_iter().collect();
        assert_eq!(pairs["FromTimestamp"], "1700000000");
        assert_eq!(pairs["ToTimestamp"], "1700000600");
        assert_eq!(pairs["Offset"], "200");
        assert_eq!(pairs["Count"], "100");
        assert_eq!(pairs["OrderBy"], "createdTimestamp");
        assert_eq!(pairs["DescendingOrder"], "false");
    }
    #[test]
    fn event_ids_are_deterministic_per_transfer_and_status() {
        let t = TransferId::parse("3d6c1f0e-52a4-4c3e-9d7b-0f1e2a3b4c5d").unwrap();
        let a = reconcile_event_id(&t, "succeeded");
        assert_eq!(a.as_str(), "rc:3d6c1f0e-52a4-4c3e-9d7b-0f1e2a3b4c5d:succeeded");
        assert_eq!(reconcile_event_id(&t, " Succeeded "), a);
        assert_ne!(reconcile_event_id(&t, "pending"), a);
        let long = TransferId::parse("x".repeat(64)).unwrap();
        let h = reconcile_event_id(&long, "succeeded");
        assert!(h.as_str().starts_with("rc:") && h.as_str().len() == 43, "{h}");
        assert_eq!(reconcile_event_id(&long, "succeeded"), h);
        assert_ne!(reconcile_event_id(&long, "failed"), h);
        assert!(reconcile_event_id(&t, "weird status!").as_str().starts_with("rc:"));
    }
    #[test]
    fn a_listed_transfer_becomes_a_timeless_reconcile_report() {
        let model: TransferModel = serde_json::from_value(serde_json::json!({
            "id": "3d6c1f0e-52a4-4c3e-9d7b-0f1e2a3b4c5d", "clientTransactionId": "txn_1", "userId": "u",
            "status": "succeeded", "symbol": "USDC", "networkName": "Base", "hash": "0xabc",
            "destinationAmount": 49.99, "destinationAddress": "0x1", "createdTimestamp": 1767225600,
            "executedTimestamp": 1767225642
        }))
        .unwrap();
        let (report, raw) = report_from(&model).unwrap();
        assert_eq!(raw, "succeeded");
        assert_eq!(report.source, ReportSource::Reconcile);
        assert_eq!(report.status, ReportedStatus::Succeeded);
        assert_eq!(report.event_at, None, "the listing says how things are now, not when they happened");
        assert_eq!(report.transaction_id.unwrap().as_str(), "txn_1");
        assert_eq!(report.received.amount, Some("49.99".parse().unwrap()));
        assert_eq!(report.received.chain.as_deref(), Some("Base"));
        assert_eq!(report.received.amount_in_fiat, None, "no destinationAmountInFiat listed");
        let bad: TransferModel = serde_json::from_value(serde_json::json!({"id": "not an id"})).unwrap();
        assert!(report_from(&bad).is_none());
    }
    #[test]
    fn a_success_without_its_fiat_value_disagrees_only_when_it_pays_a_checkout() {
        let model = |fiat: Option<f64>| -> TransferModel {
            let mut m = serde_json::json!({"id": "3d6c1f0e-52a4-4c3e-9d7b-0f1e2a3b4c5d", "clientTransactionId": "txn_1",
                "status": "succeeded", "symbol": "ETH", "networkName": "Ethereum", "destinationAmount": 0.0166});
            if let Some(f) = fiat {
                m["destinationAmountInFiat"] = serde_json::json!(f);
            }
            serde_json::from_value(m).unwrap()
        };
        let (priced, _) = report_from(&model(Some(49.8))).unwrap();
        assert_eq!(priced.received.amount_in_fiat, Some("49.8".parse().unwrap()), "destinationAmountInFiat is read");
        let (unpriced, _) = report_from(&model(None)).unwrap();

        let mut ours =
            TransferRecord::created(TransactionId::parse("txn_1").unwrap(), UserId::parse("u").unwrap(), NOW);
        ours.status = TransferStatus::Succeeded;
        ours.received = Some(Received { token: Some("ETH".into()), ..Received::default() });
        assert!(agrees(&ours, &priced), "a deposit is not rewritten for a value nothing reads");
        ours.checkout_id = Some(shared::domain::ids::CheckoutId::generate());
        assert!(!agrees(&ours, &priced), "a checkout's payment learns its value");
        assert!(agrees(&ours, &unpriced), "nothing new without a value");
        ours.received = Some(Received { amount_in_fiat: Some("49.8".parse().unwrap()), ..Received::default() });
        assert!(agrees(&ours, &priced), "a value already held is not written again");
        ours.status = TransferStatus::Pending;
        assert!(!agrees(&ours, &priced), "pending against succeeded");
    }
}
