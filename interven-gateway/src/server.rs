//! The HTTP server: the interven wire protocol over the embedded engine.
//!
//! Handlers never block an async worker: the engine's scans and every
//! SQLite call run on tokio's blocking pool (`spawn_blocking`), so a slow
//! scan or a locked database delays only its own request, never `/health`
//! or another tenant's.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use interven::engine::{
    AssessOptions, Assessment, Engine, canonical_request_hash, memory_scope, rfc3339,
};
use interven::{Approval, ApprovalId, ApprovalStatus, Decision, ScanRequest, TraceId, Verdict};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::auth::{KEY_PREFIX, KeyCache, Principal, hash_key};
use crate::listen::{ClientAddr, Limits};
use crate::ratelimit::RateLimiter;
use crate::store::{
    ApprovalCreated, ApprovalRow, Decided, Store, StoreUnavailable, StoredBody, TraceRow, hex,
};

/// Server settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The largest request body accepted (default 256 KiB); larger is 413.
    pub body_limit: usize,
    /// The deepest JSON nesting accepted (default 64); deeper is 400.
    pub max_depth: usize,
    /// Scans (and response scans) per second per key (0 disables the limit).
    pub rate_per_second: f64,
    /// Burst size of the per-key token bucket.
    pub burst: f64,
    /// Reads (approval status and list, traces) per second per key (0 disables).
    pub read_rate_per_second: f64,
    /// Burst of the per-key read bucket.
    pub read_burst: f64,
    /// Failed authentications per second per client address, and per
    /// presented key prefix (0 disables); past it, 429 without a lookup.
    pub auth_failure_rate: f64,
    /// Burst of the failed-authentication buckets.
    pub auth_failure_burst: f64,
    /// How long a pending approval lives (default 60 min).
    pub approval_ttl: Duration,
    /// How long after an approval the identical request answers ALLOW (default 10 min).
    pub approval_grace: Duration,
    /// How long approvals are kept after they expire (default 7 days); then pruned.
    pub approval_retention: Duration,
    /// Connections served at once (default 1024).
    pub max_connections: usize,
    /// Time to send a complete request head, and the most a kept-alive
    /// connection may idle between requests (default 10 s).
    pub header_timeout: Duration,
    /// Time to send a complete request body (default 10 s); then 408.
    pub body_timeout: Duration,
    /// How long a stopping server waits for requests in flight (default 10 s).
    pub shutdown_timeout: Duration,
    /// Threads of the scan pool (default 0: one per core).
    pub scan_threads: usize,
    /// Scans a tenant may have waiting for the pool (default 256); more get 503.
    pub max_queued_scans: usize,
    /// The console's and the notifications' settings.
    pub console: crate::console::ConsoleConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            body_limit: 256 * 1024,
            max_depth: 64,
            rate_per_second: 100.0,
            burst: 200.0,
            read_rate_per_second: 50.0,
            read_burst: 100.0,
            auth_failure_rate: 5.0,
            auth_failure_burst: 20.0,
            approval_ttl: Duration::from_secs(3600),
            approval_grace: Duration::from_secs(600),
            approval_retention: Duration::from_secs(7 * 24 * 3600),
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(10),
            scan_threads: 0,
            max_queued_scans: 256,
            console: crate::console::ConsoleConfig::default(),
        }
    }
}

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    engine: Engine,
    store: Store,
    keys: KeyCache,
    limiter: RateLimiter,
    reads: RateLimiter,
    failed_by_addr: RateLimiter<IpAddr>,
    failed_by_prefix: RateLimiter<String>,
    scans: crate::scanpool::ScanPool,
    config: Config,
}

impl AppState {
    /// The state of a server.
    pub fn new(engine: Engine, store: Store, config: Config) -> Arc<AppState> {
        Arc::new(AppState {
            engine,
            store,
            keys: KeyCache::new(),
            limiter: RateLimiter::new(config.rate_per_second, config.burst),
            reads: RateLimiter::new(config.read_rate_per_second, config.read_burst),
            failed_by_addr: RateLimiter::new(config.auth_failure_rate, config.auth_failure_burst),
            failed_by_prefix: RateLimiter::new(config.auth_failure_rate, config.auth_failure_burst),
            scans: crate::scanpool::ScanPool::new(config.scan_threads, config.max_queued_scans),
            config,
        })
    }

