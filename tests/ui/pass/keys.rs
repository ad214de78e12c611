//! `api_key`, `crate` for a renamed dependency, `url` from a string literal.
#![deny(warnings, unused_braces, clippy::pedantic)]

extern crate interven as renamed;

#[renamed::guard(tool = "search", crate = ::renamed, client = renamed::Client::local_default())]
fn search(query: &str) -> renamed::Result<usize> {
    Ok(query.len())
}

#[renamed::guard(tool = "search", crate = "::renamed", method = "GET", url = "https://example.com/search")]
fn search_get(query: &str) -> renamed::Result<usize> {
    Ok(query.len())
}

// Not called: it would need a gateway.
#[interven::guard(tool = "search", api_key = std::env::var("MY_KEY").unwrap_or_default())]
async fn with_key(query: String) -> interven::Result<String> {
    Ok(query)
}

fn main() {
    assert_eq!(search("abc").unwrap(), 3);
    assert_eq!(search_get("ab").unwrap(), 2);
    let _not_called = with_key;
}
