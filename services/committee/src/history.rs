//! The committee's history: database triggers record every change to a
//! member, case, meeting or vote (migration 0004). A transaction first says
//! who acts, in which request ([`begin`]); the triggers read that, so no
//! code path can change the data without leaving its trace.

use chrono::{DateTime, Utc};
use socialloans_contracts::committee::HistoryEntry;
use socialloans_contracts::common::Actor;
use sqlx::{PgConnection, PgPool};

use crate::cases::timestamp;

/// Names who acts, how and in which request, for this transaction's changes.
pub async fn begin(
    conn: &mut PgConnection,
    subject: &str,
    role: &str,
    action: &str,
    request_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "SELECT set_config('socialloans.audit_subject', $1, true) AS subject,
                set_config('socialloans.audit_role', $2, true) AS role,
                set_config('socialloans.audit_action', $3, true) AS action,
                set_config('socialloans.audit_request', $4, true) AS request,
                set_config('socialloans.audit_trace', $5, true) AS trace",
        subject,
        role,
        action,
        request_id,
        socialloans_platform::trace_context::current_trace_id(),
    )
    .fetch_one(conn)
    .await
    .map(|_| ())
}

/// A stored history entry.
#[derive(Debug, Clone)]
pub struct Row {
    sequence: i64,
    action: String,
    resource: String,
    operation: String,
    from_state: String,
    to_state: String,
    actor_subject: String,
    actor_role: String,
    occur_time: DateTime<Utc>,
    request_id: String,
    trace_id: String,
}

impl Row {
    /// Its position.
    pub fn sequence(&self) -> i64 {
        self.sequence
    }

    /// The API view.
    pub fn view(self) -> HistoryEntry {
        HistoryEntry {
            name: format!("historyEntries/{}", self.sequence),
            sequence: self.sequence,
            action: self.action,
            resource: self.resource,
            operation: self.operation,
            from_state: self.from_state,
            to_state: self.to_state,
            actor: Some(Actor {
                subject: self.actor_subject,
                role: self.actor_role,
                organization_number: String::new(),
            }),
            occur_time: Some(timestamp(self.occur_time)),
            request_id: self.request_id,
            trace_id: self.trace_id,
        }
    }
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
