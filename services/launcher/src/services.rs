//! `socialloans up`: PostgreSQL, bootstrap, migrations, four service
//! processes, a development mail relay, health, and a clean stop on Ctrl-C.

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

const SERVICES: [Service; 5] = [
    Service { name: "applications", grpc_port: 50051, metrics_port: 9091 },
    Service { name: "committee", grpc_port: 50052, metrics_port: 9092 },
    Service { name: "monitoring", grpc_port: 50053, metrics_port: 9093 },
    Service { name: "notices", grpc_port: 50054, metrics_port: 9094 },
    Service { name: "bonds", grpc_port: 50055, metrics_port: 9095 },
];

/// The development mail relay's port (before the offset).
const MAIL_PORT: u16 = 2525;

/// `SOCIALLOANS_PORT_OFFSET`, added to every port so that two suites can run
/// side by side; at most 15400, so that every port stays a port. Offsets from
/// 11000 put the gRPC ports above the kernel's ephemeral range (32768–60999)
/// and the metrics ports below it, where no outgoing connection can take one
/// between a check that it is free and the bind (the tests use them).
fn port_offset() -> Result<u16, String> {
    match std::env::var("SOCIALLOANS_PORT_OFFSET") {
        Err(_) => Ok(0),
        Ok(v) => v
            .parse::<u16>()
            .ok()
            .filter(|o| *o <= 15_400)
            .ok_or_else(|| format!("SOCIALLOANS_PORT_OFFSET={v:?} is not a number from 0 to 15400")),
    }
}

/// Where the services of a local suite answer.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// `http://127.0.0.1:50051` by default.
    pub applications: String,
    /// `http://127.0.0.1:50052` by default.
    pub committee: String,
    /// `http://127.0.0.1:50053` by default.
    pub monitoring: String,
    /// `http://127.0.0.1:50054` by default; empty when a suite elsewhere
    /// names no notices service.
    pub notices: String,
    /// `http://127.0.0.1:50055` by default; empty when a suite elsewhere
    /// names no bonds service.
    pub bonds: String,
    /// The file a local suite's overdue detector reads today from
    /// (`OVERDUE_CLOCK_FILE`), which the story writes to let time pass;
    /// `None` for a suite whose time it cannot move.
    pub clock_file: Option<PathBuf>,
}

impl Endpoints {
    /// The endpoints of the suite `socialloans up` starts (with
    /// `SOCIALLOANS_PORT_OFFSET`), or those named by `SOCIALLOANS_APPLICATIONS_URL`,
    /// `SOCIALLOANS_COMMITTEE_URL` and `SOCIALLOANS_MONITORING_URL` when all three are set
    /// (a suite elsewhere: containers behind their service names, say), with
    /// `SOCIALLOANS_NOTICES_URL` and `SOCIALLOANS_BONDS_URL` when they are.
    pub fn local() -> Result<Endpoints, String> {
        let named = |service: &str| std::env::var(format!("SOCIALLOANS_{}_URL", service.to_uppercase())).ok();
        match (named("applications"), named("committee"), named("monitoring")) {
            (Some(applications), Some(committee), Some(monitoring)) => {
                let notices = named("notices").unwrap_or_default();
                let bonds = named("bonds").unwrap_or_default();
                Ok(Endpoints { applications, committee, monitoring, notices, bonds, clock_file: None })
            }
            _ => Ok(Endpoints::at(port_offset()?)),
        }
    }

    /// The endpoints of a local suite whose ports are shifted by `offset`.
    pub fn at(offset: u16) -> Endpoints {
        let url = |i: usize| format!("http://127.0.0.1:{}", SERVICES[i].grpc_port + offset);
        Endpoints {
            applications: url(0),
            committee: url(1),
            monitoring: url(2),
            notices: url(3),
            bonds: url(4),
            clock_file: None,
        }
    }

    /// Where the service `name` of a local suite shifted by `offset` serves
    /// its metrics (`http://127.0.0.1:9091/metrics` for the applications by default).
    pub fn metrics(offset: u16, name: &str) -> Option<String> {
        let service = SERVICES.iter().find(|s| s.name == name)?;
        Some(format!("http://127.0.0.1:{}/metrics", service.metrics_port + offset))
    }

