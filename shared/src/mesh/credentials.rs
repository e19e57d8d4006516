//! The Mesh secret's shape: API credentials and the webhook signing secrets, parsed from the JSON
//! object `{clientId, clientSecret, webhookSecret, previousWebhookSecret?}`, and what can go wrong
//! getting it. Secret values are `SecretString`s: their `Debug` prints `[REDACTED]` and they have no
//! `Display`, so they cannot reach a log line by accident. Fetching and caching: `runtime::secrets`.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("the Mesh secret was not found")]
    NotFound,
    #[error("access to the Mesh secret was denied")]
    AccessDenied,
    #[error("the Mesh secret is malformed: {0}")]
    Malformed(String),
    #[error("Secrets Manager is unavailable: {0}")]
    Unavailable(String),
}

/// Mesh API credentials and the webhook signing secrets.
pub struct MeshSecrets {
    pub client_id: String,
    pub client_secret: SecretString,
    pub webhook_secret: SecretString,
    /// Kept valid during a webhook secret rotation, so deliveries signed either way verify.
    pub previous_webhook_secret: Option<SecretString>,
}

impl std::fmt::Debug for MeshSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeshSecrets")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .field("webhook_secret", &"[REDACTED]")
            .field("previous_webhook_secret", &self.previous_webhook_secret.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSecret {
    client_id: Option<String>,
    client_secret: Option<String>,
    webhook_secret: Option<String>,
    previous_webhook_secret: Option<String>,
}

impl MeshSecrets {
    /// Parses the secret's JSON. Errors name the field, never the value (serde's messages can quote
    /// input, so they are not passed on).
    pub fn parse(json: &str) -> Result<Self, SecretsError> {
        let raw: RawSecret = serde_json::from_str(json)
            .map_err(|_| SecretsError::Malformed("expected a JSON object of strings".into()))?;
        let need = |v: Option<String>, name: &str| match v {
            Some(s) if !s.trim().is_empty() => Ok(s),
            _ => Err(SecretsError::Malformed(format!("{name} is missing or empty"))),
        };
        Ok(Self {
            client_id: need(raw.client_id, "clientId")?,
            client_secret: SecretString::from(need(raw.client_secret, "clientSecret")?),
            webhook_secret: SecretString::from(need(raw.webhook_secret, "webhookSecret")?),
            previous_webhook_secret: raw
                .previous_webhook_secret
                .filter(|s| !s.trim().is_empty())
                .map(SecretString::from),
        })
    }

    /// The secrets a webhook signature may be made with, current first.
    pub fn webhook_secrets(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.webhook_secret.expose_secret())
            .chain(self.previous_webhook_secret.iter().map(|s| s.expose_secret()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = r#"{"clientId":"cid","clientSecret":"csecret","webhookSecret":"whsec-new","previousWebhookSecret":"whsec-old"}"#;

    #[test]
    fn parses_all_fields_and_orders_webhook_secrets() {
        let s = MeshSecrets::parse(JSON).unwrap();
        assert_eq!(s.client_id, "cid");
        assert_eq!(s.client_secret.expose_secret(), "csecret");
        assert_eq!(s.webhook_secrets().collect::<Vec<_>>(), ["whsec-new", "whsec-old"]);
        let s = MeshSecrets::parse(r#"{"clientId":"c","clientSecret":"s","webhookSecret":"w","extra":1}"#).unwrap();
        assert_eq!(s.webhook_secrets().count(), 1);
    }

    #[test]
    fn malformed_secrets_name_the_field_never_the_value() {
        for (json, field) in [
            (r#"{"clientSecret":"s3cr3t","webhookSecret":"w"}"#, "clientId"),
            (r#"{"clientId":"c","clientSecret":"","webhookSecret":"w"}"#, "clientSecret"),
            (r#"{"clientId":"c","clientSecret":"s3cr3t"}"#, "webhookSecret"),
        ] {
            let msg = MeshSecrets::parse(json).unwrap_err().to_string();
            assert!(msg.contains(field), "{msg}");
            assert!(!msg.contains("s3cr3t"), "{msg}");
        }
        let msg = MeshSecrets::parse(r#"{"clientId":"c","clientSecret":s3cr3t}"#).unwrap_err().to_string();
        assert!(!msg.contains("s3cr3t"), "{msg}");
    }

    #[test]
    fn debug_never_shows_secret_values() {
        let s = MeshSecrets::parse(JSON).unwrap();
        let shown = format!("{s:?} {:?}", s.client_secret);
        for value in ["csecret", "whsec-new", "whsec-old"] {
            assert!(!shown.contains(value), "{shown}");
        }
        assert!(shown.contains("cid"));
    }
}
