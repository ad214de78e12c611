//! The body scanned straight from its JSON bytes (`Engine::assess_json`)
//! against the walk over the parsed `Value` (`Engine::assess`): on the whole
//! generated corpus and on the red-team probes, in four spellings of each
//! body (compact, pretty, every non-ASCII character and `/` escaped, and
//! with every object's members in reverse order), the findings (kind, type,
//! path, span, key or value, placeholder, confidence), the decision and the
//! sanitized body are the same.

use interven::engine::{AssessOptions, Assessment, Engine};
use interven::{Decision, ScanRequest};
use serde_json::{Map, Value, json};

use crate::corpus::{corpus, request};

/// Every character outside ASCII as `\uXXXX` (surrogate pairs above the
/// BMP) and `/` as `\/`: strings that serde cannot borrow from the input.
fn escaped_json(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '/' => out.push_str("\\/"),
                    c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                        let mut buf = [0u16; 2];
                        for unit in c.encode_utf16(&mut buf) {
                            out.push_str(&format!("\\u{unit:04x}"));
                        }
                    }
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                escaped_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                escaped_json(&Value::String(k.clone()), out);
                out.push(':');
                escaped_json(item, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The same value with every object's members in reverse order.
fn reversed(v: &Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(reversed).collect()),
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, item) in map.iter().rev() {
                out.insert(k.clone(), reversed(item));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

type Seen = Vec<(
    String,
    String,
    String,
    std::ops::Range<usize>,
    bool,
    bool,
    String,
)>;

fn seen(a: &Assessment) -> Seen {
    a.findings
        .iter()
        .map(|f| {
            (
                format!("{:?}", f.kind),
                f.finding_type.clone(),
                f.path.clone(),
                f.span.clone(),
                f.in_key,
                f.placeholder,
                format!("{:?}", f.confidence),
            )
        })
        .collect()
}

/// Both paths on one request, in every spelling of its body; returns how
/// many findings the `Value` path gave.
fn same_both_ways(engine: &Engine, name: &str, req: &ScanRequest) -> usize {
    let mut total = 0;
    for body in [req.body().clone(), reversed(req.body())] {
        let mut req = req.clone();
        req.set_body(body.clone());
        let by_value = engine.assess(&req, "eq");
        let mut escaped = String::new();
        escaped_json(&body, &mut escaped);
        for (spelling, bytes) in [
            ("compact", serde_json::to_vec(&body).unwrap()),
            ("pretty", serde_json::to_vec_pretty(&body).unwrap()),
            ("escaped", escaped.into_bytes()),
        ] {
            let mut bare = req.clone();
            bare.set_body(json!({"ignored": "the bytes are scanned"}));
            let (by_bytes, back) = engine
                .assess_json(bare, &bytes, "eq", &AssessOptions::default())
                .unwrap_or_else(|e| panic!("{name} ({spelling}): {e}"));
            assert_eq!(
                seen(&by_bytes),
                seen(&by_value),
                "{name} ({spelling}): findings differ"
            );
            assert_eq!(by_bytes.decision, by_value.decision, "{name} ({spelling})");
            // A DENY or ALLOW needs no sanitized body: the bytes path builds none.
            if matches!(
                by_value.decision,
                Decision::Sanitize | Decision::RequireApproval
            ) {
                assert_eq!(
                    by_bytes.sanitized_body, by_value.sanitized_body,
                    "{name} ({spelling})"
                );
                if by_value.decision == Decision::RequireApproval
                    || by_bytes.sanitized_body.is_none()
                {
                    assert_eq!(back.body(), &body, "{name}: the parsed body is returned");
                } else {
                    // Redacted in place: the parsed body became the sanitized one.
                    assert_eq!(back.body(), &json!({}), "{name}: the body is not copied");
                }
            } else {
                assert_eq!(by_bytes.sanitized_body, None, "{name} ({spelling})");
            }
        }
        total += by_value.findings.len();
    }
    total
}

#[test]
fn bytes_and_value_agree_on_the_corpus() {
    let engine = Engine::default();
    let mut findings = 0;
    for (i, case) in corpus().iter().enumerate() {
        findings += same_both_ways(
            &engine,
            &format!("case {i} [{}]", case.group),
            &request(case),
        );
    }
    // The comparison is not vacuous: the corpus is full of findings.
    assert!(findings > 1000, "{findings}");
}

#[test]
fn bytes_and_value_agree_on_the_red_team_probes() {
    let engine = Engine::default();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/redteam/probes.jsonl"
    ))
    .unwrap();
    let mut findings = 0;
    let mut probes = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let probe: Value = serde_json::from_str(line).unwrap();
        let req: ScanRequest = serde_json::from_value(probe["request"].clone()).unwrap();
        findings += same_both_ways(&engine, probe["name"].as_str().unwrap_or("?"), &req);
        probes += 1;
    }
    assert!(
        probes > 800 && findings > 500,
        "{probes} probes, {findings}"
    );
}