    /// The store (for the console and the notifier).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The engine (for policy reloads).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

/// An error answer: JSON `{"error": "..."}` with its status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    retry_after: Option<Duration>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    fn limited(message: &str, wait: Duration) -> ApiError {
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: message.to_owned(),
            retry_after: Some(wait),
        }
    }

    fn internal(e: &anyhow::Error) -> ApiError {
        if e.downcast_ref::<StoreUnavailable>().is_some() {
            tracing::error!(error = %e, "store unavailable");
            return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the store is unavailable");
        }
        tracing::error!(error = %e, "internal error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(json!({ "error": self.message }))).into_response();
        if let Some(d) = self.retry_after {
            let secs = d.as_secs_f64().ceil().max(1.0) as u64;
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        r
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// Runs `f` on the scan pool in `tenant`'s turn (see [`crate::scanpool`]).
async fn on_scan_pool<T: Send + 'static>(
    state: &Arc<AppState>,
    tenant: &str,
    f: impl FnOnce(&AppState) -> anyhow::Result<T> + Send + 'static,
) -> ApiResult<T> {
    let s = state.clone();
    match state.scans.run(tenant, move || f(&s)).await {
        Ok(r) => r.map_err(|e| ApiError::internal(&e)),
        Err(crate::scanpool::Refused::QueueFull) => Err(ApiError::limited(
            "too many scans of this tenant waiting",
            Duration::from_secs(1),
        )),
        Err(crate::scanpool::Refused::Failed) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error",
        )),
    }
}

/// Runs `f` on the blocking pool: SQLite never runs on an async worker.
async fn blocking<T: Send + 'static>(
    state: &Arc<AppState>,
    f: impl FnOnce(&AppState) -> anyhow::Result<T> + Send + 'static,
) -> ApiResult<T> {
    let state = state.clone();
    match tokio::task::spawn_blocking(move || f(&state)).await {
        Ok(r) => r.map_err(|e| ApiError::internal(&e)),
        Err(e) => {
            tracing::error!(error = %e, "a blocking task failed");
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
            ))
        }
    }
}

/// The router with every endpoint of the protocol and the admin API.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route(
            "/livez",
            get(|| async { Json(json!({ "status": "alive" })) }),
        )
        .route("/v1/scan", post(scan))
        .route("/v1/scan/response", post(scan_response))
        .route("/v1/approvals", get(list_approvals))
        .route("/v1/approvals/{id}/status", get(approval_status))
        .route("/v1/approvals/{id}/approve", post(approve))
        .route("/v1/approvals/{id}/deny", post(deny))
        .route("/v1/traces", get(list_traces))
        .route("/v1/traces/{trace_id}", get(trace))
        .merge(crate::console::router(&state))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint") })
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::map_response(close_after_unread_body))
        .layer(middleware::from_fn(request_log))
        .with_state(state)
}

/// A body refused before it was read whole (too large, too slow) leaves
/// the connection mid-request: the answer says `Connection: close`, so a
/// client does not send its next request on a connection the server then
/// drops (reqwest, the Python SDK and browsers all pool connections).
async fn close_after_unread_body(mut r: Response) -> Response {
    if matches!(
        r.status(),
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT
    ) {
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    r
}

/// Serves until `shutdown` completes; requests in flight then finish,
/// within [`Config::shutdown_timeout`]. Also prunes approvals in the background.
///
/// # Errors
/// When the listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = Limits {
        max_connections: state.config.max_connections,
        header_timeout: state.config.header_timeout,
        shutdown_timeout: state.config.shutdown_timeout,
    };
    // The first request should not wait for the rules to compile.
    tokio::task::spawn_blocking(Engine::warm_up);
    // Notifications about pending approvals, until the server stops.
    let _notifier = crate::notify::Notifier::start(
        state.store.clone(),
        &state.config.console.notify,
        state.config.console.public_url.clone(),
    );
    let janitor = tokio::spawn(janitor(state.clone()));
    let result = crate::listen::run(listener, router(state), limits, shutdown).await;
    janitor.abort();
    result
}

