//! The `member` table: the roster.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// A stored member.
#[derive(Debug, Clone)]
pub struct Row {
    /// Primary key.
    pub id: Uuid,
    /// Name shown.
    pub display_name: String,
    /// `MEMBER`, `CHAIR` or `SECRETARY`.
    pub role: String,
    /// First day of the term.
    pub term_start: NaiveDate,
    /// Last day of the term, if set.
    pub term_end: Option<NaiveDate>,
    /// The identity provider's subject.
    pub subject: String,
    /// Field of expertise.
    pub expertise: String,
    /// The etag's source.
    pub revision: i64,
    /// Added.
    pub create_time: DateTime<Utc>,
    /// Last changed.
    pub update_time: DateTime<Utc>,
}

/// What a member's row holds as given, checked.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a> {
    /// Name shown.
    pub display_name: &'a str,
    /// `MEMBER`, `CHAIR` or `SECRETARY`.
    pub role: &'a str,
    /// First day of the term.
    pub term_start: NaiveDate,
    /// Last day of the term, if set.
    pub term_end: Option<NaiveDate>,
    /// The identity provider's subject.
    pub subject: &'a str,
    /// Field of expertise.
    pub expertise: &'a str,
}

/// Writes member `id` with `fields`: a new member, or every field of the
/// member `id` as its next revision.
pub async fn save(conn: &mut PgConnection, id: Uuid, fields: Fields<'_>) -> Result<Row, sqlx::Error> {
    sqlx::query_as!(
        Row,
        "INSERT INTO committee.member AS m (id, display_name, role, term_start, term_end, subject, expertise)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (id) DO UPDATE
            SET display_name = EXCLUDED.display_name, role = EXCLUDED.role, term_start = EXCLUDED.term_start,
                term_end = EXCLUDED.term_end, subject = EXCLUDED.subject, expertise = EXCLUDED.expertise,
                revision = m.revision + 1, update_time = now()
         RETURNING id, display_name, role, term_start, term_end, subject, expertise, revision, create_time, update_time",
        id,
        fields.display_name,
        fields.role,
        fields.term_start,
        fields.term_end,
        fields.subject,
        fields.expertise,
    )
    .fetch_one(conn)
    .await
}

/// One member.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as!(
        Row,
        "SELECT id, display_name, role, term_start, term_end, subject, expertise, revision, create_time, update_time
           FROM committee.member WHERE id = $1",
        id,
    )
    .fetch_optional(pool)
    .await
}

/// A page of the roster in joining order, one more than `limit`.
pub async fn list(pool: &PgPool, after: Option<(DateTime<Utc>, Uuid)>, limit: u32) -> Result<Vec<Row>, sqlx::Error> {
    sqlx::query_as!(
        Row,
        "SELECT id, display_name, role, term_start, term_end, subject, expertise, revision, create_time, update_time
           FROM committee.member
          WHERE ($1::timestamptz IS NULL OR (create_time, id) > ($1, $2))
          ORDER BY create_time, id LIMIT $3",
        after.map(|a| a.0),
        after.map(|a| a.1),
        i64::from(limit) + 1,
    )
    .fetch_all(pool)
    .await
}

/// One member, locked for change.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as!(
        Row,
        "SELECT id, display_name, role, term_start, term_end, subject, expertise, revision, create_time, update_time
           FROM committee.member WHERE id = $1 FOR UPDATE",
        id,
    )
    .fetch_optional(conn)
    .await
}

/// The whole roster, in joining order.
pub async fn roster(conn: &mut PgConnection) -> Result<Vec<Row>, sqlx::Error> {
    sqlx::query_as!(
        Row,
        "SELECT id, display_name, role, term_start, term_end, subject, expertise, revision, create_time, update_time
               FROM committee.member ORDER BY create_time, id",
    )
    .fetch_all(conn)
    .await
}

/// The member whose login subject is `subject` (a member without one is
/// nobody's).
pub async fn by_subject(conn: &mut PgConnection, subject: &str) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as!(
        Row,
        "SELECT id, display_name, role, term_start, term_end, subject, expertise, revision, create_time, update_time
           FROM committee.member WHERE subject = $1 AND subject <> ''",
        subject,
    )
    .fetch_optional(conn)
    .await
}

/// The term of member `id`: its first and last day, if the member exists.
pub async fn term(conn: &mut PgConnection, id: Uuid) -> Result<Option<(NaiveDate, Option<NaiveDate>)>, sqlx::Error> {
    Ok(sqlx::query!("SELECT term_start, term_end FROM committee.member WHERE id = $1", id)
        .fetch_optional(conn)
        .await?
        .map(|r| (r.term_start, r.term_end)))
}

/// Every member's id and name.
pub async fn names(conn: &mut PgConnection) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    Ok(sqlx::query!("SELECT id, display_name FROM committee.member")
        .fetch_all(conn)
        .await?
        .into_iter()
        .map(|r| (r.id, r.display_name))
        .collect())
}
