//! The embedded policy engine: answers a [`ScanRequest`] with a [`Verdict`]
//! in-process, with no gateway and no network.
//!
//! It is a pipeline of small stages, each its own module:
//!
//! 1. **detect** — secrets (60+ credential formats with their structure and
//!    checksums, JWTs, private keys, credentials in URLs, `password=`-style
//!    assignments gated by entropy and context), personal data (emails,
//!    phone numbers, payment cards, US SSNs, IBANs, dates of birth and
//!    passport numbers in context) and risky destinations, in every string
//!    of the body at any depth, object keys, the URL and headers, after
//!    URL- and base64-decoding. A keyword prefilter (Aho-Corasick) decides
//!    which patterns run at all. Interven placeholders (`[REDACTED:EMAIL]`)
//!    count as findings of their type, so a body redacted before it reached
//!    the engine gets the same decision as the original.
//! 2. **memory** — values seen in tool responses (salted digests, bounded,
//!    per agent); a request that sends one out again is an
//!    `EXFILTRATION_CHAIN` finding.
//! 3. **risk** — a deterministic score in `[0, 1]` and its band.
//! 4. **policy** — TOML rules map findings and request facts to a decision
//!    and reason codes; the most severe decision wins.
//! 5. **redact** — the body with every secret and personal value replaced
//!    by a typed placeholder, in the same JSON shape.
//! 6. **approvals** — local REQUIRE_APPROVAL handling, bound to the request hash.
//! 7. **audit** — an optional JSON Lines record of every verdict, redacted.
//!
//! ```
//! use interven::engine::Engine;
//! use interven::{Decision, ScanRequest};
//! use serde_json::json;
//!
//! let engine = Engine::default();
//! let request = ScanRequest::builder("POST", "https://api.example.com/notes")
//!     .body(&json!({ "text": "call me at jane.doe@acme.io" }))
//!     .build()?;
//! let verdict = engine.scan(&request);
//! assert_eq!(verdict.decision, Decision::Sanitize);
//! assert_eq!(verdict.sanitized_body, Some(json!({ "text": "call me at [REDACTED:EMAIL]" })));
//! # Ok::<(), interven::Error>(())
//! ```

mod approvals;
mod audit;
mod detect;
mod memory;
mod policy;
pub(crate) mod redact;
mod risk;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub use approvals::{Approver, PendingApproval, rfc3339};
pub use policy::{BUILTIN_POLICY, Policy, Rule};

use crate::error::Result;
use crate::types::{
    Approval, ApprovalId, ApprovalStatus, Decision, ResponseScan, RiskBand, ScanRequest, TraceId,
    Verdict, url_for_display,
};
use detect::{Located, detector};

/// What kind of sensitive thing a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum FindingKind {
    /// A credential: API key, token, private key, password…
    Secret,
    /// Personal data: email, phone number, card number…
    Pii,
    /// A risky destination: paste site, tunnel, raw IP, plain http…
    Destination,
    /// A value first seen in a tool's response, now being sent out.
    Exfiltration,
}

/// How sure a detector is that a finding is what its type says.
///
/// Ordered: `Low < High < Verified`. The built-in policy denies secrets of
/// `verified` and `high` confidence and redacts (SANITIZE) `low` ones; a
/// policy rule can match on it with `confidence = ["verified", "high"]`.
///
/// | level | meaning |
/// |---|---|
/// | `verified` | the value's own structure proves it: a checksum (GitHub's CRC32, Luhn, IBAN mod-97), a vendor format with a fixed prefix and length, a decodable JWT or PEM block |
/// | `high` | a distinctive vendor format or a credential assigned to a telling name (`password = "…"`), with enough entropy |
/// | `low` | a plausible but generic value: high-entropy text beside a weak hint, a format shared with harmless identifiers |
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Confidence {
    /// Plausible, generic: redacted rather than denied by the built-in policy.
    Low,
    /// A distinctive format or a telling context.
    #[default]
    High,
    /// Proven by the value's own checksum or structure.
    Verified,
}

impl Confidence {
    /// The lower-case name used in policies and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::High => "high",
            Confidence::Verified => "verified",
        }
    }
}

