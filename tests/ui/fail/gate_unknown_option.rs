fn main() {
    let _call = interven::gate!("POST", "https://x.io", colour = "red");
}
