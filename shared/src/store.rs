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

use crate::ids::{TransactionId, TransferId};
use crate::transfer::{Received, TransferRecord, TransferStatus};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

pub const BY_USER_INDEX: &str = "by-user";
pub const OPEN_INDEX: &str = "open-transfers";
pub const OPEN_SHARDS: u32 = 4;
const TRANSFER_PREFIX: &str = "TRANSFER#";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the transfer already exists")]
    AlreadyExists,
    #[error("the transfer does not exist")]
    NotFound,
    /// The forward-only rule refused the change; `current` is what the table holds.
    #[error("the change would not move the transfer forward")]
    NotApplied { current: Box<TransferRecord> },
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
    new > cur || (new == cur && current.status == update.status && current.last_event_at.is_none_or(|t| t < update.event_at))
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

fn unavailable<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let detail = match &err {
        SdkError::ServiceError(e) => e.err().code().unwrap_or("service error").to_string(),
        SdkError::TimeoutError(_) => "timeout".into(),
        SdkError::DispatchFailure(_) => "dispatch failure".into(),
        _ => "unreadable response".into(),
    };
    StoreError::Unavailable(detail)
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
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(transfer_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item.map(Self::from_item).transpose()
    }

    async fn advance(&self, id: &TransactionId, update: &StatusUpdate) -> Result<TransferRecord, StoreError> {
        let mut set = vec![
            "#status = :status",
            "status_rank = :rank",
            "last_event_at = :event_at",
            "updated_at = :now",
            "version = version + :one",
        ];
        let mut values = HashMap::from([
            (":status".to_string(), AttributeValue::S(update.status.as_str().into())),
            (":rank".to_string(), AttributeValue::N(update.status.rank().to_string())),
            (":event_at".to_string(), AttributeValue::N(update.event_at.to_string())),
            (":now".to_string(), AttributeValue::N(update.now.to_string())),
            (":one".to_string(), AttributeValue::N("1".into())),
        ]);
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
            let av = serde_dynamo::to_attribute_value(r).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            values.insert(":received".into(), av);
        }
        let mut expression = format!("SET {}", set.join(", "));
        if update.status.is_terminal() {
            // Leaving the sparse index is what closes the transfer for reconciliation.
            expression.push_str(" REMOVE open_shard");
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(transfer_key(id)))
            .update_expression(expression)
            .condition_expression(
                "attribute_exists(pk) AND (status_rank < :rank OR (status_rank = :rank AND #status = :status \
                 AND (attribute_not_exists(last_event_at) OR last_event_at < :event_at)))",
            )
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => Self::from_item(out.attributes.unwrap_or_default()),
            Err(e) => match e.as_service_error() {
                Some(s) if s.is_conditional_check_failed_exception() => {
                    let old = match s {
                        aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => {
                            c.item.clone()
                        }
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
}

// ---- In memory ----

/// The same contract in memory, for unit tests of handlers. The store contract tests run against
/// both this and DynamoDB (on moto), so the two cannot drift apart.
#[derive(Default)]
pub struct MemoryTransferStore {
    items: Mutex<HashMap<TransactionId, TransferRecord>>,
}

impl MemoryTransferStore {
    fn items(&self) -> std::sync::MutexGuard<'_, HashMap<TransactionId, TransferRecord>> {
        self.items.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::UserId;

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
