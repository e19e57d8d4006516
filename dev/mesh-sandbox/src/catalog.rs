//! Static reference data: Mesh's networks (with their real ids), token prices, source integrations, and
//! generators for realistic-looking fake addresses and transaction hashes.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// One network as `GET /api/v1/transfers/managed/networks` describes it.
#[derive(Debug, PartialEq)]
pub struct Network {
    pub id: Uuid,
    pub name: &'static str,
    /// Always a string: EVM chain ids as decimal, non-EVM networks use a conventional id.
    pub chain_id: &'static str,
    pub native_symbol: &'static str,
    /// A `NetworkType` value (`evm`, `solana`, `bitcoin`, `tron`).
    pub network_type: &'static str,
    pub tokens: &'static [&'static str],
    pub broker_types: &'static [&'static str],
    /// Explorer prefix for a transaction hash.
    pub explorer_tx: &'static str,
    /// Typical network fee, in USD.
    pub gas_fee_usd: f64,
}

const EVM_BROKERS: &[&str] = &["deFiWallet", "coinbase", "binanceInternational", "kraken", "robinhood"];
const SOL_BROKERS: &[&str] = &["deFiWallet", "coinbase", "binanceInternational", "kraken"];
const BTC_BROKERS: &[&str] = &["coinbase", "binanceInternational", "kraken", "robinhood"];
const TRON_BROKERS: &[&str] = &["binanceInternational", "kraken"];

/// The networks the sandbox knows, in the order the networks endpoint lists them.
pub static NETWORKS: [Network; 7] = [
    Network {
        id: Uuid::from_u128(0xe3c7fdd8_b1fc_4e51_85ae_bb276e075611),
        name: "Ethereum",
        chain_id: "1",
        native_symbol: "ETH",
        network_type: "evm",
        tokens: &["ETH", "USDC", "USDT", "PYUSD"],
        broker_types: EVM_BROKERS,
        explorer_tx: "https://etherscan.io/tx/",
        gas_fee_usd: 0.5,
    },
    Network {
        id: Uuid::from_u128(0x7436e9d0_ba42_4d2b_b4c0_8e4e606b2c12),
        name: "Polygon",
        chain_id: "137",
        native_symbol: "POL",
        network_type: "evm",
        tokens: &["POL", "USDC", "USDT"],
        broker_types: EVM_BROKERS,
        explorer_tx: "https://polygonscan.com/tx/",
        gas_fee_usd: 0.01,
    },
    Network {
        id: Uuid::from_u128(0x0291810a_5947_424d_9a59_e88bb33e999d),
        name: "Solana",
        chain_id: "101",
        native_symbol: "SOL",
        network_type: "solana",
        tokens: &["SOL", "USDC", "USDT", "PYUSD"],
        broker_types: SOL_BROKERS,
        explorer_tx: "https://solscan.io/tx/",
        gas_fee_usd: 0.01,
    },
    Network {
        id: Uuid::from_u128(0xaa883b03_120d_477c_a588_37c2afd3ca71),
        name: "Base",
        chain_id: "8453",
        native_symbol: "ETH",
        network_type: "evm",
        tokens: &["ETH", "USDC"],
        broker_types: EVM_BROKERS,
        explorer_tx: "https://basescan.org/tx/",
        gas_fee_usd: 0.01,
    },
    Network {
        id: Uuid::from_u128(0x0880db06_7c7c_4738_898f_cf74efc03c47),
        name: "Bitcoin",
        chain_id: "0",
        native_symbol: "BTC",
        network_type: "bitcoin",
        tokens: &["BTC"],
        broker_types: BTC_BROKERS,
        explorer_tx: "https://mempool.space/tx/",
        gas_fee_usd: 1.5,
    },
    Network {
        id: Uuid::from_u128(0xc5dc5d2e_68c1_4261_9a30_90b598738bf5),
        name: "Tron",
        chain_id: "728126428",
        native_symbol: "TRX",
        network_type: "tron",
        tokens: &["TRX", "USDT"],
        broker_types: TRON_BROKERS,
        explorer_tx: "https://tronscan.org/#/transaction/",
        gas_fee_usd: 1.0,
    },
    Network {
        id: Uuid::from_u128(0xa34f2431_0ddd_4de4_bc22_4a8143287aeb),
        name: "Arbitrum",
        chain_id: "42161",
        native_symbol: "ETH",
        network_type: "evm",
        tokens: &["ETH", "USDC", "USDT"],
        broker_types: EVM_BROKERS,
        explorer_tx: "https://arbiscan.io/tx/",
        gas_fee_usd: 0.01,
    },
];

