//! `socialloans`: see the library's documentation and `socialloans help`.

fn main() -> std::process::ExitCode {
    socialloans::main()
}
