//! Serving a feed: events in position order from a given position, then new
//! ones as they become visible, with heartbeats while idle.

use std::{
    collections::HashMap,
    pin::Pin,
    sync::{Arc, Mutex},
    time::Duration,
};

use prost::Message;
use sqlx::PgPool;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Status};
use uuid::Uuid;

use super::{Event, StreamEventsRequest, StreamEventsResponse};
use crate::error::{FieldViolation, invalid_argument, with_reason};

/// Events read per query, at most.
const BATCH: i64 = 100;
/// Payload bytes read per query, at most (a batch always holds at least one event).
const BATCH_BYTES: i64 = 4 << 20;
/// Messages a stream buffers ahead of a slow client.
const BUFFER: usize = 16;

/// A stream of feed messages.
pub type FeedStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<StreamEventsResponse, Status>> + Send>>;

/// What a service needs to serve its feed.
#[derive(Clone, Debug)]
pub struct Feed {
    pool: PgPool,
    positioned: watch::Receiver<u64>,
    stopping: watch::Receiver<bool>,
    settings: FeedSettings,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

/// How a feed serves: how often it looks for events no notification
/// announced, how long a quiet stream waits before a heartbeat, and what
/// bounds it.
#[derive(Clone, Copy, Debug)]
pub struct FeedSettings {
    /// The longest a committed event waits to be sent when no notification came.
    pub poll: Duration,
    /// The longest a stream stays silent: a heartbeat is sent then.
    pub heartbeat: Duration,
    /// The service's message limit: no response is larger.
    pub max_message_bytes: usize,
    /// Streams one subject may have open at once.
    pub max_streams_per_caller: usize,
}

/// A borrower's view of a feed: only the events about its organisations
/// (and of the types the service lists for borrowers), each payload as
/// `view` makes it from the event's type and payload (the lender's internal
/// notes left out).
#[derive(Clone, Debug)]
pub struct Confinement {
    /// The organisation numbers the caller may see.
    pub organizations: Vec<String>,
    /// The borrower's view of a payload of a type.
    pub view: fn(&str, Vec<u8>) -> Vec<u8>,
}

/// Counts a subject's open stream until the stream's pump ends.
struct OpenStream {
    open: Arc<Mutex<HashMap<String, usize>>>,
    subject: String,
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.subject) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.subject);
            }
        }
    }
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
    origin: String,
}

