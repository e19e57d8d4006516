//! Building the Mesh link-token request, server-side and pure. The browser may only narrow what the
//! merchant configured (pick a symbol or network, an amount within bounds, an integration to open,
//! ask for a Paylink); destinations, networks and the transaction id always come from here.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shared::domain::ids::{TransactionId, UserId};
use shared::domain::transfer::OfferedDestination;
use shared::mesh::{FundingOptions, LinkTokenRequest, LinkTokenTransferOptions, Network, ToAddress, TransferType};
use shared::runtime::config::{ConfigError, Destination, Destinations, EnvSource, NetworkRef};

pub const MIN_AMOUNT_FIAT: &str = "MIN_AMOUNT_FIAT";
pub const MAX_AMOUNT_FIAT: &str = "MAX_AMOUNT_FIAT";
pub const TRANSFER_TYPE: &str = "TRANSFER_TYPE";
pub const INCLUSIVE_FEE: &str = "INCLUSIVE_FEE";
pub const SMART_FUNDING: &str = "SMART_FUNDING";

/// What the merchant decides once, in configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkPolicy {
    pub min_amount_fiat: Decimal,
    pub max_amount_fiat: Decimal,
    pub transfer_type: TransferType,
    pub inclusive_fee: bool,
    pub smart_funding: bool,
}

impl Default for LinkPolicy {
    fn default() -> Self {
        Self {
            min_amount_fiat: Decimal::ONE,
            max_amount_fiat: Decimal::from(10_000),
            transfer_type: TransferType::Payment,
            inclusive_fee: false,
            smart_funding: true,
        }
    }
}

impl LinkPolicy {
    pub fn from_source(env: &impl EnvSource) -> Result<Self, ConfigError> {
        let mut p = Self::default();
        let get = |name: &str| env.var(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let invalid = |name: &str, reason: &str| ConfigError::Invalid { name: name.into(), reason: reason.into() };
        let amount = |name: &str, raw: String| {
            raw.parse::<Decimal>()
                .ok()
                .filter(|d| *d > Decimal::ZERO)
                .ok_or_else(|| invalid(name, "expected a positive amount in USD"))
        };
        if let Some(v) = get(MIN_AMOUNT_FIAT) {
            p.min_amount_fiat = amount(MIN_AMOUNT_FIAT, v)?;
        }
        if let Some(v) = get(MAX_AMOUNT_FIAT) {
            p.max_amount_fiat = amount(MAX_AMOUNT_FIAT, v)?;
        }
        if p.min_amount_fiat > p.max_amount_fiat {
            return Err(invalid(MIN_AMOUNT_FIAT, "must not exceed MAX_AMOUNT_FIAT"));
        }
        if let Some(v) = get(TRANSFER_TYPE) {
            p.transfer_type = match TransferType::from(v.as_str()) {
                t @ (TransferType::Payment | TransferType::Deposit) => t,
                _ => return Err(invalid(TRANSFER_TYPE, "expected 'payment' or 'deposit'")),
            };
        }
        let flag = |name: &str, raw: String| match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(invalid(name, "expected true or false")),
        };
        if let Some(v) = get(INCLUSIVE_FEE) {
            p.inclusive_fee = flag(INCLUSIVE_FEE, v)?;
        }
        if let Some(v) = get(SMART_FUNDING) {
            p.smart_funding = flag(SMART_FUNDING, v)?;
        }
        Ok(p)
    }
}

/// The body the web app may send to `POST /link-tokens`. Anything else is refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinkTokenBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_in_fiat: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paylink: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// Payment mode: the checkout to pay; its price, order and assets replace what a body could say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("amountInFiat must be between {min} and {max} USD with at most 2 decimals")]
    AmountOutOfRange { min: Decimal, max: Decimal },
    #[error("no configured destination has this symbol")]
    UnknownSymbol,
    #[error("no configured destination is on this network")]
    UnknownNetwork,
    #[error("no configured destination has this symbol on this network")]
    NoMatchingDestination,
    #[error("integrationId must be a UUID")]
    InvalidIntegrationId,
    #[error("orderId must be 1-128 printable characters")]
    InvalidOrderId,
    /// Payment mode: the price and the order are the checkout's, never the browser's.
    #[error("{0} is set by the checkout; send only checkoutId (and optionally symbol, network)")]
    SetByCheckout(&'static str),
    #[error("checkoutId is required: payments pay a checkout the merchant's server created")]
    CheckoutRequired,
    #[error("checkoutId is not accepted in deposit mode, where the user chooses the amount")]
    CheckoutNotAllowed,
}

