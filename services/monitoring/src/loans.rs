//! The loans behind a plan, as core banking reports them on the applications
//! feed: what is outstanding from which day (the portfolio report's figure
//! for investors), and the end of the plan once every loan is repaid. When
//! the last live loan matures or is redeemed, the reporting period holding
//! that day becomes the last one (the later, upcoming ones are dropped), and
//! the plan closes when that period's report is accepted: the final report.

use chrono::NaiveDate;
use socialloans_contracts::applications::{self as ap, LoanChange};
use socialloans_contracts::monitoring::{MonitoringPlan, MonitoringPlanState, ReportingPeriodState};
use socialloans_platform::events::HandlerError;
use sqlx::PgConnection;

use crate::{
    plans::{self, PlanRow},
    store,
};

/// Why a plan closes after its final report.
pub const REPAID: &str = "every loan repaid and the final report accepted";

/// Minor units of an optional amount, never negative.
fn minor(money: Option<&socialloans_contracts::common::Money>) -> i64 {
    money.map_or(0, |m| m.minor_units.max(0))
}

/// Records what a newly tagged loan leaves outstanding, from its disbursement.
pub async fn tagged(
    conn: &mut PgConnection,
    row: &store::plans::Row,
    plan: &mut MonitoringPlan,
    tagged: &ap::LoanTagged,
) -> Result<(), sqlx::Error> {
    let day = tagged.loan.as_ref().and_then(|l| l.disbursement_date.as_ref()).and_then(plans::naive);
    plan.outstanding_loan_amount.clone_from(&tagged.total_outstanding_principal);
    // A loan tagged after the last was repaid reopens the plan's end: the
    // periods run again through its maturity.
    if plan.repaid_date.take().is_some()
        && let Some(until) = tagged.loan.as_ref().and_then(|l| l.maturity_date.as_ref()).and_then(plans::naive)
    {
        plans::extend_periods(plan, until);
    }
    let outstanding = minor(tagged.total_outstanding_principal.as_ref());
    store::plans::record_outstanding(conn, row.id, day.unwrap_or_else(crate::overdue::today), outstanding).await
}

/// Applies a loan's change: the outstanding amount from the change's day,
/// and the plan's last period once nothing is outstanding.
pub async fn updated(conn: &mut PgConnection, updated: ap::LoanUpdated) -> Result<(), HandlerError> {
    socialloans_platform::events::outbox::follow_thread(conn, &updated.application).await?;
    let Some(row) = store::plans::lock_by_application(conn, &updated.application).await? else {
        return Err(HandlerError::Rejected(format!("no monitoring plan for {}", updated.application)));
    };
    let mut plan = row.view().map_err(|e| HandlerError::Rejected(e.to_string()))?;
    let day = updated
        .loan
        .as_ref()
        .and_then(|l| l.state_date.as_ref())
        .and_then(plans::naive)
        .unwrap_or_else(crate::overdue::today);
    let outstanding = minor(updated.total_outstanding_principal.as_ref());
    plan.outstanding_loan_amount = updated.total_outstanding_principal.clone();
    store::plans::record_outstanding(conn, row.id, day, outstanding).await?;
    let repaid = matches!(LoanChange::try_from(updated.change), Ok(LoanChange::Matured | LoanChange::Redeemed));
    if !(repaid && outstanding == 0 && row.state() == MonitoringPlanState::Active && plan.repaid_date.is_none()) {
        plans::save(conn, &row, &plan, row.state()).await?;
        return Ok(());
    }
    plan.repaid_date = Some(plans::date(day));
    let dropped = last_period_holds(&mut plan, day);
    let name = format!("monitoringPlans/{}", row.id);
    let state = row.state().as_str_name();
    let comment = format!("every loan repaid on {day}; {dropped} later reporting periods dropped");
    store::audit::record(conn, &name, state, state, &comment).await?;
    if all_accepted(&plan) {
        plans::close(conn, &row, &mut plan, REPAID).await?;
    } else {
        plans::save(conn, &row, &plan, row.state()).await?;
    }
    Ok(())
}

/// Drops the upcoming periods that start after `day` (the period holding it
/// is the last one owed); how many.
pub fn last_period_holds(plan: &mut MonitoringPlan, day: NaiveDate) -> usize {
    let before = plan.reporting_periods.len();
    let upcoming = ReportingPeriodState::Upcoming as i32;
    plan.reporting_periods.retain(|p| {
        let starts_after = p.start_date.as_ref().and_then(plans::naive).is_some_and(|start| start > day);
        !(starts_after && p.state == upcoming)
    });
    before - plan.reporting_periods.len()
}

/// Whether every period the plan still owes has an accepted report.
fn all_accepted(plan: &MonitoringPlan) -> bool {
    plan.reporting_periods.iter().all(|p| p.state == ReportingPeriodState::Accepted as i32)
}

/// After a report is accepted: closes a repaid plan whose every period is
/// now accepted (the final report).
pub async fn close_if_final(
    conn: &mut PgConnection,
    row: &store::plans::Row,
    plan: &mut MonitoringPlan,
) -> Result<(), sqlx::Error> {
    if plan.repaid_date.is_some() && row.state() == MonitoringPlanState::Active && all_accepted(plan) {
        plans::close(conn, row, plan, REPAID).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use socialloans_contracts::monitoring::ReportingPeriod;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn period(start: NaiveDate, end: NaiveDate, state: ReportingPeriodState) -> ReportingPeriod {
        ReportingPeriod {
            start_date: Some(plans::date(start)),
            end_date: Some(plans::date(end)),
            state: state as i32,
            ..Default::default()
        }
    }

    #[test]
    fn repayment_makes_the_period_holding_it_the_last_and_keeps_every_reported_one() {
        use ReportingPeriodState::*;
        let mut plan = MonitoringPlan {
            reporting_periods: vec![
                period(day(2026, 1, 1), day(2026, 12, 31), Accepted),
                period(day(2027, 1, 1), day(2027, 12, 31), Upcoming),
                period(day(2028, 1, 1), day(2028, 12, 31), Upcoming),
                period(day(2029, 1, 1), day(2029, 12, 31), Upcoming),
            ],
            ..Default::default()
        };
        assert_eq!(last_period_holds(&mut plan, day(2027, 6, 30)), 2);
        assert_eq!(plan.reporting_periods.len(), 2);
        assert!(!all_accepted(&plan));
        plan.reporting_periods[1].state = Accepted as i32;
        assert!(all_accepted(&plan));
        // A repayment reported late drops nothing already reported on.
        let mut late = MonitoringPlan {
            reporting_periods: vec![
                period(day(2026, 1, 1), day(2026, 12, 31), Accepted),
                period(day(2027, 1, 1), day(2027, 12, 31), Submitted),
            ],
            ..Default::default()
        };
        assert_eq!(last_period_holds(&mut late, day(2026, 3, 1)), 0);
    }
}
