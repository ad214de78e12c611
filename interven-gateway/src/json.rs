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

#[cfg(test)]
mod tests {
    use super::*;

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
