//! `request_id` idempotency for mutations, inside the mutation's transaction
//! (the platform's unit of work, `crate::unit`, runs these steps in order).
//!
//! [`claim`] either reserves the id for this request (go ahead, then
//! [`record`] the answer before committing) or finds the answer an identical
//! earlier request got (return it, change nothing). The same id with a
//! different request, or from another caller, is refused. Answers are kept
//! per caller — subject, organisation and acting roles together — so a
//! stored answer is only ever replayed to the caller that got it.
//! Concurrent duplicates are serialised by the primary key: the second waits
//! until the first commits, then replays its answer.

use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use tonic::{Code, Status};
use uuid::Uuid;

use crate::{
    auth::Caller,
    error::{FieldViolation, invalid_argument, with_reason},
};

/// What [`claim`] found.
#[derive(Debug)]
pub enum Claim<R> {
    /// The id is ours: do the work, then [`record`] the answer.
    Fresh(Ticket),
    /// An identical request already succeeded: this was its answer.
    Replay(R),
}

/// The key of a caller's request ids: everything that decides what it may see.
fn caller_key(caller: &Caller) -> Vec<u8> {
    Sha256::digest(caller.context().as_bytes()).to_vec()
}

fn fingerprint(caller: &Caller, method: &str, request: &impl prost::Message) -> Vec<u8> {
    let mut hash = Sha256::new();
    for part in [caller.context().as_bytes(), b"\x1f", method.as_bytes(), b"\x1f"] {
        hash.update(part);
    }
    hash.update(request.encode_to_vec());
    hash.finalize().to_vec()
}

/// Parses a client's `request_id` (a UUID, required).
pub fn parse_request_id(request_id: &str) -> Result<Uuid, FieldViolation> {
    if request_id.is_empty() {
        return Err(FieldViolation::new("request_id", "is required: a UUID the client makes once per intended change"));
    }
    Uuid::parse_str(request_id).map_err(|_| FieldViolation::new("request_id", "must be a UUID"))
}

/// A claimed request id: the caller's key and the id.
#[derive(Debug, Clone)]
pub struct Ticket {
    key: Vec<u8>,
    id: Uuid,
}

impl Ticket {
    /// The request id.
    pub fn id(&self) -> Uuid {
        self.id
    }
}

/// Claims `request_id` for `caller`'s `method` call with `request`.
pub async fn claim<R: prost::Message + Default>(
    conn: &mut PgConnection,
    request_id: &str,
    caller: &Caller,
    method: &str,
    request: &impl prost::Message,
) -> Result<Claim<R>, Status> {
    let id = parse_request_id(request_id)
        .map_err(|v| invalid_argument("INVALID_ARGUMENT", "request_id is invalid", &[v]))?;
    let key = caller_key(caller);
    let print = fingerprint(caller, method, request);
    let inserted = sqlx::query!(
        "INSERT INTO request_log (caller_key, request_id, method, fingerprint) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
        key,
        id,
        method,
        print,
    )
    .execute(&mut *conn)
    .await
    .map_err(|e| crate::error::database("request_log", &e))?
    .rows_affected();
    if inserted == 1 {
        return Ok(Claim::Fresh(Ticket { key, id }));
    }
    let stored = sqlx::query!(
        "SELECT fingerprint, response FROM request_log WHERE caller_key = $1 AND request_id = $2",
        key,
        id
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| crate::error::database("request_log", &e))?;
    // Absent: another caller holds this id; its answer is not ours to see.
    let (stored_print, response) = stored.map(|row| (row.fingerprint, row.response)).unwrap_or_default();
    if stored_print != print {
        return Err(with_reason(
            Code::InvalidArgument,
            "REQUEST_ID_REUSED",
            "this request_id was already used for a different request",
            &[("request_id", id.to_string())],
        ));
    }
    let response = response.ok_or_else(|| Status::internal("a recorded request has no answer"))?;
    R::decode(response.as_slice()).map(Claim::Replay).map_err(|e| Status::internal(format!("stored answer: {e}")))
}

/// Records the answer of a claimed request, before the transaction commits.
pub async fn record(
    conn: &mut PgConnection,
    ticket: &Ticket,
    response: &impl prost::Message,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE request_log SET response = $3 WHERE caller_key = $1 AND request_id = $2",
        ticket.key,
        ticket.id,
        response.encode_to_vec(),
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Rows deleted per statement when pruning: short transactions, no long locks.
const PRUNE_BATCH: i64 = 5_000;
/// How often the request log is pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3_600);

/// Forgets request ids older than `retention`, a batch at a time; returns
/// how many. A retry after that is a new request.
#[tracing::instrument(level = "debug", skip(pool))]
pub async fn prune(pool: &PgPool, retention: Duration) -> Result<u64, sqlx::Error> {
    let mut deleted = 0;
    loop {
        let batch = sqlx::query!(
            "DELETE FROM request_log WHERE (caller_key, request_id) IN (
                 SELECT caller_key, request_id FROM request_log
                  WHERE create_time < now() - make_interval(secs => $1)
                  LIMIT $2)",
            retention.as_secs_f64(),
            PRUNE_BATCH,
        )
        .execute(pool)
        .await?
        .rows_affected();
        deleted += batch;
        if batch < PRUNE_BATCH as u64 {
            return Ok(deleted);
        }
    }
}

/// Prunes the request log every hour until `stop`; a `retention` of zero
/// keeps it for ever. Any replica may run it: deletes of the same rows just
/// find them gone.
pub async fn retain(pool: PgPool, retention: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
    if retention.is_zero() {
        return;
    }
    loop {
        match prune(&pool, retention).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "request ids past their retention forgotten"),
            Err(err) => tracing::warn!(error = %err, "pruning the request log failed; next round in an hour"),
        }
        tokio::select! {
            () = tokio::time::sleep(PRUNE_EVERY) => {}
            () = crate::events::until_stopped(&mut stop) => return,
        }
    }
}
