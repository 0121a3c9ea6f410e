//! Prometheus metrics, served as text on a small HTTP port (`GET /metrics`).
//!
//! gRPC calls are counted by method and status code, their latency kept in a
//! histogram per method; the database pool's use is read at scrape time. Later
//! parts (event consumers) register their own metrics in the same registry.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

/// Labels of a finished call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// `package.Service/Method`.
    pub method: &'static str,
    /// gRPC status code name, e.g. `OK`, `PERMISSION_DENIED`.
    pub code: &'static str,
}

/// Label of a method.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    /// `package.Service/Method`.
    pub method: &'static str,
}

/// Label of a consumer's subscription.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SubscriptionLabels {
    /// The subscription's name.
    pub subscription: String,
}

/// The metrics of one event consumer.
#[derive(Clone, Debug)]
pub struct ConsumerMetrics {
    /// Last applied position.
    pub checkpoint: Gauge,
    /// Head of the producer's feed, as last heard.
    pub head: Gauge,
    /// Head minus checkpoint.
    pub lag: Gauge,
    /// Events applied.
    pub applied: Counter,
    /// Events parked as poison.
    pub parked: Counter,
    /// 1 while the feed stream is open.
    pub connected: Gauge,
    /// 1 while this replica holds the subscription's lease.
    pub leader: Gauge,
}

/// Label of a pool connection state.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

type HistogramFamily = Family<MethodLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 100 µs .. ~6.5 s
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.0001, 2.0, 17))
}

/// The service's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
    calls: Family<CallLabels, Counter>,
    latency: HistogramFamily,
    in_flight: Gauge,
    pool: Family<PoolLabels, Gauge>,
    database_up: Gauge,
    db_pool: Arc<Mutex<Option<sqlx::PgPool>>>,
    outbox_head: Gauge,
    consumer: ConsumerFamilies,
}

#[derive(Clone, Default)]
struct ConsumerFamilies {
    checkpoint: Family<SubscriptionLabels, Gauge>,
    head: Family<SubscriptionLabels, Gauge>,
    lag: Family<SubscriptionLabels, Gauge>,
    applied: Family<SubscriptionLabels, Counter>,
    parked: Family<SubscriptionLabels, Counter>,
    connected: Family<SubscriptionLabels, Gauge>,
    leader: Family<SubscriptionLabels, Gauge>,
}

impl ConsumerFamilies {
    /// Registers each family under its name, with its help.
    fn register(&self, registry: &mut Registry) {
        let gauges = [
            ("consumer_checkpoint_position", "Last event position applied, by subscription", &self.checkpoint),
            ("consumer_feed_head_position", "Head of the peer's feed as last heard, by subscription", &self.head),
            ("consumer_lag_events", "Events committed by the peer but not yet applied, by subscription", &self.lag),
            ("consumer_connected", "1 while the feed stream is open, by subscription", &self.connected),
            ("consumer_lease_held", "1 while this replica consumes the subscription", &self.leader),
        ];
        for (name, help, family) in gauges {
            registry.register(name, help, family.clone());
        }
        let counters = [
            ("consumer_events_applied", "Events applied, by subscription", &self.applied),
            ("consumer_events_parked", "Poison events parked in consumer_dead_letter, by subscription", &self.parked),
        ];
        for (name, help, family) in counters {
            registry.register(name, help, family.clone());
        }
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with the gRPC and database metrics.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("socialloans");
        let calls = Family::<CallLabels, Counter>::default();
        let latency = HistogramFamily::new_with_constructor(latency_histogram as fn() -> Histogram);
        let in_flight = Gauge::default();
        let pool = Family::<PoolLabels, Gauge>::default();
        let database_up = Gauge::default();
        registry.register("grpc_server_calls", "gRPC calls finished, by method and status code", calls.clone());
        registry.register(
            "grpc_server_call_duration_seconds",
            "gRPC call latency until the response headers, by method",
            latency.clone(),
        );
        registry.register("grpc_server_calls_in_flight", "gRPC calls being served now", in_flight.clone());
        registry.register(
            "db_pool_connections",
            "Database pool connections by state (idle, in_use, max)",
            pool.clone(),
        );
        registry.register("database_up", "1 when the last database probe succeeded", database_up.clone());
        let outbox_head = Gauge::default();
        registry.register("outbox_head_position", "Highest position of this service's event feed", outbox_head.clone());
        let consumer = ConsumerFamilies::default();
        consumer.register(&mut registry);
        Self {
            registry: Arc::new(Mutex::new(registry)),
            calls,
            latency,
            in_flight,
            pool,
            database_up,
            db_pool: Arc::new(Mutex::new(None)),
            outbox_head,
            consumer,
        }
    }

