//! The `POST /checkouts` body as `openapi.json` allows it: what the merchant's server prices and binds
//! to one order and one shopper. Read member by member like the link-token body (the amount exactly as
//! written, every refusal naming its field), then checked against the deployment: its destinations and
//! its largest amount.

use crate::body::{members, number, shown};
use crate::error::ApiError;
use crate::link::LinkError;
use rust_decimal::Decimal;
use serde_json::Value;
use serde_json::value::RawValue;
use shared::domain::checkout::NewCheckout;
use shared::domain::ids::{OrderId, UserId};
use shared::runtime::config::Destinations;
use std::collections::BTreeMap;
use std::ops::RangeInclusive;

/// Room for the largest metadata allowed (20 × (40 + 500) characters) and the rest.
pub const MAX_BODY_BYTES: usize = 32 * 1024;
/// 30 minutes: long enough to pay from an exchange, short enough that a price does not go stale.
pub const DEFAULT_EXPIRY_SECONDS: i64 = 1800;
pub const EXPIRY_SECONDS: RangeInclusive<i64> = 60..=86_400;
pub const MAX_METADATA_KEYS: usize = 20;
pub const MAX_METADATA_KEY_CHARS: usize = 40;
pub const MAX_METADATA_VALUE_CHARS: usize = 500;
/// The only currency Mesh's `amountInFiat` is in.
pub const CURRENCY: &str = "USD";

/// The properties of `CheckoutRequest` in `openapi.json`.
pub const FIELDS: [&str; 7] =
    ["orderId", "amountInFiat", "currency", "userId", "assets", "expiresInSeconds", "metadata"];

const PRICE: &str = "a decimal number of USD: a JSON number, or a string such as \"49.99\"";
const EXPIRY: &str = "a whole number of seconds from 60 to 86400";
const METADATA: &str = "an object of at most 20 string values, keys of 1 to 40 characters, values of at most 500";

/// Reads and checks the body. `max_amount`: the deployment's `MAX_AMOUNT_FIAT`.
pub fn parse(bytes: &[u8], destinations: &Destinations, max_amount: Decimal) -> Result<NewCheckout, ApiError> {
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::InvalidJson);
    }
    let (mut order, mut price, mut shopper) = (None, None, None);
    let mut assets = Vec::new();
    let mut metadata = BTreeMap::new();
    let mut expiry = DEFAULT_EXPIRY_SECONDS;
    for (field, raw) in members(bytes, &FIELDS)? {
        match field {
            "amountInFiat" => price = Some(read_price(&raw, max_amount)?),
            "orderId" => order = Some(OrderId::parse(text(field, &raw)?).map_err(|_| LinkError::InvalidOrderId)?),
            "currency" => {
                if text(field, &raw)? != CURRENCY {
                    return Err(ApiError::UnsupportedCurrency);
                }
            }
            "userId" => {
                let invalid =
                    ApiError::InvalidField { field, expected: "the shopper's id (their JWT's sub), 1-512 characters" };
                shopper = Some(text(field, &raw).ok().and_then(|s| valid_shopper(&s)).ok_or(invalid)?);
            }
            "assets" => assets = read_assets(&raw, destinations)?,
            "expiresInSeconds" => expiry = read_expiry(&raw)?,
            _ => metadata = read_metadata(&raw)?,
        }
    }
    Ok(NewCheckout {
        order_id: order.ok_or(ApiError::MissingField("orderId"))?,
        shopper: shopper.ok_or(ApiError::MissingField("userId"))?,
        amount_in_fiat: price.ok_or(ApiError::MissingField("amountInFiat"))?,
        currency: CURRENCY.into(),
        assets,
        metadata,
        expires_in_ms: expiry * 1000,
    })
}

/// A control character is never part of a real `sub`; anything else is as the identity provider wrote it.
fn valid_shopper(sub: &str) -> Option<UserId> {
    if sub.chars().any(char::is_control) {
        return None;
    }
    crate::auth::shopper_id(sub)
}

fn value(raw: &RawValue) -> Result<Value, ApiError> {
    serde_json::from_str(raw.get()).map_err(|_| ApiError::InvalidJson)
}

fn text(field: &'static str, raw: &RawValue) -> Result<String, ApiError> {
    match value(raw)? {
        Value::String(s) => Ok(s),
        _ => Err(ApiError::InvalidField { field, expected: "a string" }),
    }
}

