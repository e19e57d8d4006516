//! Reconciliation: learn from Mesh the state of every transfer we do not know for sure, and repair it
//! through `ingest`, the write path the webhook uses, so neither can undo the other.
//!
//! A run, under a lease (one run at a time):
//! 1. reads the transfers still open past the grace period (the sparse `open-transfers` index);
//! 2. plans (pure, `draft_plan` + `settle`): a created-time *window* of Mesh's listing, from where the
//!    last finished window ended up to now minus the grace period, catches every recent transfer,
//!    ours or not; open transfers older than the window are either looked up one by one by
//!    `ClientTransactionId` (few) or covered by stretching the window back to the oldest of them
//!    (many, and fewer pages than lookups: one `Count=1` probe tells the page count);
//! 3. looks up, then pages the window (`Count` 100, `Offset`, oldest first), applying each page and
//!    then checkpointing its offset; stops taking pages when the deadline nears or the page cap is
//!    reached, and the next run finishes the same window first. Bounds are sent in the unit Mesh's
//!    `createdTimestamp` shows, and a listing that shows nothing where an open transfer of ours lies is
//!    checked by looking that transfer up (`check`);
//! 4. sweeps the open checkouts (`checkouts`): prices a payment Mesh's fiat figure was missing for,
//!    expires one past its time once Mesh, asked about each attempt, knows none of them;
//! 5. abandons open transfers still `created` whose link token lapsed and that a lookup finds
//!    unknown to Mesh (`abandon`): they leave the open set;
//! 6. returns a `Summary` (what was checked, repaired, still open, unknown to us, mismatches,
//!    abandoned, checkouts expired and priced, Mesh calls, pages, duration);
//!    `Summary::record_metrics` turns it into EMF metrics.
//!
//! Steps 4 and 5 run even when step 3 stopped at the page cap: they look transfers up one by one,
//! independent of the window. Cost per run follows the open transfers, the open checkouts and the
//! transfers created since the previous run, not the history: a transfer Mesh and we agree on is read
//! once (one `GetItem`) and never written.

use crate::deadline::Deadline;
use crate::lease::{Acquired, Checkpoint, Lease, LeaseError, LeaseStore};
use crate::plan::{Draft, TimestampUnit, draft_plan, ms, settle};
use crate::settings::Settings;
use crate::summary::{RunStatus, Summary};
use shared::domain::ids::TransactionId;
use shared::domain::transfer::TransferRecord;
use shared::mesh::{MeshClient, MeshError};
use shared::runtime::secrets::{MeshSecrets, SecretCache, SecretSource, SecretsError};
use shared::storage::{CheckoutStore, StoreError, TransferStore};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

mod abandon;
mod apply;
mod calls;
mod check;
mod checkouts;
mod window;

