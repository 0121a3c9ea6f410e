//! The outcome-report methods: the borrower drafts, edits and submits for its
//! own organisation's plan; a reviewer accepts or returns. Each call is one
//! transaction with its request id's answer.

use socialloans_contracts::common;
use socialloans_contracts::monitoring::{
    AcceptOutcomeReportRequest, MonitoringPlan, OutcomeReport, ReturnOutcomeReportRequest, UpdateOutcomeReportRequest,
};
use socialloans_platform::{Caller, error::FieldViolation, events::outbox, names};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    error::Error,
    plans::{self, PlanRow},
    reports,
    rules::{self, ReportStep},
    store,
};

/// `monitoringPlans/{plan}/outcomeReports/{report}`.
pub fn parse_report(name: &str) -> Result<(Uuid, Uuid), Error> {
    let [plan, report] = names::parse("name", "monitoringPlans/{uuid}/outcomeReports/{uuid}", name)?;
    Ok((plan, report))
}

/// `monitoringPlans/{plan}`.
pub fn parse_plan(field: &str, name: &str) -> Result<Uuid, Error> {
    Ok(names::uuid(field, "monitoringPlans/{uuid}", name)?)
}

/// The fields an update changes: those its mask names (`*`: every editable
/// one). The mask and the etag are required: a borrower's edit never
/// overwrites an edit it has not seen.
pub fn edited_paths(req: &UpdateOutcomeReportRequest) -> Result<Vec<String>, Error> {
    let mut paths = req.update_mask.as_ref().map(|m| m.paths.clone()).unwrap_or_default();
    if paths.iter().any(|p| p == "*") {
        paths = reports::EDITABLE.iter().map(|p| (*p).to_owned()).collect();
    }
    let mut violations = Vec::new();
    if paths.is_empty() {
        violations.push(FieldViolation::new("update_mask", "is required: name the fields to change, or *"));
    }
    if req.etag.is_empty() {
        violations.push(FieldViolation::new("etag", "is required: send the etag you read"));
    }
    if !violations.is_empty() {
        return Err(Error::InvalidArgument(violations));
    }
    Ok(paths)
}

/// Drafts a report for a period of an active plan of the caller's organisation.
pub async fn create(
    conn: &mut PgConnection,
    caller: &Caller,
    parent: &str,
    report: OutcomeReport,
) -> Result<OutcomeReport, Error> {
    let plan_id = parse_plan("parent", parent)?;
    let row = store::plans::find(&mut *conn, plan_id, caller.confined_to(), true)
        .await?
        .ok_or_else(|| Error::NotFound(parent.to_owned()))?;
    let mut plan = row.view()?;
    outbox::follow_thread(conn, &plan.application).await?;
    let draft = reports::draft(&plan, row.state(), &report)?;
    let created = reports::insert(conn, plan_id, &draft).await?.view()?;
    if let Some(end) = &created.period_end {
        rules::name_period_report(&mut plan, end, &created.name);
    }
    plans::save(conn, &row, &plan, row.state()).await?;
    Ok(created)
}

/// Locks a report and its plan, checking the etag.
async fn load(
    conn: &mut PgConnection,
    caller: &Caller,
    name: &str,
    etag: &str,
) -> Result<(store::reports::Row, OutcomeReport, store::plans::Row), Error> {
    let key = parse_report(name)?;
    let row = store::reports::find(&mut *conn, key, caller.confined_to(), true)
        .await?
        .ok_or_else(|| Error::NotFound(name.to_owned()))?;
    let plan = store::plans::find(&mut *conn, row.plan_id, None, true)
        .await?
        .ok_or_else(|| Error::NotFound(name.to_owned()))?;
    let report = row.view()?;
    if !etag.is_empty() && etag != report.etag {
        return Err(Error::EtagMismatch { current: report.etag });
    }
    outbox::follow_thread(conn, &plan.view()?.application).await?;
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
    reports::edit(&mut report, patch, paths)?;
    reports::check_content(&report, &plan_row.view()?)?;
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
    reports::mark_submitted(&mut report);
    store::reports::keep_version(conn, row.document.id, version, &report, &caller.subject).await?;
    follow(conn, &plan_row, &mut plan, &report, ReportStep::Submit, name).await?;
    let submitted = reports::events::submitted(name, &plan, &row.organization_number, &report, version);
    outbox::append(conn, "monitoring", name, Some(&row.organization_number), &submitted).await?;
    reports::save(conn, &row, &report, state, version).await?.view()
}

