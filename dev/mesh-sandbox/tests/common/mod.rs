//! Shared helpers for the sandbox's HTTP tests: a sandbox on a random port, a Mesh-authenticated client,
//! and a tiny webhook receiver that records raw bodies and answers from a script.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use mesh_sandbox::{SandboxConfig, SandboxHandle};
use serde_json::{Value, json};

pub const CLIENT_ID: &str = "test-client";
pub const CLIENT_SECRET: &str = "test-secret";
pub const WEBHOOK_SECRET: &str = "whsec-test";
pub const BASE: &str = "aa883b03-120d-477c-a588-37c2afd3ca71";
pub const SOLANA: &str = "0291810a-5947-424d-9a59-e88bb33e999d";

pub fn config() -> SandboxConfig {
    SandboxConfig {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        webhook_secret: WEBHOOK_SECRET.into(),
        // Generous: a loaded 2-core CI machine must not turn a fast receiver into a retry.
        webhook_timeout: Duration::from_secs(3),
        webhook_backoff: Duration::from_millis(20),
        ..SandboxConfig::default()
    }
}

pub async fn sandbox(config: SandboxConfig) -> SandboxHandle {
    mesh_sandbox::spawn(config).await.expect("sandbox starts")
}

pub fn http() -> reqwest::Client {
    mesh_sandbox::install_crypto_provider();
    reqwest::Client::builder().no_proxy().build().expect("client")
}

/// A request to the Mesh API with valid credentials.
pub fn api(client: &reqwest::Client, method: reqwest::Method, url: String) -> reqwest::RequestBuilder {
    client.request(method, url).header("X-Client-Id", CLIENT_ID).header("X-Client-Secret", CLIENT_SECRET)
}

pub async fn json_of(response: reqwest::Response) -> Value {
    response.json::<Value>().await.expect("JSON body")
}

/// Mints a link token with the given body; returns the envelope's content.
pub async fn link_token(sb: &SandboxHandle, body: Value) -> Value {
    let r =
        api(&http(), reqwest::Method::POST, sb.url("/api/v1/linktoken")).json(&body).send().await.expect("linktoken");
    assert_eq!(r.status(), 200);
    let v = json_of(r).await;
    assert_eq!(v["status"], "ok");
    v["content"].clone()
}

pub fn payment_request(transaction_id: &str) -> Value {
    json!({
        "userId": "user-1",
        "transferOptions": {
            "transactionId": transaction_id,
            "transferType": "payment",
            "amountInFiat": 49.99,
            "toAddresses": [
                {"networkId": BASE, "symbol": "USDC", "address": "0x1111111111111111111111111111111111111111"},
                {"networkId": SOLANA, "symbol": "USDC", "address": "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin"}
            ]
        }
    })
}

/// POSTs to the control API.
pub async fn control(sb: &SandboxHandle, path: &str, body: Value) -> reqwest::Response {
    http().post(sb.url(path)).json(&body).send().await.expect("control call")
}

pub async fn get_json(sb: &SandboxHandle, path: &str) -> Value {
    json_of(http().get(sb.url(path)).send().await.expect("GET")).await
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Hit {
    pub signature: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Hit {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("webhook body is JSON")
    }
}

#[derive(Clone)]
struct ReceiverState {
    hits: Arc<Mutex<Vec<Hit>>>,
    /// `(status, delay ms)` for the n-th request; after the script, 200 at once.
    script: Arc<Vec<(u16, u64)>>,
}

pub struct Receiver {
    pub url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(state): State<ReceiverState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let index = {
        let mut hits = state.hits.lock().expect("lock");
        hits.push(Hit {
            signature: header("x-mesh-signature-256"),
            content_type: header("content-type"),
            body: body.to_vec(),
        });
        hits.len() - 1
    };
    let (status, delay) = state.script.get(index).copied().unwrap_or((200, 0));
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    StatusCode::from_u16(status).expect("status")
}

pub async fn receiver(script: Vec<(u16, u64)>) -> Receiver {
    let hits = Arc::new(Mutex::new(Vec::new()));
    let state = ReceiverState { hits: Arc::clone(&hits), script: Arc::new(script) };
    let app = axum::Router::new().route("/webhook", post(receive)).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind receiver");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Receiver { url: format!("http://{addr}/webhook"), hits, task }
}

impl Receiver {
    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().expect("lock").clone()
    }

    /// Waits until at least `n` requests arrived (or 10 s passed).
    pub async fn wait_for(&self, n: usize) -> Vec<Hit> {
        for _ in 0..1000 {
            let hits = self.hits();
            if hits.len() >= n {
                return hits;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("expected {n} webhook requests, got {}", self.hits().len());
    }
}

/// Waits until every recorded delivery has left `pending` (or 10 s passed); returns them.
pub async fn settled_deliveries(sb: &SandboxHandle, expected: usize) -> Vec<Value> {
    for _ in 0..1000 {
        let v = get_json(sb, "/sandbox/webhooks").await;
        let items = v.as_array().cloned().unwrap_or_default();
        if items.len() >= expected && items.iter().all(|d| d["status"] != "pending") {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("deliveries did not settle: {}", get_json(sb, "/sandbox/webhooks").await);
}
