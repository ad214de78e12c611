//! The embedded engine on the labelled corpus, and its properties on any input.

use std::collections::BTreeMap;

use interven::engine::{Engine, FindingKind};
use interven::{Decision, ScanRequest};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::corpus::{Case, Label, corpus};

fn request(case: &Case) -> ScanRequest {
    let mut b = ScanRequest::builder("POST", case.url.clone())
        .json_body(case.body.clone())
        .tool("corpus");
    for (k, v) in &case.headers {
        b = b.header(k.clone(), v.clone());
    }
    b.build().unwrap()
}

#[derive(Default, Debug)]
struct Tally {
    total: usize,
    hit: usize,
    misses: Vec<String>,
}

/// Recall per kind and false positives on hard negatives, with the bars of the issue:
/// secrets ≥ 97 %, PII ≥ 95 %, false positives ≤ 1 %.
#[test]
fn corpus_recall_and_false_positives() {
    let engine = Engine::default();
    let cases = corpus();
    assert!(
        cases.len() >= 500,
        "the corpus has only {} bodies",
        cases.len()
    );
    let mut tallies: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut per_type: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for case in &cases {
        let a = engine.assess(&request(case), "corpus");
        let (name, hit) = match case.label {
            Label::Secret => (
                "secret",
                a.findings.iter().any(|f| f.kind == FindingKind::Secret)
                    && a.decision == Decision::Deny,
            ),
            Label::Pii => (
                "pii",
                a.findings
                    .iter()
                    .any(|f| f.kind == FindingKind::Pii && f.finding_type == case.ty),
            ),
            Label::Negative => (
                "negative",
                !a.findings
                    .iter()
                    .any(|f| matches!(f.kind, FindingKind::Secret | FindingKind::Pii))
                    && a.decision == Decision::Allow,
            ),
        };
        let t = tallies.entry(name).or_default();
        t.total += 1;
        if hit {
            t.hit += 1;
        } else {
            let found: Vec<_> = a
                .findings
                .iter()
                .map(|f| format!("{}@{}", f.finding_type, f.path))
                .collect();
            t.misses.push(format!(
                "{} [{}] {} -> {:?} {found:?}",
                case.ty,
                case.position,
                case.body.to_string().chars().take(160).collect::<String>(),
                a.decision
            ));
        }
        if case.label == Label::Secret {
            let e = per_type.entry(case.ty.clone()).or_default();
            e.0 += 1;
            if a.findings.iter().any(|f| f.finding_type == case.ty) {
                e.1 += 1;
            }
        }
    }
    let rate = |t: &Tally| t.hit as f64 / t.total.max(1) as f64;
    for (name, t) in &tallies {
        println!("{name}: {}/{} = {:.1}%", t.hit, t.total, rate(t) * 100.0);
        for m in t.misses.iter().take(40) {
            println!("  miss: {m}");
        }
    }
    let typed: usize = per_type.values().map(|v| v.1).sum();
    let all: usize = per_type.values().map(|v| v.0).sum();
    println!(
        "secret type accuracy: {typed}/{all}; formats covered: {}",
        per_type.len()
    );
    assert!(
        per_type.len() >= 50,
        "the corpus covers {} secret types",
        per_type.len()
    );
    assert!(
        rate(&tallies["secret"]) >= 0.97,
        "secret recall {:.3}: {:#?}",
        rate(&tallies["secret"]),
        tallies["secret"].misses
    );
    assert!(
        rate(&tallies["pii"]) >= 0.95,
        "PII recall {:.3}: {:#?}",
        rate(&tallies["pii"]),
        tallies["pii"].misses
    );
    let fp = 1.0 - rate(&tallies["negative"]);
    assert!(
        fp <= 0.01,
        "false positives {:.3}: {:#?}",
        fp,
        tallies["negative"].misses
    );
}

/// Every secret and PII value of the corpus is gone from the sanitized body,
/// and re-scanning the sanitized body finds only placeholders.
#[test]
fn corpus_sanitized_bodies_hold_nothing_raw() {
    let engine = Engine::default();
    for case in corpus()
        .iter()
        .filter(|c| c.label != Label::Negative && c.headers.is_empty())
    {
        let a = engine.assess(&request(case), "corpus");
        let Some(sanitized) = a.sanitized_body else {
            continue;
        };
        let again = engine.assess(
            &request(&Case {
                body: sanitized.clone(),
                ..case.clone()
            }),
            "corpus",
        );
        assert!(
            again.findings.iter().all(|f| f.placeholder),
            "{} [{}]: raw findings survive: {:?}",
            case.ty,
            case.position,
            again.findings
        );
        assert_eq!(again.sanitized_body, None, "sanitizing is idempotent");
        assert_eq!(
            again.decision, a.decision,
            "placeholders decide like the originals"
        );
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        "[a-z]{2,8}@[a-z]{2,8}\\.(com|io)".prop_map(Value::String),
        "(AKIA|ghp_|sk_live_|xoxb-)[A-Za-z0-9]{8,40}".prop_map(Value::String),
        "[0-9 +()-]{7,22}".prop_map(Value::String),
        "\\[REDACTED:[A-Z_]{2,12}\\]".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}|password|api_key|ssn|dob|email", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::Object(m) => m.iter().for_each(|(k, x)| {
            out.push(k.clone());
            collect_strings(x, out);
        }),
        other => out.push(other.to_string()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any JSON body gives a verdict, never a panic; no finding's value
    /// survives in the sanitized body; sanitizing is idempotent.
    #[test]
    fn any_body_gives_a_verdict_and_sanitizes_cleanly(body in arb_json(), url in "(https?://[a-z.]{1,20}(:[0-9]{1,5})?/[ -~]{0,30})|[ -~]{0,30}") {
        let engine = Engine::default();
        let req = ScanRequest::builder("POST", url).json_body(body.clone()).build().unwrap();
        let verdict = engine.scan(&req);
        prop_assert!((0.0..=1.0).contains(&verdict.risk_score));
        let a = engine.assess(&req, "p");
        if let Some(sanitized) = &a.sanitized_body {
            let mut strings = Vec::new();
            collect_strings(sanitized, &mut strings);
            let mut originals = Vec::new();
            collect_strings(&body, &mut originals);
            for f in a.findings.iter().filter(|f| !f.placeholder && matches!(f.kind, FindingKind::Secret | FindingKind::Pii) && f.path != "url") {
                // The raw value is the finding's span of the string at its path.
                let raw = pointer_text(&body, &f.path, f.in_key).and_then(|s| s.get(f.span.clone()).map(str::to_owned));
                if let Some(raw) = raw.filter(|r| r.len() >= 6) {
                    prop_assert!(!strings.iter().any(|s| s.contains(&raw)), "{raw:?} survived in {sanitized}");
                }
            }
            let again = engine.assess(&ScanRequest::builder("POST", "https://x.io").json_body(sanitized.clone()).build().unwrap(), "p");
            prop_assert!(again.sanitized_body.is_none(), "not idempotent: {sanitized} -> {:?}", again.sanitized_body);
        }
    }
}

/// The text at a JSON pointer: the key itself when `in_key`, else the value as text.
fn pointer_text(body: &Value, path: &str, in_key: bool) -> Option<String> {
    if in_key {
        let (_, last) = path.rsplit_once('/')?;
        return Some(last.replace("~1", "/").replace("~0", "~"));
    }
    match body.pointer(path)? {
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}
