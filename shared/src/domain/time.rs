//! Wall-clock helpers. Mesh mixes seconds and milliseconds in its timestamps, so every timestamp that
//! crosses our boundary is normalised to Unix milliseconds here, in one place.

use std::time::{SystemTime, UNIX_EPOCH};

/// Values above this are taken as milliseconds: 1e12 ms is September 2001, 1e12 s is the year 33658.
const MILLIS_THRESHOLD: i64 = 1_000_000_000_000;

/// The current time as Unix milliseconds.
pub fn now_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).unwrap_or(0)
}

/// The end of the year 9999 as Unix ms: no later time, and none before 1970, is one Mesh could mean.
const LATEST_MILLIS: i64 = 253_402_300_799_999;

/// A timestamp no clock of Mesh's can show (before 1970, after the year 9999, or past `i64` once
/// scaled): the event carrying it is unreadable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not a plausible time")]
pub struct ImpossibleTime(pub i64);

/// Normalise a Mesh timestamp that may be in seconds or milliseconds to Unix milliseconds; checked, so
/// a hostile value is an error and never an overflow.
pub fn epoch_to_millis(value: i64) -> Result<i64, ImpossibleTime> {
    let ms = if value >= MILLIS_THRESHOLD { Some(value) } else { value.checked_mul(1000) };
    ms.filter(|ms| (0..=LATEST_MILLIS).contains(ms)).ok_or(ImpossibleTime(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_scaled_and_millis_kept() {
        assert_eq!(epoch_to_millis(1_720_532_648), Ok(1_720_532_648_000));
        assert_eq!(epoch_to_millis(1_715_175_519_038), Ok(1_715_175_519_038));
        assert_eq!(epoch_to_millis(0), Ok(0));
        assert_eq!(epoch_to_millis(LATEST_MILLIS), Ok(LATEST_MILLIS));
    }

    #[test]
    fn impossible_times_are_errors_not_overflows() {
        for v in [i64::MIN, i64::MIN + 1, -1, -1_000_000_000_000, 999_999_999_999, LATEST_MILLIS + 1, i64::MAX] {
            assert_eq!(epoch_to_millis(v), Err(ImpossibleTime(v)), "{v}");
        }
    }

    #[test]
    fn now_is_in_millis() {
        let now = now_millis();
        assert!(now > 1_700_000_000_000, "{now} should be a millisecond timestamp");
        assert_eq!(epoch_to_millis(now), Ok(now));
    }
}
