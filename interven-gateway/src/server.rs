//! The HTTP server: the interven wire protocol over the embedded engine.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use interven::engine::{AssessOptions, Engine, canonical_request_hash, rfc3339};
use interven::{Approval, ApprovalId, ApprovalStatus, Decision, ScanRequest, TraceId, Verdict};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::auth::{KeyCache, Principal};
use crate::ratelimit::RateLimiter;
use crate::store::{ApprovalRow, Store, TraceRow};

/// Server settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The largest request body accepted (default 256 KiB); larger is 413.
    pub body_limit: usize,
    /// The deepest JSON nesting accepted (default 64); deeper is 400.
    pub max_depth: usize,
    /// Scans per second per key (0 disables the limit).
    pub rate_per_second: f64,
    /// Burst size of the per-key token bucket.
    pub burst: f64,
    /// How long a pending approval lives (default 60 min).
    pub approval_ttl: Duration,
    /// How long after an approval the identical request answers ALLOW (default 10 min).
    pub approval_grace: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            body_limit: 256 * 1024,
            max_depth: 64,
            rate_per_second: 100.0,
            burst: 200.0,
            approval_ttl: Duration::from_secs(3600),
            approval_grace: Duration::from_secs(600),
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
    config: Config,
}

impl AppState {
    /// The state of a server.
    pub fn new(engine: Engine, store: Store, config: Config) -> Arc<AppState> {
        let limiter = RateLimiter::new(config.rate_per_second, config.burst);
        Arc::new(AppState {
            engine,
            store,
            keys: KeyCache::new(),
            limiter,
            config,
        })
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

    fn internal(e: &anyhow::Error) -> ApiError {
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

/// The router with every endpoint of the protocol and the admin API.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(|| async { Json(json!({ "status": "ok" })) }))
        .route("/v1/scan", post(scan))
        .route("/v1/scan/response", post(scan_response))
        .route("/v1/approvals", get(list_approvals))
        .route("/v1/approvals/{id}/status", get(approval_status))
        .route("/v1/approvals/{id}/approve", post(approve))
        .route("/v1/approvals/{id}/deny", post(deny))
        .route("/v1/traces", get(list_traces))
        .route("/v1/traces/{trace_id}", get(trace))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint") })
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn(request_log))
        .with_state(state)
}

/// Serves until `shutdown` completes; requests in flight then finish.
///
/// # Errors
/// When the listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Gives each request an id (`x-request-id`) and logs it: method, path,
/// status, latency. Never bodies or headers.
async fn request_log(request: Request, next: Next) -> Response {
    let id = format!("req_{:016x}", fastrand::u64(..));
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let mut response = next.run(request).await;
    tracing::info!(request_id = %id, %method, %path, status = response.status().as_u16(), latency_ms = started.elapsed().as_secs_f64() * 1000.0, "request");
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn principal(state: &AppState, headers: &HeaderMap) -> ApiResult<Principal> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing API key: send Authorization: Bearer <key>",
            )
        })?;
    state
        .keys
        .authenticate(&state.store, token)
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "invalid or revoked API key"))
}

fn admin(state: &AppState, headers: &HeaderMap) -> ApiResult<Principal> {
    let p = principal(state, headers)?;
    if p.admin {
        Ok(p)
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this endpoint needs an admin key",
        ))
    }
}

/// Reads a JSON body within the size and depth limits, straight into `T`
/// (`what` names it in errors).
async fn read_json<T: DeserializeOwned>(state: &AppState, body: Body, what: &str) -> ApiResult<T> {
    let bytes: Bytes = axum::body::to_bytes(body, state.config.body_limit)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body larger than {} bytes", state.config.body_limit),
            )
        })?;
    if nesting_exceeds(&bytes, state.config.max_depth) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("JSON nested deeper than {} levels", state.config.max_depth),
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        let message = match e.classify() {
            serde_json::error::Category::Data => format!("invalid {what}: {e}"),
            _ => format!("invalid JSON: {e}"),
        };
        ApiError::new(StatusCode::BAD_REQUEST, message)
    })
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

