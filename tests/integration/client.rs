//! The gateway client against a real HTTP server on 127.0.0.1.
//!
//! `TestGateway` answers as the gateway would, from a script of replies, and
//! records every request it received. It runs on a runtime of its own, on
//! its own thread, so blocking calls made from any test runtime can reach it.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use interven::{
    ApprovalId, ApprovalStatus, Client, Decision, Error, FailureMode, RetryPolicy, RiskBand,
    ScanRequest, TraceId,
};
use serde_json::{Value, json};

/// One reply of the test gateway.
#[derive(Clone)]
enum Reply {
    Json(u16, Value),
    Raw(u16, &'static str),
    WithHeader(&'static str, String, Box<Reply>),
    Slow(Duration, Box<Reply>),
}

impl Reply {
    fn ok(body: Value) -> Reply {
        Reply::Json(200, body)
    }

    fn verdict(decision: &str) -> Reply {
        let mut v = json!({"decision": decision, "trace_id": "tr_1", "risk_score": 0.1, "risk_band": "LOW", "reason_codes": []});
        match decision {
            "SANITIZE" => v["sanitized_body"] = json!({"text": "[REDACTED:EMAIL]"}),
            "REQUIRE_APPROVAL" => v["approval_id"] = json!("ap_1"),
            _ => {}
        }
        Reply::ok(v)
    }

    fn approval(status: &str) -> Reply {
        Reply::ok(json!({"approval_id": "ap_1", "status": status, "remaining_seconds": 30}))
    }
}

#[derive(Debug, Clone)]
struct Received {
    peer: SocketAddr,
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Option<Value>,
}

#[derive(Default)]
struct Script {
    replies: VecDeque<Reply>,
    fallback: Option<Reply>,
    received: Vec<Received>,
}

struct TestGateway {
    addr: SocketAddr,
    script: Arc<Mutex<Script>>,
}

impl TestGateway {
    /// A gateway that answers `replies` in order, then `fallback` forever.
    fn start(replies: Vec<Reply>, fallback: Option<Reply>) -> TestGateway {
        let script = Arc::new(Mutex::new(Script {
            replies: replies.into(),
            fallback,
            received: Vec::new(),
        }));
        let state = script.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let app = axum::Router::new().fallback(
                    move |ConnectInfo(peer): ConnectInfo<SocketAddr>,
                          method: Method,
                          uri: Uri,
                          headers: HeaderMap,
                          body: Bytes| {
                        let state = state.clone();
                        async move { answer(&state, peer, method, uri, headers, body).await }
                    },
                );
                let app = app.into_make_service_with_connect_info::<SocketAddr>();
                axum::serve(listener, app).await.unwrap();
            });
        });
        TestGateway {
            addr: rx.recv().unwrap(),
            script,
        }
    }

    fn always(reply: Reply) -> TestGateway {
        TestGateway::start(Vec::new(), Some(reply))
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn received(&self) -> Vec<Received> {
        self.script.lock().unwrap().received.clone()
    }

    /// A client for this gateway with fast retries.
    fn client(&self) -> interven::ClientBuilder {
        Client::builder()
            .api_key("test-key")
            .gateway_url(self.url())
            .retry_policy(fast_retries())
            .timeout(Duration::from_secs(5))
    }
}

async fn answer(
    state: &Mutex<Script>,
    peer: SocketAddr,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let reply = {
        let mut s = state.lock().unwrap();
        s.received.push(Received {
            peer,
            method,
            path: uri.path().to_owned(),
            headers,
            body: serde_json::from_slice(&body).ok(),
        });
        s.replies.pop_front().or_else(|| s.fallback.clone())
    };
    let Some(mut reply) = reply else {
        return (StatusCode::NOT_FOUND, "no reply scripted").into_response();
    };
    let mut extra = Vec::new();
    loop {
        match reply {
            Reply::Slow(d, inner) => {
                tokio::time::sleep(d).await;
                reply = *inner;
            }
            Reply::WithHeader(name, value, inner) => {
                extra.push((name, value));
                reply = *inner;
            }
            Reply::Json(status, body) => {
                let mut r =
                    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
                for (n, v) in extra {
                    r.headers_mut().insert(n, v.parse().unwrap());
                }
                return r;
            }
            Reply::Raw(status, text) => {
                return (StatusCode::from_u16(status).unwrap(), text).into_response();
            }
        }
    }
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy::default()
        .initial_backoff(Duration::from_millis(5))
        .max_backoff(Duration::from_millis(20))
}

