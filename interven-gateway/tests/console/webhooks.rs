//! Notifications against a real HTTP receiver on 127.0.0.1: payload,
//! signature, retry, Slack's shape, and a webhook that never answers.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use interven::Decision;
use interven_gateway::Config;
use interven_gateway::console::ConsoleConfig;
use interven_gateway::notify::{NotifyConfig, NotifyFormat};
use serde_json::Value;
use sha2::Sha256;

use super::{Console, destructive};

#[derive(Default)]
struct Received {
    /// Every request: its headers and body.
    calls: Vec<(HeaderMap, Bytes)>,
}

#[derive(Clone)]
struct Receiver {
    seen: Arc<Mutex<Received>>,
    /// Answer `failure` to this many requests first.
    fail_first: usize,
    failure: StatusCode,
    /// Never answer (holds each request open).
    hang: bool,
}

async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let n = {
        let mut seen = r.seen.lock().unwrap();
        seen.calls.push((headers, body));
        seen.calls.len()
    };
    if r.hang {
        std::future::pending::<()>().await;
    }
    if n <= r.fail_first {
        r.failure
    } else {
        StatusCode::OK
    }
}

/// Starts a receiver; its `/hook` URL and what it saw.
async fn receiver(fail_first: usize, hang: bool) -> (String, Arc<Mutex<Received>>) {
    receiver_failing_with(fail_first, StatusCode::SERVICE_UNAVAILABLE, hang).await
}

async fn receiver_failing_with(
    fail_first: usize,
    failure: StatusCode,
    hang: bool,
) -> (String, Arc<Mutex<Received>>) {
    let seen = Arc::new(Mutex::new(Received::default()));
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(Receiver {
            seen: seen.clone(),
            fail_first,
            failure,
            hang,
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), seen)
}

fn gateway(hook: &str, format: NotifyFormat, secret: Option<&str>) -> Console {
    gateway_to(&[hook], format, secret)
}

fn gateway_to(hooks: &[&str], format: NotifyFormat, secret: Option<&str>) -> Console {
    Console::start(Config {
        console: ConsoleConfig {
            public_url: Some("https://gw.example.com".to_owned()),
            notify: NotifyConfig {
                webhooks: hooks.iter().map(|h| (*h).to_owned()).collect(),
                format,
                secret: secret.map(Into::into),
                first_backoff: Duration::from_millis(50),
                poll_every: Duration::from_millis(50),
                retry_for: Duration::from_secs(20),
                ..NotifyConfig::default()
            },
            ..ConsoleConfig::default()
        },
        ..Config::default()
    })
}

