//! The applications service binary: `applications [serve|migrate|bootstrap]`.

fn main() -> std::process::ExitCode {
    socialloans_platform::cli::main(&applications::SPEC, applications::routes)
}
