//! The notices service: the reminders and notices the lender's work causes,
//! by e-mail. It consumes the three feeds ([`feeds`]), writes each notice
//! once into its communication log ([`store`]) in the transaction that
//! moves the feed's checkpoint, and a sender ([`sender`]) delivers what is
//! due through an SMTP relay, retrying with backoff. Borrowers register who
//! receives their notices and read their log over gRPC ([`api`]). For
//! development and tests, [`sink`] is a relay that keeps every message in a
//! maildir.

pub mod api;
pub mod error;
pub mod feeds;
pub mod policy;
pub mod sender;
pub mod sink;
pub mod store;
pub mod texts;

use socialloans_contracts::notices::notices_service_server::NoticesServiceServer;
use socialloans_platform::{
    Context, ServiceSpec,
    config::{DefaultPorts, Env},
};

/// What makes this service itself.
pub static SPEC: ServiceSpec = ServiceSpec {
    name: "notices",
    ports: DefaultPorts { grpc: 50054, metrics: 9094 },
    policy: &policy::POLICY,
    migrator: || sqlx::migrate!("./migrations"),
    append_only: &["delivery_attempt"],
    check_env: |env| {
        settings(env);
    },
    background,
};

/// The service's own settings, from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `SMTP_URL`: the relay, e.g. `smtp://127.0.0.1:2525`,
    /// `smtp://relay.example:587?tls=required` or `smtps://relay.example`.
    /// Without it nothing is sent: notices wait in the log.
    pub smtp_url: Option<String>,
    /// `NOTICE_FROM`: the sender (default `Social Loans <noreply@socialloans.local>`).
    pub from: String,
    /// `NOTICE_ANALYST_EMAIL`: the lender's analysts' mailbox (default
    /// `analytiker@socialloans.local`).
    pub analysts: String,
    /// `NOTICE_ESCALATION_DAYS`: days an overdue report waits before the
    /// analysts are told (default 14; 0: at once).
    pub escalation_days: u64,
    /// `NOTICE_SEND_MS`: how often due notices are looked for (default 1000).
    pub send_every: std::time::Duration,
    /// `NOTICE_MAX_ATTEMPTS`: attempts before a notice is FAILED (default 8).
    pub max_attempts: i32,
}

/// Reads and checks [`Settings`].
pub fn settings(env: &mut Env) -> Settings {
    let smtp_url = env.raw("SMTP_URL").map(str::to_owned);
    if let Some(url) = &smtp_url
        && !(url.starts_with("smtp://") || url.starts_with("smtps://"))
    {
        env.error(format!("SMTP_URL={url:?} is malformed: expected smtp://host:port or smtps://host:port"));
    }
    let from = env.raw("NOTICE_FROM").unwrap_or("Social Loans <noreply@socialloans.local>").to_owned();
    if from.parse::<lettre::message::Mailbox>().is_err() {
        env.error(format!("NOTICE_FROM={from:?} is not a mailbox: expected \"Name <address>\" or an address"));
    }
    let analysts = env.raw("NOTICE_ANALYST_EMAIL").unwrap_or("analytiker@socialloans.local").to_owned();
    if analysts.parse::<lettre::Address>().is_err() {
        env.error(format!("NOTICE_ANALYST_EMAIL={analysts:?} is not an e-mail address"));
    }
    Settings {
        smtp_url,
        from,
        analysts,
        escalation_days: env.int_in("NOTICE_ESCALATION_DAYS", 14, 0..=365),
        send_every: env.millis("NOTICE_SEND_MS", 1000, 10..=600_000),
        max_attempts: env.int_in("NOTICE_MAX_ATTEMPTS", 8, 1..=100) as i32,
    }
}

/// Consumes the three feeds, and sends what is due.
fn background(context: &Context) {
    let settings = settings(&mut context.config.raw.reader());
    let handler = feeds::Notices { analysts: settings.analysts.clone(), escalation_days: settings.escalation_days };
    context.subscribe("applications", feeds::APPLICATIONS_FEED, feeds::types("applications"), handler.clone());
    context.subscribe("committee", feeds::COMMITTEE_FEED, feeds::types("committee"), handler.clone());
    context.subscribe("monitoring", feeds::MONITORING_FEED, feeds::types("monitoring"), handler);
    match sender::Sender::new(&settings) {
        Ok(Some(sender)) => {
            context.background.spawn(sender.run(context.pool.clone(), settings.send_every, context.stopping.clone()))
        }
        Ok(None) => tracing::warn!("no SMTP_URL: notices are written to the log and wait there, unsent"),
        Err(err) => tracing::error!(error = %err, "cannot reach the SMTP relay as configured; notices wait unsent"),
    }
}

/// Registers the service's gRPC handlers.
pub fn routes(context: &Context) -> tonic::service::Routes {
    let limit = context.config.max_message_bytes;
    tonic::service::Routes::new(
        NoticesServiceServer::new(api::Api { pool: context.pool.clone(), feed: context.feed.clone() })
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit),
    )
}
