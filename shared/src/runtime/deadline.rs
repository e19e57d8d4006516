//! The invocation's deadline, one rule for every function: the runtime's when it lies ahead; otherwise
//! (none, or one in the past: `cargo lambda watch` sends `Lambda-Runtime-Deadline-Ms: 600000`, a time
//! in 1970) it is unknown, and the invocation is taken to last the function's configured timeout.

use crate::runtime::config::{ConfigError, EnvSource};
use std::time::Duration;

/// Optional; its default is each function's `Timeout` in `template.yaml`.
pub const FUNCTION_TIMEOUT_SECONDS: &str = "FUNCTION_TIMEOUT_SECONDS";

/// How long an invocation of this function may run: Lambda's limit is 15 minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionTimeout(Duration);

impl FunctionTimeout {
    pub const fn new(timeout: Duration) -> Self {
        Self(timeout)
    }

    /// `FUNCTION_TIMEOUT_SECONDS`, else `default` (the function's `Timeout` in the template).
    pub fn from_source(env: &impl EnvSource, default: Duration) -> Result<Self, ConfigError> {
        match env.var(FUNCTION_TIMEOUT_SECONDS).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
            None => Ok(Self(default)),
            Some(raw) => match raw.parse::<u64>() {
                Ok(secs) if (1..=900).contains(&secs) => Ok(Self(Duration::from_secs(secs))),
                _ => Err(ConfigError::Invalid {
                    name: FUNCTION_TIMEOUT_SECONDS.into(),
                    reason: "expected whole seconds from 1 to 900".into(),
                }),
            },
        }
    }

    pub fn duration(self) -> Duration {
        self.0
    }

    /// The deadline (Unix ms) of an invocation whose runtime said `runtime_deadline_ms` (0 when it
    /// said nothing): that, if it is still ahead, else now plus the timeout.
    pub fn deadline_ms(self, runtime_deadline_ms: u64, now_ms: i64) -> i64 {
        match i64::try_from(runtime_deadline_ms) {
            Ok(at) if at > now_ms => at,
            _ => now_ms.saturating_add(i64::try_from(self.0.as_millis()).unwrap_or(i64::MAX)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const NOW: i64 = 1_800_000_000_000;
    const TIMEOUT: FunctionTimeout = FunctionTimeout::new(Duration::from_secs(25));

    #[test]
    fn a_deadline_ahead_is_kept_and_a_missing_or_past_one_lasts_the_timeout() {
        assert_eq!(TIMEOUT.deadline_ms(1_800_000_010_000, NOW), NOW + 10_000);
        for unknown in [0, 600_000, 1_800_000_000_000, u64::MAX] {
            assert_eq!(TIMEOUT.deadline_ms(unknown, NOW), NOW + 25_000, "{unknown}");
        }
    }

    #[test]
    fn the_timeout_comes_from_the_environment_or_the_default() {
        let default = Duration::from_secs(240);
        let none = HashMap::<&str, &str>::new();
        assert_eq!(FunctionTimeout::from_source(&none, default).unwrap().duration(), default);
        let set = HashMap::from([(FUNCTION_TIMEOUT_SECONDS, "30")]);
        assert_eq!(FunctionTimeout::from_source(&set, default).unwrap().duration(), Duration::from_secs(30));
        for bad in ["0", "901", "ten"] {
            let env = HashMap::from([(FUNCTION_TIMEOUT_SECONDS, bad)]);
            assert!(
                matches!(FunctionTimeout::from_source(&env, default), Err(ConfigError::Invalid { name, .. }) if name == FUNCTION_TIMEOUT_SECONDS),
                "{bad}"
            );
        }
    }
}
