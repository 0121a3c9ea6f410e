//! Outcome reports: the borrower's values per indicator for a reporting
//! period, with method, evidence, narrative, loan use and deviations; drafted,
//! submitted, then accepted or returned by a reviewer. Accepted reports are
//! immutable: a correction is a new version.

use std::collections::HashSet;

use chrono::NaiveDate;
use prost::Message;
use socialloans_contracts::common;
use socialloans_contracts::common::{Actor, Date, TargetPopulation};
use socialloans_contracts::monitoring::{
    self as pb, IndicatorValue, MonitoringPlan, MonitoringPlanState, OutcomeReport, OutcomeReportState,
    OutcomeReportVersion,
};
use socialloans_platform::{error::FieldViolation, limits};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    columns::StoredReportState,
    error::Error,
    plans::{self, naive},
    rules,
    store::{
        self,
        reports::{Row, VersionRow},
    },
};

pub mod events;

/// `OutcomeReportState::Draft` ↔ `DRAFT`.
pub fn state_name(state: OutcomeReportState) -> String {
    StoredReportState(state).stored().to_owned()
}

impl Row {
    /// The state.
    pub fn state(&self) -> OutcomeReportState {
        self.document.state.0
    }

    /// `monitoringPlans/{plan}/outcomeReports/{report}`.
    pub fn name(&self) -> String {
        format!("monitoringPlans/{}/outcomeReports/{}", self.plan_id, self.document.id)
    }

    /// The API view.
    pub fn view(&self) -> Result<OutcomeReport, Error> {
        let mut r: OutcomeReport = self.document.decode()?;
        r.name = self.name();
        r.state = self.state() as i32;
        r.etag = self.document.etag();
        r.version = self.version;
        r.organization_number = self.organization_number.clone();
        r.create_time = Some(socialloans_platform::timestamp(self.document.create_time));
        r.update_time = Some(socialloans_platform::timestamp(self.document.update_time));
        Ok(r)
    }
}

/// Most values, reaches, evidence documents and deviations a report lists.
pub const MAX_ITEMS: usize = 100;
/// Largest magnitude of a reported value.
pub const MAX_VALUE: f64 = 1e12;
/// Most people a target group's reach may count.
pub const MAX_PEOPLE: i64 = 100_000_000;

/// Checks a report's content against its plan; every problem named. A list
/// longer than [`MAX_ITEMS`] is refused as a whole, its items unread.
pub fn check(report: &OutcomeReport, plan: &MonitoringPlan, prefix: &str) -> Vec<FieldViolation> {
    let mut v = Vec::new();
    let mut codes = HashSet::new();
    for (i, value) in within(&mut v, prefix, "indicator_values", &report.indicator_values).iter().enumerate() {
        v.extend(check_value(&format!("{prefix}indicator_values[{i}]"), value, plan, &mut codes));
    }
    let mut populations = HashSet::new();
    for (i, reach) in within(&mut v, prefix, "target_group_reach", &report.target_group_reach).iter().enumerate() {
        v.extend(check_reach(&format!("{prefix}target_group_reach[{i}]"), reach, &mut populations));
    }
    v.extend(limits::text(&format!("{prefix}narrative"), &report.narrative, 20_000));
    if let Some(problem) = report.loan_amount_used.as_ref().and_then(|used| loan_use(used, plan)) {
        v.push(FieldViolation::new(format!("{prefix}loan_amount_used"), problem));
    }
    for (i, a) in within(&mut v, prefix, "evidence", &report.evidence).iter().enumerate() {
        v.extend(crate::conditions::check_attachment(&format!("{prefix}evidence[{i}]"), a));
    }
    for (i, d) in within(&mut v, prefix, "deviations", &report.deviations).iter().enumerate() {
        v.extend(check_deviation(&format!("{prefix}deviations[{i}]"), d));
    }
    v
}

