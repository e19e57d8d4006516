//! Handler tests from the `events/` fixtures, against the Mesh sandbox over real HTTP and the stores
//! in memory; one end-to-end test runs the same flow on DynamoDB over moto.

use crate::auth::AuthMode;
use crate::idempotency::{DynamoIdempotencyStore, IdempotencyStore, MemoryIdempotencyStore};
use crate::link::LinkPolicy;
use crate::routes::handle;
use crate::service::LinkService;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::mesh::{HttpOptions, MeshClient};
use shared::runtime::config::{Destinations, MeshEnv};
use shared::runtime::secrets::{SecretCache, SecretSource, SecretsError};
use shared::storage::{CheckoutStore, DynamoTransferStore, MemoryTransferStore, TransferStore};
use shared::testkit::{self, StaticSecret};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const DESTINATIONS: &str = r#"[
  {"symbol":"USDC","network":"Base","address":"0x1111111111111111111111111111111111111111"},
  {"symbol":"USDC","network":"Solana","address":"9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin"},
  {"symbol":"ETH","network":"e3c7fdd8-b1fc-4e51-85ae-bb276e075611","address":"0x2222222222222222222222222222222222222222"}]"#;

type MemoryService = LinkService<MemoryTransferStore, MemoryIdempotencyStore, StaticSecret>;

struct World {
    sandbox: mesh_sandbox::SandboxHandle,
    service: Arc<MemoryService>,
}

/// Deposit mode: the user chooses the amount (what most tests below exercise); `payment` is the
/// default mode, where a checkout sets it (`checkouts.rs`).
fn deposit() -> LinkPolicy {
    LinkPolicy { transfer_type: shared::mesh::TransferType::Deposit, ..LinkPolicy::default() }
}

fn service_with<S: TransferStore + CheckoutStore, I: IdempotencyStore, K: SecretSource>(
    sandbox: &mesh_sandbox::SandboxHandle,
    store: S,
    idem: I,
    secret: K,
    destinations: &str,
) -> Arc<LinkService<S, I, K>> {
    service_in(sandbox, store, idem, secret, destinations, deposit())
}

fn service_in<S: TransferStore + CheckoutStore, I: IdempotencyStore, K: SecretSource>(
    sandbox: &mesh_sandbox::SandboxHandle,
    store: S,
    idem: I,
    secret: K,
    destinations: &str,
    policy: LinkPolicy,
) -> Arc<LinkService<S, I, K>> {
    let mesh = MeshClient::new(url::Url::parse(&sandbox.base_url()).unwrap(), HttpOptions::default()).unwrap();
    let secrets = SecretCache::with_min_refresh_interval(secret, Duration::from_secs(300), Duration::ZERO);
    Arc::new(LinkService::new(store, idem, secrets, mesh, Destinations::parse(destinations).unwrap(), policy))
}

type DynamoService = LinkService<DynamoTransferStore, DynamoIdempotencyStore, StaticSecret>;

/// The function on DynamoDB over moto (a fresh table).
async fn moto_service(sandbox: &mesh_sandbox::SandboxHandle, policy: LinkPolicy) -> Arc<DynamoService> {
    let client = aws_sdk_dynamodb::Client::new(&testkit::sdk_config().await);
    moto_service_on(sandbox, client, testkit::create_table(), policy)
}

fn moto_service_on(
    sandbox: &mesh_sandbox::SandboxHandle,
    client: aws_sdk_dynamodb::Client,
    table: String,
    policy: LinkPolicy,
) -> Arc<DynamoService> {
    let store = DynamoTransferStore::new(client.clone(), table.clone());
    service_in(
        sandbox,
        store,
        DynamoIdempotencyStore::new(client, table),
        testkit::sandbox_secret(),
        DESTINATIONS,
        policy,
    )
}

/// Deposit mode, stores in memory.
async fn world() -> World {
    world_in(deposit()).await
}

