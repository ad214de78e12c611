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
//! 4. **policy** — exemptions drop the findings a team allows; TOML rules
//!    map the rest and request facts (tool, host, body fields, call rates)
//!    to a decision and reason codes; the most severe enforcing decision
//!    wins; monitor-mode rules report what they would have done.
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
mod canonical;
mod detect;
mod memory;
mod policy;
pub(crate) mod redact;
mod risk;

use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub use approvals::{Approver, PendingApproval, rfc3339};
pub use memory::scope as memory_scope;
pub use policy::{
    BUILTIN_POLICY, Condition, Diagnostic, Exempted, Exemption, MAX_RATE_MAX, MAX_RATE_WINDOW,
    Mode, Policy, Rate, RateBy, Rule, Severity, value_digest,
};

use crate::error::Result;
use crate::types::{
    Approval, ApprovalId, ApprovalStatus, Decision, Monitored, ResponseScan, RiskBand, ScanRequest,
    TraceId, Verdict, url_for_display,
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
    /// What the detectors found and the rules saw (exempted findings excluded).
    pub findings: Vec<Finding>,
    /// The URL, headers and names of the request with every secret and
    /// personal value found in them replaced by its placeholder: what may be
    /// stored, shown, and (for SANITIZE) sent.
    pub redacted: RedactedRequest,
    /// Findings an `[[exempt]]` entry dropped before the rules ran (not
    /// redacted, not scored), with the exemption's name.
    pub exempted: Vec<Exempted>,
    /// When a monitor-mode rule matched: what enforcing every matching rule
    /// would have decided. The decision above is what counts.
    pub monitor: Option<Monitored>,
    /// `sha256:<hex>` of the canonical request (see
    /// [`canonical_request_hash`]), what approvals are bound to. Computed only when the
    /// decision is `REQUIRE_APPROVAL` (empty otherwise, to keep scans fast);
    /// [`canonical_request_hash`] computes it for any request.
    pub request_hash: String,
}

/// The parts of a request other than its body, redacted: every secret and
/// personal value the detectors found in them replaced by its placeholder.
/// Destinations stay (the URL's host is what the policy judged).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RedactedRequest {
    /// The full URL (query included), redacted.
    pub url: String,
    /// The headers, redacted value by value.
    pub headers: Option<std::collections::BTreeMap<String, String>>,
    /// The tool's name, redacted.
    pub tool: Option<String>,
    /// The operation's name, redacted.
    pub operation: Option<String>,
    /// The agent's id, redacted.
    pub agent_id: Option<String>,
    /// The agent's name, redacted.
    pub agent_name: Option<String>,
    /// Whether the URL changed.
    pub url_changed: bool,
    /// Whether a header value changed.
    pub headers_changed: bool,
}

impl RedactedRequest {
    fn of(request: &ScanRequest, findings: &[Finding]) -> RedactedRequest {
        let on = |path: &str| -> Vec<&Finding> {
            findings
                .iter()
                .filter(|f| {
                    f.path == path
                        && !f.placeholder
                        && matches!(f.kind, FindingKind::Secret | FindingKind::Pii)
                })
                .collect()
        };
        let redact = |path: &str, text: &str| -> (String, bool) {
            let found = on(path);
            if found.is_empty() {
                (text.to_owned(), false)
            } else {
                (redact::replace_spans(text, found), true)
            }
        };
        let (url, url_changed) = redact("url", request.url());
        let mut headers_changed = false;
        let headers = request.headers().map(|h| {
            h.iter()
                .map(|(name, value)| {
                    let (v, changed) = redact(&format!("headers/{name}"), value);
                    headers_changed |= changed;
                    (name.clone(), v)
                })
                .collect()
        });
        let name = |path: &str, text: Option<&str>| text.map(|t| redact(path, t).0);
        RedactedRequest {
            url,
            headers,
            tool: name("tool", request.tool()),
            operation: name("operation", request.operation()),
            agent_id: name("agent_id", request.agent_id()),
            agent_name: name("agent_name", request.agent_name()),
            url_changed,
            headers_changed,
        }
    }
}

/// Whether a redacted URL still names the scheme, host and port of the
/// original (a value found only after decoding is replaced whole, and can
/// take the host with it: that URL cannot be sent).
fn same_origin(original: &str, redacted: &str) -> bool {
    match (url::Url::parse(original), url::Url::parse(redacted)) {
        (Ok(a), Ok(b)) => {
            a.scheme() == b.scheme() && a.host_str() == b.host_str() && a.port() == b.port()
        }
        _ => false,
    }
}

/// Whether a finding's path is in the body (a JSON pointer, `""` for the root).
fn in_body(path: &str) -> bool {
    path.is_empty() || path.starts_with('/')
}

/// Whether every redactable finding outside the body has a span that can be
/// replaced (inside its text, on character boundaries).
fn redactable_outside_body(request: &ScanRequest, findings: &[Finding]) -> bool {
    findings.iter().all(|f| {
        if in_body(&f.path)
            || f.placeholder
            || !matches!(f.kind, FindingKind::Secret | FindingKind::Pii)
        {
            return true;
        }
        let text = match f.path.as_str() {
            "url" => Some(request.url()),
            "tool" => request.tool(),
            "operation" => request.operation(),
            "agent_id" => request.agent_id(),
            "agent_name" => request.agent_name(),
            p => p
                .strip_prefix("headers/")
                .and_then(|n| request.headers().and_then(|h| h.get(n)))
                .map(String::as_str),
        };
        text.is_some_and(|t| {
            f.span.start < f.span.end
                && f.span.end <= t.len()
                && t.is_char_boundary(f.span.start)
                && t.is_char_boundary(f.span.end)
        })
    })
}

