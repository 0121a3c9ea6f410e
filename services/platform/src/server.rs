//! Starting and stopping a service: database, health, reflection, TLS, limits,
//! the call guard, metrics, and graceful shutdown.
//!
//! [`start`] binds its ports (port 0 works, for tests) and returns a [`Running`]
//! server that reports its real addresses; [`Running::shutdown`] begins the
//! graceful stop that SIGTERM begins in production.

use secrecy::ExposeSecret;
use std::{net::SocketAddr, sync::Arc, time::Duration};

use sqlx::{PgPool, migrate::Migrator};
use tokio::{sync::watch, task::JoinHandle};
use tonic::{
    service::Routes,
    transport::{Certificate, Identity, Server, ServerTlsConfig, server::TcpIncoming},
};
use tonic_health::{ServingStatus, server::HealthReporter};

use crate::{
    auth::{Policy, Verifier},
    config::{Config, DefaultPorts},
    db,
    events::{Feed, notify, sequencer},
    grpc_layer::CallGuard,
    metrics::Metrics,
};

/// The health service name that stays SERVING while the process runs
/// (the liveness probe): a database outage must not restart the pods.
pub const LIVENESS: &str = "liveness";

/// What makes a service itself; everything else the platform supplies.
#[derive(Debug)]
pub struct ServiceSpec {
    /// Short name: the service's schema, its log and metrics name.
    pub name: &'static str,
    /// Default ports.
    pub ports: DefaultPorts,
    /// Which roles may call which method.
    pub policy: &'static Policy,
    /// The service's migrations (`sqlx::migrate!()`).
    pub migrator: fn() -> Migrator,
    /// Tables the runtime role may only read and insert into (history,
    /// audit trails, the chain): see `db::grant_runtime`.
    pub append_only: &'static [&'static str],
    /// Reads and checks the service's own variables, so that a bad one stops
    /// the start together with the shared ones.
    pub check_env: fn(&mut crate::config::Env),
    /// Starts the service's background work (event consumers) once serving.
    pub background: fn(&Context),
}

impl ServiceSpec {
    /// The fully-qualified gRPC service its policy guards, e.g.
    /// `socialloans.applications.v1.ApplicationsService`: the name health and
    /// reflection answer for.
    pub fn grpc_service(&self) -> &'static str {
        self.policy.service
    }
}

/// What a service's handlers are built from.
#[derive(Debug, Clone)]
pub struct Context {
    /// The service's short name ([`ServiceSpec::name`]).
    pub service: &'static str,
    /// The service's pool, confined to its own schema.
    pub pool: PgPool,
    /// The validated configuration.
    pub config: Config,
    /// The metrics registry.
    pub metrics: Metrics,
    /// The service's event feed.
    pub feed: Feed,
    /// Turns true when the service begins to stop; background work ends then.
    pub stopping: watch::Receiver<bool>,
    /// Where background work is started, to be joined when the service stops.
    pub background: crate::background::Background,
}

impl Context {
    /// Consumes the feed of `peer` (when `<PEER>_FEED_URL` is configured) with
    /// `handler` until the service stops, reading the event `types` from the
    /// feed RPC `method`. The checkpoint is named after `peer`, in this
    /// service's schema. A subscription that cannot start (no identity to
    /// read the feed with, an unreadable certificate) is logged as an error;
    /// the service serves on without it.
    pub fn subscribe<H: crate::events::Handler>(
        &self,
        peer: &str,
        method: &'static str,
        types: Vec<String>,
        handler: H,
    ) {
        if let Err(err) = self.try_subscribe(peer, method, types, handler) {
            tracing::error!(error = %err, peer, "cannot consume the peer's feed");
        }
    }