#[test]
fn siblings_joins_and_escapes_in_any_order() {
    let engine = Engine::default();
    let token = format!("AKIA{}", "Q3EGRB4VXLTU7MCN");
    let (head, tail) = token.split_at(8);
    let long = "line\n".repeat(1000);
    let wide = "é\tü".repeat(1000);
    for body in [
        json!({"env": [{"name": "DB_PASSWORD", "value": "Zq8!kPm2x"}, {"value": "Zq8!kPm2x", "name": "DB_PASSWORD"}]}),
        json!({"params": [{"ParameterValue": "Zq8!kPm2xW", "ParameterKey": "DB_PASSWORD", "note": "x"}]}),
        json!({"p": {"Key": "title", "value": "Zq8!kPm2x", "name": "db_password"}}),
        json!({"a": head, "b": tail, "c": [head, tail], "d": format!("é{head}"), "e": tail}),
        json!({"card": 4539_1488_0343_6467u64, "neg": -4539_1488_0343_6467i64, "f": 1.0e20, "small": 12}),
        json!({"jane.doe@acme-corp.net": true, "k\u{e9}y": "mail jane.doe@acme-corp.net"}),
        // Long strings with escapes: only their ends are kept for the joins.
        json!({"a": format!("{long}{head}"), "b": tail, "c": [format!("{long}{head}"), tail]}),
        json!({"a": head, "b": format!("{tail} {long}"), "c": [head, format!("{tail}{long}")]}),
        json!({"a": format!("{wide}{head}"), "b": format!("{tail}{wide}"), "c": format!("{tail}é{long}")}),
        json!({"name": format!("DB_PASSWORD{long}"), "value": "Zq8!kPm2x", "to": "jane.doe@acme-corp.net"}),
    ] {
        let req = ScanRequest::builder("POST", "https://api.acme.io/x")
            .json_body(body.clone())
            .build()
            .unwrap();
        assert!(
            same_both_ways(&engine, &body.to_string(), &req) > 0,
            "{body}"
        );
    }
    // Numbers are scanned by their digits, signed or not (a JSON integer
    // is a card under a key that names one, or none).
    for body in [
        json!({"card_number": 4539_1488_0343_6467u64}),
        json!([-4539_1488_0343_6467i64]),
    ] {
        let (a, _) = engine
            .assess_json(
                ScanRequest::new("POST", "https://api.acme.io/x"),
                body.to_string().as_bytes(),
                "t",
                &AssessOptions::default(),
            )
            .unwrap();
        assert_eq!(a.findings.len(), 1, "{body}: {:?}", a.findings);
        assert_eq!(a.findings[0].finding_type, "PAYMENT_CARD");
    }
}

