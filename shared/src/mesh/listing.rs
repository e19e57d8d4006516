//! Mesh's managed-transfer listing (`GET /api/v1/transfers/managed/mesh`): the query, a page, and one
//! transfer. Amounts are decimals parsed from Mesh's doubles.

use super::models::{TransferModelStatus, TransferOrderBy, TransferType};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};

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
    pub destination_amount_in_fiat: Option<Decimal>,
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

#[cfg(test)]
mod tests {
    use super::*;

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