/// The price: a JSON number read from its digits, or a string of plain decimal digits; more than 0, at
/// most `max`, at most 2 decimals.
fn read_price(raw: &RawValue, max: Decimal) -> Result<Decimal, ApiError> {
    let field = "amountInFiat";
    let price = match value(raw)? {
        Value::String(s) => {
            let plain = s.split_once('.').map_or(s.as_str(), |(whole, _)| whole);
            let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
            let fraction_ok = s.split_once('.').is_none_or(|(_, f)| digits(f));
            if !digits(plain) || !fraction_ok {
                return Err(ApiError::InvalidField { field, expected: PRICE });
            }
            s.parse::<Decimal>().map_err(|_| ApiError::InvalidField { field, expected: PRICE })?
        }
        _ => number(raw, field, PRICE)?,
    };
    if price <= Decimal::ZERO || price > max || price.normalize().scale() > 2 {
        return Err(ApiError::InvalidPrice { max });
    }
    Ok(price)
}

/// The symbols the shopper may pay with, as `DESTINATIONS` spells them, each once, in the order given.
fn read_assets(raw: &RawValue, destinations: &Destinations) -> Result<Vec<String>, ApiError> {
    let invalid = ApiError::InvalidField { field: "assets", expected: "an array of at most 20 symbols" };
    let Value::Array(items) = value(raw)? else { return Err(invalid) };
    if items.len() > 20 {
        return Err(invalid);
    }
    let mut assets: Vec<String> = Vec::new();
    for item in items {
        let Value::String(symbol) = item else { return Err(invalid) };
        let configured = destinations
            .as_slice()
            .iter()
            .find(|d| d.symbol.eq_ignore_ascii_case(symbol.trim()))
            .ok_or_else(|| ApiError::UnknownAsset(shown(&symbol)))?;
        if !assets.contains(&configured.symbol) {
            assets.push(configured.symbol.clone());
        }
    }
    Ok(assets)
}

fn read_expiry(raw: &RawValue) -> Result<i64, ApiError> {
    value(raw)?
        .as_i64()
        .filter(|s| EXPIRY_SECONDS.contains(s))
        .ok_or(ApiError::InvalidField { field: "expiresInSeconds", expected: EXPIRY })
}

