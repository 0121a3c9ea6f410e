//! The indicator catalogue as stored.

use socialloans_contracts::monitoring::IndicatorDefinition;
use sqlx::{PgConnection, PgPool};

/// A stored definition.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Row {
    /// The indicator's code, its key.
    pub code: String,
    /// The name people read.
    pub display_name: String,
    /// The name in Swedish; empty when none is given.
    pub swedish_display_name: String,
    /// The unit values are reported in.
    pub unit: String,
    /// Which way is better, without prefix (e.g. `HIGHER_IS_BETTER`).
    pub direction: String,
    /// `OUTPUT`, `OUTCOME` or `IMPACT`.
    pub level: String,
    /// The category, without prefix.
    pub category: String,
    /// Agenda 2030 targets, such as `11.1`.
    pub sdg_targets: Vec<String>,
    /// Free text.
    pub description: String,
    /// Added.
    pub create_time: chrono::DateTime<chrono::Utc>,
}

const COLUMNS: &str =
    "code, display_name, swedish_display_name, unit, direction, level, category, sdg_targets, description, create_time";

/// Adds a definition, with its direction, level and category as stored
/// (without prefix). A code already in the catalogue fails with a unique
/// violation (`23505`).
pub async fn insert(
    conn: &mut PgConnection,
    d: &IndicatorDefinition,
    direction: String,
    level: String,
    category: String,
) -> Result<Row, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO monitoring.indicator_definition
                (code, display_name, unit, direction, level, category, sdg_targets, description, swedish_display_name)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {COLUMNS}"
    )))
    .bind(&d.code)
    .bind(&d.display_name)
    .bind(&d.unit)
    .bind(direction)
    .bind(level)
    .bind(category)
    .bind(&d.sdg_targets)
    .bind(&d.description)
    .bind(&d.swedish_display_name)
    .fetch_one(conn)
    .await
}

/// One definition by code.
pub async fn get(pool: &PgPool, code: &str) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM monitoring.indicator_definition WHERE code = $1"
    )))
    .bind(code)
    .fetch_optional(pool)
    .await
}

/// A page of the catalogue, one more than `limit`.
pub async fn list(
    pool: &PgPool,
    after: Option<(chrono::DateTime<chrono::Utc>, String)>,
    limit: u32,
) -> Result<Vec<Row>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM monitoring.indicator_definition
          WHERE ($1::timestamptz IS NULL OR (create_time, code) > ($1, $2))
          ORDER BY create_time, code LIMIT $3"
    )))
    .bind(after.as_ref().map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(i64::from(limit) + 1)
    .fetch_all(pool)
    .await
}

/// The code of every definition in the catalogue.
pub async fn codes(conn: &mut PgConnection) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!("SELECT code FROM monitoring.indicator_definition").fetch_all(conn).await
}
