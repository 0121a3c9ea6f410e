//! Monitoring plans as stored: the plan's row, and the fact rows kept beside
//! it (its indicators and target groups) for the portfolio report.

use chrono::{DateTime, NaiveDate, Utc};
use prost::Message;
use socialloans_contracts::monitoring::MonitoringPlan;
use socialloans_platform::stored::Document;
use sqlx::{FromRow, PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use super::DOCUMENT;
use crate::columns::StoredPlanState;

/// A stored plan: the columns every document table has. What else the
/// table keeps (the application, the borrower, the category, the amounts)
/// is there for SQL to filter and sum; the code reads it from the plan.
pub type Row = Document<StoredPlanState>;

/// Inserts a PENDING plan unless the application has one; returns it if
/// new. `category` is the plan's category without prefix, `approved_minor`
/// the approved amount the portfolio report sums.
pub async fn insert(
    conn: &mut PgConnection,
    plan: &MonitoringPlan,
    category: &str,
    approved_minor: i64,
) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as!(
        Row,
        r#"INSERT INTO monitoring.monitoring_plan
                (id, application, state, organization_number, category, content, approved_minor, sdg_targets)
           VALUES ($1, $2, 'PENDING', $3, $4, $5, $6, $7)
           ON CONFLICT (application) DO NOTHING
           RETURNING id, state AS "state: _", revision, content, create_time, update_time"#,
        Uuid::now_v7(),
        plan.application,
        plan.organization_number,
        category,
        plan.encode_to_vec(),
        approved_minor,
        &plan.sdg_targets,
    )
    .fetch_optional(conn)
    .await
}

/// What the portfolio report aggregates of a plan, column by column: its
/// indicators (code, unit, baseline, target) and its target groups
/// (population, estimated size).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// Indicator codes.
    pub codes: Vec<String>,
    /// Their units.
    pub units: Vec<String>,
    /// Their baselines.
    pub baselines: Vec<Option<f64>>,
    /// Their targets.
    pub targets: Vec<Option<f64>>,
    /// Target populations, without prefix.
    pub populations: Vec<String>,
    /// Their estimated sizes.
    pub sizes: Vec<i64>,
}

/// Writes a plan's facts, indicators and target groups in one statement.
pub async fn insert_facts(conn: &mut PgConnection, plan_id: Uuid, facts: &Facts) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "WITH indicators AS (
              INSERT INTO monitoring.plan_indicator (plan_id, code, unit, baseline, target)
              SELECT $1, * FROM unnest($2::text[], $3::text[], $4::float8[], $5::float8[]))
         INSERT INTO monitoring.plan_target_group (plan_id, population, estimated_size)
         SELECT $1, * FROM unnest($6::text[], $7::int8[])",
        plan_id,
        &facts.codes,
        &facts.units,
        &facts.baselines as _,
        &facts.targets as _,
        &facts.populations,
        &facts.sizes,
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// The plan of `application`, locked for change.
pub async fn lock_by_application(conn: &mut PgConnection, application: &str) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as!(
        Row,
        r#"SELECT id, state AS "state: _", revision, content, create_time, update_time
             FROM monitoring.monitoring_plan WHERE application = $1 FOR UPDATE"#,
        application,
    )
    .fetch_optional(conn)
    .await
}

/// The plan `id`, locked for the change that follows when `lock`;
/// `organization` confines a borrower.
pub async fn find<'c>(
    executor: impl PgExecutor<'c>,
    id: Uuid,
    organization: Option<&[String]>,
    lock: bool,
) -> Result<Option<Row>, sqlx::Error> {
    let lock = if lock { "FOR UPDATE" } else { "" };
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {DOCUMENT} FROM monitoring.monitoring_plan
          WHERE id = $1 AND ($2::text[] IS NULL OR organization_number = ANY($2)) {lock}"
    )))
    .bind(id)
    .bind(organization)
    .try_map(|row| Document::from_row(&row))
    .fetch_optional(executor)
    .await
}

/// What the portfolio report reads of a plan, kept in columns.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlanFacts {
    /// Tagged loans, minor units.
    pub tagged_minor: i64,
    /// The day the plan was activated.
    pub activate_date: Option<NaiveDate>,
    /// The approved amount, minor units.
    pub approved_minor: i64,
    /// The first day the loan is no longer social, once its label is withdrawn.
    pub label_withdrawn_from: Option<NaiveDate>,
}

/// Saves a changed plan: its state (without prefix), the plan as stored,
/// and the facts the portfolio report aggregates; moves the etag.
pub async fn update(
    conn: &mut PgConnection,
    id: Uuid,
    state: String,
    stored: &MonitoringPlan,
    facts: &PlanFacts,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE monitoring.monitoring_plan
            SET state = $2, content = $3, revision = revision + 1, update_time = now(),
                tagged_minor = $4, activate_date = $5, approved_minor = $6, label_withdrawn_from = $7
          WHERE id = $1",
        id,
        state,
        stored.encode_to_vec(),
        facts.tagged_minor,
        facts.activate_date,
        facts.approved_minor,
        facts.label_withdrawn_from,
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Filters of a list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this state.
    pub state: Option<String>,
    /// Only this borrower.
    pub organization_number: Option<Vec<String>>,
    /// Only this application.
    pub application: Option<String>,
    /// Only this category.
    pub category: Option<String>,
    /// Only plans changed at or after.
    pub updated_after: Option<DateTime<Utc>>,
}

/// A page of plans in opening order, one more than `limit`.
pub async fn list(
    pool: &PgPool,
    f: &Filter,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: u32,
) -> Result<Vec<Row>, sqlx::Error> {
    let page = format!(
        "SELECT {DOCUMENT} FROM monitoring.monitoring_plan
          WHERE ($1::text IS NULL OR state = $1) AND ($2::text[] IS NULL OR organization_number = ANY($2))
            AND ($3::text IS NULL OR application = $3) AND ($4::text IS NULL OR category = $4)
            AND ($5::timestamptz IS NULL OR update_time >= $5)
            AND ($6::timestamptz IS NULL OR (create_time, id) > ($6, $7))
          ORDER BY create_time, id LIMIT $8"
    );
    let query = sqlx::query(sqlx::AssertSqlSafe(socialloans_platform::limits::bounded_page(
        &page,
        "create_time, id",
        "octet_length(content)",
    )));
    let query =
        query.bind(&f.state).bind(&f.organization_number).bind(&f.application).bind(&f.category).bind(f.updated_after);
    super::keyset(query, after, limit).try_map(|row| Document::from_row(&row)).fetch_all(pool).await
}

/// Records that the plan `id`'s loans have `outstanding_minor` outstanding
/// from `day` on (the portfolio report reads the latest row on or before its
/// date).
pub async fn record_outstanding(
    conn: &mut PgConnection,
    id: Uuid,
    day: NaiveDate,
    outstanding_minor: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO monitoring.plan_outstanding (plan_id, effective_date, outstanding_minor) VALUES ($1, $2, $3)",
        id,
        day,
        outstanding_minor.max(0),
    )
    .execute(conn)
    .await
    .map(|_| ())
}
