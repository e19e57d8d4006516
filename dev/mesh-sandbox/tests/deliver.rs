//! The `deliver` knob and `usdRates` over real HTTP: what arrives differs from what Link offered (less,
//! another token, another address), the webhook and the listing agree on it, and the listing's
//! `destinationAmountInFiat` uses the rate fixed when the transfer was created.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

const OFFERED: &str = "0x1111111111111111111111111111111111111111";

async fn with_receiver() -> (mesh_sandbox::SandboxHandle, Receiver) {
    let rx = receiver(Vec::new()).await;
    let mut cfg = config();
    cfg.webhook_url = Some(rx.url.clone());
    (sandbox(cfg).await, rx)
}

/// Mints a token for `tx` (49.99 USD, USDC on Base or Solana) and finishes Link with `extra`.
async fn pay(sb: &mesh_sandbox::SandboxHandle, tx: &str, extra: Value) -> reqwest::Response {
    let token = link_token(sb, payment_request(tx)).await;
    let mut body = json!({"linkToken": token["linkToken"], "outcome": "succeeded", "networkId": BASE});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    control(sb, "/sandbox/transfers", body).await
}

async fn listed(sb: &mesh_sandbox::SandboxHandle, tx: &str) -> Value {
    let r = api(&http(), Method::GET, sb.url(&format!("/api/v1/transfers/managed/mesh?ClientTransactionId={tx}")))
        .send()
        .await
        .expect("listing");
    assert_eq!(r.status(), 200);
    json_of(r).await["content"]["items"][0].clone()
}

/// The succeeded webhook of `tx`, as the receiver got it.
async fn succeeded_webhook(rx: &Receiver, tx: &str, at_least: usize) -> Value {
    rx.wait_for(at_least)
        .await
        .iter()
        .map(Hit::json)
        .find(|b| b["TransactionId"] == tx && b["TransferStatus"] == "Succeeded")
        .unwrap_or_else(|| panic!("no Succeeded webhook for {tx}"))
}

#[tokio::test]
async fn less_arrives_than_was_asked_and_webhook_and_listing_say_so() {
    let (sb, rx) = with_receiver().await;
    let r = pay(&sb, "ord-short", json!({"deliver": {"amount": 20}})).await;
    assert_eq!(r.status(), 201);
    let t = json_of(r).await;
    assert_eq!(t["destinationAmount"], 20.0);
    assert_eq!(t["amountInFiat"], 49.99, "what was asked stays visible");

    let hook = succeeded_webhook(&rx, "ord-short", 2).await;
    assert_eq!(hook["DestinationAmount"], 20.0);
    assert_eq!(hook["Token"], "USDC");
    assert_eq!(hook["DestinationAddress"], OFFERED);

    let item = listed(&sb, "ord-short").await;
    assert_eq!(item["destinationAmount"], 20.0);
    assert_eq!(item["destinationAmountInFiat"], 20.0, "a USD stablecoin is worth its amount");
    assert_eq!(item["amountToReceive"], 49.99);
    assert_eq!(item["amountInFiat"], 49.99);

    // A fraction of what the transfer would have delivered: an overpayment here.
    let t = json_of(pay(&sb, "ord-over", json!({"deliver": {"fraction": 1.5}})).await).await;
    assert_eq!(t["destinationAmount"], 74.985);
}

#[tokio::test]
async fn a_queued_override_applies_to_the_next_transfer_only() {
    let (sb, rx) = with_receiver().await;
    let r = control(&sb, "/sandbox/deliver", json!({"symbol": "eth", "address": "0xelsewhere"})).await;
    assert_eq!(r.status(), 201);
    assert_eq!(json_of(r).await["queued"][0]["remaining"], 1);

    // As the Link page's button does: no deliver of its own, so it takes the queued one.
    let t = json_of(pay(&sb, "ord-eth", json!({})).await).await;
    assert_eq!(t["symbol"], "ETH");
    assert_eq!(t["destinationAddress"], "0xelsewhere");
    // The price (49.99 USD) paid in ETH at 3000 USD.
    assert_eq!(t["destinationAmount"], 0.01666333);
    let hook = succeeded_webhook(&rx, "ord-eth", 2).await;
    assert_eq!(hook["Token"], "ETH");
    assert_eq!(hook["Chain"], "Base");
    assert_eq!(hook["DestinationAddress"], "0xelsewhere");
    let item = listed(&sb, "ord-eth").await;
    assert_eq!(item["symbol"], "ETH");
    assert_eq!(item["destinationAmountInFiat"], 49.99);

    assert_eq!(get_json(&sb, "/sandbox/deliver").await["queued"], json!([]));
    let t = json_of(pay(&sb, "ord-normal", json!({})).await).await;
    assert_eq!(t["symbol"], "USDC");
    assert_eq!(t["destinationAddress"], OFFERED);
    assert_eq!(t["destinationAmount"], 49.99);
}

