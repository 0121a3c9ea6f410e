//! Configuration from environment variables only, validated once at start.
//!
//! Every problem is collected and reported together, each naming the variable
//! at fault, so an operator fixes a deployment in one round instead of many.

use std::{collections::HashMap, fmt, net::SocketAddr, path::PathBuf, str::FromStr, time::Duration};

/// A value that must never be printed (its `Debug` is redacted) and is wiped
/// from memory when dropped; `expose_secret()` gives it to the one place that
/// needs it.
pub use secrecy::{ExposeSecret, SecretString as Secret};

/// Everything wrong with the environment, one line per variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration:\n  {}", .0.join("\n  "))]
pub struct ConfigError(pub Vec<String>);

/// Reads typed variables from an environment snapshot and remembers every error.
pub struct Env {
    vars: HashMap<String, String>,
    errors: Vec<String>,
}

impl Env {
    /// A snapshot of the process environment.
    pub fn from_process() -> Self {
        Self::from_map(std::env::vars().collect())
    }

    /// A snapshot made of the given pairs (tests, or an embedding launcher).
    pub fn from_map(vars: HashMap<String, String>) -> Self {
        Self { vars, errors: Vec::new() }
    }

    /// The raw value of `name`, treating an empty value as unset.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str).filter(|v| !v.trim().is_empty())
    }

    /// A required string.
    pub fn required(&mut self, name: &str, meaning: &str) -> Option<String> {
        let value = self.raw(name).map(str::to_owned);
        if value.is_none() {
            self.errors.push(format!("{name} is required ({meaning})"));
        }
        value
    }

    /// An optional value parsed with `FromStr`; a malformed value is an error.
    pub fn optional<T: FromStr>(&mut self, name: &str, expected: &str) -> Option<T> {
        let raw = self.raw(name)?.trim().to_owned();
        match raw.parse() {
            Ok(value) => Some(value),
            Err(_) => {
                self.errors.push(format!("{name}={raw:?} is malformed: expected {expected}"));
                None
            }
        }
    }

    /// A value parsed with `FromStr`, or `default` when unset.
    pub fn or<T: FromStr>(&mut self, name: &str, default: T, expected: &str) -> T {
        self.optional(name, expected).unwrap_or(default)
    }

    /// An integer within `range`, or `default` when unset.
    pub fn int_in(&mut self, name: &str, default: u64, range: std::ops::RangeInclusive<u64>) -> u64 {
        let expected = format!("an integer from {} to {}", range.start(), range.end());
        match self.optional::<u64>(name, &expected) {
            Some(v) if range.contains(&v) => v,
            Some(v) => {
                self.errors.push(format!("{name}={v} is out of range: expected {expected}"));
                default
            }
            None => default,
        }
    }

    /// A duration given in milliseconds, within `range` ms.
    pub fn millis(&mut self, name: &str, default_ms: u64, range: std::ops::RangeInclusive<u64>) -> Duration {
        Duration::from_millis(self.int_in(name, default_ms, range))
    }

    /// One of the named `choices`, the first when unset; `None` (and an
    /// error) when set to anything else.
    pub fn choice<T: Copy>(&mut self, name: &str, choices: &[(&str, T)]) -> Option<T> {
        let Some(value) = self.raw(name) else { return choices.first().map(|&(_, v)| v) };
        if let Some(&(_, v)) = choices.iter().find(|(text, _)| *text == value) {
            return Some(v);
        }
        let names: Vec<&str> = choices.iter().map(|&(text, _)| text).collect();
        let expected = match names.split_last() {
            Some((last, [])) => (*last).to_owned(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        };
        self.errors.push(format!("{name}={value:?} is malformed: expected {expected}"));
        None
    }

    /// A boolean (`true/false`, `1/0`, `yes/no`, `on/off`).
    pub fn flag(&mut self, name: &str, default: bool) -> bool {
        match self.raw(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => default,
            Some(v) => match v.as_str() {
                "true" | "1" | "yes" | "on" => true,
                "false" | "0" | "no" | "off" => false,
                _ => {
                    self.errors.push(format!("{name}={v:?} is malformed: expected true or false"));
                    default
                }
            },
        }
    }

    /// A path to a file that must exist and be readable.
    pub fn file(&mut self, name: &str) -> Option<PathBuf> {
        let path = PathBuf::from(self.raw(name)?);
        if let Err(err) = std::fs::metadata(&path) {
            self.errors.push(format!("{name}={} cannot be read: {err}", path.display()));
            return None;
        }
        Some(path)
    }

    /// Records an error that a cross-field check found.
    pub fn error(&mut self, message: impl Into<String>) {
        self.errors.push(message.into());
    }

    /// Ends reading: `Ok` when every variable was valid.
    pub fn finish(self) -> Result<(), ConfigError> {
        if self.errors.is_empty() { Ok(()) } else { Err(ConfigError(self.errors)) }
    }
}

