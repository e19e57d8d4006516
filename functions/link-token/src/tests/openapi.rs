//! The OpenAPI document (`openapi.json`) against what the function serves: routes, schemas, codes.

use super::*;
use crate::error::ApiError;
use crate::routes::ROUTES;
use shared::domain::checkout::ReviewFlag;
use std::collections::BTreeSet;

fn doc() -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{}/openapi.json", env!("CARGO_MANIFEST_DIR"))).unwrap())
        .unwrap()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn routes_match_the_document() {
    let doc = doc();
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| ops.as_object().unwrap().keys().map(move |m| (m.to_uppercase(), path.clone())))
        .collect();
    let served: BTreeSet<(String, String)> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(documented, served);
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let w = world().await;
    for (method, path) in ROUTES {
        let concrete = path.replace("{transactionId}", "txn_x").replace("{checkoutId}", "chk_x");
        let e = if path.starts_with("/checkouts") {
            let body = (*method == "POST" && *path == "/checkouts")
                .then(|| json!({"orderId": "o-1", "amountInFiat": 5, "userId": "u1"}));
            let query = if *method == "GET" && *path == "/checkouts" { "?orderId=o-1" } else { "" };
            merchant_event(method, &format!("{concrete}{query}"), body)
        } else {
            let mut e = fixture("link-token-list-transfers.json");
            e["rawPath"] = json!(concrete);
            e["rawQueryString"] = json!("");
            e["queryStringParameters"] = json!({});
            e["requestContext"]["http"]["method"] = json!(method);
            e
        };
        let (status, body, _) = call(&w.service, &e).await;
        assert_ne!(body["code"], "route_not_found", "{method} {path}");
        assert!([200, 201, 404].contains(&status), "{method} {path}: {status} {body}");
    }
}

#[test]
fn request_schema_is_exactly_the_accepted_body() {
    let full = crate::link::LinkTokenBody {
        amount_in_fiat: Some(1.into()),
        symbol: Some("s".into()),
        network: Some("n".into()),
        integration_id: Some("i".into()),
        paylink: Some(true),
        order_id: Some("o".into()),
        checkout_id: Some("c".into()),
    };
    let doc = doc();
    let schema = &doc["components"]["schemas"]["LinkTokenRequest"];
    assert_eq!(keys(&schema["properties"]), keys(&serde_json::to_value(full).unwrap()));
    assert_eq!(schema["additionalProperties"], false);
    let schema = &doc["components"]["schemas"]["CheckoutRequest"];
    let accepted: BTreeSet<String> = crate::checkout_body::FIELDS.iter().map(|f| f.to_string()).collect();
    assert_eq!(keys(&schema["properties"]), accepted);
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(schema["required"], json!(["orderId", "amountInFiat", "userId"]));
}