impl fmt::Display for Confidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing a detector found. Never carries the matched value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Finding {
    /// Secret, PII, destination or exfiltration.
    pub kind: FindingKind,
    /// The precise type, e.g. `AWS_ACCESS_KEY_ID`, `EMAIL`.
    pub finding_type: String,
    /// Where it was found: a JSON pointer into the body (`/user/email`),
    /// or `url`, or `headers/<name>`.
    pub path: String,
    /// Byte span of the match inside the string at `path`.
    pub span: Range<usize>,
    /// `true` when the match is an interven placeholder such as
    /// `[REDACTED:EMAIL]` (a value redacted before it was sent).
    pub placeholder: bool,
    /// `true` when the match is in an object key rather than its value.
    pub in_key: bool,
    /// How sure the detector is (see [`Confidence`]).
    pub confidence: Confidence,
}

/// The engine's full answer about a request, before approvals and tracing.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Assessment {
    /// The decision of the policy.
    pub decision: Decision,
    /// Reason codes of the matching rules, most severe first.
    pub reason_codes: Vec<String>,
    /// Risk score in `[0, 1]`.
    pub risk_score: f64,
    /// The band of the risk score.
    pub risk_band: RiskBand,
    /// The body with every redactable finding replaced, when there is any.
    pub sanitized_body: Option<Value>,
    /// What the detectors found.
    pub findings: Vec<Finding>,
    /// `sha256:<hex>` of the canonical request (method, url, body, tool,
    /// operation), what approvals are bound to. Computed only when the
    /// decision is `REQUIRE_APPROVAL` (empty otherwise, to keep scans fast);
    /// [`canonical_request_hash`] computes it for any request.
    pub request_hash: String,
}

impl Assessment {
    /// The verdict this assessment gives, under `trace_id`: decision, reason
    /// codes, risk, and for SANITIZE the sanitized body (the request's own
    /// body when only its URL or headers had findings). Approvals are the
    /// caller's: a REQUIRE_APPROVAL verdict still needs its approval id.
    pub fn verdict(&self, trace_id: TraceId, request: &ScanRequest) -> Verdict {
        let mut verdict = Verdict::new(self.decision, trace_id);
        verdict.reason_codes = self.reason_codes.clone();
        verdict.risk_score = self.risk_score;
        verdict.risk_band = self.risk_band;
        if self.decision == Decision::Sanitize {
            verdict.sanitized_body = Some(
                self.sanitized_body
                    .clone()
                    .unwrap_or_else(|| request.body().clone()),
            );
        }
        verdict
    }
}

/// A new random trace id, `tr_` and 32 hex digits.
pub fn new_trace_id() -> TraceId {
    TraceId::new(format!("tr_{:032x}", fastrand::u128(..)))
}

/// Bodies nested deeper than this are denied (`BODY_TOO_DEEP`) unread.
pub const MAX_BODY_DEPTH: usize = 128;

/// Builds an [`Engine`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct EngineBuilder {
    policy: Option<Policy>,
    approval_ttl: Duration,
    approval_grace: Duration,
    audit_log: Option<PathBuf>,
    approver: Option<Approver>,
}

impl Default for EngineBuilder {
    fn default() -> Self {
        EngineBuilder {
            policy: None,
            approval_ttl: Duration::from_secs(60 * 60),
            approval_grace: Duration::from_secs(10 * 60),
            audit_log: None,
            approver: None,
        }
    }
}

impl fmt::Debug for EngineBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineBuilder")
            .field("approval_ttl", &self.approval_ttl)
            .field("approval_grace", &self.approval_grace)
            .field("audit_log", &self.audit_log)
            .field("approver", &self.approver.is_some())
            .finish_non_exhaustive()
    }
}

impl EngineBuilder {
    /// The policy (default: the built-in policy).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// How long a pending approval lives (default 60 min).
    pub fn approval_ttl(mut self, ttl: Duration) -> Self {
        self.approval_ttl = ttl;
        self
    }

    /// How long after an approval the same request answers ALLOW (default 10 min).
    pub fn approval_grace(mut self, grace: Duration) -> Self {
        self.approval_grace = grace;
        self
    }

    /// Appends a JSON line per verdict to this file (bodies redacted).
    pub fn audit_log(mut self, path: impl Into<PathBuf>) -> Self {
        self.audit_log = Some(path.into());
        self
    }

    /// A callback that decides each approval as it is created (e.g. a
    /// terminal prompt). Without one, approvals wait for [`Engine::approve`]
    /// or [`Engine::deny`].
    pub fn approver(
        mut self,
        approver: impl Fn(&PendingApproval) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.approver = Some(Arc::new(approver));
        self
    }

