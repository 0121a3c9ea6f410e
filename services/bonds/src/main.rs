//! The bonds service binary: `bonds [serve|migrate|bootstrap|health|replay-parked]`.

fn main() -> std::process::ExitCode {
    socialloans_platform::cli::main(&bonds::SPEC, bonds::routes)
}
