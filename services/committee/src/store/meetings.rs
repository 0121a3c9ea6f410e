//! The `meeting` table.

use chrono::{DateTime, Utc};
use prost::Message;
use socialloans_contracts::committee::{Meeting, MeetingState};
use socialloans_platform::stored::Document;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::meetings::{StoredMeetingState, state_name};

/// A stored meeting: the columns every document table has, and beside them
/// its start. The start is read from its column: meetings stored so far
/// keep it only there, not in their document.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Row {
    /// Id, state, revision, the encoded Meeting, and its times.
    #[sqlx(flatten)]
    pub document: Document<StoredMeetingState>,
    /// When it starts.
    pub start_time: DateTime<Utc>,
}

impl Row {
    /// The state.
    pub fn state(&self) -> MeetingState {
        self.document.state.0
    }
}

const COLUMNS: &str = "id, state, revision, content, create_time, update_time, start_time";

/// Schedules a meeting.
pub async fn insert(conn: &mut PgConnection, meeting: &Meeting, start: DateTime<Utc>) -> Result<Row, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO committee.meeting (id, state, start_time, content) VALUES ($1, 'SCHEDULED', $2, $3) RETURNING {COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(start)
    .bind(meeting.encode_to_vec())
    .fetch_one(conn)
    .await
}

/// A meeting locked for change.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM committee.meeting WHERE id = $1 FOR UPDATE")))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// One meeting.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM committee.meeting WHERE id = $1")))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Saves a changed meeting.
pub async fn save(
    conn: &mut PgConnection,
    row: &Row,
    meeting: &Meeting,
    state: MeetingState,
) -> Result<Row, sqlx::Error> {
    save_moved(conn, row, meeting, state, row.start_time).await
}

/// Saves a changed meeting that may start at another time. What the
/// service works out when it shows a meeting (quorum, eligible members per
/// case) is not stored: it changes with the roster and the declarations.
pub async fn save_moved(
    conn: &mut PgConnection,
    row: &Row,
    meeting: &Meeting,
    state: MeetingState,
    start: DateTime<Utc>,
) -> Result<Row, sqlx::Error> {
    let mut stored = meeting.clone();
    stored.name.clear();
    stored.etag.clear();
    stored.quorum = 0;
    for item in &mut stored.agenda {
        item.eligible_present_count = 0;
        item.quorate = false;
    }
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE committee.meeting SET state = $2, content = $3, start_time = $4, revision = revision + 1, update_time = now()
          WHERE id = $1 RETURNING {COLUMNS}"
    )))
    .bind(row.document.id)
    .bind(state_name(state))
    .bind(stored.encode_to_vec())
    .bind(start)
    .fetch_one(conn)
    .await
}

/// A page of meetings, latest start first, one more than `limit`.
pub async fn list(
    pool: &PgPool,
    state: Option<&str>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: u32,
) -> Result<Vec<Row>, sqlx::Error> {
    let page = format!(
        "SELECT {COLUMNS} FROM committee.meeting
          WHERE ($1::text IS NULL OR state = $1) AND ($2::timestamptz IS NULL OR (start_time, id) < ($2, $3))
          ORDER BY start_time DESC, id DESC LIMIT $4"
    );
    let page = socialloans_platform::limits::bounded_page(&page, "start_time DESC, id DESC", "octet_length(content)");
    super::page(pool, sqlx::query_as(sqlx::AssertSqlSafe(page)).bind(state), after, limit).await
}

/// The encoded content of meeting `id`, if there is one.
pub async fn content(pool: &PgPool, id: Uuid) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar!("SELECT content FROM committee.meeting WHERE id = $1", id).fetch_optional(pool).await
}
