//! `#[interven::guard]` through real guarded functions, for each decision:
//! against a gateway on 127.0.0.1 that answers a chosen verdict (and records
//! what it was sent), and on the embedded engine.
//!
//! The guarded functions here are compiled with the strictest lints, so the
//! generated code is checked by `cargo clippy --all-targets` too.
#![deny(warnings, unused_braces, clippy::pedantic)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use interven::{Client, Error, RetryPolicy};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A gateway that answers `/v1/scan` from a queue of verdicts (the last one
/// repeats) and `/v1/approvals/{id}/status` with a fixed status, and records
/// every scan request it receives.
struct Gateway {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    verdicts: VecDeque<Value>,
    approval_status: String,
    scans: Vec<Value>,
}

impl Gateway {
    fn start(verdicts: Vec<Value>) -> Gateway {
        let state = Arc::new(Mutex::new(State {
            verdicts: verdicts.into(),
            approval_status: "approved".to_owned(),
            scans: Vec::new(),
        }));
        let shared = state.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        // Its own runtime on its own thread: blocking calls from any test runtime reach it.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let app = axum::Router::new().fallback(move |uri: Uri, body: Bytes| {
                    let state = shared.clone();
                    async move { answer(&state, &uri, &body) }
                });
                axum::serve(listener, app).await.unwrap();
            });
        });
        Gateway {
            addr: rx.recv().unwrap(),
            state,
        }
    }

    fn verdict(decision: &str) -> Gateway {
        Gateway::start(vec![verdict(decision)])
    }

    fn approval_status(self, status: &str) -> Gateway {
        status.clone_into(&mut self.state.lock().unwrap().approval_status);
        self
    }

    fn client(&self) -> Client {
        Client::builder()
            .api_key("k")
            .gateway_url(format!("http://{}", self.addr))
            .approval_timeout(Duration::from_secs(5))
            .approval_poll_interval(Duration::from_millis(10))
            .build()
            .unwrap()
    }

    fn scans(&self) -> Vec<Value> {
        self.state.lock().unwrap().scans.clone()
    }
}

fn answer(state: &Mutex<State>, uri: &Uri, body: &[u8]) -> Response {
    let mut s = state.lock().unwrap();
    if uri.path() == "/v1/scan" {
        s.scans
            .push(serde_json::from_slice(body).unwrap_or(Value::Null));
        let reply = if s.verdicts.len() > 1 {
            s.verdicts.pop_front()
        } else {
            s.verdicts.front().cloned()
        };
        return axum::Json(reply.unwrap_or(Value::Null)).into_response();
    }
    if let Some(rest) = uri.path().strip_prefix("/v1/approvals/") {
        let id = rest.trim_end_matches("/status");
        return axum::Json(json!({
            "approval_id": id, "status": s.approval_status, "remaining_seconds": 30
        }))
        .into_response();
    }
    StatusCode::NOT_FOUND.into_response()
}

fn verdict(decision: &str) -> Value {
    let mut v = json!({
        "decision": decision, "trace_id": format!("tr_{}", decision.to_ascii_lowercase()),
        "risk_score": 0.5, "risk_band": "HIGH", "reason_codes": ["CODE_A", "CODE_B"],
    });
    if decision == "REQUIRE_APPROVAL" {
        v["approval_id"] = json!("ap_1");
    }
    v
}

