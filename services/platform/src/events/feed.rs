//! Serving a feed: events in position order from a given position, then new
//! ones as they become visible, with heartbeats while idle.

use std::{pin::Pin, time::Duration};

use sqlx::PgPool;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Status};
use uuid::Uuid;

use super::wire::{FeedRequest, FeedResponse, WireEvent, transcode};
use crate::error::{FieldViolation, invalid_argument, with_reason};

/// Events read per query.
const BATCH: i64 = 500;

/// A stream of feed messages.
pub type FeedStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<FeedResponse, Status>> + Send>>;

/// A stream of a service's own `StreamEventsResponse` messages.
pub type ServiceStream<T> = Pin<Box<dyn tokio_stream::Stream<Item = Result<T, Status>> + Send>>;

/// What a service needs to serve its feed.
#[derive(Clone, Debug)]
pub struct Feed {
    pool: PgPool,
    positioned: watch::Receiver<u64>,
    poll: Duration,
    heartbeat: Duration,
    stopping: watch::Receiver<bool>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    position: i64,
    event_type: String,
    aggregate: String,
    occur_time: chrono::DateTime<chrono::Utc>,
    traceparent: String,
    tracestate: String,
    payload: Vec<u8>,
}

impl From<Row> for WireEvent {
    fn from(row: Row) -> Self {
        WireEvent {
            id: row.id.to_string(),
            position: row.position,
            aggregate: row.aggregate,
            occur_time: Some(prost_types::Timestamp {
                seconds: row.occur_time.timestamp(),
                nanos: row.occur_time.timestamp_subsec_nanos() as i32,
            }),
            traceparent: row.traceparent,
            tracestate: row.tracestate,
            payload: Some(prost_types::Any {
                type_url: format!("type.googleapis.com/{}", row.event_type),
                value: row.payload,
            }),
            r#type: row.event_type,
        }
    }
}

impl Feed {
    /// A feed over `pool`'s outbox, woken by `positioned`. Open streams end
    /// when `stopping` turns true, so that they never hold up a graceful stop;
    /// consumers reconnect (to another replica) and resume from their checkpoint.
    pub fn new(
        pool: PgPool,
        positioned: watch::Receiver<u64>,
        poll: Duration,
        heartbeat: Duration,
        stopping: watch::Receiver<bool>,
    ) -> Self {
        Self { pool, positioned, poll, heartbeat, stopping }
    }

    /// Serves a service's `StreamEvents`: its own request and response types,
    /// which are the feed's messages on the wire.
    pub async fn serve<Req, Resp>(&self, request: &Req) -> Result<ServiceStream<Resp>, Status>
    where
        Req: prost::Message,
        Resp: prost::Message + Default + 'static,
    {
        use tokio_stream::StreamExt;
        let request: FeedRequest = transcode(request).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let stream = self.stream(request).await?;
        Ok(Box::pin(
            stream
                .map(|item| item.and_then(|message| transcode(&message).map_err(|e| Status::internal(e.to_string())))),
        ))
    }

    /// Starts streaming for `request`. Fails with FAILED_PRECONDITION
    /// (`EVENTS_PRUNED`) when the events the caller needs were pruned.
    pub async fn stream(&self, request: FeedRequest) -> Result<FeedStream, Status> {
        if request.after_position < 0 {
            return Err(invalid_argument(
                "INVALID_ARGUMENT",
                "after_position must not be negative",
                &[FieldViolation::new("after_position", "must not be negative")],
            ));
        }
        let pruned: i64 = sqlx::query_scalar("SELECT pruned_through FROM outbox_head")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| crate::error::database("feed", &e))?;
        if request.after_position < pruned {
            return Err(with_reason(
                Code::FailedPrecondition,
                "EVENTS_PRUNED",
                format!("events up to position {pruned} were pruned; resynchronise, then resume from there"),
                &[("oldest_position", (pruned + 1).to_string())],
            ));
        }
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(self.clone().pump(request, tx));
        Ok(Box::pin(ReceiverStream::new(rx)))
    }

    /// Reads and sends until the client goes away.
    async fn pump(mut self, request: FeedRequest, tx: mpsc::Sender<Result<FeedResponse, Status>>) {
        let types = (!request.types.is_empty()).then_some(request.types);
        let mut after = request.after_position;
        let mut last_sent = tokio::time::Instant::now();
        loop {
            if *self.stopping.borrow() {
                return;
            }
            // Read before waiting: a notification may have come and gone.
            self.positioned.borrow_and_update();
            let batch = self.read(after, types.as_deref()).await;
            let (rows, head) = match batch {
                Ok(found) => found,
                Err(err) => {
                    let _ = tx.send(Err(crate::error::database("feed", &err))).await;
                    return;
                }
            };
            let full = rows.len() as i64 == BATCH;
            for row in rows {
                after = row.position;
                let message = FeedResponse { event: Some(row.into()), head_position: head };
                if tx.send(Ok(message)).await.is_err() {
                    return; // the client went away
                }
                last_sent = tokio::time::Instant::now();
            }
            if full {
                continue;
            }
            if last_sent.elapsed() >= self.heartbeat {
                if tx.send(Ok(FeedResponse { event: None, head_position: head })).await.is_err() {
                    return;
                }
                last_sent = tokio::time::Instant::now();
            }
            let wait = self.poll.min(self.heartbeat.saturating_sub(last_sent.elapsed()));
            tokio::select! {
                _ = self.positioned.changed() => {}
                () = tokio::time::sleep(wait) => {}
                () = tx.closed() => return,
                () = super::until_stopped(&mut self.stopping) => return,
            }
        }
    }

    async fn read(&self, after: i64, types: Option<&[String]>) -> Result<(Vec<Row>, i64), sqlx::Error> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, position, event_type, aggregate, occur_time, traceparent, tracestate, payload
               FROM outbox
              WHERE position > $1 AND ($2::text[] IS NULL OR event_type = ANY($2))
              ORDER BY position
              LIMIT $3",
        )
        .bind(after)
        .bind(types)
        .bind(BATCH)
        .fetch_all(&self.pool)
        .await?;
        let head: i64 = sqlx::query_scalar("SELECT last_position FROM outbox_head").fetch_one(&self.pool).await?;
        Ok((rows, head))
    }
}
