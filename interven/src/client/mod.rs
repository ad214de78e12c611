//! The client: one handle to whichever engine answers, gateway or embedded.

mod blocking;
#[cfg(feature = "engine")]
mod privacy;
mod remote;
mod retry;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde::Serialize;
use serde_json::Value;
use tracing::Instrument;

#[cfg(feature = "engine")]
use crate::engine::{Engine, Policy};
use crate::error::{Error, Result};
use crate::types::{
    Approval, ApprovalId, ApprovalStatus, Decision, ResponseScan, ScanRequest, TraceId, Verdict,
};

use remote::Remote;
pub use retry::RetryPolicy;

/// What a client does when the gateway cannot be reached.
///
/// "Cannot be reached" means a network fault, a timeout, or a 5xx answer
/// after the retries ran out ([`Error::is_unavailable`]). Every other error,
/// a rejected key or a malformed answer for one, always fails closed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureMode {
    /// The call fails with the error; the guarded code does not run. The default.
    #[default]
    Closed,
    /// The call proceeds as if allowed. The verdict is marked degraded
    /// ([`Verdict::is_degraded`], reason code `GATEWAY_UNAVAILABLE_FAIL_OPEN`)
    /// and a warning is logged.
    Open,
    /// The embedded engine answers instead of the gateway. The verdict is
    /// marked degraded (reason code `GATEWAY_UNAVAILABLE_LOCAL_FALLBACK`
    /// added) and a warning is logged.
    #[cfg(feature = "engine")]
    FallbackLocal,
}

/// Where a client's verdicts come from.
enum Backend {
    Remote(Remote),
    #[cfg(feature = "engine")]
    Local(Arc<Engine>),
    /// A client built from a broken environment: every call fails closed with this message.
    Misconfigured(String),
}

struct Inner {
    backend: Backend,
    agent_id: Option<String>,
    agent_name: Option<String>,
    failure_mode: FailureMode,
    tool_failure_modes: HashMap<String, FailureMode>,
    #[cfg(feature = "engine")]
    fallback: Option<Arc<Engine>>,
    /// Privacy mode: the engine that redacts requests before they are sent.
    #[cfg(feature = "engine")]
    privacy: Option<Arc<Engine>>,
    approval_timeout: Duration,
    approval_poll_interval: Duration,
}

/// A handle to the policy engine: the gateway over HTTP, or the embedded engine.
///
/// A `Client` is cheap to clone: clones share one connection pool (and one
/// embedded engine). Build one with [`Client::from_env`], [`Client::builder`]
/// or [`Client::local`]; [`Client::global`] is a process-wide one from the
/// environment, which `#[guard]` uses by default.
///
/// Every async method has a blocking twin (`*_blocking`) for sync code. The
/// twins work on plain threads and inside a tokio runtime, current-thread or
/// multi-thread, without panicking: the request runs on a small runtime of
/// interven's own while the calling thread waits.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Client");
        match &self.inner.backend {
            Backend::Remote(r) => {
                d.field("backend", &"gateway");
                d.field("gateway_url", &r.base_url());
                d.field("api_key", &"[REDACTED]");
            }
            #[cfg(feature = "engine")]
            Backend::Local(_) => {
                d.field("backend", &"embedded");
            }
            Backend::Misconfigured(msg) => {
                d.field("backend", &"misconfigured");
                d.field("error", msg);
            }
        }
        d.field("agent_id", &self.inner.agent_id)
            .field("failure_mode", &self.inner.failure_mode)
            .finish_non_exhaustive()
    }
}

/// Default per-request timeout for gateway calls.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default connect timeout for gateway calls.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default deadline for one call, retries included.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);
/// Default time to wait for a human approval.
pub const DEFAULT_APPROVAL_TIMEOUT: Duration = Duration::from_secs(60);
/// Default interval between two approval status polls.
pub const DEFAULT_APPROVAL_POLL_INTERVAL: Duration = Duration::from_secs(2);

impl Client {
    /// A builder for a client with explicit settings.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client configured from the environment.
    ///
    /// Reads `INTERVEN_API_KEY`, `INTERVEN_GATEWAY_URL`, `INTERVEN_AGENT_ID`
    /// and `INTERVEN_AGENT_NAME` (see [`crate::env`]). With a key, the client
    /// talks to the gateway; without one, it uses the embedded engine, with
    /// the policy file named by `INTERVEN_POLICY` or the built-in policy.
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid gateway URL or policy file, or when
    /// no key is set and the `engine` feature is disabled.
    pub fn from_env() -> Result<Client> {
        ClientBuilder::default().with_env().build()
    }