    /// Whether all answer SERVING now.
    pub async fn serving(&self) -> bool {
        let optional = [&self.notices, &self.bonds].into_iter().filter(|n| !n.is_empty());
        for url in [&self.applications, &self.committee, &self.monitoring].into_iter().chain(optional) {
            if !serving(url).await {
                return false;
            }
        }
        true
    }
}

/// An endpoint for `url`. For `https://` it trusts the CA in
/// `SOCIALLOANS_CA_FILE` and, for services that want a client certificate
/// (core banking's calls), presents `SOCIALLOANS_CLIENT_CERT_FILE` and
/// `SOCIALLOANS_CLIENT_KEY_FILE`.
pub fn endpoint(url: &str) -> Result<tonic::transport::Endpoint, String> {
    use tonic::transport::{Certificate, ClientTlsConfig, Identity};
    let endpoint = tonic::transport::Channel::from_shared(url.to_owned()).map_err(|e| format!("{url}: {e}"))?;
    if !url.starts_with("https://") {
        return Ok(endpoint);
    }
    let file = |var: &str| match std::env::var(var).ok().filter(|f| !f.is_empty()) {
        Some(path) => std::fs::read(&path).map(Some).map_err(|e| format!("{var} {path}: {e}")),
        None => Ok(None),
    };
    let mut tls = ClientTlsConfig::new();
    if let Some(ca) = file("SOCIALLOANS_CA_FILE")? {
        tls = tls.ca_certificate(Certificate::from_pem(ca));
    }
    if let (Some(cert), Some(key)) = (file("SOCIALLOANS_CLIENT_CERT_FILE")?, file("SOCIALLOANS_CLIENT_KEY_FILE")?) {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    endpoint.tls_config(tls).map_err(|e| format!("{url}: {e}"))
}

async fn serving(url: &str) -> bool {
    let Ok(endpoint) = endpoint(url) else { return false };
    let Ok(channel) = endpoint.connect_timeout(Duration::from_secs(1)).connect().await else { return false };
    let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
    let request = tonic_health::pb::HealthCheckRequest { service: String::new() };
    let serving = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
    client.check(request).await.is_ok_and(|r| r.into_inner().status == serving)
}

/// The database the services share, each in its own schema.
const DATABASE: &str = "socialloans";

/// This executable: it runs each service as `socialloans service NAME ...`,
/// one process per service, so a single `cargo run` builds everything.
fn this_executable() -> Result<PathBuf, String> {
    std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))
}

fn service_password(name: &str) -> String {
    format!("{name}-local-dev")
}

/// Replaces the user, password and database of a postgres URL.
fn with_credentials(admin_url: &str, user: &str, password: &str, database: &str) -> Result<String, String> {
    let (scheme, rest) = admin_url.split_once("://").ok_or("DATABASE_URL is not a postgres:// URL")?;
    let host_part = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let host = host_part.split(['/', '?']).next().unwrap_or(host_part);
    Ok(format!("{scheme}://{user}:{password}@{host}/{database}"))
}

