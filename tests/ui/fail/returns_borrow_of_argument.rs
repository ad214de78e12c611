#[interven::guard(tool = "text")]
fn first_word<'a>(text: &'a str) -> interven::Result<&'a str> {
    Ok(text.split(' ').next().unwrap_or(""))
}

fn main() {}
