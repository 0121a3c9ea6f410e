//! The platform every Social Loans service stands on, used the same way by all three:
//! configuration from the environment, the gRPC server with health, reflection,
//! TLS, limits and graceful shutdown, bearer-token auth with a per-service role
//! policy, JSON logs and OpenTelemetry traces, Prometheus metrics, the
//! service's PostgreSQL pool, bootstrap and migrations, and error helpers.

pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod grpc_layer;
pub mod idempotency;
pub mod metrics;
pub mod pagination;
pub mod server;
pub mod telemetry;
pub mod trace_context;

pub use auth::{Caller, Policy, Role};
pub use server::{Context, Running, ServiceSpec};

/// A `check_env` for services with no variables of their own.
pub fn no_env(_: &mut config::Env) {}

/// A `background` for services with nothing to run beside serving.
pub fn no_background(_: &Context) {}

/// A protobuf timestamp of `time`.
pub fn timestamp(time: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: time.timestamp(), nanos: time.timestamp_subsec_nanos() as i32 }
}
