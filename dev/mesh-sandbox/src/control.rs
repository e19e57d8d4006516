//! The sandbox's own control API under `/sandbox` (no Mesh auth): finish Link for a token, seed history,
//! move pending transfers, inspect webhook deliveries, inject faults, change knobs, reset.
//! Errors are `{code, message}` with a 4xx status.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tracing::warn;
use uuid::Uuid;

use crate::catalog::{self, Integration, KNOWN_INTEGRATIONS, Network};
use crate::deliver::{self, Deliver, DeliveredAmount};
use crate::json::{BodyError, FieldError, Obj, parse_object_or_empty};
use crate::state::{AppState, Fault, FaultEndpoint, Inner, LinkToken, ToAddress, TokenError, now_ms, now_secs};
use crate::transfer::{NewTransfer, Transfer, TransferStatus, TransitionError, WebhookBody, round_units};
use crate::webhooks::{WebhookOptions, dispatch};

pub const MAX_SEED: u64 = 10_000;
pub const MAX_DUPLICATES: u64 = 10;
pub const MAX_WAIT_MS: u64 = 600_000;
pub const MAX_FAULT_TIMES: u64 = 10_000;

/// A control-API error: `{code, message}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ControlError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ControlError { status, code, message: message.into() }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"code": self.code, "message": self.message}))).into_response()
    }
}

impl From<FieldError> for ControlError {
    fn from(e: FieldError) -> Self {
        let code = match e {
            FieldError::Missing(_) => "missing_field",
            FieldError::Invalid { .. } => "invalid_field",
        };
        ControlError::bad_request(code, e.to_string())
    }
}

impl From<BodyError> for ControlError {
    fn from(e: BodyError) -> Self {
        ControlError::bad_request("invalid_json", e.to_string())
    }
}

impl From<TokenError> for ControlError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Unknown => ControlError::new(StatusCode::NOT_FOUND, "unknown_token", e.to_string()),
            TokenError::Expired => ControlError::new(StatusCode::GONE, "token_expired", e.to_string()),
            TokenError::Used => ControlError::new(StatusCode::CONFLICT, "token_used", e.to_string()),
        }
    }
}

impl From<TransitionError> for ControlError {
    fn from(e: TransitionError) -> Self {
        ControlError::new(StatusCode::CONFLICT, "invalid_transition", e.to_string())
    }
}

type ControlResult = Result<Response, ControlError>;

