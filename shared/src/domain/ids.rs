//! Identifier newtypes. Each constructor is the only way in, so a value of these types has been
//! checked once, at the edge, and never needs checking again.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {reason}")]
pub struct IdError {
    pub kind: &'static str,
    pub reason: &'static str,
}

fn check(kind: &'static str, value: &str, max: usize, allowed: fn(char) -> bool) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError { kind, reason: "is empty" });
    }
    if value.chars().count() > max {
        return Err(IdError { kind, reason: "is too long" });
    }
    if !value.chars().all(allowed) {
        return Err(IdError { kind, reason: "has characters that are not allowed" });
    }
    Ok(())
}

fn id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')
}

fn printable(c: char) -> bool {
    !c.is_control()
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:expr, $allowed:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const MAX_LEN: usize = $max;

            pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                check($kind, &value, $max, $allowed)?;
                Ok(Self(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// Our id for one payment attempt, sent to Mesh as `transferOptions.transactionId` and echoed
    /// back as `clientTransactionId` / `TransactionId`. Mesh allows up to 128 characters.
    TransactionId, "transaction id", 128, id_char
);
id_type!(
    /// Mesh's id of a transfer (REST `id`, webhook `TransferId`).
    TransferId, "transfer id", 64, id_char
);
id_type!(
    /// Mesh's id of a webhook event, the same across retries: the deduplication key.
    EventId, "event id", 64, id_char
);
id_type!(
    /// The user as Mesh knows them (`userId`). Mesh filters transfers by user ids of at most 50
    /// characters, so we keep them that short.
    UserId, "user id", 50, printable
);

id_type!(
    /// Our id of a checkout: `chk_` and 32 hex digits, unguessable.
    CheckoutId, "checkout id", 64, id_char
);
id_type!(
    /// The merchant's order id, as its order system names the order: any printable text.
    OrderId, "order id", 128, printable
);

impl CheckoutId {
    pub fn generate() -> Self {
        Self(format!("chk_{}", uuid::Uuid::new_v4().simple()))
    }
}

impl TransactionId {
    /// A fresh, unguessable id: `txn_` and 32 hex digits of a random UUID.
    pub fn generate() -> Self {
        Self(format!("txn_{}", uuid::Uuid::new_v4().simple()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_transaction_ids_are_valid_and_distinct() {
        let a = TransactionId::generate();
        let b = TransactionId::generate();
        assert_ne!(a, b);
        assert_eq!(TransactionId::parse(a.as_str()).unwrap(), a);
        assert_eq!(a.as_str().len(), 36);
    }

    #[test]
    fn transaction_id_limits() {
        assert!(TransactionId::parse("x".repeat(128)).is_ok());
        assert_eq!(TransactionId::parse("x".repeat(129)).unwrap_err().reason, "is too long");
        assert_eq!(TransactionId::parse("").unwrap_err().reason, "is empty");
        assert!(TransactionId::parse("ord 1").is_err());
        assert!(TransactionId::parse("ord/1").is_err());
    }

    #[test]
    fn user_id_limit_matches_meshs_filter() {
        assert!(UserId::parse("u".repeat(50)).is_ok());
        assert!(UserId::parse("u".repeat(51)).is_err());
        assert!(UserId::parse("a\nb").is_err());
    }

    #[test]
    fn serde_goes_through_the_constructor() {
        let ok: EventId = serde_json::from_str("\"c2d9a0b4-1f7e-4e0a\"").unwrap();
        assert_eq!(ok.as_str(), "c2d9a0b4-1f7e-4e0a");
        assert!(serde_json::from_str::<EventId>("\"\"").is_err());
        assert_eq!(serde_json::to_string(&ok).unwrap(), "\"c2d9a0b4-1f7e-4e0a\"");
    }
}
