//! Overdue items: reports not submitted by their due date and open conditions
//! past theirs, as of a given day. A report is overdue from the day after its
//! due date — on the due date itself it is still on time.

use chrono::NaiveDate;
use socialloans_contracts::monitoring::{
    ConditionState, Date, MonitoringPlan, OverdueItem, OverdueItemKind, ReportingPeriodState,
};

fn naive(d: &Date) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(d.year, d.month as u32, d.day as u32)
}

/// The overdue items of `plan` as of `day`.
pub fn of_plan(plan: &MonitoringPlan, day: NaiveDate) -> Vec<OverdueItem> {
    let mut items = Vec::new();
    let item = |kind: OverdueItemKind, item: String, period_end: Option<Date>, due: &Date, description: String| {
        let days = naive(due).map(|d| (day - d).num_days()).unwrap_or_default();
        OverdueItem {
            kind: kind as i32,
            monitoring_plan: plan.name.clone(),
            application: plan.application.clone(),
            organization_number: plan.organization_number.clone(),
            borrower_display_name: plan.borrower_display_name.clone(),
            item,
            period_end,
            due_date: Some(*due),
            days_overdue: days as i32,
            description,
        }
    };
    for period in &plan.reporting_periods {
        let done =
            [ReportingPeriodState::Submitted as i32, ReportingPeriodState::Accepted as i32].contains(&period.state);
        if let Some(due) = &period.due_date
            && !done
            && naive(due).is_some_and(|d| d < day)
        {
            let end = period.end_date.map(|e| format!("{}-{:02}-{:02}", e.year, e.month, e.day)).unwrap_or_default();
            items.push(item(
                OverdueItemKind::OutcomeReport,
                period.outcome_report.clone(),
                period.end_date,
                due,
                format!("the outcome report for the period ending {end} was due"),
            ));
        }
    }
    for condition in &plan.conditions {
        if let Some(due) = &condition.due_date
            && condition.state == ConditionState::Open as i32
            && naive(due).is_some_and(|d| d < day)
        {
            items.push(item(
                OverdueItemKind::Condition,
                condition.name.clone(),
                None,
                due,
                condition.description.clone(),
            ));
        }
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use socialloans_contracts::monitoring::ReportingPeriod;

    #[test]
    fn a_report_is_overdue_the_day_after_its_due_date_and_not_before() {
        let due = Date { year: 2027, month: 3, day: 31 };
        let plan = MonitoringPlan {
            reporting_periods: vec![ReportingPeriod {
                end_date: Some(Date { year: 2026, month: 12, day: 31 }),
                due_date: Some(due),
                state: ReportingPeriodState::Upcoming as i32,
                ..Default::default()
            }],
            ..Default::default()
        };
        let on = |y, m, d| of_plan(&plan, NaiveDate::from_ymd_opt(y, m, d).unwrap());
        assert!(on(2027, 3, 31).is_empty());
        assert_eq!(on(2027, 4, 1)[0].days_overdue, 1);
        let mut submitted = plan.clone();
        submitted.reporting_periods[0].state = ReportingPeriodState::Submitted as i32;
        assert!(of_plan(&submitted, NaiveDate::from_ymd_opt(2027, 5, 1).unwrap()).is_empty());
    }
}
