//! The Mesh client against the project's Mesh sandbox over real HTTP: every operation, the error
//! classes the sandbox can produce, pagination to the end of a multi-page listing, and a 429 with
//! `Retry-After`.

use base64::Engine;
use serde_json::json;
use shared::mesh::{
    HttpOptions, LinkTokenRequest, LinkTokenTransferOptions, MeshClient, MeshError, ToAddress, TransferModelStatus,
    TransferQuery,
};
use shared::runtime::secrets::MeshSecrets;
use std::time::Duration;
use url::Url;

const BASE_NETWORK: &str = "aa883b03-120d-477c-a588-37c2afd3ca71";

fn creds(secret: &str) -> MeshSecrets {
    let json = json!({"clientId": "sandbox-client-id", "clientSecret": secret, "webhookSecret": "w"});
    MeshSecrets::parse(&json.to_string()).unwrap()
}

async fn sandbox() -> (mesh_sandbox::SandboxHandle, MeshClient) {
    let sandbox = mesh_sandbox::spawn(mesh_sandbox::SandboxConfig::default()).await.unwrap();
    let client = MeshClient::new(Url::parse(&sandbox.base_url()).unwrap(), HttpOptions::default()).unwrap();
    (sandbox, client)
}

fn request(transaction_id: Option<&str>, paylink: bool) -> LinkTokenRequest {
    LinkTokenRequest {
        user_id: "user-1".into(),
        restrict_multiple_accounts: Some(true),
        integration_id: None,
        transfer_options: Some(LinkTokenTransferOptions {
            to_addresses: vec![ToAddress {
                network_id: BASE_NETWORK.into(),
                symbol: "USDC".into(),
                address: "0x1111111111111111111111111111111111111111".into(),
                address_tag: None,
                amount: None,
            }],
            amount_in_fiat: Some("25".parse().unwrap()),
            transaction_id: transaction_id.map(String::from),
            generate_pay_link: Some(paylink),
            ..Default::default()
        }),
    }
}

async fn control(sandbox: &mesh_sandbox::SandboxHandle, path: &str, body: serde_json::Value) -> serde_json::Value {
    let response = reqwest::Client::new().post(sandbox.url(path)).json(&body).send().await.unwrap();
    assert!(response.status().is_success(), "{path}: {}", response.status());
    response.json().await.unwrap()
}

#[tokio::test]
async fn link_tokens_decode_to_an_http_url_and_paylinks_come_only_on_request() {
    let (sandbox, client) = sandbox().await;
    let token =
        client.create_link_token(&creds("sandbox-client-secret"), &request(Some("txn_a"), false)).await.unwrap();
    let url = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(&token.link_token).unwrap()).unwrap();
    assert!(url.starts_with(&sandbox.base_url()), "{url}");
    assert_eq!(token.payment_link, None);
    let token = client.create_link_token(&creds("sandbox-client-secret"), &request(Some("txn_b"), true)).await.unwrap();
    assert!(token.payment_link.unwrap().starts_with("http"));
}

#[tokio::test]
async fn validation_errors_are_bad_requests_with_the_error_type() {
    let (_sandbox, client) = sandbox().await;
    let err = client.create_link_token(&creds("sandbox-client-secret"), &request(None, true)).await.unwrap_err();
    match err {
        MeshError::BadRequest { error_type, .. } => assert_eq!(error_type, "missingField"),
        other => panic!("{other:?}"),
    }
    let mut empty_user = request(Some("txn_c"), false);
    empty_user.user_id = String::new();
    let err = client.create_link_token(&creds("sandbox-client-secret"), &empty_user).await.unwrap_err();
    assert!(matches!(err, MeshError::BadRequest { ref error_type, .. } if error_type == "missingField"), "{err:?}");
    let q = TransferQuery { count: Some(101), ..Default::default() };
    let err = client.list_transfers(&creds("sandbox-client-secret"), &q).await.unwrap_err();
    assert!(matches!(err, MeshError::BadRequest { .. }), "{err:?}");
}