/// Expires and prunes approvals now and then, a batch at a time.
async fn janitor(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    loop {
        tick.tick().await;
        let retention = state.config.approval_retention.as_secs() as i64;
        let _ = blocking(&state, move |s| {
            let now = now_secs();
            while s.store.expire(now)? >= crate::store::EXPIRE_BATCH {}
            let mut pruned = 0;
            loop {
                let n = s.store.prune_approvals(now - retention)?;
                pruned += n;
                if n < crate::store::EXPIRE_BATCH {
                    break;
                }
            }
            if pruned > 0 {
                tracing::info!(pruned, "approvals past their retention pruned");
            }
            Ok(())
        })
        .await;
    }
}

/// Readiness: 200 when the store takes writes, else 503 with the reason.
/// Reads flags and one `stat`: never waits for the database.
async fn health(State(state): State<Arc<AppState>>) -> Response {
    match state.store.ready() {
        Ok(()) => Json(json!({ "status": "ok" })).into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "error": reason })),
        )
            .into_response(),
    }
}

/// Gives each request an id (`x-request-id`, from the OS's random source)
/// and logs it: method, path, status, latency. Never bodies or headers.
async fn request_log(request: Request, next: Next) -> Response {
    let id = crate::store::random_u64().map_or_else(
        |_| "req_unavailable".to_owned(),
        |r| format!("req_{r:016x}"),
    );
    let method = request.method().clone();
    // The path may carry an id; never a query.
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let mut response = next.run(request).await;
    tracing::info!(request_id = %id, %method, path = %path_for_log(&path), status = response.status().as_u16(), latency_ms = started.elapsed().as_secs_f64() * 1000.0, "request");
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

/// A request path for the log: the routes' own, at most 128 bytes of it.
fn path_for_log(path: &str) -> &str {
    let mut end = path.len().min(128);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    &path[..end]
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The bearer token of a request. The scheme is case-insensitive (RFC
/// 9110); more than one `Authorization` header is refused.
fn bearer(headers: &HeaderMap) -> ApiResult<&str> {
    let mut all = headers.get_all(header::AUTHORIZATION).iter();
    let first = all.next();
    if all.next().is_some() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "more than one Authorization header",
        ));
    }
    first
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim_start().split_once([' ', '\t'])?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing API key: send Authorization: Bearer <key>",
            )
        })
}

/// The part of a presented key that failed authentications are counted by
/// (besides the address): the prefix and 8 characters.
fn key_prefix(token: &str) -> String {
    token.chars().take(KEY_PREFIX.len() + 8).collect()
}

async fn principal(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    addr: Option<ClientAddr>,
) -> ApiResult<Principal> {
    let token = bearer(headers)?;
    let hash = hash_key(token);
    if let Some(p) = state.keys.cached(&hash) {
        return Ok(p);
    }
    let ip = addr.map(|a| a.0.ip());
    let prefix = key_prefix(token);
    // An address or key prefix that keeps failing is refused before any lookup.
    let blocked = ip
        .map_or(Ok(()), |ip| state.failed_by_addr.peek(&ip))
        .and_then(|()| state.failed_by_prefix.peek(&prefix));
    if let Err(wait) = blocked {
        return Err(ApiError::limited("too many failed authentications", wait));
    }
    let found = blocking(state, move |s| s.keys.lookup(&s.store, hash)).await?;
    match found {
        Some(p) => Ok(p),
        None => {
            if let Some(ip) = ip {
                let _ = state.failed_by_addr.check(&ip);
            }
            let _ = state.failed_by_prefix.check(&prefix);
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid or revoked API key",
            ))
        }
    }
}

async fn admin(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    addr: Option<ClientAddr>,
) -> ApiResult<Principal> {
    let p = principal(state, headers, addr).await?;
    if p.admin {
        Ok(p)
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this endpoint needs an admin key",
        ))
    }
}

fn limit_reads(state: &AppState, p: &Principal) -> ApiResult<()> {
    state
        .reads
        .check(&p.key_id)
        .map_err(|wait| ApiError::limited("read rate limit exceeded for this key", wait))
}

