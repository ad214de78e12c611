//! The documented vendor examples (`vendor_examples.toml`): credentials
//! published in vendors' documentation, which are nobody's secret.

use std::collections::HashSet;
use std::sync::LazyLock;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct File {
    example: Vec<Example>,
}

/// One documented example, with the public source it comes from.
#[derive(Debug, Deserialize)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct Example {
    #[serde(rename = "type")]
    pub(crate) ty: String,
    pub(crate) value: String,
    pub(crate) source: String,
}

const DATA: &str = include_str!("vendor_examples.toml");

/// Every example of the data file.
pub(crate) fn examples() -> &'static [Example] {
    static EXAMPLES: LazyLock<Vec<Example>> = LazyLock::new(|| {
        // The file is part of the crate and checked by a unit test: it parses.
        toml::from_str::<File>(DATA).map_or_else(|_| Vec::new(), |f| f.example)
    });
    &EXAMPLES
}

fn values() -> &'static HashSet<&'static str> {
    static VALUES: LazyLock<HashSet<&'static str>> =
        LazyLock::new(|| examples().iter().map(|e| e.value.as_str()).collect());
    &VALUES
}

/// Whether a matched value is one of the documented examples.
/// A card number is compared by its digits, whatever its separators.
pub(crate) fn is_documented_example(value: &str) -> bool {
    let v = value.trim();
    if v.len() >= 16 && values().contains(v) {
        return true;
    }
    if !v
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b' ' | b'-' | b'.'))
    {
        return false;
    }
    let digits: String = v.chars().filter(char::is_ascii_digit).collect();
    (13..=19).contains(&digits.len()) && values().contains(digits.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_has_a_source_and_is_dropped() {
        let file: File = toml::from_str(DATA).expect("vendor_examples.toml parses");
        assert!(file.example.len() >= 8);
        for e in &file.example {
            assert!(!e.ty.is_empty() && e.source.len() > 10, "{}", e.value);
            assert!(is_documented_example(&e.value));
        }
        assert!(!is_documented_example("sk_test_4eC39HqLyjWDarjtT1zdp7dd"));
        // Test cards, with any separators; a real-looking card is not one.
        assert!(is_documented_example("4242 4242 4242 4242"));
        assert!(is_documented_example("3782-822463-10005"));
        assert!(is_documented_example("4111111111111111"));
        assert!(!is_documented_example("4242 4242 4242 4241"));
        assert!(!is_documented_example("4539 1488 0343 6467"));
    }
}
