//! Per-key token buckets.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token bucket per API key: `rate` tokens a second, up to `burst`.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<i64, (f64, Instant)>>,
}

impl RateLimiter {
    /// A limiter; a `rate` of zero or less disables it.
    pub fn new(rate: f64, burst: f64) -> RateLimiter {
        RateLimiter {
            rate,
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `key`, or says how long until one is there.
    ///
    /// # Errors
    /// The wait before the next token, when the bucket is empty.
    pub fn check(&self, key: i64) -> Result<(), Duration> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (tokens, last) = buckets.entry(key).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_empties_and_refills() {
        let l = RateLimiter::new(1000.0, 3.0);
        assert!(l.check(1).is_ok() && l.check(1).is_ok() && l.check(1).is_ok());
        let wait = l.check(1).unwrap_err();
        assert!(wait <= Duration::from_millis(2));
        assert!(l.check(2).is_ok(), "buckets are per key");
        std::thread::sleep(Duration::from_millis(5));
        assert!(l.check(1).is_ok());
        assert!(RateLimiter::new(0.0, 1.0).check(1).is_ok());
    }
}
