//! The social label, checked every year. An analyst re-assesses an active
//! plan's label from its accepted reports and its conditions: the label is
//! kept (the next re-assessment moves a period on), or its withdrawal is
//! proposed, which a different analyst confirms (four eyes). A confirmed
//! withdrawal is published for core banking (the discount ends from its
//! effective date) and takes the plan out of the portfolio's social figures
//! from that date. The plan keeps every re-assessment: the history of why.

use chrono::{NaiveDate, Utc};
use socialloans_contracts::monitoring::{
    self as pb, ConditionState, LabelReassessment, LabelReassessmentOutcome as Outcome, MonitoringPlan,
    MonitoringPlanState, ReportingPeriodState, SocialLabel, SocialLabelState as State,
};
use socialloans_platform::{Caller, error::FieldViolation, events::outbox};
use sqlx::PgConnection;

use crate::{
    audit,
    error::Error,
    plans::{self, PlanRow},
    store,
};

/// The longest rationale, in characters.
const RATIONALE: usize = 4000;
/// Re-assessments one plan keeps, at most (a century of yearly ones).
const MAX_REASSESSMENTS: usize = 100;
/// How far ahead a withdrawal may take effect.
const AHEAD_DAYS: i64 = 366;

/// The label a new plan is given: social, re-assessed every `months`.
pub fn given(months: i32) -> SocialLabel {
    SocialLabel { state: State::Labelled as i32, reassessment_months: months, ..Default::default() }
}

/// The label of a plan made before labels were kept: social, yearly.
fn label_of(plan: &mut MonitoringPlan) -> &mut SocialLabel {
    plan.social_label.get_or_insert_with(|| given(12))
}

fn months(label: &SocialLabel) -> u32 {
    u32::try_from(label.reassessment_months).ok().filter(|m| *m > 0).unwrap_or(12)
}

/// On activation: the first re-assessment is due a period after `today`.
pub fn schedule_first(plan: &mut MonitoringPlan, today: NaiveDate) {
    let label = label_of(plan);
    if label.state != State::Withdrawn as i32 {
        label.next_reassessment_date = plans::months_after(today, months(label)).map(plans::date);
    }
}

/// The first day the plan's loan is no longer social, once withdrawn.
pub fn withdrawn_from(plan: &MonitoringPlan) -> Option<NaiveDate> {
    let label = plan.social_label.as_ref().filter(|l| l.state == State::Withdrawn as i32)?;
    label.withdrawn_from.as_ref().and_then(plans::naive)
}

fn refuse(reason: &'static str, message: impl Into<String>) -> Error {
    Error::Precondition { reason, message: message.into() }
}

/// The outcome and effective date of a request, or every problem with it.
pub fn check(req: &pb::ReassessSocialLabelRequest) -> Result<(Outcome, Option<NaiveDate>), Error> {
    let mut violations = Vec::new();
    let outcome = match Outcome::try_from(req.outcome) {
        Ok(o @ (Outcome::Retained | Outcome::Withdrawn)) => o,
        _ => {
            violations.push(FieldViolation::new("outcome", "must be RETAINED or WITHDRAWN"));
            Outcome::Unspecified
        }
    };
    if req.rationale.trim().is_empty() {
        violations.push(FieldViolation::new("rationale", "is required"));
    }
    violations.extend(socialloans_platform::limits::text("rationale", &req.rationale, RATIONALE));
    let effective = match (&req.effective_date, outcome) {
        (Some(d), Outcome::Withdrawn) => {
            let day = socialloans_platform::limits::date(d.year, d.month, d.day, 1900..=2200);
            if day.is_none() {
                violations.push(FieldViolation::new("effective_date", "is not a date on the calendar"));
            }
            day
        }
        (None, Outcome::Withdrawn) => {
            violations.push(FieldViolation::new("effective_date", "is required for a withdrawal"));
            None
        }
        (Some(_), _) => {
            violations.push(FieldViolation::new("effective_date", "is given only for a withdrawal"));
            None
        }
        (None, _) => None,
    };
    if violations.is_empty() { Ok((outcome, effective)) } else { Err(Error::InvalidArgument(violations)) }
}