    fn try_subscribe<H: crate::events::Handler>(
        &self,
        peer: &str,
        method: &'static str,
        types: Vec<String>,
        handler: H,
    ) -> Result<(), String> {
        let subscription = peer;
        use crate::events::{Subscription, TokenSource};
        let Some(endpoint) = self.config.events.peers.get(peer).cloned() else {
            tracing::warn!(subscription, peer, "no feed URL for this peer; its events are not consumed");
            return Ok(());
        };
        // A mounted token first; then the client certificate, over mTLS; a
        // token minted with the development secret only when neither exists.
        let certificate = endpoint.starts_with("https://") && self.config.events.peer_identity.is_some();
        let token = match (&self.config.events.service_token_file, &self.config.auth.key) {
            (Some(file), _) => TokenSource::File(file.clone()),
            (None, _) if certificate => TokenSource::Certificate,
            (None, crate::config::TokenKey::Hs256(secret)) => {
                TokenSource::Minted(Arc::new(crate::auth::DevTokenMinter::new(
                    secret.expose_secret(),
                    &self.config.auth.issuer,
                    &self.config.auth.audience,
                )))
            }
            (None, _) => {
                return Err(format!(
                    "reading {peer}'s feed needs an identity: a client certificate (PEER_TLS_CERT_FILE and \
                     PEER_TLS_KEY_FILE, with an https:// feed URL) or a mounted token (SERVICE_TOKEN_FILE)"
                ));
            }
        };
        let tls = if endpoint.starts_with("https://") {
            let mut tls = tonic::transport::ClientTlsConfig::new();
            if let Some(ca) = &self.config.events.peer_ca_file {
                let pem = std::fs::read(ca).map_err(|e| format!("PEER_TLS_CA_FILE: {e}"))?;
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            if let Some((cert, key)) = &self.config.events.peer_identity {
                let cert = std::fs::read(cert).map_err(|e| format!("PEER_TLS_CERT_FILE: {e}"))?;
                let key = std::fs::read(key).map_err(|e| format!("PEER_TLS_KEY_FILE: {e}"))?;
                tls = tls.identity(Identity::from_pem(cert, key));
            }
            Some(tls)
        } else {
            None
        };
        let subscription = Subscription {
            name: subscription.to_owned(),
            consumer: self.service,
            endpoint,
            method,
            types,
            tls,
            token,
            max_rejections: 5,
            idle_timeout: self.config.events.heartbeat * 4,
            max_message_bytes: self.config.max_message_bytes,
        };
        self.background.spawn(crate::events::consumer::run(
            self.pool.clone(),
            subscription,
            handler,
            self.metrics.clone(),
            self.stopping.clone(),
        ));
        Ok(())
    }
}

/// Why a service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A configured file could not be used.
    #[error("{0}")]
    Setup(String),
    /// A port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The database URL is unusable.
    #[error("DATABASE_URL: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// A started service.
#[derive(Debug)]
pub struct Running {
    /// The gRPC address actually bound.
    pub grpc_addr: SocketAddr,
    /// The metrics address actually bound.
    pub metrics_addr: SocketAddr,
    /// The health-only listener's address, when one was asked for.
    pub health_addr: Option<SocketAddr>,
    /// The service's pool.
    pub pool: PgPool,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), ServeError>>,
}

impl Running {
    /// Begins a graceful stop: health goes NOT_SERVING, no new calls are
    /// accepted, in-flight calls finish within the grace period.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }

    /// Waits until the service has stopped.
    pub async fn wait(self) -> Result<(), ServeError> {
        match self.task.await {
            Ok(result) => result,
            Err(join) => Err(ServeError::Setup(format!("server task failed: {join}"))),
        }
    }

    /// Stops and waits.
    pub async fn stop(self) -> Result<(), ServeError> {
        self.shutdown();
        self.wait().await
    }
}

/// Starts `spec` with `config`; `routes` registers the service's gRPC services.
pub async fn start(
    spec: &'static ServiceSpec,
    config: Config,
    routes: impl FnOnce(&Context) -> Routes,
) -> Result<Running, ServeError> {
    let verifier = Arc::new(Verifier::new(&config.auth).map_err(ServeError::Setup)?);
    let key_set = verifier.key_set();
    let pool = db::pool(&config, spec.name)?;
    if config.migrate_on_start
        && let Some(owner_url) = &config.database_migration_url
    {
        let runtime = db::role_of(config.database_url.expose_secret())?;
        db::migrate(owner_url.expose_secret(), (spec.migrator)(), spec.name, &runtime, spec.append_only).await?;
    }
    let metrics = Metrics::new();
    metrics.watch_pool(pool.clone());
    let (stop, stopped) = watch::channel(false);
    let context = start_background(spec, &config, &pool, key_set.as_ref(), &metrics, &stopped);

    let (reporter, health_service) = tonic_health::server::health_reporter();
    reporter.set_service_status(LIVENESS, ServingStatus::Serving).await;
    for name in ["", spec.grpc_service()] {
        reporter.set_service_status(name, ServingStatus::NotServing).await;
    }
    // v1 for current tools; v1alpha for older grpcurl and Postman builds.
    let reflection_v1 = reflection(spec).build_v1().map_err(|e| ServeError::Setup(e.to_string()))?;
    let reflection_v1alpha = reflection(spec).build_v1alpha().map_err(|e| ServeError::Setup(e.to_string()))?;

    // tonic would leave HTTP/2 streams per connection unlimited: a client
    // could hold any number of streams (a feed, Health/Watch) open at once.
    let mut builder = Server::builder()
        .max_concurrent_streams(config.max_streams_per_connection)
        .timeout(config.request_timeout)
        .tcp_nodelay(true)
        .http2_keepalive_interval(Some(Duration::from_secs(30)));
    if let Some(tls) = &config.tls {
        builder = builder.tls_config(tls_config(tls)?)?;
    }
    let health_only = config.health_addr.map(|addr| (addr, health_service.clone()));
    let router = builder
        .layer(call_guard(spec, &config, verifier, &metrics))
        .add_routes(routes(&context))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);

    let listener = tokio::net::TcpListener::bind(config.grpc_addr)
        .await
        .map_err(|source| ServeError::Bind { addr: config.grpc_addr, source })?;
    let grpc_addr = listener.local_addr().map_err(|source| ServeError::Bind { addr: config.grpc_addr, source })?;
    let metrics_listener = Metrics::bind(config.metrics_addr)
        .await
        .map_err(|source| ServeError::Bind { addr: config.metrics_addr, source })?;
    let metrics_addr =
        metrics_listener.local_addr().map_err(|source| ServeError::Bind { addr: config.metrics_addr, source })?;
    let health_addr = match health_only {
        Some((addr, service)) => Some(serve_health_only(addr, service, &context).await?),
        None => None,
    };
    let watcher = tokio::spawn(watch_database(
        pool.clone(),
        reporter.clone(),
        spec.grpc_service(),
        config.health_check_interval,
        metrics.clone(),
        key_set.clone(),
        stopped.clone(),
    ));
    let metrics_task = tokio::spawn(metrics.serve(metrics_listener, wait_for_stop(stopped.clone())));
    let serving = Serving { spec, reporter, grace: config.shutdown_grace, watcher, metrics_task, context };
    let task = tokio::spawn(serving.run(router, listener));
    let health_port = health_addr.map(|a| a.to_string()).unwrap_or_default();
    tracing::info!(service = spec.name, %grpc_addr, %metrics_addr, health_addr = %health_port, tls = config.tls.is_some(), "serving");
    Ok(Running { grpc_addr, metrics_addr, health_addr, pool, stop, task })
}

