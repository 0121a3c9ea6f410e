//! `socialloans`: see the library's documentation and `socialloans help`.

/// mimalloc: a call allocates and frees many small buffers, which glibc's
/// allocator makes a sixth of a read's CPU (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    socialloans::main()
}
