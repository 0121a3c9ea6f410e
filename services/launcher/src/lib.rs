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

fn usage() -> &'static str {
    "usage: socialloans [up|demo|service NAME ...|token ROLE [ORG]|jwks KEYFILE [KID]|roles|reset]\n\n  \
     up          start PostgreSQL (private, under .local/, unless DATABASE_URL is set) and the three services,\n              \
     restarting any that exits\n  \
     demo        run the pilot story through the real APIs (starts the suite first unless it is up)\n  \
     service NAME [serve|migrate|bootstrap|health|replay-parked]\n              run one service (what its own binary does)\n  \
     token ROLE  print a development token for ROLE (borrowers also need ORG, e.g. 556000-0000)\n  \
     jwks KEYFILE [KID]  print the JWKS with the public half of an ES256/EdDSA private key (PKCS#8 PEM)\n  \
     roles       print who may call which method (Markdown)\n  \
     reset       delete .local/ (the private PostgreSQL's data and the development secret)\n\n\
     Environment: DATABASE_URL (an admin URL of an existing PostgreSQL, optional), SOCIALLOANS_HOME (default .local),\n\
     SOCIALLOANS_PORT_OFFSET (added to every port, default 0), SOCIALLOANS_{APPLICATIONS,COMMITTEE,MONITORING}_URL\n\
     (for `demo`: a suite elsewhere; https with SOCIALLOANS_CA_FILE and, for mTLS, SOCIALLOANS_CLIENT_CERT_FILE\n\
     and SOCIALLOANS_CLIENT_KEY_FILE), SOCIALLOANS_TOKEN_KEY_FILE and SOCIALLOANS_TOKEN_KID (sign tokens with this\n\
     private key instead of the development secret)"
}

/// Who may call which method, as Markdown tables (one per service), from
/// the services' own role tables. `socialloans roles` prints it; the README
/// carries it, and a test keeps the two equal.
pub fn roles_markdown() -> String {
    let mut out = String::new();
    for policy in [&applications::policy::POLICY, &committee::policy::POLICY, &monitoring::policy::POLICY] {
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
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        [] | ["up"] => services::up(&home()),
        ["demo"] => demo::main(&home()),
        ["token", role] => tokens::print(&home(), role, None),
        ["token", role, org] => tokens::print(&home(), role, Some(org)),
        ["jwks", key] => tokens::print_jwks(key, None),
        ["jwks", key, kid] => tokens::print_jwks(key, Some(kid)),
        ["reset"] => reset(&home()),
        ["roles"] => {
            println!("{}", roles_markdown());
            Ok(())
        }
        ["service", name, rest @ ..] => return run_service(name, rest),
        ["-h" | "--help" | "help"] => {
            println!("{}", usage());
            Ok(())
        }
        _ => Err(usage().to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("socialloans: {message}");
            ExitCode::FAILURE
        }
    }
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
        other => {
            eprintln!("socialloans: unknown service {other:?}; services: applications, committee, monitoring");
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
