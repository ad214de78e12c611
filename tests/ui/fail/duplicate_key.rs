#[interven::guard(tool = "slack", tool = "discord")]
fn send(text: String) -> interven::Result<()> {
    let _ = text;
    Ok(())
}

fn main() {}
