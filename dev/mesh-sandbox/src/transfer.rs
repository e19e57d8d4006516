//! The transfer: its state machine (`pending → succeeded | failed`, never backwards), its REST
//! representation (`TransferModel`, camelCase) and its webhook payload (PascalCase).

use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::catalog::{Integration, Network};

/// `TransferStatus`: `pending` until final, then `succeeded` (hash known) or `failed` (no hash).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TransferStatus {
    Pending,
    Succeeded,
    Failed,
}

impl TransferStatus {
    /// REST spelling (camelCase enum value).
    pub fn as_str(self) -> &'static str {
        match self {
            TransferStatus::Pending => "pending",
            TransferStatus::Succeeded => "succeeded",
            TransferStatus::Failed => "failed",
        }
    }

    /// Webhook spelling (`TransferStatus` in the webhook body).
    pub fn webhook_name(self) -> &'static str {
        match self {
            TransferStatus::Pending => "Pending",
            TransferStatus::Succeeded => "Succeeded",
            TransferStatus::Failed => "Failed",
        }
    }

    /// Case-insensitive parse of `pending|succeeded|failed`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pending" => Some(TransferStatus::Pending),
            "succeeded" => Some(TransferStatus::Succeeded),
            "failed" => Some(TransferStatus::Failed),
            _ => None,
        }
    }

    pub fn is_terminal(self) -> bool {
        !matches!(self, TransferStatus::Pending)
    }
}

/// Refused state change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("transfer is already {0} and terminal states never change")]
    Terminal(&'static str),
    #[error("transfer is already pending")]
    NoChange,
}

/// Whether `from → to` is allowed: only `pending → succeeded|failed`.
pub fn check_transition(from: TransferStatus, to: TransferStatus) -> Result<(), TransitionError> {
    match (from, to) {
        (TransferStatus::Pending, TransferStatus::Pending) => Err(TransitionError::NoChange),
        (TransferStatus::Pending, _) => Ok(()),
        (terminal, _) => Err(TransitionError::Terminal(terminal.as_str())),
    }
}

/// A transfer as the sandbox stores it.
#[derive(Debug, Clone)]
pub struct Transfer {
    pub id: Uuid,
    pub client_transaction_id: Option<String>,
    pub institution_transaction_id: String,
    pub user_id: String,
    pub status: TransferStatus,
    /// Requested amount in token units.
    pub amount: f64,
    /// Requested amount in USD.
    pub amount_in_fiat: f64,
    pub symbol: String,
    pub network: &'static Network,
    /// Unix seconds.
    pub created_timestamp: i64,
    /// Unix seconds; set when the transfer succeeds.
    pub executed_timestamp: Option<i64>,
    pub from: Integration,
    pub from_address: String,
    pub hash: Option<String>,
    pub destination_address: String,
    pub address_tag: Option<String>,
    pub refund_address: Option<String>,
    pub transfer_type: String,
    pub is_fee_included: bool,
    /// Client fee ratio in [0, 1].
    pub client_fee: f64,
    pub link_token_id: Option<String>,
    /// USD per token unit, fixed when the transfer is created (`usdRates` changes later transfers only).
    pub unit_price: f64,
    /// What arrived at the destination when it differs from what the transfer would deliver (the
    /// sandbox's `deliver` knob); `None`: the requested amount, less fees when they are included.
    pub delivered_amount: Option<f64>,
}

/// Everything needed to create a transfer (the derived amounts are computed by [`Transfer::new`]).
#[derive(Debug, Clone)]
pub struct NewTransfer {
    pub client_transaction_id: Option<String>,
    pub user_id: String,
    pub amount: f64,
    pub amount_in_fiat: f64,
    pub symbol: String,
    pub network: &'static Network,
    pub created_timestamp: i64,
    pub from: Integration,
    pub from_address: String,
    pub destination_address: String,
    pub address_tag: Option<String>,
    pub refund_address: Option<String>,
    pub transfer_type: String,
    pub is_fee_included: bool,
    pub client_fee: f64,
    pub link_token_id: Option<String>,
    /// USD per token unit.
    pub unit_price: f64,
}

