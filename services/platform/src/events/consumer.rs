//! Consuming a peer's feed: each event applied once, with its checkpoint, in
//! one transaction of the consumer's own database.
//!
//! Exactly once, across crashes and replicas, rests on two things:
//! - **the checkpoint row lock** (correctness): the effect and the new
//!   checkpoint commit together, after `SELECT … FOR UPDATE` of the
//!   subscription's checkpoint row; an event at or below the checkpoint is
//!   skipped. A crash before commit loses both; a replay after it is skipped.
//! - **a lease** (efficiency): a session advisory lock per subscription, held
//!   on a dedicated connection, lets one replica stream while the others stand
//!   by; if its process or connection dies, the lock is released and a
//!   standby takes over within a second.
//!
//! A handler that keeps rejecting an event (a poison event) does not stall the
//! feed: after `max_rejections` attempts the event is parked in
//! `consumer_dead_letter`, logged at ERROR, counted, and the checkpoint moves
//! on. Database trouble is not poison: it is retried until the database is back.

use std::{future::Future, path::PathBuf, sync::Arc, time::Duration};

use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::watch;
use tonic::transport::{ClientTlsConfig, Endpoint};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::{Event, StreamEventsRequest};
use crate::{
    Role,
    auth::DevTokenMinter,
    metrics::{ConsumerMetrics, Metrics},
};

mod lease;
mod parked;

use lease::{Lease, sleep_or_stop};
pub use parked::request_replay;
use parked::{park_once, replay_parked};

/// How a consumer proves itself to the peer (the `service` role).
#[derive(Clone)]
pub enum TokenSource {
    /// A token file kept fresh by the platform (read at every connect).
    File(PathBuf),
    /// No token: the client certificate of the mTLS connection is the
    /// consumer's identity (the peer lists it in its `FEED_READERS`).
    Certificate,
    /// Tokens minted with the shared HS256 secret (local runs and tests).
    Minted(Arc<DevTokenMinter>),
}

impl TokenSource {
    /// The bearer token to send, if any.
    fn token(&self, subject: &str) -> Result<Option<String>, String> {
        match self {
            TokenSource::File(path) => std::fs::read_to_string(path)
                .map(|t| Some(t.trim().to_owned()))
                .map_err(|e| format!("SERVICE_TOKEN_FILE {}: {e}", path.display())),
            TokenSource::Certificate => Ok(None),
            TokenSource::Minted(minter) => {
                Ok(Some(minter.mint(subject, &[Role::Service], None, Duration::from_secs(3600))))
            }
        }
    }
}

/// One subscription to a peer's feed.
#[derive(Clone)]
pub struct Subscription {
    /// Stable name: the key of the checkpoint, the lease and the metrics.
    pub name: String,
    /// The consuming service, named ([`crate::unit::name_actor`]) as who acts
    /// in every change its handler makes, with the event's type as the
    /// action and its id as the request.
    pub consumer: &'static str,
    /// The peer, e.g. `http://applications:50051`.
    pub endpoint: String,
    /// The peer's feed method, e.g. `/socialloans.applications.v1.ApplicationsService/StreamEvents`.
    pub method: &'static str,
    /// Only these event types (empty: all).
    pub types: Vec<String>,
    /// TLS towards the peer, if it serves TLS.
    pub tls: Option<ClientTlsConfig>,
    /// The consumer's credentials.
    pub token: TokenSource,
    /// Rejections after which an event is parked.
    pub max_rejections: u32,
    /// Silence (not even a heartbeat) after which the stream is presumed dead.
    pub idle_timeout: Duration,
    /// The largest feed message the consumer receives; the feed is told, and
    /// sends a larger event without its payload, which the consumer parks.
    pub max_message_bytes: usize,
}

/// Why a handler did not apply an event.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The event cannot be applied (malformed, unknown aggregate, broken rule):
    /// retried, then parked.
    #[error("rejected: {0}")]
    Rejected(String),
    /// A database error: retried until it goes away, unless it is about the
    /// data itself (integrity, data exception), which counts as a rejection.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl HandlerError {
    fn is_rejection(&self) -> bool {
        match self {
            HandlerError::Rejected(_) => true,
            HandlerError::Database(err) => err
                .as_database_error()
                .and_then(|e| e.code())
                .is_some_and(|code| code.starts_with("22") || code.starts_with("23")),
        }
    }
}

