//! The checkout domain, pure: an order priced by the merchant's server, the payment attempts bound to
//! it, and the rules by which what Mesh reports about an attempt settles the order. No I/O here; the
//! store writes the result of `settle` in the same transaction as the attempt's own change.
//!
//! States: `open` → `processing` (an attempt is pending at Mesh) → `paid` | `underpaid` | `overpaid`
//! (a payment succeeded and Mesh's figures value it), or `expired` | `canceled` (closed unpaid).
//! `processing` falls back to `open` when its last pending attempt fails. The five closed states are
//! final: later news (a second or a late payment, a contradiction) only adds a flag for a human.

use crate::domain::ids::{CheckoutId, OrderId, TransactionId, UserId};
use crate::domain::mismatch::USD_STABLECOINS;
use crate::domain::transfer::{Mismatch, Received, TransferStatus};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How far the received value may be from the price and still be `paid`: 1 % of the price, the same
/// margin the transfer's own `underpaid`/`overpaid` mismatches use.
pub const PAYMENT_TOLERANCE: Decimal = crate::domain::mismatch::AMOUNT_TOLERANCE;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckoutStatus {
    Open,
    Processing,
    Paid,
    Underpaid,
    Overpaid,
    Expired,
    Canceled,
}

impl CheckoutStatus {
    pub const ALL: [CheckoutStatus; 7] =
        [Self::Open, Self::Processing, Self::Paid, Self::Underpaid, Self::Overpaid, Self::Expired, Self::Canceled];

    /// Open or processing: attempts may still be made and settle it.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Open | Self::Processing)
    }

    /// A payment succeeded and was valued.
    pub fn is_settled(self) -> bool {
        matches!(self, Self::Paid | Self::Underpaid | Self::Overpaid)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Processing => "processing",
            Self::Paid => "paid",
            Self::Underpaid => "underpaid",
            Self::Overpaid => "overpaid",
            Self::Expired => "expired",
            Self::Canceled => "canceled",
        }
    }
}

/// Something a human must look at before the order is treated as settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewFlag {
    /// Paid with another token, or on another network, or to another address than offered.
    WrongDestination,
    /// Mesh names another user than the checkout's shopper.
    OtherUser,
    /// A second attempt succeeded after the checkout was settled: one payment must be refunded.
    DoublePayment,
    /// Mesh reported both terminal statuses for an attempt.
    Conflict,
    /// A payment succeeded after the checkout expired or was canceled.
    Late,
    /// A payment in a token that is not a USD stablecoin succeeded and Mesh has given no fiat value
    /// for it yet: it stays `processing` until reconcile reads Mesh's figure.
    Unpriced,
}

impl ReviewFlag {
    pub const ALL: [ReviewFlag; 6] =
        [Self::WrongDestination, Self::OtherUser, Self::DoublePayment, Self::Conflict, Self::Late, Self::Unpriced];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::WrongDestination => "wrong_destination",
            Self::OtherUser => "other_user",
            Self::DoublePayment => "double_payment",
            Self::Conflict => "conflict",
            Self::Late => "late",
            Self::Unpriced => "unpriced",
        }
    }

    /// Flags that leave a `paid` order unsafe to fulfil. A double payment does not: the order was
    /// paid in full, and the extra payment is a refund to make, not a reason to hold the order.
    pub fn blocks_fulfilment(self) -> bool {
        !matches!(self, Self::DoublePayment)
    }
}

