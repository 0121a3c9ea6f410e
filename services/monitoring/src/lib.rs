//! The monitoring service: monitoring plans, borrowers' outcome reports,
//! progress and the portfolio impact report. Built so far: the indicator
//! catalogue (with a starting set), monitoring plans opened from approvals on
//! the applications feed, activated by the first tagged loan and closed with
//! the application, and the service's own feed.

pub mod api;
pub mod approvals;
pub mod catalogue;
pub mod error;
pub mod overdue;
pub mod plans;
pub mod policy;
pub mod progress;
pub mod report_api;
pub mod reports;

use socialloans_contracts::monitoring::monitoring_service_server::MonitoringServiceServer;
use socialloans_platform::{
    Context, ServiceSpec,
    config::{DefaultPorts, Env},
};

/// The service's fully-qualified gRPC name.
pub const GRPC_SERVICE: &str = "socialloans.monitoring.v1.MonitoringService";

/// What makes this service itself.
pub static SPEC: ServiceSpec = ServiceSpec {
    name: "monitoring",
    grpc_service: GRPC_SERVICE,
    ports: DefaultPorts { grpc: 50053, metrics: 9093 },
    policy: &policy::POLICY,
    migrator: || sqlx::migrate!("./migrations"),
    descriptor_set: socialloans_contracts::FILE_DESCRIPTOR_SET,
    check_env: |env| {
        report_due_days(env);
    },
    background,
};

/// `REPORT_DUE_DAYS`: days after a reporting period ends that its report is due (default 90).
fn report_due_days(env: &mut Env) -> i32 {
    env.int_in("REPORT_DUE_DAYS", 90, 1..=365) as i32
}

/// Consumes the applications feed, when `APPLICATIONS_FEED_URL` is set.
fn background(context: &Context) {
    let handler = approvals::Approvals { due_days: report_due_days(&mut context.config.raw.reader()) };
    if let Err(err) =
        context.subscribe("applications", "applications", approvals::APPLICATIONS_FEED, approvals::types(), handler)
    {
        tracing::error!(error = %err, "cannot consume the applications feed");
    }
}

/// Registers the service's gRPC handlers.
pub fn routes(context: &Context) -> tonic::service::Routes {
    let limit = context.config.max_message_bytes;
    tonic::service::Routes::new(
        MonitoringServiceServer::new(api::Api { pool: context.pool.clone(), feed: context.feed.clone() })
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit),
    )
}
