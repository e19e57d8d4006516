//! The checkout store's contract and the settlement it carries, run against DynamoDB on moto (the real
//! API, on a table created from template.yaml) and against the in-memory twin: both must behave the
//! same. The rules themselves are unit-tested in `domain::checkout`; here: that every write is
//! conditional on what was read, and that a transfer and its checkout move together or not at all.

use shared::domain::checkout::{CheckoutRecord, CheckoutStatus, NewCheckout, ReviewFlag, close};
use shared::domain::ids::{CheckoutId, EventId, OrderId, TransactionId, TransferId, UserId};
use shared::domain::report::{Outcome, Report, ReportSource};
use shared::domain::transfer::{OfferedDestination, Received, ReportedStatus, TransferRecord, TransferStatus};
use shared::ingest::{ingest, plan};
use shared::storage::{
    CheckoutChange, CheckoutStore, DynamoTransferStore, MemoryTransferStore, StoreError, TransferStore,
};
use shared::testkit;
use std::collections::BTreeMap;
use std::sync::Arc;

const NOW: i64 = 1_800_000_000_000;
const ADDRESS: &str = "0x1111111111111111111111111111111111111111";

async fn dynamo() -> DynamoTransferStore {
    let table = testkit::create_table();
    let client = aws_sdk_dynamodb::Client::new(&testkit::sdk_config().await);
    DynamoTransferStore::new(client, table)
}

fn new_checkout(order: &str) -> CheckoutRecord {
    let new = NewCheckout {
        order_id: OrderId::parse(order).unwrap(),
        shopper: UserId::parse("shopper-1").unwrap(),
        amount_in_fiat: "50".parse().unwrap(),
        currency: "USD".into(),
        assets: vec!["USDC".into()],
        metadata: BTreeMap::from([("cart".to_string(), "42".to_string())]),
        expires_in_ms: 1_800_000,
    };
    CheckoutRecord::open(CheckoutId::generate(), new, NOW)
}

fn attempt(checkout: &CheckoutRecord) -> TransferRecord {
    let mut t = TransferRecord::created(TransactionId::generate(), checkout.shopper.clone(), NOW + 1);
    t.checkout_id = Some(checkout.checkout_id.clone());
    t.order_id = Some(checkout.order_id.to_string());
    t.expected_amount_fiat = Some(checkout.amount_in_fiat);
    t.offered = vec![OfferedDestination {
        symbol: "USDC".into(),
        network_id: "aa883b03-120d-477c-a588-37c2afd3ca71".into(),
        network_name: "Base".into(),
        address: ADDRESS.into(),
    }];
    t
}

fn report(t: &TransferRecord, event: &str, status: &str, amount: Option<&str>) -> Report {
    Report {
        event_id: EventId::parse(event).unwrap(),
        source: ReportSource::Webhook,
        transfer_id: TransferId::parse(format!("tr-{}", t.transaction_id)).unwrap(),
        transaction_id: Some(t.transaction_id.clone()),
        user_id: Some(t.user_id.to_string()),
        status: ReportedStatus::parse(status),
        event_at: Some(NOW + 10),
        tx_hash: None,
        received: Received {
            amount: amount.map(|a| a.parse().unwrap()),
            token: amount.map(|_| "USDC".to_string()),
            chain: amount.map(|_| "Base".to_string()),
            address: amount.map(|_| ADDRESS.to_string()),
            amount_in_fiat: None,
        },
    }
}

/// A checkout with one attempt, both stored.
async fn opened_with_attempt<S: TransferStore + CheckoutStore>(store: &S, order: &str) -> (CheckoutId, TransferRecord) {
    let c = new_checkout(order);
    store.open_checkout(&c, None).await.unwrap();
    let t = attempt(&c);
    store.create_attempt(&t, &c.checkout_id, c.version).await.unwrap();
    (c.checkout_id, t)
}

async fn checkout<S: CheckoutStore>(store: &S, id: &CheckoutId) -> CheckoutRecord {
    store.get_checkout(id).await.unwrap().expect("the checkout")
}

