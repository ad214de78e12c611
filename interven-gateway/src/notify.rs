//! Notifications: when an approval becomes pending, tell people where they
//! are — a JSON webhook or a Slack incoming webhook, signed when a secret
//! is set, retried with backoff.
//!
//! Off the scan path entirely: a watcher reads the store for pending
//! approvals not yet notified (every [`NotifyConfig::poll_every`]), claims
//! each one in the store (so two gateways on one database notify once),
//! and hands it to a bounded queue; deliveries run on their own tasks, a
//! bounded number at a time. A slow or failing webhook never slows a scan,
//! and a failure is logged, never fatal.
//!
//! What is sent is what the console shows: ids, tool, operation, method,
//! the stored URL (no query, no credentials), agent, reason codes, risk and
//! expiry — never a body, never a raw value.
//!
//! ## Signature
//!
//! With `--notify-secret`, every delivery carries
//! `X-Interven-Signature: sha256=<hex>`, the lower-case hex HMAC-SHA256 of
//! the exact request body under the secret. A receiver recomputes it over
//! the raw body and compares in constant time. `X-Interven-Delivery` is a
//! unique id per notification (the same on every retry of it), for
//! deduplication.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use interven::engine::rfc3339;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::store::{ApprovalRow, Store, hex};
use crate::store_console::ConsoleReader;

/// The header that carries the body's HMAC-SHA256 (`sha256=<hex>`).
pub const SIGNATURE_HEADER: &str = "x-interven-signature";
/// The header that carries the notification's id (the same on retries).
pub const DELIVERY_HEADER: &str = "x-interven-delivery";
/// The header that names the event (`approval.pending`).
pub const EVENT_HEADER: &str = "x-interven-event";

/// How a notification is shaped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum NotifyFormat {
    /// A JSON object with the approval's facts (the default).
    #[default]
    Json,
    /// A Slack incoming-webhook message (`text` and `blocks`).
    Slack,
}

/// Where and how to notify. Its `Debug` shows neither the URLs (a Slack
/// webhook URL is a credential) nor the secret.
#[derive(Clone)]
pub struct NotifyConfig {
    /// Webhook URLs (http or https); none disables notifications.
    pub webhooks: Vec<String>,
    /// The payload's shape.
    pub format: NotifyFormat,
    /// Signs every delivery (see the module docs) when set.
    pub secret: Option<SecretString>,
    /// How long one delivery is retried before it is given up (default 5 min).
    pub retry_for: Duration,
    /// The first wait between attempts; it doubles each time, up to 30 s.
    pub first_backoff: Duration,
    /// How long one attempt may take (default 10 s).
    pub timeout: Duration,
    /// How often the store is read for new pending approvals (default 250 ms).
    pub poll_every: Duration,
    /// How many notifications may wait for delivery (default 256); past
    /// that, new ones are dropped with a warning.
    pub queue: usize,
}

impl std::fmt::Debug for NotifyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifyConfig")
            .field("webhooks", &self.webhooks.len())
            .field("format", &self.format)
            .field("signed", &self.secret.is_some())
            .field("retry_for", &self.retry_for)
            .finish_non_exhaustive()
    }
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            webhooks: Vec::new(),
            format: NotifyFormat::Json,
            secret: None,
            retry_for: Duration::from_secs(300),
            first_backoff: Duration::from_millis(500),
            timeout: Duration::from_secs(10),
            poll_every: Duration::from_millis(250),
            queue: 256,
        }
    }
}

/// The facts of one pending approval, as sent.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PendingApproval {
    /// The approval id.
    pub approval_id: String,
    /// The tenant.
    pub tenant: String,
    /// The tool, if the request named one.
    pub tool: Option<String>,
    /// The operation, if named.
    pub operation: Option<String>,
    /// The HTTP method.
    pub method: Option<String>,
    /// The URL as stored: no query, fragment or credentials.
    pub url: Option<String>,
    /// The agent, if named.
    pub agent: Option<String>,
    /// Why it needs approval.
    pub reason_codes: Vec<String>,
    /// The risk score, 0..1.
    pub risk_score: Option<f64>,
    /// The risk band.
    pub risk_band: Option<String>,
    /// The trace that asked.
    pub trace_id: Option<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Expiry (RFC 3339).
    pub expires_at: String,
    /// The approval's console page, when `--public-url` is set.
    pub console_url: Option<String>,
}

