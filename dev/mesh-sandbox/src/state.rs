//! The sandbox's in-memory world: knobs, link tokens, transfers, webhook deliveries and injected faults,
//! behind one `std::sync::Mutex` that is never held across an `.await`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::SandboxConfig;
use crate::catalog::{Network, usd_price};
use crate::deliver::Queued;
use crate::transfer::{Transfer, WebhookBody};

pub fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Settings that can change at run time (`POST /sandbox/config`); `POST /sandbox/reset` restores the
/// values the sandbox started with.
#[derive(Debug, Clone)]
pub struct Knobs {
    pub webhook_url: Option<String>,
    pub webhook_secret: String,
    pub webhook_timeout: Duration,
    pub webhook_max_attempts: u32,
    pub webhook_backoff: Duration,
    pub token_ttl: Duration,
    pub public_url: String,
    /// Probability (0..=1) that an event is delivered one extra time.
    pub duplicate_rate: f64,
    /// Probability (0..=1) that a delivery is dropped (recorded, never sent).
    pub drop_rate: f64,
    /// The unit of the listing's timestamps (Mesh's examples disagree on it).
    pub listing_timestamps: ListingTimestamps,
    /// USD per unit by upper-case symbol, over the fixed table of `catalog::usd_price`: the rate Mesh's
    /// fiat figures (`destinationAmountInFiat`, ...) are computed with for transfers created afterwards.
    pub usd_rates: BTreeMap<String, f64>,
}

/// The unit of `createdTimestamp` (and `executedTimestamp`) in the listing, and of `FromTimestamp` /
/// `ToTimestamp`: seconds by default; all in milliseconds; or a Mesh at odds with itself, which
/// reports seconds but reads its bounds as milliseconds (a reconciler sending seconds then counts zero).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ListingTimestamps {
    #[default]
    Seconds,
    Milliseconds,
    BoundsInMilliseconds,
}

impl ListingTimestamps {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "seconds" => Some(Self::Seconds),
            "milliseconds" => Some(Self::Milliseconds),
            "boundsInMilliseconds" => Some(Self::BoundsInMilliseconds),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Seconds => "seconds",
            Self::Milliseconds => "milliseconds",
            Self::BoundsInMilliseconds => "boundsInMilliseconds",
        }
    }

    /// Whether the bounds a caller sends are read as milliseconds.
    pub fn bounds_in_ms(self) -> bool {
        self != Self::Seconds
    }

    /// Whether the listing reports its timestamps in milliseconds.
    pub fn reported_in_ms(self) -> bool {
        self == Self::Milliseconds
    }
}

impl Knobs {
    pub fn to_json(&self) -> Value {
        json!({
            "webhookUrl": self.webhook_url,
            "webhookTimeoutMs": self.webhook_timeout.as_millis() as u64,
            "webhookMaxAttempts": self.webhook_max_attempts,
            "webhookBackoffMs": self.webhook_backoff.as_millis() as u64,
            "tokenTtlSecs": self.token_ttl.as_secs_f64(),
            "publicUrl": self.public_url,
            "duplicateRate": self.duplicate_rate,
            "dropRate": self.drop_rate,
            "listingTimestamps": self.listing_timestamps.as_str(),
            "usdRates": self.usd_rates,
        })
    }

    /// USD per unit of `symbol`: the `usdRates` override, else the fixed table.
    pub fn usd_price(&self, symbol: &str) -> f64 {
        self.usd_rates.get(&symbol.to_ascii_uppercase()).copied().unwrap_or_else(|| usd_price(symbol))
    }
}

/// One destination offered by a link token (`TransferToAddressWithAmount`).
#[derive(Debug, Clone)]
pub struct ToAddress {
    pub network: &'static Network,
    pub symbol: String,
    pub address: String,
    pub address_tag: Option<String>,
    pub amount: Option<f64>,
    pub display_amount_in_fiat: Option<f64>,
}

