//! The redactor: rewrites a JSON body in place of each finding, keeping its shape.

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use serde_json::{Map, Value};

use super::{Finding, FindingKind};

/// The body with every redactable finding (secrets and personal data, not
/// placeholders) replaced by its placeholder; `None` when nothing changes.
pub(crate) fn redact(body: &Value, findings: &[Finding]) -> Option<Value> {
    let plan = Plan::of(findings)?;
    // A copy rewritten in place: copying a map keeps its hash table, where
    // building a new one would hash every key again.
    let mut out = body.clone();
    plan.apply_all(&mut out);
    Some(out)
}

/// [`redact`] of a body the caller gives up: rewritten in place, nothing
/// copied. `Err` gives the body back when nothing changes.
pub(crate) fn redact_owned(mut body: Value, findings: &[Finding]) -> Result<Value, Value> {
    let Some(plan) = Plan::of(findings) else {
        return Err(body);
    };
    plan.apply_all(&mut body);
    Ok(body)
}

/// The redactable findings in the body by path, and the containers on the
/// way to them. Findings outside the body (URL, headers, names) are not the
/// redactor's.
struct Plan<'f> {
    by_path: HashMap<&'f str, Vec<&'f Finding>>,
    /// The containers on the way to a finding: any other subtree is left
    /// as it is, without building its paths. Only made when a key is renamed.
    within: HashSet<&'f str>,
    /// Whether a finding is in a key: its map is rebuilt.
    renames: bool,
}