/// `items`, or none of them when there are more than [`MAX_ITEMS`]: then
/// the list itself is named in `v`.
fn within<'a, T>(v: &mut Vec<FieldViolation>, prefix: &str, field: &str, items: &'a [T]) -> &'a [T] {
    if items.len() <= MAX_ITEMS {
        return items;
    }
    v.push(FieldViolation::new(format!("{prefix}{field}"), format!("has {} items; at most {MAX_ITEMS}", items.len())));
    &[]
}

/// The problems of the indicator value at `at`: its code reported before
/// (`codes` holds those of the values before it) or not of the plan, a unit
/// other than the plan's, a value not finite or beyond [`MAX_VALUE`], no
/// value and no comment saying why, a measure date off the calendar, and
/// texts too long.
fn check_value<'a>(
    at: &str,
    value: &'a IndicatorValue,
    plan: &MonitoringPlan,
    codes: &mut HashSet<&'a str>,
) -> Vec<FieldViolation> {
    let mut v = Vec::new();
    if !codes.insert(value.indicator_code.as_str()) {
        v.push(FieldViolation::new(format!("{at}.indicator_code"), "is reported twice"));
    }
    match plan.indicators.iter().find(|p| p.code == value.indicator_code) {
        None => v.push(FieldViolation::new(
            format!("{at}.indicator_code"),
            format!("{:?} is not an indicator of this plan", limits_short(&value.indicator_code)),
        )),
        Some(indicator) if value.unit != indicator.unit => v.push(FieldViolation::new(
            format!("{at}.unit"),
            format!("{:?} is not the plan's unit {:?}", limits_short(&value.unit), indicator.unit),
        )),
        Some(_) => {}
    }
    match value.value {
        Some(x) if !x.is_finite() => v.push(FieldViolation::new(format!("{at}.value"), "must be a finite number")),
        Some(x) if x.abs() > MAX_VALUE => {
            v.push(FieldViolation::new(format!("{at}.value"), "is out of range: at most 10^12 in magnitude"))
        }
        None if value.comment.trim().is_empty() => {
            v.push(FieldViolation::new(format!("{at}.comment"), "say why there is no value"))
        }
        _ => {}
    }
    if let Some(d) = &value.measure_date
        && limits::date(d.year, d.month, d.day, limits::YEARS).is_none()
    {
        v.push(FieldViolation::new(format!("{at}.measure_date"), "is not a calendar date between 1900 and 2200"));
    }
    v.extend(limits::text(&format!("{at}.method"), &value.method, 4000));
    v.extend(limits::text(&format!("{at}.source"), &value.source, 200));
    v.extend(limits::text(&format!("{at}.comment"), &value.comment, 4000));
    v
}

/// The problems of the target group reach at `at`: no known population, or
/// one reported before (`populations` holds those before it), people reached
/// outside 0 to [`MAX_PEOPLE`], and a description too long.
fn check_reach(at: &str, reach: &pb::TargetGroupReach, populations: &mut HashSet<i32>) -> Vec<FieldViolation> {
    let mut v = Vec::new();
    let known = TargetPopulation::try_from(reach.population).is_ok_and(|p| p != TargetPopulation::Unspecified);
    if !known {
        v.push(FieldViolation::new(format!("{at}.population"), "is not a TargetPopulation"));
    } else if !populations.insert(reach.population) {
        v.push(FieldViolation::new(format!("{at}.population"), "is reported twice"));
    }
    if !(0..=MAX_PEOPLE).contains(&reach.people_reached) {
        v.push(FieldViolation::new(format!("{at}.people_reached"), "must be between 0 and 100 million people"));
    }
    v.extend(limits::text(&format!("{at}.description"), &reach.description, 4000));
    v
}

/// What is wrong with the loan amount a report says was used, if anything:
/// it is a non-negative amount in SEK, at most the loans tagged to the plan.
fn loan_use(used: &common::Money, plan: &MonitoringPlan) -> Option<&'static str> {
    let tagged = plan.tagged_loan_amount.as_ref().map(|m| m.minor_units).unwrap_or_default();
    if used.currency_code != "SEK" || used.minor_units < 0 {
        Some("must be a non-negative amount in SEK")
    } else if used.minor_units > tagged {
        Some("is more than the loans tagged to the plan")
    } else {
        None
    }
}

