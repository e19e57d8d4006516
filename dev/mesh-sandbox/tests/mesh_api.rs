//! The `/api/v1` surface over real HTTP: auth, envelope, validation, casing, networks, faults, and the
//! managed-transfers history (filters and pagination).

mod common;

use std::collections::HashSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::*;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn auth_is_required_on_every_api_call() {
    let sb = sandbox(config()).await;
    let client = http();
    let cases = [
        (None, None),
        (Some(CLIENT_ID), None),
        (None, Some(CLIENT_SECRET)),
        (Some(CLIENT_ID), Some("wrong")),
        (Some("wrong"), Some(CLIENT_SECRET)),
    ];
    for path in ["/api/v1/transfers/managed/networks", "/api/v1/transfers/managed/mesh", "/api/v1/nothing-here"] {
        for (id, secret) in cases {
            let mut req = client.get(sb.url(path));
            if let Some(id) = id {
                req = req.header("X-Client-Id", id);
            }
            if let Some(secret) = secret {
                req = req.header("X-Client-Secret", secret);
            }
            let r = req.send().await.expect("request");
            assert_eq!(r.status(), 401, "{path} {id:?} {secret:?}");
            assert!(r.bytes().await.expect("body").is_empty(), "401 has an empty body");
        }
    }
    let r = client.post(sb.url("/api/v1/linktoken")).json(&json!({"userId": "u"})).send().await.expect("request");
    assert_eq!(r.status(), 401);
    sb.shutdown().await;
}

#[tokio::test]
async fn unknown_api_path_is_a_not_found_envelope() {
    let sb = sandbox(config()).await;
    let r = api(&http(), Method::GET, sb.url("/api/v1/transfers/managed/nope")).send().await.expect("request");
    assert_eq!(r.status(), 404);
    let v = json_of(r).await;
    assert_eq!(v["status"], "notFound");
    assert!(v["content"].is_null());
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
}

#[tokio::test]
async fn link_token_is_base64_of_the_sandbox_link_page() {
    let sb = sandbox(config()).await;
    let content = link_token(&sb, json!({"userId": "user-1"})).await;
    assert!(content["paymentLink"].is_null());
    let token = content["linkToken"].as_str().expect("linkToken string");
    let url = String::from_utf8(STANDARD.decode(token).expect("standard Base64")).expect("UTF-8");
    assert!(url.starts_with(&format!("{}/link/", sb.base_url())), "{url}");

    // The envelope on success.
    let r = api(&http(), Method::POST, sb.url("/api/v1/linktoken"))
        .json(&json!({"userId": "u"}))
        .send()
        .await
        .expect("request");
    let v = json_of(r).await;
    assert_eq!(v["status"], "ok");
    assert_eq!(v["message"], "");
    assert_eq!(v["errorType"], "");
    assert!(v.get("displayMessage").is_some());
}

#[tokio::test]
async fn paylink_only_when_asked_and_needs_a_transaction_id() {
    let sb = sandbox(config()).await;
    let mut body = payment_request("ord-1");
    body["transferOptions"]["generatePayLink"] = json!(true);
    let content = link_token(&sb, body).await;
    let link = content["paymentLink"].as_str().expect("paymentLink");
    assert!(link.starts_with(&format!("{}/paylink/", sb.base_url())), "{link}");
    let page = http().get(link).send().await.expect("paylink page");
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("html").contains("postMessage"));

    let r = api(&http(), Method::POST, sb.url("/api/v1/linktoken"))
        .json(&json!({"userId": "u", "transferOptions": {"generatePayLink": true}}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 400);
    let v = json_of(r).await;
    assert_eq!(v["status"], "badRequest");
    assert_eq!(v["errorType"], "missingField");
}

#[tokio::test]
async fn public_url_is_used_in_links() {
    let sb =
        sandbox(mesh_sandbox::SandboxConfig { public_url: Some("https://sandbox.example.test/".into()), ..config() })
            .await;
    let mut body = payment_request("ord-9");
    body["transferOptions"]["generatePayLink"] = json!(true);
    let content = link_token(&sb, body).await;
    let url =
        String::from_utf8(STANDARD.decode(content["linkToken"].as_str().expect("token")).expect("b64")).expect("utf8");
    assert!(url.starts_with("https://sandbox.example.test/link/"), "{url}");
    assert!(content["paymentLink"].as_str().is_some_and(|l| l.starts_with("https://sandbox.example.test/paylink/")));
}

async fn bad_request(sb: &mesh_sandbox::SandboxHandle, body: &str, content_type: &str) -> (u16, Value) {
    let r = api(&http(), Method::POST, sb.url("/api/v1/linktoken"))
        .header("Content-Type", content_type)
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, json_of(r).await)
}

