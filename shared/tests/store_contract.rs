//! The store contract, run against DynamoDB on moto (over the real API, on a table created from
//! template.yaml) and against the in-memory twin: the two must behave the same.

use shared::ids::{TransactionId, TransferId, UserId};
use shared::store::{DynamoTransferStore, MemoryTransferStore, StatusUpdate, StoreError, TransferStore};
use shared::testkit;
use shared::transfer::{
    decide, Decision, OfferedDestination, Progress, Received, ReportedStatus, TransferRecord, TransferStatus,
};

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
    StatusUpdate { status, event_at, now: event_at + 1, mesh_transfer_id: None, tx_hash: None, received: None }
}

async fn create_then_get_round_trips<S: TransferStore>(store: &S) {
    let r = record("user-a", 1_000);
    store.create(&r).await.unwrap();
    assert_eq!(store.get(&r.transaction_id).await.unwrap(), Some(r.clone()));
    assert_eq!(store.get(&TransactionId::generate()).await.unwrap(), None);
}

async fn second_create_is_already_exists<S: TransferStore>(store: &S) {
    let r = record("user-a", 1_000);
    store.create(&r).await.unwrap();
    let mut other = record("user-b", 2_000);
    other.transaction_id = r.transaction_id.clone();
    assert!(matches!(store.create(&other).await, Err(StoreError::AlreadyExists)));
    assert_eq!(store.get(&r.transaction_id).await.unwrap().unwrap().user_id.as_str(), "user-a", "the first write stays");
}

async fn advance_moves_forward_and_records_details<S: TransferStore>(store: &S) {
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
    });
    let succeeded = store.advance(&r.transaction_id, &done).await.unwrap();
    assert_eq!(succeeded.status, TransferStatus::Succeeded);
    assert_eq!(succeeded.version, 3);
    assert_eq!(succeeded.tx_hash.as_deref(), Some("0xabc"));
    assert_eq!(succeeded.received, done.received);
    assert_eq!(succeeded.updated_at, 21);
    assert_eq!(store.get(&r.transaction_id).await.unwrap().unwrap(), succeeded);
}

async fn regressions_and_conflicts_are_refused<S: TransferStore>(store: &S) {
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

async fn same_status_orders_by_event_time<S: TransferStore>(store: &S) {
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
async fn condition_agrees_with_the_domain_rule<S: TransferStore>(store: &S) {
    for from in TransferStatus::ALL {
        for to in [TransferStatus::Pending, TransferStatus::Succeeded, TransferStatus::Failed] {
            let r = record("user-m", 1_000);
            store.create(&r).await.unwrap();
            let mut last = None;
            if from != TransferStatus::Created {
                store.advance(&r.transaction_id, &update(from, 100)).await.unwrap();
                last = Some(100);
            }
            let reported = ReportedStatus::parse(to.as_str());
            let expected = decide(&Progress { status: from, refund: None, last_event_at: last }, &reported, Some(200));
            let applied = store.advance(&r.transaction_id, &update(to, 200)).await.is_ok();
            let should = matches!(expected, Decision::Advance(_) | Decision::Refresh);
            assert_eq!(applied, should, "{from:?} -> {to:?}: domain says {expected:?}");
        }
    }
}

async fn open_transfers_query<S: TransferStore>(store: &S) {
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

macro_rules! contract {
    ($($case:ident),+ $(,)?) => {
        mod memory {
            $(#[tokio::test] async fn $case() { super::$case(&shared::store::MemoryTransferStore::default()).await; })+
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
);

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
