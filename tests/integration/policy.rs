//! Policy v2 through the public API: the shared cases of `tests/policy/` on
//! the embedded engine, rate windows on an injected clock, monitor mode at
//! both levels with a guarded function, exemptions in the assessment and the
//! audit log, atomic policy swaps, and no panic on any policy text.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use interven::engine::{AssessOptions, Engine, Policy, Severity, value_digest};
use interven::{Client, Decision, ScanRequest, Verdict};
use serde_json::{Value, json};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every shared case file with its policy (see `tests/policy/README.md`).
fn shared_suites() -> Vec<(PathBuf, PathBuf)> {
    let dir = root().join("tests/policy");
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

fn set(codes: &[String]) -> BTreeSet<&str> {
    codes.iter().map(String::as_str).collect()
}

fn codes(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `None` when the verdict is what the case expects.
fn mismatch(expect: &Value, verdict: &Verdict) -> Option<String> {
    let decision = Decision::parse(expect["decision"].as_str()?)?;
    let mut ok = decision == verdict.decision;
    if let Some(want) = expect.get("reason_codes") {
        ok &= set(&codes(want)) == set(&verdict.reason_codes);
    }
    match (expect.get("monitor"), verdict.monitored()) {
        (None, _) | (Some(Value::Null), None) => {}
        (Some(want), Some(got)) if want.is_object() => {
            ok &= Decision::parse(want["decision"].as_str().unwrap_or("")) == Some(got.decision);
            if let Some(c) = want.get("reason_codes") {
                ok &= set(&codes(c)) == set(&got.reason_codes);
            }
        }
        _ => ok = false,
    }
    (!ok).then(|| {
        format!(
            "expected {expect}, got {} {:?} monitor {:?}",
            verdict.decision,
            verdict.reason_codes,
            verdict.monitored()
        )
    })
}

#[test]
fn the_embedded_engine_gives_every_shared_case_its_decision() {
    let suites = shared_suites();
    assert!(suites.len() >= 8, "{suites:?}");
    let mut total = 0;
    let mut failures = Vec::new();
    for (policy, cases) in &suites {
        let engine = Engine::new(Policy::from_file(policy).unwrap());
        for line in std::fs::read_to_string(cases).unwrap().lines() {
            if line.trim().is_empty() {
                continue;
            }
            let case: Value = serde_json::from_str(line).unwrap();
            let request: ScanRequest = serde_json::from_value(case["request"].clone()).unwrap();
            total += 1;
            if let Some(why) = mismatch(&case["expect"], &engine.scan(&request)) {
                failures.push(format!("{}: {}: {why}", cases.display(), case["name"]));
            }
        }
    }
    assert!(total >= 250, "only {total} shared cases");
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn every_shipped_policy_loads_and_checks_clean() {
    let mut files: Vec<PathBuf> = shared_suites().into_iter().map(|(p, _)| p).collect();
    files.push(root().join("examples/policy.toml"));
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        Policy::from_toml(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let diagnostics = Policy::check(&text);
        assert!(
            diagnostics.is_empty(),
            "{}: {diagnostics:#?}",
            path.display()
        );
    }
}

fn policy(text: &str) -> Policy {
    Policy::from_toml(text).unwrap_or_else(|e| panic!("{e}"))
}

fn post(url: &str, body: Value) -> ScanRequest {
    ScanRequest::builder("POST", url)
        .json_body(body)
        .build()
        .unwrap()
}

#[test]
fn rate_windows_expire_on_an_injected_clock() {
    let engine = Engine::new(policy(
        r#"
        [[rules]]
        name = "burst"
        paths = ["/send"]
        rate = { max = 2, per = "30s", by = "agent" }
        decision = "DENY"
        reason = "BURST"

        [[rules]]
        name = "per-key"
        paths = ["/key"]
        rate = { max = 1, per = "1m", by = "key" }
        decision = "DENY"
        reason = "KEY_BURST"

        [[rules]]
        name = "per-tool"
        paths = ["/tool"]
        rate = { max = 1, per = "1h", by = "tool" }
        decision = "DENY"
        reason = "TOOL_BURST"
        "#,
    ));
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let at = |s: u64| AssessOptions::new().at(t0 + Duration::from_secs(s));
    let send = post("https://x.io/send", json!({}));
    let decide = |r: &ScanRequest, o: AssessOptions| engine.assess_with(r, "s", &o).decision;
    assert_eq!(decide(&send, at(0)), Decision::Allow);
    assert_eq!(decide(&send, at(1)), Decision::Allow);
    assert_eq!(
        decide(&send, at(2)),
        Decision::Deny,
        "the 3rd call within 30 s"
    );
    assert_eq!(
        decide(&send, at(3)),
        Decision::Deny,
        "and the 4th: matched calls count"
    );
    // At 31 s the calls at 0 and 1 have left the window; 2, 3 and this one remain.
    assert_eq!(decide(&send, at(31)), Decision::Deny);
    // At 62 s only the call at 31 is left in the window: this is the 2nd.
    assert_eq!(decide(&send, at(62)), Decision::Allow);
    // Another tenant has its own counters.
    assert_eq!(decide(&send, at(62).tenant("globex")), Decision::Allow);
    assert_eq!(decide(&send, at(62).tenant("globex")), Decision::Allow);
    assert_eq!(decide(&send, at(62).tenant("globex")), Decision::Deny);
    // by = "key": each key its own count.
    let key = post("https://x.io/key", json!({}));
    assert_eq!(decide(&key, at(0).key("1")), Decision::Allow);
    assert_eq!(decide(&key, at(0).key("2")), Decision::Allow);
    assert_eq!(decide(&key, at(1).key("1")), Decision::Deny);
    // by = "tool": agents share the count of a tool.
    let tool = |agent: &str, tool: &str| {
        ScanRequest::builder("POST", "https://x.io/tool")
            .tool(tool)
            .agent_id(agent)
            .build()
            .unwrap()
    };
    assert_eq!(decide(&tool("a", "git"), at(0)), Decision::Allow);
    assert_eq!(decide(&tool("b", "git"), at(1)), Decision::Deny);
    assert_eq!(decide(&tool("b", "shell"), at(1)), Decision::Allow);
    // A call that does not satisfy the other conditions is not counted.
    let other = post("https://x.io/other", json!({}));
    for s in 0..10 {
        assert_eq!(decide(&other, at(100 + s)), Decision::Allow);
    }
}

#[test]
fn rate_rules_on_the_real_clock_count_too() {
    let engine = Engine::new(policy(
        "[[rules]]\nname = \"r\"\nrate = { max = 1, per = \"1s\" }\ndecision = \"DENY\"\nreason = \"R\"\n",
    ));
    let r = post("https://x.io/", json!({}));
    assert_eq!(engine.scan(&r).decision, Decision::Allow);
    assert_eq!(engine.scan(&r).decision, Decision::Deny);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        engine.scan(&r).decision,
        Decision::Allow,
        "the window passed"
    );
}

const WATCHED: &str = r#"
[[rules]]
name = "secrets"
finding_kinds = ["secret"]
decision = "DENY"
reason = "SECRET_DETECTED"

[[rules]]
name = "shell-rm"
tools = ["shell"]
when = [{ field = "/command", regex = '(^|\s)rm\s+-[a-z]*r[a-z]*f' }]
decision = "DENY"
reason = "DESTRUCTIVE_COMMAND"
mode = "monitor"
"#;

#[interven::guard(tool = "shell", skip(client), client = client)]
fn run_command(client: &Client, command: &str) -> interven::Result<String> {
    Ok(format!("ran {command}"))
}

#[test]
fn a_monitored_rule_lets_the_guarded_function_run() {
    let client = Client::builder().policy(policy(WATCHED)).build().unwrap();
    assert_eq!(
        run_command(&client, "rm -rf build").unwrap(),
        "ran rm -rf build"
    );
    let verdict = client
        .scan_blocking(
            &ScanRequest::builder("POST", "https://runner.local/exec")
                .json_body(json!({"command": "rm -rf build"}))
                .tool("shell")
                .build()
                .unwrap(),
        )
        .unwrap();
    assert_eq!(verdict.decision, Decision::Allow);
    assert!(verdict.reason_codes.is_empty());
    let m = verdict.monitored().expect("monitored");
    assert_eq!(m.decision, Decision::Deny);
    assert_eq!(m.reason_codes, ["DESTRUCTIVE_COMMAND"]);
    // On the wire it is the `monitor` field, and it parses back.
    let wire = serde_json::to_value(&verdict).unwrap();
    assert_eq!(
        wire["monitor"],
        json!({"decision": "DENY", "reason_codes": ["DESTRUCTIVE_COMMAND"]})
    );
    let back = Verdict::from_json(wire.to_string().as_bytes()).unwrap();
    assert_eq!(back.monitored(), verdict.monitored());
    assert!(!wire.to_string().contains("\"extra\""));
    // An enforced rule still blocks: the monitor rule does not lower it.
    let key = format!("AKIA{}", "Q3EGRB4VXLTU7MCN");
    let err = run_command(&client, &format!("rm -rf x {key}")).unwrap_err();
    assert!(err.is_blocked());
    // A clean command carries no monitor field.
    let wire = serde_json::to_value(
        client
            .scan_blocking(
                &ScanRequest::builder("POST", "https://runner.local/exec")
                    .json_body(json!({"command": "ls"}))
                    .tool("shell")
                    .build()
                    .unwrap(),
            )
            .unwrap(),
    )
    .unwrap();
    assert!(wire.get("monitor").is_none(), "{wire}");
}

#[test]
fn a_policy_in_monitor_mode_allows_and_says_what_it_would_have_done() {
    let path = std::env::temp_dir().join(format!("interven-monitor-{}.jsonl", fastrand::u64(..)));
    let p = policy(&format!(
        "mode = \"monitor\"\n{}",
        interven::engine::BUILTIN_POLICY.replace("[destinations]\nallow = []\ndeny = []\n", "")
    ));
    let engine = Engine::builder()
        .policy(p)
        .audit_log(&path)
        .build()
        .unwrap();
    let key = format!("AKIA{}", "Q3EGRB4VXLTU7MCN");
    let v = engine.scan(&post(
        "https://x.io/notes",
        json!({"k": key, "to": "jane.roe@acme.io"}),
    ));
    assert_eq!(v.decision, Decision::Allow);
    assert!(
        v.sanitized_body.is_none(),
        "an ALLOW runs with the original arguments"
    );
    let m = v.monitored().unwrap();
    assert_eq!(m.decision, Decision::Deny);
    assert_eq!(
        set(&m.reason_codes),
        set(&["SECRET_DETECTED".into(), "PII_DETECTED".into()])
    );
    assert_eq!(m.reason_codes[0], "SECRET_DETECTED", "most severe first");
    // A monitored REQUIRE_APPROVAL creates no approval.
    let v = engine.scan(&ScanRequest::new(
        "DELETE",
        "https://api.github.com/repos/o/r",
    ));
    assert_eq!(
        (v.decision, v.approval_id.is_none()),
        (Decision::Allow, true)
    );
    assert!(engine.pending_approvals().is_empty());
    let audit = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let first: Value = serde_json::from_str(audit.lines().next().unwrap()).unwrap();
    assert_eq!(first["monitored"], json!(true));
    assert_eq!(first["monitor"]["decision"], json!("DENY"));
    assert!(
        !audit.contains(&key) && !audit.contains("jane.roe@acme.io"),
        "{audit}"
    );
}

#[test]
fn exemptions_drop_findings_before_the_rules_and_are_listed() {
    let sandbox = "AKIAZ7PQ4MX2RT6WLB3K";
    let p = policy(&format!(
        r#"
        [[rules]]
        name = "secrets"
        finding_kinds = ["secret"]
        decision = "DENY"
        reason = "SECRET_DETECTED"

        [[rules]]
        name = "pii"
        finding_kinds = ["pii"]
        decision = "SANITIZE"
        reason = "PII_DETECTED"

        [[exempt]]
        name = "requester"
        fields = ["/requester"]
        finding_types = ["email"]

        [[exempt]]
        name = "sandbox"
        values = ["{}"]
        "#,
        value_digest(sandbox.as_bytes())
    ));
    assert_eq!(p.exemptions().len(), 2);
    let engine = Engine::new(p);
    let a = engine.assess(
        &post(
            "https://desk.acme.io/tickets",
            json!({"requester": "jane.roe@acme.io", "cc": "john.doe@acme.io", "key": sandbox}),
        ),
        "s",
    );
    assert_eq!(a.decision, Decision::Sanitize);
    assert_eq!(a.reason_codes, ["PII_DETECTED"]);
    // The exempted email is kept as is, the other one redacted.
    assert_eq!(
        a.sanitized_body,
        Some(json!({"requester": "jane.roe@acme.io", "cc": "[REDACTED:EMAIL]", "key": sandbox}))
    );
    let exempted: BTreeSet<(&str, &str, &str)> = a
        .exempted
        .iter()
        .map(|e| {
            (
                e.finding.finding_type.as_str(),
                e.finding.path.as_str(),
                e.exemption.as_str(),
            )
        })
        .collect();
    assert_eq!(
        exempted,
        BTreeSet::from([
            ("EMAIL", "/requester", "requester"),
            ("AWS_ACCESS_KEY_ID", "/key", "sandbox")
        ])
    );
    assert!(
        a.findings.iter().all(|f| f.path == "/cc"),
        "{:?}",
        a.findings
    );
    assert!(
        !format!("{:?}", a.exempted).contains("jane.roe"),
        "no values in Debug"
    );
    // A value that differs by one byte is not exempted.
    let a = engine.assess(
        &post("https://x.io/", json!({"key": "AKIAZ7PQ4MX2RT6WLB3L"})),
        "s",
    );
    assert_eq!(a.decision, Decision::Deny);
}

#[test]
fn set_policy_swaps_atomically_under_load() {
    let rule = |reason: &str| {
        policy(&format!(
            "[[rules]]\nname = \"a\"\ndecision = \"DENY\"\nreason = \"{reason}\"\n[[rules]]\nname = \"b\"\nmethods = [\"POST\"]\ndecision = \"SANITIZE\"\nreason = \"{reason}_TOO\"\n"
        ))
    };
    let engine = Arc::new(Engine::new(rule("OLD")));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (engine, stop) = (Arc::clone(&engine), Arc::clone(&stop));
            std::thread::spawn(move || {
                let r = post("https://x.io/", json!({}));
                let mut seen = BTreeSet::new();
                // At least one assessment, however late the thread starts.
                loop {
                    let codes = engine.assess(&r, "s").reason_codes;
                    // Both reasons always come from the same policy.
                    assert!(
                        codes == ["OLD", "OLD_TOO"] || codes == ["NEW", "NEW_TOO"],
                        "{codes:?}"
                    );
                    seen.insert(codes[0].clone());
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                }
                seen
            })
        })
        .collect();
    for i in 0..200 {
        engine.set_policy(rule(if i % 2 == 0 { "NEW" } else { "OLD" }));
    }
    engine.set_policy(rule("NEW"));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        assert!(!r.join().unwrap().is_empty());
    }
    assert_eq!(engine.policy().rules()[0].reason, "NEW");
}

