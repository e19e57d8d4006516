//! The HTTP surface: an axum `Router` served by `lambda_http` (the runtime's `http-axum` pattern), one
//! route per operation of `openapi.json`, and every answer as JSON with a stable `code` on errors. An
//! unknown path is a 404 before anything else; on a known path the caller is authenticated before
//! the method is checked (401 before 405): the shopper on `/link-tokens` and `/transfers`, the
//! merchant's server on `/checkouts`.

use crate::auth::AuthMode;
use crate::checkouts::Opened;
use crate::error::ApiError;
use crate::idempotency::IdempotencyStore;
use crate::service::LinkService;
use crate::view::page_json;
use axum::Router;
use axum::body::Body;
use axum::extract::{RawPathParams, Request, State};
use axum::response::Response;
use axum::routing::{get, post};
use lambda_http::RequestExt;
use shared::runtime::secrets::SecretSource;
use shared::storage::{CheckoutStore, TransferStore};
use std::convert::Infallible;
use std::sync::Arc;
use tower::{Service, ServiceExt};

/// The routes this function serves (the OpenAPI document is checked against this list).
#[cfg(test)]
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/link-tokens"),
    ("GET", "/transfers"),
    ("GET", "/transfers/{transactionId}"),
    ("POST", "/checkouts"),
    ("GET", "/checkouts"),
    ("GET", "/checkouts/{checkoutId}"),
    ("POST", "/checkouts/{checkoutId}/cancel"),
];

/// Who a route is for: it decides how the caller is authenticated, before anything else.
#[derive(Debug, Clone, Copy)]
enum Caller {
    Shopper,
    Merchant,
}

/// What every route needs: the use cases, and how the caller is identified.
pub struct Routes<S, I, K> {
    service: Arc<LinkService<S, I, K>>,
    auth: AuthMode,
}

impl<S, I, K> Clone for Routes<S, I, K> {
    fn clone(&self) -> Self {
        Self { service: self.service.clone(), auth: self.auth }
    }
}

pub fn router<S, I, K>(service: Arc<LinkService<S, I, K>>, auth: AuthMode) -> Router
where
    S: TransferStore + CheckoutStore + 'static,
    I: IdempotencyStore + 'static,
    K: SecretSource + 'static,
{
    // `get` would also answer HEAD; this API never did, so HEAD stays a 405 like any other method (and
    // the `Allow` header, which axum would fill with HEAD, is set here).
    let refused = |caller: Caller, allow: &'static str| {
        move |state: State<Routes<S, I, K>>, request: Request| method_not_allowed(state, request, caller, allow)
    };
    let (shopper, merchant) = (Caller::Shopper, Caller::Merchant);
    Router::new()
        .route("/link-tokens", post(create::<S, I, K>).fallback(refused(shopper, "POST")))
        .route("/transfers", get(list::<S, I, K>).head(refused(shopper, "GET")).fallback(refused(shopper, "GET")))
        .route(
            "/transfers/{transactionId}",
            get(show::<S, I, K>).head(refused(shopper, "GET")).fallback(refused(shopper, "GET")),
        )
        .route(
            "/checkouts",
            post(open_checkout::<S, I, K>)
                .get(find_checkout::<S, I, K>)
                .head(refused(merchant, "GET, POST"))
                .fallback(refused(merchant, "GET, POST")),
        )
        .route(
            "/checkouts/{checkoutId}",
            get(show_checkout::<S, I, K>).head(refused(merchant, "GET")).fallback(refused(merchant, "GET")),
        )
        .route("/checkouts/{checkoutId}/cancel", post(cancel_checkout::<S, I, K>).fallback(refused(merchant, "POST")))
        .fallback(route_not_found)
        .with_state(Routes { service, auth })
}

