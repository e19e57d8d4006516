//! The emulated Mesh API under `/api/v1`: the `ApiResult` envelope, link tokens, networks and the
//! managed-transfers history. Authentication happens in the edge middleware (see `lib.rs`).

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::catalog::{self, NETWORKS};
use crate::json::{BodyError, FieldError, Obj, parse_object};
use crate::listing::parse_query;
use crate::state::{AppState, FaultEndpoint, LinkToken, ToAddress, TokenState, TransferOptions, now_secs};

pub const MAX_USER_ID: usize = 300;
pub const MAX_TRANSACTION_ID: usize = 128;
pub const MAX_DESCRIPTION: usize = 256;
pub const TRANSFER_TYPES: &[&str] = &["deposit", "payment", "onramp", "fiatOnRamp", "fiatOffRamp"];

/// A 200 `ApiResult` with `status: "ok"`.
pub fn ok(content: Value) -> Response {
    (
        StatusCode::OK,
        Json(json!({
            "content": content,
            "status": "ok",
            "message": "",
            "displayMessage": null,
            "errorType": "",
            "errorHash": null,
            "errorData": null,
        })),
    )
        .into_response()
}

/// An error `ApiResult`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub http: StatusCode,
    /// `ApiResultStatus`.
    pub status: &'static str,
    pub error_type: &'static str,
    pub message: String,
    pub display_message: &'static str,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn bad_request(error_type: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            http: StatusCode::BAD_REQUEST,
            status: "badRequest",
            error_type,
            message: message.into(),
            display_message: "Something went wrong",
            retry_after_secs: None,
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            http: StatusCode::NOT_FOUND,
            status: "notFound",
            error_type: "notFound",
            message: message.into(),
            display_message: "Not found",
            retry_after_secs: None,
        }
    }

    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        ApiError {
            http: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            status: "badRequest",
            error_type: "unsupportedMediaType",
            message: message.into(),
            display_message: "Something went wrong",
            retry_after_secs: None,
        }
    }

    /// An injected answer: 429 → `tooManyRequest` (always with `Retry-After`), 5xx → `serverFailure`.
    pub fn injected(status: u16, retry_after_secs: Option<u64>) -> Self {
        let http = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if http == StatusCode::TOO_MANY_REQUESTS {
            ApiError {
                http,
                status: "tooManyRequest",
                error_type: "tooManyRequests",
                message: "Too many requests".into(),
                display_message: "Too many requests, please try again later",
                retry_after_secs: Some(retry_after_secs.unwrap_or(1)),
            }
        } else {
            ApiError {
                http,
                status: "serverFailure",
                error_type: "serverFailure",
                message: format!("Injected fault: HTTP {}", http.as_u16()),
                display_message: "Something went wrong",
                retry_after_secs,
            }
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        let error_type = match e {
            FieldError::Missing(_) => "missingField",
            FieldError::Invalid { .. } => "invalidField",
        };
        ApiError::bad_request(error_type, e.to_string())
    }
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> Self {
        ApiError::bad_request("invalidJson", e.to_string())
    }
}

fn error_hash(error_type: &str, message: &str) -> String {
    let digest = Sha256::digest(format!("{error_type}:{message}").as_bytes());
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "content": null,
            "status": self.status,
            "message": self.message,
            "displayMessage": self.display_message,
            "errorType": self.error_type,
            "errorHash": error_hash(self.error_type, &self.message),
            "errorData": null,
        });
        let mut response = (self.http, Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// Applies the next injected fault for `endpoint`, if any: waits its delay, then answers its status.
pub async fn apply_fault(state: &AppState, endpoint: FaultEndpoint) -> Result<(), ApiError> {
    let hit = state.lock().take_fault(endpoint);
    let Some(hit) = hit else { return Ok(()) };
    if !hit.delay.is_zero() {
        tokio::select! {
            _ = tokio::time::sleep(hit.delay) => {}
            _ = state.shutdown_signal() => {}
        }
    }
    match hit.status {
        Some(status) => Err(ApiError::injected(status, hit.retry_after_secs)),
        None => Ok(()),
    }
}

/// `application/json`, `text/json` and `application/*+json`, with any parameters.
pub fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json"
        || essence == "text/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A validated `GetLinkTokenRequest` (the parts the sandbox keeps).
#[derive(Debug, Clone)]
pub struct LinkTokenRequest {
    pub user_id: String,
    pub options: Option<TransferOptions>,
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.trim().is_empty())
}

fn max_len(o: &Obj<'_>, name: &str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.chars().count() > max {
        return Err(FieldError::invalid(o.path(name), format!("must be at most {max} characters")));
    }
    Ok(())
}

