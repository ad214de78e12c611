fn main() {
    let _call = interven::gate!("POST");
}
