//! Checkouts in DynamoDB: `CHECKOUT#<checkoutId>` items (the sparse `open-checkouts` index while open
//! or processing) and `ORDER#<orderId>` pointers to an order's current checkout. Every write is one
//! conditional write or transaction on the version read; settlement is written by `events.rs`, in the
//! same transaction as the report that causes it.

use crate::domain::checkout::{CheckoutRecord, CheckoutState};
use crate::domain::ids::{CheckoutId, OrderId};
use crate::domain::transfer::TransferRecord;
use crate::storage::sdk::{n, unavailable};
use crate::storage::{CheckoutChange, CheckoutStore, DynamoTransferStore, StoreError};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use std::collections::HashMap;

pub const OPEN_CHECKOUTS_INDEX: &str = "open-checkouts";
const CHECKOUT_SHARDS: u32 = 4;
const CHECKOUT_PREFIX: &str = "CHECKOUT#";
const ORDER_PREFIX: &str = "ORDER#";

pub(super) fn checkout_key(id: &CheckoutId) -> String {
    format!("{CHECKOUT_PREFIX}{id}")
}

fn order_key(id: &OrderId) -> String {
    format!("{ORDER_PREFIX}{id}")
}

fn checkout_shard(id: &CheckoutId) -> String {
    super::transfers::shard_of(id.as_str(), CHECKOUT_SHARDS)
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn checkout_item(record: &CheckoutRecord) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let mut item: HashMap<String, AttributeValue> = serde_dynamo::to_item(record).map_err(corrupt)?;
    item.insert("pk".into(), AttributeValue::S(checkout_key(&record.checkout_id)));
    item.insert("kind".into(), AttributeValue::S("checkout".into()));
    if record.status.is_open() {
        item.insert("checkout_shard".into(), AttributeValue::S(checkout_shard(&record.checkout_id)));
    }
    Ok(item)
}

fn checkout_from_item(item: HashMap<String, AttributeValue>) -> Result<CheckoutRecord, StoreError> {
    serde_dynamo::from_item(item).map_err(corrupt)
}

/// The failure of a two-item transaction (a new item, and a write conditional on what was read): the new
/// item's key was taken (`AlreadyExists`), or the other item moved since read (`VersionConflict`).
fn new_item_and_condition<R>(e: SdkError<TransactWriteItemsError, R>) -> StoreError
where
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let failed = |codes: &[String], i: usize| codes.get(i).is_some_and(|c| c == "ConditionalCheckFailed");
    match super::events::cancellation_codes(&e) {
        Some(codes) if failed(&codes, 0) => StoreError::AlreadyExists,
        Some(codes) if failed(&codes, 1) => StoreError::VersionConflict,
        _ => unavailable(e),
    }
}

/// The update of a checkout's settlement fields, conditional on the version they were computed from.
/// Shared by `update_checkout` and the ingest transaction (`events.rs`).
pub(super) fn checkout_update(table: &str, change: &CheckoutChange) -> Result<Update, StoreError> {
    let CheckoutState { status, flags, pending, succeeded, settled_by, received_in_fiat, closed_at } = &change.state;
    let mut set: Vec<String> = [
        "#status = :status",
        "flags = :flags",
        "pending = :pending",
        "succeeded = :succeeded",
        "updated_at = :now",
        "version = version + :one",
    ]
    .map(String::from)
    .into();
    let mut remove = Vec::new();
    let mut values = HashMap::from([
        (":status".to_string(), serde_dynamo::to_attribute_value(status).map_err(corrupt)?),
        (":flags".to_string(), serde_dynamo::to_attribute_value(flags).map_err(corrupt)?),
        (":pending".to_string(), serde_dynamo::to_attribute_value(pending).map_err(corrupt)?),
        (":succeeded".to_string(), serde_dynamo::to_attribute_value(succeeded).map_err(corrupt)?),
        (":now".to_string(), n(change.now)),
        (":one".to_string(), n(1)),
        (":expected".to_string(), n(change.expected_version)),
    ]);
    let optional = [
        ("settled_by", settled_by.as_ref().map(|t| AttributeValue::S(t.to_string()))),
        ("received_in_fiat", received_in_fiat.map(|v| AttributeValue::S(v.to_string()))),
        ("closed_at", closed_at.map(n)),
    ];
    for (attribute, value) in optional {
        match value {
            Some(v) => {
                set.push(format!("{attribute} = :{attribute}"));
                values.insert(format!(":{attribute}"), v);
            }
            None => remove.push(attribute),
        }
    }
    if !status.is_open() {
        // Leaving the sparse index is what takes the checkout out of reconcile's sweep.
        remove.push("checkout_shard");
    }
    let mut expression = format!("SET {}", set.join(", "));
    if !remove.is_empty() {
        expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
    }
    Update::builder()
        .table_name(table)
        .key("pk", AttributeValue::S(checkout_key(&change.id)))
        .update_expression(expression)
        .condition_expression("version = :expected")
        .expression_attribute_names("#status", "status")
        .set_expression_attribute_values(Some(values))
        .build()
        .map_err(corrupt)
}

