//! The `vote` table: one vote per member, case and meeting.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// A stored vote.
#[derive(Debug, Clone)]
pub struct Row {
    /// The member who cast it.
    pub member_id: Uuid,
    /// The meeting it was cast at.
    pub meeting_id: Uuid,
    /// `APPROVE`, `DECLINE`, …
    pub choice: String,
    /// A dissent or comment.
    pub comment: String,
    /// The login that cast it.
    pub actor_subject: String,
    /// When it was cast (last changed).
    pub cast_time: DateTime<Utc>,
}

/// A vote as the committee weighs it: who, what, and why.
#[derive(Debug, Clone)]
pub struct Choice {
    /// The member who cast it.
    pub member_id: Uuid,
    /// `APPROVE`, `DECLINE`, …
    pub choice: String,
    /// A dissent or comment.
    pub comment: String,
}

/// Casts the vote of `member_id` on `case_id` at `meeting_id`, or changes
/// the one cast before; returns when.
pub async fn cast(
    conn: &mut PgConnection,
    case_id: Uuid,
    meeting_id: Uuid,
    member_id: Uuid,
    choice: &str,
    comment: &str,
    actor_subject: &str,
) -> Result<DateTime<Utc>, sqlx::Error> {
    sqlx::query_scalar!(
        "INSERT INTO committee.vote (case_id, meeting_id, member_id, choice, comment, actor_subject)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (case_id, meeting_id, member_id)
         DO UPDATE SET choice = EXCLUDED.choice, comment = EXCLUDED.comment, cast_time = now()
         RETURNING cast_time",
        case_id,
        meeting_id,
        member_id,
        choice,
        comment,
        actor_subject,
    )
    .fetch_one(conn)
    .await
}

/// Every vote cast on `case_id`, at any meeting, in the order they were cast.
pub async fn on_case(pool: &PgPool, case_id: Uuid) -> Result<Vec<Row>, sqlx::Error> {
    sqlx::query_as!(
        Row,
        "SELECT member_id, meeting_id, choice, comment, actor_subject, cast_time
           FROM committee.vote WHERE case_id = $1 ORDER BY cast_time",
        case_id,
    )
    .fetch_all(pool)
    .await
}

/// The votes cast on `case_id` at `meeting_id`, in no particular order.
pub async fn at_meeting(conn: &mut PgConnection, case_id: Uuid, meeting_id: Uuid) -> Result<Vec<Choice>, sqlx::Error> {
    sqlx::query_as!(
        Choice,
        "SELECT member_id, choice, comment FROM committee.vote WHERE case_id = $1 AND meeting_id = $2",
        case_id,
        meeting_id,
    )
    .fetch_all(conn)
    .await
}

/// The votes cast on `case_id` at `meeting_id`, in the order they were cast.
pub async fn at_meeting_in_order(
    conn: &mut PgConnection,
    case_id: Uuid,
    meeting_id: Uuid,
) -> Result<Vec<Choice>, sqlx::Error> {
    sqlx::query_as!(
        Choice,
        "SELECT member_id, choice, comment FROM committee.vote WHERE case_id = $1 AND meeting_id = $2 ORDER BY cast_time",
        case_id,
        meeting_id,
    )
    .fetch_all(conn)
    .await
}

/// Deletes the votes `member_id` cast on `case_id` at meetings not yet over.
pub async fn delete_pending(conn: &mut PgConnection, case_id: Uuid, member_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "DELETE FROM committee.vote v USING committee.meeting m
          WHERE v.case_id = $1 AND v.member_id = $2 AND m.id = v.meeting_id
            AND m.state IN ('SCHEDULED', 'IN_PROGRESS')",
        case_id,
        member_id,
    )
    .execute(conn)
    .await
    .map(|_| ())
}