pub fn round_units(x: f64) -> f64 {
    (x * 1e8).round() / 1e8
}

pub fn round_fiat(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Amounts derived from the requested amount and the fees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Amounts {
    pub unit_price: f64,
    pub gas_fee: f64,
    pub gas_fee_fiat: f64,
    pub processing_fee: f64,
    pub processing_fee_fiat: f64,
    pub source_amount: f64,
    /// What the transfer was to deliver (`amountToReceive`).
    pub amount_to_receive: f64,
    /// What arrived (`destinationAmount`): `amount_to_receive` unless the `deliver` knob said otherwise.
    pub destination_amount: f64,
    pub destination_amount_in_fiat: f64,
    pub total_fees_fiat: f64,
    pub total_transaction_fiat: f64,
}

impl Transfer {
    pub fn new(id: Uuid, t: NewTransfer) -> Transfer {
        Transfer {
            id,
            client_transaction_id: t.client_transaction_id,
            institution_transaction_id: Uuid::new_v4().simple().to_string(),
            user_id: t.user_id,
            status: TransferStatus::Pending,
            amount: round_units(t.amount),
            amount_in_fiat: round_fiat(t.amount_in_fiat),
            symbol: t.symbol,
            network: t.network,
            created_timestamp: t.created_timestamp,
            executed_timestamp: None,
            from: t.from,
            from_address: t.from_address,
            hash: None,
            destination_address: t.destination_address,
            address_tag: t.address_tag,
            refund_address: t.refund_address,
            transfer_type: t.transfer_type,
            is_fee_included: t.is_fee_included,
            client_fee: t.client_fee,
            link_token_id: t.link_token_id,
            unit_price: t.unit_price,
            delivered_amount: None,
        }
    }

    /// Moves the transfer to `to`. Success sets the hash and `executedTimestamp`; failure sets neither.
    pub fn transition(&mut self, to: TransferStatus, now_secs: i64) -> Result<(), TransitionError> {
        check_transition(self.status, to)?;
        self.status = to;
        if to == TransferStatus::Succeeded {
            self.hash = Some(self.network.fake_tx_hash());
            self.executed_timestamp = Some(now_secs);
        }
        Ok(())
    }

    /// Fees: the network's gas fee plus `clientFee × amount`. When fees are included the destination
    /// receives `amount − fees`; otherwise the source pays `amount + fees`. When the `deliver` knob set
    /// what arrived, the source paid that plus the fees.
    pub fn amounts(&self) -> Amounts {
        let unit_price = self.unit_price;
        let gas_fee_fiat = self.network.gas_fee_usd;
        let gas_fee = round_units(gas_fee_fiat / unit_price);
        let processing_fee = round_units(self.amount * self.client_fee);
        let processing_fee_fiat = round_fiat(processing_fee * unit_price);
        let fees = gas_fee + processing_fee;
        let (source_amount, amount_to_receive) = if self.is_fee_included {
            (self.amount, (self.amount - fees).max(0.0))
        } else {
            (self.amount + fees, self.amount)
        };
        let (source_amount, destination_amount) = match self.delivered_amount {
            Some(delivered) => (delivered + fees, delivered),
            None => (source_amount, amount_to_receive),
        };
        let source_amount = round_units(source_amount);
        let amount_to_receive = round_units(amount_to_receive);
        let destination_amount = round_units(destination_amount);
        Amounts {
            unit_price,
            gas_fee,
            gas_fee_fiat,
            processing_fee,
            processing_fee_fiat,
            source_amount,
            amount_to_receive,
            destination_amount,
            destination_amount_in_fiat: round_fiat(destination_amount * unit_price),
            total_fees_fiat: round_fiat(gas_fee_fiat + processing_fee_fiat),
            total_transaction_fiat: round_fiat(source_amount * unit_price),
        }
    }

    /// The REST `TransferModel` (camelCase), as JSON.
    pub fn to_model(&self, public_url: &str) -> Value {
        serde_json::to_value(self.model(public_url)).unwrap_or(Value::Null)
    }

    /// The REST `TransferModel`.
    pub fn model(&self, public_url: &str) -> TransferModel {
        let a = self.amounts();
        let fee = |fee: f64, fee_in_fiat: f64| TransferFee {
            fee,
            fee_currency: self.symbol.clone(),
            fee_in_fiat,
            fee_in_transfer_currency: fee,
        };
        TransferModel {
            id: self.id,
            client_transaction_id: self.client_transaction_id.clone(),
            institution_transaction_id: self.institution_transaction_id.clone(),
            user_id: self.user_id.clone(),
            status: self.status.as_str(),
            amount: self.amount,
            amount_in_fiat: self.amount_in_fiat,
            amount_to_receive: a.amount_to_receive,
            amount_to_receive_in_fiat: round_fiat(a.amount_to_receive * a.unit_price),
            amount_in_fiat_currency_code: "USD",
            symbol: self.symbol.clone(),
            token_address: None,
            network_id: self.network.id,
            network_name: self.network.name,
            network_logo_url: crate::catalog::logo_url(public_url, self.network.name),
            created_timestamp: self.created_timestamp,
            executed_timestamp: self.executed_timestamp,
            from: self.from.to_json(public_url),
            hash: self.hash.clone(),
            info_url: self.hash.as_ref().map(|h| format!("{}{}", self.network.explorer_tx, h)),
            gas_fee: fee(a.gas_fee, a.gas_fee_fiat),
            withdrawal_fee: None,
            processing_fee: fee(a.processing_fee, a.processing_fee_fiat),
            transfer_type: self.transfer_type.clone(),
            is_fee_included: self.is_fee_included,
            source_amount: a.source_amount,
            destination_amount: a.destination_amount,
            destination_amount_in_fiat: a.destination_amount_in_fiat,
            total_fees_amount_in_fiat: a.total_fees_fiat,
            total_transaction_amount_in_fiat: a.total_transaction_fiat,
            funding_methods: vec![json!({
                "type": "existingCryptocurrencyBalance",
                "amount": a.source_amount,
                "amountInFiat": a.total_transaction_fiat,
                "toSymbol": self.symbol,
                "fromAmount": a.source_amount,
                "fromSymbol": self.symbol,
                "paymentMethodType": null,
                "fee": null,
            })],
            destination_address: self.destination_address.clone(),
            refund_address: self.refund_address.clone(),
            address_tag: self.address_tag.clone(),
            sub_client_id: None,
            client_id: None,
            company_name: "Mesh Sandbox",
            bridging_details: None,
            is_smart_funding_transfer: false,
            is_bridging_transfer: false,
            unit_price: a.unit_price,
            requested_transfer_amount: self.amount,
        }
    }

    /// The webhook payload for this transfer as it is now (`Id` and `SentTimestamp` are per attempt).
    pub fn webhook_body(&self, event_id: Uuid, timestamp_ms: i64) -> WebhookBody {
        let a = self.amounts();
        WebhookBody {
            id: Uuid::nil(),
            event_id,
            sent_timestamp: 0,
            transfer_id: self.id,
            transaction_id: self.client_transaction_id.clone(),
            user_id: self.user_id.clone(),
            transfer_status: self.status.webhook_name(),
            tx_hash: self.hash.clone(),
            chain: self.network.name,
            token: self.symbol.clone(),
            source_account_provider: self.from.name.clone(),
            source_amount: a.source_amount,
            destination_amount: a.destination_amount,
            destination_address: self.destination_address.clone(),
            refund_address: self.refund_address.clone(),
            timestamp: timestamp_ms,
        }
    }
}

/// `TransferFee`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TransferFee {
    pub fee: f64,
    pub fee_currency: String,
    pub fee_in_fiat: f64,
    pub fee_in_transfer_currency: f64,
}

