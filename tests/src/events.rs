//! Harness for the event tests and the propagation benchmark: the
//! applications service produces, a consumer in the committee's schema
//! applies each event by writing one row into a test table there.

use std::time::Duration;

use opentelemetry::trace::TraceContextExt;
use socialloans_contracts::applications::ApplicationSubmitted;
use socialloans_platform::{
    auth::DevTokenMinter,
    events::{self, Event, Handler, HandlerError, Subscription, TokenSource},
};
use sqlx::{PgConnection, PgPool};
use tokio::sync::watch;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use uuid::Uuid;

use crate::{AUDIENCE, Db, ISSUER, SECRET};

/// The applications feed's method.
pub const APPLICATIONS_FEED: &str = "/socialloans.applications.v1.ApplicationsService/StreamEvents";

/// Creates the test effect table in the committee's schema (as its owner,
/// granting the committee's runtime role what the service's tables get);
/// returns a pool of the runtime role.
pub async fn create_effect_table(db: &Db) -> PgPool {
    let owner = PgPool::connect(&db.owner_url("committee")).await.expect("committee owner");
    for statement in [
        "CREATE TABLE committee.test_effect (
             event_id   uuid        NOT NULL,
             position   bigint      NOT NULL,
             trace_id   text        NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT clock_timestamp())",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON committee.test_effect TO committee",
    ] {
        sqlx::query(statement).execute(&owner).await.expect("create committee.test_effect");
    }
    owner.close().await;
    committee_pool(db).await
}

/// A pool of the committee's role, confined to its schema like the service's own.
pub async fn committee_pool(db: &Db) -> PgPool {
    let config = db.config(&committee::SPEC, &[]);
    socialloans_platform::db::pool(&config, "committee").expect("committee pool")
}

/// A pool of the applications role.
pub async fn applications_pool(db: &Db) -> PgPool {
    let config = db.config(&applications::SPEC, &[]);
    socialloans_platform::db::pool(&config, "applications").expect("applications pool")
}

/// Applies an event by recording it; rejects aggregates named `poison` and
/// panics on those named `panic`.
#[derive(Clone, Default)]
pub struct RecordingHandler {
    /// Delay per event, to make a stream last.
    pub delay: Duration,
    /// The bug behind the panics is fixed: `panic` events are applied too.
    pub fixed: bool,
}

impl Handler for RecordingHandler {
    async fn handle(&self, conn: &mut PgConnection, event: &Event) -> Result<(), HandlerError> {
        if event.aggregate == "poison" {
            return Err(HandlerError::Rejected("this aggregate is poison".into()));
        }
        if event.aggregate == "panic" && !self.fixed {
            panic!("a handler bug met this event");
        }
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let trace_id = tracing::Span::current().context().span().span_context().trace_id().to_string();
        sqlx::query("INSERT INTO committee.test_effect (event_id, position, trace_id) VALUES ($1, $2, $3)")
            .bind(Uuid::parse_str(&event.id).map_err(|e| HandlerError::Rejected(e.to_string()))?)
            .bind(event.position)
            .bind(trace_id)
            .execute(conn)
            .await?;
        Ok(())
    }
}

/// A subscription of the committee to the applications feed at `addr`.
pub fn subscription(addr: std::net::SocketAddr, name: &str) -> Subscription {
    Subscription {
        name: name.to_owned(),
        consumer: "committee",
        endpoint: format!("http://{addr}"),
        method: APPLICATIONS_FEED,
        types: Vec::new(),
        tls: None,
        token: TokenSource::Minted(std::sync::Arc::new(DevTokenMinter::new(SECRET, ISSUER, AUDIENCE))),
        max_rejections: 3,
        idle_timeout: Duration::from_secs(5),
        max_message_bytes: 4 << 20,
    }
}

/// A running consumer task and its stop switch.
pub struct ConsumerTask {
    pub stop: watch::Sender<bool>,
    pub task: tokio::task::JoinHandle<()>,
    pub metrics: socialloans_platform::metrics::Metrics,
}

/// Starts consuming `subscription` into the committee's schema.
pub fn start_consumer(pool: PgPool, subscription: Subscription, handler: RecordingHandler) -> ConsumerTask {
    let (stop, stopped) = watch::channel(false);
    let metrics = socialloans_platform::metrics::Metrics::new();
    let task = tokio::spawn(events::consumer::run(pool, subscription, handler, metrics.clone(), stopped));
    ConsumerTask { stop, task, metrics }
}

impl ConsumerTask {
    /// Stops gracefully and waits.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Appends one event about `aggregate` whose payload is `bytes` long, in its own transaction.
pub async fn produce_large(pool: &PgPool, aggregate: &str, bytes: usize) -> Uuid {
    let mut tx = pool.begin().await.expect("begin");
    let payload = ApplicationSubmitted {
        application: "x".repeat(bytes),
        organization_number: "212000-0142".into(),
        submission_count: 1,
        ..Default::default()
    };
    let id = events::append(&mut tx, "applications", aggregate, Some("212000-0142"), &payload).await.expect("append");
    tx.commit().await.expect("commit");
    id
}

/// Appends one `ApplicationSubmitted` event about `aggregate` in its own transaction.
pub async fn produce_one(pool: &PgPool, aggregate: &str) -> Uuid {
    let mut tx = pool.begin().await.expect("begin");
    let id = append(&mut tx, aggregate).await;
    tx.commit().await.expect("commit");
    id
}

/// Appends one event inside the caller's transaction.
pub async fn append(conn: &mut PgConnection, aggregate: &str) -> Uuid {
    let payload = ApplicationSubmitted {
        application: aggregate.to_owned(),
        organization_number: "212000-0142".into(),
        submission_count: 1,
        ..Default::default()
    };
    events::append(conn, "applications", aggregate, Some("212000-0142"), &payload).await.expect("append")
}

/// `(rows, distinct events, distinct positions, min position, max position)` applied so far.
pub async fn applied(pool: &PgPool) -> (i64, i64, i64, i64, i64) {
    sqlx::query_as(
        "SELECT count(*), count(DISTINCT event_id), count(DISTINCT position),
                COALESCE(min(position), 0), COALESCE(max(position), 0)
           FROM committee.test_effect",
    )
    .fetch_one(pool)
    .await
    .expect("count effects")
}

/// Waits until `n` distinct events were applied (or 30 s passed); returns the counts.
pub async fn wait_applied(pool: &PgPool, n: i64) -> (i64, i64, i64, i64, i64) {
    crate::eventually(Duration::from_secs(30), || async { applied(pool).await.1 >= n }).await;
    applied(pool).await
}
