//! The link-token use cases over narrow ports: mint a token (idempotently), read one transfer, list a
//! user's transfers. HTTP stays in `handler.rs`.

use crate::error::ApiError;
use crate::idempotency::{self, Begin, IdempotencyStore, Window};
use crate::link::{self, LinkPolicy, LinkTokenBody, ResolvedDestination};
use serde::Serialize;
use serde_json::Value;
use shared::domain::ids::{TransactionId, UserId};
use shared::domain::transfer::{
    Conflict, Mismatch, OfferedDestination, Received, RefundStatus, TransferRecord, TransferStatus,
};
use shared::mesh::{MeshClient, MeshError};
use shared::runtime::config::Destinations;
use shared::runtime::deadline::FunctionTimeout;
use shared::runtime::secrets::{MeshSecrets, SecretCache, SecretSource, SecretsError};
use shared::storage::{CheckoutStore, PageCursor, StoreError, TransferStore};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Mesh's link tokens must be used within 10 minutes.
pub const TOKEN_LIFETIME_MS: i64 = 10 * 60 * 1000;
/// How long Mesh's network list is trusted before it is fetched again.
const NETWORKS_TTL: Duration = Duration::from_secs(3600);
pub const MAX_PAGE: usize = 50;
/// The function's `Timeout` in `template.yaml`: how long a request holds its Idempotency-Key when the
/// runtime gives no usable deadline.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(25);

pub struct LinkService<S, I, K> {
    pub store: S,
    pub idempotency: I,
    pub secrets: SecretCache<K>,
    pub mesh: MeshClient,
    pub destinations: Destinations,
    pub policy: LinkPolicy,
    /// Bounds an invocation whose runtime deadline is missing or in the past.
    pub timeout: FunctionTimeout,
    resolved: Mutex<Option<(Arc<Vec<ResolvedDestination>>, Instant)>>,
}

/// What `POST /link-tokens` answers.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Minted {
    pub transaction_id: String,
    pub link_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_link: Option<String>,
    /// Unix ms after which Mesh no longer accepts the token.
    pub expires_at: i64,
}

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
    pub amount_in_fiat: Option<rust_decimal::Decimal>,
    pub offered: Vec<OfferedView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received: Option<Received>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx_hash: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mismatches: Vec<Mismatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflict: Option<ConflictView>,
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

