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
//!    reached, and the next run finishes the same window first;
//! 4. returns a `Summary` (what was checked, repaired, still open, unknown to us, mismatches, Mesh
//!    calls, pages, duration); `Summary::record_metrics` turns it into EMF metrics.
//!
//! Cost per run follows the open transfers and the transfers created since the previous run, not
//! the history: a transfer Mesh and we agree on is read once (one `GetItem`) and never written.

use crate::lease::{Acquired, Checkpoint, Lease, LeaseError, LeaseStore, WindowCursor};
use serde::{Deserialize, Serialize};
use shared::domain::ids::{EventId, TransactionId, TransferId};
use shared::domain::report::{Outcome, Report, ReportSource};
use shared::domain::transfer::{Mismatch, Received, ReportedStatus, TransferRecord, TransferStatus};
use shared::ingest::ingest;
use shared::mesh::{MeshClient, MeshError, TransferModel, TransferOrderBy, TransferQuery};
use shared::runtime::config::{ConfigError, EnvSource};
use shared::runtime::secrets::{MeshSecrets, SecretCache, SecretSource, SecretsError};
use shared::storage::{StoreError, TransferChange, TransferStore};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

pub const RECONCILE_GRACE_SECONDS: &str = "RECONCILE_GRACE_SECONDS";
pub const RECONCILE_LOOKBACK_HOURS: &str = "RECONCILE_LOOKBACK_HOURS";
pub const RECONCILE_HORIZON_HOURS: &str = "RECONCILE_HORIZON_HOURS";
pub const RECONCILE_LOOKUP_MAX: &str = "RECONCILE_LOOKUP_MAX";
pub const RECONCILE_MAX_OPEN: &str = "RECONCILE_MAX_OPEN";
pub const RECONCILE_MAX_PAGES: &str = "RECONCILE_MAX_PAGES";
pub const RECONCILE_DEADLINE_MARGIN_SECONDS: &str = "RECONCILE_DEADLINE_MARGIN_SECONDS";
pub const RECONCILE_RETRY_BUDGET: &str = "RECONCILE_RETRY_BUDGET";

/// The lease outlives the invocation's deadline by this much: a run that died holding it blocks the
/// next one no longer than that.
pub const LEASE_SLACK: Duration = Duration::from_secs(30);
/// Mesh's `createdTimestamp` and `From/ToTimestamp` are in seconds (spec examples, the sandbox);
/// our timestamps are Unix ms.
const MESH_TIMESTAMP_MS: i64 = 1000;

/// Capped exponential backoff with full jitter, and a retry budget shared by every call of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub cap: Duration,
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// Retries per run across all calls: a failing Mesh is not hammered for the whole run.
    pub budget: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { base: Duration::from_millis(250), cap: Duration::from_secs(8), max_attempts: 3, budget: 10 }
    }
}

/// The delay before retry number `retry` (0 = the first retry): full jitter,
/// `unit · min(cap, base · 2^retry)` with `unit` uniform in [0, 1], and never less than the
/// `Retry-After` Mesh asked for.
pub fn backoff_delay(policy: &RetryPolicy, retry: u32, retry_after: Option<Duration>, unit: f64) -> Duration {
    let ceiling = policy.base.saturating_mul(2_u32.saturating_pow(retry.min(31))).min(policy.cap);
    let jittered = ceiling.mul_f64(unit.clamp(0.0, 1.0));
    retry_after.map_or(jittered, |asked| jittered.max(asked))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// A transfer younger than this is left to its webhooks.
    pub grace: Duration,
    /// How far back the very first window reaches (no checkpoint yet).
    pub lookback: Duration,
    /// Open transfers created before now minus this are reported (`beyond_horizon`), not checked:
    /// Mesh keeps a transfer pending for a day at most; older ones are abandoned Link sessions.
    pub horizon: Duration,
    /// Up to this many open transfers older than the window are looked up one by one, without
    /// asking Mesh how large a stretched window would be.
    pub lookup_max: usize,
    /// Open transfers read per run (oldest first).
    pub max_open: usize,
    /// Listing pages per run.
    pub max_pages: u32,
    pub page_size: u32,
    /// No page is started with less than this left before the deadline; calls end before half of it.
    pub deadline_margin: Duration,
    /// How much earlier than our record Mesh's clock may date a transfer.
    pub clock_skew: Duration,
    pub retry: RetryPolicy,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(15 * 60),
            lookback: Duration::from_secs(24 * 3600),
            horizon: Duration::from_secs(7 * 24 * 3600),
            lookup_max: 25,
            max_open: 5000,
            max_pages: 200,
            page_size: TransferQuery::MAX_COUNT,
            deadline_margin: Duration::from_secs(20),
            clock_skew: Duration::from_secs(5 * 60),
            retry: RetryPolicy::default(),
        }
    }
}

