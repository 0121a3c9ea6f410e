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
        "INSERT INTO outbox (id, event_type, aggregate, organization_number, traceparent, tracestate, payload, origin)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        id,
        event_type.into(),
        aggregate,
        organization,
        header("traceparent"),
        header("tracestate"),
        payload,
        trace_context::origin(),
    )
    .execute(&mut *conn)
    .await?;
    // Delivered at commit, and only then: wakes the sequencer at once.
    sqlx::query!("SELECT pg_notify($1, '')", appended_channel(schema)).execute(&mut *conn).await?;
    Ok(id)
}

/// Follows the thread of `application` in the current unit of work (see
/// [`trace_context::threaded`]): its origin as this service keeps it in
/// `trace_origin` — remembered the first time from the event being applied
/// (its origin), or from the call that makes the application — becomes the
/// origin the unit's root span links to and its events carry. With several
/// applications in one unit, the last followed is the one its next events
/// carry: follow each just before publishing about it. A process that does
/// not trace (no `OTEL_EXPORTER_OTLP_ENDPOINT`) skips it: one indexed read
/// per change, and a write for a new application, are the cost when it does.
pub async fn follow_thread(conn: &mut PgConnection, application: &str) -> Result<(), sqlx::Error> {
    if application.is_empty() || !trace_context::traced() {
        return Ok(());
    }
    let known = sqlx::query_scalar!("SELECT traceparent FROM trace_origin WHERE application = $1", application)
        .fetch_optional(&mut *conn)
        .await?;
    let origin = match known {
        Some(origin) => origin,
        None => {
            let candidate = trace_context::origin_or_root();
            if candidate.is_empty() {
                return Ok(());
            }
            // The first step of an application is its creation, serialised
            // by its row; a rare race loses only which of two becomes the origin.
            sqlx::query!(
                "INSERT INTO trace_origin (application, traceparent) VALUES ($1, $2) ON CONFLICT (application) DO NOTHING",
                application,
                candidate,
            )
            .execute(&mut *conn)
            .await?;
            candidate
        }
    };
    trace_context::follow(&origin);
    Ok(())
}
