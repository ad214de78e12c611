#[interven::guard(tool = "slack")]
struct Slack {
    token: String,
}

fn main() {}
