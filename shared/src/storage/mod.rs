//! Transfer state in DynamoDB, and an in-memory twin for fast tests of code above the store.
//!
//! Table design (also in the README; the table itself is declared once, in `template.yaml`):
//! - key `pk` (S): `TRANSFER#<transactionId>` for a transfer; other item kinds (webhook events,
//!   the reconcile lease) use their own prefixes in the same table.
//! - `status_rank` (N) mirrors `TransferStatus::rank`; the forward-only rule is a condition on it.
//! - GSI `by-user`: `user_id` + `created_at`, a user's transfers newest first.
//! - GSI `open-transfers`: `open_shard` + `created_at`, sparse: `open_shard` exists only while the
//!   transfer is not terminal, so the index holds exactly the open transfers. Four shards keep one
//!   partition from taking every write.
//! - `expires_at` (N, epoch seconds): the TTL attribute, for short-lived items only.

use crate::domain::ids::{EventId, TransactionId, TransferId, UserId};
use crate::domain::transfer::{Mismatch, Received, RefundStatus, TransferRecord, TransferStatus};
use crate::ingest::{Outcome, ReportSource};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::types::{CancellationReason, Put, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

pub const BY_USER_INDEX: &str = "by-user";
pub const OPEN_INDEX: &str = "open-transfers";
pub const OPEN_SHARDS: u32 = 4;
const TRANSFER_PREFIX: &str = "TRANSFER#";
const EVENT_PREFIX: &str = "EVENT#";
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
    /// The transfer changed since it was read (optimistic locking); re-read and re-plan.
    #[error("the transfer changed since it was read")]
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
    Status { id: TransactionId, expected_version: u64, update: StatusUpdate },
    Refund { id: TransactionId, expected_version: u64, refund: RefundStatus, now: i64 },
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
    /// Records an event (once per event id) and applies its change, atomically: both or neither.
    /// `DuplicateEvent` if the id is known; `VersionConflict` if the transfer changed since read.
    fn record_event(
        &self,
        event: &EventRecord,
        change: Option<&TransferChange>,
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

fn event_key(id: &EventId) -> String {
    format!("{EVENT_PREFIX}{id}")
}

fn transfer_key(id: &TransactionId) -> String {
    format!("{TRANSFER_PREFIX}{id}")
}

/// Which shard of the open-transfers index a transfer lands in (FNV-1a: stable across builds).
pub fn open_shard(id: &TransactionId) -> String {
    let hash = id.as_str().bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    format!("OPEN#{}", hash % OPEN_SHARDS)
}

/// Would this update be applied to this record? The same rule the DynamoDB condition encodes.
fn moves_forward(current: &TransferRecord, update: &StatusUpdate) -> bool {
    let (cur, new) = (current.status.rank(), update.status.rank());
    new > cur
        || (new == cur && current.status == update.status && current.last_event_at.is_none_or(|t| t < update.event_at))
}

fn apply_to(record: &mut TransferRecord, update: &StatusUpdate) {
    record.status = update.status;
    record.last_event_at = Some(update.event_at);
    record.updated_at = update.now;
    record.version += 1;
    if update.mesh_transfer_id.is_some() {
        record.mesh_transfer_id.clone_from(&update.mesh_transfer_id);
    }
    if update.tx_hash.is_some() {
        record.tx_hash.clone_from(&update.tx_hash);
    }
    if update.received.is_some() {
        record.received.clone_from(&update.received);
    }
    if let Some(m) = &update.mismatches {
        record.mismatches.clone_from(m);
    }
}

// ---- DynamoDB ----

pub struct DynamoTransferStore {
    client: Client,
    table: String,
}

impl DynamoTransferStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    fn to_item(record: &TransferRecord) -> Result<HashMap<String, AttributeValue>, StoreError> {
        let mut item: HashMap<String, AttributeValue> =
            serde_dynamo::to_item(record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        item.insert("pk".into(), AttributeValue::S(transfer_key(&record.transaction_id)));
        item.insert("kind".into(), AttributeValue::S("transfer".into()));
        item.insert("status_rank".into(), AttributeValue::N(record.status.rank().to_string()));
        if !record.status.is_terminal() {
            item.insert("open_shard".into(), AttributeValue::S(open_shard(&record.transaction_id)));
        }
        Ok(item)
    }

    fn from_item(item: HashMap<String, AttributeValue>) -> Result<TransferRecord, StoreError> {
        serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}

pub fn unavailable<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::Unavailable(sdk_error_detail(&err))
}

/// What an SDK failure was, in words safe for logs: the service's error code or the transport's kind.
pub fn sdk_error_detail<E, R>(err: &SdkError<E, R>) -> String
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match err {
        SdkError::ServiceError(e) => e.err().code().unwrap_or("service error").to_string(),
        SdkError::TimeoutError(_) => "timeout".into(),
        SdkError::DispatchFailure(_) => "dispatch failure".into(),
        _ => "unreadable response".into(),
    }
}

/// The forward-only rule as a DynamoDB condition: a higher rank, or the same status with a newer event.
/// `moves_forward` is the same rule in Rust; the contract tests hold them to each other.
const FORWARD_ONLY: &str = "(status_rank < :rank OR (status_rank = :rank AND #status = :status \
     AND (attribute_not_exists(last_event_at) OR last_event_at < :event_at)))";

struct UpdateParts {
    expression: String,
    values: HashMap<String, AttributeValue>,
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The update expression of a status change, shared by `advance` and `record_event`.
fn status_update_parts(update: &StatusUpdate) -> Result<UpdateParts, StoreError> {
    let mut set = vec![
        "#status = :status",
        "status_rank = :rank",
        "last_event_at = :event_at",
        "updated_at = :now",
        "version = version + :one",
    ];
    let mut values = HashMap::from([
        (":status".to_string(), AttributeValue::S(update.status.as_str().into())),
        (":rank".to_string(), n(update.status.rank())),
        (":event_at".to_string(), n(update.event_at)),
        (":now".to_string(), n(update.now)),
        (":one".to_string(), n(1)),
    ]);
    let corrupt = |e: serde_dynamo::Error| StoreError::Corrupt(e.to_string());
    if let Some(t) = &update.mesh_transfer_id {
        set.push("mesh_transfer_id = :mesh_transfer_id");
        values.insert(":mesh_transfer_id".into(), AttributeValue::S(t.to_string()));
    }
    if let Some(h) = &update.tx_hash {
        set.push("tx_hash = :tx_hash");
        values.insert(":tx_hash".into(), AttributeValue::S(h.clone()));
    }
    if let Some(r) = &update.received {
        set.push("received = :received");
        values.insert(":received".into(), serde_dynamo::to_attribute_value(r).map_err(corrupt)?);
    }
    if let Some(m) = &update.mismatches {
        set.push("mismatches = :mismatches");
        values.insert(":mismatches".into(), serde_dynamo::to_attribute_value(m).map_err(corrupt)?);
    }
    let mut expression = format!("SET {}", set.join(", "));
    if update.status.is_terminal() {
        // Leaving the sparse index is what closes the transfer for reconciliation.
        expression.push_str(" REMOVE open_shard");
    }
    Ok(UpdateParts { expression, values })
}

/// A transaction's idempotency token (at most 36 characters): one per (event, version read), so a
/// re-planned attempt after a lost race is a new request.
fn request_token(event: &EventRecord, change: &TransferChange) -> String {
    use sha2::Digest;
    let version = match change {
        TransferChange::Status { expected_version, .. } | TransferChange::Refund { expected_version, .. } => {
            *expected_version
        }
    };
    let digest = sha2::Sha256::digest(format!("{}:{version}", event.event_id).as_bytes());
    digest.iter().take(18).map(|b| format!("{b:02x}")).collect()
}

fn reason_code(reasons: &[CancellationReason], i: usize) -> Option<&str> {
    reasons.get(i).and_then(|r| r.code()).filter(|c| *c != "None")
}

impl DynamoTransferStore {
    /// A strongly consistent read of one item: reads that decide correctness never see stale data.
    async fn consistent_get(&self, pk: String) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }

    fn event_put(&self, event: &EventRecord) -> Result<Put, StoreError> {
        let mut item: HashMap<String, AttributeValue> =
            serde_dynamo::to_item(event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        item.insert("pk".into(), AttributeValue::S(event_key(&event.event_id)));
        item.insert("kind".into(), AttributeValue::S("event".into()));
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            // An expired record no longer counts, whether or not TTL has deleted it yet.
            .condition_expression("attribute_not_exists(pk) OR expires_at < :now_s")
            .expression_attribute_values(":now_s", n(event.received_at / 1000))
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    fn change_update(&self, change: &TransferChange) -> Result<Update, StoreError> {
        let (id, expected_version, builder) = match change {
            TransferChange::Status { id, expected_version, update } => {
                let parts = status_update_parts(update)?;
                let b = Update::builder()
                    .update_expression(parts.expression)
                    .condition_expression(format!("version = :expected AND {FORWARD_ONLY}"))
                    .expression_attribute_names("#status", "status")
                    .set_expression_attribute_values(Some(parts.values));
                (id, expected_version, b)
            }
            TransferChange::Refund { id, expected_version, refund, now } => {
                let refund =
                    serde_dynamo::to_attribute_value(refund).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let b = Update::builder()
                    .update_expression("SET refund = :refund, updated_at = :now, version = version + :one")
                    .condition_expression("version = :expected")
                    .expression_attribute_values(":refund", refund)
                    .expression_attribute_values(":now", n(now))
                    .expression_attribute_values(":one", n(1));
                (id, expected_version, b)
            }
        };
        builder
            .table_name(&self.table)
            .key("pk", AttributeValue::S(transfer_key(id)))
            .expression_attribute_values(":expected", n(expected_version))
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}

impl TransferStore for DynamoTransferStore {
    async fn create(&self, record: &TransferRecord) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::to_item(record)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                Err(StoreError::AlreadyExists)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn get(&self, id: &TransactionId) -> Result<Option<TransferRecord>, StoreError> {
        self.consistent_get(transfer_key(id)).await?.map(Self::from_item).transpose()
    }

    async fn advance(&self, id: &TransactionId, update: &StatusUpdate) -> Result<TransferRecord, StoreError> {
        let parts = status_update_parts(update)?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(transfer_key(id)))
            .update_expression(parts.expression)
            .condition_expression(format!("attribute_exists(pk) AND {FORWARD_ONLY}"))
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(parts.values))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => Self::from_item(out.attributes.unwrap_or_default()),
            Err(e) => match e.as_service_error() {
                Some(s) if s.is_conditional_check_failed_exception() => {
                    let old = match s {
                        aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(
                            c,
                        ) => c.item.clone(),
                        _ => None,
                    };
                    match old {
                        Some(item) if !item.is_empty() => {
                            Err(StoreError::NotApplied { current: Box::new(Self::from_item(item)?) })
                        }
                        _ => Err(StoreError::NotFound),
                    }
                }
                _ => Err(unavailable(e)),
            },
        }
    }

    async fn list_open(&self, created_before: i64, limit: usize) -> Result<Vec<TransferRecord>, StoreError> {
        let mut all = Vec::new();
        for shard in 0..OPEN_SHARDS {
            let mut start: Option<HashMap<String, AttributeValue>> = None;
            loop {
                let out = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(OPEN_INDEX)
                    .key_condition_expression("open_shard = :shard AND created_at < :before")
                    .expression_attribute_values(":shard", AttributeValue::S(format!("OPEN#{shard}")))
                    .expression_attribute_values(":before", AttributeValue::N(created_before.to_string()))
                    .limit(i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000))
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(unavailable)?;
                for item in out.items.unwrap_or_default() {
                    all.push(Self::from_item(item)?);
                }
                match out.last_evaluated_key {
                    Some(k) if !k.is_empty() && all.len() < limit * (shard as usize + 1) => start = Some(k),
                    _ => break,
                }
            }
        }
        all.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.transaction_id.cmp(&b.transaction_id)));
        all.truncate(limit);
        Ok(all)
    }

    async fn record_event(&self, event: &EventRecord, change: Option<&TransferChange>) -> Result<(), StoreError> {
        let put = self.event_put(event)?;
        let Some(change) = change else {
            let result = self
                .client
                .put_item()
                .table_name(put.table_name())
                .set_item(Some(put.item().clone()))
                .set_condition_expression(Some(put.condition_expression().unwrap_or_default().to_string()))
                .set_expression_attribute_values(put.expression_attribute_values().cloned())
                .send()
                .await;
            return match result {
                Ok(_) => Ok(()),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                    Err(StoreError::DuplicateEvent)
                }
                Err(e) => Err(unavailable(e)),
            };
        };
        let result = self
            .client
            .transact_write_items()
            // The same token on the SDK's own retries makes an attempt that timed out after committing
            // come back as success, not as a cancelled duplicate (DynamoDB keeps tokens 10 minutes).
            .client_request_token(request_token(event, change))
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(self.change_update(change)?).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c)) => {
                    let reasons = c.cancellation_reasons();
                    match (reason_code(reasons, 0), reason_code(reasons, 1)) {
                        (Some("ConditionalCheckFailed"), _) => Err(StoreError::DuplicateEvent),
                        (_, Some("ConditionalCheckFailed")) => Err(StoreError::VersionConflict),
                        (a, b) => Err(StoreError::Unavailable(format!(
                            "transaction cancelled: {}, {}",
                            a.unwrap_or("None"),
                            b.unwrap_or("None")
                        ))),
                    }
                }
                _ => Err(unavailable(e)),
            },
        }
    }

    async fn get_event(&self, id: &EventId, now_ms: i64) -> Result<Option<EventRecord>, StoreError> {
        let event: Option<EventRecord> = self
            .consistent_get(event_key(id))
            .await?
            .map(|item| serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()?;
        Ok(event.filter(|e| e.expires_at >= now_ms / 1000))
    }

    async fn list_by_user(
        &self,
        user: &UserId,
        limit: usize,
        cursor: Option<&PageCursor>,
    ) -> Result<(Vec<TransferRecord>, Option<PageCursor>), StoreError> {
        let start = cursor.map(|c| {
            HashMap::from([
                ("pk".to_string(), AttributeValue::S(transfer_key(&c.transaction_id))),
                ("user_id".to_string(), AttributeValue::S(user.to_string())),
                ("created_at".to_string(), n(c.created_at)),
            ])
        });
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_USER_INDEX)
            .key_condition_expression("user_id = :user")
            .expression_attribute_values(":user", AttributeValue::S(user.to_string()))
            .scan_index_forward(false)
            .limit(i32::try_from(limit.clamp(1, 100)).unwrap_or(100))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(unavailable)?;
        let records = out.items.unwrap_or_default().into_iter().map(Self::from_item).collect::<Result<Vec<_>, _>>()?;
        let next = match (out.last_evaluated_key, records.last()) {
            (Some(k), Some(last)) if !k.is_empty() => {
                Some(PageCursor { created_at: last.created_at, transaction_id: last.transaction_id.clone() })
            }
            _ => None,
        };
        Ok((records, next))
    }

    async fn park(&self, reason: &str, body: &[u8], now_ms: i64) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(parked_key(body)))
            .item("kind", AttributeValue::S("parked".into()))
            .item("reason", AttributeValue::S(reason.into()))
            .item("body", AttributeValue::S(String::from_utf8_lossy(body).into_owned()))
            .item("received_at", n(now_ms))
            .item("expires_at", n(now_ms / 1000 + crate::ingest::EVENT_RETENTION_SECS))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }
}

