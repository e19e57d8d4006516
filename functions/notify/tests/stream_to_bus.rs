//! The Done-when of settlement events, on moto: the table's stream read by `dev/stream_poller.py` (the
//! event source mapping as template.yaml declares it), the handler publishing to moto's EventBridge,
//! the template's rules delivering to SQS queues. Changes are made through the real write paths
//! (`CheckoutStore`, `ingest`), so the stream carries what production writes.

mod common;

use common::{assert_valid_event, stack};
use shared::domain::checkout::{CheckoutRecord, NewCheckout};
use shared::domain::ids::{CheckoutId, EventId, OrderId, TransactionId, TransferId, UserId};
use shared::domain::report::{Report, ReportSource};
use shared::domain::settlement_event::{EventType, event_id};
use shared::domain::transfer::{OfferedDestination, Received, ReportedStatus, TransferRecord};
use shared::ingest::ingest;
use shared::storage::{CheckoutStore, DynamoTransferStore};
use std::collections::BTreeMap;
use std::sync::Arc;

const NOW: i64 = 1_800_000_000_000;
const ADDRESS: &str = "0x1111111111111111111111111111111111111111";

/// A checkout with one attempt, as link-token stores them.
async fn checkout_with_attempt(store: &DynamoTransferStore, order: &str) -> (CheckoutRecord, TransferRecord) {
    let new = NewCheckout {
        order_id: OrderId::parse(order).unwrap(),
        shopper: UserId::parse("shopper-1").unwrap(),
        amount_in_fiat: "49.99".parse().unwrap(),
        currency: "USD".into(),
        assets: vec!["USDC".into()],
        metadata: BTreeMap::from([("cart".to_string(), order.to_string())]),
        expires_in_ms: 1_800_000,
    };
    let c = CheckoutRecord::open(CheckoutId::generate(), new, NOW);
    store.open_checkout(&c, None).await.unwrap();
    let mut t = TransferRecord::created(TransactionId::generate(), c.shopper.clone(), NOW + 1);
    t.checkout_id = Some(c.checkout_id.clone());
    t.order_id = Some(order.to_string());
    t.expected_amount_fiat = Some(c.amount_in_fiat);
    t.offered = vec![OfferedDestination {
        symbol: "USDC".into(),
        network_id: "aa883b03-120d-477c-a588-37c2afd3ca71".into(),
        network_name: "Base".into(),
        address: ADDRESS.into(),
    }];
    store.create_attempt(&t, &c.checkout_id, c.version).await.unwrap();
    (c, t)
}

/// Mesh's report that the attempt succeeded with 49.99 USDC: from a webhook (one `EventId`, delivered
/// again and again), or from reconcile (its own id, and Mesh's fiat figure the webhook lacks).
fn succeeded(t: &TransferRecord, source: ReportSource) -> Report {
    let event = match source {
        ReportSource::Webhook => format!("wh-{}", t.transaction_id),
        ReportSource::Reconcile => format!("rc-{}-succeeded", t.transaction_id),
    };
    Report {
        event_id: EventId::parse(event).unwrap(),
        source,
        transfer_id: TransferId::parse(format!("tr-{}", t.transaction_id)).unwrap(),
        transaction_id: Some(t.transaction_id.clone()),
        user_id: Some(t.user_id.to_string()),
        status: ReportedStatus::Succeeded,
        event_at: Some(NOW + 10),
        tx_hash: Some("0xabc".into()),
        received: Received {
            amount: Some("49.99".parse().unwrap()),
            token: Some("USDC".into()),
            chain: Some("Base".into()),
            address: Some(ADDRESS.into()),
            amount_in_fiat: (source == ReportSource::Reconcile).then(|| "49.98".parse().unwrap()),
        },
    }
}

fn paid_id(c: &CheckoutRecord) -> String {
    event_id(&format!("checkout/{}", c.checkout_id), EventType::CheckoutPaid, "paid")
}

