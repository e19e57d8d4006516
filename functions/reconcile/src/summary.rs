//! What one run did: its status and counts, returned by the function, logged, and recorded as metrics.

use crate::lease::WindowCursor;
use crate::plan::{PlanKind, TimestampUnit};
use serde::{Deserialize, Serialize};

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
    /// Open transfers still `created` whose link token lapsed and that Mesh did not know: marked
    /// `abandoned`, out of the open set.
    #[serde(default)]
    pub abandoned: u64,
    /// Open checkouts read by the sweep (soonest to expire first, at most
    /// `RECONCILE_MAX_OPEN_CHECKOUTS`).
    #[serde(default)]
    pub open_checkouts: u64,
    /// Open checkouts past their expiry that no attempt had paid, as Mesh confirmed: now `expired`.
    #[serde(default)]
    pub checkouts_expired: u64,
    /// Checkouts a payment had left unpriced, settled by this run from Mesh's fiat figure.
    #[serde(default)]
    pub checkouts_priced: u64,
    /// Times Mesh's listing said there was nothing (a count of zero, an empty window) while a lookup of
    /// an open transfer inside it found one: the listing was not believed.
    pub listing_contradicted: u64,
    /// The unit of Mesh's timestamps this run used, as learnt from what Mesh returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_unit: Option<TimestampUnit>,
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
            ("ReconcileListingContradicted", self.listing_contradicted),
            ("ReconcileAbandoned", self.abandoned),
            ("ReconcileCheckoutsExpired", self.checkouts_expired),
            ("ReconcileCheckoutsPriced", self.checkouts_priced),
            ("ReconcileMeshCalls", self.mesh_calls),
            ("ReconcileMeshRetries", self.mesh_retries),
            ("ReconcilePages", self.pages),
        ] {
            metrics::counter!(name).increment(value);
        }
        metrics::gauge!("ReconcileStillOpen").set(self.still_open as f64);
        metrics::gauge!("ReconcileBeyondHorizon").set(self.beyond_horizon as f64);
        metrics::gauge!("ReconcileOpenCheckouts").set(self.open_checkouts as f64);
        metrics::gauge!("ReconcileDurationMs").set(self.duration_ms as f64);
        if self.status == RunStatus::PageCapReached {
            metrics::counter!("ReconcilePageCapReached").increment(1);
        }
    }
}
