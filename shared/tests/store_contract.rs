//! The store contract, run against DynamoDB on moto (over the real API, on a table created from
//! template.yaml) and against the in-memory twin: the two must behave the same.

use shared::domain::ids::{EventId, TransactionId, TransferId, UserId};
use shared::domain::report::{Outcome, Report, ReportSource};
use shared::domain::transfer::{
    Decision, OfferedDestination, Progress, Received, ReportedStatus, TransferRecord, TransferStatus, decide,
};
use shared::ingest::ingest;
use shared::storage::{
    CheckoutStore, DynamoTransferStore, EventRecord, MemoryTransferStore, StatusUpdate, StoreError, TransferChange,
    TransferStore,
};
use shared::testkit;
use std::sync::Arc;

async fn dynamo() -> DynamoTransferStore {
    let table = testkit::create_table();
    let client = aws_sdk_dynamodb::Client::new(&testkit::sdk_config().await);
    DynamoTransferStore::new(client, table)
}

fn record(user: &str, created_at: i64) -> TransferRecord {
    let mut r = TransferRecord::created(TransactionId::generate(), UserId::parse(user).unwrap(), created_at);
    r.order_id = Some("order-42".into());
    r.expected_amount_fiat = Some("49.99".parse().unwrap());
    r.offered = vec![OfferedDestination {
        symbol: "USDC".into(),
        network_id: "aa883b03-120d-477c-a588-37c2afd3ca71".into(),
        network_name: "Base".into(),
        address: "0x1111111111111111111111111111111111111111".into(),
    }];
    r
}

fn update(status: TransferStatus, event_at: i64) -> StatusUpdate {
    StatusUpdate {
        status,
        event_at,
        now: event_at + 1,
        mesh_transfer_id: None,
        tx_hash: None,
        received: None,
        mismatches: None,
    }
}

async fn create_then_get_round_trips<S: TransferStore + CheckoutStore>(store: &S) {
    let r = record("user-a", 1_000);
    store.create(&r).await.unwrap();
    assert_eq!(store.get(&r.transaction_id).await.unwrap(), Some(r.clone()));
    assert_eq!(store.get(&TransactionId::generate()).await.unwrap(), None);
}

async fn second_create_is_already_exists<S: TransferStore + CheckoutStore>(store: &S) {
    let r = record("user-a", 1_000);
    store.create(&r).await.unwrap();
    let mut other = record("user-b", 2_000);
    other.transaction_id = r.transaction_id.clone();
    assert!(matches!(store.create(&other).await, Err(StoreError::AlreadyExists)));
    assert_eq!(
        store.get(&r.transaction_id).await.unwrap().unwrap().user_id.as_str(),
        "user-a",
        "the first write stays"
    );
}

async fn advance_moves_forward_and_records_details<S: TransferStore + CheckoutStore>(store: &S) {
    let r = record("user-a", 1_000);
    store.create(&r).await.unwrap();
    let pending = store.advance(&r.transaction_id, &update(TransferStatus::Pending, 10)).await.unwrap();
    assert_eq!((pending.status, pending.version, pending.last_event_at), (TransferStatus::Pending, 2, Some(10)));
    let mut done = update(TransferStatus::Succeeded, 20);
    done.mesh_transfer_id = Some(TransferId::parse("3d6c1f0e-52a4-4c3e-9d7b-0f1e2a3b4c5d").unwrap());
    done.tx_hash = Some("0xabc".into());
    done.received = Some(Received {
        amount: Some("49.99".parse().unwrap()),
        token: Some("USDC".into()),
        chain: Some("Base".into()),
        address: Some("0x1111111111111111111111111111111111111111".into()),
        amount_in_fiat: None,
    });
    let succeeded = store.advance(&r.transaction_id, &done).await.unwrap();
    assert_eq!(succeeded.status, TransferStatus::Succeeded);
    assert_eq!(succeeded.version, 3);
    assert_eq!(succeeded.tx_hash.as_deref(), Some("0xabc"));
    assert_eq!(succeeded.received, done.received);
    assert_eq!(succeeded.updated_at, 21);
    assert_eq!(store.get(&r.transaction_id).await.unwrap().unwrap(), succeeded);
}

