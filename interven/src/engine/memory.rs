//! The response memory: salted digests of sensitive values seen in tool
//! responses, per scope (agent), bounded, so that a later request carrying
//! one of them is caught as an exfiltration chain. Values are never stored.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

/// Digests kept per scope; the oldest go first.
const MAX_PER_SCOPE: usize = 4096;
/// Scopes kept; the least recently written go first.
const MAX_SCOPES: usize = 1024;

#[derive(Debug, Default)]
pub(crate) struct Memory {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    scopes: HashMap<String, Scope>,
    order: VecDeque<String>,
}

#[derive(Debug, Default)]
struct Scope {
    set: HashSet<[u8; 16]>,
    order: VecDeque<[u8; 16]>,
}

impl Memory {
    pub(crate) fn remember(&self, scope: &str, digests: impl IntoIterator<Item = [u8; 16]>) {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !inner.scopes.contains_key(scope) {
            if inner.order.len() >= MAX_SCOPES
                && let Some(old) = inner.order.pop_front()
            {
                inner.scopes.remove(&old);
            }
            inner.order.push_back(scope.to_owned());
        }
        let s = inner.scopes.entry(scope.to_owned()).or_default();
        for d in digests {
            if s.set.insert(d) {
                s.order.push_back(d);
                if s.order.len() > MAX_PER_SCOPE
                    && let Some(old) = s.order.pop_front()
                {
                    s.set.remove(&old);
                }
            }
        }
    }

    pub(crate) fn contains(&self, scope: &str, digest: &[u8; 16]) -> bool {
        let inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        inner
            .scopes
            .get(scope)
            .is_some_and(|s| s.set.contains(digest))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .scopes
            .is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_per_scope_and_scoped() {
        let m = Memory::default();
        let d = |i: u32| {
            let mut x = [0u8; 16];
            x[..4].copy_from_slice(&i.to_le_bytes());
            x
        };
        m.remember("a", (0..(MAX_PER_SCOPE as u32 + 10)).map(d));
        assert!(!m.contains("a", &d(0)), "oldest evicted");
        assert!(m.contains("a", &d(MAX_PER_SCOPE as u32 + 9)));
        assert!(
            !m.contains("b", &d(MAX_PER_SCOPE as u32 + 9)),
            "scopes are separate"
        );
        for i in 0..(MAX_SCOPES + 5) {
            m.remember(&format!("s{i}"), [d(1)]);
        }
        assert!(m.inner.lock().unwrap().scopes.len() <= MAX_SCOPES);
    }
}
