//! The listing checked against itself. Its `FromTimestamp`/`ToTimestamp` must be in the unit of its
//! `createdTimestamp`, learnt from every transfer Mesh returns; and a listing that says "nothing" (a
//! count of zero, an empty window) while an open transfer of ours lies inside it is believed only once
//! a lookup of that transfer finds nothing either. Otherwise a unit mismatch would make every run
//! complete "successfully", repairing nothing, forever.

use super::{Run, Stop};
use crate::lease::{LeaseStore, WindowCursor};
use crate::plan::{TimestampUnit, ms};
use shared::domain::ids::TransactionId;
use shared::mesh::TransferModel;
use shared::runtime::secrets::SecretSource;
use shared::storage::{CheckoutStore, TransferStore};

impl<T: TransferStore + CheckoutStore, L: LeaseStore, S: SecretSource> Run<'_, '_, T, L, S> {
    /// Learns the unit from a transfer Mesh returned; it is saved with the next checkpoint.
    pub(super) fn observe(&mut self, model: &TransferModel) {
        let Some(created) = model.created_timestamp else { return };
        let seen = TimestampUnit::of(created);
        if seen != self.unit {
            tracing::warn!(sent = ?self.unit, seen = ?seen, "Mesh's timestamps are not in the unit sent; switching");
        }
        self.unit = seen;
        self.checkpoint.timestamp_unit = Some(seen);
        self.summary.timestamp_unit = Some(seen);
    }

    /// The listing said there is nothing where `sample`, an open transfer of ours, lies: one lookup
    /// decides. `true` when Mesh does know it, so the listing is not to be believed.
    pub(super) async fn contradicts(&mut self, sample: &TransactionId) -> Result<bool, Stop> {
        self.ensure_time()?;
        let found = self.lookup(sample).await?;
        if found {
            self.summary.listing_contradicted += 1;
            tracing::warn!(
                transaction_id = %sample,
                unit = ?self.unit,
                "Mesh's listing showed nothing where a lookup finds a transfer; the listing is not believed"
            );
        } else {
            self.listing_confirmed = true;
        }
        Ok(found)
    }

    /// Open transfers of ours created inside `window` (its clock-skew allowance included), oldest first.
    pub(super) fn open_inside(&self, window: &WindowCursor) -> Vec<TransactionId> {
        let from = window.from_ms - ms(self.r.settings.clock_skew);
        let mut inside: Vec<_> = self
            .open
            .values()
            .filter(|r| (from..=window.to_ms).contains(&r.created_at))
            .map(|r| (r.created_at, r.transaction_id.clone()))
            .collect();
        inside.sort();
        inside.into_iter().map(|(_, id)| id).collect()
    }

    /// After a window listed nothing: unless a lookup confirms it, page it again in the unit just
    /// learnt, or look every open transfer inside it up when the unit was not the problem.
    pub(super) async fn check_empty_window(
        &mut self,
        window: WindowCursor,
        paged_in: TimestampUnit,
    ) -> Result<(), Stop> {
        if self.listed > 0 || self.listing_confirmed {
            return Ok(());
        }
        let inside = self.open_inside(&window);
        let Some(sample) = inside.first().cloned() else { return Ok(()) };
        if !self.contradicts(&sample).await? {
            return Ok(());
        }
        if self.unit != paged_in {
            return self.page(WindowCursor { offset: 0, ..window }).await;
        }
        for id in inside.iter().skip(1) {
            self.ensure_time()?;
            self.lookup(id).await?;
        }
        Ok(())
    }
}