async fn regressions_and_conflicts_are_refused<S: TransferStore + CheckoutStore>(store: &S) {
    let r = record("user-a", 1_000);
    store.create(&r).await.unwrap();
    store.advance(&r.transaction_id, &update(TransferStatus::Succeeded, 50)).await.unwrap();
    for (status, at) in [(TransferStatus::Pending, 60), (TransferStatus::Failed, 70), (TransferStatus::Succeeded, 40)] {
        match store.advance(&r.transaction_id, &update(status, at)).await {
            Err(StoreError::NotApplied { current }) => {
                assert_eq!(current.status, TransferStatus::Succeeded, "{status:?}@{at}");
                assert_eq!(current.version, 2);
            }
            other => panic!("{status:?}@{at}: expected NotApplied, got {other:?}"),
        }
    }
    let missing = TransactionId::generate();
    assert!(matches!(store.advance(&missing, &update(TransferStatus::Pending, 1)).await, Err(StoreError::NotFound)));
}

async fn same_status_orders_by_event_time<S: TransferStore + CheckoutStore>(store: &S) {
    let r = record("user-a", 1_000);
    store.create(&r).await.unwrap();
    store.advance(&r.transaction_id, &update(TransferStatus::Pending, 100)).await.unwrap();
    assert!(matches!(
        store.advance(&r.transaction_id, &update(TransferStatus::Pending, 100)).await,
        Err(StoreError::NotApplied { .. })
    ));
    assert!(matches!(
        store.advance(&r.transaction_id, &update(TransferStatus::Pending, 99)).await,
        Err(StoreError::NotApplied { .. })
    ));
    let newer = store.advance(&r.transaction_id, &update(TransferStatus::Pending, 101)).await.unwrap();
    assert_eq!((newer.last_event_at, newer.version), (Some(101), 3));
}

/// The store's condition must agree with the pure rule for every (from, to) pair.
async fn condition_agrees_with_the_domain_rule<S: TransferStore + CheckoutStore>(store: &S) {
    for from in TransferStatus::ALL {
        for to in [TransferStatus::Pending, TransferStatus::Succeeded, TransferStatus::Failed] {
            let r = record("user-m", 1_000);
            store.create(&r).await.unwrap();
            let mut last = None;
            match from {
                TransferStatus::Created => {}
                // Not a status Mesh reports: reconcile's own conditional write.
                TransferStatus::Abandoned => store.abandon(&r.transaction_id, 1, 50).await.unwrap(),
                _ => {
                    store.advance(&r.transaction_id, &update(from, 100)).await.unwrap();
                    last = Some(100);
                }
            }
            let reported = ReportedStatus::parse(to.as_str());
            let expected = decide(&Progress { status: from, refund: None, last_event_at: last }, &reported, Some(200));
            let applied = store.advance(&r.transaction_id, &update(to, 200)).await.is_ok();
            let should = matches!(expected, Decision::Advance(_) | Decision::Refresh);
            assert_eq!(applied, should, "{from:?} -> {to:?}: domain says {expected:?}");
        }
    }
}

async fn open_transfers_query<S: TransferStore + CheckoutStore>(store: &S) {
    // Far-future times keep this test's transfers apart from the other tests' in a shared table.
    let base = 9_000_000_000_000;
    let mut ids = Vec::new();
    for i in 0..12 {
        let r = record("user-o", base + i);
        store.create(&r).await.unwrap();
        ids.push(r.transaction_id);
    }
    store.advance(&ids[0], &update(TransferStatus::Pending, 5)).await.unwrap();
    store.advance(&ids[1], &update(TransferStatus::Succeeded, 5)).await.unwrap();
    store.advance(&ids[2], &update(TransferStatus::Failed, 5)).await.unwrap();
    let open = store.list_open(base + 10, 100).await.unwrap();
    let open: Vec<_> = open.into_iter().filter(|r| r.created_at >= base).collect();
    let got: Vec<_> = open.iter().map(|r| r.transaction_id.clone()).collect();
    let mut want: Vec<_> = ids[..10].iter().filter(|id| **id != ids[1] && **id != ids[2]).cloned().collect();
    want.sort_by_key(|id| ids.iter().position(|x| x == id));
    assert_eq!(got, want, "open, created before the cut-off, oldest first");
    assert_eq!(open[0].status, TransferStatus::Pending);
    let limited = store.list_open(base + 10, 3).await.unwrap();
    assert_eq!(limited.len(), 3);
}

