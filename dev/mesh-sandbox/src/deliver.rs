//! What actually arrives, whatever Link offered: the knob that lets tests pay less or more than asked, in
//! another token, on another network or to another address (a merchant must see each of these, never
//! mistake it for a full payment). Given per transfer (`deliver` on `POST /sandbox/transfers`) or queued
//! for the next transfers (`POST /sandbox/deliver`, which the fake Link page's buttons also consume).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::catalog::{self, Network};
use crate::control::ControlError;
use crate::json::{FieldError, Obj, parse_object_or_empty};
use crate::state::{AppState, Inner};

/// At most this many queued overrides (`times` on `POST /sandbox/deliver`).
pub const MAX_TIMES: u64 = 1000;
/// A fraction above this is a typo rather than an overpayment worth testing.
pub const MAX_FRACTION: f64 = 100.0;

/// How much arrives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DeliveredAmount {
    /// Token units at the destination (`destinationAmount`).
    Units(f64),
    /// A multiple of what the transfer would have delivered (0.5: half; 1.1: 10 % more).
    Fraction(f64),
}

/// The override; every part is optional and falls back to what Link offered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Deliver {
    pub amount: Option<DeliveredAmount>,
    pub symbol: Option<String>,
    pub network: Option<&'static Network>,
    pub address: Option<String>,
}

/// One queued override and how many more transfers take it.
#[derive(Debug, Clone, PartialEq)]
pub struct Queued {
    pub deliver: Deliver,
    pub remaining: u64,
}

impl Queued {
    pub fn to_json(&self) -> Value {
        let mut v = self.deliver.to_json();
        v["remaining"] = json!(self.remaining);
        v
    }
}

impl Deliver {
    /// Reads `{amount? | fraction?, symbol?, networkId?, address?}` from `o` (field names in errors carry
    /// `o`'s prefix). `Ok(None)` when none of them is set.
    pub fn parse(o: &Obj<'_>) -> Result<Option<Deliver>, FieldError> {
        let units = o.f64("amount")?;
        let fraction = o.f64("fraction")?;
        let amount = match (units, fraction) {
            (Some(_), Some(_)) => {
                return Err(FieldError::invalid(o.path("fraction"), "cannot be given together with amount"));
            }
            (Some(u), None) if u > 0.0 => Some(DeliveredAmount::Units(u)),
            (Some(_), None) => return Err(FieldError::invalid(o.path("amount"), "must be greater than 0")),
            (None, Some(f)) if f > 0.0 && f <= MAX_FRACTION => Some(DeliveredAmount::Fraction(f)),
            (None, Some(_)) => {
                return Err(FieldError::invalid(
                    o.path("fraction"),
                    format!("must be greater than 0 and at most {MAX_FRACTION}"),
                ));
            }
            (None, None) => None,
        };
        let symbol = o.str("symbol")?.map(str::trim).filter(|s| !s.is_empty()).map(str::to_ascii_uppercase);
        let network = match o.uuid("networkId")? {
            None => None,
            Some(id) => Some(
                catalog::network(id)
                    .ok_or_else(|| FieldError::invalid(o.path("networkId"), "is not a network the sandbox knows"))?,
            ),
        };
        let address = match o.str("address")?.map(str::trim) {
            None | Some("") => None,
            Some(a) if a.chars().any(char::is_whitespace) => {
                return Err(FieldError::invalid(o.path("address"), "must not contain whitespace"));
            }
            Some(a) => Some(a.to_string()),
        };
        let deliver = Deliver { amount, symbol, network, address };
        Ok((deliver != Deliver::default()).then_some(deliver))
    }

    /// The `deliver` object of a request body, if any.
    pub fn parse_field(o: &Obj<'_>, name: &str) -> Result<Option<Deliver>, FieldError> {
        let Some(map): Option<&Map<String, Value>> = o.obj(name)? else {
            return Ok(None);
        };
        let path = o.path(name);
        Deliver::parse(&Obj::with_prefix(map, &path))
    }

    /// The token that arrives on `network`: the override or `offered`, spelled as the network lists it.
    /// A token the network does not carry cannot arrive there (`Err` names the field).
    pub fn token_on(&self, network: &Network, offered: &str) -> Result<String, FieldError> {
        let wanted = self.symbol.as_deref().unwrap_or(offered);
        match network.tokens.iter().find(|t| t.eq_ignore_ascii_case(wanted)) {
            Some(t) => Ok((*t).to_string()),
            // An offered token the catalogue does not list stays as offered (Link decided it).
            None if self.symbol.is_none() => Ok(offered.to_string()),
            None => Err(FieldError::invalid(
                "deliver.symbol",
                format!("{wanted} is not a token {} carries ({})", network.name, network.tokens.join(", ")),
            )),
        }
    }

    pub fn to_json(&self) -> Value {
        let (amount, fraction) = match self.amount {
            Some(DeliveredAmount::Units(u)) => (Some(u), None),
            Some(DeliveredAmount::Fraction(f)) => (None, Some(f)),
            None => (None, None),
        };
        json!({
            "amount": amount,
            "fraction": fraction,
            "symbol": self.symbol,
            "networkId": self.network.map(|n| n.id),
            "address": self.address,
        })
    }
}

/// Takes one use of the oldest queued override.
pub fn take_next(queue: &mut Vec<Queued>) -> Option<Deliver> {
    let first = queue.first_mut()?;
    first.remaining = first.remaining.saturating_sub(1);
    let deliver = first.deliver.clone();
    if first.remaining == 0 {
        queue.remove(0);
    }
    Some(deliver)
}

