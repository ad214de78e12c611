#[interven::guard(tool = "slack", colour = "red")]
fn send(text: String) -> interven::Result<()> {
    let _ = text;
    Ok(())
}

fn main() {}