/// How the service verifies bearer tokens.
#[derive(Debug, Clone)]
pub enum TokenKey {
    /// A shared HS256 secret: development only (`AUTH_ALLOW_HS256=development`).
    Hs256(Secret),
    /// One PEM public key of the identity provider (`AUTH_PUBLIC_KEY_FILE`).
    PublicKey {
        /// `RS256`, `ES256` or `EdDSA`.
        algorithm: jsonwebtoken::Algorithm,
        /// The PEM file.
        pem_file: PathBuf,
    },
    /// The identity provider's key set (`AUTH_JWKS_FILE` or `AUTH_JWKS_URL`),
    /// keys chosen by `kid` and kept fresh.
    Jwks {
        /// Where the set comes from.
        source: crate::jwks::Source,
        /// How often it is loaded again (`AUTH_JWKS_REFRESH_SECONDS`).
        refresh: Duration,
        /// The least time between loads caused by an unknown `kid`
        /// (`AUTH_JWKS_MIN_REFETCH_SECONDS`).
        min_refetch: Duration,
    },
}

/// Token verification settings.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The verification key.
    pub key: TokenKey,
    /// Expected `iss` claim.
    pub issuer: String,
    /// Expected `aud` claim.
    pub audience: String,
    /// Clock skew tolerated on `exp`/`nbf`.
    pub leeway: Duration,
}

/// TLS settings; absent means plaintext.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// PEM certificate chain of the server.
    pub cert_file: PathBuf,
    /// PEM private key of the server.
    pub key_file: PathBuf,
    /// PEM CA that client certificates must chain to (mTLS); absent means no client certificates.
    pub client_ca_file: Option<PathBuf>,
    /// When mTLS is on: whether a client may still connect without a certificate.
    pub client_auth_optional: bool,
}

/// Limits every session of a service's runtime role runs under: a statement
/// that runs, or waits for a lock, or a transaction left idle, longer than
/// this is ended by the server — so nothing a dropped call left behind keeps
/// holding or waiting.
#[derive(Debug, Clone, Copy)]
pub struct DatabaseTimeouts {
    /// `statement_timeout`.
    pub statement: Duration,
    /// `lock_timeout`.
    pub lock: Duration,
    /// `idle_in_transaction_session_timeout`.
    pub idle_in_transaction: Duration,
}