impl PendingApproval {
    /// The facts of `approval`, read from the trace that asked for it.
    ///
    /// # Errors
    /// When the store fails.
    pub fn from_store(
        reader: &ConsoleReader,
        approval: &ApprovalRow,
        public_url: Option<&str>,
    ) -> anyhow::Result<PendingApproval> {
        let trace = reader.approval_trace(approval)?;
        let rec = trace.as_ref().map(|t| &t.record);
        let text = |k: &str| {
            rec.and_then(|r| r.get(k))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let at = |s: i64| rfc3339(UNIX_EPOCH + Duration::from_secs(s.max(0) as u64));
        Ok(PendingApproval {
            approval_id: approval.approval_id.clone(),
            tenant: approval.tenant.clone(),
            tool: text("tool"),
            operation: text("operation"),
            method: text("method"),
            url: text("url"),
            agent: text("agent_id"),
            reason_codes: rec
                .and_then(|r| r.get("reason_codes"))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            risk_score: rec
                .and_then(|r| r.get("risk_score"))
                .and_then(Value::as_f64),
            risk_band: text("risk_band"),
            trace_id: trace.as_ref().map(|t| t.trace_id.clone()),
            created_at: at(approval.created_at),
            expires_at: at(approval.expires_at),
            console_url: public_url.map(|u| {
                format!(
                    "{}/console/approvals/{}",
                    u.trim_end_matches('/'),
                    approval.approval_id
                )
            }),
        })
    }
}

/// The body of a notification in `format`.
pub fn payload(format: NotifyFormat, a: &PendingApproval) -> Value {
    match format {
        NotifyFormat::Json => {
            let mut v = json!({ "event": "approval.pending" });
            if let (Some(obj), Ok(Value::Object(facts))) =
                (v.as_object_mut(), serde_json::to_value(a))
            {
                obj.extend(facts);
            }
            v
        }
        NotifyFormat::Slack => slack_payload(a),
    }
}

/// Escapes text for Slack's mrkdwn (`&`, `<`, `>`), so that nothing in it
/// becomes a link or a mention.
pub fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn slack_payload(a: &PendingApproval) -> Value {
    let or_dash = |s: &Option<String>| s.as_deref().map_or("—".to_owned(), slack_escape);
    let what = match (&a.method, &a.url) {
        (Some(m), Some(u)) => format!("{} {}", slack_escape(m), slack_escape(u)),
        _ => "—".to_owned(),
    };
    let risk = match (a.risk_score, &a.risk_band) {
        (Some(s), Some(b)) => format!("{} ({s:.2})", slack_escape(b)),
        _ => "—".to_owned(),
    };
    let reasons = if a.reason_codes.is_empty() {
        "—".to_owned()
    } else {
        slack_escape(&a.reason_codes.join(", "))
    };
    let tool = or_dash(&a.tool);
    let text = format!(
        "Approval needed: {tool} {what} (agent {}, risk {risk}) — {}",
        or_dash(&a.agent),
        a.approval_id
    );
    let field = |label: &str, value: &str| json!({ "type": "mrkdwn", "text": format!("*{label}*\n{value}") });
    let mut blocks = vec![
        json!({ "type": "header", "text": { "type": "plain_text", "text": "Approval needed", "emoji": false } }),
        json!({ "type": "section", "text": { "type": "mrkdwn", "text": format!("`{}`\n{what}", a.approval_id) } }),
        json!({ "type": "section", "fields": [
            field("Tool", &tool),
            field("Operation", &or_dash(&a.operation)),
            field("Agent", &or_dash(&a.agent)),
            field("Risk", &risk),
            field("Reasons", &reasons),
            field("Expires", &slack_escape(&a.expires_at)),
        ] }),
    ];
    if let Some(link) = &a.console_url {
        blocks.push(json!({ "type": "actions", "elements": [{
            "type": "button",
            "text": { "type": "plain_text", "text": "Open in the console" },
            "url": link,
        }] }));
    }
    json!({ "text": text, "blocks": blocks })
}

/// `sha256=<hex HMAC-SHA256 of body under secret>`: the value of
/// [`SIGNATURE_HEADER`].
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    mac.update(body);
    format!("sha256={}", hex(&mac.finalize().into_bytes()))
}

/// One notification on its way.
struct Job {
    url: String,
    delivery: String,
    body: Vec<u8>,
    approval_id: String,
}

