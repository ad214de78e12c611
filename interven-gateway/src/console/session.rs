//! Console sessions, CSRF tokens and the sign-in limiter.
//!
//! A session is 32 random bytes from the OS, in an `HttpOnly`,
//! `SameSite=Strict` cookie scoped to `/console`; the store holds only its
//! SHA-256. A session's CSRF token is derived from the session token (a
//! SHA-256 under a fixed label), so it is never stored and cannot be
//! computed from what the store holds. The sign-in form, before any
//! session, uses a double-submit token: the same random value in a cookie
//! and in the form.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::store::hex;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "interven_session";
/// The sign-in form's double-submit cookie.
pub const LOGIN_CSRF_COOKIE: &str = "interven_login_csrf";

/// 32 bytes from the OS's random source (`getrandom`: a system call, so
/// it works when the process is out of file descriptors), hex.
///
/// # Errors
/// When the OS's random source cannot be read.
pub fn random_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
    Ok(hex(&bytes))
}

/// What the store keeps of a session token.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// The CSRF token of a session.
pub fn csrf_for(token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"interven-console-csrf\n");
    h.update(token.as_bytes());
    hex(&h.finalize())
}

/// Constant-time equality of two tokens (an empty one never matches).
pub fn tokens_match(a: &str, b: &str) -> bool {
    !a.is_empty() && !b.is_empty() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, `Path=/console`,
/// `Secure` when asked; `max_age` zero deletes the cookie.
pub fn set_cookie(name: &str, value: &str, max_age: Duration, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/console; Max-Age={}; HttpOnly; SameSite=Strict{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// Failed sign-ins per client address: a bucket of `burst` failures that
/// refills one every `refill`. While it is empty, sign-ins from that
/// address are refused before the key is even looked at.
#[derive(Debug)]
pub struct LoginLimiter {
    burst: f64,
    refill: Duration,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

/// The most addresses the limiter tracks; full buckets are forgotten first.
const MAX_TRACKED: usize = 10_000;

impl LoginLimiter {
    /// A limiter of `burst` failures, one more every `refill`.
    pub fn new(burst: u32, refill: Duration) -> LoginLimiter {
        LoginLimiter {
            burst: f64::from(burst.max(1)),
            refill: refill.max(Duration::from_millis(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn level(&self, (tokens, at): (f64, Instant), now: Instant) -> f64 {
        (tokens + now.duration_since(at).as_secs_f64() / self.refill.as_secs_f64()).min(self.burst)
    }

    /// How long `ip` must wait before it may try again, if it must.
    pub fn blocked(&self, ip: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let level = buckets.get(&ip).map_or(self.burst, |b| self.level(*b, now));
        (level < 1.0).then(|| self.refill.mul_f64(1.0 - level))
    }

    /// Counts a failed sign-in from `ip`.
    pub fn failed(&self, ip: IpAddr) {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= MAX_TRACKED {
            let burst = self.burst;
            buckets.retain(|_, b| self.level(*b, now) < burst);
        }
        let level = buckets.get(&ip).map_or(self.burst, |b| self.level(*b, now));
        buckets.insert(ip, ((level - 1.0).max(0.0), now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_from_every_header() {
        let mut h = HeaderMap::new();
        h.append("cookie", "a=1; interven_session=abc".parse().unwrap());
        h.append("cookie", "b=2".parse().unwrap());
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "interven"), None);
    }

    #[test]
    fn csrf_tokens_differ_from_the_session_and_its_hash() {
        let t = random_token().unwrap();
        assert_eq!(t.len(), 64);
        assert_ne!(random_token().unwrap(), t);
        assert_ne!(csrf_for(&t), token_hash(&t));
        assert!(tokens_match(&csrf_for(&t), &csrf_for(&t)));
        assert!(!tokens_match("", ""));
        assert!(!tokens_match(&csrf_for(&t), &token_hash(&t)));
    }

    #[test]
    fn cookie_attributes() {
        let c = set_cookie(SESSION_COOKIE, "v", Duration::from_secs(60), true);
        assert_eq!(
            c,
            "interven_session=v; Path=/console; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        );
        assert!(!set_cookie("x", "v", Duration::ZERO, false).contains("Secure"));
    }

    #[test]
    fn failures_empty_the_bucket_per_address_and_it_refills() {
        let l = LoginLimiter::new(3, Duration::from_millis(50));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(l.blocked(a).is_none());
            l.failed(a);
        }
        assert!(l.blocked(a).is_some());
        assert!(l.blocked(b).is_none(), "per address");
        std::thread::sleep(Duration::from_millis(60));
        assert!(l.blocked(a).is_none(), "refilled");
    }
}