/// `TransferModel` as `GET /api/v1/transfers/managed/mesh` returns it (docs/mesh-contract.md §4).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TransferModel {
    pub id: Uuid,
    pub client_transaction_id: Option<String>,
    pub institution_transaction_id: String,
    pub user_id: String,
    pub status: &'static str,
    pub amount: f64,
    pub amount_in_fiat: f64,
    pub amount_to_receive: f64,
    pub amount_to_receive_in_fiat: f64,
    pub amount_in_fiat_currency_code: &'static str,
    pub symbol: String,
    pub token_address: Option<String>,
    pub network_id: Uuid,
    pub network_name: &'static str,
    pub network_logo_url: String,
    /// Unix seconds.
    pub created_timestamp: i64,
    /// Unix seconds.
    pub executed_timestamp: Option<i64>,
    pub from: Value,
    pub hash: Option<String>,
    pub info_url: Option<String>,
    pub gas_fee: TransferFee,
    pub withdrawal_fee: Option<TransferFee>,
    pub processing_fee: TransferFee,
    pub transfer_type: String,
    pub is_fee_included: bool,
    pub source_amount: f64,
    pub destination_amount: f64,
    pub destination_amount_in_fiat: f64,
    pub total_fees_amount_in_fiat: f64,
    pub total_transaction_amount_in_fiat: f64,
    pub funding_methods: Vec<Value>,
    pub destination_address: String,
    pub refund_address: Option<String>,
    pub address_tag: Option<String>,
    pub sub_client_id: Option<Uuid>,
    pub client_id: Option<String>,
    pub company_name: &'static str,
    pub bridging_details: Option<Value>,
    pub is_smart_funding_transfer: bool,
    pub is_bridging_transfer: bool,
    pub unit_price: f64,
    pub requested_transfer_amount: f64,
}