/// The running notifier; stops when dropped.
#[derive(Debug)]
pub struct Notifier {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Notifier {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Notifier {
    /// Starts watching `store` for pending approvals and delivering them to
    /// `config`'s webhooks, on the current tokio runtime. `None` when no
    /// webhook is configured (nothing runs then).
    pub fn start(
        store: Store,
        config: &NotifyConfig,
        public_url: Option<String>,
    ) -> Option<Notifier> {
        if config.webhooks.is_empty() {
            return None;
        }
        let http = match reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the notifier's HTTP client; notifications are off");
                return None;
            }
        };
        if let Err(e) = store.ensure_console_schema() {
            tracing::error!(error = %e, "cannot create the notifier's table; notifications are off");
            return None;
        }
        let reader = match store.console_reader() {
            Ok(r) => Arc::new(r),
            Err(e) => {
                tracing::error!(error = %e, "cannot open the notifier's read connection; notifications are off");
                return None;
            }
        };
        let (tx, rx) = tokio::sync::mpsc::channel::<Job>(config.queue.max(1));
        let config = Arc::new(config.clone());
        let watcher = tokio::spawn(watch(store, reader, tx, config.clone(), public_url));
        let deliverer = tokio::spawn(deliver_all(rx, http, config));
        Some(Notifier {
            tasks: vec![watcher, deliverer],
        })
    }
}

/// Reads the store for new pending approvals and queues one job each.
async fn watch(
    store: Store,
    reader: Arc<ConsoleReader>,
    tx: tokio::sync::mpsc::Sender<Job>,
    config: Arc<NotifyConfig>,
    public_url: Option<String>,
) {
    let mut tick = tokio::time::interval(config.poll_every.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let store2 = store.clone();
        let reader2 = reader.clone();
        let config2 = config.clone();
        let public = public_url.clone();
        // The store is synchronous (SQLite): read it off the runtime's workers.
        let jobs = tokio::task::spawn_blocking(move || {
            new_jobs(&store2, &reader2, &config2, public.as_deref())
        })
        .await;
        let jobs = match jobs {
            Ok(Ok(jobs)) => jobs,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "notifier: cannot read pending approvals; will retry");
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "notifier: the store read failed; will retry");
                continue;
            }
        };
        for job in jobs {
            let id = job.approval_id.clone();
            if let Err(e) = tx.try_send(job) {
                tracing::warn!(approval_id = %id, error = %e, "notifier: queue full or closed; notification dropped");
            }
        }
    }
}

/// How long the watcher waits for an approval's trace before it notifies without it.
const TRACE_GRACE_SECS: i64 = 5;

fn new_jobs(
    store: &Store,
    reader: &ConsoleReader,
    config: &NotifyConfig,
    public_url: Option<&str>,
) -> anyhow::Result<Vec<Job>> {
    let now = now_secs();
    let mut jobs = Vec::new();
    for approval in store.unnotified_pending(now, 64)? {
        // The approval is stored just before the trace that asked for it:
        // wait for the trace (a few milliseconds) to send its facts, but
        // not for ever (an approval made without one is still news).
        if now - approval.created_at < TRACE_GRACE_SECS
            && reader.approval_trace(&approval)?.is_none()
        {
            continue;
        }
        if !store.claim_notification(&approval.approval_id, now)? {
            continue;
        }
        let facts = PendingApproval::from_store(reader, &approval, public_url)?;
        let body = serde_json::to_vec(&payload(config.format, &facts))?;
        for url in &config.webhooks {
            jobs.push(Job {
                url: url.clone(),
                delivery: format!("{}-{}", approval.approval_id, hex(url_tag(url).as_slice())),
                body: body.clone(),
                approval_id: approval.approval_id.clone(),
            });
        }
    }
    Ok(jobs)
}

/// A short tag of a webhook URL for delivery ids (not the URL: it may
/// carry a token, as Slack's do).
fn url_tag(url: &str) -> [u8; 4] {
    use sha2::Digest;
    let d = Sha256::digest(url.as_bytes());
    [d[0], d[1], d[2], d[3]]
}

/// Takes jobs off the queue and delivers each on its own task, at most 16 at once.
async fn deliver_all(
    mut rx: tokio::sync::mpsc::Receiver<Job>,
    http: reqwest::Client,
    config: Arc<NotifyConfig>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(16));
    while let Some(job) = rx.recv().await {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let http = http.clone();
        let config = config.clone();
        tokio::spawn(async move {
            deliver(&http, &config, &job).await;
            drop(permit);
        });
    }
}

/// Whether an answer is worth another try.
fn transient(status: reqwest::StatusCode) -> bool {
    status.is_server_error()
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
}

