//! Outcome reports as stored: the report's row, its submitted versions, and
//! the fact rows an accepted report leaves for the portfolio report.

use chrono::{DateTime, NaiveDate, Utc};
use prost::Message;
use socialloans_contracts::common::FieldComment;
use socialloans_contracts::monitoring::{OutcomeReport, OutcomeReportVersion};
use socialloans_platform::{limits, stored::Document};

use super::DOCUMENT;
use crate::columns::StoredReportState;
use sqlx::{FromRow, PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

/// A stored report: the columns every document table has, and beside them
/// what its document does not say. The plan: a report's name is not kept in
/// its document. The count of submitted versions: the document keeps the
/// count it was read at, one behind once a submission is saved. The
/// borrower: a draft's document names none until it is first saved.
#[derive(Debug, Clone, FromRow)]
pub struct Row {
    /// Id, state, revision, the encoded OutcomeReport, and its times.
    #[sqlx(flatten)]
    pub document: Document<StoredReportState>,
    /// The plan.
    pub plan_id: Uuid,
    /// Submitted versions so far.
    pub version: i32,
    /// The borrower.
    pub organization_number: String,
}

/// What a [`Row`] keeps beside its document.
const BESIDE: &str = "plan_id, version, organization_number";

/// Inserts a draft of the plan `plan_id`, for the period ending on
/// `period_end`, of the report's borrower. A second report for the same
/// period fails with a unique violation (`23505`).
pub async fn insert(
    conn: &mut PgConnection,
    plan_id: Uuid,
    period_end: NaiveDate,
    report: &OutcomeReport,
) -> Result<Row, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO monitoring.outcome_report (id, plan_id, period_end, state, organization_number, content)
         VALUES ($1, $2, $3, 'DRAFT', $4, $5) RETURNING {DOCUMENT}, {BESIDE}"
    )))
    .bind(Uuid::now_v7())
    .bind(plan_id)
    .bind(period_end)
    .bind(&report.organization_number)
    .bind(report.encode_to_vec())
    .fetch_one(conn)
    .await
}

/// The report `id` of the plan `plan_id`, locked for the change that
/// follows when `lock`; `org` confines a borrower to its organisations.
pub async fn find<'c>(
    executor: impl PgExecutor<'c>,
    (plan_id, id): (Uuid, Uuid),
    org: Option<&[String]>,
    lock: bool,
) -> Result<Option<Row>, sqlx::Error> {
    let lock = if lock { "FOR UPDATE" } else { "" };
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DOCUMENT}, {BESIDE} FROM monitoring.outcome_report
          WHERE id = $1 AND plan_id = $2 AND ($3::text[] IS NULL OR organization_number = ANY($3)) {lock}"
    )))
    .bind(id)
    .bind(plan_id)
    .bind(org)
    .fetch_optional(executor)
    .await
}

/// Whether `subject` drafted, edited or submitted report `name` (any version):
/// such a person never reviews it (four eyes).
pub async fn authored_by(conn: &mut PgConnection, name: &str, subject: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM monitoring.audit_entry
                           WHERE resource = $1 AND actor_subject = $2
                             AND action IN ('CreateOutcomeReport', 'UpdateOutcomeReport', 'SubmitOutcomeReport')) AS "exists!""#,
        name,
        subject,
    )
    .fetch_one(conn)
    .await
}

/// Saves a changed report: its state (without prefix), version count and
/// the report as stored; moves the etag. The saved row.
pub async fn update(
    conn: &mut PgConnection,
    id: Uuid,
    state: String,
    version: i32,
    stored: &OutcomeReport,
) -> Result<Row, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE monitoring.outcome_report SET state = $2, version = $3, content = $4, revision = revision + 1, update_time = now()
          WHERE id = $1 RETURNING {DOCUMENT}, {BESIDE}"
    )))
    .bind(id)
    .bind(state)
    .bind(version)
    .bind(stored.encode_to_vec())
    .fetch_one(conn)
    .await
}