async fn world_in(policy: LinkPolicy) -> World {
    let sandbox = mesh_sandbox::spawn(mesh_sandbox::SandboxConfig::default()).await.unwrap();
    let service = service_in(
        &sandbox,
        MemoryTransferStore::default(),
        MemoryIdempotencyStore::default(),
        testkit::sandbox_secret(),
        DESTINATIONS,
        policy,
    );
    World { sandbox, service }
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/../../events/aws/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `POST /link-tokens` as the fixture sends it, with another body (deposit mode unless it names a checkout).
fn create_event(body: Value, sub: Option<&str>, key: Option<&str>) -> Value {
    let mut e = fixture("link-token-create.json");
    e["body"] = json!(body.to_string());
    match sub {
        Some(s) => e["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!(s),
        None => e["requestContext"]["authorizer"] = Value::Null,
    }
    if let Some(k) = key {
        e["headers"]["idempotency-key"] = json!(k);
    }
    e
}

/// A request of the merchant's server (IAM-signed, as `events/aws/checkouts-create.json`).
fn merchant_event(method: &str, path_and_query: &str, body: Option<Value>) -> Value {
    let mut e = fixture("checkouts-create.json");
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    e["rawPath"] = json!(path);
    e["rawQueryString"] = json!(query);
    let params: serde_json::Map<String, Value> =
        url::form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), json!(v.into_owned()))).collect();
    e["queryStringParameters"] = Value::Object(params);
    e["requestContext"]["http"]["method"] = json!(method);
    e["requestContext"]["http"]["path"] = json!(path);
    e["body"] = body.map_or(Value::Null, |b| json!(b.to_string()));
    e
}

fn get_event(id: &str, sub: &str) -> Value {
    let mut e = fixture("link-token-get-transfer.json");
    e["rawPath"] = json!(format!("/transfers/{id}"));
    e["requestContext"]["http"]["path"] = e["rawPath"].clone();
    e["pathParameters"]["transactionId"] = json!(id);
    e["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!(sub);
    e
}

async fn call<S: TransferStore + CheckoutStore + 'static, I: IdempotencyStore + 'static, K: SecretSource + 'static>(
    service: &Arc<LinkService<S, I, K>>,
    event: &Value,
) -> (u16, Value, Response<Body>) {
    let request: Request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let response = handle(service.clone(), AuthMode::Jwt, request).await.unwrap();
    let body = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
    (response.status().as_u16(), body, response)
}

async fn sandbox_tokens(sandbox: &mesh_sandbox::SandboxHandle) -> Vec<Value> {
    reqwest::get(sandbox.url("/sandbox/linktokens")).await.unwrap().json().await.unwrap()
}

async fn fault(sandbox: &mesh_sandbox::SandboxHandle, body: Value) {
    let r = reqwest::Client::new().post(sandbox.url("/sandbox/faults")).json(&body).send().await.unwrap();
    assert!(r.status().is_success());
}

/// The fixtures as the merchant's server and then the shopper send them: the checkout prices the order,
/// the shopper's token pays it.
#[tokio::test]
async fn the_fixtures_open_a_checkout_and_mint_a_token_for_it_with_server_chosen_destination_and_id() {
    let w = world_in(LinkPolicy::default()).await;
    let (status, checkout, _) = call(&w.service, &fixture("checkouts-create.json")).await;
    assert_eq!(status, 201, "{checkout}");
    let mut mint = fixture("link-token-create.json");
    let mut body: Value = serde_json::from_str(mint["body"].as_str().unwrap()).unwrap();
    body["checkoutId"] = checkout["checkoutId"].clone();
    mint["body"] = json!(body.to_string());
    let (status, body, _) = call(&w.service, &mint).await;
    assert_eq!(status, 201, "{body}");
    let tx = body["transactionId"].as_str().unwrap();
    assert!(tx.starts_with("txn_"));
    assert!(body["linkToken"].as_str().unwrap().len() > 20);
    assert!(body.get("paymentLink").is_none());
    let tokens = sandbox_tokens(&w.sandbox).await;
    assert_eq!(tokens.len(), 1);
    let t = &tokens[0];
    assert_eq!(t["transactionId"], tx, "the sandbox received the server-made transaction id");
    assert_eq!(t["userId"], "user-7f3a9c");
    assert_eq!(t["amountInFiat"], 49.99, "the checkout's price");
    let to = t["toAddresses"].as_array().unwrap();
    assert_eq!(to.len(), 1, "one destination when the user picked symbol and network");
    assert_eq!(to[0]["address"], "0x1111111111111111111111111111111111111111");
    assert_eq!(to[0]["networkId"], "aa883b03-120d-477c-a588-37c2afd3ca71");
    // Recorded before answering.
    let (status, view, _) = call(&w.service, &get_event(tx, "user-7f3a9c")).await;
    assert_eq!(status, 200);
    assert_eq!((view["status"].as_str(), view["orderId"].as_str()), (Some("created"), Some("order-1001")));
    assert_eq!(view["amountInFiat"], "49.99");
    assert_eq!(
        view["checkout"],
        json!({"checkoutId": checkout["checkoutId"], "status": "open", "safeToFulfil": false, "reviewRequired": false})
    );
}

