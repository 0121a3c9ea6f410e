//! The harness the suite's tests share: a private PostgreSQL with the
//! services' roles and schemas, services started in process on free ports or
//! as real processes, development tokens, certificates.
//!
//! It knows no service: callers pass the [`Service`]s (spec and routes) they
//! test, so each service crate can test its own binary with it.

#![allow(missing_docs)]

pub mod binary;
pub mod certs;
pub mod otlp;
pub mod process;

use std::{collections::HashMap, time::Duration};

use pgcluster::Cluster;
use socialloans_platform::{
    Context, Role, Running, ServiceSpec,
    auth::DevTokenMinter,
    config::{Config, Env},
};
use tonic::{Request, metadata::MetadataValue, service::Routes, transport::Channel};

/// The HS256 secret every test service trusts.
pub const SECRET: &str = "5e8a1c3f7b9d2e4a6c8f0b1d3e5a7c9f2b4d6e8a0c1f3b5d";
/// Issuer and audience the services expect by default.
pub const ISSUER: &str = "socialloans-dev";
pub const AUDIENCE: &str = "socialloans";
/// The database the services share (each in its own schema).
pub const DATABASE: &str = "socialloans";

/// A service under test: its spec and its routes.
#[derive(Clone, Copy)]
pub struct Service {
    pub spec: &'static ServiceSpec,
    pub routes: fn(&Context) -> Routes,
}

/// A private PostgreSQL cluster, with helpers for the services' URLs.
pub struct Db {
    pub cluster: Cluster,
}

impl Db {
    /// A new throwaway cluster (removed when dropped).
    pub fn start() -> Db {
        Db { cluster: Cluster::start_temporary().expect("start a private PostgreSQL") }
    }