/// What the plan holds when it is re-assessed: its accepted reports and its
/// breached conditions.
fn grounds(plan: &MonitoringPlan) -> (Vec<String>, Vec<String>) {
    let accepted = ReportingPeriodState::Accepted as i32;
    let reports = plan
        .reporting_periods
        .iter()
        .filter(|p| p.state == accepted && !p.outcome_report.is_empty())
        .map(|p| p.outcome_report.clone())
        .collect();
    let breached = ConditionState::Breached as i32;
    let conditions = plan.conditions.iter().filter(|c| c.state == breached).map(|c| c.name.clone()).collect();
    (reports, conditions)
}

fn state_text(state: i32) -> &'static str {
    State::try_from(state).unwrap_or_default().as_str_name()
}

/// `ReassessSocialLabel`.
pub async fn reassess(
    conn: &mut PgConnection,
    caller: &Caller,
    req: &pb::ReassessSocialLabelRequest,
    outcome: Outcome,
    effective: Option<NaiveDate>,
) -> Result<MonitoringPlan, Error> {
    let (row, mut plan) = plans::lock_named(conn, &req.name, &req.etag).await?;
    if row.state() != MonitoringPlanState::Active {
        return Err(refuse("ILLEGAL_STATE_TRANSITION", "only an active plan's label is re-assessed"));
    }
    let today = crate::overdue::today();
    let activated = plan.activate_time.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0));
    let (reports, conditions) = grounds(&plan);
    let label = label_of(&mut plan);
    let from = label.state;
    match State::try_from(from).unwrap_or_default() {
        State::Withdrawn => return Err(refuse("LABEL_WITHDRAWN", "the label is withdrawn; nothing is re-assessed")),
        State::WithdrawalProposed if outcome == Outcome::Withdrawn => {
            return Err(refuse("WITHDRAWAL_PENDING", "a withdrawal already waits: confirm it, or keep the label"));
        }
        _ => {}
    }
    if label.reassessments.len() >= MAX_REASSESSMENTS {
        return Err(refuse("TOO_MANY_REASSESSMENTS", format!("a plan keeps at most {MAX_REASSESSMENTS}")));
    }
    if let Some(day) = effective {
        let earliest = activated.map_or(today, |t| t.date_naive());
        if day < earliest || day > today + chrono::Duration::days(AHEAD_DAYS) {
            let why = format!("must be from the plan's activation ({earliest}) to a year ahead");
            return Err(Error::InvalidArgument(vec![FieldViolation::new("effective_date", why)]));
        }
    }
    label.reassessments.push(LabelReassessment {
        outcome: outcome as i32,
        rationale: req.rationale.clone(),
        outcome_reports: reports,
        breached_conditions: conditions,
        effective_date: effective.map(plans::date),
        assessed_by: Some(audit::actor_of(caller)),
        assess_time: Some(socialloans_platform::timestamp(Utc::now())),
        ..Default::default()
    });
    if outcome == Outcome::Retained {
        label.state = State::Labelled as i32;
        label.next_reassessment_date = plans::months_after(today, months(label)).map(plans::date);
    } else {
        label.state = State::WithdrawalProposed as i32;
    }
    let to = label.state;
    plans::save(conn, &row, &plan, row.state()).await?;
    let what = if outcome == Outcome::Retained { "label kept" } else { "withdrawal proposed" };
    let comment = format!("{what}: {}", req.rationale);
    store::audit::record(conn, &req.name, state_text(from), state_text(to), &comment).await?;
    plans::reread(conn, &row, &req.name).await
}