/// Reads a JSON body within the size, time and depth limits, with no
/// duplicate object key (`what` names it in errors). Error messages never
/// repeat a value of the request.
async fn read_body(state: &AppState, body: Body, what: &str) -> ApiResult<Bytes> {
    let bytes: Bytes = match tokio::time::timeout(
        state.config.body_timeout,
        axum::body::to_bytes(body, state.config.body_limit),
    )
    .await
    {
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "the request body was not received in time",
            ));
        }
        Ok(Err(_)) => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body larger than {} bytes", state.config.body_limit),
            ));
        }
        Ok(Ok(b)) => b,
    };
    if nesting_exceeds(&bytes, state.config.max_depth) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("JSON nested deeper than {} levels", state.config.max_depth),
        ));
    }
    if let Err(e) = serde_json::from_slice::<crate::json::NoDuplicateKeys>(&bytes) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, json_error(&e, what)));
    }
    Ok(bytes)
}

/// A JSON text that holds a value at `range` (the body of a scan request,
/// or a response body): sliced without copying, for the blocking pool.
#[derive(Clone)]
struct BodyText {
    bytes: Bytes,
    range: std::ops::Range<usize>,
}

impl BodyText {
    /// The part of `bytes` that `inner` (borrowed from `bytes`) is, or
    /// `absent` when there is none.
    fn of(
        bytes: &Bytes,
        inner: Option<&serde_json::value::RawValue>,
        absent: &'static str,
    ) -> BodyText {
        match inner {
            Some(raw) => {
                let text = raw.get().as_bytes();
                let start = (text.as_ptr() as usize).wrapping_sub(bytes.as_ptr() as usize);
                match start.checked_add(text.len()) {
                    Some(end) if end <= bytes.len() => BodyText {
                        bytes: bytes.clone(),
                        range: start..end,
                    },
                    // Not borrowed from `bytes` after all: a copy.
                    _ => BodyText {
                        bytes: Bytes::copy_from_slice(text),
                        range: 0..text.len(),
                    },
                }
            }
            None => BodyText {
                bytes: Bytes::from_static(absent.as_bytes()),
                range: 0..absent.len(),
            },
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[self.range.clone()]
    }
}

/// A JSON error as a message that names what is wrong and where, never the
/// value (serde's own messages quote it: `invalid type: string "sk_live_…"`).
fn json_error(e: &serde_json::Error, what: &str) -> String {
    use serde_json::error::Category;
    let at = format!("at line {} column {}", e.line(), e.column());
    match e.classify() {
        Category::Io | Category::Syntax => format!("invalid JSON {at}"),
        Category::Eof => format!("truncated JSON {at}"),
        Category::Data => {
            let text = e.to_string();
            // Our own messages and a missing field's name carry no value.
            let safe = ["missing field `", crate::json::DUPLICATE_KEY]
                .iter()
                .any(|p| text.starts_with(p));
            if safe {
                let cut = text.find(" at line").unwrap_or(text.len());
                format!("invalid {what}: {} {at}", &text[..cut])
            } else {
                format!("invalid {what}: a field has the wrong type or value {at}")
            }
        }
    }
}

/// Whether the arrays and objects of a JSON text nest deeper than `max`
/// (a scalar is depth 1, `[1]` depth 2). Brackets inside strings do not count.
/// Runs on the raw bytes, before parsing, so a deep document costs no
/// recursion and no allocation.
fn nesting_exceeds(json: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (1usize, false, false);
    for &b in json {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// `sha256:<hex>` an approval is bound to: the canonical request (method,
/// URL, headers, tool, operation, agent, body: see
/// [`canonical_request_hash`]), the tenant and the key that asked.
fn approval_hash(request: &ScanRequest, tenant: &str, key_id: i64) -> String {
    let mut h = Sha256::new();
    h.update(canonical_request_hash(request).as_bytes());
    h.update((tenant.len() as u64).to_le_bytes());
    h.update(tenant.as_bytes());
    h.update(key_id.to_le_bytes());
    format!("sha256:{}", hex(&h.finalize()))
}

/// Headers as stored and shown: redacted by the engine, and the values of
/// credential headers masked whole (an opaque token is a secret the
/// detectors may not know).
fn headers_for_record(headers: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    const CREDENTIAL: &[&str] = &[
        "auth",
        "cookie",
        "token",
        "secret",
        "key",
        "session",
        "password",
        "signature",
    ];
    headers
        .iter()
        .map(|(name, value)| {
            let lower = name.to_ascii_lowercase();
            if CREDENTIAL.iter().any(|c| lower.contains(c)) {
                (name.clone(), "[REDACTED:HEADER]".to_owned())
            } else {
                (name.clone(), value.clone())
            }
        })
        .collect()
}

/// What the scan decided about approvals, applied by the writer with the trace.
enum ApprovalStep {
    /// No approval involved.
    None,
    /// Wait on this existing pending approval.
    Pending(String),
    /// Create this pending approval.
    Create(Box<ApprovalRow>),
    /// Use up this approved approval: the call runs.
    Consume(String),
}

/// Everything of a scan that runs on the blocking pool: the engine, then
/// the approvals of a REQUIRE_APPROVAL.
/// The body is scanned from its bytes and parsed only when the answer needs
/// it (see [`interven::engine::Engine::assess_json`]); the returned request
/// carries it then. `Ok(Err(_))` is a body the engine refused.
#[allow(clippy::type_complexity)]
fn assess_and_resolve(
    state: &AppState,
    p: &Principal,
    request: ScanRequest,
    body: &[u8],
) -> anyhow::Result<Result<(Assessment, ScanRequest, ApprovalStep), serde_json::Error>> {
    let scope = memory_scope(&p.tenant, request.agent_id().unwrap_or("default"));
    let options = AssessOptions::new()
        .tenant(p.tenant.clone())
        .key(p.key_id.to_string())
        .redacted_body();
    let (a, request) = match state.engine.assess_json(request, body, &scope, &options) {
        Ok(done) => done,
        Err(e) => return Ok(Err(e)),
    };
    if a.decision != Decision::RequireApproval {
        return Ok(Ok((a, request, ApprovalStep::None)));
    }
    let hash = approval_hash(&request, &p.tenant, p.key_id);
    let step = resolve_approval(state, p, &hash, &a, &request)?;
    Ok(Ok((a, request, step)))
}

/// REQUIRE_APPROVAL against the durable approvals: the approval to use up
/// when one was approved within the grace window, else the pending one
/// (existing or new).
fn resolve_approval(
    state: &AppState,
    p: &Principal,
    hash: &str,
    a: &Assessment,
    request: &ScanRequest,
) -> anyhow::Result<ApprovalStep> {
    let now = now_secs();
    state.store.expire(now)?;
    let rows = state.store.approvals_for_hash(&p.tenant, hash)?;
    let grace = state.config.approval_grace.as_secs() as i64;
    if let Some(r) = rows
        .iter()
        .find(|r| r.status == "approved" && r.decided_at.is_some_and(|d| now - d <= grace))
    {
        return Ok(ApprovalStep::Consume(r.approval_id.clone()));
    }
    if let Some(pending) = rows
        .iter()
        .find(|r| r.status == "pending" && r.expires_at > now)
    {
        return Ok(ApprovalStep::Pending(pending.approval_id.clone()));
    }
    let id = format!("apr_{}", crate::store::random_hex128()?);
    let body = a.sanitized_body.as_ref().unwrap_or(request.body());
    let details = json!({
        "tool": a.redacted.tool,
        "operation": a.redacted.operation,
        "method": request.method(),
        "url": interven_display_url(&a.redacted.url),
        "agent_id": a.redacted.agent_id,
        "agent_name": a.redacted.agent_name,
        "headers": a.redacted.headers.as_ref().map(headers_for_record),
        "reason_codes": a.reason_codes,
        "risk_score": a.risk_score,
        "risk_band": a.risk_band,
        "body": body,
        "requested_by": p.key_name,
    });
    Ok(ApprovalStep::Create(Box::new(ApprovalRow {
        approval_id: id,
        tenant: p.tenant.clone(),
        request_hash: hash.to_owned(),
        status: "pending".to_owned(),
        created_at: now,
        expires_at: now + state.config.approval_ttl.as_secs().max(1) as i64,
        decided_at: None,
        decided_by: None,
        key_id: p.key_id,
        details,
    })))
}

/// The URL without its query, fragment and credentials.
fn interven_display_url(url: &str) -> String {
    ScanRequest::new("GET", url).display_url()
}

async fn scan(
    State(state): State<Arc<AppState>>,
    addr: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Verdict>> {
    let p = principal(&state, &headers, addr.map(|a| a.0)).await?;
    state
        .limiter
        .check(&p.key_id)
        .map_err(|wait| ApiError::limited("rate limit exceeded for this key", wait))?;
    let bytes = read_body(&state, body, "scan request").await?;
    let envelope: crate::json::ScanEnvelope<'_> = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, json_error(&e, "scan request")))?;
    let crate::json::ScanEnvelope {
        body: raw_body,
        request,
    } = envelope;
    let text = BodyText::of(&bytes, raw_body, "{}");
    if request.method().is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid scan request: empty method",
        ));
    }
    let started = Instant::now();
    // At most twice: when another scan used the approval first, resolve again.
    for _ in 0..2 {
        let (pp, rq, body) = (p.clone(), request.clone(), text.clone());
        let tenant = p.tenant.clone();
        let (a, request, step) = on_scan_pool(&state, &tenant, move |s| {
            assess_and_resolve(s, &pp, rq, body.as_bytes())
        })
        .await?
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, json_error(&e, "scan request")))?;
        let mut verdict = a.verdict(TraceId::new(String::new()), &request);
        let (mut insert, mut consume) = (None, None);
        match step {
            ApprovalStep::None => {}
            ApprovalStep::Pending(id) => verdict.approval_id = Some(ApprovalId::new(id)),
            ApprovalStep::Create(row) => {
                verdict.approval_id = Some(ApprovalId::new(row.approval_id.clone()));
                insert = Some(*row);
            }
            ApprovalStep::Consume(id) => {
                // What the call would get without the approval rule.
                if a.has_redactions() {
                    a.sanitize_into(&mut verdict, &request);
                } else {
                    verdict.decision = Decision::Allow;
                }
                verdict.reason_codes.push("APPROVED".to_owned());
                verdict.extra.insert("approved_by".to_owned(), json!(id));
                consume = Some(id);
            }
        }
        let policy_record = crate::policy_cmd::trace_record(&a);
        // A body too deep to scan is not stored (the engine answers DENY).
        let raw = if a.reason_codes.iter().any(|c| c == "BODY_TOO_DEEP") {
            None
        } else {
            raw_body
        };
        let created_at = rfc3339(SystemTime::now());
        let url = interven_display_url(&a.redacted.url);
        let stored_headers = a.redacted.headers.as_ref().map(headers_for_record);
        let approval_id = verdict
            .approval_id
            .as_ref()
            .map(ToString::to_string)
            .or_else(|| consume.clone());
        let row = TraceRow {
            tenant: &p.tenant,
            created_at: &created_at,
            agent_id: a.redacted.agent_id.as_deref(),
            agent_name: a.redacted.agent_name.as_deref(),
            key_id: p.key_id,
            key_name: &p.key_name,
            tool: a.redacted.tool.as_deref(),
            operation: a.redacted.operation.as_deref(),
            method: request.method(),
            url: &url,
            headers: stored_headers.as_ref(),
            decision: verdict.decision.as_str(),
            reason_codes: &verdict.reason_codes,
            risk_score: verdict.risk_score,
            risk_band: verdict.risk_band.as_str(),
            // Only a redacted body is ever stored: with `redacted_body`, no
            // sanitized body means nothing in the body needed redacting.
            body: match (&a.sanitized_body, raw) {
                (Some(redacted), _) => StoredBody::Value(redacted),
                (None, Some(raw)) => StoredBody::Text(raw),
                (None, None) => StoredBody::Value(request.body()),
            },
            approval_id: approval_id.as_deref(),
            approval_executed: consume.is_some(),
            approval: insert.as_ref().map(|r| ApprovalCreated {
                request_hash: r.request_hash.clone(),
                created_at: r.created_at,
                expires_at: r.expires_at,
                key_id: r.key_id,
            }),
            latency_us: started.elapsed().as_micros() as u64,
            policy: policy_record.as_ref(),
        };
        let written = state
            .store
            .append_scan(&row, insert, consume.as_deref())
            .await
            .map_err(|e| ApiError::internal(&e))?;
        let Some(trace_id) = written else {
            continue;
        };
        verdict.trace_id = TraceId::new(trace_id);
        match verdict.monitored() {
            Some(m) => {
                tracing::info!(trace_id = %verdict.trace_id, decision = "monitored", enforced = %verdict.decision, would_be = %m.decision, tenant = %p.tenant, "scan")
            }
            None => {
                tracing::info!(trace_id = %verdict.trace_id, decision = %verdict.decision, tenant = %p.tenant, "scan")
            }
        }
        return Ok(Json(verdict));
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        "the approval was used by another request at the same time; scan again",
    ))
}

