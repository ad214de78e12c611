//! `interven-gateway policy test|check|digest`: a policy file's fixture
//! tests, its lint, and the digest of a value to exempt.
//!
//! Exit codes: `0` all good; `1` a case did not get its expected decision,
//! or the policy has errors; `2` a file could not be read or parsed (a
//! policy that does not load included).

use std::collections::BTreeSet;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use clap::Subcommand;
use interven::engine::{AssessOptions, Assessment, Engine, Policy, Severity, value_digest};
use interven::{Decision, ScanRequest};
use serde::Deserialize;
use serde_json::{Value, json};

/// `policy` subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyAction {
    /// Run JSON Lines cases against a policy; one line per mismatch.
    /// Exit 0: all pass, 1: a mismatch, 2: an unreadable file or policy.
    Test {
        /// The TOML policy file.
        policy: PathBuf,
        /// JSON Lines: `{"name", "request": {"method", "url", "body", "headers"?,
        /// "tool"?, "operation"?, "agent_id"?}, "expect": {"decision", "reason_codes"?, "monitor"?}}`.
        #[arg(long)]
        cases: PathBuf,
    },
    /// Lint a policy: unknown keys, bad pointers, regexes and globs, unknown
    /// finding types, rules that never match or are shadowed. Exit 1 on any error.
    Check {
        /// The TOML policy file.
        policy: PathBuf,
    },
    /// Print `sha256:<hex>` of the value on stdin (one trailing newline
    /// is not part of it), for an exemption's `values`.
    Digest,
}

/// A command's wish for a process exit code other than 0, without an error message.
#[derive(Debug)]
pub struct Exit(pub u8);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for Exit {}

/// One line of a cases file. Unknown keys are reported and ignored.
#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    request: ScanRequest,
    expect: Expect,
    /// The API key id rate rules with `by = "key"` count by.
    #[serde(default)]
    key: Option<String>,
    /// Seconds since the first case: when this call happens (default: the
    /// previous case's time), so rate windows can expire without waiting.
    #[serde(default)]
    at: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct Expect {
    #[serde(deserialize_with = "decision")]
    decision: Decision,
    #[serde(default)]
    reason_codes: Option<Vec<String>>,
    /// `null`: no monitor-mode rule matches; an object: what it reports.
    #[serde(default, deserialize_with = "some")]
    monitor: Option<Option<ExpectMonitor>>,
}

#[derive(Debug, Deserialize)]
struct ExpectMonitor {
    #[serde(deserialize_with = "decision")]
    decision: Decision,
    #[serde(default)]
    reason_codes: Option<Vec<String>>,
}

/// A decision in any case (`"deny"` too); an unknown one is an error.
fn decision<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Decision, D::Error> {
    let s = String::deserialize(d)?;
    Decision::parse(&s).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "unknown decision `{s}`: expected ALLOW, SANITIZE, REQUIRE_APPROVAL or DENY"
        ))
    })
}

const CASE_KEYS: &[&str] = &["name", "request", "expect", "key", "at"];
const EXPECT_KEYS: &[&str] = &["decision", "reason_codes", "monitor"];

/// Keys of a case this version does not know (they are ignored, and said so).
fn unknown_keys(case: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(map) = case.as_object() {
        out.extend(
            map.keys()
                .filter(|k| !CASE_KEYS.contains(&k.as_str()))
                .cloned(),
        );
    }
    if let Some(map) = case.get("expect").and_then(Value::as_object) {
        out.extend(
            map.keys()
                .filter(|k| !EXPECT_KEYS.contains(&k.as_str()))
                .map(|k| format!("expect.{k}")),
        );
    }
    out
}

fn some<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<ExpectMonitor>>, D::Error> {
    Option::<ExpectMonitor>::deserialize(d).map(Some)
}

