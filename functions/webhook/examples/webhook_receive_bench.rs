//! `make bench`: the webhook's own handling time without DynamoDB: signature check, parsing, planning
//! and the in-memory store, for N signed deliveries with 10 % duplicates. Prints p50/p99/max and checks
//! that every event was applied exactly once.
//!
//!   cargo run --release -p webhook --example webhook_receive_bench -- [N]

use shared::domain::ids::{TransactionId, UserId};
use shared::domain::report::Outcome;
use shared::domain::transfer::{TransferRecord, TransferStatus};
use shared::mesh::signature::sign;
use shared::runtime::secrets::MeshSecrets;
use shared::storage::{MemoryTransferStore, TransferStore};
use std::sync::Arc;
use std::time::Instant;
use webhook::receive::{Delivery, FixedKeys, WebhookSettings, receive};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let secret = r#"{"clientId":"c","clientSecret":"s","webhookSecret":"bench-secret"}"#;
    let keys = FixedKeys(Arc::new(MeshSecrets::parse(secret).unwrap()));
    let store = MemoryTransferStore::default();
    let settings = WebhookSettings::default();
    let now = shared::domain::time::now_millis();

    // n / 2 transfers, each with a Pending and a Succeeded event; every tenth delivery is a retry.
    let mut bodies = Vec::with_capacity(n + n / 10);
    for i in 0..n / 2 {
        let tx = TransactionId::generate();
        store.create(&TransferRecord::created(tx.clone(), UserId::parse("bench").unwrap(), now)).await.unwrap();
        for (k, status) in ["Pending", "Succeeded"].iter().enumerate() {
            let body = serde_json::json!({
                "Id": format!("attempt-{i}-{k}"), "EventId": format!("evt-{i}-{k}"), "SentTimestamp": now / 1000,
                "TransferId": format!("tr-{i}"), "TransactionId": tx.as_str(), "UserId": "bench",
                "TransferStatus": status, "TxHash": "0xabc", "Chain": "Base", "Token": "USDC",
                "SourceAccountProvider": "Coinbase", "SourceAmount": 10.05, "DestinationAmount": 10.0,
                "DestinationAddress": "0x1111111111111111111111111111111111111111", "RefundAddress": null,
                "Timestamp": now + k as i64
            });
            bodies.push(serde_json::to_vec(&body).unwrap());
        }
    }
    let unique = bodies.len();
    for i in (0..unique).step_by(10) {
        bodies.push(bodies[i].clone());
    }
    let signed: Vec<(Vec<u8>, String)> = bodies
        .into_iter()
        .map(|b| {
            let s = sign("bench-secret", &b);
            (b, s)
        })
        .collect();

    let mut micros = Vec::with_capacity(signed.len());
    let (mut applied, mut duplicates) = (0, 0);
    for (body, sig) in &signed {
        let delivery = Delivery { method: "POST", body, signature: Some(sig.as_bytes()), source_ip: None };
        let started = Instant::now();
        let accepted = receive(&store, &keys, &settings, delivery, now).await.unwrap();
        micros.push(started.elapsed().as_secs_f64() * 1e6);
        match accepted.outcome {
            Outcome::Applied => applied += 1,
            Outcome::Duplicate => duplicates += 1,
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    micros.sort_by(f64::total_cmp);
    let all_succeeded = {
        let mut ok = true;
        for r in store.list_open(i64::MAX, usize::MAX).await.unwrap() {
            ok &= r.status == TransferStatus::Succeeded;
        }
        ok
    };
    println!(
        "webhook receive (no DynamoDB): deliveries={} unique={} applied={} duplicates={} p50_us={:.1} p99_us={:.1} max_us={:.1} exactly_once={}",
        signed.len(),
        unique,
        applied,
        duplicates,
        percentile(&micros, 0.50),
        percentile(&micros, 0.99),
        micros[micros.len() - 1],
        applied == unique && duplicates == signed.len() - unique && all_succeeded
    );
}