/// Keeps a submitted version.
pub async fn keep_version(
    conn: &mut PgConnection,
    id: Uuid,
    version: i32,
    report: &OutcomeReport,
    by: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO monitoring.outcome_report_version (report_id, version, content, submitted_by) VALUES ($1, $2, $3, $4)",
        id,
        version,
        report.encode_to_vec(),
        by,
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Records the review result of a version (a report state without prefix),
/// with the reviewer's comments.
pub async fn review_version(
    conn: &mut PgConnection,
    id: Uuid,
    version: i32,
    result: String,
    comments: &[FieldComment],
) -> Result<(), sqlx::Error> {
    let comments = OutcomeReportVersion { review_comments: comments.to_vec(), ..Default::default() };
    sqlx::query!(
        "UPDATE monitoring.outcome_report_version SET review_result = $3, review_comments = $4
          WHERE report_id = $1 AND version = $2",
        id,
        version,
        result,
        comments.encode_to_vec(),
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// A stored version.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VersionRow {
    /// 1, 2, …
    pub version: i32,
    /// The encoded OutcomeReport as submitted.
    pub content: Vec<u8>,
    /// The submitter's subject.
    pub submitted_by: String,
    /// When.
    pub submit_time: DateTime<Utc>,
    /// `ACCEPTED`, `RETURNED`, or empty while waiting.
    pub review_result: String,
    /// An encoded OutcomeReportVersion with the review comments.
    pub review_comments: Vec<u8>,
}

/// A page of a report's versions after `after`, one more than `limit`.
pub async fn versions(pool: &PgPool, id: Uuid, after: i32, limit: u32) -> Result<Vec<VersionRow>, sqlx::Error> {
    let page = "SELECT version, content, submitted_by, submit_time, review_result, review_comments
                  FROM monitoring.outcome_report_version WHERE report_id = $1 AND version > $2
                 ORDER BY version LIMIT $3";
    sqlx::query_as(sqlx::AssertSqlSafe(limits::bounded_page(page, "version", "octet_length(content)")))
        .bind(id)
        .bind(after)
        .bind(i64::from(limit) + 1)
        .fetch_all(pool)
        .await
}

/// Filters of [`list`].
#[derive(Debug, Clone, Default)]
pub struct ReportFilter<'a> {
    /// Only this plan's reports.
    pub plan: Option<Uuid>,
    /// Only this borrower's.
    pub organization: Option<&'a [String]>,
    /// Only reports in this state.
    pub state: Option<String>,
    /// Only reports changed at or after.
    pub updated_after: Option<DateTime<Utc>>,
}

/// A page of reports of one plan (or of all plans, or of one borrower's),
/// by period then id, one more than `limit`.
pub async fn list(
    pool: &PgPool,
    filter: &ReportFilter<'_>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: u32,
) -> Result<Vec<Row>, sqlx::Error> {
    let page = format!(
        "SELECT {DOCUMENT}, {BESIDE} FROM monitoring.outcome_report
          WHERE ($1::uuid IS NULL OR plan_id = $1) AND ($2::text[] IS NULL OR organization_number = ANY($2))
            AND ($3::text IS NULL OR state = $3) AND ($4::timestamptz IS NULL OR update_time >= $4)
            AND ($5::timestamptz IS NULL OR (create_time, id) > ($5, $6))
          ORDER BY create_time, id LIMIT $7"
    );
    let query =
        sqlx::query(sqlx::AssertSqlSafe(limits::bounded_page(&page, "create_time, id", "octet_length(content)")));
    let query = query.bind(filter.plan).bind(filter.organization).bind(&filter.state).bind(filter.updated_after);
    super::keyset(query, after, limit).try_map(|row| Row::from_row(&row)).fetch_all(pool).await
}

/// Replaces the rows the portfolio report aggregates for report `id`,
/// accepted on `accept_date`: its values (indicator code and value, side by
/// side) and its reach (population and people, side by side), each with the
/// report's plan and period: one statement clears them, one writes them.
pub async fn replace_facts(
    conn: &mut PgConnection,
    id: Uuid,
    accept_date: NaiveDate,
    codes: &[String],
    values: &[f64],
    populations: &[String],
    people: &[i64],
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "WITH measured AS (DELETE FROM monitoring.measurement WHERE report_id = $1)
         DELETE FROM monitoring.reach WHERE report_id = $1",
        id,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "WITH report AS (SELECT id, plan_id, period_end FROM monitoring.outcome_report WHERE id = $1),
              measured AS (
                  INSERT INTO monitoring.measurement (report_id, plan_id, period_end, accept_date, indicator_code, value)
                  SELECT report.*, $2, v.* FROM report, unnest($3::text[], $4::float8[]) AS v)
         INSERT INTO monitoring.reach (report_id, plan_id, period_end, accept_date, population, people)
         SELECT report.*, $2, g.* FROM report, unnest($5::text[], $6::int8[]) AS g",
        id,
        accept_date,
        codes,
        values,
        populations,
        people,
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// The latest accepted version of each report of a plan for periods ending
/// on or before `day`: each report's id and the version's encoded
/// OutcomeReport.
pub async fn accepted(pool: &PgPool, plan_id: Uuid, day: NaiveDate) -> Result<Vec<(Uuid, Vec<u8>)>, sqlx::Error> {
    let rows = sqlx::query!(
        "SELECT DISTINCT ON (r.id) r.id, v.content
           FROM monitoring.outcome_report r
           JOIN monitoring.outcome_report_version v ON v.report_id = r.id AND v.review_result = 'ACCEPTED'
          WHERE r.plan_id = $1 AND r.period_end <= $2
          ORDER BY r.id, v.version DESC",
        plan_id,
        day,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|row| (row.id, row.content)).collect())
}
