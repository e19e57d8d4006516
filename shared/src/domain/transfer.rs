//! The transfer domain, pure: the record we keep for each payment attempt and the rules by which
//! what Mesh reports may move it. No I/O here; the store encodes the same rules as DynamoDB
//! conditions and its tests prove the two agree.

use crate::domain::ids::{CheckoutId, TransactionId, TransferId, UserId};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// Our view of a transfer. `Created`: a link token was minted, Mesh has not reported a transfer yet.
/// `Abandoned`: its link token lapsed and Mesh, asked, knows no transfer for it; it leaves the open
/// set, yet a late report from Mesh still moves it forward like `Created`. `Pending`: Mesh reports it
/// initiated. `Succeeded` and `Failed` are terminal and never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferStatus {
    Created,
    Abandoned,
    Pending,
    Succeeded,
    Failed,
}

impl TransferStatus {
    pub const ALL: [TransferStatus; 5] = [Self::Created, Self::Abandoned, Self::Pending, Self::Succeeded, Self::Failed];

    /// Statuses only ever move to a higher rank. Both terminal statuses share the top rank, so one
    /// terminal status can never replace the other.
    pub fn rank(self) -> u8 {
        match self {
            Self::Created | Self::Abandoned => 0,
            Self::Pending => 1,
            Self::Succeeded | Self::Failed => 2,
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }

    /// In the open set that reconcile watches: neither terminal nor abandoned.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Created | Self::Pending)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Abandoned => "abandoned",
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }
}

/// Refunds run on their own track beside the canonical status: a refund never un-succeeds or
/// un-fails a transfer, it is recorded next to it and moves forward only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    Pending,
    Succeeded,
}

impl RefundStatus {
    fn rank(self) -> u8 {
        match self {
            Self::Pending => 1,
            Self::Succeeded => 2,
        }
    }
}

/// A status as Mesh reports it, in a webhook (`TransferStatus`, PascalCase) or over REST
/// (`status`, camelCase). Parsed case-insensitively; anything else is kept verbatim as `Unknown`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReportedStatus {
    Pending,
    Succeeded,
    Failed,
    RefundPending,
    RefundSucceeded,
    Unknown(String),
}

impl ReportedStatus {
    pub fn parse(raw: &str) -> Self {
        let folded: String =
            raw.trim().chars().filter(|c| *c != '_' && *c != '-').collect::<String>().to_ascii_lowercase();
        match folded.as_str() {
            "pending" => Self::Pending,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "refundpending" => Self::RefundPending,
            "refundsucceeded" => Self::RefundSucceeded,
            _ => Self::Unknown(raw.to_string()),
        }
    }
}

/// What is known of a transfer's progress: enough to decide whether a report moves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub status: TransferStatus,
    pub refund: Option<RefundStatus>,
    /// When the event last applied to the status occurred (Unix ms, Mesh's clock).
    pub last_event_at: Option<i64>,
}

/// Why a report leaves the transfer as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unchanged {
    /// The report is of a lower rank than what we know: late or reordered delivery.
    Regression,
    /// Same status, and not newer than what was applied.
    Stale,
    /// The other terminal status: Mesh contradicts itself. Recorded and flagged, never applied.
    Conflict,
    /// A status this code does not know: parked for a human, acknowledged so Mesh does not retry.
    UnknownStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Move the canonical status forward.
    Advance(TransferStatus),
    /// Same status, newer event: update its details (amounts, hash), not the status.
    Refresh,
    /// Move the refund track forward.
    Refund(RefundStatus),
    Keep(Unchanged),
}

/// The one rule for every writer (webhook and reconcile): forward only, terminal is final, same-rank
/// updates ordered by the event's own time (`None` = unknown time, never newer than a known one).
pub fn decide(current: &Progress, reported: &ReportedStatus, event_at: Option<i64>) -> Decision {
    let target = match reported {
        ReportedStatus::Pending => TransferStatus::Pending,
        ReportedStatus::Succeeded => TransferStatus::Succeeded,
        ReportedStatus::Failed => TransferStatus::Failed,
        ReportedStatus::RefundPending => return decide_refund(current.refund, RefundStatus::Pending),
        ReportedStatus::RefundSucceeded => return decide_refund(current.refund, RefundStatus::Succeeded),
        ReportedStatus::Unknown(_) => return Decision::Keep(Unchanged::UnknownStatus),
    };
    match target.rank().cmp(&current.status.rank()) {
        Ordering::Greater => Decision::Advance(target),
        Ordering::Less => Decision::Keep(Unchanged::Regression),
        Ordering::Equal if target != current.status => Decision::Keep(Unchanged::Conflict),
        Ordering::Equal => match (event_at, current.last_event_at) {
            (Some(new), Some(old)) if new > old => Decision::Refresh,
            (Some(_), None) => Decision::Refresh,
            _ => Decision::Keep(Unchanged::Stale),
        },
    }
}

