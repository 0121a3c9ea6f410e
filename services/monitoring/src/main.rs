//! The monitoring service binary: `monitoring [serve|migrate|bootstrap|health|replay-parked]`.

/// mimalloc: a call allocates and frees many small buffers, which glibc's
/// allocator makes a sixth of a read's CPU (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    socialloans_platform::cli::main(&monitoring::SPEC, monitoring::routes)
}