fn sanitize(body: &Value) -> Value {
    let mut v = verdict("SANITIZE");
    v["sanitized_body"] = body.clone();
    v
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Note {
    to: String,
    text: String,
}

/// A tool with its client: `client = self.client`; the receiver is never scanned.
struct Slack {
    client: Client,
    seen: Mutex<Vec<String>>,
}

impl Slack {
    fn new(client: Client) -> Slack {
        Slack {
            client,
            seen: Mutex::new(Vec::new()),
        }
    }

    fn ran(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    #[interven::guard(tool = "slack", operation = "post_message", client = self.client)]
    async fn post(&self, channel: &str, text: String) -> interven::Result<usize> {
        tokio::task::yield_now().await;
        self.seen.lock().unwrap().push(format!("{channel}|{text}"));
        Ok(text.len())
    }

    #[interven::guard(tool = "slack", client = self.client, approval = "error")]
    async fn post_or_error(&self, text: String) -> interven::Result<()> {
        self.seen.lock().unwrap().push(text);
        Ok(())
    }

    #[interven::guard(tool = "slack", client = self.client)]
    fn post_blocking(&self, text: &str) -> anyhow::Result<()> {
        self.seen.lock().unwrap().push(text.to_owned());
        Ok(())
    }

    /// Every kind of reference argument, recorded as the body saw it.
    #[interven::guard(tool = "mail", client = self.client)]
    #[allow(clippy::too_many_arguments)]
    async fn send_all(
        &self,
        channel: &str,
        text: &str,
        tags: &[String],
        note: &Note,
        drafts: &mut Vec<String>,
        count: u32,
    ) -> interven::Result<()> {
        drafts.push("written by the body".to_owned());
        self.seen.lock().unwrap().push(
            json!({"channel": channel, "text": text, "tags": tags, "note": note,
                   "drafts": drafts, "count": count})
            .to_string(),
        );
        Ok(())
    }

    /// `mut` parameters: the body may reassign them, sanitized or not.
    #[interven::guard(tool = "text", client = self.client)]
    fn repeat(&self, mut text: &str, mut times: u32, mut tail: String) -> interven::Result<String> {
        if text.is_empty() {
            text = "-";
        }
        times += 1;
        tail.push('!');
        Ok(format!("{}{tail}", text.repeat(times as usize)))
    }

    #[interven::guard(tool = "log", client = self.client)]
    fn log(&self, line: impl Serialize + std::fmt::Display) -> interven::Result<()> {
        self.seen.lock().unwrap().push(line.to_string());
        Ok(())
    }

    #[interven::guard(
        tool = "github",
        operation = "create_pull",
        method = "put",
        url = format!("https://api.github.com/repos/{repo}/pulls"),
        skip(token),
        client = self.client,
    )]
    async fn create_pull(&self, repo: &str, title: &str, token: &str) -> interven::Result<()> {
        self.seen
            .lock()
            .unwrap()
            .push(format!("{repo}|{title}|{}", token.len()));
        Ok(())
    }
}

#[tokio::test]
async fn allow_runs_the_body_with_the_original_arguments_and_scans_no_receiver() {
    let gw = Gateway::verdict("ALLOW");
    let slack = Slack::new(gw.client());
    assert_eq!(slack.post("#ops", "hello".into()).await.unwrap(), 5);
    assert_eq!(slack.ran(), ["#ops|hello"]);
    let scans = gw.scans();
    assert_eq!(scans.len(), 1);
    let scan = &scans[0];
    assert_eq!(scan["method"], "POST");
    assert_eq!(scan["url"], "tool://slack/post_message");
    assert_eq!(scan["tool"], "slack");
    assert_eq!(scan["operation"], "post_message");
    assert_eq!(scan["runtime_type"], "rust");
    // Exactly the arguments: the receiver (and its client) is never serialized.
    assert_eq!(scan["body"], json!({"channel": "#ops", "text": "hello"}));
}

#[tokio::test]
async fn url_method_operation_and_skip_shape_the_request() {
    let gw = Gateway::verdict("ALLOW");
    let slack = Slack::new(gw.client());
    slack
        .create_pull("o/r", "Fix", "secret-token")
        .await
        .unwrap();
    assert_eq!(slack.ran(), ["o/r|Fix|12"]);
    let scan = &gw.scans()[0];
    assert_eq!(scan["method"], "PUT");
    assert_eq!(scan["url"], "https://api.github.com/repos/o/r/pulls");
    assert_eq!(scan["operation"], "create_pull");
    assert_eq!(scan["body"], json!({"repo": "o/r", "title": "Fix"}));
}