/// The router as the Lambda runtime serves it: routed on the path as API Gateway's `rawPath` gives it
/// (no stage; `cargo lambda watch` puts what follows `/lambda-url/<function>` there) with empty
/// segments dropped, so `/transfers/` is `/transfers`; the invocation's metrics flushed after each.
pub fn service<S, I, K>(
    service: Arc<LinkService<S, I, K>>,
    auth: AuthMode,
) -> impl Service<lambda_http::Request, Response = Response, Error = Infallible, Future: Send> + Clone
where
    S: TransferStore + CheckoutStore + 'static,
    I: IdempotencyStore + 'static,
    K: SecretSource + 'static,
{
    router(service, auth).map_request(on_raw_path).map_response(|response| {
        shared::runtime::metrics::flush();
        response
    })
}

/// One request through `service`, answered as the runtime answers it (how the tests drive the function).
pub async fn handle<S, I, K>(
    service: Arc<LinkService<S, I, K>>,
    auth: AuthMode,
    request: lambda_http::Request,
) -> Result<lambda_http::Response<lambda_http::Body>, lambda_http::Error>
where
    S: TransferStore + CheckoutStore + 'static,
    I: IdempotencyStore + 'static,
    K: SecretSource + 'static,
{
    let response = self::service(service, auth).oneshot(request).await?;
    Ok(lambda_http::IntoResponse::into_response(response).await)
}

fn on_raw_path(mut request: lambda_http::Request) -> lambda_http::Request {
    let segments: Vec<&str> = request.raw_http_path().split('/').filter(|s| !s.is_empty()).collect();
    if let Ok(uri) = format!("/{}", segments.join("/")).parse() {
        *request.uri_mut() = uri;
    }
    request
}

/// `POST /link-tokens`.
async fn create<S: TransferStore + CheckoutStore, I: IdempotencyStore, K: SecretSource>(
    State(routes): State<Routes<S, I, K>>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    respond(
        async {
            let user = routes.auth.user(&parts)?;
            let bytes = axum::body::to_bytes(body, usize::MAX).await.map_err(|_| ApiError::InvalidJson)?;
            let body = crate::body::parse(&bytes)?;
            let key = parts.headers.get("idempotency-key").map(|v| v.to_str().unwrap_or("\u{0}"));
            let now = shared::domain::time::now_millis();
            let runtime_deadline = parts.lambda_context_ref().map_or(0, |c| c.deadline);
            let deadline = routes.service.timeout.deadline_ms(runtime_deadline, now);
            let (minted, replayed) = routes.service.create(&user, body, key, deadline, now).await?;
            Ok((201, json_of(minted)?, replayed))
        }
        .await,
    )
}

/// `GET /transfers`.
async fn list<S: TransferStore + CheckoutStore, I: IdempotencyStore, K: SecretSource>(
    State(routes): State<Routes<S, I, K>>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    respond(
        async {
            let user = routes.auth.user(&parts)?;
            let query = parts.query_string_parameters();
            let (items, next) = routes.service.list(&user, query.first("cursor"), query.first("limit")).await?;
            Ok((200, page_json(items, next), false))
        }
        .await,
    )
}

/// `GET /transfers/{transactionId}`; the id as sent (not percent-decoded), like the path it came in.
async fn show<S: TransferStore + CheckoutStore, I: IdempotencyStore, K: SecretSource>(
    State(routes): State<Routes<S, I, K>>,
    params: RawPathParams,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let id = path_id(&params);
    respond(
        async {
            let user = routes.auth.user(&parts)?;
            let view = routes.service.get(&user, id).await?;
            answer(200, view)
        }
        .await,
    )
}

/// `POST /checkouts`: 201 for a new checkout, 200 for the order's existing one.
async fn open_checkout<S: TransferStore + CheckoutStore, I: IdempotencyStore, K: SecretSource>(
    State(routes): State<Routes<S, I, K>>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    respond(
        async {
            let merchant = routes.auth.merchant(&parts)?;
            let bytes = axum::body::to_bytes(body, usize::MAX).await.map_err(|_| ApiError::InvalidJson)?;
            let service = &routes.service;
            let new = crate::checkout_body::parse(&bytes, &service.destinations, service.policy.max_amount_fiat)?;
            let now = shared::domain::time::now_millis();
            let (opened, view) = service.open_checkout(&merchant, new, now).await?;
            let status = if opened == Opened::Created { 201 } else { 200 };
            answer(status, view)
        }
        .await,
    )
}

