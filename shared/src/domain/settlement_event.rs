//! Settlement events, pure: what a merchant's systems are told when a checkout or a deposit changes,
//! derived from the record before and after one committed write (the table's change stream carries
//! both). No I/O here; the `notify` function publishes what this returns.
//!
//! Every event has a stable id: the same change always yields the same id, however often it is seen
//! (a redelivered stream record, a retried batch, an operator's redelivery). The id names the
//! resource, the event type and what the change reached (the closed status, the flag added, the
//! terminal status): each of those is reached at most once in a resource's life (closed states and
//! terminal statuses are final, flags are only ever added), so one id is one change. The version at
//! which it happened is not in the id on purpose: it is not kept on the record, and an id must be
//! re-derivable from the record as it is now (redelivery).

use crate::domain::checkout::{CheckoutRecord, CheckoutStatus, ReviewFlag};
use crate::domain::transfer::{TransferRecord, TransferStatus};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The payload's format version (`detail.version`); bumped only by a change a consumer must handle.
pub const PAYLOAD_VERSION: u32 = 1;

/// The event types, as `detail-type` and `detail.type` carry them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    CheckoutPaid,
    CheckoutUnderpaid,
    CheckoutOverpaid,
    CheckoutExpired,
    CheckoutCanceled,
    CheckoutReviewRequired,
    CheckoutLatePayment,
    DepositSucceeded,
    DepositFailed,
}

impl EventType {
    pub const ALL: [EventType; 9] = [
        Self::CheckoutPaid,
        Self::CheckoutUnderpaid,
        Self::CheckoutOverpaid,
        Self::CheckoutExpired,
        Self::CheckoutCanceled,
        Self::CheckoutReviewRequired,
        Self::CheckoutLatePayment,
        Self::DepositSucceeded,
        Self::DepositFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CheckoutPaid => "checkout.paid",
            Self::CheckoutUnderpaid => "checkout.underpaid",
            Self::CheckoutOverpaid => "checkout.overpaid",
            Self::CheckoutExpired => "checkout.expired",
            Self::CheckoutCanceled => "checkout.canceled",
            Self::CheckoutReviewRequired => "checkout.review_required",
            Self::CheckoutLatePayment => "checkout.late_payment",
            Self::DepositSucceeded => "deposit.succeeded",
            Self::DepositFailed => "deposit.failed",
        }
    }

    /// The event a checkout reaching `status` raises; none for the open states.
    fn for_checkout_status(status: CheckoutStatus) -> Option<Self> {
        match status {
            CheckoutStatus::Paid => Some(Self::CheckoutPaid),
            CheckoutStatus::Underpaid => Some(Self::CheckoutUnderpaid),
            CheckoutStatus::Overpaid => Some(Self::CheckoutOverpaid),
            CheckoutStatus::Expired => Some(Self::CheckoutExpired),
            CheckoutStatus::Canceled => Some(Self::CheckoutCanceled),
            CheckoutStatus::Open | CheckoutStatus::Processing => None,
        }
    }
}

