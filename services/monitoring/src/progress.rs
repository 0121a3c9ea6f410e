//! Progress per indicator, by the rule documented on `ProgressStatus`:
//! `progress_ratio = (latest − baseline) / (target − baseline)` (1 = target
//! reached, below 0 = worse than the baseline) against `elapsed_ratio`, the
//! share of the time from the baseline date to the target date gone by.
//! ACHIEVED at ≥ 1; ON_TRACK when at least the elapsed share; BEHIND between
//! 0 and it; WORSENED below 0; NO_DATA without an accepted value.

use chrono::NaiveDate;

use crate::plans::{date, naive};
use socialloans_contracts::monitoring::{
    IndicatorDataPoint, IndicatorProgress, MonitoringPlan, OutcomeReport, OverdueItemKind, PlanProgress, ProgressStatus,
};

/// The status for a progress ratio at an elapsed share of the time.
pub fn status(progress: Option<f64>, elapsed: f64) -> ProgressStatus {
    match progress {
        None => ProgressStatus::NoData,
        Some(p) if p >= 1.0 => ProgressStatus::Achieved,
        Some(p) if p < 0.0 => ProgressStatus::Worsened,
        Some(p) if p >= elapsed => ProgressStatus::OnTrack,
        Some(_) => ProgressStatus::Behind,
    }
}

/// The plan's progress as of `day`, from its accepted reports.
pub fn of_plan(
    plan: &MonitoringPlan,
    accepted: &[(String, OutcomeReport)],
    day: NaiveDate,
    overdue: i32,
) -> PlanProgress {
    let indicators = plan
        .indicators
        .iter()
        .map(|indicator| {
            let mut history: Vec<IndicatorDataPoint> = accepted
                .iter()
                .filter_map(|(name, report)| {
                    let value = report.indicator_values.iter().find(|v| v.indicator_code == indicator.code)?.value?;
                    Some(IndicatorDataPoint { period_end: report.period_end, value, outcome_report: name.clone() })
                })
                .collect();
            history.sort_by_key(|p| p.period_end.map(|d| (d.year, d.month, d.day)));
            let latest = history.last();
            let baseline = indicator.baseline.as_ref();
            let target = indicator.target.as_ref();
            let progress_ratio = match (latest, baseline, target) {
                (Some(l), Some(b), Some(t)) if t.value != b.value => Some((l.value - b.value) / (t.value - b.value)),
                _ => None,
            };
            let elapsed_ratio = match (
                baseline.and_then(|b| b.date.as_ref()).and_then(naive),
                target.and_then(|t| t.date.as_ref()).and_then(naive),
            ) {
                (Some(from), Some(to)) if to > from => {
                    ((day - from).num_days() as f64 / (to - from).num_days() as f64).clamp(0.0, 1.0)
                }
                _ => 1.0,
            };
            IndicatorProgress {
                indicator_code: indicator.code.clone(),
                display_name: indicator.display_name.clone(),
                unit: indicator.unit.clone(),
                direction: indicator.direction,
                level: indicator.level,
                baseline: indicator.baseline.clone(),
                target: indicator.target,
                latest_value: latest.map(|l| l.value),
                latest_period_end: latest.and_then(|l| l.period_end),
                progress_ratio,
                elapsed_ratio,
                status: status(progress_ratio, elapsed_ratio) as i32,
                history,
            }
        })
        .collect();
    let open = socialloans_contracts::monitoring::ConditionState::Open as i32;
    let breached = socialloans_contracts::monitoring::ConditionState::Breached as i32;
    PlanProgress {
        monitoring_plan: plan.name.clone(),
        application: plan.application.clone(),
        as_of: Some(date(day)),
        indicators,
        accepted_report_count: accepted.len() as i32,
        overdue_report_count: overdue,
        open_condition_count: plan.conditions.iter().filter(|c| c.state == open).count() as i32,
        breached_condition_count: plan.conditions.iter().filter(|c| c.state == breached).count() as i32,
    }
}

/// How many of the plan's outcome reports are overdue as of `day`.
pub fn overdue_reports(plan: &MonitoringPlan, day: NaiveDate) -> i32 {
    let report = OverdueItemKind::OutcomeReport as i32;
    crate::overdue::of_plan(plan, day).iter().filter(|i| i.kind == report).count() as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_follows_the_documented_rule() {
        assert_eq!(status(None, 0.5), ProgressStatus::NoData);
        assert_eq!(status(Some(1.2), 0.5), ProgressStatus::Achieved);
        assert_eq!(status(Some(0.6), 0.5), ProgressStatus::OnTrack);
        assert_eq!(status(Some(0.3), 0.5), ProgressStatus::Behind);
        assert_eq!(status(Some(-0.1), 0.5), ProgressStatus::Worsened);
    }

    #[test]
    fn only_reports_past_their_due_date_count_as_overdue_reports_not_conditions() {
        use socialloans_contracts::common::Date;
        use socialloans_contracts::monitoring::{Condition, ConditionState, ReportingPeriod, ReportingPeriodState};
        let due = |year, month, day| Some(Date { year, month, day });
        let period =
            |due_date| ReportingPeriod { due_date, state: ReportingPeriodState::Due as i32, ..Default::default() };
        let plan = MonitoringPlan {
            reporting_periods: vec![period(due(2027, 3, 31)), period(due(2028, 3, 31))],
            conditions: vec![Condition {
                due_date: due(2027, 1, 31),
                state: ConditionState::Open as i32,
                ..Default::default()
            }],
            ..Default::default()
        };
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(overdue_reports(&plan, day(2027, 3, 31)), 0);
        assert_eq!(overdue_reports(&plan, day(2027, 4, 1)), 1);
        assert_eq!(overdue_reports(&plan, day(2028, 4, 1)), 2);
    }
}
