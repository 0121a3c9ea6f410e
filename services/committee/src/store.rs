//! Reading and writing the `committee` schema: every statement the service
//! runs, and the rows they read and write. Every statement is
//! schema-qualified; the role's search_path is a second line of defence.

pub mod cases;
pub mod chain;
pub mod history;
pub mod meetings;
pub mod members;
pub mod votes;
pub mod written;

use chrono::{DateTime, Utc};
use prost_types::Timestamp;
use socialloans_platform::stored::Document;
use sqlx::{
    PgPool, Postgres,
    postgres::{PgArguments, PgRow},
    query::QueryAs,
};
use uuid::Uuid;

/// The rows of `query`, a page of a list built at run
/// time ([`socialloans_platform::limits::bounded_page`]) whose last
/// parameters are the keyset position it continues `after` and how many
/// rows it reads: one more than `limit`.
pub async fn page<R>(
    pool: &PgPool,
    query: QueryAs<'_, Postgres, R, PgArguments>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: u32,
) -> Result<Vec<R>, sqlx::Error>
where
    R: Send + Unpin + for<'r> sqlx::FromRow<'r, PgRow>,
{
    let query = query.bind(after.map(|a| a.0)).bind(after.map(|a| a.1)).bind(i64::from(limit) + 1);
    query.fetch_all(pool).await
}

/// What a document row says of its aggregate that the document does not
/// keep: the aggregate's name, etag and times.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    /// `{collection}/{id}`.
    pub name: String,
    /// The revision, quoted.
    pub etag: String,
    /// When it was created.
    pub create_time: Option<Timestamp>,
    /// When it last changed.
    pub update_time: Option<Timestamp>,
}

impl Shown {
    /// What `row`, of an aggregate in `collection`, says beside its document.
    pub fn of<S>(row: &Document<S>, collection: &str) -> Self {
        Self {
            name: format!("{collection}/{}", row.id),
            etag: row.etag(),
            create_time: Some(socialloans_platform::timestamp(row.create_time)),
            update_time: Some(socialloans_platform::timestamp(row.update_time)),
        }
    }
}

/// A row of a list in sequence order: the chain, the history.
pub trait Sequenced {
    /// Its position in the list.
    fn sequence(&self) -> i64;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_shows_its_name_in_its_collection_its_quoted_revision_and_its_times() {
        let at = DateTime::from_timestamp(1_790_000_000, 5_000).unwrap();
        let id = Uuid::nil();
        let row = Document { id, state: (), revision: 7, content: Vec::new(), create_time: at, update_time: at };
        let shown = Shown::of(&row, "cases");
        assert_eq!(shown.name, format!("cases/{id}"));
        assert_eq!(shown.etag, "\"7\"");
        assert_eq!(shown.create_time, Some(Timestamp { seconds: 1_790_000_000, nanos: 5_000 }));
        assert_eq!(shown.update_time, shown.create_time);
    }
}
