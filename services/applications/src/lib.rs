//! The applications service: a social loan application's life from first draft
//! to closed loan, and what core banking asks about it.

pub mod api;
pub mod conditions;
pub mod decisions;
pub mod domain;
pub mod edit;
pub mod error;
pub mod feeds;
pub mod lapse;
pub mod loans;
pub mod orgnr;
pub mod policy;
pub mod queries;
pub mod record;
pub mod service;
pub mod steps;
pub mod store;
pub mod validate;

use socialloans_contracts::applications::applications_service_server::ApplicationsServiceServer;
use socialloans_platform::{Context, ServiceSpec, config::DefaultPorts, config::Env};

/// Default pricing discount for approved social loans, in basis points below
/// the ordinary rate ("a couple of basis points").
pub const DEFAULT_DISCOUNT_BPS: u64 = 3;

/// What makes this service itself.
pub static SPEC: ServiceSpec = ServiceSpec {
    name: "applications",
    ports: DefaultPorts { grpc: 50051, metrics: 9091 },
    policy: &policy::POLICY,
    migrator: || sqlx::migrate!("./migrations"),
    append_only: &["application_history"],
    check_env: |env| {
        discount_bps(env);
        lapse::lapse_days(env);
        lapse::sweep_every(env);
    },
    background,
};

/// `PRICING_DISCOUNT_BPS`: the discount approvals get, 0–100 basis points.
fn discount_bps(env: &mut Env) -> i32 {
    env.int_in("PRICING_DISCOUNT_BPS", DEFAULT_DISCOUNT_BPS, 0..=100) as i32
}

fn operations(context: &Context) -> service::Applications {
    service::Applications { pool: context.pool.clone(), discount_bps: discount_bps(&mut context.config.raw.reader()) }
}

/// Consumes the committee's feed (decisions) and monitoring's (conditions),
/// when `COMMITTEE_FEED_URL` and `MONITORING_FEED_URL` are set; lapses
/// undrawn approvals when `APPROVAL_LAPSE_DAYS` is set; fills in, once, the
/// loan rows of loans tagged before the loan table kept them.
fn background(context: &Context) {
    let pool = context.pool.clone();
    tokio::spawn(async move {
        match store::backfill_loans(&pool).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(applications = n, "loan rows filled in from the applications"),
            Err(e) => tracing::warn!(error = %e, "filling in the loan rows failed; the next start tries again"),
        }
    });
    let days = lapse::lapse_days(&mut context.config.raw.reader()) as u32;
    if days > 0 {
        let every = lapse::sweep_every(&mut context.config.raw.reader());
        context.background.spawn(lapse::run(context.pool.clone(), days, every, context.stopping.clone()));
    }
    let decided = decisions::CommitteeEvents { discount_bps: operations(context).discount_bps };
    context.subscribe("committee", decisions::COMMITTEE_FEED, decisions::types(), decided);
    context.subscribe("monitoring", conditions::MONITORING_FEED, conditions::types(), conditions::MonitoringEvents);
}

/// Registers the service's gRPC handlers.
pub fn routes(context: &Context) -> tonic::service::Routes {
    let limit = context.config.max_message_bytes;
    tonic::service::Routes::new(
        ApplicationsServiceServer::new(api::Api::new(operations(context), context.feed.clone()))
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit),
    )
}
