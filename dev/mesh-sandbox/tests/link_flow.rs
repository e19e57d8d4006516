//! Link tokens end to end: the fake Link page, single use, expiry, the control API's errors, reset.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

fn token_id(link_token: &serde_json::Value) -> String {
    mesh_sandbox::control::token_id_from(link_token.as_str().expect("linkToken"))
}

#[tokio::test]
async fn a_token_cannot_be_used_twice() {
    let sb = sandbox(config()).await;
    let token = link_token(&sb, payment_request("ord-once")).await;
    let r = control(&sb, "/sandbox/transfers", json!({"linkToken": token["linkToken"], "outcome": "succeeded"})).await;
    assert_eq!(r.status(), 201);
    let r = control(&sb, "/sandbox/transfers", json!({"linkToken": token["linkToken"], "outcome": "succeeded"})).await;
    assert_eq!(r.status(), 409);
    let v = json_of(r).await;
    assert_eq!(v["code"], "token_used");
    assert!(v["message"].as_str().is_some_and(|m| m.contains("already been used")));
    // The Link page refuses it too.
    let page = http().get(sb.url(&format!("/link/{}", token_id(&token["linkToken"])))).send().await.expect("page");
    assert_eq!(page.status(), 410);
    let html = page.text().await.expect("html");
    assert!(html.contains("already been used") && html.contains("errorMessage") && html.contains("\"close\""));
    // Only one transfer exists.
    let all = get_json(&sb, "/sandbox/transfers?transactionId=ord-once").await;
    assert_eq!(all.as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn the_link_page_opens_once_and_its_session_completes_once() {
    let sb = sandbox(config()).await;
    let token = link_token(&sb, payment_request("ord-page")).await;
    let id = token_id(&token["linkToken"]);
    let decoded = String::from_utf8(
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, token["linkToken"].as_str().expect("s"))
            .expect("b64"),
    )
    .expect("utf8");

    let page = http().get(&decoded).send().await.expect("page");
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().expect("ct").starts_with("text/html"));
    let html = page.text().await.expect("html");
    for needle in [
        "type: \"loaded\"",
        "type: \"transferFinished\"",
        "type: \"done\"",
        "transferExecutedPage",
        "type: \"close\"",
        "Complete transfer",
        "Fail transfer",
        "0x1111111111111111111111111111111111111111",
        "ord-page",
    ] {
        assert!(html.contains(needle), "page lacks {needle}");
    }
    assert!(!html.contains("src=\"http"), "no external assets");

    // A second open is refused.
    let again = http().get(&decoded).send().await.expect("page");
    assert_eq!(again.status(), 410);

    // The session opened by the page may complete (as its buttons do), once.
    let r = control(
        &sb,
        "/sandbox/transfers",
        json!({"linkToken": id, "outcome": "failed", "networkId": SOLANA, "symbol": "usdc", "integration": "Kraken", "fromAddress": "src-addr"}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let t = json_of(r).await;
    assert_eq!(t["networkName"], "Solana");
    assert_eq!(t["symbol"], "USDC");
    assert_eq!(t["from"]["name"], "Kraken");
    assert_eq!(t["status"], "failed");
    assert!(t["hash"].is_null());
    let r = control(&sb, "/sandbox/transfers", json!({"linkToken": id})).await;
    assert_eq!(r.status(), 409);

    let tokens = get_json(&sb, "/sandbox/linktokens").await;
    assert_eq!(tokens[0]["state"], "used");
    assert_eq!(tokens[0]["transferId"], t["id"]);
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let sb = sandbox(mesh_sandbox::SandboxConfig { token_ttl: Duration::from_millis(150), ..config() }).await;
    let token = link_token(&sb, payment_request("ord-late")).await;
    let other = link_token(&sb, payment_request("ord-late-2")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = control(&sb, "/sandbox/transfers", json!({"linkToken": token["linkToken"]})).await;
    assert_eq!(r.status(), 410);
    assert_eq!(json_of(r).await["code"], "token_expired");
    let page = http().get(sb.url(&format!("/link/{}", token_id(&other["linkToken"])))).send().await.expect("page");
    assert_eq!(page.status(), 410);
    assert!(page.text().await.expect("html").contains("expired"));

    // The TTL is a run-time knob too.
    control(&sb, "/sandbox/config", json!({"tokenTtlSecs": 600})).await;
    let fresh = link_token(&sb, payment_request("ord-late-3")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = control(&sb, "/sandbox/transfers", json!({"linkToken": fresh["linkToken"]})).await;
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn unknown_tokens_and_control_misuse_are_clear_4xx() {
    let sb = sandbox(config()).await;
    let page = http().get(sb.url("/link/does-not-exist")).send().await.expect("page");
    assert_eq!(page.status(), 404);
    assert!(page.text().await.expect("html").contains("Invalid link token"));

    let r = control(&sb, "/sandbox/transfers", json!({"linkToken": "does-not-exist"})).await;
    assert_eq!(r.status(), 404);
    assert_eq!(json_of(r).await["code"], "unknown_token");

    let token = link_token(&sb, payment_request("ord-misuse")).await;
    let cases = [
        (json!({"linkToken": token["linkToken"], "outcome": "done"}), "invalid_field"),
        (
            json!({"linkToken": token["linkToken"], "networkId": "11111111-1111-4111-8111-111111111111"}),
            "unknown_network",
        ),
        (
            json!({"linkToken": token["linkToken"], "networkId": "e3c7fdd8-b1fc-4e51-85ae-bb276e075611"}),
            "no_matching_destination",
        ),
        (json!({"linkToken": token["linkToken"], "transactionId": "someone-else"}), "transaction_mismatch"),
        (json!({"linkToken": token["linkToken"], "amount": -1}), "invalid_field"),
        (json!({"linkToken": token["linkToken"], "webhooks": {"duplicates": "two"}}), "invalid_field"),
    ];
    for (body, code) in cases {
        let r = control(&sb, "/sandbox/transfers", body.clone()).await;
        assert_eq!(r.status(), 400, "{body}");
        assert_eq!(json_of(r).await["code"], code, "{body}");
    }
    // None of those consumed the token.
    let r = control(&sb, "/sandbox/transfers", json!({"linkToken": token["linkToken"]})).await;
    assert_eq!(r.status(), 201);

    let r = http()
        .post(sb.url("/sandbox/transfers"))
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 400);
    assert_eq!(json_of(r).await["code"], "invalid_json");

    let r = http().get(sb.url("/sandbox/nothing")).send().await.expect("request");
    assert_eq!(r.status(), 404);
    assert_eq!(json_of(r).await["code"], "not_found");
    let r = http().delete(sb.url("/sandbox/transfers")).send().await.expect("request");
    assert_eq!(r.status(), 405);
    assert_eq!(json_of(r).await["code"], "method_not_allowed");
    let r = control(&sb, "/sandbox/transfers/seed", json!({"count": 0})).await;
    assert_eq!(r.status(), 400);
    let r = control(&sb, "/sandbox/transfers/seed", json!({})).await;
    assert_eq!(json_of(r).await["code"], "missing_field");
    let r = http().get(sb.url("/sandbox/transfers/not-a-uuid")).send().await.expect("request");
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn transaction_id_completion_uses_the_token_defaults_without_consuming_it() {
    let sb = sandbox(config()).await;
    let token = link_token(&sb, payment_request("ord-by-tx")).await;
    let r = control(&sb, "/sandbox/transfers", json!({"transactionId": "ord-by-tx", "outcome": "succeeded"})).await;
    assert_eq!(r.status(), 201);
    let t = json_of(r).await;
    assert_eq!(t["userId"], "user-1");
    assert_eq!(t["amountInFiat"], 49.99);
    assert_eq!(t["destinationAmount"], 49.99);
    assert_eq!(t["clientTransactionId"], "ord-by-tx");
    // The token itself is still usable once.
    let r = control(&sb, "/sandbox/transfers", json!({"linkToken": token["linkToken"]})).await;
    assert_eq!(r.status(), 201);

    // With neither, a standalone transfer gets sandbox defaults.
    let r = control(&sb, "/sandbox/transfers", json!({})).await;
    assert_eq!(r.status(), 201);
    let t = json_of(r).await;
    assert_eq!(t["userId"], "sandbox-user");
    assert!(t["clientTransactionId"].is_null());
}

#[tokio::test]
async fn reset_forgets_everything() {
    let sb = sandbox(config()).await;
    let token = link_token(&sb, payment_request("ord-reset")).await;
    control(&sb, "/sandbox/transfers/seed", json!({"count": 5})).await;
    control(&sb, "/sandbox/faults", json!({"endpoint": "linktoken", "status": 500, "times": 3})).await;
    control(&sb, "/sandbox/config", json!({"dropRate": 0.5})).await;
    let r = control(&sb, "/sandbox/reset", json!({})).await;
    assert_eq!(r.status(), 200);
    assert!(get_json(&sb, "/sandbox/transfers").await.as_array().is_some_and(Vec::is_empty));
    assert!(get_json(&sb, "/sandbox/faults").await["faults"].as_array().is_some_and(Vec::is_empty));
    assert_eq!(get_json(&sb, "/sandbox/config").await["dropRate"], 0.0);
    let r = control(&sb, "/sandbox/transfers", json!({"linkToken": token["linkToken"]})).await;
    assert_eq!(r.status(), 404);
    let health = get_json(&sb, "/sandbox/health").await;
    assert_eq!(health["status"], "ok");
}

#[tokio::test]
async fn shutdown_and_drop_stop_the_server() {
    let sb = sandbox(config()).await;
    let url = sb.url("/sandbox/health");
    assert_eq!(http().get(&url).send().await.expect("up").status(), 200);
    sb.shutdown().await;
    assert!(http().get(&url).send().await.is_err(), "stopped after shutdown()");

    let sb = sandbox(config()).await;
    let url = sb.url("/sandbox/health");
    drop(sb);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(http().get(&url).send().await.is_err(), "stopped after drop");
}
