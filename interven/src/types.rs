//! The protocol's data types: what is sent to the engine and what it answers.
//!
//! These types serialize to and from the wire protocol of the interven
//! gateway byte for byte; the embedded engine produces the very same values,
//! so code that handles a [`Verdict`] never needs to know which engine
//! answered.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// What the policy engine decided about a tool call.
///
/// On the wire the decisions are the upper-case strings `"ALLOW"`, `"DENY"`,
/// `"SANITIZE"` and `"REQUIRE_APPROVAL"`. Any other string is an error when
/// an answer is parsed: an unknown decision is never treated as an allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Decision {
    /// The call may run with its original arguments.
    Allow,
    /// The call may run, but only with the redacted arguments in
    /// [`Verdict::sanitized_body`].
    Sanitize,
    /// The call must wait for a human to approve it.
    RequireApproval,
    /// The call must not run.
    Deny,
}

impl Decision {
    /// The wire string of this decision, e.g. `"REQUIRE_APPROVAL"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "ALLOW",
            Decision::Sanitize => "SANITIZE",
            Decision::RequireApproval => "REQUIRE_APPROVAL",
            Decision::Deny => "DENY",
        }
    }

    /// How severe the decision is: `Allow` < `Sanitize` < `RequireApproval` < `Deny`.
    ///
    /// When several policy rules match, the most severe decision wins.
    pub const fn severity(self) -> u8 {
        match self {
            Decision::Allow => 0,
            Decision::Sanitize => 1,
            Decision::RequireApproval => 2,
            Decision::Deny => 3,
        }
    }

    /// Parses a wire string (case-insensitive). Returns `None` for an unknown decision.
    pub fn parse(s: &str) -> Option<Decision> {
        match s.to_ascii_uppercase().as_str() {
            "ALLOW" => Some(Decision::Allow),
            "SANITIZE" => Some(Decision::Sanitize),
            "REQUIRE_APPROVAL" => Some(Decision::RequireApproval),
            "DENY" => Some(Decision::Deny),
            _ => None,
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A coarse band for a risk score, `LOW` to `CRITICAL` on the wire.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RiskBand {
    /// Score below 0.25.
    #[default]
    Low,
    /// Score from 0.25 up to 0.5.
    Medium,
    /// Score from 0.5 up to 0.8.
    High,
    /// Score of 0.8 and above.
    Critical,
}

impl RiskBand {
    /// The band a score in `[0, 1]` falls in (see the variants for the bounds).
    pub fn from_score(score: f64) -> RiskBand {
        if score >= 0.8 {
            RiskBand::Critical
        } else if score >= 0.5 {
            RiskBand::High
        } else if score >= 0.25 {
            RiskBand::Medium
        } else {
            RiskBand::Low
        }
    }

    /// The wire string of this band, e.g. `"HIGH"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            RiskBand::Low => "LOW",
            RiskBand::Medium => "MEDIUM",
            RiskBand::High => "HIGH",
            RiskBand::Critical => "CRITICAL",
        }
    }
}

impl fmt::Display for RiskBand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an identifier given by an engine.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Returns the identifier as an owned `String`.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_newtype! {
    /// The identifier of one scanned call, as the engine recorded it.
    ///
    /// Pass it to [`Client::scan_response`](crate::Client::scan_response) to
    /// link a tool's response to the call that produced it.
    TraceId
}

id_newtype! {
    /// The identifier of a pending human approval.
    ApprovalId
}