#[tokio::test]
async fn sanitize_rebinds_every_changed_argument_to_an_owned_value() {
    let note = Note {
        to: "jane@example.com".into(),
        text: "hi".into(),
    };
    let redacted = json!({
        "channel": "#ops",
        "text": "mail [REDACTED:EMAIL]",
        "tags": ["[REDACTED:EMAIL]", "ops"],
        "note": {"to": "[REDACTED:EMAIL]", "text": "hi"},
        "drafts": ["[REDACTED:EMAIL]"],
        "count": 2,
    });
    let gw = Gateway::start(vec![sanitize(&redacted)]);
    let slack = Slack::new(gw.client());
    let mut drafts = vec!["draft to jane@example.com".to_owned()];
    let tags = vec!["jane@example.com".to_owned(), "ops".to_owned()];
    slack
        .send_all(
            "#ops",
            "mail jane@example.com",
            &tags,
            &note,
            &mut drafts,
            2,
        )
        .await
        .unwrap();
    let seen: Value = serde_json::from_str(&slack.ran()[0]).unwrap();
    assert_eq!(seen["channel"], "#ops");
    assert_eq!(seen["text"], "mail [REDACTED:EMAIL]");
    assert_eq!(seen["tags"], json!(["[REDACTED:EMAIL]", "ops"]));
    assert_eq!(
        seen["note"],
        json!({"to": "[REDACTED:EMAIL]", "text": "hi"})
    );
    assert_eq!(
        seen["drafts"],
        json!(["[REDACTED:EMAIL]", "written by the body"])
    );
    // The caller's values were never written through.
    assert_eq!(drafts, ["draft to jane@example.com"]);
    assert_eq!(tags[0], "jane@example.com");
    assert_eq!(note.to, "jane@example.com");
    // The gateway saw the original values.
    assert_eq!(gw.scans()[0]["body"]["text"], "mail jane@example.com");
}

#[tokio::test]
async fn an_unchanged_mut_reference_is_still_the_callers() {
    let gw = Gateway::verdict("ALLOW");
    let slack = Slack::new(gw.client());
    let mut drafts = vec![];
    let note = Note {
        to: "a".into(),
        text: "b".into(),
    };
    slack
        .send_all("#a", "b", &[], &note, &mut drafts, 1)
        .await
        .unwrap();
    assert_eq!(drafts, ["written by the body"]);
}

#[test]
fn mut_parameters_are_rebound_and_stay_mutable() {
    let gw = Gateway::verdict("ALLOW");
    let slack = Slack::new(gw.client());
    assert_eq!(slack.repeat("", 1, "x".into()).unwrap(), "--x!");
    let gw = Gateway::start(vec![sanitize(
        &json!({"text": "[R]", "times": 0, "tail": "[T]"}),
    )]);
    let slack = Slack::new(gw.client());
    assert_eq!(
        slack.repeat("a@b.io", 5, "c@d.io".into()).unwrap(),
        "[R][T]!"
    );
}

#[tokio::test]
async fn a_sanitized_value_that_does_not_fit_fails_closed() {
    let redacted = json!({"channel": "#ops", "text": "t", "tags": [], "note": {"to": "a", "text": "b"},
                          "drafts": [], "count": "[REDACTED:NUMBER]"});
    let gw = Gateway::start(vec![sanitize(&redacted)]);
    let slack = Slack::new(gw.client());
    let note = Note {
        to: "a".into(),
        text: "b".into(),
    };
    let err = slack
        .send_all("#ops", "t", &[], &note, &mut vec![], 7)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Sanitize { argument, .. } if argument == "count"),
        "{err:?}"
    );
    assert!(slack.ran().is_empty());
}

#[tokio::test]
async fn an_impl_trait_argument_that_changed_fails_closed() {
    let gw = Gateway::start(vec![sanitize(&json!({"line": "[REDACTED:EMAIL]"}))]);
    let slack = Slack::new(gw.client());
    let err = slack.log("jane@example.com").unwrap_err();
    assert!(
        matches!(&err, Error::Sanitize { argument, .. } if argument == "line"),
        "{err:?}"
    );
    assert!(slack.ran().is_empty());
}