fn bounded(env: &impl EnvSource, name: &str, default: u64, min: u64, max: u64, unit: &str) -> Result<u64, ConfigError> {
    match env.var(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(raw) => raw.parse::<u64>().ok().filter(|v| (min..=max).contains(v)).ok_or_else(|| ConfigError::Invalid {
            name: name.to_string(),
            reason: format!("expected whole {unit} from {min} to {max}"),
        }),
    }
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&shared::runtime::config::ProcessEnv)
    }

    /// Every variable is optional; a malformed one fails with its name and the accepted range.
    pub fn from_source(env: &impl EnvSource) -> Result<Self, ConfigError> {
        let d = Self::default();
        let hours = |h: u64| Duration::from_secs(h * 3600);
        Ok(Self {
            grace: Duration::from_secs(bounded(env, RECONCILE_GRACE_SECONDS, d.grace.as_secs(), 0, 86_400, "seconds")?),
            lookback: hours(bounded(env, RECONCILE_LOOKBACK_HOURS, d.lookback.as_secs() / 3600, 1, 720, "hours")?),
            horizon: hours(bounded(env, RECONCILE_HORIZON_HOURS, d.horizon.as_secs() / 3600, 1, 2160, "hours")?),
            lookup_max: bounded(env, RECONCILE_LOOKUP_MAX, d.lookup_max as u64, 0, 1000, "transfers")? as usize,
            max_open: bounded(env, RECONCILE_MAX_OPEN, d.max_open as u64, 1, 100_000, "transfers")? as usize,
            max_pages: bounded(env, RECONCILE_MAX_PAGES, u64::from(d.max_pages), 1, 10_000, "pages")? as u32,
            deadline_margin: Duration::from_secs(bounded(
                env,
                RECONCILE_DEADLINE_MARGIN_SECONDS,
                d.deadline_margin.as_secs(),
                2,
                600,
                "seconds",
            )?),
            retry: RetryPolicy {
                budget: bounded(env, RECONCILE_RETRY_BUDGET, u64::from(d.retry.budget), 0, 1000, "retries")? as u32,
                ..d.retry
            },
            ..d
        })
    }
}

/// When the invocation must be over, on the runtime's clock (for sleeps and timeouts) and as Unix
/// ms (for the lease).
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
    epoch_ms: i64,
}

impl Deadline {
    pub fn after(remaining: Duration, now_ms: i64) -> Self {
        // A Lambda runs 15 minutes at most; the clamp only keeps `Instant` arithmetic in range.
        let remaining = remaining.min(Duration::from_secs(86_400));
        let ms = i64::try_from(remaining.as_millis()).unwrap_or(i64::MAX);
        Self { at: Instant::now() + remaining, epoch_ms: now_ms.saturating_add(ms) }
    }

    /// From the Lambda context's deadline (Unix ms).
    pub fn at_epoch_ms(deadline_ms: i64, now_ms: i64) -> Self {
        let remaining = u64::try_from(deadline_ms.saturating_sub(now_ms)).unwrap_or(0);
        Self::after(Duration::from_millis(remaining), now_ms)
    }

    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    pub fn epoch_ms(&self) -> i64 {
        self.epoch_ms
    }
}