/// The engine's answer to a [`ScanRequest`].
///
/// Unknown fields of a gateway's answer are kept in [`Verdict::extra`], so a
/// newer gateway never loses information on its way through an older client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Verdict {
    /// What the caller must do.
    #[serde(deserialize_with = "deserialize_decision")]
    pub decision: Decision,
    /// Machine-readable reasons, e.g. `SECRET_DETECTED`, most important first.
    #[serde(default)]
    pub reason_codes: Vec<String>,
    /// Risk score in `[0, 1]`.
    #[serde(default)]
    pub risk_score: f64,
    /// The band the risk score falls in.
    #[serde(default)]
    pub risk_band: RiskBand,
    /// For [`Decision::Sanitize`]: the request body with every finding replaced
    /// by a typed placeholder such as `[REDACTED:EMAIL]`, in the same JSON shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sanitized_body: Option<Value>,
    /// For [`Decision::RequireApproval`]: the approval to wait for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<ApprovalId>,
    /// The identifier under which the engine recorded this call.
    pub trace_id: TraceId,
    /// Set when a monitor-mode rule matched: what enforcement would have
    /// decided (see [`Verdict::monitored`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<Monitored>,
    /// Fields of the answer that this version of the crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn deserialize_decision<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Decision, D::Error> {
    let s = String::deserialize(d)?;
    Decision::parse(&s).ok_or_else(|| {
        // Only a bounded, printable prefix of the unknown value goes into the message.
        let shown: String = s.chars().take(32).filter(|c| !c.is_control()).collect();
        serde::de::Error::custom(format_args!(
            "unknown decision `{shown}`: expected ALLOW, DENY, SANITIZE or REQUIRE_APPROVAL"
        ))
    })
}

impl Verdict {
    /// Builds a verdict. Engines use this; callers normally receive verdicts.
    pub fn new(decision: Decision, trace_id: TraceId) -> Self {
        Verdict {
            decision,
            reason_codes: Vec::new(),
            risk_score: 0.0,
            risk_band: RiskBand::Low,
            sanitized_body: None,
            approval_id: None,
            trace_id,
            monitor: None,
            extra: Map::new(),
        }
    }

    /// Parses a gateway's JSON answer, checking what serde alone cannot:
    /// the risk score is a number in `[0, 1]`, a `SANITIZE` carries a body
    /// and a `REQUIRE_APPROVAL` carries an approval id.
    pub fn from_json(bytes: &[u8]) -> Result<Verdict> {
        let verdict: Verdict = serde_json::from_slice(bytes)
            .map_err(|e| Error::invalid_response(format!("malformed verdict: {e}")))?;
        verdict.validate()?;
        Ok(verdict)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if !self.risk_score.is_finite() || !(0.0..=1.0).contains(&self.risk_score) {
            return Err(Error::invalid_response(format!(
                "risk_score {} is outside [0, 1]",
                self.risk_score
            )));
        }
        if self.decision == Decision::Sanitize && self.sanitized_body.is_none() {
            return Err(Error::invalid_response(
                "SANITIZE verdict without a sanitized_body",
            ));
        }
        if self.decision == Decision::RequireApproval && self.approval_id.is_none() {
            return Err(Error::invalid_response(
                "REQUIRE_APPROVAL verdict without an approval_id",
            ));
        }
        Ok(())
    }

    /// `true` when the call may run with its original arguments.
    pub fn is_allowed(&self) -> bool {
        self.decision == Decision::Allow
    }

    /// `true` when the call may run, but only with [`Verdict::sanitized_body`].
    pub fn is_sanitized(&self) -> bool {
        self.decision == Decision::Sanitize
    }

    /// `true` when the call must not run.
    pub fn is_denied(&self) -> bool {
        self.decision == Decision::Deny
    }

    /// `true` when the call must wait for a human.
    pub fn requires_approval(&self) -> bool {
        self.decision == Decision::RequireApproval
    }

    /// `true` when the call may run now, as is or sanitized.
    pub fn may_proceed(&self) -> bool {
        matches!(self.decision, Decision::Allow | Decision::Sanitize)
    }

    /// `true` when the client proceeded without a real answer from the
    /// gateway because it was configured to fail open (see
    /// [`FailureMode::Open`](crate::FailureMode::Open)).
    pub fn is_degraded(&self) -> bool {
        self.extra.get("degraded").and_then(Value::as_bool) == Some(true)
    }

    /// `true` when any reason code equals `code`.
    pub fn has_reason(&self, code: &str) -> bool {
        self.reason_codes.iter().any(|c| c == code)
    }

    /// For [`Decision::Sanitize`]: the URL to call instead of the request's,
    /// when the engine redacted a value in it (wire field `sanitized_url`).
    /// `None`: the URL may be sent as it was.
    pub fn sanitized_url(&self) -> Option<&str> {
        self.extra.get("sanitized_url").and_then(Value::as_str)
    }