/// The configuration every service shares.
#[derive(Debug, Clone)]
pub struct Config {
    /// gRPC listen address.
    pub grpc_addr: SocketAddr,
    /// Prometheus metrics listen address.
    pub metrics_addr: SocketAddr,
    /// A plaintext listener serving only `grpc.health.v1.Health`
    /// (`GRPC_HEALTH_ADDR`): for probes that cannot speak TLS.
    pub health_addr: Option<SocketAddr>,
    /// The service's own database URL (its own role).
    pub database_url: Secret,
    /// Pool size.
    pub database_max_connections: u32,
    /// How long to wait for a database connection.
    pub database_acquire_timeout: Duration,
    /// What every session of the service's role is allowed.
    pub database_timeouts: DatabaseTimeouts,
    /// Apply migrations at start-up before serving.
    pub migrate_on_start: bool,
    /// The owner role's URL (`DATABASE_MIGRATION_URL`), for migrations only.
    pub database_migration_url: Option<Secret>,
    /// Token verification.
    pub auth: AuthConfig,
    /// TLS, when switched on.
    pub tls: Option<TlsConfig>,
    /// Largest request or response message accepted, in bytes.
    pub max_message_bytes: usize,
    /// HTTP/2 streams one connection may have open at once.
    pub max_streams_per_connection: u32,
    /// Deadline applied to every request.
    pub request_timeout: Duration,
    /// Requests served at once across all connections; more wait.
    pub max_concurrent_requests: usize,
    /// How long in-flight calls may take to finish after SIGTERM.
    pub shutdown_grace: Duration,
    /// How often the database is probed for the health status.
    pub health_check_interval: Duration,
    /// OTLP endpoint; traces are exported only when set.
    pub otlp_endpoint: Option<String>,
    /// `json` (default) or `text` logs.
    pub log_json: bool,
    /// The event feed and outbox.
    pub events: EventsConfig,
    /// How long mutations' request ids (and answers) are remembered for
    /// replay; zero keeps them for ever. At least 7 days, as the contracts promise.
    pub request_log_retention: Duration,
    /// Every variable as read, for the service's own settings.
    pub raw: RawEnv,
}

fn peers_from_env(env: &mut Env) -> std::collections::BTreeMap<&'static str, String> {
    let mut peers = std::collections::BTreeMap::new();
    for (service, variable) in [
        ("applications", "APPLICATIONS_FEED_URL"),
        ("committee", "COMMITTEE_FEED_URL"),
        ("monitoring", "MONITORING_FEED_URL"),
    ] {
        if let Some(url) = env.raw(variable).map(str::to_owned) {
            if url.starts_with("http://") || url.starts_with("https://") {
                peers.insert(service, url);
            } else {
                env.error(format!("{variable}={url:?} is malformed: expected http://host:port or https://host:port"));
            }
        }
    }
    peers
}

fn feed_readers_from_env(env: &mut Env) -> Vec<String> {
    let raw = env.raw("FEED_READERS").unwrap_or_default().to_owned();
    let readers: Vec<String> = raw.split(',').map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned).collect();
    for reader in &readers {
        if reader.len() > 253
            || !reader.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
        {
            env.error(format!("FEED_READERS names {reader:?}: expected DNS names (or subjects) separated by commas"));
        }
    }
    readers
}

/// Outbox, feed and consumer settings.
#[derive(Debug, Clone)]
pub struct EventsConfig {
    /// The slow poll behind LISTEN/NOTIFY.
    pub poll: Duration,
    /// A feed's heartbeat while idle.
    pub heartbeat: Duration,
    /// Feed streams one subject may have open at once, per replica.
    pub max_streams_per_caller: usize,
    /// How long the outbox keeps events; zero keeps them for ever.
    pub retention: Duration,
    /// A token file for calling peers' feeds; when absent, tokens are minted
    /// with `AUTH_HS256_SECRET` (local runs).
    pub service_token_file: Option<PathBuf>,
    /// Peers' gRPC endpoints by service name, from `<SERVICE>_FEED_URL`.
    pub peers: std::collections::BTreeMap<&'static str, String>,
    /// CA that peers' TLS certificates chain to (`PEER_TLS_CA_FILE`).
    pub peer_ca_file: Option<PathBuf>,
    /// Client certificate and key towards peers that require mTLS.
    pub peer_identity: Option<(PathBuf, PathBuf)>,
    /// The peers that read this service's feed (`FEED_READERS`, DNS names of
    /// their certificates, or their service tokens' subjects).
    pub feed_readers: Vec<String>,
}

/// The variables as read at start, for a service's own settings
/// ([`crate::ServiceSpec::check_env`]). Debug output hides the values.
#[derive(Clone, Default)]
pub struct RawEnv(pub std::sync::Arc<HashMap<String, String>>);

impl fmt::Debug for RawEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawEnv({} variables)", self.0.len())
    }
}

impl RawEnv {
    /// A fresh reader over the same variables.
    pub fn reader(&self) -> Env {
        Env::from_map((*self.0).clone())
    }
}

