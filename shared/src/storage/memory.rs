//! The store's contract in memory: the twin of the DynamoDB adapter for fast tests of code above the
//! store. The contract tests run both, so the two cannot drift apart.

use crate::domain::ids::{EventId, TransactionId, UserId};
use crate::domain::transfer::TransferRecord;
use crate::storage::{EventRecord, PageCursor, StatusUpdate, StoreError, TransferChange, TransferStore, parked_key};
use std::collections::HashMap;
use std::sync::Mutex;

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

    /// Everything the store holds, to compare before and after a call (tests and fuzz targets).
    #[cfg(feature = "testkit")]
    pub fn snapshot(&self) -> crate::storage::MemorySnapshot {
        crate::storage::MemorySnapshot {
            transfers: self.items().clone(),
            events: self.events().clone(),
            parked: self.parked(),
        }
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
            let (id, expected) = change.target();
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
                TransferChange::Conflict { conflict, .. } => {
                    record.conflict = Some(*conflict);
                    record.updated_at = conflict.flagged_at;
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
