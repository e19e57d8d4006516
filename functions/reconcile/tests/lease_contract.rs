//! The lease contract (one reconcile run at a time, fenced checkpoints), run against DynamoDB on moto
//! (a table created from template.yaml) and against the in-memory twin: the two must behave the same.

use reconcile::lease::{Acquired, Checkpoint, DynamoLeaseStore, Lease, LeaseError, LeaseStore, WindowCursor};
use shared::testkit;

const NOW: i64 = 1_800_000_000_000;

async fn dynamo() -> DynamoLeaseStore {
    let table = testkit::create_table();
    let client = aws_sdk_dynamodb::Client::new(&testkit::sdk_config().await);
    DynamoLeaseStore::new(client, table, "reconcile")
}

async fn granted<L: LeaseStore>(leases: &L, holder: &str, now: i64, until: i64) -> Lease {
    match leases.acquire(holder, now, until).await.unwrap() {
        Acquired::Granted(lease) => lease,
        held => panic!("{holder} expected the lease, got {held:?}"),
    }
}

async fn one_holder_until_expiry_then_the_next<L: LeaseStore>(leases: &L) {
    let a = granted(leases, "run-a", NOW, NOW + 60_000).await;
    assert_eq!((a.holder.as_str(), a.until_ms), ("run-a", NOW + 60_000));
    match leases.acquire("run-b", NOW + 59_999, NOW + 120_000).await.unwrap() {
        Acquired::Held { holder, until_ms } => assert_eq!((holder.as_str(), until_ms), ("run-a", NOW + 60_000)),
        other => panic!("run-b must not get a held lease: {other:?}"),
    }
    // Expired: taken over, with a higher fence.
    let b = granted(leases, "run-b", NOW + 60_000, NOW + 120_000).await;
    assert!(b.fence > a.fence, "{b:?} after {a:?}");
    assert!(
        matches!(leases.release(&a).await, Err(LeaseError::Lost)),
        "a lapsed holder cannot free the next one's lease"
    );
    leases.release(&b).await.unwrap();
    // Released: free at once, long before its expiry.
    let c = granted(leases, "run-c", NOW + 61_000, NOW + 180_000).await;
    assert!(c.fence > b.fence);
}

async fn the_checkpoint_round_trips_and_is_fenced<L: LeaseStore>(leases: &L) {
    assert_eq!(leases.load_checkpoint().await.unwrap(), Checkpoint::default());
    let a = granted(leases, "run-a", NOW, NOW + 1_000).await;
    let cp = Checkpoint {
        scanned_until: Some(NOW - 900_000),
        unfinished: Some(WindowCursor { from_ms: NOW - 900_000, to_ms: NOW - 600_000, offset: 300 }),
        timestamp_unit: Some(reconcile::plan::TimestampUnit::Milliseconds),
    };
    leases.save_checkpoint(&a, &cp, NOW).await.unwrap();
    assert_eq!(leases.load_checkpoint().await.unwrap(), cp);
    let done = Checkpoint { scanned_until: Some(NOW - 600_000), unfinished: None, ..Checkpoint::default() };
    leases.save_checkpoint(&a, &done, NOW).await.unwrap();
    assert_eq!(leases.load_checkpoint().await.unwrap(), done);

    // A later holder writes; the lapsed one can no longer move the checkpoint.
    let b = granted(leases, "run-b", NOW + 2_000, NOW + 3_000).await;
    let later = Checkpoint { scanned_until: Some(NOW), unfinished: None, ..Checkpoint::default() };
    leases.save_checkpoint(&b, &later, NOW + 2_000).await.unwrap();
    assert!(matches!(leases.save_checkpoint(&a, &cp, NOW + 2_001).await, Err(LeaseError::Lost)));
    assert_eq!(leases.load_checkpoint().await.unwrap(), later);
}

async fn of_concurrent_acquirers_exactly_one_wins<L: LeaseStore>(leases: &L) {
    let attempts = (0..8).map(|i| async move { leases.acquire(&format!("run-{i}"), NOW, NOW + 60_000).await.unwrap() });
    let results = futures_join_all(attempts).await;
    let winners: Vec<_> = results.iter().filter(|r| matches!(r, Acquired::Granted(_))).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    let Acquired::Granted(winner) = winners[0] else { unreachable!() };
    for r in &results {
        if let Acquired::Held { holder, .. } = r {
            assert_eq!(holder, &winner.holder);
        }
    }
}

/// Polls every future concurrently on this task (no extra crate for `join_all`).
async fn futures_join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in pinned.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    out.into_iter().flatten().collect()
}

macro_rules! contract {
    ($($case:ident),+ $(,)?) => {
        mod memory {
            $(#[tokio::test] async fn $case() { super::$case(&reconcile::lease::MemoryLeaseStore::default()).await; })+
        }
        mod dynamodb_on_moto {
            $(#[tokio::test] async fn $case() { super::$case(&super::dynamo().await).await; })+
        }
    };
}

contract!(
    one_holder_until_expiry_then_the_next,
    the_checkpoint_round_trips_and_is_fenced,
    of_concurrent_acquirers_exactly_one_wins
);