#[tokio::test]
async fn a_transfer_that_cannot_be_made_leaves_the_queue_alone() {
    let sb = sandbox(config()).await;
    // Base carries no USDT: the transfer is refused, naming the field, and the override stays queued.
    let r = control(&sb, "/sandbox/deliver", json!({"symbol": "USDT", "times": 2})).await;
    assert_eq!(r.status(), 201);
    let r = pay(&sb, "ord-usdt", json!({})).await;
    assert_eq!(r.status(), 400);
    let v = json_of(r).await;
    assert_eq!(v["code"], "invalid_field");
    assert!(v["message"].as_str().is_some_and(|m| m.starts_with("deliver.symbol")), "{v}");
    assert_eq!(get_json(&sb, "/sandbox/deliver").await["queued"][0]["remaining"], 2);

    // A transfer's own deliver wins over the queue, which it does not consume.
    let t = json_of(pay(&sb, "ord-own", json!({"deliver": {"amount": 1}})).await).await;
    assert_eq!(t["destinationAmount"], 1.0);
    assert_eq!(get_json(&sb, "/sandbox/deliver").await["queued"][0]["remaining"], 2);

    let r = http().delete(sb.url("/sandbox/deliver")).send().await.expect("delete");
    assert_eq!(json_of(r).await["queued"], json!([]));
}

#[tokio::test]
async fn bad_knobs_are_refused_with_the_field_named() {
    let sb = sandbox(config()).await;
    for (path, body, field) in [
        ("/sandbox/deliver", json!({}), None),
        ("/sandbox/deliver", json!({"times": 3}), None),
        ("/sandbox/deliver", json!({"amount": 5, "times": 0}), Some("times")),
        ("/sandbox/deliver", json!({"amount": -5}), Some("amount")),
        ("/sandbox/deliver", json!({"amount": 5, "fraction": 0.5}), Some("fraction")),
        ("/sandbox/config", json!({"usdRates": {"ETH": 0}}), Some("usdRates.eth")),
        ("/sandbox/config", json!({"usdRates": {"ETH": "2500"}}), Some("usdRates.eth")),
        ("/sandbox/config", json!({"usdRates": []}), Some("usdRates")),
    ] {
        let r = control(&sb, path, body.clone()).await;
        assert_eq!(r.status(), 400, "{path} {body}");
        let v = json_of(r).await;
        let message = v["message"].as_str().unwrap_or_default();
        match field {
            Some(f) => assert!(message.starts_with(f), "{path} {body}: {v}"),
            None => assert_eq!(v["code"], "missing_field", "{path} {body}: {v}"),
        }
    }
    assert_eq!(get_json(&sb, "/sandbox/deliver").await["queued"], json!([]));
    assert_eq!(get_json(&sb, "/sandbox/config").await["usdRates"], json!({}));
}

#[tokio::test]
async fn fiat_figures_use_the_rate_of_the_moment_the_transfer_was_made() {
    let sb = sandbox(config()).await;
    let r = control(&sb, "/sandbox/config", json!({"usdRates": {"ETH": 2500}})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(json_of(r).await["usdRates"], json!({"ETH": 2500.0}));

    // 0.01 ETH delivered on an offer of USDC: worth 25 USD at 2500.
    let t = json_of(pay(&sb, "ord-rate", json!({"deliver": {"symbol": "ETH", "amount": 0.01}})).await).await;
    assert_eq!(t["unitPrice"], 2500.0);
    assert_eq!(listed(&sb, "ord-rate").await["destinationAmountInFiat"], 25.0);

    // A later rate prices later transfers only.
    control(&sb, "/sandbox/config", json!({"usdRates": {"ETH": 4000}})).await;
    assert_eq!(listed(&sb, "ord-rate").await["destinationAmountInFiat"], 25.0);
    let t = json_of(pay(&sb, "ord-rate-2", json!({"deliver": {"symbol": "ETH", "amount": 0.01}})).await).await;
    assert_eq!(t["destinationAmountInFiat"], 40.0);

    // A stablecoin can be given a rate too (a depeg); reset restores the table and empties the queue.
    control(&sb, "/sandbox/deliver", json!({"fraction": 0.5})).await;
    let r = control(&sb, "/sandbox/reset", json!({})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(get_json(&sb, "/sandbox/config").await["usdRates"], json!({}));
    assert_eq!(get_json(&sb, "/sandbox/deliver").await["queued"], json!([]));
}