/// Validates a link-token request (keys already lower-cased). Unknown properties are ignored.
pub fn parse_link_token_request(map: &Map<String, Value>) -> Result<LinkTokenRequest, ApiError> {
    let o = Obj::new(map);
    let user_id = non_empty(o.str("userId")?).ok_or_else(|| FieldError::Missing("userId".into()))?;
    max_len(&o, "userId", user_id, MAX_USER_ID)?;
    o.bool("restrictMultipleAccounts")?;
    o.bool("disableApiKeyGeneration")?;
    o.uuid("integrationId")?;
    o.uuid("subClientId")?;
    o.str("brokerType")?;
    o.obj("verifyWalletOptions")?;

    let options = match o.obj("transferOptions")? {
        None => None,
        Some(map) => Some(parse_transfer_options(&Obj::with_prefix(map, "transferOptions"))?),
    };
    Ok(LinkTokenRequest { user_id: user_id.to_string(), options })
}

fn parse_transfer_options(o: &Obj<'_>) -> Result<TransferOptions, ApiError> {
    let transaction_id = non_empty(o.str("transactionId")?);
    if let Some(t) = transaction_id {
        max_len(o, "transactionId", t, MAX_TRANSACTION_ID)?;
    }
    let amount_in_fiat = o.f64("amountInFiat")?;
    if amount_in_fiat.is_some_and(|a| a <= 0.0) {
        return Err(FieldError::invalid(o.path("amountInFiat"), "must be greater than 0").into());
    }
    let client_fee = o.f64("clientFee")?;
    if client_fee.is_some_and(|f| !(0.0..=1.0).contains(&f)) {
        return Err(FieldError::invalid(o.path("clientFee"), "must be between 0 and 1").into());
    }
    let transfer_type = match o.str("transferType")? {
        None => None,
        Some(t) => Some(
            TRANSFER_TYPES
                .iter()
                .find(|known| known.eq_ignore_ascii_case(t.trim()))
                .map(|known| known.to_string())
                .ok_or_else(|| {
                    FieldError::invalid(o.path("transferType"), format!("must be one of {}", TRANSFER_TYPES.join(", ")))
                })?,
        ),
    };
    let is_inclusive_fee_enabled = o.bool("isInclusiveFeeEnabled")?.unwrap_or(false);
    let generate_pay_link = o.bool("generatePayLink")?.unwrap_or(false);
    if let Some(funding) = o.obj("fundingOptions")? {
        Obj::with_prefix(funding, "transferOptions.fundingOptions").bool("enabled")?;
    }
    if let Some(d) = o.str("description")? {
        max_len(o, "description", d, MAX_DESCRIPTION)?;
    }
    o.array("goodsDetails")?;

    let mut to_addresses = Vec::new();
    if let Some(items) = o.array("toAddresses")? {
        for (i, item) in items.iter().enumerate() {
            let prefix = format!("{}[{i}]", o.path("toAddresses"));
            let Value::Object(map) = item else {
                return Err(FieldError::invalid(prefix, "must be an object").into());
            };
            to_addresses.push(parse_to_address(&Obj::with_prefix(map, &prefix))?);
        }
    }
    if generate_pay_link && transaction_id.is_none() {
        return Err(ApiError::bad_request(
            "missingField",
            format!("{} is required when generatePayLink is true", o.path("transactionId")),
        ));
    }
    Ok(TransferOptions {
        to_addresses,
        amount_in_fiat,
        transaction_id: transaction_id.map(str::to_string),
        client_fee,
        transfer_type,
        is_inclusive_fee_enabled,
        generate_pay_link,
    })
}

fn parse_to_address(o: &Obj<'_>) -> Result<ToAddress, FieldError> {
    let network_id = o.uuid("networkId")?.ok_or_else(|| FieldError::Missing(o.path("networkId")))?;
    let network = catalog::network(network_id)
        .ok_or_else(|| FieldError::invalid(o.path("networkId"), format!("{network_id} is not a supported network")))?;
    let symbol = non_empty(o.str("symbol")?).ok_or_else(|| FieldError::Missing(o.path("symbol")))?;
    let address = non_empty(o.str("address")?).ok_or_else(|| FieldError::Missing(o.path("address")))?;
    let amount = o.f64("amount")?;
    if amount.is_some_and(|a| a <= 0.0) {
        return Err(FieldError::invalid(o.path("amount"), "must be greater than 0"));
    }
    let display_amount_in_fiat = o.f64("displayAmountInFiat")?;
    if display_amount_in_fiat.is_some_and(|a| a < 0.0) {
        return Err(FieldError::invalid(o.path("displayAmountInFiat"), "must not be negative"));
    }
    o.f64("minAmount")?;
    o.f64("minAmountInFiat")?;
    Ok(ToAddress {
        network,
        symbol: symbol.trim().to_string(),
        address: address.trim().to_string(),
        address_tag: non_empty(o.str("addressTag")?).map(str::to_string),
        amount,
        display_amount_in_fiat,
    })
}

