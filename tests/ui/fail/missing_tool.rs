#[interven::guard(operation = "post_message")]
fn send(text: String) -> interven::Result<()> {
    let _ = text;
    Ok(())
}

fn main() {}
