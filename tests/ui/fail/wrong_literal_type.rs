#[interven::guard(tool = 42)]
fn send(text: String) -> interven::Result<()> {
    let _ = text;
    Ok(())
}

fn main() {}