    /// For [`Decision::Sanitize`]: the headers to send instead of the
    /// request's, when the engine redacted a value in one (wire field
    /// `sanitized_headers`). `None`: the headers may be sent as they were.
    pub fn sanitized_headers(&self) -> Option<BTreeMap<String, String>> {
        self.extra
            .get("sanitized_headers")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// What enforcement would have decided, when a rule in monitor mode
    /// matched (the wire field `monitor`). The verdict's own decision is
    /// what the caller must do; a monitored DENY still runs the call.
    ///
    /// ```
    /// use interven::engine::{Engine, Policy};
    /// use interven::{Decision, ScanRequest};
    ///
    /// let policy = Policy::from_toml(r#"
    ///     mode = "monitor"
    ///     [[rules]]
    ///     name = "no-deletes"
    ///     methods = ["DELETE"]
    ///     decision = "DENY"
    ///     reason = "DELETE"
    /// "#)?;
    /// let verdict = Engine::new(policy).scan(&ScanRequest::new("DELETE", "https://api.example.com/x"));
    /// assert_eq!(verdict.decision, Decision::Allow);
    /// let monitored = verdict.monitored().expect("the rule matched");
    /// assert_eq!((monitored.decision, monitored.reason_codes.as_slice()), (Decision::Deny, &["DELETE".to_owned()][..]));
    /// # Ok::<(), interven::Error>(())
    /// ```
    pub fn monitored(&self) -> Option<&Monitored> {
        self.monitor.as_ref()
    }
}

/// What enforcement would have decided for a call that monitor-mode rules
/// matched: [`Verdict::monitored`], the wire field
/// `"monitor": {"decision": "DENY", "reason_codes": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Monitored {
    /// The decision had every matching rule been enforced.
    #[serde(deserialize_with = "deserialize_decision")]
    pub decision: Decision,
    /// The reason codes of every matching rule, most severe first.
    #[serde(default)]
    pub reason_codes: Vec<String>,
}

impl Monitored {
    /// What enforcement would have decided, and why.
    pub fn new(decision: Decision, reason_codes: Vec<String>) -> Monitored {
        Monitored {
            decision,
            reason_codes,
        }
    }
}

/// The state of a human approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalStatus {
    /// Nobody has decided yet.
    Pending,
    /// A human approved the call; re-scanning the same request answers `ALLOW`
    /// within the grace window.
    Approved,
    /// A human denied the call.
    Denied,
    /// Nobody decided before the approval expired.
    Expired,
    /// The approved call has already run.
    Executed,
}

impl ApprovalStatus {
    /// `true` for every state but [`ApprovalStatus::Pending`]: the state will not change again
    /// (but for `Approved` becoming `Executed`).
    pub fn is_terminal(self) -> bool {
        !matches!(self, ApprovalStatus::Pending)
    }

    /// The wire string, e.g. `"pending"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Denied => "denied",
            ApprovalStatus::Expired => "expired",
            ApprovalStatus::Executed => "executed",
        }
    }
}

impl fmt::Display for ApprovalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The answer of `GET /v1/approvals/{id}/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Approval {
    /// The approval this is about.
    pub approval_id: ApprovalId,
    /// Where the approval stands.
    pub status: ApprovalStatus,
    /// The decision a human took, when there is one (e.g. `"ALLOW"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    /// When a human decided (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
    /// When a pending approval expires (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Seconds left before a pending approval expires.
    #[serde(default)]
    pub remaining_seconds: f64,
    /// Fields this version of the crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Approval {
    /// Builds an approval status. Engines use this.
    pub fn new(approval_id: ApprovalId, status: ApprovalStatus) -> Self {
        Approval {
            approval_id,
            status,
            decision: None,
            decided_at: None,
            expires_at: None,
            remaining_seconds: 0.0,
            extra: Map::new(),
        }
    }
}

