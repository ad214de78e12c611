//! Parameter patterns, `mut`, `#[cfg]` on parameters, raw identifiers, attributes kept.
#![deny(warnings, unused_braces, clippy::pedantic)]

#[interven::guard(tool = "p")]
fn tuple((a, b): (u32, String), mut count: u32, r#type: &str) -> interven::Result<String> {
    count += a;
    Ok(format!("{b}{count}{type}", type = r#type))
}

#[interven::guard(tool = "p")]
fn mutable_refs(mut text: &str, items: &mut Vec<String>) -> interven::Result<usize> {
    if text.is_empty() {
        text = "default";
    }
    items.push(text.to_owned());
    Ok(items.len())
}

#[interven::guard(tool = "p")]
fn with_cfg(#[cfg(test)] only_in_tests: u8, always: u8) -> interven::Result<u8> {
    Ok(always)
}

/// Documented, `#[must_use]`, `#[inline]`, `pub(crate)`: all kept.
#[must_use = "check the result"]
#[inline]
#[interven::guard(tool = "p")]
pub(crate) fn kept(x: u8) -> interven::Result<u8> {
    Ok(x)
}

fn main() {
    assert_eq!(tuple((1, "b".into()), 1, "t").unwrap(), "b2t");
    let mut items = vec![];
    assert_eq!(mutable_refs("", &mut items).unwrap(), 1);
    assert_eq!(items, ["default"]);
    assert_eq!(with_cfg(7).unwrap(), 7);
    assert_eq!(kept(1).unwrap(), 1);
}
