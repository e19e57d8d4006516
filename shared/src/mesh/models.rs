//! Mesh's data shapes. REST bodies are camelCase, webhook bodies PascalCase. Every response field
//! but a transfer's `id` may be null or absent, unknown fields are ignored, and enums keep values
//! they do not know (`Other`) instead of failing: Mesh adds enum members often.

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A string enum that keeps unknown values: `Other(raw)` round-trips whatever Mesh sent.
macro_rules! open_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant,)+
            Other(String),
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Other(raw) => raw,
                }
            }
        }

        impl From<&str> for $name {
            fn from(raw: &str) -> Self {
                $(if raw.eq_ignore_ascii_case($text) { return Self::$variant; })+
                Self::Other(raw.to_string())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Ok(Self::from(raw.as_str()))
            }
        }
    };
}

open_enum!(
    /// `ApiResultStatus`.
    ApiStatus { Ok = "ok", ServerFailure = "serverFailure", PermissionDenied = "permissionDenied",
        BadRequest = "badRequest", NotFound = "notFound", Conflict = "conflict",
        TooManyRequest = "tooManyRequest", Locked = "locked", UnavailableForLegalReasons = "unavailableForLegalReasons" }
);
open_enum!(
    /// `TransferTypeEnum`.
    TransferType { Deposit = "deposit", Payment = "payment", Onramp = "onramp",
        FiatOnRamp = "fiatOnRamp", FiatOffRamp = "fiatOffRamp" }
);
open_enum!(
    /// A managed transfer's `status`.
    TransferModelStatus { Pending = "pending", Succeeded = "succeeded", Failed = "failed" }
);
open_enum!(
    /// `NetworkType`.
    NetworkType { Unknown = "unknown", Evm = "evm", Solana = "solana", Bitcoin = "bitcoin",
        Cardano = "cardano", Tron = "tron", AvalancheX = "avalancheX", Tezos = "tezos",
        Dogecoin = "dogecoin", Ripple = "ripple", Stellar = "stellar", Litecoin = "litecoin",
        Sui = "sui", Aptos = "aptos", Tvm = "tvm", Injective = "injective" }
);
open_enum!(
    /// `TransferOrderByFields`.
    TransferOrderBy { Id = "id", ClientTransferId = "clientTransferId", UserId = "userId",
        FromType = "fromType", AmountInFiat = "amountInFiat", Status = "status",
        CreatedTimestamp = "createdTimestamp", Symbol = "symbol", NetworkName = "networkName" }
);

/// The envelope around every REST response.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiResult<T> {
    #[serde(default = "none")]
    pub content: Option<T>,
    #[serde(default)]
    pub status: Option<ApiStatus>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub display_message: Option<String>,
    #[serde(default)]
    pub error_type: Option<String>,
}

fn none<T>() -> Option<T> {
    None
}

// ---- POST /api/v1/linktoken ----

/// How long a link token Mesh mints can start a Link session: 10 minutes. After it (and a grace for a
/// session opened just before), an attempt Mesh has no transfer for will never get one.
pub const LINK_TOKEN_LIFETIME_MS: i64 = 10 * 60 * 1000;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkTokenRequest {
    pub user_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restrict_multiple_accounts: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_options: Option<LinkTokenTransferOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integration_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkTokenTransferOptions {
    pub to_addresses: Vec<ToAddress>,
    /// Mesh types amounts as JSON doubles.
    #[serde(with = "rust_decimal::serde::float_option", skip_serializing_if = "Option::is_none")]
    pub amount_in_fiat: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    #[serde(with = "rust_decimal::serde::float_option", skip_serializing_if = "Option::is_none")]
    pub client_fee: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_type: Option<TransferType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub funding_options: Option<FundingOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_inclusive_fee_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generate_pay_link: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToAddress {
    pub network_id: String,
    pub symbol: String,
    pub address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_tag: Option<String>,
    #[serde(with = "rust_decimal::serde::float_option", skip_serializing_if = "Option::is_none")]
    pub amount: Option<Decimal>,
}

/// SmartFunding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FundingOptions {
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkToken {
    /// Base64 of the Link page URL; handed to the web SDK's `openLink` unchanged.
    pub link_token: String,
    #[serde(default)]
    pub payment_link: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawLinkToken {
    #[serde(default)]
    pub link_token: Option<String>,
    #[serde(default)]
    pub payment_link: Option<String>,
}

// ---- GET /api/v1/transfers/managed/networks ----

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NetworksContent {
    #[serde(default)]
    pub networks: Option<Vec<Network>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// A string: EVM chain ids, other or null elsewhere.
    #[serde(default)]
    pub chain_id: Option<String>,
    #[serde(default)]
    pub native_symbol: Option<String>,
    #[serde(default)]
    pub network_type: Option<NetworkType>,
    #[serde(default)]
    pub supported_tokens: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_enums_keep_unknown_values_and_ignore_case() {
        let t: TransferType = serde_json::from_str("\"fiatOnRamp\"").unwrap();
        assert_eq!(t, TransferType::FiatOnRamp);
        let t: TransferType = serde_json::from_str("\"PAYMENT\"").unwrap();
        assert_eq!(t, TransferType::Payment);
        let t: TransferType = serde_json::from_str("\"stakingDeposit\"").unwrap();
        assert_eq!(t, TransferType::Other("stakingDeposit".into()));
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"stakingDeposit\"");
    }

    #[test]
    fn link_token_request_is_camel_case_with_double_amounts() {
        let req = LinkTokenRequest {
            user_id: "usr_7f3a9c".into(),
            restrict_multiple_accounts: Some(true),
            integration_id: None,
            transfer_options: Some(LinkTokenTransferOptions {
                to_addresses: vec![ToAddress {
                    network_id: "aa883b03-120d-477c-a588-37c2afd3ca71".into(),
                    symbol: "USDC".into(),
                    address: "0x1111111111111111111111111111111111111111".into(),
                    address_tag: None,
                    amount: None,
                }],
                amount_in_fiat: Some("49.99".parse().unwrap()),
                transaction_id: Some("ord_2026_000123".into()),
                transfer_type: Some(TransferType::Payment),
                funding_options: Some(FundingOptions { enabled: true }),
                is_inclusive_fee_enabled: Some(false),
                generate_pay_link: Some(true),
                client_fee: None,
            }),
        };
        let v = serde_json::to_value(&req).unwrap();
        let expected = serde_json::json!({
            "userId": "usr_7f3a9c",
            "restrictMultipleAccounts": true,
            "transferOptions": {
                "toAddresses": [{"networkId": "aa883b03-120d-477c-a588-37c2afd3ca71", "symbol": "USDC",
                                 "address": "0x1111111111111111111111111111111111111111"}],
                "amountInFiat": 49.99,
                "transactionId": "ord_2026_000123",
                "transferType": "payment",
                "fundingOptions": {"enabled": true},
                "isInclusiveFeeEnabled": false,
                "generatePayLink": true
            }
        });
        assert_eq!(v, expected);
    }
}
