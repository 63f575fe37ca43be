//! Pacing for Lambda's control plane (about 15 requests/s per account): one
//! client-side rate limiter shared by every call in a run, exponential back-off
//! on throttling, and bounded concurrency over a batch of calls.

use futures::stream::{self, StreamExt};
use shared::error::{AwsErrorKind, Error, Result};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Attempts per call (the first plus retries on throttling or transient errors).
pub const MAX_ATTEMPTS: u32 = 6;
pub const BASE_BACKOFF: Duration = Duration::from_millis(250);
pub const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// tokio's timer ticks in milliseconds.
const TIMER_RESOLUTION: Duration = Duration::from_millis(1);

/// Lambda's control-plane quota per account and region, requests per second.
pub const LAMBDA_CONTROL_PLANE_QUOTA: u32 = 15;

/// Spaces calls `1/rate` seconds apart after a small burst (a token bucket): a run
/// of a few calls does not wait at all, a long one settles at the rate. The burst
/// is what the quota leaves above the rate, so no second ever exceeds the quota.
/// A throttled call pushes every later call back.
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    /// How far ahead of the steady pace calls may run: (burst - 1) intervals.
    tolerance: Duration,
    /// The theoretical time of the next call at the steady pace.
    next: Mutex<Instant>,
    calls: AtomicU64,
    throttled: AtomicU64,
}

impl Pacer {
    pub fn new(requests_per_second: u32) -> Self {
        let rps = requests_per_second.max(1);
        let burst = LAMBDA_CONTROL_PLANE_QUOTA.saturating_sub(rps).clamp(1, 5);
        Self::with_burst(rps, burst)
    }

    pub fn with_burst(requests_per_second: u32, burst: u32) -> Self {
        let interval = Duration::from_secs(1) / requests_per_second.max(1);
        Self {
            interval,
            tolerance: interval * (burst.max(1) - 1),
            next: Mutex::new(Instant::now()),
            calls: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
        }
    }

