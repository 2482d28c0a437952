//! Compiler-error tests of `#[lambda_kit::handler]`: each `fail/` file is one mistake with its
//! expected `.stderr`; each `pass/` file compiles and runs its handler through
//! `lambda_kit::testing`. Regenerate the `.stderr` files with `TRYBUILD=overwrite`.
//!
//! Compiler messages change between toolchains, so the test runs on the project's one
//! toolchain (Rust 1.95) and says so when skipped elsewhere.

#[test]
fn handler() {
    let rustc = std::process::Command::new("rustc")
        .arg("--version")
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&rustc.stdout);
    if !version.starts_with("rustc 1.95.") {
        eprintln!("skipping the UI tests: their messages are for Rust 1.95, this is {version}");
        return;
    }
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/handler/pass/*.rs");
    cases.compile_fail("tests/ui/handler/fail/*.rs");
}