#[test]
fn duplicate_keys_bad_json_and_deep_bodies() {
    let engine = Engine::default();
    let req = || ScanRequest::new("POST", "https://api.acme.io/x");
    let opts = AssessOptions::default();
    for bad in [
        &br#"{"a": 1, "a": 2}"#[..],
        br#"{"x": [{"k": "v", "\u006b": "w"}]}"#,
        br#"{"v": {"value": 1, "name": "a", "name": "b"}}"#,
        br#"{"a": "#,
        br#"{"a": 1} trailing"#,
    ] {
        let e = engine.assess_json(req(), bad, "t", &opts).unwrap_err();
        assert!(!e.to_string().contains("\"k\""), "{e}");
    }
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let (a, _) = engine
        .assess_json(req(), deep.as_bytes(), "t", &opts)
        .unwrap();
    assert_eq!(a.reason_codes, ["BODY_TOO_DEEP"]);
    let fine = format!("{}1{}", "[".repeat(100), "]".repeat(100));
    let (a, _) = engine
        .assess_json(req(), fine.as_bytes(), "t", &opts)
        .unwrap();
    assert_ne!(a.reason_codes, ["BODY_TOO_DEEP"]);
}

/// The findings of one big body both ways: the `Value` walk (serial) and
/// the bytes path, which splits a body this big on value boundaries and
/// scans the pieces on several threads.
#[test]
fn the_body_redacted_is_the_body_scanned() {
    // serde_json's own `Value` (with its `raw_value` feature) reads an object
    // whose only key is `$serde_json::private::RawValue` as the JSON in its
    // string: the scan saw a string, and its redaction must land there, not
    // in a tree of another shape where the e-mail would survive.
    let engine = Engine::default();
    let text = r#"{"$serde_json::private::RawValue": "{\"to\": \"jane.doe@acme-corp.net\"}"}"#;
    let verdict = engine
        .scan_json(
            ScanRequest::new("POST", "https://x.io/send"),
            text.as_bytes(),
        )
        .unwrap();
    assert_eq!(verdict.decision, Decision::Sanitize);
    let body = verdict.sanitized_body.unwrap();
    let inner = body["$serde_json::private::RawValue"].as_str().unwrap();
    assert!(inner.contains("[REDACTED:EMAIL]"), "{body}");
    assert!(!body.to_string().contains("jane.doe"), "{body}");
}

