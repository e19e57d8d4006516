//! The `POST /link-tokens` body as `openapi.json` allows it: a JSON object of known fields, each of its
//! documented type. Serde's derived deserializer alone would also read an array positionally and an
//! amount from a string, so the fields are checked one by one, and every refusal names its field.

use crate::error::ApiError;
use crate::link::LinkTokenBody;
use rust_decimal::Decimal;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;
use std::fmt;

/// Request bodies are a few hundred bytes; anything much larger is not ours.
pub const MAX_BODY_BYTES: usize = 8 * 1024;

/// Reads the body; an empty one asks for nothing in particular.
pub fn parse(bytes: &[u8]) -> Result<LinkTokenBody, ApiError> {
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::InvalidJson);
    }
    let mut body = LinkTokenBody::default();
    for (field, value) in members(bytes, &FIELDS)? {
        match field {
            "amountInFiat" => body.amount_in_fiat = Some(number(&value, field, "a JSON number of USD")?),
            _ => read_plain(field, &value, &mut body)?,
        }
    }
    Ok(body)
}

/// A JSON object's members, each a field of `known` given once (an empty body has none); refusals
/// name the field. Shared by every body this API reads.
pub(crate) fn members(bytes: &[u8], known: &[&'static str]) -> Result<Vec<(&'static str, Box<RawValue>)>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let Fields(fields) = serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::NotAnObject,
        _ => ApiError::InvalidJson,
    })?;
    let mut seen: Vec<(&'static str, Box<RawValue>)> = Vec::with_capacity(fields.len());
    for (name, value) in fields {
        let field = known.iter().copied().find(|f| *f == name).ok_or_else(|| ApiError::UnknownField(shown(&name)))?;
        if seen.iter().any(|(f, _)| *f == field) {
            return Err(ApiError::InvalidField { field, expected: "given once" });
        }
        seen.push((field, value));
    }
    Ok(seen)
}

/// Every field but the amount, from its JSON value.
fn read_plain(field: &'static str, raw: &RawValue, body: &mut LinkTokenBody) -> Result<(), ApiError> {
    let value: Value = serde_json::from_str(raw.get()).map_err(|_| ApiError::InvalidJson)?;
    match field {
        "paylink" => {
            body.paylink = Some(value.as_bool().ok_or(ApiError::InvalidField { field, expected: "true or false" })?)
        }
        _ => {
            let text = value.as_str().ok_or(ApiError::InvalidField { field, expected: "a string" })?.to_string();
            match field {
                "symbol" => body.symbol = Some(text),
                "network" => body.network = Some(text),
                "integrationId" => body.integration_id = Some(text),
                "checkoutId" => body.checkout_id = Some(text),
                _ => body.order_id = Some(text),
            }
        }
    }
    Ok(())
}

/// The properties of `LinkTokenRequest` in `openapi.json`.
const FIELDS: [&str; 7] = ["amountInFiat", "symbol", "network", "integrationId", "paylink", "orderId", "checkoutId"];

/// A JSON number, read exactly: the digits as written (the raw text), never through a float, which
/// would read `9.9999999999999999` as `10` and let it pass the two-decimals rule (found by fuzzing).
pub(crate) fn number(raw: &RawValue, field: &'static str, expected: &'static str) -> Result<Decimal, ApiError> {
    let invalid = ApiError::InvalidField { field, expected };
    let text = raw.get();
    // Strings, booleans, null, arrays and objects start otherwise; the parser already checked the syntax.
    if !text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        return Err(invalid);
    }
    text.parse::<Decimal>().or_else(|_| Decimal::from_scientific(text)).map_err(|_| invalid)
}

/// An unknown field's name as the answer repeats it: short, and printable.
pub(crate) fn shown(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// A JSON object's members in the order sent, duplicates kept (a map would silently keep the last).
struct Fields(Vec<(String, Box<RawValue>)>);

impl<'de> serde::Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = Fields;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, Box<RawValue>>()? {
                    members.push(member);
                }
                Ok(Fields(members))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_amount_beyond_a_floats_precision_is_read_as_written() {
        let body = parse(br#"{"amountInFiat": 9.9999999999999999}"#).unwrap();
        assert_eq!(body.amount_in_fiat, Some("9.9999999999999999".parse().unwrap()));
        assert!(matches!(
            parse(br#"{"amountInFiat": "25"}"#),
            Err(ApiError::InvalidField { field: "amountInFiat", .. })
        ));
        assert!(matches!(
            parse(br#"{"amountInFiat": null}"#),
            Err(ApiError::InvalidField { field: "amountInFiat", .. })
        ));
    }

    #[test]
    fn amounts_keep_their_digits() {
        let body = parse(br#"{"amountInFiat": 49.99, "symbol": "USDC", "paylink": true}"#).unwrap();
        assert_eq!(body.amount_in_fiat, Some("49.99".parse().unwrap()));
        assert_eq!((body.symbol.as_deref(), body.paylink), (Some("USDC"), Some(true)));
        assert_eq!(parse(br#"{"amountInFiat": 1e2}"#).unwrap().amount_in_fiat, Some(Decimal::from(100)));
        assert_eq!(parse(b" \n").unwrap(), LinkTokenBody::default());
    }

    #[test]
    fn an_unknown_field_is_named_printably_and_briefly() {
        let long = format!(r#"{{"{}\u0007": 1}}"#, "x".repeat(100));
        match parse(long.as_bytes()) {
            Err(ApiError::UnknownField(name)) => assert_eq!(name, "x".repeat(64)),
            other => panic!("{other:?}"),
        }
    }
}