// ---- In memory ----

/// The same contract in memory, for unit tests of handlers. The store contract tests run against
/// both this and DynamoDB (on moto), so the two cannot drift apart.
#[derive(Default)]
pub struct MemoryTransferStore {
    items: Mutex<HashMap<TransactionId, TransferRecord>>,
    events: Mutex<HashMap<EventId, EventRecord>>,
    parked: Mutex<HashMap<String, String>>,
}

impl MemoryTransferStore {
    fn items(&self) -> std::sync::MutexGuard<'_, HashMap<TransactionId, TransferRecord>> {
        self.items.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn events(&self) -> std::sync::MutexGuard<'_, HashMap<EventId, EventRecord>> {
        self.events.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl TransferStore for MemoryTransferStore {
    async fn create(&self, record: &TransferRecord) -> Result<(), StoreError> {
        let mut items = self.items();
        if items.contains_key(&record.transaction_id) {
            return Err(StoreError::AlreadyExists);
        }
        items.insert(record.transaction_id.clone(), record.clone());
        Ok(())
    }

    async fn get(&self, id: &TransactionId) -> Result<Option<TransferRecord>, StoreError> {
        Ok(self.items().get(id).cloned())
    }

    async fn advance(&self, id: &TransactionId, update: &StatusUpdate) -> Result<TransferRecord, StoreError> {
        let mut items = self.items();
        let record = items.get_mut(id).ok_or(StoreError::NotFound)?;
        if !moves_forward(record, update) {
            return Err(StoreError::NotApplied { current: Box::new(record.clone()) });
        }
        apply_to(record, update);
        Ok(record.clone())
    }

    async fn list_open(&self, created_before: i64, limit: usize) -> Result<Vec<TransferRecord>, StoreError> {
        let mut open: Vec<TransferRecord> = self
            .items()
            .values()
            .filter(|r| !r.status.is_terminal() && r.created_at < created_before)
            .cloned()
            .collect();
        open.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.transaction_id.cmp(&b.transaction_id)));
        open.truncate(limit);
        Ok(open)
    }

    async fn record_event(&self, event: &EventRecord, change: Option<&TransferChange>) -> Result<(), StoreError> {
        // Lock order: items, then events (the same everywhere).
        let mut items = self.items();
        let mut events = self.events();
        if events.get(&event.event_id).is_some_and(|e| e.expires_at >= event.received_at / 1000) {
            return Err(StoreError::DuplicateEvent);
        }
        if let Some(change) = change {
            let (id, expected) = match change {
                TransferChange::Status { id, expected_version, .. }
                | TransferChange::Refund { id, expected_version, .. } => (id, *expected_version),
            };
            let record = items.get_mut(id).ok_or(StoreError::VersionConflict)?;
            if record.version != expected {
                return Err(StoreError::VersionConflict);
            }
            match change {
                TransferChange::Status { update, .. } => {
                    if !moves_forward(record, update) {
                        return Err(StoreError::VersionConflict);
                    }
                    apply_to(record, update);
                }
                TransferChange::Refund { refund, now, .. } => {
                    record.refund = Some(*refund);
                    record.updated_at = *now;
                    record.version += 1;
                }
            }
        }
        events.insert(event.event_id.clone(), event.clone());
        Ok(())
    }

    async fn get_event(&self, id: &EventId, now_ms: i64) -> Result<Option<EventRecord>, StoreError> {
        Ok(self.events().get(id).filter(|e| e.expires_at >= now_ms / 1000).cloned())
    }

    async fn list_by_user(
        &self,
        user: &UserId,
        limit: usize,
        cursor: Option<&PageCursor>,
    ) -> Result<(Vec<TransferRecord>, Option<PageCursor>), StoreError> {
        let mut mine: Vec<TransferRecord> = self.items().values().filter(|r| &r.user_id == user).cloned().collect();
        mine.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.transaction_id.cmp(&a.transaction_id)));
        let after: Vec<TransferRecord> = match cursor {
            Some(c) => mine
                .into_iter()
                .filter(|r| (r.created_at, &r.transaction_id) < (c.created_at, &c.transaction_id))
                .collect(),
            None => mine,
        };
        let limit = limit.clamp(1, 100);
        let more = after.len() > limit;
        let page: Vec<TransferRecord> = after.into_iter().take(limit).collect();
        let next = page
            .last()
            .filter(|_| more)
            .map(|last| PageCursor { created_at: last.created_at, transaction_id: last.transaction_id.clone() });
        Ok((page, next))
    }

    async fn park(&self, reason: &str, body: &[u8], _now_ms: i64) -> Result<(), StoreError> {
        let mut parked = self.parked.lock().unwrap_or_else(|p| p.into_inner());
        parked.entry(parked_key(body)).or_insert_with(|| reason.to_string());
        Ok(())
    }
}

