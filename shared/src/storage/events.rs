//! Event records (`EVENT#<eventId>`, one per report, the deduplication record and the audit trail)
//! and parked bodies (`PARKED#<sha256>`, the exact bytes as a binary attribute) in DynamoDB. An event
//! is written together with the change it causes to its transfer, and to the checkout that transfer
//! pays, in one transaction.

use crate::domain::ids::EventId;
use crate::storage::checkouts::checkout_update;
use crate::storage::sdk::{n, unavailable};
use crate::storage::transfers::{FORWARD_ONLY, status_update_parts, transfer_key};
use crate::storage::{
    CheckoutChange, DynamoTransferStore, EVENT_RETENTION_SECS, EventRecord, StoreError, TransferChange, parked_key,
};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use std::collections::HashMap;

const EVENT_PREFIX: &str = "EVENT#";

fn event_key(id: &EventId) -> String {
    format!("{EVENT_PREFIX}{id}")
}

/// A transaction's idempotency token (at most 36 characters): one per (event, versions read), so a
/// re-planned attempt after a lost race is a new request.
fn request_token(event: &EventRecord, change: &TransferChange, checkout: Option<&CheckoutChange>) -> String {
    use sha2::Digest;
    let (_, version) = change.target();
    let checkout_version = checkout.map_or(0, |c| c.expected_version);
    let digest = sha2::Sha256::digest(format!("{}:{version}:{checkout_version}", event.event_id).as_bytes());
    digest.iter().take(18).map(|b| format!("{b:02x}")).collect()
}

/// Why a transaction was cancelled, one code per item in order ("None" for an item that was fine);
/// `None` when the failure was not a cancellation.
pub(super) fn cancellation_codes<R>(e: &SdkError<TransactWriteItemsError, R>) -> Option<Vec<String>> {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
            Some(c.cancellation_reasons().iter().map(|r| r.code().unwrap_or("None").to_string()).collect())
        }
        _ => None,
    }
}

impl DynamoTransferStore {
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
                let parts = status_update_parts(id, update)?;
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
            TransferChange::Conflict { id, expected_version, conflict } => {
                let flag =
                    serde_dynamo::to_attribute_value(conflict).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let b = Update::builder()
                    .update_expression("SET #conflict = :conflict, updated_at = :now, version = version + :one")
                    .condition_expression("version = :expected")
                    // CONFLICT is one of DynamoDB's reserved words.
                    .expression_attribute_names("#conflict", "conflict")
                    .expression_attribute_values(":conflict", flag)
                    .expression_attribute_values(":now", n(conflict.flagged_at))
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

    pub(super) async fn put_event(
        &self,
        event: &EventRecord,
        change: Option<&TransferChange>,
        checkout: Option<&CheckoutChange>,
    ) -> Result<(), StoreError> {
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
        let mut request = self
            .client
            .transact_write_items()
            // The same token on the SDK's own retries makes an attempt that timed out after committing
            // come back as success, not as a cancelled duplicate (DynamoDB keeps tokens 10 minutes).
            .client_request_token(request_token(event, change, checkout))
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(self.change_update(change)?).build());
        if let Some(checkout) = checkout {
            request = request
                .transact_items(TransactWriteItem::builder().update(checkout_update(&self.table, checkout)?).build());
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) => match cancellation_codes(&e) {
                Some(codes) => {
                    let failed = |i: usize| codes.get(i).is_some_and(|c| c == "ConditionalCheckFailed");
                    if failed(0) {
                        Err(StoreError::DuplicateEvent)
                    } else if failed(1) || failed(2) {
                        Err(StoreError::VersionConflict)
                    } else {
                        Err(StoreError::Unavailable(format!("transaction cancelled: {}", codes.join(", "))))
                    }
                }
                None => Err(unavailable(e)),
            },
        }
    }

    pub(super) async fn read_event(&self, id: &EventId, now_ms: i64) -> Result<Option<EventRecord>, StoreError> {
        let event: Option<EventRecord> = self
            .consistent_get(event_key(id))
            .await?
            .map(|item| serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()?;
        Ok(event.filter(|e| e.expires_at >= now_ms / 1000))
    }

    pub(super) async fn put_parked(&self, reason: &str, body: &[u8], now_ms: i64) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(parked_key(body)))
            .item("kind", AttributeValue::S("parked".into()))
            .item("reason", AttributeValue::S(reason.into()))
            // The exact bytes (a binary attribute): a signature can only be re-checked over those.
            .item("body", AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(body)))
            .item("received_at", n(now_ms))
            .item("expires_at", n(now_ms / 1000 + EVENT_RETENTION_SECS))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// A parked body's exact bytes, by its key (`parked_key`), for a human re-checking its signature.
    pub async fn parked_body(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(item) = self.consistent_get(key.to_string()).await? else { return Ok(None) };
        match item.get("body") {
            Some(AttributeValue::B(bytes)) => Ok(Some(bytes.clone().into_inner())),
            // Parked before bodies were binary: as it was stored, possibly with U+FFFD replacements.
            Some(AttributeValue::S(text)) => Ok(Some(text.clone().into_bytes())),
            _ => Err(StoreError::Corrupt(format!("{key} has no binary body"))),
        }
    }
}
