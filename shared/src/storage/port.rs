//! The store's port: the narrow interface the functions and the ingest path write through, and the
//! records it reads and writes. Adapters: DynamoDB (`transfers`, `events`) and the in-memory twin.

use crate::domain::checkout::{CheckoutRecord, CheckoutState};
use crate::domain::ids::{CheckoutId, EventId, OrderId, TransactionId, TransferId, UserId};
use crate::domain::report::{Outcome, ReportSource};
use crate::domain::transfer::{Conflict, Mismatch, Received, RefundStatus, TransferRecord, TransferStatus};
use serde::{Deserialize, Serialize};
use std::future::Future;

/// How long an event id is remembered: far beyond any retry horizon a sender would use.
pub const EVENT_RETENTION_SECS: i64 = 90 * 24 * 3600;
const PARKED_PREFIX: &str = "PARKED#";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the transfer already exists")]
    AlreadyExists,
    #[error("the transfer does not exist")]
    NotFound,
    /// The forward-only rule refused the change; `current` is what the table holds.
    #[error("the change would not move the transfer forward")]
    NotApplied { current: Box<TransferRecord> },
    /// This event id was recorded before: a redelivery.
    #[error("the event was recorded before")]
    DuplicateEvent,
    /// The transfer or checkout changed since it was read (optimistic locking); re-read and re-plan.
    #[error("the item changed since it was read")]
    VersionConflict,
    /// Throttling, timeouts, 5xx: the caller should fail the request so the sender retries.
    #[error("DynamoDB is unavailable: {0}")]
    Unavailable(String),
    #[error("a stored item could not be read: {0}")]
    Corrupt(String),
}

/// A status change as reported by Mesh, with what came with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdate {
    pub status: TransferStatus,
    /// When Mesh says the event occurred (Unix ms); orders same-status updates.
    pub event_at: i64,
    /// When we apply it (Unix ms).
    pub now: i64,
    pub mesh_transfer_id: Option<TransferId>,
    pub tx_hash: Option<String>,
    pub received: Option<Received>,
    /// Replaces the recorded mismatches when set.
    pub mismatches: Option<Vec<Mismatch>>,
}

/// A change to a transfer that was read at `expected_version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferChange {
    Status {
        id: TransactionId,
        expected_version: u64,
        update: StatusUpdate,
    },
    Refund {
        id: TransactionId,
        expected_version: u64,
        refund: RefundStatus,
        now: i64,
    },
    /// Flags a contradicting terminal report on the transfer; the status stays as it is.
    Conflict {
        id: TransactionId,
        expected_version: u64,
        conflict: Conflict,
    },
}

impl TransferChange {
    /// The transfer it changes, and the version it was planned against.
    pub fn target(&self) -> (&TransactionId, u64) {
        match self {
            Self::Status { id, expected_version, .. }
            | Self::Refund { id, expected_version, .. }
            | Self::Conflict { id, expected_version, .. } => (id, *expected_version),
        }
    }
}

/// A checkout's settlement-relevant fields, replaced as computed from the version read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutChange {
    pub id: CheckoutId,
    pub expected_version: u64,
    pub state: CheckoutState,
    /// When the change is made (Unix ms): the checkout's `updated_at`.
    pub now: i64,
}

/// One report of Mesh's, kept once per event id: the deduplication record and the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    pub event_id: EventId,
    pub source: ReportSource,
    pub outcome: Outcome,
    pub transfer_id: TransferId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<TransactionId>,
    /// The status exactly as Mesh wrote it.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_at: Option<i64>,
    pub received_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_hash: Option<String>,
    #[serde(default)]
    pub received: Received,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mismatches: Vec<Mismatch>,
    /// Epoch seconds: the TTL attribute. Past it the record no longer counts, deleted or not.
    pub expires_at: i64,
}

