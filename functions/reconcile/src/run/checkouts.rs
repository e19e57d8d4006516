//! The checkout sweep: each open checkout (soonest to expire first, at most
//! `RECONCILE_MAX_OPEN_CHECKOUTS`) is priced when a payment lacks Mesh's fiat value, or expired when
//! its time is up and Mesh, asked about every attempt not yet terminal, knows none of them. What Mesh
//! does know goes through the ingest path like any other report, and settles the checkout there.

use super::{Run, Stop};
use crate::lease::LeaseStore;
use crate::sweep::{CheckoutTask, checkout_task, expiry_lookups};
use shared::domain::checkout::{CheckoutRecord, CheckoutStatus, close};
use shared::domain::time::now_millis;
use shared::ingest::count_settlement;
use shared::runtime::secrets::SecretSource;
use shared::storage::{CheckoutChange, CheckoutStore, StoreError, TransferStore};

impl<T: TransferStore + CheckoutStore, L: LeaseStore, S: SecretSource> Run<'_, '_, T, L, S> {
    pub(super) async fn sweep_checkouts(&mut self) -> Result<(), Stop> {
        let checkouts = self.r.store.list_open_checkouts(self.r.settings.max_open_checkouts).await?;
        self.summary.open_checkouts = checkouts.len() as u64;
        for checkout in checkouts {
            self.ensure_time()?;
            match checkout_task(&checkout, now_millis()) {
                CheckoutTask::Wait => {}
                CheckoutTask::Price(succeeded) => {
                    for id in &succeeded {
                        self.ensure_time()?;
                        self.lookup(id).await?;
                    }
                }
                CheckoutTask::Expire => self.expire_if_unknown(checkout).await?,
            }
        }
        Ok(())
    }

    /// Asks Mesh about each attempt not yet terminal (unless this run already has); what Mesh knows
    /// is ingested and may move the checkout, so only when it knows none does the checkout expire.
    async fn expire_if_unknown(&mut self, checkout: CheckoutRecord) -> Result<(), Stop> {
        let mut attempts = Vec::with_capacity(checkout.attempts.len());
        for id in &checkout.attempts {
            attempts.extend(self.r.store.get(id).await?);
        }
        let Some(ask) = expiry_lookups(&checkout, &attempts, now_millis(), self.r.settings.grace) else {
            return Ok(());
        };
        let ask: Vec<_> = ask.into_iter().filter(|id| !self.unknown_at_mesh.contains(id)).collect();
        for id in &ask {
            self.ensure_time()?;
            if self.lookup(id).await? {
                return Ok(());
            }
        }
        self.expire(checkout).await
    }

    /// Closes `checkout` as expired; if it moved since read, re-reads it once and tries again, unless
    /// it took an attempt this run did not ask Mesh about.
    async fn expire(&mut self, mut checkout: CheckoutRecord) -> Result<(), Stop> {
        for read in 0..2 {
            let now = now_millis();
            let Some(state) = close(&checkout, CheckoutStatus::Expired, now) else { return Ok(()) };
            let change =
                CheckoutChange { id: checkout.checkout_id.clone(), expected_version: checkout.version, state, now };
            match self.r.store.update_checkout(&change).await {
                Ok(()) => {
                    self.summary.checkouts_expired += 1;
                    count_settlement(&checkout, &change);
                    return Ok(());
                }
                Err(StoreError::VersionConflict) if read == 0 => {
                    match self.r.store.get_checkout(&checkout.checkout_id).await? {
                        Some(fresh) if fresh.attempts == checkout.attempts => checkout = fresh,
                        _ => return Ok(()),
                    }
                }
                Err(StoreError::VersionConflict) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}