    /// The process-wide client, built from the environment on first use.
    ///
    /// When the environment is invalid, the returned client answers every
    /// call with that [`Error::Config`]: guarded code fails closed rather
    /// than running unguarded.
    pub fn global() -> &'static Client {
        static GLOBAL: OnceLock<Client> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            Client::from_env().unwrap_or_else(|e| {
                tracing::error!(error = %e, "interven: invalid configuration; every guarded call will fail");
                Client::from_backend(Backend::Misconfigured(e.to_string()))
            })
        })
    }

    /// A client on the embedded engine with the given policy.
    #[cfg(feature = "engine")]
    pub fn local(policy: Policy) -> Client {
        Client::with_engine(Arc::new(Engine::new(policy)))
    }

    /// A client on the embedded engine with the built-in default policy.
    #[cfg(feature = "engine")]
    pub fn local_default() -> Client {
        Client::local(Policy::default())
    }

    /// A client on an embedded engine built elsewhere (to share it, or to
    /// approve its pending calls from other code).
    #[cfg(feature = "engine")]
    pub fn with_engine(engine: Arc<Engine>) -> Client {
        Client::from_backend(Backend::Local(engine))
    }

    fn from_backend(backend: Backend) -> Client {
        Client {
            inner: Arc::new(Inner {
                backend,
                agent_id: None,
                agent_name: None,
                failure_mode: FailureMode::Closed,
                tool_failure_modes: HashMap::new(),
                #[cfg(feature = "engine")]
                fallback: None,
                #[cfg(feature = "engine")]
                privacy: None,
                approval_timeout: DEFAULT_APPROVAL_TIMEOUT,
                approval_poll_interval: DEFAULT_APPROVAL_POLL_INTERVAL,
            }),
        }
    }

    /// The embedded engine, when this client uses one.
    #[cfg(feature = "engine")]
    pub fn engine(&self) -> Option<&Arc<Engine>> {
        match &self.inner.backend {
            Backend::Local(e) => Some(e),
            _ => None,
        }
    }

    /// `true` when this client talks to a gateway over HTTP.
    pub fn is_remote(&self) -> bool {
        matches!(self.inner.backend, Backend::Remote(_))
    }

    /// How long [`wait_for_approval`](Self::wait_for_approval) waits by default.
    pub fn approval_timeout(&self) -> Duration {
        self.inner.approval_timeout
    }

    /// How often [`wait_for_approval`](Self::wait_for_approval) polls by default.
    pub fn approval_poll_interval(&self) -> Duration {
        self.inner.approval_poll_interval
    }

    /// The failure mode that applies to calls of `tool`.
    pub fn failure_mode_for(&self, tool: Option<&str>) -> FailureMode {
        tool.and_then(|t| self.inner.tool_failure_modes.get(t).copied())
            .unwrap_or(self.inner.failure_mode)
    }

    /// Scans a tool call and returns the engine's verdict.
    ///
    /// The client's agent id and name are added where the request has none.
    ///
    /// # Errors
    /// Any failure to get a valid verdict (see [`Error`]); when the gateway
    /// is unavailable, the client's [`FailureMode`] decides.
    pub async fn scan(&self, request: &ScanRequest) -> Result<Verdict> {
        let span = scan_span(request);
        async {
            let started = Instant::now();
            let request = self.with_agent(request);
            let result = match &self.inner.backend {
                Backend::Remote(remote) => {
                    let answer = remote.scan(&self.for_gateway(&request)).await;
                    self.on_unavailable(&request, answer)
                }
                #[cfg(feature = "engine")]
                Backend::Local(engine) => Ok(engine.scan(&request)),
                Backend::Misconfigured(msg) => Err(Error::config(msg.clone())),
            };
            record_scan(&result, started);
            result
        }
        .instrument(span)
        .await
    }

    /// Blocking twin of [`scan`](Self::scan).
    ///
    /// # Errors
    /// As [`scan`](Self::scan).
    pub fn scan_blocking(&self, request: &ScanRequest) -> Result<Verdict> {
        #[cfg(feature = "engine")]
        if let Backend::Local(engine) = &self.inner.backend {
            let _span = scan_span(request).entered();
            let started = Instant::now();
            let result = Ok(engine.scan(&self.with_agent(request)));
            record_scan(&result, started);
            return result;
        }
        let this = self.clone();
        let request = request.clone();
        blocking::run(async move { this.scan(&request).await })
    }

    /// Classifies a tool's response and links it to the scanned call.
    ///
    /// `body` is any `Serialize` value (a `serde_json::Value`, your response type…).
    /// The engine remembers sensitive values it sees, so that a later call
    /// sending them elsewhere is denied (`EXFILTRATION_CHAIN`).
    ///
    /// # Errors
    /// [`Error::Serialize`] for a body that cannot be serialized; otherwise as [`scan`](Self::scan),
    /// but a failed response scan never fails open.
    pub async fn scan_response<B: Serialize + ?Sized>(
        &self,
        trace_id: &TraceId,
        body: &B,
        status: Option<u16>,
    ) -> Result<ResponseScan> {
        let serialize = |source| Error::Serialize {
            argument: None,
            source,
        };
        match &self.inner.backend {
            Backend::Remote(remote) => {
                let body = serde_json::to_value(body).map_err(serialize)?;
                remote.scan_response(trace_id, &body, status).await
            }
            #[cfg(feature = "engine")]
            Backend::Local(engine) => {
                // Scanned from its JSON text: no `Value` tree of a big output.
                let text = serde_json::to_vec(body).map_err(serialize)?;
                match engine.scan_response_json(trace_id, &text, status) {
                    Ok(scan) => Ok(scan),
                    // A repeated key (a hand-written `Serialize`) or a
                    // nesting past the parser's limit: the value's own walk.
                    Err(_) => {
                        let body = serde_json::to_value(body).map_err(serialize)?;
                        Ok(engine.scan_response(trace_id, &body, status))
                    }
                }
            }
            Backend::Misconfigured(msg) => Err(Error::config(msg.clone())),
        }
    }

    /// Blocking twin of [`scan_response`](Self::scan_response).
    ///
    /// # Errors
    /// As [`scan_response`](Self::scan_response).
    pub fn scan_response_blocking<B: Serialize + ?Sized>(
        &self,
        trace_id: &TraceId,
        body: &B,
        status: Option<u16>,
    ) -> Result<ResponseScan> {
        let body = serde_json::to_value(body).map_err(|source| Error::Serialize {
            argument: None,
            source,
        })?;
        let this = self.clone();
        let trace_id = trace_id.clone();
        blocking::run(async move { this.scan_response(&trace_id, &body, status).await })
    }

    /// Where an approval stands.
    ///
    /// # Errors
    /// Any failure to get an answer; an unknown id is [`Error::Gateway`] with status 404.
    pub async fn approval_status(&self, approval_id: &ApprovalId) -> Result<Approval> {
        match &self.inner.backend {
            Backend::Remote(remote) => remote.approval_status(approval_id).await,
            #[cfg(feature = "engine")]
            Backend::Local(engine) => {
                engine
                    .approval_status(approval_id)
                    .ok_or_else(|| Error::Gateway {
                        status: 404,
                        message: format!("unknown approval {approval_id}"),
                    })
            }
            Backend::Misconfigured(msg) => Err(Error::config(msg.clone())),
        }
    }

    /// Blocking twin of [`approval_status`](Self::approval_status).
    ///
    /// # Errors
    /// As [`approval_status`](Self::approval_status).
    pub fn approval_status_blocking(&self, approval_id: &ApprovalId) -> Result<Approval> {
        let this = self.clone();
        let id = approval_id.clone();
        blocking::run(async move { this.approval_status(&id).await })
    }

    /// Polls an approval every `poll_interval` until a human decides or
    /// `timeout` passes. Returns the approval once it is approved.
    ///
    /// The client's defaults are [`approval_timeout`](Self::approval_timeout)
    /// (60 s) and [`approval_poll_interval`](Self::approval_poll_interval) (2 s).
    ///
    /// # Errors
    /// [`Error::ApprovalDenied`], [`Error::ApprovalExpired`],
    /// [`Error::ApprovalTimeout`], or any error of [`approval_status`](Self::approval_status).
    pub async fn wait_for_approval(
        &self,
        approval_id: &ApprovalId,
        timeout: Duration,
        poll_interval: Duration,
    ) -> Result<Approval> {
        let started = tokio::time::Instant::now();
        let deadline = started + timeout;
        let poll_interval = poll_interval.max(Duration::from_millis(1));
        loop {
            let approval = self.approval_status(approval_id).await?;
            match approval.status {
                ApprovalStatus::Approved | ApprovalStatus::Executed => return Ok(approval),
                ApprovalStatus::Denied => {
                    return Err(Error::ApprovalDenied {
                        approval_id: approval_id.clone(),
                    });
                }
                ApprovalStatus::Expired => {
                    return Err(Error::ApprovalExpired {
                        approval_id: approval_id.clone(),
                    });
                }
                ApprovalStatus::Pending => {}
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(Error::ApprovalTimeout {
                    approval_id: approval_id.clone(),
                    waited: now - started,
                });
            }
            tokio::time::sleep(poll_interval.min(deadline - now)).await;
        }
    }

    /// Blocking twin of [`wait_for_approval`](Self::wait_for_approval).
    ///
    /// # Errors
    /// As [`wait_for_approval`](Self::wait_for_approval).
    pub fn wait_for_approval_blocking(
        &self,
        approval_id: &ApprovalId,
        timeout: Duration,
        poll_interval: Duration,
    ) -> Result<Approval> {
        let this = self.clone();
        let id = approval_id.clone();
        blocking::run(async move { this.wait_for_approval(&id, timeout, poll_interval).await })
    }

    /// Checks that the engine answers (`GET /health` on a gateway).
    ///
    /// # Errors
    /// Any failure to reach a healthy gateway.
    pub async fn health(&self) -> Result<()> {
        match &self.inner.backend {
            Backend::Remote(remote) => remote.health().await,
            #[cfg(feature = "engine")]
            Backend::Local(_) => Ok(()),
            Backend::Misconfigured(msg) => Err(Error::config(msg.clone())),
        }
    }

    /// Blocking twin of [`health`](Self::health).
    ///
    /// # Errors
    /// As [`health`](Self::health).
    pub fn health_blocking(&self) -> Result<()> {
        let this = self.clone();
        blocking::run(async move { this.health().await })
    }

    fn with_agent<'a>(&self, request: &'a ScanRequest) -> std::borrow::Cow<'a, ScanRequest> {
        let (id, name) = (
            self.inner.agent_id.as_deref(),
            self.inner.agent_name.as_deref(),
        );
        if (id.is_none() || request.agent_id().is_some())
            && (name.is_none() || request.agent_name().is_some())
        {
            return std::borrow::Cow::Borrowed(request);
        }
        let mut owned = request.clone();
        owned.fill_agent(id, name);
        std::borrow::Cow::Owned(owned)
    }

    /// The request as the gateway may see it: in privacy mode, every finding
    /// of the embedded engine (body, URL, headers) replaced by its placeholder.
    fn for_gateway<'a>(&self, request: &'a ScanRequest) -> std::borrow::Cow<'a, ScanRequest> {
        #[cfg(feature = "engine")]
        if let Some(engine) = &self.inner.privacy {
            return privacy::redact_request(engine, request);
        }
        std::borrow::Cow::Borrowed(request)
    }

    /// Applies the failure mode to a gateway answer.
    fn on_unavailable(&self, request: &ScanRequest, answer: Result<Verdict>) -> Result<Verdict> {
        let error = match answer {
            Err(e) if e.is_unavailable() => e,
            other => return other,
        };
        match self.failure_mode_for(request.tool()) {
            FailureMode::Closed => Err(error),
            FailureMode::Open => {
                tracing::warn!(error = %error, tool = request.tool(), "interven: gateway unavailable; failing OPEN as configured");
                let mut v = Verdict::new(
                    Decision::Allow,
                    TraceId::new(format!("degraded-{:016x}", fastrand::u64(..))),
                );
                v.reason_codes
                    .push("GATEWAY_UNAVAILABLE_FAIL_OPEN".to_owned());
                v.extra.insert("degraded".to_owned(), Value::Bool(true));
                Ok(v)
            }
            #[cfg(feature = "engine")]
            FailureMode::FallbackLocal => {
                tracing::warn!(error = %error, tool = request.tool(), "interven: gateway unavailable; falling back to the embedded engine");
                let engine = self.inner.fallback.as_ref().ok_or(error)?;
                let mut v = engine.scan(request);
                v.reason_codes
                    .push("GATEWAY_UNAVAILABLE_LOCAL_FALLBACK".to_owned());
                v.extra.insert("degraded".to_owned(), Value::Bool(true));
                Ok(v)
            }
        }
    }
}