/// Base: the default network when nothing else says which.
pub fn default_network() -> &'static Network {
    &NETWORKS[3]
}

pub fn network(id: Uuid) -> Option<&'static Network> {
    NETWORKS.iter().find(|n| n.id == id)
}

/// Logo URL served by the sandbox itself (`GET /logos/{name}.svg`), so demos work offline.
pub fn logo_url(public_url: &str, name: &str) -> String {
    format!("{public_url}/logos/{}.svg", name.to_lowercase())
}

impl Network {
    pub fn to_json(&self, public_url: &str) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "chainId": self.chain_id,
            "logoUrl": logo_url(public_url, self.name),
            "nativeSymbol": self.native_symbol,
            "networkType": self.network_type,
            "supportedTokens": self.tokens,
            "tokens": self.tokens.iter().map(|t| json!({"symbol": t, "logoUrl": logo_url(public_url, t)})).collect::<Vec<_>>(),
            "supportedBrokerTypes": self.broker_types,
        })
    }

    /// A random address in this network's format.
    pub fn fake_address(&self) -> String {
        match self.network_type {
            "solana" => random_chars(BASE58, 44),
            "bitcoin" => format!("bc1q{}", random_chars(BECH32, 38)),
            "tron" => format!("T{}", random_chars(BASE58, 33)),
            _ => format!("0x{}", random_chars(HEX, 40)),
        }
    }

    /// A random transaction hash in this network's format.
    pub fn fake_tx_hash(&self) -> String {
        match self.network_type {
            "solana" => random_chars(BASE58, 88),
            "bitcoin" | "tron" => random_chars(HEX, 64),
            _ => format!("0x{}", random_chars(HEX, 64)),
        }
    }
}

const HEX: &[u8] = b"0123456789abcdef";
const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
const BECH32: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

fn random_chars(alphabet: &[u8], len: usize) -> String {
    (0..len).map(|_| char::from(alphabet[fastrand::usize(..alphabet.len())])).collect()
}

/// Reference USD price of a token (fixed, so amounts are predictable). Unknown tokens are priced at 1.
pub fn usd_price(symbol: &str) -> f64 {
    match symbol.to_ascii_uppercase().as_str() {
        "ETH" | "WETH" => 3000.0,
        "BTC" | "WBTC" => 60000.0,
        "SOL" => 150.0,
        "POL" | "MATIC" => 0.5,
        "TRX" => 0.12,
        _ => 1.0,
    }
}

/// A source integration (exchange or wallet), as shown in `TransferModel.from`.
#[derive(Debug, Clone, PartialEq)]
pub struct Integration {
    pub id: Uuid,
    pub name: String,
    /// A `BrokerType` value.
    pub broker_type: String,
}

/// The integrations the sandbox names explicitly (any other name is accepted too).
pub const KNOWN_INTEGRATIONS: &[&str] = &["Coinbase", "Binance", "Kraken", "Robinhood", "MetaMask", "Phantom"];

impl Integration {
    /// Resolves an integration by (case-insensitive) name; unknown names get a stable derived id and a
    /// camelCase broker type.
    pub fn by_name(name: &str) -> Integration {
        let trimmed = name.trim();
        let key = trimmed.to_lowercase();
        let (name, broker_type) = match key.as_str() {
            "coinbase" => ("Coinbase".to_string(), "coinbase".to_string()),
            "binance" | "binanceinternational" => ("Binance".to_string(), "binanceInternational".to_string()),
            "kraken" => ("Kraken".to_string(), "kraken".to_string()),
            "robinhood" => ("Robinhood".to_string(), "robinhood".to_string()),
            "metamask" => ("MetaMask".to_string(), "deFiWallet".to_string()),
            "phantom" => ("Phantom".to_string(), "deFiWallet".to_string()),
            _ => (trimmed.to_string(), camel_case(trimmed)),
        };
        let id = if key == "coinbase" {
            // The id Mesh's own documentation examples use for Coinbase.
            Uuid::from_u128(0x9226e5c2_ebc3_4fdd_94f6_ed52cdce1420)
        } else {
            derived_uuid(&format!("mesh-sandbox/integration/{}", name.to_lowercase()))
        };
        Integration { id, name, broker_type }
    }