/// The problems of the deviation at `at`: what deviates or why left unsaid,
/// and texts too long.
fn check_deviation(at: &str, d: &pb::Deviation) -> Vec<FieldViolation> {
    let mut v = Vec::new();
    if d.description.trim().is_empty() || d.cause.trim().is_empty() {
        v.push(FieldViolation::new(at, "needs both what deviates and why"));
    }
    v.extend(limits::text(&format!("{at}.indicator_code"), &d.indicator_code, 63));
    v.extend(limits::text(&format!("{at}.description"), &d.description, 4000));
    v.extend(limits::text(&format!("{at}.cause"), &d.cause, 4000));
    v
}

fn limits_short(text: &str) -> String {
    socialloans_platform::error::shortened(text, 64)
}

/// INVALID_ARGUMENT `TOO_LARGE` when `report`, as stored and sent, would be
/// larger than [`limits::MAX_OUTCOME_REPORT_BYTES`].
pub fn check_size(report: &OutcomeReport) -> Result<(), Error> {
    limits::check_size("outcome report", report.encoded_len(), limits::MAX_OUTCOME_REPORT_BYTES).map_err(Error::from)
}

/// The plan's reporting period ending `end`, if any.
pub fn period(plan: &MonitoringPlan, end: &Date) -> Option<(NaiveDate, NaiveDate)> {
    plan.reporting_periods.iter().find_map(|p| {
        let e = p.end_date.as_ref()?;
        (e == end).then(|| Some((naive(p.start_date.as_ref()?)?, naive(e)?))).flatten()
    })
}

/// The editable parts of a report, as field-mask paths.
pub const EDITABLE: [&str; 6] =
    ["indicator_values", "target_group_reach", "narrative", "evidence", "loan_amount_used", "deviations"];

fn copy(target: &mut OutcomeReport, source: &OutcomeReport, path: &str) {
    socialloans_platform::copy_fields!(path, target, source;
        indicator_values, target_group_reach, narrative, evidence, loan_amount_used, deviations);
}

/// A report's content checked against its plan ([`check`]), then its size.
pub fn check_content(report: &OutcomeReport, plan: &MonitoringPlan) -> Result<(), Error> {
    let violations = check(report, plan, "outcome_report.");
    if !violations.is_empty() {
        return Err(Error::InvalidArgument(violations));
    }
    check_size(report)
}

/// The first draft of a report of a plan in `plan_state`: the editable parts
/// of `report`, for the reporting period ending on its `period_end`, under
/// the plan's application and borrower; with the period's last day.
pub fn draft(
    plan: &MonitoringPlan,
    plan_state: MonitoringPlanState,
    report: &OutcomeReport,
) -> Result<(OutcomeReport, NaiveDate), Error> {
    rules::may_draft_report(plan_state)?;
    let end = report
        .period_end
        .ok_or_else(|| Error::from(FieldViolation::new("outcome_report.period_end", "is required")))?;
    let Some((start, end_date)) = period(plan, &end) else {
        return Err(FieldViolation::new(
            "outcome_report.period_end",
            "is not the end of a reporting period within the loan's life",
        )
        .into());
    };
    let mut stored = OutcomeReport::default();
    for path in EDITABLE {
        copy(&mut stored, report, path);
    }
    stored.period_end = Some(end);
    stored.period_start = Some(plans::date(start));
    stored.application = plan.application.clone();
    stored.organization_number = plan.organization_number.clone();
    check_content(&stored, plan)?;
    Ok((stored, end_date))
}

