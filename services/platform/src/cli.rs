//! The command line every service binary shares: `serve` (the default),
//! `migrate` and `bootstrap`. Configuration comes from the environment only.

use secrecy::ExposeSecret;
use std::process::ExitCode;

use tonic::service::Routes;

use crate::{
    config::{Config, Env},
    db,
    server::{Context, ServiceSpec, start},
    telemetry,
};

/// Exit code for a configuration the service refuses (EX_CONFIG).
pub const EXIT_CONFIG: u8 = 78;

/// A service binary's command line.
#[derive(Debug, clap::Parser)]
#[command(after_help = "Configuration is read from environment variables; see the README.")]
pub struct Args {
    /// What to do; `serve` when none is given.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// A service binary's subcommands.
#[derive(Debug, PartialEq, Eq, clap::Subcommand)]
pub enum Command {
    /// Serve gRPC (the default); MIGRATE_ON_START=true applies migrations first.
    Serve,
    /// Apply the service's migrations to its schema as its owner (DATABASE_MIGRATION_URL), then exit.
    Migrate,
    /// Create the database, the service's two roles and its schema over DATABASE_ADMIN_URL, then exit.
    Bootstrap,
    /// Ask the service listening on GRPC_HEALTH_ADDR or GRPC_ADDR (plaintext) whether it is SERVING; exit 0 if so.
    Health,
    /// Mark parked events of a subscription (all, or the one at POSITION) for replay: the consumer fetches
    /// each again from the feed and applies it when it next connects (restart to hurry it).
    ReplayParked {
        /// The subscription, as the service's consumer names it (e.g. `committee`).
        subscription: String,
        /// Only the parked event at this feed position.
        #[arg(value_parser = clap::value_parser!(i64).range(1..))]
        position: Option<i64>,
    },
}

impl Args {
    /// Parses `args` (after the program name) for the service `name`; an
    /// error is clap's (usage, or the help asked for) with its exit code.
    pub fn parse_for(name: &'static str, args: Vec<String>) -> Result<Self, clap::Error> {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Self::command().name(name).try_get_matches_from(std::iter::once(name.to_owned()).chain(args))?;
        Self::from_arg_matches(&matches)
    }
}

/// Prints clap's answer to a command line it did not run (a usage error, or
/// the help asked for) and gives its exit code.
pub fn refused(err: &clap::Error) -> ExitCode {
    let _ = err.print();
    ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2))
}

/// Runs the service binary: parses the subcommand, reads the environment,
/// and serves until SIGTERM or SIGINT. `routes` registers the gRPC services.
pub fn main(spec: &'static ServiceSpec, routes: fn(&Context) -> Routes) -> ExitCode {
    run(spec, routes, std::env::args().skip(1).collect())
}

/// [`main`] with the arguments given (after the program name).
pub fn run(spec: &'static ServiceSpec, routes: fn(&Context) -> Routes, args: Vec<String>) -> ExitCode {
    let command = match Args::parse_for(spec.name, args) {
        Ok(args) => args.command.unwrap_or(Command::Serve),
        Err(err) => return refused(&err),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("{}: cannot start the async runtime: {err}", spec.name);
            return ExitCode::FAILURE;
        }
    };
    match command {
        Command::Serve => runtime.block_on(serve(spec, routes)),
        Command::Migrate => runtime.block_on(migrate(spec)),
        Command::Bootstrap => runtime.block_on(bootstrap(spec)),
        Command::Health => runtime.block_on(health(spec)),
        Command::ReplayParked { subscription, position } => {
            runtime.block_on(replay_parked(spec, &subscription, position))
        }
    }
}