/// The parts of `LinkTokenTransferOptions` the sandbox uses later.
#[derive(Debug, Clone, Default)]
pub struct TransferOptions {
    pub to_addresses: Vec<ToAddress>,
    pub amount_in_fiat: Option<f64>,
    pub transaction_id: Option<String>,
    pub client_fee: Option<f64>,
    pub transfer_type: Option<String>,
    pub is_inclusive_fee_enabled: bool,
    pub generate_pay_link: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    /// Minted, never opened nor used.
    Fresh,
    /// The Link page was opened: the session may still complete, the page cannot be opened again.
    Opened,
    /// A transfer was created with it.
    Used,
}

impl TokenState {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenState::Fresh => "fresh",
            TokenState::Opened => "opened",
            TokenState::Used => "used",
        }
    }
}

#[derive(Debug, Clone)]
pub struct LinkToken {
    pub id: String,
    pub created_at: Instant,
    pub created_timestamp: i64,
    pub ttl: Duration,
    pub state: TokenState,
    pub user_id: String,
    pub options: Option<TransferOptions>,
    pub transfer_id: Option<Uuid>,
}

impl LinkToken {
    pub fn is_expired(&self, now: Instant) -> bool {
        now.duration_since(self.created_at) >= self.ttl
    }

    pub fn transaction_id(&self) -> Option<&str> {
        self.options.as_ref().and_then(|o| o.transaction_id.as_deref())
    }

    pub fn link_url(&self, public_url: &str) -> String {
        format!("{public_url}/link/{id}?auth_code={id}", id = self.id)
    }

    pub fn paylink_url(&self, public_url: &str) -> Option<String> {
        self.options.as_ref().filter(|o| o.generate_pay_link).map(|_| format!("{public_url}/paylink/{}", self.id))
    }

    pub fn to_json(&self, public_url: &str, now: Instant) -> Value {
        let o = self.options.as_ref();
        json!({
            "id": self.id,
            "userId": self.user_id,
            "transactionId": self.transaction_id(),
            "state": self.state.as_str(),
            "expired": self.state == TokenState::Fresh && self.is_expired(now),
            "createdTimestamp": self.created_timestamp,
            "expiresTimestamp": self
                .created_timestamp
                .saturating_add(i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX)),
            "linkUrl": self.link_url(public_url),
            "paymentLink": self.paylink_url(public_url),
            "amountInFiat": o.and_then(|o| o.amount_in_fiat),
            "toAddresses": o.map(|o| o.to_addresses.iter().map(|a| json!({
                "networkId": a.network.id,
                "networkName": a.network.name,
                "symbol": a.symbol,
                "address": a.address,
                "addressTag": a.address_tag,
                "amount": a.amount,
                "displayAmountInFiat": a.display_amount_in_fiat,
            })).collect::<Vec<_>>()).unwrap_or_default(),
            "transferId": self.transfer_id,
        })
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("unknown link token")]
    Unknown,
    #[error("link token has expired")]
    Expired,
    #[error("link token has already been used")]
    Used,
}

/// Which Mesh endpoint a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultEndpoint {
    LinkToken,
    Networks,
    Transfers,
    Any,
}

