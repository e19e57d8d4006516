//! At TRACE, the runtime (`lambda_runtime`, `lambda_http`) and the AWS SDK log whole events, request
//! bodies and headers. The function's binary, run as Lambda runs it (a fake Runtime API, DynamoDB and
//! Secrets Manager on moto, the Mesh sandbox) with `AWS_LAMBDA_LOG_LEVEL=TRACE`, must still print no
//! body, Idempotency-Key, order id or secret.

use shared::domain::checkout::{CheckoutRecord, NewCheckout};
use shared::domain::ids::{CheckoutId, OrderId, UserId};
use shared::storage::{CheckoutStore, DynamoTransferStore};
use shared::testkit;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_logged_at_trace_shows_no_body_key_or_secret() {
    let sandbox = mesh_sandbox::spawn(mesh_sandbox::SandboxConfig::default()).await.unwrap();
    let mut event: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{}/../../events/local/link-token-create.json", env!("CARGO_MANIFEST_DIR")))
            .unwrap(),
    )
    .unwrap();
    event["headers"]["idempotency-key"] = "idem-5b0f9e1c-key".into();
    let table = testkit::create_table();
    // The checkout the fixture pays, as the merchant's server would have opened it.
    let body: serde_json::Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    let new = NewCheckout {
        order_id: OrderId::parse("order-1001").unwrap(),
        shopper: UserId::parse("user-7f3a9c").unwrap(),
        amount_in_fiat: "49.99".parse().unwrap(),
        currency: "USD".into(),
        assets: vec![],
        metadata: Default::default(),
        expires_in_ms: 1_800_000,
    };
    let id = CheckoutId::parse(body["checkoutId"].as_str().unwrap()).unwrap();
    let checkout = CheckoutRecord::open(id, new, shared::domain::time::now_millis());
    let client = aws_sdk_dynamodb::Client::new(&testkit::sdk_config().await);
    DynamoTransferStore::new(client, table.clone()).open_checkout(&checkout, None).await.unwrap();
    let mut env = testkit::runtime_api::moto_env(&table, &testkit::create_sandbox_secret());
    env.extend(
        [
            ("AWS_LAMBDA_LOG_LEVEL", "TRACE".to_string()),
            ("MESH_API_BASE_URL", sandbox.base_url()),
            ("AUTH_MODE", "local".to_string()),
            (
                "DESTINATIONS",
                r#"[{"symbol":"USDC","network":"Base","address":"0x1111111111111111111111111111111111111111"}]"#
                    .to_string(),
            ),
        ]
        .map(|(k, v)| (k.to_string(), v)),
    );
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_link-token"));
    // The merchant's server asking for the order's checkout: neither its order, price, shopper nor
    // metadata is logged.
    let merchant_env = env.clone();
    let merchant = tokio::task::spawn_blocking(move || {
        let event =
            std::fs::read_to_string(format!("{}/../../events/local/checkouts-create.json", env!("CARGO_MANIFEST_DIR")));
        testkit::runtime_api::invoke(binary, &merchant_env, &event.unwrap())
    })
    .await
    .unwrap();
    let answer: serde_json::Value = serde_json::from_str(&merchant.response).unwrap();
    // 200: the order already has the fixture's checkout, with the same price and shopper.
    assert_eq!(answer["statusCode"], 200, "the order's checkout: {answer}\n{}", merchant.stdout);
    for secret in ["order-1001", "49.99", "user-7f3a9c", "c-42", "sandbox-client-secret"] {
        assert!(!merchant.stdout.contains(secret), "{secret} is in the TRACE logs:\n{}", merchant.stdout);
    }
    let run = tokio::task::spawn_blocking(move || testkit::runtime_api::invoke(binary, &env, &event.to_string()))
        .await
        .unwrap();
    let answer: serde_json::Value = serde_json::from_str(&run.response).unwrap();
    assert_eq!(answer["statusCode"], 201, "a token was minted: {answer}\n{}", run.stdout);
    let minted: serde_json::Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    let token = minted["linkToken"].as_str().unwrap();
    assert!(run.stdout.contains("\"level\":\"DEBUG\""), "the capture holds the runtime's own lines: {}", run.stdout);
    for secret in ["idem-5b0f9e1c-key", "order-1001", "49.99", "sandbox-client-secret", "sandbox-webhook-secret", token]
    {
        assert!(!run.stdout.contains(secret), "{secret} is in the TRACE logs:\n{}", run.stdout);
    }
}