/// The ports a service uses when no address is configured.
#[derive(Debug, Clone, Copy)]
pub struct DefaultPorts {
    /// gRPC port.
    pub grpc: u16,
    /// Metrics port.
    pub metrics: u16,
}

impl Config {
    /// Reads and validates the configuration.
    pub fn from_env(env: &mut Env, ports: DefaultPorts) -> Option<Config> {
        let any = |port| SocketAddr::from(([0, 0, 0, 0], port));
        let grpc_addr = env.or("GRPC_ADDR", any(ports.grpc), "host:port, e.g. 0.0.0.0:50051");
        let metrics_addr = env.or("METRICS_ADDR", any(ports.metrics), "host:port, e.g. 0.0.0.0:9091");
        let health_addr = env.optional("GRPC_HEALTH_ADDR", "host:port, e.g. 0.0.0.0:8080");
        let database_url = env.required("DATABASE_URL", "postgres:// URL of the service's own role");
        if let Some(url) = &database_url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            env.error("DATABASE_URL is malformed: expected a postgres:// or postgresql:// URL");
        }
        let database_max_connections = env.int_in("DATABASE_MAX_CONNECTIONS", 10, 1..=1000) as u32;
        let database_acquire_timeout = env.millis("DATABASE_ACQUIRE_TIMEOUT_MS", 5_000, 100..=600_000);
        let database_timeouts = DatabaseTimeouts {
            statement: env.millis("DATABASE_STATEMENT_TIMEOUT_MS", 30_000, 100..=3_600_000),
            lock: env.millis("DATABASE_LOCK_TIMEOUT_MS", 10_000, 100..=3_600_000),
            idle_in_transaction: env.millis("DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS", 60_000, 1_000..=3_600_000),
        };
        let migrate_on_start = env.flag("MIGRATE_ON_START", false);
        let database_migration_url = env.raw("DATABASE_MIGRATION_URL").filter(|u| !u.is_empty()).map(Secret::from);
        if migrate_on_start && database_migration_url.is_none() {
            env.error("MIGRATE_ON_START=true needs DATABASE_MIGRATION_URL: migrations run as the schema's owner");
        }
        let auth = auth_from_env(env);
        let tls = tls_from_env(env);
        // At least 1 MiB: the largest resource a caller can write (see
        // `limits`) must fit an answer, a page and an event with room to spare.
        let max_message_bytes = env.int_in("GRPC_MAX_MESSAGE_BYTES", 4 << 20, (1 << 20)..=(256 << 20)) as usize;
        let max_streams_per_connection = env.int_in("GRPC_MAX_STREAMS_PER_CONNECTION", 100, 1..=10_000) as u32;
        let request_timeout = env.millis("GRPC_REQUEST_TIMEOUT_MS", 30_000, 1..=3_600_000);
        let max_concurrent_requests = env.int_in("GRPC_MAX_CONCURRENT_REQUESTS", 64, 1..=100_000) as usize;
        let shutdown_grace = env.millis("SHUTDOWN_GRACE_MS", 20_000, 0..=600_000);
        let health_check_interval = env.millis("HEALTH_CHECK_INTERVAL_MS", 2_000, 50..=600_000);
        let otlp_endpoint = env.raw("OTEL_EXPORTER_OTLP_ENDPOINT").map(str::to_owned);
        let events = events_from_env(env);
        let request_log_retention = request_log_retention_from_env(env);
        let raw = RawEnv(std::sync::Arc::new(env.vars.clone()));
        let log_json = env.choice("LOG_FORMAT", &[("json", true), ("text", false)]).unwrap_or(true);
        Some(Config {
            grpc_addr,
            metrics_addr,
            health_addr,
            database_url: Secret::from(database_url?),
            database_migration_url,
            database_max_connections,
            database_acquire_timeout,
            database_timeouts,
            migrate_on_start,
            auth: auth?,
            tls,
            max_message_bytes,
            max_streams_per_connection,
            request_timeout,
            max_concurrent_requests,
            shutdown_grace,
            health_check_interval,
            otlp_endpoint,
            log_json,
            events,
            request_log_retention,
            raw,
        })
    }
}

