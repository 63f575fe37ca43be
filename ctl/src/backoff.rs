//! How ctl retries an Invoke that Lambda throttled (429 `TooManyRequestsException`):
//! bounded exponential backoff with jitter.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Retries after the first attempt.
    pub retries: u32,
    /// The first retry's longest pause; it doubles for each next retry, up to `cap`.
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    /// 4 retries after pauses of at most 0.5, 1, 2 and 4 s, each at least half of that:
    /// 5 attempts over 3.75 to 7.5 s.
    pub const DEFAULT: Backoff = Backoff {
        retries: 4,
        base: Duration::from_millis(500),
        cap: Duration::from_secs(4),
    };

    /// The pause before retry `n` (1, 2, …) for `unit` in [0, 1]: between half the
    /// exponential ceiling and all of it ("equal jitter"), so retries spread out and still wait.
    pub fn delay(&self, n: u32, unit: f64) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << n.saturating_sub(1).min(16))
            .min(self.cap);
        ceiling.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
    }

    /// The longest the retries of one call can wait in all.
    pub fn longest(&self) -> Duration {
        (1..=self.retries).map(|n| self.delay(n, 1.0)).sum()
    }
}

/// A number in [0, 1) for jitter, from std's randomly keyed hasher (no extra crate).
pub fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_backoff_is_a_few_attempts_over_a_few_seconds() {
        let b = Backoff::DEFAULT;
        assert_eq!(b.retries, 4);
        let shortest: Duration = (1..=b.retries).map(|n| b.delay(n, 0.0)).sum();
        assert_eq!(shortest, Duration::from_millis(3750));
        assert_eq!(b.longest(), Duration::from_millis(7500));
        // what `ctl --help` promises
        assert!(crate::cli::AFTER_HELP.contains("up to 4 times over 4 to 8 s"));
        // exponential, capped, jittered within [half, all] of the ceiling
        for (n, ceiling) in [(1, 500), (2, 1000), (3, 2000), (4, 4000), (9, 4000)] {
            let ceiling = Duration::from_millis(ceiling);
            assert_eq!(b.delay(n, 1.0), ceiling, "retry {n}");
            assert_eq!(b.delay(n, 0.0), ceiling / 2, "retry {n}");
            let d = b.delay(n, jitter());
            assert!(ceiling / 2 <= d && d <= ceiling, "retry {n}: {d:?}");
        }
        let draws: std::collections::BTreeSet<u64> =
            (0..20).map(|_| (jitter() * 1e9) as u64).collect();
        assert!(draws.len() > 1, "jitter varies: {draws:?}");
    }
}