/// Everything we keep about one checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutRecord {
    pub checkout_id: CheckoutId,
    pub order_id: OrderId,
    /// The shopper allowed to pay it, as Mesh knows them (not named `user_id`: that attribute keys the
    /// table's `by-user` index of transfers).
    pub shopper: UserId,
    /// The price, exact.
    pub amount_in_fiat: Decimal,
    /// ISO 4217; USD only, as Mesh's `amountInFiat` is.
    pub currency: String,
    /// Symbols the shopper may pay with (a subset of the configured destinations); empty = all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assets: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    pub status: CheckoutStatus,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<ReviewFlag>,
    /// Every attempt (one Mesh `transactionId` each), in the order they were made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<TransactionId>,
    /// Attempts Mesh reports pending.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<TransactionId>,
    /// Attempts Mesh reports succeeded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub succeeded: Vec<TransactionId>,
    /// The attempt that settled it, and the value received, from Mesh's figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_by: Option<TransactionId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_in_fiat: Option<Decimal>,
    /// Unix ms.
    pub created_at: i64,
    pub updated_at: i64,
    /// Unix ms after which no new attempt is allowed. Not named `expires_at`: that is the table's TTL
    /// attribute (epoch seconds), and a checkout must never be deleted by it.
    pub expires_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<i64>,
    /// Bumped by every change (optimistic locking).
    pub version: u64,
}

/// What a merchant asks for when creating a checkout (already validated at the edge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCheckout {
    pub order_id: OrderId,
    pub shopper: UserId,
    pub amount_in_fiat: Decimal,
    pub currency: String,
    pub assets: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    pub expires_in_ms: i64,
}

impl CheckoutRecord {
    pub fn open(checkout_id: CheckoutId, new: NewCheckout, now_ms: i64) -> Self {
        Self {
            checkout_id,
            order_id: new.order_id,
            shopper: new.shopper,
            amount_in_fiat: new.amount_in_fiat,
            currency: new.currency,
            assets: new.assets,
            metadata: new.metadata,
            status: CheckoutStatus::Open,
            flags: Vec::new(),
            attempts: Vec::new(),
            pending: Vec::new(),
            succeeded: Vec::new(),
            settled_by: None,
            received_in_fiat: None,
            created_at: now_ms,
            updated_at: now_ms,
            expires_at_ms: now_ms + new.expires_in_ms,
            closed_at: None,
            version: 1,
        }
    }

    /// The one field an order system needs: paid in full, as Mesh reported it, and nothing for a
    /// human to look at first.
    pub fn safe_to_fulfil(&self) -> bool {
        self.status == CheckoutStatus::Paid && !self.flags.iter().any(|f| f.blocks_fulfilment())
    }

    pub fn review_required(&self) -> bool {
        !self.flags.is_empty()
    }

    /// Does this checkout accept a new attempt now?
    pub fn accepts_attempt(&self, now_ms: i64) -> Result<(), Refusal> {
        if !self.status.is_open() {
            return Err(Refusal::Closed(self.status));
        }
        if now_ms >= self.expires_at_ms {
            return Err(Refusal::Expired);
        }
        if self.attempts.len() >= MAX_ATTEMPTS {
            return Err(Refusal::TooManyAttempts);
        }
        Ok(())
    }

    /// The settlement-relevant part, as `settle` produces it.
    pub fn state(&self) -> CheckoutState {
        CheckoutState {
            status: self.status,
            flags: self.flags.clone(),
            pending: self.pending.clone(),
            succeeded: self.succeeded.clone(),
            settled_by: self.settled_by.clone(),
            received_in_fiat: self.received_in_fiat,
            closed_at: self.closed_at,
        }
    }

    /// This record with `state` applied at `now_ms` (the store does the same in its update).
    pub fn with_state(mut self, state: CheckoutState, now_ms: i64) -> Self {
        self.status = state.status;
        self.flags = state.flags;
        self.pending = state.pending;
        self.succeeded = state.succeeded;
        self.settled_by = state.settled_by;
        self.received_in_fiat = state.received_in_fiat;
        self.closed_at = state.closed_at;
        self.updated_at = now_ms;
        self.version += 1;
        self
    }
}

/// At most this many attempts per checkout: keeps the item small and a runaway client visible.
pub const MAX_ATTEMPTS: usize = 20;

/// Why a checkout refuses a new attempt or a cancel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Closed(CheckoutStatus),
    Expired,
    TooManyAttempts,
}

/// The fields of a checkout that settlement changes; the store writes them all at once, conditional on
/// the version they were computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutState {
    pub status: CheckoutStatus,
    pub flags: Vec<ReviewFlag>,
    pub pending: Vec<TransactionId>,
    pub succeeded: Vec<TransactionId>,
    pub settled_by: Option<TransactionId>,
    pub received_in_fiat: Option<Decimal>,
    pub closed_at: Option<i64>,
}

