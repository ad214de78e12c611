#[derive(Debug)]
struct MyError;

#[interven::guard(tool = "slack")]
fn send(text: String) -> Result<(), MyError> {
    let _ = text;
    Ok(())
}

fn main() {}
