//! Typed configuration, read once per cold start from the environment. A missing or malformed
//! variable fails init with a message that names it (and never echoes a value that could be secret).

use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use url::Url;

pub const TRANSFERS_TABLE: &str = "TRANSFERS_TABLE";
pub const MESH_SECRET_ID: &str = "MESH_SECRET_ID";
pub const MESH_ENV: &str = "MESH_ENV";
pub const MESH_API_BASE_URL: &str = "MESH_API_BASE_URL";
pub const SECRET_TTL_SECONDS: &str = "SECRET_TTL_SECONDS";
pub const DESTINATIONS: &str = "DESTINATIONS";

const SANDBOX_BASE_URL: &str = "https://sandbox-integration-api.meshconnect.com";
const PRODUCTION_BASE_URL: &str = "https://integration-api.meshconnect.com";
const DEFAULT_SECRET_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration variable {name} is missing")]
    Missing { name: String },
    #[error("configuration variable {name} is invalid: {reason}")]
    Invalid { name: String, reason: String },
}

impl ConfigError {
    fn invalid(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid { name: name.into(), reason: reason.into() }
    }
}

/// Where configuration comes from: the process environment in functions, a map in tests.
pub trait EnvSource {
    fn var(&self, name: &str) -> Option<String>;
}

pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl EnvSource for HashMap<&str, &str> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).map(|v| v.to_string())
    }
}

fn required(env: &impl EnvSource, name: &str) -> Result<String, ConfigError> {
    match env.var(name) {
        Some(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
        _ => Err(ConfigError::Missing { name: name.to_string() }),
    }
}

fn optional(env: &impl EnvSource, name: &str) -> Option<String> {
    env.var(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeshEnv {
    Sandbox,
    Production,
}

impl MeshEnv {
    pub fn default_base_url(self) -> &'static str {
        match self {
            MeshEnv::Sandbox => SANDBOX_BASE_URL,
            MeshEnv::Production => PRODUCTION_BASE_URL,
        }
    }
}

/// What every function needs: where transfers live, where the Mesh secret is, and which Mesh to call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreConfig {
    pub transfers_table: String,
    pub mesh_secret_id: String,
    pub mesh_env: MeshEnv,
    pub mesh_base_url: Url,
    pub secret_ttl: Duration,
}

impl CoreConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(env: &impl EnvSource) -> Result<Self, ConfigError> {
        let transfers_table = required(env, TRANSFERS_TABLE)?;
        if !valid_table_name(&transfers_table) {
            return Err(ConfigError::invalid(
                TRANSFERS_TABLE,
                "a DynamoDB table name is 3-255 characters of a-z, A-Z, 0-9, '_', '-', '.'",
            ));
        }
        let mesh_secret_id = required(env, MESH_SECRET_ID)?;
        let mesh_env = match required(env, MESH_ENV)?.to_ascii_lowercase().as_str() {
            "sandbox" => MeshEnv::Sandbox,
            "production" => MeshEnv::Production,
            _ => return Err(ConfigError::invalid(MESH_ENV, "expected 'sandbox' or 'production'")),
        };
        let mesh_base_url = match optional(env, MESH_API_BASE_URL) {
            Some(raw) => parse_base_url(&raw)?,
            None => Url::parse(mesh_env.default_base_url()).expect("built-in Mesh URLs parse"),
        };
        let secret_ttl = match optional(env, SECRET_TTL_SECONDS) {
            None => DEFAULT_SECRET_TTL,
            Some(raw) => match raw.parse::<u64>() {
                Ok(secs) if (1..=86_400).contains(&secs) => Duration::from_secs(secs),
                _ => return Err(ConfigError::invalid(SECRET_TTL_SECONDS, "expected whole seconds from 1 to 86400")),
            },
        };
        Ok(Self { transfers_table, mesh_secret_id, mesh_env, mesh_base_url, secret_ttl })
    }
}

fn valid_table_name(name: &str) -> bool {
    (3..=255).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The Mesh API base URL override. Plain http is accepted only for loopback hosts (local runs against
/// the sandbox), so a typo can never send the client secret over an unencrypted link.
fn parse_base_url(raw: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(raw).map_err(|e| ConfigError::invalid(MESH_API_BASE_URL, format!("not a URL ({e})")))?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => return Err(ConfigError::invalid(MESH_API_BASE_URL, "http is only allowed for loopback hosts")),
        _ => return Err(ConfigError::invalid(MESH_API_BASE_URL, "expected an http(s) URL")),
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::invalid(
            MESH_API_BASE_URL,
            "expected a base URL without credentials, query or fragment",
        ));
    }
    Ok(url)
}

