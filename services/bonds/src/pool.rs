//! The eligible pool, followed from the feeds: the applications feed's
//! approvals (the projects), loan tags and loan changes, and label
//! withdrawals; the monitoring feed's accepted outcome reports. Each event
//! is recorded in the transaction that moves the feed's checkpoint, as a
//! movement of a loan's eligible amount with the date it takes effect, and
//! then the headroom is checked against the margin ([`crate::watch`]).

use chrono::NaiveDate;
use prost::Name;
use socialloans_contracts::common::{Category, Date, TargetPopulation};
use socialloans_contracts::{applications as ap, monitoring as mo};
use socialloans_platform::events::{Event, Handler, HandlerError, payload};
use sqlx::{PgConnection, Row};

use crate::{history, views::day, watch};

/// The applications feed method.
pub const APPLICATIONS_FEED: &str = "/socialloans.applications.v1.ApplicationsService/StreamEvents";
/// The monitoring feed method.
pub const MONITORING_FEED: &str = "/socialloans.monitoring.v1.MonitoringService/StreamEvents";

/// The event types read from the feed of `peer`.
pub fn types(peer: &str) -> Vec<String> {
    match peer {
        "applications" => vec![
            ap::ApplicationApproved::full_name(),
            ap::ApplicationDecisionAmended::full_name(),
            ap::LoanTagged::full_name(),
            ap::LoanUpdated::full_name(),
            ap::ApplicationLabelWithdrawn::full_name(),
        ],
        _ => vec![mo::OutcomeReportAccepted::full_name()],
    }
}

fn required_day(date: Option<&Date>, what: &str) -> Result<NaiveDate, HandlerError> {
    day(date).ok_or_else(|| HandlerError::Rejected(format!("{what} is not a date")))
}

/// Follows the feeds into the pool.
#[derive(Debug, Clone)]
pub struct Pool {
    /// BOND_HEADROOM_MARGIN_PERCENT.
    pub margin_percent: u32,
}

/// Where an event comes from and which one it is: `applications/42`.
fn cause(event: &Event) -> String {
    let service = event.r#type.strip_prefix("socialloans.").and_then(|t| t.split('.').next()).unwrap_or("feed");
    format!("{service}/{}", event.position)
}

/// Records `application`'s project (what its loans are reported by).
async fn project(conn: &mut PgConnection, application: &ap::Application) -> Result<(), sqlx::Error> {
    let borrower = application.borrower.clone().unwrap_or_default();
    let investment = application.investment.clone().unwrap_or_default();
    let category = Category::try_from(application.category).unwrap_or_default().as_str_name();
    let mut populations: Vec<String> = application
        .target_groups
        .iter()
        .map(|g| TargetPopulation::try_from(g.population).unwrap_or_default().as_str_name().to_owned())
        .collect();
    populations.sort();
    populations.dedup();
    sqlx::query(
        "INSERT INTO bonds.project (application, organization_number, borrower_name, title, category,
                                    municipality, municipality_code, populations, project_cost)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (application) DO UPDATE SET
           organization_number = EXCLUDED.organization_number, borrower_name = EXCLUDED.borrower_name,
           title = EXCLUDED.title, category = EXCLUDED.category, municipality = EXCLUDED.municipality,
           municipality_code = EXCLUDED.municipality_code, populations = EXCLUDED.populations,
           project_cost = EXCLUDED.project_cost, update_time = clock_timestamp()",
    )
    .bind(&application.name)
    .bind(&borrower.organization_number)
    .bind(&borrower.display_name)
    .bind(&application.title)
    .bind(category)
    .bind(&investment.municipality)
    .bind(&investment.municipality_code)
    .bind(&populations)
    .bind(investment.total_amount.as_ref().map_or(0, |m| m.minor_units.max(0)))
    .execute(conn)
    .await?;
    Ok(())
}