impl From<Row> for Event {
    fn from(row: Row) -> Self {
        Event {
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
            omitted_payload_bytes: 0,
            origin_traceparent: row.origin,
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
        stopping: watch::Receiver<bool>,
        settings: FeedSettings,
    ) -> Self {
        Self { pool, positioned, stopping, settings, open: Default::default() }
    }

    /// Serves a service's `StreamEvents` call, counted against its caller's
    /// stream limit.
    pub async fn serve(
        &self,
        request: tonic::Request<StreamEventsRequest>,
    ) -> Result<tonic::Response<FeedStream>, Status> {
        let caller = crate::auth::caller(&request)?;
        Ok(tonic::Response::new(self.stream_for(&caller.subject, request.into_inner(), None).await?))
    }

    /// [`Feed::serve`] confined to a borrower's organisations: the request's
    /// types must already be the borrower's (the service checks them).
    pub async fn serve_confined(
        &self,
        request: tonic::Request<StreamEventsRequest>,
        confinement: Confinement,
    ) -> Result<tonic::Response<FeedStream>, Status> {
        let caller = crate::auth::caller(&request)?;
        Ok(tonic::Response::new(self.stream_for(&caller.subject, request.into_inner(), Some(confinement)).await?))
    }

    /// Starts streaming for `request` (a caller outside any count). Fails
    /// with FAILED_PRECONDITION (`EVENTS_PRUNED`) when the events the caller
    /// needs were pruned.
    pub async fn stream(&self, request: StreamEventsRequest) -> Result<FeedStream, Status> {
        self.start(None, request, None).await
    }

    /// [`Feed::stream`] for `subject`, counted against its stream limit.
    pub async fn stream_for(
        &self,
        subject: &str,
        request: StreamEventsRequest,
        confinement: Option<Confinement>,
    ) -> Result<FeedStream, Status> {
        let ticket = {
            let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
            let count = open.entry(subject.to_owned()).or_default();
            if *count >= self.settings.max_streams_per_caller {
                return Err(with_reason(
                    Code::ResourceExhausted,
                    "FEED_STREAMS_EXHAUSTED",
                    format!(
                        "this caller already has {count} feed streams open here, the most allowed; close one first"
                    ),
                    &[("limit", self.settings.max_streams_per_caller.to_string())],
                ));
            }
            *count += 1;
            OpenStream { open: self.open.clone(), subject: subject.to_owned() }
        };
        self.start(Some(ticket), request, confinement).await
    }

    async fn start(
        &self,
        ticket: Option<OpenStream>,
        request: StreamEventsRequest,
        confinement: Option<Confinement>,
    ) -> Result<FeedStream, Status> {
        let mut violations = Vec::new();
        if request.after_position < 0 {
            violations.push(FieldViolation::new("after_position", "must not be negative"));
        }
        if request.max_event_bytes < 0 {
            violations.push(FieldViolation::new("max_event_bytes", "must not be negative"));
        }
        if request.types.len() > 100 || request.types.iter().any(|t| t.len() > 200) {
            violations.push(FieldViolation::new("types", "at most 100 event types of at most 200 characters"));
        }
        if !violations.is_empty() {
            return Err(invalid_argument("INVALID_ARGUMENT", "the feed request is invalid", &violations));
        }
        let pruned = sqlx::query_scalar!("SELECT pruned_through FROM outbox_head")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| crate::error::database("feed", &e))?;
        if request.after_position < pruned {
            return Err(pruned_status(pruned));
        }
        let (tx, rx) = mpsc::channel(BUFFER);
        tokio::spawn(self.clone().pump(request, tx, ticket, confinement));
        Ok(Box::pin(ReceiverStream::new(rx)))
    }

    /// The largest response this client may get.
    fn response_limit(&self, request: &StreamEventsRequest) -> usize {
        let asked = usize::try_from(request.max_event_bytes).unwrap_or(0);
        if asked == 0 { self.settings.max_message_bytes } else { asked.min(self.settings.max_message_bytes) }
    }

    /// Reads and sends until the client goes away.
    async fn pump(
        mut self,
        request: StreamEventsRequest,
        tx: mpsc::Sender<Result<StreamEventsResponse, Status>>,
        _ticket: Option<OpenStream>,
        confinement: Option<Confinement>,
    ) {
        let limit = self.response_limit(&request);
        let types = (!request.types.is_empty()).then_some(request.types);
        let mut after = request.after_position;
        let mut last_sent = tokio::time::Instant::now();
        loop {
            if *self.stopping.borrow() {
                return;
            }
            // Read before waiting: a notification may have come and gone.
            self.positioned.borrow_and_update();
            let organizations = confinement.as_ref().map(|c| c.organizations.as_slice());
            let batch = match self.read(after, types.as_deref(), organizations).await {
                Ok(batch) => batch,
                Err(err) => {
                    let _ = tx.send(Err(crate::error::database("feed", &err))).await;
                    return;
                }
            };
            // Events this stream still owed its client were pruned while it
            // ran: fail, never skip.
            if batch.pruned > after {
                let _ = tx.send(Err(pruned_status(batch.pruned))).await;
                return;
            }
            let head = batch.head;
            let full = batch.rows.len() as i64 == BATCH
                || batch.rows.iter().map(|r| r.payload.len() as i64).sum::<i64>() >= BATCH_BYTES;
            // Every match at or below this has now been read.
            let scanned = if full { batch.rows.last().map_or(after, |r| r.position) } else { head.max(after) };
            for mut row in batch.rows {
                after = row.position;
                if let Some(confinement) = &confinement {
                    row.payload = (confinement.view)(&row.event_type, row.payload);
                }
                let message = fitted(
                    StreamEventsResponse { event: Some(row.into()), head_position: head, scanned_through: after },
                    limit,
                );
                let omitted = message.event.as_ref().map_or(0, |e| e.omitted_payload_bytes);
                if omitted > 0 && limit >= self.settings.max_message_bytes {
                    // Larger than the service itself may send: news for the operators.
                    // (A client that asked for less is told in the event, not in the log.)
                    tracing::warn!(
                        position = after,
                        payload_bytes = omitted,
                        "an event larger than GRPC_MAX_MESSAGE_BYTES is on the feed"
                    );
                }
                if tx.send(Ok(message)).await.is_err() {
                    return; // the client went away
                }
                last_sent = tokio::time::Instant::now();
            }
            after = after.max(scanned);
            if full {
                continue;
            }
            if last_sent.elapsed() >= self.settings.heartbeat {
                let heartbeat = StreamEventsResponse { event: None, head_position: head, scanned_through: after };
                if tx.send(Ok(heartbeat)).await.is_err() {
                    return;
                }
                last_sent = tokio::time::Instant::now();
            }
            let wait = self.settings.poll.min(self.settings.heartbeat.saturating_sub(last_sent.elapsed()));
            tokio::select! {
                _ = self.positioned.changed() => {}
                () = tokio::time::sleep(wait) => {}
                () = tx.closed() => return,
                () = super::until_stopped(&mut self.stopping) => return,
            }
        }
    }

