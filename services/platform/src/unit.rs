//! The unit of work every mutation of every service runs in: one transaction
//! that says who acts and why, finds and locks the aggregate as the caller may
//! see it, claims the request id, lets the service decide, save, record its
//! history and publish, records the answer against the request id, and
//! commits. A retry replays the first answer; a race has one winner; a
//! failure leaves nothing behind.
//!
//! The order matters and lives here once:
//! - **who acts** ([`Actor`], [`name_actor`]) is set first, so every audit row
//!   the transaction writes, by a service's code or by a table's trigger,
//!   reads the same subject, roles, organisation, action, request id and
//!   trace;
//! - **lock before claim**: the aggregate is found as the caller may see it
//!   before the request id is looked at, so a stored answer is never replayed
//!   to a caller who may not see the aggregate any more; and the answer that
//!   is replayed is shown as the caller may see it now ([`Steps::replay`]);
//! - **answer before commit**: the answer is stored in the same transaction
//!   as the change, so there is never a change without its answer or an
//!   answer without its change.
//!
//! Which method a request is for and its request id are the request's own
//! ([`Mutation`], implemented for every request message with a
//! `request_id`). Event handlers run inside the consumer's transaction
//! instead (its checkpoint plays the request id's part), which names the
//! consuming service as who acts with [`name_actor`] the same way.

pub use socialloans_contracts::Mutation;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    auth::Caller,
    idempotency::{self, Claim},
};

/// Who acts in a transaction, as every audit row records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The token's subject, or the service's name when it acts itself.
    pub subject: String,
    /// The roles acted in, sorted and space-separated (`service` for the
    /// service itself).
    pub roles: String,
    /// A borrower's organisations, comma-separated; empty for staff and services.
    pub organization: String,
}

impl Actor {
    /// The caller of a request.
    pub fn of(caller: &Caller) -> Self {
        Self { subject: caller.subject.clone(), roles: caller.role_names(), organization: caller.organization_label() }
    }

    /// The service itself: applying another service's event, or its own
    /// background work (overdue detection).
    pub fn service(name: &str) -> Self {
        Self { subject: name.to_owned(), roles: "service".to_owned(), organization: String::new() }
    }
}

/// Names the actor, the action and the request id of everything this
/// transaction changes (and the current trace), for the audit rows it
/// writes: transaction-local settings `socialloans.audit_*`, which a
/// service's audit insert or a table's trigger reads. Inside a call with a
/// deadline ([`crate::db::DEADLINE`]) the transaction's statements and lock
/// waits are limited, in the same round trip, to the time left, so the
/// server itself ends what the client has given up on (a dropped call cannot
/// cancel its statement otherwise); elsewhere (an event handler, a sweep)
/// they keep the session's limits.
pub async fn name_actor(
    conn: &mut PgConnection,
    actor: &Actor,
    action: &str,
    request_id: &str,
) -> Result<(), sqlx::Error> {
    let left = crate::db::DEADLINE
        .try_with(|deadline| {
            deadline.saturating_duration_since(tokio::time::Instant::now()).as_millis().max(1).to_string()
        })
        .ok();
    sqlx::query!(
        "SELECT set_config('statement_timeout', coalesce($1::text, current_setting('statement_timeout')), true)
                    AS statement,
                set_config('lock_timeout', coalesce($1::text, current_setting('lock_timeout')), true) AS lock,
                set_config('socialloans.audit_subject', $2, true) AS subject,
                set_config('socialloans.audit_role', $3, true) AS role,
                set_config('socialloans.audit_org', $4, true) AS org,
                set_config('socialloans.audit_action', $5, true) AS action,
                set_config('socialloans.audit_request', $6, true) AS request,
                set_config('socialloans.audit_trace', $7, true) AS trace",
        left,
        actor.subject,
        actor.roles,
        actor.organization,
        action,
        request_id,
        crate::trace_context::current_trace_id(),
    )
    .fetch_one(conn)
    .await
    .map(|_| ())
}

/// Begins the unit's transaction as `actor` doing `action` ([`name_actor`]).
async fn begin(
    pool: &PgPool,
    actor: &Actor,
    action: &str,
    request_id: &str,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    name_actor(&mut tx, actor, action, request_id).await?;
    Ok(tx)
}

/// The steps of a mutation the unit of work runs, in its order.
pub struct Steps<Lock, Replay, Apply, Present> {
    /// Finds and locks the aggregate, as the caller may see it (NOT_FOUND
    /// otherwise), before the request id is looked at; `()` for a mutation
    /// that creates one or locks its own.
    pub lock: Lock,
    /// A stored answer of an identical earlier request, as the caller may
    /// see it now (e.g. with the personal data it may see, which no stored
    /// answer holds).
    pub replay: Replay,
    /// Decides (the service's pure rules), saves, records the history and
    /// publishes, given the claimed request id; returns the answer to store
    /// against the request id, and what [`Steps::present`] needs besides.
    pub apply: Apply,
    /// The stored answer as the caller gets it now.
    pub present: Present,
}

/// Runs `caller`'s `request` (its method and request id are the request's:
/// [`Mutation`]) as one transaction (see the module's documentation).
pub async fn run<Req: Mutation, Locked, Stored, After, Shown, E>(
    pool: &PgPool,
    caller: &Caller,
    request: &Req,
    steps: Steps<
        impl AsyncFnOnce(&mut PgConnection) -> Result<Locked, E>,
        impl AsyncFnOnce(&mut PgConnection, Stored, Locked) -> Result<Shown, E>,
        impl AsyncFnOnce(&mut PgConnection, Locked, Uuid) -> Result<(Stored, After), E>,
        impl FnOnce(Stored, After) -> Shown,
    >,
) -> Result<Shown, E>
where
    Stored: prost::Message + Default,
    E: From<sqlx::Error> + From<tonic::Status>,
{
    let (method, request_id) = (Req::method(), request.request_id());
    idempotency::parse_request_id(request_id)
        .map_err(|v| crate::error::invalid_argument("INVALID_ARGUMENT", "request_id is invalid", &[v]))?;
    let mut tx = begin(pool, &Actor::of(caller), method, request_id).await?;
    let locked = (steps.lock)(&mut tx).await?;
    let ticket = match idempotency::claim::<Stored>(&mut tx, request_id, caller, method, request).await? {
        Claim::Replay(stored) => return (steps.replay)(&mut tx, stored, locked).await,
        Claim::Fresh(ticket) => ticket,
    };
    let (stored, after) = (steps.apply)(&mut tx, locked, ticket.id()).await?;
    idempotency::record(&mut tx, &ticket, &stored).await?;
    tx.commit().await?;
    Ok((steps.present)(stored, after))
}

/// [`run`] for a mutation with nothing to lock before the claim and nothing
/// to hide: `apply` does the rest, and its answer is stored and shown alike.
pub async fn run_simple<Answer, E>(
    pool: &PgPool,
    caller: &Caller,
    request: &impl Mutation,
    apply: impl AsyncFnOnce(&mut PgConnection) -> Result<Answer, E>,
) -> Result<Answer, E>
where
    Answer: prost::Message + Default,
    E: From<sqlx::Error> + From<tonic::Status>,
{
    let steps = Steps {
        lock: async |_: &mut PgConnection| Ok(()),
        replay: async |_: &mut PgConnection, stored, ()| Ok(stored),
        apply: async |conn: &mut PgConnection, (), _| Ok((apply(conn).await?, ())),
        present: |stored, ()| stored,
    };
    run(pool, caller, request, steps).await
}