#[tokio::test]
async fn without_a_choice_every_destination_is_offered() {
    let w = world().await;
    let (status, _, _) = call(&w.service, &create_event(json!({}), Some("u1"), None)).await;
    assert_eq!(status, 201);
    let to = sandbox_tokens(&w.sandbox).await[0]["toAddresses"].as_array().unwrap().len();
    assert_eq!(to, 3);
}

#[tokio::test]
async fn the_browser_cannot_choose_addresses_transaction_ids_or_users() {
    let w = world().await;
    for body in [
        json!({"address": "0xevil"}),
        json!({"transactionId": "mine"}),
        json!({"toAddresses": [{"address": "0xevil"}]}),
        json!({"userId": "someone-else"}),
    ] {
        let (status, err, _) = call(&w.service, &create_event(body.clone(), Some("u1"), None)).await;
        assert_eq!((status, err["code"].as_str()), (400, Some("unknown_field")), "{body}");
    }
    assert!(sandbox_tokens(&w.sandbox).await.is_empty(), "nothing reached Mesh");
}

#[tokio::test]
async fn a_paylink_always_carries_a_transaction_id() {
    let w = world().await;
    let (status, body, _) =
        call(&w.service, &create_event(json!({"paylink": true, "amountInFiat": 10}), Some("u1"), None)).await;
    assert_eq!(status, 201, "{body}");
    assert!(body["paymentLink"].as_str().unwrap().starts_with("http"));
    let t = &sandbox_tokens(&w.sandbox).await[0];
    assert_eq!(t["transactionId"], body["transactionId"]);
    assert!(t["paymentLink"].is_string());
}

#[tokio::test]
async fn bad_input_gets_a_stable_code() {
    let w = world().await;
    let cases = [
        (json!({"amountInFiat": 0.5}), "invalid_amount"),
        (json!({"amountInFiat": 20000}), "invalid_amount"),
        (json!({"amountInFiat": "ten"}), "invalid_field"),
        (json!({"symbol": "DOGE"}), "unknown_symbol"),
        (json!({"network": "Tron"}), "unknown_network"),
        (json!({"symbol": "ETH", "network": "Base"}), "no_matching_destination"),
        (json!({"integrationId": "coinbase"}), "invalid_integration_id"),
    ];
    for (body, code) in cases {
        let (status, err, _) = call(&w.service, &create_event(body.clone(), Some("u1"), None)).await;
        assert_eq!((status, err["code"].as_str()), (400, Some(code)), "{body}");
        assert!(err["message"].is_string());
    }
    let mut malformed = create_event(json!({}), Some("u1"), None);
    malformed["body"] = json!("{\"amountInFiat\": ");
    let (status, err, _) = call(&w.service, &malformed).await;
    assert_eq!((status, err["code"].as_str()), (400, Some("invalid_json")));
    let (status, err, _) = call(&w.service, &create_event(json!({}), None, None)).await;
    assert_eq!((status, err["code"].as_str()), (401, Some("unauthenticated")));
    let mut unknown = fixture("link-token-list-transfers.json");
    unknown["rawPath"] = json!("/admin");
    let (status, err, _) = call(&w.service, &unknown).await;
    assert_eq!((status, err["code"].as_str()), (404, Some("route_not_found")));
    let mut wrong_method = fixture("link-token-list-transfers.json");
    wrong_method["requestContext"]["http"]["method"] = json!("DELETE");
    assert_eq!(call(&w.service, &wrong_method).await.0, 405);
}

