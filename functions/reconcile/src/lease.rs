//! One reconciliation run at a time, and where the last run stopped: a lease with an expiry and a
//! checkpoint, two items in the transfers table (`LEASE#<name>`, `CHECKPOINT#<name>`), each written
//! by one conditional write. A DynamoDB adapter and an in-memory twin share one contract
//! (`tests/lease_contract.rs` runs it against both).
//!
//! - The lease is granted when it is free or expired; every grant bumps its `fence`. The holder keeps
//!   it until it releases it or `lease_until` passes, so a crashed run blocks the next one only until
//!   then. Expiry is checked in code; neither item carries the TTL attribute, because deleting the
//!   lease would reset the fence and deleting the checkpoint would lose the scan position.
//! - A checkpoint is written with the writer's fence and refused if a later holder has written one:
//!   a run that outlived its lease cannot move the checkpoint back.

use crate::plan::TimestampUnit;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use serde::{Deserialize, Serialize};
use shared::storage::n;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

const LEASE_PREFIX: &str = "LEASE#";
const CHECKPOINT_PREFIX: &str = "CHECKPOINT#";

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// A later holder has taken the lease (or written the checkpoint) since ours was granted.
    #[error("the lease was taken over by a later run")]
    Lost,
    #[error("DynamoDB is unavailable: {0}")]
    Unavailable(String),
    #[error("a stored lease or checkpoint could not be read: {0}")]
    Corrupt(String),
}

/// A granted lease. `fence` grows with every grant: it orders holders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub holder: String,
    pub fence: u64,
    /// Unix ms after which anyone may take the lease.
    pub until_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquired {
    Granted(Lease),
    /// Someone else holds an unexpired lease.
    Held {
        holder: String,
        until_ms: i64,
    },
}

/// A created-time window of Mesh's transfer listing being paged, and the offset of the next page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowCursor {
    /// Unix ms, inclusive.
    pub from_ms: i64,
    /// Unix ms, inclusive.
    pub to_ms: i64,
    pub offset: u32,
}

/// Where reconciliation stands between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Every Mesh transfer created up to this time (Unix ms) was seen by a finished window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scanned_until: Option<i64>,
    /// A window that a run left unfinished (deadline, page cap, failure): the next run ends it first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unfinished: Option<WindowCursor>,
    /// The unit Mesh's listing was last seen to use (`None`: not seen yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_unit: Option<TimestampUnit>,
}

/// The lease and checkpoint of one named job.
pub trait LeaseStore: Send + Sync {
    /// Grants the lease to `holder` until `until_ms` if it is free or expired at `now_ms`.
    fn acquire(
        &self,
        holder: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> impl Future<Output = Result<Acquired, LeaseError>> + Send;
    /// Frees the lease now; `Lost` if it is no longer this one.
    fn release(&self, lease: &Lease) -> impl Future<Output = Result<(), LeaseError>> + Send;
    /// The saved checkpoint, or the empty one.
    fn load_checkpoint(&self) -> impl Future<Output = Result<Checkpoint, LeaseError>> + Send;
    /// Saves the checkpoint under the lease's fence; `Lost` if a later holder has saved one.
    fn save_checkpoint(
        &self,
        lease: &Lease,
        checkpoint: &Checkpoint,
        now_ms: i64,
    ) -> impl Future<Output = Result<(), LeaseError>> + Send;
}

// ---- DynamoDB ----

pub struct DynamoLeaseStore {
    client: Client,
    table: String,
    lease_key: String,
    checkpoint_key: String,
}

impl DynamoLeaseStore {
    /// The lease and checkpoint of job `name` (e.g. `reconcile`) in the transfers table.
    pub fn new(client: Client, table: impl Into<String>, name: &str) -> Self {
        Self {
            client,
            table: table.into(),
            lease_key: format!("{LEASE_PREFIX}{name}"),
            checkpoint_key: format!("{CHECKPOINT_PREFIX}{name}"),
        }
    }
}

fn unavailable<E, R>(err: SdkError<E, R>) -> LeaseError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    LeaseError::Unavailable(shared::storage::sdk_error_detail(&err))
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Result<i64, LeaseError> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().map_err(|_| LeaseError::Corrupt(format!("{name} is not an integer"))),
        _ => Err(LeaseError::Corrupt(format!("{name} is missing"))),
    }
}

fn string(item: &HashMap<String, AttributeValue>, name: &str) -> String {
    match item.get(name) {
        Some(AttributeValue::S(v)) => v.clone(),
        _ => String::new(),
    }
}

