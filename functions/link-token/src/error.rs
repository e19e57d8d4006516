//! Every way a request can fail, mapped once to an HTTP status, a stable `code` and a safe message.

use crate::link::LinkError;
use std::time::Duration;

/// Every way a request can fail, mapped once to an HTTP status, a stable `code` and a message that
/// never carries internal detail (that goes to the logs).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no authenticated user")]
    Unauthenticated,
    #[error("this route is for the merchant's server (IAM-signed), not for a shopper")]
    MerchantOnly,
    #[error("no such route")]
    RouteNotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("the body is not valid JSON")]
    InvalidJson,
    #[error("the body must be a JSON object")]
    NotAnObject,
    #[error("unknown field in the body: {0}")]
    UnknownField(String),
    #[error("{field} must be {expected}")]
    InvalidField { field: &'static str, expected: &'static str },
    #[error("the query parameter {name} must be {expected}")]
    InvalidParameter { name: &'static str, expected: &'static str },
    #[error("{0} is required")]
    MissingField(&'static str),
    #[error("amountInFiat must be more than 0 and at most {max} USD, with at most 2 decimals")]
    InvalidPrice { max: rust_decimal::Decimal },
    #[error("currency must be USD (the only fiat currency Mesh prices in)")]
    UnsupportedCurrency,
    #[error("assets: no configured destination has the symbol {0}")]
    UnknownAsset(String),
    #[error("orderId already has a checkout with another price, currency or shopper")]
    OrderConflict,
    #[error("the checkout is closed ({0})")]
    CheckoutClosed(&'static str),
    #[error("a payment for this checkout succeeded and is being valued: it settles, it cannot be canceled")]
    PaymentReceived,
    #[error("the checkout has had its {0} attempts: it takes no more")]
    TooManyAttempts(usize),
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("invalid Idempotency-Key")]
    InvalidIdempotencyKey,
    #[error("invalid cursor")]
    InvalidCursor,
    #[error("not found")]
    NotFound,
    #[error("a request with this Idempotency-Key is in progress")]
    InProgress,
    #[error("this Idempotency-Key was used with a different body")]
    KeyReused,
    #[error("Mesh refused the request: {0}")]
    MeshRejected(String),
    #[error("Mesh is unavailable: {detail}")]
    MeshUnavailable { detail: String, retry_after: Option<Duration> },
    #[error("misconfigured: {0}")]
    Misconfigured(String),
    #[error("storage is unavailable: {0}")]
    StoreUnavailable(String),
    /// Secrets Manager could not be reached (throttled, timed out, 5xx): transient, unlike a secret
    /// that is missing, forbidden or malformed, which is `Misconfigured`.
    #[error("the Mesh secret is unavailable: {0}")]
    SecretsUnavailable(String),
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            Self::Unauthenticated => 401,
            Self::MerchantOnly => 403,
            Self::RouteNotFound | Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::InProgress
            | Self::OrderConflict
            | Self::CheckoutClosed(_)
            | Self::PaymentReceived
            | Self::TooManyAttempts(_) => 409,
            Self::KeyReused => 422,
            Self::MeshRejected(_) => 502,
            Self::MeshUnavailable { .. } | Self::StoreUnavailable(_) | Self::SecretsUnavailable(_) => 503,
            Self::Misconfigured(_) => 500,
            _ => 400,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::MerchantOnly => "merchant_only",
            Self::RouteNotFound => "route_not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::InvalidJson | Self::NotAnObject => "invalid_json",
            Self::UnknownField(_) => "unknown_field",
            Self::InvalidField { .. } => "invalid_field",
            Self::InvalidParameter { .. } => "invalid_parameter",
            Self::MissingField(_) => "missing_field",
            Self::InvalidPrice { .. } => "invalid_amount",
            Self::UnsupportedCurrency => "unsupported_currency",
            Self::UnknownAsset(_) => "unknown_asset",
            Self::OrderConflict => "order_conflict",
            Self::CheckoutClosed(_) => "checkout_closed",
            Self::PaymentReceived => "payment_received",
            Self::TooManyAttempts(_) => "too_many_attempts",
            Self::Link(e) => e.code(),
            Self::InvalidIdempotencyKey => "invalid_idempotency_key",
            Self::InvalidCursor => "invalid_cursor",
            Self::NotFound => "not_found",
            Self::InProgress => "request_in_progress",
            Self::KeyReused => "idempotency_key_reused",
            Self::MeshRejected(_) => "mesh_rejected",
            Self::MeshUnavailable { .. } => "mesh_unavailable",
            Self::Misconfigured(_) => "misconfigured",
            Self::StoreUnavailable(_) | Self::SecretsUnavailable(_) => "temporarily_unavailable",
        }
    }

    /// Safe to show the caller.
    pub fn message(&self) -> String {
        match self {
            Self::Link(e) => e.to_string(),
            Self::MeshRejected(_) => "the payment provider refused the request".into(),
            Self::MeshUnavailable { .. } => "the payment provider is unavailable; retry later".into(),
            Self::Misconfigured(_) => "the service is misconfigured".into(),
            Self::StoreUnavailable(_) | Self::SecretsUnavailable(_) => {
                "the service is temporarily unavailable; retry later".into()
            }
            other => other.to_string(),
        }
    }

    /// For 503s: when to come back.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::MeshUnavailable { retry_after, .. } => Some(retry_after.unwrap_or(Duration::from_secs(5))),
            Self::StoreUnavailable(_) => Some(Duration::from_secs(1)),
            Self::SecretsUnavailable(_) => Some(Duration::from_secs(2)),
            _ => None,
        }
    }

    /// The 4xx codes this API can answer (for the OpenAPI check).
    #[cfg(test)]
    pub const CODES: &'static [&'static str] = &[
        "unauthenticated",
        "merchant_only",
        "route_not_found",
        "method_not_allowed",
        "invalid_json",
        "unknown_field",
        "invalid_field",
        "invalid_parameter",
        "invalid_amount",
        "unknown_symbol",
        "unknown_network",
        "no_matching_destination",
        "invalid_integration_id",
        "invalid_order_id",
        "missing_field",
        "unsupported_currency",
        "unknown_asset",
        "set_by_checkout",
        "checkout_required",
        "checkout_not_allowed",
        "order_conflict",
        "checkout_closed",
        "payment_received",
        "too_many_attempts",
        "invalid_idempotency_key",
        "invalid_cursor",
        "not_found",
        "request_in_progress",
        "idempotency_key_reused",
        "mesh_rejected",
        "mesh_unavailable",
        "misconfigured",
        "temporarily_unavailable",
    ];
}
