//! The monitoring service binary: `monitoring [serve|migrate|bootstrap|health|replay-parked]`.

fn main() -> std::process::ExitCode {
    socialloans_platform::cli::main(&monitoring::SPEC, monitoring::routes)
}
