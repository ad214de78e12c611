fn main() {
    let _call = interven::gate!("POST", "https://x.io", body { "a": 1 });
}