/// The classification of a tool's response (`POST /v1/scan/response`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ResponseScan {
    /// Kinds of sensitive data seen in the response, e.g. `["EMAIL", "AWS_ACCESS_KEY_ID"]`.
    #[serde(default)]
    pub data_classes: Vec<String>,
    /// How many values in the response were sensitive.
    #[serde(default)]
    pub fields_redacted_count: u64,
    /// `sha256:<hex>` of the canonical response body.
    #[serde(default)]
    pub content_fingerprint: String,
    /// Fields this version of the crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ResponseScan {
    /// Builds a response classification. Engines use this.
    pub fn new(
        data_classes: Vec<String>,
        fields_redacted_count: u64,
        content_fingerprint: String,
    ) -> Self {
        ResponseScan {
            data_classes,
            fields_redacted_count,
            content_fingerprint,
            extra: Map::new(),
        }
    }
}

/// The value of `runtime_type` that this SDK sends.
pub const RUNTIME_TYPE: &str = "rust";

/// A tool call to scan: `POST /v1/scan`'s request.
///
/// Build one with [`ScanRequest::builder`]. Its `Debug` output never shows
/// the body, header values or the URL's query, which may hold secrets.
///
/// ```
/// use interven::ScanRequest;
/// use serde_json::json;
///
/// let request = ScanRequest::builder("post", "https://slack.com/api/chat.postMessage")
///     .body(&json!({ "channel": "#general", "text": "hello" }))
///     .tool("slack")
///     .operation("post_message")
///     .build()?;
/// assert_eq!(request.method(), "POST");
/// # Ok::<(), interven::Error>(())
/// ```
#[derive(Clone, PartialEq)]
pub struct ScanRequest {
    method: String,
    url: String,
    body: Value,
    headers: Option<BTreeMap<String, String>>,
    agent_id: Option<String>,
    agent_name: Option<String>,
    runtime_type: String,
    tool: Option<String>,
    operation: Option<String>,
}

impl ScanRequest {
    /// A request with the given method and URL and an empty body (`{}`).
    pub fn new(method: impl AsRef<str>, url: impl Into<String>) -> Self {
        ScanRequest {
            method: method.as_ref().trim().to_ascii_uppercase(),
            url: url.into(),
            body: Value::Object(Map::new()),
            headers: None,
            agent_id: None,
            agent_name: None,
            runtime_type: RUNTIME_TYPE.to_owned(),
            tool: None,
            operation: None,
        }
    }

    /// Starts a builder for a request with the given method and URL.
    pub fn builder(method: impl AsRef<str>, url: impl Into<String>) -> ScanRequestBuilder {
        ScanRequestBuilder {
            request: ScanRequest::new(method, url),
            error: None,
        }
    }

    /// The HTTP method, upper case.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The URL the tool calls (or a `tool://` URL naming the tool).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The JSON body; `{}` when the call has none.
    pub fn body(&self) -> &Value {
        &self.body
    }

    /// The headers sent with the call, if any were given.
    pub fn headers(&self) -> Option<&BTreeMap<String, String>> {
        self.headers.as_ref()
    }

    /// The tool's name, e.g. `"slack"`.
    pub fn tool(&self) -> Option<&str> {
        self.tool.as_deref()
    }

    /// The operation's name, e.g. `"post_message"`.
    pub fn operation(&self) -> Option<&str> {
        self.operation.as_deref()
    }

    /// The agent's identifier.
    pub fn agent_id(&self) -> Option<&str> {
        self.agent_id.as_deref()
    }

    /// The agent's display name.
    pub fn agent_name(&self) -> Option<&str> {
        self.agent_name.as_deref()
    }

    /// The runtime that sent the request: `"rust"` for requests built here.
    pub fn runtime_type(&self) -> &str {
        &self.runtime_type
    }

    /// Replaces the body.
    pub fn set_body(&mut self, body: Value) {
        self.body = body;
    }

    /// Replaces the URL.
    #[cfg(feature = "engine")]
    pub(crate) fn set_url(&mut self, url: String) {
        self.url = url;
    }

    /// The headers, to rewrite in place.
    #[cfg(feature = "engine")]
    pub(crate) fn headers_mut(&mut self) -> Option<&mut BTreeMap<String, String>> {
        self.headers.as_mut()
    }

