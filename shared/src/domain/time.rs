//! Wall-clock helpers. Mesh mixes seconds and milliseconds in its timestamps, so every timestamp that
//! crosses our boundary is normalised to Unix milliseconds here, in one place.

use std::time::{SystemTime, UNIX_EPOCH};

/// Values above this are taken as milliseconds: 1e12 ms is September 2001, 1e12 s is the year 33658.
const MILLIS_THRESHOLD: i64 = 1_000_000_000_000;

/// The current time as Unix milliseconds.
pub fn now_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).unwrap_or(0)
}

/// Normalise a Mesh timestamp that may be in seconds or milliseconds to Unix milliseconds.
pub fn epoch_to_millis(value: i64) -> i64 {
    if value.abs() >= MILLIS_THRESHOLD { value } else { value.saturating_mul(1000) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_scaled_and_millis_kept() {
        assert_eq!(epoch_to_millis(1_720_532_648), 1_720_532_648_000);
        assert_eq!(epoch_to_millis(1_715_175_519_038), 1_715_175_519_038);
        assert_eq!(epoch_to_millis(0), 0);
    }

    #[test]
    fn now_is_in_millis() {
        let now = now_millis();
        assert!(now > 1_700_000_000_000, "{now} should be a millisecond timestamp");
        assert_eq!(epoch_to_millis(now), now);
    }
}