/// `ConfirmSocialLabelWithdrawal`.
pub async fn confirm_withdrawal(
    conn: &mut PgConnection,
    caller: &Caller,
    req: &pb::ConfirmSocialLabelWithdrawalRequest,
) -> Result<MonitoringPlan, Error> {
    let (row, mut plan) = plans::lock_named(conn, &req.name, &req.etag).await?;
    let (application, organization) = (plan.application.clone(), plan.organization_number.clone());
    let label = label_of(&mut plan);
    if label.state != State::WithdrawalProposed as i32 {
        return Err(refuse("NO_WITHDRAWAL_PROPOSED", "no withdrawal of this label waits for confirmation"));
    }
    let Some(proposal) = label.reassessments.last_mut().filter(|r| r.outcome == Outcome::Withdrawn as i32) else {
        return Err(refuse("NO_WITHDRAWAL_PROPOSED", "no withdrawal of this label waits for confirmation"));
    };
    if proposal.assessed_by.as_ref().is_some_and(|a| a.subject == caller.subject) {
        return Err(refuse(
            "SECOND_PERSON_REQUIRED",
            "you proposed this; a different analyst must confirm it (four eyes)",
        ));
    }
    proposal.confirmed_by = Some(audit::actor_of(caller));
    proposal.confirm_time = Some(socialloans_platform::timestamp(Utc::now()));
    let (effective_date, reason) = (proposal.effective_date, proposal.rationale.clone());
    label.state = State::Withdrawn as i32;
    label.withdrawn_from = effective_date;
    label.next_reassessment_date = None;
    plans::save(conn, &row, &plan, row.state()).await?;
    let comment = format!("withdrawal confirmed: {reason}");
    store::audit::record(
        conn,
        &req.name,
        state_text(State::WithdrawalProposed as i32),
        "SOCIAL_LABEL_STATE_WITHDRAWN",
        &comment,
    )
    .await?;
    let withdrawn = pb::SocialLabelWithdrawn {
        monitoring_plan: req.name.clone(),
        application,
        organization_number: organization.clone(),
        effective_date,
        reason,
    };
    outbox::append(conn, "monitoring", &req.name, Some(&organization), &withdrawn).await?;
    plans::reread(conn, &row, &req.name).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use socialloans_contracts::common::Date;

    fn request(outcome: Outcome, rationale: &str, effective: Option<Date>) -> pb::ReassessSocialLabelRequest {
        pb::ReassessSocialLabelRequest {
            name: "monitoringPlans/x".into(),
            outcome: outcome as i32,
            rationale: rationale.into(),
            effective_date: effective,
            ..Default::default()
        }
    }

    fn fields(result: Result<(Outcome, Option<NaiveDate>), Error>) -> Vec<String> {
        match result {
            Err(Error::InvalidArgument(v)) => v.into_iter().map(|v| v.field).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_reassessment_needs_an_outcome_a_reason_and_a_date_only_for_a_withdrawal() {
        let day = Some(Date { year: 2027, month: 6, day: 30 });
        assert_eq!(check(&request(Outcome::Retained, "Målen nås", None)).unwrap(), (Outcome::Retained, None));
        let withdrawn = check(&request(Outcome::Withdrawn, "Målen överges", day)).unwrap();
        assert_eq!(withdrawn, (Outcome::Withdrawn, NaiveDate::from_ymd_opt(2027, 6, 30)));
        assert_eq!(fields(check(&request(Outcome::Unspecified, "x", None))), ["outcome"]);
        assert_eq!(fields(check(&request(Outcome::Retained, " ", None))), ["rationale"]);
        assert_eq!(fields(check(&request(Outcome::Retained, &"x".repeat(RATIONALE + 1), None))), ["rationale"]);
        assert_eq!(fields(check(&request(Outcome::Retained, "x", day))), ["effective_date"]);
        assert_eq!(fields(check(&request(Outcome::Withdrawn, "x", None))), ["effective_date"]);
        let off = Some(Date { year: 2027, month: 2, day: 30 });
        assert_eq!(fields(check(&request(Outcome::Withdrawn, "x", off))), ["effective_date"]);
        let mut unknown = request(Outcome::Retained, "x", None);
        unknown.outcome = 99;
        assert_eq!(fields(check(&unknown)), ["outcome"]);
    }

    #[test]
    fn the_first_reassessment_is_due_a_period_after_activation_and_none_after_a_withdrawal() {
        let mut plan = MonitoringPlan { social_label: Some(given(12)), ..Default::default() };
        schedule_first(&mut plan, NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        let next = plan.social_label.as_ref().unwrap().next_reassessment_date.unwrap();
        assert_eq!((next.year, next.month, next.day), (2027, 12, 1));
        assert_eq!(withdrawn_from(&plan), None);
        let label = plan.social_label.as_mut().unwrap();
        label.state = State::Withdrawn as i32;
        label.withdrawn_from = Some(plans::date(NaiveDate::from_ymd_opt(2028, 1, 1).unwrap()));
        assert_eq!(withdrawn_from(&plan), NaiveDate::from_ymd_opt(2028, 1, 1));
        // A plan from before labels were kept is social, yearly.
        let mut old = MonitoringPlan::default();
        schedule_first(&mut old, NaiveDate::from_ymd_opt(2026, 1, 31).unwrap());
        let label = old.social_label.unwrap();
        assert_eq!((label.state, label.reassessment_months), (State::Labelled as i32, 12));
    }
}
