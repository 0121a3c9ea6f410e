//! Reading and writing the `monitoring` schema: every statement the service
//! runs, and the rows they read and write. Every statement is
//! schema-qualified; the role's search_path is a second line of defence.
//! The rest of the service decides what to write and what the rows mean.

pub mod audit;
pub mod catalogue;
pub mod overdue;
pub mod plans;
pub mod portfolio;
pub mod reports;

use chrono::{DateTime, Utc};
use socialloans_platform::stored::Document;
use sqlx::{
    Postgres, Row as _,
    postgres::{PgArguments, PgRow},
    query::Query,
};
use uuid::Uuid;

/// The columns every document table has, as [`document`] reads them.
pub const DOCUMENT: &str = "id, state, revision, content, create_time, update_time";

/// The columns every document table has ([`DOCUMENT`]), read from a row of
/// a statement built at run time (which `query_as!` cannot check).
pub fn document<S>(row: &PgRow) -> Result<Document<S>, sqlx::Error>
where
    S: for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    Ok(Document {
        id: row.try_get("id")?,
        state: row.try_get("state")?,
        revision: row.try_get("revision")?,
        content: row.try_get("content")?,
        create_time: row.try_get("create_time")?,
        update_time: row.try_get("update_time")?,
    })
}

/// A list page's statement with its last parameters bound: the position the
/// page starts after (a creation time and an id; both NULL for the first
/// page) and one row more than `limit`, which tells whether another page
/// follows.
pub fn keyset<'q>(
    query: Query<'q, Postgres, PgArguments>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: u32,
) -> Query<'q, Postgres, PgArguments> {
    query.bind(after.map(|a| a.0)).bind(after.map(|a| a.1)).bind(i64::from(limit) + 1)
}
