//! The function's configuration, read once per cold start.

use shared::runtime::config::{ConfigError, EnvSource};

/// The bus events go to: its name or ARN (the template passes the ARN).
pub const EVENT_BUS_NAME: &str = "EVENT_BUS_NAME";

/// `source` of every event, what a merchant's rule matches on.
pub const EVENT_SOURCE: &str = "mesh-backend.payments";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifySettings {
    pub event_bus: String,
}

impl NotifySettings {
    pub fn from_source(env: &impl EnvSource) -> Result<Self, ConfigError> {
        match env.var(EVENT_BUS_NAME).map(|v| v.trim().to_string()) {
            Some(bus) if !bus.is_empty() => Ok(Self { event_bus: bus }),
            _ => Err(ConfigError::Missing { name: EVENT_BUS_NAME.into() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn the_bus_is_required() {
        let env: HashMap<&str, &str> = HashMap::from([(EVENT_BUS_NAME, " payments ")]);
        assert_eq!(NotifySettings::from_source(&env).unwrap().event_bus, "payments");
        let empty: HashMap<&str, &str> = HashMap::from([(EVENT_BUS_NAME, " ")]);
        assert_eq!(
            NotifySettings::from_source(&empty).unwrap_err().to_string(),
            "configuration variable EVENT_BUS_NAME is missing"
        );
    }
}