/// The webhook body, serialised in exactly this key order with PascalCase names (docs/mesh-contract.md §5).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct WebhookBody {
    /// Per attempt: new on every retry and every duplicate.
    pub id: Uuid,
    /// Per event: the same across retries and duplicates.
    pub event_id: Uuid,
    /// Unix seconds, per attempt.
    pub sent_timestamp: i64,
    pub transfer_id: Uuid,
    pub transaction_id: Option<String>,
    pub user_id: String,
    pub transfer_status: &'static str,
    pub tx_hash: Option<String>,
    /// Network name, not id.
    pub chain: &'static str,
    pub token: String,
    pub source_account_provider: String,
    pub source_amount: f64,
    pub destination_amount: f64,
    pub destination_address: String,
    pub refund_address: Option<String>,
    /// Unix milliseconds of the status change (the same across retries).
    pub timestamp: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Integration, default_network};

    fn sample() -> Transfer {
        Transfer::new(
            Uuid::new_v4(),
            NewTransfer {
                client_transaction_id: Some("ord-1".into()),
                user_id: "u1".into(),
                amount: 49.99,
                amount_in_fiat: 49.99,
                symbol: "USDC".into(),
                network: default_network(),
                created_timestamp: 1_767_225_600,
                from: Integration::by_name("Coinbase"),
                from_address: "0xabc".into(),
                destination_address: "0x1111111111111111111111111111111111111111".into(),
                address_tag: None,
                refund_address: None,
                transfer_type: "payment".into(),
                is_fee_included: false,
                client_fee: 0.0,
                link_token_id: None,
                unit_price: 1.0,
            },
        )
    }

    #[test]
    fn state_machine() {
        use TransferStatus::*;
        assert!(check_transition(Pending, Succeeded).is_ok());
        assert!(check_transition(Pending, Failed).is_ok());
        assert_eq!(check_transition(Pending, Pending), Err(TransitionError::NoChange));
        for terminal in [Succeeded, Failed] {
            for to in [Pending, Succeeded, Failed] {
                assert!(check_transition(terminal, to).is_err(), "{terminal:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn success_sets_hash_and_executed_failure_does_not() {
        let mut t = sample();
        assert_eq!(t.to_model("http://x")["hash"], Value::Null);
        t.transition(TransferStatus::Succeeded, 42).expect("pending -> succeeded");
        assert!(t.hash.as_deref().is_some_and(|h| h.starts_with("0x")));
        assert_eq!(t.executed_timestamp, Some(42));
        assert!(t.transition(TransferStatus::Pending, 43).is_err());
        assert_eq!(t.status, TransferStatus::Succeeded);

        let mut f = sample();
        f.transition(TransferStatus::Failed, 42).expect("pending -> failed");
        assert!(f.hash.is_none());
        assert!(f.executed_timestamp.is_none());
    }

    #[test]
    fn amounts_and_model() {
        let t = sample();
        let m = t.to_model("http://x");
        assert_eq!(m["status"], "pending");
        assert_eq!(m["destinationAmount"], 49.99);
        assert_eq!(m["sourceAmount"], 50.0);
        assert_eq!(m["networkName"], "Base");
        assert_eq!(m["createdTimestamp"], 1_767_225_600);
        assert_eq!(m["from"]["type"], "coinbase");

        let mut inc = sample();
        inc.is_fee_included = true;
        inc.client_fee = 0.01;
        let a = inc.amounts();
        assert_eq!(a.source_amount, 49.99);
        assert!((a.destination_amount - (49.99 - 0.01 - 0.4999)).abs() < 1e-6);
    }

    #[test]
    fn a_delivered_amount_is_what_arrives_and_keeps_what_was_asked() {
        let mut t = sample();
        t.delivered_amount = Some(20.0);
        let m = t.to_model("http://x");
        assert_eq!(m["destinationAmount"], 20.0);
        assert_eq!(m["destinationAmountInFiat"], 20.0);
        assert_eq!(m["sourceAmount"], 20.01);
        // What was asked stays visible beside what arrived.
        assert_eq!(m["amountInFiat"], 49.99);
        assert_eq!(m["amountToReceive"], 49.99);
        assert_eq!(m["requestedTransferAmount"], 49.99);
        let body = t.webhook_body(Uuid::new_v4(), 1);
        assert_eq!(body.destination_amount, 20.0);
        assert_eq!(body.source_amount, 20.01);
    }

    #[test]
    fn fiat_value_uses_the_rate_fixed_at_creation() {
        let mut eth = sample();
        eth.symbol = "ETH".into();
        eth.amount = 0.01;
        eth.unit_price = 2500.0;
        let a = eth.amounts();
        assert_eq!(a.destination_amount, 0.01);
        assert_eq!(a.destination_amount_in_fiat, 25.0);
        assert_eq!(eth.to_model("http://x")["destinationAmountInFiat"], 25.0);
        assert_eq!(eth.to_model("http://x")["unitPrice"], 2500.0);
    }

    #[test]
    fn webhook_body_key_order_and_case() {
        let mut t = sample();
        t.transition(TransferStatus::Succeeded, 1).expect("ok");
        let mut body = t.webhook_body(Uuid::new_v4(), 1_767_225_698_123);
        body.id = Uuid::new_v4();
        body.sent_timestamp = 1_767_225_700;
        let text = serde_json::to_string(&body).expect("serialises");
        let keys: Vec<&str> = [
            "Id",
            "EventId",
            "SentTimestamp",
            "TransferId",
            "TransactionId",
            "UserId",
            "TransferStatus",
            "TxHash",
            "Chain",
            "Token",
            "SourceAccountProvider",
            "SourceAmount",
            "DestinationAmount",
            "DestinationAddress",
            "RefundAddress",
            "Timestamp",
        ]
        .to_vec();
        let mut last = 0;
        for k in keys {
            let pos = text.find(&format!("\"{k}\":")).unwrap_or_else(|| panic!("missing {k} in {text}"));
            assert!(pos >= last, "{k} out of order");
            last = pos;
        }
        assert!(text.contains("\"TransferStatus\":\"Succeeded\""));
        assert!(text.contains("\"Chain\":\"Base\""));
    }
}
