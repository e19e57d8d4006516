//! A function-URL request in, one delivery to `receive`, Mesh's answer out: 200 once the event is
//! durable (or known), a JSON error with a stable `code` otherwise.

use crate::receive::{Accepted, Delivery, WebhookError, WebhookKeys, WebhookSettings, receive};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use shared::runtime::app::Deps;
use shared::storage::{CheckoutStore, TransferStore};
use std::sync::Arc;

/// Serves deliveries until the runtime stops: what a cold start built, shared by every invocation, and
/// the invocation's metrics flushed after each.
pub async fn serve(deps: Deps, settings: WebhookSettings) -> Result<(), lambda_http::Error> {
    let built = Arc::new((deps, settings));
    lambda_http::run(lambda_http::service_fn(move |request| {
        let built = built.clone();
        async move {
            let (deps, settings) = built.as_ref();
            let response = handle(&deps.store, &deps.secrets, settings, request).await;
            shared::runtime::metrics::flush();
            response
        }
    }))
    .await
}

/// Maps a function-URL request to one delivery and the result to Mesh's answer: 200 once the event
/// is durable (or known), a JSON error with a stable `code` otherwise. Logs carry ids, never the
/// body or the signature.
pub async fn handle<S: TransferStore + CheckoutStore, K: WebhookKeys>(
    store: &S,
    keys: &K,
    settings: &WebhookSettings,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let source_ip = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
        _ => None,
    };
    let delivery = Delivery {
        method: request.method().as_str(),
        body: request.body().as_ref(),
        signature: request.headers().get(shared::mesh::signature::HEADER).map(|v| v.as_bytes()),
        source_ip: source_ip.as_deref(),
    };
    let result = receive(store, keys, settings, delivery, shared::domain::time::now_millis()).await;
    Ok(respond(result))
}

fn respond(result: Result<Accepted, WebhookError>) -> Response<Body> {
    match result {
        Ok(a) => {
            tracing::info!(
                outcome = a.outcome.as_str(),
                event_id = a.event_id.as_deref(),
                transfer_id = a.transfer_id.as_deref(),
                transaction_id = a.transaction_id.as_deref(),
                mismatches = a.mismatches,
                "webhook accepted"
            );
            metrics::counter!("WebhookEvents", "Outcome" => a.outcome.as_str()).increment(1);
            if a.mismatches > 0 {
                tracing::warn!(event_id = a.event_id.as_deref(), "received differs from what was offered");
                metrics::counter!("AmountOrDestinationMismatches").increment(1);
            }
            if a.outside_replay_window {
                tracing::warn!(event_id = a.event_id.as_deref(), "signed send time outside the replay window");
                metrics::counter!("WebhookOutsideReplayWindow").increment(1);
            }
            json(200, serde_json::json!({ "outcome": a.outcome.as_str() }))
        }
        // Mesh only POSTs: a GET or HEAD (a browser, a probe, `make dev`'s warm-up) is not a failed delivery,
        // so it gets its 405 (naming the one method served) without a warning or a `WebhookRejected` count.
        Err(e @ WebhookError::MethodNotAllowed) => {
            tracing::debug!("not a delivery: only POST is");
            let mut response = json(e.status(), serde_json::json!({ "code": e.code(), "message": e.public_message() }));
            response.headers_mut().insert("allow", lambda_http::http::HeaderValue::from_static("POST"));
            response
        }
        Err(e) => {
            if e.status() >= 500 {
                tracing::error!(code = e.code(), error = %e, "webhook not recorded; Mesh will retry");
            } else {
                tracing::warn!(code = e.code(), "webhook rejected");
            }
            metrics::counter!("WebhookRejected", "Reason" => e.code()).increment(1);
            json(e.status(), serde_json::json!({ "code": e.code(), "message": e.public_message() }))
        }
    }
}