/// `POST /v1/scan/response`'s request, its body left as text: scanned from its bytes.
#[derive(Deserialize)]
struct ResponseScanRequest<'a> {
    trace_id: String,
    #[serde(borrow, default)]
    response_body: Option<&'a serde_json::value::RawValue>,
    #[serde(default)]
    response_status: Option<u16>,
}

async fn scan_response(
    State(state): State<Arc<AppState>>,
    addr: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let p = principal(&state, &headers, addr.map(|a| a.0)).await?;
    state
        .limiter
        .check(&p.key_id)
        .map_err(|wait| ApiError::limited("rate limit exceeded for this key", wait))?;
    let bytes = read_body(&state, body, "response scan").await?;
    let req: ResponseScanRequest<'_> = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, json_error(&e, "response scan")))?;
    let text = BodyText::of(&bytes, req.response_body, "null");
    let (trace_id, status) = (req.trace_id, req.response_status);
    let tenant = p.tenant.clone();
    let found = on_scan_pool(&state, &tenant, move |s| {
        let Some(agent) = s.store.trace_agent(&p.tenant, &trace_id)? else {
            return Ok(None);
        };
        let scope = memory_scope(&p.tenant, agent.as_deref().unwrap_or("default"));
        let scan = match s
            .engine
            .remember_response_json(&scope, text.as_bytes(), status)
        {
            Ok(scan) => scan,
            Err(e) => return Ok(Some(Err(e))),
        };
        let scan = serde_json::to_value(&scan)?;
        if !s.store.put_response(&p.tenant, &trace_id, &scan)? {
            return Ok(None);
        }
        Ok(Some(Ok(scan)))
    })
    .await?;
    match found {
        Some(Ok(scan)) => Ok(Json(scan)),
        Some(Err(e)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            json_error(&e, "response scan"),
        )),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, "unknown trace_id")),
    }
}

