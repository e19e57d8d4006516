//! What Mesh reports about a transfer (from a webhook or from reconciliation), and what became of it.
//! Plain data shared by the ingest path, which decides, and the storage layer, which records it.

use crate::domain::ids::{EventId, TransactionId, TransferId};
use crate::domain::transfer::{Received, ReportedStatus};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportSource {
    Webhook,
    Reconcile,
}

/// One report of a transfer's status by Mesh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The webhook's `EventId`; for reconciliation, an id derived from the transfer and status.
    pub event_id: EventId,
    pub source: ReportSource,
    pub transfer_id: TransferId,
    /// Our transaction id as Mesh echoes it; `None` when absent or not one of ours in shape.
    pub transaction_id: Option<TransactionId>,
    pub user_id: Option<String>,
    pub status: ReportedStatus,
    /// When the status event occurred (Unix ms).
    pub event_at: Option<i64>,
    pub tx_hash: Option<String>,
    pub received: Received,
}

/// What became of a report. Every outcome but `Duplicate` leaves exactly one event record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Applied,
    Refreshed,
    Refunded,
    Duplicate,
    Stale,
    Regression,
    Conflict,
    /// Unknown status: kept for a human, acknowledged so Mesh does not retry forever.
    Parked,
    /// No transfer of ours has this transaction id: kept and flagged, never dropped.
    Orphan,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Refreshed => "refreshed",
            Self::Refunded => "refunded",
            Self::Duplicate => "duplicate",
            Self::Stale => "stale",
            Self::Regression => "regression",
            Self::Conflict => "conflict",
            Self::Parked => "parked",
            Self::Orphan => "orphan",
        }
    }
}
