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
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "loadgen", about = "How fast the suite is, against the best the same machine can do.")]
pub struct Options {
    /// Brief and small: a check that the benchmark works, not figures.
    #[arg(long)]
    pub quick: bool,
    /// Only the independent contenders (h2load and pgbench beside the suite,
    /// and the service's CPU per call of each read and write): a check of a
    /// change to the hot path in about a minute. The report holds that alone.
    #[arg(long)]
    pub contenders: bool,
    /// Also samples the applications service with `perf record` while
    /// h2load drives each read (after the measured runs, so that sampling
    /// skews no figure), and adds the top functions to the report.
    #[arg(long)]
    pub profile: bool,
    /// Where the report goes.
    #[arg(long, value_name = "FILE", default_value = "BENCHMARKS.md")]
    pub out: PathBuf,
}

fn main() -> ExitCode {
    use clap::Parser;
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The suite runs each service as `<this executable> service NAME serve`.
    if let [service, name, rest @ ..] = args.as_slice()
        && service == "service"
    {
        let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
        return socialloans::run_service(name, &rest);
    }
    let options = match Options::try_parse() {
        Ok(options) => options,
        Err(err) => return socialloans_platform::cli::refused(&err),
    };
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
