//! `mesh-sandbox`: a faithful local emulator of the Mesh Connect API (link tokens, networks, managed
//! transfers) and of its signed transfer-status webhooks, with a fake Link page and a control API for
//! tests and demos. The contract it reproduces is `docs/mesh-contract.md` §9.
//!
//! In tests:
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let sandbox = mesh_sandbox::spawn(mesh_sandbox::SandboxConfig::default()).await?;
//! let api_base = sandbox.base_url(); // e.g. "http://127.0.0.1:41234"; Mesh paths are under /api/v1
//! # let _ = api_base;
//! sandbox.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Module map: [`mesh_api`] (the `/api/v1` surface and its envelope), [`listing`] (the transfers query),
//! [`transfer`] (state machine, `TransferModel`, webhook body), [`webhooks`] (delivery and retries),
//! [`signature`] (HMAC), [`control`] (the `/sandbox` API), [`deliver`] (what arrives instead of what was offered), [`link_page`] (fake Link UI), [`state`]
//! (in-memory world), [`catalog`] (networks, prices, integrations), [`json`] (case-insensitive bodies),
//! [`cli`] (binary flags).

#![forbid(unsafe_code)]

pub mod catalog;
pub mod cli;
pub mod control;
pub mod deliver;
pub mod json;
pub mod link_page;
pub mod listing;
pub mod mesh_api;
pub mod signature;
pub mod state;
pub mod transfer;
pub mod webhooks;

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, ServiceExt as _};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tower::Layer as _;
use tracing::info;

pub use signature::{SIGNATURE_HEADER, sign};
use state::AppState;

/// Startup configuration. Everything but the credentials can also be changed at run time through
/// `POST /sandbox/config`.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Expected `X-Client-Id`.
    pub client_id: String,
    /// Expected `X-Client-Secret`.
    pub client_secret: String,
    /// Where webhooks are POSTed; `None` records them as `skipped`.
    pub webhook_url: Option<String>,
    /// HMAC key for `X-Mesh-Signature-256`.
    pub webhook_secret: String,
    /// Lifetime of an unused link token (Mesh: 10 minutes).
    pub token_ttl: Duration,
    /// A delivery that has no HTTP 200 within this time is retried (Mesh: 200 ms).
    pub webhook_timeout: Duration,
    /// Attempts per delivery, first included.
    pub webhook_max_attempts: u32,
    /// Wait after the first failed attempt; doubles after each further one, capped at 60 s.
    pub webhook_backoff: Duration,
    /// Base URL put in link-token and Paylink URLs; default: the bound `http://127.0.0.1:PORT`.
    pub public_url: Option<String>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            client_id: "sandbox-client-id".to_string(),
            client_secret: "sandbox-client-secret".to_string(),
            webhook_url: None,
            webhook_secret: "sandbox-webhook-secret".to_string(),
            token_ttl: Duration::from_secs(600),
            webhook_timeout: Duration::from_millis(200),
            webhook_max_attempts: 5,
            webhook_backoff: Duration::from_millis(500),
            public_url: None,
        }
    }
}

/// A sandbox running in a background task. Dropping it stops the server and its webhook deliveries.
#[derive(Debug)]
pub struct SandboxHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl SandboxHandle {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `base_url()` joined with `path` (which should start with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url(), path)
    }

    /// Stops accepting requests, stops webhook deliveries and waits (up to 5 s) for the server to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut task).await.is_err()
        {
            task.abort();
        }
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Makes `ring` the process's rustls crypto provider, which reqwest needs before it builds a client: the
/// workspace's reqwest has no provider of its own (the functions hand it a complete TLS configuration, and
/// aws-lc-rs stays out of their binaries). Called by the sandbox before it builds its webhook client; a
/// test process that builds a reqwest client before starting a sandbox calls it first. Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Binds `127.0.0.1:0` and serves the sandbox in a background task of the current Tokio runtime.
pub async fn spawn(config: SandboxConfig) -> std::io::Result<SandboxHandle> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let state = AppState::new(config, format!("http://{addr}"), shutdown_rx)?;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(run(listener, state, shutdown_tx, async move {
        let _ = stop_rx.await;
    }));
    Ok(SandboxHandle { addr, stop: Some(stop_tx), task: Some(task) })
}

/// Serves the sandbox on `listener` until the process ends.
pub async fn serve(listener: TcpListener, config: SandboxConfig) -> std::io::Result<()> {
    serve_with_shutdown(listener, config, std::future::pending()).await
}

/// Serves the sandbox on `listener` until `signal` resolves, then shuts down gracefully.
pub async fn serve_with_shutdown<F>(listener: TcpListener, config: SandboxConfig, signal: F) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let addr = listener.local_addr()?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let state = AppState::new(config, format!("http://{addr}"), shutdown_rx)?;
    run(listener, state, shutdown_tx, signal).await
}

async fn run<F>(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
    signal: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let service = axum::middleware::from_fn_with_state(Arc::clone(&state), edge).layer(router(state));
    axum::serve(listener, service.into_make_service())
        .with_graceful_shutdown(async move {
            signal.await;
            let _ = shutdown.send(true);
        })
        .await
}

