#[interven::guard(tool = "db", approval = "later")]
fn drop_table(name: String) -> interven::Result<()> {
    let _ = name;
    Ok(())
}

fn main() {}