fn request() -> ScanRequest {
    ScanRequest::builder("post", "https://slack.com/api/chat.postMessage")
        .body(&json!({"channel": "#ops", "text": "hello"}))
        .tool("slack")
        .operation("post_message")
        .build()
        .unwrap()
}

#[tokio::test]
async fn scan_sends_the_exact_wire_request() {
    let gw = TestGateway::always(Reply::verdict("ALLOW"));
    let client = gw
        .client()
        .agent_id("agent-7")
        .agent_name("Ops bot")
        .build()
        .unwrap();
    let no_body = ScanRequest::builder("delete", "https://api.github.com/repos/o/r")
        .tool("github")
        .build()
        .unwrap();
    client.scan(&no_body).await.unwrap();

    let got = gw.received();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.method, Method::POST);
    assert_eq!(r.path, "/v1/scan");
    assert_eq!(r.headers["authorization"], "Bearer test-key");
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(
        r.body.as_ref().unwrap(),
        &json!({
            "method": "DELETE",
            "url": "https://api.github.com/repos/o/r",
            "body": {},
            "agent_id": "agent-7",
            "agent_name": "Ops bot",
            "runtime_type": "rust",
            "tool": "github",
        })
    );
}

#[tokio::test]
async fn each_decision_is_parsed() {
    for (wire, decision) in [
        ("ALLOW", Decision::Allow),
        ("DENY", Decision::Deny),
        ("SANITIZE", Decision::Sanitize),
        ("REQUIRE_APPROVAL", Decision::RequireApproval),
    ] {
        let gw = TestGateway::always(Reply::verdict(wire));
        let v = gw.client().build().unwrap().scan(&request()).await.unwrap();
        assert_eq!(v.decision, decision);
        assert_eq!(v.trace_id, TraceId::new("tr_1"));
        assert_eq!(v.risk_band, RiskBand::Low);
        match decision {
            Decision::Sanitize => {
                assert_eq!(v.sanitized_body, Some(json!({"text": "[REDACTED:EMAIL]"})))
            }
            Decision::RequireApproval => assert_eq!(v.approval_id, Some(ApprovalId::new("ap_1"))),
            _ => {}
        }
    }
}

#[tokio::test]
async fn clones_share_one_connection_pool() {
    let gw = TestGateway::always(Reply::verdict("ALLOW"));
    let client = gw.client().build().unwrap();
    let clone = client.clone();
    for c in [&client, &clone, &client, &clone] {
        c.scan(&request()).await.unwrap();
    }
    let peers: std::collections::HashSet<_> = gw.received().iter().map(|r| r.peer).collect();
    assert_eq!(
        peers.len(),
        1,
        "sequential calls through clones reuse one connection: {peers:?}"
    );
}

#[tokio::test]
async fn unknown_fields_are_kept() {
    let gw = TestGateway::always(Reply::ok(
        json!({"decision": "ALLOW", "trace_id": "t", "policy": {"v": 3}}),
    ));
    let v = gw.client().build().unwrap().scan(&request()).await.unwrap();
    assert_eq!(v.extra["policy"], json!({"v": 3}));
}

#[tokio::test]
async fn unauthorized_is_an_authentication_error_and_not_retried() {
    let gw = TestGateway::always(Reply::Json(401, json!({"error": "invalid api key"})));
    let err = gw
        .client()
        .build()
        .unwrap()
        .scan(&request())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Authentication), "{err:?}");
    assert_eq!(gw.received().len(), 1);
}

#[tokio::test]
async fn payload_too_large_is_not_retried() {
    let gw = TestGateway::always(Reply::Json(413, json!({"error": "body too large"})));
    let err = gw
        .client()
        .build()
        .unwrap()
        .scan(&request())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PayloadTooLarge), "{err:?}");
    assert_eq!(gw.received().len(), 1);
}