/// Accepts a token id, the Base64 `linkToken` Mesh returned, or a Link/Paylink URL; returns the id.
pub fn token_id_from(value: &str) -> String {
    let value = value.trim();
    let url_text = if value.starts_with("http://") || value.starts_with("https://") {
        Some(value.to_string())
    } else {
        STANDARD
            .decode(value)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .filter(|text| text.starts_with("http://") || text.starts_with("https://"))
    };
    if let Some(text) = url_text
        && let Ok(url) = url::Url::parse(&text)
        && let Some(segments) = url.path_segments()
    {
        let segments: Vec<&str> = segments.collect();
        if let Some(pos) = segments.iter().position(|s| *s == "link" || *s == "paylink")
            && let Some(id) = segments.get(pos + 1)
            && !id.is_empty()
        {
            return (*id).to_string();
        }
    }
    value.to_string()
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

fn bounded_ms(o: &Obj<'_>, name: &str) -> Result<Duration, FieldError> {
    let ms = o.u64(name)?.unwrap_or(0);
    if ms > MAX_WAIT_MS {
        return Err(FieldError::invalid(o.path(name), format!("must be at most {MAX_WAIT_MS}")));
    }
    Ok(Duration::from_millis(ms))
}

/// `webhooks: {drop?, duplicates?, reverse?, delayMs?, gapMs?}`.
pub fn parse_webhook_options(o: &Obj<'_>) -> Result<WebhookOptions, FieldError> {
    let Some(map) = o.obj("webhooks")? else {
        return Ok(WebhookOptions::default());
    };
    let w = Obj::with_prefix(map, "webhooks");
    let duplicates = w.u64("duplicates")?.unwrap_or(0);
    if duplicates > MAX_DUPLICATES {
        return Err(FieldError::invalid(w.path("duplicates"), format!("must be at most {MAX_DUPLICATES}")));
    }
    Ok(WebhookOptions {
        drop: w.bool("drop")?.unwrap_or(false),
        duplicates: duplicates as u32,
        reverse: w.bool("reverse")?.unwrap_or(false),
        delay: bounded_ms(&w, "delayMs")?,
        gap: bounded_ms(&w, "gapMs")?,
    })
}

fn parse_outcome(o: &Obj<'_>, default: Option<TransferStatus>) -> Result<TransferStatus, FieldError> {
    match o.str("outcome")? {
        None => default.ok_or_else(|| FieldError::Missing("outcome".into())),
        Some(s) => TransferStatus::parse(s)
            .ok_or_else(|| FieldError::invalid("outcome", "must be succeeded, failed or pending")),
    }
}

fn known_network(o: &Obj<'_>) -> Result<Option<&'static Network>, ControlError> {
    match o.uuid("networkId")? {
        None => Ok(None),
        Some(id) => catalog::network(id).map(Some).ok_or_else(|| {
            ControlError::bad_request("unknown_network", format!("{id} is not a network the sandbox knows"))
        }),
    }
}

fn positive(o: &Obj<'_>, name: &str) -> Result<Option<f64>, FieldError> {
    let v = o.f64(name)?;
    if v.is_some_and(|v| v <= 0.0) {
        return Err(FieldError::invalid(o.path(name), "must be greater than 0"));
    }
    Ok(v)
}

/// Moves a pending transfer to its outcome and returns the event body describing the new state.
fn settle(world: &mut Inner, id: Uuid, outcome: TransferStatus) -> Result<WebhookBody, ControlError> {
    let transfer = world.transfer_mut(id).ok_or_else(|| ControlError::not_found(format!("no transfer {id}")))?;
    transfer.transition(outcome, now_secs())?;
    let timestamp = now_ms().max(transfer.created_timestamp.saturating_mul(1000).saturating_add(1));
    Ok(transfer.webhook_body(Uuid::new_v4(), timestamp))
}

/// The destination a completed Link session sends to.
struct Destination {
    network: &'static Network,
    symbol: String,
    address: String,
    address_tag: Option<String>,
    amount: Option<f64>,
    display_amount_in_fiat: Option<f64>,
}

fn choose_destination(
    token: Option<&LinkToken>,
    network: Option<&'static Network>,
    symbol: Option<&str>,
) -> Result<Destination, ControlError> {
    let offered: &[ToAddress] =
        token.and_then(|t| t.options.as_ref()).map(|o| o.to_addresses.as_slice()).unwrap_or(&[]);
    if !offered.is_empty() {
        let found = offered.iter().find(|a| {
            network.is_none_or(|n| n.id == a.network.id) && symbol.is_none_or(|s| s.eq_ignore_ascii_case(&a.symbol))
        });
        let a = found.ok_or_else(|| {
            ControlError::bad_request(
                "no_matching_destination",
                format!(
                    "the link token offers no destination on {} / {}",
                    network.map(|n| n.name).unwrap_or("any network"),
                    symbol.unwrap_or("any token")
                ),
            )
        })?;
        return Ok(Destination {
            network: a.network,
            symbol: a.symbol.clone(),
            address: a.address.clone(),
            address_tag: a.address_tag.clone(),
            amount: a.amount,
            display_amount_in_fiat: a.display_amount_in_fiat,
        });
    }
    let network = network.unwrap_or_else(catalog::default_network);
    let symbol = symbol.map(str::to_string).unwrap_or_else(|| {
        if network.tokens.contains(&"USDC") { "USDC".to_string() } else { network.native_symbol.to_string() }
    });
    Ok(Destination {
        network,
        address: network.fake_address(),
        symbol,
        address_tag: None,
        amount: None,
        display_amount_in_fiat: None,
    })
}

/// `POST /sandbox/transfers`: the user finished Link for this token (or transactionId).
pub async fn create_transfer(State(state): State<Arc<AppState>>, body: Bytes) -> ControlResult {
    let map = parse_object_or_empty(&body)?;
    let o = Obj::new(&map);
    let outcome = parse_outcome(&o, Some(TransferStatus::Succeeded))?;
    let link_token = non_empty(o.str("linkToken")?).map(token_id_from);
    let transaction_id = non_empty(o.str("transactionId")?);
    if transaction_id.is_some_and(|t| t.chars().count() > 128) {
        return Err(FieldError::invalid("transactionId", "must be at most 128 characters").into());
    }
    let user_id = non_empty(o.str("userId")?);
    let symbol = non_empty(o.str("symbol")?);
    let network = known_network(&o)?;
    let amount = positive(&o, "amount")?;
    let amount_in_fiat = positive(&o, "amountInFiat")?;
    let integration = Integration::by_name(non_empty(o.str("integration")?).unwrap_or("Coinbase"));
    let from_address = non_empty(o.str("fromAddress")?);
    let refund_address = non_empty(o.str("refundAddress")?);
    let webhooks = parse_webhook_options(&o)?;
    let settle_after = bounded_ms(&o, "settleAfterMs")?;
    let deliver_given = Deliver::parse_field(&o, "deliver")?;

    let mut world = state.lock();
    let now = Instant::now();
    let token = match (&link_token, transaction_id) {
        (Some(id), _) => {
            let token = world.check_usable(id, now)?.clone();
            if let (Some(given), Some(own)) = (transaction_id, token.transaction_id())
                && given != own
            {
                return Err(ControlError::bad_request(
                    "transaction_mismatch",
                    format!("the link token was minted for transactionId '{own}', not '{given}'"),
                ));
            }
            Some(token)
        }
        (None, Some(tx)) => world.latest_token_for_transaction(tx).cloned(),
        (None, None) => None,
    };
    let destination = choose_destination(token.as_ref(), network, symbol)?;
    // A transfer without its own `deliver` takes the oldest queued one, once it is sure to be created.
    let queued = deliver_given.is_none();
    let deliver = deliver_given.or_else(|| world.next_deliver.first().map(|q| q.deliver.clone())).unwrap_or_default();
    let network = deliver.network.unwrap_or(destination.network);
    let delivered_symbol = deliver.token_on(network, &destination.symbol)?;
    let same_token = delivered_symbol.eq_ignore_ascii_case(&destination.symbol);
    let options = token.as_ref().and_then(|t| t.options.clone()).unwrap_or_default();
    let price = world.knobs.usd_price(&delivered_symbol);
    // An amount offered in units of another token says nothing about this one.
    let unit_amount = amount.or(destination.amount.filter(|_| same_token));
    let fiat = amount_in_fiat
        .or(options.amount_in_fiat)
        .or(destination.display_amount_in_fiat)
        .or(unit_amount.map(|a| a * price))
        .unwrap_or(10.0);
    let units = unit_amount.unwrap_or(fiat / price);
    let transfer_id = Uuid::new_v4();
    let created = now_secs();
    let mut transfer = Transfer::new(
        transfer_id,
        NewTransfer {
            client_transaction_id: transaction_id
                .map(str::to_string)
                .or_else(|| token.as_ref().and_then(|t| t.transaction_id().map(str::to_string))),
            user_id: user_id
                .map(str::to_string)
                .or_else(|| token.as_ref().map(|t| t.user_id.clone()))
                .unwrap_or_else(|| "sandbox-user".to_string()),
            amount: units,
            amount_in_fiat: fiat,
            symbol: delivered_symbol,
            network,
            created_timestamp: created,
            from: integration,
            from_address: from_address.map(str::to_string).unwrap_or_else(|| network.fake_address()),
            destination_address: deliver.address.clone().unwrap_or(destination.address),
            address_tag: destination.address_tag,
            refund_address: refund_address.map(str::to_string),
            transfer_type: options.transfer_type.clone().unwrap_or_else(|| "payment".to_string()),
            is_fee_included: options.is_inclusive_fee_enabled,
            client_fee: options.client_fee.unwrap_or(0.0),
            link_token_id: token.as_ref().map(|t| t.id.clone()),
            unit_price: price,
        },
    );
    transfer.delivered_amount = match deliver.amount {
        Some(DeliveredAmount::Units(units)) => Some(units),
        Some(DeliveredAmount::Fraction(f)) => Some(round_units(transfer.amounts().amount_to_receive * f)),
        None => None,
    };
    if queued {
        deliver::take_next(&mut world.next_deliver);
    }
    let pending_event = transfer.webhook_body(Uuid::new_v4(), now_ms());
    world.insert_transfer(transfer);
    if let Some(id) = &link_token {
        world.mark_used(id, transfer_id);
    }
    let mut events = vec![pending_event];
    if outcome.is_terminal() && settle_after.is_zero() {
        events.push(settle(&mut world, transfer_id, outcome)?);
    }
    dispatch(&state, &mut world, transfer_id, events, &webhooks);
    let public_url = world.knobs.public_url.clone();
    let model = world.transfer(transfer_id).map(|t| t.to_model(&public_url));
    let generation = world.generation;
    drop(world);

    if outcome.is_terminal() && !settle_after.is_zero() {
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(settle_after) => {}
                _ = state.shutdown_signal() => return,
            }
            let mut world = state.lock();
            if world.generation != generation {
                return;
            }
            match settle(&mut world, transfer_id, outcome) {
                Ok(event) => dispatch(&state, &mut world, transfer_id, vec![event], &webhooks),
                Err(e) => warn!("transfer {transfer_id} not settled: {}", e.message),
            }
        });
    }
    Ok((StatusCode::CREATED, Json(model.unwrap_or(Value::Null))).into_response())
}