impl Assessment {
    /// The verdict this assessment gives, under `trace_id`: decision, reason
    /// codes, risk, and for SANITIZE the sanitized body (the request's own
    /// body when only its URL or headers had findings), plus
    /// `sanitized_url` / `sanitized_headers` (in [`Verdict::extra`]) when
    /// the URL or a header was redacted: the caller must send those instead.
    /// Approvals are the caller's: a REQUIRE_APPROVAL verdict still needs its
    /// approval id.
    pub fn verdict(&self, trace_id: TraceId, request: &ScanRequest) -> Verdict {
        let mut verdict = self.bare_verdict(trace_id);
        if self.decision == Decision::Sanitize {
            self.sanitize_into(&mut verdict, request);
        }
        verdict
    }

    /// The verdict without its sanitized body, URL and headers.
    fn bare_verdict(&self, trace_id: TraceId) -> Verdict {
        let mut verdict = Verdict::new(self.decision, trace_id);
        verdict.reason_codes = self.reason_codes.clone();
        verdict.risk_score = self.risk_score;
        verdict.risk_band = self.risk_band;
        verdict.monitor = self.monitor.clone();
        verdict
    }

    /// Makes `verdict` a SANITIZE with this assessment's redacted body, URL
    /// and headers (used for SANITIZE, and for an approved request whose
    /// body carries personal data).
    pub fn sanitize_into(&self, verdict: &mut Verdict, request: &ScanRequest) {
        let body = self
            .sanitized_body
            .clone()
            .unwrap_or_else(|| request.body().clone());
        self.sanitize_with(verdict, body);
    }

    /// [`sanitize_into`](Self::sanitize_into) with the sanitized body given (moved, not copied).
    fn sanitize_with(&self, verdict: &mut Verdict, body: Value) {
        verdict.decision = Decision::Sanitize;
        verdict.sanitized_body = Some(body);
        if self.redacted.url_changed {
            verdict
                .extra
                .insert("sanitized_url".to_owned(), json!(self.redacted.url));
        }
        if self.redacted.headers_changed {
            verdict
                .extra
                .insert("sanitized_headers".to_owned(), json!(self.redacted.headers));
        }
    }

    /// Whether anything in the request was redacted (body, URL or headers):
    /// an approved request with redactions is answered SANITIZE.
    pub fn has_redactions(&self) -> bool {
        self.sanitized_body.is_some() || self.redacted.url_changed || self.redacted.headers_changed
    }
}

/// Who and when a call is assessed for: the tenant and API key rate rules
/// count by (the gateway passes its own), and the clock.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct AssessOptions {
    /// The tenant whose rate counters count the call (default `"default"`).
    pub tenant: Option<String>,
    /// The API key's id, for rate rules with `by = "key"` (default: the agent).
    pub key: Option<String>,
    /// The time of the call (default: now). Tests move it to expire rate windows.
    pub now: Option<SystemTime>,
    /// Whether [`Engine::assess_json`] must give the redacted body whenever
    /// the body has a finding, whatever the decision (see
    /// [`redacted_body`](Self::redacted_body)).
    pub redacted_body: bool,
}

impl AssessOptions {
    /// Default options: tenant `"default"`, no key, now.
    pub fn new() -> AssessOptions {
        AssessOptions::default()
    }

    /// The tenant rate rules count by.
    #[must_use]
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// The API key's id rate rules with `by = "key"` count by.
    #[must_use]
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// The time of the call.
    #[must_use]
    pub fn at(mut self, now: SystemTime) -> Self {
        self.now = Some(now);
        self
    }

    /// [`Engine::assess_json`] gives the redacted body (`sanitized_body`)
    /// whenever the body has a finding, an ALLOW or a DENY too: what a
    /// caller that stores or shows the body needs (the gateway's trace
    /// store). Without it, only the decisions that send or bind the body
    /// (SANITIZE, REQUIRE_APPROVAL) parse it. [`Engine::assess_with`]
    /// always gives it.
    #[must_use]
    pub fn redacted_body(mut self) -> Self {
        self.redacted_body = true;
        self
    }
}

/// A new random trace id, `tr_` and 32 hex digits from the OS's random source.
pub fn new_trace_id() -> TraceId {
    trace_id_of(os_random_u128())
}

/// The trace id of 128 random bits: `tr_` and their 32 hex digits.
fn trace_id_of(bits: u128) -> TraceId {
    let mut id = String::with_capacity(35);
    id.push_str("tr_");
    push_hex(&mut id, &bits.to_be_bytes());
    TraceId::new(id)
}

/// The bits of a trace id [`trace_id_of`] made; `None` for any other id.
fn trace_bits(id: &TraceId) -> Option<u128> {
    let hex = id.as_str().strip_prefix("tr_")?;
    // `from_str_radix` takes a sign and upper case: neither is ours.
    (hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| u128::from_str_radix(hex, 16).ok())
        .flatten()
}