#[tokio::test]
async fn other_client_errors_carry_the_gateway_message_and_are_not_retried() {
    let gw = TestGateway::always(Reply::Json(422, json!({"error": "method is required"})));
    let err = gw
        .client()
        .build()
        .unwrap()
        .scan(&request())
        .await
        .unwrap_err();
    match err {
        Error::Gateway { status, message } => {
            assert_eq!(status, 422);
            assert_eq!(message, "method is required");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(gw.received().len(), 1);
}

fn rate_limited(retry_after: &str) -> Reply {
    Reply::WithHeader(
        "retry-after",
        retry_after.to_owned(),
        Box::new(Reply::Json(429, json!({"error": "slow down"}))),
    )
}

#[tokio::test]
async fn rate_limit_waits_retry_after_then_succeeds() {
    let gw = TestGateway::start(vec![rate_limited("1")], Some(Reply::verdict("ALLOW")));
    let started = Instant::now();
    let v = gw.client().build().unwrap().scan(&request()).await.unwrap();
    assert!(v.is_allowed());
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "did not wait: {:?}",
        started.elapsed()
    );
    assert_eq!(gw.received().len(), 2);
}

#[tokio::test]
async fn rate_limit_that_persists_is_rate_limited_with_the_delay() {
    let gw = TestGateway::always(rate_limited("0"));
    let err = gw
        .client()
        .build()
        .unwrap()
        .scan(&request())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::RateLimited { retry_after: Some(d) } if d.is_zero()),
        "{err:?}"
    );
    assert_eq!(gw.received().len(), 3, "default policy makes 3 attempts");
}

#[tokio::test]
async fn rate_limit_beyond_the_cap_is_returned_at_once() {
    let gw = TestGateway::always(rate_limited("120"));
    let started = Instant::now();
    let err = gw
        .client()
        .build()
        .unwrap()
        .scan(&request())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(120)),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(gw.received().len(), 1);
}

#[tokio::test]
async fn server_error_then_success_is_retried() {
    let gw = TestGateway::start(
        vec![Reply::Json(500, json!({"error": "boom"}))],
        Some(Reply::verdict("DENY")),
    );
    let v = gw.client().build().unwrap().scan(&request()).await.unwrap();
    assert!(v.is_denied());
    assert_eq!(gw.received().len(), 2);
}

#[tokio::test]
async fn server_error_forever_gives_up_after_the_attempts() {
    let gw = TestGateway::always(Reply::Json(503, json!({"error": "overloaded"})));
    let client = gw
        .client()
        .retry_policy(fast_retries().max_attempts(4))
        .build()
        .unwrap();
    let err = client.scan(&request()).await.unwrap_err();
    assert!(
        matches!(&err, Error::Gateway { status: 503, message } if message == "overloaded"),
        "{err:?}"
    );
    assert!(err.is_unavailable());
    assert_eq!(gw.received().len(), 4);
}

#[tokio::test]
async fn malformed_json_is_an_error_and_never_retried() {
    let gw = TestGateway::always(Reply::Raw(200, "{\"decision\": \"ALLOW\", "));
    let err = gw
        .client()
        .build()
        .unwrap()
        .scan(&request())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Gateway { status: 200, message } if message.contains("malformed")),
        "{err:?}"
    );
    assert_eq!(gw.received().len(), 1);
}

#[tokio::test]
async fn unknown_decision_is_an_error_never_an_allow() {
    let gw = TestGateway::always(Reply::ok(
        json!({"decision": "PROBABLY_FINE", "trace_id": "t"}),
    ));
    let err = gw
        .client()
        .build()
        .unwrap()
        .scan(&request())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown decision"), "{err}");
    // An unknown decision is not "unavailable": even a fail-open client refuses it.
    let open = gw.client().failure_mode(FailureMode::Open).build().unwrap();
    assert!(open.scan(&request()).await.is_err());
}