fn big_body_both_ways(engine: &Engine, name: &str, body: Value) -> Assessment {
    let bytes = serde_json::to_vec(&body).unwrap();
    assert!(bytes.len() > 600 * 1024, "{name}: {} bytes", bytes.len());
    let req = ScanRequest::builder("POST", "https://api.acme.io/batch")
        .json_body(body)
        .tool("corpus")
        .build()
        .unwrap();
    let by_value = engine.assess(&req, "eq");
    let mut bare = req.clone();
    bare.set_body(json!({}));
    let (by_bytes, _) = engine
        .assess_json(bare, &bytes, "eq", &AssessOptions::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(seen(&by_bytes), seen(&by_value), "{name}: findings differ");
    assert_eq!(by_bytes.decision, by_value.decision, "{name}");
    assert_eq!(by_bytes.reason_codes, by_value.reason_codes, "{name}");
    by_value
}

#[test]
fn big_bodies_split_over_threads_give_the_serial_findings() {
    let engine = Engine::default();
    let bodies: Vec<Value> = corpus().iter().map(|c| c.body.clone()).collect();
    // Under the findings cap: hard negatives with a few hundred findings
    // among them, as records of a log batch, with strings between the
    // records (a token split across two of them) and a nested batch.
    // Hard negatives and every fifteenth labelled value: a few hundred findings.
    let mut records: Vec<Value> = corpus()
        .iter()
        .enumerate()
        .filter(|(i, c)| c.negative || i % 15 == 0)
        .map(|(_, c)| c.body.clone())
        .collect();
    let token = format!("AKIA{}", "Q3EGRB4VXLTU7MCN");
    let (head, tail) = token.split_at(9);
    let at = records.len() / 2;
    records.insert(at, json!(tail));
    records.insert(at, json!(head));
    records.insert(at, json!({"x": 1}));
    let mut filler = records.clone();
    let record = json!({"level": "info", "msg": "request served", "ms": 12});
    let mut size = serde_json::to_vec(&filler).unwrap().len();
    while size < 700 * 1024 {
        size += record.to_string().len() + 1;
        filler.push(record.clone());
    }
    let a = big_body_both_ways(
        &engine,
        "log batch",
        json!({"meta": {"page": 1}, "records": filler.clone(), "next": null}),
    );
    assert!(
        a.findings.len() > 100 && a.findings.len() <= 1000,
        "{}",
        a.findings.len()
    );
    assert!(a.findings.iter().any(|f| f.path.contains("records")));
    big_body_both_ways(
        &engine,
        "nested batch",
        json!({"pages": [filler.clone(), {"deep": {"rows": filler.clone()}}]}),
    );
    big_body_both_ways(&engine, "top-level array", Value::Array(filler.clone()));
    // The big array as a value walked after the name that follows it.
    big_body_both_ways(
        &engine,
        "value before its name",
        json!({"value": filler.clone(), "name": "db_password"}),
    );
    // Over the cap: the whole corpus in one body (TOO_MANY_FINDINGS, with
    // exactly the findings the serial walk stops at).
    let a = big_body_both_ways(&engine, "whole corpus", json!({"rows": bodies}));
    assert_eq!(a.reason_codes, ["TOO_MANY_FINDINGS"]);
    // A duplicate key or too deep a value in the last record still fails
    // the body, as it does in one thread.
    // A syntax error midway, after runs were handed to the pool, fails the
    // body as it does in one thread.
    let whole = serde_json::to_string(&json!({"rows": filler})).unwrap();
    let cut = whole[whole.len() / 2..].find("},{").unwrap() + whole.len() / 2;
    let broken = format!("{}}}{{{}", &whole[..cut], &whole[cut + 3..]);
    assert!(serde_json::from_str::<Value>(&broken).is_err());
    assert!(
        engine
            .assess_json(
                ScanRequest::new("POST", "https://api.acme.io/x"),
                broken.as_bytes(),
                "t",
                &AssessOptions::default(),
            )
            .is_err()
    );
    // A number with a stray byte after it, or a stray value between two
    // records: not JSON, whichever way the array is cut.
    let whole = serde_json::to_string(&json!({"rows": filler})).unwrap();
    for (from, to) in [(r#""ms":12}"#, r#""ms":12}, 7x"#), ("},{", "} 1,{")] {
        let at = whole.len() / 2 + whole[whole.len() / 2..].find(from).unwrap();
        let broken = format!("{}{to}{}", &whole[..at], &whole[at + from.len()..]);
        assert!(serde_json::from_str::<Value>(&broken).is_err(), "{to}");
        let scanned = engine.assess_json(
            ScanRequest::new("POST", "https://api.acme.io/x"),
            broken.as_bytes(),
            "t",
            &AssessOptions::default(),
        );
        assert!(scanned.is_err(), "{to}");
    }
    let mut bad = serde_json::to_string(&json!({"rows": filler})).unwrap();
    bad.truncate(bad.len() - 2);
    let deep = format!(",{}1{}]}}", "[".repeat(200), "]".repeat(200));
    let (a, _) = engine
        .assess_json(
            ScanRequest::new("POST", "https://api.acme.io/x"),
            format!("{bad}{deep}").as_bytes(),
            "t",
            &AssessOptions::default(),
        )
        .unwrap();
    assert_eq!(a.reason_codes, ["BODY_TOO_DEEP"]);
    let dup = format!(r#"{bad},{{"a": 1, "a": 2}}]}}"#);
    let e = engine
        .assess_json(
            ScanRequest::new("POST", "https://api.acme.io/x"),
            dup.as_bytes(),
            "t",
            &AssessOptions::default(),
        )
        .unwrap_err();
    assert!(e.to_string().contains("duplicate"), "{e}");
}