impl FaultEndpoint {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "linktoken" => FaultEndpoint::LinkToken,
            "networks" => FaultEndpoint::Networks,
            "transfers" | "mesh" => FaultEndpoint::Transfers,
            "*" | "any" | "all" => FaultEndpoint::Any,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FaultEndpoint::LinkToken => "linktoken",
            FaultEndpoint::Networks => "networks",
            FaultEndpoint::Transfers => "transfers",
            FaultEndpoint::Any => "*",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Fault {
    pub endpoint: FaultEndpoint,
    /// `None`: only delay the real answer.
    pub status: Option<u16>,
    pub remaining: u32,
    pub retry_after_secs: Option<u64>,
    pub delay: Duration,
}

impl Fault {
    pub fn to_json(&self) -> Value {
        json!({
            "endpoint": self.endpoint.as_str(),
            "status": self.status,
            "remaining": self.remaining,
            "retryAfterSeconds": self.retry_after_secs,
            "delayMs": self.delay.as_millis() as u64,
        })
    }
}

/// What a matching fault asks a request to do.
#[derive(Debug, Clone, Copy)]
pub struct FaultHit {
    pub status: Option<u16>,
    pub retry_after_secs: Option<u64>,
    pub delay: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Queued or being attempted.
    Pending,
    Delivered,
    /// Every attempt failed.
    Failed,
    /// Recorded but deliberately never sent (drop knob).
    Dropped,
    /// No webhook URL was configured when its turn came.
    Skipped,
}

impl DeliveryOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Pending => "pending",
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Failed => "failed",
            DeliveryOutcome::Dropped => "dropped",
            DeliveryOutcome::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Attempt {
    pub id: Uuid,
    pub sent_timestamp: i64,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    pub elapsed_ms: u64,
    pub signature: String,
}

/// One delivery of one event (a duplicate is a delivery of its own with the same `EventId`).
#[derive(Debug, Clone)]
pub struct Delivery {
    pub delivery_id: usize,
    pub duplicate: bool,
    pub outcome: DeliveryOutcome,
    pub url: Option<String>,
    pub attempts: Vec<Attempt>,
    /// The body of the latest attempt (or, before any, the body as it would be sent).
    pub body: WebhookBody,
}

impl Delivery {
    pub fn to_json(&self) -> Value {
        json!({
            "deliveryId": self.delivery_id,
            "eventId": self.body.event_id,
            "transferId": self.body.transfer_id,
            "transactionId": self.body.transaction_id,
            "transferStatus": self.body.transfer_status,
            "status": self.outcome.as_str(),
            "outcome": self.outcome.as_str(),
            "duplicate": self.duplicate,
            "url": self.url,
            "attempts": self.attempts.iter().map(|a| json!({
                "id": a.id,
                "sentTimestamp": a.sent_timestamp,
                "httpStatus": a.http_status,
                "error": a.error,
                "elapsedMs": a.elapsed_ms,
                "signature": a.signature,
            })).collect::<Vec<_>>(),
            "body": self.body,
        })
    }
}

/// A transfer's next deliveries, run in order by that transfer's worker.
#[derive(Debug)]
pub struct Batch {
    pub generation: u64,
    pub deliveries: Vec<usize>,
    pub delay: Duration,
    pub gap: Duration,
}

pub struct Inner {
    pub knobs: Knobs,
    pub initial_knobs: Knobs,
    pub tokens: HashMap<String, LinkToken>,
    pub token_order: Vec<String>,
    pub transfers: Vec<Transfer>,
    pub transfer_index: HashMap<Uuid, usize>,
    pub deliveries: Vec<Delivery>,
    pub faults: Vec<Fault>,
    /// What the next transfers deliver instead of what Link offered (`POST /sandbox/deliver`).
    pub next_deliver: Vec<Queued>,
    /// Bumped by reset; background work from an older generation stops touching state.
    pub generation: u64,
    pub queues: HashMap<Uuid, mpsc::UnboundedSender<Batch>>,
}

impl Inner {
    pub fn reset(&mut self) {
        self.knobs = self.initial_knobs.clone();
        self.tokens.clear();
        self.token_order.clear();
        self.transfers.clear();
        self.transfer_index.clear();
        self.deliveries.clear();
        self.faults.clear();
        self.next_deliver.clear();
        self.queues.clear();
        self.generation += 1;
    }

    pub fn insert_token(&mut self, token: LinkToken) {
        self.token_order.push(token.id.clone());
        self.tokens.insert(token.id.clone(), token);
    }

    /// Opening `/link/{id}` (single use) or `/paylink/{id}` (re-openable until used).
    pub fn open_token(&mut self, id: &str, paylink: bool, now: Instant) -> Result<LinkToken, TokenError> {
        let token = self.tokens.get_mut(id).ok_or(TokenError::Unknown)?;
        match token.state {
            TokenState::Used => Err(TokenError::Used),
            TokenState::Opened if !paylink => Err(TokenError::Used),
            TokenState::Fresh if token.is_expired(now) => Err(TokenError::Expired),
            TokenState::Fresh if !paylink => {
                token.state = TokenState::Opened;
                Ok(token.clone())
            }
            _ => Ok(token.clone()),
        }
    }

