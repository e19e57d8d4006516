//! The body of `POST /link-tokens`, as the route reads it, then checked (in the mode it is meant for)
//! and built into the Mesh request as the service does. Nothing panics; a refused body is a 400 with a stable code; an
//! accepted one is a JSON object (or nothing) with only the documented fields, its amount the number
//! as written (a JSON number, never a string or a float's rounding), and whatever it says, the Mesh
//! request pays only to configured destinations under the server's transaction id.
#![no_main]

use libfuzzer_sys::fuzz_target;
use link_token::body::parse as parse_body;
use link_token::link::{LinkPolicy, LinkTokenBody, ResolvedDestination, build, select, validate};
use rust_decimal::Decimal;
use serde_json::Value;
use serde_json::value::RawValue;
use shared::domain::ids::{TransactionId, UserId};
use shared::mesh::TransferType;
use std::collections::HashMap;

const FIELDS: [&str; 7] = ["amountInFiat", "symbol", "network", "integrationId", "paylink", "orderId", "checkoutId"];

fn destinations() -> Vec<ResolvedDestination> {
    [
        ("USDC", "aa883b03-120d-477c-a588-37c2afd3ca71", "Base", "0x1111111111111111111111111111111111111111"),
        ("USDC", "0291810a-5947-424d-9a59-e88bb33e999d", "Solana", "So11111111111111111111111111111111111111112"),
        ("ETH", "e3c7fdd8-b1fc-4e51-85ae-bb276e075611", "Ethereum", "0x2222222222222222222222222222222222222222"),
    ]
    .map(|(symbol, id, name, address)| ResolvedDestination {
        symbol: symbol.into(),
        network_id: id.into(),
        network_name: name.into(),
        address: address.into(),
    })
    .to_vec()
}

/// `amountInFiat` exactly as written in the body (`None` when absent, or not a number `Decimal` reads,
/// e.g. `0e4000001`: then there is nothing exact to compare with).
fn written_amount(data: &[u8]) -> Option<Decimal> {
    let fields: HashMap<String, &RawValue> = serde_json::from_slice(data).ok()?;
    let text = fields.get("amountInFiat")?.get();
    text.parse().or_else(|_| Decimal::from_scientific(text)).ok()
}

fuzz_target!(|data: &[u8]| {
    let body = match parse_body(data) {
        Ok(body) => body,
        Err(e) => {
            assert_eq!(e.status(), 400, "{e}");
            assert!(matches!(e.code(), "invalid_json" | "unknown_field" | "invalid_field"), "{}", e.code());
            return;
        }
    };
    if data.iter().all(u8::is_ascii_whitespace) {
        assert_eq!(body, LinkTokenBody::default());
    } else {
        let value: Value = serde_json::from_slice(data).expect("an accepted body is JSON");
        let Value::Object(fields) = &value else { panic!("accepted a body that is not an object: {value}") };
        assert!(fields.keys().all(|k| FIELDS.contains(&k.as_str())), "accepted an unknown field: {value}");
        if let Some(amount) = fields.get("amountInFiat") {
            assert!(amount.is_number(), "accepted amountInFiat {amount}");
            if let Some(written) = written_amount(data) {
                assert_eq!(body.amount_in_fiat, Some(written), "amountInFiat is not the number written");
            }
        }
    }
    // A body naming a checkout is checked as payment mode takes it (its price and order are the
    // checkout's), any other as deposit mode (the user's amount).
    let policy = match body.checkout_id {
        Some(_) => LinkPolicy::default(),
        None => LinkPolicy { transfer_type: TransferType::Deposit, ..LinkPolicy::default() },
    };
    if validate(&body, &policy).is_err() {
        return;
    }
    if body.checkout_id.is_some() {
        assert!(body.amount_in_fiat.is_none() && body.order_id.is_none(), "payment mode took a price or an order");
    }
    if let Some(amount) = body.amount_in_fiat {
        assert!(amount >= policy.min_amount_fiat && amount <= policy.max_amount_fiat, "{amount} passed");
        assert!(amount.normalize().scale() <= 2, "{amount} passed with more than 2 decimals");
    }
    let configured = destinations();
    let Ok(chosen) = select(&configured, body.symbol.as_deref(), body.network.as_deref()) else { return };
    let user = UserId::parse("user-7f3a9c").expect("a user id");
    let transaction = TransactionId::generate();
    let request = build(&user, &body, &chosen, &policy, &transaction);
    let options = request.transfer_options.expect("transfer options are always built");
    assert!(!options.to_addresses.is_empty(), "no destination");
    for to in &options.to_addresses {
        let known = configured
            .iter()
            .any(|d| (&d.symbol, &d.network_id, &d.address) == (&to.symbol, &to.network_id, &to.address));
        assert!(known && to.amount.is_none() && to.address_tag.is_none(), "the body steered a destination: {to:?}");
    }
    assert_eq!(options.transaction_id.as_deref(), Some(transaction.as_str()));
    assert_eq!(request.user_id, user.as_str());
    assert_eq!(options.amount_in_fiat, body.amount_in_fiat);
    assert_eq!(options.client_fee, None::<Decimal>);
});