#[tokio::test]
async fn slow_server_past_the_timeout_is_a_timeout() {
    let gw = TestGateway::always(Reply::Slow(
        Duration::from_secs(3),
        Box::new(Reply::verdict("ALLOW")),
    ));
    let client = gw
        .client()
        .timeout(Duration::from_millis(200))
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let started = Instant::now();
    let err = client.scan(&request()).await.unwrap_err();
    assert!(
        matches!(err, Error::Timeout { timeout } if timeout == Duration::from_millis(200)),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn the_deadline_bounds_all_retries() {
    let gw = TestGateway::always(Reply::Slow(
        Duration::from_secs(3),
        Box::new(Reply::verdict("ALLOW")),
    ));
    let client = gw
        .client()
        .timeout(Duration::from_secs(2))
        .deadline(Duration::from_millis(300))
        .retry_policy(fast_retries().max_attempts(10))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = client.scan(&request()).await.unwrap_err();
    assert!(
        matches!(err, Error::Timeout { timeout } if timeout == Duration::from_millis(300)),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn nothing_listening_is_a_transport_error_after_retries() {
    let client = Client::builder()
        .api_key("k")
        .gateway_url(format!("http://127.0.0.1:{}", closed_port()))
        .retry_policy(fast_retries())
        .build()
        .unwrap();
    let err = client.scan(&request()).await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert!(err.is_unavailable());
    assert!(client.health().await.is_err());
}

#[tokio::test]
async fn fail_open_proceeds_degraded_only_when_unavailable() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let open = Client::builder()
        .api_key("k")
        .gateway_url(&url)
        .retry_policy(RetryPolicy::none())
        .failure_mode(FailureMode::Open)
        .build()
        .unwrap();
    let v = open.scan(&request()).await.unwrap();
    assert!(v.is_allowed() && v.is_degraded());
    assert!(v.has_reason("GATEWAY_UNAVAILABLE_FAIL_OPEN"));

    // Per tool: closed by default, open for "slack" only.
    let per_tool = Client::builder()
        .api_key("k")
        .gateway_url(&url)
        .retry_policy(RetryPolicy::none())
        .tool_failure_mode("slack", FailureMode::Open)
        .build()
        .unwrap();
    assert!(per_tool.scan(&request()).await.unwrap().is_degraded());
    let other = ScanRequest::builder("POST", "https://x.io")
        .tool("github")
        .build()
        .unwrap();
    assert!(per_tool.scan(&other).await.unwrap_err().is_unavailable());

    // A rejected key is not "unavailable": fail-open does not apply.
    let gw = TestGateway::always(Reply::Json(401, json!({"error": "nope"})));
    let open = gw.client().failure_mode(FailureMode::Open).build().unwrap();
    assert!(matches!(
        open.scan(&request()).await,
        Err(Error::Authentication)
    ));
}

#[tokio::test]
async fn fallback_uses_the_embedded_engine_when_unavailable() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let client = Client::builder()
        .api_key("k")
        .gateway_url(&url)
        .retry_policy(RetryPolicy::none())
        .failure_mode(FailureMode::FallbackLocal)
        .build()
        .unwrap();
    let v = client.scan(&request()).await.unwrap();
    assert!(v.is_degraded());
    assert!(v.has_reason("GATEWAY_UNAVAILABLE_LOCAL_FALLBACK"));
}

#[tokio::test]
async fn scan_response_sends_the_wire_request() {
    let gw = TestGateway::always(Reply::ok(json!({
        "data_classes": ["EMAIL"], "fields_redacted_count": 2, "content_fingerprint": "sha256:ab"
    })));
    let client = gw.client().build().unwrap();
    let scan = client
        .scan_response(&TraceId::new("tr_9"), &json!({"users": []}), Some(200))
        .await
        .unwrap();
    assert_eq!(scan.data_classes, ["EMAIL"]);
    assert_eq!(scan.fields_redacted_count, 2);
    let got = gw.received();
    assert_eq!(got[0].path, "/v1/scan/response");
    assert_eq!(
        got[0].body,
        Some(json!({"trace_id": "tr_9", "response_body": {"users": []}, "response_status": 200}))
    );
}

#[tokio::test]
async fn health_checks_the_health_endpoint() {
    let gw = TestGateway::always(Reply::ok(json!({"status": "ok"})));
    gw.client().build().unwrap().health().await.unwrap();
    assert_eq!(gw.received()[0].path, "/health");
    assert_eq!(gw.received()[0].method, Method::GET);
}

async fn wait(
    replies: Vec<Reply>,
    fallback: Reply,
    timeout: Duration,
) -> (interven::Result<interven::Approval>, TestGateway) {
    let gw = TestGateway::start(replies, Some(fallback));
    let client = gw.client().build().unwrap();
    let result = client
        .wait_for_approval(&ApprovalId::new("ap_1"), timeout, Duration::from_millis(20))
        .await;
    (result, gw)
}

#[tokio::test]
async fn approval_polling_until_approved() {
    let (result, gw) = wait(
        vec![Reply::approval("pending"), Reply::approval("pending")],
        Reply::approval("approved"),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(result.unwrap().status, ApprovalStatus::Approved);
    let got = gw.received();
    assert_eq!(got.len(), 3);
    assert!(
        got.iter()
            .all(|r| r.method == Method::GET && r.path == "/v1/approvals/ap_1/status")
    );
}

#[tokio::test]
async fn approval_polling_until_denied_or_expired() {
    let (result, _) = wait(
        vec![Reply::approval("pending")],
        Reply::approval("denied"),
        Duration::from_secs(5),
    )
    .await;
    assert!(
        matches!(result, Err(Error::ApprovalDenied { approval_id }) if approval_id.as_str() == "ap_1")
    );
    let (result, _) = wait(vec![], Reply::approval("expired"), Duration::from_secs(5)).await;
    assert!(matches!(result, Err(Error::ApprovalExpired { .. })));
}

#[tokio::test]
async fn approval_polling_times_out() {
    let started = Instant::now();
    let (result, gw) = wait(
        vec![],
        Reply::approval("pending"),
        Duration::from_millis(200),
    )
    .await;
    assert!(
        matches!(result, Err(Error::ApprovalTimeout { waited, .. }) if waited >= Duration::from_millis(200))
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        gw.received().len() >= 3,
        "polled {} times",
        gw.received().len()
    );
}

#[test]
fn blocking_client_on_a_plain_thread() {
    let gw = TestGateway::always(Reply::verdict("DENY"));
    let client = gw.client().build().unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let client = client.clone();
            std::thread::spawn(move || client.scan_blocking(&request()).unwrap().decision)
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), Decision::Deny);
    }
    assert_eq!(gw.received().len(), 4);
    client.health_blocking().unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn blocking_client_inside_a_current_thread_runtime() {
    let gw = TestGateway::start(
        vec![Reply::verdict("SANITIZE")],
        Some(Reply::approval("approved")),
    );
    let client = gw.client().build().unwrap();
    assert!(client.scan_blocking(&request()).unwrap().is_sanitized());
    let approval = client
        .wait_for_approval_blocking(
            &ApprovalId::new("ap_1"),
            Duration::from_secs(2),
            Duration::from_millis(10),
        )
        .unwrap();
    assert_eq!(approval.status, ApprovalStatus::Approved);
    // The runtime still works afterwards.
    tokio::task::yield_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_client_inside_a_multi_thread_runtime_and_spawn_blocking() {
    let gw = TestGateway::always(Reply::verdict("ALLOW"));
    let client = gw.client().build().unwrap();
    assert!(client.scan_blocking(&request()).unwrap().is_allowed());
    let c = client.clone();
    let v = tokio::task::spawn_blocking(move || c.scan_blocking(&request()))
        .await
        .unwrap()
        .unwrap();
    assert!(v.is_allowed());
    let c = client.clone();
    let v = tokio::spawn(async move { c.scan_blocking(&request()) })
        .await
        .unwrap()
        .unwrap();
    assert!(v.is_allowed());
    let status = client.approval_status_blocking(&ApprovalId::new("x"));
    assert!(status.is_err(), "a verdict is not an approval status");
}

#[test]
fn debug_never_shows_the_api_key() {
    let client = Client::builder()
        .api_key("sk-very-secret-key")
        .gateway_url("http://127.0.0.1:1")
        .build()
        .unwrap();
    let dbg = format!("{client:?}");
    assert!(!dbg.contains("sk-very-secret-key"), "{dbg}");
    assert!(dbg.contains("[REDACTED]"), "{dbg}");
    let builder = Client::builder().api_key("sk-very-secret-key");
    assert!(!format!("{builder:?}").contains("sk-very-secret-key"));
}

#[test]
fn invalid_settings_are_config_errors() {
    for url in [
        "not a url",
        "ftp://example.com",
        "https://user:pw@example.com",
    ] {
        let err = Client::builder()
            .api_key("k")
            .gateway_url(url)
            .build()
            .unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{url}: {err:?}");
    }
    let err = Client::builder()
        .api_key("k")
        .timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Config { .. }));
}

