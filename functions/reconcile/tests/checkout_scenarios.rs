//! The checkout sweep and abandoned attempts end to end: checkouts and their attempts in DynamoDB on
//! moto, Mesh's answers from the sandbox over HTTP (`support`). A grace of 5 minutes ends the listing's
//! window before the sandbox's transfers (created "now"): what Mesh knows is found only by the
//! lookups under test, and one older background transfer keeps the window from looking empty.

mod support;

use reconcile::settings::Settings;
use serde_json::{Value, json};
use shared::domain::checkout::{CheckoutRecord, CheckoutStatus, NewCheckout, ReviewFlag};
use shared::domain::ids::{CheckoutId, OrderId, TransactionId, TransferId, UserId};
use shared::domain::report::Outcome;
use shared::domain::time::now_millis;
use shared::domain::transfer::{TransferRecord, TransferStatus};
use shared::storage::{CheckoutStore, TransferStore};
use std::time::Duration;
use support::{World, settings, world};

const MIN: i64 = 60_000;
const SHOPPER: &str = "shopper-c";

fn with_grace() -> Settings {
    Settings { grace: Duration::from_secs(5 * 60), ..settings() }
}

/// A checkout of `price` USD opened `age_min` minutes ago, expiring `expires_in_min` after that.
async fn checkout(w: &World, price: &str, age_min: i64, expires_in_min: i64) -> CheckoutRecord {
    let new = NewCheckout {
        order_id: OrderId::parse(format!("order-{}", uuid::Uuid::new_v4().simple())).unwrap(),
        shopper: UserId::parse(SHOPPER).unwrap(),
        amount_in_fiat: price.parse().unwrap(),
        currency: "USD".into(),
        assets: vec![],
        metadata: Default::default(),
        expires_in_ms: expires_in_min * MIN,
    };
    let c = CheckoutRecord::open(CheckoutId::generate(), new, now_millis() - age_min * MIN);
    w.store.open_checkout(&c, None).await.unwrap();
    c
}

/// An attempt at `c` whose link token was minted `age_min` minutes ago.
async fn attempt(w: &World, c: &CheckoutRecord, age_min: i64) -> TransferRecord {
    let current = w.store.get_checkout(&c.checkout_id).await.unwrap().unwrap();
    let mut t = TransferRecord::created(
        TransactionId::generate(),
        UserId::parse(SHOPPER).unwrap(),
        now_millis() - age_min * MIN,
    );
    t.checkout_id = Some(c.checkout_id.clone());
    t.order_id = Some(c.order_id.to_string());
    t.expected_amount_fiat = Some(c.amount_in_fiat);
    w.store.create_attempt(&t, &c.checkout_id, current.version).await.unwrap();
    t
}

/// The shopper finished Link for `t` at Mesh (`extra`: the sandbox's knobs), and every webhook about
/// it was lost.
async fn at_mesh(w: &World, t: &TransferRecord, extra: Value) -> TransferId {
    let mut body = json!({"transactionId": t.transaction_id.as_str(), "userId": SHOPPER, "webhooks": {"drop": true}});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let made = w.control("/sandbox/transfers", body).await;
    TransferId::parse(made["id"].as_str().unwrap()).unwrap()
}

async fn reread(w: &World, c: &CheckoutRecord) -> CheckoutRecord {
    w.store.get_checkout(&c.checkout_id).await.unwrap().unwrap()
}

async fn is_open(w: &World, t: &TransferRecord) -> bool {
    w.store.list_open(now_millis(), 1000).await.unwrap().iter().any(|o| o.transaction_id == t.transaction_id)
}

#[tokio::test]
async fn an_expired_checkout_no_attempt_of_which_reached_mesh_expires_and_its_attempt_is_abandoned() {
    let w = world(settings()).await;
    let c = checkout(&w, "49.99", 40, 30).await;
    let t = attempt(&w, &c, 35).await;

    let s = w.run().await.summary;
    assert_eq!((s.open_checkouts, s.checkouts_expired, s.abandoned, s.still_open), (1, 1, 1, 0), "{s:?}");
    assert_eq!(s.not_found_at_mesh, 1, "one lookup serves the listing check, the expiry and the abandon: {s:?}");
    assert_eq!(s.mesh_calls, 2, "one empty page, one lookup: {s:?}");
    let after = reread(&w, &c).await;
    assert_eq!(after.status, CheckoutStatus::Expired);
    assert!(after.closed_at.is_some() && !after.safe_to_fulfil());
    assert_eq!(w.status(&t).await.status, TransferStatus::Abandoned);
    assert!(!is_open(&w, &t).await, "the abandoned attempt left the open-transfers index");

    let again = w.run().await.summary;
    assert_eq!((again.open, again.open_checkouts, again.mesh_calls), (0, 0, 1), "only the window's page: {again:?}");
}

