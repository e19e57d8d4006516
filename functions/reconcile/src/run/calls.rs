//! The run's calls to Mesh: each with a deadline, capped jittered retries within the run's budget,
//! and one re-read of the secret after a 401.

use super::{CallError, ReconcileError, Run, Stop};
use crate::lease::{LeaseStore, WindowCursor};
use crate::plan::window_query;
use crate::retry::backoff_delay;
use shared::domain::ids::TransactionId;
use shared::mesh::{MeshError, TransferQuery};
use shared::runtime::secrets::SecretSource;
use shared::storage::{CheckoutStore, TransferStore};
use tokio::time::Instant;

impl<T: TransferStore + CheckoutStore, L: LeaseStore, S: SecretSource> Run<'_, '_, T, L, S> {
    /// Calls to Mesh end by then, leaving time to checkpoint and release the lease.
    pub(super) fn call_deadline(&self) -> Instant {
        Instant::now() + self.deadline.remaining().saturating_sub(self.r.settings.deadline_margin / 2)
    }

    /// One Mesh call with capped, jittered, budgeted retries of what is worth retrying.
    pub(super) async fn retrying<R>(
        &mut self,
        mut call: impl AsyncFnMut() -> Result<R, MeshError>,
    ) -> Result<R, CallError> {
        let policy = self.r.settings.retry;
        let call_deadline = self.call_deadline();
        let mut attempt: u32 = 0;
        loop {
            self.summary.mesh_calls += 1;
            attempt += 1;
            let error = match tokio::time::timeout_at(call_deadline, call()).await {
                Err(_) => return Err(CallError::Stop(Stop::Deadline)),
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(MeshError::Unauthorized)) => return Err(CallError::Unauthorized),
                Ok(Err(e)) => e,
            };
            if !error.is_retryable() || attempt >= policy.max_attempts {
                return Err(CallError::Stop(Stop::Fail(ReconcileError::Mesh(error))));
            }
            if self.retries_left == 0 {
                return Err(CallError::Stop(Stop::Fail(ReconcileError::RetryBudgetSpent(error))));
            }
            let delay = backoff_delay(&policy, attempt - 1, error.retry_after(), fastrand::f64());
            if Instant::now() + delay >= call_deadline {
                return Err(CallError::Stop(Stop::Deadline));
            }
            tracing::warn!(error = %error, attempt, delay_ms = delay.as_millis() as u64, "Mesh call failed; retrying");
            self.retries_left -= 1;
            self.summary.mesh_retries += 1;
            tokio::time::sleep(delay).await;
        }
    }

    /// After a 401: the secret may have been rotated. Re-read it once; a second 401 fails the run.
    pub(super) async fn refresh_credentials(&mut self) -> Result<(), Stop> {
        if self.refreshed {
            return Err(Stop::Fail(ReconcileError::Mesh(MeshError::Unauthorized)));
        }
        self.refreshed = true;
        tracing::warn!("Mesh answered 401; re-reading the Mesh secret once");
        self.creds = self.r.secrets.force_refresh().await.map_err(|e| Stop::Fail(e.into()))?;
        Ok(())
    }

    /// How many transfers Mesh holds in a window (one `Count=1` call).
    pub(super) async fn probe(&mut self, window: &WindowCursor) -> Result<u64, Stop> {
        let mesh = self.r.mesh;
        let query = TransferQuery { count: Some(1), ..window_query(window, 1, self.unit) };
        loop {
            let creds = self.creds.clone();
            match self.retrying(async || mesh.list_transfers(&creds, &query).await).await {
                Ok(page) => {
                    page.items.iter().for_each(|item| self.observe(item));
                    return Ok(page.total);
                }
                Err(CallError::Unauthorized) => self.refresh_credentials().await?,
                Err(CallError::Stop(stop)) => return Err(stop),
            }
        }
    }

    /// Looks one open transfer up by our transaction id; `true` when Mesh has it.
    pub(super) async fn lookup(&mut self, id: &TransactionId) -> Result<bool, Stop> {
        let mesh = self.r.mesh;
        let query = TransferQuery {
            count: Some(self.r.settings.page_size),
            client_transaction_id: Some(id.to_string()),
            ..TransferQuery::default()
        };
        let page = loop {
            let creds = self.creds.clone();
            match self.retrying(async || mesh.list_transfers(&creds, &query).await).await {
                Ok(page) => break page,
                Err(CallError::Unauthorized) => self.refresh_credentials().await?,
                Err(CallError::Stop(stop)) => return Err(stop),
            }
        };
        if page.items.is_empty() {
            self.summary.not_found_at_mesh += 1;
            self.unknown_at_mesh.insert(id.clone());
        }
        for item in &page.items {
            self.apply(item).await?;
        }
        Ok(!page.items.is_empty())
    }
}