/// What the register counts of `loan_id` now (all movements, whatever
/// their date), and whether its label was withdrawn.
async fn counted(conn: &mut PgConnection, loan_id: &str) -> Result<Option<(i64, bool)>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT (SELECT COALESCE(SUM(delta), 0) FROM bonds.pool_movement m WHERE m.loan_id = l.loan_id)::bigint AS counted,
                EXISTS (SELECT 1 FROM bonds.pool_movement m WHERE m.loan_id = l.loan_id AND m.reason = 'LABEL_WITHDRAWN')
                    AS withdrawn
         FROM bonds.loan l WHERE l.loan_id = $1",
    )
    .bind(loan_id)
    .fetch_optional(conn)
    .await?;
    row.map(|r| Ok((r.try_get("counted")?, r.try_get("withdrawn")?))).transpose()
}

/// Appends a movement of `loan_id`'s eligible amount.
async fn move_loan(
    conn: &mut PgConnection,
    loan_id: &str,
    effective: NaiveDate,
    delta: i64,
    reason: &str,
    cause: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO bonds.pool_movement (loan_id, effective_date, delta, reason, cause) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(loan_id)
    .bind(effective)
    .bind(delta)
    .bind(reason)
    .bind(cause)
    .execute(conn)
    .await?;
    Ok(())
}

/// A loan tagged: it enters the pool with its principal on its
/// disbursement date.
async fn tagged(conn: &mut PgConnection, e: &ap::LoanTagged, cause: &str) -> Result<bool, HandlerError> {
    let loan = e.loan.clone().ok_or_else(|| HandlerError::Rejected("LoanTagged without its loan".into()))?;
    let disbursed = required_day(loan.disbursement_date.as_ref(), "disbursement_date")?;
    let matures = required_day(loan.maturity_date.as_ref(), "maturity_date")?;
    let principal = loan.principal.as_ref().map_or(0, |m| m.minor_units);
    if loan.loan_id.is_empty() || principal <= 0 {
        return Err(HandlerError::Rejected("LoanTagged without a loan id or a principal".into()));
    }
    let inserted = sqlx::query(
        "INSERT INTO bonds.loan (loan_id, application, disbursement_date, maturity_date, principal, refinances_loan_id)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (loan_id) DO NOTHING",
    )
    .bind(&loan.loan_id)
    .bind(&e.application)
    .bind(disbursed)
    .bind(matures)
    .bind(principal)
    .bind(&loan.refinances_loan_id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(false);
    }
    move_loan(conn, &loan.loan_id, disbursed, principal, "TAGGED", cause).await?;
    Ok(true)
}

/// A loan changed: its eligible amount follows its outstanding principal
/// from the date core banking reported; a cancelled tag never counted, so
/// it leaves from its disbursement date. After a label withdrawal a loan
/// no longer counts, whatever it reports.
async fn updated(conn: &mut PgConnection, e: &ap::LoanUpdated, cause: &str) -> Result<bool, HandlerError> {
    let loan = e.loan.clone().ok_or_else(|| HandlerError::Rejected("LoanUpdated without its loan".into()))?;
    let change = ap::LoanChange::try_from(e.change).unwrap_or_default();
    let reason = match change {
        ap::LoanChange::Amortised => "AMORTISED",
        ap::LoanChange::Matured => "MATURED",
        ap::LoanChange::Redeemed => "REDEEMED",
        ap::LoanChange::Refinanced => "REFINANCED",
        ap::LoanChange::Cancelled => "CANCELLED",
        ap::LoanChange::CancellationRequested | ap::LoanChange::Unspecified => return Ok(false),
    };
    let Some((counted, withdrawn)) = counted(conn, &loan.loan_id).await? else {
        return Err(HandlerError::Rejected(format!("loan {} was never tagged here", loan.loan_id)));
    };
    let target =
        if change == ap::LoanChange::Cancelled { 0 } else { loan.outstanding_principal.map_or(0, |m| m.minor_units) };
    if withdrawn || target == counted {
        return Ok(false);
    }
    let effective = if change == ap::LoanChange::Cancelled {
        required_day(loan.disbursement_date.as_ref(), "disbursement_date")?
    } else {
        day(loan.state_date.as_ref())
            .or_else(|| {
                e.loan
                    .as_ref()
                    .and_then(|l| l.update_time)
                    .and_then(|t| socialloans_platform::limits::time(&t))
                    .map(socialloans_platform::stockholm_date)
            })
            .ok_or_else(|| HandlerError::Rejected("LoanUpdated without a state_date".into()))?
    };
    move_loan(conn, &loan.loan_id, effective, target - counted, reason, cause).await?;
    Ok(true)
}

