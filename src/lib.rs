//! Cross-crate tests, examples and benches of interven (not published).
