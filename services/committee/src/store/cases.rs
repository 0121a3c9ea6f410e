//! The `committee_case` table: one row per referred application.

use chrono::{DateTime, Utc};
use prost::Message;
use socialloans_contracts::committee::{Case, CaseState};
use socialloans_platform::stored::Document;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::cases::{StoredCaseState, state_name};

/// A stored case. Its application and its borrower are in its document;
/// the table keeps them beside it too, to find a case by its application,
/// to allow one case per application, and for SQL.
pub type Row = Document<StoredCaseState>;

/// Opens a case unless the application already has one; returns it if new.
pub async fn open(conn: &mut PgConnection, case: &Case) -> Result<Option<Row>, sqlx::Error> {
    let now = Utc::now();
    sqlx::query_as!(
        Row,
        r#"INSERT INTO committee.committee_case (id, application, state, organization_number, content, create_time, update_time)
         VALUES ($1, $2, 'OPEN', $3, $4, $5, $5)
         ON CONFLICT (application) DO NOTHING
         RETURNING id, state AS "state: _", revision, content, create_time, update_time"#,
        Uuid::now_v7(),
        case.application,
        case.organization_number,
        case.encode_to_vec(),
        now,
    )
    .fetch_optional(conn)
    .await
}

/// A case locked for change, by id or by application.
pub async fn lock(
    conn: &mut PgConnection,
    id: Option<Uuid>,
    application: Option<&str>,
) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as!(
        Row,
        r#"SELECT id, state AS "state: _", revision, content, create_time, update_time
           FROM committee.committee_case
          WHERE ($1::uuid IS NULL OR id = $1) AND ($2::text IS NULL OR application = $2)
            FOR UPDATE"#,
        id,
        application,
    )
    .fetch_optional(conn)
    .await
}

/// Saves a changed case: its state and content, a new revision.
pub async fn save(conn: &mut PgConnection, row: &Row, case: &Case, state: CaseState) -> Result<Row, sqlx::Error> {
    let mut stored = case.clone();
    for field in [&mut stored.name, &mut stored.etag] {
        field.clear();
    }
    stored.create_time = None;
    stored.update_time = None;
    sqlx::query_as!(
        Row,
        r#"UPDATE committee.committee_case SET state = $2, content = $3, revision = revision + 1, update_time = now()
          WHERE id = $1
         RETURNING id, state AS "state: _", revision, content, create_time, update_time"#,
        row.id,
        state_name(state),
        stored.encode_to_vec(),
    )
    .fetch_one(conn)
    .await
}

/// One case.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as!(
        Row,
        r#"SELECT id, state AS "state: _", revision, content, create_time, update_time
           FROM committee.committee_case WHERE id = $1"#,
        id,
    )
    .fetch_optional(pool)
    .await
}

/// A page of cases in opening order, one more than `limit`.
pub async fn list(
    pool: &PgPool,
    state: Option<&str>,
    application: Option<&str>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: u32,
) -> Result<Vec<Row>, sqlx::Error> {
    let page = "SELECT id, state, revision, content, create_time, update_time
                  FROM committee.committee_case
                 WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR application = $2)
                   AND ($3::timestamptz IS NULL OR (create_time, id) > ($3, $4))
                 ORDER BY create_time, id
                 LIMIT $5";
    let page = socialloans_platform::limits::bounded_page(page, "create_time, id", "octet_length(content)");
    let query = sqlx::query_as(sqlx::AssertSqlSafe(page)).bind(state).bind(application);
    super::page(pool, query, after, limit).await
}

/// The encoded content of the cases `ids`, with their ids, unlocked.
pub async fn contents(conn: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<(Uuid, Vec<u8>)>, sqlx::Error> {
    Ok(sqlx::query!("SELECT id, content FROM committee.committee_case WHERE id = ANY($1)", ids)
        .fetch_all(conn)
        .await?
        .into_iter()
        .map(|r| (r.id, r.content))
        .collect())
}

/// The encoded content of case `id`, if there is one.
pub async fn content(pool: &PgPool, id: Uuid) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar!("SELECT content FROM committee.committee_case WHERE id = $1", id).fetch_optional(pool).await
}
