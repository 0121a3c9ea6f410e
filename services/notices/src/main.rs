//! The notices service binary: `notices [serve|migrate|bootstrap|health|replay-parked]`.

fn main() -> std::process::ExitCode {
    socialloans_platform::cli::main(&notices::SPEC, notices::routes)
}