/// Spans carry the trace id, the decision and the latency, never body content.
#[test]
fn scan_spans_carry_trace_and_decision_but_no_body() {
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_ansi(false)
        .finish();
    let gw = TestGateway::always(Reply::ok(
        json!({"decision": "DENY", "trace_id": "tr_span", "reason_codes": ["SECRET_DETECTED"]}),
    ));
    let client = gw.client().build().unwrap();
    let secret = ScanRequest::builder("POST", "https://x.io/?key=qs-secret")
        .body(&json!({"token": "body-secret-value"}))
        .tool("slack")
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(client.scan(&secret)).unwrap();
    });
    let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(out.contains("interven.scan"), "{out}");
    assert!(
        out.contains("trace_id=\"tr_span\"") || out.contains("trace_id=tr_span"),
        "{out}"
    );
    assert!(
        out.contains("decision=\"DENY\"") || out.contains("decision=DENY"),
        "{out}"
    );
    assert!(out.contains("latency_ms"), "{out}");
    assert!(
        !out.contains("body-secret-value") && !out.contains("qs-secret"),
        "{out}"
    );
}

/// `Client::from_env` reads the process environment; the child-process trick
/// keeps the variables out of the other tests of this binary.
#[test]
fn from_env_reads_the_environment() {
    if std::env::var_os("INTERVEN_TEST_FROM_ENV_CHILD").is_some() {
        return from_env_child();
    }
    let gw = TestGateway::always(Reply::verdict("ALLOW"));
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "client::from_env_reads_the_environment",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("INTERVEN_TEST_FROM_ENV_CHILD", "1")
        .env("INTERVEN_API_KEY", "env-key")
        .env("INTERVEN_GATEWAY_URL", gw.url())
        .env("INTERVEN_AGENT_ID", "env-agent")
        .env("INTERVEN_AGENT_NAME", "Env Agent")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let got = gw.received();
    assert_eq!(got.len(), 1, "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(got[0].headers["authorization"], "Bearer env-key");
    let body = got[0].body.as_ref().unwrap();
    assert_eq!(body["agent_id"], "env-agent");
    assert_eq!(body["agent_name"], "Env Agent");
}

fn from_env_child() {
    let client = Client::from_env().unwrap();
    assert!(client.is_remote());
    assert!(client.scan_blocking(&request()).unwrap().is_allowed());
    // The global client is the same configuration.
    assert!(Client::global().is_remote());
}

#[test]
fn no_api_key_means_the_embedded_engine() {
    let client = Client::builder().build().unwrap();
    assert!(!client.is_remote());
    assert!(client.engine().is_some());
    let v = client.scan_blocking(&request()).unwrap();
    assert!(!v.trace_id.as_str().is_empty());
}

#[tokio::test]
async fn local_mode_approvals_can_be_waited_on() {
    use interven::engine::Engine;
    let engine = Arc::new(
        Engine::builder()
            .approval_ttl(Duration::from_millis(300))
            .build()
            .unwrap(),
    );
    let client = Client::with_engine(engine.clone());
    let delete = ScanRequest::builder("DELETE", "https://api.github.com/repos/acme/old")
        .tool("github")
        .build()
        .unwrap();

    // Approved by other code while the client waits; the same request then passes once.
    let v = client.scan(&delete).await.unwrap();
    let id = v.approval_id.clone().unwrap();
    let approver = engine.clone();
    let approve_id = id.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        approver.approve(&approve_id).unwrap();
    });
    let approval = client
        .wait_for_approval(&id, Duration::from_secs(2), Duration::from_millis(10))
        .await
        .unwrap();
    assert_eq!(approval.status, ApprovalStatus::Approved);
    assert!(client.scan(&delete).await.unwrap().is_allowed());
    assert!(
        client.scan(&delete).await.unwrap().requires_approval(),
        "an approval runs once"
    );

    // Denied.
    let other = ScanRequest::builder("DELETE", "https://api.github.com/repos/acme/older")
        .tool("github")
        .build()
        .unwrap();
    let id = client.scan(&other).await.unwrap().approval_id.unwrap();
    engine.deny(&id).unwrap();
    let err = client
        .wait_for_approval(&id, Duration::from_secs(2), Duration::from_millis(10))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ApprovalDenied { .. }), "{err:?}");

    // Expired: nobody decides within the TTL.
    let third = ScanRequest::builder("DELETE", "https://api.github.com/repos/acme/oldest")
        .tool("github")
        .build()
        .unwrap();
    let id = client.scan(&third).await.unwrap().approval_id.unwrap();
    let err = client
        .wait_for_approval(&id, Duration::from_secs(2), Duration::from_millis(20))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ApprovalExpired { .. }), "{err:?}");
}