// ---- Planning (pure) ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanKind {
    /// The recent window, plus a lookup per older open transfer.
    Lookup,
    /// One window stretched back to the oldest open transfer: cheaper than looking each up.
    Window,
    /// Finish the window a previous run left unfinished.
    Resume,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub kind: PlanKind,
    pub window: Option<WindowCursor>,
    /// Open transfers the window cannot see, oldest first.
    pub lookups: Vec<TransactionId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Draft {
    Ready(Plan),
    /// Many open transfers predate the recent window: how many Mesh transfers the `stretched` window
    /// holds decides between it and `lookup` (see `settle`).
    Probe {
        lookup: Plan,
        stretched: WindowCursor,
    },
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The plan for open transfers `open` (past the grace period, within the horizon, oldest first).
pub fn draft_plan(open: &[TransferRecord], checkpoint: &Checkpoint, now_ms: i64, settings: &Settings) -> Draft {
    let skew = ms(settings.clock_skew);
    let older_than =
        |from: i64| -> Vec<&TransferRecord> { open.iter().filter(|r| r.created_at < from + skew).collect() };
    let ids = |records: &[&TransferRecord]| records.iter().map(|r| r.transaction_id.clone()).collect::<Vec<_>>();
    if let Some(window) = checkpoint.unfinished {
        let lookups = ids(&older_than(window.from_ms));
        return Draft::Ready(Plan { kind: PlanKind::Resume, window: Some(window), lookups });
    }
    let cutoff = now_ms - ms(settings.grace);
    let from = checkpoint.scanned_until.unwrap_or(cutoff - ms(settings.lookback));
    let window = (from <= cutoff).then_some(WindowCursor { from_ms: from, to_ms: cutoff, offset: 0 });
    let uncovered = older_than(from);
    let lookup = Plan { kind: PlanKind::Lookup, window, lookups: ids(&uncovered) };
    match uncovered.iter().map(|r| r.created_at).min() {
        Some(oldest) if uncovered.len() > settings.lookup_max => {
            let stretched = WindowCursor { from_ms: (oldest - skew).min(from), to_ms: cutoff, offset: 0 };
            Draft::Probe { lookup, stretched }
        }
        _ => Draft::Ready(lookup),
    }
}

/// The cheaper plan, once Mesh said the stretched window holds `total` transfers: its pages against
/// one call per lookup.
pub fn settle(lookup: Plan, stretched: WindowCursor, total: u64, page_size: u32) -> Plan {
    let pages = total.div_ceil(u64::from(page_size.max(1)));
    if pages <= lookup.lookups.len() as u64 {
        Plan { kind: PlanKind::Window, window: Some(stretched), lookups: Vec::new() }
    } else {
        lookup
    }
}

/// The listing query of a window (Mesh's bounds are inclusive, in seconds), oldest first.
pub fn window_query(window: &WindowCursor, page_size: u32) -> TransferQuery {
    TransferQuery {
        count: Some(page_size),
        offset: Some(window.offset),
        from_timestamp: Some(window.from_ms.div_euclid(MESH_TIMESTAMP_MS)),
        to_timestamp: Some(window.to_ms.div_euclid(MESH_TIMESTAMP_MS)),
        order_by: Some(TransferOrderBy::CreatedTimestamp),
        descending_order: Some(false),
        ..TransferQuery::default()
    }
}

/// The event id of what reconciliation learnt: one per (Mesh transfer, status), so a second run
/// that sees the same is a duplicate. Readable when it fits, hashed otherwise.
pub fn reconcile_event_id(transfer_id: &TransferId, raw_status: &str) -> EventId {
    let status = raw_status.trim().to_ascii_lowercase();
    let readable = format!("rc:{transfer_id}:{}", if status.is_empty() { "none" } else { &status });
    EventId::parse(readable).unwrap_or_else(|_| {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!("{transfer_id}\n{status}").as_bytes());
        let hex: String = digest.iter().take(20).map(|b| format!("{b:02x}")).collect();
        EventId::parse(format!("rc:{hex}"))
            .unwrap_or_else(|_| unreachable!("43 characters of [rc:0-9a-f] are an event id"))
    })
}