async fn an_order_points_at_one_checkout_at_a_time<S: TransferStore + CheckoutStore>(store: &S) {
    let order = format!("order {}", uuid());
    let first = new_checkout(&order);
    store.open_checkout(&first, None).await.unwrap();
    assert_eq!(store.get_checkout(&first.checkout_id).await.unwrap(), Some(first.clone()));
    assert_eq!(store.checkout_for_order(&first.order_id).await.unwrap(), Some(first.clone()));
    // A second create that did not see the first loses, whatever its id.
    let rival = new_checkout(&order);
    assert!(matches!(store.open_checkout(&rival, None).await, Err(StoreError::VersionConflict)));
    assert_eq!(store.get_checkout(&rival.checkout_id).await.unwrap(), None, "all or nothing");
    // Replacing needs the pointer as read.
    let stale = CheckoutId::generate();
    assert!(matches!(store.open_checkout(&rival, Some(&stale)).await, Err(StoreError::VersionConflict)));
    store.open_checkout(&rival, Some(&first.checkout_id)).await.unwrap();
    assert_eq!(store.checkout_for_order(&first.order_id).await.unwrap().unwrap().checkout_id, rival.checkout_id);
    assert!(matches!(store.open_checkout(&rival, Some(&rival.checkout_id)).await, Err(StoreError::AlreadyExists)));
    assert_eq!(store.checkout_for_order(&OrderId::parse("never").unwrap()).await.unwrap(), None);
}

async fn an_attempt_is_stored_with_its_checkout_or_not_at_all<S: TransferStore + CheckoutStore>(store: &S) {
    let c = new_checkout(&uuid());
    store.open_checkout(&c, None).await.unwrap();
    let t = attempt(&c);
    store.create_attempt(&t, &c.checkout_id, c.version).await.unwrap();
    let after = checkout(store, &c.checkout_id).await;
    assert_eq!((after.attempts.clone(), after.version), (vec![t.transaction_id.clone()], 2));
    assert_eq!(store.get(&t.transaction_id).await.unwrap(), Some(t.clone()));
    // Against the version before: refused, and the transfer is not created either.
    let late = attempt(&c);
    assert!(matches!(store.create_attempt(&late, &c.checkout_id, 1).await, Err(StoreError::VersionConflict)));
    assert_eq!(store.get(&late.transaction_id).await.unwrap(), None);
    assert_eq!(checkout(store, &c.checkout_id).await.attempts.len(), 1);
}

async fn a_close_is_conditional_and_leaves_the_open_set<S: TransferStore + CheckoutStore>(store: &S) {
    let c = new_checkout(&uuid());
    store.open_checkout(&c, None).await.unwrap();
    assert!(store.list_open_checkouts(1000).await.unwrap().iter().any(|o| o.checkout_id == c.checkout_id));
    let state = close(&c, CheckoutStatus::Canceled, NOW + 5).unwrap();
    let stale = CheckoutChange { id: c.checkout_id.clone(), expected_version: 7, state: state.clone(), now: NOW + 5 };
    assert!(matches!(store.update_checkout(&stale).await, Err(StoreError::VersionConflict)));
    let change = CheckoutChange { expected_version: 1, ..stale };
    store.update_checkout(&change).await.unwrap();
    let after = checkout(store, &c.checkout_id).await;
    assert_eq!(
        (after.status, after.closed_at, after.version, after.updated_at),
        (state.status, Some(NOW + 5), 2, NOW + 5)
    );
    assert!(!store.list_open_checkouts(1000).await.unwrap().iter().any(|o| o.checkout_id == c.checkout_id));
}

async fn open_checkouts_come_soonest_to_expire_first<S: TransferStore + CheckoutStore>(store: &S) {
    let mut ids = Vec::new();
    for minutes in [30, 5, 60, 10] {
        let mut c = new_checkout(&uuid());
        c.expires_at_ms = NOW + minutes * 60_000;
        store.open_checkout(&c, None).await.unwrap();
        ids.push((c.expires_at_ms, c.checkout_id));
    }
    ids.sort();
    let listed: Vec<CheckoutId> = store
        .list_open_checkouts(1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| ids.iter().any(|(_, id)| *id == c.checkout_id))
        .map(|c| c.checkout_id)
        .collect();
    assert_eq!(listed, ids.into_iter().map(|(_, id)| id).collect::<Vec<_>>());
    assert!(store.list_open_checkouts(2).await.unwrap().len() <= 2);
}

