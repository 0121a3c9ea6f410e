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
use sqlx::{Postgres, postgres::PgArguments, query::Query};
use uuid::Uuid;

/// The columns every document table has, as `Document`'s `FromRow` reads them.
pub const DOCUMENT: &str = "id, state, revision, content, create_time, update_time";

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