    /// Builds the engine.
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) when the audit log cannot be opened.
    pub fn build(self) -> Result<Engine> {
        let audit = self
            .audit_log
            .as_deref()
            .map(audit::AuditLog::open)
            .transpose()?;
        Ok(Engine {
            policy: self.policy.unwrap_or_default(),
            approvals: approvals::Approvals::new(
                self.approval_ttl,
                self.approval_grace,
                self.approver,
            ),
            memory: memory::Memory::default(),
            traces: Mutex::new(Traces::default()),
            audit,
        })
    }
}

/// Recent trace ids and their memory scope, for [`Engine::scan_response`].
#[derive(Debug, Default)]
struct Traces {
    scope: HashMap<TraceId, String>,
    order: VecDeque<TraceId>,
}

const MAX_TRACES: usize = 10_000;

/// The embedded engine. `Send + Sync`: share it in an `Arc`.
pub struct Engine {
    policy: Policy,
    approvals: approvals::Approvals,
    memory: memory::Memory,
    traces: Mutex<Traces>,
    audit: Option<audit::AuditLog>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("rules", &self.policy.rules().len())
            .field("approvals", &self.approvals)
            .field("audit", &self.audit.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for Engine {
    /// An engine with the built-in policy.
    fn default() -> Self {
        Engine::new(Policy::default())
    }
}

impl Engine {
    /// An engine with the given policy and default settings.
    pub fn new(policy: Policy) -> Engine {
        let defaults = EngineBuilder::default();
        Engine {
            policy,
            approvals: approvals::Approvals::new(
                defaults.approval_ttl,
                defaults.approval_grace,
                None,
            ),
            memory: memory::Memory::default(),
            traces: Mutex::new(Traces::default()),
            audit: None,
        }
    }

    /// A builder for an engine with explicit settings.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// The engine's policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Assesses a request: detect, decide, redact, score. Reads (never writes)
    /// the response memory of `memory_scope` for the exfiltration chain check.
    /// Does not create approvals, traces or audit records: the gateway builds
    /// its own durable versions of those on top of this.
    pub fn assess(&self, request: &ScanRequest, memory_scope: &str) -> Assessment {
        if json_depth(request.body()) > MAX_BODY_DEPTH {
            return Assessment {
                decision: Decision::Deny,
                reason_codes: vec!["BODY_TOO_DEEP".to_owned()],
                risk_score: 1.0,
                risk_band: RiskBand::Critical,
                sanitized_body: None,
                findings: Vec::new(),
                request_hash: String::new(),
            };
        }
        let located = detector().scan_request(request, &self.policy.lists);
        if located.len() > detect::MAX_FINDINGS {
            // Fail closed: past the cap, detection stopped; what was found is
            // still redacted, and the call is denied.
            let findings: Vec<Finding> = located.into_iter().map(|l| l.finding).collect();
            return Assessment {
                decision: Decision::Deny,
                reason_codes: vec!["TOO_MANY_FINDINGS".to_owned()],
                risk_score: 1.0,
                risk_band: RiskBand::Critical,
                sanitized_body: redact::redact(request.body(), &findings),
                findings,
                request_hash: String::new(),
            };
        }
        let mut findings: Vec<Finding> = Vec::with_capacity(located.len());
        let check_memory = !self.memory.is_empty();
        for Located { finding, digest } in located {
            if check_memory
                && !finding.placeholder
                && matches!(finding.kind, FindingKind::Secret | FindingKind::Pii)
                && self.memory.contains(memory_scope, &digest)
            {
                findings.push(Finding {
                    kind: FindingKind::Exfiltration,
                    finding_type: "EXFILTRATION_CHAIN".to_owned(),
                    ..finding.clone()
                });
            }
            findings.push(finding);
        }
        let facts: Vec<(FindingKind, &str)> = findings
            .iter()
            .map(|f| (f.kind, f.finding_type.as_str()))
            .collect();
        let risk_score = risk::score(&facts, request);
        let path = url::Url::parse(request.url())
            .map(|u| u.path().to_owned())
            .unwrap_or_default();
        let (decision, reason_codes) = self.policy.decide(&policy::Facts {
            request,
            path: &path,
            findings: &findings,
            risk: risk_score,
        });
        let sanitized_body = redact::redact(request.body(), &findings);
        Assessment {
            decision,
            reason_codes,
            risk_score,
            risk_band: RiskBand::from_score(risk_score),
            sanitized_body,
            findings,
            request_hash: if decision == Decision::RequireApproval {
                canonical_request_hash(request)
            } else {
                String::new()
            },
        }
    }

    /// Scans a request: [`assess`](Self::assess) in the request's agent
    /// scope, then local approvals (a pending approval for REQUIRE_APPROVAL,
    /// ALLOW for an approved identical request within the grace window), a
    /// trace id, and the audit record.
    pub fn scan(&self, request: &ScanRequest) -> Verdict {
        let scope = request.agent_id().unwrap_or("default");
        let a = self.assess(request, scope);
        let trace_id = new_trace_id();
        let mut verdict = a.verdict(trace_id.clone(), request);
        if a.decision == Decision::RequireApproval {
            let describe = |approval_id| PendingApproval {
                approval_id,
                tool: request.tool().map(str::to_owned),
                operation: request.operation().map(str::to_owned),
                method: request.method().to_owned(),
                url: url_for_display(request.url()),
                reason_codes: verdict.reason_codes.clone(),
                risk_score: verdict.risk_score,
            };
            match self.approvals.resolve(&a.request_hash, describe) {
                approvals::Resolution::Approved(id) => {
                    verdict.decision = Decision::Allow;
                    verdict.reason_codes.push("APPROVED".to_owned());
                    verdict
                        .extra
                        .insert("approved_by".to_owned(), Value::String(id.into_string()));
                }
                approvals::Resolution::Pending(id) => verdict.approval_id = Some(id),
            }
        }
        self.remember_trace(&trace_id, scope);
        if let Some(audit) = &self.audit {
            let body = a.sanitized_body.as_ref().unwrap_or(request.body());
            audit.write(&json!({
                "ts": rfc3339(SystemTime::now()),
                "trace_id": verdict.trace_id,
                "decision": verdict.decision,
                "reason_codes": verdict.reason_codes,
                "risk_score": verdict.risk_score,
                "risk_band": verdict.risk_band,
                "approval_id": verdict.approval_id,
                "agent_id": request.agent_id(),
                "tool": request.tool(),
                "operation": request.operation(),
                "method": request.method(),
                "url": url_for_display(request.url()),
                "findings": a.findings.iter().map(|f| json!({"kind": f.kind, "type": f.finding_type, "path": f.path})).collect::<Vec<_>>(),
                "body": body,
            }));
        }
        tracing::debug!(trace_id = %verdict.trace_id, decision = %verdict.decision, risk = verdict.risk_score, "interven: local scan");
        verdict
    }

    fn remember_trace(&self, trace_id: &TraceId, scope: &str) {
        let mut t = self.traces.lock().unwrap_or_else(PoisonError::into_inner);
        if t.order.len() >= MAX_TRACES
            && let Some(old) = t.order.pop_front()
        {
            t.scope.remove(&old);
        }
        t.order.push_back(trace_id.clone());
        t.scope.insert(trace_id.clone(), scope.to_owned());
    }

    /// Classifies a response and remembers its sensitive values (hashed) in `memory_scope`.
    pub fn remember_response(
        &self,
        memory_scope: &str,
        body: &Value,
        status: Option<u16>,
    ) -> ResponseScan {
        let mut located = Vec::new();
        if json_depth(body) <= MAX_BODY_DEPTH {
            detector().scan_body(body, &self.policy.lists, &mut located);
        }
        let sensitive: Vec<&Located> = located
            .iter()
            .filter(|l| {
                !l.finding.placeholder
                    && matches!(l.finding.kind, FindingKind::Secret | FindingKind::Pii)
            })
            .collect();
        self.memory
            .remember(memory_scope, sensitive.iter().map(|l| l.digest));
        let data_classes: BTreeSet<&str> = sensitive
            .iter()
            .map(|l| l.finding.finding_type.as_str())
            .collect();
        let fields: BTreeSet<(&str, bool)> = sensitive
            .iter()
            .map(|l| (l.finding.path.as_str(), l.finding.in_key))
            .collect();
        let mut scan = ResponseScan::new(
            data_classes.into_iter().map(str::to_owned).collect(),
            fields.len() as u64,
            format!(
                "sha256:{}",
                hex(&Sha256::digest(canonical_json(body).as_bytes()))
            ),
        );
        if let Some(status) = status {
            scan.extra
                .insert("response_status".to_owned(), json!(status));
        }
        scan
    }

    /// Classifies the response of a call scanned by this engine, in that call's agent scope.
    pub fn scan_response(
        &self,
        trace_id: &TraceId,
        body: &Value,
        status: Option<u16>,
    ) -> ResponseScan {
        let scope = {
            let t = self.traces.lock().unwrap_or_else(PoisonError::into_inner);
            t.scope
                .get(trace_id)
                .cloned()
                .unwrap_or_else(|| "default".to_owned())
        };
        let scan = self.remember_response(&scope, body, status);
        if let Some(audit) = &self.audit {
            audit.write(&json!({
                "ts": rfc3339(SystemTime::now()),
                "trace_id": trace_id,
                "response": {"data_classes": scan.data_classes, "fields_redacted_count": scan.fields_redacted_count,
                             "content_fingerprint": scan.content_fingerprint, "status": status},
            }));
        }
        scan
    }

    /// The status of a local approval, `None` for an unknown id.
    pub fn approval_status(&self, id: &ApprovalId) -> Option<Approval> {
        self.approvals.status(id)
    }

    /// Approves a pending local approval.
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) for an unknown id or one no longer pending.
    pub fn approve(&self, id: &ApprovalId) -> Result<Approval> {
        self.approvals.decide(id, ApprovalStatus::Approved)
    }

    /// Denies a pending local approval.
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) for an unknown id or one no longer pending.
    pub fn deny(&self, id: &ApprovalId) -> Result<Approval> {
        self.approvals.decide(id, ApprovalStatus::Denied)
    }