fn read_metadata(raw: &RawValue) -> Result<BTreeMap<String, String>, ApiError> {
    let invalid = || ApiError::InvalidField { field: "metadata", expected: METADATA };
    let Value::Object(map) = value(raw)? else { return Err(invalid()) };
    if map.len() > MAX_METADATA_KEYS {
        return Err(invalid());
    }
    map.into_iter()
        .map(|(k, v)| match v {
            Value::String(v)
                if (1..=MAX_METADATA_KEY_CHARS).contains(&k.chars().count())
                    && v.chars().count() <= MAX_METADATA_VALUE_CHARS =>
            {
                Ok((k, v))
            }
            _ => Err(invalid()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn destinations() -> Destinations {
        Destinations::parse(
            r#"[{"symbol":"USDC","network":"Base","address":"0x1"},{"symbol":"ETH","network":"Ethereum","address":"0x2"}]"#,
        )
        .unwrap()
    }

    fn read(body: &str) -> Result<NewCheckout, ApiError> {
        parse(body.as_bytes(), &destinations(), Decimal::from(10_000))
    }

    #[test]
    fn a_full_body_is_read_exactly() {
        let c = read(
            r#"{"orderId": "order-1001", "amountInFiat": "49.99", "currency": "USD", "userId": "user-7f3a9c",
                "assets": ["usdc", "USDC"], "expiresInSeconds": 600, "metadata": {"cart": "42"}}"#,
        )
        .unwrap();
        assert_eq!(c.order_id.as_str(), "order-1001");
        assert_eq!(c.amount_in_fiat, "49.99".parse::<Decimal>().unwrap());
        assert_eq!((c.shopper.as_str(), c.currency.as_str()), ("user-7f3a9c", "USD"));
        assert_eq!(c.assets, vec!["USDC".to_string()], "as configured, once");
        assert_eq!(c.expires_in_ms, 600_000);
        assert_eq!(c.metadata.get("cart").map(String::as_str), Some("42"));
        let minimal = read(r#"{"orderId": "o", "amountInFiat": 9.9999999999999999, "userId": "u"}"#);
        assert!(matches!(minimal, Err(ApiError::InvalidPrice { .. })), "read as written, not rounded to 10");
        let minimal = read(r#"{"orderId": "o", "amountInFiat": 10, "userId": "u"}"#).unwrap();
        assert_eq!((minimal.expires_in_ms, minimal.assets.len()), (1_800_000, 0));
    }

    #[test]
    fn an_e_mail_as_user_id_is_the_id_its_jwt_maps_to() {
        let c = read(r#"{"orderId": "o", "amountInFiat": 10, "userId": "alice@example.com"}"#).unwrap();
        assert_eq!(Some(c.shopper), crate::auth::shopper_id("alice@example.com"));
    }

    #[test]
    fn every_refusal_names_its_field_with_a_stable_code() {
        let base = r#""orderId": "o", "amountInFiat": 10, "userId": "u""#;
        let cases = [
            (r#"{"amountInFiat": 10, "userId": "u"}"#.to_string(), "missing_field", "orderId"),
            (r#"{"orderId": "o", "userId": "u"}"#.into(), "missing_field", "amountInFiat"),
            (r#"{"orderId": "o", "amountInFiat": 10}"#.into(), "missing_field", "userId"),
            (r#"{"orderId": "", "amountInFiat": 10, "userId": "u"}"#.into(), "invalid_order_id", "orderId"),
            (r#"{"orderId": 5, "amountInFiat": 10, "userId": "u"}"#.into(), "invalid_field", "orderId"),
            (r#"{"orderId": "o", "amountInFiat": 0, "userId": "u"}"#.into(), "invalid_amount", "amountInFiat"),
            (r#"{"orderId": "o", "amountInFiat": "-1", "userId": "u"}"#.into(), "invalid_field", "amountInFiat"),
            (r#"{"orderId": "o", "amountInFiat": "1e3", "userId": "u"}"#.into(), "invalid_field", "amountInFiat"),
            (r#"{"orderId": "o", "amountInFiat": " 5", "userId": "u"}"#.into(), "invalid_field", "amountInFiat"),
            (r#"{"orderId": "o", "amountInFiat": 12.345, "userId": "u"}"#.into(), "invalid_amount", "amountInFiat"),
            (r#"{"orderId": "o", "amountInFiat": 10000.01, "userId": "u"}"#.into(), "invalid_amount", "amountInFiat"),
            (r#"{"orderId": "o", "amountInFiat": true, "userId": "u"}"#.into(), "invalid_field", "amountInFiat"),
            (r#"{"orderId": "o", "amountInFiat": 10, "userId": "  "}"#.into(), "invalid_field", "userId"),
            (r#"{"orderId": "o", "amountInFiat": 10, "userId": "a\u0007"}"#.into(), "invalid_field", "userId"),
            (format!(r#"{{{base}, "currency": "EUR"}}"#), "unsupported_currency", "currency"),
            (format!(r#"{{{base}, "currency": 840}}"#), "invalid_field", "currency"),
            (format!(r#"{{{base}, "assets": ["DOGE"]}}"#), "unknown_asset", "assets"),
            (format!(r#"{{{base}, "assets": "USDC"}}"#), "invalid_field", "assets"),
            (format!(r#"{{{base}, "expiresInSeconds": 59}}"#), "invalid_field", "expiresInSeconds"),
            (format!(r#"{{{base}, "expiresInSeconds": 86401}}"#), "invalid_field", "expiresInSeconds"),
            (format!(r#"{{{base}, "expiresInSeconds": 600.5}}"#), "invalid_field", "expiresInSeconds"),
            (format!(r#"{{{base}, "metadata": {{"k": 1}}}}"#), "invalid_field", "metadata"),
            (format!(r#"{{{base}, "metadata": {{"": "v"}}}}"#), "invalid_field", "metadata"),
            (format!(r#"{{{base}, "metadata": {{"{}": "v"}}}}"#, "k".repeat(41)), "invalid_field", "metadata"),
            (format!(r#"{{{base}, "metadata": {{"k": "{}"}}}}"#, "v".repeat(501)), "invalid_field", "metadata"),
            (format!(r#"{{{base}, "shopper": "x"}}"#), "unknown_field", "shopper"),
            (format!(r#"{{{base}, "orderId": "p"}}"#), "invalid_field", "orderId"),
            ("[]".into(), "invalid_json", "object"),
        ];
        for (body, code, field) in cases {
            let e = read(&body).unwrap_err();
            assert_eq!((e.status(), e.code()), (400, code), "{body}");
            assert!(e.message().contains(field), "{body}: {} names {field}", e.message());
        }
        let many: Vec<String> = (0..21).map(|i| format!(r#""k{i}": "v""#)).collect();
        let e = read(&format!(r#"{{{base}, "metadata": {{{}}}}}"#, many.join(","))).unwrap_err();
        assert_eq!(e.code(), "invalid_field");
        let twenty: Vec<String> = (0..20).map(|i| format!(r#""k{i}": "{}""#, "v".repeat(500))).collect();
        assert_eq!(read(&format!(r#"{{{base}, "metadata": {{{}}}}}"#, twenty.join(","))).unwrap().metadata.len(), 20);
    }
}
