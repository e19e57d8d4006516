//! The Mesh client over real HTTP against a scripted stand-in (wiremock): request shape, every error
//! class, timeouts, redirects, size cap and pagination. The same client is also exercised against the
//! project's Mesh sandbox emulator in `mesh_client_sandbox.rs`.

use serde_json::json;
use shared::mesh::{
    HttpOptions, LinkTokenRequest, LinkTokenTransferOptions, MeshClient, MeshError, ToAddress, TransferModelStatus,
    TransferQuery,
};
use shared::runtime::secrets::MeshSecrets;
use std::time::Duration;
use url::Url;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn creds() -> MeshSecrets {
    MeshSecrets::parse(r#"{"clientId":"cid-1","clientSecret":"top-secret-key","webhookSecret":"w"}"#).unwrap()
}

fn client(server: &MockServer) -> MeshClient {
    client_with(server, HttpOptions::default())
}

fn client_with(server: &MockServer, options: HttpOptions) -> MeshClient {
    MeshClient::new(Url::parse(&server.uri()).unwrap(), options).unwrap()
}

fn ok(content: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"content": content, "status": "ok", "message": "", "errorType": ""}))
}

fn link_request() -> LinkTokenRequest {
    LinkTokenRequest {
        user_id: "usr_1".into(),
        restrict_multiple_accounts: Some(true),
        integration_id: None,
        transfer_options: Some(LinkTokenTransferOptions {
            to_addresses: vec![ToAddress {
                network_id: "aa883b03-120d-477c-a588-37c2afd3ca71".into(),
                symbol: "USDC".into(),
                address: "0x1111111111111111111111111111111111111111".into(),
                address_tag: None,
                amount: None,
            }],
            amount_in_fiat: Some("10.5".parse().unwrap()),
            transaction_id: Some("txn_1".into()),
            ..Default::default()
        }),
    }
}

#[tokio::test]
async fn link_token_request_carries_both_auth_headers_and_a_camel_case_body() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/linktoken"))
        .and(header("X-Client-Id", "cid-1"))
        .and(header("X-Client-Secret", "top-secret-key"))
        .and(header("Content-Type", "application/json"))
        .and(body_json(json!({
            "userId": "usr_1", "restrictMultipleAccounts": true,
            "transferOptions": {"toAddresses": [{"networkId": "aa883b03-120d-477c-a588-37c2afd3ca71",
                "symbol": "USDC", "address": "0x1111111111111111111111111111111111111111"}],
                "amountInFiat": 10.5, "transactionId": "txn_1"}
        })))
        .respond_with(ok(json!({"linkToken": "aHR0cHM6Ly9leGFtcGxlLmNvbQ==", "paymentLink": "https://pay.example/x"})))
        .expect(1)
        .mount(&server)
        .await;
    let token = client(&server).create_link_token(&creds(), &link_request()).await.unwrap();
    assert_eq!(token.link_token, "aHR0cHM6Ly9leGFtcGxlLmNvbQ==");
    assert_eq!(token.payment_link.as_deref(), Some("https://pay.example/x"));
}

#[tokio::test]
async fn a_success_without_a_link_token_is_a_decode_error() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/linktoken")).respond_with(ok(json!({"linkToken": null}))).mount(&server).await;
    let err = client(&server).create_link_token(&creds(), &link_request()).await.unwrap_err();
    assert!(matches!(err, MeshError::Decode(_)), "{err:?}");
}

#[tokio::test]
async fn networks_are_parsed_with_string_chain_ids() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/transfers/managed/networks"))
        .respond_with(ok(json!({"networks": [
            {"id": "e3c7fdd8-b1fc-4e51-85ae-bb276e075611", "name": "Ethereum", "chainId": "1", "nativeSymbol": "ETH",
             "networkType": "evm", "supportedTokens": ["ETH", "USDC"], "tokens": [], "supportedBrokerTypes": ["coinbase"]},
            {"id": "0291810a-5947-424d-9a59-e88bb33e999d", "name": "Solana", "chainId": null, "networkType": "newChainKind"}
        ]})))
        .mount(&server)
        .await;
    let networks = client(&server).list_networks(&creds()).await.unwrap();
    assert_eq!(networks.len(), 2);
    assert_eq!(networks[0].chain_id.as_deref(), Some("1"));
    assert_eq!(networks[1].network_type.as_ref().unwrap().as_str(), "newChainKind");
}

