//! How a run retries Mesh: capped exponential backoff with full jitter, floored by `Retry-After`,
//! within a retry budget shared by every call of the run.

use std::time::Duration;

/// Capped exponential backoff with full jitter, and a retry budget shared by every call of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub cap: Duration,
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// Retries per run across all calls: a failing Mesh is not hammered for the whole run.
    pub budget: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { base: Duration::from_millis(250), cap: Duration::from_secs(8), max_attempts: 3, budget: 10 }
    }
}

/// The delay before retry number `retry` (0 = the first retry): full jitter,
/// `unit · min(cap, base · 2^retry)` with `unit` uniform in [0, 1], and never less than the
/// `Retry-After` Mesh asked for.
pub fn backoff_delay(policy: &RetryPolicy, retry: u32, retry_after: Option<Duration>, unit: f64) -> Duration {
    let ceiling = policy.base.saturating_mul(2_u32.saturating_pow(retry.min(31))).min(policy.cap);
    let jittered = ceiling.mul_f64(unit.clamp(0.0, 1.0));
    retry_after.map_or(jittered, |asked| jittered.max(asked))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn full_jitter_stays_within_the_cap_and_honours_retry_after() {
        let p =
            RetryPolicy { base: Duration::from_millis(100), cap: Duration::from_secs(1), max_attempts: 3, budget: 5 };
        for retry in 0..40 {
            for unit in [0.0, 0.25, 0.5, 0.999, 1.0, fastrand::f64()] {
                let d = backoff_delay(&p, retry, None, unit);
                let ceiling = Duration::from_millis(100 * 2_u64.saturating_pow(retry.min(31))).min(p.cap);
                assert!(d <= ceiling, "retry {retry}: {d:?} > {ceiling:?}");
            }
        }
        assert_eq!(backoff_delay(&p, 0, None, 1.0), Duration::from_millis(100));
        assert_eq!(backoff_delay(&p, 2, None, 1.0), Duration::from_millis(400));
        assert_eq!(backoff_delay(&p, 9, None, 1.0), Duration::from_secs(1));
        assert_eq!(backoff_delay(&p, 0, None, 0.0), Duration::ZERO);
        assert_eq!(
            backoff_delay(&p, 0, Some(Duration::from_secs(2)), 0.5),
            Duration::from_secs(2),
            "Retry-After is a floor"
        );
        assert_eq!(backoff_delay(&p, 3, Some(Duration::from_millis(10)), 1.0), Duration::from_millis(800));
    }
}
