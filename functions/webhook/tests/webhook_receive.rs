//! The webhook's decision path end to end over the in-memory store (the DynamoDB side of the same
//! writes is covered by `store_contract.rs` on moto, and the whole function by its handler tests).

use serde_json::json;
use shared::domain::ids::{TransactionId, UserId};
use shared::domain::report::Outcome;
use shared::domain::transfer::{Mismatch, OfferedDestination, TransferRecord, TransferStatus};
use shared::mesh::signature::sign;
use shared::runtime::secrets::{MeshSecrets, SecretsError};
use shared::storage::{MemoryTransferStore, TransferStore};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use webhook::receive::{Delivery, MAX_BODY_BYTES, WebhookError, WebhookKeys, WebhookSettings, receive};

const NOW: i64 = 1_767_225_700_000;

struct Keys {
    current: Arc<MeshSecrets>,
    after_refresh: Arc<MeshSecrets>,
    calls: AtomicUsize,
    refreshes: AtomicUsize,
    down: bool,
}

fn secrets(current: &str, previous: Option<&str>) -> Arc<MeshSecrets> {
    let mut v = json!({"clientId": "c", "clientSecret": "s", "webhookSecret": current});
    if let Some(p) = previous {
        v["previousWebhookSecret"] = json!(p);
    }
    Arc::new(MeshSecrets::parse(&v.to_string()).unwrap())
}

impl Keys {
    fn new(current: &str, previous: Option<&str>) -> Self {
        let s = secrets(current, previous);
        Self {
            current: s.clone(),
            after_refresh: s,
            calls: AtomicUsize::new(0),
            refreshes: AtomicUsize::new(0),
            down: false,
        }
    }
}

impl WebhookKeys for Keys {
    async fn current(&self) -> Result<Arc<MeshSecrets>, SecretsError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down {
            return Err(SecretsError::Unavailable("down".into()));
        }
        Ok(self.current.clone())
    }
    async fn refreshed(&self) -> Result<Arc<MeshSecrets>, SecretsError> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        Ok(self.after_refresh.clone())
    }
}

async fn transfer(store: &MemoryTransferStore) -> TransferRecord {
    let mut r = TransferRecord::created(TransactionId::generate(), UserId::parse("user-1").unwrap(), NOW - 60_000);
    r.expected_amount_fiat = Some("49.99".parse().unwrap());
    r.offered = vec![OfferedDestination {
        symbol: "USDC".into(),
        network_id: "aa883b03-120d-477c-a588-37c2afd3ca71".into(),
        network_name: "Base".into(),
        address: "0x1111111111111111111111111111111111111111".into(),
    }];
    store.create(&r).await.unwrap();
    r
}

fn body(tx: &str, event_id: &str, status: &str, ts: i64, amount: f64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "Id": uuid(), "EventId": event_id, "SentTimestamp": NOW / 1000,
        "TransferId": "3d6c1f0e-52a4-4c3e-9d7b-0f1e2a3b4c5d", "TransactionId": tx, "UserId": "user-1",
        "TransferStatus": status, "TxHash": if status == "Succeeded" { "0xabc" } else { "" },
        "Chain": "Base", "Token": "USDC", "SourceAccountProvider": "Coinbase", "SourceAmount": 50.05,
        "DestinationAmount": amount, "DestinationAddress": "0x1111111111111111111111111111111111111111",
        "RefundAddress": null, "Timestamp": ts
    }))
    .unwrap()
}

fn uuid() -> String {
    TransactionId::generate().to_string()
}

async fn deliver(store: &MemoryTransferStore, keys: &Keys, secret: &str, body: &[u8]) -> Result<Outcome, WebhookError> {
    let sig = sign(secret, body);
    let d = Delivery { method: "POST", body, signature: Some(sig.as_bytes()), source_ip: Some("20.22.113.37") };
    receive(store, keys, &WebhookSettings::default(), d, NOW).await.map(|a| a.outcome)
}