async fn a_payment_settles_its_checkout_in_the_same_write<S: TransferStore + CheckoutStore>(store: &S) {
    let (id, t) = opened_with_attempt(store, &uuid()).await;
    let pending = report(&t, &format!("e1-{}", uuid()), "Pending", None);
    assert_eq!(ingest(store, &pending, "Pending", NOW + 20).await.unwrap().outcome, Outcome::Applied);
    let c = checkout(store, &id).await;
    assert_eq!((c.status, c.pending.clone()), (CheckoutStatus::Processing, vec![t.transaction_id.clone()]));
    let paid = report(&t, &format!("e2-{}", uuid()), "Succeeded", Some("50"));
    assert_eq!(ingest(store, &paid, "Succeeded", NOW + 30).await.unwrap().outcome, Outcome::Applied);
    let c = checkout(store, &id).await;
    assert_eq!(c.status, CheckoutStatus::Paid);
    assert!(c.safe_to_fulfil());
    assert_eq!(
        (c.settled_by.clone(), c.received_in_fiat),
        (Some(t.transaction_id.clone()), Some("50".parse().unwrap()))
    );
    assert!(c.pending.is_empty());
    assert!(!store.list_open_checkouts(1000).await.unwrap().iter().any(|o| o.checkout_id == id));
    // The redelivery changes nothing.
    let version = c.version;
    assert_eq!(ingest(store, &paid, "Succeeded", NOW + 40).await.unwrap().outcome, Outcome::Duplicate);
    assert_eq!(checkout(store, &id).await.version, version);
}

async fn an_underpayment_is_its_own_state<S: TransferStore + CheckoutStore>(store: &S) {
    let (id, t) = opened_with_attempt(store, &uuid()).await;
    let short = report(&t, &format!("e-{}", uuid()), "Succeeded", Some("20"));
    ingest(store, &short, "Succeeded", NOW + 30).await.unwrap();
    let c = checkout(store, &id).await;
    assert_eq!((c.status, c.safe_to_fulfil()), (CheckoutStatus::Underpaid, false));
    assert_eq!(store.get(&t.transaction_id).await.unwrap().unwrap().status, TransferStatus::Succeeded);
}

/// The checkout moved between the ingest's read and its write: nothing of the report is written, not
/// the event, not the transfer; the retry re-plans from what is there.
async fn a_stale_checkout_cancels_the_whole_write<S: TransferStore + CheckoutStore>(store: &S) {
    let (id, t) = opened_with_attempt(store, &uuid()).await;
    let c = checkout(store, &id).await;
    let paid = report(&t, &format!("e-{}", uuid()), "Succeeded", Some("50"));
    let planned = plan(Some(&t), Some(&c), &paid, "Succeeded", NOW + 30);
    assert!(planned.checkout.is_some());
    // The merchant cancels in between.
    let cancel = CheckoutChange {
        id: id.clone(),
        expected_version: c.version,
        state: close(&c, CheckoutStatus::Canceled, NOW + 25).unwrap(),
        now: NOW + 25,
    };
    store.update_checkout(&cancel).await.unwrap();
    let result = store.record_event(&planned.event, planned.change.as_ref(), planned.checkout.as_ref()).await;
    assert!(matches!(result, Err(StoreError::VersionConflict)), "{result:?}");
    assert_eq!(store.get(&t.transaction_id).await.unwrap().unwrap().status, TransferStatus::Created);
    assert_eq!(store.get_event(&paid.event_id, NOW + 30).await.unwrap(), None);
    // Re-planned: the payment is recorded, and it is late.
    assert_eq!(ingest(store, &paid, "Succeeded", NOW + 30).await.unwrap().outcome, Outcome::Applied);
    let c = checkout(store, &id).await;
    assert_eq!((c.status, c.flags.clone()), (CheckoutStatus::Canceled, vec![ReviewFlag::Late]));
}

