//! The hardening review's probes (issue 15), each against a real gateway on
//! 127.0.0.1: what is stored, approvals, denial of service, operations.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use interven::engine::Engine;
use interven::{Decision, ScanRequest};
use interven_gateway::{Config, Store, auth};
use serde_json::{Value, json};

use super::{BIN, Gateway, aws_key, cli, free_port, req, temp_db, wait_healthy};

fn db_files(db: &std::path::Path) -> Vec<PathBuf> {
    ["", "-wal", "-shm"]
        .iter()
        .map(|s| PathBuf::from(format!("{}{s}", db.display())))
        .collect()
}

fn create_key(db: &str, name: &str, admin: bool) -> String {
    let mut args = vec!["keys", "create", "--db", db, "--name", name];
    if admin {
        args.push("--admin");
    }
    String::from_utf8(cli(&args, None).stdout)
        .unwrap()
        .trim()
        .to_owned()
}

async fn send(
    url: &str,
    key: &str,
    path: &str,
    body: &Value,
    method: reqwest::Method,
) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .request(method, format!("{url}{path}"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

/// Items 1, 2, 5, 7: secrets and personal data in the path, query, headers,
/// tool, operation, agent id and name and body are scanned, and none of
/// them reaches the database, its WAL or SHM, the server's log, a stored
/// trace or an approval; the files are the owner's only whatever the umask.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_stored_shown_or_logged_anywhere() {
    let db = temp_db("nosecret");
    let dbs = db.to_str().unwrap().to_owned();
    // Created under a permissive umask: the files must still be 0600.
    let out = Command::new("sh")
        .args([
            "-c",
            &format!("umask 000; exec {BIN} keys create --db {dbs} --name agent"),
        ])
        .output()
        .unwrap();
    let agent = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let admin = create_key(&dbs, "boss", true);
    let port = free_port();
    let mut server = Command::new("sh")
        .args([
            "-c",
            &format!(
                "umask 000; exec {BIN} serve --bind 127.0.0.1:{port} --db {dbs} --rate-limit 0"
            ),
        ])
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_healthy(port).await;
    let url = format!("http://127.0.0.1:{port}");
    let secrets = [
        "path.person@acme.io",
        "query.person@acme.io",
        "header.person@acme.io",
        "tool.person@acme.io",
        "op.person@acme.io",
        "agent.person@acme.io",
        "name.person@acme.io",
        "body.person@acme.io",
    ];
    let aws = aws_key();
    let opaque = "opaque-credential-zq8x7w6v5u";
    let wire = |method: &str, with_secret_in_path: bool| {
        json!({
            "method": method,
            "url": if with_secret_in_path {
                format!("https://api.x.io/keys/{aws}/info/{}?q={}", secrets[0], secrets[1])
            } else {
                format!("https://api.x.io/u/{}?q={}", secrets[0], secrets[1])
            },
            "headers": {"X-Note": secrets[2], "Authorization": format!("Bearer {opaque}"), "X-Aws": aws},
            "tool": secrets[3],
            "operation": secrets[4],
            "agent_id": secrets[5],
            "agent_name": secrets[6],
            "body": {"to": secrets[7], "key": aws},
        })
    };
    let post = reqwest::Method::POST;
    let mut traces = Vec::new();
    // A secret in the path: DENY. Personal data only: SANITIZE. A DELETE: an approval.
    for (method, in_path, expected) in [("GET", true, "DENY"), ("DELETE", false, "DENY")] {
        let (status, v) = send(
            &url,
            &agent,
            "/v1/scan",
            &wire(method, in_path),
            post.clone(),
        )
        .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["decision"], expected, "{v}");
        traces.push(v["trace_id"].as_str().unwrap().to_owned());
    }
    let pii_only = |method: &str| {
        let mut w = wire(method, false);
        w["headers"] = json!({"X-Note": secrets[2]});
        w["body"] = json!({"to": secrets[7]});
        w
    };
    let (_, v) = send(&url, &agent, "/v1/scan", &pii_only("POST"), post.clone()).await;
    assert_eq!(v["decision"], "SANITIZE", "{v}");
    traces.push(v["trace_id"].as_str().unwrap().to_owned());
    let (_, v) = send(&url, &agent, "/v1/scan", &pii_only("DELETE"), post.clone()).await;
    assert_eq!(v["decision"], "REQUIRE_APPROVAL", "{v}");
    traces.push(v["trace_id"].as_str().unwrap().to_owned());
    let approval = v["approval_id"].as_str().unwrap().to_owned();
    let (status, _) = send(
        &url,
        &agent,
        "/v1/scan/response",
        &json!({"trace_id": traces[0], "response_body": {"leak": aws}}),
        post.clone(),
    )
    .await;
    assert_eq!(status, 200);

    // What the API shows.
    let mut shown = String::new();
    for t in &traces {
        let (status, v) = send(
            &url,
            &admin,
            &format!("/v1/traces/{t}"),
            &json!({}),
            reqwest::Method::GET,
        )
        .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["key_name"], "agent", "traces name the key: {v}");
        shown.push_str(&v.to_string());
    }
    let (_, list) = send(
        &url,
        &admin,
        "/v1/approvals?status=pending",
        &json!({}),
        reqwest::Method::GET,
    )
    .await;
    let listed = &list["approvals"][0];
    assert_eq!(listed["approval_id"], approval.as_str());
    // The approver sees what the call is, redacted.
    assert_eq!(listed["method"], "DELETE", "{listed}");
    assert_eq!(listed["tool"], "[REDACTED:EMAIL]", "{listed}");
    assert_eq!(listed["operation"], "[REDACTED:EMAIL]", "{listed}");
    assert_eq!(listed["agent_id"], "[REDACTED:EMAIL]", "{listed}");
    assert_eq!(
        listed["url"], "https://api.x.io/u/[REDACTED:EMAIL]",
        "{listed}"
    );
    assert_eq!(
        listed["body"],
        json!({"to": "[REDACTED:EMAIL]"}),
        "{listed}"
    );
    assert!(
        listed["reason_codes"].as_array().unwrap().len() >= 2,
        "{listed}"
    );
    assert!(listed["risk_score"].as_f64().unwrap() > 0.0, "{listed}");
    shown.push_str(&list.to_string());
    let (_, status) = send(
        &url,
        &agent,
        &format!("/v1/approvals/{approval}/status"),
        &json!({}),
        reqwest::Method::GET,
    )
    .await;
    assert_eq!(status["method"], "DELETE");
    shown.push_str(&status.to_string());

    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    let _ = server.wait();
    let mut log = String::new();
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();

    let mut stored = Vec::new();
    for file in db_files(&db) {
        if let Ok(meta) = std::fs::metadata(&file) {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                meta.permissions().mode() & 0o777,
                0o600,
                "{} is not private",
                file.display()
            );
            stored.extend(std::fs::read(&file).unwrap());
        }
    }
    let stored = String::from_utf8_lossy(&stored);
    assert!(stored.contains("[REDACTED:EMAIL]"));
    for secret in secrets
        .iter()
        .copied()
        .chain([aws.as_str(), opaque, &agent, &admin])
    {
        assert!(!stored.contains(secret), "{secret} in the database files");
        assert!(!log.contains(secret), "{secret} in the log");
        assert!(!shown.contains(secret), "{secret} shown by the API");
    }
    let _ = std::fs::remove_file(&db);
}