fn events_from_env(env: &mut Env) -> EventsConfig {
    EventsConfig {
        poll: env.millis("OUTBOX_POLL_MS", 1_000, 10..=600_000),
        heartbeat: env.millis("FEED_HEARTBEAT_MS", 1_000, 100..=600_000),
        max_streams_per_caller: env.int_in("FEED_MAX_STREAMS_PER_CALLER", 8, 1..=1_000) as usize,
        retention: Duration::from_secs(86_400 * env.int_in("OUTBOX_RETENTION_DAYS", 30, 0..=36_500)),
        service_token_file: env.file("SERVICE_TOKEN_FILE"),
        peers: peers_from_env(env),
        peer_ca_file: env.file("PEER_TLS_CA_FILE"),
        peer_identity: match (env.file("PEER_TLS_CERT_FILE"), env.file("PEER_TLS_KEY_FILE")) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                env.error("PEER_TLS_CERT_FILE and PEER_TLS_KEY_FILE must be set together");
                None
            }
        },
        feed_readers: feed_readers_from_env(env),
    }
}

/// How long request ids are remembered: at least the week the contracts
/// promise, or for ever (0).
fn request_log_retention_from_env(env: &mut Env) -> Duration {
    let days = env.int_in("REQUEST_LOG_RETENTION_DAYS", 30, 0..=36_500);
    if (1..7).contains(&days) {
        env.error(format!(
            "REQUEST_LOG_RETENTION_DAYS={days} is out of range: the contracts promise a retry is \
             recognised for at least 7 days (0 keeps request ids for ever)"
        ));
    }
    Duration::from_secs(86_400 * days)
}

/// The value that switches HS256 on: a deliberate word, not a boolean.
pub const ALLOW_HS256: &str = "development";

fn auth_from_env(env: &mut Env) -> Option<AuthConfig> {
    let issuer = env.or("AUTH_ISSUER", "socialloans-dev".to_owned(), "a string");
    let audience = env.or("AUTH_AUDIENCE", "socialloans".to_owned(), "a string");
    let leeway = env.millis("AUTH_LEEWAY_MS", 30_000, 0..=600_000);
    let given: Vec<&str> = ["AUTH_HS256_SECRET", "AUTH_PUBLIC_KEY_FILE", "AUTH_JWKS_FILE", "AUTH_JWKS_URL"]
        .into_iter()
        .filter(|name| env.raw(name).is_some_and(|v| !v.is_empty()))
        .collect();
    let key = match given.as_slice() {
        [] => {
            env.error(
                "AUTH_JWKS_URL, AUTH_JWKS_FILE or AUTH_PUBLIC_KEY_FILE is required (the identity provider's keys; \
                 AUTH_HS256_SECRET with AUTH_ALLOW_HS256=development for local runs)",
            );
            None
        }
        [one] => match *one {
            "AUTH_HS256_SECRET" => hs256_from_env(env),
            "AUTH_PUBLIC_KEY_FILE" => {
                let pem_file = env.file("AUTH_PUBLIC_KEY_FILE");
                use jsonwebtoken::Algorithm::{ES256, EdDSA, RS256};
                let algorithm = env.choice("AUTH_ALGORITHM", &[("RS256", RS256), ("ES256", ES256), ("EdDSA", EdDSA)]);
                Some(TokenKey::PublicKey { algorithm: algorithm?, pem_file: pem_file? })
            }
            jwks => {
                let refresh = Duration::from_secs(env.int_in("AUTH_JWKS_REFRESH_SECONDS", 300, 10..=86_400));
                let min_refetch = Duration::from_secs(env.int_in("AUTH_JWKS_MIN_REFETCH_SECONDS", 10, 1..=3_600));
                let source = if jwks == "AUTH_JWKS_FILE" {
                    env.file("AUTH_JWKS_FILE").map(crate::jwks::Source::File)
                } else {
                    let url = env.raw("AUTH_JWKS_URL").unwrap_or_default().to_owned();
                    let ca_file = env.file("AUTH_JWKS_CA_FILE");
                    match crate::jwks::check_url(&url) {
                        Ok(()) => Some(crate::jwks::Source::Url { url, ca_file }),
                        Err(why) => {
                            env.error(format!("AUTH_JWKS_URL={url:?} is malformed: {why}"));
                            None
                        }
                    }
                };
                source.map(|source| TokenKey::Jwks { source, refresh, min_refetch })
            }
        },
        many => {
            env.error(format!("{} are all set: choose one source of token keys", many.join(", ")));
            None
        }
    };
    Some(AuthConfig { key: key?, issuer, audience, leeway })
}