#[tokio::test]
async fn link_token_validation() {
    let sb = sandbox(config()).await;
    let ct = "application/json";
    let long_user = format!(r#"{{"userId":"{}"}}"#, "u".repeat(301));
    let long_tx = format!(r#"{{"userId":"u","transferOptions":{{"transactionId":"{}"}}}}"#, "t".repeat(129));
    let cases: Vec<(&str, &str)> = vec![
        ("{}", "missingField"),
        (r#"{"userId":""}"#, "missingField"),
        (&long_user, "invalidField"),
        (&long_tx, "invalidField"),
        (r#"{"userId":"u","transferOptions":{"clientFee":1.5}}"#, "invalidField"),
        (r#"{"userId":"u","transferOptions":{"clientFee":-0.01}}"#, "invalidField"),
        (r#"{"userId":"u","transferOptions":{"toAddresses":[{"symbol":"USDC","address":"0x1"}]}}"#, "missingField"),
        (
            r#"{"userId":"u","transferOptions":{"toAddresses":[{"networkId":"11111111-1111-4111-8111-111111111111","symbol":"USDC","address":"0x1"}]}}"#,
            "invalidField",
        ),
        (
            r#"{"userId":"u","transferOptions":{"toAddresses":[{"networkId":"aa883b03-120d-477c-a588-37c2afd3ca71","symbol":" ","address":"0x1"}]}}"#,
            "missingField",
        ),
        (
            r#"{"userId":"u","transferOptions":{"toAddresses":[{"networkId":"aa883b03-120d-477c-a588-37c2afd3ca71","symbol":"USDC","address":""}]}}"#,
            "missingField",
        ),
        ("{not json", "invalidJson"),
        ("", "invalidJson"),
        ("[]", "invalidJson"),
    ];
    for (body, error_type) in cases {
        let (status, v) = bad_request(&sb, body, ct).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(v["status"], "badRequest", "{body}");
        assert_eq!(v["errorType"], error_type, "{body}");
        assert!(v["content"].is_null());
        assert!(v["errorHash"].as_str().is_some_and(|h| h.len() == 8));
    }
    // Accepted content types; others are refused.
    for ok in ["application/json; charset=utf-8", "text/json", "application/vnd.mesh+json"] {
        let (status, _) = bad_request(&sb, r#"{"userId":"u"}"#, ok).await;
        assert_eq!(status, 200, "{ok}");
    }
    let (status, _) = bad_request(&sb, r#"{"userId":"u"}"#, "text/plain").await;
    assert_eq!(status, 415);
}

#[tokio::test]
async fn request_properties_are_case_insensitive() {
    let sb = sandbox(config()).await;
    let content = link_token(
        &sb,
        json!({
            "UserId": "user-CI",
            "TRANSFEROPTIONS": {
                "TransactionId": "ord-ci",
                "AMOUNTINFIAT": 20,
                "toaddresses": [{"NetworkId": BASE, "SYMBOL": "USDC", "Address": "0x2222222222222222222222222222222222222222"}],
                "SomethingNew": {"Whatever": true}
            },
            "unknownTopLevel": 1
        }),
    )
    .await;
    assert!(content["linkToken"].is_string());
    // The remembered request drives the transfer's defaults.
    let r =
        control(&sb, "/sandbox/transfers", json!({"linkToken": content["linkToken"], "outcome": "succeeded"})).await;
    assert_eq!(r.status(), 201);
    let t = json_of(r).await;
    assert_eq!(t["userId"], "user-CI");
    assert_eq!(t["clientTransactionId"], "ord-ci");
    assert_eq!(t["amountInFiat"], 20.0);
    assert_eq!(t["destinationAddress"], "0x2222222222222222222222222222222222222222");
    assert_eq!(t["networkName"], "Base");

    // Path casing and a trailing slash are tolerated like ASP.NET routing.
    let r = api(&http(), Method::POST, sb.url("/API/V1/LinkToken/"))
        .json(&json!({"userid": "x"}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn networks_carry_mesh_ids_and_string_chain_ids() {
    let sb = sandbox(config()).await;
    let r = api(&http(), Method::GET, sb.url("/api/v1/transfers/managed/networks")).send().await.expect("request");
    assert_eq!(r.status(), 200);
    let v = json_of(r).await;
    assert_eq!(v["status"], "ok");
    let networks = v["content"]["networks"].as_array().expect("networks");
    let find = |id: &str| networks.iter().find(|n| n["id"] == id).cloned().expect(id);
    let eth = find("e3c7fdd8-b1fc-4e51-85ae-bb276e075611");
    assert_eq!(eth["name"], "Ethereum");
    assert_eq!(eth["chainId"], "1");
    assert_eq!(eth["nativeSymbol"], "ETH");
    assert_eq!(eth["networkType"], "evm");
    assert_eq!(find(BASE)["chainId"], "8453");
    assert_eq!(find(SOLANA)["networkType"], "solana");
    for id in [
        "7436e9d0-ba42-4d2b-b4c0-8e4e606b2c12",
        "0880db06-7c7c-4738-898f-cf74efc03c47",
        "c5dc5d2e-68c1-4261-9a30-90b598738bf5",
        "a34f2431-0ddd-4de4-bc22-4a8143287aeb",
    ] {
        find(id);
    }
    for n in networks {
        assert!(n["chainId"].is_string());
        assert!(n["logoUrl"].is_string());
        assert!(n["supportedTokens"].as_array().is_some_and(|t| !t.is_empty()));
        assert!(n["tokens"][0]["symbol"].is_string() && n["tokens"][0]["logoUrl"].is_string());
        assert!(n["supportedBrokerTypes"].is_array());
    }
    // Logos are served locally.
    let logo = http().get(eth["logoUrl"].as_str().expect("logo")).send().await.expect("logo");
    assert_eq!(logo.status(), 200);
}

#[tokio::test]
async fn injected_429_carries_retry_after_then_the_call_succeeds() {
    let sb = sandbox(config()).await;
    let r = control(
        &sb,
        "/sandbox/faults",
        json!({"endpoint": "networks", "status": 429, "times": 1, "retryAfterSeconds": 2}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let url = sb.url("/api/v1/transfers/managed/networks");
    let r = api(&http(), Method::GET, url.clone()).send().await.expect("request");
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("2"));
    let v = json_of(r).await;
    assert_eq!(v["status"], "tooManyRequest");
    let r = api(&http(), Method::GET, url).send().await.expect("request");
    assert_eq!(r.status(), 200);

    // A wildcard 5xx fault applies to the next call of any endpoint, once per `times`.
    control(&sb, "/sandbox/faults", json!({"endpoint": "*", "status": 503, "times": 2})).await;
    let r = api(&http(), Method::POST, sb.url("/api/v1/linktoken"))
        .json(&json!({"userId": "u"}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 503);
    assert_eq!(json_of(r).await["status"], "serverFailure");
    let r = api(&http(), Method::GET, sb.url("/api/v1/transfers/managed/mesh")).send().await.expect("request");
    assert_eq!(r.status(), 503);
    let r = api(&http(), Method::GET, sb.url("/api/v1/transfers/managed/mesh")).send().await.expect("request");
    assert_eq!(r.status(), 200);

    // Misuse of the fault API is a 400 with {code, message}.
    let r = control(&sb, "/sandbox/faults", json!({"endpoint": "networks", "status": 418})).await;
    assert_eq!(r.status(), 400);
    let v = json_of(r).await;
    assert_eq!(v["code"], "invalid_field");
    assert!(v["message"].is_string());
}

async fn page(sb: &mesh_sandbox::SandboxHandle, query: &str) -> (u16, Value) {
    let r = api(&http(), Method::GET, sb.url(&format!("/api/v1/transfers/managed/mesh?{query}")))
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, json_of(r).await)
}

fn ids(v: &Value) -> Vec<String> {
    v["content"]["items"].as_array().expect("items").iter().map(|t| t["id"].as_str().expect("id").to_string()).collect()
}

#[tokio::test]
async fn pagination_walks_every_transfer_exactly_once() {
    let sb = sandbox(config()).await;
    let r = control(&sb, "/sandbox/transfers/seed", json!({"count": 250, "userId": "pager"})).await;
    assert_eq!(r.status(), 201);

    let (status, first) = page(&sb, "").await;
    assert_eq!(status, 200);
    assert_eq!(first["content"]["items"].as_array().map(Vec::len), Some(10), "default Count is 10");
    assert_eq!(first["content"]["total"], 250);

    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let (status, v) = page(&sb, &format!("Count=100&Offset={offset}")).await;
        assert_eq!(status, 200);
        assert_eq!(v["content"]["total"], 250);
        let batch = ids(&v);
        let more = v["content"]["hasMorePages"].as_bool().expect("hasMorePages");
        seen.extend(batch.iter().cloned());
        offset += 100;
        assert_eq!(more, offset < 250);
        if offset >= 250 {
            assert_eq!(batch.len(), 50);
            break;
        }
        assert_eq!(batch.len(), 100);
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(seen.len(), 250);
    assert_eq!(unique.len(), 250, "no duplicates across pages");
    let (_, past_end) = page(&sb, "Count=100&Offset=300").await;
    assert!(ids(&past_end).is_empty());

    // Default order: createdTimestamp ascending.
    let (_, v) = page(&sb, "Count=100").await;
    let created: Vec<i64> = v["content"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| t["createdTimestamp"].as_i64().expect("seconds"))
        .collect();
    assert!(created.windows(2).all(|w| w[0] <= w[1]));
    assert!(created[0] < 10_000_000_000, "createdTimestamp is in seconds");
}

#[tokio::test]
async fn seeding_2500_pages_cleanly() {
    let sb = sandbox(config()).await;
    control(&sb, "/sandbox/transfers/seed", json!({"count": 2500})).await;
    let mut seen = HashSet::new();
    for offset in (0..2500).step_by(100) {
        let (_, v) = page(&sb, &format!("count=100&offset={offset}&orderBy=id")).await;
        assert_eq!(v["content"]["total"], 2500);
        for id in ids(&v) {
            assert!(seen.insert(id), "duplicate at offset {offset}");
        }
    }
    assert_eq!(seen.len(), 2500);
}

#[tokio::test]
async fn filters_and_ordering() {
    let sb = sandbox(config()).await;
    control(
        &sb,
        "/sandbox/transfers/seed",
        json!({"count": 30, "userId": "alice", "clientTransactionIdPrefix": "a-", "status": "mixed", "fromTimestamp": 1_700_000_000, "stepSeconds": 10}),
    )
    .await;
    control(
        &sb,
        "/sandbox/transfers/seed",
        json!({"count": 10, "userId": "bob", "clientTransactionIdPrefix": "b-", "status": "pending", "integration": "Binance", "fromTimestamp": 1_800_000_000, "amountInFiat": 500}),
    )
    .await;

    let total = |v: &Value| v["content"]["total"].as_u64().expect("total");
    let (_, v) = page(&sb, "UserId=bob").await;
    assert_eq!(total(&v), 10);
    let (_, v) = page(&sb, "userid=alice&Statuses=pending").await;
    assert_eq!(total(&v), 10);
    let (_, v) = page(&sb, "UserId=alice&Statuses=pending&Statuses=failed").await;
    assert_eq!(total(&v), 20);
    let (_, v) = page(&sb, "UserId=alice&Statuses[]=succeeded").await;
    assert_eq!(total(&v), 10);
    for t in v["content"]["items"].as_array().expect("items") {
        assert_eq!(t["status"], "succeeded");
        assert!(t["hash"].is_string());
        assert!(t["executedTimestamp"].is_i64());
    }
    let (_, v) = page(&sb, "Statuses=pending&Count=100").await;
    for t in v["content"]["items"].as_array().expect("items") {
        assert!(t["hash"].is_null(), "hash is null while pending");
    }
    // Timestamps are inclusive bounds on createdTimestamp.
    let (_, v) = page(&sb, "FromTimestamp=1700000010&ToTimestamp=1700000050").await;
    assert_eq!(total(&v), 5);
    let (_, v) = page(&sb, "MinAmountInFiat=500&MaxAmountInFiat=500").await;
    assert_eq!(total(&v), 10);
    let (_, v) = page(&sb, "ClientTransactionId=a-0007").await;
    assert_eq!(total(&v), 1);
    let one = v["content"]["items"][0].clone();
    let (_, v) = page(&sb, &format!("Id={}", one["id"].as_str().expect("id"))).await;
    assert_eq!(ids(&v), vec![one["id"].as_str().expect("id").to_string()]);

    let (_, v) = page(&sb, "UserId=alice&Statuses=succeeded&Count=1").await;
    let hash = v["content"]["items"][0]["hash"].as_str().expect("hash").to_string();
    let (_, v) = page(&sb, &format!("Hash={hash}")).await;
    assert_eq!(total(&v), 1);

    let binance = get_json(&sb, "/sandbox/integrations").await;
    let binance_id = binance
        .as_array()
        .and_then(|a| a.iter().find(|i| i["name"] == "Binance"))
        .map(|i| i["id"].as_str().expect("id").to_string())
        .expect("Binance listed");
    let (_, v) = page(&sb, &format!("IntegrationIds={binance_id}")).await;
    assert_eq!(total(&v), 10);
    assert_eq!(v["content"]["items"][0]["from"]["type"], "binanceInternational");

    let (_, v) = page(&sb, "OrderBy=amountInFiat&DescendingOrder=true&Count=100").await;
    let amounts: Vec<f64> = v["content"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| t["amountInFiat"].as_f64().expect("amount"))
        .collect();
    assert!(amounts.windows(2).all(|w| w[0] >= w[1]));
    assert_eq!(amounts[0], 500.0);

    // Invalid queries are 400 badRequest.
    for bad in [
        "Count=101",
        "Count=0",
        "Offset=-5",
        &format!("UserId={}", "x".repeat(51)),
        "Statuses=pending&Statuses=pending&Statuses=pending&Statuses=pending&Statuses=pending&Statuses=pending",
        "Statuses=lost",
        "OrderBy=price",
        "Id=not-a-uuid",
        "DescendingOrder=maybe",
    ] {
        let (status, v) = page(&sb, bad).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(v["status"], "badRequest", "{bad}");
        assert_eq!(v["errorType"], "invalidField", "{bad}");
    }
}
