//! Token buckets: per API key for scans and reads, per client address and
//! per key prefix for failed authentications.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets kept before the full (idle) ones are dropped: keys of a limiter
/// fed by outsiders (addresses, key prefixes) cannot grow it without bound.
const MAX_BUCKETS: usize = 16_384;

/// A token bucket per key: `rate` tokens a second, up to `burst`.
#[derive(Debug)]
pub struct RateLimiter<K = i64> {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<K, (f64, Instant)>>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// A limiter; a `rate` of zero or less disables it.
    pub fn new(rate: f64, burst: f64) -> RateLimiter<K> {
        RateLimiter {
            rate,
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refill(&self, key: &K, take: bool) -> Result<(), Duration> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !buckets.contains_key(key) {
            if !take {
                return Ok(());
            }
            if buckets.len() >= MAX_BUCKETS {
                let (rate, burst) = (self.rate, self.burst);
                buckets.retain(|_, (t, last)| {
                    *t + now.duration_since(*last).as_secs_f64() * rate < burst
                });
            }
            buckets.insert(key.clone(), (self.burst, now));
        }
        let Some((tokens, last)) = buckets.get_mut(key) else {
            return Ok(());
        };
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            if take {
                *tokens -= 1.0;
            }
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / self.rate))
        }
    }

    /// Takes a token for `key`, or says how long until one is there.
    ///
    /// # Errors
    /// The wait before the next token, when the bucket is empty.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        self.refill(key, true)
    }

    /// Whether `key`'s bucket is empty, without taking a token.
    ///
    /// # Errors
    /// The wait before the next token, when the bucket is empty.
    pub fn peek(&self, key: &K) -> Result<(), Duration> {
        self.refill(key, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_empties_and_refills() {
        let l = RateLimiter::new(1000.0, 3.0);
        assert!(l.check(&1).is_ok() && l.check(&1).is_ok() && l.check(&1).is_ok());
        assert!(l.peek(&1).is_err(), "peek sees the empty bucket");
        let wait = l.check(&1).unwrap_err();
        assert!(wait <= Duration::from_millis(2));
        assert!(l.check(&2).is_ok(), "buckets are per key");
        std::thread::sleep(Duration::from_millis(5));
        assert!(l.peek(&1).is_ok());
        assert!(l.check(&1).is_ok());
        assert!(RateLimiter::new(0.0, 1.0).check(&1).is_ok());
    }

    #[test]
    fn outsiders_cannot_grow_it_without_bound() {
        let l: RateLimiter<u64> = RateLimiter::new(1e9, 2.0);
        for k in 0..(MAX_BUCKETS as u64 * 3) {
            let _ = l.check(&k);
        }
        assert!(l.buckets.lock().unwrap().len() <= MAX_BUCKETS);
    }
}