impl From<TransferRecord> for TransferView {
    fn from(r: TransferRecord) -> Self {
        Self {
            transaction_id: r.transaction_id.to_string(),
            status: r.status,
            refund: r.refund,
            order_id: r.order_id,
            amount_in_fiat: r.expected_amount_fiat,
            offered: r.offered.into_iter().map(OfferedView::from).collect(),
            received: r.received,
            tx_hash: r.tx_hash,
            mismatches: r.mismatches,
            conflict: r.conflict.map(ConflictView::from),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

fn store_error(e: StoreError) -> ApiError {
    ApiError::StoreUnavailable(e.to_string())
}

/// Only an unreachable Secrets Manager is worth a retry; a secret that is missing, forbidden or
/// malformed stays broken until someone fixes the deployment.
fn secrets_error(e: SecretsError) -> ApiError {
    match e {
        SecretsError::Unavailable(detail) => ApiError::SecretsUnavailable(detail),
        other => ApiError::Misconfigured(other.to_string()),
    }
}

fn mesh_error(e: MeshError) -> ApiError {
    let class = match &e {
        MeshError::Unauthorized | MeshError::Forbidden => "auth",
        MeshError::BadRequest { .. } | MeshError::NotFound { .. } => "validation",
        MeshError::Throttled { .. } => "throttled",
        MeshError::Server { .. } | MeshError::Timeout | MeshError::Transport(_) => "unavailable",
        _ => "protocol",
    };
    metrics::counter!("MeshErrors", "Class" => class).increment(1);
    tracing::warn!(class, error = %e, "Mesh call failed");
    if e.is_retryable() {
        ApiError::MeshUnavailable { detail: e.to_string(), retry_after: e.retry_after() }
    } else {
        ApiError::MeshRejected(e.to_string())
    }
}

impl<S: TransferStore + CheckoutStore, I: IdempotencyStore, K: SecretSource> LinkService<S, I, K> {
    pub fn new(
        store: S,
        idempotency: I,
        secrets: SecretCache<K>,
        mesh: MeshClient,
        destinations: Destinations,
        policy: LinkPolicy,
    ) -> Self {
        let timeout = FunctionTimeout::new(DEFAULT_TIMEOUT);
        Self { store, idempotency, secrets, mesh, destinations, policy, timeout, resolved: Mutex::new(None) }
    }

    /// `POST /link-tokens`, at most once per (user, Idempotency-Key).
    pub async fn create(
        &self,
        user: &UserId,
        body: LinkTokenBody,
        idempotency_key: Option<&str>,
        deadline_ms: i64,
        now_ms: i64,
    ) -> Result<(Minted, bool), ApiError> {
        let Some(client_key) = idempotency_key else {
            return self.mint(user, &body, now_ms).await.map(|m| (m, false));
        };
        if client_key.is_empty() || client_key.len() > 255 || !client_key.chars().all(|c| c.is_ascii_graphic()) {
            return Err(ApiError::InvalidIdempotencyKey);
        }
        let key = idempotency::scoped_key("link-token", user.as_str(), client_key);
        let payload = idempotency::payload_hash(&serde_json::to_vec(&body).map_err(|_| ApiError::InvalidJson)?);
        let window =
            Window { now_ms, in_progress_until_ms: deadline_ms, expires_at_s: (now_ms + TOKEN_LIFETIME_MS) / 1000 };
        match self.idempotency.begin(&key, &payload, window).await.map_err(store_error)? {
            Begin::Replay(stored) => {
                let minted = serde_json::from_str(&stored).map_err(|e| ApiError::StoreUnavailable(e.to_string()))?;
                Ok((minted, true))
            }
            Begin::InProgress => Err(ApiError::InProgress),
            Begin::PayloadMismatch => Err(ApiError::KeyReused),
            Begin::Started => match self.mint(user, &body, now_ms).await {
                Ok(minted) => {
                    let json = serde_json::to_string(&minted).map_err(|e| ApiError::StoreUnavailable(e.to_string()))?;
                    if let Err(e) = self.idempotency.complete(&key, &json).await {
                        // The token exists and the transfer is recorded; only replays are affected.
                        tracing::warn!(error = %e, "could not store the idempotent answer");
                    }
                    Ok((minted, false))
                }
                Err(e) => {
                    if let Err(abandon) = self.idempotency.abandon(&key).await {
                        tracing::warn!(error = %abandon, "could not release the idempotency record");
                    }
                    Err(e)
                }
            },
        }
    }

    async fn mint(&self, user: &UserId, body: &LinkTokenBody, now_ms: i64) -> Result<Minted, ApiError> {
        link::validate(body, &self.policy)?;
        let secrets = self.secrets.get().await.map_err(secrets_error)?;
        let resolved = self.resolved_destinations(&secrets).await?;
        let chosen = link::select(&resolved, body.symbol.as_deref(), body.network.as_deref())?;
        let transaction_id = TransactionId::generate();
        let request = link::build(user, body, &chosen, &self.policy, &transaction_id);

        let started = Instant::now();
        let result = match self.mesh.create_link_token(&secrets, &request).await {
            // Credentials may have been rotated since they were cached: one re-read, one retry.
            Err(MeshError::Unauthorized) => {
                let fresh = self.secrets.force_refresh().await.map_err(secrets_error)?;
                self.mesh.create_link_token(&fresh, &request).await
            }
            other => other,
        };
        metrics::histogram!("MeshLatencyMs").record(started.elapsed().as_secs_f64() * 1000.0);
        let token = result.map_err(mesh_error)?;

        let mut record = TransferRecord::created(transaction_id.clone(), user.clone(), now_ms);
        record.order_id = body.order_id.clone();
        record.expected_amount_fiat = body.amount_in_fiat;
        record.offered = chosen.iter().map(OfferedDestination::from).collect();
        self.store.create(&record).await.map_err(store_error)?;

        let paylink = token.payment_link.is_some();
        metrics::counter!("LinkTokensMinted", "TransferType" => self.policy.transfer_type.as_str().to_string(),
            "Paylink" => if paylink { "true" } else { "false" })
        .increment(1);
        tracing::info!(transaction_id = %transaction_id, destinations = chosen.len(), paylink, "link token minted");
        Ok(Minted {
            transaction_id: transaction_id.to_string(),
            link_token: token.link_token,
            payment_link: token.payment_link,
            expires_at: now_ms + TOKEN_LIFETIME_MS,
        })
    }

    /// The configured destinations with Mesh's network ids, fetched once per cold start and then
    /// hourly. A destination on a network Mesh does not list fails every mint until fixed: never a
    /// silent drop of a destination the merchant configured.
    async fn resolved_destinations(&self, secrets: &MeshSecrets) -> Result<Arc<Vec<ResolvedDestination>>, ApiError> {
        let mut cached = self.resolved.lock().await;
        if let Some((r, at)) = cached.as_ref()
            && at.elapsed() < NETWORKS_TTL
        {
            return Ok(r.clone());
        }
        let networks = self.mesh.list_networks(secrets).await.map_err(mesh_error)?;
        let resolved = link::resolve(&self.destinations, &networks).map_err(|e| {
            tracing::error!(error = %e, "DESTINATIONS names a network Mesh does not list");
            ApiError::Misconfigured(e.to_string())
        })?;
        let resolved = Arc::new(resolved);
        *cached = Some((resolved.clone(), Instant::now()));
        Ok(resolved)
    }

    /// `GET /transfers/{id}`: only the user's own; anyone else's is indistinguishable from absent.
    pub async fn get(&self, user: &UserId, raw_id: &str) -> Result<TransferView, ApiError> {
        let id = TransactionId::parse(raw_id).map_err(|_| ApiError::NotFound)?;
        match self.store.get(&id).await.map_err(store_error)? {
            Some(r) if &r.user_id == user => Ok(r.into()),
            _ => Err(ApiError::NotFound),
        }
    }

    /// `GET /transfers`: the user's transfers, newest first.
    pub async fn list(
        &self,
        user: &UserId,
        cursor: Option<&str>,
        limit: Option<&str>,
    ) -> Result<(Vec<TransferView>, Option<String>), ApiError> {
        let cursor = cursor.map(|c| PageCursor::decode(c).ok_or(ApiError::InvalidCursor)).transpose()?;
        let limit = match limit {
            None => 20,
            Some(raw) => raw
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_PAGE).contains(n))
                .ok_or(ApiError::InvalidParameter { name: "limit", expected: "a whole number from 1 to 50" })?,
        };
        let (records, next) = self.store.list_by_user(user, limit, cursor.as_ref()).await.map_err(store_error)?;
        Ok((records.into_iter().map(TransferView::from).collect(), next.map(|c| c.encode())))
    }
}

/// The JSON of a list page.
pub fn page_json(items: Vec<TransferView>, next: Option<String>) -> Value {
    serde_json::json!({ "items": items, "nextCursor": next })
}
