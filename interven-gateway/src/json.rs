//! A check that a JSON text has no duplicate object key, at any depth.
//!
//! Parsers disagree on `{"a": 1, "a": 2}`: serde keeps the last value, many
//! keep the first. A body whose scanned value is not the one a downstream
//! parser sends would slip past the engine, so such bodies are refused.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A scan request with its body left as JSON text, borrowed from the
/// request's bytes: the engine scans the body from them
/// ([`interven::engine::Engine::assess_json`]). An absent or `null` body is
/// `None` (the empty object).
#[derive(serde::Deserialize)]
pub(crate) struct ScanEnvelope<'a> {
    /// The body's text.
    #[serde(borrow, default)]
    pub body: Option<&'a serde_json::value::RawValue>,
    /// Everything else (the request's own body stays empty).
    #[serde(flatten)]
    pub request: interven::ScanRequest,
}

/// The error message for a duplicate key (it never names the key: keys can
/// be values too).
pub const DUPLICATE_KEY: &str = "duplicate object key";

/// Deserializes any JSON and fails on a duplicate object key (keys compared
/// after unescaping, so `"a"` and `"\u0061"` are the same key). Callers bound
/// the depth first.
#[derive(Debug, Clone, Copy)]
pub struct NoDuplicateKeys;

impl<'de> Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Check)
    }
}

struct Check;

impl<'de> Visitor<'de> for Check {
    type Value = NoDuplicateKeys;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(NoDuplicateKeys)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut keys: HashSet<String> = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !keys.insert(key) {
                return Err(de::Error::custom(DUPLICATE_KEY));
            }
            map.next_value::<NoDuplicateKeys>()?;
        }
        Ok(NoDuplicateKeys)
    }
}

/// A scan request whose body is its last member, cut in two without
/// parsing the body: the request's other members as a JSON object (text),
/// and the body's text.
///
/// A big request is mostly its body, and the scanner parses the body
/// anyway; parsing it first to find where it ends doubles the one part of
/// the work that cannot be shared between threads. Nothing here validates
/// the body: the cut is right exactly when the body text then parses as
/// one JSON value to its end (a value followed by `,` never does), which
/// the caller checks. `None` where the cut cannot be made this way: no
/// top-level `body`, a body that is not an object or array closing just
/// before the request's own `}`, an escaped top-level key, or members
/// before the body longer than [`MAX_HEAD`] bytes.
pub(crate) fn split_trailing_body(line: &str) -> Option<(String, &str)> {
    /// How far into the line the `body` member may start.
    const MAX_HEAD: usize = 64 * 1024;
    let b = line.as_bytes();
    let mut i = skip_space(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    let members = i + 1;
    i = members;
    loop {
        i = skip_space(b, i);
        if i > MAX_HEAD || b.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = skip_string(b, i)?;
        let key = &line[i + 1..key_end - 1];
        if key.contains('\\') {
            return None;
        }
        let key_start = i;
        i = skip_space(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_space(b, i + 1);
        if key == "body" {
            let whole = line.trim_end_matches(JSON_SPACE);
            let body = whole.strip_suffix('}')?.get(i..)?;
            let body = body.trim_end_matches(JSON_SPACE);
            if !body.ends_with(['}', ']']) || !body.starts_with(['{', '[']) {
                return None;
            }
            let head = line[members..key_start].trim_end_matches(JSON_SPACE);
            let head = head.strip_suffix(',').unwrap_or(head);
            return Some((format!("{{{head}}}"), body));
        }
        i = skip_space(b, skip_value(b, i)?);
        match b.get(i) {
            Some(b',') => i += 1,
            _ => return None,
        }
    }
}

/// JSON's white space.
const JSON_SPACE: [char; 4] = [' ', '\t', '\n', '\r'];

/// JSON white space from `i` on.
fn skip_space(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// Past the value that starts at `i` (strings and brackets matched, nothing
/// else checked: the text is parsed afterwards).
fn skip_value(b: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0usize;
    loop {
        match *b.get(i)? {
            b'"' => {
                i = skip_string(b, i)?;
                if depth == 0 {
                    return Some(i);
                }
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            // The end of a number or a literal.
            b',' | b' ' | b'\t' | b'\n' | b'\r' if depth == 0 => return Some(i),
            _ => {}
        }
        i += 1;
    }
}

/// Past the string whose opening quote is at `i`.
fn skip_string(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        j += memchr::memchr2(b'"', b'\\', b.get(j..)?)?;
        if b[j] == b'"' {
            return Some(j + 1);
        }
        j += 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trailing_body_is_cut_from_the_request() {
        let cut = |l: &str| split_trailing_body(l).map(|(h, b)| (h, b.to_owned()));
        let line = r#"{"method":"POST", "url":"https://x.io/a,b", "headers":{"k":["v}"]}, "body":{"a":[1,2]}}"#;
        assert_eq!(
            cut(line),
            Some((
                r#"{"method":"POST", "url":"https://x.io/a,b", "headers":{"k":["v}"]}}"#.to_owned(),
                r#"{"a":[1,2]}"#.to_owned()
            ))
        );
        assert_eq!(
            cut("  {\"tool\": \"t\\\"x\", \"n\": -1.5e3, \"ok\": true,\n \"body\" : [1] }\n"),
            Some((
                r#"{"tool": "t\"x", "n": -1.5e3, "ok": true}"#.to_owned(),
                "[1]".to_owned()
            ))
        );
        assert_eq!(
            cut(r#"{"body":{"a":1}}"#),
            Some(("{}".to_owned(), r#"{"a":1}"#.to_owned()))
        );
        // Not cut: the caller parses the whole line.
        for line in [
            r#"{"body":{"a":1},"method":"GET"}"#,
            r#"{"method":"GET","body":"text"}"#,
            r#"{"method":"GET","body":null}"#,
            r#"{"method":"GET"}"#,
            r#"{"b\u006fdy":{"a":1}}"#,
            r#"["body"]"#,
            r#"{"method":"GET" "body":{}}"#,
            "",
        ] {
            assert_eq!(cut(line), None, "{line}");
        }
        // A body followed by another member is cut wrongly here: its text
        // then fails to parse, which is what the caller checks.
        let (_, body) = split_trailing_body(r#"{"body":{"a":1},"h":{"b":2}}"#).unwrap();
        assert!(serde_json::from_str::<serde_json::Value>(body).is_err());
    }

    fn ok(text: &str) -> bool {
        serde_json::from_str::<NoDuplicateKeys>(text).is_ok()
    }

    #[test]
    fn duplicates_anywhere_are_refused() {
        assert!(ok(r#"{"a": 1, "b": {"a": 2}, "c": [{"a": 1}, {"a": 2}]}"#));
        assert!(!ok(r#"{"a": 1, "a": 2}"#));
        assert!(!ok(r#"{"body": {"x": [1, {"k": "v", "k": "w"}]}}"#));
        assert!(!ok(r#"{"a": 1, "\u0061": 2}"#), "compared unescaped");
        let e = serde_json::from_str::<NoDuplicateKeys>(r#"{"sk_live_x": 1, "sk_live_x": 2}"#)
            .unwrap_err();
        assert!(!e.to_string().contains("sk_live"), "{e}");
        assert!(ok("1") && ok("null") && ok(r#""s""#) && ok("[]"));
    }
}
