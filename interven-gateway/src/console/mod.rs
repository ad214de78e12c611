//! The console: approvals, activity and keys in a browser, served by the
//! gateway under `/console`.
//!
//! Server-rendered HTML (maud, which escapes by default) with one small
//! embedded script that polls for new approvals; every asset is in the
//! binary. Sign-in takes an admin key; the session lives in an `HttpOnly`,
//! `SameSite=Strict` cookie and is stored hashed (see [`session`]). Every
//! form that changes something carries a CSRF token, and a POST without a
//! valid one is refused (403). A tenant sees only its own data: another
//! tenant's ids answer 404, as in the API. The console reads only what the
//! store holds, which is redacted.
//!
//! Handlers stay thin: they check the session, call one store function and
//! render a page from [`pages`].

pub mod pages;
pub mod session;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use serde::Deserialize;

use crate::notify::{NotifyConfig, NotifyFormat};
use crate::server::AppState;
use crate::store::Store;
use crate::store_console::{ConsoleReader, SessionRow, TraceFilter};
use session::{LOGIN_CSRF_COOKIE, LoginLimiter, SESSION_COOKIE};

/// The console's and the notifier's settings (part of the server's
/// [`Config`](crate::Config)).
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// The gateway's public base URL (`https://gw.example.com`): links in
    /// notifications, and `Secure` cookies when it is https.
    pub public_url: Option<String>,
    /// How long a console session lives (default 12 h).
    pub session_ttl: Duration,
    /// Failed sign-ins an address may make at once (default 5)…
    pub login_burst: u32,
    /// …and how often it earns one more (default every 12 s).
    pub login_refill: Duration,
    /// Where to tell people that an approval waits.
    pub notify: NotifyConfig,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            public_url: None,
            session_ttl: Duration::from_secs(12 * 3600),
            login_burst: 5,
            login_refill: Duration::from_secs(12),
            notify: NotifyConfig::default(),
        }
    }
}

/// The `serve` flags of the console and the notifications. Its `Debug`
/// shows neither the webhook URLs (a Slack one is a credential) nor the secret.
#[derive(Clone, clap::Args)]
pub struct ConsoleArgs {
    /// The gateway's public base URL, for links in notifications (and
    /// `Secure` console cookies when https).
    #[arg(long, env = "INTERVEN_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// POST a notification here when an approval becomes pending (repeatable).
    #[arg(long = "notify-webhook", value_name = "URL")]
    pub notify_webhook: Vec<String>,
    /// The notification's shape: `json` or `slack` (an incoming webhook).
    #[arg(long, value_enum, default_value_t = NotifyFormat::Json)]
    pub notify_format: NotifyFormat,
    /// Sign notifications: `X-Interven-Signature: sha256=<hex HMAC-SHA256 of the body>`.
    #[arg(long, env = "INTERVEN_NOTIFY_SECRET", hide_env_values = true)]
    pub notify_secret: Option<String>,
    /// Seconds a console session lives.
    #[arg(long, default_value_t = 12 * 3600)]
    pub console_session_ttl: u64,
}

impl std::fmt::Debug for ConsoleArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleArgs")
            .field("public_url", &self.public_url)
            .field("notify_webhook", &self.notify_webhook.len())
            .field("notify_format", &self.notify_format)
            .field(
                "notify_secret",
                &self.notify_secret.as_ref().map(|_| "[REDACTED]"),
            )
            .field("console_session_ttl", &self.console_session_ttl)
            .finish()
    }
}

