//! `socialloans up`: PostgreSQL, bootstrap, migrations, three service
//! processes, health, and a clean stop on Ctrl-C.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use socialloans_platform::Role;

use crate::tokens;

/// A service the suite runs: name, gRPC and metrics ports.
struct Service {
    name: &'static str,
    grpc_port: u16,
    metrics_port: u16,
}

const SERVICES: [Service; 3] = [
    Service {
        name: "applications",
        grpc_port: 50051,
        metrics_port: 9091,
    },
    Service {
        name: "committee",
        grpc_port: 50052,
        metrics_port: 9092,
    },
    Service {
        name: "monitoring",
        grpc_port: 50053,
        metrics_port: 9093,
    },
];

/// The database the services share, each in its own schema.
const DATABASE: &str = "socialloans";

/// The directory holding the service binaries: beside this one.
fn bin_dir() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    exe.parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| "executable has no directory".to_owned())
}

/// Under `cargo run`, builds the service binaries in the same profile so
/// that one command is enough on a fresh clone.
fn build_services(bin_dir: &Path) -> Result<(), String> {
    let Some(cargo) = std::env::var_os("CARGO") else {
        return Ok(());
    };
    let mut command = Command::new(cargo);
    command.args([
        "build",
        "--bins",
        "-p",
        "applications",
        "-p",
        "committee",
        "-p",
        "monitoring",
    ]);
    if bin_dir.ends_with("release") {
        command.arg("--release");
    }
    println!("building the service binaries (cargo build --bins) ...");
    let status = command.status().map_err(|e| format!("cargo build: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("building the services failed".into())
    }
}

/// The service binary `name`, or a clear error naming how to build it.
fn binary(bin_dir: &Path, name: &str) -> Result<PathBuf, String> {
    let path = bin_dir.join(name);
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{} not found: run `cargo build --workspace --bins` first",
            path.display()
        ))
    }
}

fn service_password(name: &str) -> String {
    format!("{name}-local-dev")
}

/// Replaces the user, password and database of a postgres URL.
fn with_credentials(
    admin_url: &str,
    user: &str,
    password: &str,
    database: &str,
) -> Result<String, String> {
    let (scheme, rest) = admin_url
        .split_once("://")
        .ok_or("DATABASE_URL is not a postgres:// URL")?;
    let host_part = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let host = host_part.split(['/', '?']).next().unwrap_or(host_part);
    Ok(format!("{scheme}://{user}:{password}@{host}/{database}"))
}

fn run_step(binary: &Path, subcommand: &str, env: &[(String, String)]) -> Result<(), String> {
    let output = Command::new(binary)
        .arg(subcommand)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("LOG_FORMAT", "text")
        .output()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} {subcommand} failed:\n{}{}",
            binary.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Children that get SIGTERM, then are waited for, however `up` ends.
struct Children(Vec<(&'static str, Child)>);

impl Children {
    fn stop(&mut self) {
        for (_, child) in &self.0 {
            #[allow(unsafe_code)]
            // SAFETY: kill(2) on a pid this process spawned and has not reaped.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
        }
        for (name, child) in &mut self.0 {
            let deadline = Instant::now() + Duration::from_secs(25);
            loop {
                match child.try_wait() {
                    Ok(Some(status)) => {
                        println!("{name} stopped ({status})");
                        break;
                    }
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(50))
                    }
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        println!("{name} killed after the grace period");
                        break;
                    }
                }
            }
        }
        self.0.clear();
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Copies a child's output to ours, each line prefixed with the service name.
fn forward(name: &'static str, stream: impl std::io::Read + Send + 'static) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            println!("{name:>12} | {line}");
        }
    });
}

