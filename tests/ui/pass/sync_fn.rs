//! Sync fns use the blocking path, also when called inside a tokio runtime.
#![deny(warnings, unused_braces, clippy::pedantic)]

#[interven::guard(tool = "fs", operation = "write")]
fn write_file(path: &std::path::Path, contents: &[u8]) -> Result<usize, Box<dyn std::error::Error>> {
    Ok(path.as_os_str().len() + contents.len())
}

#[interven::guard(tool = "calc")]
fn add(a: i64, b: i64) -> interven::Result<i64> {
    if a == 0 {
        return Ok(b);
    }
    let parsed: i64 = "0".parse().map_err(|_| interven::Error::config("parse"))?;
    Ok(a + b + parsed)
}

fn main() {
    assert_eq!(write_file("a".as_ref(), b"xy").unwrap(), 3);
    assert_eq!(add(1, 2).unwrap(), 3);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async { assert_eq!(add(2, 2).unwrap(), 4) });
}