fn to_approval(row: &ApprovalRow) -> Approval {
    let now = now_secs();
    let status = match row.status.as_str() {
        "approved" => ApprovalStatus::Approved,
        "denied" => ApprovalStatus::Denied,
        "expired" => ApprovalStatus::Expired,
        "executed" => ApprovalStatus::Executed,
        _ if row.expires_at <= now => ApprovalStatus::Expired,
        _ => ApprovalStatus::Pending,
    };
    let at = |s: i64| rfc3339(UNIX_EPOCH + Duration::from_secs(s.max(0) as u64));
    let mut a = Approval::new(ApprovalId::new(row.approval_id.clone()), status);
    a.decision = match status {
        ApprovalStatus::Approved | ApprovalStatus::Executed => Some("ALLOW".to_owned()),
        ApprovalStatus::Denied => Some("DENY".to_owned()),
        _ => None,
    };
    a.decided_at = row.decided_at.map(at);
    a.expires_at = Some(at(row.expires_at));
    a.remaining_seconds = if status == ApprovalStatus::Pending {
        (row.expires_at - now).max(0) as f64
    } else {
        0.0
    };
    // What a human needs to decide, all redacted.
    if let Value::Object(details) = &row.details {
        for (k, v) in details {
            a.extra.insert(k.clone(), v.clone());
        }
    }
    a.extra
        .insert("created_at".to_owned(), json!(at(row.created_at)));
    if let Some(by) = &row.decided_by {
        a.extra.insert("decided_by".to_owned(), json!(by));
    }
    a
}