#[tokio::test]
async fn a_delivery_moves_the_transfer_and_a_redelivery_changes_nothing() {
    let store = MemoryTransferStore::default();
    let keys = Keys::new("whsec", None);
    let r = transfer(&store).await;
    let tx = r.transaction_id.as_str();
    assert_eq!(
        deliver(&store, &keys, "whsec", &body(tx, "evt-1", "Pending", NOW - 5_000, 49.99)).await.unwrap(),
        Outcome::Applied
    );
    let done = body(tx, "evt-2", "Succeeded", NOW - 1_000, 49.99);
    assert_eq!(deliver(&store, &keys, "whsec", &done).await.unwrap(), Outcome::Applied);
    // A retry: same EventId, new Id, so different bytes and a different signature.
    let retry = body(tx, "evt-2", "Succeeded", NOW - 1_000, 49.99);
    assert_ne!(retry, done);
    assert_eq!(deliver(&store, &keys, "whsec", &retry).await.unwrap(), Outcome::Duplicate);
    // A late pending (another event) never moves a terminal transfer.
    assert_eq!(
        deliver(&store, &keys, "whsec", &body(tx, "evt-0", "pending", NOW - 9_000, 49.99)).await.unwrap(),
        Outcome::Regression
    );
    let after = store.get(&r.transaction_id).await.unwrap().unwrap();
    assert_eq!((after.status, after.version), (TransferStatus::Succeeded, 3));
    assert_eq!(after.tx_hash.as_deref(), Some("0xabc"));
    assert_eq!(after.mesh_transfer_id.unwrap().as_str(), "3d6c1f0e-52a4-4c3e-9d7b-0f1e2a3b4c5d");
    assert!(after.mismatches.is_empty());
}

#[tokio::test]
async fn rejections_touch_nothing() {
    let store = MemoryTransferStore::default();
    let keys = Keys::new("whsec", None);
    let r = transfer(&store).await;
    let b = body(r.transaction_id.as_str(), "evt-1", "Succeeded", NOW, 49.99);
    let good = sign("whsec", &b);
    let settings = WebhookSettings::default();
    let cases: Vec<(Delivery, u16, &str)> = vec![
        (
            Delivery { method: "GET", body: &b, signature: Some(good.as_bytes()), source_ip: None },
            405,
            "method_not_allowed",
        ),
        (Delivery { method: "POST", body: &b, signature: None, source_ip: None }, 401, "signature_missing"),
        (
            Delivery { method: "POST", body: &b, signature: Some(b"bm90IGEgbWFj"), source_ip: None },
            401,
            "signature_malformed",
        ),
        (
            Delivery { method: "POST", body: b"{}", signature: Some(good.as_bytes()), source_ip: None },
            401,
            "signature_mismatch",
        ),
    ];
    for (d, status, code) in cases {
        let err = receive(&store, &keys, &settings, d, NOW).await.unwrap_err();
        assert_eq!((err.status(), err.code()), (status, code), "{err}");
        assert!(!err.public_message().contains("whsec"));
    }
    let after = store.get(&r.transaction_id).await.unwrap().unwrap();
    assert_eq!((after.status, after.version), (TransferStatus::Created, 1));
}

#[tokio::test]
async fn an_oversized_body_is_refused_before_any_secret_or_crypto() {
    let store = MemoryTransferStore::default();
    let keys = Keys::new("whsec", None);
    let big = vec![b'x'; MAX_BODY_BYTES + 1];
    let d = Delivery { method: "POST", body: &big, signature: Some(b"x"), source_ip: None };
    let err = receive(&store, &keys, &WebhookSettings::default(), d, NOW).await.unwrap_err();
    assert_eq!(err.status(), 413);
    assert_eq!(keys.calls.load(Ordering::SeqCst), 0, "no secret read, so no HMAC computed");
}

#[tokio::test]
async fn the_source_allow_list_is_enforced_when_configured() {
    let store = MemoryTransferStore::default();
    let keys = Keys::new("whsec", None);
    let r = transfer(&store).await;
    let b = body(r.transaction_id.as_str(), "evt-1", "Pending", NOW, 49.99);
    let sig = sign("whsec", &b);
    let settings = WebhookSettings { allowed_ips: Some(vec!["20.22.113.37".parse().unwrap()]), ..Default::default() };
    let from = |ip| Delivery { method: "POST", body: &b, signature: Some(sig.as_bytes()), source_ip: ip };
    assert_eq!(receive(&store, &keys, &settings, from(Some("198.51.100.7")), NOW).await.unwrap_err().status(), 403);
    assert_eq!(receive(&store, &keys, &settings, from(None), NOW).await.unwrap_err().status(), 403);
    assert_eq!(
        receive(&store, &keys, &settings, from(Some("20.22.113.37")), NOW).await.unwrap().outcome,
        Outcome::Applied
    );
}

