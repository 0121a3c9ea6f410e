//! The monitoring service: follows each approved loan for its whole life.
//! Monitoring plans open from approvals on the applications feed, activate
//! when the first loan is tagged and close with the application; borrowers
//! report outcomes per period and reviewers accept or return them; deadlines
//! are watched by the overdue detector; conditions are fulfilled or waived by
//! four eyes, or breached; progress per plan and the portfolio impact report
//! (with CSV and SVG exports) are computed from accepted reports; every
//! change is in the audit trail and on the service's own feed.

pub mod api;
pub mod approvals;
pub mod audit;
pub mod catalogue;
pub mod columns;
pub mod conditions;
pub mod error;
pub mod export;
pub mod label;
pub mod loans;
pub mod overdue;
pub mod plans;
pub mod policy;
pub mod portfolio;
pub mod progress;
pub mod report_api;
pub mod reports;
pub mod rules;
pub mod store;

use socialloans_contracts::monitoring::monitoring_service_server::MonitoringServiceServer;
use socialloans_platform::{
    Context, ServiceSpec,
    config::{DefaultPorts, Env},
};

/// What makes this service itself.
pub static SPEC: ServiceSpec = ServiceSpec {
    name: "monitoring",
    ports: DefaultPorts { grpc: 50053, metrics: 9093 },
    policy: &policy::POLICY,
    migrator: || sqlx::migrate!("./migrations"),
    append_only: &["audit_entry", "plan_outstanding"],
    check_env: |env| {
        report_due_days(env);
        sweep_seconds(env);
        reassessment_months(env);
    },
    background,
};

/// `REPORT_DUE_DAYS`: days after a reporting period ends that its report is due (default 90).
fn report_due_days(env: &mut Env) -> i32 {
    env.int_in("REPORT_DUE_DAYS", 90, 1..=365) as i32
}

/// `LABEL_REASSESSMENT_MONTHS`: months between the yearly re-assessments of
/// a plan's social label (default 12), for plans created from then on.
fn reassessment_months(env: &mut Env) -> i32 {
    env.int_in("LABEL_REASSESSMENT_MONTHS", 12, 1..=60) as i32
}

/// `OVERDUE_CLOCK_FILE`: for a local suite whose story moves time, a file
/// the overdue detector reads today's date from (`YYYY-MM-DD`; the
/// machine's date while it is missing or empty). Never set in production.
fn clock_file(env: &mut Env) -> Option<std::path::PathBuf> {
    env.raw("OVERDUE_CLOCK_FILE").filter(|p| !p.is_empty()).map(std::path::PathBuf::from)
}

/// `OVERDUE_SWEEP_SECONDS`: how often overdue reports and conditions are looked for (default 300).
fn sweep_seconds(env: &mut Env) -> u64 {
    env.int_in("OVERDUE_SWEEP_SECONDS", 300, 1..=86_400)
}

/// Sweeps for overdue items on the system clock, and consumes the
/// applications feed when `APPLICATIONS_FEED_URL` is set.
fn background(context: &Context) {
    let every = std::time::Duration::from_secs(sweep_seconds(&mut context.config.raw.reader()));
    let clock: std::sync::Arc<dyn overdue::Clock> = match clock_file(&mut context.config.raw.reader()) {
        Some(path) => {
            tracing::warn!(path = %path.display(), "the overdue detector reads today from OVERDUE_CLOCK_FILE");
            std::sync::Arc::new(overdue::FileClock(path))
        }
        None => std::sync::Arc::new(overdue::SystemClock),
    };
    context.background.spawn(overdue::run(context.pool.clone(), clock, every, context.stopping.clone()));
    let mut env = context.config.raw.reader();
    let handler = approvals::Approvals {
        due_days: report_due_days(&mut env),
        reassessment_months: reassessment_months(&mut env),
    };
    context.subscribe("applications", approvals::APPLICATIONS_FEED, approvals::types(), handler);
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