/// Every route of the sandbox.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/api/v1/linktoken", post(mesh_api::create_link_token))
        .route("/api/v1/transfers/managed/networks", get(mesh_api::networks))
        .route("/api/v1/transfers/managed/mesh", get(mesh_api::list_transfers))
        .route("/link/{id}", get(link_page::link))
        .route("/paylink/{id}", get(link_page::paylink))
        .route("/logos/{file}", get(link_page::logo))
        .route("/sandbox/health", get(control::health))
        .route("/sandbox/transfers", get(control::list_transfers).post(control::create_transfer))
        .route("/sandbox/transfers/seed", post(control::seed))
        .route("/sandbox/transfers/{id}", get(control::get_transfer))
        .route("/sandbox/transfers/{id}/outcome", post(control::set_outcome))
        .route("/sandbox/webhooks", get(control::list_webhooks))
        .route("/sandbox/linktokens", get(control::list_link_tokens))
        .route("/sandbox/integrations", get(control::list_integrations))
        .route("/sandbox/faults", get(control::list_faults).post(control::add_fault).delete(control::clear_faults))
        .route("/sandbox/deliver", get(deliver::list).post(deliver::queue).delete(deliver::clear))
        .route("/sandbox/config", get(control::get_config).post(control::set_config))
        .route("/sandbox/reset", post(control::reset))
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

fn is_api(path: &str) -> bool {
    path == "/api/v1" || path.starts_with("/api/v1/")
}

fn is_control(path: &str) -> bool {
    path == "/sandbox" || path.starts_with("/sandbox/")
}

async fn index() -> Response {
    Json(json!({
        "name": "mesh-sandbox",
        "meshApi": "/api/v1 (X-Client-Id + X-Client-Secret)",
        "endpoints": [
            "POST /api/v1/linktoken",
            "GET /api/v1/transfers/managed/networks",
            "GET /api/v1/transfers/managed/mesh",
            "GET /link/{tokenId}", "GET /paylink/{tokenId}",
            "POST /sandbox/transfers", "GET /sandbox/transfers", "GET /sandbox/transfers/{id}",
            "POST /sandbox/transfers/{id}/outcome", "POST /sandbox/transfers/seed",
            "GET /sandbox/webhooks", "GET /sandbox/linktokens", "GET /sandbox/integrations",
            "GET|POST|DELETE /sandbox/faults", "GET|POST|DELETE /sandbox/deliver", "GET|POST /sandbox/config", "POST /sandbox/reset",
            "GET /sandbox/health",
        ],
    }))
    .into_response()
}

async fn fallback(uri: Uri) -> Response {
    let path = uri.path();
    if is_api(path) || path.to_ascii_lowercase().starts_with("/api/") {
        mesh_api::not_found(path)
    } else if is_control(path) {
        control::not_found(path)
    } else {
        (StatusCode::NOT_FOUND, "not found").into_response()
    }
}

async fn method_not_allowed(uri: Uri) -> Response {
    if is_api(uri.path()) { mesh_api::method_not_allowed() } else { control::method_not_allowed() }
}

fn authorized(state: &AppState, headers: &HeaderMap) -> bool {
    let header_is =
        |name: &str, expected: &str| headers.get(name).and_then(|v| v.to_str().ok()).is_some_and(|v| v == expected);
    header_is("x-client-id", &state.client_id) && header_is("x-client-secret", &state.client_secret)
}

/// Rewrites `/api/...` paths to lower case without a trailing slash (Mesh's routing is
/// case-insensitive), keeping the query.
fn normalize_api_uri(uri: &Uri) -> Option<Uri> {
    let path = uri.path();
    let mut normalized = path.to_ascii_lowercase();
    while normalized.len() > 1 && normalized.ends_with('/') {
        normalized.pop();
    }
    if normalized == path {
        return None;
    }
    let path_and_query = match uri.query() {
        Some(q) => format!("{normalized}?{q}"),
        None => normalized,
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = path_and_query.parse().ok();
    Uri::from_parts(parts).ok()
}

/// Runs before routing: path normalisation and Mesh authentication for `/api`, CORS for `/sandbox`, and
/// one log line per request.
async fn edge(State(state): State<Arc<AppState>>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let api = path.to_ascii_lowercase().starts_with("/api/");
    let control = is_control(&path);
    if api && let Some(uri) = normalize_api_uri(request.uri()) {
        *request.uri_mut() = uri;
    }
    let mut response = if api && !authorized(&state, request.headers()) {
        // Mesh documents no body for 401.
        StatusCode::UNAUTHORIZED.into_response()
    } else if control && method == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(request).await
    };
    if control {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, DELETE, OPTIONS"));
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("content-type"));
    }
    info!("{} {} -> {} ({} ms)", method, path, response.status().as_u16(), started.elapsed().as_millis());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_are_normalised() {
        let uri: Uri = "/API/V1/LinkToken/?a=B".parse().expect("uri");
        assert_eq!(normalize_api_uri(&uri).map(|u| u.to_string()).as_deref(), Some("/api/v1/linktoken?a=B"));
        let uri: Uri = "/api/v1/linktoken".parse().expect("uri");
        assert!(normalize_api_uri(&uri).is_none());
    }

    #[test]
    fn default_config() {
        let c = SandboxConfig::default();
        assert_eq!(c.client_id, "sandbox-client-id");
        assert_eq!(c.client_secret, "sandbox-client-secret");
        assert_eq!(c.webhook_secret, "sandbox-webhook-secret");
        assert_eq!(c.token_ttl, Duration::from_secs(600));
        assert_eq!(c.webhook_timeout, Duration::from_millis(200));
        assert_eq!(c.webhook_max_attempts, 5);
        assert_eq!(c.webhook_backoff, Duration::from_millis(500));
    }
}