    /// Every pending local approval, the soonest to expire first.
    pub fn pending_approvals(&self) -> Vec<Approval> {
        self.approvals.pending()
    }
}

/// The nesting depth of a JSON value, computed without recursion.
fn json_depth(value: &Value) -> usize {
    let mut max = 0;
    let mut stack = vec![(value, 1usize)];
    while let Some((v, d)) = stack.pop() {
        max = max.max(d);
        if d > MAX_BODY_DEPTH {
            return d;
        }
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|i| (i, d + 1))),
            Value::Object(map) => stack.extend(map.values().map(|i| (i, d + 1))),
            _ => {}
        }
    }
    max
}

/// JSON with object keys sorted and no insignificant whitespace.
/// Callers bound the depth first ([`MAX_BODY_DEPTH`]).
fn canonical_json(value: &Value) -> String {
    fn write(v: &Value, out: &mut Vec<u8>) {
        match v {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                out.push(b'{');
                for (i, (k, v)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    // Writing a string or a scalar into a Vec cannot fail.
                    let _ = serde_json::to_writer(&mut *out, k);
                    out.push(b':');
                    write(v, out);
                }
                out.push(b'}');
            }
            Value::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write(item, out);
                }
                out.push(b']');
            }
            other => {
                let _ = serde_json::to_writer(&mut *out, other);
            }
        }
    }
    let mut out = Vec::new();
    if json_depth(value) <= MAX_BODY_DEPTH {
        write(value, &mut out);
    }
    String::from_utf8(out).unwrap_or_default()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// `sha256:<hex>` of the canonical form of a request: upper-case method,