#[test]
fn load_errors_name_line_and_column() {
    let err = Policy::from_toml(
        "[[rules]]\nname = \"x\"\ndecision = \"DENY\"\nreason = \"R\"\nwhen = [{ field = \"/a\", regex = \"(\" }]\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("line 5") && err.contains("invalid regex"),
        "{err}"
    );
    let err = Policy::from_toml(
        "[[rules]]\nname = \"x\"\ndecision = \"DENY\"\nreason = \"R\"\nrate = { max = 5, per = \"soon\" }\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("line 5") && err.contains("per"), "{err}");
    let err = Policy::from_toml("[[exempt]]\nname = \"x\"\nvalues = [\"AKIAZ7PQ4MX2RT6WLB3K\"]\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 3") && err.contains("sha256"), "{err}");
    assert!(
        !err.contains("AKIAZ7PQ4MX2RT6WLB3K"),
        "an error never repeats a would-be secret: {err}"
    );
    let err = Policy::from_toml("mode = \"watch\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 1"), "{err}");
}

/// Every prefix and many one-byte edits of every shipped policy load or fail
/// with an error; none panics, in `from_toml` or in `check`.
#[test]
fn no_policy_text_panics() {
    let mut files: Vec<PathBuf> = shared_suites().into_iter().map(|(p, _)| p).collect();
    files.dedup();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let bytes = text.as_bytes();
        for cut in (0..bytes.len()).step_by(97) {
            let s = String::from_utf8_lossy(&bytes[..cut]);
            let _ = Policy::from_toml(&s);
            let _ = Policy::check(&s);
        }
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..30 {
            let mut b = bytes.to_vec();
            let i = rng.usize(..b.len());
            b[i] = *b"\"'[]{}=,\n#*/~\\0aZ"
                .get(rng.usize(..18))
                .unwrap_or(&b'x');
            let s = String::from_utf8_lossy(&b);
            let _ = Policy::from_toml(&s);
            for d in Policy::check(&s) {
                assert!(d.line >= 1 && d.column >= 1);
                let _ = d.severity == Severity::Error;
            }
        }
    }
}