/// Runs a `policy` subcommand, writing results to `out` and problems to `err`.
/// Returns the exit code.
pub fn run(
    action: &PolicyAction,
    input: impl Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let result = match action {
        PolicyAction::Test { policy, cases } => test(policy, cases, out, err),
        PolicyAction::Check { policy } => check(policy, out),
        PolicyAction::Digest => digest(input, out),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            2
        }
    }
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Reads and checks a policy file the way `serve` loads it: a policy that
/// does not parse, or has a `check` error, is refused with every reason.
/// (`policy test` only needs the policy to load, and shows `check` errors.)
///
/// # Errors
/// The reasons, one per line, with line and column.
pub fn load_checked(path: &Path) -> Result<(Policy, String), String> {
    let text = read(path)?;
    Ok((check_text(path, &text)?, text))
}

/// [`load_checked`] on text already read from `path` (named in the reasons).
///
/// # Errors
/// The reasons, one per line, with line and column.
pub fn check_text(path: &Path, text: &str) -> Result<Policy, String> {
    let errors: Vec<String> = Policy::check(text)
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| format!("{}:{d}", path.display()))
        .collect();
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    Policy::from_toml(text).map_err(|e| format!("{}: {e}", path.display()))
}

fn test(
    policy: &Path,
    cases: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, String> {
    // A policy that does not load is exit 2; `check`'s lints do not stop the
    // cases (a shadowed rule still means something), they are shown.
    let text = read(policy)?;
    for d in Policy::check(&text) {
        if d.severity == Severity::Error {
            let _ = writeln!(
                err,
                "{}:{d} (policy check; the cases run anyway)",
                policy.display()
            );
        }
    }
    let policy = Policy::from_toml(&text).map_err(|e| format!("{}: {e}", policy.display()))?;
    let file =
        std::fs::File::open(cases).map_err(|e| format!("cannot read {}: {e}", cases.display()))?;
    let mut parsed = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| format!("cannot read {}: {e}", cases.display()))?;
        if line.trim().is_empty() || line.trim_start().starts_with("//") {
            continue;
        }
        let value: Value = serde_json::from_str(&line)
            .map_err(|e| format!("{}:{}: not a case: {e}", cases.display(), n + 1))?;
        for key in unknown_keys(&value) {
            let _ = writeln!(
                err,
                "{}:{}: warning: unknown key `{key}` ignored",
                cases.display(),
                n + 1
            );
        }
        let case: Case = serde_json::from_value(value)
            .map_err(|e| format!("{}:{}: not a case: {e}", cases.display(), n + 1))?;
        if case.request.method().is_empty() {
            return Err(format!("{}:{}: empty method", cases.display(), n + 1));
        }
        parsed.push(case);
    }
    let engine = Engine::new(policy);
    let start = SystemTime::now();
    let mut at = 0.0_f64;
    let mut mismatches = 0;
    for case in &parsed {
        if let Some(t) = case.at {
            at = t.max(at);
        }
        let mut options =
            AssessOptions::new().at(start + Duration::from_secs_f64(at.clamp(0.0, 1e9)));
        if let Some(k) = &case.key {
            options = options.key(k.clone());
        }
        let scope = case.request.agent_id().unwrap_or("default");
        let a = engine.assess_with(&case.request, scope, &options);
        if let Some(why) = mismatch(&case.expect, &a) {
            mismatches += 1;
            writeln!(out, "{}: {why}", case.name).map_err(|e| e.to_string())?;
        }
    }
    let _ = writeln!(err, "{} case(s), {mismatches} mismatch(es)", parsed.len());
    Ok(u8::from(mismatches > 0))
}

fn codes(list: &[String]) -> String {
    format!("[{}]", list.join(", "))
}

fn same_codes(want: &[String], got: &[String]) -> bool {
    want.iter().collect::<BTreeSet<_>>() == got.iter().collect::<BTreeSet<_>>()
}