    /// Waits for this call's slot.
    pub async fn slot(&self) {
        let at = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let due = (*next).max(now);
            *next = due + self.interval;
            due.checked_sub(self.tolerance).unwrap_or(now).max(now)
        };
        self.calls.fetch_add(1, Ordering::Relaxed);
        // A slot due within the timer's resolution (1 ms) goes at once: even a
        // zero sleep costs a millisecond tick of tokio's timer.
        if at > Instant::now() + TIMER_RESOLUTION {
            tokio::time::sleep_until(at).await;
        }
    }

    /// Pushes every later slot back by `pause` (after a throttle).
    fn pause(&self, pause: Duration) {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let earliest = Instant::now() + pause;
        if *next < earliest {
            *next = earliest;
        }
    }

    /// Runs `call` in its slot, backing off and retrying on throttling and
    /// transient errors. Conflicts and everything else go back to the caller.
    pub async fn call<T, F, Fut>(&self, mut call: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut attempt = 0;
        loop {
            self.slot().await;
            match call().await {
                Err(e) if attempt + 1 < MAX_ATTEMPTS && retryable(&e) => {
                    if e.aws_kind() == Some(AwsErrorKind::Throttling) {
                        self.throttled.fetch_add(1, Ordering::Relaxed);
                    }
                    let backoff = backoff(attempt);
                    self.pause(backoff);
                    tokio::time::sleep(backoff).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    pub fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }
}

fn retryable(e: &Error) -> bool {
    matches!(
        e.aws_kind(),
        Some(AwsErrorKind::Throttling | AwsErrorKind::Transient | AwsErrorKind::Timeout)
    )
}

/// 250 ms, 500 ms, 1 s, ... up to 8 s, with up to 25% jitter.
pub fn backoff(attempt: u32) -> Duration {
    let base = BASE_BACKOFF
        .saturating_mul(1 << attempt.min(10))
        .min(MAX_BACKOFF);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    base + base / 4 * (nanos % 1000) / 1000
}

/// Runs `work` over `items` with at most `limit` in flight, keeping input order.
pub async fn bounded<T, R, F, Fut>(items: Vec<T>, limit: usize, work: F) -> Vec<R>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = R>,
{
    let work = &work;
    let mut done: Vec<(usize, R)> = stream::iter(items.into_iter().enumerate())
        .map(|(i, item)| async move { (i, work(item).await) })
        .buffer_unordered(limit.max(1))
        .collect()
        .await;
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn throttle() -> Error {
        Error::Aws {
            service: "lambda",
            operation: "PutProvisionedConcurrencyConfig",
            region: "eu-central-1".into(),
            kind: AwsErrorKind::Throttling,
            message: "TooManyRequestsException: Rate exceeded".into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn calls_are_spaced_to_the_rate() {
        let pacer = Pacer::with_burst(10, 1);
        let start = Instant::now();
        for _ in 0..21 {
            pacer.slot().await;
        }
        // 21 calls at 10/s: the last one starts 2 s after the first.
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        assert_eq!(pacer.calls(), 21);
    }

    #[tokio::test(start_paused = true)]
    async fn a_short_run_does_not_wait_and_no_second_exceeds_the_quota() {
        // At 10/s the burst is 5: the first five calls go at once.
        let pacer = Pacer::new(10);
        let start = Instant::now();
        let mut starts = Vec::new();
        for _ in 0..40 {
            pacer.slot().await;
            starts.push(start.elapsed());
        }
        assert_eq!(starts[4], Duration::ZERO);
        assert_eq!(starts[5], Duration::from_millis(100));
        assert_eq!(starts[39], Duration::from_millis(3_500));
        for (i, t) in starts.iter().enumerate() {
            let in_window = starts[i..]
                .iter()
                .take_while(|u| **u < *t + Duration::from_secs(1))
                .count();
            assert!(
                in_window <= LAMBDA_CONTROL_PLANE_QUOTA as usize,
                "{in_window} calls in the second from {t:?}"
            );
        }
        // At the quota itself there is no burst.
        let at_quota = Pacer::new(15);
        at_quota.slot().await;
        let t = Instant::now();
        at_quota.slot().await;
        assert!(
            t.elapsed() >= Duration::from_millis(66),
            "{:?}",
            t.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_backs_off_then_succeeds() {
        let pacer = Pacer::new(15);
        let attempts = AtomicUsize::new(0);
        let start = Instant::now();
        let r = pacer
            .call(|| {
                let n = attempts.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < 3 {
                        Err(throttle())
                    } else {
                        Ok(n)
                    }
                }
            })
            .await
            .unwrap();
        assert_eq!(r, 3);
        assert_eq!(pacer.throttled(), 3);
        assert!(start.elapsed() >= Duration::from_millis(250 + 500 + 1000));
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_gives_up_after_the_bound_and_conflicts_are_not_retried() {
        let pacer = Pacer::new(15);
        let attempts = AtomicUsize::new(0);
        let e = pacer
            .call(|| {
                attempts.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>(throttle()) }
            })
            .await
            .unwrap_err();
        assert_eq!(e.aws_kind(), Some(AwsErrorKind::Throttling));
        assert_eq!(attempts.load(Ordering::SeqCst), MAX_ATTEMPTS as usize);

        let attempts = AtomicUsize::new(0);
        let conflict = || Error::Aws {
            service: "lambda",
            operation: "PutProvisionedConcurrencyConfig",
            region: "eu-central-1".into(),
            kind: AwsErrorKind::Conflict,
            message: "409".into(),
        };
        let e = pacer
            .call(|| {
                attempts.fetch_add(1, Ordering::SeqCst);
                let e = conflict();
                async move { Err::<(), _>(e) }
            })
            .await
            .unwrap_err();
        assert_eq!(e.aws_kind(), Some(AwsErrorKind::Conflict));
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn bounded_keeps_order_and_the_limit() {
        let in_flight = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let out = bounded((0..50).collect(), 4, |i: u32| {
            let (in_flight, peak) = (&in_flight, &peak);
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10 + u64::from(i % 7))).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                i * 2
            }
        })
        .await;
        assert_eq!(out, (0..50).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), 4);
    }
}
