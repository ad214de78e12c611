#[interven::guard(tool = "slack", client = interven::Client::global(), api_key = "k")]
fn send(text: String) -> interven::Result<()> {
    let _ = text;
    Ok(())
}

fn main() {}
