//! `loadgen`: how fast the suite is, against the best the same machine can do.
//!
//! `cargo run --release -p loadgen` starts the suite (a private PostgreSQL
//! and the three services as separate processes, as `socialloans up` does),
//! and in the same run, with the same generator:
//! - the read path (GetApplication, one ListApplications page) against a
//!   bare tonic server answering the same messages (gRPC alone) and against
//!   the same SELECTs through a pool like the service's (PostgreSQL alone);
//! - the write path (CreateApplication, SubmitApplication, TagLoan) against
//!   the service's own handlers called in-process over the same pool (the
//!   same transactions without gRPC);
//! - both at half their peak as an open loop, for latency under load;
//! - the read path as the table grows (1k, 10k, 100k applications);
//! - the pilot story end to end (applications per second through the whole
//!   life cycle), and event propagation from a confirmed decision to the
//!   application's new state and the opened monitoring plan;
//! - the portfolio impact report over 10,000 plans and 100,000 measurements;
//! - each service's memory idle and under load, CPU, and start-up time.
//!
//! It writes `BENCHMARKS.md` (or `--out FILE`); `--quick` runs everything
//! briefly and small, to check that it works.

mod echo;
mod measure;
mod procs;
mod scenarios;

use std::{path::PathBuf, process::ExitCode};

/// How long and how big.
#[derive(Debug, Clone)]
pub struct Options {
    /// Brief and small: a check that the benchmark works, not figures.
    pub quick: bool,
    /// Where the report goes.
    pub out: PathBuf,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // The suite runs each service as `<this executable> service NAME serve`.
    if let ["service", name, rest @ ..] = args.as_slice() {
        return socialloans::run_service(name, rest);
    }
    let mut options = Options { quick: false, out: PathBuf::from("BENCHMARKS.md") };
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match *arg {
            "--quick" => options.quick = true,
            "--out" => match rest.next() {
                Some(path) => options.out = PathBuf::from(path),
                None => return usage("--out needs a file"),
            },
            "-h" | "--help" => {
                println!("usage: loadgen [--quick] [--out FILE]   (default FILE: BENCHMARKS.md)");
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    match scenarios::run(&options) {
        Ok(()) => {
            println!("\nwrote {}", options.out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("loadgen: {problem}\nusage: loadgen [--quick] [--out FILE]");
    ExitCode::from(2)
}
