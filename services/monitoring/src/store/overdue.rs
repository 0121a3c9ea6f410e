//! The overdue items already announced, so each is announced once.

use chrono::NaiveDate;
use sqlx::{PgConnection, PgPool};

/// Every item announced so far.
pub async fn noticed(pool: &PgPool) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!("SELECT item FROM monitoring.overdue_notice").fetch_all(pool).await
}

/// Remembers that `item`, due on `due`, is announced; whether it was not
/// announced before.
pub async fn notice(conn: &mut PgConnection, item: &str, due: NaiveDate) -> Result<bool, sqlx::Error> {
    let new: Option<String> = sqlx::query_scalar!(
        "INSERT INTO monitoring.overdue_notice (item, due_date) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING item",
        item,
        due,
    )
    .fetch_optional(conn)
    .await?;
    Ok(new.is_some())
}
