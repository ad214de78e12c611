//! Local approvals: an in-process broker for REQUIRE_APPROVAL.
//!
//! An approval is bound to the hash of the canonical request. Once a human
//! approves it, re-scanning the identical request within the grace window
//! answers ALLOW, once (the approval becomes `executed`); a changed request
//! needs an approval of its own. Pending approvals expire after their TTL.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::types::{Approval, ApprovalId, ApprovalStatus};

/// What an approver is shown: the call, never its body.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PendingApproval {
    /// The approval to decide.
    pub approval_id: ApprovalId,
    /// The tool, if named.
    pub tool: Option<String>,
    /// The operation, if named.
    pub operation: Option<String>,
    /// The HTTP method.
    pub method: String,
    /// The URL without its query, fragment and credentials.
    pub url: String,
    /// Why approval is needed.
    pub reason_codes: Vec<String>,
    /// The risk score of the call.
    pub risk_score: f64,
}

/// A callback that decides approvals as they are created (a terminal
/// prompt, a chat message…): `true` approves, `false` denies.
pub type Approver = Arc<dyn Fn(&PendingApproval) -> bool + Send + Sync>;

struct Entry {
    request_hash: String,
    status: ApprovalStatus,
    expires_at: SystemTime,
    decided_at: Option<SystemTime>,
}

pub(crate) struct Approvals {
    entries: Mutex<HashMap<ApprovalId, Entry>>,
    pub(crate) ttl: Duration,
    pub(crate) grace: Duration,
    approver: Option<Approver>,
}

impl fmt::Debug for Approvals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Approvals")
            .field("ttl", &self.ttl)
            .field("grace", &self.grace)
            .field("approver", &self.approver.is_some())
            .finish_non_exhaustive()
    }
}

/// What the broker says about a request that needs approval.
pub(crate) enum Resolution {
    /// An identical request was approved within the grace window: run it.
    Approved(ApprovalId),
    /// Wait on this approval.
    Pending(ApprovalId),
}

/// Entries kept before old, decided ones are pruned.
const PRUNE_AT: usize = 10_000;

impl Approvals {
    pub(crate) fn new(ttl: Duration, grace: Duration, approver: Option<Approver>) -> Approvals {
        Approvals {
            entries: Mutex::new(HashMap::new()),
            ttl,
            grace,
            approver,
        }
    }

    /// The approval state of a request that the policy says needs one.
    pub(crate) fn resolve(
        &self,
        request_hash: &str,
        describe: impl FnOnce(ApprovalId) -> PendingApproval,
    ) -> Resolution {
        let now = SystemTime::now();
        let id = {
            let mut entries = self.lock();
            let mut pending = None;
            for (id, e) in entries.iter_mut() {
                if e.request_hash != request_hash {
                    continue;
                }
                expire(e, now);
                match e.status {
                    ApprovalStatus::Approved
                        if e.decided_at.is_some_and(|d| {
                            now.duration_since(d).unwrap_or_default() <= self.grace
                        }) =>
                    {
                        e.status = ApprovalStatus::Executed;
                        return Resolution::Approved(id.clone());
                    }
                    ApprovalStatus::Pending => pending = Some(id.clone()),
                    _ => {}
                }
            }
            if let Some(id) = pending {
                return Resolution::Pending(id);
            }
            if entries.len() >= PRUNE_AT {
                let horizon = self.ttl + self.grace;
                entries.retain(|_, e| {
                    e.status == ApprovalStatus::Pending || e.expires_at + horizon > now
                });
            }
            let id = ApprovalId::new(format!("apr_{:032x}", super::os_random_u128()));
            entries.insert(
                id.clone(),
                Entry {
                    request_hash: request_hash.to_owned(),
                    status: ApprovalStatus::Pending,
                    expires_at: now + self.ttl,
                    decided_at: None,
                },
            );
            id
        };
        if let Some(approver) = &self.approver {
            let pending = describe(id.clone());
            let approved = approver(&pending);
            // The approver answered for a fresh pending approval; it cannot have been decided meanwhile.
            let _ = self.decide(
                &id,
                if approved {
                    ApprovalStatus::Approved
                } else {
                    ApprovalStatus::Denied
                },
            );
        }
        Resolution::Pending(id)
    }

    pub(crate) fn status(&self, id: &ApprovalId) -> Option<Approval> {
        let mut entries = self.lock();
        let e = entries.get_mut(id)?;
        expire(e, SystemTime::now());
        Some(to_approval(id, e))
    }

