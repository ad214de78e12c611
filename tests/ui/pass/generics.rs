//! Generic fns, `impl Trait` arguments, where clauses and lifetimes.
#![deny(warnings, unused_braces, clippy::pedantic)]

use serde::Serialize;
use serde::de::DeserializeOwned;

#[interven::guard(tool = "store")]
fn put<T: Serialize + DeserializeOwned + Clone>(key: &str, value: T) -> interven::Result<T> {
    let _ = key;
    Ok(value)
}

#[interven::guard(tool = "store")]
fn put_where<K, V>(key: K, value: &V) -> interven::Result<String>
where
    K: Serialize + std::fmt::Display,
    V: Serialize + ?Sized,
{
    let _ = value;
    Ok(key.to_string())
}

#[interven::guard(tool = "log")]
fn log(message: impl Serialize + std::fmt::Debug) -> interven::Result<String> {
    Ok(format!("{message:?}"))
}

/// The return type borrows from `cache`, never from the rebound `key`.
#[interven::guard(tool = "cache", skip(cache))]
fn lookup<'a, 'k>(cache: &'a [String], key: &'k str) -> interven::Result<Option<&'a String>> {
    Ok(cache.iter().find(|c| c.as_str() == key))
}

#[interven::guard(tool = "cache")]
async fn lookup_async<'a>(items: &'a [u32], wanted: u32) -> interven::Result<bool> {
    Ok(items.contains(&wanted))
}

#[tokio::main]
async fn main() {
    assert_eq!(put("k", vec![1, 2]).unwrap(), vec![1, 2]);
    assert_eq!(put_where("k", "v").unwrap(), "k");
    assert_eq!(log(3).unwrap(), "3");
    let cache = vec!["a".to_owned()];
    assert_eq!(lookup(&cache, "a").unwrap(), Some(&cache[0]));
    assert!(lookup_async(&[1, 2], 2).await.unwrap());
}