/// `POST /api/v1/linktoken`.
pub async fn create_link_token(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    apply_fault(&state, FaultEndpoint::LinkToken).await?;
    if !is_json_content_type(&headers) {
        return Err(ApiError::unsupported_media_type(
            "Content-Type must be application/json, text/json or application/*+json",
        ));
    }
    let map = parse_object(&body)?;
    let request = parse_link_token_request(&map)?;

    let mut world = state.lock();
    let public_url = world.knobs.public_url.clone();
    let token = LinkToken {
        id: uuid::Uuid::new_v4().simple().to_string(),
        created_at: Instant::now(),
        created_timestamp: now_secs(),
        ttl: world.knobs.token_ttl,
        state: TokenState::Fresh,
        user_id: request.user_id,
        options: request.options,
        transfer_id: None,
    };
    let link_token = STANDARD.encode(token.link_url(&public_url));
    let payment_link = token.paylink_url(&public_url);
    world.insert_token(token);
    drop(world);
    Ok(ok(json!({ "linkToken": link_token, "paymentLink": payment_link })))
}

/// `GET /api/v1/transfers/managed/networks`.
pub async fn networks(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    apply_fault(&state, FaultEndpoint::Networks).await?;
    let public_url = state.lock().knobs.public_url.clone();
    let networks: Vec<Value> = NETWORKS.iter().map(|n| n.to_json(&public_url)).collect();
    Ok(ok(json!({ "networks": networks })))
}

/// `GET /api/v1/transfers/managed/mesh`.
pub async fn list_transfers(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    apply_fault(&state, FaultEndpoint::Transfers).await?;
    let mut query = parse_query(query.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request("invalidField", e.to_string()))?;
    let world = state.lock();
    let public_url = world.knobs.public_url.clone();
    let unit = world.knobs.listing_timestamps;
    if unit.bounds_in_ms() {
        // Transfers are held in whole seconds: a bound in ms includes the whole second it falls in.
        query.from_timestamp = query.from_timestamp.map(|f| f.div_euclid(1000));
        query.to_timestamp = query.to_timestamp.map(|t| t.div_euclid(1000));
    }
    let (page, total) = query.run(world.transfers.iter());
    let mut items: Vec<Value> = page.iter().map(|t| t.to_model(&public_url)).collect();
    if unit.reported_in_ms() {
        for item in &mut items {
            for field in ["createdTimestamp", "executedTimestamp"] {
                if let Some(secs) = item[field].as_i64() {
                    item[field] = json!(secs.saturating_mul(1000));
                }
            }
        }
    }
    let has_more_pages = query.offset.saturating_add(items.len()) < total;
    drop(world);
    Ok(ok(json!({
        "items": items,
        "total": total,
        "hasMorePages": has_more_pages,
    })))
}

/// Any other path under `/api/v1`.
pub fn not_found(path: &str) -> Response {
    ApiError::not_found(format!("No API endpoint at {path}")).into_response()
}