    pub(crate) fn decide(&self, id: &ApprovalId, status: ApprovalStatus) -> Result<Approval> {
        let mut entries = self.lock();
        let Some(e) = entries.get_mut(id) else {
            return Err(Error::config(format!("unknown approval {id}")));
        };
        let now = SystemTime::now();
        expire(e, now);
        if e.status != ApprovalStatus::Pending {
            return Err(Error::config(format!(
                "approval {id} is already {}",
                e.status
            )));
        }
        e.status = status;
        e.decided_at = Some(now);
        Ok(to_approval(id, e))
    }

    pub(crate) fn pending(&self) -> Vec<Approval> {
        let now = SystemTime::now();
        let mut entries = self.lock();
        let mut out: Vec<Approval> = entries
            .iter_mut()
            .filter_map(|(id, e)| {
                expire(e, now);
                (e.status == ApprovalStatus::Pending).then(|| to_approval(id, e))
            })
            .collect();
        out.sort_by(|a, b| a.expires_at.cmp(&b.expires_at));
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ApprovalId, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn expire(e: &mut Entry, now: SystemTime) {
    if e.status == ApprovalStatus::Pending && now >= e.expires_at {
        e.status = ApprovalStatus::Expired;
    }
}

fn to_approval(id: &ApprovalId, e: &Entry) -> Approval {
    let mut a = Approval::new(id.clone(), e.status);
    a.decision = match e.status {
        ApprovalStatus::Approved | ApprovalStatus::Executed => Some("ALLOW".to_owned()),
        ApprovalStatus::Denied => Some("DENY".to_owned()),
        _ => None,
    };
    a.decided_at = e.decided_at.map(rfc3339);
    a.expires_at = Some(rfc3339(e.expires_at));
    a.remaining_seconds = if e.status == ApprovalStatus::Pending {
        e.expires_at
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            .as_secs_f64()
            .floor()
    } else {
        0.0
    };
    a
}

/// `2026-11-24T19:20:24Z` for a point in time (UTC, whole seconds).
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn describe(id: ApprovalId) -> PendingApproval {
        PendingApproval {
            approval_id: id,
            tool: None,
            operation: None,
            method: "DELETE".into(),
            url: String::new(),
            reason_codes: vec![],
            risk_score: 0.5,
        }
    }

    #[test]
    fn lifecycle_bound_to_the_request_hash() {
        let a = Approvals::new(Duration::from_secs(60), Duration::from_secs(60), None);
        let Resolution::Pending(id) = a.resolve("h1", describe) else {
            panic!("new request must wait")
        };
        let Resolution::Pending(same) = a.resolve("h1", describe) else {
            panic!()
        };
        assert_eq!(id, same, "one pending approval per request");
        assert_eq!(a.status(&id).unwrap().status, ApprovalStatus::Pending);
        assert_eq!(a.pending().len(), 1);
        a.decide(&id, ApprovalStatus::Approved).unwrap();
        assert!(
            a.decide(&id, ApprovalStatus::Denied).is_err(),
            "decided once"
        );
        let Resolution::Pending(other) = a.resolve("h2", describe) else {
            panic!("a changed request needs its own approval")
        };
        assert_ne!(other, id);
        assert!(matches!(a.resolve("h1", describe), Resolution::Approved(_)));
        assert_eq!(a.status(&id).unwrap().status, ApprovalStatus::Executed);
        assert!(
            matches!(a.resolve("h1", describe), Resolution::Pending(_)),
            "an approval runs once"
        );
    }

    #[test]
    fn expiry_and_approver() {
        let a = Approvals::new(Duration::ZERO, Duration::from_secs(60), None);
        let Resolution::Pending(id) = a.resolve("h", describe) else {
            panic!()
        };
        assert_eq!(a.status(&id).unwrap().status, ApprovalStatus::Expired);
        assert!(a.decide(&id, ApprovalStatus::Approved).is_err());

        let yes: Approver = Arc::new(|p: &PendingApproval| p.method == "DELETE");
        let a = Approvals::new(Duration::from_secs(60), Duration::from_secs(60), Some(yes));
        let Resolution::Pending(id) = a.resolve("h", describe) else {
            panic!()
        };
        assert_eq!(a.status(&id).unwrap().status, ApprovalStatus::Approved);
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_795_634_424)),
            "2026-11-25T19:20:24Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }
}
