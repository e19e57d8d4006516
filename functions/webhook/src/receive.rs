//! Receiving one Mesh webhook delivery: the checks in the order that keeps an attacker from costing
//! us anything (method, size, source, signature: all before the body is read), then the same ingest
//! path reconciliation uses. No Mesh call on this path; 200 only once the event is durable.

use shared::domain::ids::{EventId, TransactionId, TransferId};
use shared::domain::report::{Outcome, Report, ReportSource};
use shared::domain::time::epoch_to_millis;
use shared::domain::transfer::{Received, ReportedStatus};
use shared::ingest::ingest;
use shared::mesh::WebhookEvent;
use shared::mesh::signature::{Signature, SignatureError};
use shared::runtime::config::{ConfigError, EnvSource};
use shared::runtime::secrets::{MeshSecrets, SecretCache, SecretSource, SecretsError};
use shared::storage::{CheckoutStore, StoreError, TransferStore};
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

/// Mesh's bodies are well under 2 KiB; 64 KiB leaves room and caps the work an attacker can cause.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const WEBHOOK_ALLOWED_IPS: &str = "WEBHOOK_ALLOWED_IPS";
pub const WEBHOOK_REPLAY_TOLERANCE_SECONDS: &str = "WEBHOOK_REPLAY_TOLERANCE_SECONDS";

/// What the webhook needs of the secret store: the webhook secrets, and a re-read when a signature
/// matches none of them (a rotation may have happened since they were cached).
pub trait WebhookKeys: Send + Sync {
    fn current(&self) -> impl Future<Output = Result<Arc<MeshSecrets>, SecretsError>> + Send;
    fn refreshed(&self) -> impl Future<Output = Result<Arc<MeshSecrets>, SecretsError>> + Send;
}

impl<S: SecretSource> WebhookKeys for SecretCache<S> {
    fn current(&self) -> impl Future<Output = Result<Arc<MeshSecrets>, SecretsError>> + Send {
        self.get()
    }
    fn refreshed(&self) -> impl Future<Output = Result<Arc<MeshSecrets>, SecretsError>> + Send {
        self.force_refresh()
    }
}

/// Keys that never change, with no secret store behind them: for the handler's tests and the bench.
pub struct FixedKeys(pub Arc<MeshSecrets>);

impl WebhookKeys for FixedKeys {
    async fn current(&self) -> Result<Arc<MeshSecrets>, SecretsError> {
        Ok(self.0.clone())
    }
    async fn refreshed(&self) -> Result<Arc<MeshSecrets>, SecretsError> {
        Ok(self.0.clone())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    /// Defence in depth only (Mesh sends from one published address); the signature stays the
    /// authority. `None` = no source check.
    pub allowed_ips: Option<Vec<IpAddr>>,
    /// Deliveries whose signed `SentTimestamp` is further than this from now are logged and counted,
    /// not refused: Mesh does not document that retries refresh it.
    pub replay_tolerance_ms: i64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self { allowed_ips: None, replay_tolerance_ms: 300_000 }
    }
}

impl WebhookSettings {
    pub fn from_source(env: &impl EnvSource) -> Result<Self, ConfigError> {
        let mut settings = Self::default();
        if let Some(raw) = env.var(WEBHOOK_ALLOWED_IPS).filter(|v| !v.trim().is_empty()) {
            let ips =
                raw.split(',').map(|ip| ip.trim().parse::<IpAddr>()).collect::<Result<Vec<_>, _>>().map_err(|_| {
                    ConfigError::Invalid {
                        name: WEBHOOK_ALLOWED_IPS.into(),
                        reason: "expected a comma-separated list of IP addresses".into(),
                    }
                })?;
            settings.allowed_ips = Some(ips);
        }
        if let Some(raw) = env.var(WEBHOOK_REPLAY_TOLERANCE_SECONDS).filter(|v| !v.trim().is_empty()) {
            let secs = raw.trim().parse::<i64>().ok().filter(|s| (1..=86_400).contains(s)).ok_or_else(|| {
                ConfigError::Invalid {
                    name: WEBHOOK_REPLAY_TOLERANCE_SECONDS.into(),
                    reason: "expected whole seconds from 1 to 86400".into(),
                }
            })?;
            settings.replay_tolerance_ms = secs * 1000;
        }
        Ok(settings)
    }
}

/// One HTTP delivery, as the function URL handed it over (body already Base64-decoded).
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    pub method: &'a str,
    pub body: &'a [u8],
    pub signature: Option<&'a [u8]>,
    pub source_ip: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("only POST is accepted")]
    MethodNotAllowed,
    #[error("the body is larger than {MAX_BODY_BYTES} bytes")]
    PayloadTooLarge,
    #[error("the source address is not allowed")]
    SourceNotAllowed,
    #[error("{0}")]
    Signature(SignatureError),
    #[error("the webhook secret is unavailable: {0}")]
    SecretsUnavailable(SecretsError),
    #[error("the event could not be stored: {0}")]
    StoreUnavailable(StoreError),
}

impl WebhookError {
    pub fn status(&self) -> u16 {
        match self {
            Self::MethodNotAllowed => 405,
            Self::PayloadTooLarge => 413,
            Self::SourceNotAllowed => 403,
            Self::Signature(_) => 401,
            // 5xx so Mesh retries: nothing was recorded, nothing is lost.
            Self::SecretsUnavailable(_) | Self::StoreUnavailable(_) => 503,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::SourceNotAllowed => "source_not_allowed",
            Self::Signature(e) => e.code(),
            Self::SecretsUnavailable(_) | Self::StoreUnavailable(_) => "temporarily_unavailable",
        }
    }