/// `health`: a health check for container runtimes whose images have no
/// shell or probe tool (a compose file's `healthcheck`). It asks the gRPC
/// health service at `GRPC_ADDR` (an unspecified address means this host)
/// about the service's full name.
async fn health(spec: &'static ServiceSpec) -> ExitCode {
    // The health-only listener when there is one (plaintext, whatever the
    // service port speaks); otherwise the service port, which must then be
    // plaintext too.
    let health_addr = std::env::var("GRPC_HEALTH_ADDR").ok().filter(|a| !a.is_empty());
    if health_addr.is_none() && std::env::var("TLS_CERT_FILE").is_ok_and(|f| !f.is_empty()) {
        eprintln!(
            "{}: the service port speaks TLS: set GRPC_HEALTH_ADDR (a plaintext health-only listener)",
            spec.name
        );
        return ExitCode::FAILURE;
    }
    let addr = health_addr
        .or_else(|| std::env::var("GRPC_ADDR").ok())
        .unwrap_or_else(|| format!("127.0.0.1:{}", spec.ports.grpc));
    let addr = addr.replace("0.0.0.0:", "127.0.0.1:").replace("[::]:", "[::1]:");
    let check = async {
        let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .map_err(|e| e.to_string())?
            .connect_timeout(std::time::Duration::from_secs(2))
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
        let request = tonic_health::pb::HealthCheckRequest { service: spec.grpc_service().to_owned() };
        let status = client.check(request).await.map_err(|e| e.message().to_owned())?.into_inner().status;
        Ok::<_, String>(status == tonic_health::pb::health_check_response::ServingStatus::Serving as i32)
    };
    match tokio::time::timeout(std::time::Duration::from_secs(5), check).await {
        Ok(Ok(true)) => ExitCode::SUCCESS,
        Ok(Ok(false)) => {
            eprintln!("{}: not serving", spec.name);
            ExitCode::FAILURE
        }
        Ok(Err(e)) => {
            eprintln!("{}: {addr}: {e}", spec.name);
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("{}: {addr}: no answer within 5 s", spec.name);
            ExitCode::FAILURE
        }
    }
}

fn config_error(spec: &ServiceSpec, message: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("{}: {message}", spec.name);
    ExitCode::from(EXIT_CONFIG)
}

async fn serve(spec: &'static ServiceSpec, routes: fn(&Context) -> Routes) -> ExitCode {
    let mut env = Env::from_process();
    let config = Config::from_env(&mut env, spec.ports);
    (spec.check_env)(&mut env);
    let config = match (env.finish(), config) {
        (Ok(()), Some(config)) => config,
        (Err(err), _) => return config_error(spec, &err),
        (Ok(()), None) => return config_error(spec, &"invalid configuration"),
    };
    let telemetry = match telemetry::init(spec.name, config.log_json, config.otlp_endpoint.as_deref()) {
        Ok(telemetry) => telemetry,
        Err(err) => return config_error(spec, &err),
    };
    // Listen before serving: a SIGTERM that arrives as soon as health says
    // SERVING must start a graceful stop, not kill the process.
    let signals = match Signals::listen() {
        Ok(signals) => signals,
        Err(err) => {
            eprintln!("{}: cannot listen for SIGTERM/SIGINT: {err}", spec.name);
            return ExitCode::FAILURE;
        }
    };
    let code = match start(spec, config, routes).await {
        Ok(running) => {
            signals.wait().await;
            running.shutdown();
            match running.wait().await {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    tracing::error!(error = %err, "stopped with an error");
                    ExitCode::FAILURE
                }
            }
        }
        Err(err) => {
            tracing::error!(error = %err, "cannot start");
            ExitCode::FAILURE
        }
    };
    telemetry.shutdown();
    code
}

/// SIGTERM and SIGINT, listened for from the moment this is made.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn listen() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals { term: signal(SignalKind::terminate())?, int: signal(SignalKind::interrupt())? })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.term.recv() => tracing::info!(signal = "SIGTERM", "stop requested"),
            _ = self.int.recv() => tracing::info!(signal = "SIGINT", "stop requested"),
        }
    }
}

/// What `migrate`, `bootstrap` and `replay-parked` read: the service's own
/// URL, and the owner's and the admin's when the step needs them.
struct DatabaseEnv {
    config: Config,
    owner_url: Option<String>,
    admin_url: Option<String>,
}

