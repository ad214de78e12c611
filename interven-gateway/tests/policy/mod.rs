//! Policy v2 through the gateway binary: `policy test|check|digest` and
//! their exit codes, the shared cases of `tests/policy/` over HTTP against a
//! running `serve --policy`, monitored and exempted traces, and live reload
//! (file change, SIGHUP, a bad file that keeps the old policy).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::BIN;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every shared case file with its policy (see `tests/policy/README.md`).
fn shared_suites() -> Vec<(PathBuf, PathBuf)> {
    let dir = workspace().join("tests/policy");
    let mut suites: Vec<(PathBuf, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let cases = e.ok()?.path();
            if cases.extension()? != "jsonl" {
                return None;
            }
            // `NAME.toml` beside it (the shipped examples are linked in).
            let policy = cases.with_extension("toml");
            Some((policy, cases))
        })
        .collect();
    suites.sort();
    suites
}

fn temp(name: &str, ext: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "interven-policy-{name}-{}-{:x}.{ext}",
        std::process::id(),
        fastrand::u64(..)
    ))
}

fn run(args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn policy_test_passes_every_shared_suite() {
    let suites = shared_suites();
    assert!(suites.len() >= 8);
    for (policy, cases) in &suites {
        let (code, out, err) = run(&["policy", "test", s(policy), "--cases", s(cases)], b"");
        assert_eq!(code, 0, "{}: {out}{err}", cases.display());
        assert!(out.is_empty(), "{out}");
        assert!(err.contains("0 mismatch(es)"), "{err}");
    }
}

const RATE_POLICY: &str = r#"
[[rules]]
name = "burst"
rate = { max = 1, per = "1m" }
decision = "DENY"
reason = "BURST"

[[rules]]
name = "per-key"
paths = ["/k"]
rate = { max = 0, per = "1m", by = "key" }
decision = "REQUIRE_APPROVAL"
reason = "KEYED"
"#;

#[test]
fn policy_test_reports_mismatches_and_exit_codes() {
    let policy = temp("rate", "toml");
    std::fs::write(&policy, RATE_POLICY).unwrap();
    let cases = temp("cases", "jsonl");
    let case = |name: &str, at: Option<f64>, decision: &str, codes: &[&str]| {
        let mut c = json!({"name": name, "request": {"method": "post", "url": "https://x.io/a", "body": {}},
                           "expect": {"decision": decision, "reason_codes": codes}});
        if let Some(at) = at {
            c["at"] = json!(at);
        }
        c.to_string()
    };
    let lines = [
        case("first", None, "ALLOW", &[]),
        case("second within the minute", Some(1.0), "DENY", &["BURST"]),
        case("expired", Some(70.0), "ALLOW", &[]),
        case("wrong on purpose", Some(71.0), "ALLOW", &[]),
        case("wrong codes", Some(72.0), "DENY", &["OTHER"]),
        json!({"name": "monitor expected", "request": {"method": "GET", "url": "https://x.io/a"},
               "expect": {"decision": "DENY", "monitor": {"decision": "DENY"}}, "at": 73})
        .to_string(),
    ];
    std::fs::write(&cases, lines.join("\n") + "\n").unwrap();
    let (code, out, err) = run(&["policy", "test", s(&policy), "--cases", s(&cases)], b"");
    assert_eq!(code, 1, "{out}{err}");
    let got: Vec<&str> = out.lines().collect();
    assert_eq!(
        got,
        [
            "wrong on purpose: expected ALLOW [], got DENY [BURST]",
            "wrong codes: expected DENY [OTHER], got DENY [BURST]",
            "monitor expected: expected DENY monitor DENY, got DENY [BURST] monitor none",
        ],
        "{err}"
    );
    assert!(err.contains("6 case(s), 3 mismatch(es)"), "{err}");

    // `key` feeds `by = "key"`.
    let keyed = [
        json!({"name": "k1", "key": "1", "request": {"method": "GET", "url": "https://x.io/k"}, "expect": {"decision": "REQUIRE_APPROVAL", "reason_codes": ["KEYED"]}}),
    ];
    std::fs::write(&cases, keyed[0].to_string()).unwrap();
    assert_eq!(
        run(&["policy", "test", s(&policy), "--cases", s(&cases)], b"").0,
        0
    );
    // Unknown keys are said and ignored; a decision may be written in lower case.
    let lenient = json!({"name": "k2", "key": "2", "why": "a note", "request": {"method": "GET", "url": "https://x.io/k"},
                         "expect": {"decision": "require_approval", "risk_band": "LOW"}});
    std::fs::write(&cases, lenient.to_string()).unwrap();
    let (code, out, err) = run(&["policy", "test", s(&policy), "--cases", s(&cases)], b"");
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains(":1: warning: unknown key `why` ignored"),
        "{err}"
    );
    assert!(
        err.contains("unknown key `expect.risk_band` ignored"),
        "{err}"
    );

    // 2: an unreadable cases file, a malformed line, a bad or missing policy.
    let missing = temp("missing", "jsonl");
    let (code, _, err) = run(&["policy", "test", s(&policy), "--cases", s(&missing)], b"");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot read"), "{err}");
    std::fs::write(&cases, "{\"name\": \"x\"}\n").unwrap();
    let (code, _, err) = run(&["policy", "test", s(&policy), "--cases", s(&cases)], b"");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(":1: not a case"), "{err}");
    let bad = temp("bad", "toml");
    std::fs::write(&bad, "[[rules]]\nname = \"x\"\ndecision = \"DENY\"\nreason = \"R\"\nwhen = [{ field = \"/a\", gt = 1, lt = 2 }]\n").unwrap();
    let (code, _, err) = run(&["policy", "test", s(&bad), "--cases", s(&cases)], b"");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("5:9: error: when:") && err.contains("two operators"),
        "{err}"
    );
    let (code, _, _) = run(&["policy", "test", s(&missing), "--cases", s(&cases)], b"");
    assert_eq!(code, 2);
    // A policy that loads but has a lint error still runs its cases, and says so.
    let shadowed = temp("shadowed", "toml");
    std::fs::write(&shadowed, "[[rules]]\nname = \"all\"\ndecision = \"DENY\"\nreason = \"ALL\"\n[[rules]]\nname = \"gets\"\nmethods = [\"GET\"]\ndecision = \"SANITIZE\"\nreason = \"GET\"\n").unwrap();
    std::fs::write(&cases, json!({"name": "g", "request": {"method": "GET", "url": "https://x.io/"}, "expect": {"decision": "DENY", "reason_codes": ["ALL", "GET"]}}).to_string()).unwrap();
    let (code, out, err) = run(&["policy", "test", s(&shadowed), "--cases", s(&cases)], b"");
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains(":5:1: error: rule `gets` is shadowed")
            && err.contains("the cases run anyway"),
        "{err}"
    );
    let _ = std::fs::remove_file(&shadowed);
    for p in [policy, cases, bad] {
        let _ = std::fs::remove_file(p);
    }
}

