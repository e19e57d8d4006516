//! The store's contract in memory: the twin of the DynamoDB adapter for fast tests of code above the
//! store. The contract tests run both, so the two cannot drift apart.

use crate::domain::checkout::CheckoutRecord;
use crate::domain::ids::{CheckoutId, EventId, OrderId, TransactionId, UserId};
use crate::domain::transfer::{TransferRecord, TransferStatus};
use crate::storage::{
    CheckoutChange, CheckoutStore, EventRecord, PageCursor, StatusUpdate, StoreError, TransferChange, TransferStore,
    parked_key,
};
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
    checkouts: Mutex<Checkouts>,
}

#[derive(Default)]
struct Checkouts {
    by_id: HashMap<CheckoutId, CheckoutRecord>,
    by_order: HashMap<OrderId, CheckoutId>,
}

/// Applies a checkout change if it was computed from the version held (the DynamoDB condition).
fn apply_checkout(checkouts: &mut Checkouts, change: &CheckoutChange, dry_run: bool) -> Result<(), StoreError> {
    let current = checkouts.by_id.get_mut(&change.id).ok_or(StoreError::VersionConflict)?;
    if current.version != change.expected_version {
        return Err(StoreError::VersionConflict);
    }
    if !dry_run {
        *current = current.clone().with_state(change.state.clone(), change.now);
    }
    Ok(())
}

impl MemoryTransferStore {
    fn items(&self) -> std::sync::MutexGuard<'_, HashMap<TransactionId, TransferRecord>> {
        self.items.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn events(&self) -> std::sync::MutexGuard<'_, HashMap<EventId, EventRecord>> {
        self.events.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn checkouts(&self) -> std::sync::MutexGuard<'_, Checkouts> {
        self.checkouts.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
        let mut open: Vec<TransferRecord> =
            self.items().values().filter(|r| r.status.is_open() && r.created_at < created_before).cloned().collect();
        open.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.transaction_id.cmp(&b.transaction_id)));
        open.truncate(limit);
        Ok(open)
    }

    async fn record_event(
        &self,
        event: &EventRecord,
        change: Option<&TransferChange>,
        checkout: Option<&CheckoutChange>,
    ) -> Result<(), StoreError> {
        // Lock order: items, then events, then checkouts (the same everywhere).
        let mut items = self.items();
        let mut events = self.events();
        let mut checkouts = self.checkouts();
        if events.get(&event.event_id).is_some_and(|e| e.expires_at >= event.received_at / 1000) {
            return Err(StoreError::DuplicateEvent);
        }
        // All or nothing: the checkout's condition is checked before anything is written.
        if let Some(c) = checkout {
            apply_checkout(&mut checkouts, c, true)?;
        }
        if let Some(change) = change {
            let (id, expected) = change.target();
            let ok = items.get(id).is_some_and(|r| {
                r.version == expected
                    && match change {
                        TransferChange::Status { update, .. } => moves_forward(r, update),
                        _ => true,
                    }
            });
            if !ok {
                return Err(StoreError::VersionConflict);
            }
        }
        if let Some(change) = change {
            // Checked above: the record exists at the expected version and the change moves it forward.
            let record = items.get_mut(change.target().0).ok_or(StoreError::VersionConflict)?;
            match change {
                TransferChange::Status { update, .. } => apply_to(record, update),
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
        if let Some(c) = checkout {
            apply_checkout(&mut checkouts, c, false)?;
        }
        events.insert(event.event_id.clone(), event.clone());
        Ok(())
    }

    async fn abandon(&self, id: &TransactionId, expected_version: u64, now_ms: i64) -> Result<(), StoreError> {
        let mut items = self.items();
        match items.get_mut(id) {
            Some(r) if r.version == expected_version && r.status == TransferStatus::Created => {
                r.status = TransferStatus::Abandoned;
                r.updated_at = now_ms;
                r.version += 1;
                Ok(())
            }
            _ => Err(StoreError::VersionConflict),
        }
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

impl CheckoutStore for MemoryTransferStore {
    async fn open_checkout(&self, record: &CheckoutRecord, replacing: Option<&CheckoutId>) -> Result<(), StoreError> {
        let mut checkouts = self.checkouts();
        if checkouts.by_id.contains_key(&record.checkout_id) {
            return Err(StoreError::AlreadyExists);
        }
        if checkouts.by_order.get(&record.order_id) != replacing {
            return Err(StoreError::VersionConflict);
        }
        checkouts.by_order.insert(record.order_id.clone(), record.checkout_id.clone());
        checkouts.by_id.insert(record.checkout_id.clone(), record.clone());
        Ok(())
    }

    async fn get_checkout(&self, id: &CheckoutId) -> Result<Option<CheckoutRecord>, StoreError> {
        Ok(self.checkouts().by_id.get(id).cloned())
    }

    async fn checkout_for_order(&self, order: &OrderId) -> Result<Option<CheckoutRecord>, StoreError> {
        let checkouts = self.checkouts();
        Ok(checkouts.by_order.get(order).and_then(|id| checkouts.by_id.get(id)).cloned())
    }

    async fn update_checkout(&self, change: &CheckoutChange) -> Result<(), StoreError> {
        apply_checkout(&mut self.checkouts(), change, false)
    }

    async fn create_attempt(
        &self,
        transfer: &TransferRecord,
        checkout: &CheckoutId,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let mut items = self.items();
        let mut checkouts = self.checkouts();
        if items.contains_key(&transfer.transaction_id) {
            return Err(StoreError::AlreadyExists);
        }
        let c = checkouts.by_id.get_mut(checkout).ok_or(StoreError::VersionConflict)?;
        if c.version != expected_version {
            return Err(StoreError::VersionConflict);
        }
        c.attempts.push(transfer.transaction_id.clone());
        c.updated_at = transfer.created_at;
        c.version += 1;
        items.insert(transfer.transaction_id.clone(), transfer.clone());
        Ok(())
    }

    async fn list_open_checkouts(&self, limit: usize) -> Result<Vec<CheckoutRecord>, StoreError> {
        let mut open: Vec<CheckoutRecord> =
            self.checkouts().by_id.values().filter(|c| c.status.is_open()).cloned().collect();
        open.sort_by(|a, b| a.expires_at_ms.cmp(&b.expires_at_ms).then_with(|| a.checkout_id.cmp(&b.checkout_id)));
        open.truncate(limit);
        Ok(open)
    }
}
