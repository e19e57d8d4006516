//! What a run settles besides Mesh's listing, pure: which open transfers are attempts whose link
//! token lapsed (abandoned unless Mesh knows them), and what an open checkout needs from the run.
//!
//! These functions only say whom to ask. A transfer counts as unknown to Mesh only once a lookup by
//! its `ClientTransactionId` found nothing; the run remembers those ids.

use crate::plan::ms;
use shared::domain::checkout::{CheckoutRecord, CheckoutStatus, ReviewFlag};
use shared::domain::ids::TransactionId;
use shared::domain::transfer::{TransferRecord, TransferStatus};
use shared::mesh::LINK_TOKEN_LIFETIME_MS;
use std::time::Duration;

/// The link token minted with a transfer created at `created_at` can no longer start a payment: its
/// lifetime has passed, and the run's grace for a Link session opened just before it lapsed.
pub fn token_lapsed(created_at: i64, now_ms: i64, grace: Duration) -> bool {
    now_ms >= created_at.saturating_add(LINK_TOKEN_LIFETIME_MS).saturating_add(ms(grace))
}

/// Open transfers still `created` whose link token lapsed, oldest first, with the version to abandon
/// them at: each is abandoned unless Mesh, asked, knows it.
pub fn abandon_candidates<'a>(
    open: impl IntoIterator<Item = &'a TransferRecord>,
    now_ms: i64,
    grace: Duration,
) -> Vec<(TransactionId, u64)> {
    let mut lapsed: Vec<&TransferRecord> = open
        .into_iter()
        .filter(|r| r.status == TransferStatus::Created && token_lapsed(r.created_at, now_ms, grace))
        .collect();
    lapsed.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.transaction_id.cmp(&b.transaction_id)));
    lapsed.into_iter().map(|r| (r.transaction_id.clone(), r.version)).collect()
}

/// What an open checkout needs from this run, judged from the checkout alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckoutTask {
    /// A payment succeeded and Mesh's fiat value of it is not recorded: look up these attempts (its
    /// successes), so the ingest path reads the value and settles it.
    Price(Vec<TransactionId>),
    /// Open past its expiry with nothing pending: read its attempts (`expiry_lookups`).
    Expire,
    /// Nothing to do yet.
    Wait,
}

pub fn checkout_task(c: &CheckoutRecord, now_ms: i64) -> CheckoutTask {
    if c.flags.contains(&ReviewFlag::Unpriced) && !c.succeeded.is_empty() {
        CheckoutTask::Price(c.succeeded.clone())
    } else if c.status == CheckoutStatus::Open && now_ms >= c.expires_at_ms && c.pending.is_empty() {
        CheckoutTask::Expire
    } else {
        CheckoutTask::Wait
    }
}

