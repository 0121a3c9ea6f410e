//! `socialloans`: runs the whole suite on this machine.
//!
//! `socialloans up` starts a private PostgreSQL (kept under `.local/` in the
//! checkout and reused next time) unless `DATABASE_URL` names an admin
//! connection, bootstraps each service's role and schema, applies the
//! migrations, starts the three services as separate processes with their own
//! roles and ports, waits until all report SERVING and prints the endpoints
//! and a development token per role. Ctrl-C stops everything cleanly.

pub mod demo;
pub mod pilots;
pub mod retry;
mod services;
pub mod supervisor;
pub mod tokens;

pub use services::{Endpoints, Suite, free_offset};

use std::{path::PathBuf, process::ExitCode};

/// The `socialloans` command line.
#[derive(Debug, clap::Parser)]
#[command(name = "socialloans", about = "Runs the Social Loans suite on this machine.", after_help = ENVIRONMENT)]
pub struct Cli {
    /// What to do; `up` when none is given.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// `socialloans`'s subcommands.
#[derive(Debug, PartialEq, Eq, clap::Subcommand)]
pub enum Command {
    /// Start PostgreSQL (private, under .local/, unless DATABASE_URL is set), a development mail
    /// relay (unless SMTP_URL is set) and the five services, restarting any that exits.
    Up,
    /// Run the pilot story through the real APIs (starts the suite first unless it is up).
    Demo,
    /// Run one service, exactly as its own binary would (`up` starts each this way).
    Service {
        /// applications, committee, monitoring, notices or bonds.
        #[arg(value_parser = ["applications", "committee", "monitoring", "notices", "bonds"])]
        name: String,
        /// The service's own command line: serve, migrate, bootstrap, health, replay-parked.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Print a development token for ROLE (a borrower's also needs ORG, e.g. 556000-0000).
    Token {
        /// The role, e.g. analyst or borrower.
        role: String,
        /// The borrower's organisation number; several, comma-separated, for
        /// a token acting for each of them (a municipality and its companies).
        org: Option<String>,
    },
    /// Print the JWKS with the public half of an ES256/EdDSA private key (PKCS#8 PEM).
    Jwks {
        /// The private key file.
        keyfile: String,
        /// The key id to publish it under.
        kid: Option<String>,
    },
    /// Print who may call which method (Markdown).
    Roles,
    /// Run a development mail relay that keeps every message in a maildir.
    MailSink {
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:2525")]
        addr: std::net::SocketAddr,
        /// The maildir.
        #[arg(long, default_value = "mail")]
        maildir: std::path::PathBuf,
    },
    /// Delete .local/ (the private PostgreSQL's data and the development secret).
    Reset,
}

const ENVIRONMENT: &str = "Environment: DATABASE_URL (an admin URL of an existing PostgreSQL, optional), \
SOCIALLOANS_HOME (default .local), SOCIALLOANS_PORT_OFFSET (added to every port, default 0), \
SOCIALLOANS_{APPLICATIONS,COMMITTEE,MONITORING,NOTICES}_URL (for `demo`: a suite elsewhere; https with SOCIALLOANS_CA_FILE \
and, for mTLS, SOCIALLOANS_CLIENT_CERT_FILE and SOCIALLOANS_CLIENT_KEY_FILE), SOCIALLOANS_TOKEN_KEY_FILE and \
SOCIALLOANS_TOKEN_KID (sign tokens with this private key instead of the development secret).";

/// Who may call which method, as Markdown tables (one per service), from
/// the services' own role tables. `socialloans roles` prints it; the README
/// carries it, and a test keeps the two equal.
pub fn roles_markdown() -> String {
    let mut out = String::new();
    for policy in [
        &applications::policy::POLICY,
        &committee::policy::POLICY,
        &monitoring::policy::POLICY,
        &notices::policy::POLICY,
        &bonds::policy::POLICY,
    ] {
        out.push_str(&format!("`{}`\n\n| method | roles |\n|---|---|\n", policy.service));
        for (method, roles) in policy.methods {
            let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            out.push_str(&format!("| `{method}` | {} |\n", roles.join(", ")));
        }
        out.push('\n');
    }
    out.trim_end().to_owned()
}

/// Where local state lives: `SOCIALLOANS_HOME`, or `.local` in the current directory.
pub fn home() -> PathBuf {
    std::env::var_os("SOCIALLOANS_HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".local"))
}

/// The `socialloans` command line.
pub fn main() -> ExitCode {
    use clap::Parser;
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return socialloans_platform::cli::refused(&err),
    };
    let result = match cli.command.unwrap_or(Command::Up) {
        Command::Up => services::up(&home()),
        Command::Demo => demo::main(&home()),
        Command::Token { role, org } => tokens::print(&home(), &role, org.as_deref()),
        Command::Jwks { keyfile, kid } => tokens::print_jwks(&keyfile, kid.as_deref()),
        Command::Reset => reset(&home()),
        Command::Roles => {
            println!("{}", roles_markdown());
            Ok(())
        }
        Command::MailSink { addr, maildir } => mail_sink(addr, &maildir),
        Command::Service { name, args } => {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            return run_service(&name, &args);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("socialloans: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `socialloans mail-sink`: the development mail relay, until stopped.
fn mail_sink(addr: std::net::SocketAddr, maildir: &std::path::Path) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let sink = notices::sink::Sink::start(addr, maildir, 0).await.map_err(|e| format!("{addr}: {e}"))?;
        println!("mail relay {}: messages are kept in {}/new", sink.url(), maildir.display());
        // Ctrl-C, or SIGTERM from a container runtime (as PID 1 it has no default handler).
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
        tokio::select! {
            stopped = tokio::signal::ctrl_c() => stopped.map_err(|e| e.to_string()),
            _ = terminate.recv() => Ok(()),
        }
    })
}

/// `socialloans service NAME [serve|migrate|bootstrap|health|replay-parked]`: one service, exactly
/// as its own binary would run it (`up` starts each this way). A program that
/// starts a [`Suite`] from its own executable answers `service` with this.
pub fn run_service(name: &str, args: &[&str]) -> ExitCode {
    let args = args.iter().map(|a| (*a).to_owned()).collect();
    match name {
        "applications" => socialloans_platform::cli::run(&applications::SPEC, applications::routes, args),
        "committee" => socialloans_platform::cli::run(&committee::SPEC, committee::routes, args),
        "monitoring" => socialloans_platform::cli::run(&monitoring::SPEC, monitoring::routes, args),
        "notices" => socialloans_platform::cli::run(&notices::SPEC, notices::routes, args),
        "bonds" => socialloans_platform::cli::run(&bonds::SPEC, bonds::routes, args),
        other => {
            eprintln!(
                "socialloans: unknown service {other:?}; services: applications, committee, monitoring, notices, bonds"
            );
            ExitCode::from(2)
        }
    }
}

fn reset(home: &std::path::Path) -> Result<(), String> {
    // A cluster kept outside a home the postgres user cannot reach goes too.
    if let Some(outside) = services::outside_dir(home).filter(|dir| dir.exists()) {
        std::fs::remove_dir_all(&outside).map_err(|e| format!("cannot remove {}: {e}", outside.display()))?;
        println!("removed {}", outside.display());
    }
    if home.exists() {
        std::fs::remove_dir_all(home).map_err(|e| format!("cannot remove {}: {e}", home.display()))?;
        println!("removed {}", home.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command};

    fn parse(args: &[&str]) -> Result<Option<Command>, clap::Error> {
        Cli::try_parse_from(std::iter::once("socialloans").chain(args.iter().copied())).map(|cli| cli.command)
    }

    #[test]
    fn the_command_line_names_each_subcommand_and_passes_a_services_own_through() {
        assert_eq!(parse(&[]).unwrap(), None);
        assert_eq!(
            parse(&["token", "borrower", "556000-0000"]).unwrap(),
            Some(Command::Token { role: "borrower".into(), org: Some("556000-0000".into()) })
        );
        assert_eq!(
            parse(&["service", "committee", "replay-parked", "committee", "--help"]).unwrap(),
            Some(Command::Service {
                name: "committee".into(),
                args: vec!["replay-parked".into(), "committee".into(), "--help".into()],
            })
        );
    }

    #[test]
    fn an_unknown_service_or_subcommand_is_a_usage_error() {
        for bad in [&["service", "payments"][..], &["nosuch"], &["token"], &["reset", "extra"]] {
            assert_eq!(parse(bad).unwrap_err().exit_code(), 2, "{bad:?}");
        }
    }
}