/// A Mesh network as the merchant configured it: Mesh's network id (a UUID) or its name ("Base").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkRef {
    Id(String),
    Name(String),
}

impl NetworkRef {
    fn parse(raw: &str) -> Self {
        let raw = raw.trim();
        match uuid::Uuid::parse_str(raw) {
            Ok(id) => NetworkRef::Id(id.hyphenated().to_string()),
            Err(_) => NetworkRef::Name(raw.to_string()),
        }
    }

    fn key(&self) -> String {
        match self {
            NetworkRef::Id(id) => id.clone(),
            NetworkRef::Name(name) => name.to_lowercase(),
        }
    }
}

/// One of the merchant's receiving addresses. Money only ever goes to one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub symbol: String,
    pub network: NetworkRef,
    pub address: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDestination {
    symbol: String,
    network: String,
    address: String,
}

/// The merchant's configured destinations (`DESTINATIONS`, a JSON array), validated at init.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destinations(Vec<Destination>);

impl Destinations {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(env: &impl EnvSource) -> Result<Self, ConfigError> {
        Self::parse(&required(env, DESTINATIONS)?)
    }

    pub fn parse(json: &str) -> Result<Self, ConfigError> {
        let raw: Vec<RawDestination> = serde_json::from_str(json).map_err(|e| {
            ConfigError::invalid(DESTINATIONS, format!("expected a JSON array of {{symbol, network, address}} ({e})"))
        })?;
        if raw.is_empty() {
            return Err(ConfigError::invalid(DESTINATIONS, "at least one destination is required"));
        }
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(raw.len());
        for (i, d) in raw.into_iter().enumerate() {
            let field = |f: &str| format!("{DESTINATIONS}[{i}].{f}");
            let symbol = d.symbol.trim().to_ascii_uppercase();
            if symbol.is_empty() || symbol.len() > 16 || !symbol.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(ConfigError::invalid(
                    field("symbol"),
                    "expected a ticker such as USDC (1-16 letters or digits)",
                ));
            }
            let network = d.network.trim();
            if network.is_empty() || network.len() > 64 || network.chars().any(char::is_control) {
                return Err(ConfigError::invalid(field("network"), "expected a Mesh network id or name"));
            }
            let address = d.address.trim();
            if address.is_empty() || address.len() > 128 || address.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(ConfigError::invalid(
                    field("address"),
                    "expected an address of 1-128 characters without spaces",
                ));
            }
            let network = NetworkRef::parse(network);
            if !seen.insert((symbol.clone(), network.key())) {
                return Err(ConfigError::invalid(field("symbol"), "the same symbol and network are configured twice"));
            }
            out.push(Destination { symbol, network, address: address.to_string() });
        }
        Ok(Self(out))
    }

    pub fn as_slice(&self) -> &[Destination] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEST: &str = r#"[{"symbol":"usdc","network":"Base","address":"0x1111111111111111111111111111111111111111"},
        {"symbol":"USDC","network":"0291810A-5947-424D-9A59-E88BB33E999D","address":"9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin"}]"#;

    fn env(pairs: &[(&'static str, &'static str)]) -> HashMap<&'static str, &'static str> {
        pairs.iter().copied().collect()
    }

    fn base() -> HashMap<&'static str, &'static str> {
        env(&[(TRANSFERS_TABLE, "transfers"), (MESH_SECRET_ID, "mesh/credentials"), (MESH_ENV, "sandbox")])
    }

    #[test]
    fn core_config_defaults_follow_the_environment() {
        let cfg = CoreConfig::from_source(&base()).unwrap();
        assert_eq!(cfg.transfers_table, "transfers");
        assert_eq!(cfg.mesh_secret_id, "mesh/credentials");
        assert_eq!(cfg.mesh_env, MeshEnv::Sandbox);
        assert_eq!(cfg.mesh_base_url.as_str(), "https://sandbox-integration-api.meshconnect.com/");
        assert_eq!(cfg.secret_ttl, Duration::from_secs(300));

        let mut prod = base();
        prod.insert(MESH_ENV, "Production");
        let cfg = CoreConfig::from_source(&prod).unwrap();
        assert_eq!(cfg.mesh_base_url.as_str(), "https://integration-api.meshconnect.com/");
    }

    #[test]
    fn every_missing_variable_is_named() {
        for name in [TRANSFERS_TABLE, MESH_SECRET_ID, MESH_ENV] {
            let mut e = base();
            e.remove(name);
            assert_eq!(CoreConfig::from_source(&e).unwrap_err(), ConfigError::Missing { name: name.into() });
            e.insert(name, "  ");
            assert_eq!(CoreConfig::from_source(&e).unwrap_err(), ConfigError::Missing { name: name.into() });
        }
    }

    #[test]
    fn malformed_variables_are_named() {
        let cases = [
            (MESH_ENV, "staging"),
            (TRANSFERS_TABLE, "bad table!"),
            (MESH_API_BASE_URL, "not a url"),
            (MESH_API_BASE_URL, "http://mesh.example.com"),
            (MESH_API_BASE_URL, "ftp://127.0.0.1"),
            (MESH_API_BASE_URL, "https://user:pw@mesh.example.com"),
            (SECRET_TTL_SECONDS, "0"),
            (SECRET_TTL_SECONDS, "five"),
        ];
        for (name, value) in cases {
            let mut e = base();
            e.insert(name, value);
            match CoreConfig::from_source(&e) {
                Err(ConfigError::Invalid { name: n, .. }) => assert_eq!(n, name, "{value}"),
                other => panic!("{name}={value}: expected Invalid, got {other:?}"),
            }
        }
    }

    #[test]
    fn base_url_override_allows_http_only_on_loopback() {
        let mut e = base();
        e.insert(MESH_API_BASE_URL, "http://127.0.0.1:8787");
        assert_eq!(CoreConfig::from_source(&e).unwrap().mesh_base_url.as_str(), "http://127.0.0.1:8787/");
        e.insert(MESH_API_BASE_URL, "https://mesh-proxy.internal.example");
        assert!(CoreConfig::from_source(&e).is_ok());
        e.insert(SECRET_TTL_SECONDS, "60");
        assert_eq!(CoreConfig::from_source(&e).unwrap().secret_ttl, Duration::from_secs(60));
    }

    #[test]
    fn destinations_are_parsed_and_normalised() {
        let d = Destinations::parse(DEST).unwrap();
        let d = d.as_slice();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].symbol, "USDC");
        assert_eq!(d[0].network, NetworkRef::Name("Base".into()));
        assert_eq!(d[1].network, NetworkRef::Id("0291810a-5947-424d-9a59-e88bb33e999d".into()));
        assert_eq!(d[1].address, "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin");
    }

    #[test]
    fn destinations_errors_name_the_entry_and_field() {
        let cases = [
            ("", "DESTINATIONS"),
            ("{}", "DESTINATIONS"),
            ("[]", "DESTINATIONS"),
            (r#"[{"symbol":"USDC","network":"Base"}]"#, "DESTINATIONS"),
            (r#"[{"symbol":"USDC","network":"Base","address":"0x1","memo":"x"}]"#, "DESTINATIONS"),
            (r#"[{"symbol":"US DC","network":"Base","address":"0x1"}]"#, "DESTINATIONS[0].symbol"),
            (r#"[{"symbol":"USDC","network":" ","address":"0x1"}]"#, "DESTINATIONS[0].network"),
            (
                r#"[{"symbol":"USDC","network":"Base","address":"0x1"},{"symbol":"ETH","network":"Base","address":"0x 1"}]"#,
                "DESTINATIONS[1].address",
            ),
            (
                r#"[{"symbol":"USDC","network":"Base","address":"0x1"},{"symbol":"usdc","network":"base","address":"0x2"}]"#,
                "DESTINATIONS[1].symbol",
            ),
        ];
        for (json, field) in cases {
            let mut e = base();
            e.insert(DESTINATIONS, json);
            let err = Destinations::from_source(&e).unwrap_err();
            let name = match &err {
                ConfigError::Missing { name } | ConfigError::Invalid { name, .. } => name.clone(),
            };
            assert_eq!(name, field, "{json}: {err}");
        }
    }
}