/// The payload of `event` decoded as an `M` when the event is one (by its
/// type's full name), `None` when it is of another type: handlers dispatch
/// on the decoded type, `if let Some(opened) = payload::<CaseOpened>(event)?`.
pub fn payload<M: prost::Message + prost::Name + Default>(event: &Event) -> Result<Option<M>, HandlerError> {
    if event.r#type == M::full_name() { decode(event).map(Some) } else { Ok(None) }
}

/// The payload of `event` as an `M`: a rejection when it is missing or does
/// not decode (the event is retried, then parked), never a panic.
pub fn decode<M: prost::Message + Default>(event: &Event) -> Result<M, HandlerError> {
    let payload = event.payload.as_ref().ok_or_else(|| HandlerError::Rejected("no payload".into()))?;
    M::decode(payload.value.as_slice())
        .map_err(|e| HandlerError::Rejected(format!("undecodable {}: {e}", event.r#type)))
}

/// Applies events to the consumer's own tables, inside the transaction it is given.
pub trait Handler: Send + Sync + 'static {
    /// Applies `event`. Do not commit: the consumer commits the effect with
    /// the checkpoint. Who acts is already named: the consuming service
    /// ([`Subscription::consumer`]), doing the event's type.
    fn handle(&self, conn: &mut PgConnection, event: &Event) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

/// What happened to one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The handler's effect and the checkpoint committed.
    Applied,
    /// Already at or below the checkpoint: nothing done.
    Duplicate,
    /// Parked as poison; the checkpoint moved on.
    Parked,
}

/// How often a connected consumer logs its position and lag.
const LAG_REPORT_EVERY: Duration = Duration::from_secs(60);

enum Outcome {
    Stopped,
    Failed(String),
}

/// Consumes `subscription` until `stop` turns true.
pub async fn run<H: Handler>(
    pool: PgPool,
    subscription: Subscription,
    handler: H,
    metrics: Metrics,
    mut stop: watch::Receiver<bool>,
) {
    let state = metrics.consumer(&subscription.name);
    let mut backoff = lease::backoff();
    // A standby replica keeps one connection to ask for the lease again and
    // again, rather than open a session a second.
    let mut standby: Option<PgConnection> = None;
    loop {
        if *stop.borrow() {
            return;
        }
        let lease = match Lease::acquire(&pool, &subscription.name, &mut standby).await {
            Ok(Some(lease)) => lease,
            Ok(None) => {
                // Another replica consumes; stand by.
                if sleep_or_stop(Duration::from_secs(1), &mut stop).await {
                    return;
                }
                continue;
            }
            Err(err) => {
                tracing::warn!(subscription = %subscription.name, error = %err, "cannot take the consumer lease");
                if sleep_or_stop(backoff.next_wait(), &mut stop).await {
                    return;
                }
                continue;
            }
        };
        state.leader.set(1);
        let outcome = consume(&pool, &subscription, &handler, lease, &state, &mut backoff, &mut stop).await;
        state.leader.set(0);
        state.connected.set(0);
        match outcome {
            Outcome::Stopped => return,
            Outcome::Failed(reason) => {
                let delay = backoff.next_wait();
                tracing::warn!(subscription = %subscription.name, %reason, retry_in_ms = delay.as_millis() as u64, "feed interrupted; reconnecting");
                if sleep_or_stop(delay, &mut stop).await {
                    return;
                }
            }
        }
    }
}

async fn consume<H: Handler>(
    pool: &PgPool,
    subscription: &Subscription,
    handler: &H,
    mut lease: Lease,
    state: &ConsumerMetrics,
    backoff: &mut crate::backoff::Backoff,
    stop: &mut watch::Receiver<bool>,
) -> Outcome {
    let mut checkpoint = match read_checkpoint(pool, &subscription.name).await {
        Ok(position) => position,
        Err(err) => return Outcome::Failed(format!("reading the checkpoint: {err}")),
    };
    state.checkpoint.set(checkpoint);
    // Parked events an operator asked to replay, before the feed itself (so
    // that a replay never competes with the main stream for a stream slot).
    if let Err(reason) = replay_parked(pool, subscription, handler, state).await {
        return Outcome::Failed(reason);
    }
    let mut stream = match open(subscription, checkpoint).await {
        Ok(stream) => stream,
        Err(reason) => return Outcome::Failed(reason),
    };
    state.connected.set(1);
    // Connected: the next interruption starts its backoff afresh.
    backoff.reset();
    tracing::info!(subscription = %subscription.name, after = checkpoint, "consuming feed");
    let mut last_report = tokio::time::Instant::now();
    loop {
        if last_report.elapsed() >= LAG_REPORT_EVERY {
            last_report = tokio::time::Instant::now();
            tracing::info!(
                subscription = %subscription.name,
                checkpoint,
                head = state.head.get(),
                lag = state.lag.get(),
                "consumer position"
            );
        }
        let message = tokio::select! {
            message = tokio::time::timeout(subscription.idle_timeout, stream.message()) => message,
            () = super::until_stopped(stop) => return Outcome::Stopped,
        };
        let response = match message {
            Err(_) => return Outcome::Failed("no event or heartbeat within the idle timeout".into()),
            Ok(Err(status)) => return Outcome::Failed(format!("{}: {}", status.code(), status.message())),
            Ok(Ok(None)) => return Outcome::Failed("the feed ended".into()),
            Ok(Ok(Some(response))) => response,
        };
        state.head.set(response.head_position);
        let Some(event) = response.event else {
            match heartbeat(pool, subscription, &mut lease, state, checkpoint, response.scanned_through).await {
                Ok(advanced) => checkpoint = advanced,
                Err(reason) => return Outcome::Failed(reason),
            }
            state.lag.set((response.head_position - checkpoint).max(0));
            continue;
        };
        // The feed vouches for every position it sends up to: an event it
        // does not vouch for is a gap, and the stream is opened again.
        if response.scanned_through != 0 && response.scanned_through < event.position {
            return Outcome::Failed(format!(
                "the feed sent position {} having scanned only through {}; resuming from the checkpoint",
                event.position, response.scanned_through
            ));
        }
        let gap_check = subscription.types.is_empty();
        match apply(pool, subscription, handler, &event, gap_check, state, stop).await {
            Ok(Some(_)) => {
                checkpoint = checkpoint.max(event.position);
                state.checkpoint.set(checkpoint);
                state.lag.set((response.head_position - checkpoint).max(0));
                backoff.reset();
            }
            Ok(None) => return Outcome::Stopped,
            Err(reason) => return Outcome::Failed(reason),
        }
    }
}

/// On a heartbeat: checks that the lease still stands, and moves the
/// checkpoint to how far the feed has looked (a subscription that matches
/// nothing for months never falls behind the feed's retention). Returns the
/// checkpoint now.
async fn heartbeat(
    pool: &PgPool,
    subscription: &Subscription,
    lease: &mut Lease,
    state: &ConsumerMetrics,
    checkpoint: i64,
    scanned_through: i64,
) -> Result<i64, String> {
    if !lease.alive().await {
        return Err("the lease connection was lost".into());
    }
    if scanned_through <= checkpoint {
        return Ok(checkpoint);
    }
    let position = advance(pool, &subscription.name, scanned_through)
        .await
        .map_err(|err| format!("advancing the checkpoint: {err}"))?;
    let checkpoint = checkpoint.max(position);
    state.checkpoint.set(checkpoint);
    Ok(checkpoint)
}

async fn open(
    subscription: &Subscription,
    after: i64,
) -> Result<tonic::Streaming<super::StreamEventsResponse>, String> {
    let mut endpoint = Endpoint::from_shared(subscription.endpoint.clone())
        .map_err(|e| format!("bad endpoint {}: {e}", subscription.endpoint))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(20));
    if let Some(tls) = &subscription.tls {
        endpoint = endpoint.tls_config(tls.clone()).map_err(|e| format!("TLS: {e}"))?;
    }
    let channel = endpoint.connect().await.map_err(|e| format!("connect {}: {e}", subscription.endpoint))?;
    let mut grpc = tonic::client::Grpc::new(channel).max_decoding_message_size(subscription.max_message_bytes);
    grpc.ready().await.map_err(|e| format!("not ready: {e}"))?;
    let max_event_bytes = i32::try_from(subscription.max_message_bytes).unwrap_or(i32::MAX);
    let mut request = tonic::Request::new(StreamEventsRequest {
        after_position: after,
        types: subscription.types.clone(),
        max_event_bytes,
    });
    if let Some(token) = subscription.token.token(&format!("consumer:{}", subscription.name))? {
        let value = format!("Bearer {token}").parse().map_err(|_| "the service token is not valid ASCII".to_owned())?;
        request.metadata_mut().insert("authorization", value);
    }
    let path = http::uri::PathAndQuery::from_static(subscription.method);
    let codec = tonic_prost::ProstCodec::default();
    let response = grpc
        .server_streaming(request, path, codec)
        .await
        .map_err(|status| format!("{}: {}", status.code(), status.message()))?;
    Ok(response.into_inner())
}

/// Applies one event, retrying rejections up to the limit; `Ok(None)` when stopped.
async fn apply<H: Handler>(
    pool: &PgPool,
    subscription: &Subscription,
    handler: &H,
    event: &Event,
    gap_check: bool,
    state: &ConsumerMetrics,
    stop: &mut watch::Receiver<bool>,
) -> Result<Option<Applied>, String> {
    let span = tracing::info_span!("event.apply", otel.kind = "consumer", subscription = %subscription.name, event.r#type = %event.r#type, event.position = event.position);
    let mut headers = http::HeaderMap::new();
    for (name, value) in [("traceparent", &event.traceparent), ("tracestate", &event.tracestate)] {
        if let Ok(value) = http::HeaderValue::from_str(value)
            && !value.is_empty()
        {
            headers.insert(name, value);
        }
    }
    let _ = span.set_parent(crate::trace_context::extract(&headers));

    if event.omitted_payload_bytes > 0 {
        // The feed left the payload out: retrying cannot help. Park it at
        // once; raise the limit (GRPC_MAX_MESSAGE_BYTES) and replay it.
        let error = format!(
            "the event's payload ({} bytes) is larger than this consumer receives ({} bytes); the feed sent it without",
            event.omitted_payload_bytes, subscription.max_message_bytes
        );
        return park_once(pool, subscription, event, 0, &error, state, &span).await.map(Some);
    }
    let mut rejections = 0u32;
    let mut backoff = lease::backoff();
    loop {
        let work = apply_once(pool, subscription, handler, event, gap_check);
        // The event's application thread: the span links to its origin, and
        // what the handler publishes carries it on.
        let threaded = crate::trace_context::threaded(span.clone(), event.origin_traceparent.clone(), work);
        let attempt = threaded.instrument(span.clone()).await;
        match attempt {
            Ok(applied) => {
                if applied == Applied::Applied {
                    state.applied.inc();
                }
                return Ok(Some(applied));
            }
            Err(AttemptError::Gap(message)) => return Err(message),
            Err(AttemptError::Handler(err)) if err.is_rejection() => {
                rejections += 1;
                if rejections >= subscription.max_rejections {
                    return park_once(pool, subscription, event, rejections, &err.to_string(), state, &span)
                        .await
                        .map(Some);
                }
                tracing::warn!(subscription = %subscription.name, position = event.position, rejections, error = %err, "handler rejected the event; retrying");
            }
            Err(AttemptError::Handler(err)) => {
                tracing::warn!(subscription = %subscription.name, position = event.position, error = %err, "applying failed; retrying");
            }
        }
        if sleep_or_stop(backoff.next_wait(), stop).await {
            return Ok(None);
        }
    }
}

/// A future whose panic becomes an error: the panic's message.
struct CatchUnwind<F>(std::pin::Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        let inner = &mut self.0;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.as_mut().poll(cx))) {
            Ok(std::task::Poll::Ready(output)) => std::task::Poll::Ready(Ok(output)),
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".to_owned());
                std::task::Poll::Ready(Err(message))
            }
        }
    }
}

