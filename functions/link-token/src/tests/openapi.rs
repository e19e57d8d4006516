//! The OpenAPI document (`openapi.json`) against what the function serves: routes, schemas, codes.

use super::*;
use crate::error::ApiError;
use crate::routes::ROUTES;
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
        let mut e = fixture("link-token-list-transfers.json");
        e["rawPath"] = json!(path.replace("{transactionId}", "txn_x"));
        e["rawQueryString"] = json!("");
        e["queryStringParameters"] = json!({});
        e["requestContext"]["http"]["method"] = json!(method);
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
    };
    let schema = &doc()["components"]["schemas"]["LinkTokenRequest"];
    assert_eq!(keys(&schema["properties"]), keys(&serde_json::to_value(full).unwrap()));
    assert_eq!(schema["additionalProperties"], false);
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
    let view = serde_json::to_value(crate::service::TransferView::from(record)).unwrap();
    let schema = &doc["components"]["schemas"]["Transfer"];
    assert_eq!(keys(&schema["properties"]), keys(&view));
    assert_eq!(keys(&doc["components"]["schemas"]["Destination"]["properties"]), keys(&view["offered"][0]));
    assert_eq!(keys(&schema["properties"]["conflict"]["properties"]), keys(&view["conflict"]));
    assert_eq!(
        schema["properties"]["conflict"]["properties"]["reportedStatus"]["enum"],
        json!(["succeeded", "failed"])
    );
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
    ] {
        assert!(sent.contains(e.code()), "{}", e.code());
    }
}
