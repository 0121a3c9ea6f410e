//! The applications service binary: `applications [serve|migrate|bootstrap|health|replay-parked]`.

fn main() -> std::process::ExitCode {
    socialloans_platform::cli::main(&applications::SPEC, applications::routes)
}