#[test]
fn when_never_errors_on_odd_bodies() {
    let engine = Engine::new(policy(
        "[[rules]]\nname = \"x\"\nwhen = [{ field = \"/*/*/a\", gt = 1 }, { field = \"/*\", exists = true }]\ndecision = \"DENY\"\nreason = \"R\"\n",
    ));
    for body in [
        json!(null),
        json!("text"),
        json!([]),
        json!([[{"a": 2}]]),
        json!({"x": {"y": {"a": "2"}}}),
        json!({"x": [{"a": 1e308}, {"a": -0.0}]}),
        json!({"x": {"y": {"a": u64::MAX}}}),
    ] {
        let _ = engine.assess(&post("https://x.io/", body), "s");
    }
    assert_eq!(
        engine
            .assess(&post("https://x.io/", json!([[{"a": 2}]])), "s")
            .decision,
        Decision::Deny
    );
}

#[test]
fn a_gateway_monitor_field_parses_and_an_unknown_one_fails_closed() {
    let ok = br#"{"decision": "ALLOW", "risk_score": 0.2, "risk_band": "LOW", "reason_codes": [],
                  "trace_id": "tr_1", "monitor": {"decision": "REQUIRE_APPROVAL", "reason_codes": ["BIG"]}}"#;
    let v = Verdict::from_json(ok).unwrap();
    let m = v.monitored().unwrap();
    assert_eq!(
        (m.decision, m.reason_codes.as_slice()),
        (Decision::RequireApproval, &["BIG".to_owned()][..])
    );
    assert!(!v.extra.contains_key("monitor"));
    let bad = br#"{"decision": "ALLOW", "trace_id": "tr_1", "monitor": {"decision": "MAYBE"}}"#;
    let err = Verdict::from_json(bad).unwrap_err();
    assert!(err.to_string().contains("MAYBE"), "{err}");
}
