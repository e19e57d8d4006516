//! The body of `POST /link-tokens`, as the route reads it, then checked and built into the Mesh
//! request as the service does. Nothing panics; a refused body is a 400 with a stable code; an
//! accepted one is a JSON object (or nothing) with only the documented fields, survives a round trip,
//! and whatever it says, the Mesh request pays only to configured destinations under the server's
//! transaction id.
#![no_main]

use libfuzzer_sys::fuzz_target;
use link_token::link::{LinkPolicy, LinkTokenBody, ResolvedDestination, build, select, validate};
use link_token::routes::parse_body;
use rust_decimal::Decimal;
use serde_json::Value;
use shared::domain::ids::{TransactionId, UserId};
use std::sync::OnceLock;

const FIELDS: [&str; 6] = ["amountInFiat", "symbol", "network", "integrationId", "paylink", "orderId"];

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

/// Issue 17, defect 4: serde's derived deserializer reads a JSON array positionally
/// (`[10000,"ETH","Ethereum"]` is accepted), and `amountInFiat` is accepted as a string (`"25"`).
/// Until the fix is merged such bodies are reported once and skipped; after it, delete this.
fn known_defect_4(value: &Value) -> bool {
    static ARRAY: OnceLock<()> = OnceLock::new();
    static STRING_AMOUNT: OnceLock<()> = OnceLock::new();
    match value {
        Value::Array(_) => {
            fuzz_support::skip_known_defect(&ARRAY, "issue 17 defect 4, a JSON array accepted as a body")
        }
        Value::Object(fields) if fields.get("amountInFiat").is_some_and(Value::is_string) => {
            fuzz_support::skip_known_defect(&STRING_AMOUNT, "issue 17 defect 4, amountInFiat accepted as a string")
        }
        _ => false,
    }
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
        if known_defect_4(&value) {
            return;
        }
        let Value::Object(fields) = &value else { panic!("accepted a body that is not an object: {value}") };
        assert!(fields.keys().all(|k| FIELDS.contains(&k.as_str())), "accepted an unknown field: {value}");
        if let Some(amount) = fields.get("amountInFiat") {
            assert!(amount.is_number() || amount.is_null(), "accepted amountInFiat {amount}");
        }
    }
    let again = parse_body(&serde_json::to_vec(&body).expect("serializable")).expect("a body we wrote is accepted");
    assert_eq!(again, body, "the body changed in a round trip");

    let policy = LinkPolicy::default();
    if validate(&body, &policy).is_err() {
        return;
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
