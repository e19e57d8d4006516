//! The idempotency contract (I5–I7) on DynamoDB over moto and in memory.

use link_token::idempotency::{Begin, DynamoIdempotencyStore, IdempotencyStore, MemoryIdempotencyStore, Window};
use shared::testkit;

const NOW: i64 = 1_800_000_000_000;

fn window(now_ms: i64) -> Window {
    Window { now_ms, in_progress_until_ms: now_ms + 10_000, expires_at_s: now_ms / 1000 + 600 }
}

fn key() -> String {
    testkit::unique_name("k")
}

async fn first_then_replay<S: IdempotencyStore>(s: &S) {
    let k = key();
    assert_eq!(s.begin(&k, "p1", window(NOW)).await.unwrap(), Begin::Started);
    assert_eq!(s.begin(&k, "p1", window(NOW + 1)).await.unwrap(), Begin::InProgress, "concurrent duplicate");
    s.complete(&k, r#"{"ok":1}"#).await.unwrap();
    assert_eq!(s.begin(&k, "p1", window(NOW + 2)).await.unwrap(), Begin::Replay(r#"{"ok":1}"#.into()));
    assert_eq!(s.begin(&k, "p2", window(NOW + 3)).await.unwrap(), Begin::PayloadMismatch);
}

async fn a_dead_holder_lapses_at_its_deadline<S: IdempotencyStore>(s: &S) {
    let k = key();
    let w = Window { now_ms: NOW, in_progress_until_ms: NOW + 5_000, expires_at_s: NOW / 1000 + 600 };
    assert_eq!(s.begin(&k, "p", w).await.unwrap(), Begin::Started);
    assert_eq!(s.begin(&k, "p", window(NOW + 4_999)).await.unwrap(), Begin::InProgress);
    assert_eq!(s.begin(&k, "p", window(NOW + 5_001)).await.unwrap(), Begin::Started);
    // A deadline that already passed (remaining time 0) still writes a lock that lapses at once.
    let k2 = key();
    let dead = Window { now_ms: NOW, in_progress_until_ms: NOW, expires_at_s: NOW / 1000 + 600 };
    assert_eq!(s.begin(&k2, "p", dead).await.unwrap(), Begin::Started);
    assert_eq!(s.begin(&k2, "p", window(NOW + 1)).await.unwrap(), Begin::Started);
}

async fn expired_records_count_as_absent<S: IdempotencyStore>(s: &S) {
    let k = key();
    s.begin(&k, "p1", window(NOW)).await.unwrap();
    s.complete(&k, "old").await.unwrap();
    let later = NOW + 601_000;
    assert_eq!(s.begin(&k, "p2", window(later)).await.unwrap(), Begin::Started);
}

async fn abandon_lets_a_retry_run_again<S: IdempotencyStore>(s: &S) {
    let k = key();
    s.begin(&k, "p", window(NOW)).await.unwrap();
    s.abandon(&k).await.unwrap();
    assert_eq!(s.begin(&k, "p", window(NOW + 1)).await.unwrap(), Begin::Started);
}

async fn dynamo() -> DynamoIdempotencyStore {
    let client = aws_sdk_dynamodb::Client::new(&testkit::sdk_config().await);
    DynamoIdempotencyStore::new(client, testkit::create_table())
}

macro_rules! contract {
    ($($case:ident),+ $(,)?) => {
        mod memory {
            $(#[tokio::test] async fn $case() { super::$case(&link_token::idempotency::MemoryIdempotencyStore::default()).await; })+
        }
        mod dynamodb_on_moto {
            $(#[tokio::test] async fn $case() { super::$case(&super::dynamo().await).await; })+
        }
    };
}

contract!(
    first_then_replay,
    a_dead_holder_lapses_at_its_deadline,
    expired_records_count_as_absent,
    abandon_lets_a_retry_run_again
);

#[test]
fn memory_store_is_constructible() {
    let _ = MemoryIdempotencyStore::default();
}
