//! When the invocation must be over, on the runtime's clock and as Unix ms.

use std::time::Duration;
use tokio::time::Instant;

/// When the invocation must be over, on the runtime's clock (for sleeps and timeouts) and as Unix
/// ms (for the lease).
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
    epoch_ms: i64,
}

impl Deadline {
    pub fn after(remaining: Duration, now_ms: i64) -> Self {
        // A Lambda runs 15 minutes at most; the clamp only keeps `Instant` arithmetic in range.
        let remaining = remaining.min(Duration::from_secs(86_400));
        let ms = i64::try_from(remaining.as_millis()).unwrap_or(i64::MAX);
        Self { at: Instant::now() + remaining, epoch_ms: now_ms.saturating_add(ms) }
    }

    /// From the Lambda context's deadline (Unix ms).
    pub fn at_epoch_ms(deadline_ms: i64, now_ms: i64) -> Self {
        let remaining = u64::try_from(deadline_ms.saturating_sub(now_ms)).unwrap_or(0);
        Self::after(Duration::from_millis(remaining), now_ms)
    }

    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    pub fn epoch_ms(&self) -> i64 {
        self.epoch_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;
    #[tokio::test(start_paused = true)]
    async fn the_deadline_counts_down_on_the_runtime_clock() {
        let d = Deadline::at_epoch_ms(NOW + 30_000, NOW);
        assert_eq!(d.epoch_ms(), NOW + 30_000);
        assert_eq!(d.remaining(), Duration::from_secs(30));
        tokio::time::advance(Duration::from_secs(25)).await;
        assert_eq!(d.remaining(), Duration::from_secs(5));
        assert_eq!(Deadline::at_epoch_ms(NOW - 1, NOW).remaining(), Duration::ZERO);
    }
}