fn decide_refund(current: Option<RefundStatus>, target: RefundStatus) -> Decision {
    match current {
        Some(cur) if cur.rank() >= target.rank() => {
            Decision::Keep(if cur == target { Unchanged::Stale } else { Unchanged::Regression })
        }
        _ => Decision::Refund(target),
    }
}

/// A destination as offered to the user in the link token (what the server chose, never the browser).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferedDestination {
    pub symbol: String,
    pub network_id: String,
    pub network_name: String,
    pub address: String,
}

/// What Mesh says arrived, as reported by a webhook or the transfers API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Received {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Mesh's own value of what arrived, in USD (`destinationAmountInFiat` of the transfers API;
    /// webhooks carry none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_in_fiat: Option<Decimal>,
}

/// A difference between what arrived and what the link token offered and expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mismatch {
    Underpaid,
    Overpaid,
    Token,
    Network,
    Address,
    /// Mesh names another user than the one the transfer was created for.
    User,
}

/// Mesh reported the other terminal status after one was applied: never applied (terminal is final),
/// flagged on the transfer so whoever reads it sees that Mesh contradicted itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// The terminal status Mesh reported last, the one that contradicts `status`.
    pub reported: TransferStatus,
    /// When we flagged it (Unix ms).
    pub flagged_at: i64,
}

/// Everything we keep about one payment attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferRecord {
    pub transaction_id: TransactionId,
    pub user_id: UserId,
    pub status: TransferStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund: Option<RefundStatus>,
    /// Unix ms.
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_at: Option<i64>,
    /// Bumped by every applied change (optimistic locking).
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// The checkout this attempt pays, if any (payment mode); its settlement follows this transfer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout_id: Option<CheckoutId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_amount_fiat: Option<Decimal>,
    #[serde(default)]
    pub offered: Vec<OfferedDestination>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesh_transfer_id: Option<TransferId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received: Option<Received>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mismatches: Vec<Mismatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict: Option<Conflict>,
}

impl TransferRecord {
    /// A transfer the moment its link token is minted.
    pub fn created(transaction_id: TransactionId, user_id: UserId, now_ms: i64) -> Self {
        Self {
            transaction_id,
            user_id,
            status: TransferStatus::Created,
            refund: None,
            created_at: now_ms,
            updated_at: now_ms,
            last_event_at: None,
            version: 1,
            order_id: None,
            checkout_id: None,
            expected_amount_fiat: None,
            offered: Vec::new(),
            mesh_transfer_id: None,
            tx_hash: None,
            received: None,
            mismatches: Vec::new(),
            conflict: None,
        }
    }