impl Serialize for EventType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One event: its type, its stable id and the payload (`detail`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementEvent {
    pub kind: EventType,
    pub id: String,
    /// Unix ms of the change.
    pub occurred_at: i64,
    pub detail: Detail,
}

/// The payload: one shape per resource, the common fields first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Detail {
    pub version: u32,
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    /// RFC 3339, UTC, milliseconds.
    pub occurred_at: String,
    #[serde(flatten)]
    pub resource: Resource,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Resource {
    Checkout(Box<CheckoutDetail>),
    Deposit(Box<DepositDetail>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutDetail {
    pub checkout_id: String,
    pub order_id: String,
    /// The shopper, as the merchant named them when creating the checkout.
    pub user_id: String,
    pub status: &'static str,
    /// The flag this event is about (`checkout.review_required`, `checkout.late_payment`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flag: Option<&'static str>,
    pub flags: Vec<&'static str>,
    pub review_required: bool,
    pub safe_to_fulfil: bool,
    pub offered: CheckoutOffered,
    pub received: CheckoutReceived,
    pub attempts: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    /// Unix ms.
    pub created_at: i64,
    pub expires_at: i64,
    pub closed_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutOffered {
    /// Decimal string, exact.
    pub amount_in_fiat: String,
    pub currency: String,
    /// Symbols the shopper could pay with; empty = every configured destination.
    pub assets: Vec<String>,
}

/// What arrived, from Mesh's figures: the value in the checkout's currency and the attempt that
/// settled it (both null until a payment is valued).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutReceived {
    pub amount_in_fiat: Option<String>,
    pub transaction_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DepositDetail {
    pub transaction_id: String,
    pub user_id: String,
    pub status: &'static str,
    pub order_id: Option<String>,
    /// Mesh's id of the transfer.
    pub transfer_id: Option<String>,
    pub offered: DepositOffered,
    pub received: DepositReceived,
    /// Differences between what arrived and what was offered (`underpaid`, `token`, ...).
    pub mismatches: Vec<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DepositOffered {
    pub amount_in_fiat: Option<String>,
    pub destinations: Vec<OfferedDestinationDetail>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OfferedDestinationDetail {
    pub symbol: String,
    pub network: String,
    pub address: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DepositReceived {
    pub amount: Option<String>,
    pub token: Option<String>,
    pub network: Option<String>,
    pub address: Option<String>,
    pub amount_in_fiat: Option<String>,
    pub tx_hash: Option<String>,
}

/// `evt_` + 32 hex characters of SHA-256 over the resource, the type and what the change reached.
pub fn event_id(resource: &str, kind: EventType, reached: &str) -> String {
    let digest = Sha256::digest(format!("v1\n{resource}\n{}\n{reached}", kind.as_str()).as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("evt_{hex}")
}

/// The events one write of a checkout raises: its status reaching a closed state, and each flag it
/// gained (`late` → `checkout.late_payment`, any other → `checkout.review_required`). `old` is `None`
/// for an inserted item, and for a redelivery, which re-derives every event the record shows.
pub fn checkout_events(old: Option<&CheckoutRecord>, new: &CheckoutRecord) -> Vec<SettlementEvent> {
    let mut events = Vec::new();
    let resource = format!("checkout/{}", new.checkout_id);
    if old.map(|o| o.status) != Some(new.status)
        && let Some(kind) = EventType::for_checkout_status(new.status)
    {
        let at = new.closed_at.unwrap_or(new.updated_at);
        events.push(checkout_event(&resource, kind, new.status.as_str(), None, new, at));
    }
    for flag in &new.flags {
        if old.is_some_and(|o| o.flags.contains(flag)) {
            continue;
        }
        let kind =
            if *flag == ReviewFlag::Late { EventType::CheckoutLatePayment } else { EventType::CheckoutReviewRequired };
        events.push(checkout_event(&resource, kind, flag.as_str(), Some(flag.as_str()), new, new.updated_at));
    }
    events
}

fn checkout_event(
    resource: &str,
    kind: EventType,
    reached: &str,
    flag: Option<&'static str>,
    c: &CheckoutRecord,
    occurred_at: i64,
) -> SettlementEvent {
    let id = event_id(resource, kind, reached);
    let detail = CheckoutDetail {
        checkout_id: c.checkout_id.to_string(),
        order_id: c.order_id.to_string(),
        user_id: c.shopper.to_string(),
        status: c.status.as_str(),
        flag,
        flags: c.flags.iter().map(|f| f.as_str()).collect(),
        review_required: c.review_required(),
        safe_to_fulfil: c.safe_to_fulfil(),
        offered: CheckoutOffered {
            amount_in_fiat: c.amount_in_fiat.to_string(),
            currency: c.currency.clone(),
            assets: c.assets.clone(),
        },
        received: CheckoutReceived {
            amount_in_fiat: c.received_in_fiat.map(|v| v.to_string()),
            transaction_id: c.settled_by.as_ref().map(|t| t.to_string()),
        },
        attempts: c.attempts.iter().map(|t| t.to_string()).collect(),
        metadata: c.metadata.clone(),
        created_at: c.created_at,
        expires_at: c.expires_at_ms,
        closed_at: c.closed_at,
    };
    event(kind, id, occurred_at, Resource::Checkout(Box::new(detail)))
}

/// The event a deposit (a transfer paying no checkout) raises when it reaches a terminal status.
/// Transfers that pay a checkout raise none: their checkout's events speak for them.
pub fn deposit_events(old: Option<&TransferRecord>, new: &TransferRecord) -> Vec<SettlementEvent> {
    if new.checkout_id.is_some() || !new.status.is_terminal() || old.is_some_and(|o| o.status == new.status) {
        return Vec::new();
    }
    let kind = match new.status {
        TransferStatus::Succeeded => EventType::DepositSucceeded,
        _ => EventType::DepositFailed,
    };
    let id = event_id(&format!("transfer/{}", new.transaction_id), kind, new.status.as_str());
    let received = new.received.clone().unwrap_or_default();
    let detail = DepositDetail {
        transaction_id: new.transaction_id.to_string(),
        user_id: new.user_id.to_string(),
        status: new.status.as_str(),
        order_id: new.order_id.clone(),
        transfer_id: new.mesh_transfer_id.as_ref().map(|t| t.to_string()),
        offered: DepositOffered {
            amount_in_fiat: new.expected_amount_fiat.map(|v| v.to_string()),
            destinations: new
                .offered
                .iter()
                .map(|d| OfferedDestinationDetail {
                    symbol: d.symbol.clone(),
                    network: d.network_name.clone(),
                    address: d.address.clone(),
                })
                .collect(),
        },
        received: DepositReceived {
            amount: received.amount.map(|v| v.to_string()),
            token: received.token,
            network: received.chain,
            address: received.address,
            amount_in_fiat: received.amount_in_fiat.map(|v| v.to_string()),
            tx_hash: new.tx_hash.clone(),
        },
        mismatches: new.mismatches.iter().map(|m| mismatch_name(*m).to_string()).collect(),
        created_at: new.created_at,
    };
    let at = new.last_event_at.unwrap_or(new.updated_at);
    vec![event(kind, id, at, Resource::Deposit(Box::new(detail)))]
}

fn mismatch_name(m: crate::domain::transfer::Mismatch) -> &'static str {
    use crate::domain::transfer::Mismatch::*;
    match m {
        Underpaid => "underpaid",
        Overpaid => "overpaid",
        Token => "token",
        Network => "network",
        Address => "address",
        User => "user",
    }
}

fn event(kind: EventType, id: String, occurred_at: i64, resource: Resource) -> SettlementEvent {
    let detail = Detail {
        version: PAYLOAD_VERSION,
        event_id: id.clone(),
        kind,
        occurred_at: crate::domain::time::rfc3339_millis(occurred_at),
        resource,
    };
    SettlementEvent { kind, id, occurred_at, detail }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::checkout::NewCheckout;
    use crate::domain::ids::{CheckoutId, OrderId, TransactionId, UserId};
    use crate::domain::transfer::{Mismatch, OfferedDestination, Received};

    fn txn(n: u8) -> TransactionId {
        TransactionId::parse(format!("txn_{n}")).unwrap()
    }

    fn open() -> CheckoutRecord {
        let new = NewCheckout {
            order_id: OrderId::parse("order-1001").unwrap(),
            shopper: UserId::parse("user-7f3a9c").unwrap(),
            amount_in_fiat: "49.99".parse().unwrap(),
            currency: "USD".into(),
            assets: vec!["USDC".into()],
            metadata: BTreeMap::from([("cart".to_string(), "c-42".to_string())]),
            expires_in_ms: 1_800_000,
        };
        let mut c = CheckoutRecord::open(CheckoutId::parse("chk_1").unwrap(), new, 1_000);
        c.attempts = vec![txn(1)];
        c
    }

    fn paid(from: &CheckoutRecord) -> CheckoutRecord {
        let mut c = from.clone();
        c.status = CheckoutStatus::Paid;
        c.settled_by = Some(txn(1));
        c.received_in_fiat = Some("49.99".parse().unwrap());
        c.closed_at = Some(5_000);
        c.updated_at = 5_000;
        c.version += 1;
        c
    }

    fn kinds(events: &[SettlementEvent]) -> Vec<EventType> {
        events.iter().map(|e| e.kind).collect()
    }

    #[test]
    fn a_checkout_reaching_each_closed_status_raises_its_event_once() {
        for (status, kind) in [
            (CheckoutStatus::Paid, EventType::CheckoutPaid),
            (CheckoutStatus::Underpaid, EventType::CheckoutUnderpaid),
            (CheckoutStatus::Overpaid, EventType::CheckoutOverpaid),
            (CheckoutStatus::Expired, EventType::CheckoutExpired),
            (CheckoutStatus::Canceled, EventType::CheckoutCanceled),
        ] {
            let before = open();
            let mut after = before.clone();
            after.status = status;
            after.closed_at = Some(7_000);
            let events = checkout_events(Some(&before), &after);
            assert_eq!(kinds(&events), vec![kind], "{status:?}");
            assert_eq!(events[0].occurred_at, 7_000);
            // A later write that leaves the status as it was (a refresh, a flag) raises no status event.
            let mut later = after.clone();
            later.updated_at = 9_000;
            assert!(checkout_events(Some(&after), &later).is_empty(), "{status:?}");
        }
    }

    #[test]
    fn open_and_processing_raise_nothing() {
        let before = open();
        let mut processing = before.clone();
        processing.status = CheckoutStatus::Processing;
        assert!(checkout_events(Some(&before), &processing).is_empty());
        assert!(checkout_events(Some(&processing), &before).is_empty());
        assert!(checkout_events(None, &before).is_empty(), "a new checkout is not news");
    }

    #[test]
    fn each_new_flag_raises_one_event_late_its_own_type() {
        let before = paid(&open());
        let mut after = before.clone();
        after.flags = vec![ReviewFlag::WrongDestination, ReviewFlag::OtherUser];
        let events = checkout_events(Some(&before), &after);
        assert_eq!(kinds(&events), vec![EventType::CheckoutReviewRequired; 2]);
        let flags: Vec<_> = events
            .iter()
            .map(|e| match &e.detail.resource {
                Resource::Checkout(c) => c.flag,
                Resource::Deposit(_) => None,
            })
            .collect();
        assert_eq!(flags, vec![Some("wrong_destination"), Some("other_user")]);
        assert_ne!(events[0].id, events[1].id);
        // Flags already there are not news again.
        let mut more = after.clone();
        more.flags.push(ReviewFlag::DoublePayment);
        assert_eq!(kinds(&checkout_events(Some(&after), &more)), vec![EventType::CheckoutReviewRequired]);

        let mut expired = open();
        expired.status = CheckoutStatus::Expired;
        let mut late = expired.clone();
        late.flags = vec![ReviewFlag::Late];
        assert_eq!(kinds(&checkout_events(Some(&expired), &late)), vec![EventType::CheckoutLatePayment]);
    }

    #[test]
    fn ids_are_stable_per_change_and_distinct_across_changes() {
        let before = open();
        let after = paid(&before);
        let first = checkout_events(Some(&before), &after);
        // The same record seen again (a redelivered stream record), or re-derived from the record as it is
        // later (redelivery, after an unrelated write bumped the version): the same id.
        let mut later = after.clone();
        later.version += 3;
        later.updated_at = 99_000;
        later.flags = vec![ReviewFlag::DoublePayment];
        let redelivered = checkout_events(None, &later);
        assert_eq!(first[0].id, redelivered[0].id);
        assert_eq!(redelivered[0].occurred_at, 5_000, "a status event happened when the checkout closed");
        assert_eq!(kinds(&redelivered), vec![EventType::CheckoutPaid, EventType::CheckoutReviewRequired]);
        // Another checkout, another type: other ids.
        let mut other = after.clone();
        other.checkout_id = CheckoutId::parse("chk_2").unwrap();
        assert_ne!(checkout_events(None, &other)[0].id, first[0].id);
        assert!(first[0].id.starts_with("evt_") && first[0].id.len() == 36, "{}", first[0].id);
        assert_eq!(event_id("checkout/chk_1", EventType::CheckoutPaid, "paid"), first[0].id);
    }

    #[test]
    fn the_payload_carries_ids_amounts_as_strings_offer_arrival_and_metadata() {
        let e = &checkout_events(Some(&open()), &paid(&open()))[0];
        let json = serde_json::to_value(&e.detail).unwrap();
        assert_eq!(json["version"], 1);
        assert_eq!(json["type"], "checkout.paid");
        assert_eq!(json["eventId"], e.id.as_str());
        assert_eq!(json["occurredAt"], "1970-01-01T00:00:05.000Z");
        assert_eq!(json["checkoutId"], "chk_1");
        assert_eq!(json["orderId"], "order-1001");
        assert_eq!(
            json["offered"],
            serde_json::json!({"amountInFiat": "49.99", "currency": "USD", "assets": ["USDC"]})
        );
        assert_eq!(json["received"], serde_json::json!({"amountInFiat": "49.99", "transactionId": "txn_1"}));
        assert_eq!(json["metadata"], serde_json::json!({"cart": "c-42"}));
        assert_eq!((json["safeToFulfil"].as_bool(), json["reviewRequired"].as_bool()), (Some(true), Some(false)));
        assert!(json.get("flag").is_none());
    }

    fn deposit(status: TransferStatus) -> TransferRecord {
        let mut t = TransferRecord::created(txn(9), UserId::parse("user-1").unwrap(), 1_000);
        t.status = status;
        t.expected_amount_fiat = Some("25".parse().unwrap());
        t.offered = vec![OfferedDestination {
            symbol: "USDC".into(),
            network_id: "aa88".into(),
            network_name: "Base".into(),
            address: "0x11".into(),
        }];
        t
    }

    #[test]
    fn a_deposit_reaching_a_terminal_status_raises_one_event() {
        let before = deposit(TransferStatus::Pending);
        let mut after = deposit(TransferStatus::Succeeded);
        after.received = Some(Received {
            amount: Some("24.5".parse().unwrap()),
            token: Some("USDC".into()),
            chain: Some("Base".into()),
            ..Received::default()
        });
        after.mismatches = vec![Mismatch::Underpaid];
        after.last_event_at = Some(4_000);
        let events = deposit_events(Some(&before), &after);
        assert_eq!(kinds(&events), vec![EventType::DepositSucceeded]);
        let json = serde_json::to_value(&events[0].detail).unwrap();
        assert_eq!(json["received"]["amount"], "24.5");
        assert_eq!(json["offered"]["amountInFiat"], "25");
        assert_eq!(json["offered"]["destinations"][0]["network"], "Base");
        assert_eq!(json["mismatches"], serde_json::json!(["underpaid"]));
        assert_eq!(json["occurredAt"], "1970-01-01T00:00:04.000Z");
        // Terminal already: a refresh or refund raises nothing.
        assert!(deposit_events(Some(&after), &after).is_empty());
        assert_eq!(
            kinds(&deposit_events(Some(&before), &deposit(TransferStatus::Failed))),
            vec![EventType::DepositFailed]
        );
        assert!(deposit_events(None, &before).is_empty());
        // A transfer that pays a checkout: the checkout's event speaks for it.
        after.checkout_id = Some(CheckoutId::parse("chk_1").unwrap());
        assert!(deposit_events(Some(&before), &after).is_empty());
    }
}