impl CheckoutState {
    fn flag(&mut self, flag: ReviewFlag) {
        if let Err(at) = self.flags.binary_search(&flag) {
            self.flags.insert(at, flag);
        }
    }

    fn unflag(&mut self, flag: ReviewFlag) {
        self.flags.retain(|f| *f != flag);
    }
}

/// What one attempt is, after the report the ingest path is applying to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptNews {
    pub transaction_id: TransactionId,
    pub status: TransferStatus,
    /// What Mesh says arrived (latest report).
    pub received: Option<Received>,
    /// The transfer's mismatches against what was offered.
    pub mismatches: Vec<Mismatch>,
    /// Mesh contradicted a terminal status of this attempt.
    pub conflict: bool,
}

/// The value of what arrived in the checkout's currency (USD), from Mesh's figures only: a USD
/// stablecoin's amount, or Mesh's own fiat figure for anything else. `None` is "not known", never 0.
pub fn value_in_fiat(received: &Received) -> Option<Decimal> {
    let stable =
        received.token.as_deref().is_some_and(|t| USD_STABLECOINS.iter().any(|s| s.eq_ignore_ascii_case(t.trim())));
    if stable { received.amount.or(received.amount_in_fiat) } else { received.amount_in_fiat }
}

/// The price against the value received, within `PAYMENT_TOLERANCE`.
pub fn judge(price: Decimal, value: Decimal) -> CheckoutStatus {
    let margin = price * PAYMENT_TOLERANCE;
    if value < price - margin {
        CheckoutStatus::Underpaid
    } else if value > price + margin {
        CheckoutStatus::Overpaid
    } else {
        CheckoutStatus::Paid
    }
}

/// The one settlement rule: what news of one attempt does to its checkout. `None` when it changes
/// nothing. Forward only: a closed checkout's status never changes again; news only adds flags.
pub fn settle(checkout: &CheckoutRecord, news: &AttemptNews, now_ms: i64) -> Option<CheckoutState> {
    let before = checkout.state();
    let mut next = before.clone();
    let id = &news.transaction_id;
    if !checkout.attempts.contains(id) {
        // Not an attempt of this checkout: the transfer names a checkout that never took it.
        return None;
    }
    if news.conflict {
        next.flag(ReviewFlag::Conflict);
    }
    match news.status {
        TransferStatus::Created | TransferStatus::Abandoned => {}
        TransferStatus::Pending => {
            if !next.pending.contains(id) && !next.succeeded.contains(id) {
                next.pending.push(id.clone());
            }
            if next.status == CheckoutStatus::Open {
                next.status = CheckoutStatus::Processing;
            }
        }
        TransferStatus::Failed => {
            next.pending.retain(|p| p != id);
            if next.status == CheckoutStatus::Processing && next.pending.is_empty() && !has_unpriced(&next) {
                next.status = CheckoutStatus::Open;
            }
        }
        TransferStatus::Succeeded => {
            next.pending.retain(|p| p != id);
            let first_news = !next.succeeded.contains(id);
            if first_news {
                next.succeeded.push(id.clone());
            }
            let received = news.received.clone().unwrap_or_default();
            match next.status {
                CheckoutStatus::Expired | CheckoutStatus::Canceled => next.flag(ReviewFlag::Late),
                s if s.is_settled() => {
                    if next.settled_by.as_ref() != Some(id) {
                        next.flag(ReviewFlag::DoublePayment);
                    }
                }
                _ if next.succeeded.len() > 1 && next.settled_by.is_none() && first_news => {
                    // Two successes before either was valued: both are kept, a human decides.
                    next.flag(ReviewFlag::DoublePayment);
                    settle_open(&mut next, checkout, id, news, &received, now_ms);
                }
                _ => settle_open(&mut next, checkout, id, news, &received, now_ms),
            }
        }
    }
    (next != before).then_some(next)
}

fn has_unpriced(state: &CheckoutState) -> bool {
    state.flags.contains(&ReviewFlag::Unpriced)
}

