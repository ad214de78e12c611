//! The response memory: salted digests of sensitive values seen in tool
//! responses, per scope (agent), bounded, so that a later request carrying
//! one of them is caught as an exfiltration chain. Values are never stored.
//!
//! Scopes are grouped by tenant, and each tenant has its own budget: one
//! tenant filling its memory evicts only its own oldest scopes, never
//! another tenant's. A scope made by [`scope`] names its tenant and agent
//! length-prefixed, so no tenant or agent name (`/` and `:` included) can
//! make two scopes collide; any other string is a scope of the unnamed
//! tenant (the embedded engine's).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Digests kept per scope; the oldest go first.
const MAX_PER_SCOPE: usize = 4096;
/// Scopes kept per tenant; the least recently written go first.
const MAX_SCOPES_PER_TENANT: usize = 1024;
/// Digests kept per tenant, over all its scopes (16 bytes each, so about
/// 2 MiB with the sets' overhead): past it, its oldest scopes go.
const MAX_PER_TENANT: usize = 65_536;
/// Tenants kept; the least recently written go first. Tenants are made by
/// an operator, not by requests, so this bounds memory, not other tenants.
const MAX_TENANTS: usize = 1024;

/// The memory scope of an agent of a tenant: `t<len>:<tenant>a<len>:<agent>`,
/// unambiguous for any names.
pub fn scope(tenant: &str, agent: &str) -> String {
    format!("t{}:{tenant}a{}:{agent}", tenant.len(), agent.len())
}

/// The tenant a scope made by [`scope`] names; `""` for any other string.
fn tenant_of(scope: &str) -> &str {
    let parse = || {
        let rest = scope.strip_prefix('t')?;
        let (len, rest) = rest.split_once(':')?;
        let len: usize = len.parse().ok()?;
        let tenant = rest.get(..len)?;
        let agent = rest.get(len..)?.strip_prefix('a')?;
        let (alen, agent) = agent.split_once(':')?;
        (alen.parse::<usize>().ok()? == agent.len()).then_some(tenant)
    };
    parse().unwrap_or("")
}

#[derive(Debug, Default)]
pub(crate) struct Memory {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    tenants: HashMap<String, Tenant>,
    order: VecDeque<String>,
}

#[derive(Debug, Default)]
struct Tenant {
    scopes: HashMap<String, Scope>,
    /// Scopes, least recently written first.
    order: VecDeque<String>,
    /// Digests over all scopes.
    digests: usize,
}

#[derive(Debug, Default)]
struct Scope {
    /// Salted digests: a fast hasher is safe.
    set: foldhash::HashSet<[u8; 16]>,
    order: VecDeque<[u8; 16]>,
}

impl Tenant {
    fn evict_oldest(&mut self) {
        if let Some(old) = self.order.pop_front()
            && let Some(s) = self.scopes.remove(&old)
        {
            self.digests -= s.set.len();
        }
    }
}

impl Memory {
    pub(crate) fn remember(&self, scope: &str, digests: impl IntoIterator<Item = [u8; 16]>) {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let tenant_name = tenant_of(scope);
        if let Some(i) = inner.order.iter().position(|t| t == tenant_name) {
            if let Some(t) = inner.order.remove(i) {
                inner.order.push_back(t);
            }
        } else {
            if inner.order.len() >= MAX_TENANTS
                && let Some(old) = inner.order.pop_front()
            {
                inner.tenants.remove(&old);
            }
            inner.order.push_back(tenant_name.to_owned());
        }
        let tenant = inner.tenants.entry(tenant_name.to_owned()).or_default();
        if let Some(i) = tenant.order.iter().position(|s| s == scope) {
            if let Some(s) = tenant.order.remove(i) {
                tenant.order.push_back(s);
            }
        } else {
            if tenant.order.len() >= MAX_SCOPES_PER_TENANT {
                tenant.evict_oldest();
            }
            tenant.order.push_back(scope.to_owned());
        }
        let mut added = 0usize;
        let mut removed = 0usize;
        {
            let s = tenant.scopes.entry(scope.to_owned()).or_default();
            for d in digests {
                if s.set.insert(d) {
                    added += 1;
                    s.order.push_back(d);
                    if s.order.len() > MAX_PER_SCOPE
                        && let Some(old) = s.order.pop_front()
                    {
                        s.set.remove(&old);
                        removed += 1;
                    }
                }
            }
        }
        tenant.digests = tenant.digests + added - removed;
        // Over the tenant's budget: its least recently written scopes go
        // (never the one just written, which is last).
        while tenant.digests > MAX_PER_TENANT && tenant.order.len() > 1 {
            tenant.evict_oldest();
        }
    }

    pub(crate) fn contains(&self, scope: &str, digest: &[u8; 16]) -> bool {
        let inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        inner
            .tenants
            .get(tenant_of(scope))
            .and_then(|t| t.scopes.get(scope))
            .is_some_and(|s| s.set.contains(digest))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .tenants
            .is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(i: u32) -> [u8; 16] {
        let mut x = [0u8; 16];
        x[..4].copy_from_slice(&i.to_le_bytes());
        x
    }

    #[test]
    fn bounded_per_scope_and_scoped() {
        let m = Memory::default();
        m.remember("a", (0..(MAX_PER_SCOPE as u32 + 10)).map(d));
        assert!(!m.contains("a", &d(0)), "oldest evicted");
        assert!(m.contains("a", &d(MAX_PER_SCOPE as u32 + 9)));
        assert!(
            !m.contains("b", &d(MAX_PER_SCOPE as u32 + 9)),
            "scopes are separate"
        );
        for i in 0..(MAX_SCOPES_PER_TENANT + 5) {
            m.remember(&format!("s{i}"), [d(1)]);
        }
        let inner = m.inner.lock().unwrap();
        assert!(inner.tenants[""].scopes.len() <= MAX_SCOPES_PER_TENANT);
    }

    #[test]
    fn one_tenant_cannot_evict_another() {
        let m = Memory::default();
        let victim = scope("victim", "agent");
        m.remember(&victim, [d(7)]);
        // The attacker writes far more scopes and digests than any budget.
        for i in 0..(MAX_SCOPES_PER_TENANT * 2) {
            m.remember(
                &scope("attacker", &format!("a{i}")),
                (0..64).map(|j| d(i as u32 * 64 + j)),
            );
        }
        assert!(m.contains(&victim, &d(7)), "the victim's memory survived");
        let inner = m.inner.lock().unwrap();
        let attacker = &inner.tenants["attacker"];
        assert!(attacker.digests <= MAX_PER_TENANT);
        assert!(attacker.scopes.len() <= MAX_SCOPES_PER_TENANT);
    }

    #[test]
    fn scopes_do_not_collide() {
        // Joined with `/`, ("a/b", "c") and ("a", "b/c") were one scope.
        assert_ne!(scope("a/b", "c"), scope("a", "b/c"));
        assert_ne!(scope("a", "1:b"), scope("a1:", "b"));
        assert_eq!(tenant_of(&scope("x/y:z", "a")), "x/y:z");
        assert_eq!(tenant_of("plain"), "");
        let m = Memory::default();
        m.remember(&scope("a/b", "c"), [d(1)]);
        assert!(!m.contains(&scope("a", "b/c"), &d(1)));
        assert!(m.contains(&scope("a/b", "c"), &d(1)));
    }
}