/// The borrower's edit: the fields of `patch` named by `paths`, each editable.
pub fn edit(report: &mut OutcomeReport, patch: &OutcomeReport, paths: &[String]) -> Result<(), Error> {
    for path in paths {
        if !EDITABLE.contains(&path.as_str()) {
            return Err(FieldViolation::new("update_mask.paths", format!("{path:?} cannot be edited")).into());
        }
        copy(report, patch, path);
    }
    Ok(())
}

/// A submission now: the comments of the last review are cleared.
pub fn mark_submitted(report: &mut OutcomeReport) {
    report.submit_time = Some(socialloans_platform::timestamp(chrono::Utc::now()));
    report.review_comments.clear();
}

/// A review now, with its comments.
pub fn mark_reviewed(report: &mut OutcomeReport, comments: Vec<common::FieldComment>) -> Result<(), Error> {
    report.review_time = Some(socialloans_platform::timestamp(chrono::Utc::now()));
    report.review_comments = comments;
    check_size(report)
}

/// Inserts the first draft of a report of the plan `plan_id`, as [`draft`]
/// made it (with its period's last day); a second report for the same
/// period is refused.
pub async fn insert(
    conn: &mut PgConnection,
    plan_id: Uuid,
    (report, period_end): &(OutcomeReport, NaiveDate),
) -> Result<Row, Error> {
    let inserted = store::reports::insert(conn, plan_id, *period_end, report).await;
    let row = inserted.map_err(|e| match e.as_database_error().and_then(|d| d.code()).as_deref() {
        Some("23505") => Error::AlreadyExists("a report for this period exists; correct it instead".into()),
        _ => Error::Database(e),
    })?;
    store::audit::record(conn, &row.name(), "", OutcomeReportState::Draft.as_str_name(), "drafted").await?;
    Ok(row)
}

/// Saves a changed report.
pub async fn save(
    conn: &mut PgConnection,
    row: &Row,
    report: &OutcomeReport,
    state: OutcomeReportState,
    version: i32,
) -> Result<Row, sqlx::Error> {
    let mut stored = report.clone();
    stored.name.clear();
    stored.etag.clear();
    let saved = store::reports::update(conn, row.document.id, state_name(state), version, &stored).await?;
    let comment = report.review_comments.iter().map(|c| c.comment.as_str()).collect::<Vec<_>>().join("; ");
    store::audit::record(conn, &row.name(), row.state().as_str_name(), state.as_str_name(), &comment).await?;
    Ok(saved)
}

impl VersionRow {
    /// The API view of a version of `report`.
    pub fn view(&self, report: &Row) -> Result<OutcomeReportVersion, Error> {
        let mut snapshot = socialloans_platform::stored::document::<OutcomeReport>(&self.content)?;
        let name = report.name();
        snapshot.name = name.clone();
        snapshot.state = OutcomeReportState::Submitted as i32;
        snapshot.version = self.version;
        snapshot.organization_number = report.organization_number.clone();
        let comments = socialloans_platform::stored::document::<OutcomeReportVersion>(&self.review_comments)?;
        let result = match self.review_result.as_str() {
            "" => OutcomeReportState::Submitted,
            r => StoredReportState::from_stored(r).map_or(OutcomeReportState::Unspecified, |s| s.0),
        };
        Ok(OutcomeReportVersion {
            name: format!("{name}/versions/{}", self.version),
            version: self.version,
            outcome_report: Some(snapshot),
            submitted_by: Some(Actor {
                subject: self.submitted_by.clone(),
                role: "borrower".into(),
                organization_number: report.organization_number.clone(),
            }),
            submit_time: Some(socialloans_platform::timestamp(self.submit_time)),
            review_result: result as i32,
            review_comments: comments.review_comments,
        })
    }
}

