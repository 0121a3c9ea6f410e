//! The bonds service: the lender's social bond allocation register. It
//! follows the eligible pool of social loans from the applications and
//! monitoring feeds ([`pool`]), keeps the social bonds issued against it
//! ([`register`]) under the invariant that the bonds outstanding never
//! exceed the pool, warns when the headroom falls below a margin
//! ([`watch`]), and produces the allocation and investor impact reports
//! ([`model`], [`views`], [`export`]) as of any date and as known at any
//! time ([`history`]), published as signed vintages ([`vintages`]).

pub mod api;
pub mod error;
pub mod export;
pub mod forecast;
pub mod history;
pub mod model;
pub mod policy;
pub mod pool;
pub mod register;
pub mod views;
pub mod vintages;
pub mod watch;

use socialloans_contracts::bonds::bonds_service_server::BondsServiceServer;
use socialloans_platform::{
    Context, ServiceSpec,
    config::{DefaultPorts, Env},
    signing::SigningKey,
};

/// What makes this service itself.
pub static SPEC: ServiceSpec = ServiceSpec {
    name: "bonds",
    ports: DefaultPorts { grpc: 50055, metrics: 9095 },
    policy: &policy::POLICY,
    migrator: || sqlx::migrate!("./migrations"),
    append_only: &["pool_movement", "accepted_indicator", "bond_redemption", "report_vintage"],
    check_env: |env| {
        settings(env);
        SigningKey::from_env(env, "REPORT_SIGNING_KEY_FILE");
    },
    background,
};

/// The service's own settings, from the environment.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// `BOND_HEADROOM_MARGIN_PERCENT`: the margin, in percent of the bonds
    /// outstanding, below which the headroom is reported low (default 5).
    pub margin_percent: u32,
    /// `BOND_SWEEP_SECONDS`: how often the headroom is checked as days pass
    /// (default 3600).
    pub sweep_every: std::time::Duration,
}

/// Reads and checks [`Settings`].
pub fn settings(env: &mut Env) -> Settings {
    Settings {
        margin_percent: env.int_in("BOND_HEADROOM_MARGIN_PERCENT", 5, 0..=100) as u32,
        sweep_every: std::time::Duration::from_secs(env.int_in("BOND_SWEEP_SECONDS", 3600, 1..=86_400)),
    }
}

/// Consumes the applications and monitoring feeds, and checks the headroom
/// as days pass.
fn background(context: &Context) {
    let settings = settings(&mut context.config.raw.reader());
    let handler = pool::Pool { margin_percent: settings.margin_percent };
    context.subscribe("applications", pool::APPLICATIONS_FEED, pool::types("applications"), handler.clone());
    context.subscribe("monitoring", pool::MONITORING_FEED, pool::types("monitoring"), handler);
    context.background.spawn(watch::sweep(
        context.pool.clone(),
        settings.margin_percent,
        settings.sweep_every,
        context.stopping.clone(),
    ));
}

/// Registers the service's gRPC handlers.
pub fn routes(context: &Context) -> tonic::service::Routes {
    let limit = context.config.max_message_bytes;
    let key = SigningKey::from_env(&mut context.config.raw.reader(), "REPORT_SIGNING_KEY_FILE");
    if key.ephemeral {
        tracing::warn!(
            key_id = %key.key_id(),
            "no REPORT_SIGNING_KEY_FILE: published reports are signed with a key made for this process"
        );
    }
    tonic::service::Routes::new(
        BondsServiceServer::new(api::Api {
            pool: context.pool.clone(),
            feed: context.feed.clone(),
            key,
            margin_percent: settings(&mut context.config.raw.reader()).margin_percent,
        })
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit),
    )
}