impl LinkError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::AmountOutOfRange { .. } => "invalid_amount",
            Self::UnknownSymbol => "unknown_symbol",
            Self::UnknownNetwork => "unknown_network",
            Self::NoMatchingDestination => "no_matching_destination",
            Self::InvalidIntegrationId => "invalid_integration_id",
            Self::InvalidOrderId => "invalid_order_id",
            Self::SetByCheckout(_) => "set_by_checkout",
            Self::CheckoutRequired => "checkout_required",
            Self::CheckoutNotAllowed => "checkout_not_allowed",
        }
    }
}

/// The user id Mesh sees. Mesh forbids PII and filters user ids up to 50 characters: an id that is
/// longer, or looks like an e-mail address or a phone number, is replaced by a stable hash of it.
pub fn mesh_user_id(sub: &str) -> UserId {
    let looks_like_email = sub.contains('@');
    let digits = sub.chars().filter(char::is_ascii_digit).count();
    let looks_like_phone =
        digits >= 7 && sub.chars().all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' ' | '(' | ')' | '.'));
    if !looks_like_email
        && !looks_like_phone
        && let Ok(id) = UserId::parse(sub)
    {
        return id;
    }
    let digest = Sha256::digest(format!("mesh-user-id:{sub}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    UserId::parse(format!("u_{}", &hex[..48])).expect("50 hex characters make a valid user id")
}

/// A configured destination with the network Mesh knows it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedDestination {
    pub symbol: String,
    pub network_id: String,
    pub network_name: String,
    pub address: String,
}

impl From<&ResolvedDestination> for OfferedDestination {
    fn from(d: &ResolvedDestination) -> Self {
        Self {
            symbol: d.symbol.clone(),
            network_id: d.network_id.clone(),
            network_name: d.network_name.clone(),
            address: d.address.clone(),
        }
    }
}

/// A configured network Mesh does not list (by id or by name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("destination {index} names a network Mesh does not list: {network}")]
pub struct UnresolvedNetwork {
    pub index: usize,
    pub network: String,
}

/// Matches every configured destination to a network from `GET /transfers/managed/networks`.
/// None is ever dropped silently: one unknown network fails the whole resolution.
pub fn resolve(
    destinations: &Destinations,
    networks: &[Network],
) -> Result<Vec<ResolvedDestination>, UnresolvedNetwork> {
    destinations
        .as_slice()
        .iter()
        .enumerate()
        .map(|(index, d)| {
            let found = networks.iter().find(|n| match &d.network {
                NetworkRef::Id(id) => n.id.eq_ignore_ascii_case(id),
                NetworkRef::Name(name) => n.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(name)),
            });
            match found {
                Some(n) => Ok(resolved(d, n)),
                None => Err(UnresolvedNetwork {
                    index,
                    network: match &d.network {
                        NetworkRef::Id(s) | NetworkRef::Name(s) => s.clone(),
                    },
                }),
            }
        })
        .collect()
}

fn resolved(d: &Destination, n: &Network) -> ResolvedDestination {
    ResolvedDestination {
        symbol: d.symbol.clone(),
        network_id: n.id.clone(),
        network_name: n.name.clone().unwrap_or_default(),
        address: d.address.clone(),
    }
}

