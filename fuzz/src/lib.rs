//! What the fuzz targets share: the fixed webhook keys, a store holding the fixtures' transfer, the
//! time deliveries arrive at, the check of what a delivery did to the store, and the filters for
//! defects that are known and not fixed yet.

use shared::domain::ids::{EventId, TransactionId, UserId};
use shared::domain::transfer::{OfferedDestination, TransferRecord, TransferStatus};
use shared::runtime::secrets::MeshSecrets;
use shared::storage::{MemorySnapshot, MemoryTransferStore, TransferStore, parked_key};
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use webhook::receive::{Accepted, Delivery, FixedKeys, WebhookError, WebhookSettings, receive};

/// The local webhook secret `events/local/` is signed with, so the fixtures (the corpus seeds) verify.
pub const WEBHOOK_SECRET: &str = "sandbox-webhook-secret";
/// A rotation in progress: deliveries signed with the previous secret verify too.
pub const PREVIOUS_WEBHOOK_SECRET: &str = "fuzz-previous-webhook-secret";
/// When every delivery arrives: the fixtures' send time, so they fall inside the replay window. Fixed,
/// so a crash reproduces whatever the clock says.
pub const NOW_MS: i64 = 1_767_225_700_000;
/// The fixtures' transfer (created, not paid yet), and one already settled.
pub const OPEN_TXN: &str = "txn_0f8e2c4b9a1d4e6f8a2b3c4d5e6f7a8b";
pub const SETTLED_TXN: &str = "txn_9a8b7c6d5e4f40318a2b3c4d5e6f7a8b";
/// Mesh's published source address (the allow-list some inputs switch on).
pub const MESH_IP: &str = "20.22.113.37";

pub fn keys() -> FixedKeys {
    let json = serde_json::json!({
        "clientId": "fuzz", "clientSecret": "fuzz",
        "webhookSecret": WEBHOOK_SECRET, "previousWebhookSecret": PREVIOUS_WEBHOOK_SECRET,
    });
    FixedKeys(Arc::new(MeshSecrets::parse(&json.to_string()).expect("a valid Mesh secret")))
}

pub fn settings(allow_list: bool) -> WebhookSettings {
    WebhookSettings {
        allowed_ips: allow_list.then(|| vec![MESH_IP.parse().expect("an IP address")]),
        ..WebhookSettings::default()
    }
}

/// A store holding the fixtures' transfer as a link token leaves it (offered USDC on Base, 49.99
/// expected, so the mismatch rules run), and a settled one (a terminal status must never change).
pub fn store() -> MemoryTransferStore {
    let store = MemoryTransferStore::default();
    let user = UserId::parse("user-7f3a9c").expect("a user id");
    let mut open =
        TransferRecord::created(TransactionId::parse(OPEN_TXN).expect("an id"), user.clone(), NOW_MS - 60_000);
    open.expected_amount_fiat = Some("49.99".parse().expect("a decimal"));
    open.offered = vec![OfferedDestination {
        symbol: "USDC".into(),
        network_id: "aa883b03-120d-477c-a588-37c2afd3ca71".into(),
        network_name: "Base".into(),
        address: "0x1111111111111111111111111111111111111111".into(),
    }];
    let mut settled =
        TransferRecord::created(TransactionId::parse(SETTLED_TXN).expect("an id"), user, NOW_MS - 120_000);
    settled.status = TransferStatus::Succeeded;
    settled.last_event_at = Some(NOW_MS - 90_000);
    block_on(async {
        store.create(&open).await.expect("a fresh store");
        store.create(&settled).await.expect("a fresh store");
    });
    store
}

/// Runs a future that never waits: the in-memory store and fixed keys answer at once, so no runtime
/// is needed (and none is built per input).
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the in-memory webhook path waited on something"),
    }
}

/// One delivery at `NOW_MS`, with the store's content before and after it.
pub fn deliver(
    store: &MemoryTransferStore,
    settings: &WebhookSettings,
    delivery: Delivery<'_>,
) -> (MemorySnapshot, Result<Accepted, WebhookError>, MemorySnapshot) {
    let before = store.snapshot();
    let result = block_on(receive(store, &keys(), settings, delivery, NOW_MS));
    (before, result, store.snapshot())
}

/// What any delivery may do: a refused one changes nothing and is a 4xx with a stable code (the
/// memory store and fixed keys never fail, so never a 5xx); an accepted one keeps the store's rule
/// (`MemorySnapshot::check_step`), and an unreadable body is parked.
pub fn check_delivery(
    before: &MemorySnapshot,
    result: &Result<Accepted, WebhookError>,
    after: &MemorySnapshot,
    body: &[u8],
) {
    match result {
        Err(e) => {
            assert!(after == before, "a refused delivery ({}) changed the store", e.code());
            assert!(matches!(e.status(), 401 | 403 | 405 | 413), "refused with {}: {e}", e.status());
        }
        Ok(accepted) => {
            let event_id = accepted.event_id.clone().map(|id| EventId::parse(id).expect("receive accepted this id"));
            if let Err(broken) = before.check_step(after, event_id.as_ref(), accepted.outcome) {
                panic!("{broken}");
            }
            if event_id.is_none() {
                assert!(after.parked.contains_key(&parked_key(body)), "an unreadable body was not parked");
            }
        }
    }
}

/// `FUZZ_STRICT=1` turns the known-defect filters off, to reproduce what they hide.
fn strict() -> bool {
    static STRICT: OnceLock<bool> = OnceLock::new();
    *STRICT.get_or_init(|| std::env::var("FUZZ_STRICT").is_ok_and(|v| v == "1"))
}

/// Says once per process that an input was skipped because of a known defect, so a run shows it.
pub fn skip_known_defect(flag: &'static OnceLock<()>, what: &str) -> bool {
    if strict() {
        return false;
    }
    flag.get_or_init(|| eprintln!("known defect, input skipped (FUZZ_STRICT=1 to reproduce): {what}"));
    true
}
