//! The run's settings: what each `RECONCILE_*` variable (and `FUNCTION_TIMEOUT_SECONDS`) may set, its
//! default and accepted range.

use crate::retry::RetryPolicy;
use shared::mesh::TransferQuery;
use shared::runtime::config::{ConfigError, EnvSource};
use shared::runtime::deadline::FunctionTimeout;
use std::time::Duration;

pub const RECONCILE_GRACE_SECONDS: &str = "RECONCILE_GRACE_SECONDS";
pub const RECONCILE_LOOKBACK_HOURS: &str = "RECONCILE_LOOKBACK_HOURS";
pub const RECONCILE_HORIZON_HOURS: &str = "RECONCILE_HORIZON_HOURS";
pub const RECONCILE_LOOKUP_MAX: &str = "RECONCILE_LOOKUP_MAX";
pub const RECONCILE_MAX_OPEN: &str = "RECONCILE_MAX_OPEN";
pub const RECONCILE_MAX_OPEN_CHECKOUTS: &str = "RECONCILE_MAX_OPEN_CHECKOUTS";
pub const RECONCILE_MAX_PAGES: &str = "RECONCILE_MAX_PAGES";
pub const RECONCILE_DEADLINE_MARGIN_SECONDS: &str = "RECONCILE_DEADLINE_MARGIN_SECONDS";
pub const RECONCILE_RETRY_BUDGET: &str = "RECONCILE_RETRY_BUDGET";
/// The function's `Timeout` in `template.yaml`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(240);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// A transfer younger than this is left to its webhooks.
    pub grace: Duration,
    /// How far back the very first window reaches (no checkpoint yet).
    pub lookback: Duration,
    /// Open transfers created before now minus this are reported (`beyond_horizon`), not checked:
    /// Mesh keeps a transfer pending for a day at most; older ones are abandoned Link sessions.
    pub horizon: Duration,
    /// Up to this many open transfers older than the window are looked up one by one, without
    /// asking Mesh how large a stretched window would be.
    pub lookup_max: usize,
    /// Open transfers read per run (oldest first).
    pub max_open: usize,
    /// Open checkouts the sweep reads per run (soonest to expire first).
    pub max_open_checkouts: usize,
    /// Listing pages per run.
    pub max_pages: u32,
    pub page_size: u32,
    /// No page is started with less than this left before the deadline; calls end before half of it.
    pub deadline_margin: Duration,
    /// How much earlier than our record Mesh's clock may date a transfer.
    pub clock_skew: Duration,
    pub retry: RetryPolicy,
    /// How long a run may last when the runtime gives no deadline ahead (`FUNCTION_TIMEOUT_SECONDS`).
    pub timeout: FunctionTimeout,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(15 * 60),
            lookback: Duration::from_secs(24 * 3600),
            horizon: Duration::from_secs(7 * 24 * 3600),
            lookup_max: 25,
            max_open: 5000,
            max_open_checkouts: 1000,
            max_pages: 200,
            page_size: TransferQuery::MAX_COUNT,
            deadline_margin: Duration::from_secs(20),
            clock_skew: Duration::from_secs(5 * 60),
            retry: RetryPolicy::default(),
            timeout: FunctionTimeout::new(DEFAULT_TIMEOUT),
        }
    }
}

fn bounded(env: &impl EnvSource, name: &str, default: u64, min: u64, max: u64, unit: &str) -> Result<u64, ConfigError> {
    match env.var(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(raw) => raw.parse::<u64>().ok().filter(|v| (min..=max).contains(v)).ok_or_else(|| ConfigError::Invalid {
            name: name.to_string(),
            reason: format!("expected whole {unit} from {min} to {max}"),
        }),
    }
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&shared::runtime::config::ProcessEnv)
    }

    /// Every variable is optional; a malformed one fails with its name and the accepted range.
    pub fn from_source(env: &impl EnvSource) -> Result<Self, ConfigError> {
        let d = Self::default();
        let hours = |h: u64| Duration::from_secs(h * 3600);
        Ok(Self {
            grace: Duration::from_secs(bounded(env, RECONCILE_GRACE_SECONDS, d.grace.as_secs(), 0, 86_400, "seconds")?),
            lookback: hours(bounded(env, RECONCILE_LOOKBACK_HOURS, d.lookback.as_secs() / 3600, 1, 720, "hours")?),
            horizon: hours(bounded(env, RECONCILE_HORIZON_HOURS, d.horizon.as_secs() / 3600, 1, 2160, "hours")?),
            lookup_max: bounded(env, RECONCILE_LOOKUP_MAX, d.lookup_max as u64, 0, 1000, "transfers")? as usize,
            max_open: bounded(env, RECONCILE_MAX_OPEN, d.max_open as u64, 1, 100_000, "transfers")? as usize,
            max_open_checkouts: bounded(
                env,
                RECONCILE_MAX_OPEN_CHECKOUTS,
                d.max_open_checkouts as u64,
                1,
                100_000,
                "checkouts",
            )? as usize,
            max_pages: bounded(env, RECONCILE_MAX_PAGES, u64::from(d.max_pages), 1, 10_000, "pages")? as u32,
            deadline_margin: Duration::from_secs(bounded(
                env,
                RECONCILE_DEADLINE_MARGIN_SECONDS,
                d.deadline_margin.as_secs(),
                2,
                600,
                "seconds",
            )?),
            retry: RetryPolicy {
                budget: bounded(env, RECONCILE_RETRY_BUDGET, u64::from(d.retry.budget), 0, 1000, "retries")? as u32,
                ..d.retry
            },
            timeout: FunctionTimeout::from_source(env, DEFAULT_TIMEOUT)?,
            ..d
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap as Map;
    #[test]
    fn configuration_defaults_and_named_errors() {
        let empty: Map<&str, &str> = Map::new();
        assert_eq!(Settings::from_source(&empty).unwrap(), Settings::default());
        let set: Map<&str, &str> = [
            (RECONCILE_GRACE_SECONDS, "60"),
            (RECONCILE_MAX_PAGES, " 7 "),
            (RECONCILE_RETRY_BUDGET, "0"),
            (RECONCILE_MAX_OPEN_CHECKOUTS, "50"),
        ]
        .into_iter()
        .collect();
        let s = Settings::from_source(&set).unwrap();
        assert_eq!((s.grace, s.max_pages, s.retry.budget, s.max_open_checkouts), (Duration::from_secs(60), 7, 0, 50));
        for (name, value) in [
            (RECONCILE_GRACE_SECONDS, "-1"),
            (RECONCILE_GRACE_SECONDS, "ten"),
            (RECONCILE_MAX_PAGES, "0"),
            (RECONCILE_LOOKBACK_HOURS, "721"),
            (RECONCILE_DEADLINE_MARGIN_SECONDS, "1"),
            (RECONCILE_MAX_OPEN, "0"),
            (RECONCILE_MAX_OPEN_CHECKOUTS, "0"),
        ] {
            let env: Map<&str, &str> = [(name, value)].into_iter().collect();
            match Settings::from_source(&env) {
                Err(ConfigError::Invalid { name: n, reason }) => {
                    assert_eq!(n, name);
                    assert!(reason.starts_with("expected whole"), "{reason}");
                }
                other => panic!("{name}={value}: {other:?}"),
            }
        }
    }
}