/// The destinations a request may pay to: the one the user picked, or all of them.
pub fn select(
    destinations: &[ResolvedDestination],
    symbol: Option<&str>,
    network: Option<&str>,
) -> Result<Vec<ResolvedDestination>, LinkError> {
    let symbol_ok = |d: &ResolvedDestination| symbol.is_none_or(|s| d.symbol.eq_ignore_ascii_case(s.trim()));
    let network_ok = |d: &ResolvedDestination| {
        network.is_none_or(|n| {
            d.network_name.eq_ignore_ascii_case(n.trim()) || d.network_id.eq_ignore_ascii_case(n.trim())
        })
    };
    let chosen: Vec<_> = destinations.iter().filter(|d| symbol_ok(d) && network_ok(d)).cloned().collect();
    if !chosen.is_empty() {
        return Ok(chosen);
    }
    Err(if !destinations.iter().any(symbol_ok) {
        LinkError::UnknownSymbol
    } else if !destinations.iter().any(network_ok) {
        LinkError::UnknownNetwork
    } else {
        LinkError::NoMatchingDestination
    })
}

/// Checks the body's own fields against the policy: in payment mode a checkout sets the price and the
/// order, in deposit mode the user chooses the amount and there is no checkout.
pub fn validate(body: &LinkTokenBody, policy: &LinkPolicy) -> Result<(), LinkError> {
    if policy.transfer_type == TransferType::Deposit {
        if body.checkout_id.is_some() {
            return Err(LinkError::CheckoutNotAllowed);
        }
    } else {
        if body.amount_in_fiat.is_some() {
            return Err(LinkError::SetByCheckout("amountInFiat"));
        }
        if body.order_id.is_some() {
            return Err(LinkError::SetByCheckout("orderId"));
        }
        if body.checkout_id.is_none() {
            return Err(LinkError::CheckoutRequired);
        }
    }
    if let Some(amount) = body.amount_in_fiat
        && (amount < policy.min_amount_fiat || amount > policy.max_amount_fiat || amount.normalize().scale() > 2)
    {
        return Err(LinkError::AmountOutOfRange { min: policy.min_amount_fiat, max: policy.max_amount_fiat });
    }
    if let Some(id) = &body.integration_id
        && uuid::Uuid::parse_str(id).is_err()
    {
        return Err(LinkError::InvalidIntegrationId);
    }
    if let Some(order) = &body.order_id
        && (order.is_empty() || order.chars().count() > 128 || order.chars().any(char::is_control))
    {
        return Err(LinkError::InvalidOrderId);
    }
    Ok(())
}