/// What Mesh's listing says of a transfer, as a report for `ingest`, and the status as Mesh wrote it.
/// `None` when Mesh's transfer id is not usable as one.
///
/// The report carries no event time: the listing tells the state *now*, so it is ordered as the time
/// it is applied. A webhook for the same status that arrives later carries an earlier time and is
/// therefore stale: it can change nothing.
pub fn report_from(model: &TransferModel) -> Option<(Report, String)> {
    let transfer_id = TransferId::parse(model.id.clone()).ok()?;
    let raw_status = model.status.as_ref().map(|s| s.as_str().to_string()).unwrap_or_default();
    let report = Report {
        event_id: reconcile_event_id(&transfer_id, &raw_status),
        source: ReportSource::Reconcile,
        transfer_id,
        transaction_id: model.client_transaction_id.clone().and_then(|t| TransactionId::parse(t).ok()),
        user_id: model.user_id.clone(),
        status: ReportedStatus::parse(&raw_status),
        event_at: None,
        tx_hash: model.hash.clone().filter(|h| !h.is_empty()),
        received: Received {
            amount: model.destination_amount,
            token: model.symbol.clone(),
            chain: model.network_name.clone(),
            address: model.destination_address.clone(),
        },
    };
    Some((report, raw_status))
}

/// Mesh says what our record says: there is nothing to write. (A pending report without an event
/// time can only be stale against a pending record, so it is skipped too.)
fn agrees(ours: TransferStatus, reported: &ReportedStatus) -> bool {
    matches!(
        (ours, reported),
        (TransferStatus::Pending, ReportedStatus::Pending)
            | (TransferStatus::Succeeded, ReportedStatus::Succeeded)
            | (TransferStatus::Failed, ReportedStatus::Failed)
    )
}

// ---- The run ----

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    #[default]
    Completed,
    /// Stopped taking pages before the deadline; the checkpoint says where the next run resumes.
    DeadlineReached,
    /// Stopped at the page cap; the next run resumes from the checkpoint.
    PageCapReached,
    /// Another run holds the lease: this one did nothing.
    LeaseHeld,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::DeadlineReached => "deadline_reached",
            Self::PageCapReached => "page_cap_reached",
            Self::LeaseHeld => "lease_held",
            Self::Failed => "failed",
        }
    }
}

/// What one run did: returned by the function, logged, and recorded as metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub run_id: String,
    pub status: RunStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanKind>,
    /// The window paged, with the offset reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowCursor>,
    /// Open transfers past the grace period at the start.
    pub open: u64,
    /// Mesh transfers compared with our records.
    pub checked: u64,
    /// Transfers changed by this run: each one a webhook missed or refused.
    pub repaired: u64,
    /// Open transfers past the grace period that are still open at the end.
    pub still_open: u64,
    /// Mesh transfers with no record of ours.
    pub unknown_to_us: u64,
    /// Underpaid or overpaid, among what this run recorded.
    pub amount_mismatches: u64,
    /// Another token, network, address or user, among what this run recorded.
    pub other_mismatches: u64,
    /// Mesh contradicts a terminal status of ours (recorded, never applied).
    pub conflicts: u64,
    /// Statuses this code does not know (recorded for a human).
    pub unknown_statuses: u64,
    /// Looked up, and Mesh has no transfer for it (the user never finished Link).
    pub not_found_at_mesh: u64,
    /// Open, but older than the horizon: left alone and reported.
    pub beyond_horizon: u64,
    /// HTTP calls to Mesh, retries included.
    pub mesh_calls: u64,
    pub mesh_retries: u64,
    pub pages: u64,
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Summary {
    /// The summary as EMF metrics (written by `shared::runtime::metrics::flush`).
    pub fn record_metrics(&self) {
        metrics::counter!("ReconcileRuns", "Status" => self.status.as_str()).increment(1);
        for (name, value) in [
            ("ReconcileChecked", self.checked),
            ("ReconcileRepaired", self.repaired),
            ("ReconcileUnknownToUs", self.unknown_to_us),
            ("ReconcileAmountMismatches", self.amount_mismatches),
            ("ReconcileOtherMismatches", self.other_mismatches),
            ("ReconcileConflicts", self.conflicts),
            ("ReconcileNotFoundAtMesh", self.not_found_at_mesh),
            ("ReconcileMeshCalls", self.mesh_calls),
            ("ReconcileMeshRetries", self.mesh_retries),
            ("ReconcilePages", self.pages),
        ] {
            metrics::counter!(name).increment(value);
        }
        metrics::gauge!("ReconcileStillOpen").set(self.still_open as f64);
        metrics::gauge!("ReconcileBeyondHorizon").set(self.beyond_horizon as f64);
        metrics::gauge!("ReconcileDurationMs").set(self.duration_ms as f64);
        if self.status == RunStatus::PageCapReached {
            metrics::counter!("ReconcilePageCapReached").increment(1);
        }
    }
}

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

