//! Writing events: in the same transaction as the change that caused them.
//!
//! The platform's tables (`outbox`, `outbox_head`, `consumer_checkpoint`, …)
//! live in each service's own schema and are reached through the role's
//! `search_path`, which every pool connection sets to that schema.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::trace_context;

/// The NOTIFY channel that tells the sequencer new events were committed.
pub fn appended_channel(schema: &str) -> String {
    format!("{schema}_outbox_appended")
}

/// The NOTIFY channel that tells feeds new positions are visible.
pub fn positioned_channel(schema: &str) -> String {
    format!("{schema}_outbox_positioned")
}

/// Appends `payload` as an event about `aggregate` (a resource name) of the
/// borrower `organization` (if it is about one: it is then on that
/// organisation's feed) inside the caller's transaction, with the trace
/// context of the current span. It becomes visible on the feed only if that
/// transaction commits.
pub async fn append<M: prost::Name>(
    conn: &mut PgConnection,
    schema: &str,
    aggregate: &str,
    organization: Option<&str>,
    payload: &M,
) -> Result<Uuid, sqlx::Error> {
    append_encoded(conn, schema, aggregate, organization, M::full_name(), payload.encode_to_vec()).await
}

/// [`append`] for a payload already encoded, with its fully-qualified type name.
pub async fn append_encoded(
    conn: &mut PgConnection,
    schema: &str,
    aggregate: &str,
    organization: Option<&str>,
    event_type: impl Into<String>,
    payload: Vec<u8>,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    let mut headers = http::HeaderMap::new();
    trace_context::inject(&tracing::Span::current(), &mut headers);
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    sqlx::query!(
        "INSERT INTO outbox (id, event_type, aggregate, organization_number, traceparent, tracestate, payload)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        id,
        event_type.into(),
        aggregate,
        organization,
        header("traceparent"),
        header("tracestate"),
        payload,
    )
    .execute(&mut *conn)
    .await?;
    // Delivered at commit, and only then: wakes the sequencer at once.
    sqlx::query!("SELECT pg_notify($1, '')", appended_channel(schema)).execute(&mut *conn).await?;
    Ok(id)
}