impl LeaseStore for DynamoLeaseStore {
    async fn acquire(&self, holder: &str, now_ms: i64, until_ms: i64) -> Result<Acquired, LeaseError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(self.lease_key.clone()))
            .update_expression("SET #holder = :holder, #until = :until, #kind = :kind ADD #fence :one")
            .condition_expression("attribute_not_exists(pk) OR #until <= :now")
            .expression_attribute_names("#holder", "holder")
            .expression_attribute_names("#until", "lease_until")
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_names("#fence", "fence")
            .expression_attribute_values(":holder", AttributeValue::S(holder.to_string()))
            .expression_attribute_values(":until", n(until_ms))
            .expression_attribute_values(":kind", AttributeValue::S("lease".into()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now_ms))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                let item = out.attributes.unwrap_or_default();
                let fence =
                    u64::try_from(number(&item, "fence")?).map_err(|_| LeaseError::Corrupt("negative fence".into()))?;
                Ok(Acquired::Granted(Lease { holder: holder.to_string(), fence, until_ms }))
            }
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(c)) => {
                    let old = c.item.clone().unwrap_or_default();
                    Ok(Acquired::Held {
                        holder: string(&old, "holder"),
                        until_ms: number(&old, "lease_until").unwrap_or(0),
                    })
                }
                _ => Err(unavailable(e)),
            },
        }
    }

    async fn release(&self, lease: &Lease) -> Result<(), LeaseError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(self.lease_key.clone()))
            .update_expression("SET #until = :zero REMOVE #holder")
            .condition_expression("#holder = :holder AND #fence = :fence")
            .expression_attribute_names("#holder", "holder")
            .expression_attribute_names("#until", "lease_until")
            .expression_attribute_names("#fence", "fence")
            .expression_attribute_values(":holder", AttributeValue::S(lease.holder.clone()))
            .expression_attribute_values(":fence", n(lease.fence))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                Err(LeaseError::Lost)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn load_checkpoint(&self) -> Result<Checkpoint, LeaseError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(self.checkpoint_key.clone()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        match out.item {
            None => Ok(Checkpoint::default()),
            Some(item) => serde_dynamo::from_item(item).map_err(|e| LeaseError::Corrupt(e.to_string())),
        }
    }

    async fn save_checkpoint(&self, lease: &Lease, checkpoint: &Checkpoint, now_ms: i64) -> Result<(), LeaseError> {
        let mut item: HashMap<String, AttributeValue> =
            serde_dynamo::to_item(checkpoint).map_err(|e| LeaseError::Corrupt(e.to_string()))?;
        item.insert("pk".into(), AttributeValue::S(self.checkpoint_key.clone()));
        item.insert("kind".into(), AttributeValue::S("checkpoint".into()));
        item.insert("fence".into(), n(lease.fence));
        item.insert("updated_at".into(), n(now_ms));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR #fence <= :fence")
            .expression_attribute_names("#fence", "fence")
            .expression_attribute_values(":fence", n(lease.fence))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                Err(LeaseError::Lost)
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}

// ---- In memory ----

#[derive(Default)]
struct MemoryState {
    holder: Option<String>,
    until_ms: i64,
    fence: u64,
    checkpoint: Option<(u64, Checkpoint)>,
}

/// The same contract in memory, for tests of code above the lease.
#[derive(Default)]
pub struct MemoryLeaseStore {
    state: Mutex<MemoryState>,
}

impl MemoryLeaseStore {
    fn state(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl LeaseStore for MemoryLeaseStore {
    async fn acquire(&self, holder: &str, now_ms: i64, until_ms: i64) -> Result<Acquired, LeaseError> {
        let mut s = self.state();
        if s.fence > 0 && s.until_ms > now_ms {
            return Ok(Acquired::Held { holder: s.holder.clone().unwrap_or_default(), until_ms: s.until_ms });
        }
        s.fence += 1;
        s.holder = Some(holder.to_string());
        s.until_ms = until_ms;
        Ok(Acquired::Granted(Lease { holder: holder.to_string(), fence: s.fence, until_ms }))
    }

    async fn release(&self, lease: &Lease) -> Result<(), LeaseError> {
        let mut s = self.state();
        if s.holder.as_deref() != Some(lease.holder.as_str()) || s.fence != lease.fence {
            return Err(LeaseError::Lost);
        }
        s.holder = None;
        s.until_ms = 0;
        Ok(())
    }

    async fn load_checkpoint(&self) -> Result<Checkpoint, LeaseError> {
        Ok(self.state().checkpoint.as_ref().map(|(_, c)| c.clone()).unwrap_or_default())
    }

    async fn save_checkpoint(&self, lease: &Lease, checkpoint: &Checkpoint, _now_ms: i64) -> Result<(), LeaseError> {
        let mut s = self.state();
        if s.checkpoint.as_ref().is_some_and(|(fence, _)| *fence > lease.fence) {
            return Err(LeaseError::Lost);
        }
        s.checkpoint = Some((lease.fence, checkpoint.clone()));
        Ok(())
    }
}