/// `POST /sandbox/transfers/{id}/outcome` `{outcome, webhooks?}`: settles a pending transfer.
pub async fn set_outcome(State(state): State<Arc<AppState>>, Path(id): Path<String>, body: Bytes) -> ControlResult {
    let id = Uuid::parse_str(id.trim())
        .map_err(|_| ControlError::bad_request("invalid_field", "transfer id must be a UUID"))?;
    let map = parse_object_or_empty(&body)?;
    let o = Obj::new(&map);
    let outcome = parse_outcome(&o, None)?;
    let webhooks = parse_webhook_options(&o)?;
    let mut world = state.lock();
    let event = settle(&mut world, id, outcome)?;
    dispatch(&state, &mut world, id, vec![event], &webhooks);
    let public_url = world.knobs.public_url.clone();
    let model = world.transfer(id).map(|t| t.to_model(&public_url));
    Ok(Json(model.unwrap_or(Value::Null)).into_response())
}

/// `POST /sandbox/transfers/seed`: bulk history without webhooks.
pub async fn seed(State(state): State<Arc<AppState>>, body: Bytes) -> ControlResult {
    let map = parse_object_or_empty(&body)?;
    let o = Obj::new(&map);
    let count = o.u64("count")?.ok_or_else(|| FieldError::Missing("count".into()))?;
    if count == 0 || count > MAX_SEED {
        return Err(FieldError::invalid("count", format!("must be between 1 and {MAX_SEED}")).into());
    }
    let user_id = non_empty(o.str("userId")?).unwrap_or("seed-user").to_string();
    let prefix = o.str("clientTransactionIdPrefix")?.unwrap_or("seed-").to_string();
    let statuses: Vec<TransferStatus> = match non_empty(o.str("status")?) {
        None => vec![TransferStatus::Succeeded],
        Some(s) if s.eq_ignore_ascii_case("mixed") => {
            vec![TransferStatus::Succeeded, TransferStatus::Pending, TransferStatus::Failed]
        }
        Some(s) => vec![
            TransferStatus::parse(s)
                .ok_or_else(|| FieldError::invalid("status", "must be succeeded, failed, pending or mixed"))?,
        ],
    };
    let step = o.i64("stepSeconds")?.unwrap_or(60);
    if step < 0 {
        return Err(FieldError::invalid("stepSeconds", "must not be negative").into());
    }
    let from = match o.i64("fromTimestamp")? {
        Some(ts) => ts,
        None => now_secs().saturating_sub(step.saturating_mul(count as i64)),
    };
    let network = known_network(&o)?.unwrap_or_else(catalog::default_network);
    let symbol = non_empty(o.str("symbol")?).unwrap_or("USDC").to_string();
    let integration = Integration::by_name(non_empty(o.str("integration")?).unwrap_or("Coinbase"));
    let fixed_fiat = positive(&o, "amountInFiat")?;
    let width = count.saturating_sub(1).to_string().len().max(4);

    let mut world = state.lock();
    let price = world.knobs.usd_price(&symbol);
    let mut ids = Vec::with_capacity(count as usize);
    for i in 0..count {
        let created = from.saturating_add(step.saturating_mul(i as i64));
        let fiat = fixed_fiat.unwrap_or(10.0 + (i % 90) as f64);
        let mut transfer = Transfer::new(
            Uuid::new_v4(),
            NewTransfer {
                client_transaction_id: Some(format!("{prefix}{i:0width$}")),
                user_id: user_id.clone(),
                amount: fiat / price,
                amount_in_fiat: fiat,
                symbol: symbol.clone(),
                network,
                created_timestamp: created,
                from: integration.clone(),
                from_address: network.fake_address(),
                destination_address: network.fake_address(),
                address_tag: None,
                refund_address: None,
                transfer_type: "payment".to_string(),
                is_fee_included: false,
                client_fee: 0.0,
                link_token_id: None,
                unit_price: price,
            },
        );
        let status = statuses[(i as usize) % statuses.len()];
        if status.is_terminal() {
            // A freshly created transfer is pending, so this cannot be refused.
            let _ = transfer.transition(status, created.saturating_add(30));
        }
        ids.push(transfer.id);
        world.insert_transfer(transfer);
    }
    drop(world);
    Ok((StatusCode::CREATED, Json(json!({"created": count, "ids": ids}))).into_response())
}