    /// The next events after `after` (of `types`, when given): at most
    /// [`BATCH`] of them and, past the first, at most [`BATCH_BYTES`] of
    /// payload; with the head and the pruned prefix, all in one snapshot, so
    /// that "nothing else up to the head" and "nothing pruned I still owe"
    /// are both true of the rows read. A stream of some types reads each
    /// type by its index, and a confined one each organisation by its index:
    /// its cost is what matches, not the tail of others.
    async fn read(
        &self,
        after: i64,
        types: Option<&[String]>,
        organizations: Option<&[String]>,
    ) -> Result<Batch, sqlx::Error> {
        let scope = match (organizations, types) {
            (Some(_), _) => Scope::Organizations,
            (None, Some(_)) => Scope::Types,
            (None, None) => Scope::All,
        };
        let query = sqlx::query_as(sqlx::AssertSqlSafe(read_query(scope)))
            .bind(after)
            .bind(types)
            .bind(BATCH)
            .bind(BATCH_BYTES);
        let query = match organizations {
            Some(organizations) => query.bind(organizations),
            None => query,
        };
        let rows: Vec<BatchRow> = query.fetch_all(&self.pool).await?;
        let (head, pruned) = rows.first().map_or((0, 0), |r| (r.head, r.pruned));
        let rows = rows.into_iter().filter_map(BatchRow::event).collect();
        Ok(Batch { rows, head, pruned })
    }
}

/// Which events a read looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every event.
    All,
    /// The events of some types.
    Types,
    /// The events of some organisations (of some types, or of any when the
    /// types are NULL).
    Organizations,
}

/// The statement of one read of the feed (`$1` after, `$2` types or NULL,
/// `$3` batch, `$4` batch bytes; `$5` the organisations, for
/// [`Scope::Organizations`] only); public for the benchmark that times it.
pub fn read_query(scope: Scope) -> String {
    let next = if scope == Scope::Organizations {
        "SELECT o.* FROM unnest($5::text[]) AS g(organization)
           CROSS JOIN LATERAL (
               SELECT id, position, event_type, aggregate, occur_time, traceparent, tracestate, payload, origin
                 FROM outbox
                -- This organisation's events between the position and the head,
                -- by the (organization_number, position) index.
                WHERE organization_number = g.organization
                  AND position > $1 AND position <= (SELECT last_position FROM h)
                  AND ($2::text[] IS NULL OR event_type = ANY($2))
                ORDER BY position LIMIT $3) AS o
          ORDER BY o.position LIMIT $3"
    } else if scope == Scope::Types {
        "SELECT o.* FROM unnest($2::text[]) AS t(type)
           CROSS JOIN LATERAL (
               SELECT id, position, event_type, aggregate, occur_time, traceparent, tracestate, payload, origin
                 FROM outbox
                -- This type between the position and the head, written as a range
                -- of the (event_type, position) index and read in its order: by
                -- position alone the planner may scan the whole tail of other
                -- types, expecting a match at any moment.
                WHERE (event_type, position) > (t.type, $1)
                  AND (event_type, position) <= (t.type, (SELECT last_position FROM h))
                ORDER BY event_type, position LIMIT $3) AS o
          ORDER BY o.position LIMIT $3"
    } else {
        "SELECT id, position, event_type, aggregate, occur_time, traceparent, tracestate, payload, origin
           FROM outbox WHERE position > $1 AND position <= (SELECT last_position FROM h)
          ORDER BY position LIMIT $3"
    };
    format!(
        "WITH h AS (SELECT last_position, pruned_through FROM outbox_head),
              next AS ({next}),
              bounded AS (SELECT *, sum(octet_length(payload)) OVER (ORDER BY position) AS running FROM next)
         SELECT h.last_position AS head, h.pruned_through AS pruned,
                b.id, b.position, b.event_type, b.aggregate, b.occur_time, b.traceparent, b.tracestate, b.payload, b.origin
           FROM h LEFT JOIN bounded AS b ON b.running - octet_length(b.payload) < $4
          ORDER BY b.position"
    )
}

