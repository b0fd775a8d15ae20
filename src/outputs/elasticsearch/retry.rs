//! Retry timing: exponential backoff with jitter, and the retry budget.
//!
//! Jitter matters when a cluster is overloaded: many requests rejected at
//! once (a 429 storm) must not all come back at the same instant.

use std::time::Duration;

/// Exponential backoff with "equal jitter": each delay is half the current
/// step plus a random part of the other half, and the step doubles up to
/// `max`. Reset after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    step: Duration,
    rng: u64,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        // Seeded per instance from the clock and the instance's address, so
        // concurrent requests spread out; no cryptographic quality needed.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let marker = 0u8;
        let addr = &marker as *const u8 as u64;
        Self::with_seed(initial, max, nanos ^ addr.rotate_left(32))
    }

    pub fn with_seed(initial: Duration, max: Duration, seed: u64) -> Self {
        Backoff {
            initial,
            max: max.max(initial),
            step: initial,
            rng: splitmix64(seed) | 1,
        }
    }

    /// The delay before the next attempt; each call doubles the step.
    pub fn next_delay(&mut self) -> Duration {
        let step = self.step;
        self.step = (self.step * 2).min(self.max);
        let half = step / 2;
        let spread = (step - half).as_nanos() as u64;
        let jitter = if spread == 0 {
            0
        } else {
            self.next_random() % (spread + 1)
        };
        half + Duration::from_nanos(jitter)
    }

    /// Back to the initial step (after a success).
    pub fn reset(&mut self) {
        self.step = self.initial;
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Spreads nearby seeds (consecutive numbers, close clock readings) over
/// the whole state space.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Whether a document that has failed `failures` times may be tried again
/// under `max_retries` (unset: forever).
pub fn may_retry(failures: u32, max_retries: Option<u32>) -> bool {
    max_retries.is_none_or(|max| failures <= max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_with_jitter_and_caps() {
        let ms = Duration::from_millis;
        let mut b = Backoff::with_seed(ms(100), ms(1000), 42);
        let delays: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        let steps = [100, 200, 400, 800, 1000, 1000, 1000, 1000];
        for (d, step) in delays.iter().zip(steps) {
            assert!(
                *d >= ms(step / 2) && *d <= ms(step),
                "{d:?} for step {step}"
            );
        }
        b.reset();
        assert!(b.next_delay() <= ms(100));
    }

    #[test]
    fn jitter_spreads_concurrent_retries() {
        let ms = Duration::from_millis;
        let delays: std::collections::HashSet<Duration> = (0..20)
            .map(|seed| Backoff::with_seed(ms(1000), ms(1000), seed).next_delay())
            .collect();
        assert!(delays.len() > 15, "{delays:?}");
    }

    #[test]
    fn retry_budget() {
        assert!(may_retry(1_000_000, None));
        assert!(may_retry(1, Some(1)));
        assert!(!may_retry(2, Some(1)));
        assert!(!may_retry(1, Some(0)));
    }
}
