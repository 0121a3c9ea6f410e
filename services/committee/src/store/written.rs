//! The `written_report` table: decisions by written procedure waiting for,
//! or reported in, the minutes of a meeting.

use sqlx::PgConnection;
use uuid::Uuid;

/// A decision by written procedure, `decision` on the case `case_id`, waits
/// to be reported.
pub async fn insert(conn: &mut PgConnection, decision: &str, case_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO committee.written_report (decision, case_id) VALUES ($1, $2)")
        .bind(decision)
        .bind(case_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The decisions the minutes of meeting `meeting_id` report, oldest first,
/// each with its case: those it claimed when its minutes were approved,
/// and, while they are not (`approved` false), those nobody has claimed.
pub async fn reported_in(
    conn: &mut PgConnection,
    meeting_id: Uuid,
    approved: bool,
) -> Result<Vec<(String, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT decision, case_id FROM committee.written_report
          WHERE reported_to = $1 OR ($2 AND reported_to IS NULL)
          ORDER BY create_time, decision",
    )
    .bind(meeting_id)
    .bind(!approved)
    .fetch_all(conn)
    .await
}

/// The minutes of meeting `meeting_id` are approved: it claims every
/// decision nobody has reported yet. The decisions claimed, with their cases.
pub async fn claim(conn: &mut PgConnection, meeting_id: Uuid) -> Result<Vec<(String, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE committee.written_report SET reported_to = $1 WHERE reported_to IS NULL RETURNING decision, case_id",
    )
    .bind(meeting_id)
    .fetch_all(conn)
    .await
}