fn scan_span(request: &ScanRequest) -> tracing::Span {
    tracing::info_span!(
        "interven.scan",
        tool = request.tool(),
        operation = request.operation(),
        method = request.method(),
        trace_id = tracing::field::Empty,
        decision = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    )
}

fn record_scan(result: &Result<Verdict>, started: Instant) {
    let span = tracing::Span::current();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.record("latency_ms", latency_ms);
    match result {
        Ok(v) => {
            span.record("trace_id", v.trace_id.as_str());
            span.record("decision", v.decision.as_str());
            tracing::debug!(reason_codes = ?v.reason_codes, risk_score = v.risk_score, "scan finished");
        }
        Err(e) => tracing::debug!(error = %e, "scan failed"),
    }
}

/// Builds a [`Client`]; see [`Client::builder`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct ClientBuilder {
    api_key: Option<SecretString>,
    gateway_url: Option<String>,
    agent_id: Option<String>,
    agent_name: Option<String>,
    timeout: Duration,
    connect_timeout: Duration,
    deadline: Duration,
    retry: RetryPolicy,
    failure_mode: FailureMode,
    tool_failure_modes: HashMap<String, FailureMode>,
    approval_timeout: Duration,
    approval_poll_interval: Duration,
    http: Option<reqwest::Client>,
    #[cfg(feature = "engine")]
    engine: Option<Arc<Engine>>,
    #[cfg(feature = "engine")]
    policy: Option<Policy>,
    policy_path: Option<std::path::PathBuf>,
    force_local: bool,
    #[cfg(feature = "engine")]
    privacy_mode: bool,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            api_key: None,
            gateway_url: None,
            agent_id: None,
            agent_name: None,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            deadline: DEFAULT_DEADLINE,
            retry: RetryPolicy::default(),
            failure_mode: FailureMode::Closed,
            tool_failure_modes: HashMap::new(),
            approval_timeout: DEFAULT_APPROVAL_TIMEOUT,
            approval_poll_interval: DEFAULT_APPROVAL_POLL_INTERVAL,
            http: None,
            #[cfg(feature = "engine")]
            engine: None,
            #[cfg(feature = "engine")]
            policy: None,
            policy_path: None,
            force_local: false,
            #[cfg(feature = "engine")]
            privacy_mode: false,
        }
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("api_key", &self.api_key.as_ref().map(|_| "[REDACTED]"))
            .field("gateway_url", &self.gateway_url)
            .field("agent_id", &self.agent_id)
            .field("timeout", &self.timeout)
            .field("deadline", &self.deadline)
            .field("retry", &self.retry)
            .field("failure_mode", &self.failure_mode)
            .finish_non_exhaustive()
    }
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