#[tokio::test]
async fn deny_returns_blocked_with_codes_and_trace_and_skips_the_body() {
    let gw = Gateway::verdict("DENY");
    let slack = Slack::new(gw.client());
    let err = slack.post("#ops", "hello".into()).await.unwrap_err();
    match &err {
        Error::Blocked {
            tool,
            operation,
            reason_codes,
            trace_id,
        } => {
            assert_eq!(
                (tool.as_str(), operation.as_str()),
                ("slack", "post_message")
            );
            assert_eq!(reason_codes, &["CODE_A", "CODE_B"]);
            assert_eq!(trace_id.as_str(), "tr_deny");
        }
        other => panic!("{other:?}"),
    }
    assert!(slack.ran().is_empty());
}

#[tokio::test]
async fn deny_converts_into_the_functions_error_type() {
    let gw = Gateway::verdict("DENY");
    let slack = Slack::new(gw.client());
    let err = slack.post_blocking("x").unwrap_err();
    let err = err.downcast::<Error>().unwrap();
    assert!(err.is_blocked());
    assert_eq!(err.trace_id().unwrap().as_str(), "tr_deny");
    assert!(slack.ran().is_empty());
}

#[tokio::test]
async fn approval_error_returns_the_approval_id_at_once() {
    let gw = Gateway::verdict("REQUIRE_APPROVAL").approval_status("pending");
    let slack = Slack::new(gw.client());
    let err = slack.post_or_error("drop".into()).await.unwrap_err();
    assert!(matches!(&err, Error::ApprovalRequired { .. }), "{err:?}");
    assert_eq!(err.approval_id().unwrap().as_str(), "ap_1");
    assert_eq!(err.reason_codes(), ["CODE_A", "CODE_B"]);
    assert_eq!(err.trace_id().unwrap().as_str(), "tr_require_approval");
    assert!(slack.ran().is_empty());
    assert_eq!(gw.scans().len(), 1);
}

#[tokio::test]
async fn approval_wait_runs_the_body_after_approval_and_a_new_scan() {
    let gw = Gateway::start(vec![verdict("REQUIRE_APPROVAL"), verdict("ALLOW")]);
    let slack = Slack::new(gw.client());
    assert_eq!(slack.post("#ops", "deploy".into()).await.unwrap(), 6);
    assert_eq!(slack.ran(), ["#ops|deploy"]);
    let scans = gw.scans();
    assert_eq!(scans.len(), 2);
    assert_eq!(scans[0], scans[1]);
}

#[tokio::test]
async fn approval_wait_follows_the_new_verdict() {
    let gw = Gateway::start(vec![verdict("REQUIRE_APPROVAL"), verdict("DENY")]);
    let slack = Slack::new(gw.client());
    let err = slack.post("#ops", "deploy".into()).await.unwrap_err();
    assert!(err.is_blocked(), "{err:?}");
    assert!(slack.ran().is_empty());
}

#[tokio::test]
async fn a_denied_approval_is_the_error_and_the_body_does_not_run() {
    let gw = Gateway::verdict("REQUIRE_APPROVAL").approval_status("denied");
    let slack = Slack::new(gw.client());
    let err = slack.post("#ops", "deploy".into()).await.unwrap_err();
    assert!(matches!(err, Error::ApprovalDenied { .. }), "{err:?}");
    assert!(slack.ran().is_empty());
}

#[test]
fn a_sync_guarded_fn_waits_for_approval_too() {
    let gw = Gateway::start(vec![verdict("REQUIRE_APPROVAL"), verdict("ALLOW")]);
    let slack = Slack::new(gw.client());
    slack.post_blocking("x").unwrap();
    assert_eq!(slack.ran(), ["x"]);
    assert_eq!(gw.scans().len(), 2);
}

#[test]
fn an_unreachable_gateway_fails_closed() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = Client::builder()
        .api_key("k")
        .gateway_url(format!("http://127.0.0.1:{port}"))
        .retry_policy(
            RetryPolicy::default()
                .initial_backoff(Duration::from_millis(1))
                .max_backoff(Duration::from_millis(2)),
        )
        .build()
        .unwrap();
    let slack = Slack::new(client);
    let err = slack.post_blocking("x").unwrap_err();
    assert!(
        err.downcast_ref::<Error>().unwrap().is_unavailable(),
        "{err}"
    );
    assert!(slack.ran().is_empty());
}