/// A wrong method on a known `/api/v1` path (ASP.NET answers 405).
pub fn method_not_allowed() -> Response {
    ApiError {
        http: StatusCode::METHOD_NOT_ALLOWED,
        status: "badRequest",
        error_type: "methodNotAllowed",
        message: "Method not allowed".into(),
        display_message: "Something went wrong",
        retry_after_secs: None,
    }
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse_object;

    fn parse(body: &str) -> Result<LinkTokenRequest, ApiError> {
        let map = parse_object(body.as_bytes()).expect("json object");
        parse_link_token_request(&map)
    }

    fn error_type(body: &str) -> &'static str {
        match parse(body) {
            Ok(_) => "ok",
            Err(e) => e.error_type,
        }
    }

    #[test]
    fn user_id_rules() {
        assert_eq!(error_type("{}"), "missingField");
        assert_eq!(error_type(r#"{"userId":""}"#), "missingField");
        assert_eq!(error_type(r#"{"userId":"   "}"#), "missingField");
        assert_eq!(error_type(r#"{"userId":null}"#), "missingField");
        assert_eq!(error_type(r#"{"userId":5}"#), "invalidField");
        assert_eq!(error_type(&format!(r#"{{"userId":"{}"}}"#, "u".repeat(300))), "ok");
        assert_eq!(error_type(&format!(r#"{{"userId":"{}"}}"#, "u".repeat(301))), "invalidField");
    }

    #[test]
    fn transfer_option_rules() {
        let base = |opts: &str| format!(r#"{{"userId":"u","transferOptions":{opts}}}"#);
        assert_eq!(error_type(&base(r#"{"clientFee":1.01}"#)), "invalidField");
        assert_eq!(error_type(&base(r#"{"clientFee":-0.1}"#)), "invalidField");
        assert_eq!(error_type(&base(r#"{"clientFee":0}"#)), "ok");
        assert_eq!(error_type(&base(r#"{"clientFee":1}"#)), "ok");
        assert_eq!(error_type(&base(&format!(r#"{{"transactionId":"{}"}}"#, "t".repeat(129)))), "invalidField");
        assert_eq!(error_type(&base(&format!(r#"{{"transactionId":"{}"}}"#, "t".repeat(128)))), "ok");
        assert_eq!(error_type(&base(r#"{"generatePayLink":true}"#)), "missingField");
        assert_eq!(error_type(&base(r#"{"generatePayLink":true,"transactionId":""}"#)), "missingField");
        assert_eq!(error_type(&base(r#"{"generatePayLink":true,"transactionId":"t"}"#)), "ok");
        assert_eq!(error_type(&base(r#"{"transferType":"PAYMENT"}"#)), "ok");
        assert_eq!(error_type(&base(r#"{"transferType":"gift"}"#)), "invalidField");
        assert_eq!(error_type(&base(r#"{"amountInFiat":0}"#)), "invalidField");
    }

    #[test]
    fn to_address_rules() {
        let with = |addr: &str| format!(r#"{{"userId":"u","transferOptions":{{"toAddresses":[{addr}]}}}}"#);
        let ok_addr = r#"{"networkId":"aa883b03-120d-477c-a588-37c2afd3ca71","symbol":"USDC","address":"0x1"}"#;
        assert_eq!(error_type(&with(ok_addr)), "ok");
        assert_eq!(error_type(&with(r#"{"symbol":"USDC","address":"0x1"}"#)), "missingField");
        assert_eq!(
            error_type(&with(
                r#"{"networkId":"00000000-0000-4000-8000-000000000000","symbol":"USDC","address":"0x1"}"#
            )),
            "invalidField"
        );
        assert_eq!(error_type(&with(r#"{"networkId":"base","symbol":"USDC","address":"0x1"}"#)), "invalidField");
        assert_eq!(
            error_type(&with(r#"{"networkId":"aa883b03-120d-477c-a588-37c2afd3ca71","symbol":"","address":"0x1"}"#)),
            "missingField"
        );
        assert_eq!(
            error_type(&with(r#"{"networkId":"aa883b03-120d-477c-a588-37c2afd3ca71","symbol":"USDC"}"#)),
            "missingField"
        );
        assert_eq!(error_type(&with("5")), "invalidField");
    }

    #[test]
    fn case_insensitive_properties() {
        let r = parse(
            r#"{"UserId":"u1","TRANSFEROPTIONS":{"TransactionID":"t1","ToAddresses":[{"NETWORKID":"AA883B03-120D-477C-A588-37C2AFD3CA71","Symbol":"USDC","ADDRESS":"0x1"}],"AmountInFiat":12.5,"extra":{"anything":1}},"unknown":true}"#,
        )
        .expect("valid");
        assert_eq!(r.user_id, "u1");
        let o = r.options.expect("options");
        assert_eq!(o.transaction_id.as_deref(), Some("t1"));
        assert_eq!(o.to_addresses[0].network.name, "Base");
        assert_eq!(o.amount_in_fiat, Some(12.5));
    }

    #[test]
    fn content_types() {
        let mut h = HeaderMap::new();
        assert!(!is_json_content_type(&h));
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "text/json",
            "application/problem+json",
            "APPLICATION/JSON",
        ] {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ok));
            assert!(is_json_content_type(&h), "{ok}");
        }
        for bad in ["text/plain", "application/x-www-form-urlencoded", "application/jsonx"] {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(bad));
            assert!(!is_json_content_type(&h), "{bad}");
        }
    }

    #[test]
    fn injected_errors() {
        let e = ApiError::injected(429, None);
        assert_eq!(e.status, "tooManyRequest");
        assert_eq!(e.retry_after_secs, Some(1));
        let e = ApiError::injected(503, None);
        assert_eq!(e.status, "serverFailure");
        assert_eq!(e.http, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(error_hash("a", "b").len(), 8);
    }
}
