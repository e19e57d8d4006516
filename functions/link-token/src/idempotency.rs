//! Idempotent POSTs (Powertools semantics): the first request with a key records `in_progress` until
//! the invocation's deadline, then `completed` with its answer. A retry with the same key and body
//! gets the stored answer; the same key with another body is refused; a concurrent duplicate is told
//! to retry; a crashed attempt's lock lapses at its deadline. Keys are scoped to function and user.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use sha2::{Digest, Sha256};
use shared::storage::{StoreError, n, unavailable};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

const PREFIX: &str = "IDEMPOTENCY#";

/// How a request with an idempotency key may proceed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// First time (or the old record expired, or its holder died): go ahead, then `complete`.
    Started,
    /// Done before with the same body: answer this.
    Replay(String),
    /// Another request with this key is running now.
    InProgress,
    /// This key was used with a different body.
    PayloadMismatch,
}

/// The record's key: a hash of who asked, for which function, with which client key (I7).
pub fn scoped_key(function: &str, user: &str, client_key: &str) -> String {
    hex(&Sha256::digest(format!("{function}\n{user}\n{client_key}").as_bytes()))
}

/// A hash of the request's meaningful content (I6).
pub fn payload_hash(canonical: &[u8]) -> String {
    hex(&Sha256::digest(canonical))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub now_ms: i64,
    /// The invocation's deadline: past it, an `in_progress` record no longer blocks.
    pub in_progress_until_ms: i64,
    /// Epoch seconds after which the record no longer counts (and TTL may delete it).
    pub expires_at_s: i64,
}

pub trait IdempotencyStore: Send + Sync {
    fn begin(&self, key: &str, payload: &str, window: Window)
    -> impl Future<Output = Result<Begin, StoreError>> + Send;
    fn complete(&self, key: &str, response: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Forgets a record whose request failed in a handled way, so a retry runs again.
    fn abandon(&self, key: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    payload: String,
    completed: Option<String>,
    in_progress_until_ms: i64,
    expires_at_s: i64,
}

fn judge(old: &Record, payload: &str, w: Window) -> Option<Begin> {
    if old.expires_at_s < w.now_ms / 1000 {
        return None;
    }
    if old.payload != payload {
        return Some(Begin::PayloadMismatch);
    }
    match &old.completed {
        Some(response) => Some(Begin::Replay(response.clone())),
        None if old.in_progress_until_ms >= w.now_ms => Some(Begin::InProgress),
        None => None,
    }
}

pub struct DynamoIdempotencyStore {
    client: Client,
    table: String,
}

impl DynamoIdempotencyStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn read(item: &HashMap<String, AttributeValue>) -> Option<Record> {
    let num = |k: &str| item.get(k).and_then(|v| v.as_n().ok()).and_then(|v| v.parse::<i64>().ok());
    Some(Record {
        payload: item.get("payload_hash")?.as_s().ok()?.clone(),
        completed: match item.get("state")?.as_s().ok()?.as_str() {
            "completed" => Some(item.get("response")?.as_s().ok()?.clone()),
            _ => None,
        },
        in_progress_until_ms: num("in_progress_until")?,
        expires_at_s: num("expires_at")?,
    })
}

impl IdempotencyStore for DynamoIdempotencyStore {
    async fn begin(&self, key: &str, payload: &str, w: Window) -> Result<Begin, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&format!("{PREFIX}{key}")))
            .item("kind", s("idempotency"))
            .item("state", s("in_progress"))
            .item("payload_hash", s(payload))
            .item("in_progress_until", n(w.in_progress_until_ms))
            .item("expires_at", n(w.expires_at_s))
            .condition_expression(
                "attribute_not_exists(pk) OR expires_at < :now_s OR (#state = :in_progress AND in_progress_until < :now_ms)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":now_s", n(w.now_ms / 1000))
            .expression_attribute_values(":now_ms", n(w.now_ms))
            .expression_attribute_values(":in_progress", s("in_progress"))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Begin::Started),
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c)) => {
                    let old = c
                        .item
                        .as_ref()
                        .and_then(read)
                        .ok_or_else(|| StoreError::Corrupt("idempotency record".into()))?;
                    // The condition failed, so the record blocks: in progress, replayable, or mismatched.
                    Ok(judge(&old, payload, w).unwrap_or(Begin::InProgress))
                }
                _ => Err(unavailable(e)),
            },
        }
    }

    async fn complete(&self, key: &str, response: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&format!("{PREFIX}{key}")))
            .update_expression("SET #state = :completed, #response = :response")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#response", "response")
            .expression_attribute_values(":completed", s("completed"))
            .expression_attribute_values(":response", s(response))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn abandon(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(&format!("{PREFIX}{key}")))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}

/// The same contract in memory.
#[derive(Default)]
pub struct MemoryIdempotencyStore {
    records: Mutex<HashMap<String, Record>>,
}

impl IdempotencyStore for MemoryIdempotencyStore {
    async fn begin(&self, key: &str, payload: &str, w: Window) -> Result<Begin, StoreError> {
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(verdict) = records.get(key).and_then(|old| judge(old, payload, w)) {
            return Ok(verdict);
        }
        records.insert(
            key.to_string(),
            Record {
                payload: payload.to_string(),
                completed: None,
                in_progress_until_ms: w.in_progress_until_ms,
                expires_at_s: w.expires_at_s,
            },
        );
        Ok(Begin::Started)
    }

    async fn complete(&self, key: &str, response: &str) -> Result<(), StoreError> {
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        let record = records.get_mut(key).ok_or(StoreError::NotFound)?;
        record.completed = Some(response.to_string());
        Ok(())
    }

    async fn abandon(&self, key: &str) -> Result<(), StoreError> {
        self.records.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_scoped_to_function_and_user() {
        let a = scoped_key("link-token", "alice", "k1");
        assert_eq!(a, scoped_key("link-token", "alice", "k1"));
        assert_ne!(a, scoped_key("link-token", "bob", "k1"));
        assert_ne!(a, scoped_key("other", "alice", "k1"));
        assert_eq!(a.len(), 64);
    }
}
