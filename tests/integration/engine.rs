//! The embedded engine's properties on any input (the labelled corpus is scored in `corpus.rs`).

use interven::ScanRequest;
use interven::engine::{Engine, FindingKind};
use proptest::prelude::*;
use serde_json::{Value, json};

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