#[test]
fn policy_check_lints_with_positions() {
    for (policy, _) in shared_suites() {
        let (code, out, _) = run(&["policy", "check", s(&policy)], b"");
        assert_eq!((code, out.trim().ends_with(": ok")), (0, true), "{out}");
    }
    let bad = temp("lint", "toml");
    std::fs::write(
        &bad,
        r#"[[rules]]
name = "all-deletes"
operations = ["*delete*"]
decision = "DENY"
reason = "DELETE"
tool = ["x"]

[[rules]]
name = "repo-deletes"
operations = ["delete_repo"]
finding_types = ["EMIAL"]
decision = "REQUIRE_APPROVAL"
reason = "REPO"
"#,
    )
    .unwrap();
    let (code, out, _) = run(&["policy", "check", s(&bad)], b"");
    assert_eq!(code, 1, "{out}");
    let lines: Vec<String> = out
        .lines()
        .map(|l| l.strip_prefix(s(&bad)).unwrap().to_owned())
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with(":6:1: error: unknown key `tool` in a rule"),
        "{out}"
    );
    assert!(
        lines[1].starts_with(":11:18: error: unknown finding type `EMIAL`"),
        "{out}"
    );
    // Fixed, the shadowed rule is what is left.
    std::fs::write(
        &bad,
        std::fs::read_to_string(&bad)
            .unwrap()
            .replace("tool = [\"x\"]\n", "")
            .replace("finding_types = [\"EMIAL\"]\n", ""),
    )
    .unwrap();
    let (code, out, _) = run(&["policy", "check", s(&bad)], b"");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(":7:1: error: rule `repo-deletes` is shadowed by rule `all-deletes` (line 1)"),
        "{out}"
    );
    // A warning alone is exit 0.
    std::fs::write(
        &bad,
        "[[exempt]]\nname = \"everything\"\nhosts = [\"*.corp.io\"]\n",
    )
    .unwrap();
    let (code, out, _) = run(&["policy", "check", s(&bad)], b"");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(":1:1: warning: exemption `everything`"),
        "{out}"
    );
    let _ = std::fs::remove_file(&bad);
    assert_eq!(run(&["policy", "check", "/nonexistent/p.toml"], b"").0, 2);
}