fn event(id: &str, now_ms: i64, expires_at: i64) -> EventRecord {
    EventRecord {
        event_id: EventId::parse(id).unwrap(),
        source: ReportSource::Webhook,
        outcome: Outcome::Applied,
        transfer_id: TransferId::parse("tr-1").unwrap(),
        transaction_id: None,
        status: "Pending".into(),
        event_at: Some(now_ms),
        received_at: now_ms,
        tx_hash: None,
        received: Received::default(),
        mismatches: vec![],
        expires_at,
    }
}

const NOW_MS: i64 = 1_800_000_000_000;

async fn events_are_recorded_once<S: TransferStore + CheckoutStore>(store: &S) {
    let id = format!("evt-{}", TransactionId::generate());
    let e = event(&id, NOW_MS, NOW_MS / 1000 + 3600);
    store.record_event(&e, None, None).await.unwrap();
    assert!(matches!(store.record_event(&e, None, None).await, Err(StoreError::DuplicateEvent)));
    let held = store.get_event(&e.event_id, NOW_MS).await.unwrap();
    assert_eq!(held, Some(e));
}

async fn an_expired_event_record_counts_as_absent<S: TransferStore + CheckoutStore>(store: &S) {
    let id = format!("evt-{}", TransactionId::generate());
    // Expired an hour ago but still present (TTL deletion lags).
    store.record_event(&event(&id, NOW_MS - 7_200_000, NOW_MS / 1000 - 3600), None, None).await.unwrap();
    store.record_event(&event(&id, NOW_MS, NOW_MS / 1000 + 3600), None, None).await.unwrap();
}

async fn event_and_change_are_atomic<S: TransferStore + CheckoutStore>(store: &S) {
    let r = record("user-e", 1_000);
    store.create(&r).await.unwrap();
    let id = format!("evt-{}", TransactionId::generate());
    let change = |version| TransferChange::Status {
        id: r.transaction_id.clone(),
        expected_version: version,
        update: update(TransferStatus::Pending, 10),
    };
    // A stale version: neither the event nor the change is written.
    let e = event(&id, NOW_MS, NOW_MS / 1000 + 3600);
    assert!(matches!(store.record_event(&e, Some(&change(7)), None).await, Err(StoreError::VersionConflict)));
    assert_eq!(store.get_event(&e.event_id, NOW_MS).await.unwrap(), None);
    assert_eq!(store.get(&r.transaction_id).await.unwrap().unwrap().version, 1);
    // The right version: both.
    store.record_event(&e, Some(&change(1)), None).await.unwrap();
    let after = store.get(&r.transaction_id).await.unwrap().unwrap();
    assert_eq!((after.status, after.version), (TransferStatus::Pending, 2));
    assert!(store.get_event(&e.event_id, NOW_MS).await.unwrap().is_some());
    // A redelivery: refused as a duplicate, and the change is not applied again.
    assert!(matches!(store.record_event(&e, Some(&change(2)), None).await, Err(StoreError::DuplicateEvent)));
    assert_eq!(store.get(&r.transaction_id).await.unwrap().unwrap().version, 2);
    // A refund on its own track.
    let refund = TransferChange::Refund {
        id: r.transaction_id.clone(),
        expected_version: 2,
        refund: shared::domain::transfer::RefundStatus::Pending,
        now: 99,
    };
    let e2 = event(&format!("{id}-r"), NOW_MS, NOW_MS / 1000 + 3600);
    store.record_event(&e2, Some(&refund), None).await.unwrap();
    let after = store.get(&r.transaction_id).await.unwrap().unwrap();
    assert_eq!(
        (after.status, after.refund, after.version),
        (TransferStatus::Pending, Some(shared::domain::transfer::RefundStatus::Pending), 3)
    );
}

fn report(r: &TransferRecord, event_id: &str, status: &str, at: i64) -> Report {
    Report {
        event_id: EventId::parse(event_id).unwrap(),
        source: ReportSource::Webhook,
        transfer_id: TransferId::parse("3d6c1f0e-52a4-4c3e-9d7b-0f1e2a3b4c5d").unwrap(),
        transaction_id: Some(r.transaction_id.clone()),
        user_id: Some(r.user_id.to_string()),
        status: shared::domain::transfer::ReportedStatus::parse(status),
        event_at: Some(at),
        tx_hash: None,
        received: Received::default(),
    }
}