/// 128 bits from the OS's random source (`getrandom`), for every id an
/// outsider sees. The bytes come through a per-thread buffer refilled by
/// one `getrandom` call per 32 ids (a system call per scan cost as much as
/// a tenth of a small scan); bytes handed out are zeroed in the buffer, so
/// none is given twice. Should the OS refuse (it does not on supported
/// systems), a SHA-256 of the time, a counter and a process-local
/// generator: unique, never a panic.
pub(crate) fn os_random_u128() -> u128 {
    const POOL_SIZE: usize = 512;
    thread_local! {
        static POOL: std::cell::RefCell<([u8; POOL_SIZE], usize)> =
            const { std::cell::RefCell::new(([0; POOL_SIZE], POOL_SIZE)) };
    }
    let mut bytes = [0u8; 16];
    let pooled = POOL.with(|pool| {
        let Ok(mut pool) = pool.try_borrow_mut() else {
            return getrandom::fill(&mut bytes).is_ok();
        };
        let (buf, used) = &mut *pool;
        if *used + 16 > POOL_SIZE {
            if getrandom::fill(buf).is_err() {
                return false;
            }
            *used = 0;
        }
        let chunk = &mut buf[*used..*used + 16];
        bytes.copy_from_slice(chunk);
        chunk.fill(0);
        *used += 16;
        true
    });
    if !pooled {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let mut h = Sha256::new();
        h.update(fastrand::u128(..).to_le_bytes());
        h.update(
            COUNTER
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                .to_le_bytes(),
        );
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        h.update(now.as_nanos().to_le_bytes());
        bytes.copy_from_slice(&h.finalize()[..16]);
    }
    u128::from_le_bytes(bytes)
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
            policy: RwLock::new(Arc::new(self.policy.unwrap_or_default())),
            rates: policy::RateCounters::default(),
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

/// Recent trace ids and their memory scope, for [`Engine::scan_response`]:
/// a ring of [`TRACE_SLOTS`], the oldest overwritten. Each id made by
/// [`Engine::scan`] names its slot in its low bits (masked by its high
/// bits, so ids show no counter), and a slot answers only for the id it
/// holds: remembering and looking up touch one slot, no hash table.
#[derive(Debug, Default)]
struct Traces {
    /// The bits of each remembered id and its scope; grows to
    /// [`TRACE_SLOTS`], then wraps. Calls of one agent share its scope's string.
    slots: Vec<(u128, Arc<str>)>,
    /// The slot the next trace takes.
    next: usize,
}

/// How many recent traces an engine remembers (a power of two).
const TRACE_SLOTS: usize = 1 << 14;

/// The slot a trace id's bits name (see [`Traces`]).
fn trace_slot(bits: u128) -> usize {
    ((bits as u64 ^ (bits >> 64) as u64) as usize) & (TRACE_SLOTS - 1)
}

/// `random` with its low bits set so that [`trace_slot`] names `slot`.
fn with_trace_slot(random: u128, slot: usize) -> u128 {
    let mask = (TRACE_SLOTS - 1) as u128;
    let low = (slot as u128 ^ (random >> 64)) & mask;
    (random & !mask) | low
}

/// The embedded engine. `Send + Sync`: share it in an `Arc`.
pub struct Engine {
    policy: RwLock<Arc<Policy>>,
    rates: policy::RateCounters,
    approvals: approvals::Approvals,
    memory: memory::Memory,
    traces: Mutex<Traces>,
    audit: Option<audit::AuditLog>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("rules", &self.policy().rules().len())
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
            policy: RwLock::new(Arc::new(policy)),
            rates: policy::RateCounters::default(),
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

    /// Compiles all of the detector's rules now rather than as scans need them.
    ///
    /// Each rule is compiled once per process, the first time a scan needs
    /// it; all of them together take about a third of a second of CPU
    /// (spread over rayon's pool here). A server calls this at start-up so
    /// that no request waits for a compilation; a command that scans one
    /// input and exits need not. Calling it again, or from several threads
    /// at once, compiles nothing more: a scan that needs a rule meanwhile
    /// waits for that rule's one compilation.
    pub fn warm_up() {
        detector().compile_all();
    }

    /// A builder for an engine with explicit settings.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// The engine's policy (a snapshot: [`set_policy`](Self::set_policy)
    /// does not change a policy already handed out).
    pub fn policy(&self) -> Arc<Policy> {
        Arc::clone(&self.policy.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the policy, atomically: every assessment uses either the
    /// old policy or the new one, whole. Rate counters are kept (by rule
    /// name), so a reload does not hand a runaway agent a fresh budget.
    pub fn set_policy(&self, policy: Policy) {
        *self.policy.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(policy);
    }

    /// Assesses a request: detect, decide, redact, score. Reads (never writes)
    /// the response memory of `memory_scope` for the exfiltration chain check.
    /// Does not create approvals, traces or audit records: the gateway builds
    /// its own durable versions of those on top of this.
    pub fn assess(&self, request: &ScanRequest, memory_scope: &str) -> Assessment {
        self.assess_with(request, memory_scope, &AssessOptions::default())
    }

    /// [`assess`](Self::assess) for a tenant and key at a time: what rate
    /// rules count by. Each call that satisfies a rate rule's other
    /// conditions is counted.
    pub fn assess_with(
        &self,
        request: &ScanRequest,
        memory_scope: &str,
        options: &AssessOptions,
    ) -> Assessment {
        let policy = self.policy();
        if json_depth(request.body()) > MAX_BODY_DEPTH {
            return too_deep(request);
        }
        let url = url::Url::parse(request.url()).ok();
        let located = detector().scan_request(request, url.as_ref(), &policy.lists);
        self.assess_located(
            request,
            url.as_ref(),
            located,
            &policy,
            memory_scope,
            options,
            true,
        )
    }

    /// [`assess_with`](Self::assess_with) for a request whose body is JSON
    /// text, scanned straight from its bytes: the body is parsed into a
    /// `Value` (and set on the returned request, whose own body is
    /// ignored) only when the answer needs it: a rule or an exemption reads
    /// it, the decision is SANITIZE or REQUIRE_APPROVAL (or a DENY for too
    /// many findings, whose body is still redacted), or an audit log records
    /// it. The findings, decision and sanitized body are those of
    /// [`assess_with`](Self::assess_with) on the parsed body, except that an
    /// ALLOW or a DENY carries no sanitized body (it needs none) unless
    /// [`AssessOptions::redacted_body`] asks for it. With that option, an
    /// answer without a sanitized body means nothing in the body needs
    /// redacting: its bytes are what may be stored. When a body was
    /// redacted for an answer other than REQUIRE_APPROVAL, the returned
    /// request's body is the empty object: the parsed body became the
    /// sanitized one (redacted in place, not copied).
    ///
    /// # Errors
    /// The body is not JSON, or an object in it has a duplicate key
    /// (parsers disagree on which value counts). A body nested deeper than
    /// [`MAX_BODY_DEPTH`] is no error: it is denied (`BODY_TOO_DEEP`).
    pub fn assess_json(
        &self,
        mut request: ScanRequest,
        body: &[u8],
        memory_scope: &str,
        options: &AssessOptions,
    ) -> std::result::Result<(Assessment, ScanRequest), serde_json::Error> {
        let policy = self.policy();
        let mut located = Vec::new();
        match detector().scan_body_bytes(body, &policy.lists, &mut located) {
            Ok(()) => {}
            Err(detect::BodyError::TooDeep) => {
                request.set_body(Value::Object(serde_json::Map::new()));
                return Ok((too_deep(&request), request));
            }
            Err(detect::BodyError::Json(e)) => return Err(e),
        }
        let parsed = policy.reads_body() || self.audit.is_some();
        request.set_body(if parsed {
            detect::parse_body(body)?
        } else {
            // Nothing reads it yet: the body stays bytes.
            Value::Object(serde_json::Map::new())
        });
        let url = url::Url::parse(request.url()).ok();
        detector().scan_request_outside_body(&request, url.as_ref(), &policy.lists, &mut located);
        let mut a = self.assess_located(
            &request,
            url.as_ref(),
            located,
            &policy,
            memory_scope,
            options,
            parsed,
        );
        let too_many = a.reason_codes.iter().any(|c| c == "TOO_MANY_FINDINGS");
        let wanted = too_many
            || matches!(a.decision, Decision::Sanitize | Decision::RequireApproval)
            || (options.redacted_body && a.findings.iter().any(|f| in_body(&f.path)));
        if !parsed && wanted {
            // The verdict carries the (redacted) body, or the approval is bound to it.
            let value: Value = detect::parse_body(body)?;
            if a.decision == Decision::RequireApproval {
                request.set_body(value);
                a.sanitized_body = sanitized_body(&request, &a.findings);
                a.request_hash = canonical_request_hash(&request);
            } else {
                // Nothing needs the body unredacted: it is redacted in
                // place, not copied (a big body's tree is built once).
                match redact::redact_owned(value, &a.findings) {
                    Ok(redacted) => a.sanitized_body = Some(redacted),
                    Err(value) => request.set_body(value),
                }
            }
        }
        Ok((a, request))
    }

    /// [`scan`](Self::scan) for a request whose body is JSON text: see
    /// [`assess_json`](Self::assess_json).
    ///
    /// # Errors
    /// As [`assess_json`](Self::assess_json).
    pub fn scan_json(
        &self,
        request: ScanRequest,
        body: &[u8],
    ) -> std::result::Result<Verdict, serde_json::Error> {
        let scope = request.agent_id().unwrap_or("default").to_owned();
        let (a, request) = self.assess_json(request, body, &scope, &AssessOptions::default())?;
        Ok(self.finish_scan(a, &request, &scope))
    }

    /// The assessment of a request from its findings. Without `redact`
    /// (the body is not parsed yet), no sanitized body is made. `url` is
    /// the request's URL parsed (policy rules match its path).
    #[allow(clippy::too_many_arguments)]
    fn assess_located(
        &self,
        request: &ScanRequest,
        url: Option<&url::Url>,
        located: Vec<Located>,
        policy: &Policy,
        memory_scope: &str,
        options: &AssessOptions,
        redact: bool,
    ) -> Assessment {
        if located.len() > detect::MAX_FINDINGS {
            // Fail closed: past the cap, detection stopped; what was found is
            // still redacted, and the call is denied.
            let findings: Vec<Finding> = located.into_iter().map(|l| l.finding).collect();
            return Assessment {
                decision: Decision::Deny,
                reason_codes: vec!["TOO_MANY_FINDINGS".to_owned()],
                risk_score: 1.0,
                risk_band: RiskBand::Critical,
                sanitized_body: if redact {
                    redact::redact(request.body(), &findings)
                } else {
                    None
                },
                redacted: RedactedRequest::of(request, &findings),
                findings,
                exempted: Vec::new(),
                monitor: None,
                request_hash: String::new(),
            };
        }
        let path = url.map_or("", url::Url::path);
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
        let (findings, exempted) = policy.exempt(
            &policy::Facts {
                request,
                path,
                findings: &[],
                risk: 0.0,
            },
            findings,
        );
        let facts: Vec<(FindingKind, &str)> = findings
            .iter()
            .map(|f| (f.kind, f.finding_type.as_str()))
            .collect();
        let risk_score = risk::score(&facts, request);
        let now_ms = options
            .now
            .unwrap_or_else(SystemTime::now)
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let outcome = policy.decide(
            &policy::Facts {
                request,
                path,
                findings: &findings,
                risk: risk_score,
            },
            &policy::RateContext {
                counters: &self.rates,
                tenant: options.tenant.as_deref().unwrap_or("default"),
                key: options.key.as_deref(),
                now_ms,
            },
        );
        let (mut decision, mut reason_codes) = (outcome.decision, outcome.reason_codes);
        let sanitized_body = if redact {
            sanitized_body(request, &findings)
        } else {
            None
        };
        let redacted = RedactedRequest::of(request, &findings);
        if decision == Decision::Sanitize
            && (!redactable_outside_body(request, &findings)
                || (redacted.url_changed && !same_origin(request.url(), &redacted.url)))
        {
            // A value found where it cannot be replaced in place: it must
            // not leave, so the call does not run.
            decision = Decision::Deny;
            reason_codes.insert(0, "UNREDACTABLE_VALUE".to_owned());
        }
        Assessment {
            decision,
            reason_codes,
            risk_score,
            risk_band: RiskBand::from_score(risk_score),
            sanitized_body,
            redacted,
            findings,
            exempted,
            monitor: outcome.monitor,
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
        self.finish_scan(a, request, scope)
    }

    /// Approvals, trace and audit record of a scan, after its assessment.
    fn finish_scan(&self, mut a: Assessment, request: &ScanRequest, scope: &str) -> Verdict {
        let trace_bits = self.remember_trace(scope);
        let mut verdict = Verdict::new(a.decision, trace_id_of(trace_bits));
        // The reason codes move: nothing below reads the assessment's.
        verdict.reason_codes = std::mem::take(&mut a.reason_codes);
        verdict.risk_score = a.risk_score;
        verdict.risk_band = a.risk_band;
        verdict.monitor = a.monitor.clone();
        if a.decision == Decision::Sanitize {
            // The sanitized body moves into the verdict: a big body is not copied.
            match a.sanitized_body.take() {
                Some(body) => a.sanitize_with(&mut verdict, body),
                None => a.sanitize_into(&mut verdict, request),
            }
        }
        if a.decision == Decision::RequireApproval {
            let describe = |approval_id| PendingApproval {
                approval_id,
                tool: a.redacted.tool.clone(),
                operation: a.redacted.operation.clone(),
                method: request.method().to_owned(),
                url: url_for_display(&a.redacted.url),
                reason_codes: verdict.reason_codes.clone(),
                risk_score: verdict.risk_score,
            };
            match self.approvals.resolve(&a.request_hash, describe) {
                approvals::Resolution::Approved(id) => {
                    // What the call would get without the approval rule.
                    if a.has_redactions() {
                        a.sanitize_into(&mut verdict, request);
                    } else {
                        verdict.decision = Decision::Allow;
                    }
                    verdict.reason_codes.push("APPROVED".to_owned());
                    verdict
                        .extra
                        .insert("approved_by".to_owned(), Value::String(id.into_string()));
                }
                approvals::Resolution::Pending(id) => verdict.approval_id = Some(id),
            }
        }
        if let Some(audit) = &self.audit {
            let body = verdict
                .sanitized_body
                .as_ref()
                .or(a.sanitized_body.as_ref())
                .unwrap_or(request.body());
            audit.write(&json!({
                "ts": rfc3339(SystemTime::now()),
                "trace_id": verdict.trace_id,
                "decision": verdict.decision,
                "reason_codes": verdict.reason_codes,
                "risk_score": verdict.risk_score,
                "risk_band": verdict.risk_band,
                "approval_id": verdict.approval_id,
                "agent_id": a.redacted.agent_id,
                "tool": a.redacted.tool,
                "operation": a.redacted.operation,
                "method": request.method(),
                "url": url_for_display(&a.redacted.url),
                "findings": a.findings.iter().map(|f| json!({"kind": f.kind, "type": f.finding_type, "path": f.path})).collect::<Vec<_>>(),
                "exempted": a.exempted.iter().map(|e| json!({"kind": e.finding.kind, "type": e.finding.finding_type, "path": e.finding.path, "exemption": e.exemption})).collect::<Vec<_>>(),
                "monitored": a.monitor.is_some(),
                "monitor": a.monitor,
                "body": body,
            }));
        }
        tracing::debug!(trace_id = %verdict.trace_id, decision = %verdict.decision, risk = verdict.risk_score, "interven: local scan");
        verdict
    }

    /// The bits of a new trace id, its scope remembered in the next slot
    /// of the ring (the oldest trace forgotten past [`TRACE_SLOTS`]).
    fn remember_trace(&self, scope: &str) -> u128 {
        let random = os_random_u128();
        let mut t = self.traces.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = t.next;
        // The scope of the trace before this one: the next call is most
        // often the same agent's, and shares its string.
        let previous = t.slots.get((slot + TRACE_SLOTS - 1) % TRACE_SLOTS);
        let scope = match previous {
            Some((_, last)) if **last == *scope => Arc::clone(last),
            _ => Arc::from(scope),
        };
        t.next = (slot + 1) % TRACE_SLOTS;
        let bits = with_trace_slot(random, slot);
        if slot < t.slots.len() {
            // The old scope is dropped under the lock: a pointer decrement,
            // or one small free when its agent has no newer trace.
            t.slots[slot] = (bits, scope);
        } else {
            t.slots.push((bits, scope));
        }
        bits
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
            detector().scan_body(body, &self.policy().lists, &mut located);
        }
        let fingerprint = Sha256::digest(canonical_json(body).as_bytes());
        self.remember_located(memory_scope, &located, &fingerprint, status)
    }

    /// [`remember_response`](Self::remember_response) for a body given as
    /// JSON text, scanned straight from its bytes: no `Value` is built. The
    /// answer is the one for the parsed body.
    ///
    /// # Errors
    /// The body is not JSON, or an object in it has a duplicate key.
    pub fn remember_response_json(
        &self,
        memory_scope: &str,
        body: &[u8],
        status: Option<u16>,
    ) -> std::result::Result<ResponseScan, serde_json::Error> {
        let mut located = Vec::new();
        let canonical = match detector().scan_body_bytes(body, &self.policy().lists, &mut located) {
            Ok(()) => canonical::canonical_bytes(body)?,
            // As for a value: not scanned, fingerprinted as nothing.
            Err(detect::BodyError::TooDeep) => {
                located.clear();
                Vec::new()
            }
            Err(detect::BodyError::Json(e)) => return Err(e),
        };
        let fingerprint = Sha256::digest(&canonical);
        drop(canonical);
        Ok(self.remember_located(memory_scope, &located, &fingerprint, status))
    }

    /// The response scan of a body's findings and fingerprint; remembers
    /// its sensitive values in `memory_scope`.
    fn remember_located(
        &self,
        memory_scope: &str,
        located: &[Located],
        fingerprint: &[u8],
        status: Option<u16>,
    ) -> ResponseScan {
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
            format!("sha256:{}", hex(fingerprint)),
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
        let scope = self.trace_scope(trace_id);
        let scan = self.remember_response(&scope, body, status);
        self.audit_response(trace_id, &scan, status);
        scan
    }

    /// [`scan_response`](Self::scan_response) for a body given as JSON text
    /// (a tool's output as it arrived), scanned straight from its bytes: no
    /// `Value` is built. The answer is the one for the parsed body.
    ///
    /// # Errors
    /// The body is not JSON, or an object in it has a duplicate key.
    pub fn scan_response_json(
        &self,
        trace_id: &TraceId,
        body: &[u8],
        status: Option<u16>,
    ) -> std::result::Result<ResponseScan, serde_json::Error> {
        let scope = self.trace_scope(trace_id);
        let scan = self.remember_response_json(&scope, body, status)?;
        self.audit_response(trace_id, &scan, status);
        Ok(scan)
    }

    /// The agent scope of a trace of this engine (`"default"` when unknown).
    fn trace_scope(&self, trace_id: &TraceId) -> String {
        let Some(bits) = trace_bits(trace_id) else {
            return "default".to_owned();
        };
        let t = self.traces.lock().unwrap_or_else(PoisonError::into_inner);
        t.slots
            .get(trace_slot(bits))
            .filter(|(held, _)| *held == bits)
            .map_or_else(|| "default".to_owned(), |(_, s)| s.to_string())
    }

    fn audit_response(&self, trace_id: &TraceId, scan: &ResponseScan, status: Option<u16>) {
        if let Some(audit) = &self.audit {
            audit.write(&json!({
                "ts": rfc3339(SystemTime::now()),
                "trace_id": trace_id,
                "response": {"data_classes": scan.data_classes, "fields_redacted_count": scan.fields_redacted_count,
                             "content_fingerprint": scan.content_fingerprint, "status": status},
            }));
        }
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

/// The body with every finding in it redacted; `None` when nothing changes.
fn sanitized_body(request: &ScanRequest, findings: &[Finding]) -> Option<Value> {
    redact::redact(request.body(), findings)
}

/// The answer for a body nested deeper than [`MAX_BODY_DEPTH`].
fn too_deep(request: &ScanRequest) -> Assessment {
    Assessment {
        decision: Decision::Deny,
        reason_codes: vec!["BODY_TOO_DEEP".to_owned()],
        risk_score: 1.0,
        risk_band: RiskBand::Critical,
        sanitized_body: None,
        findings: Vec::new(),
        redacted: RedactedRequest::of(request, &[]),
        exempted: Vec::new(),
        monitor: None,
        request_hash: String::new(),
    }
}

/// The nesting depth of a JSON value, computed without recursion.
fn json_depth(value: &Value) -> usize {
    // Only containers with members go on the stack: a scalar or an empty
    // container is as deep as the members of its container.
    fn nested(v: &Value) -> bool {
        matches!(v, Value::Array(a) if !a.is_empty())
            || matches!(v, Value::Object(o) if !o.is_empty())
    }
    let mut max = 1;
    let mut stack: Vec<(&Value, usize)> = Vec::new();
    if nested(value) {
        stack.push((value, 1));
    }
    while let Some((v, d)) = stack.pop() {
        // Its members are one deeper.
        max = max.max(d + 1);
        if d + 1 > MAX_BODY_DEPTH {
            return d + 1;
        }
        match v {
            Value::Array(items) => {
                stack.extend(items.iter().filter(|m| nested(m)).map(|m| (m, d + 1)));
            }
            Value::Object(map) => {
                stack.extend(map.values().filter(|m| nested(m)).map(|m| (m, d + 1)));
            }
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

pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    push_hex(&mut s, bytes);
    s
}

/// Appends `bytes` in lower-case hex (a table, not the formatter).
fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.extend(bytes.iter().flat_map(|b| {
        [
            char::from(DIGITS[usize::from(b >> 4)]),
            char::from(DIGITS[usize::from(b & 15)]),
        ]
    }));
}

/// `sha256:<hex>` of the canonical form of a request: upper-case method,
/// URL exactly as given, tool, operation, agent id and name, every header
/// (names lower-cased, sorted; values exactly as given; none ignored) and
/// the body with object keys sorted. Each part is length-prefixed, so no two
/// different requests share a form. Approvals are bound to it: any change
/// that could change the call's effect needs an approval of its own.
pub fn canonical_request_hash(request: &ScanRequest) -> String {
    let mut h = Sha256::new();
    let mut part = |p: &str| {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    };
    part(request.method());
    part(request.url());
    for name in [
        request.tool(),
        request.operation(),
        request.agent_id(),
        request.agent_name(),
    ] {
        // Absent and empty differ.
        part(if name.is_some() { "1" } else { "0" });
        part(name.unwrap_or(""));
    }
    let mut headers: Vec<(String, &str)> = request
        .headers()
        .map(|hs| {
            hs.iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.as_str()))
                .collect()
        })
        .unwrap_or_default();
    headers.sort();
    part(&headers.len().to_string());
    for (name, value) in &headers {
        part(name);
        part(value);
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
    fn a_response_scanned_from_its_text_is_the_response_scanned_as_a_value() {
        let deep = format!(
            "{}1{}",
            "[".repeat(MAX_BODY_DEPTH + 1),
            "]".repeat(MAX_BODY_DEPTH + 1)
        );
        let texts = [
            r#"{"b": 1, "a": {"d": [1, -2, 2.50, 1e3, 18446744073709551615, -9223372036854775808], "c": null}}"#,
            r#"{"\u0062": "caf\u00e9 \"q\" \ud83d\ude00 \n\t", "a": [true, false, {}, []], "": ""}"#,
            r#"  [ {"z": "vip.client@bigcorp.io", "y": "AKIAQ3EGRB4VXLTU7MCN"}, "x", 0.1, -0.0 ]  "#,
            r#""just a string""#,
            "null",
            "12",
            &deep,
        ];
        for text in texts {
            let (a, b) = (Engine::default(), Engine::default());
            let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            let want = if text == deep { None } else { Some(value) };
            let got = a.remember_response_json("s", text.as_bytes(), Some(200));
            match want {
                Some(value) => assert_eq!(
                    got.unwrap(),
                    b.remember_response("s", &value, Some(200)),
                    "{text}"
                ),
                // Past serde_json's own nesting limit neither path parses it.
                None => assert!(got.is_err() || got.unwrap().data_classes.is_empty()),
            }
        }
        let dup = Engine::default().remember_response_json("s", br#"{"a": 1, "a": 2}"#, None);
        assert!(dup.is_err());
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
    fn canonical_hash_binds_headers_and_agent() {
        let base = || {
            ScanRequest::builder("DELETE", "https://api.example.com/x")
                .tool("t")
                .agent_id("a1")
        };
        let h = |r: ScanRequest| canonical_request_hash(&r);
        let plain = h(base().build().unwrap());
        let with = h(base()
            .header("X-HTTP-Method-Override", "PURGE")
            .build()
            .unwrap());
        let lower = h(base()
            .header("x-http-method-override", "PURGE")
            .build()
            .unwrap());
        assert_ne!(plain, with, "a header changes the hash");
        assert_eq!(with, lower, "header names are compared lower-cased");
        assert_ne!(plain, h(base().agent_id("a2").build().unwrap()));
        assert_ne!(plain, h(base().agent_name("n").build().unwrap()));
        // Absent and empty differ; parts cannot shift into each other.
        assert_ne!(
            h(ScanRequest::builder("GET", "u").build().unwrap()),
            h(ScanRequest::builder("GET", "u").tool("").build().unwrap())
        );
        assert_ne!(
            h(ScanRequest::builder("GET", "u").tool("ab").build().unwrap()),
            h(ScanRequest::builder("GET", "u")
                .tool("a")
                .operation("b")
                .build()
                .unwrap())
        );
    }

    #[test]
    fn names_are_scanned_and_redacted() {
        let e = Engine::default();
        let r = ScanRequest::builder("POST", "https://api.example.com/u/jane.doe@acme.io?x=1")
            .tool("mail jane.doe@acme.io")
            .agent_id("bob.roe@acme.io")
            .header("X-To", "jane.doe@acme.io")
            .build()
            .unwrap();
        let a = e.assess(&r, "s");
        assert_eq!(a.redacted.tool.as_deref(), Some("mail [REDACTED:EMAIL]"));
        assert_eq!(a.redacted.agent_id.as_deref(), Some("[REDACTED:EMAIL]"));
        assert_eq!(
            a.redacted.url,
            "https://api.example.com/u/[REDACTED:EMAIL]?x=1"
        );
        let v = a.verdict(new_trace_id(), &r);
        assert_eq!(v.decision, Decision::Sanitize);
        assert_eq!(
            v.sanitized_url(),
            Some("https://api.example.com/u/[REDACTED:EMAIL]?x=1")
        );
        assert_eq!(v.sanitized_headers().unwrap()["X-To"], "[REDACTED:EMAIL]");
        assert_eq!(
            v.sanitized_body,
            Some(json!({})),
            "the body had nothing to redact"
        );
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
    fn hex_and_trace_ids() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        let id = new_trace_id();
        let id = id.as_str();
        assert_eq!(id.len(), 35);
        assert!(id.starts_with("tr_"));
        assert!(
            id[3..]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_ne!(new_trace_id().as_str(), id);
        for bits in [0, 1, 0xa5 << 64, u128::MAX, fastrand::u128(..)] {
            assert_eq!(trace_bits(&trace_id_of(bits)), Some(bits));
        }
        let zeros = "0".repeat(32);
        for other in [
            "".to_owned(),
            "tr_".to_owned(),
            format!("tr_{}", &zeros[1..]),
            format!("tr_{zeros}0"),
            format!("tr_+{}", &zeros[1..]),
            format!("tr_A{}", &zeros[1..]),
            format!("tx_{zeros}"),
            format!("tr_é{}", &zeros[2..]),
        ] {
            assert_eq!(trace_bits(&TraceId::new(other.clone())), None, "{other:?}");
        }
    }

    #[test]
    fn a_response_is_remembered_in_its_calls_scope() {
        // The scope of each trace: the same agent's calls share one string,
        // another agent's call in between has its own.
        let e = Engine::default();
        let scan = |agent: &str| {
            let r = ScanRequest::builder("POST", "https://api.example.com/x")
                .agent_id(agent)
                .json_body(json!({"q": "hello"}))
                .build()
                .unwrap();
            e.scan(&r).trace_id
        };
        let (a1, b, a2) = (scan("agent-a"), scan("agent-b"), scan("agent-a"));
        assert_eq!(e.trace_scope(&a1), "agent-a");
        assert_eq!(e.trace_scope(&b), "agent-b");
        assert_eq!(e.trace_scope(&a2), "agent-a");
        assert_eq!(e.trace_scope(&new_trace_id()), "default");
        assert_eq!(e.trace_scope(&TraceId::new("not ours")), "default");
    }

    #[test]
    fn trace_ids_name_their_slot_and_the_oldest_is_forgotten() {
        for _ in 0..1000 {
            let (random, slot) = (fastrand::u128(..), fastrand::usize(..TRACE_SLOTS));
            let bits = with_trace_slot(random, slot);
            assert_eq!(trace_slot(bits), slot);
            // Only the slot's bits are set: the rest stays random.
            assert_eq!(
                bits & !((TRACE_SLOTS - 1) as u128),
                random & !((TRACE_SLOTS - 1) as u128)
            );
        }
        let e = Engine::default();
        let first = e.remember_trace("first");
        let ids: Vec<u128> = (1..TRACE_SLOTS)
            .map(|i| e.remember_trace(if i % 2 == 0 { "even" } else { "odd" }))
            .collect();
        let scope = |bits| e.trace_scope(&trace_id_of(bits));
        assert_eq!(scope(first), "first");
        assert_eq!(scope(ids[0]), "odd");
        assert_eq!(scope(ids[1]), "even");
        // The ring is full: the next trace takes the first one's slot.
        let next = e.remember_trace("next");
        assert_eq!(trace_slot(next), trace_slot(first));
        assert_eq!(scope(first), "default");
        assert_eq!(scope(next), "next");
        assert_eq!(scope(ids[0]), "odd");
        // The last one made, number TRACE_SLOTS - 1, is odd (a power of two less one).
        assert_eq!(scope(*ids.last().unwrap()), "odd");
        // An id whose slot holds another trace is not that trace.
        assert_eq!(scope(with_trace_slot(!next, trace_slot(next))), "default");
    }

    #[test]
    fn json_depth_counts_scalars_and_empty_containers() {
        assert_eq!(json_depth(&json!("x")), 1);
        assert_eq!(json_depth(&json!({})), 1);
        assert_eq!(json_depth(&json!([[]])), 2);
        assert_eq!(json_depth(&json!({"a": 1, "b": {"c": []}})), 3);
        assert_eq!(json_depth(&json!([1, [2, [3]], {"k": {}}])), 4);
        // At the limit the body is scanned; one deeper it is not.
        let mut v = json!("x");
        for _ in 1..MAX_BODY_DEPTH {
            v = json!([v]);
        }
        assert_eq!(json_depth(&v), MAX_BODY_DEPTH);
        assert!(json_depth(&json!({ "k": v })) > MAX_BODY_DEPTH);
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
