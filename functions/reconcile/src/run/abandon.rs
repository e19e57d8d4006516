//! Abandoned attempts: open transfers still `created` whose link token lapsed and that Mesh, looked up
//! by `ClientTransactionId`, does not know. They leave the open set, so it follows what may still
//! happen, not the history. Each is looked up once (unless this run already did), whatever the plan
//! paged: a window can miss a transfer Mesh dated past its end.

use super::{Run, Stop};
use crate::lease::LeaseStore;
use crate::sweep::abandon_candidates;
use shared::runtime::secrets::SecretSource;
use shared::storage::{CheckoutStore, StoreError, TransferStore};

impl<T: TransferStore + CheckoutStore, L: LeaseStore, S: SecretSource> Run<'_, '_, T, L, S> {
    pub(super) async fn abandon_lapsed(&mut self) -> Result<(), Stop> {
        let now = shared::domain::time::now_millis();
        for (id, version) in abandon_candidates(self.open.values(), now, self.r.settings.grace) {
            if !self.unknown_at_mesh.contains(&id) {
                self.ensure_time()?;
                if self.lookup(&id).await? {
                    continue;
                }
            }
            match self.r.store.abandon(&id, version, shared::domain::time::now_millis()).await {
                Ok(()) => {
                    self.open.remove(&id);
                    self.summary.abandoned += 1;
                    tracing::info!(transaction_id = %id, "abandoned: its link token lapsed and Mesh knows no transfer for it");
                }
                // It moved since it was read (a webhook arrived): it is not abandoned.
                Err(StoreError::VersionConflict) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}
