//! The `history` table, written by the database's triggers from who acts
//! in the transaction (`socialloans_platform::unit::name_actor`).

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// A stored history entry.
#[derive(Debug, Clone)]
pub struct Row {
    /// Its position.
    pub(crate) sequence: i64,
    /// What was done: the method, or the event consumed.
    pub(crate) action: String,
    /// The resource changed.
    pub(crate) resource: String,
    /// `INSERT`, `UPDATE` or `DELETE`.
    pub(crate) operation: String,
    /// The state before.
    pub(crate) from_state: String,
    /// The state after.
    pub(crate) to_state: String,
    /// Who.
    pub(crate) actor_subject: String,
    /// In which roles.
    pub(crate) actor_role: String,
    /// When.
    pub(crate) occur_time: DateTime<Utc>,
    /// The request.
    pub(crate) request_id: String,
    /// The trace of the call.
    pub(crate) trace_id: String,
}

/// Entries after `after`, of `resource` and what lies under it (all when
/// empty), one more than `limit`.
pub async fn list(pool: &PgPool, resource: &str, after: i64, limit: u32) -> Result<Vec<Row>, sqlx::Error> {
    sqlx::query_as!(
        Row,
        "SELECT sequence, action, resource, operation, from_state, to_state, actor_subject, actor_role, occur_time,
                request_id, trace_id
           FROM committee.history
          WHERE sequence > $1 AND ($2 = '' OR resource = $2 OR resource LIKE $2 || '/%')
          ORDER BY sequence LIMIT $3",
        after,
        resource,
        i64::from(limit) + 1,
    )
    .fetch_all(pool)
    .await
}