    /// Sets the feed's head position.
    pub fn set_outbox_head(&self, position: i64) {
        self.outbox_head.set(position);
    }

    /// The metrics of the consumer of `subscription`.
    pub fn consumer(&self, subscription: &str) -> ConsumerMetrics {
        let labels = SubscriptionLabels { subscription: subscription.to_owned() };
        let c = &self.consumer;
        ConsumerMetrics {
            checkpoint: c.checkpoint.get_or_create(&labels).clone(),
            head: c.head.get_or_create(&labels).clone(),
            lag: c.lag.get_or_create(&labels).clone(),
            applied: c.applied.get_or_create(&labels).clone(),
            parked: c.parked.get_or_create(&labels).clone(),
            connected: c.connected.get_or_create(&labels).clone(),
            leader: c.leader.get_or_create(&labels).clone(),
        }
    }

    /// Lets other parts register their metrics.
    pub fn with_registry<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        f(&mut self.registry.lock().expect("metrics registry poisoned"))
    }

    /// Records one finished call.
    pub fn record_call(&self, method: &'static str, code: tonic::Code, seconds: f64) {
        self.calls.get_or_create(&CallLabels { method, code: code_name(code) }).inc();
        self.latency.get_or_create(&MethodLabels { method }).observe(seconds);
    }

    /// The in-flight gauge.
    pub fn in_flight(&self) -> &Gauge {
        &self.in_flight
    }

    /// Records the database probe's result.
    pub fn set_database_up(&self, up: bool) {
        self.database_up.set(i64::from(up));
    }

    /// Reports this pool's use at every scrape.
    pub fn watch_pool(&self, pool: sqlx::PgPool) {
        *self.db_pool.lock().expect("metrics pool poisoned") = Some(pool);
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        if let Some(pool) = self.db_pool.lock().expect("metrics pool poisoned").as_ref() {
            let size = i64::from(pool.size());
            let idle = pool.num_idle() as i64;
            self.pool.get_or_create(&PoolLabels { state: "idle" }).set(idle);
            self.pool.get_or_create(&PoolLabels { state: "in_use" }).set(size - idle);
            self.pool.get_or_create(&PoolLabels { state: "max" }).set(i64::from(pool.options().get_max_connections()));
        }
        let mut text = String::new();
        let registry = self.registry.lock().expect("metrics registry poisoned");
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("writing to a String cannot fail");
        text
    }

    /// Serves `GET /metrics` on `listener` until `shutdown` resolves.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let metrics = self.clone();
                async move {
                    (
                        [(http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
                        metrics.render(),
                    )
                }
            }),
        );
        axum::serve(listener, app).with_graceful_shutdown(shutdown).await
    }

    /// Binds the metrics port.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
        tokio::net::TcpListener::bind(addr).await
    }
}

/// The canonical upper-snake name of a gRPC code.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_calls_appear_in_the_exposition_by_method_and_code() {
        let metrics = Metrics::new();
        metrics.record_call("pkg.S/Get", tonic::Code::Ok, 0.002);
        metrics.record_call("pkg.S/Get", tonic::Code::Ok, 0.004);
        metrics.record_call("pkg.S/Get", tonic::Code::PermissionDenied, 0.001);
        let text = metrics.render();
        assert!(text.contains(r#"socialloans_grpc_server_calls_total{method="pkg.S/Get",code="OK"} 2"#), "{text}");
        assert!(text.contains(r#"socialloans_grpc_server_calls_total{method="pkg.S/Get",code="PERMISSION_DENIED"} 1"#));
        assert!(
            text.contains(r#"socialloans_grpc_server_call_duration_seconds_count{method="pkg.S/Get"} 3"#),
            "{text}"
        );
    }
}