/// Starts the work every service does beside serving — the key set's
/// refresh, the LISTEN connection, the sequencer, the request log's
/// retention — and then the service's own (`spec.background`: its
/// consumers); all of it is joined when the service stops.
fn start_background(
    spec: &'static ServiceSpec,
    config: &Config,
    pool: &PgPool,
    key_set: Option<&Arc<crate::jwks::KeySet>>,
    metrics: &Metrics,
    stopped: &watch::Receiver<bool>,
) -> Context {
    let background = crate::background::Background::default();
    if let (Some(set), crate::config::TokenKey::Jwks { refresh, .. }) = (key_set, &config.auth.key) {
        background.spawn(set.clone().refresh(*refresh, stopped.clone()));
    }
    let notifier = notify::spawn(&background, pool.clone(), spec.name, stopped.clone());
    let events = &config.events;
    background.spawn(sequencer::run(
        pool.clone(),
        spec.name,
        notifier.appended.clone(),
        events.poll,
        events.retention,
        metrics.clone(),
        stopped.clone(),
    ));
    background.spawn(crate::idempotency::retain(pool.clone(), config.request_log_retention, stopped.clone()));
    let settings = crate::events::feed::FeedSettings {
        poll: events.poll,
        heartbeat: events.heartbeat,
        max_message_bytes: config.max_message_bytes,
        max_streams_per_caller: events.max_streams_per_caller,
    };
    let feed = Feed::new(pool.clone(), notifier.positioned.clone(), stopped.clone(), settings);
    let context = Context {
        service: spec.name,
        pool: pool.clone(),
        config: config.clone(),
        metrics: metrics.clone(),
        feed,
        stopping: stopped.clone(),
        background,
    };
    (spec.background)(&context);
    context
}

/// The guard every call of the service port passes (see [`CallGuard`]).
fn call_guard(spec: &'static ServiceSpec, config: &Config, verifier: Arc<Verifier>, metrics: &Metrics) -> CallGuard {
    CallGuard {
        verifier,
        policy: spec.policy,
        metrics: metrics.clone(),
        system_roles_need_certificate: config
            .tls
            .as_ref()
            .is_some_and(|t| t.client_ca_file.is_some() && t.client_auth_optional),
        feed_readers: config.events.feed_readers.clone().into(),
        limiter: Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_requests)),
        request_timeout: config.request_timeout,
    }
}

/// Plaintext, health only: what a kubelet's native gRPC probe can reach
/// while the service port speaks TLS. Returns the address bound.
async fn serve_health_only(
    addr: SocketAddr,
    service: tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>,
    context: &Context,
) -> Result<SocketAddr, ServeError> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| ServeError::Bind { addr, source })?;
    let bound = listener.local_addr().map_err(|source| ServeError::Bind { addr, source })?;
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let serve = Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, wait_for_stop(context.stopping.clone()));
    context.background.spawn(async move {
        if let Err(err) = serve.await {
            tracing::error!(error = %err, "the health port failed");
        }
    });
    Ok(bound)
}