/// `GET /checkouts?orderId=`.
async fn find_checkout<S: TransferStore + CheckoutStore, I: IdempotencyStore, K: SecretSource>(
    State(routes): State<Routes<S, I, K>>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    respond(
        async {
            routes.auth.merchant(&parts)?;
            let query = parts.query_string_parameters();
            let view = routes.service.checkout_of_order(query.first("orderId")).await?;
            answer(200, view)
        }
        .await,
    )
}

/// `GET /checkouts/{checkoutId}`.
async fn show_checkout<S: TransferStore + CheckoutStore, I: IdempotencyStore, K: SecretSource>(
    State(routes): State<Routes<S, I, K>>,
    params: RawPathParams,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let id = path_id(&params);
    respond(
        async {
            routes.auth.merchant(&parts)?;
            let view = routes.service.checkout(id).await?;
            answer(200, view)
        }
        .await,
    )
}

/// `POST /checkouts/{checkoutId}/cancel`.
async fn cancel_checkout<S: TransferStore + CheckoutStore, I: IdempotencyStore, K: SecretSource>(
    State(routes): State<Routes<S, I, K>>,
    params: RawPathParams,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let id = path_id(&params);
    respond(
        async {
            let merchant = routes.auth.merchant(&parts)?;
            let view = routes.service.cancel_checkout(&merchant, id, shared::domain::time::now_millis()).await?;
            answer(200, view)
        }
        .await,
    )
}

/// A known path with a method it does not serve: still 401 for an unauthenticated caller; a 405 says
/// which method the path serves.
async fn method_not_allowed<S: TransferStore + CheckoutStore, I: IdempotencyStore, K: SecretSource>(
    State(routes): State<Routes<S, I, K>>,
    request: Request,
    caller: Caller,
    allow: &'static str,
) -> Response {
    let (parts, _) = request.into_parts();
    let authenticated = match caller {
        Caller::Shopper => routes.auth.user(&parts).map(drop),
        Caller::Merchant => routes.auth.merchant(&parts).map(drop),
    };
    let mut response = respond(authenticated.and(Err(ApiError::MethodNotAllowed)));
    if response.status() == 405 {
        response.headers_mut().insert("allow", axum::http::HeaderValue::from_static(allow));
    }
    response
}

/// The route's one path parameter as sent (not percent-decoded), like the path it came in.
fn path_id(params: &RawPathParams) -> &str {
    params.iter().next().map(|(_, id)| id).unwrap_or_default()
}

fn json_of(value: impl serde::Serialize) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(value).map_err(|_| ApiError::InvalidJson)
}

/// A view as the answer's body, never replayed.
fn answer(status: u16, view: impl serde::Serialize) -> Result<(u16, serde_json::Value, bool), ApiError> {
    Ok((status, json_of(view)?, false))
}

async fn route_not_found() -> Response {
    error_response(&ApiError::RouteNotFound)
}

fn respond(result: Result<(u16, serde_json::Value, bool), ApiError>) -> Response {
    match result {
        Ok((status, body, replayed)) => {
            let mut r = json(status, &body);
            if replayed {
                r.headers_mut().insert("idempotent-replayed", "true".parse().expect("static header value"));
            }
            r
        }
        Err(e) => error_response(&e),
    }
}

fn error_response(e: &ApiError) -> Response {
    if e.status() >= 500 {
        tracing::error!(code = e.code(), error = %e, "request failed");
    } else {
        tracing::info!(code = e.code(), "request refused");
    }
    let mut r = json(e.status(), &serde_json::json!({ "code": e.code(), "message": e.message() }));
    if let Some(after) = e.retry_after() {
        let secs = after.as_secs().max(1).to_string();
        r.headers_mut().insert("retry-after", secs.parse().expect("digits are a valid header value"));
    }
    r
}

fn json(status: u16, body: &serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(Body::from(body.to_string()))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}
