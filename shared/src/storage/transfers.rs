//! Transfers in DynamoDB (`TRANSFER#<transactionId>` items, the `by-user` and sparse `open-transfers`
//! indexes): the `TransferStore` adapter. Event records and parked bodies are in `events.rs`.

use crate::domain::ids::{EventId, TransactionId, UserId};
use crate::domain::transfer::{TransferRecord, TransferStatus};
use crate::storage::sdk::{n, unavailable};
use crate::storage::{
    CheckoutChange, EventRecord, PageCursor, StatusUpdate, StoreError, TransferChange, TransferStore,
};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use std::collections::HashMap;

pub const BY_USER_INDEX: &str = "by-user";
pub const OPEN_INDEX: &str = "open-transfers";
pub const OPEN_SHARDS: u32 = 4;
const TRANSFER_PREFIX: &str = "TRANSFER#";

pub(super) fn transfer_key(id: &TransactionId) -> String {
    format!("{TRANSFER_PREFIX}{id}")
}

/// Which shard of the open-transfers index a transfer lands in (FNV-1a: stable across builds).
pub fn open_shard(id: &TransactionId) -> String {
    shard_of(id.as_str(), OPEN_SHARDS)
}

/// `OPEN#<n>`: the shard of a sparse index an item with this id lands in (FNV-1a: stable across builds).
pub(super) fn shard_of(id: &str, shards: u32) -> String {
    let hash = id.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    format!("OPEN#{}", hash % shards)
}

pub struct DynamoTransferStore {
    pub(super) client: Client,
    pub(super) table: String,
}

impl DynamoTransferStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    pub(super) fn to_item(record: &TransferRecord) -> Result<HashMap<String, AttributeValue>, StoreError> {
        let mut item: HashMap<String, AttributeValue> =
            serde_dynamo::to_item(record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        item.insert("pk".into(), AttributeValue::S(transfer_key(&record.transaction_id)));
        item.insert("kind".into(), AttributeValue::S("transfer".into()));
        item.insert("status_rank".into(), AttributeValue::N(record.status.rank().to_string()));
        if record.status.is_open() {
            item.insert("open_shard".into(), AttributeValue::S(open_shard(&record.transaction_id)));
        }
        Ok(item)
    }

    fn from_item(item: HashMap<String, AttributeValue>) -> Result<TransferRecord, StoreError> {
        serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}

/// The forward-only rule as a DynamoDB condition: a higher rank, or the same status with a newer event.
/// `moves_forward` is the same rule in Rust; the contract tests hold them to each other.
pub(super) const FORWARD_ONLY: &str = "(status_rank < :rank OR (status_rank = :rank AND #status = :status \
     AND (attribute_not_exists(last_event_at) OR last_event_at < :event_at)))";

pub(super) struct UpdateParts {
    pub(super) expression: String,
    pub(super) values: HashMap<String, AttributeValue>,
}

/// The update expression of a status change, shared by `advance` and `record_event`.
pub(super) fn status_update_parts(id: &TransactionId, update: &StatusUpdate) -> Result<UpdateParts, StoreError> {
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
    if update.status.is_open() {
        // An abandoned attempt that Mesh reports after all comes back into the open set.
        set.push("open_shard = :open_shard");
        values.insert(":open_shard".into(), AttributeValue::S(open_shard(id)));
    }
    let mut expression = format!("SET {}", set.join(", "));
    if !update.status.is_open() {
        // Leaving the sparse index is what closes the transfer for reconciliation.
        expression.push_str(" REMOVE open_shard");
    }
    Ok(UpdateParts { expression, values })
}

impl DynamoTransferStore {
    /// The items of a sparse, sharded index (`:shard` is `OPEN#0`, `OPEN#1`, …), each shard read in its
    /// sort order: past `limit` items of one shard, none of its later ones can be among the first
    /// `limit` overall, so a shard is read no further.
    pub(super) async fn query_shards(
        &self,
        index: &str,
        key_condition: &str,
        shards: u32,
        values: HashMap<String, AttributeValue>,
        limit: usize,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let mut all = Vec::new();
        for shard in 0..shards {
            let mut start: Option<HashMap<String, AttributeValue>> = None;
            loop {
                let mut shard_values = values.clone();
                shard_values.insert(":shard".into(), AttributeValue::S(format!("OPEN#{shard}")));
                let out = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(index)
                    .key_condition_expression(key_condition)
                    .set_expression_attribute_values(Some(shard_values))
                    .limit(i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000))
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(unavailable)?;
                all.extend(out.items.unwrap_or_default());
                match out.last_evaluated_key {
                    Some(k) if !k.is_empty() && all.len() < limit * (shard as usize + 1) => start = Some(k),
                    _ => break,
                }
            }
        }
        Ok(all)
    }

    /// A strongly consistent read of one item: reads that decide correctness never see stale data.
    pub(super) async fn consistent_get(
        &self,
        pk: String,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
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
        let parts = status_update_parts(id, update)?;
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
        let before = HashMap::from([(":before".to_string(), n(created_before))]);
        let items = self
            .query_shards(OPEN_INDEX, "open_shard = :shard AND created_at < :before", OPEN_SHARDS, before, limit)
            .await?;
        let mut all = items.into_iter().map(Self::from_item).collect::<Result<Vec<_>, _>>()?;
        all.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.transaction_id.cmp(&b.transaction_id)));
        all.truncate(limit);
        Ok(all)
    }

    async fn record_event(
        &self,
        event: &EventRecord,
        change: Option<&TransferChange>,
        checkout: Option<&CheckoutChange>,
    ) -> Result<(), StoreError> {
        self.put_event(event, change, checkout).await
    }

    async fn abandon(&self, id: &TransactionId, expected_version: u64, now_ms: i64) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(transfer_key(id)))
            .update_expression(
                "SET #status = :abandoned, updated_at = :now, version = version + :one REMOVE open_shard",
            )
            .condition_expression("version = :expected AND #status = :created")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":abandoned", AttributeValue::S(TransferStatus::Abandoned.as_str().into()))
            .expression_attribute_values(":created", AttributeValue::S(TransferStatus::Created.as_str().into()))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":expected", n(expected_version))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                Err(StoreError::VersionConflict)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn get_event(&self, id: &EventId, now_ms: i64) -> Result<Option<EventRecord>, StoreError> {
        self.read_event(id, now_ms).await
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
        self.put_parked(reason, body, now_ms).await
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