impl ConsoleArgs {
    /// The settings these flags give.
    ///
    /// # Errors
    /// A URL that is not http(s), an empty secret or a zero session time.
    pub fn into_config(self) -> anyhow::Result<ConsoleConfig> {
        let check = |what: &str, u: &str| -> anyhow::Result<()> {
            let parsed =
                url::Url::parse(u).map_err(|e| anyhow::anyhow!("{what} is not a URL: {e}"))?;
            anyhow::ensure!(
                matches!(parsed.scheme(), "http" | "https") && parsed.host_str().is_some(),
                "{what} must be an http or https URL"
            );
            Ok(())
        };
        if let Some(u) = &self.public_url {
            check("--public-url", u)?;
        }
        for u in &self.notify_webhook {
            // Not echoed: a webhook URL may carry a token.
            check("a --notify-webhook", u)?;
        }
        anyhow::ensure!(
            self.notify_secret.as_ref().is_none_or(|s| !s.is_empty()),
            "--notify-secret must not be empty"
        );
        anyhow::ensure!(
            self.console_session_ttl > 0,
            "--console-session-ttl must be positive"
        );
        Ok(ConsoleConfig {
            public_url: self.public_url.map(|u| u.trim_end_matches('/').to_owned()),
            session_ttl: Duration::from_secs(self.console_session_ttl),
            notify: NotifyConfig {
                webhooks: self.notify_webhook,
                format: self.notify_format,
                secret: self.notify_secret.map(Into::into),
                ..NotifyConfig::default()
            },
            ..ConsoleConfig::default()
        })
    }
}

/// What the console's handlers share beyond the server's state.
#[derive(Debug)]
struct Console {
    limiter: LoginLimiter,
    /// The console's own read-only connection (`None` if it could not be
    /// opened: the pages that need it answer 500).
    reader: Option<ConsoleReader>,
}

impl Console {
    fn reader(&self) -> Result<&ConsoleReader, Refusal> {
        self.reader.as_ref().ok_or_else(|| {
            internal(&anyhow::anyhow!(
                "the console's read connection is not open"
            ))
        })
    }
}

/// The console's routes, to merge into the server's router.
pub fn router(state: &Arc<AppState>) -> Router<Arc<AppState>> {
    if let Err(e) = state.store().ensure_console_schema() {
        // The console's pages then answer 500; the API is unaffected.
        tracing::error!(error = %e, "cannot create the console's tables");
    }
    let reader = state
        .store()
        .console_reader()
        .map_err(|e| tracing::error!(error = %e, "cannot open the console's read connection"))
        .ok();
    let cfg = &state.config().console;
    let console = Arc::new(Console {
        limiter: LoginLimiter::new(cfg.login_burst, cfg.login_refill),
        reader,
    });
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::to("/console/approvals") }),
        )
        .route(
            "/console/",
            get(|| async { Redirect::to("/console/approvals") }),
        )
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .route("/console/approvals", get(approvals_page))
        .route("/console/approvals/fragment", get(approvals_fragment))
        .route("/console/approvals/{id}", get(approval_page))
        .route("/console/approvals/{id}/approve", post(approve))
        .route("/console/approvals/{id}/deny", post(deny))
        .route("/console/traces", get(traces_page))
        .route("/console/traces/{id}", get(trace_page))
        .route("/console/keys", get(keys_page).post(create_key))
        .route("/console/keys/{id}/revoke", post(revoke_key))
        .route("/console/assets/console.css", get(css))
        .route("/console/assets/console.js", get(js))
        .layer(axum::middleware::map_response(security_headers))
        .layer(Extension(console))
        // Forms are small; the API's routes have their own limit.
        .layer(DefaultBodyLimit::max(16 * 1024))
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    let set = |h: &mut HeaderMap, k: &'static str, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, "x-frame-options", "DENY");
    set(h, "x-content-type-options", "nosniff");
    set(h, "referrer-policy", "same-origin");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, "cache-control", "no-store");
    }
    r
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("console.css"),
    )
        .into_response()
}

async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("console.js"),
    )
        .into_response()
}

/// A signed-in admin: the session as stored, and its CSRF token.
#[derive(Debug)]
pub struct Session {
    /// The stored session (key, key name, tenant).
    pub row: SessionRow,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    token_hash: String,
}

/// Why a request cannot go on: a page or redirect to answer instead
/// (boxed: the error path stays small).
struct Refusal(Box<Response>);