    pub fn progress(&self) -> Progress {
        Progress { status: self.status, refund: self.refund, last_event_at: self.last_event_at }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Decision::*;
    use TransferStatus::*;
    use Unchanged::*;

    fn at(status: TransferStatus, last: Option<i64>) -> Progress {
        Progress { status, refund: None, last_event_at: last }
    }

    /// Every (from, reported) pair for the canonical statuses, written out by hand: the table is the spec.
    #[test]
    fn canonical_transition_table() {
        use ReportedStatus as R;
        let table: [(TransferStatus, ReportedStatus, Decision); 15] = [
            (Created, R::Pending, Advance(Pending)),
            (Created, R::Succeeded, Advance(Succeeded)),
            (Created, R::Failed, Advance(Failed)),
            (Abandoned, R::Pending, Advance(Pending)),
            (Abandoned, R::Succeeded, Advance(Succeeded)),
            (Abandoned, R::Failed, Advance(Failed)),
            (Pending, R::Pending, Refresh),
            (Pending, R::Succeeded, Advance(Succeeded)),
            (Pending, R::Failed, Advance(Failed)),
            (Succeeded, R::Pending, Keep(Regression)),
            (Succeeded, R::Succeeded, Refresh),
            (Succeeded, R::Failed, Keep(Conflict)),
            (Failed, R::Pending, Keep(Regression)),
            (Failed, R::Succeeded, Keep(Conflict)),
            (Failed, R::Failed, Refresh),
        ];
        for (from, reported, expected) in &table {
            assert_eq!(decide(&at(*from, Some(100)), reported, Some(200)), *expected, "{from:?} + {reported:?}");
        }
        // The table covers every pair.
        assert_eq!(table.len(), TransferStatus::ALL.len() * 3);
    }

    #[test]
    fn terminal_statuses_never_change_whatever_arrives() {
        use ReportedStatus as R;
        for from in [Succeeded, Failed] {
            for reported in [R::Pending, R::Succeeded, R::Failed, R::Unknown("Cancelled".into())] {
                for ts in [None, Some(0), Some(i64::MAX)] {
                    let d = decide(&at(from, Some(100)), &reported, ts);
                    assert!(!matches!(d, Advance(_)), "{from:?} moved on {reported:?}: {d:?}");
                }
            }
        }
    }

    #[test]
    fn same_rank_updates_are_ordered_by_event_time() {
        let p = at(Pending, Some(1_000));
        assert_eq!(decide(&p, &ReportedStatus::Pending, Some(1_001)), Refresh);
        assert_eq!(decide(&p, &ReportedStatus::Pending, Some(1_000)), Keep(Stale));
        assert_eq!(decide(&p, &ReportedStatus::Pending, Some(999)), Keep(Stale));
        assert_eq!(decide(&p, &ReportedStatus::Pending, None), Keep(Stale));
        assert_eq!(decide(&at(Pending, None), &ReportedStatus::Pending, Some(1)), Refresh);
        assert_eq!(decide(&at(Pending, None), &ReportedStatus::Pending, None), Keep(Stale));
    }

    #[test]
    fn refunds_move_their_own_track_forward_only() {
        use ReportedStatus as R;
        let table = [
            (None, R::RefundPending, Refund(RefundStatus::Pending)),
            (None, R::RefundSucceeded, Refund(RefundStatus::Succeeded)),
            (Some(RefundStatus::Pending), R::RefundPending, Keep(Stale)),
            (Some(RefundStatus::Pending), R::RefundSucceeded, Refund(RefundStatus::Succeeded)),
            (Some(RefundStatus::Succeeded), R::RefundPending, Keep(Regression)),
            (Some(RefundStatus::Succeeded), R::RefundSucceeded, Keep(Stale)),
        ];
        for status in TransferStatus::ALL {
            for (refund, reported, expected) in &table {
                let p = Progress { status, refund: *refund, last_event_at: None };
                assert_eq!(decide(&p, reported, Some(5)), *expected, "{status:?}/{refund:?} + {reported:?}");
            }
        }
    }

    #[test]
    fn unknown_statuses_are_parked_never_guessed() {
        for status in TransferStatus::ALL {
            let d = decide(&at(status, None), &ReportedStatus::parse("Reversed"), Some(1));
            assert_eq!(d, Keep(UnknownStatus));
        }
    }

    #[test]
    fn reported_status_parses_any_case() {
        assert_eq!(ReportedStatus::parse("Pending"), ReportedStatus::Pending);
        assert_eq!(ReportedStatus::parse("SUCCEEDED"), ReportedStatus::Succeeded);
        assert_eq!(ReportedStatus::parse("failed"), ReportedStatus::Failed);
        assert_eq!(ReportedStatus::parse("RefundPending"), ReportedStatus::RefundPending);
        assert_eq!(ReportedStatus::parse("refund_succeeded"), ReportedStatus::RefundSucceeded);
        assert_eq!(ReportedStatus::parse("Settled"), ReportedStatus::Unknown("Settled".into()));
        assert_eq!(ReportedStatus::parse(""), ReportedStatus::Unknown("".into()));
    }

    #[test]
    fn ranks_order_the_lifecycle() {
        assert!(Created.rank() < Pending.rank());
        assert!(Pending.rank() < Succeeded.rank());
        assert_eq!(Succeeded.rank(), Failed.rank());
        assert!(Succeeded.is_terminal() && Failed.is_terminal());
        assert!(!Created.is_terminal() && !Pending.is_terminal() && !Abandoned.is_terminal());
        assert_eq!(Abandoned.rank(), Created.rank());
        assert!(Created.is_open() && Pending.is_open());
        assert!(!Abandoned.is_open() && !Succeeded.is_open() && !Failed.is_open());
    }

    #[test]
    fn record_round_trips_with_decimal_amounts() {
        let mut r = TransferRecord::created(TransactionId::generate(), UserId::parse("u1").unwrap(), 1);
        r.expected_amount_fiat = Some("49.99".parse().unwrap());
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"49.99\""), "amounts are stored as exact decimal strings: {json}");
        assert_eq!(serde_json::from_str::<TransferRecord>(&json).unwrap(), r);
    }
}