enum AttemptError {
    Gap(String),
    Handler(HandlerError),
}

impl From<sqlx::Error> for AttemptError {
    fn from(err: sqlx::Error) -> Self {
        AttemptError::Handler(HandlerError::Database(err))
    }
}

async fn apply_once<H: Handler>(
    pool: &PgPool,
    subscription: &Subscription,
    handler: &H,
    event: &Event,
    gap_check: bool,
) -> Result<Applied, AttemptError> {
    let mut tx = pool.begin().await?;
    let checkpoint = lock_checkpoint(&mut tx, &subscription.name).await?;
    if event.position <= checkpoint {
        return Ok(Applied::Duplicate);
    }
    if gap_check && event.position != checkpoint + 1 {
        return Err(AttemptError::Gap(format!(
            "gap in the feed: checkpoint {checkpoint}, next event {}; resuming from the checkpoint",
            event.position
        )));
    }
    let consumer = crate::unit::Actor::service(subscription.consumer);
    crate::unit::name_actor(&mut tx, &consumer, &event.r#type, &event.id).await?;
    // A handler that panics has rejected the event: it is retried, then
    // parked like any poison event, and the consumer lives on.
    CatchUnwind(Box::pin(handler.handle(&mut tx, event)))
        .await
        .map_err(|panic| AttemptError::Handler(HandlerError::Rejected(format!("the handler panicked: {panic}"))))?
        .map_err(AttemptError::Handler)?;
    save_checkpoint(&mut tx, &subscription.name, event.position).await?;
    tx.commit().await?;
    Ok(Applied::Applied)
}

/// The checkpoint of `subscription`, its row locked until `tx` ends: every
/// move of a checkpoint (an applied event, a parked one, a scanned-through
/// advance) holds this lock, so replicas that overlap never both move it.
async fn lock_checkpoint(tx: &mut sqlx::PgConnection, subscription: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!("SELECT position FROM consumer_checkpoint WHERE subscription = $1 FOR UPDATE", subscription)
        .fetch_one(tx)
        .await
}

/// Sets the checkpoint of `subscription`, whose row `tx` holds locked.
async fn save_checkpoint(tx: &mut sqlx::PgConnection, subscription: &str, position: i64) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE consumer_checkpoint SET position = $2, update_time = now() WHERE subscription = $1",
        subscription,
        position,
    )
    .execute(tx)
    .await
    .map(|_| ())
}

