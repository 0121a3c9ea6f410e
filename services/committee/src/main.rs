//! The committee service binary: `committee [serve|migrate|bootstrap|health|replay-parked]`.

fn main() -> std::process::ExitCode {
    socialloans_platform::cli::main(&committee::SPEC, committee::routes)
}