fn scope(tenant: &str, agent: Option<&str>) -> String {
    format!("{tenant}/{}", agent.unwrap_or("default"))
}

async fn scan(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Verdict>> {
    let p = principal(&state, &headers)?;
    state.limiter.check(p.key_id).map_err(|wait| ApiError {
        status: StatusCode::TOO_MANY_REQUESTS,
        message: "rate limit exceeded for this key".to_owned(),
        retry_after: Some(wait),
    })?;
    let request: ScanRequest = read_json(&state, body, "scan request").await?;
    if request.method().is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid scan request: empty method",
        ));
    }
    let started = Instant::now();
    let a = state.engine.assess_with(
        &request,
        &scope(&p.tenant, request.agent_id()),
        &AssessOptions::new()
            .tenant(p.tenant.clone())
            .key(p.key_id.to_string()),
    );
    let policy_record = crate::policy_cmd::trace_record(&a);
    // The store gives the trace its id; the verdict carries it once the trace is durable.
    let mut verdict = a.verdict(TraceId::new(String::new()), &request);
    if a.decision == Decision::RequireApproval {
        let hash = if a.request_hash.is_empty() {
            canonical_request_hash(&request)
        } else {
            a.request_hash.clone()
        };
        resolve_approval(&state, &p.tenant, &hash, &mut verdict)
            .map_err(|e| ApiError::internal(&e))?;
    }
    let created_at = rfc3339(SystemTime::now());
    let url = request.display_url();
    let approval_id = verdict.approval_id.as_ref().map(ToString::to_string);
    let row = TraceRow {
        tenant: &p.tenant,
        created_at: &created_at,
        agent_id: request.agent_id(),
        tool: request.tool(),
        operation: request.operation(),
        method: request.method(),
        url: &url,
        decision: verdict.decision.as_str(),
        reason_codes: &verdict.reason_codes,
        risk_score: verdict.risk_score,
        risk_band: verdict.risk_band.as_str(),
        // Only a redacted body is ever stored.
        body: a.sanitized_body.as_ref().unwrap_or(request.body()),
        approval_id: approval_id.as_deref(),
        latency_us: started.elapsed().as_micros() as u64,
        policy: policy_record.as_ref(),
    };
    let trace_id = state
        .store
        .append_trace(&row)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    verdict.trace_id = TraceId::new(trace_id);
    match verdict.monitored() {
        Some(m) => {
            tracing::info!(trace_id = %verdict.trace_id, decision = "monitored", enforced = %verdict.decision, would_be = %m.decision, tenant = %p.tenant, "scan")
        }
        None => {
            tracing::info!(trace_id = %verdict.trace_id, decision = %verdict.decision, tenant = %p.tenant, "scan")
        }
    }
    Ok(Json(verdict))
}

/// REQUIRE_APPROVAL against the durable approvals: ALLOW once after an
/// approval within the grace window, else the pending approval (new or existing).
fn resolve_approval(
    state: &AppState,
    tenant: &str,
    hash: &str,
    verdict: &mut Verdict,
) -> anyhow::Result<()> {
    let now = now_secs();
    state.store.expire(now)?;
    let rows = state.store.approvals_for_hash(tenant, hash)?;
    let grace = state.config.approval_grace.as_secs() as i64;
    for r in &rows {
        if r.status == "approved"
            && r.decided_at.is_some_and(|d| now - d <= grace)
            && state
                .store
                .transition(tenant, &r.approval_id, "approved", "executed", now)?
        {
            verdict.decision = Decision::Allow;
            verdict.reason_codes.push("APPROVED".to_owned());
            verdict
                .extra
                .insert("approved_by".to_owned(), json!(r.approval_id));
            return Ok(());
        }
    }
    if let Some(pending) = rows.iter().find(|r| r.status == "pending") {
        verdict.approval_id = Some(ApprovalId::new(pending.approval_id.clone()));
        return Ok(());
    }
    let id = format!("apr_{:032x}", fastrand::u128(..));
    state.store.insert_approval(&ApprovalRow {
        approval_id: id.clone(),
        tenant: tenant.to_owned(),
        request_hash: hash.to_owned(),
        status: "pending".to_owned(),
        created_at: now,
        expires_at: now + state.config.approval_ttl.as_secs().max(1) as i64,
        decided_at: None,
    })?;
    verdict.approval_id = Some(ApprovalId::new(id));
    Ok(())
}