/// Item 3: personal data in the URL or a header is redacted there too; the
/// verdict says what to send instead, and the embedded engine agrees.
#[tokio::test]
async fn sanitize_covers_the_url_and_headers() {
    let gw = Gateway::start(Config::default());
    let request = ScanRequest::builder(
        "POST",
        "https://api.x.io/u/jane.doe@acme.io?cc=bob.roe@acme.io",
    )
    .header("X-Reply-To", "jane.doe@acme.io")
    .header("X-Plain", "hello")
    .json_body(json!({"text": "hi"}))
    .build()
    .unwrap();
    let v = gw.client(&gw.agent).scan(&request).await.unwrap();
    assert_eq!(v.decision, Decision::Sanitize);
    assert_eq!(
        v.sanitized_url(),
        Some("https://api.x.io/u/[REDACTED:EMAIL]?cc=[REDACTED:EMAIL]")
    );
    let headers = v.sanitized_headers().unwrap();
    assert_eq!(headers["X-Reply-To"], "[REDACTED:EMAIL]");
    assert_eq!(headers["X-Plain"], "hello");
    let local = Engine::default().scan(&request);
    assert_eq!(local.sanitized_url(), v.sanitized_url());
    assert_eq!(local.sanitized_headers(), v.sanitized_headers());
    // Found after percent-decoding, the value is mapped back to the bytes that
    // were sent and replaced there: the encoded form is redacted in place.
    let encoded = ScanRequest::builder("POST", "https://api.x.io/u/jane.doe%40acme.io")
        .build()
        .unwrap();
    let v = gw.client(&gw.agent).scan(&encoded).await.unwrap();
    assert_eq!(v.decision, Decision::Sanitize, "{v:?}");
    assert_eq!(
        v.sanitized_url(),
        Some("https://api.x.io/u/[REDACTED:EMAIL]")
    );
    assert_eq!(
        Engine::default().scan(&encoded).sanitized_url(),
        v.sanitized_url()
    );
}