/// The latest accepted version of each report of a plan for periods ending
/// on or before `day`, by name. A correction in progress does not hide the
/// version accepted before it.
pub async fn accepted(pool: &PgPool, plan_id: Uuid, day: NaiveDate) -> Result<Vec<(String, OutcomeReport)>, Error> {
    let rows = store::reports::accepted(pool, plan_id, day).await?;
    rows.into_iter()
        .map(|(id, content)| {
            let report = socialloans_platform::stored::document::<OutcomeReport>(&content)?;
            Ok((format!("monitoringPlans/{plan_id}/outcomeReports/{id}"), report))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use socialloans_contracts::monitoring::PlanIndicator;

    fn described(violations: &[FieldViolation]) -> Vec<(&str, &str)> {
        violations.iter().map(|v| (v.field.as_str(), v.description.as_str())).collect()
    }

    fn sek(minor_units: i64) -> common::Money {
        common::Money { currency_code: "SEK".into(), minor_units }
    }

    #[test]
    fn a_value_is_of_a_plan_indicator_in_its_unit_once_finite_and_in_range_or_says_why_it_is_missing() {
        let plan = MonitoringPlan {
            indicators: vec![PlanIndicator { code: "jobs".into(), unit: "jobs".into(), ..Default::default() }],
            ..Default::default()
        };
        let value = |code: &str, unit: &str, value: Option<f64>| IndicatorValue {
            indicator_code: code.into(),
            unit: unit.into(),
            value,
            ..Default::default()
        };
        let mut codes = HashSet::new();
        let first = value("jobs", "jobs", Some(12.0));
        assert!(check_value("v[0]", &first, &plan, &mut codes).is_empty());
        let again = value("jobs", "kg", Some(2e12));
        assert_eq!(
            described(&check_value("v[1]", &again, &plan, &mut codes)),
            [
                ("v[1].indicator_code", "is reported twice"),
                ("v[1].unit", "\"kg\" is not the plan's unit \"jobs\""),
                ("v[1].value", "is out of range: at most 10^12 in magnitude"),
            ]
        );
        let unknown = value("trees", "jobs", None);
        assert_eq!(
            described(&check_value("v[2]", &unknown, &plan, &mut codes)),
            [
                ("v[2].indicator_code", "\"trees\" is not an indicator of this plan"),
                ("v[2].comment", "say why there is no value"),
            ]
        );
        let nan = value("other", "jobs", Some(f64::NAN));
        assert_eq!(check_value("v[3]", &nan, &plan, &mut codes)[1].description, "must be a finite number");
    }

    #[test]
    fn a_target_group_is_a_known_population_reported_once_reaching_at_most_100_million_people() {
        let reach =
            |population, people_reached| pb::TargetGroupReach { population, people_reached, ..Default::default() };
        let mut populations = HashSet::new();
        assert!(check_reach("r[0]", &reach(1, 100_000_000), &mut populations).is_empty());
        assert_eq!(
            described(&check_reach("r[1]", &reach(1, -1), &mut populations)),
            [
                ("r[1].population", "is reported twice"),
                ("r[1].people_reached", "must be between 0 and 100 million people")
            ]
        );
        assert_eq!(
            described(&check_reach("r[2]", &reach(0, 5), &mut populations)),
            [("r[2].population", "is not a TargetPopulation")]
        );
    }

    #[test]
    fn the_loan_amount_used_is_a_non_negative_amount_in_sek_within_the_loans_tagged_to_the_plan() {
        let plan = MonitoringPlan { tagged_loan_amount: Some(sek(1_000)), ..Default::default() };
        assert_eq!(loan_use(&sek(1_000), &plan), None);
        assert_eq!(loan_use(&sek(0), &plan), None);
        assert_eq!(loan_use(&sek(1_001), &plan), Some("is more than the loans tagged to the plan"));
        assert_eq!(loan_use(&sek(-1), &plan), Some("must be a non-negative amount in SEK"));
        let euros = common::Money { currency_code: "EUR".into(), minor_units: 1 };
        assert_eq!(loan_use(&euros, &plan), Some("must be a non-negative amount in SEK"));
        assert_eq!(loan_use(&sek(1), &MonitoringPlan::default()), Some("is more than the loans tagged to the plan"));
    }

    #[test]
    fn a_deviation_says_both_what_deviates_and_why() {
        let deviation = |description: &str, cause: &str| pb::Deviation {
            indicator_code: "jobs".into(),
            description: description.into(),
            cause: cause.into(),
        };
        assert!(check_deviation("d[0]", &deviation("Fewer jobs", "A late start")).is_empty());
        assert_eq!(
            described(&check_deviation("d[1]", &deviation("Fewer jobs", " "))),
            [("d[1]", "needs both what deviates and why")]
        );
    }

    #[test]
    fn a_list_longer_than_the_limit_is_refused_whole_and_its_items_unread() {
        let report = OutcomeReport {
            deviations: vec![pb::Deviation::default(); MAX_ITEMS + 1],
            narrative: "Two courses held".into(),
            ..Default::default()
        };
        assert_eq!(
            described(&check(&report, &MonitoringPlan::default(), "outcome_report.")),
            [("outcome_report.deviations", "has 101 items; at most 100")]
        );
        let report = OutcomeReport { deviations: vec![pb::Deviation::default(); MAX_ITEMS], ..report };
        assert_eq!(check(&report, &MonitoringPlan::default(), "outcome_report.").len(), MAX_ITEMS);
    }

    #[test]
    fn a_draft_keeps_only_the_editable_parts_for_a_period_of_an_active_plan() {
        let (start, end) =
            (common::Date { year: 2026, month: 3, day: 1 }, common::Date { year: 2026, month: 12, day: 31 });
        let period = pb::ReportingPeriod { start_date: Some(start), end_date: Some(end), ..Default::default() };
        let plan = MonitoringPlan {
            application: "applications/a1".into(),
            organization_number: "5560000001".into(),
            reporting_periods: vec![period],
            ..Default::default()
        };
        let report = OutcomeReport {
            name: "mine".into(),
            organization_number: "5560000002".into(),
            narrative: "Two courses held".into(),
            period_end: Some(end),
            version: 7,
            ..Default::default()
        };
        let (draft, last_day) = draft(&plan, MonitoringPlanState::Active, &report).unwrap();
        assert_eq!(last_day, NaiveDate::from_ymd_opt(2026, 12, 31).unwrap());
        assert_eq!((draft.narrative.as_str(), draft.application.as_str()), ("Two courses held", "applications/a1"));
        assert_eq!(draft.organization_number, "5560000001", "the borrower is the plan's");
        assert_eq!((draft.period_start, draft.period_end), (Some(start), Some(end)));
        assert_eq!((draft.name.as_str(), draft.version), ("", 0), "only the editable parts are taken");
        let Err(Error::InvalidArgument(v)) =
            super::draft(&plan, MonitoringPlanState::Active, &OutcomeReport::default())
        else {
            panic!("a draft without a period end passed");
        };
        assert_eq!(described(&v), [("outcome_report.period_end", "is required")]);
        let other = OutcomeReport { period_end: Some(common::Date { year: 2027, month: 12, day: 31 }), ..report };
        assert!(super::draft(&plan, MonitoringPlanState::Active, &other).is_err());
        assert!(matches!(super::draft(&plan, MonitoringPlanState::Closed, &other), Err(Error::Precondition { .. })));
    }

    #[test]
    fn an_edit_changes_only_the_fields_its_mask_names_and_only_editable_ones() {
        let mut report = OutcomeReport { narrative: "old".into(), version: 2, ..Default::default() };
        let patch = OutcomeReport {
            narrative: "new".into(),
            deviations: vec![pb::Deviation::default()],
            version: 9,
            ..Default::default()
        };
        edit(&mut report, &patch, &["narrative".into()]).unwrap();
        assert_eq!((report.narrative.as_str(), report.deviations.len(), report.version), ("new", 0, 2));
        let Err(Error::InvalidArgument(v)) = edit(&mut report, &patch, &["version".into()]) else {
            panic!("a field outside the editable ones was edited");
        };
        assert_eq!(described(&v), [("update_mask.paths", "\"version\" cannot be edited")]);
    }
}
