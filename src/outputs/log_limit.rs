//! Rate-limited logging of repeated errors, shared by the outputs.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often one kind of error may be logged.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Lets each kind of message through at most once per [`LOG_INTERVAL`] and
/// counts what it held back, so a storm of identical errors makes one line
/// every ten seconds with a tally instead of flooding the log.
#[derive(Default)]
pub struct LogLimiter {
    last: Mutex<HashMap<String, (Instant, u64)>>,
}

impl LogLimiter {
    /// `Some(suppressed since the last line)` when `kind` may be logged now.
    pub fn allow(&self, kind: &str) -> Option<u64> {
        self.allow_at(kind, Instant::now())
    }

    fn allow_at(&self, kind: &str, now: Instant) -> Option<u64> {
        let mut last = match self.last.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        match last.get_mut(kind) {
            Some((at, suppressed)) => {
                if now.duration_since(*at) >= LOG_INTERVAL {
                    let n = *suppressed;
                    *at = now;
                    *suppressed = 0;
                    Some(n)
                } else {
                    *suppressed += 1;
                    None
                }
            }
            None => {
                last.insert(kind.to_owned(), (now, 0));
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_kind_per_interval() {
        let l = LogLimiter::default();
        let t0 = Instant::now();
        assert_eq!(l.allow_at("429", t0), Some(0));
        assert_eq!(l.allow_at("429", t0 + Duration::from_secs(1)), None);
        assert_eq!(l.allow_at("429", t0 + Duration::from_secs(2)), None);
        assert_eq!(l.allow_at("mapping", t0 + Duration::from_secs(2)), Some(0));
        assert_eq!(l.allow_at("429", t0 + Duration::from_secs(11)), Some(2));
        assert_eq!(l.allow_at("429", t0 + Duration::from_secs(12)), None);
    }
}