async fn approval_status(
    State(state): State<Arc<AppState>>,
    addr: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Approval>> {
    let p = principal(&state, &headers, addr.map(|a| a.0)).await?;
    limit_reads(&state, &p)?;
    let row = blocking(&state, move |s| s.store.approval(&p.tenant, &id)).await?;
    row.map(|r| Json(to_approval(&r)))
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "unknown approval"))
}

async fn decide(
    state: Arc<AppState>,
    headers: HeaderMap,
    addr: Option<ClientAddr>,
    id: String,
    approve: bool,
) -> ApiResult<Json<Approval>> {
    let p = admin(&state, &headers, addr).await?;
    limit_reads(&state, &p)?;
    let tenant = p.tenant.clone();
    let decided = blocking(&state, move |s| {
        s.store
            .decide_approval(&p.tenant, &id, approve, &p.key_name, now_secs())
    })
    .await?;
    match decided {
        Decided::Decided(row) => {
            tracing::info!(approval_id = %row.approval_id, tenant = %tenant, status = %row.status, "approval decided");
            Ok(Json(to_approval(&row)))
        }
        Decided::NotPending(row) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("approval is already {}", to_approval(&row).status),
        )),
        Decided::NotFound => Err(ApiError::new(StatusCode::NOT_FOUND, "unknown approval")),
    }
}