    /// Sets the agent's id and name where the request has none (used by the
    /// client to apply its configured agent).
    pub(crate) fn fill_agent(&mut self, id: Option<&str>, name: Option<&str>) {
        if self.agent_id.is_none() {
            self.agent_id = id.map(str::to_owned);
        }
        if self.agent_name.is_none() {
            self.agent_name = name.map(str::to_owned);
        }
    }

    /// The URL without its query, fragment and credentials: what logs and
    /// stored records may show.
    pub fn display_url(&self) -> String {
        url_for_display(&self.url)
    }

    /// The host of the URL, lower case, when it has one.
    pub fn host(&self) -> Option<&str> {
        let rest = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, r)| r);
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = if let Some(stripped) = host_port.strip_prefix('[') {
            stripped.split(']').next().unwrap_or("")
        } else {
            host_port.split(':').next().unwrap_or("")
        };
        (!host.is_empty()).then_some(host)
    }
}

/// The URL without its query, fragment and userinfo, for logs and `Debug`.
pub(crate) fn url_for_display(url: &str) -> String {
    let cut = url.find(['?', '#']).unwrap_or(url.len());
    let url = &url[..cut];
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_owned(),
    }
}

impl fmt::Debug for ScanRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScanRequest")
            .field("method", &self.method)
            .field("url", &url_for_display(&self.url))
            .field("body", &format_args!("<{} fields>", body_len(&self.body)))
            .field(
                "headers",
                &self.headers.as_ref().map(|h| h.keys().collect::<Vec<_>>()),
            )
            .field("tool", &self.tool)
            .field("operation", &self.operation)
            .field("agent_id", &self.agent_id)
            .field("agent_name", &self.agent_name)
            .finish()
    }
}

fn body_len(body: &Value) -> usize {
    match body {
        Value::Object(m) => m.len(),
        Value::Array(a) => a.len(),
        Value::Null => 0,
        _ => 1,
    }
}

#[derive(Deserialize)]
struct WireScanRequest {
    method: String,
    url: String,
    #[serde(default = "empty_object")]
    body: Value,
    #[serde(default)]
    headers: Option<BTreeMap<String, String>>,
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    agent_name: Option<String>,
    #[serde(default = "default_runtime")]
    runtime_type: String,
    #[serde(default)]
    tool: Option<String>,
    #[serde(default)]
    operation: Option<String>,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

fn default_runtime() -> String {
    "unknown".to_owned()
}

/// The wire form of a [`ScanRequest`], borrowed: serializing never copies the body.
#[derive(Serialize)]
struct WireScanRequestRef<'a> {
    method: &'a str,
    url: &'a str,
    body: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    headers: Option<&'a BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_name: Option<&'a str>,
    runtime_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    operation: Option<&'a str>,
}

impl Serialize for ScanRequest {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        WireScanRequestRef {
            method: &self.method,
            url: &self.url,
            body: &self.body,
            headers: self.headers.as_ref(),
            agent_id: self.agent_id.as_deref(),
            agent_name: self.agent_name.as_deref(),
            runtime_type: &self.runtime_type,
            tool: self.tool.as_deref(),
            operation: self.operation.as_deref(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for ScanRequest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let w = WireScanRequest::deserialize(d)?;
        Ok(ScanRequest {
            method: w.method.trim().to_ascii_uppercase(),
            url: w.url,
            body: if w.body.is_null() {
                empty_object()
            } else {
                w.body
            },
            headers: w.headers,
            agent_id: w.agent_id,
            agent_name: w.agent_name,
            runtime_type: w.runtime_type,
            tool: w.tool,
            operation: w.operation,
        })
    }
}

/// Builds a [`ScanRequest`]; see [`ScanRequest::builder`].
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ScanRequestBuilder {
    request: ScanRequest,
    error: Option<Error>,
}

impl ScanRequestBuilder {
    /// The body, as any `Serialize` value. A value that serializes to `null`
    /// is sent as `{}`. A serialization failure is reported by [`build`](Self::build).
    pub fn body<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        match serde_json::to_value(body) {
            Ok(Value::Null) => self.request.body = empty_object(),
            Ok(v) => self.request.body = v,
            Err(source) => {
                self.error.get_or_insert(Error::Serialize {
                    argument: None,
                    source,
                });
            }
        }
        self
    }

