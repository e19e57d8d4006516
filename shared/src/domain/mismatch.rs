//! The mismatch rules: what arrived (token, network, address, amount, user) against what the link
//! token offered and expected. Pure.

use crate::domain::report::Report;
use crate::domain::transfer::{Mismatch, TransferRecord};
use rust_decimal::Decimal;

/// Tolerance on the amount received in a USD stablecoin against the fiat amount asked for.
pub const AMOUNT_TOLERANCE: Decimal = Decimal::from_parts(1, 0, 0, false, 2);

/// Tokens valued one to one in USD: their received amount is their value. Any other token is valued
/// only by Mesh's own fiat figure (`Received::amount_in_fiat`), never by a guess.
pub const USD_STABLECOINS: [&str; 6] = ["USDC", "USDT", "PYUSD", "USDP", "DAI", "FDUSD"];

/// Compares what Mesh says arrived with what the link token offered and expected.
pub fn check_received(record: &TransferRecord, report: &Report) -> Vec<Mismatch> {
    let got = &report.received;
    let mut out = Vec::new();
    if let Some(user) = report.user_id.as_deref().filter(|u| !u.is_empty())
        && user != record.user_id.as_str()
    {
        out.push(Mismatch::User);
    }
    if record.offered.is_empty() {
        return out;
    }
    let eq = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
    let token_matches: Vec<_> = match got.token.as_deref() {
        Some(token) => record.offered.iter().filter(|o| eq(&o.symbol, token)).collect(),
        None => record.offered.iter().collect(),
    };
    if token_matches.is_empty() {
        out.push(Mismatch::Token);
        return out;
    }
    let network_matches: Vec<_> = match got.chain.as_deref() {
        Some(chain) => {
            token_matches.into_iter().filter(|o| eq(&o.network_name, chain) || eq(&o.network_id, chain)).collect()
        }
        None => token_matches,
    };
    if network_matches.is_empty() {
        out.push(Mismatch::Network);
        return out;
    }
    if let Some(address) = got.address.as_deref() {
        // EVM addresses are case-insensitive (EIP-55 case is only a checksum); others are exact.
        let same = |o: &str| if o.starts_with("0x") { eq(o, address) } else { o == address.trim() };
        if !network_matches.iter().any(|o| same(&o.address)) {
            out.push(Mismatch::Address);
        }
    }
    if let (Some(expected), Some(amount), Some(token)) = (record.expected_amount_fiat, got.amount, got.token.as_deref())
        && USD_STABLECOINS.iter().any(|s| eq(s, token))
    {
        let margin = expected * AMOUNT_TOLERANCE;
        if amount < expected - margin {
            out.push(Mismatch::Underpaid);
        } else if amount > expected + margin {
            out.push(Mismatch::Overpaid);
        }
    }
    out
}

/// A transfer offered on two networks and a report of what arrived, for the tests of the rules here
/// and of the ingest plan.
#[cfg(test)]
pub(crate) mod fixtures {
    use crate::domain::ids::{EventId, TransactionId, TransferId, UserId};
    use crate::domain::report::{Report, ReportSource};
    use crate::domain::transfer::{OfferedDestination, Received, ReportedStatus, TransferRecord};

    pub fn record() -> TransferRecord {
        let mut r =
            TransferRecord::created(TransactionId::parse("txn_1").unwrap(), UserId::parse("user-1").unwrap(), 1);
        r.expected_amount_fiat = Some("50".parse().unwrap());
        r.offered = vec![
            OfferedDestination {
                symbol: "USDC".into(),
                network_id: "aa883b03-120d-477c-a588-37c2afd3ca71".into(),
                network_name: "Base".into(),
                address: "0xAbC0000000000000000000000000000000000001".into(),
            },
            OfferedDestination {
                symbol: "USDC".into(),
                network_id: "0291810a-5947-424d-9a59-e88bb33e999d".into(),
                network_name: "Solana".into(),
                address: "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin".into(),
            },
        ];
        r
    }

    pub fn report(status: &str, token: &str, chain: &str, address: &str, amount: &str) -> Report {
        Report {
            event_id: EventId::parse("evt-1").unwrap(),
            source: ReportSource::Webhook,
            transfer_id: TransferId::parse("tr-1").unwrap(),
            transaction_id: Some(TransactionId::parse("txn_1").unwrap()),
            user_id: Some("user-1".into()),
            status: ReportedStatus::parse(status),
            event_at: Some(1_000),
            tx_hash: Some("0xhash".into()),
            received: Received {
                amount: Some(amount.parse().unwrap()),
                token: Some(token.into()),
                chain: Some(chain.into()),
                address: Some(address.into()),
                amount_in_fiat: None,
            },
        }
    }

    pub const BASE_ADDR: &str = "0xabc0000000000000000000000000000000000001";
    pub const SOL_ADDR: &str = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin";
}

#[cfg(test)]
mod tests {
    use super::fixtures::{BASE_ADDR, SOL_ADDR, record, report};
    use super::*;

    #[test]
    fn what_was_offered_arrives_cleanly() {
        assert!(check_received(&record(), &report("Succeeded", "USDC", "Base", BASE_ADDR, "50")).is_empty());
        assert!(check_received(&record(), &report("Succeeded", "usdc", "solana", SOL_ADDR, "49.6")).is_empty());
    }

    #[test]
    fn every_kind_of_mismatch_is_caught() {
        let r = record();
        let cases = [
            (report("Succeeded", "USDT", "Base", BASE_ADDR, "50"), vec![Mismatch::Token]),
            (report("Succeeded", "USDC", "Ethereum", BASE_ADDR, "50"), vec![Mismatch::Network]),
            (report("Succeeded", "USDC", "Base", SOL_ADDR, "50"), vec![Mismatch::Address]),
            (report("Succeeded", "USDC", "Solana", &SOL_ADDR.to_lowercase(), "50"), vec![Mismatch::Address]),
            (report("Succeeded", "USDC", "Base", BASE_ADDR, "49.49"), vec![Mismatch::Underpaid]),
            (report("Succeeded", "USDC", "Base", BASE_ADDR, "50.51"), vec![Mismatch::Overpaid]),
        ];
        for (rep, want) in cases {
            assert_eq!(check_received(&r, &rep), want, "{:?}", rep.received);
        }
        let mut other_user = report("Succeeded", "USDC", "Base", BASE_ADDR, "50");
        other_user.user_id = Some("user-2".into());
        assert_eq!(check_received(&r, &other_user), vec![Mismatch::User]);
    }
}