impl<'a, T: TransferStore, L: LeaseStore, S: SecretSource> Reconciler<'a, T, L, S> {
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
}

impl<T: TransferStore, L: LeaseStore, S: SecretSource> Run<'_, '_, T, L, S> {
    async fn work(&mut self) -> Result<(), Stop> {
        let settings = self.r.settings;
        self.checkpoint = self.r.leases.load_checkpoint().await?;
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
            Draft::Probe { lookup, stretched } => {
                let total = self.probe(&stretched).await?;
                settle(lookup, stretched, total, settings.page_size)
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
            self.page(window).await?;
        }
        Ok(())
    }

    fn ensure_time(&self) -> Result<(), Stop> {
        if self.deadline.remaining() < self.r.settings.deadline_margin {
            return Err(Stop::Deadline);
        }
        Ok(())
    }

    /// Calls to Mesh end by then, leaving time to checkpoint and release the lease.
    fn call_deadline(&self) -> Instant {
        Instant::now() + self.deadline.remaining().saturating_sub(self.r.settings.deadline_margin / 2)
    }

    /// One Mesh call with capped, jittered, budgeted retries of what is worth retrying.
    async fn retrying<R>(&mut self, mut call: impl AsyncFnMut() -> Result<R, MeshError>) -> Result<R, CallError> {
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
    async fn refresh_credentials(&mut self) -> Result<(), Stop> {
        if self.refreshed {
            return Err(Stop::Fail(ReconcileError::Mesh(MeshError::Unauthorized)));
        }
        self.refreshed = true;
        tracing::warn!("Mesh answered 401; re-reading the Mesh secret once");
        self.creds = self.r.secrets.force_refresh().await.map_err(|e| Stop::Fail(e.into()))?;
        Ok(())
    }

    /// How many transfers Mesh holds in a window (one `Count=1` call).
    async fn probe(&mut self, window: &WindowCursor) -> Result<u64, Stop> {
        let mesh = self.r.mesh;
        let query = TransferQuery { count: Some(1), ..window_query(window, 1) };
        loop {
            let creds = self.creds.clone();
            match self.retrying(async || mesh.list_transfers(&creds, &query).await).await {
                Ok(page) => return Ok(page.total),
                Err(CallError::Unauthorized) => self.refresh_credentials().await?,
                Err(CallError::Stop(stop)) => return Err(stop),
            }
        }
    }

    /// Looks one open transfer up by our transaction id.
    async fn lookup(&mut self, id: &TransactionId) -> Result<(), Stop> {
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
        }
        for item in &page.items {
            self.apply(item).await?;
        }
        Ok(())
    }