/// Twenty concurrent deliveries of one event: exactly one applies, the rest are duplicates.
async fn concurrent_duplicates_apply_once<S: TransferStore + CheckoutStore + 'static>(store: S) {
    let store = Arc::new(store);
    let r = record("user-c", 1_000);
    store.create(&r).await.unwrap();
    let rep = report(&r, &format!("evt-{}", TransactionId::generate()), "Succeeded", 500);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (store, rep) = (store.clone(), rep.clone());
            tokio::spawn(async move { ingest(store.as_ref(), &rep, "Succeeded", NOW_MS).await.unwrap().outcome })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    assert_eq!(outcomes.iter().filter(|o| **o == Outcome::Applied).count(), 1, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| **o == Outcome::Duplicate).count(), 19, "{outcomes:?}");
    let after = store.get(&r.transaction_id).await.unwrap().unwrap();
    assert_eq!((after.status, after.version), (TransferStatus::Succeeded, 2));
}

/// Any order of a transfer's events, with duplicates, ends in the same terminal state.
async fn reordered_events_end_in_the_same_state<S: TransferStore + CheckoutStore>(store: &S) {
    let orders: [&[(&str, &str, i64)]; 3] = [
        &[("a", "Pending", 1), ("b", "Succeeded", 2), ("a", "Pending", 1)],
        &[("b", "Succeeded", 2), ("a", "Pending", 1), ("b", "Succeeded", 2)],
        &[("b", "Succeeded", 2), ("c", "Failed", 3), ("a", "Pending", 1)],
    ];
    for order in orders {
        let r = record("user-r", 1_000);
        store.create(&r).await.unwrap();
        let prefix = TransactionId::generate();
        let mut outcomes = Vec::new();
        for (id, status, at) in order {
            let rep = report(&r, &format!("{prefix}-{id}"), status, *at);
            outcomes.push(ingest(store, &rep, status, NOW_MS).await.unwrap().outcome);
        }
        let after = store.get(&r.transaction_id).await.unwrap().unwrap();
        assert_eq!(after.status, TransferStatus::Succeeded, "{order:?} -> {outcomes:?}");
        assert!(outcomes.contains(&Outcome::Duplicate) || outcomes.contains(&Outcome::Conflict), "{outcomes:?}");
    }
}

/// The other terminal status arriving later is never applied, but it leaves a flag on the transfer,
/// written with its event record: where a human reading the transfer looks.
async fn a_conflict_is_flagged_on_the_transfer_with_its_event<S: TransferStore + CheckoutStore>(store: &S) {
    let r = record("user-x", 1_000);
    store.create(&r).await.unwrap();
    let prefix = TransactionId::generate();
    let ok = report(&r, &format!("{prefix}-ok"), "Succeeded", 2);
    assert_eq!(ingest(store, &ok, "Succeeded", NOW_MS).await.unwrap().outcome, Outcome::Applied);
    let contradiction = report(&r, &format!("{prefix}-failed"), "Failed", 3);
    assert_eq!(ingest(store, &contradiction, "Failed", NOW_MS + 5).await.unwrap().outcome, Outcome::Conflict);
    let after = store.get(&r.transaction_id).await.unwrap().unwrap();
    assert_eq!(after.status, TransferStatus::Succeeded, "never applied");
    let flag = after.conflict.expect("the transfer carries the conflict");
    assert_eq!((flag.reported, flag.flagged_at), (TransferStatus::Failed, NOW_MS + 5));
    assert_eq!(after.version, 3, "one write: the event and the flag");
    assert_eq!(store.get_event(&contradiction.event_id, NOW_MS).await.unwrap().unwrap().outcome, Outcome::Conflict);
    // Its redelivery is a duplicate and writes nothing more.
    assert_eq!(ingest(store, &contradiction, "Failed", NOW_MS + 9).await.unwrap().outcome, Outcome::Duplicate);
    assert_eq!(store.get(&r.transaction_id).await.unwrap().unwrap().version, 3);
}