/// The whole Mesh request: one `toAddresses` entry when the user narrowed to one destination (Link
/// then skips asset and network selection), every allowed one otherwise.
pub fn build(
    user: &UserId,
    body: &LinkTokenBody,
    chosen: &[ResolvedDestination],
    policy: &LinkPolicy,
    transaction_id: &TransactionId,
) -> LinkTokenRequest {
    LinkTokenRequest {
        user_id: user.to_string(),
        restrict_multiple_accounts: Some(true),
        integration_id: body.integration_id.clone(),
        transfer_options: Some(LinkTokenTransferOptions {
            to_addresses: chosen
                .iter()
                .map(|d| ToAddress {
                    network_id: d.network_id.clone(),
                    symbol: d.symbol.clone(),
                    address: d.address.clone(),
                    address_tag: None,
                    amount: None,
                })
                .collect(),
            amount_in_fiat: body.amount_in_fiat,
            transaction_id: Some(transaction_id.to_string()),
            client_fee: None,
            transfer_type: Some(policy.transfer_type.clone()),
            funding_options: Some(FundingOptions { enabled: policy.smart_funding }),
            is_inclusive_fee_enabled: Some(policy.inclusive_fee),
            generate_pay_link: Some(body.paylink.unwrap_or(false)),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn networks() -> Vec<Network> {
        serde_json::from_value(serde_json::json!([
            {"id": "aa883b03-120d-477c-a588-37c2afd3ca71", "name": "Base"},
            {"id": "0291810a-5947-424d-9a59-e88bb33e999d", "name": "Solana"},
            {"id": "e3c7fdd8-b1fc-4e51-85ae-bb276e075611", "name": "Ethereum"}
        ]))
        .unwrap()
    }

    fn destinations() -> Vec<ResolvedDestination> {
        let d = Destinations::parse(
            r#"[{"symbol":"USDC","network":"Base","address":"0xbase"},
                {"symbol":"USDC","network":"0291810a-5947-424d-9a59-e88bb33e999d","address":"SoLaddr"},
                {"symbol":"ETH","network":"ethereum","address":"0xeth"}]"#,
        )
        .unwrap();
        resolve(&d, &networks()).unwrap()
    }

    #[test]
    fn destinations_resolve_by_name_or_id() {
        let r = destinations();
        assert_eq!(r[0].network_id, "aa883b03-120d-477c-a588-37c2afd3ca71");
        assert_eq!(r[1].network_name, "Solana");
        assert_eq!(r[2].network_name, "Ethereum");
    }

    #[test]
    fn an_unlisted_network_fails_resolution_loudly() {
        let d = Destinations::parse(
            r#"[{"symbol":"USDC","network":"Base","address":"a"},{"symbol":"USDC","network":"Fantom","address":"b"}]"#,
        )
        .unwrap();
        assert_eq!(resolve(&d, &networks()).unwrap_err(), UnresolvedNetwork { index: 1, network: "Fantom".into() });
    }

    #[test]
    fn selection_narrows_or_offers_everything() {
        let all = destinations();
        assert_eq!(select(&all, None, None).unwrap().len(), 3);
        assert_eq!(select(&all, Some("usdc"), None).unwrap().len(), 2);
        let one = select(&all, Some("USDC"), Some("base")).unwrap();
        assert_eq!((one.len(), one[0].address.as_str()), (1, "0xbase"));
        assert_eq!(select(&all, None, Some("0291810a-5947-424d-9a59-e88bb33e999d")).unwrap()[0].address, "SoLaddr");
        assert_eq!(select(&all, Some("DOGE"), None).unwrap_err(), LinkError::UnknownSymbol);
        assert_eq!(select(&all, None, Some("Tron")).unwrap_err(), LinkError::UnknownNetwork);
        assert_eq!(select(&all, Some("ETH"), Some("Base")).unwrap_err(), LinkError::NoMatchingDestination);
    }

    #[test]
    fn the_request_is_built_from_configuration_only() {
        let all = destinations();
        let body = LinkTokenBody {
            amount_in_fiat: Some("49.99".parse().unwrap()),
            paylink: Some(true),
            integration_id: Some("9226e5c2-ebc3-4fdd-94f6-ed52cdce1420".into()),
            ..Default::default()
        };
        let tx = TransactionId::generate();
        let req = build(&UserId::parse("user-1").unwrap(), &body, &all[..1], &LinkPolicy::default(), &tx);
        let v = serde_json::to_value(&req).unwrap();
        assert_eq!(v["userId"], "user-1");
        assert_eq!(v["integrationId"], "9226e5c2-ebc3-4fdd-94f6-ed52cdce1420");
        let o = &v["transferOptions"];
        assert_eq!(o["transactionId"], tx.as_str());
        assert_eq!(o["amountInFiat"], 49.99);
        assert_eq!(o["generatePayLink"], true);
        assert_eq!(o["fundingOptions"]["enabled"], true);
        assert_eq!(o["transferType"], "payment");
        assert_eq!(o["isInclusiveFeeEnabled"], false);
        assert_eq!(
            o["toAddresses"],
            serde_json::json!([{"networkId": "aa883b03-120d-477c-a588-37c2afd3ca71", "symbol": "USDC", "address": "0xbase"}])
        );
    }

    #[test]
    fn the_body_cannot_carry_money_relevant_fields() {
        for extra in
            [r#"{"address":"0xevil"}"#, r#"{"transactionId":"mine"}"#, r#"{"toAddresses":[]}"#, r#"{"userId":"other"}"#]
        {
            assert!(serde_json::from_str::<LinkTokenBody>(extra).is_err(), "{extra}");
        }
        let ok: LinkTokenBody = serde_json::from_str(
            r#"{"amountInFiat": 25, "symbol": "USDC", "network": "Base", "paylink": false, "orderId": "o-1"}"#,
        )
        .unwrap();
        assert_eq!(ok.amount_in_fiat, Some(Decimal::from(25)));
    }

    #[test]
    fn amounts_and_fields_are_validated_against_the_policy() {
        let p = LinkPolicy { transfer_type: TransferType::Deposit, ..LinkPolicy::default() };
        let with_amount = |a: &str| LinkTokenBody { amount_in_fiat: Some(a.parse().unwrap()), ..Default::default() };
        assert!(validate(&with_amount("1"), &p).is_ok());
        assert!(validate(&with_amount("10000.00"), &p).is_ok());
        for bad in ["0.99", "10000.01", "-5", "12.345"] {
            assert_eq!(validate(&with_amount(bad), &p).unwrap_err().code(), "invalid_amount", "{bad}");
        }
        let bad_integration = LinkTokenBody { integration_id: Some("coinbase".into()), ..Default::default() };
        assert_eq!(validate(&bad_integration, &p).unwrap_err(), LinkError::InvalidIntegrationId);
        let bad_order = LinkTokenBody { order_id: Some("a\u{0}b".into()), ..Default::default() };
        assert_eq!(validate(&bad_order, &p).unwrap_err(), LinkError::InvalidOrderId);
        let checkout = LinkTokenBody { checkout_id: Some("chk_1".into()), ..Default::default() };
        assert_eq!(validate(&checkout, &p).unwrap_err().code(), "checkout_not_allowed");
    }

    #[test]
    fn in_payment_mode_the_checkout_sets_price_and_order() {
        let p = LinkPolicy::default();
        let checkout = || LinkTokenBody { checkout_id: Some("chk_1".into()), ..Default::default() };
        assert_eq!(validate(&checkout(), &p), Ok(()));
        let priced = LinkTokenBody { amount_in_fiat: Some(Decimal::ONE), ..checkout() };
        assert_eq!(validate(&priced, &p).unwrap_err(), LinkError::SetByCheckout("amountInFiat"));
        let ordered = LinkTokenBody { order_id: Some("order-1".into()), ..checkout() };
        assert_eq!(validate(&ordered, &p).unwrap_err(), LinkError::SetByCheckout("orderId"));
        assert_eq!(validate(&LinkTokenBody::default(), &p).unwrap_err().code(), "checkout_required");
        assert!(LinkError::SetByCheckout("orderId").to_string().starts_with("orderId "), "the message names the field");
    }

    #[test]
    fn user_ids_without_pii_and_within_meshs_filter_limit() {
        assert_eq!(mesh_user_id("user-7f3a9c").as_str(), "user-7f3a9c");
        for pii in ["alice@example.com", "+1 (415) 555-0100", &"x".repeat(51)] {
            let id = mesh_user_id(pii);
            assert!(id.as_str().starts_with("u_") && id.as_str().len() == 50, "{id}");
            assert_eq!(id, mesh_user_id(pii), "stable");
            assert!(!id.as_str().contains("alice"));
        }
        assert_ne!(mesh_user_id("alice@example.com"), mesh_user_id("bob@example.com"));
    }

    #[test]
    fn policy_comes_from_the_environment() {
        let env: HashMap<&str, &str> =
            [(MIN_AMOUNT_FIAT, "5"), (MAX_AMOUNT_FIAT, "500"), (TRANSFER_TYPE, "deposit"), (SMART_FUNDING, "off")]
                .into();
        let p = LinkPolicy::from_source(&env).unwrap();
        assert_eq!((p.min_amount_fiat, p.max_amount_fiat), (Decimal::from(5), Decimal::from(500)));
        assert_eq!(p.transfer_type, TransferType::Deposit);
        assert!(!p.smart_funding);
        for (k, v) in
            [(MIN_AMOUNT_FIAT, "abc"), (TRANSFER_TYPE, "onramp"), (INCLUSIVE_FEE, "maybe"), (MIN_AMOUNT_FIAT, "20000")]
        {
            let env: HashMap<&str, &str> = [(k, v)].into();
            assert!(matches!(LinkPolicy::from_source(&env), Err(ConfigError::Invalid { .. })), "{k}={v}");
        }
    }
}
