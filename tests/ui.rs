//! Compile tests of `#[interven::guard]` and `gate!`: every supported form
//! compiles (and runs, warning-free under `#![deny(warnings)]`), and every
//! misuse fails with an error that points at the offending token.
//!
//! One misuse per file in `tests/ui/fail/`, each with its reviewed `.stderr`.
//! The expected stderr is pinned to the stable toolchain (written with Rust
//! 1.95); after a deliberate change to a message, or a new stable release,
//! regenerate them and review the diff before committing:
//!
//! ```sh
//! TRYBUILD=overwrite cargo test --test ui
//! git diff tests/ui
//! ```

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    // Compiler messages change between releases: the reviewed stderr is
    // checked on stable only; beta and nightly check that the forms compile.
    if is_stable() {
        t.compile_fail("tests/ui/fail/*.rs");
    }
}

fn is_stable() -> bool {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .map(|o| {
            let v = String::from_utf8_lossy(&o.stdout);
            !(v.contains("nightly") || v.contains("beta") || v.contains("-dev"))
        })
        .unwrap_or(true)
}
