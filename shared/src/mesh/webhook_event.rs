//! A transfer-status webhook as Mesh sends it (PascalCase).

use rust_decimal::Decimal;
use serde::Deserialize;

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
}