/// url, body with object keys sorted, tool and operation. Approvals are bound to it.
pub fn canonical_request_hash(request: &ScanRequest) -> String {
    let mut h = Sha256::new();
    for part in [
        request.method(),
        request.url(),
        request.tool().unwrap_or(""),
        request.operation().unwrap_or(""),
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.update(canonical_json(request.body()).as_bytes());
    format!("sha256:{}", hex(&h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(body: Value) -> ScanRequest {
        ScanRequest::builder("POST", "https://api.example.com/x")
            .json_body(body)
            .tool("t")
            .build()
            .unwrap()
    }

    #[test]
    fn canonical_hash_ignores_key_order_only() {
        let a = req(json!({"a": 1, "b": [1, 2]}));
        let b = req(json!({"b": [1, 2], "a": 1}));
        let c = req(json!({"a": 1, "b": [2, 1]}));
        assert_eq!(canonical_request_hash(&a), canonical_request_hash(&b));
        assert_ne!(canonical_request_hash(&a), canonical_request_hash(&c));
        assert!(canonical_request_hash(&a).starts_with("sha256:"));
    }

    #[test]
    fn decisions_of_the_builtin_policy() {
        let e = Engine::default();
        assert_eq!(
            e.scan(&req(json!({"text": "hello"}))).decision,
            Decision::Allow
        );
        let key = format!("AKIA{}", "Q3EGRB4VXLTU7MCN");
        let v = e.scan(&req(json!({"cfg": {"aws": key}})));
        assert_eq!(v.decision, Decision::Deny);
        assert_eq!(v.reason_codes[0], "SECRET_DETECTED");
        let v = e.scan(&req(json!({"to": "a@acme.io and b@acme.io"})));
        assert_eq!(v.decision, Decision::Sanitize);
        assert_eq!(
            v.sanitized_body,
            Some(json!({"to": "[REDACTED:EMAIL] and [REDACTED:EMAIL]"}))
        );
        let del = ScanRequest::builder("DELETE", "https://api.github.com/repos/o/r")
            .build()
            .unwrap();
        let v = e.scan(&del);
        assert_eq!(v.decision, Decision::RequireApproval);
        assert!(v.approval_id.is_some());
        let v = e.scan(&req(json!({"url": "https://webhook.site/abc"})));
        assert_eq!(v.decision, Decision::Deny);
        assert!(v.has_reason("EXFILTRATION_DESTINATION"));
    }

    #[test]
    fn approval_flow_in_process() {
        let e = Engine::default();
        let del = ScanRequest::builder("DELETE", "https://api.github.com/repos/o/r")
            .tool("github")
            .build()
            .unwrap();
        let v = e.scan(&del);
        let id = v.approval_id.unwrap();
        assert_eq!(e.pending_approvals().len(), 1);
        e.approve(&id).unwrap();
        let v = e.scan(&del);
        assert_eq!(v.decision, Decision::Allow);
        assert_eq!(
            e.approval_status(&id).unwrap().status,
            ApprovalStatus::Executed
        );
        let changed = ScanRequest::builder("DELETE", "https://api.github.com/repos/o/other")
            .tool("github")
            .build()
            .unwrap();
        assert_eq!(e.scan(&changed).decision, Decision::RequireApproval);
    }

    #[test]
    fn exfiltration_chain() {
        let e = Engine::default();
        let read = ScanRequest::builder("GET", "https://crm.example.com/customers/1")
            .agent_id("a1")
            .build()
            .unwrap();
        let v = e.scan(&read);
        let scan = e.scan_response(
            &v.trace_id,
            &json!({"email": "vip.customer@bigcorp.io", "id": 1}),
            Some(200),
        );
        assert_eq!(scan.data_classes, ["EMAIL"]);
        assert_eq!(scan.fields_redacted_count, 1);
        assert!(scan.content_fingerprint.starts_with("sha256:"));
        let send = ScanRequest::builder("POST", "https://paste.example.org/new")
            .json_body(json!({"note": "lead: vip.customer@bigcorp.io"}))
            .agent_id("a1")
            .build()
            .unwrap();
        let v = e.scan(&send);
        assert_eq!(v.decision, Decision::Deny);
        assert!(v.has_reason("EXFILTRATION_CHAIN"), "{:?}", v.reason_codes);
        let other_agent = ScanRequest::builder("POST", "https://paste.example.org/new")
            .json_body(json!({"note": "lead: vip.customer@bigcorp.io"}))
            .agent_id("a2")
            .build()
            .unwrap();
        assert_eq!(
            e.scan(&other_agent).decision,
            Decision::Sanitize,
            "memory is per agent"
        );
    }

    #[test]
    fn deep_bodies_are_denied_not_overflowed() {
        let mut v = json!("x");
        for _ in 0..1_000 {
            v = json!([v]);
        }
        let verdict = Engine::default().scan(&req(v));
        assert_eq!(verdict.decision, Decision::Deny);
        assert!(verdict.has_reason("BODY_TOO_DEEP"));
    }

    #[test]
    fn audit_log_is_redacted() {
        let path = std::env::temp_dir().join(format!("interven-audit-{}.jsonl", fastrand::u64(..)));
        let e = Engine::builder().audit_log(&path).build().unwrap();
        e.scan(&req(json!({"to": "secret.person@acme.io"})));
        let text = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(text.contains("[REDACTED:EMAIL]"), "{text}");
        assert!(!text.contains("secret.person@acme.io"), "{text}");
        assert_eq!(text.lines().count(), 1);
    }
}
