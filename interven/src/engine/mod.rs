//! The embedded policy engine.
//!
//! PLACEHOLDER: this file fixes the engine's public interface so that the
//! client, the macros and the gateway can be built against it; the real
//! pipeline (detect → policy → redact → risk, approvals, memory) replaces
//! these bodies. Signatures may grow, but not change, without telling the
//! client and the gateway.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::{
    Approval, ApprovalId, Decision, Error, ResponseScan, Result, RiskBand, ScanRequest, TraceId,
    Verdict,
};

/// A policy for the embedded engine.
#[derive(Debug, Clone, Default)]
pub struct Policy {}

impl Policy {
    /// Parses a TOML policy.
    ///
    /// # Errors
    /// [`Error::Config`] with line and column for a bad policy.
    pub fn from_toml(_text: &str) -> Result<Policy> {
        Err(Error::config("policies are not implemented yet"))
    }

    /// Reads a TOML policy file.
    ///
    /// # Errors
    /// [`Error::Config`] for an unreadable or bad file.
    pub fn from_file(_path: impl AsRef<std::path::Path>) -> Result<Policy> {
        Err(Error::config("policies are not implemented yet"))
    }
}

/// What kind of sensitive thing a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FindingKind {
    /// A credential: API key, token, private key, password…
    Secret,
    /// Personal data: email, phone number, card number…
    Pii,
    /// A risky destination: paste site, tunnel, raw IP, plain http…
    Destination,
}

/// One thing a detector found. Never carries the matched value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Finding {
    /// Secret, PII or destination.
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
    /// `sha256:<hex>` of the canonical request (method, url, body, tool, operation).
    pub request_hash: String,
}

/// Builds an [`Engine`].
#[derive(Debug, Default)]
#[must_use]
pub struct EngineBuilder {
    policy: Option<Policy>,
}

impl EngineBuilder {
    /// The policy (default: the built-in policy).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// How long a pending approval lives (default 60 min).
    pub fn approval_ttl(self, _ttl: Duration) -> Self {
        self
    }

    /// How long after an approval the same request answers ALLOW (default 10 min).
    pub fn approval_grace(self, _grace: Duration) -> Self {
        self
    }

    /// Builds the engine.
    ///
    /// # Errors
    /// [`Error::Config`] for an unusable setting (e.g. an audit file that cannot be opened).
    pub fn build(self) -> Result<Engine> {
        Ok(Engine::new(self.policy.unwrap_or_default()))
    }
}

/// The embedded engine.
#[derive(Debug, Default)]
pub struct Engine {
    next: AtomicU64,
}

impl Engine {
    /// An engine with the given policy and default settings.
    pub fn new(_policy: Policy) -> Engine {
        Engine::default()
    }

    /// A builder for an engine with explicit settings.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// Assesses a request: detect, decide, redact, score. Reads (never writes)
    /// the response memory of `memory_scope` for the exfiltration chain check.
    /// Does not create approvals, traces or audit records: the gateway builds
    /// its own durable versions of those on top of this.
    pub fn assess(&self, _request: &ScanRequest, _memory_scope: &str) -> Assessment {
        Assessment {
            decision: Decision::Allow,
            reason_codes: Vec::new(),
            risk_score: 0.0,
            risk_band: RiskBand::Low,
            sanitized_body: None,
            findings: Vec::new(),
            request_hash: String::new(),
        }
    }

    /// Scans a request: [`assess`](Self::assess) in the request's agent
    /// scope, then local approvals (a pending approval for REQUIRE_APPROVAL,
    /// ALLOW for an approved identical request within the grace window), a
    /// trace id, and the audit record.
    pub fn scan(&self, _request: &ScanRequest) -> Verdict {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        Verdict::new(Decision::Allow, TraceId::new(format!("local-{n}")))
    }

    /// Classifies a response and remembers its sensitive values (hashed) in `memory_scope`.
    pub fn remember_response(
        &self,
        _memory_scope: &str,
        _body: &Value,
        _status: Option<u16>,
    ) -> ResponseScan {
        ResponseScan::new(Vec::new(), 0, String::new())
    }

    /// Classifies the response of a call scanned by this engine, in that call's agent scope.
    pub fn scan_response(
        &self,
        _trace_id: &TraceId,
        _body: &Value,
        _status: Option<u16>,
    ) -> ResponseScan {
        ResponseScan::new(Vec::new(), 0, String::new())
    }

    /// The status of a local approval, `None` for an unknown id.
    pub fn approval_status(&self, _id: &ApprovalId) -> Option<Approval> {
        None
    }

    /// Approves a pending local approval.
    ///
    /// # Errors
    /// [`Error::Config`] for an unknown id or one no longer pending.
    pub fn approve(&self, id: &ApprovalId) -> Result<Approval> {
        Err(Error::config(format!("unknown approval {id}")))
    }

    /// Denies a pending local approval.
    ///
    /// # Errors
    /// [`Error::Config`] for an unknown id or one no longer pending.
    pub fn deny(&self, id: &ApprovalId) -> Result<Approval> {
        Err(Error::config(format!("unknown approval {id}")))
    }

    /// Every pending local approval.
    pub fn pending_approvals(&self) -> Vec<Approval> {
        Vec::new()
    }
}

/// `sha256:<hex>` of the canonical form of a request: upper-case method,
/// url, body with object keys sorted, tool and operation. Approvals are bound to it.
pub fn canonical_request_hash(_request: &ScanRequest) -> String {
    String::new()
}