/// Events per read and payload bytes per read, as [`read_query`] takes them.
pub const READ_LIMITS: (i64, i64) = (BATCH, BATCH_BYTES);

/// What one read found.
struct Batch {
    rows: Vec<Row>,
    head: i64,
    pruned: i64,
}

/// A row of a read: the head, and an event if there is one.
#[derive(sqlx::FromRow)]
struct BatchRow {
    head: i64,
    pruned: i64,
    id: Option<Uuid>,
    position: Option<i64>,
    event_type: Option<String>,
    aggregate: Option<String>,
    occur_time: Option<chrono::DateTime<chrono::Utc>>,
    traceparent: Option<String>,
    tracestate: Option<String>,
    payload: Option<Vec<u8>>,
    origin: Option<String>,
}

impl BatchRow {
    fn event(self) -> Option<Row> {
        Some(Row {
            id: self.id?,
            position: self.position?,
            event_type: self.event_type?,
            aggregate: self.aggregate?,
            occur_time: self.occur_time?,
            traceparent: self.traceparent?,
            tracestate: self.tracestate?,
            payload: self.payload?,
            origin: self.origin?,
        })
    }
}

fn pruned_status(pruned: i64) -> Status {
    with_reason(
        Code::FailedPrecondition,
        "EVENTS_PRUNED",
        format!("events up to position {pruned} were pruned; resynchronise, then resume from there"),
        &[("oldest_position", (pruned + 1).to_string())],
    )
}

/// `message` as it may be sent to a client that receives at most `limit`
/// bytes: an event too large keeps its envelope and loses its payload, with
/// the payload's size in `omitted_payload_bytes`, so that the client can park
/// it and go on rather than fail on it at every reconnect.
fn fitted(mut message: StreamEventsResponse, limit: usize) -> StreamEventsResponse {
    if message.encoded_len() <= limit {
        return message;
    }
    if let Some(event) = message.event.as_mut() {
        let size = event.payload.take().map(|p| p.value.len()).unwrap_or_default();
        event.omitted_payload_bytes = i64::try_from(size).unwrap_or(i64::MAX);
        tracing::debug!(
            position = event.position,
            event_type = %event.r#type,
            payload_bytes = size,
            limit,
            "an event is too large for this client; sent without its payload"
        );
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(payload: usize) -> StreamEventsResponse {
        StreamEventsResponse {
            event: Some(Event {
                id: "id".into(),
                position: 7,
                r#type: "t".into(),
                payload: Some(prost_types::Any { type_url: "type.googleapis.com/t".into(), value: vec![1; payload] }),
                ..Default::default()
            }),
            head_position: 9,
            scanned_through: 7,
        }
    }

    #[test]
    fn an_event_over_the_clients_limit_is_sent_without_its_payload_and_says_how_large_it_was() {
        let small = fitted(event(100), 1 << 20);
        assert_eq!(small, event(100));
        let large = fitted(event(2 << 20), 1 << 20);
        let sent = large.event.unwrap();
        assert!(sent.payload.is_none());
        assert_eq!(sent.omitted_payload_bytes, 2 << 20);
        assert_eq!((sent.position, sent.r#type.as_str()), (7, "t"));
    }
}