async fn an_abandoned_attempt_leaves_the_open_set_until_mesh_reports_it<S: TransferStore + CheckoutStore>(store: &S) {
    let (id, t) = opened_with_attempt(store, &uuid()).await;
    let open = |list: Vec<TransferRecord>| list.iter().any(|r| r.transaction_id == t.transaction_id);
    assert!(open(store.list_open(NOW + 100, 1000).await.unwrap()));
    assert!(matches!(store.abandon(&t.transaction_id, 9, NOW + 50).await, Err(StoreError::VersionConflict)));
    store.abandon(&t.transaction_id, t.version, NOW + 50).await.unwrap();
    let r = store.get(&t.transaction_id).await.unwrap().unwrap();
    assert_eq!((r.status, r.version), (TransferStatus::Abandoned, 2));
    assert!(!open(store.list_open(NOW + 100, 1000).await.unwrap()));
    // Only a created transfer can be abandoned.
    assert!(matches!(store.abandon(&t.transaction_id, 2, NOW + 60).await, Err(StoreError::VersionConflict)));
    // Mesh reports it after all: it moves forward and is watched again; its checkout follows.
    let pending = report(&t, &format!("e-{}", uuid()), "Pending", None);
    assert_eq!(ingest(store, &pending, "Pending", NOW + 70).await.unwrap().outcome, Outcome::Applied);
    assert!(open(store.list_open(NOW + 100, 1000).await.unwrap()));
    assert_eq!(checkout(store, &id).await.status, CheckoutStatus::Processing);
}

/// Two attempts of one checkout reported at the same moment (a webhook and reconcile, say): each
/// write is conditional on the checkout's version, the loser re-plans, and both payments are seen.
async fn concurrent_successes_of_two_attempts_are_both_counted<S: TransferStore + CheckoutStore + 'static>(store: S) {
    let store = Arc::new(store);
    let c = new_checkout(&uuid());
    store.open_checkout(&c, None).await.unwrap();
    let (a, b) = (attempt(&c), attempt(&c));
    store.create_attempt(&a, &c.checkout_id, 1).await.unwrap();
    store.create_attempt(&b, &c.checkout_id, 2).await.unwrap();
    let tasks: Vec<_> = [&a, &b]
        .into_iter()
        .map(|t| {
            let (store, rep) = (store.clone(), report(t, &format!("e-{}", uuid()), "Succeeded", Some("50")));
            tokio::spawn(async move { ingest(store.as_ref(), &rep, "Succeeded", NOW + 30).await.unwrap().outcome })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), Outcome::Applied);
    }
    let after = checkout(store.as_ref(), &c.checkout_id).await;
    assert_eq!(after.status, CheckoutStatus::Paid);
    assert_eq!(after.succeeded.len(), 2);
    assert_eq!(after.flags, vec![ReviewFlag::DoublePayment]);
    assert_eq!(after.version, 5, "two attempts added, two settlements applied");
}

fn uuid() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

macro_rules! contract {
    ($($case:ident),+ $(,)?) => {
        mod memory {
            $(#[tokio::test] async fn $case() { super::$case(&super::MemoryTransferStore::default()).await; })+
        }
        mod dynamodb_on_moto {
            $(#[tokio::test] async fn $case() { super::$case(&super::dynamo().await).await; })+
        }
    };
}

contract!(
    an_order_points_at_one_checkout_at_a_time,
    an_attempt_is_stored_with_its_checkout_or_not_at_all,
    a_close_is_conditional_and_leaves_the_open_set,
    open_checkouts_come_soonest_to_expire_first,
    a_payment_settles_its_checkout_in_the_same_write,
    an_underpayment_is_its_own_state,
    a_stale_checkout_cancels_the_whole_write,
    an_abandoned_attempt_leaves_the_open_set_until_mesh_reports_it,
);

#[tokio::test]
async fn concurrent_successes_in_memory() {
    concurrent_successes_of_two_attempts_are_both_counted(MemoryTransferStore::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_successes_on_moto() {
    concurrent_successes_of_two_attempts_are_both_counted(dynamo().await).await;
}