fn json(status: u16, body: serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap_or_else(|_| Response::new(Body::Empty))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receive::FixedKeys;
    use shared::domain::ids::{TransactionId, UserId};
    use shared::domain::transfer::{TransferRecord, TransferStatus};
    use shared::runtime::secrets::MeshSecrets;
    use shared::storage::MemoryTransferStore;
    use std::sync::Arc;

    fn keys() -> FixedKeys {
        let json = r#"{"clientId":"c","clientSecret":"s","webhookSecret":"sandbox-webhook-secret"}"#;
        FixedKeys(Arc::new(MeshSecrets::parse(json).unwrap()))
    }

    async fn store_with_fixture_transfer() -> MemoryTransferStore {
        let store = MemoryTransferStore::default();
        let id = TransactionId::parse("txn_0f8e2c4b9a1d4e6f8a2b3c4d5e6f7a8b").unwrap();
        store.create(&TransferRecord::created(id, UserId::parse("user-7f3a9c").unwrap(), 1)).await.unwrap();
        store
    }

    fn fixture(name: &str) -> Request {
        let path = format!("{}/../../events/local/{name}", env!("CARGO_MANIFEST_DIR"));
        lambda_http::request::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    async fn call(store: &MemoryTransferStore, request: Request) -> (u16, serde_json::Value) {
        let response = handle(store, &keys(), &WebhookSettings::default(), request).await.unwrap();
        let status = response.status().as_u16();
        (status, serde_json::from_slice(response.body().as_ref()).unwrap())
    }

    #[tokio::test]
    async fn the_signed_fixture_is_applied_once() {
        let store = store_with_fixture_transfer().await;
        let (status, body) = call(&store, fixture("webhook-succeeded.json")).await;
        assert_eq!((status, body["outcome"].as_str()), (200, Some("applied")));
        let (status, body) = call(&store, fixture("webhook-succeeded.json")).await;
        assert_eq!((status, body["outcome"].as_str()), (200, Some("duplicate")));
        let id = TransactionId::parse("txn_0f8e2c4b9a1d4e6f8a2b3c4d5e6f7a8b").unwrap();
        assert_eq!(store.get(&id).await.unwrap().unwrap().status, TransferStatus::Succeeded);
    }

    #[tokio::test]
    async fn a_base64_encoded_body_is_verified_over_the_decoded_bytes() {
        let store = store_with_fixture_transfer().await;
        let (status, body) = call(&store, fixture("webhook-succeeded-base64.json")).await;
        assert_eq!((status, body["outcome"].as_str()), (200, Some("applied")), "{body}");
    }

    #[tokio::test]
    async fn a_tampered_body_is_refused_with_a_stable_code_and_no_echo() {
        let store = store_with_fixture_transfer().await;
        let mut event: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(format!(
                "{}/../../events/local/webhook-succeeded.json",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap(),
        )
        .unwrap();
        let tampered = event["body"].as_str().unwrap().replace("49.99", "4999.99");
        event["body"] = serde_json::json!(tampered);
        let (status, body) = call(&store, lambda_http::request::from_str(&event.to_string()).unwrap()).await;
        assert_eq!((status, body["code"].as_str()), (401, Some("signature_mismatch")));
        assert!(!body.to_string().contains("4999"));
        let mut get = fixture("webhook-succeeded.json");
        *get.method_mut() = lambda_http::http::Method::GET;
        assert_eq!(call(&store, get).await.0, 405);
    }

    #[tokio::test]
    async fn a_405_names_the_one_method_accepted() {
        let store = store_with_fixture_transfer().await;
        for method in [lambda_http::http::Method::GET, lambda_http::http::Method::PUT, lambda_http::http::Method::HEAD]
        {
            let mut request = fixture("webhook-succeeded.json");
            *request.method_mut() = method.clone();
            let response = handle(&store, &keys(), &WebhookSettings::default(), request).await.unwrap();
            assert_eq!(response.status(), 405, "{method}");
            assert_eq!(response.headers().get("allow").map(|v| v.as_bytes()), Some(&b"POST"[..]), "{method}");
        }
    }

    #[derive(Clone, Default)]
    struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    /// One global subscriber for this test binary: a thread-scoped one races with the callsite
    /// interest cache when other tests log on other threads. Every test's logs land here, so the
    /// "nothing leaked" assertions below cover them all.
    fn capture() -> &'static Captured {
        static CAPTURE: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
        CAPTURE.get_or_init(|| {
            let captured = Captured::default();
            let subscriber = shared::runtime::telemetry::json_subscriber(
                tracing_subscriber::filter::LevelFilter::DEBUG,
                captured.clone(),
            );
            tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber in this binary");
            captured
        })
    }

    #[tokio::test]
    async fn logs_carry_ids_and_outcome_but_no_secret_body_or_signature() {
        let captured = capture();
        let store = store_with_fixture_transfer().await;
        call(&store, fixture("webhook-succeeded.json")).await;
        call(&store, fixture("webhook-succeeded.json")).await;
        let mut tampered = fixture("webhook-succeeded.json");
        tampered.body_mut().clone_from(&Body::from("{\"EventId\":\"x\",\"DestinationAddress\":\"0xdead\"}"));
        call(&store, tampered).await;
        let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(logs.contains("c2d9a0b4-1f7e-4e0a-8c55-7e0d4b2a9f31"), "event id logged: {logs}");
        assert!(logs.contains("\"outcome\":\"applied\"") && logs.contains("\"outcome\":\"duplicate\""), "{logs}");
        assert!(logs.contains("signature_mismatch"), "{logs}");
        let mut get = fixture("webhook-succeeded.json");
        *get.method_mut() = lambda_http::http::Method::GET;
        assert_eq!(call(&store, get).await.0, 405);
        let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(logs.contains("not a delivery"), "{logs}");
        assert!(!logs.contains("method_not_allowed"), "a GET is not logged as a rejected delivery: {logs}");
        for forbidden in [
            "sandbox-webhook-secret",
            "r4apyYcDFHR2Cm4CYuYun2syTCAaUDeietAQjpM2t2s=",
            "0x1111111111111111111111111111111111111111",
            "0xdead",
            "49.99",
            "SourceAccountProvider",
        ] {
            assert!(!logs.contains(forbidden), "{forbidden} leaked into the logs: {logs}");
        }
    }
}