async fn wait_for_calls(seen: &Mutex<Received>, n: usize) -> Vec<(HeaderMap, Bytes)> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let calls = seen.lock().unwrap().calls.clone();
        if calls.len() >= n {
            return calls;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} deliveries arrived",
            calls.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn hmac_hex(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_approval_is_posted_signed_and_retried_until_delivered() {
    let (hook, seen) = receiver(2, false).await;
    let gw = gateway(&hook, NotifyFormat::Json, Some("webhook-secret"));
    let agent = gw.client(&gw.agent);
    let v = agent.scan(&destructive("payments")).await.unwrap();
    assert_eq!(v.decision, Decision::RequireApproval);
    let id = v.approval_id.unwrap();

    // Two 503s, then delivered: three attempts of the same delivery.
    let calls = wait_for_calls(&seen, 3).await;
    let (first_headers, first_body) = &calls[0];
    for (headers, body) in &calls {
        assert_eq!(body, first_body, "retries send the same body");
        assert_eq!(
            headers["x-interven-delivery"],
            first_headers["x-interven-delivery"]
        );
        assert_eq!(headers["x-interven-event"], "approval.pending");
        assert_eq!(headers["content-type"], "application/json");
        let expected = format!("sha256={}", hmac_hex(b"webhook-secret", body));
        assert_eq!(headers["x-interven-signature"].to_str().unwrap(), expected);
        assert_ne!(
            headers["x-interven-signature"].to_str().unwrap(),
            format!("sha256={}", hmac_hex(b"another-secret", body))
        );
    }
    let p: Value = serde_json::from_slice(first_body).unwrap();
    assert_eq!(p["event"], "approval.pending");
    assert_eq!(p["approval_id"], id.as_str());
    assert_eq!(p["tenant"], "acme");
    assert_eq!(p["tool"], "github");
    assert_eq!(p["operation"], "delete_repo");
    assert_eq!(p["method"], "DELETE");
    assert_eq!(p["url"], "https://api.github.com/repos/acme/payments");
    assert_eq!(p["agent"], "release-bot");
    assert_eq!(p["trace_id"], v.trace_id.as_str());
    assert_eq!(
        p["reason_codes"],
        serde_json::to_value(&v.reason_codes).unwrap()
    );
    assert_eq!(p["risk_band"], v.risk_band.as_str());
    assert!(p["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        p["console_url"],
        format!("https://gw.example.com/console/approvals/{id}")
    );
    assert!(p.get("body").is_none(), "never a body: {p}");

    // The same request while pending, and time passing: notified once.
    agent.scan(&destructive("payments")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(seen.lock().unwrap().calls.len(), 3);
    // A new approval is a new notification.
    agent.scan(&destructive("ledger")).await.unwrap();
    let calls = wait_for_calls(&seen, 4).await;
    let p: Value = serde_json::from_slice(&calls[3].1).unwrap();
    assert_eq!(p["url"], "https://api.github.com/repos/acme/ledger");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_messages_carry_the_facts_and_a_link() {
    let (hook, seen) = receiver(0, false).await;
    let gw = gateway(&hook, NotifyFormat::Slack, None);
    let v = gw
        .client(&gw.agent)
        .scan(&destructive("infra"))
        .await
        .unwrap();
    let id = v.approval_id.unwrap();
    let calls = wait_for_calls(&seen, 1).await;
    let (headers, body) = &calls[0];
    assert!(
        headers.get("x-interven-signature").is_none(),
        "unsigned without a secret"
    );
    let m: Value = serde_json::from_slice(body).unwrap();
    let text = m["text"].as_str().unwrap();
    for fact in [id.as_str(), "github", "DELETE", "release-bot"] {
        assert!(text.contains(fact), "{fact} not in {text}");
    }
    let blocks = m["blocks"].to_string();
    for fact in [
        "delete_repo",
        v.reason_codes[0].as_str(),
        v.risk_band.as_str(),
    ] {
        assert!(blocks.contains(fact), "{fact} not in {blocks}");
    }
    assert!(blocks.contains(&format!("https://gw.example.com/console/approvals/{id}")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_never_answers_does_not_hold_scans() {
    let (hook, seen) = receiver(0, true).await;
    let gw = gateway(&hook, NotifyFormat::Json, None);
    let agent = gw.client(&gw.agent);
    // Every scan is answered while earlier notifications hang unanswered.
    for i in 0..5 {
        let v = agent
            .scan(&destructive(&format!("repo-{i}")))
            .await
            .unwrap();
        assert_eq!(v.decision, Decision::RequireApproval);
        if i == 0 {
            wait_for_calls(&seen, 1).await;
        }
    }
    let calls = wait_for_calls(&seen, 5).await;
    assert_eq!(
        calls.len(),
        5,
        "each pending approval delivered once, concurrently"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_and_unreachable_webhooks_are_not_fatal() {
    let (good, good_seen) = receiver(0, false).await;
    // A 404 is final: not retried.
    let (gone, gone_seen) = receiver_failing_with(usize::MAX, StatusCode::NOT_FOUND, false).await;
    // Nothing listens there: retried, then given up, never fatal.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hook", l.local_addr().unwrap())
    };
    let gw = gateway_to(&[&dead, &gone, &good], NotifyFormat::Json, None);
    let agent = gw.client(&gw.agent);
    let v = agent.scan(&destructive("ops")).await.unwrap();
    assert_eq!(v.decision, Decision::RequireApproval);
    let calls = wait_for_calls(&good_seen, 1).await;
    let p: Value = serde_json::from_slice(&calls[0].1).unwrap();
    assert_eq!(p["approval_id"], v.approval_id.as_ref().unwrap().as_str());
    wait_for_calls(&gone_seen, 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        gone_seen.lock().unwrap().calls.len(),
        1,
        "a 404 is not retried"
    );
    // The gateway goes on serving, and notifying.
    let next = agent.scan(&destructive("ops-2")).await.unwrap();
    assert_eq!(next.decision, Decision::RequireApproval);
    wait_for_calls(&good_seen, 2).await;
    assert_eq!(good_seen.lock().unwrap().calls.len(), 2);
}