#[tokio::test]
async fn wrong_credentials_are_unauthorized() {
    let (_sandbox, client) = sandbox().await;
    let err = client.list_networks(&creds("not-the-secret")).await.unwrap_err();
    assert!(matches!(err, MeshError::Unauthorized), "{err:?}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn networks_carry_meshs_real_ids() {
    let (_sandbox, client) = sandbox().await;
    let networks = client.list_networks(&creds("sandbox-client-secret")).await.unwrap();
    let base = networks.iter().find(|n| n.id == BASE_NETWORK).expect("Base is listed");
    assert_eq!(base.name.as_deref(), Some("Base"));
    assert_eq!(base.chain_id.as_deref(), Some("8453"));
    assert!(networks.iter().any(|n| n.id == "e3c7fdd8-b1fc-4e51-85ae-bb276e075611"));
}

#[tokio::test]
async fn a_multi_page_listing_is_walked_to_its_end_with_filters() {
    let (sandbox, client) = sandbox().await;
    control(
        &sandbox,
        "/sandbox/transfers/seed",
        json!({"count": 250, "clientTransactionIdPrefix": "seed-", "status": "succeeded"}),
    )
    .await;
    control(
        &sandbox,
        "/sandbox/transfers/seed",
        json!({"count": 7, "clientTransactionIdPrefix": "open-", "status": "pending"}),
    )
    .await;
    let creds = creds("sandbox-client-secret");
    let all = client.transfer_pages(&creds, TransferQuery::default()).collect_all(10).await.unwrap();
    assert_eq!(all.len(), 257);
    let ids: std::collections::HashSet<_> = all.iter().map(|t| t.id.clone()).collect();
    assert_eq!(ids.len(), 257, "no transfer twice");
    let q = TransferQuery { statuses: vec![TransferModelStatus::Pending], ..Default::default() };
    let pending = client.transfer_pages(&creds, q).collect_all(10).await.unwrap();
    assert_eq!(pending.len(), 7);
    assert!(pending.iter().all(|t| t.status == Some(TransferModelStatus::Pending) && t.hash.is_none()));
    let one = TransferQuery { client_transaction_id: Some("seed-0042".into()), ..Default::default() };
    let page = client.list_transfers(&creds, &one).await.unwrap();
    assert_eq!((page.total, page.items[0].client_transaction_id.as_deref()), (1, Some("seed-0042")));
}

#[tokio::test]
async fn throttling_carries_retry_after_and_server_failures_are_retryable() {
    let (sandbox, client) = sandbox().await;
    let creds = creds("sandbox-client-secret");
    control(
        &sandbox,
        "/sandbox/faults",
        json!({"endpoint": "networks", "status": 429, "times": 1, "retryAfterSeconds": 3}),
    )
    .await;
    let err = client.list_networks(&creds).await.unwrap_err();
    assert!(matches!(err, MeshError::Throttled { retry_after: Some(d) } if d == Duration::from_secs(3)), "{err:?}");
    assert!(client.list_networks(&creds).await.is_ok(), "the fault was for one call");
    control(&sandbox, "/sandbox/faults", json!({"endpoint": "transfers", "status": 503, "times": 1})).await;
    let err = client.list_transfers(&creds, &TransferQuery::default()).await.unwrap_err();
    assert!(matches!(err, MeshError::Server { status: 503 }) && err.is_retryable(), "{err:?}");
}

#[tokio::test]
async fn a_slow_sandbox_times_out() {
    let (sandbox, _) = sandbox().await;
    control(&sandbox, "/sandbox/faults", json!({"endpoint": "networks", "status": 503, "times": 1, "delayMs": 2000}))
        .await;
    let options = HttpOptions { timeout: Duration::from_millis(300), ..HttpOptions::default() };
    let client = MeshClient::new(Url::parse(&sandbox.base_url()).unwrap(), options).unwrap();
    let err = client.list_networks(&creds("sandbox-client-secret")).await.unwrap_err();
    assert!(matches!(err, MeshError::Timeout), "{err:?}");
}