#[tokio::test]
async fn rotation_accepts_the_previous_secret_and_picks_up_a_new_one() {
    let store = MemoryTransferStore::default();
    let r = transfer(&store).await;
    let tx = r.transaction_id.as_str();
    let keys = Keys::new("new", Some("old"));
    assert_eq!(
        deliver(&store, &keys, "old", &body(tx, "e1", "Pending", NOW - 3, 1.0)).await.unwrap(),
        Outcome::Applied
    );
    assert_eq!(
        deliver(&store, &keys, "new", &body(tx, "e2", "Pending", NOW - 2, 1.0)).await.unwrap(),
        Outcome::Refreshed
    );
    assert_eq!(keys.refreshes.load(Ordering::SeqCst), 0);
    // Rotated in Secrets Manager after we cached: one re-read finds the new secret.
    let mut stale = Keys::new("old", None);
    stale.after_refresh = secrets("newer", Some("old"));
    assert_eq!(
        deliver(&store, &stale, "newer", &body(tx, "e3", "Pending", NOW - 1, 1.0)).await.unwrap(),
        Outcome::Refreshed
    );
    assert_eq!(stale.refreshes.load(Ordering::SeqCst), 1);
    let err = deliver(&store, &stale, "third", &body(tx, "e4", "Pending", NOW, 1.0)).await.unwrap_err();
    assert_eq!(err.code(), "signature_mismatch");
}

