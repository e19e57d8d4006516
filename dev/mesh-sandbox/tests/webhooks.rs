//! Webhook delivery over real HTTP: signature over the exact bytes, PascalCase body, retries (same
//! EventId, new Id), timeouts, drop/duplicate/reverse knobs, and consistency with polling.

mod common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::*;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

/// Independent check of `X-Mesh-Signature-256` (not the sandbox's `sign`).
fn verifies(secret: &str, body: &[u8], header: &str) -> bool {
    let Ok(tag) = STANDARD.decode(header) else {
        return false;
    };
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    mac.verify_slice(&tag).is_ok()
}

async fn with_receiver(
    script: Vec<(u16, u64)>,
    tweak: impl FnOnce(&mut mesh_sandbox::SandboxConfig),
) -> (mesh_sandbox::SandboxHandle, Receiver) {
    let rx = receiver(script).await;
    let mut cfg = config();
    cfg.webhook_url = Some(rx.url.clone());
    tweak(&mut cfg);
    (sandbox(cfg).await, rx)
}

async fn finish(sb: &mesh_sandbox::SandboxHandle, tx: &str, body: Value) -> Value {
    let token = link_token(sb, payment_request(tx)).await;
    let mut body = body;
    body["linkToken"] = token["linkToken"].clone();
    let r = control(sb, "/sandbox/transfers", body).await;
    assert_eq!(r.status(), 201);
    json_of(r).await
}

async fn poll(sb: &mesh_sandbox::SandboxHandle, id: &str) -> Value {
    let r = api(&http(), Method::GET, sb.url(&format!("/api/v1/transfers/managed/mesh?Id={id}")))
        .send()
        .await
        .expect("poll");
    json_of(r).await["content"]["items"][0].clone()
}

#[test]
fn known_answer_vector() {
    assert_eq!(
        mesh_sandbox::sign("It's a Secret to Everybody", b"Hello, World!"),
        "dXEH6g6yUJ/CESIczphLijdXC211hsIsRvQ3nIsEPhc="
    );
}

#[tokio::test]
async fn delivered_webhooks_are_signed_over_the_exact_body() {
    let (sb, rx) = with_receiver(vec![], |_| {}).await;
    let transfer = finish(&sb, "ord-sig", json!({"outcome": "succeeded", "symbol": "USDC", "networkId": BASE})).await;
    let hits = rx.wait_for(2).await;
    assert_eq!(hits.len(), 2);
    let keys = [
        "Id",
        "EventId",
        "SentTimestamp",
        "TransferId",
        "TransactionId",
        "UserId",
        "TransferStatus",
        "TxHash",
        "Chain",
        "Token",
        "SourceAccountProvider",
        "SourceAmount",
        "DestinationAmount",
        "DestinationAddress",
        "RefundAddress",
        "Timestamp",
    ];
    for hit in &hits {
        assert_eq!(hit.content_type.as_deref(), Some("application/json"));
        let signature = hit.signature.as_deref().expect("signature header");
        assert!(verifies(WEBHOOK_SECRET, &hit.body, signature), "signature verifies over the raw body");
        assert!(!verifies("other-secret", &hit.body, signature));
        let mut tampered = hit.body.clone();
        tampered.push(b' ');
        assert!(!verifies(WEBHOOK_SECRET, &tampered, signature));
        assert_eq!(signature, mesh_sandbox::sign(WEBHOOK_SECRET, &hit.body));
        assert!(hit.body.starts_with(b"{\"Id\":"));
        let v = hit.json();
        let object = v.as_object().expect("object");
        assert_eq!(object.len(), keys.len(), "{v}");
        for k in keys {
            assert!(object.contains_key(k), "missing {k}");
        }
        assert_eq!(v["TransferId"], transfer["id"]);
        assert_eq!(v["TransactionId"], "ord-sig");
        assert_eq!(v["UserId"], "user-1");
        assert_eq!(v["Chain"], "Base");
        assert_eq!(v["Token"], "USDC");
        assert_eq!(v["SourceAccountProvider"], "Coinbase");
        assert_eq!(v["DestinationAddress"], "0x1111111111111111111111111111111111111111");
        assert!(v["Timestamp"].as_i64().is_some_and(|t| t > 1_000_000_000_000), "Timestamp in ms");
        assert!(v["SentTimestamp"].as_i64().is_some_and(|t| t < 10_000_000_000), "SentTimestamp in s");
    }
    let (pending, succeeded) = (hits[0].json(), hits[1].json());
    assert_eq!(pending["TransferStatus"], "Pending");
    assert!(pending["TxHash"].is_null());
    assert_eq!(succeeded["TransferStatus"], "Succeeded");
    assert!(succeeded["TxHash"].as_str().is_some_and(|h| h.starts_with("0x")));
    assert_ne!(pending["EventId"], succeeded["EventId"]);

    // Polling agrees with the last webhook.
    let polled = poll(&sb, transfer["id"].as_str().expect("id")).await;
    assert_eq!(polled["status"], "succeeded");
    assert_eq!(polled["hash"], succeeded["TxHash"]);
    assert_eq!(polled["clientTransactionId"], "ord-sig");
    assert!(polled["executedTimestamp"].is_i64());

    let deliveries = settled_deliveries(&sb, 2).await;
    assert!(deliveries.iter().all(|d| d["status"] == "delivered"));
    assert_eq!(deliveries[0]["attempts"][0]["httpStatus"], 200);
}

