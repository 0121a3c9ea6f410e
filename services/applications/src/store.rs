//! Reading and writing the `applications` schema. Every statement is
//! schema-qualified; the role's search_path is a second line of defence.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// One stored application, as its row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApplicationRow {
    /// Primary key.
    pub id: Uuid,
    /// Borrower organisation number.
    pub organization_number: String,
    /// Life-cycle state, upper snake case (e.g. `DRAFT`).
    pub state: String,
    /// Bumped on every change; the etag.
    pub revision: i64,
    /// Created.
    pub create_time: DateTime<Utc>,
    /// Last changed.
    pub update_time: DateTime<Utc>,
}

/// The position after which a page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// `create_time` of the last row served.
    pub create_time: DateTime<Utc>,
    /// `id` of the last row served.
    pub id: Uuid,
}

/// Filters of a list.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this borrower's applications.
    pub organization_number: Option<String>,
    /// Only applications in this state.
    pub state: Option<String>,
}

/// One application by id; `organization` confines a borrower to its own.
#[tracing::instrument(skip(pool))]
pub async fn get(pool: &PgPool, id: Uuid, organization: Option<&str>) -> Result<Option<ApplicationRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, organization_number, state, revision, create_time, update_time
           FROM applications.application
          WHERE id = $1 AND ($2::text IS NULL OR organization_number = $2)",
    )
    .bind(id)
    .bind(organization)
    .fetch_optional(pool)
    .await
}

/// A page of applications in creation order, after `after`; fetches one row
/// more than `limit` so the caller knows whether another page follows.
#[tracing::instrument(skip(pool))]
pub async fn list(
    pool: &PgPool,
    filter: &ListFilter,
    after: Option<Cursor>,
    limit: u32,
) -> Result<Vec<ApplicationRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, organization_number, state, revision, create_time, update_time
           FROM applications.application
          WHERE ($1::text IS NULL OR organization_number = $1)
            AND ($2::text IS NULL OR state = $2)
            AND ($3::timestamptz IS NULL OR (create_time, id) > ($3, $4))
          ORDER BY create_time, id
          LIMIT $5",
    )
    .bind(filter.organization_number.as_deref())
    .bind(filter.state.as_deref())
    .bind(after.map(|c| c.create_time))
    .bind(after.map(|c| c.id))
    .bind(i64::from(limit) + 1)
    .fetch_all(pool)
    .await
}
