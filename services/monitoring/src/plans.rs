//! Monitoring plans: one per approved application, opened from the approval,
//! activated when core banking tags a loan, closed with the application.

use chrono::{DateTime, Datelike, Utc};
use prost::Message;
use socialloans_contracts::monitoring::{
    Category, Date, MonitoringPlan, MonitoringPlanState, ReportingPeriod, ReportingPeriodState,
};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::error::Error;

/// A stored plan.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Row {
    /// Primary key.
    pub id: Uuid,
    /// The application's resource name.
    pub application: String,
    /// `PENDING`, `ACTIVE` or `CLOSED`.
    pub state: String,
    /// The etag's source.
    pub revision: i64,
    /// The borrower.
    pub organization_number: String,
    /// The category, without prefix.
    pub category: String,
    /// The encoded MonitoringPlan.
    pub content: Vec<u8>,
    /// Opened.
    pub create_time: DateTime<Utc>,
    /// Last changed.
    pub update_time: DateTime<Utc>,
}

/// `MonitoringPlanState::Active` ↔ `ACTIVE`.
pub fn state_name(state: MonitoringPlanState) -> String {
    state.as_str_name().trim_start_matches("MONITORING_PLAN_STATE_").to_owned()
}

/// `Category::…` without prefix.
pub fn category_name(category: i32) -> String {
    Category::try_from(category).unwrap_or_default().as_str_name().trim_start_matches("CATEGORY_").to_owned()
}

impl Row {
    /// The state.
    pub fn state(&self) -> MonitoringPlanState {
        MonitoringPlanState::from_str_name(&format!("MONITORING_PLAN_STATE_{}", self.state)).unwrap_or_default()
    }

    /// The API view.
    pub fn view(&self) -> Result<MonitoringPlan, Error> {
        let mut plan = MonitoringPlan::decode(self.content.as_slice())
            .map_err(|e| Error::Database(sqlx::Error::Decode(Box::new(e))))?;
        plan.name = format!("monitoringPlans/{}", self.id);
        plan.application = self.application.clone();
        plan.state = self.state() as i32;
        plan.etag = format!("\"{}\"", self.revision);
        plan.organization_number = self.organization_number.clone();
        plan.create_time = Some(socialloans_platform::timestamp(self.create_time));
        plan.update_time = Some(socialloans_platform::timestamp(self.update_time));
        Ok(plan)
    }
}

const COLUMNS: &str =
    "id, application, state, revision, organization_number, category, content, create_time, update_time";

/// Opens a plan unless the application has one; returns it if new.
pub async fn open(conn: &mut PgConnection, plan: &MonitoringPlan) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO monitoring.monitoring_plan (id, application, state, organization_number, category, content)
         VALUES ($1, $2, 'PENDING', $3, $4, $5)
         ON CONFLICT (application) DO NOTHING
         RETURNING {COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(&plan.application)
    .bind(&plan.organization_number)
    .bind(category_name(plan.category))
    .bind(plan.encode_to_vec())
    .fetch_optional(conn)
    .await
}

/// The plan of `application`, locked for change.
pub async fn lock_by_application(conn: &mut PgConnection, application: &str) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM monitoring.monitoring_plan WHERE application = $1 FOR UPDATE"
    )))
    .bind(application)
    .fetch_optional(conn)
    .await
}

/// A plan by id, locked for change; `organization` confines a borrower.
pub async fn lock(conn: &mut PgConnection, id: Uuid, organization: Option<&str>) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM monitoring.monitoring_plan
          WHERE id = $1 AND ($2::text IS NULL OR organization_number = $2) FOR UPDATE"
    )))
    .bind(id)
    .bind(organization)
    .fetch_optional(conn)
    .await
}

/// Saves a changed plan.
pub async fn save(
    conn: &mut PgConnection,
    row: &Row,
    plan: &MonitoringPlan,
    state: MonitoringPlanState,
) -> Result<(), sqlx::Error> {
    let mut stored = plan.clone();
    stored.name.clear();
    stored.etag.clear();
    sqlx::query(
        "UPDATE monitoring.monitoring_plan SET state = $2, content = $3, revision = revision + 1, update_time = now()
          WHERE id = $1",
    )
    .bind(row.id)
    .bind(state_name(state))
    .bind(stored.encode_to_vec())
    .execute(conn)
    .await
    .map(|_| ())
}

/// One plan; `organization` confines a borrower.
pub async fn get(pool: &PgPool, id: Uuid, organization: Option<&str>) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM monitoring.monitoring_plan WHERE id = $1 AND ($2::text IS NULL OR organization_number = $2)"
    )))
    .bind(id)
    .bind(organization)
    .fetch_optional(pool)
    .await
}

/// Filters of a list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this state.
    pub state: Option<String>,
    /// Only this borrower.
    pub organization_number: Option<String>,
    /// Only this application.
    pub application: Option<String>,
    /// Only this category.
    pub category: Option<String>,
}

/// A page of plans in opening order, one more than `limit`.
pub async fn list(
    pool: &PgPool,
    f: &Filter,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: u32,
) -> Result<Vec<Row>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM monitoring.monitoring_plan
          WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR organization_number = $2)
            AND ($3::text IS NULL OR application = $3) AND ($4::text IS NULL OR category = $4)
            AND ($5::timestamptz IS NULL OR (create_time, id) > ($5, $6))
          ORDER BY create_time, id LIMIT $7"
    )))
    .bind(&f.state)
    .bind(&f.organization_number)
    .bind(&f.application)
    .bind(&f.category)
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(i64::from(limit) + 1)
    .fetch_all(pool)
    .await
}

fn date(d: chrono::NaiveDate) -> Date {
    Date { year: d.year(), month: d.month() as i32, day: d.day() as i32 }
}

/// Yearly reporting periods from the year of `start` through `last_year`,
/// each due `due_days` after it ends.
pub fn annual_periods(start: chrono::NaiveDate, last_year: i32, due_days: i64) -> Vec<ReportingPeriod> {
    (start.year()..=last_year.max(start.year()))
        .filter_map(|year| {
            let first = chrono::NaiveDate::from_ymd_opt(year, 1, 1)?;
            let end = chrono::NaiveDate::from_ymd_opt(year, 12, 31)?;
            Some(ReportingPeriod {
                start_date: Some(date(first.max(start))),
                end_date: Some(date(end)),
                due_date: Some(date(end + chrono::Duration::days(due_days))),
                state: ReportingPeriodState::Upcoming as i32,
                outcome_report: String::new(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annual_periods_run_calendar_years_and_fall_due_after_the_year_ends() {
        let start = chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        let periods = annual_periods(start, 2028, 90);
        assert_eq!(periods.len(), 3);
        assert_eq!(periods[0].start_date, Some(Date { year: 2026, month: 11, day: 27 }));
        assert_eq!(periods[0].due_date, Some(Date { year: 2027, month: 3, day: 31 }));
        assert_eq!(periods[2].end_date, Some(Date { year: 2028, month: 12, day: 31 }));
    }
}