/// Moves the checkpoint of `subscription` up to `scanned` (never down), under
/// the same row lock an applied event takes; returns the checkpoint now.
async fn advance(pool: &PgPool, subscription: &str, scanned: i64) -> Result<i64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let checkpoint = lock_checkpoint(&mut tx, subscription).await?;
    if scanned <= checkpoint {
        return Ok(checkpoint);
    }
    save_checkpoint(&mut tx, subscription, scanned).await?;
    tx.commit().await?;
    Ok(scanned)
}

/// The subscription's checkpoint, created at 0 on first use.
pub async fn read_checkpoint(pool: &PgPool, subscription: &str) -> Result<i64, sqlx::Error> {
    sqlx::query!("INSERT INTO consumer_checkpoint (subscription) VALUES ($1) ON CONFLICT DO NOTHING", subscription)
        .execute(pool)
        .await?;
    sqlx::query_scalar!("SELECT position FROM consumer_checkpoint WHERE subscription = $1", subscription)
        .fetch_one(pool)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Name;

    fn event_of(r#type: &str, value: Vec<u8>) -> Event {
        Event {
            r#type: r#type.to_owned(),
            payload: Some(prost_types::Any { type_url: format!("type.googleapis.com/{}", r#type), value }),
            ..Default::default()
        }
    }

    #[test]
    fn a_handler_gets_the_payload_of_its_own_type_and_nothing_of_another() {
        use prost::Message;
        let stamp = prost_types::Timestamp { seconds: 7, nanos: 0 };
        let event = event_of(&prost_types::Timestamp::full_name(), stamp.encode_to_vec());
        assert_eq!(payload::<prost_types::Timestamp>(&event).unwrap(), Some(stamp));
        assert_eq!(payload::<prost_types::Duration>(&event).unwrap(), None, "another type is not ours");
        let broken = event_of(&prost_types::Timestamp::full_name(), vec![0xff, 0xff]);
        assert!(matches!(payload::<prost_types::Timestamp>(&broken), Err(HandlerError::Rejected(_))));
        let empty = Event { r#type: prost_types::Timestamp::full_name(), ..Default::default() };
        assert!(matches!(payload::<prost_types::Timestamp>(&empty), Err(HandlerError::Rejected(_))));
    }
}