/// Moves the reporting period of `report` after `step` and saves its plan.
async fn follow(
    conn: &mut PgConnection,
    plan_row: &store::plans::Row,
    plan: &mut MonitoringPlan,
    report: &OutcomeReport,
    step: ReportStep,
    name: &str,
) -> Result<(), Error> {
    if let Some(period_state) = rules::period_after(step) {
        rules::follow_report(plan, &report.period_end.unwrap_or_default(), period_state, name);
    }
    Ok(plans::save(conn, plan_row, plan, plan_row.state()).await?)
}

/// A reviewer's request: to accept or to return a report.
pub trait Review {
    /// Whether it accepts the report (or returns it).
    const ACCEPT: bool;
    /// The report's name and the etag the reviewer read (empty: any).
    fn target(&self) -> (&str, &str);
    /// The review's comments, checked ([`rules::acceptance_comments`],
    /// [`rules::return_comments`]).
    fn comments(&self) -> Result<Vec<common::FieldComment>, Error>;
}

impl Review for AcceptOutcomeReportRequest {
    const ACCEPT: bool = true;
    fn target(&self) -> (&str, &str) {
        (&self.name, &self.etag)
    }
    fn comments(&self) -> Result<Vec<common::FieldComment>, Error> {
        rules::acceptance_comments(&self.comment)
    }
}

impl Review for ReturnOutcomeReportRequest {
    const ACCEPT: bool = false;
    fn target(&self) -> (&str, &str) {
        (&self.name, &self.etag)
    }
    fn comments(&self) -> Result<Vec<common::FieldComment>, Error> {
        rules::return_comments(&self.comments, &self.message)
    }
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
    rules::may_review(store::reports::authored_by(conn, &report.name, &caller.subject).await?)?;
    let step = rules::review_step(accept);
    let result = rules::report_after(row.state(), step)?;
    rules::comments_within(&report, &comments)?;
    reports::mark_reviewed(&mut report, comments)?;
    store::reports::review_version(
        conn,
        row.document.id,
        row.version,
        reports::state_name(result),
        &report.review_comments,
    )
    .await?;
    let mut plan = plan_row.view()?;
    follow(conn, &plan_row, &mut plan, &report, step, name).await?;
    let organization = &row.organization_number;
    if accept {
        plans::facts::record_accepted(conn, &row, &report, crate::overdue::today()).await?;
        let accepted = reports::events::accepted(name, &plan, organization, &report, row.version);
        outbox::append(conn, "monitoring", name, Some(organization), &accepted).await?;
        crate::loans::close_if_final(conn, &plan_row, &mut plan).await?;
    } else {
        let returned = reports::events::returned(name, &plan, organization, &report, row.version);
        outbox::append(conn, "monitoring", name, Some(organization), &returned).await?;
    }
    reports::save(conn, &row, &report, result, row.version).await?.view()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_changes_the_fields_its_mask_names_or_every_editable_one_and_needs_an_etag() {
        let update = |paths: &[&str], etag: &str| UpdateOutcomeReportRequest {
            update_mask: Some(prost_types::FieldMask { paths: paths.iter().map(|p| (*p).to_owned()).collect() }),
            etag: etag.into(),
            ..Default::default()
        };
        assert_eq!(edited_paths(&update(&["narrative"], "\"1\"")).unwrap(), ["narrative"]);
        assert_eq!(edited_paths(&update(&["*"], "\"1\"")).unwrap(), reports::EDITABLE);
        let Err(Error::InvalidArgument(v)) = edited_paths(&update(&[], "")) else { panic!("an empty update passed") };
        let fields: Vec<_> = v.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["update_mask", "etag"]);
    }
}