    /// Checks that a token may complete a transfer, without consuming it.
    pub fn check_usable(&self, id: &str, now: Instant) -> Result<&LinkToken, TokenError> {
        let token = self.tokens.get(id).ok_or(TokenError::Unknown)?;
        match token.state {
            TokenState::Used => Err(TokenError::Used),
            TokenState::Fresh if token.is_expired(now) => Err(TokenError::Expired),
            _ => Ok(token),
        }
    }

    pub fn mark_used(&mut self, id: &str, transfer_id: Uuid) {
        if let Some(token) = self.tokens.get_mut(id) {
            token.state = TokenState::Used;
            token.transfer_id = Some(transfer_id);
        }
    }

    /// The most recent token minted with this `transactionId`.
    pub fn latest_token_for_transaction(&self, transaction_id: &str) -> Option<&LinkToken> {
        self.token_order
            .iter()
            .rev()
            .filter_map(|id| self.tokens.get(id))
            .find(|t| t.transaction_id() == Some(transaction_id))
    }

    pub fn insert_transfer(&mut self, transfer: Transfer) -> usize {
        let index = self.transfers.len();
        self.transfer_index.insert(transfer.id, index);
        self.transfers.push(transfer);
        index
    }

    pub fn transfer_mut(&mut self, id: Uuid) -> Option<&mut Transfer> {
        let index = *self.transfer_index.get(&id)?;
        self.transfers.get_mut(index)
    }

    pub fn transfer(&self, id: Uuid) -> Option<&Transfer> {
        let index = *self.transfer_index.get(&id)?;
        self.transfers.get(index)
    }

    /// Takes one use of the first fault that applies to `endpoint`.
    pub fn take_fault(&mut self, endpoint: FaultEndpoint) -> Option<FaultHit> {
        let position = self
            .faults
            .iter()
            .position(|f| f.remaining > 0 && (f.endpoint == endpoint || f.endpoint == FaultEndpoint::Any))?;
        let fault = &mut self.faults[position];
        fault.remaining -= 1;
        let hit = FaultHit { status: fault.status, retry_after_secs: fault.retry_after_secs, delay: fault.delay };
        if fault.remaining == 0 {
            self.faults.remove(position);
        }
        Some(hit)
    }
}

/// Shared by every handler and background task.
pub struct AppState {
    inner: Mutex<Inner>,
    pub http: reqwest::Client,
    pub shutdown: watch::Receiver<bool>,
    pub client_id: String,
    pub client_secret: String,
}

impl AppState {
    pub fn new(
        config: SandboxConfig,
        bound_url: String,
        shutdown: watch::Receiver<bool>,
    ) -> std::io::Result<Arc<AppState>> {
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .no_proxy()
            .user_agent("mesh-sandbox-webhooks/1")
            .build()
            .map_err(std::io::Error::other)?;
        let public_url = config
            .public_url
            .as_deref()
            .map(|u| u.trim_end_matches('/').to_string())
            .filter(|u| !u.is_empty())
            .unwrap_or(bound_url);
        let knobs = Knobs {
            webhook_url: config.webhook_url.filter(|u| !u.trim().is_empty()),
            webhook_secret: config.webhook_secret,
            webhook_timeout: config.webhook_timeout,
            webhook_max_attempts: config.webhook_max_attempts.max(1),
            webhook_backoff: config.webhook_backoff,
            token_ttl: config.token_ttl,
            public_url,
            duplicate_rate: 0.0,
            drop_rate: 0.0,
            listing_timestamps: ListingTimestamps::Seconds,
            usd_rates: BTreeMap::new(),
        };
        Ok(Arc::new(AppState {
            inner: Mutex::new(Inner {
                initial_knobs: knobs.clone(),
                knobs,
                tokens: HashMap::new(),
                token_order: Vec::new(),
                transfers: Vec::new(),
                transfer_index: HashMap::new(),
                deliveries: Vec::new(),
                faults: Vec::new(),
                next_deliver: Vec::new(),
                generation: 0,
                queues: HashMap::new(),
            }),
            http,
            shutdown,
            client_id: config.client_id,
            client_secret: config.client_secret,
        }))
    }