fn run_step(binary: &Path, service: &str, subcommand: &str, env: &[(String, String)]) -> Result<(), String> {
    let output = Command::new(binary)
        .args(["service", service, subcommand])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("LOG_FORMAT", "text")
        .output()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{service} {subcommand} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Children that get SIGTERM, then are waited for, however `up` ends.
pub(crate) struct Children(pub(crate) Vec<(&'static str, Child)>);

impl Children {
    fn stop(&mut self) {
        for (_, child) in &self.0 {
            let _ =
                rustix::process::kill_process(rustix::process::Pid::from_child(child), rustix::process::Signal::TERM);
        }
        for (name, child) in &mut self.0 {
            let deadline = Instant::now() + Duration::from_secs(25);
            loop {
                match child.try_wait() {
                    Ok(Some(status)) => {
                        println!("{name} stopped ({status})");
                        break;
                    }
                    Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
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

/// Asks the kernel to SIGTERM the child when this process dies, however it
/// dies, so that no service outlives the launcher.
fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    #[allow(unsafe_code)]
    // SAFETY: the closure only calls prctl(2), which is async-signal-safe and
    // touches only the child's own state.
    unsafe {
        command.pre_exec(|| Ok(rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM))?));
    }
}

/// The smallest offset (a multiple of 100, up to 10,000) at which all of the
/// suite's ports are free now.
pub fn free_offset() -> Option<u16> {
    (1..=100u16).map(|k| k * 100).find(|offset| ensure_ports_free(*offset).is_ok())
}

/// Refuses to start when a port is taken, naming the port.
fn ensure_ports_free(offset: u16) -> Result<(), String> {
    for service in &SERVICES {
        for port in [service.grpc_port + offset, service.metrics_port + offset] {
            std::net::TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
                format!("port {port} ({}) is not free: {e}; is another `socialloans up` running?", service.name)
            })?;
        }
    }
    if std::env::var("SMTP_URL").is_err() {
        let port = MAIL_PORT + offset;
        std::net::TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
            format!("port {port} (the mail relay) is not free: {e}; is another `socialloans up` running?")
        })?;
    }
    Ok(())
}

/// Where the private PostgreSQL of `home` keeps its data: `home/postgres`;
/// or, when the server's user (`postgres`, as we are root) cannot reach
/// `home` — a clone under /root, or in a private temporary directory —
/// `/var/tmp/socialloans/<hash of home>/postgres`, which it can (made here).
pub fn cluster_dir(home: &Path) -> Result<PathBuf, String> {
    if pgcluster::server_can_reach(home) {
        return Ok(home.join("postgres"));
    }
    std::fs::create_dir_all(home).map_err(|e| format!("cannot create {}: {e}", home.display()))?;
    let outside = outside_dir(home).ok_or_else(|| format!("cannot resolve {}", home.display()))?;
    for dir in [outside.parent().expect("a parent"), outside.as_path()] {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("cannot open {} to the postgres user: {e}", dir.display()))?;
    }
    println!(
        "the postgres user cannot reach {} (a private parent directory); the private PostgreSQL's data goes to {}",
        home.display(),
        outside.join("postgres").display()
    );
    Ok(outside.join("postgres"))
}

/// `/var/tmp/socialloans/<12 hex of the SHA-256 of home's real path>`, for
/// an existing `home`.
pub fn outside_dir(home: &Path) -> Option<PathBuf> {
    use sha2::Digest;
    let real = home.canonicalize().ok()?;
    let digest: String =
        sha2::Sha256::digest(real.as_os_str().as_encoded_bytes()).iter().take(6).map(|b| format!("{b:02x}")).collect();
    Some(PathBuf::from("/var/tmp/socialloans").join(digest))
}

/// Starts `service` serving, as `socialloans service NAME serve`, with `env`;
/// its output is copied to ours.
pub(crate) fn spawn_service(binary: &Path, service: &'static str, env: &[(String, String)]) -> Result<Child, String> {
    let mut command = Command::new(binary);
    die_with_parent(&mut command);
    let mut child = command
        .args(["service", service, "serve"])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("LOG_FORMAT", std::env::var("LOG_FORMAT").unwrap_or_else(|_| "text".into()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{service}: {e}"))?;
    forward(service, child.stdout.take().expect("piped"));
    forward(service, child.stderr.take().expect("piped"));
    Ok(child)
}

/// Copies a child's output to ours, each line prefixed with the service name.
fn forward(name: &'static str, stream: impl std::io::Read + Send + 'static) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            println!("{name:>12} | {line}");
        }
    });
}

/// A running suite: its PostgreSQL (when private) and the three service
/// processes. Dropping it stops the services (SIGTERM, then a grace period).
pub struct Suite {
    pub(crate) children: Children,
    /// What each service was started with, to start it again.
    pub(crate) serve_envs: Vec<Vec<(String, String)>>,
    pub(crate) binary: PathBuf,
    _cluster: Option<pgcluster::Cluster>,
    /// The development token secret the services accept.
    pub secret: String,
    /// Where the services answer.
    pub endpoints: Endpoints,
    /// The admin connection the suite was bootstrapped with.
    pub admin_url: String,
    /// The maildir the development mail relay keeps the notices in; `None`
    /// when `SMTP_URL` names a relay of one's own.
    pub maildir: Option<PathBuf>,
}

/// The file the overdue detector of the local suite of `home` reads today from.
pub fn clock_file(home: &Path) -> PathBuf {
    home.join("clock")
}