#[test]
fn response_schemas_match_what_is_sent() {
    let doc = doc();
    let minted = crate::service::Minted {
        transaction_id: "t".into(),
        link_token: "l".into(),
        payment_link: Some("p".into()),
        expires_at: 1,
    };
    let schema = &doc["components"]["schemas"]["LinkToken"];
    assert_eq!(keys(&schema["properties"]), keys(&serde_json::to_value(minted).unwrap()));

    let mut record = shared::domain::transfer::TransferRecord::created(
        shared::domain::ids::TransactionId::generate(),
        shared::domain::ids::UserId::parse("u").unwrap(),
        1,
    );
    record.refund = Some(shared::domain::transfer::RefundStatus::Pending);
    record.order_id = Some("o".into());
    record.expected_amount_fiat = Some(1.into());
    record.offered = vec![shared::domain::transfer::OfferedDestination {
        symbol: "s".into(),
        network_id: "i".into(),
        network_name: "n".into(),
        address: "a".into(),
    }];
    record.received = Some(Default::default());
    record.tx_hash = Some("h".into());
    record.mismatches = vec![shared::domain::transfer::Mismatch::Token];
    record.conflict = Some(shared::domain::transfer::Conflict {
        reported: shared::domain::transfer::TransferStatus::Failed,
        flagged_at: 2,
    });
    record.received = Some(shared::domain::transfer::Received {
        amount: Some(1.into()),
        token: Some("t".into()),
        chain: Some("c".into()),
        address: Some("a".into()),
        amount_in_fiat: Some(1.into()),
    });
    let checkout = checkout_record();
    let summary = crate::view::CheckoutSummary::from(&checkout);
    let view = serde_json::to_value(crate::view::TransferView::new(record, Some(summary))).unwrap();
    let schema = &doc["components"]["schemas"]["Transfer"];
    assert_eq!(keys(&doc["components"]["schemas"]["Received"]["properties"]), keys(&view["received"]));
    assert_eq!(keys(&doc["components"]["schemas"]["CheckoutSummary"]["properties"]), keys(&view["checkout"]));
    let statuses: Vec<Value> =
        shared::domain::transfer::TransferStatus::ALL.iter().map(|s| json!(s.as_str())).collect();
    assert_eq!(schema["properties"]["status"]["enum"], json!(statuses));
    let checkout_statuses: Vec<Value> =
        shared::domain::checkout::CheckoutStatus::ALL.iter().map(|s| json!(s.as_str())).collect();
    assert_eq!(doc["components"]["schemas"]["CheckoutStatus"]["enum"], json!(checkout_statuses));
    let checkout_view = serde_json::to_value(crate::view::CheckoutView::from(checkout)).unwrap();
    let checkout_schema = &doc["components"]["schemas"]["Checkout"];
    assert_eq!(keys(&checkout_schema["properties"]), keys(&checkout_view));
    assert_eq!(keys(&checkout_schema["properties"]).len(), checkout_schema["required"].as_array().unwrap().len());
    let flags: Vec<Value> = ReviewFlag::ALL.iter().map(|f| serde_json::to_value(f).unwrap()).collect();
    assert_eq!(checkout_schema["properties"]["flags"]["items"]["enum"], json!(flags));
    assert_eq!(keys(&schema["properties"]), keys(&view));
    assert_eq!(keys(&doc["components"]["schemas"]["Destination"]["properties"]), keys(&view["offered"][0]));
    assert_eq!(keys(&schema["properties"]["conflict"]["properties"]), keys(&view["conflict"]));
    assert_eq!(
        schema["properties"]["conflict"]["properties"]["reportedStatus"]["enum"],
        json!(["succeeded", "failed"])
    );
}

/// A checkout with every optional part set.
fn checkout_record() -> shared::domain::checkout::CheckoutRecord {
    use shared::domain::ids::{CheckoutId, OrderId, TransactionId, UserId};
    let new = shared::domain::checkout::NewCheckout {
        order_id: OrderId::parse("o").unwrap(),
        shopper: UserId::parse("u").unwrap(),
        amount_in_fiat: 1.into(),
        currency: "USD".into(),
        assets: vec!["USDC".into()],
        metadata: [("k".to_string(), "v".to_string())].into(),
        expires_in_ms: 1,
    };
    let mut c = shared::domain::checkout::CheckoutRecord::open(CheckoutId::generate(), new, 1);
    c.attempts = vec![TransactionId::generate()];
    c.settled_by = Some(c.attempts[0].clone());
    c.received_in_fiat = Some(1.into());
    c.closed_at = Some(2);
    c.flags = vec![ReviewFlag::Late];
    c
}

#[test]
fn every_error_code_is_documented() {
    let documented: BTreeSet<String> = doc()["components"]["schemas"]["Error"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let sent: BTreeSet<String> = ApiError::CODES.iter().map(|c| c.to_string()).collect();
    assert_eq!(documented, sent);
    for e in [
        ApiError::Unauthenticated,
        ApiError::InProgress,
        ApiError::KeyReused,
        ApiError::Link(crate::link::LinkError::UnknownSymbol),
        ApiError::MeshRejected("x".into()),
        ApiError::MerchantOnly,
        ApiError::OrderConflict,
        ApiError::CheckoutClosed("canceled"),
        ApiError::TooManyAttempts(1),
        ApiError::PaymentReceived,
        ApiError::InvalidPrice { max: 1.into() },
        ApiError::UnknownAsset("x".into()),
        ApiError::UnsupportedCurrency,
        ApiError::MissingField("orderId"),
        ApiError::Link(crate::link::LinkError::SetByCheckout("orderId")),
        ApiError::Link(crate::link::LinkError::CheckoutRequired),
        ApiError::Link(crate::link::LinkError::CheckoutNotAllowed),
    ] {
        assert!(sent.contains(e.code()), "{}", e.code());
    }
}