/// `socialloans up`.
pub fn up(home: &Path) -> Result<(), String> {
    let bin_dir = bin_dir()?;
    build_services(&bin_dir)?;
    let binaries = SERVICES
        .iter()
        .map(|s| binary(&bin_dir, s.name))
        .collect::<Result<Vec<_>, _>>()?;
    let secret = tokens::secret(home)?;

    let (_cluster, admin_url) = match std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        Some(url) => {
            println!(
                "using the PostgreSQL at DATABASE_URL (as admin, to create roles and schemas)"
            );
            (None, url)
        }
        None => {
            let dir = home.join("postgres");
            println!("starting a private PostgreSQL in {} ...", dir.display());
            let cluster = pgcluster::Cluster::start_persistent(&dir).map_err(|e| e.to_string())?;
            let url = cluster.admin_url();
            (Some(cluster), url)
        }
    };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut children = Children(Vec::new());
    for (service, binary) in SERVICES.iter().zip(&binaries) {
        let env = vec![
            ("DATABASE_ADMIN_URL".to_owned(), admin_url.clone()),
            (
                "DATABASE_URL".to_owned(),
                with_credentials(
                    &admin_url,
                    service.name,
                    &service_password(service.name),
                    DATABASE,
                )?,
            ),
            ("AUTH_HS256_SECRET".to_owned(), secret.clone()),
            (
                "GRPC_ADDR".to_owned(),
                format!("127.0.0.1:{}", service.grpc_port),
            ),
            (
                "METRICS_ADDR".to_owned(),
                format!("127.0.0.1:{}", service.metrics_port),
            ),
        ];
        run_step(binary, "bootstrap", &env)?;
        run_step(binary, "migrate", &env)?;
        let mut child = Command::new(binary)
            .arg("serve")
            .envs(
                env.iter()
                    .filter(|(k, _)| k != "DATABASE_ADMIN_URL")
                    .map(|(k, v)| (k, v)),
            )
            .env(
                "LOG_FORMAT",
                std::env::var("LOG_FORMAT").unwrap_or_else(|_| "text".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{}: {e}", binary.display()))?;
        forward(service.name, child.stdout.take().expect("piped"));
        forward(service.name, child.stderr.take().expect("piped"));
        children.0.push((service.name, child));
    }

    for service in &SERVICES {
        runtime.block_on(wait_serving(service))?;
    }
    print_banner(&secret);
    runtime.block_on(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    println!("\nstopping ...");
    children.stop();
    Ok(())
}

async fn wait_serving(service: &Service) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = format!("http://127.0.0.1:{}", service.grpc_port);
    loop {
        if let Ok(channel) = tonic::transport::Channel::from_shared(url.clone())
            .expect("valid url")
            .connect()
            .await
        {
            let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
            let request = tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            };
            if let Ok(response) = client.check(request).await
                && response.into_inner().status
                    == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
            {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{} did not report SERVING within 60 s",
                service.name
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn print_banner(secret: &str) {
    println!("\nSocial Loans is up. Endpoints (plaintext gRPC, reflection on):");
    for service in &SERVICES {
        println!(
            "  {:<13} 127.0.0.1:{}   metrics http://127.0.0.1:{}/metrics",
            service.name, service.grpc_port, service.metrics_port
        );
    }
    println!(
        "\nDevelopment tokens (valid {} h; `socialloans token ROLE [ORG]` makes more):",
        tokens::TTL.as_secs() / 3600
    );
    for role in Role::ALL {
        let org = (role == Role::Borrower).then_some(tokens::EXAMPLE_ORG);
        println!(
            "  {:<20} {}",
            role.as_str(),
            tokens::mint(secret, role, org)
        );
    }
    let analyst = tokens::mint(secret, Role::Analyst, None);
    println!("\nTry:\n  grpcurl -plaintext 127.0.0.1:50051 list");
    println!(
        "  grpcurl -plaintext -H 'authorization: Bearer {analyst}' -d '{{\"page_size\": 10}}' \\\n    127.0.0.1:50051 socialloans.applications.v1.ApplicationsService/ListApplications"
    );
    println!("\nPress Ctrl-C to stop.");
}
