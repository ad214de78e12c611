//! The redactor: rewrites a JSON body in place of each finding, keeping its shape.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::{Finding, FindingKind};

/// The placeholder for a finding type: `[REDACTED:EMAIL]`.
pub(crate) fn placeholder(ty: &str) -> String {
    format!("[REDACTED:{ty}]")
}

/// The body with every redactable finding (secrets and personal data, not
/// placeholders) replaced by its placeholder; `None` when nothing changes.
pub(crate) fn redact(body: &Value, findings: &[Finding]) -> Option<Value> {
    let (by_path, within) = plan(findings)?;
    let mut path = String::new();
    Some(rewrite(body.clone(), &mut path, &by_path, &within))
}

/// [`redact`] of a body the caller gives up: untouched subtrees are moved,
/// not copied. `Err` gives the body back when nothing changes.
pub(crate) fn redact_owned(body: Value, findings: &[Finding]) -> Result<Value, Value> {
    let Some((by_path, within)) = plan(findings) else {
        return Err(body);
    };
    let mut path = String::new();
    Ok(rewrite(body, &mut path, &by_path, &within))
}

/// The redactable findings in the body by path, and the containers on the
/// way to them; `None` when no finding is redactable. Findings outside the
/// body (URL, headers, names) are not the redactor's.
#[allow(clippy::type_complexity)]
fn plan(findings: &[Finding]) -> Option<(HashMap<&str, Vec<&Finding>>, HashSet<&str>)> {
    let mut by_path: HashMap<&str, Vec<&Finding>> = HashMap::new();
    for f in findings {
        if !f.placeholder
            && matches!(f.kind, FindingKind::Secret | FindingKind::Pii)
            && super::in_body(&f.path)
        {
            by_path.entry(f.path.as_str()).or_default().push(f);
        }
    }
    if by_path.is_empty() {
        return None;
    }
    // The containers on the way to a finding: any other subtree is copied
    // whole, without building its paths.
    let mut within: HashSet<&str> = HashSet::from([""]);
    for p in by_path.keys() {
        for (i, _) in p.match_indices('/').skip(1) {
            within.insert(&p[..i]);
        }
    }
    Some((by_path, within))
}

/// `value` with the findings of `by_path` replaced; untouched subtrees are
/// moved whole, without building their paths.
fn rewrite(
    value: Value,
    path: &mut String,
    by_path: &HashMap<&str, Vec<&Finding>>,
    within: &HashSet<&str>,
) -> Value {
    if matches!(value, Value::Array(_) | Value::Object(_))
        && !within.contains(path.as_str())
        && !by_path.contains_key(path.as_str())
    {
        return value;
    }
    match value {
        Value::String(s) => match by_path.get(path.as_str()) {
            Some(found) => Value::String(replace_spans(
                &s,
                found.iter().filter(|f| !f.in_key).copied(),
            )),
            None => Value::String(s),
        },
        Value::Number(n) => match by_path.get(path.as_str()) {
            Some(found) if found.iter().any(|f| !f.in_key) => Value::String(replace_spans(
                &n.to_string(),
                found.iter().filter(|f| !f.in_key).copied(),
            )),
            _ => Value::Number(n),
        },
        Value::Array(items) => {
            let len = path.len();
            let out = items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    path.push('/');
                    path.push_str(super::detect::itoa(i, &mut [0u8; 20]));
                    let v = rewrite(item, path, by_path, within);
                    path.truncate(len);
                    v
                })
                .collect();
            Value::Array(out)
        }
        Value::Object(map) => {
            let len = path.len();
            let mut out = Map::with_capacity(map.len());
            for (k, v) in map {
                path.push('/');
                path.push_str(&super::detect::escape_pointer(&k));
                let key = match by_path.get(path.as_str()) {
                    Some(found) if found.iter().any(|f| f.in_key) => {
                        replace_spans(&k, found.iter().filter(|f| f.in_key).copied())
                    }
                    _ => k,
                };
                let v = rewrite(v, path, by_path, within);
                path.truncate(len);
                out.insert(key, v);
            }
            Value::Object(out)
        }
        other => other,
    }
}

/// Replaces each finding's byte span in `text` by its placeholder.
/// Overlapping, out-of-range or mid-character spans are skipped, never a panic.
pub(crate) fn replace_spans<'a>(
    text: &str,
    findings: impl IntoIterator<Item = &'a Finding>,
) -> String {
    let mut spans: Vec<(usize, usize, &str)> = findings
        .into_iter()
        .filter(|f| !f.placeholder)
        .map(|f| (f.span.start, f.span.end, f.finding_type.as_str()))
        .filter(|&(s, e, _)| {
            s < e && e <= text.len() && text.is_char_boundary(s) && text.is_char_boundary(e)
        })
        .collect();
    spans.sort_by_key(|&(s, e, _)| (s, std::cmp::Reverse(e)));
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end, ty) in spans {
        if start < at {
            continue;
        }
        out.push_str(&text[at..start]);
        out.push_str(&placeholder(ty));
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn finding(path: &str, span: std::ops::Range<usize>, ty: &str, in_key: bool) -> Finding {
        Finding {
            kind: FindingKind::Pii,
            finding_type: ty.into(),
            path: path.into(),
            span,
            placeholder: false,
            in_key,
            confidence: crate::engine::Confidence::High,
        }
    }

    #[test]
    fn keeps_shape_and_replaces_every_span() {
        let body = json!({"to": "a@b.io, c@d.io", "n": [1, {"x": "keep"}], "a@b.io": true});
        let findings = [
            finding("/to", 0..6, "EMAIL", false),
            finding("/to", 8..14, "EMAIL", false),
            finding("/a@b.io", 0..6, "EMAIL", true),
        ];
        let out = redact(&body, &findings).unwrap();
        assert_eq!(
            out,
            json!({"to": "[REDACTED:EMAIL], [REDACTED:EMAIL]", "n": [1, {"x": "keep"}], "[REDACTED:EMAIL]": true})
        );
        assert_eq!(redact(&body, &[]), None);
    }

    #[test]
    fn only_the_way_to_a_finding_is_rebuilt() {
        let body = json!({
            "a": {"b": [{"c": "x@y.io"}, {"c": "keep"}], "d": {"e": "keep"}},
            "f": [["keep", {"g": 1}]],
            "h": {"i@j.io": {"k": "keep"}}
        });
        let findings = [
            finding("/a/b/0/c", 0..6, "EMAIL", false),
            finding("/h/i@j.io", 0..6, "EMAIL", true),
        ];
        assert_eq!(
            redact(&body, &findings).unwrap(),
            json!({
                "a": {"b": [{"c": "[REDACTED:EMAIL]"}, {"c": "keep"}], "d": {"e": "keep"}},
                "f": [["keep", {"g": 1}]],
                "h": {"[REDACTED:EMAIL]": {"k": "keep"}}
            })
        );
        // A key escaped in the pointer (`~1` for `/`) is found the same way.
        let body = json!({"a/b": {"c": "x@y.io"}});
        let out = redact(&body, &[finding("/a~1b/c", 0..6, "EMAIL", false)]).unwrap();
        assert_eq!(out, json!({"a/b": {"c": "[REDACTED:EMAIL]"}}));
    }

    #[test]
    fn bad_spans_never_panic() {
        let f = [
            finding("/a", 5..99, "X", false),
            finding("/a", 1..2, "X", false),
        ];
        assert_eq!(redact(&json!({"a": "é"}), &f), Some(json!({"a": "é"})));
    }
}