impl MemoryTransferStore {
    /// Parked bodies' keys and reasons (for tests).
    pub fn parked(&self) -> HashMap<String, String> {
        self.parked.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::UserId;

    #[test]
    fn shards_are_stable_and_spread() {
        let id = TransactionId::parse("txn_0123456789abcdef").unwrap();
        assert_eq!(open_shard(&id), open_shard(&id.clone()));
        let shards: std::collections::HashSet<String> =
            (0..200).map(|_| open_shard(&TransactionId::generate())).collect();
        assert_eq!(shards.len(), OPEN_SHARDS as usize);
    }

    #[test]
    fn items_carry_keys_rank_and_open_shard_only_while_open() {
        let mut r = TransferRecord::created(TransactionId::generate(), UserId::parse("u").unwrap(), 5);
        let item = DynamoTransferStore::to_item(&r).unwrap();
        assert_eq!(item["pk"], AttributeValue::S(format!("TRANSFER#{}", r.transaction_id)));
        assert_eq!(item["status_rank"], AttributeValue::N("0".into()));
        assert_eq!(item["created_at"], AttributeValue::N("5".into()));
        assert!(item.contains_key("open_shard"));
        assert_eq!(DynamoTransferStore::from_item(item).unwrap(), r);
        r.status = TransferStatus::Failed;
        assert!(!DynamoTransferStore::to_item(&r).unwrap().contains_key("open_shard"));
    }
}