#[tokio::test]
async fn an_expired_checkout_whose_attempt_succeeded_at_mesh_is_paid_not_expired() {
    let w = world(with_grace()).await;
    w.seed(1, "background-").await;
    let c = checkout(&w, "50", 40, 30).await;
    let t = attempt(&w, &c, 35).await;
    at_mesh(&w, &t, json!({"outcome": "succeeded", "amountInFiat": 50})).await;

    let s = w.run().await.summary;
    assert_eq!((s.checkouts_expired, s.repaired, s.abandoned, s.not_found_at_mesh), (0, 1, 0, 0), "{s:?}");
    let after = reread(&w, &c).await;
    assert_eq!((after.status, after.settled_by.as_ref()), (CheckoutStatus::Paid, Some(&t.transaction_id)));
    assert!(after.safe_to_fulfil(), "{after:?}");
    assert_eq!(w.status(&t).await.status, TransferStatus::Succeeded);
}

#[tokio::test]
async fn an_unpriced_non_stablecoin_payment_is_paid_once_meshs_fiat_figure_is_read() {
    let w = world(with_grace()).await;
    w.seed(1, "background-").await;
    let c = checkout(&w, "50", 1, 30).await;
    let t = attempt(&w, &c, 1).await;
    let transfer_id = at_mesh(&w, &t, json!({"outcome": "succeeded", "symbol": "ETH", "amountInFiat": 50})).await;
    // The webhooks arrive; they carry no fiat value, so an ETH payment cannot be judged from them.
    assert_eq!(w.deliver_dropped(&transfer_id).await, vec![Outcome::Applied, Outcome::Applied]);
    let unpriced = reread(&w, &c).await;
    assert_eq!((unpriced.status, unpriced.flags.clone()), (CheckoutStatus::Processing, vec![ReviewFlag::Unpriced]));

    let s = w.run().await.summary;
    assert_eq!((s.checkouts_priced, s.repaired, s.checkouts_expired), (1, 1, 0), "{s:?}");
    let paid = reread(&w, &c).await;
    assert_eq!((paid.status, paid.flags.clone()), (CheckoutStatus::Paid, vec![]), "{paid:?}");
    assert_eq!(paid.received_in_fiat, Some("50".parse().unwrap()), "Mesh's destinationAmountInFiat");
    assert!(paid.safe_to_fulfil());
    let priced = w.status(&t).await;
    assert!(priced.received.as_ref().is_some_and(|r| r.amount_in_fiat.is_some()), "{priced:?}");

    // Settled: the next run neither asks about it nor writes.
    let again = w.run().await.summary;
    assert_eq!((again.open_checkouts, again.checkouts_priced, again.repaired), (0, 0, 0), "{again:?}");
    assert_eq!(w.status(&t).await.version, priced.version);
}

#[tokio::test]
async fn a_lapsed_attempt_unknown_to_mesh_is_abandoned_and_one_mesh_knows_is_not() {
    let w = world(with_grace()).await;
    w.seed(1, "background-").await;
    let unknown = w.ours(SHOPPER, Duration::from_secs(30 * 60)).await;
    let known = w.ours(SHOPPER, Duration::from_secs(30 * 60)).await;
    at_mesh(&w, &known, json!({"outcome": "pending"})).await;
    let fresh = w.ours(SHOPPER, Duration::from_secs(12 * 60)).await;

    let s = w.run().await.summary;
    assert_eq!((s.open, s.abandoned, s.not_found_at_mesh, s.repaired, s.still_open), (3, 1, 1, 1, 2), "{s:?}");
    assert_eq!(s.mesh_calls, 3, "one page and a lookup per lapsed attempt; none for a live token: {s:?}");
    assert_eq!(w.status(&unknown).await.status, TransferStatus::Abandoned);
    assert_eq!(w.status(&known).await.status, TransferStatus::Pending, "Mesh knows it: not abandoned");
    assert_eq!(w.status(&fresh).await.status, TransferStatus::Created, "its token may still be used");
    assert!(!is_open(&w, &unknown).await);
    assert!(is_open(&w, &known).await && is_open(&w, &fresh).await);
}