fn database_env(spec: &ServiceSpec, owner: bool, admin: bool) -> Result<DatabaseEnv, ExitCode> {
    let mut env = Env::from_process();
    let url = env.required("DATABASE_URL", "postgres:// URL of the service's own (runtime) role");
    let owner_url = if owner {
        env.required("DATABASE_MIGRATION_URL", "postgres:// URL of the role that owns the service's schema")
    } else {
        None
    };
    let admin_url = if admin {
        env.required("DATABASE_ADMIN_URL", "postgres:// URL of a role that may create roles and schemas")
    } else {
        None
    };
    let max = env.int_in("DATABASE_MAX_CONNECTIONS", 2, 1..=1000) as u32;
    let acquire = env.millis("DATABASE_ACQUIRE_TIMEOUT_MS", 30_000, 100..=600_000);
    env.finish().map_err(|err| config_error(spec, &err))?;
    let mut config = Config::from_env(
        &mut Env::from_map(
            [
                ("DATABASE_URL".to_owned(), url.unwrap_or_default()),
                // Migrations verify no token; the serving configuration
                // still wants a key source, and this one is never used.
                ("AUTH_JWKS_URL".to_owned(), "https://unused-by-migrate-and-bootstrap.invalid/".to_owned()),
            ]
            .into(),
        ),
        spec.ports,
    )
    .ok_or_else(|| config_error(spec, &"invalid DATABASE_URL"))?;
    config.database_max_connections = max;
    config.database_acquire_timeout = acquire;
    let _ = telemetry::init(spec.name, true, None);
    Ok(DatabaseEnv { config, owner_url, admin_url })
}

async fn migrate(spec: &'static ServiceSpec) -> ExitCode {
    let env = match database_env(spec, true, false) {
        Ok(found) => found,
        Err(code) => return code,
    };
    let result = async {
        let owner_url = env.owner_url.as_deref().unwrap_or_default();
        let runtime = db::role_of(env.config.database_url.expose_secret())?;
        db::migrate(owner_url, (spec.migrator)(), spec.name, &runtime, spec.append_only).await?;
        Ok::<_, crate::server::ServeError>(())
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "migrate failed");
            ExitCode::FAILURE
        }
    }
}

/// `replay-parked SUBSCRIPTION [POSITION]`.
async fn replay_parked(spec: &'static ServiceSpec, subscription: &str, position: Option<i64>) -> ExitCode {
    let config = match database_env(spec, false, false) {
        Ok(found) => found.config,
        Err(code) => return code,
    };
    let result = async {
        let pool = db::pool(&config, spec.name)?;
        let marked = crate::events::consumer::request_replay(&pool, subscription, position).await?;
        pool.close().await;
        Ok::<_, crate::server::ServeError>(marked)
    }
    .await;
    match result {
        Ok(marked) => {
            println!("{marked} parked event(s) of {subscription} marked for replay");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{}: replay-parked failed: {err}", spec.name);
            ExitCode::FAILURE
        }
    }
}

async fn bootstrap(spec: &'static ServiceSpec) -> ExitCode {
    let env = match database_env(spec, true, true) {
        Ok(found) => found,
        Err(code) => return code,
    };
    let (admin_url, owner_url) = (env.admin_url.unwrap_or_default(), env.owner_url.unwrap_or_default());
    match db::bootstrap(&admin_url, env.config.database_url.expose_secret(), &owner_url, spec.name).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "bootstrap failed");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Args, Command};

    fn parse(args: &[&str]) -> Result<Option<Command>, clap::Error> {
        Args::parse_for("applications", args.iter().map(|a| (*a).to_owned()).collect()).map(|a| a.command)
    }

    #[test]
    fn no_subcommand_serves_and_each_subcommand_is_its_own() {
        assert_eq!(parse(&[]).unwrap(), None);
        assert_eq!(parse(&["migrate"]).unwrap(), Some(Command::Migrate));
        assert_eq!(
            parse(&["replay-parked", "committee", "7"]).unwrap(),
            Some(Command::ReplayParked { subscription: "committee".into(), position: Some(7) })
        );
        assert_eq!(
            parse(&["replay-parked", "committee"]).unwrap(),
            Some(Command::ReplayParked { subscription: "committee".into(), position: None })
        );
    }

    #[test]
    fn a_bad_command_line_is_a_usage_error_that_names_the_service() {
        for bad in [&["nosuch"][..], &["replay-parked"], &["replay-parked", "c", "0"], &["replay-parked", "c", "x"]] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad:?}");
        }
        let help = parse(&["--help"]).unwrap_err();
        assert_eq!(help.exit_code(), 0);
        assert!(help.to_string().contains("Usage: applications"), "{help}");
    }
}
