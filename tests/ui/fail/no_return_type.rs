#[interven::guard(tool = "log")]
fn log(line: String) {
    println!("{line}");
}

fn main() {}
