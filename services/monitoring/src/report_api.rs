//! The outcome-report methods: the borrower drafts, edits and submits for its
//! own organisation's plan; a reviewer accepts or returns. Each call is one
//! transaction with its request id's answer.

use chrono::Utc;
use socialloans_contracts::common;
use socialloans_contracts::monitoring::{self as pb, MonitoringPlanState, OutcomeReport, ReportingPeriodState};
use socialloans_platform::{Caller, error::FieldViolation, events::outbox, names};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    error::Error,
    plans, reports,
    rules::{self, ReportStep},
    store,
};

/// The editable parts of a report, as field-mask paths.
pub const EDITABLE: [&str; 6] =
    ["indicator_values", "target_group_reach", "narrative", "evidence", "loan_amount_used", "deviations"];

fn precondition(reason: &'static str, message: &str) -> Error {
    Error::Precondition { reason, message: message.into() }
}

/// `monitoringPlans/{plan}/outcomeReports/{report}`.
pub fn parse_report(name: &str) -> Result<(Uuid, Uuid), Error> {
    let [plan, report] = names::parse("name", "monitoringPlans/{uuid}/outcomeReports/{uuid}", name)?;
    Ok((plan, report))
}

/// `monitoringPlans/{plan}`.
pub fn parse_plan(field: &str, name: &str) -> Result<Uuid, Error> {
    Ok(names::uuid(field, "monitoringPlans/{uuid}", name)?)
}

/// Drafts a report for a period of an active plan of the caller's organisation.
pub async fn create(
    conn: &mut PgConnection,
    caller: &Caller,
    parent: &str,
    report: OutcomeReport,
) -> Result<OutcomeReport, Error> {
    let plan_id = parse_plan("parent", parent)?;
    let row = store::plans::lock(conn, plan_id, caller.confined_to())
        .await?
        .ok_or_else(|| Error::NotFound(parent.to_owned()))?;
    let plan = row.view()?;
    if row.state() != MonitoringPlanState::Active {
        return Err(precondition("ILLEGAL_STATE_TRANSITION", "reports are made for an active plan"));
    }
    let end = report
        .period_end
        .ok_or_else(|| Error::from(FieldViolation::new("outcome_report.period_end", "is required")))?;
    let Some((start, end_date)) = reports::period(&plan, &end) else {
        return Err(FieldViolation::new(
            "outcome_report.period_end",
            "is not the end of a reporting period within the loan's life",
        )
        .into());
    };
    let violations = reports::check(&report, &plan, "outcome_report.");
    if !violations.is_empty() {
        return Err(Error::InvalidArgument(violations));
    }
    let mut stored = OutcomeReport::default();
    for path in EDITABLE {
        copy(&mut stored, &report, path);
    }
    stored.period_end = Some(end);
    stored.period_start = Some(plans::date(start));
    stored.application = plan.application.clone();
    reports::check_size(&stored)?;
    let created = reports::insert(conn, plan_id, end_date, &row.organization_number, &stored).await?.view()?;
    // The period names its report from the first draft on.
    let mut plan = plan;
    if let Some(p) = plan.reporting_periods.iter_mut().find(|p| p.end_date == Some(end)) {
        p.outcome_report = created.name.clone();
    }
    plans::save(conn, &row, &plan, row.state()).await?;
    Ok(created)
}

fn copy(target: &mut OutcomeReport, source: &OutcomeReport, path: &str) {
    match path {
        "indicator_values" => target.indicator_values = source.indicator_values.clone(),
        "target_group_reach" => target.target_group_reach = source.target_group_reach.clone(),
        "narrative" => target.narrative = source.narrative.clone(),
        "evidence" => target.evidence = source.evidence.clone(),
        "loan_amount_used" => target.loan_amount_used = source.loan_amount_used.clone(),
        "deviations" => target.deviations = source.deviations.clone(),
        _ => {}
    }
}

/// Whether `path` (already known to name a field of a report) stays within
/// the report's lists: `indicator_values[3]` needs four values.
fn path_within(report: &OutcomeReport, path: &str) -> bool {
    let root = path.split('.').next().unwrap_or_default();
    let Some((name, index)) = root.split_once('[') else { return true };
    let index = index.trim_end_matches(']').parse::<usize>().unwrap_or(usize::MAX);
    let len = match name {
        "indicator_values" => report.indicator_values.len(),
        "target_group_reach" => report.target_group_reach.len(),
        "evidence" => report.evidence.len(),
        "deviations" => report.deviations.len(),
        _ => usize::MAX,
    };
    index < len
}

/// Locks a report and its plan, checking the etag.
async fn load(
    conn: &mut PgConnection,
    caller: &Caller,
    name: &str,
    etag: &str,
) -> Result<(store::reports::Row, OutcomeReport, store::plans::Row), Error> {
    let (plan_id, id) = parse_report(name)?;
    let row =
        store::reports::lock(conn, id, caller.confined_to()).await?.ok_or_else(|| Error::NotFound(name.to_owned()))?;
    if row.plan_id != plan_id {
        return Err(Error::NotFound(name.to_owned()));
    }
    let plan = store::plans::lock(conn, plan_id, None).await?.ok_or_else(|| Error::NotFound(name.to_owned()))?;
    let report = row.view()?;
    if !etag.is_empty() && etag != report.etag {
        return Err(Error::EtagMismatch { current: report.etag });
    }
    Ok((row, report, plan))
}