/// Starts the development mail relay for `home` on port 2525 + `offset`,
/// keeping messages in `home/mail`, on a thread of its own for the life of
/// the process: its URL and maildir.
fn start_mail_sink(home: &Path, offset: u16) -> Result<(String, PathBuf), String> {
    let maildir = home.join("mail");
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], MAIL_PORT + offset));
    let (sender, started) = std::sync::mpsc::channel();
    let dir = maildir.clone();
    std::thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(err) => return drop(sender.send(Err(err.to_string()))),
        };
        runtime.block_on(async move {
            match notices::sink::Sink::start(addr, &dir, 0).await {
                Ok(sink) => {
                    let _ = sender.send(Ok(sink.url()));
                    std::future::pending::<()>().await
                }
                Err(err) => drop(sender.send(Err(format!("the mail relay on {addr}: {err}")))),
            }
        });
    });
    let url = started.recv().map_err(|e| e.to_string())??;
    Ok((url, maildir))
}

impl Suite {
    /// Starts PostgreSQL (private under `home`, unless `DATABASE_URL` is
    /// set), bootstraps and migrates each service, starts the three services
    /// and waits until all are SERVING.
    pub fn start(home: &Path) -> Result<Suite, String> {
        Suite::start_at(home, port_offset()?)
    }

    /// As [`Suite::start`], with every port shifted by `offset`.
    pub fn start_at(home: &Path, offset: u16) -> Result<Suite, String> {
        let binary = this_executable()?;
        ensure_ports_free(offset)?;
        let secret = tokens::secret(home)?;

        let (cluster, admin_url) = match std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) {
            Some(url) => {
                println!("using the PostgreSQL at DATABASE_URL (as admin, to create roles and schemas)");
                (None, url)
            }
            None => {
                let dir = cluster_dir(home)?;
                println!("starting a private PostgreSQL in {} ...", dir.display());
                let cluster = pgcluster::Cluster::start_persistent(&dir).map_err(|e| e.to_string())?;
                let url = cluster.admin_url();
                (Some(cluster), url)
            }
        };

        let (smtp_url, maildir) = match std::env::var("SMTP_URL").ok().filter(|u| !u.is_empty()) {
            Some(url) => (url, None),
            None => {
                let (url, maildir) = start_mail_sink(home, offset)?;
                println!("mail relay {url}: notices are kept in {}/new", maildir.display());
                (url, Some(maildir))
            }
        };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        let mut children = Children(Vec::new());
        let mut serve_envs = Vec::new();
        for service in &SERVICES {
            let mut env = vec![
                ("DATABASE_ADMIN_URL".to_owned(), admin_url.clone()),
                (
                    "DATABASE_URL".to_owned(),
                    with_credentials(&admin_url, service.name, &service_password(service.name), DATABASE)?,
                ),
                (
                    "DATABASE_MIGRATION_URL".to_owned(),
                    with_credentials(
                        &admin_url,
                        &format!("{}_owner", service.name),
                        &format!("{}-owner", service_password(service.name)),
                        DATABASE,
                    )?,
                ),
                ("AUTH_HS256_SECRET".to_owned(), secret.clone()),
                ("AUTH_ALLOW_HS256".to_owned(), socialloans_platform::config::ALLOW_HS256.to_owned()),
                ("GRPC_ADDR".to_owned(), format!("127.0.0.1:{}", service.grpc_port + offset)),
                ("METRICS_ADDR".to_owned(), format!("127.0.0.1:{}", service.metrics_port + offset)),
            ];
            // Every service may consume every other's feed; each takes what it needs.
            for peer in SERVICES.iter().filter(|p| p.name != service.name) {
                env.push((
                    format!("{}_FEED_URL", peer.name.to_uppercase()),
                    format!("http://127.0.0.1:{}", peer.grpc_port + offset),
                ));
            }
            if service.name == "monitoring" {
                // The story lets time pass by writing the detector's day; it looks often.
                env.push(("OVERDUE_CLOCK_FILE".to_owned(), clock_file(home).display().to_string()));
                env.push(("OVERDUE_SWEEP_SECONDS".to_owned(), "2".to_owned()));
            }
            if service.name == "notices" {
                env.push(("SMTP_URL".to_owned(), smtp_url.clone()));
                env.push(("NOTICE_SEND_MS".to_owned(), "500".to_owned()));
            }
            run_step(&binary, service.name, "bootstrap", &env)?;
            run_step(&binary, service.name, "migrate", &env)?;
            // Serving holds the runtime role's credential only.
            env.retain(|(k, _)| k != "DATABASE_ADMIN_URL" && k != "DATABASE_MIGRATION_URL");
            let child = spawn_service(&binary, service.name, &env)?;
            println!("{:>12} | started, pid {}", service.name, child.id());
            children.0.push((service.name, child));
            serve_envs.push(env);
        }

