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

/// Unix ms as RFC 3339 in UTC with milliseconds (`2026-11-29T03:06:19.579Z`), the form events carry.
/// Times before 1970 are clamped to it (no record of ours has one).
pub fn rfc3339_millis(ms: i64) -> String {
    let ms = ms.max(0);
    let (days, rest) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Days to a civil date (Howard Hinnant's algorithm), for the proleptic Gregorian calendar.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (rest / 3_600_000, rest / 60_000 % 60, rest / 1_000 % 60, rest % 1_000);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_in_utc_with_millis() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_millis(1_720_532_648_123), "2024-07-09T13:44:08.123Z");
        assert_eq!(rfc3339_millis(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339_millis(LATEST_MILLIS), "9999-12-31T23:59:59.999Z");
        assert_eq!(rfc3339_millis(-5), "1970-01-01T00:00:00.000Z");
    }

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