/// `None` when the assessment is what the case expects, else "expected …, got …".
fn mismatch(expect: &Expect, a: &Assessment) -> Option<String> {
    let decision_ok = expect.decision == a.decision;
    let codes_ok = expect
        .reason_codes
        .as_ref()
        .is_none_or(|want| same_codes(want, &a.reason_codes));
    let monitor_ok = match (&expect.monitor, &a.monitor) {
        (None, _) | (Some(None), None) => true,
        (Some(Some(want)), Some(got)) => {
            want.decision == got.decision
                && want
                    .reason_codes
                    .as_ref()
                    .is_none_or(|w| same_codes(w, &got.reason_codes))
        }
        _ => false,
    };
    if decision_ok && codes_ok && monitor_ok {
        return None;
    }
    let mut expected = expect.decision.to_string();
    if let Some(want) = &expect.reason_codes {
        expected.push(' ');
        expected.push_str(&codes(want));
    }
    match &expect.monitor {
        Some(Some(m)) => {
            expected.push_str(&format!(" monitor {}", m.decision));
            if let Some(w) = &m.reason_codes {
                expected.push(' ');
                expected.push_str(&codes(w));
            }
        }
        Some(None) => expected.push_str(" monitor none"),
        None => {}
    }
    let mut got = format!("{} {}", a.decision, codes(&a.reason_codes));
    if expect.monitor.is_some() {
        match &a.monitor {
            Some(m) => got.push_str(&format!(
                " monitor {} {}",
                m.decision,
                codes(&m.reason_codes)
            )),
            None => got.push_str(" monitor none"),
        }
    }
    Some(format!("expected {expected}, got {got}"))
}

fn check(policy: &Path, out: &mut dyn Write) -> Result<u8, String> {
    let text = read(policy)?;
    let diagnostics = Policy::check(&text);
    let mut errors = 0;
    for d in &diagnostics {
        if d.severity == Severity::Error {
            errors += 1;
        }
        writeln!(out, "{}:{d}", policy.display()).map_err(|e| e.to_string())?;
    }
    if diagnostics.is_empty() {
        writeln!(out, "{}: ok", policy.display()).map_err(|e| e.to_string())?;
    }
    Ok(u8::from(errors > 0))
}

fn digest(mut input: impl Read, out: &mut dyn Write) -> Result<u8, String> {
    let mut value = Vec::new();
    input
        .read_to_end(&mut value)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    if value.ends_with(b"\r\n") {
        value.truncate(value.len() - 2);
    } else if value.ends_with(b"\n") {
        value.truncate(value.len() - 1);
    }
    writeln!(out, "{}", value_digest(&value)).map_err(|e| e.to_string())?;
    Ok(0)
}

/// What a trace records beside the decision: `monitored` and `monitor`
/// when monitor-mode rules matched, the `exempted` findings (never their
/// values). `None` when there is neither.
pub fn trace_record(a: &Assessment) -> Option<Value> {
    if a.monitor.is_none() && a.exempted.is_empty() {
        return None;
    }
    let mut record = serde_json::Map::new();
    if let Some(m) = &a.monitor {
        record.insert("monitored".to_owned(), json!(true));
        record.insert("monitor".to_owned(), json!(m));
    }
    if !a.exempted.is_empty() {
        record.insert(
            "exempted".to_owned(),
            a.exempted
                .iter()
                .map(|e| {
                    json!({"type": e.finding.finding_type, "kind": e.finding.kind,
                           "path": e.finding.path, "exemption": e.exemption})
                })
                .collect(),
        );
    }
    Some(Value::Object(record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_strips_one_trailing_newline() {
        let run = |input: &[u8]| {
            let mut out = Vec::new();
            assert_eq!(digest(input, &mut out).unwrap(), 0);
            String::from_utf8(out).unwrap()
        };
        let test = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n";
        assert_eq!(run(b"test"), test);
        assert_eq!(run(b"test\n"), test);
        assert_eq!(run(b"test\r\n"), test);
        assert_ne!(run(b"test\n\n"), test, "only one newline is stripped");
        assert_ne!(run(b" test"), test);
    }
}