#[test]
fn policy_digest_reads_stdin() {
    let test = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n";
    assert_eq!(
        run(&["policy", "digest"], b"test\n"),
        (0, test.to_owned(), String::new())
    );
    assert_eq!(run(&["policy", "digest"], b"test").1, test);
    assert_ne!(run(&["policy", "digest"], b"test\n\n").1, test);
    // The digest of the issue's sandbox key is the one in tests/policy/issue.toml.
    let issue = std::fs::read_to_string(workspace().join("tests/policy/issue.toml")).unwrap();
    let out = run(&["policy", "digest"], b"AKIAZ7PQ4MX2RT6WLB3K\n").1;
    assert!(issue.contains(out.trim()), "{out}");
}

/// A gateway process serving a policy file, with an agent and an admin key.
struct Served {
    child: Child,
    port: u16,
    db: PathBuf,
    log: PathBuf,
    agent: String,
    admin: String,
}

impl Served {
    async fn start(policy: &Path) -> Served {
        let db = temp("gw", "db");
        let log = temp("gw", "log");
        let key = |name: &str, admin: bool| {
            let mut args = vec![
                "keys",
                "create",
                "--db",
                s(&db),
                "--name",
                name,
                "--tenant",
                "acme",
            ];
            if admin {
                args.push("--admin");
            }
            run(&args, b"").1.trim().to_owned()
        };
        let (agent, admin) = (key("agent", false), key("admin", true));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(BIN)
            .args([
                "serve",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--db",
                s(&db),
                "--rate-limit",
                "0",
                "--policy",
                s(policy),
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let served = Served {
            child,
            port,
            db,
            log,
            agent,
            admin,
        };
        let url = format!("http://127.0.0.1:{port}/health");
        for _ in 0..400 {
            if reqwest::get(&url)
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return served;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "the gateway did not start: {}",
            std::fs::read_to_string(&served.log).unwrap_or_default()
        );
    }

    async fn scan(&self, request: &Value) -> Value {
        let resp = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{}/v1/scan", self.port))
            .bearer_auth(&self.agent)
            .json(request)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }

    async fn admin_get(&self, path: &str) -> (u16, Value) {
        let resp = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{}{path}", self.port))
            .bearer_auth(&self.admin)
            .send()
            .await
            .unwrap();
        (
            resp.status().as_u16(),
            resp.json().await.unwrap_or(Value::Null),
        )
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for p in [&self.db, &self.log] {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn codes(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `None` when the wire verdict is what the case expects.
fn mismatch(expect: &Value, got: &Value) -> Option<String> {
    let mut ok = expect["decision"] == got["decision"];
    if let Some(want) = expect.get("reason_codes") {
        ok &= codes(want) == codes(&got["reason_codes"]);
    }
    match (expect.get("monitor"), got.get("monitor")) {
        (None, _) | (Some(Value::Null), None) => {}
        (Some(want), Some(m)) if want.is_object() => {
            ok &= want["decision"] == m["decision"];
            if let Some(c) = want.get("reason_codes") {
                ok &= codes(c) == codes(&m["reason_codes"]);
            }
        }
        _ => ok = false,
    }
    (!ok).then(|| format!("expected {expect}, got {got}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_gateway_gives_every_shared_case_its_decision() {
    let mut failures = Vec::new();
    let mut total = 0;
    for (policy, cases) in shared_suites() {
        let gw = Served::start(&policy).await;
        for line in std::fs::read_to_string(&cases)
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            let case: Value = serde_json::from_str(line).unwrap();
            let got = gw.scan(&case["request"]).await;
            total += 1;
            if let Some(why) = mismatch(&case["expect"], &got) {
                failures.push(format!("{}: {}: {why}", cases.display(), case["name"]));
            }
        }
    }
    assert!(total >= 250, "{total}");
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitored_and_exempted_calls_are_recorded_as_such() {
    let key = format!("AKIA{}", "Q3EGRB4VXLTU7MCN");
    let gw = Served::start(&workspace().join("tests/policy/monitor.toml")).await;
    let v = gw
        .scan(&json!({"method": "POST", "url": "https://x.io/a", "body": {"k": key}}))
        .await;
    assert_eq!(v["decision"], "ALLOW");
    assert_eq!(
        v["monitor"],
        json!({"decision": "DENY", "reason_codes": ["SECRET_DETECTED"]})
    );
    let clean = gw
        .scan(&json!({"method": "GET", "url": "https://x.io/b"}))
        .await;
    assert!(clean.get("monitor").is_none());
    let trace_id = v["trace_id"].as_str().unwrap();
    let (status, trace) = gw.admin_get(&format!("/v1/traces/{trace_id}")).await;
    assert_eq!(status, 200);
    assert_eq!(trace["monitored"], json!(true), "{trace}");
    assert_eq!(trace["monitor"]["decision"], "DENY");
    // An ALLOW with a finding is stored redacted, like any other.
    let stored = trace["body"]["k"].as_str().unwrap_or_default();
    assert!(stored.starts_with("[REDACTED:"), "{trace}");
    let db = std::fs::read(&gw.db).unwrap_or_default();
    let wal = std::fs::read(format!("{}-wal", gw.db.display())).unwrap_or_default();
    for file in [&db, &wal] {
        assert!(
            !String::from_utf8_lossy(file).contains(&key),
            "the key reached the database"
        );
    }
    let (status, list) = gw.admin_get("/v1/traces?monitored=true").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = list["traces"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["trace_id"].as_str())
        .collect();
    assert_eq!(ids, [trace_id], "{list}");
    assert_eq!(gw.admin_get("/v1/traces").await.0, 400);
    let (code, out, err) = run(&["traces", "list", "--monitored", "--db", s(&gw.db)], b"");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.contains(trace_id) && out.contains("\"monitored\":true"),
        "{out}"
    );
    let log = gw.log();
    assert!(
        log.contains("decision=\"monitored\"") || log.contains("decision=monitored"),
        "{log}"
    );
    assert!(!log.contains(&key), "the log holds no secret");
    drop(gw);

    let gw = Served::start(&workspace().join("tests/policy/exemptions.toml")).await;
    let v = gw
        .scan(&json!({"method": "POST", "url": "https://crm.acme.io/v1/contacts", "body": {"email": "jane.roe@acme.io"}}))
        .await;
    assert_eq!(v["decision"], "ALLOW");
    let (_, trace) = gw
        .admin_get(&format!("/v1/traces/{}", v["trace_id"].as_str().unwrap()))
        .await;
    assert_eq!(
        trace["exempted"],
        json!([{"type": "EMAIL", "kind": "pii", "path": "/email", "exemption": "crm-emails"}]),
        "{trace}"
    );
    assert!(trace.get("monitored").is_none());
}

async fn decision_within(gw: &Served, request: &Value, want: &str, limit: Duration) -> Value {
    let started = Instant::now();
    loop {
        let v = gw.scan(request).await;
        if v["decision"] == want {
            return v;
        }
        assert!(
            started.elapsed() < limit,
            "still {v} after {limit:?}: {}",
            gw.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_reloads_its_policy_and_keeps_it_when_the_new_one_is_bad() {
    let rule = |decision: &str, reason: &str| {
        format!(
            "[[rules]]\nname = \"notes\"\npaths = [\"/notes\"]\ndecision = \"{decision}\"\nreason = \"{reason}\"\n"
        )
    };
    let policy = temp("reload", "toml");
    std::fs::write(&policy, rule("REQUIRE_APPROVAL", "FIRST")).unwrap();
    let gw = Served::start(&policy).await;
    let notes = json!({"method": "POST", "url": "https://x.io/notes", "body": {"text": "hi"}});
    let v = gw.scan(&notes).await;
    assert_eq!(
        (v["decision"].as_str(), codes(&v["reason_codes"])),
        (Some("REQUIRE_APPROVAL"), codes(&json!(["FIRST"])))
    );

    // A good new file is in force within the poll interval.
    std::fs::write(&policy, rule("DENY", "SECOND")).unwrap();
    let v = decision_within(&gw, &notes, "DENY", Duration::from_secs(5)).await;
    assert_eq!(codes(&v["reason_codes"]), codes(&json!(["SECOND"])));
    assert!(gw.log().contains("policy reloaded"), "{}", gw.log());

    // A file that does not parse keeps the previous policy, and says why.
    std::fs::write(
        &policy,
        "[[rules]]\nname = \"notes\"\ndecision = \"MAYBE\"\nreason = \"X\"\n",
    )
    .unwrap();
    let started = Instant::now();
    while !gw.log().contains("policy reload refused") {
        assert!(started.elapsed() < Duration::from_secs(5), "{}", gw.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        gw.log().contains("3:12"),
        "the reason has the position: {}",
        gw.log()
    );
    let v = gw.scan(&notes).await;
    assert_eq!(
        (v["decision"].as_str(), codes(&v["reason_codes"])),
        (Some("DENY"), codes(&json!(["SECOND"]))),
        "not the built-in default"
    );
    // So does one that parses but does not check (a rule that can never match).
    std::fs::write(
        &policy,
        format!(
            "{}when = [{{ field = \"/n\", in = [] }}]\n",
            rule("ALLOW", "THIRD")
        ),
    )
    .unwrap();
    let started = Instant::now();
    while gw.log().matches("policy reload refused").count() < 2 {
        assert!(started.elapsed() < Duration::from_secs(5), "{}", gw.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(gw.scan(&notes).await["decision"], "DENY");

    // SIGHUP reloads at once, even a file written with the same size and time.
    std::fs::write(&policy, rule("SANITIZE", "FOURTH")).unwrap();
    let status = Command::new("kill")
        .args(["-HUP", &gw.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let v = decision_within(&gw, &notes, "SANITIZE", Duration::from_secs(5)).await;
    assert_eq!(codes(&v["reason_codes"]), codes(&json!(["FOURTH"])));
    assert!(gw.log().contains("SIGHUP"), "{}", gw.log());
    let _ = std::fs::remove_file(&policy);
}

#[test]
fn serve_refuses_a_policy_that_does_not_check() {
    let policy = temp("refused", "toml");
    std::fs::write(&policy, "[[rules]]\nname = \"x\"\nhosts = [\"https://x.io\"]\ndecision = \"DENY\"\nreason = \"R\"\n").unwrap();
    let db = temp("refused", "db");
    let (code, _, err) = run(
        &[
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--db",
            s(&db),
            "--policy",
            s(&policy),
        ],
        b"",
    );
    assert_ne!(code, 0);
    assert!(err.contains("3:10: error: hosts"), "{err}");
    let _ = std::fs::remove_file(&policy);
    let _ = std::fs::remove_file(&db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_counters_are_per_tenant_and_per_key_on_the_gateway() {
    let policy = temp("tenants", "toml");
    std::fs::write(
        &policy,
        r#"
[[rules]]
name = "per-agent"
paths = ["/a"]
rate = { max = 1, per = "1h" }
decision = "DENY"
reason = "AGENT_BURST"

[[rules]]
name = "per-key"
paths = ["/k"]
rate = { max = 1, per = "1h", by = "key" }
decision = "DENY"
reason = "KEY_BURST"
"#,
    )
    .unwrap();
    let gw = Served::start(&policy).await;
    let new_key = |tenant: &str| {
        run(
            &[
                "keys",
                "create",
                "--db",
                s(&gw.db),
                "--name",
                "k",
                "--tenant",
                tenant,
            ],
            b"",
        )
        .1
        .trim()
        .to_owned()
    };
    let (globex, acme2) = (new_key("globex"), new_key("acme"));
    let scan = |key: String, path: &str| {
        let url = format!("http://127.0.0.1:{}/v1/scan", gw.port);
        let body =
            json!({"method": "POST", "url": format!("https://x.io{path}"), "agent_id": "bot"});
        async move {
            let v: Value = reqwest::Client::new()
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["decision"].as_str().unwrap_or("").to_owned()
        }
    };
    assert_eq!(scan(gw.agent.clone(), "/a").await, "ALLOW");
    assert_eq!(
        scan(acme2.clone(), "/a").await,
        "DENY",
        "same tenant and agent"
    );
    assert_eq!(scan(globex.clone(), "/a").await, "ALLOW", "another tenant");
    assert_eq!(scan(globex.clone(), "/a").await, "DENY");
    assert_eq!(scan(gw.agent.clone(), "/k").await, "ALLOW");
    assert_eq!(scan(acme2.clone(), "/k").await, "ALLOW", "another key");
    assert_eq!(scan(gw.agent.clone(), "/k").await, "DENY");
    drop(gw);
    let _ = std::fs::remove_file(&policy);
}
