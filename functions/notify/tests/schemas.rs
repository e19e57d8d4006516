//! Every event type the domain can raise matches its JSON Schema in docs/events/, and the schemas are
//! strict enough to catch a payload that drifted (an amount as a number, a missing id, an unknown field).

mod common;

use common::validate_detail;
use shared::domain::checkout::{CheckoutRecord, CheckoutStatus, NewCheckout, ReviewFlag};
use shared::domain::ids::{CheckoutId, OrderId, TransactionId, UserId};
use shared::domain::settlement_event::{EventType, SettlementEvent, checkout_events, deposit_events};
use shared::domain::transfer::{Mismatch, OfferedDestination, Received, TransferRecord, TransferStatus};
use std::collections::BTreeMap;

fn checkout() -> CheckoutRecord {
    let new = NewCheckout {
        order_id: OrderId::parse("order-1001").unwrap(),
        shopper: UserId::parse("user-7f3a9c").unwrap(),
        amount_in_fiat: "49.99".parse().unwrap(),
        currency: "USD".into(),
        assets: vec!["USDC".into()],
        metadata: BTreeMap::from([("cart".to_string(), "c-42".to_string())]),
        expires_in_ms: 1_800_000,
    };
    let mut c = CheckoutRecord::open(CheckoutId::generate(), new, 1_764_385_200_000);
    c.attempts = vec![TransactionId::generate()];
    c
}

fn every_event() -> Vec<SettlementEvent> {
    let mut events = Vec::new();
    let open = checkout();
    for status in [CheckoutStatus::Paid, CheckoutStatus::Underpaid, CheckoutStatus::Overpaid] {
        let mut c = open.clone();
        c.status = status;
        c.settled_by = Some(c.attempts[0].clone());
        c.received_in_fiat = Some("12.5".parse().unwrap());
        c.closed_at = Some(1_764_385_290_000);
        c.flags = vec![ReviewFlag::WrongDestination, ReviewFlag::DoublePayment];
        events.extend(checkout_events(Some(&open), &c));
    }
    for status in [CheckoutStatus::Expired, CheckoutStatus::Canceled] {
        let mut c = open.clone();
        c.status = status;
        c.closed_at = Some(1_764_385_290_000);
        c.flags = vec![ReviewFlag::Late];
        events.extend(checkout_events(Some(&open), &c));
    }
    let mut unpriced = open.clone();
    unpriced.status = CheckoutStatus::Processing;
    unpriced.flags = vec![ReviewFlag::Unpriced];
    events.extend(checkout_events(Some(&open), &unpriced));
    for status in [TransferStatus::Succeeded, TransferStatus::Failed] {
        let mut t = TransferRecord::created(TransactionId::generate(), UserId::parse("user-1").unwrap(), 1);
        let before = t.clone();
        t.status = status;
        t.offered = vec![OfferedDestination {
            symbol: "USDC".into(),
            network_id: "id".into(),
            network_name: "Base".into(),
            address: "0x11".into(),
        }];
        t.received = Some(Received { amount: Some("1.5".parse().unwrap()), ..Received::default() });
        t.mismatches = vec![Mismatch::Token];
        events.extend(deposit_events(Some(&before), &t));
    }
    events
}

#[test]
fn every_event_type_is_raised_and_matches_its_schema() {
    let events = every_event();
    for kind in EventType::ALL {
        assert!(events.iter().any(|e| e.kind == kind), "{} is not covered", kind.as_str());
    }
    for e in &events {
        validate_detail(e.kind.as_str(), &serde_json::to_value(&e.detail).unwrap());
    }
}

/// The example each schema carries (what the README points to) is valid and has the shape the code
/// publishes: the same fields, the same nested fields.
#[test]
fn each_schema_s_example_is_valid_and_shaped_like_a_published_event() {
    fn keys(v: &serde_json::Value) -> Vec<String> {
        let mut out = Vec::new();
        for (k, inner) in v.as_object().unwrap() {
            out.push(k.clone());
            if let Some(o) = inner.as_object() {
                out.extend(o.keys().map(|n| format!("{k}.{n}")).filter(|_| k != "metadata"));
            }
        }
        out.sort();
        out
    }
    for e in every_event() {
        let path = shared::testkit::workspace_root().join(format!("docs/events/{}.schema.json", e.kind.as_str()));
        let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let example = &schema["examples"][0];
        validate_detail(e.kind.as_str(), example);
        let published = serde_json::to_value(&e.detail).unwrap();
        assert_eq!(keys(example), keys(&published), "{}", e.kind.as_str());
    }
}

#[test]
#[should_panic(expected = "does not match")]
fn an_amount_as_a_number_is_refused() {
    let e = &every_event()[0];
    let mut detail = serde_json::to_value(&e.detail).unwrap();
    detail["offered"]["amountInFiat"] = serde_json::json!(49.99);
    validate_detail(e.kind.as_str(), &detail);
}

#[test]
fn schemas_refuse_a_missing_id_or_an_unknown_field() {
    let e = &every_event()[0];
    for change in ["eventId", "surprise"] {
        let mut detail = serde_json::to_value(&e.detail).unwrap();
        match change {
            "eventId" => detail.as_object_mut().unwrap().remove("eventId"),
            _ => detail.as_object_mut().unwrap().insert("surprise".into(), serde_json::json!(1)),
        };
        let refused = std::panic::catch_unwind(|| validate_detail(e.kind.as_str(), &detail));
        assert!(refused.is_err(), "{change} accepted");
    }
}