/// Edits a draft or returned report; editing an accepted one starts a correction.
pub async fn update(
    conn: &mut PgConnection,
    caller: &Caller,
    patch: &OutcomeReport,
    paths: &[String],
    etag: &str,
) -> Result<OutcomeReport, Error> {
    let (row, mut report, plan_row) = load(conn, caller, &patch.name, etag).await?;
    let state = rules::report_after(row.state(), ReportStep::Edit)?;
    for path in paths {
        if !EDITABLE.contains(&path.as_str()) {
            return Err(FieldViolation::new("update_mask.paths", format!("{path:?} cannot be edited")).into());
        }
        copy(&mut report, patch, path);
    }
    let violations = reports::check(&report, &plan_row.view()?, "outcome_report.");
    if !violations.is_empty() {
        return Err(Error::InvalidArgument(violations));
    }
    reports::check_size(&report)?;
    // An accepted report is never changed: the correction is a new draft version.
    reports::save(conn, &row, &report, state, row.version).await?.view()
}

/// Submits a draft or returned report: a new version.
pub async fn submit(conn: &mut PgConnection, caller: &Caller, name: &str, etag: &str) -> Result<OutcomeReport, Error> {
    let (row, mut report, plan_row) = load(conn, caller, name, etag).await?;
    let state = rules::report_after(row.state(), ReportStep::Submit)?;
    let mut plan = plan_row.view()?;
    rules::missing_for_submission(&plan, &report)?;
    let version = row.version + 1;
    report.submit_time = Some(socialloans_platform::timestamp(Utc::now()));
    report.review_comments.clear();
    store::reports::keep_version(conn, row.id, version, &report, &caller.subject).await?;
    let end = report.period_end.unwrap_or_default();
    rules::follow_report(&mut plan, &end, ReportingPeriodState::Submitted, name);
    plans::save(conn, &plan_row, &plan, plan_row.state()).await?;
    let submitted = pb::OutcomeReportSubmitted {
        outcome_report: name.to_owned(),
        application: plan.application.clone(),
        organization_number: row.organization_number.clone(),
        period_end: report.period_end,
        version,
    };
    outbox::append(conn, "monitoring", name, &submitted).await?;
    reports::save(conn, &row, &report, state, version).await?.view()
}

/// A reviewer accepts or returns a submitted report.
pub async fn review(
    conn: &mut PgConnection,
    caller: &Caller,
    name: &str,
    etag: &str,
    accept: bool,
    comments: Vec<common::FieldComment>,
) -> Result<OutcomeReport, Error> {
    let (row, mut report, plan_row) = load(conn, caller, name, etag).await?;
    let canonical = format!("monitoringPlans/{}/outcomeReports/{}", row.plan_id, row.id);
    rules::may_review(store::reports::authored_by(conn, &canonical, &caller.subject).await?)?;
    let result = rules::report_after(row.state(), if accept { ReportStep::Accept } else { ReportStep::Return })?;
    if let Some(i) = comments.iter().position(|c| !path_within(&report, &c.field_path)) {
        return Err(FieldViolation::new(
            format!("comments[{i}].field_path"),
            "names a list element this report does not have",
        )
        .into());
    }
    report.review_time = Some(socialloans_platform::timestamp(Utc::now()));
    report.review_comments = comments;
    reports::check_size(&report)?;
    store::reports::review_version(conn, row.id, row.version, reports::state_name(result), &report.review_comments)
        .await?;
    let mut plan = plan_row.view()?;
    let end = report.period_end.unwrap_or_default();
    let period_state = if accept { ReportingPeriodState::Accepted } else { ReportingPeriodState::Due };
    rules::follow_report(&mut plan, &end, period_state, name);
    plans::save(conn, &plan_row, &plan, plan_row.state()).await?;
    if accept {
        reports::record_accepted(conn, &row, &report, crate::overdue::today()).await?;
        let accepted = pb::OutcomeReportAccepted {
            outcome_report: name.to_owned(),
            application: plan.application.clone(),
            organization_number: row.organization_number.clone(),
            period_end: report.period_end,
            version: row.version,
            indicator_values: report.indicator_values.clone(),
        };
        outbox::append(conn, "monitoring", name, &accepted).await?;
    } else {
        let returned = pb::OutcomeReportReturned {
            outcome_report: name.to_owned(),
            application: plan.application.clone(),
            organization_number: row.organization_number.clone(),
            version: row.version,
            comments: report.review_comments.clone(),
        };
        outbox::append(conn, "monitoring", name, &returned).await?;
    }
    reports::save(conn, &row, &report, result, row.version).await?.view()
}