/// The store's narrow interface: what the functions need, nothing more.
pub trait TransferStore: Send + Sync {
    /// Records a new transfer; `AlreadyExists` if its transaction id is taken.
    fn create(&self, record: &TransferRecord) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// A strongly consistent read.
    fn get(&self, id: &TransactionId) -> impl Future<Output = Result<Option<TransferRecord>, StoreError>> + Send;
    /// Applies a status change in one conditional write, only if it moves the transfer forward
    /// (higher rank, or the same status with a newer event). Returns the updated record.
    fn advance(
        &self,
        id: &TransactionId,
        update: &StatusUpdate,
    ) -> impl Future<Output = Result<TransferRecord, StoreError>> + Send;
    /// Open (not terminal) transfers created before `created_before` (Unix ms), oldest first.
    fn list_open(
        &self,
        created_before: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<TransferRecord>, StoreError>> + Send;
    /// Records an event (once per event id) and applies its changes to the transfer and to the
    /// checkout the transfer pays, atomically: all or nothing. `DuplicateEvent` if the id is known;
    /// `VersionConflict` if the transfer or the checkout changed since read.
    fn record_event(
        &self,
        event: &EventRecord,
        change: Option<&TransferChange>,
        checkout: Option<&CheckoutChange>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Marks a `created` transfer read at `expected_version` as `abandoned` (its link token lapsed and
    /// Mesh knows no transfer for it): it leaves the open set. `VersionConflict` if it changed.
    fn abandon(
        &self,
        id: &TransactionId,
        expected_version: u64,
        now_ms: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The record of an event id, if it is held and not expired at `now_ms`.
    fn get_event(
        &self,
        id: &EventId,
        now_ms: i64,
    ) -> impl Future<Output = Result<Option<EventRecord>, StoreError>> + Send;
    /// A user's transfers, newest first, `limit` at a time, after `cursor` (from the previous page).
    fn list_by_user(
        &self,
        user: &UserId,
        limit: usize,
        cursor: Option<&PageCursor>,
    ) -> impl Future<Output = Result<(Vec<TransferRecord>, Option<PageCursor>), StoreError>> + Send;
    /// Keeps a validly signed body that could not be processed, once per distinct body.
    fn park(&self, reason: &str, body: &[u8], now_ms: i64) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Checkouts: created by the merchant's server, paid by attempts (transfers), settled by the ingest
/// path (through `TransferStore::record_event`), closed by the merchant or by the clock.
pub trait CheckoutStore: Send + Sync {
    /// Records a new checkout and points its order at it, atomically. `replacing`: the order's
    /// current checkout, which must still be the one it points at (`None`: the order has none).
    /// `VersionConflict` if the order's pointer is not what the caller read.
    fn open_checkout(
        &self,
        record: &CheckoutRecord,
        replacing: Option<&CheckoutId>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// A strongly consistent read.
    fn get_checkout(&self, id: &CheckoutId) -> impl Future<Output = Result<Option<CheckoutRecord>, StoreError>> + Send;
    /// The order's current checkout.
    fn checkout_for_order(
        &self,
        order: &OrderId,
    ) -> impl Future<Output = Result<Option<CheckoutRecord>, StoreError>> + Send;
    /// Applies a change computed from the version read (cancel, expiry). `VersionConflict` if it moved.
    fn update_checkout(&self, change: &CheckoutChange) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Records a new attempt's transfer and appends it to the checkout read at `expected_version`,
    /// atomically. `AlreadyExists` if the transaction id is taken; `VersionConflict` if the checkout
    /// changed since read (re-read it: it may have closed).
    fn create_attempt(
        &self,
        transfer: &TransferRecord,
        checkout: &CheckoutId,
        expected_version: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Open and processing checkouts, soonest to expire first, at most `limit`.
    fn list_open_checkouts(&self, limit: usize)
    -> impl Future<Output = Result<Vec<CheckoutRecord>, StoreError>> + Send;
}

/// Where a page of a user's transfers ends. Opaque to callers; it names only a position inside the
/// caller's own partition, so a forged cursor cannot reach another user's transfers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageCursor {
    pub created_at: i64,
    pub transaction_id: TransactionId,
}

impl PageCursor {
    pub fn encode(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}:{}", self.created_at, self.transaction_id))
    }

    pub fn decode(raw: &str) -> Option<Self> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw.trim()).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (at, id) = text.split_once(':')?;
        Some(Self { created_at: at.parse().ok()?, transaction_id: TransactionId::parse(id).ok()? })
    }
}

/// A parked body's key: its SHA-256, so a redelivery of the same body is kept once.
pub fn parked_key(body: &[u8]) -> String {
    use sha2::Digest;
    format!("{PARKED_PREFIX}{:x}", sha2::Sha256::digest(body))
}