impl DynamoTransferStore {
    fn order_put(&self, record: &CheckoutRecord, replacing: Option<&CheckoutId>) -> Result<Put, StoreError> {
        let builder = Put::builder()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(order_key(&record.order_id)))
            .item("kind", AttributeValue::S("order".into()))
            .item("checkout_id", AttributeValue::S(record.checkout_id.to_string()));
        match replacing {
            None => builder.condition_expression("attribute_not_exists(pk)"),
            Some(old) => builder
                .condition_expression("checkout_id = :old")
                .expression_attribute_values(":old", AttributeValue::S(old.to_string())),
        }
        .build()
        .map_err(corrupt)
    }
}

impl CheckoutStore for DynamoTransferStore {
    async fn open_checkout(&self, record: &CheckoutRecord, replacing: Option<&CheckoutId>) -> Result<(), StoreError> {
        let checkout = Put::builder()
            .table_name(&self.table)
            .set_item(Some(checkout_item(record)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(corrupt)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(checkout).build())
            .transact_items(TransactWriteItem::builder().put(self.order_put(record, replacing)?).build())
            .send()
            .await;
        result.map(|_| ()).map_err(new_item_and_condition)
    }

    async fn get_checkout(&self, id: &CheckoutId) -> Result<Option<CheckoutRecord>, StoreError> {
        self.consistent_get(checkout_key(id)).await?.map(checkout_from_item).transpose()
    }

    async fn checkout_for_order(&self, order: &OrderId) -> Result<Option<CheckoutRecord>, StoreError> {
        let Some(pointer) = self.consistent_get(order_key(order)).await? else { return Ok(None) };
        let id = match pointer.get("checkout_id") {
            Some(AttributeValue::S(id)) => CheckoutId::parse(id.clone()).map_err(corrupt)?,
            _ => return Err(StoreError::Corrupt(format!("{} has no checkout_id", order_key(order)))),
        };
        self.get_checkout(&id).await
    }

    async fn update_checkout(&self, change: &CheckoutChange) -> Result<(), StoreError> {
        let update = checkout_update(&self.table, change)?;
        let result = self
            .client
            .update_item()
            .table_name(update.table_name())
            .set_key(Some(update.key().clone()))
            .update_expression(update.update_expression())
            .set_condition_expression(update.condition_expression().map(str::to_string))
            .set_expression_attribute_names(update.expression_attribute_names().cloned())
            .set_expression_attribute_values(update.expression_attribute_values().cloned())
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

    async fn create_attempt(
        &self,
        transfer: &TransferRecord,
        checkout: &CheckoutId,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(Self::to_item(transfer)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(corrupt)?;
        let attempt = AttributeValue::L(vec![AttributeValue::S(transfer.transaction_id.to_string())]);
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(checkout_key(checkout)))
            .update_expression(
                "SET attempts = list_append(if_not_exists(attempts, :none), :attempt), updated_at = :now, \
                 version = version + :one",
            )
            .condition_expression("version = :expected")
            .expression_attribute_values(":none", AttributeValue::L(Vec::new()))
            .expression_attribute_values(":attempt", attempt)
            .expression_attribute_values(":now", n(transfer.created_at))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":expected", n(expected_version))
            .build()
            .map_err(corrupt)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(update).build())
            .send()
            .await;
        result.map(|_| ()).map_err(new_item_and_condition)
    }

    async fn list_open_checkouts(&self, limit: usize) -> Result<Vec<CheckoutRecord>, StoreError> {
        let items = self
            .query_shards(OPEN_CHECKOUTS_INDEX, "checkout_shard = :shard", CHECKOUT_SHARDS, HashMap::new(), limit)
            .await?;
        let mut all = items.into_iter().map(checkout_from_item).collect::<Result<Vec<_>, _>>()?;
        all.sort_by(|a, b| a.expires_at_ms.cmp(&b.expires_at_ms).then_with(|| a.checkout_id.cmp(&b.checkout_id)));
        all.truncate(limit);
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::checkout::{CheckoutStatus, NewCheckout};
    use crate::domain::ids::UserId;
    use std::collections::BTreeMap;

    fn record() -> CheckoutRecord {
        let new = NewCheckout {
            order_id: OrderId::parse("order 1/2").unwrap(),
            shopper: UserId::parse("u").unwrap(),
            amount_in_fiat: "10.50".parse().unwrap(),
            currency: "USD".into(),
            assets: vec![],
            metadata: BTreeMap::new(),
            expires_in_ms: 60_000,
        };
        CheckoutRecord::open(CheckoutId::generate(), new, 5)
    }

    #[test]
    fn items_carry_the_open_shard_only_while_open_and_never_the_ttl_or_user_index_keys() {
        let mut r = record();
        let item = checkout_item(&r).unwrap();
        assert_eq!(item["pk"], AttributeValue::S(format!("CHECKOUT#{}", r.checkout_id)));
        assert_eq!(item["expires_at_ms"], AttributeValue::N("60005".into()));
        assert!(item.contains_key("checkout_shard"));
        assert!(!item.contains_key("expires_at") && !item.contains_key("user_id") && !item.contains_key("open_shard"));
        assert_eq!(checkout_from_item(item).unwrap(), r);
        r.status = CheckoutStatus::Paid;
        assert!(!checkout_item(&r).unwrap().contains_key("checkout_shard"));
    }
}