/// A shared secret, accepted only when development is said out loud and the
/// secret is not a placeholder or guessable.
fn hs256_from_env(env: &mut Env) -> Option<TokenKey> {
    let secret = env.raw("AUTH_HS256_SECRET").unwrap_or_default().to_owned();
    if env.raw("AUTH_ALLOW_HS256") != Some(ALLOW_HS256) {
        env.error(format!(
            "AUTH_HS256_SECRET is for development only: anyone holding it can mint any role. Production verifies \
             the identity provider's tokens (AUTH_JWKS_URL, AUTH_JWKS_FILE or AUTH_PUBLIC_KEY_FILE); a local run \
             sets AUTH_ALLOW_HS256={ALLOW_HS256}"
        ));
        return None;
    }
    if let Err(why) = strong_secret(&secret) {
        env.error(format!("AUTH_HS256_SECRET is refused: {why}"));
        return None;
    }
    Some(TokenKey::Hs256(Secret::from(secret)))
}

/// Why a shared secret is too weak to sign tokens with, if it is: shorter
/// than 32 bytes, a placeholder left in a manifest, a repeated pattern, or
/// under 128 bits by the spread of its characters.
pub fn strong_secret(secret: &str) -> Result<(), String> {
    const PLACEHOLDERS: [&str; 10] =
        ["replace", "change", "example", "placeholder", "your", "todo", "xxxx", "dummy", "secret", "password"];
    if secret.len() < 32 {
        return Err("too short: expected at least 32 random bytes (e.g. `openssl rand -hex 32`)".into());
    }
    let lower = secret.to_ascii_lowercase();
    if let Some(word) = PLACEHOLDERS.iter().find(|word| lower.contains(*word)) {
        return Err(format!("it looks like a placeholder (it contains {word:?}): take one from the secret store"));
    }
    let bytes = secret.as_bytes();
    if (1..=bytes.len() / 2).any(|period| bytes.iter().zip(&bytes[period..]).all(|(a, b)| a == b)) {
        return Err("it repeats a pattern: expected random bytes".into());
    }
    let mut counts = HashMap::<u8, usize>::new();
    for b in bytes {
        *counts.entry(*b).or_default() += 1;
    }
    let n = bytes.len() as f64;
    let bits: f64 = counts.values().map(|&c| -(c as f64 / n) * (c as f64 / n).log2()).sum::<f64>() * n;
    if bits < 128.0 {
        return Err(format!("too little randomness (about {bits:.0} bits, 128 needed): expected random bytes"));
    }
    Ok(())
}

fn tls_from_env(env: &mut Env) -> Option<TlsConfig> {
    let cert_set = env.raw("TLS_CERT_FILE").is_some();
    let key_set = env.raw("TLS_KEY_FILE").is_some();
    let ca_set = env.raw("TLS_CLIENT_CA_FILE").is_some();
    if cert_set != key_set {
        env.error("TLS_CERT_FILE and TLS_KEY_FILE must be set together");
    }
    if ca_set && !(cert_set && key_set) {
        env.error("TLS_CLIENT_CA_FILE needs TLS_CERT_FILE and TLS_KEY_FILE (mTLS runs over TLS)");
    }
    let client_auth_optional =
        env.choice("TLS_CLIENT_AUTH", &[("required", false), ("optional", true)]).unwrap_or(false);
    let cert_file = env.file("TLS_CERT_FILE");
    let key_file = env.file("TLS_KEY_FILE");
    let client_ca_file = env.file("TLS_CLIENT_CA_FILE");
    Some(TlsConfig { cert_file: cert_file?, key_file: key_file?, client_ca_file, client_auth_optional })
}

#[cfg(test)]
mod tests;