/// A label withdrawn: every loan of the application leaves the pool from
/// the withdrawal's effective date.
async fn withdrawn(
    conn: &mut PgConnection,
    e: &ap::ApplicationLabelWithdrawn,
    cause: &str,
) -> Result<bool, HandlerError> {
    let effective =
        required_day(e.label_withdrawal.as_ref().and_then(|w| w.effective_date.as_ref()), "effective_date")?;
    let loans = sqlx::query(
        "SELECT l.loan_id, (SELECT COALESCE(SUM(delta), 0) FROM bonds.pool_movement m WHERE m.loan_id = l.loan_id)::bigint AS counted
         FROM bonds.loan l WHERE l.application = $1 ORDER BY l.loan_id",
    )
    .bind(&e.application)
    .fetch_all(&mut *conn)
    .await?;
    let mut moved = false;
    for row in &loans {
        let (loan_id, counted): (String, i64) = (row.try_get("loan_id")?, row.try_get("counted")?);
        if counted > 0 {
            move_loan(conn, &loan_id, effective, -counted, "LABEL_WITHDRAWN", cause).await?;
            moved = true;
        }
    }
    Ok(moved)
}

/// An accepted outcome report's values.
async fn accepted(conn: &mut PgConnection, e: &mo::OutcomeReportAccepted, cause: &str) -> Result<(), HandlerError> {
    let period_end = required_day(e.period_end.as_ref(), "period_end")?;
    for value in &e.indicator_values {
        let Some(number) = value.value.filter(|v| v.is_finite()) else { continue };
        sqlx::query(
            "INSERT INTO bonds.accepted_indicator (application, outcome_report, period_end, version, indicator_code, unit, value, cause)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&e.application)
        .bind(&e.outcome_report)
        .bind(period_end)
        .bind(e.version)
        .bind(&value.indicator_code)
        .bind(&value.unit)
        .bind(number)
        .bind(cause)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

impl Handler for Pool {
    async fn handle(&self, conn: &mut PgConnection, event: &Event) -> Result<(), HandlerError> {
        history::lock_for_writing(conn).await?;
        let cause = cause(event);
        let moved = if let Some(e) = payload::<ap::ApplicationApproved>(event)? {
            project(conn, e.application.as_ref().ok_or_else(|| HandlerError::Rejected("no application".into()))?)
                .await?;
            false
        } else if let Some(e) = payload::<ap::ApplicationDecisionAmended>(event)? {
            project(conn, e.application.as_ref().ok_or_else(|| HandlerError::Rejected("no application".into()))?)
                .await?;
            false
        } else if let Some(e) = payload::<ap::LoanTagged>(event)? {
            tagged(conn, &e, &cause).await?
        } else if let Some(e) = payload::<ap::LoanUpdated>(event)? {
            updated(conn, &e, &cause).await?
        } else if let Some(e) = payload::<ap::ApplicationLabelWithdrawn>(event)? {
            withdrawn(conn, &e, &cause).await?
        } else if let Some(e) = payload::<mo::OutcomeReportAccepted>(event)? {
            accepted(conn, &e, &cause).await?;
            false
        } else {
            false
        };
        if moved {
            watch::check(conn, self.margin_percent, &cause).await?;
        }
        Ok(())
    }
}