/// Items 4, 19, 20: error messages never echo a value; duplicate keys
/// anywhere are refused; the bearer scheme is case-insensitive, and two
/// Authorization headers are refused.
#[tokio::test]
async fn malformed_requests_are_refused_without_echo() {
    let gw = Gateway::start(Config::default());
    let secret = aws_key();
    let raw = |body: String, auth: Vec<String>| {
        let url = gw.url();
        async move {
            let mut r = reqwest::Client::new()
                .post(format!("{url}/v1/scan"))
                .header("content-type", "application/json")
                .body(body);
            for a in auth {
                r = r.header("authorization", a);
            }
            let resp = r.send().await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    let bearer = vec![format!("Bearer {}", gw.agent)];
    for body in [
        format!(r#"{{"method": "POST", "url": "https://x.io", "headers": "{secret}"}}"#),
        format!(r#"{{"method": "POST", "url": "https://x.io", "headers": {{"a": ["{secret}"]}}}}"#),
        format!(r#"{{"method": "POST", "url": "https://x.io", "tool": {{"{secret}": 1}}}}"#),
        format!(r#"{{"method": "POST", "url": "https://x.io", "body": {{"a": "{secret}}}"#),
        format!(
            r#"{{"method": "POST", "url": "https://x.io", "body": {{"{secret}": 1, "{secret}": 2}}}}"#
        ),
    ] {
        let (status, text) = raw(body, bearer.clone()).await;
        assert_eq!(status, 400, "{text}");
        assert!(
            !text.contains(&secret),
            "the error echoes the value: {text}"
        );
        assert!(!text.contains("Q3EGRB4V"), "{text}");
    }
    // Duplicates, at the top and deep in the body.
    for body in [
        r#"{"method": "GET", "url": "https://ok.io", "url": "https://evil.io"}"#,
        r#"{"method": "POST", "url": "https://x.io", "body": {"a": [{"to": "x", "to": "y"}]}}"#,
    ] {
        let (status, text) = raw(body.to_owned(), bearer.clone()).await;
        assert_eq!(status, 400, "{text}");
        assert!(text.contains("duplicate object key"), "{text}");
    }
    let ok = r#"{"method": "POST", "url": "https://x.io", "body": {}}"#.to_owned();
    for scheme in ["bearer", "BEARER", "BeArEr"] {
        let (status, text) = raw(ok.clone(), vec![format!("{scheme} {}", gw.agent)]).await;
        assert_eq!(status, 200, "{scheme}: {text}");
    }
    let (status, text) = raw(
        ok.clone(),
        vec![
            format!("Bearer {}", gw.agent),
            format!("Bearer {}", gw.admin),
        ],
    )
    .await;
    assert_eq!(status, 400, "{text}");
    let (status, _) = raw(ok, vec![format!("Basic {}", gw.agent)]).await;
    assert_eq!(status, 401);
}

/// Items 6, 7, 8: an approval is bound to headers, agent and key; the
/// approved call gets what it would have without the approval rule; who
/// decided is recorded, the ALLOW trace names the approval, and edits of
/// approvals or responses fail `traces verify`.
#[tokio::test]
async fn approvals_are_bound_recorded_and_chained() {
    let gw = Gateway::start(Config::default());
    let client = gw.client(&gw.agent);
    let delete = |headers: &[(&str, &str)], agent: &str, body: Value| {
        let mut b = ScanRequest::builder("DELETE", "https://api.github.com/repos/acme/old")
            .json_body(body)
            .tool("github")
            .agent_id(agent);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.build().unwrap()
    };
    let original = delete(
        &[("X-Trace", "1")],
        "agent-1",
        json!({"note": "jane.doe@acme.io"}),
    );
    let v = client.scan(&original).await.unwrap();
    let id = v.approval_id.clone().unwrap();
    let (status, body, _) = gw
        .post(
            Some(&gw.admin),
            &format!("/v1/approvals/{id}/approve"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["decided_by"], "admin", "{body}");
    // Changed in what could change its effect: a new approval each time.
    let store = Store::open(&gw.db).unwrap();
    let other_key = auth::create_key(&store, "agent-2-key", "acme", false).unwrap();
    for (changed, key) in [
        (
            delete(
                &[("X-Trace", "1"), ("X-HTTP-Method-Override", "PURGE")],
                "agent-1",
                json!({"note": "jane.doe@acme.io"}),
            ),
            &gw.agent,
        ),
        (
            delete(
                &[("X-Trace", "2")],
                "agent-1",
                json!({"note": "jane.doe@acme.io"}),
            ),
            &gw.agent,
        ),
        (
            delete(
                &[("X-Trace", "1")],
                "agent-2",
                json!({"note": "jane.doe@acme.io"}),
            ),
            &gw.agent,
        ),
        (original.clone(), &other_key),
    ] {
        let v = gw.client(key).scan(&changed).await.unwrap();
        assert_eq!(v.decision, Decision::RequireApproval);
        assert_ne!(v.approval_id.as_ref(), Some(&id));
    }
    // Header names are compared lower-cased.
    let v = client
        .scan(&delete(
            &[("x-trace", "1")],
            "agent-1",
            json!({"note": "jane.doe@acme.io"}),
        ))
        .await
        .unwrap();
    // The approved call: SANITIZE with the redacted body, not ALLOW with the raw one.
    assert_eq!(v.decision, Decision::Sanitize, "{v:?}");
    assert!(v.has_reason("APPROVED"));
    assert_eq!(v.sanitized_body, Some(json!({"note": "[REDACTED:EMAIL]"})));
    let (_, trace) = gw
        .get(&gw.admin, &format!("/v1/traces/{}", v.trace_id))
        .await;
    assert_eq!(trace["approval_id"], id.as_str(), "{trace}");
    assert_eq!(trace["key_name"], "agent", "{trace}");
    let (_, status) = gw
        .get(&gw.agent, &format!("/v1/approvals/{id}/status"))
        .await;
    assert_eq!(status["status"], "executed");
    assert_eq!(status["decided_by"], "admin");
    // A response classification, then edits the chain must catch.
    let (code, _, _) = gw
        .post(
            Some(&gw.agent),
            "/v1/scan/response",
            &json!({"trace_id": v.trace_id, "response_body": {"ok": true}}),
        )
        .await;
    assert_eq!(code, 200);
    let dbs = gw.db.to_str().unwrap();
    let verify = || cli(&["traces", "verify", "--db", dbs], None);
    let out = verify();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let conn = rusqlite::Connection::open(&gw.db).unwrap();
    for (edit, undo) in [
        (
            "UPDATE approvals SET decided_by = 'mallory' WHERE decided_by = 'admin'",
            "UPDATE approvals SET decided_by = 'admin' WHERE decided_by = 'mallory'",
        ),
        (
            "UPDATE approvals SET status = 'approved' WHERE status = 'pending'",
            "UPDATE approvals SET status = 'pending' WHERE status = 'approved'",
        ),
        (
            "UPDATE responses SET classification = classification || ' '",
            "UPDATE responses SET classification = substr(classification, 1, length(classification) - 1)",
        ),
    ] {
        assert!(conn.execute(edit, []).unwrap() > 0, "{edit}");
        let out = verify();
        assert!(!out.status.success(), "verify missed: {edit}");
        conn.execute(undo, []).unwrap();
        assert!(verify().status.success(), "after undoing {edit}");
    }
}

/// Item 9: a failed trace write does not use up the approval.
#[tokio::test]
async fn a_failed_trace_write_keeps_the_approval() {
    let gw = Gateway::start(Config::default());
    let client = gw.client(&gw.agent);
    let delete = req("DELETE", "https://api.github.com/repos/acme/x", json!({}));
    let id = client.scan(&delete).await.unwrap().approval_id.unwrap();
    gw.post(
        Some(&gw.admin),
        &format!("/v1/approvals/{id}/approve"),
        &json!({}),
    )
    .await;
    let conn = rusqlite::Connection::open(&gw.db).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER fail BEFORE INSERT ON traces BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
    )
    .unwrap();
    let (status, _, _) = gw
        .post(
            Some(&gw.agent),
            "/v1/scan",
            &serde_json::to_value(&delete).unwrap(),
        )
        .await;
    assert_eq!(status, 500);
    conn.execute_batch("DROP TRIGGER fail;").unwrap();
    let (_, s) = gw
        .get(&gw.agent, &format!("/v1/approvals/{id}/status"))
        .await;
    assert_eq!(
        s["status"], "approved",
        "the approval survived the failed write"
    );
    let v = client.scan(&delete).await.unwrap();
    assert_eq!(v.decision, Decision::Allow);
}

/// Item 10: idle sockets are closed after the header timeout and cannot
/// hold the connection cap; a body that never completes gets 408.
#[tokio::test]
async fn idle_and_slow_connections_are_bounded() {
    let gw = Gateway::start(Config {
        max_connections: 4,
        header_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(1),
        ..Config::default()
    });
    let idle: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(gw.addr).unwrap())
        .collect();
    let health = reqwest::Client::builder()
        .timeout(Duration::from_secs(8))
        .build()
        .unwrap()
        .get(format!("{}/health", gw.url()))
        .send()
        .await;
    assert!(
        health.is_ok_and(|r| r.status() == 200),
        "idle sockets starved /health"
    );
    // The first idle sockets were served and closed by the server.
    let mut first = &idle[0];
    first
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 64];
    let n = first
        .read(&mut buf)
        .expect("the server closes an idle socket");
    assert_eq!(n, 0);
    drop(idle);
    // A body that stops halfway: 408, not a connection held forever.
    let mut slow = TcpStream::connect(gw.addr).unwrap();
    write!(
        slow,
        "POST /v1/scan HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"method\"",
        gw.agent
    )
    .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut answer = String::new();
    let _ = slow.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
}

/// Item 10: a half-sent request does not hold SIGTERM beyond the shutdown timeout.
#[tokio::test]
async fn a_half_sent_request_does_not_delay_shutdown() {
    let db = temp_db("halfsent");
    let dbs = db.to_str().unwrap().to_owned();
    let _ = create_key(&dbs, "a", false);
    let port = free_port();
    let mut server = Command::new(BIN)
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--db",
            &dbs,
            "--header-timeout",
            "120",
            "--body-timeout",
            "120",
            "--shutdown-timeout",
            "1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_healthy(port).await;
    let mut head = TcpStream::connect(("127.0.0.1", port)).unwrap();
    head.write_all(b"POST /v1/scan HTTP/1.1\r\nHost: x\r\nContent-Le")
        .unwrap();
    let mut body = TcpStream::connect(("127.0.0.1", port)).unwrap();
    body.write_all(b"POST /v1/scan HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ivk_x\r\nContent-Length: 50\r\n\r\n{").unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = server.try_wait().unwrap() {
            break exit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "SIGTERM waited for a half-sent request"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exit.success(), "{exit:?}");
    drop((head, body));
    let _ = std::fs::remove_file(&db);
}

/// Items 11 and 12: eight slow scans and a database locked by another
/// process delay only their own requests, never `/health` or another tenant.
#[tokio::test]
async fn slow_scans_and_a_locked_database_never_stall_the_server() {
    let gw = Gateway::start(Config {
        rate_per_second: 0.0,
        ..Config::default()
    });
    // 35 KB of `a@b.co`: seconds of CPU each in a debug build, for a
    // detector that is not linear (the review's 245 KB took 1.3 s each in
    // release). On the async workers eight of them stalled everything; on
    // the scan pool they delay their own tenant only.
    let heavy =
        json!({"method": "POST", "url": "https://x.io", "body": {"t": "a@b.co ".repeat(5_000)}});
    let slow: Vec<_> = (0..8)
        .map(|_| {
            let (url, key, heavy) = (gw.url(), gw.agent.clone(), heavy.clone());
            tokio::spawn(async move {
                reqwest::Client::new()
                    .post(format!("{url}/v1/scan"))
                    .bearer_auth(key)
                    .json(&heavy)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let health = quick.get(format!("{}/health", gw.url())).send().await;
    assert!(
        health.is_ok_and(|r| r.status() == 200),
        "/health stalled behind slow scans"
    );
    // Another tenant waits for at most one running scan per pool thread.
    let other = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
        .post(format!("{}/v1/scan", gw.url()))
        .bearer_auth(&gw.other_admin)
        .json(&json!({"method": "POST", "url": "https://x.io", "body": {"t": "hi"}}))
        .send()
        .await;
    assert!(
        other.is_ok_and(|r| r.status() == 200),
        "another tenant stalled"
    );
    for s in slow {
        assert_eq!(s.await.unwrap().unwrap(), 200);
    }

    // Another process holds the write lock: writes wait (on the blocking
    // pool), `/health` and the liveness route answer at once.
    let conn = rusqlite::Connection::open(&gw.db).unwrap();
    conn.execute_batch("BEGIN IMMEDIATE;").unwrap();
    let waiting: Vec<_> = (0..4)
        .map(|i| {
            let client = gw.client(&gw.agent);
            tokio::spawn(async move {
                client
                    .scan(&req(
                        "DELETE",
                        &format!("https://api.github.com/r/{i}"),
                        json!({}),
                    ))
                    .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for path in ["/health", "/livez"] {
        let r = quick.get(format!("{}{path}", gw.url())).send().await;
        assert!(
            r.is_ok_and(|r| r.status() == 200),
            "{path} waited for the lock"
        );
    }
    assert!(
        waiting.iter().all(|w| !w.is_finished()),
        "the writes waited for the lock"
    );
    conn.execute_batch("COMMIT;").unwrap();
    for w in waiting {
        let _ = w.await.unwrap();
    }
}

/// Item 14: failed authentications are limited per address before any
/// lookup, and response scans and reads are rate-limited per key.
#[tokio::test]
async fn bad_keys_responses_and_reads_are_rate_limited() {
    let gw = Gateway::start(Config {
        read_rate_per_second: 1.0,
        read_burst: 3.0,
        rate_per_second: 1.0,
        burst: 3.0,
        ..Config::default()
    });
    let scan = json!({"method": "POST", "url": "https://x.io", "body": {}});
    // The admin key is cached before the flood.
    let (status, v, _) = gw.post(Some(&gw.admin), "/v1/scan", &scan).await;
    assert_eq!(status, 200);
    let mut limited = None;
    for i in 0..60 {
        let (status, _, headers) = gw
            .post(Some(&format!("ivk_bad{i:04}")), "/v1/scan", &scan)
            .await;
        if status == 429 {
            limited = Some(headers);
            break;
        }
        assert_eq!(status, 401);
    }
    let headers = limited.expect("failed authentications are limited");
    assert!(headers.contains_key("retry-after"));
    // A valid key seen recently still works from the same address.
    assert_eq!(gw.post(Some(&gw.admin), "/v1/scan", &scan).await.0, 200);
    let trace = v["trace_id"].as_str().unwrap();
    let mut codes = Vec::new();
    for _ in 0..6 {
        codes.push(
            gw.post(
                Some(&gw.agent),
                "/v1/scan/response",
                &json!({"trace_id": trace, "response_body": {}}),
            )
            .await
            .0,
        );
    }
    assert!(
        codes.contains(&429),
        "response scans are limited: {codes:?}"
    );
    let mut codes = Vec::new();
    for _ in 0..6 {
        codes.push(gw.get(&gw.admin, &format!("/v1/traces/{trace}")).await.0);
    }
    assert!(codes.contains(&429), "reads are limited: {codes:?}");
}

/// Items 16, 17: a database deleted under the server is noticed; scans
/// fail closed with 503, readiness says so, liveness stays trivial.
#[tokio::test]
async fn a_deleted_database_fails_closed() {
    let gw = Gateway::start(Config::default());
    let client = gw.client(&gw.agent);
    client
        .scan(&req("POST", "https://x.io", json!({"t": "before"})))
        .await
        .unwrap();
    assert_eq!(
        reqwest::get(format!("{}/health", gw.url()))
            .await
            .unwrap()
            .status(),
        200
    );
    for file in db_files(&gw.db) {
        let _ = std::fs::remove_file(file);
    }
    let scan = json!({"method": "POST", "url": "https://x.io", "body": {"t": "after"}});
    let (status, body, _) = gw.post(Some(&gw.admin), "/v1/scan", &scan).await;
    assert_eq!(status, 503, "{body}");
    let (status, _, _) = gw
        .post(
            Some(&gw.agent),
            "/v1/scan",
            &json!({"method": "DELETE", "url": "https://api.github.com/r/x", "body": {}}),
        )
        .await;
    assert_eq!(status, 503);
    let health = reqwest::get(format!("{}/health", gw.url())).await.unwrap();
    assert_eq!(health.status(), 503);
    assert_eq!(
        reqwest::get(format!("{}/livez", gw.url()))
            .await
            .unwrap()
            .status(),
        200
    );
}

/// Starts `serve` with SIGXFSZ ignored (and, with `fsize`, a file-size
/// limit), so that a write past the limit fails with EFBIG instead of
/// killing the process: the way to make writes fail for root, who ignores
/// file modes. `sh` execs the binary, so the child's id is the server's.
fn spawn_limited(db: &str, port: u16, fsize: Option<u64>) -> std::process::Child {
    let limit = fsize.map_or(String::new(), |n| format!("prlimit --fsize={n} "));
    Command::new("sh")
        .args([
            "-c",
            &format!(
                "trap '' XFSZ; exec {limit}{BIN} serve --bind 127.0.0.1:{port} --db {db} --rate-limit 0"
            ),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Sets the soft file-size limit of a running process (the hard one stays
/// unlimited, so it can be raised again).
fn set_fsize(pid: u32, soft: &str) {
    let out = Command::new("prlimit")
        .args([
            "--pid",
            &pid.to_string(),
            &format!("--fsize={soft}:unlimited"),
        ])
        .output()
        .expect("prlimit (util-linux) is needed for this test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn health_of(url: &str) -> (u16, Value) {
    let r = reqwest::get(format!("{url}/health")).await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Item 17: `/health` is the store's readiness. A database that opens
/// read-write but cannot take a write (here: a file-size limit below the
/// WAL's end) stops the server at start; a store that stops taking writes
/// under a running server is reported by `/health` within seconds, before
/// any scan fails, and again after a scan failed; it is ready again once
/// writes succeed. `/livez` stays 200 throughout.
#[tokio::test]
async fn an_unwritable_database_is_not_ready() {
    // At start: the keys command leaves its writes in the WAL, past the limit.
    let db = temp_db("unwritable");
    let dbs = db.to_str().unwrap().to_owned();
    let key = create_key(&dbs, "agent", false);
    let size = |suffix: &str| std::fs::metadata(format!("{dbs}{suffix}")).map_or(0, |m| m.len());
    let limit = 40_000;
    // A command whose checkpointer ran before it closed leaves no WAL (the
    // last connection to close removes a checkpointed one): another key
    // writes a new one.
    for attempt in 0..10 {
        if size("-wal") > limit + 8_192 {
            break;
        }
        create_key(&dbs, &format!("agent-{attempt}"), false);
    }
    assert!(
        size("-wal") > limit + 8_192 && size("-shm") <= limit,
        "precondition: the WAL ({}) must end past the limit and the SHM ({}) fit under it",
        size("-wal"),
        size("-shm")
    );
    let port = free_port();
    let mut server = spawn_limited(&dbs, port, Some(limit));
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = server.try_wait().unwrap() {
            break exit;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = server.kill();
            panic!("the gateway started on a database that cannot take writes");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut log = String::new();
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(!exit.success(), "{log}");
    assert!(log.contains("cannot take writes"), "{log}");
    assert!(!log.contains("listening"), "{log}");

    // Under a running server.
    let port = free_port();
    let mut server = spawn_limited(&dbs, port, None);
    let pid = server.id();
    let mut stderr = server.stderr.take().unwrap();
    let drain = std::thread::spawn(move || {
        let mut log = String::new();
        let _ = stderr.read_to_string(&mut log);
        log
    });
    wait_healthy(port).await;
    let url = format!("http://127.0.0.1:{port}");
    let scan = json!({"method": "POST", "url": "https://x.io/a", "body": {}});
    let (status, body) = send(&url, &key, "/v1/scan", &scan, reqwest::Method::POST).await;
    assert_eq!(status, 200, "{body}");
    set_fsize(pid, "0");
    // No scan is sent: the store notices on its own.
    let started = Instant::now();
    let (status, body) = loop {
        let (status, body) = health_of(&url).await;
        if status != 200 || started.elapsed() > Duration::from_secs(20) {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status, 503, "readiness without a failed scan: {body}");
    assert!(
        body["error"].as_str().unwrap_or("").contains("write"),
        "{body}"
    );
    let (status, body) = send(&url, &key, "/v1/scan", &scan, reqwest::Method::POST).await;
    assert!(status >= 500, "a scan cannot be recorded: {status} {body}");
    assert_eq!(health_of(&url).await.0, 503);
    let livez = reqwest::get(format!("{url}/livez")).await.unwrap();
    assert_eq!(livez.status(), 200);
    // Writes work again: ready again within a few seconds, and scans pass.
    set_fsize(pid, "unlimited");
    let started = Instant::now();
    loop {
        let (status, body) = health_of(&url).await;
        if status == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not ready again: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, body) = send(&url, &key, "/v1/scan", &scan, reqwest::Method::POST).await;
    assert_eq!(status, 200, "{body}");
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let _ = server.wait();
    let log = drain.join().unwrap();
    assert!(log.contains("cannot take writes; not ready"), "{log}");
    assert!(log.contains("takes writes again"), "{log}");
    for file in db_files(&db) {
        let _ = std::fs::remove_file(file);
    }
}

/// Item 18: ids an outsider sees are 128 random bits (traces: 64 after
/// their position), never repeated.
#[tokio::test]
async fn ids_are_long_and_unique() {
    let gw = Gateway::start(Config {
        rate_per_second: 0.0,
        ..Config::default()
    });
    let mut seen = std::collections::HashSet::new();
    let mut digits = String::new();
    for i in 0..20 {
        let resp = reqwest::Client::new()
            .post(format!("{}/v1/scan", gw.url()))
            .bearer_auth(&gw.agent)
            .json(&json!({"method": "DELETE", "url": format!("https://api.github.com/r/{i}"), "body": {}}))
            .send()
            .await
            .unwrap();
        let rid = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
        let v: Value = resp.json().await.unwrap();
        let apr = v["approval_id"].as_str().unwrap().to_owned();
        assert!(rid.len() == 20 && apr.len() == 36, "{rid} {apr}");
        assert!(
            rid.starts_with("req_") && apr.starts_with("apr_"),
            "{rid} {apr}"
        );
        let hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
        assert!(hex(&rid[4..]) && hex(&apr[4..]), "{rid} {apr}");
        digits.push_str(&rid[4..]);
        digits.push_str(&apr[4..]);
        assert!(seen.insert(rid) && seen.insert(apr));
    }
    // 960 hex digits: a counter, a clock or a constant piles up on a few
    // digits; random ones come 60 ± 7.5 times each (outside 20..=110 for
    // one of the 16: under one run in a million).
    for d in "0123456789abcdef".chars() {
        let n = digits.chars().filter(|c| *c == d).count();
        assert!((20..=110).contains(&n), "digit {d} {n} times in {digits}");
    }
}

/// The non-test part of a source file (its `#[cfg(test)] mod tests` cut off).
fn shipped_source(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

fn rust_files(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The body of `fn name` in a source text (from its `{` to the matching `}`).
fn fn_body<'a>(source: &'a str, name: &str) -> &'a str {
    let start = source
        .find(&format!("fn {name}("))
        .unwrap_or_else(|| panic!("fn {name} is gone: update this test"));
    let open = start + source[start..].find('{').unwrap();
    let mut depth = 0;
    for (i, c) in source[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &source[open..=open + i];
                }
            }
            _ => {}
        }
    }
    panic!("fn {name} has no end")
}

/// Item 18, over the sources (a black-box test cannot tell a CSPRNG from a
/// seeded generator): no shipped code of `interven`, `interven-gateway` or
/// `interven-mcp` uses a userspace generator except at the listed places,
/// none of which makes an id an outsider sees; each function that makes
/// such an id (API keys, trace, event and approval ids of the gateway and
/// of the embedded engine, request ids, console session and CSRF tokens)
/// reads `getrandom` or calls the one helper that does.
///
/// What it does not prove: that the OS source is good, or that an id made
/// without any generator (say, from the clock alone) is absent; the format
/// and uniqueness test below checks the ids themselves.
#[test]
fn ids_come_from_the_os_random_source() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // (file, text on the line): why each use is no outsider-visible id.
    let allowed: &[(&str, &str)] = &[
        // The jitter of retry delays.
        ("interven/src/client/retry.rs", "fastrand::f64()"),
        // The local trace id of a fail-open verdict, which no gateway knows.
        ("interven/src/client/mod.rs", "degraded-"),
        // Mixed into a SHA-256 with a counter and the time, only when the
        // OS refuses randomness (never on supported systems).
        ("interven/src/engine/mod.rs", "h.update(fastrand::u128(..)"),
        // The salt of in-process digests of found values (chain memory).
        (
            "interven/src/engine/detect/mod.rs",
            "LazyLock::new(|| fastrand::u128(..)",
        ),
    ];
    let generators = [
        "fastrand",
        "rand::",
        "thread_rng",
        "SmallRng",
        "StdRng",
        "oorandom",
        "nanorand",
        "wyrand",
    ];
    let mut files = Vec::new();
    for krate in [
        "interven",
        "interven-gateway",
        "interven-mcp",
        "interven-macros",
    ] {
        rust_files(&root.join(krate).join("src"), &mut files);
    }
    assert!(files.len() > 20, "{files:?}");
    let mut seen = std::collections::HashSet::new();
    let mut unexpected = Vec::new();
    for path in &files {
        let rel = path
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        for (n, line) in shipped_source(path).lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if !generators.iter().any(|g| code.contains(g)) {
                continue;
            }
            match allowed
                .iter()
                .position(|(f, text)| *f == rel && line.contains(text))
            {
                Some(i) => {
                    seen.insert(i);
                }
                None => unexpected.push(format!("{rel}:{}: {}", n + 1, line.trim())),
            }
        }
    }
    assert!(
        unexpected.is_empty(),
        "a userspace random generator where ids may be made; use getrandom (or say here why it is no id): {unexpected:#?}"
    );
    for (i, entry) in allowed.iter().enumerate() {
        assert!(seen.contains(&i), "stale allowance (remove it): {entry:?}");
    }
    // The id makers, and where their randomness comes from.
    let source = |rel: &str| shipped_source(&root.join(rel));
    let os = "getrandom::";
    let makers: &[(&str, &str, &str)] = &[
        ("interven/src/engine/mod.rs", "os_random_u128", os),
        (
            "interven/src/engine/mod.rs",
            "new_trace_id",
            "os_random_u128()",
        ),
        ("interven-gateway/src/store.rs", "random_u64", os),
        ("interven-gateway/src/store.rs", "random_hex128", os),
        ("interven-gateway/src/auth.rs", "generate_key", os),
        (
            "interven-gateway/src/console/session.rs",
            "random_token",
            os,
        ),
        (
            "interven-gateway/src/server.rs",
            "request_log",
            "store::random_u64()",
        ),
    ];
    for (rel, name, needle) in makers {
        let body = fn_body(&source(rel), name).to_owned();
        assert!(
            body.contains(needle),
            "{rel}: fn {name} must use {needle}: {body}"
        );
    }
    // Every place that formats an id uses one of them.
    let sites: &[(&str, &str, &str)] = &[
        (
            "interven/src/engine/approvals.rs",
            "format!(\"apr_{",
            "os_random_u128()",
        ),
        (
            "interven-gateway/src/server.rs",
            "format!(\"apr_{",
            "random_hex128()",
        ),
        (
            "interven-gateway/src/store.rs",
            "let random = ",
            "random_u64()",
        ),
    ];
    for (rel, marker, helper) in sites {
        let text = source(rel);
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(marker)).collect();
        assert!(
            !lines.is_empty(),
            "{rel}: no `{marker}` any more: update this test"
        );
        for line in lines {
            assert!(
                line.contains(helper),
                "{rel}: `{}` must use {helper}",
                line.trim()
            );
        }
    }
    // Console sessions and CSRF tokens come from random_token only.
    let console = source("interven-gateway/src/console/mod.rs");
    assert!(console.matches("session::random_token()").count() >= 2);
}
