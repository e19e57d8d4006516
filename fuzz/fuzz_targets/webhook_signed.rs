//! The webhook past its signature check: the input is up to eight bodies (split at byte 0xFF, which
//! no UTF-8 text contains), each signed with the fixed test key and delivered in turn to one store,
//! so the parser, the ingest plan and the in-memory store see sequences (retries, reorderings,
//! conflicts). Before each, the same body with a forged signature must be refused and change nothing.
//! Every accepted delivery must keep the store's rule (`MemorySnapshot::check_step`): a terminal
//! status never changes, the rank never decreases, each event id applies once.
#![no_main]

use fuzz_support::{WEBHOOK_SECRET, check_delivery, deliver};
use libfuzzer_sys::fuzz_target;
use shared::mesh::signature::sign;
use webhook::receive::{Delivery, MAX_BODY_BYTES, WebhookError};

fuzz_target!(|data: &[u8]| {
    let store = fuzz_support::store();
    let settings = fuzz_support::settings(false);
    for body in data.split(|b| *b == 0xFF).take(8) {
        if fuzz_support::known_defect_3_extreme_timestamp(body) {
            continue;
        }
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
