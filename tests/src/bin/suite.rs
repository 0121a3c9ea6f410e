//! The `socialloans` launcher, built for this crate's tests: cargo gives
//! integration tests the path of their own crate's binaries only
//! (`CARGO_BIN_EXE_suite`), so the end-to-end tests run the very same code
//! as `cargo run --bin socialloans` through this one.

fn main() -> std::process::ExitCode {
    socialloans::main()
}