impl Refusal {
    fn new(r: Response) -> Refusal {
        Refusal(Box::new(r))
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        *self.0
    }
}

type Page = Result<Response, Refusal>;

fn internal(e: &anyhow::Error) -> Refusal {
    tracing::error!(error = %e, "console: internal error");
    Refusal::new(pages::error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The gateway could not read its store. The error is in its log.",
        None,
    ))
}

fn not_found(session: &Session) -> Refusal {
    Refusal::new(pages::error(
        StatusCode::NOT_FOUND,
        "Not found",
        "Nothing with that id exists in your tenant.",
        Some(session),
    ))
}

/// The session of a request, or a redirect to the sign-in page.
fn session(store: &Store, headers: &HeaderMap) -> Result<Session, Refusal> {
    let to_login = || Refusal::new(Redirect::to("/console/login").into_response());
    let token = session::cookie(headers, SESSION_COOKIE).ok_or_else(to_login)?;
    let hash = session::token_hash(token);
    let row = store
        .session(&hash, now_secs())
        .map_err(|e| internal(&e))?
        .ok_or_else(to_login)?;
    Ok(Session {
        row,
        csrf: session::csrf_for(token),
        token_hash: hash,
    })
}

/// A form's CSRF field; absent reads as empty.
#[derive(Debug, Deserialize, Default)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// A form's fields: a body over the console's limit is 413; any other
/// unreadable form reads as empty (and so fails its CSRF check: 403).
fn form_fields<T: Default>(form: Result<Form<T>, FormRejection>) -> Result<T, Refusal> {
    match form {
        Ok(Form(t)) => Ok(t),
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(Refusal::new(pages::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Too large",
            "That form is larger than the console accepts.",
            None,
        ))),
        Err(_) => Ok(T::default()),
    }
}

fn check_csrf(s: &Session, presented: &str) -> Result<(), Refusal> {
    if session::tokens_match(&s.csrf, presented) {
        Ok(())
    } else {
        Err(Refusal::new(pages::error(
            StatusCode::FORBIDDEN,
            "Refused",
            "This form was not sent from the console (its CSRF token is missing or wrong). Reload the page and try again.",
            Some(s),
        )))
    }
}