    /// What the caller is told: never internal detail.
    pub fn public_message(&self) -> &'static str {
        match self {
            Self::MethodNotAllowed => "only POST is accepted",
            Self::PayloadTooLarge => "the body is too large",
            Self::SourceNotAllowed => "the source address is not allowed",
            Self::Signature(_) => "the signature is missing or invalid",
            Self::SecretsUnavailable(_) | Self::StoreUnavailable(_) => "try again later",
        }
    }
}

/// The ids of an accepted delivery, for the log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub outcome: Outcome,
    pub event_id: Option<String>,
    pub transfer_id: Option<String>,
    pub transaction_id: Option<String>,
    pub mismatches: usize,
    /// The signed send time was outside the replay tolerance (flagged, not refused).
    pub outside_replay_window: bool,
}

pub async fn receive<S: TransferStore + CheckoutStore, K: WebhookKeys>(
    store: &S,
    keys: &K,
    settings: &WebhookSettings,
    delivery: Delivery<'_>,
    now_ms: i64,
) -> Result<Accepted, WebhookError> {
    if !delivery.method.eq_ignore_ascii_case("POST") {
        return Err(WebhookError::MethodNotAllowed);
    }
    if delivery.body.len() > MAX_BODY_BYTES {
        return Err(WebhookError::PayloadTooLarge);
    }
    if let Some(allowed) = &settings.allowed_ips {
        let source = delivery.source_ip.and_then(|ip| ip.parse::<IpAddr>().ok());
        if !source.is_some_and(|ip| allowed.contains(&ip)) {
            return Err(WebhookError::SourceNotAllowed);
        }
    }
    authenticate(keys, delivery).await?;

    let Ok(event) = serde_json::from_slice::<WebhookEvent>(delivery.body) else {
        return park(store, "unparseable", delivery.body, now_ms).await;
    };
    let (Ok(event_id), Ok(transfer_id)) =
        (EventId::parse(event.event_id.clone()), TransferId::parse(event.transfer_id.clone()))
    else {
        return park(store, "malformed_ids", delivery.body, now_ms).await;
    };
    let (Ok(event_at), Ok(sent_at)) =
        (event.timestamp.map(epoch_to_millis).transpose(), event.sent_timestamp.map(epoch_to_millis).transpose())
    else {
        return park(store, "impossible_time", delivery.body, now_ms).await;
    };
    let outside_replay_window =
        sent_at.is_some_and(|sent| now_ms.abs_diff(sent) > settings.replay_tolerance_ms.unsigned_abs());
    let report = Report {
        event_id,
        source: ReportSource::Webhook,
        transfer_id,
        transaction_id: event.transaction_id.clone().and_then(|t| TransactionId::parse(t).ok()),
        user_id: event.user_id.clone(),
        status: ReportedStatus::parse(&event.transfer_status),
        event_at,
        tx_hash: event.tx_hash.clone(),
        received: Received {
            amount: event.destination_amount,
            token: event.token.clone(),
            chain: event.chain.clone(),
            address: event.destination_address.clone(),
            amount_in_fiat: None,
        },
    };
    let plan = ingest(store, &report, &event.transfer_status, now_ms).await.map_err(WebhookError::StoreUnavailable)?;
    Ok(Accepted {
        outcome: plan.outcome,
        event_id: Some(event.event_id),
        transfer_id: Some(event.transfer_id),
        transaction_id: event.transaction_id,
        mismatches: plan.event.mismatches.len(),
        outside_replay_window,
    })
}

/// Signature first: its shape needs no secret, so a delivery without one costs no Secrets Manager read.
/// A mismatch gets one re-read of the secret (rate-limited by the cache), so a rotation is picked up at
/// once rather than after the TTL.
async fn authenticate<K: WebhookKeys>(keys: &K, delivery: Delivery<'_>) -> Result<(), WebhookError> {
    let signature = Signature::parse(delivery.signature).map_err(WebhookError::Signature)?;
    let secrets = keys.current().await.map_err(WebhookError::SecretsUnavailable)?;
    match signature.verify(secrets.webhook_secrets(), delivery.body) {
        Err(SignatureError::Mismatch) => {
            let fresh = keys.refreshed().await.map_err(WebhookError::SecretsUnavailable)?;
            if Arc::ptr_eq(&fresh, &secrets) {
                return Err(WebhookError::Signature(SignatureError::Mismatch));
            }
            signature.verify(fresh.webhook_secrets(), delivery.body).map_err(WebhookError::Signature)
        }
        other => other.map_err(WebhookError::Signature),
    }
}

/// A validly signed body we cannot read: kept for a human and acknowledged, so Mesh does not retry
/// it forever.
async fn park<S: TransferStore>(
    store: &S,
    reason: &'static str,
    body: &[u8],
    now_ms: i64,
) -> Result<Accepted, WebhookError> {
    store.park(reason, body, now_ms).await.map_err(WebhookError::StoreUnavailable)?;
    Ok(Accepted {
        outcome: Outcome::Parked,
        event_id: None,
        transfer_id: None,
        transaction_id: None,
        mismatches: 0,
        outside_replay_window: false,
    })
}