/// `GET /sandbox/transfers[?transactionId=]`: every transfer, oldest first.
pub async fn list_transfers(State(state): State<Arc<AppState>>, RawQuery(query): RawQuery) -> ControlResult {
    let filter = query_param(query.as_deref(), "transactionid");
    let world = state.lock();
    let public_url = world.knobs.public_url.clone();
    let items: Vec<Value> = world
        .transfers
        .iter()
        .filter(|t| filter.as_deref().is_none_or(|f| t.client_transaction_id.as_deref() == Some(f)))
        .map(|t| t.to_model(&public_url))
        .collect();
    Ok(Json(Value::Array(items)).into_response())
}

/// `GET /sandbox/transfers/{id}`.
pub async fn get_transfer(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ControlResult {
    let id = Uuid::parse_str(id.trim())
        .map_err(|_| ControlError::bad_request("invalid_field", "transfer id must be a UUID"))?;
    let world = state.lock();
    let public_url = world.knobs.public_url.clone();
    world
        .transfer(id)
        .map(|t| Json(t.to_model(&public_url)).into_response())
        .ok_or_else(|| ControlError::not_found(format!("no transfer {id}")))
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// `GET /sandbox/webhooks[?transferId=&eventId=&transactionId=]`: every delivery, in queue order.
pub async fn list_webhooks(State(state): State<Arc<AppState>>, RawQuery(query): RawQuery) -> ControlResult {
    let transfer_id = query_param(query.as_deref(), "transferid");
    let event_id = query_param(query.as_deref(), "eventid");
    let transaction_id = query_param(query.as_deref(), "transactionid");
    let world = state.lock();
    let items: Vec<Value> = world
        .deliveries
        .iter()
        .filter(|d| transfer_id.as_deref().is_none_or(|f| d.body.transfer_id.to_string() == f.to_lowercase()))
        .filter(|d| event_id.as_deref().is_none_or(|f| d.body.event_id.to_string() == f.to_lowercase()))
        .filter(|d| transaction_id.as_deref().is_none_or(|f| d.body.transaction_id.as_deref() == Some(f)))
        .map(|d| d.to_json())
        .collect();
    Ok(Json(Value::Array(items)).into_response())
}

/// `GET /sandbox/linktokens`: every minted token with its state.
pub async fn list_link_tokens(State(state): State<Arc<AppState>>) -> ControlResult {
    let world = state.lock();
    let now = Instant::now();
    let public_url = world.knobs.public_url.clone();
    let items: Vec<Value> =
        world.token_order.iter().filter_map(|id| world.tokens.get(id)).map(|t| t.to_json(&public_url, now)).collect();
    Ok(Json(Value::Array(items)).into_response())
}

/// `GET /sandbox/integrations`: the named source integrations and their ids (for `IntegrationIds`).
pub async fn list_integrations(State(state): State<Arc<AppState>>) -> ControlResult {
    let public_url = state.lock().knobs.public_url.clone();
    let items: Vec<Value> =
        KNOWN_INTEGRATIONS.iter().map(|name| Integration::by_name(name).to_json(&public_url)).collect();
    Ok(Json(Value::Array(items)).into_response())
}

fn faults_json(world: &Inner) -> Value {
    json!({"faults": world.faults.iter().map(Fault::to_json).collect::<Vec<_>>()})
}

/// `POST /sandbox/faults` `{endpoint, status?, times?, retryAfterSeconds?, delayMs?}`.
pub async fn add_fault(State(state): State<Arc<AppState>>, body: Bytes) -> ControlResult {
    let map = parse_object_or_empty(&body)?;
    let o = Obj::new(&map);
    let endpoint_name = non_empty(o.str("endpoint")?).ok_or_else(|| FieldError::Missing("endpoint".into()))?;
    let endpoint = FaultEndpoint::parse(endpoint_name)
        .ok_or_else(|| FieldError::invalid("endpoint", "must be linktoken, networks, transfers or *"))?;
    let status = match o.u64("status")? {
        None => None,
        Some(s) if s == 429 || (500..=599).contains(&s) => Some(s as u16),
        Some(_) => return Err(FieldError::invalid("status", "must be 429 or 5xx").into()),
    };
    let times = o.u64("times")?.unwrap_or(1);
    if times == 0 || times > MAX_FAULT_TIMES {
        return Err(FieldError::invalid("times", format!("must be between 1 and {MAX_FAULT_TIMES}")).into());
    }
    let delay = bounded_ms(&o, "delayMs")?;
    if status.is_none() && delay.is_zero() {
        return Err(ControlError::bad_request("missing_field", "a fault needs a status, a delayMs, or both"));
    }
    let retry_after_secs = o.u64("retryAfterSeconds")?;
    let mut world = state.lock();
    world.faults.push(Fault { endpoint, status, remaining: times as u32, retry_after_secs, delay });
    Ok((StatusCode::CREATED, Json(faults_json(&world))).into_response())
}

/// `GET /sandbox/faults`.
pub async fn list_faults(State(state): State<Arc<AppState>>) -> ControlResult {
    Ok(Json(faults_json(&state.lock())).into_response())
}

/// `DELETE /sandbox/faults`.
pub async fn clear_faults(State(state): State<Arc<AppState>>) -> ControlResult {
    let mut world = state.lock();
    world.faults.clear();
    Ok(Json(faults_json(&world)).into_response())
}

/// `GET /sandbox/config`.
pub async fn get_config(State(state): State<Arc<AppState>>) -> ControlResult {
    Ok(Json(state.lock().knobs.to_json()).into_response())
}

fn rate(o: &Obj<'_>, name: &str) -> Result<Option<f64>, FieldError> {
    let v = o.f64(name)?;
    if v.is_some_and(|v| !(0.0..=1.0).contains(&v)) {
        return Err(FieldError::invalid(name, "must be between 0 and 1"));
    }
    Ok(v)
}

/// `usdRates: {"ETH": 2500, ...}`: positive USD prices by token, replacing earlier overrides (`{}` restores
/// the fixed table). Keys arrive lower-cased (bodies are read case-insensitively) and are kept upper-case.
fn parse_usd_rates(
    map: &serde_json::Map<String, Value>,
) -> Result<std::collections::BTreeMap<String, f64>, FieldError> {
    let rates = Obj::with_prefix(map, "usdRates");
    map.keys()
        .map(|symbol| {
            let price = rates.f64(symbol)?.filter(|p| *p > 0.0);
            let price =
                price.ok_or_else(|| FieldError::invalid(rates.path(symbol), "must be a number greater than 0"))?;
            if symbol.trim().is_empty() || symbol.chars().any(char::is_whitespace) {
                return Err(FieldError::invalid("usdRates", "keys must be token symbols"));
            }
            Ok((symbol.to_ascii_uppercase(), price))
        })
        .collect()
}

fn http_url(name: &str, value: &str) -> Result<String, FieldError> {
    match url::Url::parse(value.trim()) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Ok(value.trim().trim_end_matches('/').to_string()),
        _ => Err(FieldError::invalid(name, "must be an http(s) URL")),
    }
}

/// `POST /sandbox/config`: change knobs at run time. All fields optional; validated before any applies.
pub async fn set_config(State(state): State<Arc<AppState>>, body: Bytes) -> ControlResult {
    let map = parse_object_or_empty(&body)?;
    let o = Obj::new(&map);
    // `webhookUrl: null` or "" clears it; absent leaves it.
    let webhook_url = if o.has("webhookUrl") {
        Some(match non_empty(o.str("webhookUrl")?) {
            None => None,
            Some(u) => Some(
                url::Url::parse(u)
                    .ok()
                    .filter(|p| p.scheme() == "http" || p.scheme() == "https")
                    .map(|_| u.to_string())
                    .ok_or_else(|| FieldError::invalid("webhookUrl", "must be an http(s) URL"))?,
            ),
        })
    } else {
        None
    };
    let webhook_secret = o.str("webhookSecret")?;
    let timeout = o.u64("webhookTimeoutMs")?;
    if timeout.is_some_and(|t| t == 0 || t > MAX_WAIT_MS) {
        return Err(FieldError::invalid("webhookTimeoutMs", format!("must be between 1 and {MAX_WAIT_MS}")).into());
    }
    let max_attempts = o.u64("webhookMaxAttempts")?;
    if max_attempts.is_some_and(|a| a == 0 || a > 100) {
        return Err(FieldError::invalid("webhookMaxAttempts", "must be between 1 and 100").into());
    }
    let backoff = o.u64("webhookBackoffMs")?;
    if backoff.is_some_and(|b| b > MAX_WAIT_MS) {
        return Err(FieldError::invalid("webhookBackoffMs", format!("must be at most {MAX_WAIT_MS}")).into());
    }
    let ttl = o.f64("tokenTtlSecs")?;
    if ttl.is_some_and(|t| !(0.0..=86_400.0).contains(&t)) {
        return Err(FieldError::invalid("tokenTtlSecs", "must be between 0 and 86400").into());
    }
    let public_url = match non_empty(o.str("publicUrl")?) {
        None => None,
        Some(u) => Some(http_url("publicUrl", u)?),
    };
    let duplicate_rate = rate(&o, "duplicateRate")?;
    let drop_rate = rate(&o, "dropRate")?;
    let listing_timestamps = o
        .str("listingTimestamps")?
        .map(|raw| {
            crate::state::ListingTimestamps::parse(raw).ok_or_else(|| {
                FieldError::invalid("listingTimestamps", "must be seconds, milliseconds or boundsInMilliseconds")
            })
        })
        .transpose()?;
    let usd_rates = o.obj("usdRates")?.map(parse_usd_rates).transpose()?;

    let mut world = state.lock();
    let knobs = &mut world.knobs;
    if let Some(url) = webhook_url {
        knobs.webhook_url = url;
    }
    if let Some(secret) = webhook_secret {
        knobs.webhook_secret = secret.to_string();
    }
    if let Some(ms) = timeout {
        knobs.webhook_timeout = Duration::from_millis(ms);
    }
    if let Some(n) = max_attempts {
        knobs.webhook_max_attempts = n as u32;
    }
    if let Some(ms) = backoff {
        knobs.webhook_backoff = Duration::from_millis(ms);
    }
    if let Some(secs) = ttl {
        knobs.token_ttl = Duration::from_secs_f64(secs);
    }
    if let Some(url) = public_url {
        knobs.public_url = url;
    }
    if let Some(r) = duplicate_rate {
        knobs.duplicate_rate = r;
    }
    if let Some(r) = drop_rate {
        knobs.drop_rate = r;
    }
    if let Some(unit) = listing_timestamps {
        knobs.listing_timestamps = unit;
    }
    if let Some(rates) = usd_rates {
        knobs.usd_rates = rates;
    }
    Ok(Json(knobs.to_json()).into_response())
}

/// `POST /sandbox/reset`: forget tokens, transfers, deliveries and faults; restore the startup knobs.
pub async fn reset(State(state): State<Arc<AppState>>) -> ControlResult {
    let mut world = state.lock();
    world.reset();
    Ok(Json(json!({"reset": true, "config": world.knobs.to_json()})).into_response())
}

/// `GET /sandbox/health`.
pub async fn health() -> ControlResult {
    Ok(Json(json!({"status": "ok"})).into_response())
}

/// Any other `/sandbox` path.
pub fn not_found(path: &str) -> Response {
    ControlError::not_found(format!("no sandbox endpoint at {path}")).into_response()
}

/// A wrong method on a known `/sandbox` path.
pub fn method_not_allowed() -> Response {
    ControlError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_id_forms() {
        let url = "http://127.0.0.1:8787/link/abc123?auth_code=abc123";
        assert_eq!(token_id_from("abc123"), "abc123");
        assert_eq!(token_id_from(url), "abc123");
        assert_eq!(token_id_from(&STANDARD.encode(url)), "abc123");
        assert_eq!(token_id_from("http://x/paylink/p1"), "p1");
        let hex = "0123456789abcdef0123456789abcdef";
        assert_eq!(token_id_from(hex), hex);
        assert_eq!(token_id_from("http://x/elsewhere"), "http://x/elsewhere");
    }

    #[test]
    fn webhook_options() {
        let map = crate::json::parse_object(br#"{"Webhooks":{"Drop":true,"duplicates":2,"reverse":true,"delayMs":5}}"#)
            .expect("object");
        let w = parse_webhook_options(&Obj::new(&map)).expect("valid");
        assert!(w.drop && w.reverse);
        assert_eq!(w.duplicates, 2);
        assert_eq!(w.delay, Duration::from_millis(5));
        let map = crate::json::parse_object(br#"{"webhooks":{"duplicates":11}}"#).expect("object");
        assert!(parse_webhook_options(&Obj::new(&map)).is_err());
        let map = crate::json::parse_object(br#"{"webhooks":{"delayMs":-1}}"#).expect("object");
        assert!(parse_webhook_options(&Obj::new(&map)).is_err());
    }
}
