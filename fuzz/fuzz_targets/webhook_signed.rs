//! The webhook past its signature check: the input is up to eight bodies (split at byte 0xFF, which
//! no UTF-8 text contains), each signed with the fixed test key and delivered in turn to one store,
//! so the parser, the ingest plan and the in-memory store see sequences (retries, reorderings,
//! conflicts). A chunk starting with 0xFE is not a body but the fields of one, written as JSON here:
//! byte mutations of JSON text rarely keep it a readable event, these always do (any status, any
//! i64 time, ids that repeat). Before each, the same body with a forged signature must be refused and change nothing.
//! Every accepted delivery must keep the store's rule (`MemorySnapshot::check_step`): a terminal
//! status never changes, the rank never decreases, each event id applies once.
#![no_main]

use fuzz_support::{WEBHOOK_SECRET, check_delivery, deliver};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use shared::mesh::signature::sign;
use webhook::receive::{Delivery, MAX_BODY_BYTES, WebhookError};

/// A readable event from the fuzzer's bytes: few event and transfer ids (so they repeat), our two
/// transactions or none of ours, any status, any times and amounts.
fn event(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    let transaction = *u.choose(&[fuzz_support::OPEN_TXN, fuzz_support::SETTLED_TXN, "txn_nobody"])?;
    let status =
        *u.choose(&["Pending", "Succeeded", "Failed", "RefundPending", "RefundSucceeded", "failed", "Exploded"])?;
    let body = serde_json::json!({
        "Id": format!("attempt-{}", u.arbitrary::<u8>()?),
        "EventId": format!("evt-{}", u.int_in_range(0..=3u8)?),
        "TransferId": format!("tr-{}", u.int_in_range(0..=1u8)?),
        "TransactionId": transaction,
        "TransferStatus": status,
        "Timestamp": u.arbitrary::<Option<i64>>()?,
        "SentTimestamp": u.arbitrary::<Option<i64>>()?,
        "DestinationAmount": u.arbitrary::<Option<f64>>()?,
        "Token": *u.choose(&["USDC", "usdc", "ETH"])?,
        "Chain": *u.choose(&["Base", "Solana"])?,
        "DestinationAddress": *u.choose(&["0x1111111111111111111111111111111111111111", "0x2222"])?,
        "UserId": *u.choose(&["user-7f3a9c", "someone-else", ""])?,
    });
    Ok(serde_json::to_vec(&body).expect("JSON"))
}

fuzz_target!(|data: &[u8]| {
    let store = fuzz_support::store();
    let settings = fuzz_support::settings(false);
    for chunk in data.split(|b| *b == 0xFF).take(8) {
        let built;
        let body = match chunk.split_first() {
            Some((0xFE, fields)) => {
                built = event(&mut Unstructured::new(fields)).unwrap_or_default();
                &built[..]
            }
            _ => chunk,
        };
        let forged = sign("not-the-webhook-secret", body);
        let delivery = Delivery { method: "POST", body, signature: Some(forged.as_bytes()), source_ip: None };
        let (before, result, after) = deliver(&store, &settings, delivery);
        assert!(matches!(result, Err(WebhookError::Signature(_))), "a forged signature got {result:?}");
        check_delivery(&before, &result, &after, body);

        let signature = sign(WEBHOOK_SECRET, body);
        let delivery = Delivery { method: "POST", body, signature: Some(signature.as_bytes()), source_ip: None };
        let (before, result, after) = deliver(&store, &settings, delivery);
        if body.len() > MAX_BODY_BYTES {
            assert!(matches!(result, Err(WebhookError::PayloadTooLarge)), "{result:?}");
        } else {
            assert!(result.is_ok(), "a correctly signed delivery was refused: {result:?}");
        }
        check_delivery(&before, &result, &after, body);
    }
});
