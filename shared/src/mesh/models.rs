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

// ---- GET /api/v1/transfers/managed/mesh ----

/// Every query parameter of the managed-transfers listing. `None` fields are not sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TransferQuery {
    pub count: Option<u32>,
    pub offset: Option<u32>,
    pub id: Option<String>,
    pub client_transaction_id: Option<String>,
    pub user_id: Option<String>,
    pub integration_ids: Vec<String>,
    pub statuses: Vec<TransferModelStatus>,
    /// Bounds on the created time, in the unit Mesh uses for `createdTimestamp`.
    pub from_timestamp: Option<i64>,
    pub to_timestamp: Option<i64>,
    pub min_amount_in_fiat: Option<Decimal>,
    pub max_amount_in_fiat: Option<Decimal>,
    pub order_by: Option<TransferOrderBy>,
    pub descending_order: Option<bool>,
    pub hash: Option<String>,
    pub sub_client_id: Option<String>,
    pub is_sandbox: Option<bool>,
    pub include_webhooks_logs: Option<bool>,
    pub include_refund_information: Option<bool>,
}

impl TransferQuery {
    /// Mesh's largest page.
    pub const MAX_COUNT: u32 = 100;

    /// The query string pairs, PascalCase as documented, arrays as repeated keys.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        let mut put = |k: &'static str, v: Option<String>| {
            if let Some(v) = v {
                p.push((k, v));
            }
        };
        put("Count", self.count.map(|v| v.to_string()));
        put("Offset", self.offset.map(|v| v.to_string()));
        put("Id", self.id.clone());
        put("ClientTransactionId", self.client_transaction_id.clone());
        put("UserId", self.user_id.clone());
        for id in &self.integration_ids {
            put("IntegrationIds", Some(id.clone()));
        }
        for s in &self.statuses {
            put("Statuses", Some(s.as_str().to_string()));
        }
        put("FromTimestamp", self.from_timestamp.map(|v| v.to_string()));
        put("ToTimestamp", self.to_timestamp.map(|v| v.to_string()));
        put("MinAmountInFiat", self.min_amount_in_fiat.map(|v| v.to_string()));
        put("MaxAmountInFiat", self.max_amount_in_fiat.map(|v| v.to_string()));
        put("OrderBy", self.order_by.as_ref().map(|v| v.as_str().to_string()));
        put("DescendingOrder", self.descending_order.map(|v| v.to_string()));
        put("Hash", self.hash.clone());
        put("SubClientId", self.sub_client_id.clone());
        put("IsSandBox", self.is_sandbox.map(|v| v.to_string()));
        put("IncludeWebhooksLogs", self.include_webhooks_logs.map(|v| v.to_string()));
        put("IncludeRefundInformation", self.include_refund_information.map(|v| v.to_string()));
        p
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferPage {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub items: Vec<TransferModel>,
    #[serde(default)]
    pub total: u64,
    #[serde(default)]
    pub has_more_pages: Option<bool>,
}

fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// One transfer initiated through Mesh. Amounts are decimals parsed from Mesh's doubles.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferModel {
    pub id: String,
    #[serde(default)]
    pub client_transaction_id: Option<String>,
    #[serde(default)]
    pub institution_transaction_id: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub status: Option<TransferModelStatus>,
    #[serde(default)]
    pub amount: Option<Decimal>,
    #[serde(default)]
    pub amount_in_fiat: Option<Decimal>,
    #[serde(default)]
    pub amount_in_fiat_currency_code: Option<String>,
    #[serde(default)]
    pub symbol: Option<String>,
    #[serde(default)]
    pub network_id: Option<String>,
    #[serde(default)]
    pub network_name: Option<String>,
    #[serde(default)]
    pub created_timestamp: Option<i64>,
    #[serde(default)]
    pub executed_timestamp: Option<i64>,
    #[serde(default)]
    pub from: Option<TransferSource>,
    #[serde(default)]
    pub hash: Option<String>,
    #[serde(default)]
    pub destination_address: Option<String>,
    #[serde(default)]
    pub source_amount: Option<Decimal>,
    #[serde(default)]
    pub destination_amount: Option<Decimal>,
    #[serde(default)]
    pub transfer_type: Option<TransferType>,
    #[serde(default)]
    pub is_fee_included: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferSource {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

// ---- Webhook (PascalCase) ----

/// A transfer-status webhook as Mesh sends it. Ids stay plain strings here: the webhook handler
/// turns them into checked ids (and answers a malformed one) after verifying the signature.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WebhookEvent {
    /// Per delivery attempt; changes on every retry.
    #[serde(default)]
    pub id: Option<String>,
    /// Per event; the same across retries: the deduplication key.
    pub event_id: String,
    #[serde(default)]
    pub sent_timestamp: Option<i64>,
    pub transfer_id: String,
    #[serde(default)]
    pub transaction_id: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    /// Kept raw; `transfer::ReportedStatus::parse` reads it case-insensitively.
    pub transfer_status: String,
    #[serde(default)]
    pub tx_hash: Option<String>,
    /// The network's name, not its id.
    #[serde(default)]
    pub chain: Option<String>,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub source_account_provider: Option<String>,
    #[serde(default)]
    pub source_amount: Option<Decimal>,
    #[serde(default)]
    pub destination_amount: Option<Decimal>,
    #[serde(default)]
    pub destination_address: Option<String>,
    #[serde(default)]
    pub refund_address: Option<String>,
    /// When the status event occurred (Mesh's example: milliseconds).
    #[serde(default)]
    pub timestamp: Option<i64>,
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

    #[test]
    fn transfer_model_parses_the_documented_example_with_exact_decimals() {
        let json = r#"{ "total": 1, "items": [ {
            "id": "3d6c1f0e-52a4-4c3e-9d7b-0f1e2a3b4c5d", "clientTransactionId": "ord_2026_000123",
            "userId": "usr_7f3a9c", "status": "succeeded", "transferType": "payment",
            "amount": 49.99, "amountInFiat": 49.99, "amountInFiatCurrencyCode": "USD",
            "symbol": "USDC", "networkId": "aa883b03-120d-477c-a588-37c2afd3ca71", "networkName": "Base",
            "createdTimestamp": 1767225600, "executedTimestamp": 1767225642,
            "from": { "id": "9226e5c2-ebc3-4fdd-94f6-ed52cdce1420", "type": "coinbase", "name": "Coinbase", "logoUrl": null },
            "hash": "0xabc", "destinationAddress": "0x1111111111111111111111111111111111111111",
            "sourceAmount": 50.05, "destinationAmount": 49.99, "isFeeIncluded": false,
            "gasFee": { "fee": 0.01, "feeCurrency": "USDC", "feeInFiat": 0.01 },
            "totalFeesAmountInFiat": 0.06, "totalTransactionAmountInFiat": 50.05, "fundingMethods": [],
            "aFieldFromTheFuture": {"x": 1}
        } ] }"#;
        let page: TransferPage = serde_json::from_str(json).unwrap();
        assert_eq!(page.total, 1);
        let t = &page.items[0];
        assert_eq!(t.status, Some(TransferModelStatus::Succeeded));
        assert_eq!(t.destination_amount, Some("49.99".parse().unwrap()));
        assert_eq!(t.source_amount.unwrap().to_string(), "50.05");
        assert_eq!(t.from.as_ref().unwrap().kind.as_deref(), Some("coinbase"));
    }

    #[test]
    fn a_transfer_needs_only_its_id_and_null_items_are_empty() {
        let page: TransferPage = serde_json::from_str(r#"{"items":[{"id":"x","status":null}],"total":1}"#).unwrap();
        assert_eq!(page.items[0].status, None);
        let page: TransferPage = serde_json::from_str(r#"{"items":null,"total":0}"#).unwrap();
        assert!(page.items.is_empty());
        assert!(serde_json::from_str::<TransferPage>(r#"{"items":[{"status":"pending"}]}"#).is_err());
    }

    #[test]
    fn webhook_event_parses_the_documented_example() {
        let json = r#"{
          "Id": "0b8f7f0e-6a1d-4b55-9a1e-2f7c3f1d9a10", "EventId": "c2d9a0b4-1f7e-4e0a-8c55-7e0d4b2a9f31",
          "SentTimestamp": 1767225700, "TransferId": "3d6c1f0e-52a4-4c3e-9d7b-0f1e2a3b4c5d",
          "TransactionId": "ord_2026_000123", "UserId": "usr_7f3a9c", "TransferStatus": "Succeeded",
          "TxHash": "0x5f2c", "Chain": "Base", "Token": "USDC", "SourceAccountProvider": "Coinbase",
          "SourceAmount": 50.05, "DestinationAmount": 49.99,
          "DestinationAddress": "0x1111111111111111111111111111111111111111", "RefundAddress": null,
          "Timestamp": 1767225698123, "TransferSteps": [{"Leg": 1}]
        }"#;
        let e: WebhookEvent = serde_json::from_str(json).unwrap();
        assert_eq!(e.event_id, "c2d9a0b4-1f7e-4e0a-8c55-7e0d4b2a9f31");
        assert_eq!(e.transfer_status, "Succeeded");
        assert_eq!(e.destination_amount, Some("49.99".parse().unwrap()));
        assert_eq!(e.timestamp, Some(1_767_225_698_123));
        assert_eq!(e.refund_address, None);
    }

    #[test]
    fn query_pairs_are_pascal_case_with_repeated_arrays() {
        let q = TransferQuery {
            count: Some(100),
            offset: Some(200),
            statuses: vec![TransferModelStatus::Pending, TransferModelStatus::Failed],
            integration_ids: vec!["a".into(), "b".into()],
            from_timestamp: Some(10),
            to_timestamp: Some(20),
            client_transaction_id: Some("txn_1".into()),
            user_id: Some("u".into()),
            id: Some("id1".into()),
            min_amount_in_fiat: Some("1.50".parse().unwrap()),
            max_amount_in_fiat: Some("99".parse().unwrap()),
            order_by: Some(TransferOrderBy::CreatedTimestamp),
            descending_order: Some(false),
            hash: Some("0xabc".into()),
            sub_client_id: Some("sc".into()),
            is_sandbox: Some(true),
            include_webhooks_logs: Some(true),
            include_refund_information: Some(false),
        };
        let pairs: Vec<(&str, String)> = q.pairs();
        let get = |k: &str| pairs.iter().filter(|(n, _)| *n == k).map(|(_, v)| v.as_str()).collect::<Vec<_>>();
        assert_eq!(get("Count"), ["100"]);
        assert_eq!(get("Offset"), ["200"]);
        assert_eq!(get("Statuses"), ["pending", "failed"]);
        assert_eq!(get("IntegrationIds"), ["a", "b"]);
        assert_eq!(get("MinAmountInFiat"), ["1.50"]);
        assert_eq!(get("OrderBy"), ["createdTimestamp"]);
        assert_eq!(get("DescendingOrder"), ["false"]);
        assert_eq!(get("IsSandBox"), ["true"]);
        assert_eq!(pairs.len(), 20);
        assert!(TransferQuery::default().pairs().is_empty());
    }
}