    /// Locks the world. A poisoned lock is recovered: the data is plain and stays consistent per call.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow() || self.shutdown.has_changed().is_err()
    }

    /// Resolves when the sandbox shuts down.
    pub async fn shutdown_signal(&self) {
        let mut rx = self.shutdown.clone();
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(ttl: Duration) -> LinkToken {
        LinkToken {
            id: "t1".into(),
            created_at: Instant::now(),
            created_timestamp: now_secs(),
            ttl,
            state: TokenState::Fresh,
            user_id: "u".into(),
            options: None,
            transfer_id: None,
        }
    }

    fn inner() -> Inner {
        let knobs = Knobs {
            webhook_url: None,
            webhook_secret: "s".into(),
            webhook_timeout: Duration::from_millis(200),
            webhook_max_attempts: 5,
            webhook_backoff: Duration::from_millis(500),
            token_ttl: Duration::from_secs(600),
            public_url: "http://x".into(),
            duplicate_rate: 0.0,
            drop_rate: 0.0,
            listing_timestamps: ListingTimestamps::Seconds,
            usd_rates: BTreeMap::new(),
        };
        Inner {
            initial_knobs: knobs.clone(),
            knobs,
            tokens: HashMap::new(),
            token_order: Vec::new(),
            transfers: Vec::new(),
            transfer_index: HashMap::new(),
            deliveries: Vec::new(),
            faults: Vec::new(),
            next_deliver: Vec::new(),
            generation: 0,
            queues: HashMap::new(),
        }
    }

    #[test]
    fn link_page_is_single_use_paylink_reopens() {
        let mut w = inner();
        w.insert_token(token(Duration::from_secs(60)));
        let now = Instant::now();
        assert!(w.open_token("t1", true, now).is_ok());
        assert!(w.open_token("t1", true, now).is_ok());
        assert!(w.open_token("t1", false, now).is_ok());
        assert_eq!(w.open_token("t1", false, now).err(), Some(TokenError::Used));
        // The opened session may still complete once.
        assert!(w.check_usable("t1", now).is_ok());
        w.mark_used("t1", Uuid::new_v4());
        assert_eq!(w.check_usable("t1", now).err(), Some(TokenError::Used));
        assert_eq!(w.open_token("t1", true, now).err(), Some(TokenError::Used));
        assert_eq!(w.open_token("nope", false, now).err(), Some(TokenError::Unknown));
    }

    #[test]
    fn expiry_applies_to_fresh_tokens() {
        let mut w = inner();
        w.insert_token(token(Duration::from_millis(0)));
        let now = Instant::now();
        assert_eq!(w.open_token("t1", false, now).err(), Some(TokenError::Expired));
        assert_eq!(w.check_usable("t1", now).err(), Some(TokenError::Expired));
    }

    #[test]
    fn faults_are_consumed_in_order() {
        let mut w = inner();
        w.faults.push(Fault {
            endpoint: FaultEndpoint::Networks,
            status: Some(429),
            remaining: 2,
            retry_after_secs: Some(3),
            delay: Duration::ZERO,
        });
        w.faults.push(Fault {
            endpoint: FaultEndpoint::Any,
            status: Some(503),
            remaining: 1,
            retry_after_secs: None,
            delay: Duration::ZERO,
        });
        assert_eq!(w.take_fault(FaultEndpoint::LinkToken).and_then(|h| h.status), Some(503));
        assert_eq!(w.take_fault(FaultEndpoint::LinkToken).map(|h| h.status), None);
        assert_eq!(w.take_fault(FaultEndpoint::Networks).and_then(|h| h.status), Some(429));
        assert_eq!(w.take_fault(FaultEndpoint::Networks).and_then(|h| h.retry_after_secs), Some(3));
        assert!(w.take_fault(FaultEndpoint::Networks).is_none());
        assert!(w.faults.is_empty());
    }
}