#[tokio::test]
async fn unknown_statuses_unreadable_bodies_and_strangers_are_kept_and_acknowledged() {
    let store = MemoryTransferStore::default();
    let keys = Keys::new("whsec", None);
    let r = transfer(&store).await;
    let tx = r.transaction_id.as_str();
    assert_eq!(
        deliver(&store, &keys, "whsec", &body(tx, "evt-u", "Reversed", NOW, 1.0)).await.unwrap(),
        Outcome::Parked
    );
    let held = store.get_event(&shared::domain::ids::EventId::parse("evt-u").unwrap(), NOW).await.unwrap().unwrap();
    assert_eq!((held.outcome, held.status.as_str()), (Outcome::Parked, "Reversed"));
    assert_eq!(store.get(&r.transaction_id).await.unwrap().unwrap().status, TransferStatus::Created);

    assert_eq!(deliver(&store, &keys, "whsec", b"{\"EventId\": 42").await.unwrap(), Outcome::Parked);
    assert_eq!(
        deliver(&store, &keys, "whsec", br#"{"EventId":"","TransferId":"t","TransferStatus":"Pending"}"#)
            .await
            .unwrap(),
        Outcome::Parked
    );
    assert_eq!(store.parked().len(), 2);

    let stranger = body("txn_not_ours", "evt-s", "Succeeded", NOW, 5.0);
    assert_eq!(deliver(&store, &keys, "whsec", &stranger).await.unwrap(), Outcome::Orphan);
    let held = store.get_event(&shared::domain::ids::EventId::parse("evt-s").unwrap(), NOW).await.unwrap().unwrap();
    assert_eq!(held.outcome, Outcome::Orphan);
}

#[tokio::test]
async fn underpayment_is_recorded_on_the_transfer() {
    let store = MemoryTransferStore::default();
    let keys = Keys::new("whsec", None);
    let r = transfer(&store).await;
    assert_eq!(
        deliver(&store, &keys, "whsec", &body(r.transaction_id.as_str(), "evt-1", "Succeeded", NOW, 40.0))
            .await
            .unwrap(),
        Outcome::Applied
    );
    let after = store.get(&r.transaction_id).await.unwrap().unwrap();
    assert_eq!(after.mismatches, vec![Mismatch::Underpaid]);
    assert_eq!(after.received.unwrap().amount.unwrap().to_string(), "40");
}

#[tokio::test]
async fn secrets_trouble_is_a_retryable_503() {
    let store = MemoryTransferStore::default();
    let mut keys = Keys::new("whsec", None);
    keys.down = true;
    let err = deliver(&store, &keys, "whsec", b"{}").await.unwrap_err();
    assert_eq!((err.status(), err.code()), (503, "temporarily_unavailable"));
}

#[tokio::test]
async fn a_send_time_outside_the_window_is_flagged_not_refused() {
    let store = MemoryTransferStore::default();
    let keys = Keys::new("whsec", None);
    let r = transfer(&store).await;
    let mut v: serde_json::Value =
        serde_json::from_slice(&body(r.transaction_id.as_str(), "e", "Pending", NOW, 1.0)).unwrap();
    let settings = WebhookSettings::default();
    for (sent, flagged) in
        [(NOW / 1000 - 300, false), (NOW / 1000 - 301, true), (NOW / 1000 + 301, true), (NOW - 1000, false)]
    {
        v["SentTimestamp"] = json!(sent);
        v["EventId"] = json!(uuid());
        let b = serde_json::to_vec(&v).unwrap();
        let sig = sign("whsec", &b);
        let d = Delivery { method: "POST", body: &b, signature: Some(sig.as_bytes()), source_ip: None };
        let accepted = receive(&store, &keys, &settings, d, NOW).await.unwrap();
        assert_eq!(accepted.outside_replay_window, flagged, "sent {sent}");
    }
}

/// Counts every store call: a rejected delivery must make none.
#[derive(Default)]
struct CountingStore {
    inner: MemoryTransferStore,
    calls: AtomicUsize,
}

impl CountingStore {
    fn tick(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

use shared::domain::checkout::CheckoutRecord;
use shared::domain::ids::{CheckoutId, EventId, OrderId};
use shared::storage::{
    CheckoutChange, CheckoutStore, EventRecord, PageCursor, StatusUpdate, StoreError, TransferChange,
};

impl TransferStore for CountingStore {
    async fn create(&self, r: &TransferRecord) -> Result<(), StoreError> {
        self.tick();
        self.inner.create(r).await
    }
    async fn get(&self, id: &TransactionId) -> Result<Option<TransferRecord>, StoreError> {
        self.tick();
        self.inner.get(id).await
    }
    async fn advance(&self, id: &TransactionId, u: &StatusUpdate) -> Result<TransferRecord, StoreError> {
        self.tick();
        self.inner.advance(id, u).await
    }
    async fn list_open(&self, before: i64, limit: usize) -> Result<Vec<TransferRecord>, StoreError> {
        self.tick();
        self.inner.list_open(before, limit).await
    }
    async fn record_event(
        &self,
        e: &EventRecord,
        c: Option<&TransferChange>,
        k: Option<&CheckoutChange>,
    ) -> Result<(), StoreError> {
        self.tick();
        self.inner.record_event(e, c, k).await
    }
    async fn abandon(&self, id: &TransactionId, version: u64, now: i64) -> Result<(), StoreError> {
        self.tick();
        self.inner.abandon(id, version, now).await
    }
    async fn get_event(&self, id: &EventId, now: i64) -> Result<Option<EventRecord>, StoreError> {
        self.tick();
        self.inner.get_event(id, now).await
    }
    async fn list_by_user(
        &self,
        user: &UserId,
        limit: usize,
        cursor: Option<&PageCursor>,
    ) -> Result<(Vec<TransferRecord>, Option<PageCursor>), StoreError> {
        self.tick();
        self.inner.list_by_user(user, limit, cursor).await
    }
    async fn park(&self, reason: &str, body: &[u8], now: i64) -> Result<(), StoreError> {
        self.tick();
        self.inner.park(reason, body, now).await
    }
}

impl CheckoutStore for CountingStore {
    async fn open_checkout(&self, r: &CheckoutRecord, replacing: Option<&CheckoutId>) -> Result<(), StoreError> {
        self.tick();
        self.inner.open_checkout(r, replacing).await
    }
    async fn get_checkout(&self, id: &CheckoutId) -> Result<Option<CheckoutRecord>, StoreError> {
        self.tick();
        self.inner.get_checkout(id).await
    }
    async fn checkout_for_order(&self, order: &OrderId) -> Result<Option<CheckoutRecord>, StoreError> {
        self.tick();
        self.inner.checkout_for_order(order).await
    }
    async fn update_checkout(&self, c: &CheckoutChange) -> Result<(), StoreError> {
        self.tick();
        self.inner.update_checkout(c).await
    }
    async fn create_attempt(&self, t: &TransferRecord, c: &CheckoutId, version: u64) -> Result<(), StoreError> {
        self.tick();
        self.inner.create_attempt(t, c, version).await
    }
    async fn list_open_checkouts(&self, limit: usize) -> Result<Vec<CheckoutRecord>, StoreError> {
        self.tick();
        self.inner.list_open_checkouts(limit).await
    }
}

#[tokio::test]
async fn rejected_deliveries_make_no_store_calls() {
    let store = CountingStore::default();
    let keys = Keys::new("whsec", None);
    let b = body("txn_x", "evt-1", "Succeeded", NOW, 1.0);
    let good = sign("whsec", &b);
    let wrong = sign("other", &b);
    let big = vec![b'{'; MAX_BODY_BYTES + 1];
    let allow = WebhookSettings { allowed_ips: Some(vec!["20.22.113.37".parse().unwrap()]), ..Default::default() };
    let open = WebhookSettings::default();
    let cases: Vec<(Delivery, &WebhookSettings)> = vec![
        (Delivery { method: "PUT", body: &b, signature: Some(good.as_bytes()), source_ip: None }, &open),
        (Delivery { method: "POST", body: &big, signature: Some(good.as_bytes()), source_ip: None }, &open),
        (Delivery { method: "POST", body: &b, signature: None, source_ip: None }, &open),
        (Delivery { method: "POST", body: &b, signature: Some(b""), source_ip: None }, &open),
        (Delivery { method: "POST", body: &b, signature: Some(&good.as_bytes()[..20]), source_ip: None }, &open),
        (Delivery { method: "POST", body: &b, signature: Some(wrong.as_bytes()), source_ip: None }, &open),
        (Delivery { method: "POST", body: &b, signature: Some(good.as_bytes()), source_ip: Some("10.0.0.1") }, &allow),
    ];
    for (d, settings) in cases {
        assert!(receive(&store, &keys, settings, d, NOW).await.is_err());
    }
    assert_eq!(store.calls.load(Ordering::SeqCst), 0);
    // And an accepted one does reach the store (the counter works).
    let d = Delivery { method: "POST", body: &b, signature: Some(good.as_bytes()), source_ip: None };
    receive(&store, &keys, &WebhookSettings::default(), d, NOW).await.unwrap();
    assert!(store.calls.load(Ordering::SeqCst) > 0);
}

/// A correctly signed body with a time no clock can show is unreadable: parked and acknowledged, never a
/// panic (debug builds check overflow) and never applied.
#[tokio::test]
async fn an_impossible_time_in_a_signed_body_is_parked_not_a_panic() {
    let store = MemoryTransferStore::default();
    let keys = Keys::new("whsec", None);
    let r = transfer(&store).await;
    let mut parked = 0;
    for field in ["Timestamp", "SentTimestamp"] {
        for impossible in [i64::MIN, i64::MIN + 1, -1, i64::MAX, 999_999_999_999, 1_000_000_000_000_000] {
            let mut v: serde_json::Value =
                serde_json::from_slice(&body(r.transaction_id.as_str(), &uuid(), "Succeeded", NOW, 49.99)).unwrap();
            v[field] = json!(impossible);
            let outcome = deliver(&store, &keys, "whsec", &serde_json::to_vec(&v).unwrap()).await;
            assert_eq!(outcome.unwrap(), Outcome::Parked, "{field}: {impossible}");
            parked += 1;
            assert_eq!(store.parked().len(), parked, "{field}: {impossible} kept for a human");
        }
    }
    assert_eq!(store.get(&r.transaction_id).await.unwrap().unwrap().status, TransferStatus::Created);
}

/// No signature header: nothing to verify, so the 401 comes without a Secrets Manager read (an
/// unauthenticated flood must not queue behind, or cost, secret fetches).
#[tokio::test]
async fn an_unsigned_delivery_is_refused_without_reading_the_secret() {
    let store = MemoryTransferStore::default();
    let keys = Keys::new("whsec", None);
    let b = body("txn_x", "evt-1", "Succeeded", NOW, 1.0);
    let d = Delivery { method: "POST", body: &b, signature: None, source_ip: None };
    let err = receive(&store, &keys, &WebhookSettings::default(), d, NOW).await.unwrap_err();
    assert_eq!((err.status(), err.code()), (401, "signature_missing"));
    assert_eq!((keys.calls.load(Ordering::SeqCst), keys.refreshes.load(Ordering::SeqCst)), (0, 0));
    // A signed one does read it (the counter works).
    let sig = sign("whsec", &b);
    let d = Delivery { method: "POST", body: &b, signature: Some(sig.as_bytes()), source_ip: None };
    receive(&store, &keys, &WebhookSettings::default(), d, NOW).await.unwrap();
    assert_eq!(keys.calls.load(Ordering::SeqCst), 1);
}