/// The OpenAPI document's request schema is the contract: an object, known fields, documented types.
#[tokio::test]
async fn bodies_the_openapi_document_forbids_are_refused_naming_the_field() {
    let w = world().await;
    let raw = |body: &str| {
        let mut e = create_event(json!({}), Some("u1"), None);
        e["body"] = json!(body);
        e
    };
    let cases = [
        (r#"[10000,"ETH","Ethereum"]"#, "invalid_json", "object"),
        (r#""amountInFiat""#, "invalid_json", "object"),
        ("25", "invalid_json", "object"),
        ("null", "invalid_json", "object"),
        (r#"{"amountInFiat": "25"}"#, "invalid_field", "amountInFiat"),
        (r#"{"amountInFiat": null}"#, "invalid_field", "amountInFiat"),
        // Valid JSON, but no amount: named as the field at fault (read from its raw digits, not a float).
        (r#"{"amountInFiat": 1e400}"#, "invalid_field", "amountInFiat"),
        (r#"{"symbol": 5}"#, "invalid_field", "symbol"),
        (r#"{"network": ["Base"]}"#, "invalid_field", "network"),
        (r#"{"paylink": "true"}"#, "invalid_field", "paylink"),
        (r#"{"orderId": {"id": 1}}"#, "invalid_field", "orderId"),
        (r#"{"amountInFiat": 25, "amountInFiat": 30}"#, "invalid_field", "amountInFiat"),
        (r#"{"amountInFiat": 25, "currency": "EUR"}"#, "unknown_field", "currency"),
    ];
    for (body, code, named) in cases {
        let (status, err, _) = call(&w.service, &raw(body)).await;
        assert_eq!((status, err["code"].as_str()), (400, Some(code)), "{body}: {err}");
        assert!(err["message"].as_str().unwrap().contains(named), "{body}: the message names {named}: {err}");
    }
    assert!(sandbox_tokens(&w.sandbox).await.is_empty(), "nothing reached Mesh");
    let (status, _, _) = call(&w.service, &raw(r#"{"amountInFiat": 25.5, "paylink": false}"#)).await;
    assert_eq!(status, 201, "a number is still a number");

    for limit in ["0", "51", "ten", "-1", "2.5"] {
        let mut list = fixture("link-token-list-transfers.json");
        list["rawQueryString"] = json!(format!("limit={limit}"));
        list["queryStringParameters"] = json!({ "limit": limit });
        let (status, err, _) = call(&w.service, &list).await;
        assert_eq!((status, err["code"].as_str()), (400, Some("invalid_parameter")), "limit={limit}: {err}");
        let message = err["message"].as_str().unwrap();
        assert!(message.contains("limit") && !message.contains("body"), "limit={limit}: {message}");
    }
}

/// Mesh reporting `Failed` after `Succeeded` is not applied, and the user's read of the transfer shows it.
#[tokio::test]
async fn a_conflict_shows_in_the_transfers_read() {
    use shared::domain::report::{Report, ReportSource};
    use shared::domain::transfer::ReportedStatus;
    let w = world().await;
    let (_, minted, _) = call(&w.service, &create_event(json!({"amountInFiat": 10}), Some("u1"), None)).await;
    let tx = minted["transactionId"].as_str().unwrap();
    let (_, view, _) = call(&w.service, &get_event(tx, "u1")).await;
    assert!(view.get("conflict").is_none(), "{view}");
    for (event, status) in [("e-ok", "Succeeded"), ("e-failed", "Failed")] {
        let report = Report {
            event_id: shared::domain::ids::EventId::parse(event).unwrap(),
            source: ReportSource::Webhook,
            transfer_id: shared::domain::ids::TransferId::parse("tr-1").unwrap(),
            transaction_id: Some(shared::domain::ids::TransactionId::parse(tx).unwrap()),
            user_id: None,
            status: ReportedStatus::parse(status),
            event_at: Some(1_000),
            tx_hash: None,
            received: Default::default(),
        };
        shared::ingest::ingest(&w.service.store, &report, status, 5_000).await.unwrap();
    }
    let (status, view, _) = call(&w.service, &get_event(tx, "u1")).await;
    assert_eq!(status, 200);
    assert_eq!(view["status"], "succeeded");
    assert_eq!(view["conflict"], json!({"reportedStatus": "failed", "flaggedAt": 5_000}), "{view}");
}

#[tokio::test]
async fn users_see_only_their_own_transfers() {
    let w = world().await;
    let mut alice = Vec::new();
    for amount in [10, 20, 30] {
        let (_, body, _) = call(&w.service, &create_event(json!({"amountInFiat": amount}), Some("alice"), None)).await;
        alice.push(body["transactionId"].as_str().unwrap().to_string());
        // Two mints within one millisecond share `created_at` and then order by their random ids.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let (status, err, _) = call(&w.service, &get_event(&alice[0], "bob")).await;
    assert_eq!((status, err["code"].as_str()), (404, Some("not_found")), "bob gets 404 for alice's transfer");
    assert_eq!(call(&w.service, &get_event("txn_doesnotexist", "alice")).await.0, 404);
    assert_eq!(call(&w.service, &get_event(&alice[1], "alice")).await.0, 200);

    let mut list = fixture("link-token-list-transfers.json");
    list["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!("alice");
    let (status, page1, _) = call(&w.service, &list).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> =
        page1["items"].as_array().unwrap().iter().map(|i| i["transactionId"].as_str().unwrap()).collect();
    assert_eq!(ids, [alice[2].as_str(), alice[1].as_str()], "newest first, limit 2");
    let cursor = page1["nextCursor"].as_str().unwrap().to_string();
    list["rawQueryString"] = json!(format!("limit=2&cursor={cursor}"));
    list["queryStringParameters"] = json!({"limit": "2", "cursor": cursor});
    let (_, page2, _) = call(&w.service, &list).await;
    assert_eq!(page2["items"][0]["transactionId"], alice[0].as_str());
    assert!(page2["nextCursor"].is_null());
    list["rawQueryString"] = json!("cursor=not-a-cursor");
    list["queryStringParameters"] = json!({"cursor": "not-a-cursor"});
    assert_eq!(call(&w.service, &list).await.1["code"], "invalid_cursor");
    let mut bobs = list.clone();
    bobs["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!("bob");
    bobs["rawQueryString"] = json!("");
    bobs["queryStringParameters"] = json!({});
    assert_eq!(call(&w.service, &bobs).await.1["items"], json!([]));
}

#[tokio::test]
async fn idempotency_keys_replay_refuse_reuse_and_block_concurrent_duplicates() {
    let w = world().await;
    let event = create_event(json!({"amountInFiat": 25}), Some("u1"), Some("order-77-attempt-1"));
    let (s1, first, _) = call(&w.service, &event).await;
    let (s2, second, response) = call(&w.service, &event).await;
    assert_eq!((s1, s2), (201, 201));
    assert_eq!(first, second, "the stored answer");
    assert_eq!(response.headers()["idempotent-replayed"], "true");
    assert_eq!(sandbox_tokens(&w.sandbox).await.len(), 1, "no second token was minted");

    let other_body = create_event(json!({"amountInFiat": 26}), Some("u1"), Some("order-77-attempt-1"));
    let (status, err, _) = call(&w.service, &other_body).await;
    assert_eq!((status, err["code"].as_str()), (422, Some("idempotency_key_reused")));

    // Another user's identical key is theirs alone (scoped by user).
    let (status, theirs, _) =
        call(&w.service, &create_event(json!({"amountInFiat": 25}), Some("u2"), Some("order-77-attempt-1"))).await;
    assert_eq!(status, 201);
    assert_ne!(theirs["transactionId"], first["transactionId"]);

    // A concurrent duplicate: the first request still holds the key.
    let key = crate::idempotency::scoped_key("link-token", "u3", "k-busy");
    let payload =
        crate::idempotency::payload_hash(&serde_json::to_vec(&crate::link::LinkTokenBody::default()).unwrap());
    let now = shared::domain::time::now_millis();
    let window =
        crate::idempotency::Window { now_ms: now, in_progress_until_ms: now + 60_000, expires_at_s: now / 1000 + 600 };
    w.service.idempotency.begin(&key, &payload, window).await.unwrap();
    let (status, err, _) = call(&w.service, &create_event(json!({}), Some("u3"), Some("k-busy"))).await;
    assert_eq!((status, err["code"].as_str()), (409, Some("request_in_progress")));

    // A failed attempt releases its key, so the retry runs.
    fault(&w.sandbox, json!({"endpoint": "linktoken", "status": 503, "times": 1})).await;
    let retry = create_event(json!({}), Some("u4"), Some("k-retry"));
    assert_eq!(call(&w.service, &retry).await.0, 503);
    assert_eq!(call(&w.service, &retry).await.0, 201);
}

#[tokio::test]
async fn mesh_trouble_is_502_or_503_without_internal_text() {
    let w = world().await;
    fault(&w.sandbox, json!({"endpoint": "linktoken", "status": 429, "times": 1, "retryAfterSeconds": 7})).await;
    let (status, err, response) = call(&w.service, &create_event(json!({}), Some("u1"), None)).await;
    assert_eq!((status, err["code"].as_str()), (503, Some("mesh_unavailable")));
    assert_eq!(response.headers()["retry-after"], "7");
    fault(&w.sandbox, json!({"endpoint": "linktoken", "status": 500, "times": 1})).await;
    let (status, err, response) = call(&w.service, &create_event(json!({}), Some("u1"), None)).await;
    assert_eq!((status, err["code"].as_str()), (503, Some("mesh_unavailable")));
    assert!(response.headers().contains_key("retry-after"));
    assert!(!err["message"].as_str().unwrap().contains("500"));

    // Wrong credentials: one refresh, then a 502 saying Mesh refused.
    let bad = StaticSecret(r#"{"clientId":"sandbox-client-id","clientSecret":"wrong","webhookSecret":"w"}"#.into());
    let service =
        service_with(&w.sandbox, MemoryTransferStore::default(), MemoryIdempotencyStore::default(), bad, DESTINATIONS);
    let (status, err, _) = call(&service, &create_event(json!({}), Some("u1"), None)).await;
    assert_eq!((status, err["code"].as_str()), (502, Some("mesh_rejected")));
    assert!(!err.to_string().contains("wrong"));
}

/// A secret source that always fails the same way.
struct BrokenSecret(fn() -> SecretsError);

impl SecretSource for BrokenSecret {
    async fn fetch(&self) -> Result<String, SecretsError> {
        Err((self.0)())
    }
}

#[tokio::test]
async fn secrets_manager_unreachable_is_a_503_to_retry_and_a_missing_secret_a_500() {
    let w = world().await;
    let unreachable = BrokenSecret(|| SecretsError::Unavailable("dispatch failure".into()));
    let service = service_with(
        &w.sandbox,
        MemoryTransferStore::default(),
        MemoryIdempotencyStore::default(),
        unreachable,
        DESTINATIONS,
    );
    let (status, err, response) = call(&service, &create_event(json!({}), Some("u1"), None)).await;
    assert_eq!((status, err["code"].as_str()), (503, Some("temporarily_unavailable")), "{err}");
    assert!(response.headers().contains_key("retry-after"));
    assert!(!err.to_string().contains("dispatch"), "no internal text: {err}");
    for broken in [
        BrokenSecret(|| SecretsError::NotFound),
        BrokenSecret(|| SecretsError::AccessDenied),
        BrokenSecret(|| SecretsError::Malformed("no clientId".into())),
    ] {
        let service = service_with(
            &w.sandbox,
            MemoryTransferStore::default(),
            MemoryIdempotencyStore::default(),
            broken,
            DESTINATIONS,
        );
        let (status, err, response) = call(&service, &create_event(json!({}), Some("u1"), None)).await;
        assert_eq!((status, err["code"].as_str()), (500, Some("misconfigured")), "{err}");
        assert!(!response.headers().contains_key("retry-after"));
    }
    assert!(sandbox_tokens(&w.sandbox).await.is_empty());
}

#[tokio::test]
async fn a_destination_on_a_network_mesh_does_not_list_is_a_clear_error() {
    let w = world().await;
    let destinations =
        r#"[{"symbol":"USDC","network":"Base","address":"0x1"},{"symbol":"FTM","network":"Fantom","address":"0x2"}]"#;
    let service = service_with(
        &w.sandbox,
        MemoryTransferStore::default(),
        MemoryIdempotencyStore::default(),
        testkit::sandbox_secret(),
        destinations,
    );
    let (status, err, _) = call(&service, &create_event(json!({"symbol": "USDC"}), Some("u1"), None)).await;
    assert_eq!((status, err["code"].as_str()), (500, Some("misconfigured")));
    assert!(sandbox_tokens(&w.sandbox).await.is_empty());
}

/// What the hand-written router answered before the axum router replaced it, and still does.
#[tokio::test]
async fn the_router_authenticates_before_checking_the_method_and_ignores_empty_segments() {
    let w = world().await;
    let mut anonymous_delete = fixture("link-token-list-transfers.json");
    anonymous_delete["requestContext"]["http"]["method"] = json!("DELETE");
    anonymous_delete["requestContext"]["authorizer"] = Value::Null;
    let (status, err, _) = call(&w.service, &anonymous_delete).await;
    assert_eq!((status, err["code"].as_str()), (401, Some("unauthenticated")));
    for method in ["HEAD", "PUT", "OPTIONS"] {
        let mut e = fixture("link-token-list-transfers.json");
        e["requestContext"]["http"]["method"] = json!(method);
        let (status, err, _) = call(&w.service, &e).await;
        assert_eq!(status, 405, "{method}");
        // A HEAD answer carries no body (HTTP), the others say why.
        if method != "HEAD" {
            assert_eq!(err["code"], "method_not_allowed", "{method}");
        }
    }
    for path in ["/transfers/", "//transfers"] {
        let mut e = fixture("link-token-list-transfers.json");
        e["rawPath"] = json!(path);
        assert_eq!(call(&w.service, &e).await.0, 200, "{path}");
    }
    for (path, method, allow) in [
        ("/link-tokens", "GET", "POST"),
        ("/link-tokens", "HEAD", "POST"),
        ("/transfers", "POST", "GET"),
        ("/transfers/txn_x", "DELETE", "GET"),
        ("/transfers/txn_x", "HEAD", "GET"),
    ] {
        let mut e = fixture("link-token-list-transfers.json");
        e["rawPath"] = json!(path);
        e["requestContext"]["http"]["method"] = json!(method);
        let (status, _, response) = call(&w.service, &e).await;
        assert_eq!(status, 405, "{method} {path}");
        assert_eq!(response.headers().get("allow").map(|v| v.as_bytes()), Some(allow.as_bytes()), "{method} {path}");
    }
    let mut nested = fixture("link-token-list-transfers.json");
    nested["rawPath"] = json!("/transfers/txn_x/extra");
    assert_eq!(call(&w.service, &nested).await.1["code"], "route_not_found");
}

#[test]
fn local_auth_is_explicit_and_never_in_production() {
    let env = |v: &'static str| HashMap::from([(crate::auth::AUTH_MODE, v)]);
    assert_eq!(AuthMode::from_source(&HashMap::<&str, &str>::new(), MeshEnv::Production).unwrap(), AuthMode::Jwt);
    assert_eq!(AuthMode::from_source(&env("local"), MeshEnv::Sandbox).unwrap(), AuthMode::Local);
    assert!(AuthMode::from_source(&env("local"), MeshEnv::Production).is_err());
    assert!(AuthMode::from_source(&env("none"), MeshEnv::Sandbox).is_err());
}

#[test]
fn the_template_never_sets_local_auth() {
    let template = std::fs::read_to_string(format!("{}/../../template.yaml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    for line in template.lines() {
        let l = line.trim().to_ascii_lowercase();
        assert!(!(l.starts_with("auth_mode") && l.contains("local")), "template.yaml sets local auth: {line}");
    }
}

#[tokio::test]
async fn local_mode_reads_the_local_user_header() {
    let w = world().await;
    let mut e = create_event(json!({}), None, None);
    e["headers"]["x-local-user"] = json!("alice@example.com");
    let request: Request = lambda_http::request::from_str(&e.to_string()).unwrap();
    let response = handle(w.service.clone(), AuthMode::Local, request).await.unwrap();
    assert_eq!(response.status(), 201);
    let user = sandbox_tokens(&w.sandbox).await[0]["userId"].as_str().unwrap().to_string();
    assert!(user.starts_with("u_") && user.len() == 50, "an e-mail never reaches Mesh: {user}");
    let request: Request =
        lambda_http::request::from_str(&create_event(json!({}), Some("jwt-user"), None).to_string()).unwrap();
    assert_eq!(
        handle(w.service.clone(), AuthMode::Local, request).await.unwrap().status(),
        401,
        "claims are ignored in local mode"
    );
}

#[tokio::test]
async fn end_to_end_on_dynamodb_over_moto() {
    let sandbox = mesh_sandbox::spawn(mesh_sandbox::SandboxConfig::default()).await.unwrap();
    let service = moto_service(&sandbox, deposit()).await;
    let event =
        create_event(json!({"amountInFiat": 12.5, "symbol": "USDC", "network": "Solana"}), Some("carol"), Some("k1"));
    let (status, minted, _) = call(&service, &event).await;
    assert_eq!(status, 201, "{minted}");
    let (_, replay, _) = call(&service, &event).await;
    assert_eq!(replay, minted);
    let tx = minted["transactionId"].as_str().unwrap();
    let (status, view, _) = call(&service, &get_event(tx, "carol")).await;
    assert_eq!(status, 200);
    assert_eq!(view["offered"][0]["networkName"], "Solana");
    assert_eq!(call(&service, &get_event(tx, "dave")).await.0, 404);
}

mod checkouts;
mod openapi;

/// The whole payment on the local stack: the merchant's server opens a checkout, the web app mints a
/// token for it, the sandbox completes the transfer and delivers its webhooks (duplicated and out of
/// order) to a receiver running the webhook's domain call on DynamoDB over moto, and the user and the
/// merchant then read the final state: the order paid and safe to fulfil.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_end_to_end_with_duplicated_and_reordered_webhooks() {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode};
    use std::sync::Arc;
    use webhook::receive::{Delivery, WebhookSettings, receive};

    let client = aws_sdk_dynamodb::Client::new(&testkit::sdk_config().await);
    let table = testkit::create_table();
    let receiver_store = Arc::new(DynamoTransferStore::new(client.clone(), table.clone()));
    let keys = Arc::new(SecretCache::new(testkit::sandbox_secret(), Duration::from_secs(300)));
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let (store, keys) = (receiver_store.clone(), keys.clone());
            async move {
                let delivery = Delivery {
                    method: "POST",
                    body: &body,
                    signature: headers.get(shared::mesh::signature::HEADER).map(|v| v.as_bytes()),
                    source_ip: Some("127.0.0.1"),
                };
                match receive(
                    store.as_ref(),
                    keys.as_ref(),
                    &WebhookSettings::default(),
                    delivery,
                    shared::domain::time::now_millis(),
                )
                .await
                {
                    Ok(_) => StatusCode::OK,
                    Err(e) => StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver_url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let sandbox = mesh_sandbox::spawn(mesh_sandbox::SandboxConfig {
        webhook_url: Some(receiver_url),
        webhook_timeout: Duration::from_secs(2),
        ..Default::default()
    })
    .await
    .unwrap();
    let service = moto_service_on(&sandbox, client, table, LinkPolicy::default());
    let order = json!({"orderId": "order-e2e", "amountInFiat": 30, "userId": "erin"});
    let (status, checkout, _) = call(&service, &merchant_event("POST", "/checkouts", Some(order))).await;
    assert_eq!(status, 201, "{checkout}");
    let checkout_id = checkout["checkoutId"].as_str().unwrap().to_string();
    let pay = json!({"checkoutId": checkout_id, "symbol": "USDC", "network": "Base"});
    let (status, minted, _) = call(&service, &create_event(pay, Some("erin"), None)).await;
    assert_eq!(status, 201, "{minted}");
    let tx = minted["transactionId"].as_str().unwrap().to_string();

    let done = reqwest::Client::new()
        .post(sandbox.url("/sandbox/transfers"))
        .json(&json!({"linkToken": minted["linkToken"], "outcome": "succeeded", "webhooks": {"duplicates": 2, "reverse": true}}))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 201);

    // Wait for every delivery to be answered.
    let mut deliveries = Vec::new();
    for _ in 0..100 {
        deliveries = reqwest::get(sandbox.url(&format!("/sandbox/webhooks?transactionId={tx}")))
            .await
            .unwrap()
            .json::<Vec<Value>>()
            .await
            .unwrap();
        if deliveries.len() >= 2 && deliveries.iter().all(|d| d["outcome"] == "delivered") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(deliveries.len() >= 2 && deliveries.iter().all(|d| d["outcome"] == "delivered"), "{deliveries:#?}");

    let (status, view, _) = call(&service, &get_event(&tx, "erin")).await;
    assert_eq!(status, 200);
    assert_eq!(view["status"], "succeeded", "{view}");
    assert!(view["txHash"].as_str().is_some_and(|h| !h.is_empty()));
    assert_eq!(view["received"]["token"], "USDC");
    assert!(view.get("mismatches").is_none(), "{view}");
    assert_eq!(view["checkout"]["status"], "paid", "{view}");
    assert_eq!(view["checkout"]["safeToFulfil"], true, "{view}");
    let (status, settled, _) = call(&service, &merchant_event("GET", &format!("/checkouts/{checkout_id}"), None)).await;
    assert_eq!(status, 200);
    assert_eq!(
        (settled["status"].as_str(), settled["safeToFulfil"].as_bool()),
        (Some("paid"), Some(true)),
        "{settled}"
    );
    assert_eq!(settled["settledBy"], tx.as_str());
    assert_eq!(settled["receivedInFiat"], "30", "{settled}");
}

/// `cargo lambda watch` sends `Lambda-Runtime-Deadline-Ms: 600000` (1970): a deadline in the past is
/// unknown, and the key's lock lasts the function's timeout, not "until now".
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_posts_with_one_key_and_a_deadline_in_1970_mint_one_token() {
    use lambda_http::RequestExt;
    let w = world().await;
    // Every mint stays in flight for a while, so all 20 requests overlap the first one.
    fault(&w.sandbox, json!({"endpoint": "linktoken", "delayMs": 300, "times": 20})).await;
    let event = create_event(json!({"amountInFiat": 25}), Some("u1"), Some("same-key"));
    let calls: Vec<_> = (0..20u64)
        .map(|i| {
            let (service, event) = (w.service.clone(), event.clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(i * 4)).await;
                let mut context = lambda_http::Context::default();
                context.deadline = 600_000;
                let request = lambda_http::request::from_str(&event.to_string()).unwrap().with_lambda_context(context);
                handle(service, AuthMode::Jwt, request).await.unwrap().status().as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for call in calls {
        statuses.push(call.await.unwrap());
    }
    assert_eq!(sandbox_tokens(&w.sandbox).await.len(), 1, "one Mesh token for one key: {statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| [201, 409].contains(s)), "{statuses:?}");
}