    /// The body, as a JSON value already built.
    pub fn json_body(mut self, body: Value) -> Self {
        self.request.body = if body.is_null() { empty_object() } else { body };
        self
    }

    /// Adds one header the tool sends. Header values are scanned too.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.request
            .headers
            .get_or_insert_with(BTreeMap::new)
            .insert(name.into(), value.into());
        self
    }

    /// The tool's name, e.g. `"slack"`.
    pub fn tool(mut self, tool: impl Into<String>) -> Self {
        self.request.tool = Some(tool.into());
        self
    }

    /// The operation's name, e.g. `"post_message"`.
    pub fn operation(mut self, operation: impl Into<String>) -> Self {
        self.request.operation = Some(operation.into());
        self
    }

    /// The agent's identifier (the client's configured one is used when unset).
    pub fn agent_id(mut self, id: impl Into<String>) -> Self {
        self.request.agent_id = Some(id.into());
        self
    }

    /// The agent's display name (the client's configured one is used when unset).
    pub fn agent_name(mut self, name: impl Into<String>) -> Self {
        self.request.agent_name = Some(name.into());
        self
    }

    /// Finishes the request.
    ///
    /// # Errors
    /// [`Error::Serialize`] when the body could not be serialized, and
    /// [`Error::Config`] when the method is empty.
    pub fn build(self) -> Result<ScanRequest> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.request.method.is_empty() {
            return Err(Error::config("a scan request needs an HTTP method"));
        }
        Ok(self.request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decision_wire_strings_round_trip() {
        for d in [
            Decision::Allow,
            Decision::Deny,
            Decision::Sanitize,
            Decision::RequireApproval,
        ] {
            let s = serde_json::to_string(&d).unwrap();
            assert_eq!(s, format!("\"{}\"", d.as_str()));
            assert_eq!(serde_json::from_str::<Decision>(&s).unwrap(), d);
        }
        assert!(serde_json::from_str::<Decision>("\"MAYBE\"").is_err());
    }

    #[test]
    fn unknown_decision_is_an_error_not_an_allow() {
        let err = Verdict::from_json(br#"{"decision":"PERMIT","trace_id":"t"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown decision"), "{err}");
        let ok = Verdict::from_json(br#"{"decision":"allow","trace_id":"t"}"#).unwrap();
        assert!(ok.is_allowed());
    }

    #[test]
    fn verdict_keeps_unknown_fields_and_checks_invariants() {
        let v = Verdict::from_json(
            br#"{"decision":"SANITIZE","trace_id":"t1","risk_score":0.4,"risk_band":"MEDIUM",
                 "reason_codes":["PII_DETECTED"],"sanitized_body":{"a":"[REDACTED:EMAIL]"},"policy_version":7}"#,
        )
        .unwrap();
        assert_eq!(v.extra["policy_version"], json!(7));
        assert!(v.is_sanitized() && v.may_proceed() && v.has_reason("PII_DETECTED"));
        assert_eq!(v.risk_band, RiskBand::Medium);
        let back = serde_json::to_value(&v).unwrap();
        assert_eq!(back["policy_version"], json!(7));

        assert!(Verdict::from_json(br#"{"decision":"SANITIZE","trace_id":"t"}"#).is_err());
        assert!(Verdict::from_json(br#"{"decision":"REQUIRE_APPROVAL","trace_id":"t"}"#).is_err());
        assert!(
            Verdict::from_json(br#"{"decision":"ALLOW","trace_id":"t","risk_score":1.5}"#).is_err()
        );
        assert!(Verdict::from_json(br#"{"decision":"ALLOW"}"#).is_err());
    }

    /// serde_json's `arbitrary_precision` feature, once enabled anywhere in a
    /// build, turns numbers inside `#[serde(flatten)]` structs and untagged
    /// enums into maps; the crate does not enable it, and a gateway answer
    /// with a float score beside an unknown numeric field reads either way.
    #[test]
    fn verdict_reads_numbers_beside_the_flattened_extra_fields() {
        const ANSWER: &str = r#"{"decision":"ALLOW","risk_score":0.5,"risk_band":"LOW","reason_codes":[],"trace_id":"tr_1","extra_num":3}"#;
        let from_str: Verdict = serde_json::from_str(ANSWER).unwrap();
        let from_value: Verdict =
            serde_json::from_value(serde_json::from_str::<Value>(ANSWER).unwrap()).unwrap();
        let checked = Verdict::from_json(ANSWER.as_bytes()).unwrap();
        for v in [&from_str, &from_value, &checked] {
            assert_eq!(v.decision, Decision::Allow);
            assert!((v.risk_score - 0.5).abs() < f64::EPSILON);
            assert_eq!(v.extra["extra_num"], json!(3));
            assert_eq!(v.extra["extra_num"].as_u64(), Some(3));
            assert_eq!(v.extra.len(), 1);
        }
        let back = serde_json::to_string(&checked).unwrap();
        assert!(
            back.contains(r#""extra_num":3"#) && back.contains(r#""risk_score":0.5"#),
            "{back}"
        );
    }

    #[test]
    fn risk_band_bounds() {
        assert_eq!(RiskBand::from_score(0.0), RiskBand::Low);
        assert_eq!(RiskBand::from_score(0.25), RiskBand::Medium);
        assert_eq!(RiskBand::from_score(0.5), RiskBand::High);
        assert_eq!(RiskBand::from_score(0.8), RiskBand::Critical);
        assert_eq!(RiskBand::from_score(1.0), RiskBand::Critical);
    }

    #[test]
    fn scan_request_wire_form() {
        let req = ScanRequest::builder("post", "https://api.example.com/x")
            .tool("slack")
            .operation("post_message")
            .header("X-Trace", "1")
            .build()
            .unwrap();
        let v = serde_json::to_value(&req).unwrap();
        assert_eq!(
            v,
            json!({"method":"POST","url":"https://api.example.com/x","body":{},
                   "headers":{"X-Trace":"1"},"runtime_type":"rust","tool":"slack","operation":"post_message"})
        );
        let back: ScanRequest = serde_json::from_value(v).unwrap();
        assert_eq!(back, req);
    }

    #[test]
    fn null_body_is_sent_as_empty_object() {
        let req = ScanRequest::builder("GET", "https://x")
            .body(&())
            .build()
            .unwrap();
        assert_eq!(req.body(), &json!({}));
    }

    #[test]
    fn debug_hides_body_headers_and_query() {
        let req = ScanRequest::builder("POST", "https://user:pw@x.io/p?token=abc")
            .body(&json!({"password": "hunter2"}))
            .header("Authorization", "Bearer sk-live")
            .build()
            .unwrap();
        let dbg = format!("{req:?}");
        for secret in ["hunter2", "sk-live", "token=abc", "pw@"] {
            assert!(!dbg.contains(secret), "{dbg}");
        }
        assert!(dbg.contains("https://x.io/p"), "{dbg}");
        assert_eq!(req.display_url(), "https://x.io/p");
        assert_eq!(
            ScanRequest::new("GET", "tool://slack/post#x").display_url(),
            "tool://slack/post"
        );
    }

    #[test]
    fn host_extraction() {
        let host = |u: &str| ScanRequest::new("GET", u).host().map(str::to_owned);
        assert_eq!(
            host("https://u:p@Api.X.io:8443/a?b").as_deref(),
            Some("Api.X.io")
        );
        assert_eq!(host("http://[::1]:80/").as_deref(), Some("::1"));
        assert_eq!(host("tool://slack/post").as_deref(), Some("slack"));
        assert_eq!(host("").as_deref(), None);
    }

    #[test]
    fn approval_status_terminality() {
        assert!(!ApprovalStatus::Pending.is_terminal());
        for s in [
            ApprovalStatus::Approved,
            ApprovalStatus::Denied,
            ApprovalStatus::Expired,
            ApprovalStatus::Executed,
        ] {
            assert!(s.is_terminal());
        }
        let a: Approval = serde_json::from_str(
            r#"{"approval_id":"a1","status":"approved","decision":"ALLOW","remaining_seconds":0}"#,
        )
        .unwrap();
        assert_eq!(a.status, ApprovalStatus::Approved);
    }
}
