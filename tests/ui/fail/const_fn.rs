#[interven::guard(tool = "calc")]
const fn add(a: i64, b: i64) -> interven::Result<i64> {
    Ok(a + b)
}

fn main() {}