#[tokio::test]
async fn a_refused_delivery_is_retried_with_the_same_event_id_and_a_new_id() {
    let (sb, rx) = with_receiver(vec![(500, 0)], |_| {}).await;
    finish(&sb, "ord-retry", json!({"outcome": "pending"})).await;
    let hits = rx.wait_for(2).await;
    let (first, second) = (hits[0].json(), hits[1].json());
    assert_eq!(first["EventId"], second["EventId"]);
    assert_ne!(first["Id"], second["Id"]);
    assert_ne!(hits[0].body, hits[1].body);
    for hit in &hits[..2] {
        assert!(verifies(WEBHOOK_SECRET, &hit.body, hit.signature.as_deref().expect("sig")));
    }
    let deliveries = settled_deliveries(&sb, 1).await;
    let d = &deliveries[0];
    assert_eq!(d["status"], "delivered");
    assert_eq!(d["eventId"], first["EventId"]);
    let attempts = d["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["httpStatus"], 500);
    assert_eq!(attempts[1]["httpStatus"], 200);
    assert_eq!(attempts[0]["id"], first["Id"]);
    assert_eq!(attempts[1]["id"], second["Id"]);
}

#[tokio::test]
async fn a_receiver_slower_than_the_timeout_gets_a_retry() {
    let (sb, rx) = with_receiver(vec![(200, 2500)], |c| c.webhook_timeout = Duration::from_millis(500)).await;
    finish(&sb, "ord-slow", json!({"outcome": "pending"})).await;
    let hits = rx.wait_for(2).await;
    assert_eq!(hits[0].json()["EventId"], hits[1].json()["EventId"]);
    assert_ne!(hits[0].json()["Id"], hits[1].json()["Id"]);
    let deliveries = settled_deliveries(&sb, 1).await;
    let attempts = deliveries[0]["attempts"].as_array().expect("attempts");
    assert!(attempts[0]["httpStatus"].is_null());
    assert!(attempts[0]["error"].as_str().is_some_and(|e| e.contains("500 ms")), "{}", attempts[0]);
    assert_eq!(attempts.last().map(|a| a["httpStatus"].clone()), Some(json!(200)));
    assert_eq!(deliveries[0]["status"], "delivered");
}

#[tokio::test]
async fn attempts_stop_at_the_limit_and_the_transfer_stays_pollable() {
    let (sb, rx) = with_receiver(vec![(503, 0); 10], |c| c.webhook_max_attempts = 3).await;
    let t = finish(&sb, "ord-down", json!({"outcome": "failed"})).await;
    let deliveries = settled_deliveries(&sb, 2).await;
    for d in &deliveries {
        assert_eq!(d["status"], "failed");
        assert_eq!(d["attempts"].as_array().map(Vec::len), Some(3));
    }
    assert_eq!(rx.hits().len(), 6);
    let polled = poll(&sb, t["id"].as_str().expect("id")).await;
    assert_eq!(polled["status"], "failed");
    assert!(polled["hash"].is_null());
}

#[tokio::test]
async fn dropped_webhooks_are_recorded_never_sent_and_the_transfer_is_still_visible() {
    let (sb, rx) = with_receiver(vec![], |_| {}).await;
    let t = finish(&sb, "ord-drop", json!({"outcome": "succeeded", "webhooks": {"drop": true}})).await;
    let deliveries = get_json(&sb, "/sandbox/webhooks").await;
    let deliveries = deliveries.as_array().expect("array");
    assert_eq!(deliveries.len(), 2);
    for d in deliveries {
        assert_eq!(d["status"], "dropped");
        assert!(d["attempts"].as_array().is_some_and(Vec::is_empty));
        assert_eq!(d["transferId"], t["id"]);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(rx.hits().is_empty());
    // Reconciliation finds it by transactionId.
    let r = api(&http(), Method::GET, sb.url("/api/v1/transfers/managed/mesh?ClientTransactionId=ord-drop"))
        .send()
        .await
        .expect("poll");
    let v = json_of(r).await;
    assert_eq!(v["content"]["total"], 1);
    assert_eq!(v["content"]["items"][0]["status"], "succeeded");

    // The run-wide knob does the same.
    let r = control(&sb, "/sandbox/config", json!({"dropRate": 1.0})).await;
    assert_eq!(json_of(r).await["dropRate"], 1.0);
    finish(&sb, "ord-drop-2", json!({"outcome": "failed"})).await;
    let all = get_json(&sb, "/sandbox/webhooks?transactionId=ord-drop-2").await;
    assert!(all.as_array().is_some_and(|a| a.len() == 2 && a.iter().all(|d| d["status"] == "dropped")));
}

#[tokio::test]
async fn duplicates_repeat_the_event_id_with_new_ids() {
    let (sb, rx) = with_receiver(vec![], |_| {}).await;
    finish(&sb, "ord-dup", json!({"outcome": "succeeded", "webhooks": {"duplicates": 1}})).await;
    let hits = rx.wait_for(4).await;
    let bodies: Vec<Value> = hits.iter().map(Hit::json).collect();
    let statuses: Vec<&str> = bodies.iter().map(|b| b["TransferStatus"].as_str().expect("status")).collect();
    assert_eq!(statuses, ["Pending", "Pending", "Succeeded", "Succeeded"]);
    assert_eq!(bodies[0]["EventId"], bodies[1]["EventId"]);
    assert_eq!(bodies[2]["EventId"], bodies[3]["EventId"]);
    assert_ne!(bodies[0]["Id"], bodies[1]["Id"]);
    assert_ne!(bodies[2]["Id"], bodies[3]["Id"]);
    let deliveries = settled_deliveries(&sb, 4).await;
    assert_eq!(deliveries.iter().filter(|d| d["duplicate"] == true).count(), 2);
}

#[tokio::test]
async fn reverse_sends_the_terminal_event_first() {
    let (sb, rx) = with_receiver(vec![], |_| {}).await;
    finish(&sb, "ord-rev", json!({"outcome": "succeeded", "webhooks": {"reverse": true}})).await;
    let hits = rx.wait_for(2).await;
    assert_eq!(hits[0].json()["TransferStatus"], "Succeeded");
    assert_eq!(hits[1].json()["TransferStatus"], "Pending");
    assert!(hits[1].json()["TxHash"].is_null(), "the late Pending describes the pending state");
}

#[tokio::test]
async fn pending_then_settled_later_and_terminal_states_never_revert() {
    let (sb, rx) = with_receiver(vec![], |_| {}).await;
    let t = finish(&sb, "ord-later", json!({"outcome": "pending"})).await;
    let id = t["id"].as_str().expect("id");
    assert_eq!(t["status"], "pending");
    assert!(t["hash"].is_null());
    assert!(t["executedTimestamp"].is_null());
    rx.wait_for(1).await;

    let r = control(&sb, &format!("/sandbox/transfers/{id}/outcome"), json!({"outcome": "succeeded"})).await;
    assert_eq!(r.status(), 200);
    let settled = json_of(r).await;
    assert_eq!(settled["status"], "succeeded");
    let hits = rx.wait_for(2).await;
    assert_eq!(hits[1].json()["TransferStatus"], "Succeeded");
    assert_eq!(hits[1].json()["TxHash"], settled["hash"]);

    for outcome in ["failed", "pending", "succeeded"] {
        let r = control(&sb, &format!("/sandbox/transfers/{id}/outcome"), json!({"outcome": outcome})).await;
        assert_eq!(r.status(), 409, "{outcome}");
        assert_eq!(json_of(r).await["code"], "invalid_transition");
    }
    assert_eq!(poll(&sb, id).await["status"], "succeeded");
    let r =
        control(&sb, "/sandbox/transfers/00000000-0000-4000-8000-000000000000/outcome", json!({"outcome": "failed"}))
            .await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn settle_after_keeps_the_transfer_pending_for_a_while() {
    let (sb, rx) = with_receiver(vec![], |_| {}).await;
    let t = finish(&sb, "ord-settle", json!({"outcome": "failed", "settleAfterMs": 300})).await;
    let id = t["id"].as_str().expect("id");
    assert_eq!(t["status"], "pending");
    assert_eq!(poll(&sb, id).await["status"], "pending");
    let hits = rx.wait_for(2).await;
    assert_eq!(hits[0].json()["TransferStatus"], "Pending");
    assert_eq!(hits[1].json()["TransferStatus"], "Failed");
    assert_eq!(poll(&sb, id).await["status"], "failed");
}

#[tokio::test]
async fn without_a_webhook_url_deliveries_are_skipped_until_one_is_configured() {
    let sb = sandbox(config()).await;
    finish(&sb, "ord-nourl", json!({"outcome": "succeeded"})).await;
    let deliveries = settled_deliveries(&sb, 2).await;
    assert!(deliveries.iter().all(|d| d["status"] == "skipped"));

    let rx = receiver(vec![]).await;
    let r = control(&sb, "/sandbox/config", json!({"webhookUrl": rx.url, "webhookSecret": "rotated"})).await;
    assert_eq!(r.status(), 200);
    finish(&sb, "ord-url", json!({"outcome": "succeeded"})).await;
    let hits = rx.wait_for(2).await;
    for hit in hits {
        assert!(verifies("rotated", &hit.body, hit.signature.as_deref().expect("sig")));
    }
    let r = control(&sb, "/sandbox/config", json!({"webhookUrl": "not a url"})).await;
    assert_eq!(r.status(), 400);
    assert_eq!(json_of(r).await["code"], "invalid_field");
}