/// The service port's router: the service's routes, health and reflection,
/// behind the call guard.
type GuardedRouter =
    tonic::transport::server::Router<tower::layer::util::Stack<CallGuard, tower::layer::util::Identity>>;

/// A service that serves until stopped, then drains and stops in order.
struct Serving {
    spec: &'static ServiceSpec,
    reporter: tonic_health::server::HealthReporter,
    grace: Duration,
    watcher: tokio::task::JoinHandle<()>,
    metrics_task: tokio::task::JoinHandle<std::io::Result<()>>,
    context: Context,
}

impl Serving {
    /// Serves `router` on `listener` until the stop: health turns NOT_SERVING,
    /// calls in flight get the grace period, the health watcher and the
    /// metrics port end, the background work is joined and the pool closed.
    async fn run(self, router: GuardedRouter, listener: tokio::net::TcpListener) -> Result<(), ServeError> {
        let Serving { spec, reporter, grace, watcher, metrics_task, context } = self;
        let (draining, drained_started) = tokio::sync::oneshot::channel::<()>();
        let signal = {
            let stopped = context.stopping.clone();
            async move {
                wait_for_stop(stopped).await;
                tracing::info!("shutting down: health NOT_SERVING, draining in-flight calls");
                for name in ["", spec.grpc_service(), LIVENESS] {
                    reporter.set_service_status(name, ServingStatus::NotServing).await;
                }
                let _ = draining.send(());
            }
        };
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let serve = router.serve_with_incoming_shutdown(incoming, signal);
        tokio::pin!(serve);
        let result = tokio::select! {
            result = &mut serve => result.map_err(ServeError::from),
            () = async { if drained_started.await.is_ok() { tokio::time::sleep(grace).await } else { std::future::pending().await } } => {
                tracing::warn!(grace_ms = grace.as_millis() as u64, "grace period over; dropping calls still in flight");
                Ok(())
            }
        };
        watcher.abort();
        let _ = metrics_task.await;
        // Consumers finish the event in hand, the sequencer its round; none
        // outlives the service, nor does its database session.
        context.background.join(grace).await;
        context.pool.close().await;
        tracing::info!("stopped");
        result
    }
}

/// Reflection on a service's port lists that service, health and reflection
/// (the descriptor set holds every contract; the others are not served here).
fn reflection(spec: &ServiceSpec) -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(socialloans_contracts::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .with_service_name(spec.grpc_service())
        .with_service_name("grpc.health.v1.Health")
        .with_service_name("grpc.reflection.v1.ServerReflection")
        .with_service_name("grpc.reflection.v1alpha.ServerReflection")
}

async fn wait_for_stop(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

fn tls_config(tls: &crate::config::TlsConfig) -> Result<ServerTlsConfig, ServeError> {
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|e| ServeError::Setup(format!("cannot read {}: {e}", path.display())))
    };
    let mut config = ServerTlsConfig::new().identity(Identity::from_pem(read(&tls.cert_file)?, read(&tls.key_file)?));
    if let Some(ca) = &tls.client_ca_file {
        config = config.client_ca_root(Certificate::from_pem(read(ca)?)).client_auth_optional(tls.client_auth_optional);
    }
    Ok(config)
}

/// Probes the database and keeps the health status in step with it: SERVING
/// while the database answers and the token keys (a key set) have loaded.
async fn watch_database(
    pool: PgPool,
    reporter: HealthReporter,
    grpc_service: &'static str,
    interval: Duration,
    metrics: Metrics,
    key_set: Option<Arc<crate::jwks::KeySet>>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut serving = None;
    loop {
        let up = db::is_reachable(&pool, interval.max(Duration::from_millis(500))).await;
        metrics.set_database_up(up);
        let keys = key_set.as_ref().is_none_or(|set| set.is_loaded());
        let now = up && keys;
        if serving != Some(now) && !*stopped.borrow() {
            let status = if now { ServingStatus::Serving } else { ServingStatus::NotServing };
            for name in ["", grpc_service] {
                reporter.set_service_status(name, status).await;
            }
            match (up, keys) {
                (true, true) => tracing::info!("database reachable, token keys loaded: SERVING"),
                (false, _) => tracing::warn!("database unreachable: NOT_SERVING"),
                (true, false) => tracing::warn!("token signing keys not loaded yet: NOT_SERVING"),
            }
            serving = Some(now);
        }
        // Sooner while the keys are still loading: SERVING as soon as they are.
        let wait = if keys { interval } else { interval.min(Duration::from_millis(200)) };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
    }
}
