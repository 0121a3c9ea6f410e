//! The audit trail as stored. A transaction first says who acts and why
//! (`socialloans_platform::unit::name_actor`); each change in it is then
//! recorded with [`record`], in the same transaction, so the trail never
//! disagrees with the data.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

/// Records one change of `resource` from one state to another.
pub async fn record(
    conn: &mut PgConnection,
    resource: &str,
    from_state: &str,
    to_state: &str,
    comment: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO monitoring.audit_entry
                (action, resource, from_state, to_state, comment,
                 actor_subject, actor_role, actor_organization, request_id, trace_id)
         VALUES (coalesce(nullif(current_setting('socialloans.audit_action', true), ''), 'unknown'), $1, $2, $3, $4,
                 coalesce(nullif(current_setting('socialloans.audit_subject', true), ''), 'monitoring'),
                 coalesce(nullif(current_setting('socialloans.audit_role', true), ''), 'service'),
                 coalesce(current_setting('socialloans.audit_org', true), ''),
                 coalesce(current_setting('socialloans.audit_request', true), ''),
                 coalesce(current_setting('socialloans.audit_trace', true), ''))",
        resource,
        from_state,
        to_state,
        comment,
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// A stored entry.
#[derive(Debug, Clone)]
pub struct Row {
    /// The position in the trail.
    pub sequence: i64,
    /// The method or event that made the change.
    pub action: String,
    /// The resource changed.
    pub resource: String,
    /// Its state before.
    pub from_state: String,
    /// Its state after.
    pub to_state: String,
    /// Who.
    pub actor_subject: String,
    /// In which role.
    pub actor_role: String,
    /// For a borrower: its organisation.
    pub actor_organization: String,
    /// When.
    pub occur_time: DateTime<Utc>,
    /// The request that did it.
    pub request_id: String,
    /// Free text: reason, comment.
    pub comment: String,
    /// The trace of the call.
    pub trace_id: String,
}

/// A page of entries after `after` about `resource` (and what lies under
/// it) or about everything, oldest first; one more than `limit`.
pub async fn list(pool: &PgPool, resource: &str, after: i64, limit: u32) -> Result<Vec<Row>, sqlx::Error> {
    let under = format!("{}/%", resource.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
    sqlx::query_as!(
        Row,
        "SELECT sequence, action, resource, from_state, to_state, actor_subject, actor_role, actor_organization,
                occur_time, request_id, comment, trace_id
           FROM monitoring.audit_entry
          WHERE ($1 = '' OR resource = $1 OR resource LIKE $2) AND sequence > $3
          ORDER BY sequence LIMIT $4",
        resource,
        under,
        after,
        i64::from(limit) + 1,
    )
    .fetch_all(pool)
    .await
}