    /// A new throwaway cluster with `specs` bootstrapped and migrated, as
    /// [`Db::start`] then [`Db::prepare`] would leave it, copied from a
    /// template made once per machine for these services, their migrations
    /// and this preparation (`pgcluster`'s prepared templates).
    pub async fn prepared(specs: &[&'static ServiceSpec]) -> Db {
        let name = template_name(specs);
        let cluster = Cluster::start_temporary_prepared(&name, |fresh| {
            // `prepare` is async and this runs inside the test's runtime.
            std::thread::scope(|scope| {
                scope
                    .spawn(|| {
                        let runtime = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .map_err(|e| e.to_string())?;
                        runtime.block_on(prepare_on(fresh, specs));
                        Ok(())
                    })
                    .join()
                    .map_err(|_| "preparing the template panicked".to_owned())?
            })
        })
        .expect("start a private PostgreSQL from the prepared template");
        Db { cluster }
    }

    /// The URL of `service`'s own (runtime) role.
    pub fn service_url(&self, service: &str) -> String {
        service_url_on(&self.cluster, service)
    }

    /// The URL of the role that owns `service`'s schema (migrations only).
    pub fn owner_url(&self, service: &str) -> String {
        owner_url_on(&self.cluster, service)
    }

    /// The superuser URL of the suite's database.
    pub fn admin_url(&self) -> String {
        self.cluster.url("postgres", &self.password(), DATABASE)
    }

    fn password(&self) -> String {
        let admin = self.cluster.admin_url();
        let userinfo = admin.split_once("://").and_then(|(_, rest)| rest.split_once('@')).map(|(u, _)| u).unwrap_or("");
        userinfo.split_once(':').map(|(_, p)| p.to_owned()).unwrap_or_default()
    }

    /// Bootstraps role and schema of each of `specs` and applies its
    /// migrations ([`Db::prepared`] starts a cluster with this done).
    pub async fn prepare(&self, specs: &[&'static ServiceSpec]) {
        prepare_on(&self.cluster, specs).await;
    }

    /// The environment a service needs, on free loopback ports, plus `extra`
    /// (an empty value removes a variable).
    pub fn env(&self, spec: &ServiceSpec, extra: &[(&str, &str)]) -> HashMap<String, String> {
        env_on(&self.cluster, spec, extra)
    }

    /// A validated configuration for `spec` (see [`Db::env`]).
    pub fn config(&self, spec: &ServiceSpec, extra: &[(&str, &str)]) -> Config {
        config_on(&self.cluster, spec, extra)
    }

    /// Starts `service` in this process.
    pub async fn serve(&self, service: Service, extra: &[(&str, &str)]) -> Running {
        socialloans_platform::server::start(service.spec, self.config(service.spec, extra), service.routes)
            .await
            .expect("service starts")
    }
}

/// What [`Db::prepare`] does, on any cluster.
async fn prepare_on(cluster: &Cluster, specs: &[&'static ServiceSpec]) {
    for spec in specs {
        let name = spec.name;
        let (admin, owner) = (cluster.admin_url(), owner_url_on(cluster, name));
        socialloans_platform::db::bootstrap(&admin, &service_url_on(cluster, name), &owner, name)
            .await
            .expect("bootstrap");
        socialloans_platform::db::migrate(&owner, (spec.migrator)(), name, name, spec.append_only)
            .await
            .expect("migrate");
    }
}

/// The name of the prepared template for `specs`: it changes with their
/// migrations, the platform's, and the code that bootstraps and prepares.
fn template_name(specs: &[&'static ServiceSpec]) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    include_str!("../../platform/src/db.rs").hash(&mut hasher);
    include_str!("lib.rs").hash(&mut hasher);
    for migration in socialloans_platform::db::platform_migrations().iter() {
        (migration.version, &*migration.checksum).hash(&mut hasher);
    }
    let mut name = String::from("socialloans");
    for spec in specs {
        name.push('-');
        name.push_str(spec.name);
        for migration in (spec.migrator)().iter() {
            (migration.version, &*migration.checksum).hash(&mut hasher);
        }
    }
    format!("{name}-{:016x}", hasher.finish())
}

fn service_url_on(cluster: &Cluster, service: &str) -> String {
    cluster.url(service, &format!("{service}-password"), DATABASE)
}

fn owner_url_on(cluster: &Cluster, service: &str) -> String {
    cluster.url(&format!("{service}_owner"), &format!("{service}-owner-password"), DATABASE)
}

fn env_on(cluster: &Cluster, spec: &ServiceSpec, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut vars: HashMap<String, String> = [
        ("DATABASE_URL", service_url_on(cluster, spec.name)),
        ("DATABASE_MIGRATION_URL", owner_url_on(cluster, spec.name)),
        ("AUTH_HS256_SECRET", SECRET.to_owned()),
        ("AUTH_ALLOW_HS256", socialloans_platform::config::ALLOW_HS256.to_owned()),
        ("GRPC_ADDR", "127.0.0.1:0".to_owned()),
        ("METRICS_ADDR", "127.0.0.1:0".to_owned()),
        ("HEALTH_CHECK_INTERVAL_MS", "100".to_owned()),
        ("DATABASE_ACQUIRE_TIMEOUT_MS", "1000".to_owned()),
        ("SHUTDOWN_GRACE_MS", "10000".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in extra {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    vars
}

fn config_on(cluster: &Cluster, spec: &ServiceSpec, extra: &[(&str, &str)]) -> Config {
    let mut env = Env::from_map(env_on(cluster, spec, extra));
    let config = Config::from_env(&mut env, spec.ports);
    (spec.check_env)(&mut env);
    env.finish().expect("valid test configuration");
    config.expect("configuration")
}

/// Mints tokens the test services accept.
pub fn minter() -> DevTokenMinter {
    DevTokenMinter::new(SECRET, ISSUER, AUDIENCE)
}

/// A token with `roles` (and `org` for a borrower), valid for an hour. Its
/// subject names the roles and organisation (`test-analyst`,
/// `test-borrower@556000-0000`), so that tokens of different roles are
/// different people, as four-eyes rules expect.
pub fn token(roles: &[Role], org: Option<&str>) -> String {
    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    let subject = match org {
        Some(org) => format!("test-{}@{org}", names.join("+")),
        None => format!("test-{}", names.join("+")),
    };
    minter().mint(&subject, roles, org, Duration::from_secs(3600))
}

/// `message` with `authorization: Bearer <token>`.
pub fn authorized<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    let value: MetadataValue<_> = format!("Bearer {token}").parse().expect("ascii token");
    request.metadata_mut().insert("authorization", value);
    request
}

/// A free loopback address to give a service that others must know before
/// it starts (a peer's feed URL). Chosen below the kernel's ephemeral range
/// (32768–60999 here), so that no outgoing connection of a concurrent test —
/// to PostgreSQL, to a service — can take it between this probe and the
/// service's bind, as one did with ports from `bind(…:0)`.
pub fn reserved_addr() -> std::net::SocketAddr {
    use std::hash::{BuildHasher, Hasher};
    for _ in 0..1000 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        let port = 20_000 + (hasher.finish() % 12_000) as u16;
        if let Ok(listener) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            return listener.local_addr().expect("a bound address");
        }
    }
    panic!("no free loopback port between 20000 and 32000");
}

/// `GET path` over HTTP/1.0 from `addr` (the metrics port): the whole
/// response, which must be a 200.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

/// A plaintext channel to `addr`.
pub async fn channel(addr: std::net::SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.expect("connect")
}

/// The health status of `service` ("" for the whole server).
pub async fn health(channel: Channel, service: &str) -> Result<i32, tonic::Code> {
    let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
    let response = client
        .check(tonic_health::pb::HealthCheckRequest { service: service.to_owned() })
        .await
        .map_err(|status| status.code())?;
    Ok(response.into_inner().status)
}

/// Polls `check` every 50 ms until it returns true or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Serving status codes of `grpc.health.v1`.
pub const SERVING: i32 = 1;
pub const NOT_SERVING: i32 = 2;

/// An exclusive lock on a table, held by an admin transaction: calls that
/// touch the table wait inside the service until it is released.
pub struct TableLock {
    admin: sqlx::PgPool,
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
}

impl Db {
    /// Locks `table` (schema-qualified, one of the services' own tables).
    pub async fn lock_table(&self, table: &'static str) -> TableLock {
        let admin = sqlx::PgPool::connect(&self.admin_url()).await.expect("admin connection");
        let mut tx = admin.begin().await.expect("begin");
        let sql = match table {
            "applications.application" => "LOCK TABLE applications.application IN ACCESS EXCLUSIVE MODE",
            other => panic!("no lock statement for {other}"),
        };
        sqlx::query(sql).execute(&mut *tx).await.expect("lock");
        TableLock { admin, tx }
    }
}

impl TableLock {
    /// Waits until `n` statements of `application` wait on a lock.
    pub async fn wait_for_waiters(&self, application: &str, n: i64) -> bool {
        eventually(Duration::from_secs(10), || self.wait_for_waiters_now(application, n)).await
    }

    /// Whether `n` statements of `application` wait on a lock now.
    pub async fn wait_for_waiters_now(&self, application: &str, n: i64) -> bool {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
        )
        .bind(application)
        .fetch_one(&self.admin)
        .await
        .expect("pg_stat_activity")
            >= n
    }

    /// Releases the lock.
    pub async fn release(self) {
        self.tx.rollback().await.expect("rollback");
        self.admin.close().await;
    }
}