impl ClientBuilder {
    /// Fills every setting that has an environment variable (see [`crate::env`])
    /// and is set; settings given before or after this call win over it only
    /// when given after.
    pub fn with_env(mut self) -> Self {
        if let Some(key) = non_empty_env(crate::env::API_KEY) {
            self.api_key = Some(SecretString::from(key));
        }
        if let Some(url) = non_empty_env(crate::env::GATEWAY_URL) {
            self.gateway_url = Some(url);
        }
        if let Some(id) = non_empty_env(crate::env::AGENT_ID) {
            self.agent_id = Some(id);
        }
        if let Some(name) = non_empty_env(crate::env::AGENT_NAME) {
            self.agent_name = Some(name);
        }
        if let Some(path) = non_empty_env(crate::env::POLICY) {
            self.policy_path = Some(path.into());
        }
        self
    }

    /// The gateway API key. With a key, the client talks to the gateway.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(SecretString::from(key.into()));
        self
    }

    /// The gateway's base URL (default [`DEFAULT_GATEWAY_URL`](crate::DEFAULT_GATEWAY_URL)).
    pub fn gateway_url(mut self, url: impl Into<String>) -> Self {
        self.gateway_url = Some(url.into());
        self
    }

    /// The agent's identifier, sent with every scan.
    pub fn agent_id(mut self, id: impl Into<String>) -> Self {
        self.agent_id = Some(id.into());
        self
    }

    /// The agent's display name, sent with every scan.
    pub fn agent_name(mut self, name: impl Into<String>) -> Self {
        self.agent_name = Some(name.into());
        self
    }

    /// Timeout of one HTTP request to the gateway (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Timeout for opening a connection to the gateway (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Deadline of one call, all retries included (default 30 s): a hung
    /// gateway can never hang the agent for longer.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// How often and how long to retry transient gateway failures.
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// What to do when the gateway is unavailable (default: fail closed).
    pub fn failure_mode(mut self, mode: FailureMode) -> Self {
        self.failure_mode = mode;
        self
    }

    /// The failure mode for calls of one tool, overriding the client's.
    pub fn tool_failure_mode(mut self, tool: impl Into<String>, mode: FailureMode) -> Self {
        self.tool_failure_modes.insert(tool.into(), mode);
        self
    }

    /// How long to wait for a human approval by default (60 s).
    pub fn approval_timeout(mut self, timeout: Duration) -> Self {
        self.approval_timeout = timeout;
        self
    }

    /// How often to poll an approval's status by default (2 s).
    pub fn approval_poll_interval(mut self, interval: Duration) -> Self {
        self.approval_poll_interval = interval;
        self
    }

    /// Uses your own `reqwest::Client` (its pool, proxy and TLS settings).
    /// The builder's timeouts still apply per request.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Uses the embedded engine even when an API key is set.
    #[cfg(feature = "engine")]
    pub fn local(mut self) -> Self {
        self.force_local = true;
        self
    }

    /// The policy of the embedded engine (instead of `INTERVEN_POLICY` or the built-in one).
    #[cfg(feature = "engine")]
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// The embedded engine to use, shared with other code.
    #[cfg(feature = "engine")]
    pub fn engine(mut self, engine: Arc<Engine>) -> Self {
        self.engine = Some(engine);
        self
    }

    /// Privacy mode: the embedded engine scans each request first, and the
    /// gateway receives only the redacted request (findings replaced by
    /// placeholders such as `[REDACTED:EMAIL]`), so raw secrets and personal
    /// data never leave the process. The gateway treats a placeholder as a
    /// finding of its type, so its decision is the same as on the original;
    /// on `ALLOW` the call still runs with its original arguments.
    #[cfg(feature = "engine")]
    pub fn privacy_mode(mut self, enabled: bool) -> Self {
        self.privacy_mode = enabled;
        self
    }

    #[cfg(feature = "engine")]
    fn build_engine(&mut self) -> Result<Arc<Engine>> {
        if let Some(engine) = &self.engine {
            return Ok(engine.clone());
        }
        let policy = match (self.policy.take(), &self.policy_path) {
            (Some(p), _) => p,
            (None, Some(path)) => Policy::from_file(path)?,
            (None, None) => Policy::default(),
        };
        let engine = Arc::new(Engine::new(policy));
        self.engine = Some(engine.clone());
        Ok(engine)
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid gateway URL or policy file, a zero
    /// timeout, or no API key with the `engine` feature disabled.
    pub fn build(mut self) -> Result<Client> {
        for (name, d) in [
            ("timeout", self.timeout),
            ("deadline", self.deadline),
            ("connect timeout", self.connect_timeout),
        ] {
            if d.is_zero() {
                return Err(Error::config(format!(
                    "the {name} must be greater than zero"
                )));
            }
        }
        let backend = match self.api_key.take() {
            Some(key) if !self.force_local => {
                let url = self
                    .gateway_url
                    .take()
                    .unwrap_or_else(|| crate::DEFAULT_GATEWAY_URL.to_owned());
                Backend::Remote(Remote::new(
                    &url,
                    key,
                    self.http.take(),
                    self.timeout,
                    self.connect_timeout,
                    self.deadline,
                    self.retry.clone(),
                )?)
            }
            _ => {
                #[cfg(feature = "engine")]
                {
                    Backend::Local(self.build_engine()?)
                }
                #[cfg(not(feature = "engine"))]
                {
                    return Err(Error::config(
                        "no INTERVEN_API_KEY is set and the embedded engine is disabled (enable the `engine` feature)",
                    ));
                }
            }
        };
        let needs_fallback = std::iter::once(&self.failure_mode)
            .chain(self.tool_failure_modes.values())
            .any(|m| !matches!(m, FailureMode::Closed | FailureMode::Open));
        #[cfg(feature = "engine")]
        let fallback = match (&backend, needs_fallback) {
            (Backend::Remote(_), true) => Some(self.build_engine()?),
            _ => None,
        };
        #[cfg(feature = "engine")]
        let privacy = match &backend {
            Backend::Remote(_) if self.privacy_mode => Some(self.build_engine()?),
            _ => None,
        };
        #[cfg(not(feature = "engine"))]
        let _ = needs_fallback;
        Ok(Client {
            inner: Arc::new(Inner {
                backend,
                agent_id: self.agent_id,
                agent_name: self.agent_name,
                failure_mode: self.failure_mode,
                tool_failure_modes: self.tool_failure_modes,
                #[cfg(feature = "engine")]
                fallback,
                #[cfg(feature = "engine")]
                privacy,
                approval_timeout: self.approval_timeout,
                approval_poll_interval: self.approval_poll_interval,
            }),
        })
    }
}