/// The attempts to ask Mesh about before `c` may expire: every one not terminal. `None` while it
/// must wait: an attempt's token can still start a payment, one is in flight at Mesh, or one is
/// missing from `attempts` (its transfer as read), so that nothing is expired around a payment.
pub fn expiry_lookups(
    c: &CheckoutRecord,
    attempts: &[TransferRecord],
    now_ms: i64,
    grace: Duration,
) -> Option<Vec<TransactionId>> {
    let mut ask = Vec::new();
    for id in &c.attempts {
        let t = attempts.iter().find(|t| &t.transaction_id == id)?;
        match t.status {
            TransferStatus::Failed => {}
            TransferStatus::Pending | TransferStatus::Succeeded => return None,
            TransferStatus::Created | TransferStatus::Abandoned => {
                if !token_lapsed(t.created_at, now_ms, grace) {
                    return None;
                }
                ask.push(id.clone());
            }
        }
    }
    Some(ask)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::domain::checkout::NewCheckout;
    use shared::domain::ids::{CheckoutId, OrderId, UserId};

    const MIN: i64 = 60_000;
    const NOW: i64 = 1_800_000_000_000;
    const GRACE: Duration = Duration::from_secs(5 * 60);

    fn transfer(age_min: i64, status: TransferStatus) -> TransferRecord {
        let mut t =
            TransferRecord::created(TransactionId::generate(), UserId::parse("u").unwrap(), NOW - age_min * MIN);
        t.status = status;
        t.version = 3;
        t
    }

    fn checkout(status: CheckoutStatus, expires_in_min: i64, attempts: &[&TransferRecord]) -> CheckoutRecord {
        let new = NewCheckout {
            order_id: OrderId::parse("order-1").unwrap(),
            shopper: UserId::parse("u").unwrap(),
            amount_in_fiat: "50".parse().unwrap(),
            currency: "USD".into(),
            assets: vec![],
            metadata: Default::default(),
            expires_in_ms: 30 * MIN,
        };
        let mut c = CheckoutRecord::open(CheckoutId::generate(), new, NOW - 30 * MIN + expires_in_min * MIN);
        c.status = status;
        c.attempts = attempts.iter().map(|t| t.transaction_id.clone()).collect();
        c
    }

    #[test]
    fn a_token_lapses_after_its_lifetime_and_the_grace() {
        let created = NOW - 15 * MIN;
        assert!(token_lapsed(created, NOW, GRACE), "10 min + 5 min grace");
        assert!(!token_lapsed(created + 1, NOW, GRACE));
        assert!(token_lapsed(NOW - 10 * MIN, NOW, Duration::ZERO));
        assert!(!token_lapsed(NOW - 9 * MIN, NOW, Duration::ZERO));
        assert!(!token_lapsed(i64::MAX, NOW, GRACE), "no overflow");
    }

    #[test]
    fn only_created_transfers_whose_token_lapsed_are_candidates_oldest_first() {
        let recent = transfer(14, TransferStatus::Created);
        let old = transfer(60, TransferStatus::Created);
        let older = transfer(120, TransferStatus::Created);
        let pending = transfer(120, TransferStatus::Pending);
        let got = abandon_candidates([&recent, &old, &pending, &older], NOW, GRACE);
        assert_eq!(got, vec![(older.transaction_id.clone(), 3), (old.transaction_id.clone(), 3)]);
    }

    #[test]
    fn an_unpriced_success_is_priced_before_anything_else() {
        let t = transfer(20, TransferStatus::Succeeded);
        let mut c = checkout(CheckoutStatus::Processing, -5, &[&t]);
        c.succeeded = vec![t.transaction_id.clone()];
        assert_eq!(checkout_task(&c, NOW), CheckoutTask::Wait, "valued already: nothing to read");
        c.flags = vec![ReviewFlag::Unpriced];
        assert_eq!(checkout_task(&c, NOW), CheckoutTask::Price(vec![t.transaction_id.clone()]));
    }

    #[test]
    fn only_an_open_checkout_past_its_expiry_with_nothing_pending_is_due() {
        let t = transfer(40, TransferStatus::Created);
        assert_eq!(checkout_task(&checkout(CheckoutStatus::Open, -1, &[&t]), NOW), CheckoutTask::Expire);
        assert_eq!(checkout_task(&checkout(CheckoutStatus::Open, 0, &[&t]), NOW), CheckoutTask::Expire, "at expiry");
        assert_eq!(checkout_task(&checkout(CheckoutStatus::Open, 1, &[&t]), NOW), CheckoutTask::Wait);
        assert_eq!(checkout_task(&checkout(CheckoutStatus::Processing, -1, &[&t]), NOW), CheckoutTask::Wait);
        let mut pending = checkout(CheckoutStatus::Open, -1, &[&t]);
        pending.pending = vec![t.transaction_id.clone()];
        assert_eq!(checkout_task(&pending, NOW), CheckoutTask::Wait);
    }

    #[test]
    fn expiry_asks_mesh_about_every_attempt_not_terminal_once_all_tokens_lapsed() {
        let created = transfer(40, TransferStatus::Created);
        let abandoned = transfer(50, TransferStatus::Abandoned);
        let failed = transfer(45, TransferStatus::Failed);
        let c = checkout(CheckoutStatus::Open, -1, &[&created, &abandoned, &failed]);
        let attempts = [created.clone(), abandoned.clone(), failed.clone()];
        assert_eq!(
            expiry_lookups(&c, &attempts, NOW, GRACE),
            Some(vec![created.transaction_id.clone(), abandoned.transaction_id.clone()])
        );
        assert_eq!(expiry_lookups(&checkout(CheckoutStatus::Open, -1, &[]), &[], NOW, GRACE), Some(vec![]));
        assert_eq!(
            expiry_lookups(&checkout(CheckoutStatus::Open, -1, &[&failed]), &attempts, NOW, GRACE),
            Some(vec![])
        );
    }

    #[test]
    fn expiry_waits_for_a_usable_token_an_attempt_in_flight_or_a_missing_one() {
        let lapsed = transfer(40, TransferStatus::Created);
        for other in [
            transfer(14, TransferStatus::Created),
            transfer(40, TransferStatus::Pending),
            transfer(40, TransferStatus::Succeeded),
        ] {
            let c = checkout(CheckoutStatus::Open, -1, &[&lapsed, &other]);
            assert_eq!(expiry_lookups(&c, &[lapsed.clone(), other.clone()], NOW, GRACE), None, "{:?}", other.status);
        }
        let missing = transfer(40, TransferStatus::Created);
        let c = checkout(CheckoutStatus::Open, -1, &[&lapsed, &missing]);
        assert_eq!(expiry_lookups(&c, std::slice::from_ref(&lapsed), NOW, GRACE), None);
    }
}