#[derive(Deserialize)]
struct ResponseScanRequest {
    trace_id: String,
    #[serde(default)]
    response_body: Value,
    #[serde(default)]
    response_status: Option<u16>,
}

async fn scan_response(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let p = principal(&state, &headers)?;
    let req: ResponseScanRequest = read_json(&state, body, "response scan").await?;
    let agent = state
        .store
        .trace_agent(&p.tenant, &req.trace_id)
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "unknown trace_id"))?;
    let scan = state.engine.remember_response(
        &scope(&p.tenant, agent.as_deref()),
        &req.response_body,
        req.response_status,
    );
    let scan = serde_json::to_value(&scan).map_err(|e| ApiError::internal(&e.into()))?;
    state
        .store
        .put_response(&p.tenant, &req.trace_id, &scan)
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(scan))
}

fn to_approval(row: &ApprovalRow) -> Approval {
    let status = match row.status.as_str() {
        "approved" => ApprovalStatus::Approved,
        "denied" => ApprovalStatus::Denied,
        "expired" => ApprovalStatus::Expired,
        "executed" => ApprovalStatus::Executed,
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
        (row.expires_at - now_secs()).max(0) as f64
    } else {
        0.0
    };
    a
}

fn find_approval(state: &AppState, tenant: &str, id: &str) -> ApiResult<ApprovalRow> {
    state
        .store
        .expire(now_secs())
        .map_err(|e| ApiError::internal(&e))?;
    state
        .store
        .approval(tenant, id)
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "unknown approval"))
}

async fn approval_status(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Approval>> {
    let p = principal(&state, &headers)?;
    Ok(Json(to_approval(&find_approval(&state, &p.tenant, &id)?)))
}

async fn decide(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    to: &str,
) -> ApiResult<Json<Approval>> {
    let p = admin(state, headers)?;
    let row = find_approval(state, &p.tenant, id)?;
    if !state
        .store
        .transition(&p.tenant, id, "pending", to, now_secs())
        .map_err(|e| ApiError::internal(&e))?
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("approval is already {}", row.status),
        ));
    }
    tracing::info!(approval_id = %id, tenant = %p.tenant, status = to, "approval decided");
    Ok(Json(to_approval(&find_approval(state, &p.tenant, id)?)))
}

async fn approve(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Approval>> {
    decide(&state, &headers, &id, "approved").await
}

async fn deny(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Approval>> {
    decide(&state, &headers, &id, "denied").await
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
}

async fn list_approvals(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let p = admin(&state, &headers)?;
    let status = q.status.unwrap_or_else(|| "pending".to_owned());
    if !["pending", "approved", "denied", "expired", "executed"].contains(&status.as_str()) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "status must be pending, approved, denied, expired or executed",
        ));
    }
    state
        .store
        .expire(now_secs())
        .map_err(|e| ApiError::internal(&e))?;
    let rows = state
        .store
        .approvals_with_status(&p.tenant, &status)
        .map_err(|e| ApiError::internal(&e))?;
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
    headers: HeaderMap,
    Query(q): Query<TracesQuery>,
) -> ApiResult<Json<Value>> {
    let p = admin(&state, &headers)?;
    if q.monitored != Some(true) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "only monitored traces are listed: add ?monitored=true",
        ));
    }
    let traces = state
        .store
        .monitored_traces(Some(&p.tenant), q.limit.unwrap_or(100).min(1000))
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(json!({ "traces": traces })))
}

async fn trace(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(trace_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let p = admin(&state, &headers)?;
    state
        .store
        .trace(&p.tenant, &trace_id)
        .map_err(|e| ApiError::internal(&e))?
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