impl<'f> Plan<'f> {
    /// `None` when no finding is redactable.
    fn of(findings: &'f [Finding]) -> Option<Plan<'f>> {
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
        let renames = by_path.values().flatten().any(|f| f.in_key);
        let mut within: HashSet<&str> = HashSet::new();
        if renames {
            within.reserve(by_path.len() * 2);
            within.insert("");
            for p in by_path.keys() {
                for (i, _) in p.match_indices('/').skip(1) {
                    within.insert(&p[..i]);
                }
            }
        }
        Some(Plan {
            by_path,
            within,
            renames,
        })
    }

    /// Replaces the findings of the plan in `body`. Without a key to
    /// rename, each finding's value is reached by its path (a JSON
    /// pointer) and nothing else is read; with one, the way to every
    /// finding is walked, and the maps whose keys change are rebuilt.
    fn apply_all(&self, body: &mut Value) {
        if self.renames {
            self.apply(body, &mut String::new());
            return;
        }
        for (path, found) in &self.by_path {
            match body.pointer_mut(path) {
                Some(Value::String(s)) => *s = replace_spans(s, found.iter().copied()),
                Some(value @ Value::Number(_)) => {
                    let Value::Number(n) = &*value else {
                        continue;
                    };
                    let text = replace_spans(&n.to_string(), found.iter().copied());
                    *value = Value::String(text);
                }
                _ => {}
            }
        }
    }

    /// Replaces, in `value` at `path`, the findings of the plan.
    fn apply(&self, value: &mut Value, path: &mut String) {
        match value {
            Value::String(s) => {
                if let Some(found) = self.by_path.get(path.as_str()) {
                    *s = replace_spans(s, found.iter().filter(|f| !f.in_key).copied());
                }
            }
            Value::Number(n) => {
                if let Some(found) = self.by_path.get(path.as_str())
                    && found.iter().any(|f| !f.in_key)
                {
                    let text =
                        replace_spans(&n.to_string(), found.iter().filter(|f| !f.in_key).copied());
                    *value = Value::String(text);
                }
            }
            Value::Array(items) => {
                if !self.enters(path) {
                    return;
                }
                let len = path.len();
                for (i, item) in items.iter_mut().enumerate() {
                    path.push('/');
                    path.push_str(super::detect::itoa(i, &mut [0u8; 20]));
                    self.apply(item, path);
                    path.truncate(len);
                }
            }
            Value::Object(map) => {
                if !self.enters(path) {
                    return;
                }
                let len = path.len();
                let mut renamed = false;
                for (k, v) in map.iter_mut() {
                    path.push('/');
                    path.push_str(&super::detect::escape_pointer(k));
                    renamed |= self
                        .by_path
                        .get(path.as_str())
                        .is_some_and(|found| found.iter().any(|f| f.in_key));
                    self.apply(v, path);
                    path.truncate(len);
                }
                if renamed {
                    *map = self.rename_keys(std::mem::take(map), path);
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }

    /// Whether a container at `path` holds a finding.
    fn enters(&self, path: &str) -> bool {
        self.within.contains(path) || self.by_path.contains_key(path)
    }

    /// `map` (at `path`, its values already redacted) with the keys that
    /// hold a finding replaced, in their places. Two keys redacted to the
    /// same text keep the first's place and the last's value.
    fn rename_keys(&self, map: Map<String, Value>, path: &mut String) -> Map<String, Value> {
        let len = path.len();
        let mut out = Map::with_capacity(map.len());
        for (k, v) in map {
            path.push('/');
            path.push_str(&super::detect::escape_pointer(&k));
            let key = match self.by_path.get(path.as_str()) {
                Some(found) if found.iter().any(|f| f.in_key) => {
                    replace_spans(&k, found.iter().filter(|f| f.in_key).copied())
                }
                _ => k,
            };
            path.truncate(len);
            out.insert(key, v);
        }
        out
    }
}

/// Replaces each finding's byte span in `text` by its placeholder
/// (`[REDACTED:EMAIL]`).
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
        out.push_str("[REDACTED:");
        out.push_str(ty);
        out.push(']');
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
    fn keys_numbers_and_owned_bodies() {
        // Two keys redacted to one text: the first's place, the last's value.
        let body = json!({"a@b.io": 1, "n": 4111111111111111u64, "c@d.io": 2, "z": "keep"});
        let findings = [
            finding("/a@b.io", 0..6, "EMAIL", true),
            finding("/c@d.io", 0..6, "EMAIL", true),
            finding("/n", 0..16, "PAYMENT_CARD", false),
        ];
        let out = redact(&body, &findings).unwrap();
        assert_eq!(
            serde_json::to_string(&out).unwrap(),
            r#"{"[REDACTED:EMAIL]":2,"n":"[REDACTED:PAYMENT_CARD]","z":"keep"}"#
        );
        // The owned body gives the same, and itself back when nothing changes.
        assert_eq!(redact_owned(body.clone(), &findings), Ok(out));
        assert_eq!(redact_owned(body.clone(), &[]), Err(body));
    }

    #[test]
    fn values_reached_by_path_are_those_the_walk_reaches() {
        // Without a key to rename, findings are reached by their pointers:
        // the same body as the walk over the way to each one gives.
        let body = json!({
            "a": {"b": [{"c": "x@y.io and z@w.io"}, {"c": "keep"}], "d/e~f": {"g": "x@y.io"}},
            "n": [4111111111111111u64, 1],
            "s": "x@y.io",
            "0": ["x@y.io"],
        });
        let cases: [&[(&str, std::ops::Range<usize>)]; 6] = [
            &[("/a/b/0/c", 0..6), ("/a/b/0/c", 11..17)],
            &[("/a/d~1e~0f/g", 0..6), ("/s", 0..6)],
            &[("/n/0", 0..16), ("/0/0", 0..6)],
            // Paths that lead nowhere, or into a string or a container.
            &[
                ("/a/x", 0..1),
                ("/s/0", 0..1),
                ("/n/7", 0..1),
                ("/a/b", 0..1),
                ("/n/01", 0..1),
            ],
            // Overlapping and bad spans.
            &[("/s", 0..3), ("/s", 1..4), ("/s", 4..99)],
            &[("", 0..1)],
        ];
        for case in cases {
            let findings: Vec<Finding> = case
                .iter()
                .map(|(p, span)| finding(p, span.clone(), "EMAIL", false))
                .collect();
            let plan = Plan::of(&findings).unwrap();
            assert!(!plan.renames);
            let (mut by_pointer, mut walked) = (body.clone(), body.clone());
            plan.apply_all(&mut by_pointer);
            let mut all = Plan::of(&findings).unwrap();
            all.within.insert("");
            for p in all.by_path.keys().copied().collect::<Vec<_>>() {
                for (i, _) in p.match_indices('/').skip(1) {
                    all.within.insert(&p[..i]);
                }
            }
            all.apply(&mut walked, &mut String::new());
            assert_eq!(by_pointer, walked, "{case:?}");
        }
        // The root itself a string.
        let f = [finding("", 2..8, "EMAIL", false)];
        assert_eq!(
            redact(&json!("a x@y.io"), &f),
            Some(json!("a [REDACTED:EMAIL]"))
        );
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