async fn approve(
    State(state): State<Arc<AppState>>,
    addr: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Approval>> {
    decide(state, headers, addr.map(|a| a.0), id, true).await
}

async fn deny(
    State(state): State<Arc<AppState>>,
    addr: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Approval>> {
    decide(state, headers, addr.map(|a| a.0), id, false).await
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
}

async fn list_approvals(
    State(state): State<Arc<AppState>>,
    addr: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let p = admin(&state, &headers, addr.map(|a| a.0)).await?;
    limit_reads(&state, &p)?;
    let status = q.status.unwrap_or_else(|| "pending".to_owned());
    if !["pending", "approved", "denied", "expired", "executed"].contains(&status.as_str()) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "status must be pending, approved, denied, expired or executed",
        ));
    }
    let rows = blocking(&state, move |s| {
        s.store.expire(now_secs())?;
        s.store.approvals_with_status(&p.tenant, &status)
    })
    .await?;
    Ok(Json(
        json!({ "approvals": rows.iter().map(to_approval).collect::<Vec<_>>() }),
    ))
}

#[derive(Deserialize)]
struct TracesQuery {
    monitored: Option<bool>,
    limit: Option<usize>,
}

/// `GET /v1/traces?monitored=true[&limit=N]` (admin): the tenant's latest
/// traces that monitor-mode rules matched, newest first.
async fn list_traces(
    State(state): State<Arc<AppState>>,
    addr: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    Query(q): Query<TracesQuery>,
) -> ApiResult<Json<Value>> {
    let p = admin(&state, &headers, addr.map(|a| a.0)).await?;
    limit_reads(&state, &p)?;
    if q.monitored != Some(true) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "only monitored traces are listed: add ?monitored=true",
        ));
    }
    let limit = q.limit.unwrap_or(100).min(1000);
    let traces = blocking(&state, move |s| {
        s.store.monitored_traces(Some(&p.tenant), limit)
    })
    .await?;
    Ok(Json(json!({ "traces": traces })))
}

async fn trace(
    State(state): State<Arc<AppState>>,
    addr: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    Path(trace_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let p = admin(&state, &headers, addr.map(|a| a.0)).await?;
    limit_reads(&state, &p)?;
    blocking(&state, move |s| s.store.trace(&p.tenant, &trace_id))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "unknown trace"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_counts_levels_outside_strings() {
        assert!(!nesting_exceeds(b"1", 1));
        assert!(nesting_exceeds(b"[1]", 1));
        assert!(!nesting_exceeds(br#"{"a": [1]}"#, 3));
        assert!(nesting_exceeds(br#"{"a": [1]}"#, 2));
        // Brackets in strings, escaped quotes included, are text.
        assert!(!nesting_exceeds(br#"{"a": "[[[{{{\"[[["}"#, 2));
        assert!(nesting_exceeds(br#"{"a": "\\", "b": [[1]]}"#, 3));
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(nesting_exceeds(deep.as_bytes(), 64));
    }
}
