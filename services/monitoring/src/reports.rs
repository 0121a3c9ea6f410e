//! Outcome reports: the borrower's values per indicator for a reporting
//! period, with method, evidence, narrative, loan use and deviations; drafted,
//! submitted, then accepted or returned by a reviewer. Accepted reports are
//! immutable: a correction is a new version.

use chrono::NaiveDate;
use prost::Message;
use socialloans_contracts::common;
use socialloans_contracts::common::{Actor, Date, TargetPopulation};
use socialloans_contracts::monitoring::{
    self as pb, IndicatorValue, MonitoringPlan, OutcomeReport, OutcomeReportState, OutcomeReportVersion,
};
use socialloans_platform::{error::FieldViolation, limits};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    columns::StoredReportState,
    error::Error,
    plans::naive,
    store::{
        self,
        reports::{Row, VersionRow},
    },
};

/// `OutcomeReportState::Draft` ↔ `DRAFT`.
pub fn state_name(state: OutcomeReportState) -> String {
    StoredReportState(state).stored().to_owned()
}

impl Row {
    /// The state.
    pub fn state(&self) -> OutcomeReportState {
        self.state.0
    }

    /// The API view.
    pub fn view(&self) -> Result<OutcomeReport, Error> {
        let mut r = OutcomeReport::decode(self.content.as_slice())
            .map_err(|e| Error::Database(sqlx::Error::Decode(Box::new(e))))?;
        r.name = format!("monitoringPlans/{}/outcomeReports/{}", self.plan_id, self.id);
        r.state = self.state() as i32;
        r.etag = format!("\"{}\"", self.revision);
        r.version = self.version;
        r.organization_number = self.organization_number.clone();
        r.create_time = Some(socialloans_platform::timestamp(self.create_time));
        r.update_time = Some(socialloans_platform::timestamp(self.update_time));
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
    let at = |f: String| format!("{prefix}{f}");
    let text = |v: &mut Vec<FieldViolation>, field: String, value: &str, max: usize| {
        v.extend(limits::text(&at(field), value, max));
    };
    let within = |v: &mut Vec<FieldViolation>, field: &str, len: usize| {
        let ok = len <= MAX_ITEMS;
        if !ok {
            v.push(FieldViolation::new(format!("{prefix}{field}"), format!("has {len} items; at most {MAX_ITEMS}")));
        }
        ok
    };
    let values: &[IndicatorValue] =
        if within(&mut v, "indicator_values", report.indicator_values.len()) { &report.indicator_values } else { &[] };
    let mut seen = std::collections::HashSet::new();
    for (i, value) in values.iter().enumerate() {
        if !seen.insert(&value.indicator_code) {
            v.push(FieldViolation::new(at(format!("indicator_values[{i}].indicator_code")), "is reported twice"));
        }
        match plan.indicators.iter().find(|p| p.code == value.indicator_code) {
            None => v.push(FieldViolation::new(
                at(format!("indicator_values[{i}].indicator_code")),
                format!("{:?} is not an indicator of this plan", limits_short(&value.indicator_code)),
            )),
            Some(indicator) if value.unit != indicator.unit => v.push(FieldViolation::new(
                at(format!("indicator_values[{i}].unit")),
                format!("{:?} is not the plan's unit {:?}", limits_short(&value.unit), indicator.unit),
            )),
            Some(_) => {}
        }
        match value.value {
            Some(x) if !x.is_finite() => {
                v.push(FieldViolation::new(at(format!("indicator_values[{i}].value")), "must be a finite number"))
            }
            Some(x) if x.abs() > MAX_VALUE => v.push(FieldViolation::new(
                at(format!("indicator_values[{i}].value")),
                "is out of range: at most 10^12 in magnitude",
            )),
            None if value.comment.trim().is_empty() => {
                v.push(FieldViolation::new(at(format!("indicator_values[{i}].comment")), "say why there is no value"))
            }
            _ => {}
        }
        if let Some(d) = &value.measure_date
            && limits::date(d.year, d.month, d.day, limits::YEARS).is_none()
        {
            v.push(FieldViolation::new(
                at(format!("indicator_values[{i}].measure_date")),
                "is not a calendar date between 1900 and 2200",
            ));
        }
        text(&mut v, format!("indicator_values[{i}].method"), &value.method, 4000);
        text(&mut v, format!("indicator_values[{i}].source"), &value.source, 200);
        text(&mut v, format!("indicator_values[{i}].comment"), &value.comment, 4000);
    }
    let reaches: &[pb::TargetGroupReach] = if within(&mut v, "target_group_reach", report.target_group_reach.len()) {
        &report.target_group_reach
    } else {
        &[]
    };
    let mut populations = std::collections::HashSet::new();
    for (i, reach) in reaches.iter().enumerate() {
        let known = TargetPopulation::try_from(reach.population).is_ok_and(|p| p != TargetPopulation::Unspecified);
        if !known {
            v.push(FieldViolation::new(at(format!("target_group_reach[{i}].population")), "is not a TargetPopulation"));
        } else if !populations.insert(reach.population) {
            v.push(FieldViolation::new(at(format!("target_group_reach[{i}].population")), "is reported twice"));
        }
        if !(0..=MAX_PEOPLE).contains(&reach.people_reached) {
            v.push(FieldViolation::new(
                at(format!("target_group_reach[{i}].people_reached")),
                "must be between 0 and 100 million people",
            ));
        }
        text(&mut v, format!("target_group_reach[{i}].description"), &reach.description, 4000);
    }
    text(&mut v, "narrative".into(), &report.narrative, 20_000);
    if let Some(used) = &report.loan_amount_used {
        let tagged = plan.tagged_loan_amount.as_ref().map(|m| m.minor_units).unwrap_or_default();
        if used.currency_code != "SEK" || used.minor_units < 0 {
            v.push(FieldViolation::new(at("loan_amount_used".into()), "must be a non-negative amount in SEK"));
        } else if used.minor_units > tagged {
            v.push(FieldViolation::new(at("loan_amount_used".into()), "is more than the loans tagged to the plan"));
        }
    }
    let evidence: &[common::Attachment] =
        if within(&mut v, "evidence", report.evidence.len()) { &report.evidence } else { &[] };
    for (i, a) in evidence.iter().enumerate() {
        v.extend(crate::conditions::check_attachment(&at(format!("evidence[{i}]")), a));
    }
    let deviations: &[pb::Deviation] =
        if within(&mut v, "deviations", report.deviations.len()) { &report.deviations } else { &[] };
    for (i, d) in deviations.iter().enumerate() {
        if d.description.trim().is_empty() || d.cause.trim().is_empty() {
            v.push(FieldViolation::new(at(format!("deviations[{i}]")), "needs both what deviates and why"));
        }
        text(&mut v, format!("deviations[{i}].indicator_code"), &d.indicator_code, 63);
        text(&mut v, format!("deviations[{i}].description"), &d.description, 4000);
        text(&mut v, format!("deviations[{i}].cause"), &d.cause, 4000);
    }
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

/// Inserts a draft; a second report for the same period is refused.
pub async fn insert(
    conn: &mut PgConnection,
    plan_id: Uuid,
    period_end: NaiveDate,
    org: &str,
    report: &OutcomeReport,
) -> Result<Row, Error> {
    let row = store::reports::insert(conn, plan_id, period_end, org, report).await.map_err(|e| {
        match e.as_database_error().and_then(|d| d.code()).as_deref() {
            Some("23505") => Error::AlreadyExists("a report for this period exists; correct it instead".into()),
            _ => Error::Database(e),
        }
    })?;
    let name = format!("monitoringPlans/{plan_id}/outcomeReports/{}", row.id);
    store::audit::record(conn, &name, "", OutcomeReportState::Draft.as_str_name(), "drafted").await?;
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
    let saved = store::reports::update(conn, row.id, state_name(state), version, &stored).await?;
    let name = format!("monitoringPlans/{}/outcomeReports/{}", row.plan_id, row.id);
    let comment = report.review_comments.iter().map(|c| c.comment.as_str()).collect::<Vec<_>>().join("; ");
    store::audit::record(conn, &name, row.state().as_str_name(), state.as_str_name(), &comment).await?;
    Ok(saved)
}

impl VersionRow {
    /// The API view of a version of `report`.
    pub fn view(&self, report: &Row) -> Result<OutcomeReportVersion, Error> {
        let decode = |e: prost::DecodeError| Error::Database(sqlx::Error::Decode(Box::new(e)));
        let mut snapshot = OutcomeReport::decode(self.content.as_slice()).map_err(decode)?;
        let name = format!("monitoringPlans/{}/outcomeReports/{}", report.plan_id, report.id);
        snapshot.name = name.clone();
        snapshot.state = OutcomeReportState::Submitted as i32;
        snapshot.version = self.version;
        snapshot.organization_number = report.organization_number.clone();
        let comments = OutcomeReportVersion::decode(self.review_comments.as_slice()).map_err(decode)?;
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

/// Mirrors an accepted report's values and reach into the rows the
/// portfolio report aggregates, replacing those of an earlier accepted version.
pub async fn record_accepted(
    conn: &mut PgConnection,
    row: &Row,
    report: &OutcomeReport,
    accept_date: NaiveDate,
) -> Result<(), sqlx::Error> {
    let (codes, values): (Vec<String>, Vec<f64>) = report
        .indicator_values
        .iter()
        .filter_map(|v| Some((v.indicator_code.clone(), v.value.filter(|x| x.is_finite())?)))
        .unzip();
    let (populations, people) =
        crate::plans::by_population(report.target_group_reach.iter().map(|r| (r.population, r.people_reached)));
    store::reports::replace_facts(conn, row, accept_date, &codes, &values, &populations, &people).await
}

/// The latest accepted version of each report of a plan for periods ending
/// on or before `day`, by name. A correction in progress does not hide the
/// version accepted before it.
pub async fn accepted(pool: &PgPool, plan_id: Uuid, day: NaiveDate) -> Result<Vec<(String, OutcomeReport)>, Error> {
    let rows = store::reports::accepted(pool, plan_id, day).await?;
    rows.into_iter()
        .map(|(id, content)| {
            let report = OutcomeReport::decode(content.as_slice())
                .map_err(|e| Error::Database(sqlx::Error::Decode(Box::new(e))))?;
            Ok((format!("monitoringPlans/{plan_id}/outcomeReports/{id}"), report))
        })
        .collect()
}
