//! A body's `serde_json::Value`, as the scanner read it, and built on
//! several threads when it is big.
//!
//! A verdict that carries a redacted body needs the body's tree, and for a
//! 100 MB log batch building it took longer than scanning it. The arrays
//! near the top of a big body (those the scan splits, [`SPLIT_DEPTH`] or
//! less) are cut into their elements, which are parsed on rayon's pool.
//!
//! The tree is built by this module's own visitor at every depth, not by
//! `Value`'s `Deserialize`: with serde_json's `raw_value` feature (which this
//! crate enables), that one reads an object whose only key is
//! `$serde_json::private::RawValue` as the JSON text of its string value, so
//! `{"$serde_json::private::RawValue": "{\"to\": \"x\"}"}` would become
//! `{"to": "x"}` after the scanner saw a string. Here it stays the object it is.

use std::fmt;

use rayon::prelude::*;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::cut;
use super::stream::{PARALLEL_MIN_BYTES, SPLIT_DEPTH};

/// The tree of a JSON body, with serde_json's parser: on rayon's pool for a
/// body of [`PARALLEL_MIN_BYTES`] or more.
pub(crate) fn parse_body(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let split = bytes.len() >= PARALLEL_MIN_BYTES && rayon::current_num_threads() > 1;
    if split
        && let Ok(text) = std::str::from_utf8(bytes)
        && let Some(tree) = parse_cut(text)
    {
        return Ok(tree);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Tree { depth: 1, split }.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// The tree of `text` with its big array cut from the bytes
/// ([`cut`]) and its elements parsed on the pool, then put in
/// the tree of the rest; `None` when the cut or a parse does not go as
/// planned, and the caller parses the whole body (for the same tree or the
/// same error).
fn parse_cut(text: &str) -> Option<Value> {
    let at = cut::locate(text, PARALLEL_MIN_BYTES, SPLIT_DEPTH)?;
    let mut elements = cut::Elements::new(text, at.open);
    let mut raws = Vec::new();
    while let Some(raw) = elements.next().ok()? {
        raws.push(raw);
    }
    let close = elements.close()?;
    let whole = |text: &str, tree: Tree| -> Result<Value, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(text);
        let value = tree.deserialize(&mut de)?;
        de.end()?;
        Ok(value)
    };
    let next = Tree {
        depth: at.depth + 1,
        split: true,
    };
    let items: Vec<Value> = raws
        .par_iter()
        .map(|raw| whole(raw, next))
        .collect::<Result<_, _>>()
        .ok()?;
    let rest = cut::emptied(text, at.open, close);
    let mut tree = whole(
        &rest,
        Tree {
            depth: 1,
            split: true,
        },
    )
    .ok()?;
    match tree.pointer_mut(&at.path)? {
        Value::Array(emptied) if emptied.is_empty() => *emptied = items,
        _ => return None,
    }
    Some(tree)
}

/// A value at `depth` (the top is 1). With `split`, arrays up to
/// [`SPLIT_DEPTH`] are parsed element by element on the pool.
#[derive(Clone, Copy)]
struct Tree {
    depth: usize,
    split: bool,
}

impl<'de> DeserializeSeed<'de> for Tree {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Tree {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let next = Tree {
            depth: self.depth + 1,
            split: self.split,
        };
        if !self.split || self.depth > SPLIT_DEPTH {
            let mut items = Vec::new();
            while let Some(v) = seq.next_element_seed(next)? {
                items.push(v);
            }
            return Ok(Value::Array(items));
        }
        let mut raws: Vec<&'de RawValue> = Vec::new();
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            raws.push(raw);
        }
        let items: Result<Vec<Value>, serde_json::Error> = raws
            .par_iter()
            .map(|raw| {
                let mut de = serde_json::Deserializer::from_str(raw.get());
                next.deserialize(&mut de)
            })
            .collect();
        items.map(Value::Array).map_err(de::Error::custom)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        let next = Tree {
            depth: self.depth + 1,
            split: self.split,
        };
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(next)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_big_body_parses_to_the_tree_serde_builds() {
        let record = json!({
            "ts": "2026-11-24T19:00:00.000Z", "n": -12, "big": 18446744073709551615u64,
            "f": 1.5e-7, "ok": true, "none": null, "esc": "tab\there \u{e9} \"q\"",
            "tags": ["a", {"deep": [[1, 2], {"k": "v"}]}], "empty": {}, "list": []
        });
        let records: Vec<_> = (0..3000).map(|i| json!({"i": i, "r": record})).collect();
        for (body, cut) in [
            (
                json!({"meta": {"page": 1}, "records": records, "next": null}),
                true,
            ),
            (json!([records, [{"rows": records}]]), true),
            // Deeper than the arrays a split cuts.
            (json!({"a": {"b": {"c": {"d": {"e": records}}}}}), false),
        ] {
            let text = serde_json::to_vec(&body).unwrap();
            assert!(text.len() >= PARALLEL_MIN_BYTES);
            let tree = parse_body(&text).unwrap();
            assert_eq!(tree, body);
            // Built from the array cut out of the bytes, when one is near the top.
            let cut_tree = parse_cut(std::str::from_utf8(&text).unwrap());
            assert_eq!(cut_tree.is_some(), cut);
            if let Some(cut_tree) = cut_tree {
                assert_eq!(serde_json::to_vec(&cut_tree).unwrap(), text);
            }
            // Key order is kept (`preserve_order`), as serde keeps it.
            assert_eq!(serde_json::to_vec(&tree).unwrap(), text);
        }
        // Small bodies too, and the key serde's own `Value` reads as raw JSON.
        let odd = r#"{"$serde_json::private::RawValue": "{\"to\": \"x\"}", "n": [1.0, -0]}"#;
        let tree = parse_body(odd.as_bytes()).unwrap();
        assert_eq!(tree["$serde_json::private::RawValue"], r#"{"to": "x"}"#);
        let numbers: Value = serde_json::from_str("[1.0, -0]").unwrap();
        assert_eq!(
            serde_json::to_string(&tree["n"]).unwrap(),
            numbers.to_string()
        );
        let alone = r#"{"$serde_json::private::RawValue": "[1]"}"#;
        assert!(parse_body(alone.as_bytes()).unwrap().is_object());
        let text = serde_json::to_string(&json!({"records": records})).unwrap();
        for broken in [
            format!("{text} x"),
            text.replacen("},{", "}{", 1),
            text[..text.len() - 1].to_owned(),
        ] {
            assert!(parse_body(broken.as_bytes()).is_err());
        }
    }
}
