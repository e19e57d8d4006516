//! What the API answers, as `openapi.json` describes it (camelCase, amounts as exact decimal strings):
//! a transfer as its shopper sees it, a checkout as the merchant's server sees it, and the checkout's
//! summary a shopper's transfer carries.

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use shared::domain::checkout::{CheckoutRecord, CheckoutStatus, ReviewFlag};
use shared::domain::transfer::{
    Conflict, Mismatch, OfferedDestination, Received, RefundStatus, TransferRecord, TransferStatus,
};
use std::collections::BTreeMap;

/// A transfer as its user sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferView {
    pub transaction_id: String,
    pub status: TransferStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund: Option<RefundStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_in_fiat: Option<Decimal>,
    pub offered: Vec<OfferedView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received: Option<ReceivedView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx_hash: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mismatches: Vec<Mismatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflict: Option<ConflictView>,
    /// The checkout this transfer pays: whether the order is paid in full and safe to fulfil.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkout: Option<CheckoutSummary>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Mesh reported the other terminal status after `status` was final: not applied, shown so the merchant
/// can look into it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConflictView {
    pub reported_status: TransferStatus,
    pub flagged_at: i64,
}

impl From<Conflict> for ConflictView {
    fn from(c: Conflict) -> Self {
        Self { reported_status: c.reported, flagged_at: c.flagged_at }
    }
}

/// A destination as the API shows it (camelCase like the rest of the API).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OfferedView {
    pub symbol: String,
    pub network_id: String,
    pub network_name: String,
    pub address: String,
}

impl From<OfferedDestination> for OfferedView {
    fn from(d: OfferedDestination) -> Self {
        Self { symbol: d.symbol, network_id: d.network_id, network_name: d.network_name, address: d.address }
    }
}

/// What Mesh says arrived.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceivedView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_in_fiat: Option<Decimal>,
}

impl From<Received> for ReceivedView {
    fn from(r: Received) -> Self {
        Self { amount: r.amount, token: r.token, chain: r.chain, address: r.address, amount_in_fiat: r.amount_in_fiat }
    }
}

impl TransferView {
    pub fn new(r: TransferRecord, checkout: Option<CheckoutSummary>) -> Self {
        Self {
            transaction_id: r.transaction_id.to_string(),
            status: r.status,
            refund: r.refund,
            order_id: r.order_id,
            amount_in_fiat: r.expected_amount_fiat,
            offered: r.offered.into_iter().map(OfferedView::from).collect(),
            received: r.received.map(ReceivedView::from),
            tx_hash: r.tx_hash,
            mismatches: r.mismatches,
            conflict: r.conflict.map(ConflictView::from),
            checkout,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// The one thing a shopper's page (and the merchant reading a transfer) needs about the order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutSummary {
    pub checkout_id: String,
    pub status: CheckoutStatus,
    pub safe_to_fulfil: bool,
    pub review_required: bool,
}

impl From<&CheckoutRecord> for CheckoutSummary {
    fn from(c: &CheckoutRecord) -> Self {
        Self {
            checkout_id: c.checkout_id.to_string(),
            status: c.status,
            safe_to_fulfil: c.safe_to_fulfil(),
            review_required: c.review_required(),
        }
    }
}

/// A checkout as the merchant's server sees it. Absent values are `null`, never left out, so an order
/// system reads every field the same way in every state.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutView {
    pub checkout_id: String,
    pub order_id: String,
    pub status: CheckoutStatus,
    pub amount_in_fiat: Decimal,
    pub currency: String,
    /// The shopper as this API knows them: the `sub` given, or the stable hash that replaces a `sub`
    /// that looks like an e-mail address or phone number or is longer than 50 characters.
    pub user_id: String,
    /// Empty: every configured asset.
    pub assets: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    pub attempts: Vec<String>,
    pub received_in_fiat: Option<Decimal>,
    pub settled_by: Option<String>,
    pub flags: Vec<ReviewFlag>,
    pub review_required: bool,
    pub safe_to_fulfil: bool,
    pub expires_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub closed_at: Option<i64>,
}

impl From<CheckoutRecord> for CheckoutView {
    fn from(c: CheckoutRecord) -> Self {
        Self {
            review_required: c.review_required(),
            safe_to_fulfil: c.safe_to_fulfil(),
            checkout_id: c.checkout_id.to_string(),
            order_id: c.order_id.to_string(),
            status: c.status,
            amount_in_fiat: c.amount_in_fiat,
            currency: c.currency,
            user_id: c.shopper.to_string(),
            assets: c.assets,
            metadata: c.metadata,
            attempts: c.attempts.iter().map(ToString::to_string).collect(),
            received_in_fiat: c.received_in_fiat,
            settled_by: c.settled_by.map(|t| t.to_string()),
            flags: c.flags,
            expires_at: c.expires_at_ms,
            created_at: c.created_at,
            updated_at: c.updated_at,
            closed_at: c.closed_at,
        }
    }
}

/// The JSON of a list page.
pub fn page_json(items: Vec<TransferView>, next: Option<String>) -> Value {
    serde_json::json!({ "items": items, "nextCursor": next })
}