async fn a_users_transfers_page_newest_first_and_only_theirs<S: TransferStore + CheckoutStore>(store: &S) {
    let alice = format!("alice-{}", &TransactionId::generate().as_str()[4..12]);
    let mut created = Vec::new();
    for i in 0..5 {
        let r = record(&alice, 10_000 + i);
        store.create(&r).await.unwrap();
        created.push(r.transaction_id);
    }
    store.create(&record("mallory", 10_002)).await.unwrap();
    let user = UserId::parse(alice.as_str()).unwrap();
    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..10 {
        let (page, next) = store.list_by_user(&user, 2, cursor.as_ref()).await.unwrap();
        assert!(page.len() <= 2);
        seen.extend(page.into_iter().map(|r| r.transaction_id));
        match next {
            Some(c) => {
                let decoded = shared::storage::PageCursor::decode(&c.encode()).unwrap();
                assert_eq!(decoded, c, "the opaque cursor round-trips");
                cursor = Some(decoded);
            }
            None => break,
        }
    }
    created.reverse();
    assert_eq!(seen, created, "newest first, every one once, none of another user's");
}

macro_rules! contract {
    ($($case:ident),+ $(,)?) => {
        mod memory {
            $(#[tokio::test] async fn $case() { super::$case(&shared::storage::MemoryTransferStore::default()).await; })+
        }
        mod dynamodb_on_moto {
            $(#[tokio::test] async fn $case() { super::$case(&super::dynamo().await).await; })+
        }
    };
}

contract!(
    create_then_get_round_trips,
    second_create_is_already_exists,
    advance_moves_forward_and_records_details,
    regressions_and_conflicts_are_refused,
    same_status_orders_by_event_time,
    condition_agrees_with_the_domain_rule,
    open_transfers_query,
    events_are_recorded_once,
    an_expired_event_record_counts_as_absent,
    event_and_change_are_atomic,
    reordered_events_end_in_the_same_state,
    a_conflict_is_flagged_on_the_transfer_with_its_event,
    a_users_transfers_page_newest_first_and_only_theirs,
);

#[tokio::test]
async fn concurrent_duplicates_apply_once_in_memory() {
    concurrent_duplicates_apply_once(MemoryTransferStore::default()).await;
}

/// On moto served one request at a time (`dev/moto_serial.py`): moto's threaded server can undo a
/// successful transaction while rolling back a concurrent failed one, which DynamoDB never does.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicates_apply_once_on_moto() {
    concurrent_duplicates_apply_once(dynamo().await).await;
}

#[tokio::test]
async fn an_unreachable_table_is_unavailable_not_a_panic() {
    let client = aws_sdk_dynamodb::Client::new(&testkit::sdk_config().await);
    let store = DynamoTransferStore::new(client, "no-such-table");
    match store.get(&TransactionId::generate()).await {
        Err(StoreError::Unavailable(code)) => assert_eq!(code, "ResourceNotFoundException"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    let _ = MemoryTransferStore::default();
}

/// A parked body is kept byte for byte, so its signature can be checked again: bytes that are not
/// UTF-8 survive (a lossy string would replace them with U+FFFD and break the HMAC for good).
#[tokio::test]
async fn a_parked_body_is_kept_byte_identical_on_dynamodb() {
    let table = testkit::create_table();
    let client = aws_sdk_dynamodb::Client::new(&testkit::sdk_config().await);
    let store = DynamoTransferStore::new(client.clone(), table.clone());
    let body: &[u8] = b"{\"EventId\":\"e\xff\xfe\",\"Note\":\"\xc3\x28\x00\x80\"}";
    store.park("unparseable", body, 1_700_000_000_000).await.unwrap();
    store.park("unparseable", body, 1_700_000_000_001).await.unwrap();
    let item = client
        .get_item()
        .table_name(&table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(shared::storage::parked_key(body)))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("the parked item");
    let stored = item["body"].as_b().expect("the body as a binary attribute");
    assert_eq!(stored.as_ref(), body);
    assert_eq!(item["reason"].as_s().unwrap(), "unparseable");
    assert_eq!(store.parked_body(&shared::storage::parked_key(body)).await.unwrap().as_deref(), Some(body));
}