/// A success on an open or processing checkout: flags for what arrived, then the value decides.
fn settle_open(
    next: &mut CheckoutState,
    checkout: &CheckoutRecord,
    id: &TransactionId,
    news: &AttemptNews,
    received: &Received,
    now_ms: i64,
) {
    if news.mismatches.iter().any(|m| matches!(m, Mismatch::Token | Mismatch::Network | Mismatch::Address)) {
        next.flag(ReviewFlag::WrongDestination);
    }
    if news.mismatches.contains(&Mismatch::User) {
        next.flag(ReviewFlag::OtherUser);
    }
    match value_in_fiat(received) {
        None => {
            next.status = CheckoutStatus::Processing;
            next.flag(ReviewFlag::Unpriced);
        }
        Some(value) => {
            next.unflag(ReviewFlag::Unpriced);
            next.status = judge(checkout.amount_in_fiat, value);
            next.settled_by = Some(id.clone());
            next.received_in_fiat = Some(value);
            next.closed_at = Some(now_ms);
        }
    }
}

/// Closing a checkout without payment: by the merchant (`Canceled`) or by the clock (`Expired`).
/// `None` when it is already closed, or a payment for it succeeded. Expiry also waits for pending attempts and for the last
/// attempt's link token to lapse (`attempts_quiet_after`), so a payment Mesh may still start is not
/// cut off.
pub fn close(checkout: &CheckoutRecord, to: CheckoutStatus, now_ms: i64) -> Option<CheckoutState> {
    // A payment Mesh reported succeeded (still unpriced) is never closed away as unpaid: it settles.
    if !checkout.status.is_open() || !checkout.succeeded.is_empty() {
        return None;
    }
    let mut next = checkout.state();
    match to {
        CheckoutStatus::Canceled => {}
        CheckoutStatus::Expired
            if checkout.status == CheckoutStatus::Open
                && now_ms >= checkout.expires_at_ms
                && checkout.pending.is_empty() => {}
        _ => return None,
    }
    next.status = to;
    next.closed_at = Some(now_ms);
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use CheckoutStatus::*;

    fn txn(n: u8) -> TransactionId {
        TransactionId::parse(format!("txn_{n}")).unwrap()
    }

    fn checkout(status: CheckoutStatus) -> CheckoutRecord {
        let new = NewCheckout {
            order_id: OrderId::parse("order-1").unwrap(),
            shopper: UserId::parse("user-1").unwrap(),
            amount_in_fiat: "50".parse().unwrap(),
            currency: "USD".into(),
            assets: vec![],
            metadata: BTreeMap::new(),
            expires_in_ms: 1_800_000,
        };
        let mut c = CheckoutRecord::open(CheckoutId::parse("chk_1").unwrap(), new, 1_000);
        c.attempts = vec![txn(1), txn(2)];
        c.status = status;
        c
    }

    fn usdc(amount: &str) -> Received {
        Received { amount: Some(amount.parse().unwrap()), token: Some("USDC".into()), ..Received::default() }
    }

    fn news(n: u8, status: TransferStatus, received: Option<Received>) -> AttemptNews {
        AttemptNews { transaction_id: txn(n), status, received, mismatches: vec![], conflict: false }
    }

    fn apply(c: &CheckoutRecord, n: &AttemptNews) -> CheckoutRecord {
        match settle(c, n, 5_000) {
            Some(state) => c.clone().with_state(state, 5_000),
            None => c.clone(),
        }
    }

    #[test]
    fn a_full_payment_is_paid_and_safe_to_fulfil() {
        let c = apply(&checkout(Open), &news(1, TransferStatus::Pending, None));
        assert_eq!((c.status, c.pending.clone()), (Processing, vec![txn(1)]));
        let c = apply(&c, &news(1, TransferStatus::Succeeded, Some(usdc("50"))));
        assert_eq!(c.status, Paid);
        assert!(c.safe_to_fulfil());
        assert_eq!((c.settled_by.clone(), c.received_in_fiat), (Some(txn(1)), Some("50".parse().unwrap())));
        assert!(c.pending.is_empty());
        assert_eq!(c.closed_at, Some(5_000));
    }

    #[test]
    fn the_value_decides_within_the_stated_tolerance() {
        // 1 % of 50 is 0.50.
        for (amount, want) in [
            ("49.50", Paid),
            ("50.50", Paid),
            ("49.49", Underpaid),
            ("1", Underpaid),
            ("50.51", Overpaid),
            ("0", Underpaid),
        ] {
            let c = apply(&checkout(Processing), &news(1, TransferStatus::Succeeded, Some(usdc(amount))));
            assert_eq!(c.status, want, "{amount}");
            assert_eq!(c.safe_to_fulfil(), want == Paid, "{amount}");
        }
    }

    #[test]
    fn a_non_stablecoin_is_valued_only_by_meshs_fiat_figure() {
        let eth = Received { amount: Some("0.02".parse().unwrap()), token: Some("ETH".into()), ..Received::default() };
        let c = apply(&checkout(Processing), &news(1, TransferStatus::Succeeded, Some(eth.clone())));
        assert_eq!(c.status, Processing, "a guess is never paid");
        assert_eq!(c.flags, vec![ReviewFlag::Unpriced]);
        assert!(!c.safe_to_fulfil());
        // Reconcile reads Mesh's figure: the same success, now valued.
        let priced = Received { amount_in_fiat: Some("50.10".parse().unwrap()), ..eth };
        let c = apply(&c, &news(1, TransferStatus::Succeeded, Some(priced)));
        assert_eq!((c.status, c.flags.clone()), (Paid, vec![]));
        assert!(c.safe_to_fulfil());
        assert_eq!(value_in_fiat(&usdc("7")), Some("7".parse().unwrap()));
    }

    #[test]
    fn wrong_destination_and_other_user_ask_a_human() {
        for (m, flag) in [
            (Mismatch::Token, ReviewFlag::WrongDestination),
            (Mismatch::Network, ReviewFlag::WrongDestination),
            (Mismatch::Address, ReviewFlag::WrongDestination),
            (Mismatch::User, ReviewFlag::OtherUser),
        ] {
            let mut n = news(1, TransferStatus::Succeeded, Some(usdc("50")));
            n.mismatches = vec![m];
            let c = apply(&checkout(Open), &n);
            assert_eq!((c.status, c.flags.clone()), (Paid, vec![flag]), "{m:?}");
            assert!(!c.safe_to_fulfil(), "{m:?}");
            assert!(c.review_required());
        }
    }

    #[test]
    fn a_second_success_is_a_double_payment_and_the_first_stands() {
        let c = apply(&checkout(Processing), &news(1, TransferStatus::Succeeded, Some(usdc("50"))));
        let c = apply(&c, &news(2, TransferStatus::Succeeded, Some(usdc("50"))));
        assert_eq!((c.status, c.settled_by.clone()), (Paid, Some(txn(1))));
        assert_eq!(c.flags, vec![ReviewFlag::DoublePayment]);
        assert_eq!(c.succeeded, vec![txn(1), txn(2)]);
        assert!(c.safe_to_fulfil(), "the order was paid in full; the extra payment is a refund to make");
        // The same news again changes nothing.
        assert_eq!(settle(&c, &news(2, TransferStatus::Succeeded, Some(usdc("50"))), 6_000), None);
        assert_eq!(settle(&c, &news(1, TransferStatus::Succeeded, Some(usdc("50"))), 6_000), None);
    }

    #[test]
    fn a_payment_after_expiry_or_cancel_is_late_and_the_status_stays() {
        for closed in [Expired, Canceled] {
            let c = apply(&checkout(closed), &news(1, TransferStatus::Succeeded, Some(usdc("50"))));
            assert_eq!((c.status, c.flags.clone()), (closed, vec![ReviewFlag::Late]));
            assert!(!c.safe_to_fulfil());
        }
    }

    #[test]
    fn a_failed_attempt_reopens_only_when_nothing_else_is_pending() {
        let c = apply(&checkout(Open), &news(1, TransferStatus::Pending, None));
        let c = apply(&c, &news(2, TransferStatus::Pending, None));
        let c = apply(&c, &news(1, TransferStatus::Failed, None));
        assert_eq!((c.status, c.pending.clone()), (Processing, vec![txn(2)]));
        let c = apply(&c, &news(2, TransferStatus::Failed, None));
        assert_eq!((c.status, c.pending.clone()), (Open, vec![]));
    }

    #[test]
    fn closed_checkouts_never_change_status_whatever_arrives() {
        for from in [Paid, Underpaid, Overpaid, Expired, Canceled] {
            for status in TransferStatus::ALL {
                for received in [None, Some(usdc("50")), Some(usdc("1"))] {
                    let mut c = checkout(from);
                    c.settled_by = from.is_settled().then(|| txn(1));
                    let after = apply(&c, &news(2, status, received));
                    assert_eq!(after.status, from, "{from:?} + {status:?}");
                }
            }
        }
    }

    #[test]
    fn a_conflict_is_flagged_in_any_state() {
        for from in CheckoutStatus::ALL {
            let mut n = news(1, TransferStatus::Failed, None);
            n.conflict = true;
            let c = apply(&checkout(from), &n);
            assert!(c.flags.contains(&ReviewFlag::Conflict), "{from:?}");
        }
    }

    #[test]
    fn news_of_an_attempt_the_checkout_never_took_changes_nothing() {
        let n = AttemptNews { transaction_id: txn(9), ..news(1, TransferStatus::Succeeded, Some(usdc("50"))) };
        assert_eq!(settle(&checkout(Open), &n, 5_000), None);
    }

    #[test]
    fn expiry_waits_for_the_clock_and_for_pending_attempts_cancel_does_not() {
        let c = checkout(Open);
        assert_eq!(close(&c, Expired, c.expires_at_ms - 1), None);
        assert_eq!(close(&c, Expired, c.expires_at_ms).map(|s| s.status), Some(Expired));
        let processing = apply(&c, &news(1, TransferStatus::Pending, None));
        assert_eq!(close(&processing, Expired, i64::MAX), None);
        assert_eq!(close(&processing, Canceled, 2_000).map(|s| s.status), Some(Canceled));
        for closed in [Paid, Underpaid, Overpaid, Expired, Canceled] {
            assert_eq!(close(&checkout(closed), Canceled, 2_000), None);
        }
        let eth = Received { amount: Some("1".parse().unwrap()), token: Some("ETH".into()), ..Received::default() };
        let unpriced = apply(&c, &news(1, TransferStatus::Succeeded, Some(eth)));
        assert_eq!((unpriced.status, close(&unpriced, Canceled, 2_000)), (Processing, None), "paid, not yet valued");
    }

    #[test]
    fn attempts_are_refused_once_closed_expired_or_too_many() {
        let c = checkout(Open);
        assert_eq!(c.accepts_attempt(2_000), Ok(()));
        assert_eq!(c.accepts_attempt(c.expires_at_ms), Err(Refusal::Expired));
        assert_eq!(checkout(Paid).accepts_attempt(2_000), Err(Refusal::Closed(Paid)));
        let mut many = checkout(Processing);
        many.attempts = (0..MAX_ATTEMPTS as u8).map(txn).collect();
        assert_eq!(many.accepts_attempt(2_000), Err(Refusal::TooManyAttempts));
    }

    #[test]
    fn names_are_the_wire_names() {
        for status in CheckoutStatus::ALL {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        for flag in ReviewFlag::ALL {
            assert_eq!(serde_json::to_value(flag).unwrap(), flag.as_str());
        }
    }

    #[test]
    fn record_round_trips_with_exact_amounts() {
        let mut c = checkout(Paid);
        c.amount_in_fiat = "49.99".parse().unwrap();
        c.metadata.insert("cart".into(), "42".into());
        c.flags = vec![ReviewFlag::Late];
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"49.99\""), "{json}");
        assert!(!json.contains("\"user_id\"") && !json.contains("\"expires_at\""), "{json}");
        assert_eq!(serde_json::from_str::<CheckoutRecord>(&json).unwrap(), c);
    }
}
