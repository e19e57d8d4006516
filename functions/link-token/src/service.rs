//! The shopper's use cases over narrow ports: mint a token (idempotently), in payment mode for a
//! checkout, read one transfer, list a user's transfers. The merchant's are in `checkouts`; HTTP stays
//! in `routes`.

use crate::error::ApiError;
use crate::idempotency::{self, Begin, IdempotencyStore, Window};
use crate::link::{self, LinkPolicy, LinkTokenBody, ResolvedDestination};
use crate::view::{CheckoutSummary, TransferView};
use serde::Serialize;
use shared::domain::checkout::{CheckoutRecord, MAX_ATTEMPTS, Refusal};
use shared::domain::ids::{CheckoutId, TransactionId, UserId};
use shared::domain::transfer::{OfferedDestination, TransferRecord};
use shared::mesh::{MeshClient, MeshError};
use shared::runtime::config::Destinations;
use shared::runtime::deadline::FunctionTimeout;
use shared::runtime::secrets::{MeshSecrets, SecretCache, SecretSource, SecretsError};
use shared::storage::{CheckoutStore, PageCursor, StoreError, TransferStore};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Mesh's link tokens must be used within 10 minutes.
pub const TOKEN_LIFETIME_MS: i64 = shared::mesh::LINK_TOKEN_LIFETIME_MS;
/// How long Mesh's network list is trusted before it is fetched again.
const NETWORKS_TTL: Duration = Duration::from_secs(3600);
pub const MAX_PAGE: usize = 50;
/// How often an attempt is written again after its checkout moved (each time re-read and re-checked).
const ATTEMPT_WRITES: usize = 5;
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

pub(crate) fn store_error(e: StoreError) -> ApiError {
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
        let checkout = match &body.checkout_id {
            Some(id) => Some(self.payable_checkout(id, user, now_ms).await?),
            None => None,
        };
        let secrets = self.secrets.get().await.map_err(secrets_error)?;
        let resolved = self.resolved_destinations(&secrets).await?;
        let allowed: Vec<ResolvedDestination> = match &checkout {
            Some(c) if !c.assets.is_empty() => resolved
                .iter()
                .filter(|d| c.assets.iter().any(|a| a.eq_ignore_ascii_case(&d.symbol)))
                .cloned()
                .collect(),
            _ => resolved.to_vec(),
        };
        let chosen = link::select(&allowed, body.symbol.as_deref(), body.network.as_deref())?;
        // The checkout's price and order, never the browser's (`validate` refused them in the body).
        let body = match &checkout {
            Some(c) => LinkTokenBody {
                amount_in_fiat: Some(c.amount_in_fiat),
                order_id: Some(c.order_id.to_string()),
                ..body.clone()
            },
            None => body.clone(),
        };
        let transaction_id = TransactionId::generate();
        let request = link::build(user, &body, &chosen, &self.policy, &transaction_id);

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
        match checkout {
            Some(c) => self.record_attempt(&mut record, c, user, now_ms).await?,
            None => self.store.create(&record).await.map_err(store_error)?,
        }

        let paylink = token.payment_link.is_some();
        metrics::counter!("LinkTokensMinted", "TransferType" => self.policy.transfer_type.as_str().to_string(),
            "Paylink" => if paylink { "true" } else { "false" })
        .increment(1);
        tracing::info!(transaction_id = %transaction_id, checkout_id = record.checkout_id.as_ref().map(|c| c.as_str()),
            destinations = chosen.len(), paylink, "link token minted");
        Ok(Minted {
            transaction_id: transaction_id.to_string(),
            link_token: token.link_token,
            payment_link: token.payment_link,
            expires_at: now_ms + TOKEN_LIFETIME_MS,
        })
    }

    /// The checkout `raw_id` if `user` may pay it now. Another shopper's is indistinguishable from an
    /// unknown one (404), so checkout ids cannot be probed.
    async fn payable_checkout(&self, raw_id: &str, user: &UserId, now_ms: i64) -> Result<CheckoutRecord, ApiError> {
        let id = CheckoutId::parse(raw_id).map_err(|_| ApiError::NotFound)?;
        let checkout = match self.store.get_checkout(&id).await.map_err(store_error)? {
            Some(c) if &c.shopper == user => c,
            _ => return Err(ApiError::NotFound),
        };
        checkout.accepts_attempt(now_ms).map_err(|refusal| match refusal {
            Refusal::Closed(status) => ApiError::CheckoutClosed(status.as_str()),
            Refusal::Expired => ApiError::CheckoutClosed("expired"),
            Refusal::TooManyAttempts => ApiError::TooManyAttempts(MAX_ATTEMPTS),
        })?;
        Ok(checkout)
    }

    /// Records the attempt's transfer and appends it to the checkout in one transaction, on the version
    /// read. When the checkout moved meanwhile (another attempt, a webhook, a cancel) it is read again
    /// and must still take the attempt; the token minted for a checkout that closed is never handed out.
    async fn record_attempt(
        &self,
        record: &mut TransferRecord,
        mut checkout: CheckoutRecord,
        user: &UserId,
        now_ms: i64,
    ) -> Result<(), ApiError> {
        record.checkout_id = Some(checkout.checkout_id.clone());
        for _ in 0..ATTEMPT_WRITES {
            match self.store.create_attempt(record, &checkout.checkout_id, checkout.version).await {
                Ok(()) => return Ok(()),
                Err(StoreError::VersionConflict) => {
                    checkout = self.payable_checkout(checkout.checkout_id.as_str(), user, now_ms).await?;
                }
                Err(e) => return Err(store_error(e)),
            }
        }
        Err(ApiError::StoreUnavailable("the checkout kept changing while the attempt was recorded".into()))
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
            Some(r) if &r.user_id == user => {
                let summary = match &r.checkout_id {
                    Some(c) => {
                        self.store.get_checkout(c).await.map_err(store_error)?.as_ref().map(CheckoutSummary::from)
                    }
                    None => None,
                };
                Ok(TransferView::new(r, summary))
            }
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
        // One read per checkout on the page, however many of its attempts the page holds.
        let mut summaries: HashMap<CheckoutId, Option<CheckoutSummary>> = HashMap::new();
        for id in records.iter().filter_map(|r| r.checkout_id.as_ref()) {
            if !summaries.contains_key(id) {
                let checkout = self.store.get_checkout(id).await.map_err(store_error)?;
                summaries.insert(id.clone(), checkout.as_ref().map(CheckoutSummary::from));
            }
        }
        let views = records
            .into_iter()
            .map(|r| {
                let summary = r.checkout_id.as_ref().and_then(|id| summaries.get(id).cloned().flatten());
                TransferView::new(r, summary)
            })
            .collect();
        Ok((views, next.map(|c| c.encode())))
    }
}
