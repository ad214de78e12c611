#[interven::guard(tool = "slack", skip(token))]
fn send(channel: String, text: String) -> interven::Result<()> {
    let _ = (channel, text);
    Ok(())
}

fn main() {}