fn ids_of(events: &[serde_json::Value]) -> Vec<String> {
    events.iter().map(|e| e["detail"]["eventId"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_paid_checkout_is_one_checkout_paid_however_often_mesh_and_reconcile_report_it() {
    let stack = stack().await;
    let store = DynamoTransferStore::new(stack.dynamodb.clone(), stack.table.clone());
    let (c, t) = checkout_with_attempt(&store, "order-paid-once").await;
    // The webhook, delivered 20 times, concurrently; then reconcile repairing the same payment.
    let report = succeeded(&t, ReportSource::Webhook);
    let shared_store = Arc::new(DynamoTransferStore::new(stack.dynamodb.clone(), stack.table.clone()));
    let deliveries: Vec<_> = (0..20)
        .map(|_| {
            let (store, report) = (shared_store.clone(), report.clone());
            tokio::spawn(async move { ingest(store.as_ref(), &report, "succeeded", NOW + 20).await.unwrap() })
        })
        .collect();
    for d in deliveries {
        d.await.unwrap();
    }
    ingest(&store, &succeeded(&t, ReportSource::Reconcile), "succeeded", NOW + 30).await.unwrap();
    assert_eq!(store.get_checkout(&c.checkout_id).await.unwrap().unwrap().status.as_str(), "paid");

    stack.poll();
    let paid = stack.drain("paid-events").await;
    assert_eq!(ids_of(&paid), vec![paid_id(&c)], "exactly one checkout.paid: {paid:?}");
    let detail = &paid[0]["detail"];
    assert_eq!(paid[0]["detail-type"], "checkout.paid");
    assert_eq!(
        (detail["checkoutId"].as_str(), detail["orderId"].as_str()),
        (Some(c.checkout_id.as_str()), Some("order-paid-once"))
    );
    assert_eq!(detail["offered"]["amountInFiat"], "49.99");
    assert_eq!(detail["received"]["transactionId"], t.transaction_id.as_str());
    assert_eq!(detail["metadata"]["cart"], "order-paid-once");
    assert_eq!(detail["safeToFulfil"], true);
    // The merchant endpoint's rule (every event) saw the same single event; every event is valid.
    let all = stack.drain("merchant-events").await;
    assert_eq!(ids_of(&all), vec![paid_id(&c)]);
    for event in paid.iter().chain(&all) {
        assert_valid_event(event);
    }
    assert!(stack.drain("failure_queue").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_events_fault_is_retried_then_given_up_to_the_on_failure_queue_and_redelivered_with_its_id() {
    let stack = stack().await;
    let store = DynamoTransferStore::new(stack.dynamodb.clone(), stack.table.clone());
    let (stuck, stuck_attempt) = checkout_with_attempt(&store, "order-stuck").await;
    let (fine, fine_attempt) = checkout_with_attempt(&store, "order-fine").await;
    stack.faults.fail(stuck.checkout_id.as_str(), u32::MAX);
    ingest(&store, &succeeded(&stuck_attempt, ReportSource::Webhook), "succeeded", NOW + 20).await.unwrap();
    ingest(&store, &succeeded(&fine_attempt, ReportSource::Webhook), "succeeded", NOW + 20).await.unwrap();

    let log = stack.poll();
    // Retried: by the function (2 calls per invocation) on each of the mapping's 1 + 100 invocations.
    assert_eq!(stack.faults.attempts(stuck.checkout_id.as_str()), 2 * 101, "{log}");
    assert!(log.contains("\"outcome\": \"given up\""), "{log}");
    // Never silently dropped: the batch's description is on the on-failure queue, naming the records.
    let given_up = stack.drain("failure_queue").await;
    assert_eq!(given_up.len(), 1, "{given_up:?}");
    let info = &given_up[0]["DDBStreamBatchInfo"];
    assert_eq!(given_up[0]["requestContext"]["condition"], "RetryAttemptsExhausted");
    assert!(info["startSequenceNumber"].as_str().is_some() && info["batchSize"].as_u64() >= Some(1), "{info}");
    // The other checkout's event arrived, only ever under its one id (retries may repeat it, never rename it).
    let paid = stack.drain("paid-events").await;
    assert!(!paid.is_empty());
    assert!(ids_of(&paid).iter().all(|id| *id == paid_id(&fine)), "{:?}", ids_of(&paid));

    // The operator's redelivery, once EventBridge is back: the stuck event, with the id it always had.
    stack.faults.clear();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_redeliver"))
        .arg(stuck.checkout_id.as_str())
        .env("AWS_ENDPOINT_URL", &shared::testkit::moto().endpoint)
        .envs([("AWS_REGION", "us-east-1"), ("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")])
        .env("TRANSFERS_TABLE", &stack.table)
        .env("EVENT_BUS_NAME", &stack.bus)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{printed}{}", String::from_utf8_lossy(&out.stderr));
    assert!(printed.contains(&paid_id(&stuck)), "{printed}");
    let redelivered = stack.drain("paid-events").await;
    assert_eq!(ids_of(&redelivered), vec![paid_id(&stuck)]);
    redelivered.iter().for_each(assert_valid_event);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_failing_inside_a_batch_is_retried_alone_with_its_id_and_earlier_records_are_not_republished() {
    let stack = stack().await;
    let store = DynamoTransferStore::new(stack.dynamodb.clone(), stack.table.clone());
    let mut checkouts = Vec::new();
    for order in ["order-before", "order-flaky", "order-after"] {
        checkouts.push(checkout_with_attempt(&store, order).await);
    }
    // The middle one fails for one whole invocation (both of the function's calls), then goes through.
    let flaky = &checkouts[1].0;
    stack.faults.fail(flaky.checkout_id.as_str(), common::POLICY.attempts);
    for (_, t) in &checkouts {
        ingest(&store, &succeeded(t, ReportSource::Webhook), "succeeded", NOW + 20).await.unwrap();
    }
    let log = stack.poll();
    assert!(log.contains("\"outcome\": \"partial\""), "{log}");
    let ids = ids_of(&stack.drain("paid-events").await);
    let count = |c: &CheckoutRecord| ids.iter().filter(|id| **id == paid_id(c)).count();
    assert_eq!(count(&checkouts[0].0), 1, "the record before the failure is not published again: {ids:?}");
    assert_eq!(count(flaky), 1, "{ids:?}");
    // The record after it is retried with the failed one: at least once, always under the same id.
    assert!(count(&checkouts[2].0) >= 1, "{ids:?}");
    let known: Vec<String> = checkouts.iter().map(|(c, _)| paid_id(c)).collect();
    assert!(ids.iter().all(|id| known.contains(id)), "no id other than the derived ones: {ids:?}");
    assert!(stack.drain("failure_queue").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_stream_record_yields_the_same_event_id() {
    let stack = stack().await;
    let store = DynamoTransferStore::new(stack.dynamodb.clone(), stack.table.clone());
    let (c, t) = checkout_with_attempt(&store, "order-redelivered").await;
    ingest(&store, &succeeded(&t, ReportSource::Webhook), "succeeded", NOW + 20).await.unwrap();
    stack.poll();
    // A second mapping reading the same stream from its start (what a redelivery looks like).
    stack.poll();
    let ids = ids_of(&stack.drain("paid-events").await);
    assert_eq!(ids, vec![paid_id(&c), paid_id(&c)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_underpaid_checkout_reaches_the_merchant_rule_and_not_the_paid_one() {
    let stack = stack().await;
    let store = DynamoTransferStore::new(stack.dynamodb.clone(), stack.table.clone());
    let (c, t) = checkout_with_attempt(&store, "order-underpaid").await;
    let mut report = succeeded(&t, ReportSource::Webhook);
    report.received.amount = Some("20".parse().unwrap());
    ingest(&store, &report, "succeeded", NOW + 20).await.unwrap();
    stack.poll();
    let all = stack.drain("merchant-events").await;
    let types: Vec<_> = all.iter().map(|e| e["detail-type"].as_str().unwrap()).collect();
    assert!(types.contains(&"checkout.underpaid"), "{types:?}");
    assert!(all.iter().all(|e| e["detail"]["checkoutId"] == c.checkout_id.as_str()));
    all.iter().for_each(assert_valid_event);
    assert!(stack.drain("paid-events").await.is_empty());
}