    /// Pages a window to its end, checkpointing after each applied page.
    async fn page(&mut self, window: WindowCursor) -> Result<(), Stop> {
        let mesh = self.r.mesh;
        let page_size = self.r.settings.page_size;
        let mut offset = window.offset;
        self.summary.window = Some(window);
        'credentials: loop {
            let creds = self.creds.clone();
            let mut pages = mesh.transfer_pages(&creds, window_query(&WindowCursor { offset, ..window }, page_size));
            while !pages.is_done() {
                let at = WindowCursor { offset: pages.offset(), ..window };
                self.summary.window = Some(at);
                if let Err(stop) = self.ensure_time().and_then(|()| self.ensure_page_budget()) {
                    self.save_unfinished(at).await?;
                    return Err(stop);
                }
                let items = match self.retrying(async || pages.next_page().await).await {
                    Ok(Some(items)) => items,
                    Ok(None) => break,
                    Err(CallError::Unauthorized) => {
                        offset = pages.offset();
                        self.refresh_credentials().await?;
                        continue 'credentials;
                    }
                    Err(CallError::Stop(stop)) => {
                        self.save_unfinished(at).await?;
                        return Err(stop);
                    }
                };
                self.summary.pages += 1;
                for item in &items {
                    self.apply(item).await?;
                }
                let next = WindowCursor { offset: pages.offset(), ..window };
                self.summary.window = Some(next);
                if !pages.is_done() {
                    self.save_unfinished(next).await?;
                }
            }
            break;
        }
        let scanned_until = self.checkpoint.scanned_until.map_or(window.to_ms, |s| s.max(window.to_ms));
        self.checkpoint = Checkpoint { scanned_until: Some(scanned_until), unfinished: None };
        self.r.leases.save_checkpoint(&self.lease, &self.checkpoint, shared::domain::time::now_millis()).await?;
        Ok(())
    }

    fn ensure_page_budget(&self) -> Result<(), Stop> {
        if self.summary.pages >= u64::from(self.r.settings.max_pages) {
            tracing::warn!(max_pages = self.r.settings.max_pages, "page cap reached; the next run resumes here");
            return Err(Stop::PageCap);
        }
        Ok(())
    }

    async fn save_unfinished(&mut self, at: WindowCursor) -> Result<(), Stop> {
        self.checkpoint.unfinished = Some(at);
        self.r.leases.save_checkpoint(&self.lease, &self.checkpoint, shared::domain::time::now_millis()).await?;
        Ok(())
    }

    /// Compares one Mesh transfer with our record and, unless they agree, ingests what Mesh says.
    async fn apply(&mut self, model: &TransferModel) -> Result<(), Stop> {
        let Some((report, raw_status)) = report_from(model) else {
            tracing::warn!("a Mesh transfer with an unusable id was skipped");
            return Ok(());
        };
        self.summary.checked += 1;
        let previous = match &report.transaction_id {
            Some(id) => match self.open.get(id) {
                Some(r) => Some(r.status),
                None => self.r.store.get(id).await?.map(|r| r.status),
            },
            None => None,
        };
        if previous.is_some_and(|ours| agrees(ours, &report.status)) {
            return Ok(());
        }
        let plan = ingest(self.r.store, &report, &raw_status, shared::domain::time::now_millis()).await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use shared::domain::ids::UserId;
    use std::collections::HashMap as Map;

    const MIN: i64 = 60_000;
    const NOW: i64 = 1_800_000_000_000;

    fn open_at(created_at: i64) -> TransferRecord {
        TransferRecord::created(TransactionId::generate(), UserId::parse("u").unwrap(), created_at)
    }

    fn settings() -> Settings {
        Settings { lookup_max: 3, ..Settings::default() }
    }

    #[test]
    fn full_jitter_stays_within_the_cap_and_honours_retry_after() {
        let p =
            RetryPolicy { base: Duration::from_millis(100), cap: Duration::from_secs(1), max_attempts: 3, budget: 5 };
        for retry in 0..40 {
            for unit in [0.0, 0.25, 0.5, 0.999, 1.0, fastrand::f64()] {
                let d = backoff_delay(&p, retry, None, unit);
                let ceiling = Duration::from_millis(100 * 2_u64.saturating_pow(retry.min(31))).min(p.cap);
                assert!(d <= ceiling, "retry {retry}: {d:?} > {ceiling:?}");
            }
        }
        assert_eq!(backoff_delay(&p, 0, None, 1.0), Duration::from_millis(100));
        assert_eq!(backoff_delay(&p, 2, None, 1.0), Duration::from_millis(400));
        assert_eq!(backoff_delay(&p, 9, None, 1.0), Duration::from_secs(1));
        assert_eq!(backoff_delay(&p, 0, None, 0.0), Duration::ZERO);
        assert_eq!(
            backoff_delay(&p, 0, Some(Duration::from_secs(2)), 0.5),
            Duration::from_secs(2),
            "Retry-After is a floor"
        );
        assert_eq!(backoff_delay(&p, 3, Some(Duration::from_millis(10)), 1.0), Duration::from_millis(800));
    }

    #[test]
    fn the_first_run_looks_back_and_few_old_open_transfers_are_looked_up() {
        let s = settings();
        let cutoff = NOW - 15 * MIN;
        let from = cutoff - 24 * 60 * MIN;
        let old = open_at(from - 60 * MIN);
        let recent = open_at(cutoff - 10 * MIN);
        let Draft::Ready(plan) = draft_plan(&[old.clone(), recent], &Checkpoint::default(), NOW, &s) else {
            panic!("no probe for one old transfer")
        };
        assert_eq!(plan.kind, PlanKind::Lookup);
        assert_eq!(plan.window, Some(WindowCursor { from_ms: from, to_ms: cutoff, offset: 0 }));
        assert_eq!(plan.lookups, vec![old.transaction_id], "the recent one is in the window");
    }

    #[test]
    fn later_runs_slide_the_window_from_where_the_last_one_ended() {
        let s = settings();
        let scanned = NOW - 40 * MIN;
        let cp = Checkpoint { scanned_until: Some(scanned), unfinished: None };
        // Created within the clock-skew allowance before the window: its Mesh transfer may be just
        // before `from`, so it is looked up.
        let edge = open_at(scanned - 2 * MIN);
        let inside = open_at(scanned + 6 * MIN);
        let Draft::Ready(plan) = draft_plan(&[edge.clone(), inside], &cp, NOW, &s) else { panic!() };
        assert_eq!(plan.window, Some(WindowCursor { from_ms: scanned, to_ms: NOW - 15 * MIN, offset: 0 }));
        assert_eq!(plan.lookups, vec![edge.transaction_id]);
    }

    #[test]
    fn many_old_open_transfers_ask_mesh_and_the_cheaper_plan_wins() {
        let s = settings();
        let cp = Checkpoint { scanned_until: Some(NOW - 30 * MIN), unfinished: None };
        let open: Vec<_> = (0..10).map(|i| open_at(NOW - (300 - i) * MIN)).collect();
        let Draft::Probe { lookup, stretched } = draft_plan(&open, &cp, NOW, &s) else { panic!("10 > lookup_max") };
        assert_eq!(lookup.lookups.len(), 10);
        assert_eq!(stretched, WindowCursor { from_ms: NOW - 300 * MIN - 5 * MIN, to_ms: NOW - 15 * MIN, offset: 0 });
        // 900 transfers = 9 pages < 10 lookups: page the stretched window.
        let plan = settle(lookup.clone(), stretched, 900, 100);
        assert_eq!((plan.kind, plan.window, plan.lookups.len()), (PlanKind::Window, Some(stretched), 0));
        // 1,001 transfers = 11 pages > 10 lookups: look them up.
        assert_eq!(settle(lookup.clone(), stretched, 1_001, 100), lookup);
    }

    #[test]
    fn an_unfinished_window_is_finished_first_and_unchanged() {
        let unfinished = WindowCursor { from_ms: NOW - 90 * MIN, to_ms: NOW - 60 * MIN, offset: 300 };
        let cp = Checkpoint { scanned_until: Some(NOW - 90 * MIN), unfinished: Some(unfinished) };
        let older = open_at(NOW - 200 * MIN);
        let Draft::Ready(plan) = draft_plan(&[older.clone(), open_at(NOW - 70 * MIN)], &cp, NOW, &settings()) else {
            panic!()
        };
        assert_eq!((plan.kind, plan.window), (PlanKind::Resume, Some(unfinished)));
        assert_eq!(plan.lookups, vec![older.transaction_id]);
    }

    #[test]
    fn the_window_query_is_ascending_in_seconds_with_inclusive_bounds() {
        let q = window_query(&WindowCursor { from_ms: 1_700_000_000_999, to_ms: 1_700_000_600_000, offset: 200 }, 100);
        let pairs: Map<_, _> = q.pairs().into_iter().collect();
        assert_eq!(pairs["FromTimestamp"], "1700000000");
        assert_eq!(pairs["ToTimestamp"], "1700000600");
        assert_eq!(pairs["Offset"], "200");
        assert_eq!(pairs["Count"], "100");
        assert_eq!(pairs["OrderBy"], "createdTimestamp");
        assert_eq!(pairs["DescendingOrder"], "false");
    }

    #[test]
    fn event_ids_are_deterministic_per_transfer_and_status() {
        let t = TransferId::parse("3d6c1f0e-52a4-4c3e-9d7b-0f1e2a3b4c5d").unwrap();
        let a = reconcile_event_id(&t, "succeeded");
        assert_eq!(a.as_str(), "rc:3d6c1f0e-52a4-4c3e-9d7b-0f1e2a3b4c5d:succeeded");
        assert_eq!(reconcile_event_id(&t, " Succeeded "), a);
        assert_ne!(reconcile_event_id(&t, "pending"), a);
        let long = TransferId::parse("x".repeat(64)).unwrap();
        let h = reconcile_event_id(&long, "succeeded");
        assert!(h.as_str().starts_with("rc:") && h.as_str().len() == 43, "{h}");
        assert_eq!(reconcile_event_id(&long, "succeeded"), h);
        assert_ne!(reconcile_event_id(&long, "failed"), h);
        assert!(reconcile_event_id(&t, "weird status!").as_str().starts_with("rc:"));
    }

    #[test]
    fn a_listed_transfer_becomes_a_timeless_reconcile_report() {
        let model: TransferModel = serde_json::from_value(serde_json::json!({
            "id": "3d6c1f0e-52a4-4c3e-9d7b-0f1e2a3b4c5d", "clientTransactionId": "txn_1", "userId": "u",
            "status": "succeeded", "symbol": "USDC", "networkName": "Base", "hash": "0xabc",
            "destinationAmount": 49.99, "destinationAddress": "0x1", "createdTimestamp": 1767225600,
            "executedTimestamp": 1767225642
        }))
        .unwrap();
        let (report, raw) = report_from(&model).unwrap();
        assert_eq!(raw, "succeeded");
        assert_eq!(report.source, ReportSource::Reconcile);
        assert_eq!(report.status, ReportedStatus::Succeeded);
        assert_eq!(report.event_at, None, "the listing says how things are now, not when they happened");
        assert_eq!(report.transaction_id.unwrap().as_str(), "txn_1");
        assert_eq!(report.received.amount, Some("49.99".parse().unwrap()));
        assert_eq!(report.received.chain.as_deref(), Some("Base"));
        let bad: TransferModel = serde_json::from_value(serde_json::json!({"id": "not an id"})).unwrap();
        assert!(report_from(&bad).is_none());
    }

    #[test]
    fn configuration_defaults_and_named_errors() {
        let empty: Map<&str, &str> = Map::new();
        assert_eq!(Settings::from_source(&empty).unwrap(), Settings::default());
        let set: Map<&str, &str> =
            [(RECONCILE_GRACE_SECONDS, "60"), (RECONCILE_MAX_PAGES, " 7 "), (RECONCILE_RETRY_BUDGET, "0")]
                .into_iter()
                .collect();
        let s = Settings::from_source(&set).unwrap();
        assert_eq!((s.grace, s.max_pages, s.retry.budget), (Duration::from_secs(60), 7, 0));
        for (name, value) in [
            (RECONCILE_GRACE_SECONDS, "-1"),
            (RECONCILE_GRACE_SECONDS, "ten"),
            (RECONCILE_MAX_PAGES, "0"),
            (RECONCILE_LOOKBACK_HOURS, "721"),
            (RECONCILE_DEADLINE_MARGIN_SECONDS, "1"),
            (RECONCILE_MAX_OPEN, "0"),
        ] {
            let env: Map<&str, &str> = [(name, value)].into_iter().collect();
            match Settings::from_source(&env) {
                Err(ConfigError::Invalid { name: n, reason }) => {
                    assert_eq!(n, name);
                    assert!(reason.starts_with("expected whole"), "{reason}");
                }
                other => panic!("{name}={value}: {other:?}"),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_counts_down_on_the_runtime_clock() {
        let d = Deadline::at_epoch_ms(NOW + 30_000, NOW);
        assert_eq!(d.epoch_ms(), NOW + 30_000);
        assert_eq!(d.remaining(), Duration::from_secs(30));
        tokio::time::advance(Duration::from_secs(25)).await;
        assert_eq!(d.remaining(), Duration::from_secs(5));
        assert_eq!(Deadline::at_epoch_ms(NOW - 1, NOW).remaining(), Duration::ZERO);
    }
}
