//! Test support (feature `testkit`): everything the in-memory store holds at one moment, and the rule
//! for what one report may change between two such moments. The ingest properties and the fuzz
//! targets assert the same rule, so "forward only, terminal is final, each event id once" is written
//! down once.

use crate::domain::ids::{EventId, TransactionId};
use crate::domain::report::Outcome;
use crate::domain::transfer::{RefundStatus, TransferRecord};
use crate::storage::EventRecord;
use std::collections::HashMap;

/// The whole content of a `MemoryTransferStore` (see `MemoryTransferStore::snapshot`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemorySnapshot {
    pub transfers: HashMap<TransactionId, TransferRecord>,
    pub events: HashMap<EventId, EventRecord>,
    /// Parked bodies' keys (`parked_key`) and the reason each was parked.
    pub parked: HashMap<String, String>,
}

fn refund_rank(refund: Option<RefundStatus>) -> u8 {
    match refund {
        None => 0,
        Some(RefundStatus::Pending) => 1,
        Some(RefundStatus::Succeeded) => 2,
    }
}

impl MemorySnapshot {
    /// Checks that going from `self` to `after` is what one report with `event_id` (`None` for a
    /// body too broken to name one) and `outcome` may do:
    /// - no transfer appears or disappears, and none changes who it belongs to or what was offered;
    /// - a terminal status never changes; the rank and the refund track never go back;
    /// - a change bumps the version by exactly one, and only `applied`, `refreshed`, `refunded` and
    ///   `conflict` change a transfer (exactly one); the last two never its status, and a conflict
    ///   leaves its flag;
    /// - an event id applies once: one recorded before comes back as `duplicate` and changes nothing,
    ///   and every other named report leaves exactly its own event record;
    /// - parked bodies are only ever added, and only by a `parked` outcome.
    pub fn check_step(&self, after: &Self, event_id: Option<&EventId>, outcome: Outcome) -> Result<(), String> {
        let mut changed = Vec::new();
        if self.transfers.len() != after.transfers.len() {
            return Err(format!(
                "{outcome:?}: transfers went from {} to {}",
                self.transfers.len(),
                after.transfers.len()
            ));
        }
        for (id, old) in &self.transfers {
            let new = after.transfers.get(id).ok_or_else(|| format!("{outcome:?}: transfer {id} disappeared"))?;
            if new.version == old.version {
                if new != old {
                    return Err(format!("{outcome:?}: {id} changed without a version bump: {old:?} -> {new:?}"));
                }
                continue;
            }
            changed.push(id);
            let same_identity = (&new.user_id, new.created_at, &new.offered, new.expected_amount_fiat, &new.order_id)
                == (&old.user_id, old.created_at, &old.offered, old.expected_amount_fiat, &old.order_id);
            if new.version != old.version + 1 || !same_identity {
                return Err(format!("{outcome:?}: {id} changed more than one report may: {old:?} -> {new:?}"));
            }
            if new.status.rank() < old.status.rank() || (old.status.is_terminal() && new.status != old.status) {
                return Err(format!("{outcome:?}: {id} went from {:?} to {:?}", old.status, new.status));
            }
            if refund_rank(new.refund) < refund_rank(old.refund) {
                return Err(format!("{outcome:?}: {id}'s refund went from {:?} to {:?}", old.refund, new.refund));
            }
            let keeps_status = matches!(outcome, Outcome::Refunded | Outcome::Conflict);
            if keeps_status && new.status != old.status {
                return Err(format!("{outcome:?}: {id} went from {:?} to {:?}", old.status, new.status));
            }
            if outcome == Outcome::Conflict && new.conflict.is_none() {
                return Err(format!("a conflict left no flag on {id}"));
            }
        }
        let may_change =
            matches!(outcome, Outcome::Applied | Outcome::Refreshed | Outcome::Refunded | Outcome::Conflict);
        if changed.len() != usize::from(may_change) {
            return Err(format!("{outcome:?} changed {} transfers: {changed:?}", changed.len()));
        }

        if outcome == Outcome::Duplicate {
            let known = event_id.is_some_and(|id| self.events.contains_key(id));
            return if known && after == self {
                Ok(())
            } else {
                Err(format!("duplicate of {event_id:?}: known before = {known}, store changed = {}", after != self))
            };
        }
        match event_id {
            Some(id) if self.events.contains_key(id) => {
                return Err(format!("event {id} was recorded before, yet came back as {outcome:?}"));
            }
            Some(id) => {
                let recorded = after.events.get(id).map(|e| e.outcome);
                let others_kept = after.events.len() == self.events.len() + 1
                    && self.events.iter().all(|(k, v)| after.events.get(k) == Some(v));
                if recorded != Some(outcome) || !others_kept {
                    return Err(format!(
                        "event {id} ({outcome:?}) recorded as {recorded:?}; others kept = {others_kept}"
                    ));
                }
            }
            None if outcome != Outcome::Parked || after.events != self.events => {
                return Err(format!("a report without an event id ended {outcome:?} and touched the events"));
            }
            None => {}
        }

        let parked_kept = self.parked.iter().all(|(k, v)| after.parked.get(k) == Some(v));
        if !parked_kept || (outcome != Outcome::Parked && after.parked != self.parked) {
            return Err(format!("{outcome:?} changed the parked bodies"));
        }
        Ok(())
    }
}