/// The lease outlives the invocation's deadline by this much: a run that died holding it blocks the
/// next one no longer than that.
pub const LEASE_SLACK: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("Mesh: {0}")]
    Mesh(MeshError),
    #[error("Mesh kept failing and the run's retry budget is spent: {0}")]
    RetryBudgetSpent(MeshError),
    #[error("transfer store: {0}")]
    Store(#[from] StoreError),
    #[error("lease: {0}")]
    Lease(#[from] LeaseError),
    #[error("Mesh secret: {0}")]
    Secrets(#[from] SecretsError),
}

/// The summary, and the error that ended the run early, if one did.
#[derive(Debug)]
pub struct RunOutcome {
    pub summary: Summary,
    pub error: Option<ReconcileError>,
}

/// Everything a run needs, borrowed from what the function built at cold start.
pub struct Reconciler<'a, T, L, S> {
    pub store: &'a T,
    pub leases: &'a L,
    pub secrets: &'a SecretCache<S>,
    pub mesh: &'a MeshClient,
    pub settings: &'a Settings,
}

impl<'a, T: TransferStore + CheckoutStore, L: LeaseStore, S: SecretSource> Reconciler<'a, T, L, S> {
    /// One run: exits at once (status `lease_held`) if another run holds the lease.
    pub async fn run(&self, run_id: &str, deadline: Deadline) -> RunOutcome {
        let started = Instant::now();
        let now_ms = shared::domain::time::now_millis();
        let mut summary = Summary { run_id: run_id.to_string(), ..Summary::default() };
        let until = deadline.epoch_ms().saturating_add(ms(LEASE_SLACK));
        let lease = match self.leases.acquire(run_id, now_ms, until).await {
            Ok(Acquired::Granted(lease)) => lease,
            Ok(Acquired::Held { holder, until_ms }) => {
                tracing::info!(held_by = %holder, until_ms, "another reconcile run holds the lease; exiting");
                summary.status = RunStatus::LeaseHeld;
                summary.held_by = Some(holder);
                summary.duration_ms = elapsed_ms(started);
                return RunOutcome { summary, error: None };
            }
            Err(e) => return failed(summary, started, e.into()),
        };
        let creds = match self.secrets.get().await {
            Ok(c) => c,
            Err(e) => {
                release(self.leases, &lease).await;
                return failed(summary, started, e.into());
            }
        };
        let mut run = Run {
            r: self,
            lease,
            deadline,
            now_ms,
            creds,
            refreshed: false,
            retries_left: self.settings.retry.budget,
            summary,
            open: HashMap::new(),
            checkpoint: Checkpoint::default(),
            unit: TimestampUnit::default(),
            listed: 0,
            listing_confirmed: false,
            unknown_at_mesh: HashSet::new(),
        };
        let result = run.work().await;
        release(self.leases, &run.lease).await;
        let mut summary = run.summary;
        summary.still_open = run.open.len() as u64;
        summary.duration_ms = elapsed_ms(started);
        let error = match result {
            Ok(()) => None,
            Err(Stop::Deadline) => {
                summary.status = RunStatus::DeadlineReached;
                None
            }
            Err(Stop::PageCap) => {
                summary.status = RunStatus::PageCapReached;
                None
            }
            Err(Stop::Fail(e)) => {
                summary.status = RunStatus::Failed;
                summary.error = Some(e.to_string());
                Some(e)
            }
        };
        RunOutcome { summary, error }
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn failed(mut summary: Summary, started: Instant, error: ReconcileError) -> RunOutcome {
    summary.status = RunStatus::Failed;
    summary.error = Some(error.to_string());
    summary.duration_ms = elapsed_ms(started);
    RunOutcome { summary, error: Some(error) }
}

async fn release<L: LeaseStore>(leases: &L, lease: &Lease) {
    if let Err(e) = leases.release(lease).await {
        // It expires on its own shortly after the deadline.
        tracing::warn!(error = %e, "releasing the reconcile lease failed");
    }
}

/// Why a run ended before its plan did.
enum Stop {
    Deadline,
    PageCap,
    Fail(ReconcileError),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Fail(e.into())
    }
}

impl From<LeaseError> for Stop {
    fn from(e: LeaseError) -> Self {
        Stop::Fail(e.into())
    }
}

enum CallError {
    /// Mesh answered 401: re-read the secret once, then give up.
    Unauthorized,
    Stop(Stop),
}

struct Run<'r, 'a, T, L, S> {
    r: &'r Reconciler<'a, T, L, S>,
    lease: Lease,
    deadline: Deadline,
    now_ms: i64,
    creds: Arc<MeshSecrets>,
    refreshed: bool,
    retries_left: u32,
    summary: Summary,
    /// Open transfers past the grace period not (yet) closed by this run.
    open: HashMap<TransactionId, TransferRecord>,
    checkpoint: Checkpoint,
    /// The unit of Mesh's timestamps, as last seen (`check::observe`).
    unit: TimestampUnit,
    /// Transfers the window being paged has listed so far.
    listed: u64,
    /// A listing's "nothing" was confirmed by a lookup this run: it need not be checked again.
    listing_confirmed: bool,
    /// Transaction ids a lookup this run found nothing for: unknown to Mesh, not asked again.
    unknown_at_mesh: HashSet<TransactionId>,
}

impl<T: TransferStore + CheckoutStore, L: LeaseStore, S: SecretSource> Run<'_, '_, T, L, S> {
    async fn work(&mut self) -> Result<(), Stop> {
        let transfers = self.reconcile_transfers().await;
        if let Err(Stop::Deadline | Stop::Fail(_)) = transfers {
            return transfers;
        }
        self.sweep_checkouts().await?;
        self.abandon_lapsed().await?;
        transfers
    }

    /// Steps 1 to 3: the open transfers against Mesh's listing and lookups.
    async fn reconcile_transfers(&mut self) -> Result<(), Stop> {
        let settings = self.r.settings;
        self.checkpoint = self.r.leases.load_checkpoint().await?;
        let loaded_unit = self.checkpoint.timestamp_unit;
        self.unit = loaded_unit.unwrap_or_default();
        self.summary.timestamp_unit = self.checkpoint.timestamp_unit;
        let cutoff = self.now_ms - ms(settings.grace);
        let open = self.r.store.list_open(cutoff, settings.max_open).await?;
        self.summary.open = open.len() as u64;
        let horizon = self.now_ms - ms(settings.horizon);
        let (recent, old): (Vec<TransferRecord>, Vec<TransferRecord>) =
            open.into_iter().partition(|r| r.created_at >= horizon);
        self.summary.beyond_horizon = old.len() as u64;
        if let Some(oldest) = old.first() {
            tracing::warn!(
                count = old.len(),
                oldest_transaction_id = %oldest.transaction_id,
                "open transfers older than the horizon are not reconciled"
            );
        }
        let draft = draft_plan(&recent, &self.checkpoint, self.now_ms, settings);
        self.open = recent.into_iter().chain(old).map(|r| (r.transaction_id.clone(), r)).collect();
        let plan = match draft {
            Draft::Ready(plan) => plan,
            Draft::Probe { mut lookup, stretched } => {
                let probed_in = self.unit;
                let mut total = self.probe(&stretched).await?;
                // A count of zero with open transfers of ours inside the window is checked before it
                // is believed: stretching over an "empty" window would look nothing up.
                match lookup.lookups.first().cloned() {
                    Some(sample) if total == 0 && self.contradicts(&sample).await? => {
                        lookup.lookups.retain(|id| *id != sample);
                        if self.unit == probed_in {
                            lookup
                        } else {
                            total = self.probe(&stretched).await?;
                            settle(lookup, stretched, total, settings.page_size)
                        }
                    }
                    _ => settle(lookup, stretched, total, settings.page_size),
                }
            }
        };
        tracing::info!(
            plan = ?plan.kind,
            lookups = plan.lookups.len(),
            window = ?plan.window,
            open = self.summary.open,
            "reconcile plan"
        );
        self.summary.plan = Some(plan.kind);
        for id in &plan.lookups {
            self.ensure_time()?;
            self.lookup(id).await?;
        }
        if let Some(window) = plan.window {
            let paged_in = self.unit;
            self.page(window).await?;
            self.check_empty_window(window, paged_in).await?;
        }
        if self.checkpoint.timestamp_unit != loaded_unit {
            self.r.leases.save_checkpoint(&self.lease, &self.checkpoint, shared::domain::time::now_millis()).await?;
        }
        Ok(())
    }

    fn ensure_time(&self) -> Result<(), Stop> {
        if self.deadline.remaining() < self.r.settings.deadline_margin {
            return Err(Stop::Deadline);
        }
        Ok(())
    }
}