#[test]
fn sync_guarded_fns_do_not_panic_inside_tokio_runtimes() {
    let gw = Gateway::verdict("ALLOW");
    let slack = Arc::new(Slack::new(gw.client()));
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    current.block_on(async { slack.post_blocking("current").unwrap() });
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let s = slack.clone();
    multi
        .block_on(async move { tokio::spawn(async move { s.post_blocking("multi") }).await })
        .unwrap()
        .unwrap();
    assert_eq!(slack.ran(), ["current", "multi"]);
}

#[tokio::test]
async fn guarded_async_futures_are_send() {
    let gw = Gateway::verdict("ALLOW");
    let slack = Arc::new(Slack::new(gw.client()));
    let s = slack.clone();
    tokio::spawn(async move { s.post("#a", "b".into()).await })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(slack.ran(), ["#a|b"]);
}

// The embedded engine: no key, no network.

#[interven::guard(tool = "notes", skip(client), client = client)]
fn save_note(client: &Client, text: &str) -> interven::Result<String> {
    Ok(text.to_owned())
}

#[interven::guard(tool = "db", method = "DELETE", skip(client), client = client, approval = "error")]
fn drop_table(client: &Client, table: &str) -> interven::Result<String> {
    Ok(format!("dropped {table}"))
}

#[interven::guard(tool = "db", operation = "drop_table", method = "DELETE", skip(client), client = client)]
async fn drop_table_waiting(client: &Client, table: &str) -> interven::Result<String> {
    Ok(format!("dropped {table}"))
}

fn embedded() -> Client {
    Client::builder()
        .local()
        .approval_timeout(Duration::from_secs(10))
        .approval_poll_interval(Duration::from_millis(10))
        .build()
        .unwrap()
}

#[test]
fn the_embedded_engine_denies_a_secret() {
    // Built at run time, so that secret scanners of this repository do not flag it.
    let key = format!("AKIA{}", "Q3EGRB4VXLTU7MCN");
    let err = save_note(&embedded(), &format!("aws key {key}")).unwrap_err();
    assert!(err.is_blocked(), "{err:?}");
    assert!(
        err.reason_codes().iter().any(|c| c == "SECRET_DETECTED"),
        "{err:?}"
    );
    assert!(!err.trace_id().unwrap().as_str().is_empty());
    assert!(!format!("{err:?} {err}").contains(&key));
}

#[test]
fn the_embedded_engine_sanitizes_an_email_before_the_body_sees_it() {
    let text = save_note(&embedded(), "mail jane.doe@acme.io").unwrap();
    assert!(text.contains("[REDACTED:EMAIL]"), "{text}");
    assert!(!text.contains("jane.doe@acme.io"), "{text}");
}

#[test]
fn the_embedded_engine_requires_approval_for_a_destructive_call() {
    let client = embedded();
    let err = drop_table(&client, "users").unwrap_err();
    let id = err
        .approval_id()
        .cloned()
        .unwrap_or_else(|| panic!("{err:?}"));
    assert!(matches!(err, Error::ApprovalRequired { .. }));
    client.engine().unwrap().approve(&id).unwrap();
    // Approved: the same call now runs.
    assert_eq!(drop_table(&client, "users").unwrap(), "dropped users");
}

#[tokio::test]
async fn the_embedded_engine_approval_wait_runs_the_body_once_approved() {
    let client = embedded();
    let engine = client.engine().unwrap().clone();
    let approver = std::thread::spawn(move || {
        for _ in 0..500 {
            if let Some(pending) = engine.pending_approvals().first() {
                engine.approve(&pending.approval_id).unwrap();
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    });
    assert_eq!(
        drop_table_waiting(&client, "users").await.unwrap(),
        "dropped users"
    );
    assert!(approver.join().unwrap());
}

#[test]
fn the_embedded_engine_allows_plain_text() {
    let client = Client::local_default();
    assert_eq!(
        save_note(&client, "deploy finished").unwrap(),
        "deploy finished"
    );
}
