//! One Mesh transfer against our record: nothing to write when they agree, otherwise the shared
//! ingest path, with the outcome counted in the summary and logged.

use super::{Run, Stop};
use crate::lease::LeaseStore;
use crate::plan::{agrees, prices, report_from};
use shared::domain::checkout::ReviewFlag;
use shared::domain::ids::TransactionId;
use shared::domain::report::Outcome;
use shared::domain::transfer::{Mismatch, TransferStatus};
use shared::ingest::ingest;
use shared::mesh::TransferModel;
use shared::runtime::secrets::SecretSource;
use shared::storage::{CheckoutStore, TransferChange, TransferStore};

impl<T: TransferStore + CheckoutStore, L: LeaseStore, S: SecretSource> Run<'_, '_, T, L, S> {
    /// Compares one Mesh transfer with our record and, unless they agree, ingests what Mesh says.
    pub(super) async fn apply(&mut self, model: &TransferModel) -> Result<(), Stop> {
        self.observe(model);
        let Some((report, raw_status)) = report_from(model) else {
            tracing::warn!("a Mesh transfer with an unusable id was skipped");
            return Ok(());
        };
        self.summary.checked += 1;
        let ours = match &report.transaction_id {
            Some(id) => match self.open.get(id) {
                Some(r) => Some(r.clone()),
                None => self.r.store.get(id).await?,
            },
            None => None,
        };
        if ours.as_ref().is_some_and(|r| agrees(r, &report)) {
            return Ok(());
        }
        let previous = ours.as_ref().map(|r| r.status);
        let plan = ingest(self.r.store, &report, &raw_status, shared::domain::time::now_millis()).await?;
        let settled = plan
            .checkout
            .as_ref()
            .is_some_and(|c| c.state.status.is_settled() && !c.state.flags.contains(&ReviewFlag::Unpriced));
        if settled && plan.outcome == Outcome::Refreshed && ours.as_ref().is_some_and(|r| prices(r, &report)) {
            self.summary.checkouts_priced += 1;
            tracing::info!(transaction_id = ?report.transaction_id.as_ref().map(TransactionId::as_str), "a checkout's payment was valued from Mesh's fiat figure");
        }
        let ids = (report.transfer_id.as_str(), report.transaction_id.as_ref().map(TransactionId::as_str));
        match plan.outcome {
            Outcome::Applied | Outcome::Refreshed | Outcome::Refunded => {
                self.summary.repaired += 1;
                tracing::warn!(
                    transfer_id = ids.0,
                    transaction_id = ids.1,
                    from = previous.map(TransferStatus::as_str),
                    reported = %raw_status,
                    outcome = plan.outcome.as_str(),
                    "reconcile repaired a transfer: its webhook was missed or refused"
                );
                if let Some(TransferChange::Status { id, update, .. }) = &plan.change {
                    if update.status.is_terminal() {
                        self.open.remove(id);
                    } else if let Some(r) = self.open.get_mut(id) {
                        r.status = update.status;
                    }
                }
            }
            Outcome::Orphan => {
                self.summary.unknown_to_us += 1;
                tracing::warn!(transfer_id = ids.0, client_transaction_id = ?model.client_transaction_id, "a Mesh transfer unknown to us was recorded");
            }
            Outcome::Duplicate if plan.event.outcome == Outcome::Orphan => self.summary.unknown_to_us += 1,
            Outcome::Conflict | Outcome::Regression => {
                self.summary.conflicts += 1;
                tracing::warn!(transfer_id = ids.0, transaction_id = ids.1, reported = %raw_status, from = previous.map(TransferStatus::as_str), "Mesh contradicts our record; recorded, not applied");
            }
            Outcome::Parked => {
                self.summary.unknown_statuses += 1;
                tracing::warn!(transfer_id = ids.0, reported = %raw_status, "a status this code does not know was recorded");
            }
            Outcome::Duplicate | Outcome::Stale => {}
        }
        if plan.outcome != Outcome::Duplicate {
            let amount = plan.event.mismatches.iter().any(|m| matches!(m, Mismatch::Underpaid | Mismatch::Overpaid));
            let other = plan.event.mismatches.iter().any(|m| !matches!(m, Mismatch::Underpaid | Mismatch::Overpaid));
            self.summary.amount_mismatches += u64::from(amount);
            self.summary.other_mismatches += u64::from(other);
            if amount || other {
                tracing::warn!(transfer_id = ids.0, transaction_id = ids.1, mismatches = ?plan.event.mismatches, "what arrived differs from what was offered");
            }
        }
        Ok(())
    }
}
