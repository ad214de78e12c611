//! Canonical JSON written straight from a JSON text, without building a
//! `Value`: what a response's content fingerprint hashes.
//!
//! The same text as the engine's `canonical_json` over the parsed value:
//! object keys sorted (bytewise, after unescaping), no whitespace, numbers
//! and strings written the way `serde_json` writes a `Value`.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The canonical text of the JSON value in `bytes`.
///
/// # Errors
/// `bytes` is not one JSON value (or nests past `serde_json`'s limit).
pub(crate) fn canonical_bytes(bytes: &[u8]) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut de = serde_json::Deserializer::from_slice(bytes);
    Canon { out: &mut out }.deserialize(&mut de)?;
    de.end()?;
    Ok(out)
}

/// Writes the value it is handed to `out`, canonically.
struct Canon<'o> {
    out: &'o mut Vec<u8>,
}

impl Canon<'_> {
    fn scalar<T: serde::Serialize + ?Sized>(self, v: &T) {
        // Writing a scalar into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *self.out, v);
    }
}

impl<'de> DeserializeSeed<'de> for Canon<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Canon<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.scalar(&v);
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.scalar(&v);
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.scalar(&v);
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.scalar(v);
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.out.push(b'[');
        let mut first = true;
        loop {
            let mark = self.out.len();
            if !first {
                self.out.push(b',');
            }
            if seq
                .next_element_seed(Canon {
                    out: &mut *self.out,
                })?
                .is_none()
            {
                // No element after all: the separator goes.
                self.out.truncate(mark);
                break;
            }
            first = false;
        }
        self.out.push(b']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let mut value = Vec::new();
            map.next_value_seed(Canon { out: &mut value })?;
            entries.push((key, value));
        }
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        self.out.push(b'{');
        for (i, (key, value)) in entries.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            let _ = serde_json::to_writer(&mut *self.out, key);
            self.out.push(b':');
            self.out.extend_from_slice(value);
        }
        self.out.push(b'}');
        Ok(())
    }
}