fn secure_cookies(state: &AppState, headers: &HeaderMap) -> bool {
    state
        .config()
        .console
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn client_ip(ext: &Extensions) -> IpAddr {
    ext.get::<crate::listen::ClientAddr>()
        .map(|c| c.0.ip())
        .or_else(|| ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()))
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

fn with_cookie(mut r: Response, cookie: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

// ---- sign-in ----

async fn login_page(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Page {
    if session(state.store(), &headers).is_ok() {
        return Ok(Redirect::to("/console/approvals").into_response());
    }
    login_form(&state, &headers, StatusCode::OK, None)
}

fn login_form(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    message: Option<&str>,
) -> Page {
    let token = session::random_token().map_err(|e| internal(&e.into()))?;
    let mut page = pages::login(&token, message);
    *page.status_mut() = status;
    let cookie = session::set_cookie(
        LOGIN_CSRF_COOKIE,
        &token,
        Duration::from_secs(3600),
        secure_cookies(state, headers),
    );
    Ok(with_cookie(page, &cookie))
}

#[derive(Debug, Deserialize, Default)]
struct LoginForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    csrf: String,
}

async fn login(
    State(state): State<Arc<AppState>>,
    Extension(console): Extension<Arc<Console>>,
    ext: Extensions,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Page {
    let form = form_fields(form)?;
    let ip = client_ip(&ext);
    if let Some(wait) = console.limiter.blocked(ip) {
        let mut r = login_form(
            &state,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many failed sign-ins from your address. Wait a little and try again."),
        )?;
        if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(r);
    }
    let expected = session::cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if !session::tokens_match(expected, &form.csrf) {
        return login_form(
            &state,
            &headers,
            StatusCode::FORBIDDEN,
            Some("The sign-in form expired or was not sent from this page. Try again."),
        );
    }
    let store = state.store();
    let principal = crate::auth::authenticate(store, form.key.trim()).map_err(|e| internal(&e))?;
    let Some(p) = principal.filter(|p| p.admin) else {
        console.limiter.failed(ip);
        tracing::warn!(%ip, "console: failed sign-in");
        return login_form(
            &state,
            &headers,
            StatusCode::UNAUTHORIZED,
            Some("That is not an active admin key. Agent keys cannot sign in."),
        );
    };
    let token = session::random_token().map_err(|e| internal(&e.into()))?;
    let now = now_secs();
    let ttl = state.config().console.session_ttl;
    store
        .insert_session(
            &session::token_hash(&token),
            p.key_id,
            &p.tenant,
            now,
            now.saturating_add(ttl.as_secs() as i64),
        )
        .map_err(|e| internal(&e))?;
    tracing::info!(tenant = %p.tenant, key_id = p.key_id, "console: signed in");
    let secure = secure_cookies(&state, &headers);
    let r = Redirect::to("/console/approvals").into_response();
    let r = with_cookie(r, &session::set_cookie(SESSION_COOKIE, &token, ttl, secure));
    Ok(with_cookie(
        r,
        &session::set_cookie(LOGIN_CSRF_COOKIE, "", Duration::ZERO, secure),
    ))
}

async fn logout(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Page {
    let s = session(state.store(), &headers)?;
    check_csrf(&s, &form_fields(form)?.csrf)?;
    state
        .store()
        .delete_session(&s.token_hash)
        .map_err(|e| internal(&e))?;
    let r = Redirect::to("/console/login").into_response();
    Ok(with_cookie(
        r,
        &session::set_cookie(
            SESSION_COOKIE,
            "",
            Duration::ZERO,
            secure_cookies(&state, &headers),
        ),
    ))
}

// ---- approvals ----

#[derive(Debug, Deserialize, Default)]
struct DecidedQuery {
    decided: Option<String>,
    #[serde(rename = "as")]
    outcome: Option<String>,
}

fn pending_cards(
    store: &Store,
    reader: &ConsoleReader,
    tenant: &str,
) -> anyhow::Result<Vec<pages::ApprovalView>> {
    let now = now_secs();
    store.expire(now)?;
    store
        .approvals_newest_first(tenant, "pending")?
        .into_iter()
        .map(|a| {
            let trace = reader.approval_trace(&a)?;
            Ok(pages::ApprovalView::new(a, trace, None, now))
        })
        .collect()
}

async fn approvals_page(
    State(state): State<Arc<AppState>>,
    Extension(console): Extension<Arc<Console>>,
    headers: HeaderMap,
    Query(q): Query<DecidedQuery>,
) -> Page {
    let s = session(state.store(), &headers)?;
    let cards =
        pending_cards(state.store(), console.reader()?, &s.row.tenant).map_err(|e| internal(&e))?;
    // Only about an approval of this tenant that was decided so: a link
    // cannot put words on the page.
    let flash = match (q.decided.as_deref(), q.outcome.as_deref()) {
        (Some(id), Some(o @ ("approved" | "denied"))) => state
            .store()
            .approval(&s.row.tenant, id)
            .map_err(|e| internal(&e))?
            .filter(|a| a.status == o || (o == "approved" && a.status == "executed"))
            .map(|a| format!("{} {o}.", a.approval_id)),
        _ => None,
    };
    Ok(pages::approvals(&s, &cards, flash.as_deref()))
}

/// The list of pending approvals alone, for the page's script to merge in;
/// `X-Approvals-Digest` names the set so the script touches the page only
/// when it changed. 401 once the session has ended.
async fn approvals_fragment(
    State(state): State<Arc<AppState>>,
    Extension(console): Extension<Arc<Console>>,
    headers: HeaderMap,
) -> Page {
    let s = session(state.store(), &headers)
        .map_err(|_| Refusal::new(StatusCode::UNAUTHORIZED.into_response()))?;
    let cards =
        pending_cards(state.store(), console.reader()?, &s.row.tenant).map_err(|e| internal(&e))?;
    let mut r = pages::approval_list(&s, &cards);
    if let Ok(v) = HeaderValue::from_str(&pages::list_digest(&cards)) {
        r.headers_mut().insert("x-approvals-digest", v);
    }
    Ok(r)
}

async fn approval_page(
    State(state): State<Arc<AppState>>,
    Extension(console): Extension<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Page {
    let store = state.store();
    let s = session(store, &headers)?;
    let now = now_secs();
    store.expire(now).map_err(|e| internal(&e))?;
    let a = store
        .approval(&s.row.tenant, &id)
        .map_err(|e| internal(&e))?
        .ok_or_else(|| not_found(&s))?;
    let traces = console
        .reader()?
        .approval_traces(&a)
        .map_err(|e| internal(&e))?;
    let decision = store
        .decision(&s.row.tenant, &id)
        .map_err(|e| internal(&e))?;
    let view = pages::ApprovalView::new(a, traces.first().cloned(), decision, now);
    Ok(pages::approval(&s, &view, &traces))
}

/// What [`decide`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Decided {
    /// The approval was pending and is now decided.
    Done,
    /// It was not pending: its status.
    NotPending(String),
    /// The tenant has no such approval.
    Unknown,
}

/// Approves or denies a pending approval of `tenant`, recording who
/// decided (`decided_by`, the admin key's name).
///
/// The decision and who made it go into the tenant's hash chain
/// ([`Store::decide_approval`]).
///
/// # Errors
/// When the store fails.
pub fn decide(
    store: &Store,
    tenant: &str,
    id: &str,
    approve: bool,
    decided_by: &str,
    now: i64,
) -> anyhow::Result<Decided> {
    Ok(
        match store.decide_approval(tenant, id, approve, decided_by, now)? {
            crate::store::Decided::Decided(_) => Decided::Done,
            crate::store::Decided::NotPending(a) => Decided::NotPending(a.status),
            crate::store::Decided::NotFound => Decided::Unknown,
        },
    )
}

async fn decide_form(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    form: Result<Form<CsrfForm>, FormRejection>,
    approve: bool,
) -> Page {
    let s = session(state.store(), headers)?;
    check_csrf(&s, &form_fields(form)?.csrf)?;
    match decide(
        state.store(),
        &s.row.tenant,
        id,
        approve,
        &s.row.key_name,
        now_secs(),
    )
    .map_err(|e| internal(&e))?
    {
        Decided::Done => {
            let outcome = if approve { "approved" } else { "denied" };
            tracing::info!(approval_id = %id, tenant = %s.row.tenant, decided_by = %s.row.key_name, status = outcome, "approval decided in the console");
            let id: String = id
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            Ok(
                Redirect::to(&format!("/console/approvals?decided={id}&as={outcome}"))
                    .into_response(),
            )
        }
        Decided::NotPending(status) => Err(Refusal::new(pages::error(
            StatusCode::CONFLICT,
            "Already decided",
            &format!("This approval is {status}: it cannot be decided again."),
            Some(&s),
        ))),
        Decided::Unknown => Err(not_found(&s)),
    }
}

async fn approve(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Page {
    decide_form(&state, &headers, &id, form, true).await
}

async fn deny(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Page {
    decide_form(&state, &headers, &id, form, false).await
}

// ---- activity ----

/// The activity page's query: filters, and `q` to find an id.
#[derive(Debug, Deserialize, Default)]
pub struct TracesQuery {
    /// Exact decision.
    pub decision: Option<String>,
    /// Exact tool.
    pub tool: Option<String>,
    /// Exact agent id.
    pub agent: Option<String>,
    /// From this time (UTC, `YYYY-MM-DDTHH:MM[:SS]`).
    pub since: Option<String>,
    /// Until this time (UTC).
    pub until: Option<String>,
    /// A trace id (or approval id) to go to.
    pub q: Option<String>,
    /// Older than this trace (the next page).
    pub before: Option<String>,
}

/// How many traces a page of the activity list shows.
pub const TRACES_PER_PAGE: usize = 200;

fn non_empty(s: Option<&String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// Unix milliseconds of a UTC `YYYY-MM-DD[THH:MM[:SS]][Z]`.
pub fn parse_utc(s: &str) -> Option<i64> {
    let s = s.trim().trim_end_matches('Z');
    let (date, time) = s.split_once(['T', ' ']).unwrap_or((s, "00:00"));
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (hh, mm) = (t.next()??, t.next()??);
    let ss = t.next().unwrap_or(Some(0))?;
    if !(1970..=9999).contains(&y)
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&day)
        || !(0..24).contains(&hh)
        || !(0..60).contains(&mm)
        || !(0..61).contains(&ss)
    {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400) + hh * 3600 + mm * 60 + ss) * 1000)
}

async fn traces_page(
    State(state): State<Arc<AppState>>,
    Extension(console): Extension<Arc<Console>>,
    headers: HeaderMap,
    Query(q): Query<TracesQuery>,
) -> Page {
    let store = state.store();
    let s = session(store, &headers)?;
    let mut problems = Vec::new();
    if let Some(id) = non_empty(q.q.as_ref()) {
        if store
            .trace(&s.row.tenant, &id)
            .map_err(|e| internal(&e))?
            .is_some()
        {
            return Ok(Redirect::to(&format!("/console/traces/{id}")).into_response());
        }
        if id.starts_with("apr_")
            && store
                .approval(&s.row.tenant, &id)
                .map_err(|e| internal(&e))?
                .is_some()
        {
            return Ok(Redirect::to(&format!("/console/approvals/{id}")).into_response());
        }
        problems.push("No trace or approval with that id in your tenant.".to_owned());
    }
    let mut time = |what: &str, v: Option<&String>| {
        let v = non_empty(v)?;
        let t = parse_utc(&v);
        if t.is_none() {
            problems.push(format!(
                "{what}: expected a UTC time like 2026-01-31T14:00."
            ));
        }
        t
    };
    let since_ms = time("From", q.since.as_ref());
    let until_ms = time("Until", q.until.as_ref());
    let filter = TraceFilter {
        decision: non_empty(q.decision.as_ref())
            .filter(|d| ["ALLOW", "SANITIZE", "DENY", "REQUIRE_APPROVAL"].contains(&d.as_str())),
        tool: non_empty(q.tool.as_ref()),
        agent: non_empty(q.agent.as_ref()),
        since_ms,
        until_ms,
        before: non_empty(q.before.as_ref()),
        limit: TRACES_PER_PAGE,
    };
    let traces = console
        .reader()?
        .list_traces(&s.row.tenant, &filter)
        .map_err(|e| internal(&e))?;
    Ok(pages::traces(&s, &q, &traces, &problems))
}

async fn trace_page(
    State(state): State<Arc<AppState>>,
    Extension(console): Extension<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Page {
    let store = state.store();
    let s = session(store, &headers)?;
    let trace = store
        .trace(&s.row.tenant, &id)
        .map_err(|e| internal(&e))?
        .ok_or_else(|| not_found(&s))?;
    let chain = console
        .reader()?
        .verify_up_to(&s.row.tenant, &id)
        .map_err(|e| internal(&e))?;
    let approval = match trace.get("approval_id").and_then(|v| v.as_str()) {
        Some(aid) => {
            let a = store
                .approval(&s.row.tenant, aid)
                .map_err(|e| internal(&e))?;
            let d = store
                .decision(&s.row.tenant, aid)
                .map_err(|e| internal(&e))?;
            a.map(|a| pages::ApprovalView::new(a, None, d, now_secs()))
        }
        None => None,
    };
    Ok(pages::trace(
        &s,
        &id,
        &trace,
        chain.as_ref(),
        approval.as_ref(),
    ))
}

// ---- keys ----

async fn keys_page(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Page {
    let s = session(state.store(), &headers)?;
    let keys = state
        .store()
        .tenant_keys(&s.row.tenant)
        .map_err(|e| internal(&e))?;
    Ok(pages::keys(StatusCode::OK, &s, &keys, None, None))
}

#[derive(Debug, Deserialize, Default)]
struct NewKeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
}

async fn create_key(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    form: Result<Form<NewKeyForm>, FormRejection>,
) -> Page {
    let store = state.store();
    let s = session(store, &headers)?;
    let form = form_fields(form)?;
    check_csrf(&s, &form.csrf)?;
    let name = form.name.trim();
    let (created, problem) = if name.is_empty() || name.len() > 100 {
        (None, Some("A key needs a name of 1 to 100 characters."))
    } else {
        let admin = form.role == "admin";
        let key =
            crate::auth::create_key(store, name, &s.row.tenant, admin).map_err(|e| internal(&e))?;
        tracing::info!(tenant = %s.row.tenant, admin, created_by = %s.row.key_name, "console: key created");
        (Some((name.to_owned(), key)), None)
    };
    let keys = store.tenant_keys(&s.row.tenant).map_err(|e| internal(&e))?;
    let status = if problem.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(pages::keys(status, &s, &keys, created.as_ref(), problem))
}

async fn revoke_key(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Page {
    let store = state.store();
    let s = session(store, &headers)?;
    check_csrf(&s, &form_fields(form)?.csrf)?;
    let Ok(key_id) = id.parse::<i64>() else {
        return Err(not_found(&s));
    };
    if !store
        .revoke_tenant_key(&s.row.tenant, key_id)
        .map_err(|e| internal(&e))?
    {
        return Err(not_found(&s));
    }
    tracing::info!(tenant = %s.row.tenant, key_id, revoked_by = %s.row.key_name, "console: key revoked");
    // Revoking one's own key ends this session too: the next page asks to sign in.
    Ok(Redirect::to("/console/keys").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times_parse_to_unix_milliseconds() {
        assert_eq!(parse_utc("1970-01-01T00:00"), Some(0));
        assert_eq!(parse_utc("2026-01-31T14:00"), Some(1_769_868_000_000));
        assert_eq!(parse_utc("2026-01-31T14:00:05Z"), Some(1_769_868_005_000));
        assert_eq!(parse_utc("2024-02-29"), Some(1_709_164_800_000));
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00",
            "2026-01-01T25:00",
            "2026-01-01T00",
            "1-1-1T1:1:1:1",
        ] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
    }

    #[test]
    fn flags_are_checked() {
        let args = |public: Option<&str>, hooks: &[&str], secret: Option<&str>| ConsoleArgs {
            public_url: public.map(str::to_owned),
            notify_webhook: hooks.iter().map(|s| (*s).to_owned()).collect(),
            notify_format: NotifyFormat::Slack,
            notify_secret: secret.map(str::to_owned),
            console_session_ttl: 60,
        };
        let ok = args(
            Some("https://gw.example/"),
            &["http://127.0.0.1:9/x"],
            Some("s"),
        )
        .into_config()
        .unwrap();
        assert_eq!(ok.public_url.as_deref(), Some("https://gw.example"));
        assert_eq!(ok.notify.webhooks.len(), 1);
        assert_eq!(ok.session_ttl, Duration::from_secs(60));
        assert!(
            !format!("{ok:?}").contains("127.0.0.1"),
            "no webhook URL in Debug"
        );
        assert!(args(Some("ftp://x"), &[], None).into_config().is_err());
        assert!(args(None, &["not a url"], None).into_config().is_err());
        assert!(args(None, &[], Some("")).into_config().is_err());
    }
}