    pub fn to_json(&self, public_url: &str) -> Value {
        json!({
            "id": self.id,
            "type": self.broker_type,
            "name": self.name,
            "logoUrl": logo_url(public_url, &self.name),
        })
    }
}

fn camel_case(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            upper = !out.is_empty();
            continue;
        }
        if out.is_empty() {
            out.extend(c.to_lowercase());
        } else if upper {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        upper = false;
    }
    if out.is_empty() { "unknown".to_string() } else { out }
}

/// A stable, v4-shaped UUID derived from a string.
pub fn derived_uuid(seed: &str) -> Uuid {
    let digest = Sha256::digest(seed.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// A small self-contained SVG logo (a coloured disc with initials).
pub fn logo_svg(name: &str) -> String {
    let label: String = name.chars().filter(|c| c.is_ascii_alphanumeric()).take(3).collect::<String>().to_uppercase();
    let digest = Sha256::digest(name.to_lowercase().as_bytes());
    let hue = u16::from(digest[0]) * 360 / 256;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"64\" height=\"64\" viewBox=\"0 0 64 64\">\
<circle cx=\"32\" cy=\"32\" r=\"32\" fill=\"hsl({hue},55%,45%)\"/>\
<text x=\"32\" y=\"39\" font-family=\"sans-serif\" font-size=\"18\" font-weight=\"bold\" fill=\"#fff\" text-anchor=\"middle\">{label}</text></svg>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_mesh() {
        let by_name = |n: &str| NETWORKS.iter().find(|x| x.name == n).map(|x| x.id.to_string());
        assert_eq!(by_name("Ethereum").as_deref(), Some("e3c7fdd8-b1fc-4e51-85ae-bb276e075611"));
        assert_eq!(by_name("Polygon").as_deref(), Some("7436e9d0-ba42-4d2b-b4c0-8e4e606b2c12"));
        assert_eq!(by_name("Solana").as_deref(), Some("0291810a-5947-424d-9a59-e88bb33e999d"));
        assert_eq!(by_name("Base").as_deref(), Some("aa883b03-120d-477c-a588-37c2afd3ca71"));
        assert_eq!(by_name("Bitcoin").as_deref(), Some("0880db06-7c7c-4738-898f-cf74efc03c47"));
        assert_eq!(by_name("Tron").as_deref(), Some("c5dc5d2e-68c1-4261-9a30-90b598738bf5"));
        assert_eq!(by_name("Arbitrum").as_deref(), Some("a34f2431-0ddd-4de4-bc22-4a8143287aeb"));
    }

    #[test]
    fn fake_formats() {
        let eth = &NETWORKS[0];
        assert!(eth.fake_address().starts_with("0x"));
        assert_eq!(eth.fake_address().len(), 42);
        assert_eq!(eth.fake_tx_hash().len(), 66);
        let sol = &NETWORKS[2];
        assert_eq!(sol.fake_tx_hash().len(), 88);
        assert!(NETWORKS[4].fake_address().starts_with("bc1q"));
        assert!(NETWORKS[5].fake_address().starts_with('T'));
    }

    #[test]
    fn integrations() {
        let cb = Integration::by_name("coinbase");
        assert_eq!(cb.name, "Coinbase");
        assert_eq!(cb.broker_type, "coinbase");
        assert_eq!(cb.id.to_string(), "9226e5c2-ebc3-4fdd-94f6-ed52cdce1420");
        assert_eq!(Integration::by_name("Binance").broker_type, "binanceInternational");
        let g = Integration::by_name("Gemini Exchange");
        assert_eq!(g.broker_type, "geminiExchange");
        assert_eq!(g.id, Integration::by_name("gemini exchange").id);
        assert_eq!(g.id.get_version_num(), 4);
        assert_eq!(camel_case("!!"), "unknown");
    }
}