/// One delivery, retried with doubling waits until it succeeds, fails for
/// good (a 4xx other than 408/429), or `retry_for` has passed.
async fn deliver(http: &reqwest::Client, config: &NotifyConfig, job: &Job) {
    let url = job.url.as_str();
    let started = tokio::time::Instant::now();
    let mut wait = config.first_backoff.max(Duration::from_millis(1));
    let host = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    for attempt in 1u32.. {
        let mut req = http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(EVENT_HEADER, "approval.pending")
            .header(DELIVERY_HEADER, &job.delivery)
            .body(job.body.clone());
        if let Some(secret) = &config.secret {
            req = req.header(
                SIGNATURE_HEADER,
                signature(secret.expose_secret().as_bytes(), &job.body),
            );
        }
        // Logged by host only: a webhook URL may carry a token.
        match req.send().await {
            Ok(resp) if resp.status().is_success() => {
                tracing::info!(approval_id = %job.approval_id, %host, attempt, "notification delivered");
                return;
            }
            Ok(resp) if !transient(resp.status()) => {
                tracing::warn!(approval_id = %job.approval_id, %host, status = resp.status().as_u16(), "notification refused; not retried");
                return;
            }
            Ok(resp) => {
                tracing::warn!(approval_id = %job.approval_id, %host, status = resp.status().as_u16(), attempt, "notification failed; will retry");
            }
            Err(e) => {
                tracing::warn!(approval_id = %job.approval_id, %host, error = %without_url(&e), attempt, "notification failed; will retry");
            }
        }
        if started.elapsed() + wait > config.retry_for {
            tracing::error!(approval_id = %job.approval_id, %host, attempts = attempt, "notification given up");
            return;
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(30));
    }
}

/// A reqwest error without the URL it carries (which may hold a token).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_request() {
        "request failed"
    } else {
        "transport error"
    };
    kind.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_rfc_4231_hmac_sha256() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    fn facts() -> PendingApproval {
        PendingApproval {
            approval_id: "apr_1".to_owned(),
            tenant: "acme".to_owned(),
            tool: Some("<!channel> gh".to_owned()),
            operation: None,
            method: Some("DELETE".to_owned()),
            url: Some("https://api.github.com/repos/a&b".to_owned()),
            agent: Some("agent-1".to_owned()),
            reason_codes: vec!["DESTRUCTIVE_OPERATION".to_owned()],
            risk_score: Some(0.8),
            risk_band: Some("HIGH".to_owned()),
            trace_id: Some("tr_1".to_owned()),
            created_at: "2026-01-01T00:00:00Z".to_owned(),
            expires_at: "2026-01-01T01:00:00Z".to_owned(),
            console_url: Some("https://gw.example/console/approvals/apr_1".to_owned()),
        }
    }

    #[test]
    fn slack_messages_escape_and_carry_the_facts() {
        let v = payload(NotifyFormat::Slack, &facts());
        let text = v["text"].as_str().unwrap();
        assert!(text.contains("&lt;!channel&gt; gh"), "{text}");
        assert!(!text.contains("<!channel>"), "{text}");
        assert!(text.contains("DELETE https://api.github.com/repos/a&amp;b"));
        let all = v.to_string();
        for fact in [
            "apr_1",
            "DESTRUCTIVE_OPERATION",
            "HIGH (0.80)",
            "agent-1",
            "2026-01-01T01:00:00Z",
        ] {
            assert!(all.contains(fact), "{fact} missing from {all}");
        }
        assert_eq!(
            v["blocks"][3]["elements"][0]["url"],
            "https://gw.example/console/approvals/apr_1"
        );
    }

    #[test]
    fn json_payload_names_the_event_and_every_fact() {
        let v = payload(NotifyFormat::Json, &facts());
        assert_eq!(v["event"], "approval.pending");
        assert_eq!(v["approval_id"], "apr_1");
        assert_eq!(v["reason_codes"][0], "DESTRUCTIVE_OPERATION");
        assert_eq!(v["operation"], Value::Null);
        assert_eq!(
            v["console_url"],
            "https://gw.example/console/approvals/apr_1"
        );
    }

    #[test]
    fn only_transient_answers_are_retried() {
        assert!(transient(reqwest::StatusCode::INTERNAL_SERVER_ERROR));
        assert!(transient(reqwest::StatusCode::TOO_MANY_REQUESTS));
        assert!(!transient(reqwest::StatusCode::NOT_FOUND));
        assert!(!transient(reqwest::StatusCode::FORBIDDEN));
    }
}