fn queue_json(world: &Inner) -> Value {
    json!({"queued": world.next_deliver.iter().map(Queued::to_json).collect::<Vec<_>>()})
}

/// `POST /sandbox/deliver` `{amount? | fraction?, symbol?, networkId?, address?, times?=1}`: the next `times`
/// transfers without a `deliver` of their own deliver this instead of what Link offered.
pub async fn queue(State(state): State<Arc<AppState>>, body: Bytes) -> Result<Response, ControlError> {
    let map = parse_object_or_empty(&body)?;
    let o = Obj::new(&map);
    let deliver = Deliver::parse(&o)?.ok_or_else(|| {
        ControlError::bad_request(
            "missing_field",
            "say what to deliver: amount or fraction, symbol, networkId or address",
        )
    })?;
    let times = o.u64("times")?.unwrap_or(1);
    if times == 0 || times > MAX_TIMES {
        return Err(FieldError::invalid("times", format!("must be between 1 and {MAX_TIMES}")).into());
    }
    let mut world = state.lock();
    world.next_deliver.push(Queued { deliver, remaining: times });
    Ok((StatusCode::CREATED, Json(queue_json(&world))).into_response())
}

/// `GET /sandbox/deliver`: the queued overrides, oldest (next) first.
pub async fn list(State(state): State<Arc<AppState>>) -> Result<Response, ControlError> {
    Ok(Json(queue_json(&state.lock())).into_response())
}

/// `DELETE /sandbox/deliver`: forget the queued overrides.
pub async fn clear(State(state): State<Arc<AppState>>) -> Result<Response, ControlError> {
    let mut world = state.lock();
    world.next_deliver.clear();
    Ok(Json(queue_json(&world)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse_object;

    fn parse(body: &str) -> Result<Option<Deliver>, FieldError> {
        let map = parse_object(body.as_bytes()).expect("object");
        Deliver::parse_field(&Obj::new(&map), "deliver")
    }

    #[test]
    fn reads_every_part_case_insensitively() {
        let d = parse(
            r#"{"Deliver":{"Amount":20,"symbol":"usdt","networkId":"0291810a-5947-424d-9a59-e88bb33e999d","address":" 0xdead "}}"#,
        )
        .expect("valid")
        .expect("set");
        assert_eq!(d.amount, Some(DeliveredAmount::Units(20.0)));
        assert_eq!(d.symbol.as_deref(), Some("USDT"));
        assert_eq!(d.network.map(|n| n.name), Some("Solana"));
        assert_eq!(d.address.as_deref(), Some("0xdead"));
        assert_eq!(
            parse(r#"{"deliver":{"fraction":0.5}}"#).expect("valid").and_then(|d| d.amount),
            Some(DeliveredAmount::Fraction(0.5))
        );
    }

    #[test]
    fn nothing_set_is_no_override() {
        assert_eq!(parse("{}").expect("valid"), None);
        assert_eq!(parse(r#"{"deliver":{}}"#).expect("valid"), None);
        assert_eq!(parse(r#"{"deliver":{"symbol":" ","address":""}}"#).expect("valid"), None);
    }

    #[test]
    fn refusals_name_the_field() {
        for (body, field) in [
            (r#"{"deliver":{"amount":0}}"#, "deliver.amount"),
            (r#"{"deliver":{"amount":-1}}"#, "deliver.amount"),
            (r#"{"deliver":{"amount":"5"}}"#, "deliver.amount"),
            (r#"{"deliver":{"fraction":0}}"#, "deliver.fraction"),
            (r#"{"deliver":{"fraction":101}}"#, "deliver.fraction"),
            (r#"{"deliver":{"amount":1,"fraction":0.5}}"#, "deliver.fraction"),
            (r#"{"deliver":{"networkId":"00000000-0000-4000-8000-000000000000"}}"#, "deliver.networkId"),
            (r#"{"deliver":{"address":"0x1 0x2"}}"#, "deliver.address"),
            (r#"{"deliver":5}"#, "deliver"),
        ] {
            let e = parse(body).expect_err(body);
            assert_eq!(e.field(), field, "{body}");
        }
    }

    #[test]
    fn the_token_must_exist_on_the_network() {
        let base = catalog::default_network();
        let swap = Deliver { symbol: Some("eth".into()), ..Deliver::default() };
        assert_eq!(swap.token_on(base, "USDC").expect("Base carries ETH"), "ETH");
        let usdt = Deliver { symbol: Some("USDT".into()), ..Deliver::default() };
        assert_eq!(usdt.token_on(base, "USDC").expect_err("Base has no USDT").field(), "deliver.symbol");
        // No override: the offered token, in the catalogue's spelling when it knows it.
        assert_eq!(Deliver::default().token_on(base, "usdc").expect("offered"), "USDC");
        assert_eq!(Deliver::default().token_on(base, "XYZ").expect("offered"), "XYZ");
    }

    #[test]
    fn queued_overrides_are_used_in_order_and_run_out() {
        let half = Deliver { amount: Some(DeliveredAmount::Fraction(0.5)), ..Deliver::default() };
        let eth = Deliver { symbol: Some("ETH".into()), ..Deliver::default() };
        let mut queue =
            vec![Queued { deliver: half.clone(), remaining: 2 }, Queued { deliver: eth.clone(), remaining: 1 }];
        assert_eq!(take_next(&mut queue), Some(half.clone()));
        assert_eq!(queue[0].to_json()["remaining"], 1);
        assert_eq!(take_next(&mut queue), Some(half));
        assert_eq!(take_next(&mut queue), Some(eth));
        assert_eq!(take_next(&mut queue), None);
    }
}
