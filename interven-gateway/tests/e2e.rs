//! End to end: the Rust client and plain HTTP against a gateway on 127.0.0.1,
//! the CLI, and durability across a hard kill.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use interven::engine::Engine;
use interven::{ApprovalId, ApprovalStatus, Client, Decision, Error, ScanRequest, TraceId};
use interven_gateway::{AppState, Config, Store, auth};
use serde_json::{Value, json};

/// The console and the notifications (tests/console/).
mod console;
#[path = "e2e/hardening.rs"]
mod hardening;

const BIN: &str = env!("CARGO_BIN_EXE_interven-gateway");

/// Policy v2 through the binary: `policy test|check|digest`, shared cases over HTTP, reload.
mod policy;

fn temp_db(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "interven-gw-{name}-{}-{:x}.db",
        std::process::id(),
        fastrand::u64(..)
    ))
}

/// Serves `state` on an ephemeral port of 127.0.0.1 from a runtime of its
/// own thread, until the returned sender is dropped.
fn serve_in_thread(
    state: std::sync::Arc<AppState>,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            interven_gateway::serve(listener, state, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
    });
    (rx.recv().unwrap(), stop)
}

struct Gateway {
    addr: SocketAddr,
    db: PathBuf,
    agent: String,
    admin: String,
    other_admin: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Gateway {
    fn start(config: Config) -> Gateway {
        let db = temp_db("e2e");
        let store = Store::open(&db).unwrap();
        let agent = auth::create_key(&store, "agent", "acme", false).unwrap();
        let admin = auth::create_key(&store, "admin", "acme", true).unwrap();
        let other_admin = auth::create_key(&store, "other", "globex", true).unwrap();
        let state = AppState::new(Engine::default(), store, config);
        let (addr, stop) = serve_in_thread(state);
        Gateway {
            addr,
            db,
            agent,
            admin,
            other_admin,
            _stop: stop,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn client(&self, key: &str) -> Client {
        Client::builder()
            .api_key(key)
            .gateway_url(self.url())
            .approval_poll_interval(Duration::from_millis(25))
            .build()
            .unwrap()
    }

    async fn post(
        &self,
        key: Option<&str>,
        path: &str,
        body: &Value,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut r = reqwest::Client::new()
            .post(format!("{}{path}", self.url()))
            .json(body);
        if let Some(key) = key {
            r = r.bearer_auth(key);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, resp.json().await.unwrap_or(Value::Null), headers)
    }

    async fn get(&self, key: &str, path: &str) -> (u16, Value) {
        let resp = reqwest::Client::new()
            .get(format!("{}{path}", self.url()))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        (
            resp.status().as_u16(),
            resp.json().await.unwrap_or(Value::Null),
        )
    }
}

fn aws_key() -> String {
    format!("AKIA{}", "Q3EGRB4VXLTU7MCN")
}

fn req(method: &str, url: &str, body: Value) -> ScanRequest {
    ScanRequest::builder(method, url)
        .json_body(body)
        .tool("e2e")
        .agent_id("agent-1")
        .build()
        .unwrap()
}

#[tokio::test]
async fn four_decisions_through_the_rust_client() {
    let gw = Gateway::start(Config::default());
    let client = gw.client(&gw.agent);
    client.health().await.unwrap();
    let v = client
        .scan(&req(
            "POST",
            "https://slack.com/api/chat.postMessage",
            json!({"text": "deploy done"}),
        ))
        .await
        .unwrap();
    assert_eq!(v.decision, Decision::Allow);
    let v = client
        .scan(&req(
            "POST",
            "https://slack.com/api/chat.postMessage",
            json!({"text": aws_key()}),
        ))
        .await
        .unwrap();
    assert_eq!(v.decision, Decision::Deny);
    assert_eq!(v.reason_codes, ["SECRET_DETECTED"]);
    let v = client
        .scan(&req(
            "POST",
            "https://slack.com/api/chat.postMessage",
            json!({"text": "mail jane.roe@acme.io"}),
        ))
        .await
        .unwrap();
    assert_eq!(v.decision, Decision::Sanitize);
    assert_eq!(
        v.sanitized_body,
        Some(json!({"text": "mail [REDACTED:EMAIL]"}))
    );
    let v = client
        .scan(&req(
            "DELETE",
            "https://api.github.com/repos/acme/api",
            json!({}),
        ))
        .await
        .unwrap();
    assert_eq!(v.decision, Decision::RequireApproval);
    assert!(v.approval_id.is_some());
    // The trace is readable by the tenant's admin.
    let (status, trace) = gw
        .get(&gw.admin, &format!("/v1/traces/{}", v.trace_id))
        .await;
    assert_eq!(status, 200);
    assert_eq!(trace["decision"], "REQUIRE_APPROVAL");
}

#[tokio::test]
async fn response_scans_are_recorded_and_feed_the_exfiltration_chain() {
    let gw = Gateway::start(Config::default());
    let client = gw.client(&gw.agent);
    let read = client
        .scan(&req("GET", "https://crm.acme.io/customers/7", json!({})))
        .await
        .unwrap();
    let scan = client
        .scan_response(
            &read.trace_id,
            &json!({"email": "vip.client@bigcorp.io"}),
            Some(200),
        )
        .await
        .unwrap();
    assert_eq!(scan.data_classes, ["EMAIL"]);
    assert_eq!(scan.fields_redacted_count, 1);
    // Scanned from its text on the gateway: the answer of a value walk.
    let body = json!({"z": [1.5, -3, "caf\u{e9}"], "a": {"to": "ops@bigcorp.io", "n": null}});
    let other = client
        .scan(&req("GET", "https://crm.acme.io/customers/8", json!({})))
        .await
        .unwrap();
    let remote = client
        .scan_response(&other.trace_id, &body, None)
        .await
        .unwrap();
    let local = Engine::default().remember_response("s", &body, None);
    assert_eq!(remote.content_fingerprint, local.content_fingerprint);
    assert_eq!(remote.data_classes, local.data_classes);
    let send = client
        .scan(&req(
            "POST",
            "https://paste.acme.io/new",
            json!({"note": "vip.client@bigcorp.io"}),
        ))
        .await
        .unwrap();
    assert_eq!(send.decision, Decision::Deny);
    assert!(
        send.has_reason("EXFILTRATION_CHAIN"),
        "{:?}",
        send.reason_codes
    );
    let (_, trace) = gw
        .get(&gw.admin, &format!("/v1/traces/{}", read.trace_id))
        .await;
    assert_eq!(trace["response"]["data_classes"], json!(["EMAIL"]));
    let err = client
        .scan_response(&TraceId::new("tr_unknown"), &json!({}), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Gateway { status: 404, .. }), "{err:?}");
}

#[tokio::test]
async fn approval_flow_approve_deny_and_expiry() {
    let gw = Gateway::start(Config::default());
    let client = gw.client(&gw.agent);
    let delete = req("DELETE", "https://api.github.com/repos/acme/old", json!({}));
    let v = client.scan(&delete).await.unwrap();
    let id = v.approval_id.unwrap();
    // The same request while pending gets the same approval.
    assert_eq!(
        client.scan(&delete).await.unwrap().approval_id.as_ref(),
        Some(&id)
    );
    let (status, list) = gw.get(&gw.admin, "/v1/approvals?status=pending").await;
    assert_eq!(status, 200);
    assert_eq!(list["approvals"][0]["approval_id"], json!(id.as_str()));

    let waiter = {
        let client = client.clone();
        let id = id.clone();
        tokio::spawn(async move {
            client
                .wait_for_approval(&id, Duration::from_secs(5), Duration::from_millis(25))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, body, _) = gw
        .post(
            Some(&gw.admin),
            &format!("/v1/approvals/{id}/approve"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        waiter.await.unwrap().unwrap().status,
        ApprovalStatus::Approved
    );
    let again = client.scan(&delete).await.unwrap();
    assert_eq!(again.decision, Decision::Allow);
    assert!(again.has_reason("APPROVED"));
    assert_eq!(
        client.approval_status(&id).await.unwrap().status,
        ApprovalStatus::Executed
    );
    let (status, _, _) = gw
        .post(
            Some(&gw.admin),
            &format!("/v1/approvals/{id}/deny"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 409, "decided approvals stay decided");
    // A changed request needs its own approval.
    let changed = client
        .scan(&req(
            "DELETE",
            "https://api.github.com/repos/acme/other",
            json!({}),
        ))
        .await
        .unwrap();
    assert_eq!(changed.decision, Decision::RequireApproval);

    let deny_id = changed.approval_id.unwrap();
    gw.post(
        Some(&gw.admin),
        &format!("/v1/approvals/{deny_id}/deny"),
        &json!({}),
    )
    .await;
    let err = client
        .wait_for_approval(&deny_id, Duration::from_secs(2), Duration::from_millis(25))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ApprovalDenied { .. }), "{err:?}");

    let short = Gateway::start(Config {
        approval_ttl: Duration::from_secs(1),
        ..Config::default()
    });
    let client = short.client(&short.agent);
    let v = client.scan(&delete).await.unwrap();
    let started = Instant::now();
    let err = client
        .wait_for_approval(
            &v.approval_id.unwrap(),
            Duration::from_secs(5),
            Duration::from_millis(50),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ApprovalExpired { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn authentication_roles_and_tenants() {
    let gw = Gateway::start(Config::default());
    let scan = json!({"method": "POST", "url": "https://x.io", "body": {}});
    assert_eq!(gw.post(None, "/v1/scan", &scan).await.0, 401);
    let (status, body, _) = gw.post(Some("ivk_not_a_key"), "/v1/scan", &scan).await;
    assert_eq!(status, 401);
    assert!(
        body["error"].as_str().unwrap().contains("invalid"),
        "{body}"
    );
    let err = gw
        .client("ivk_not_a_key")
        .scan(&req("POST", "https://x.io", json!({})))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Authentication), "{err:?}");

    let store = Store::open(&gw.db).unwrap();
    let doomed = auth::create_key(&store, "doomed", "acme", false).unwrap();
    assert_eq!(gw.post(Some(&doomed), "/v1/scan", &scan).await.0, 200);
    // Revoked from another connection (as `keys revoke` does from another
    // process): the server stops accepting the key once its cached lookup expires.
    assert!(store.revoke_key("doomed").unwrap());
    tokio::time::sleep(auth::KEY_CACHE_TTL + Duration::from_millis(100)).await;
    assert_eq!(gw.post(Some(&doomed), "/v1/scan", &scan).await.0, 401);
    // A key that was never valid is refused at once, and a new one works at once.
    let fresh = auth::create_key(&store, "fresh", "acme", false).unwrap();
    assert_eq!(gw.post(Some(&fresh), "/v1/scan", &scan).await.0, 200);

    // Agent keys scan; only admin keys approve, deny, list and read traces.
    let v = gw
        .client(&gw.agent)
        .scan(&req(
            "DELETE",
            "https://api.github.com/repos/a/b",
            json!({}),
        ))
        .await
        .unwrap();
    let id = v.approval_id.unwrap();
    assert_eq!(
        gw.post(
            Some(&gw.agent),
            &format!("/v1/approvals/{id}/approve"),
            &json!({})
        )
        .await
        .0,
        403
    );
    assert_eq!(
        gw.get(&gw.agent, "/v1/approvals?status=pending").await.0,
        403
    );
    assert_eq!(
        gw.get(&gw.agent, &format!("/v1/traces/{}", v.trace_id))
            .await
            .0,
        403
    );

    // Another tenant sees nothing: 404, not 403.
    assert_eq!(
        gw.get(&gw.other_admin, &format!("/v1/traces/{}", v.trace_id))
            .await
            .0,
        404
    );
    assert_eq!(
        gw.get(&gw.other_admin, &format!("/v1/approvals/{id}/status"))
            .await
            .0,
        404
    );
    assert_eq!(
        gw.post(
            Some(&gw.other_admin),
            &format!("/v1/approvals/{id}/approve"),
            &json!({})
        )
        .await
        .0,
        404
    );
    let (_, list) = gw
        .get(&gw.other_admin, "/v1/approvals?status=pending")
        .await;
    assert_eq!(list["approvals"], json!([]));
}

#[tokio::test]
async fn limits_size_rate_and_depth() {
    let gw = Gateway::start(Config {
        body_limit: 1024,
        rate_per_second: 1.0,
        burst: 3.0,
        ..Config::default()
    });
    let big = json!({"method": "POST", "url": "https://x.io", "body": {"blob": "x".repeat(4096)}});
    let (status, body, headers) = gw.post(Some(&gw.agent), "/v1/scan", &big).await;
    assert_eq!(status, 413);
    assert!(body["error"].is_string(), "errors are JSON: {body}");
    // The body was not read whole: the connection is not to be reused.
    assert_eq!(headers["connection"], "close");
    let err = gw
        .client(&gw.agent)
        .scan(&req(
            "POST",
            "https://x.io",
            json!({"blob": "x".repeat(4096)}),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PayloadTooLarge), "{err:?}");

    let mut deep = json!("x");
    for _ in 0..100 {
        deep = json!([deep]);
    }
    let (status, body, _) = gw
        .post(
            Some(&gw.admin),
            "/v1/scan",
            &json!({"method": "POST", "url": "https://x.io", "body": deep}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("deeper"), "{body}");

    let small = json!({"method": "POST", "url": "https://x.io", "body": {}});
    let mut limited = None;
    for _ in 0..6 {
        let (status, body, headers) = gw.post(Some(&gw.other_admin), "/v1/scan", &small).await;
        if status == 429 {
            limited = Some((body, headers));
            break;
        }
    }
    let (body, headers) = limited.expect("the burst of 3 must run out");
    assert!(body["error"].is_string());
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    assert_eq!(
        gw.post(Some(&gw.agent), "/v1/scan", &json!({"method": "POST"}))
            .await
            .0,
        400,
        "a missing url is a bad request"
    );
    assert_eq!(gw.get(&gw.agent, "/nope").await.0, 404);
}

#[tokio::test]
async fn secrets_never_reach_the_database() {
    let gw = Gateway::start(Config::default());
    let client = gw.client(&gw.agent);
    let email = "very.private.person@acme.io";
    let v = client
        .scan(&req(
            "POST",
            "https://x.io/notes",
            json!({"token": aws_key(), "to": email}),
        ))
        .await
        .unwrap();
    assert_eq!(v.decision, Decision::Deny);
    client
        .scan(&req("POST", "https://x.io/notes", json!({"to": email})))
        .await
        .unwrap();
    client
        .scan_response(&v.trace_id, &json!({"leak": aws_key()}), None)
        .await
        .unwrap();
    // A clean body is stored as it came (not parsed), and read back whole.
    let clean =
        json!({"text": "caf\u{e9} \"quoted\"", "n": [1, -2, 2.5e-3], "z": {"b": null, "a": true}});
    let (status, v, _) = gw
        .post(
            Some(&gw.agent),
            "/v1/scan",
            &json!({"method": "POST", "url": "https://x.io/notes", "tool": "e2e", "body": clean}),
        )
        .await;
    assert_eq!(
        (status, v["decision"].as_str()),
        (200, Some("ALLOW")),
        "{v}"
    );
    let (_, trace) = gw
        .get(
            &gw.admin,
            &format!("/v1/traces/{}", v["trace_id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(trace["body"], clean, "{trace}");
    let mut bytes = Vec::new();
    for suffix in ["", "-wal"] {
        let path = PathBuf::from(format!("{}{suffix}", gw.db.display()));
        bytes.extend(std::fs::read(&path).unwrap_or_default());
    }
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains("[REDACTED:EMAIL]"),
        "the redacted body is stored"
    );
    for secret in [
        aws_key().as_str(),
        email,
        gw.agent.as_str(),
        gw.admin.as_str(),
    ] {
        assert!(
            !text.contains(secret),
            "{secret} found in the database file"
        );
    }
}

#[tokio::test]
async fn privacy_mode_gets_the_same_decisions() {
    let gw = Gateway::start(Config::default());
    let plain = gw.client(&gw.agent);
    let private = Client::builder()
        .api_key(&gw.agent)
        .gateway_url(gw.url())
        .privacy_mode(true)
        .build()
        .unwrap();
    let cases = [
        req(
            "POST",
            "https://slack.com/api/chat.postMessage",
            json!({"text": "all good"}),
        ),
        req(
            "POST",
            "https://slack.com/api/chat.postMessage",
            json!({"text": format!("key {}", aws_key())}),
        ),
        req(
            "POST",
            "https://slack.com/api/chat.postMessage",
            json!({"text": "call +1 415 555 0132 or mail a.b@acme.io"}),
        ),
        req(
            "POST",
            "https://api.stripe.com/v1/charges",
            json!({"card": "4539 1488 0343 6467", "amount": 100}),
        ),
        req(
            "POST",
            "https://x.io/users",
            json!({"ssn": "123-45-6789", "dob": "1990-04-12"}),
        ),
        req(
            "POST",
            "https://x.io/login",
            json!({"user": "bob", "password": "Tr0ub4dor&3x"}),
        ),
        req("POST", "https://webhook.site/abc", json!({"data": "hello"})),
        req("DELETE", "https://api.github.com/repos/acme/api", json!({})),
        req(
            "POST",
            "https://x.io/?api_key=q8Vz3kLmP2wXr7TnB4cD",
            json!({}),
        ),
    ];
    for case in &cases {
        let a = plain.scan(case).await.unwrap();
        let b = private.scan(case).await.unwrap();
        assert_eq!(a.decision, b.decision, "{case:?}");
        assert_eq!(a.reason_codes, b.reason_codes, "{case:?}");
    }
    // What the gateway stored for the private client carries no raw value.
    let bytes = std::fs::read(&gw.db).unwrap_or_default();
    assert!(!String::from_utf8_lossy(&bytes).contains("4539 1488 0343 6467"));
}

fn cli(args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

/// The lines `scan` wrote, each a verdict or an error, after it succeeded.
fn scan_output(out: std::process::Output) -> Vec<Value> {
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn cli_keys_scan_and_errors() {
    let db = temp_db("cli");
    let dbs = db.to_str().unwrap();
    let out = cli(
        &[
            "keys", "create", "--db", dbs, "--name", "ci", "--tenant", "acme", "--admin",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "the key alone: {stdout:?}");
    assert!(stdout.trim().starts_with("ivk_") && stdout.trim().len() == 68);
    let list = String::from_utf8(cli(&["keys", "list", "--db", dbs], None).stdout).unwrap();
    assert!(list.contains("ci") && list.contains("admin") && !list.contains(stdout.trim()));
    assert!(
        cli(&["keys", "revoke", "ci", "--db", dbs], None)
            .status
            .success()
    );
    assert!(
        !cli(&["keys", "revoke", "nobody", "--db", dbs], None)
            .status
            .success()
    );

    let input = format!(
        "{}\nnot json\n{}\n\n{}\n",
        json!({"method": "post", "url": "https://x.io", "body": {"text": "hi"}}),
        json!({"method": "POST", "url": "https://x.io", "body": {"key": aws_key()}, "tool": "t"}),
        json!({"method": "POST", "url": "https://x.io", "body": {"to": "a.b@acme.io"}, "operation": "send"}),
    );
    let lines = scan_output(cli(&["scan"], Some(&input)));
    assert_eq!(lines.len(), 4, "one line out per request line");
    assert_eq!(lines[0]["decision"], "ALLOW");
    assert!(lines[1]["error"].as_str().unwrap().starts_with("line 2"));
    assert_eq!(lines[2]["decision"], "DENY");
    assert_eq!(lines[3]["decision"], "SANITIZE");

    // A file on stdin is mapped, not read: the same verdicts, with or
    // without a final line feed, and from stdin's own offset on.
    let verdicts = |out: std::process::Output| -> Vec<(Value, Value)> {
        scan_output(out)
            .into_iter()
            .map(|v| (v["decision"].clone(), v["error"].clone()))
            .collect()
    };
    let piped = verdicts(cli(&["scan"], Some(&input)));
    let file = temp_db("scan-input").with_extension("jsonl");
    let from_file = |text: &str, skip: u64| {
        use std::io::{Seek, SeekFrom};
        std::fs::write(&file, text).unwrap();
        let mut stdin = std::fs::File::open(&file).unwrap();
        stdin.seek(SeekFrom::Start(skip)).unwrap();
        let out = Command::new(BIN).arg("scan").stdin(stdin).output().unwrap();
        verdicts(out)
    };
    assert_eq!(from_file(&input, 0), piped);
    assert_eq!(from_file(input.trim_end(), 0), piped);
    let first = input.find('\n').unwrap() as u64 + 1;
    assert_eq!(
        from_file(&input, first),
        verdicts(cli(&["scan"], Some(&input[first as usize..])))
    );
    assert_eq!(from_file(&input, input.len() as u64), Vec::new());
    let _ = std::fs::remove_file(&file);

    let out = cli(&["serve", "--bnid", "x"], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--bnid"));
    let bad_policy = temp_db("policy").with_extension("toml");
    std::fs::write(
        &bad_policy,
        "[[rules]]\nname = \"x\"\ndecision = \"SOMETIMES\"\nreason = \"R\"\n",
    )
    .unwrap();
    let out = cli(
        &["scan", "--policy", bad_policy.to_str().unwrap()],
        Some(""),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3"), "{err}");
    let out = cli(&["traces", "verify", "--db", "/nonexistent/x.db"], None);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("does not exist")
    );
}

#[test]
fn cli_scans_a_big_request_whatever_the_order_of_its_members() {
    // Over a megabyte: the scan command reads a trailing body only once.
    let records: Vec<Value> = (0..24_000)
        .map(|i| match i {
            9000 => json!({"i": i, "msg": "ops-lead@acme-corp.net asked for a refund"}),
            17_000 => json!({"i": i, "msg": format!("rotated {}", aws_key())}),
            _ => json!({"i": i, "msg": "GET /api/v2/orders -> 200 in 12 ms"}),
        })
        .collect();
    let body = serde_json::to_string(&json!({"records": records})).unwrap();
    assert!(body.len() > 1 << 20);
    let deep = format!(
        r#"{{"pad": "{}", "x": {}1{}}}"#,
        "p".repeat(1 << 20),
        "[".repeat(200),
        "]".repeat(200)
    );
    let head = r#""method": "POST", "url": "https://logs.acme.io/q", "tool": "logs""#;
    let lines = [
        // Body last (cut), body first, body before a member (cut wrongly,
        // then read whole), and the same for a body too deep to read.
        format!("{{{head}, \"body\": {body}}}"),
        format!("{{\"body\": {body}, {head}}}"),
        format!("{{{head}, \"body\": {body}, \"headers\": {{\"x-a\": \"b\"}}}}"),
        format!(
            "{{\"method\": \"POST\", \"url\": \"https://x.io\", \"body\": {deep}, \"tool\": \"t\"}}"
        ),
        format!(
            "{{\"method\": \"POST\", \"url\": \"https://x.io\", \"tool\": \"t\", \"body\": {deep}}}"
        ),
        // A trailing body that is not JSON is an error, as it is whole.
        format!("{{{head}, \"body\": {}}}", &body[..body.len() - 1]),
    ];
    let verdicts = scan_output(cli(&["scan"], Some(&(lines.join("\n") + "\n"))));
    assert_eq!(verdicts.len(), lines.len());
    let what = |v: &Value| {
        (
            v["decision"].clone(),
            v["reason_codes"].clone(),
            v["sanitized_body"].clone(),
        )
    };
    assert_eq!(verdicts[0]["decision"], "DENY", "{}", verdicts[0]);
    assert_eq!(what(&verdicts[0]), what(&verdicts[1]));
    assert_eq!(what(&verdicts[0]), what(&verdicts[2]));
    assert_eq!(verdicts[3]["reason_codes"], json!(["BODY_TOO_DEEP"]));
    assert_eq!(what(&verdicts[3]), what(&verdicts[4]));
    assert!(verdicts[5]["error"].as_str().unwrap().starts_with("line 6"));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the binary. Its log is piped only when `log` (then read it: a full
/// pipe would stall the server).
fn spawn_server(db: &str, port: u16, log: bool) -> std::process::Child {
    Command::new(BIN)
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--db",
            db,
            "--rate-limit",
            "0",
        ])
        .stdout(Stdio::null())
        .stderr(if log { Stdio::piped() } else { Stdio::null() })
        .spawn()
        .unwrap()
}

async fn wait_healthy(port: u16) {
    let url = format!("http://127.0.0.1:{port}/health");
    for _ in 0..200 {
        if reqwest::get(&url)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the gateway did not start");
}

/// SIGKILL during a burst: every scan that got a 200 has its trace after a
/// restart, pending approvals are still pending, the chain verifies, and the
/// server's log holds no secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durability_across_a_hard_kill() {
    let db = temp_db("durable");
    let dbs = db.to_str().unwrap().to_owned();
    let key =
        String::from_utf8(cli(&["keys", "create", "--db", &dbs, "--name", "agent"], None).stdout)
            .unwrap()
            .trim()
            .to_owned();
    let port = free_port();
    let mut server = spawn_server(&dbs, port, true);
    wait_healthy(port).await;
    let client = Client::builder()
        .api_key(&key)
        .gateway_url(format!("http://127.0.0.1:{port}"))
        .retry_policy(interven::RetryPolicy::none())
        .build()
        .unwrap();
    let pending = client
        .scan(&req(
            "DELETE",
            "https://api.github.com/repos/acme/keep",
            json!({}),
        ))
        .await
        .unwrap();
    let pending_id = pending.approval_id.clone().unwrap();

    let mut tasks = Vec::new();
    for i in 0..400 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            client
                .scan(&req(
                    "POST",
                    "https://x.io/n",
                    json!({"n": i, "secret": format!("AKIA{}", "Q3EGRB4VXLTU7MCN")}),
                ))
                .await
        }));
    }
    tokio::time::sleep(Duration::from_millis(60)).await;
    server.kill().unwrap(); // SIGKILL
    let _ = server.wait();
    let mut log = String::new();
    if let Some(mut stderr) = server.stderr.take() {
        use std::io::Read;
        let _ = stderr.read_to_string(&mut log);
    }
    let mut acknowledged: Vec<TraceId> = Vec::new();
    for t in tasks {
        if let Ok(Ok(v)) = t.await {
            acknowledged.push(v.trace_id);
        }
    }
    assert!(
        !log.contains("Q3EGRB4VXLTU7MCN") && !log.contains(&key),
        "secrets in the log"
    );

    let mut server = spawn_server(&dbs, port, false);
    wait_healthy(port).await;
    let store = Store::open(&db).unwrap();
    for id in &acknowledged {
        assert!(
            store.trace_tenant(id.as_str()).unwrap().is_some(),
            "trace {id} was acknowledged but lost"
        );
    }
    let status = client
        .approval_status(&ApprovalId::new(pending_id.as_str()))
        .await
        .unwrap();
    assert_eq!(status.status, ApprovalStatus::Pending);
    // The chains go on across hard kills: more scans than the writer's
    // interval between saves of the chain heads, a kill, a restart, and more.
    for round in 0..2 {
        for i in 0..(if round == 0 { 150 } else { 5 }) {
            client
                .scan(&req(
                    "POST",
                    "https://x.io/after",
                    json!({"round": round, "i": i}),
                ))
                .await
                .unwrap_or_else(|e| panic!("round {round}, scan {i}: {e:?}"));
        }
        server.kill().unwrap();
        let _ = server.wait();
        server = spawn_server(&dbs, port, false);
        wait_healthy(port).await;
    }
    server.kill().unwrap();
    let _ = server.wait();
    println!(
        "{} of 400 scans acknowledged before the kill; all durable",
        acknowledged.len()
    );
    let out = cli(&["traces", "verify", "--db", &dbs], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test]
async fn trace_chain_detects_edits() {
    let gw = Gateway::start(Config::default());
    let client = gw.client(&gw.agent);
    let mut ids = Vec::new();
    for text in ["one", "two", "three"] {
        ids.push(
            client
                .scan(&req("POST", "https://x.io", json!({"text": text})))
                .await
                .unwrap()
                .trace_id,
        );
    }
    let dbs = gw.db.to_str().unwrap();
    let out = cli(&["traces", "show", ids[1].as_str(), "--db", dbs], None);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"two\""));
    assert!(
        cli(&["traces", "verify", "--db", dbs], None)
            .status
            .success()
    );
    let conn = rusqlite::Connection::open(&gw.db).unwrap();
    conn.execute(
        "UPDATE traces SET row = replace(row, '\"two\"', '\"TWO\"') WHERE trace_id = ?1",
        [ids[1].as_str()],
    )
    .unwrap();
    drop(conn);
    let out = cli(&["traces", "verify", "--db", dbs], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(ids[1].as_str()));
}

/// SIGTERM: the server stops accepting, finishes what it has, and exits cleanly.
#[tokio::test]
async fn sigterm_shuts_down_gracefully() {
    let db = temp_db("term");
    let dbs = db.to_str().unwrap().to_owned();
    let key = String::from_utf8(cli(&["keys", "create", "--db", &dbs, "--name", "a"], None).stdout)
        .unwrap()
        .trim()
        .to_owned();
    let port = free_port();
    let mut server = spawn_server(&dbs, port, true);
    wait_healthy(port).await;
    let client = Client::builder()
        .api_key(&key)
        .gateway_url(format!("http://127.0.0.1:{port}"))
        .build()
        .unwrap();
    let v = client
        .scan(&req("POST", "https://x.io", json!({"text": "hello"})))
        .await
        .unwrap();
    assert!(v.is_allowed());
    let status = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = server.try_wait().unwrap() {
            break exit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the gateway did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exit.success(), "{exit:?}");
    let mut log = String::new();
    use std::io::Read;
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("stopped"), "{log}");
    // Not a terminal: plain text, no colour codes.
    assert!(!log.contains('\x1b'), "{log:?}");
    assert!(
        log.contains("request_id"),
        "requests are logged with their id: {log}"
    );
    assert!(!log.contains(&key));
}