#[tokio::test]
async fn list_transfers_sends_pascal_case_query_parameters() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/transfers/managed/mesh"))
        .and(query_param("Count", "100"))
        .and(query_param("Offset", "0"))
        .and(query_param("ClientTransactionId", "txn_9"))
        .and(query_param("Statuses", "pending"))
        .and(query_param("FromTimestamp", "1700000000"))
        .respond_with(ok(
            json!({"items": [{"id": "t1", "status": "pending", "clientTransactionId": "txn_9"}], "total": 1}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let q = TransferQuery {
        count: Some(100),
        offset: Some(0),
        client_transaction_id: Some("txn_9".into()),
        statuses: vec![TransferModelStatus::Pending],
        from_timestamp: Some(1_700_000_000),
        ..Default::default()
    };
    let page = client(&server).list_transfers(&creds(), &q).await.unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.items[0].status, Some(TransferModelStatus::Pending));
}

async fn error_for(response: ResponseTemplate) -> MeshError {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/transfers/managed/networks")).respond_with(response).mount(&server).await;
    client(&server).list_networks(&creds()).await.unwrap_err()
}

#[tokio::test]
async fn error_classes_are_told_apart() {
    assert!(matches!(error_for(ResponseTemplate::new(401)).await, MeshError::Unauthorized));
    assert!(matches!(error_for(ResponseTemplate::new(403)).await, MeshError::Forbidden));
    let bad = ResponseTemplate::new(400).set_body_json(json!({
        "status": "badRequest", "message": "userId is required", "errorType": "missingField", "content": null}));
    match error_for(bad).await {
        MeshError::BadRequest { error_type, message } => {
            assert_eq!((error_type.as_str(), message.as_str()), ("missingField", "userId is required"));
        }
        other => panic!("{other:?}"),
    }
    match error_for(ResponseTemplate::new(400).set_body_string("<html>")).await {
        MeshError::BadRequest { error_type, .. } => assert_eq!(error_type, "unknown"),
        other => panic!("{other:?}"),
    }
    let nf = ResponseTemplate::new(404).set_body_json(json!({"status": "notFound", "message": "API Client not found"}));
    assert!(matches!(error_for(nf).await, MeshError::NotFound { message } if message == "API Client not found"));
    let throttled = error_for(ResponseTemplate::new(429).insert_header("Retry-After", "7")).await;
    assert!(matches!(throttled, MeshError::Throttled { retry_after: Some(d) } if d == Duration::from_secs(7)));
    assert!(throttled.is_retryable());
    assert_eq!(throttled.retry_after(), Some(Duration::from_secs(7)));
    assert!(matches!(error_for(ResponseTemplate::new(429)).await, MeshError::Throttled { retry_after: None }));
    for status in [500, 502, 503] {
        let e = error_for(ResponseTemplate::new(status)).await;
        assert!(matches!(e, MeshError::Server { status: s } if s == status));
        assert!(e.is_retryable());
    }
    assert!(matches!(error_for(ResponseTemplate::new(418)).await, MeshError::UnexpectedStatus { status: 418 }));
    let garbage = error_for(ResponseTemplate::new(200).set_body_string("{not json")).await;
    assert!(matches!(garbage, MeshError::Decode(_)));
    assert!(!garbage.is_retryable());
    let no_content =
        error_for(ResponseTemplate::new(200).set_body_json(json!({"status": "ok", "content": null}))).await;
    assert!(matches!(no_content, MeshError::Decode(_)));
    assert!(!MeshError::Unauthorized.is_retryable() && !MeshError::Forbidden.is_retryable());
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let server = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    Mock::given(path("/api/v1/transfers/managed/networks"))
        .respond_with(ResponseTemplate::new(302).insert_header("Location", format!("{}/steal", elsewhere.uri())))
        .mount(&server)
        .await;
    Mock::given(path("/steal")).respond_with(ok(json!({"networks": []}))).expect(0).mount(&elsewhere).await;
    let err = client(&server).list_networks(&creds()).await.unwrap_err();
    assert!(matches!(err, MeshError::UnexpectedStatus { status: 302 }), "{err:?}");
}

#[tokio::test]
async fn a_slow_answer_times_out() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/transfers/managed/networks"))
        .respond_with(ok(json!({"networks": []})).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let options = HttpOptions { timeout: Duration::from_millis(300), ..HttpOptions::default() };
    let started = std::time::Instant::now();
    let err = client_with(&server, options).list_networks(&creds()).await.unwrap_err();
    assert!(matches!(err, MeshError::Timeout), "{err:?}");
    assert!(err.is_retryable());
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn an_oversized_answer_is_refused() {
    let server = MockServer::start().await;
    let big = "x".repeat(64 * 1024);
    Mock::given(path("/api/v1/transfers/managed/networks"))
        .respond_with(ok(json!({"networks": [], "padding": big})))
        .mount(&server)
        .await;
    let options = HttpOptions { max_response_bytes: 16 * 1024, ..HttpOptions::default() };
    let err = client_with(&server, options).list_networks(&creds()).await.unwrap_err();
    assert!(matches!(err, MeshError::ResponseTooLarge { limit: 16384 }), "{err:?}");
}

#[tokio::test]
async fn an_unreachable_mesh_is_a_transport_error_without_secrets() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let client =
        MeshClient::new(Url::parse(&format!("http://127.0.0.1:{port}")).unwrap(), HttpOptions::default()).unwrap();
    let err = client.list_networks(&creds()).await.unwrap_err();
    assert!(matches!(err, MeshError::Transport(_)), "{err:?}");
    assert!(err.is_retryable());
    assert!(!format!("{err} {err:?}").contains("top-secret-key"));
}

fn items(range: std::ops::Range<u32>) -> serde_json::Value {
    json!(range.map(|i| json!({"id": format!("t{i}"), "status": "succeeded"})).collect::<Vec<_>>())
}

#[tokio::test]
async fn pagination_walks_count_and_offset_to_the_total() {
    let server = MockServer::start().await;
    for (offset, range) in [(0, 0..100), (100, 100..200), (200, 200..250)] {
        Mock::given(path("/api/v1/transfers/managed/mesh"))
            .and(query_param("Count", "100"))
            .and(query_param("Offset", offset.to_string()))
            .respond_with(ok(json!({"items": items(range), "total": 250})))
            .expect(1)
            .mount(&server)
            .await;
    }
    let c = client(&server);
    let creds = creds();
    let all = c.transfer_pages(&creds, TransferQuery::default()).collect_all(10).await.unwrap();
    assert_eq!(all.len(), 250);
    assert_eq!(all[0].id, "t0");
    assert_eq!(all[249].id, "t249");
}

#[tokio::test]
async fn pagination_stops_on_an_empty_page_and_caps_endless_listings() {
    let server = MockServer::start().await;
    // Claims a huge total but returns nothing past offset 100.
    Mock::given(path("/api/v1/transfers/managed/mesh"))
        .and(query_param("Offset", "0"))
        .respond_with(ok(json!({"items": items(0..100), "total": 1_000_000})))
        .mount(&server)
        .await;
    Mock::given(path("/api/v1/transfers/managed/mesh"))
        .and(query_param("Offset", "100"))
        .respond_with(ok(json!({"items": [], "total": 1_000_000})))
        .mount(&server)
        .await;
    let c = client(&server);
    let creds = creds();
    let mut pages = c.transfer_pages(&creds, TransferQuery::default());
    assert_eq!(pages.next_page().await.unwrap().unwrap().len(), 100);
    assert_eq!(pages.offset(), 100);
    assert_eq!(pages.next_page().await.unwrap().unwrap().len(), 0);
    assert!(pages.is_done());
    assert!(pages.next_page().await.unwrap().is_none());
    assert_eq!(pages.pages(), 2);

    let endless = MockServer::start().await;
    Mock::given(path("/api/v1/transfers/managed/mesh"))
        .respond_with(ok(json!({"items": items(0..100), "total": 1_000_000})))
        .mount(&endless)
        .await;
    let c = client(&endless);
    let err = c.transfer_pages(&creds, TransferQuery::default()).collect_all(5).await.unwrap_err();
    assert!(matches!(err, MeshError::TooManyPages { max_pages: 5 }), "{err:?}");
    assert_eq!(endless.received_requests().await.unwrap().len(), 5);
}