        for (service, (_, child)) in SERVICES.iter().zip(&mut children.0) {
            runtime.block_on(wait_serving(service, offset, child))?;
        }
        Ok(Suite {
            children,
            serve_envs,
            binary,
            _cluster: cluster,
            secret,
            endpoints: Endpoints { clock_file: Some(clock_file(home)), ..Endpoints::at(offset) },
            admin_url,
            maildir,
        })
    }

    /// The connection URL of `service`'s own role (as the service itself connects).
    pub fn service_url(&self, service: &str) -> Result<String, String> {
        with_credentials(&self.admin_url, service, &service_password(service), DATABASE)
    }

    /// The process id of each running service.
    pub fn pids(&self) -> Vec<(&'static str, u32)> {
        self.children.0.iter().map(|(name, child)| (*name, child.id())).collect()
    }

    /// Stops the services, then (when private) PostgreSQL.
    pub fn stop(mut self) {
        self.children.stop();
    }
}

/// `socialloans up`: starts the suite, keeps its services running
/// ([`crate::supervisor`]) until Ctrl-C or SIGTERM, then stops everything.
pub fn up(home: &Path) -> Result<(), String> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut suite = Suite::start(home)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    // The handlers are in place before the banner says the suite is up, so
    // a Ctrl-C or SIGTERM from then on always stops it cleanly.
    let (mut interrupt, mut terminate) = {
        let _entered = runtime.enter();
        let handler = |kind| signal(kind).map_err(|e| format!("cannot handle signals: {e}"));
        (handler(SignalKind::interrupt())?, handler(SignalKind::terminate())?)
    };
    print_banner(&suite);
    let outcome = runtime.block_on(async {
        tokio::select! {
            _ = interrupt.recv() => Ok(()),
            _ = terminate.recv() => Ok(()),
            given_up = crate::supervisor::supervise(&mut suite) => given_up,
        }
    });
    println!("\nstopping ...");
    suite.stop();
    outcome
}

async fn wait_serving(service: &Service, offset: u16, child: &mut Child) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = format!("http://127.0.0.1:{}", service.grpc_port + offset);
    loop {
        // Our own child must be the one answering, not a leftover on the port.
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{} exited ({status}) before it was serving; its log is above", service.name));
        }
        if serving(&url).await {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{} did not report SERVING within 60 s", service.name));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn print_banner(suite: &Suite) {
    let secret = &suite.secret;
    let offset = port_offset().unwrap_or_default();
    println!("\nSocial Loans is up. Endpoints (plaintext gRPC, reflection on):");
    for service in &SERVICES {
        println!(
            "  {:<13} 127.0.0.1:{}   metrics http://127.0.0.1:{}/metrics",
            service.name,
            service.grpc_port + offset,
            service.metrics_port + offset
        );
    }
    println!(
        "\nDevelopment tokens (valid {} h; `socialloans token ROLE [ORG]` makes more):",
        tokens::TTL.as_secs() / 3600
    );
    for role in Role::ALL {
        let org = (role == Role::Borrower).then_some(tokens::EXAMPLE_ORG);
        println!("  {:<20} {}", role.as_str(), tokens::mint(secret, role, org));
    }
    let analyst = tokens::mint(secret, Role::Analyst, None);
    let apps = SERVICES[0].grpc_port + offset;
    println!("\nTry:\n  grpcurl -plaintext 127.0.0.1:{apps} list");
    println!(
        "  grpcurl -plaintext -H 'authorization: Bearer {analyst}' -d '{{\"page_size\": 10}}' \\\n    127.0.0.1:{apps} socialloans.applications.v1.ApplicationsService/ListApplications"
    );
    println!("  cargo run --bin socialloans -- demo    # the pilot story, in another terminal");
    println!("\nPress Ctrl-C to stop.");
}
