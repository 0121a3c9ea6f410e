//! Monitoring's rules, pure: what a plan, an outcome report and a condition
//! may become, what a report needs before it is submitted, who may review
//! and what a review says, whose overdue items a caller sees, and how a
//! reporting period follows its report. The handlers lock, load and
//! save; these decide, and are tested without a database.

use socialloans_contracts::common;
use socialloans_contracts::common::{Actor, Attachment};
use socialloans_contracts::monitoring::{
    Condition, ConditionProposal, ConditionState, MonitoringPlan, MonitoringPlanState, OutcomeReport,
    OutcomeReportState as R, ReportingPeriodState,
};
use socialloans_platform::error::FieldViolation;

use crate::error::Error;

fn refuse(reason: &'static str, message: impl Into<String>) -> Error {
    Error::Precondition { reason, message: message.into() }
}

/// What is done to an outcome report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportStep {
    /// The borrower edits it (an accepted one: a correction begins).
    Edit,
    /// The borrower submits it.
    Submit,
    /// A reviewer accepts it.
    Accept,
    /// A reviewer returns it for changes.
    Return,
}

/// The state a report in `state` is in after `step`, or why not.
pub fn report_after(state: R, step: ReportStep) -> Result<R, Error> {
    match (step, state) {
        (ReportStep::Edit, R::Submitted) => {
            Err(refuse("ILLEGAL_STATE_TRANSITION", "a submitted report waits for review; it cannot be edited"))
        }
        // An accepted version never changes: editing it starts a correction.
        (ReportStep::Edit, R::Draft | R::Returned | R::Accepted) => Ok(R::Draft),
        (ReportStep::Submit, R::Draft | R::Returned) => Ok(R::Submitted),
        (ReportStep::Submit, _) => {
            Err(refuse("ILLEGAL_STATE_TRANSITION", "only a draft or returned report can be submitted"))
        }
        (ReportStep::Accept, R::Submitted) => Ok(R::Accepted),
        (ReportStep::Return, R::Submitted) => Ok(R::Returned),
        (ReportStep::Accept | ReportStep::Return, _) => {
            Err(refuse("ILLEGAL_STATE_TRANSITION", "only a submitted report is reviewed"))
        }
        (ReportStep::Edit, R::Unspecified) => Err(refuse("ILLEGAL_STATE_TRANSITION", "the report has no state")),
    }
}

/// What a report lacks before it can be submitted: a value (or a comment)
/// for every indicator of its plan, and a narrative.
pub fn missing_for_submission(plan: &MonitoringPlan, report: &OutcomeReport) -> Result<(), Error> {
    let mut missing: Vec<FieldViolation> = plan
        .indicators
        .iter()
        .filter(|i| !report.indicator_values.iter().any(|v| v.indicator_code == i.code))
        .map(|i| FieldViolation::new("outcome_report.indicator_values", format!("no value or comment for {}", i.code)))
        .collect();
    if report.narrative.trim().is_empty() {
        missing.push(FieldViolation::new("outcome_report.narrative", "is required: what was done in the period"));
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::Incomplete {
            reason: "REPORT_INCOMPLETE",
            message: "the report is not complete enough to submit".into(),
            violations: missing,
        })
    }
}

/// Four eyes: whoever drafted, edited or submitted any version of a report
/// never reviews it.
pub fn may_review(authored: bool) -> Result<(), Error> {
    if authored {
        return Err(Error::PermissionDenied {
            reason: "REVIEWER_IS_AUTHOR",
            message: "a report is reviewed by someone who neither drafted, edited nor submitted it (four eyes)".into(),
        });
    }
    Ok(())
}

/// Where the reporting period ending `end` stands once its report is in
/// `state`, and which report it points at. A period whose report was
/// accepted stays ACCEPTED: its obligation is met, and a correction under
/// way does not reopen it or make it fall due again.
pub fn follow_report(plan: &mut MonitoringPlan, end: &common::Date, state: ReportingPeriodState, report: &str) {
    if let Some(p) = plan.reporting_periods.iter_mut().find(|p| p.end_date.as_ref() == Some(end)) {
        if p.state != ReportingPeriodState::Accepted as i32 {
            p.state = state as i32;
        }
        p.outcome_report = report.to_owned();
    }
}

/// What a reviewer does with a condition, as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionStep {
    /// Fulfilled (four eyes: proposed, then confirmed by another).
    Fulfil,
    /// Waived (four eyes).
    Waive,
    /// Breached (at once).
    Breach,
}

impl ConditionStep {
    /// The state the step leads to.
    pub fn target(self) -> ConditionState {
        match self {
            ConditionStep::Fulfil => ConditionState::Fulfilled,
            ConditionStep::Waive => ConditionState::Waived,
            ConditionStep::Breach => ConditionState::Breached,
        }
    }
}

/// Whether a step on a condition is settled now or waits for a second person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settles {
    /// The condition changes state now.
    Now,
    /// Proposed; a different person must confirm it.
    Proposed,
}

/// Decides `step` on `condition` of a plan in `plan_state`, by `subject`:
/// closed plans take no steps; a condition is fulfilled from OPEN or
/// BREACHED and waived or breached only from OPEN; a fulfilment or waiver
/// proposed by one person is confirmed by another, never by the proposer.
pub fn condition_step(
    plan_state: MonitoringPlanState,
    condition: &Condition,
    step: ConditionStep,
    subject: &str,
) -> Result<Settles, Error> {
    if plan_state == MonitoringPlanState::Closed {
        return Err(refuse("PLAN_CLOSED", "the plan is closed; its conditions are no longer followed up"));
    }
    let state = ConditionState::try_from(condition.state).unwrap_or_default();
    let target = step.target();
    let allowed = match target {
        ConditionState::Fulfilled => matches!(state, ConditionState::Open | ConditionState::Breached),
        _ => state == ConditionState::Open,
    };
    if !allowed {
        return Err(refuse(
            "ILLEGAL_STATE_TRANSITION",
            format!("a {} condition cannot become {}", state.as_str_name(), target.as_str_name()),
        ));
    }
    if step == ConditionStep::Breach {
        return Ok(Settles::Now);
    }
    match condition.proposal.as_ref().filter(|p| p.state == target as i32) {
        Some(p) if p.proposed_by.as_ref().is_some_and(|by| by.subject == subject) => {
            Err(refuse("SECOND_PERSON_REQUIRED", "you proposed this; a different reviewer must confirm it (four eyes)"))
        }
        Some(_) => Ok(Settles::Now),
        None => Ok(Settles::Proposed),
    }
}

/// Applies a decided step to `condition`: settled, it takes the target state
/// (a fulfilment keeps the proposal's evidence and adds this step's; a
/// breach drops a pending proposal); proposed, the proposal is recorded.
pub fn apply_condition_step(
    condition: &mut Condition,
    step: ConditionStep,
    settles: Settles,
    note: &str,
    evidence: &[Attachment],
    by: Actor,
    at: Option<prost_types::Timestamp>,
) {
    let target = step.target();
    match settles {
        Settles::Now => {
            if step == ConditionStep::Fulfil {
                let mut all = condition.proposal.as_ref().map(|p| p.evidence.clone()).unwrap_or_default();
                all.extend(evidence.iter().cloned());
                condition.evidence = all;
            }
            if step == ConditionStep::Breach {
                condition.proposal = None;
            }
            condition.state = target as i32;
            condition.resolution_note = note.to_owned();
            condition.resolved_by = Some(by);
            condition.resolve_time = at;
        }
        Settles::Proposed => {
            condition.proposal = Some(ConditionProposal {
                state: target as i32,
                note: note.to_owned(),
                evidence: if step == ConditionStep::Fulfil { evidence.to_vec() } else { Vec::new() },
                proposed_by: Some(by),
                propose_time: at,
            });
        }
    }
}

/// A plan is activated only while it is pending.
pub fn may_activate(state: MonitoringPlanState) -> Result<(), Error> {
    if state != MonitoringPlanState::Pending {
        return Err(refuse("ILLEGAL_STATE_TRANSITION", "only a pending plan is activated"));
    }
    Ok(())
}

/// A plan is closed once.
pub fn may_close(state: MonitoringPlanState) -> Result<(), Error> {
    if state == MonitoringPlanState::Closed {
        return Err(refuse("ILLEGAL_STATE_TRANSITION", "the plan is already closed"));
    }
    Ok(())
}

/// Reports are drafted only for an active plan.
pub fn may_draft_report(state: MonitoringPlanState) -> Result<(), Error> {
    if state != MonitoringPlanState::Active {
        return Err(refuse("ILLEGAL_STATE_TRANSITION", "reports are made for an active plan"));
    }
    Ok(())
}

/// The review step a reviewer takes: accepting or returning.
pub fn review_step(accept: bool) -> ReportStep {
    if accept { ReportStep::Accept } else { ReportStep::Return }
}

/// The state a report's reporting period follows after `step`, if the step
/// moves it: a submission waits for review, an acceptance meets the
/// obligation, a return makes the report due again.
pub fn period_after(step: ReportStep) -> Option<ReportingPeriodState> {
    match step {
        ReportStep::Edit => None,
        ReportStep::Submit => Some(ReportingPeriodState::Submitted),
        ReportStep::Accept => Some(ReportingPeriodState::Accepted),
        ReportStep::Return => Some(ReportingPeriodState::Due),
    }
}

/// The reporting period ending `end` names `report` from its first draft on;
/// its state does not change.
pub fn name_period_report(plan: &mut MonitoringPlan, end: &common::Date, report: &str) {
    if let Some(p) = plan.reporting_periods.iter_mut().find(|p| p.end_date.as_ref() == Some(end)) {
        p.outcome_report = report.to_owned();
    }
}

/// Whether `path` (already known to name a field of a report) stays within
/// the report's lists: `indicator_values[3]` needs four values.
pub fn path_within(report: &OutcomeReport, path: &str) -> bool {
    socialloans_platform::limits::within_lists(path, |list| match list {
        "indicator_values" => report.indicator_values.len(),
        "target_group_reach" => report.target_group_reach.len(),
        "evidence" => report.evidence.len(),
        "deviations" => report.deviations.len(),
        _ => usize::MAX,
    })
}

/// Review comments name only list elements the report has; the first that
/// does not is refused.
pub fn comments_within(report: &OutcomeReport, comments: &[common::FieldComment]) -> Result<(), Error> {
    match comments.iter().position(|c| !path_within(report, &c.field_path)) {
        Some(i) => Err(FieldViolation::new(
            format!("comments[{i}].field_path"),
            "names a list element this report does not have",
        )
        .into()),
        None => Ok(()),
    }
}

/// A comment on the report as a whole (no field path), when there is one.
fn general_comment(text: &str) -> Option<common::FieldComment> {
    (!text.is_empty()).then(|| common::FieldComment { field_path: String::new(), comment: text.to_owned() })
}

/// The review comments of an acceptance: its comment, if any, on the whole
/// report; a comment beyond 4000 characters is refused.
pub fn acceptance_comments(comment: &str) -> Result<Vec<common::FieldComment>, Error> {
    if let Some(v) = socialloans_platform::limits::text("comment", comment, 4000) {
        return Err(v.into());
    }
    Ok(general_comment(comment).into_iter().collect())
}

/// The review comments of a return: those on fields, then the message, if
/// any, on the whole report; refused unless they say what to correct and
/// where, within the limits ([`socialloans_platform::limits::review_comments`]).
pub fn return_comments(comments: &[common::FieldComment], message: &str) -> Result<Vec<common::FieldComment>, Error> {
    let violations = socialloans_platform::limits::review_comments(
        &<OutcomeReport as prost::Name>::full_name(),
        comments,
        message,
        "indicator_values[0].value or narrative",
    )?;
    if !violations.is_empty() {
        return Err(Error::InvalidArgument(violations));
    }
    Ok(comments.iter().cloned().chain(general_comment(message)).collect())
}

/// The organisations whose overdue items a caller sees: a borrower only its
/// own (the one of them it asks for, or all), whatever it asks for; anyone
/// else the one asked for, or all.
pub fn overdue_organization(confined_to: Option<&[String]>, requested: &str) -> Option<Vec<String>> {
    match confined_to {
        Some(own) if own.iter().any(|o| o == requested) => Some(vec![requested.to_owned()]),
        Some(own) => Some(own.to_vec()),
        None => (!requested.is_empty()).then(|| vec![requested.to_owned()]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use socialloans_contracts::common::Date;
    use socialloans_contracts::monitoring::{IndicatorValue, PlanIndicator, ReportingPeriod};

    fn reason(err: Error) -> &'static str {
        match err {
            Error::Precondition { reason, .. } | Error::PermissionDenied { reason, .. } => reason,
            Error::Incomplete { reason, .. } => reason,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_report_moves_draft_submitted_then_accepted_or_returned_and_an_accepted_one_is_corrected_as_a_draft() {
        use ReportStep::*;
        assert_eq!(report_after(R::Draft, Submit).unwrap(), R::Submitted);
        assert_eq!(report_after(R::Returned, Submit).unwrap(), R::Submitted);
        assert_eq!(report_after(R::Submitted, Accept).unwrap(), R::Accepted);
        assert_eq!(report_after(R::Submitted, Return).unwrap(), R::Returned);
        assert_eq!(report_after(R::Accepted, Edit).unwrap(), R::Draft);
        assert_eq!(report_after(R::Returned, Edit).unwrap(), R::Draft);
        for (state, step) in [
            (R::Submitted, Edit),
            (R::Submitted, Submit),
            (R::Accepted, Submit),
            (R::Draft, Accept),
            (R::Returned, Return),
            (R::Accepted, Accept),
            (R::Unspecified, Edit),
        ] {
            assert_eq!(
                reason(report_after(state, step).unwrap_err()),
                "ILLEGAL_STATE_TRANSITION",
                "{state:?} {step:?}"
            );
        }
    }

    #[test]
    fn a_report_needs_every_indicator_and_a_narrative_before_it_is_submitted() {
        let indicator = |code: &str| PlanIndicator { code: code.into(), ..Default::default() };
        let plan = MonitoringPlan { indicators: vec![indicator("A"), indicator("B")], ..Default::default() };
        let value = |code: &str| IndicatorValue { indicator_code: code.into(), ..Default::default() };
        let mut report =
            OutcomeReport { indicator_values: vec![value("A")], narrative: " ".into(), ..Default::default() };
        let Err(Error::Incomplete { violations, .. }) = missing_for_submission(&plan, &report) else {
            panic!("an incomplete report passed");
        };
        let described: Vec<_> = violations.iter().map(|v| (v.field.as_str(), v.description.as_str())).collect();
        assert_eq!(
            described,
            [
                ("outcome_report.indicator_values", "no value or comment for B"),
                ("outcome_report.narrative", "is required: what was done in the period")
            ]
        );
        report.indicator_values.push(value("B"));
        report.narrative = "Two courses held".into();
        assert!(missing_for_submission(&plan, &report).is_ok());
    }

    #[test]
    fn an_author_never_reviews_their_report() {
        assert_eq!(reason(may_review(true).unwrap_err()), "REVIEWER_IS_AUTHOR");
        assert!(may_review(false).is_ok());
    }

    /// A plan whose one reporting period, due, ends on `end`.
    fn plan_due_on(end: Date) -> MonitoringPlan {
        let period =
            ReportingPeriod { end_date: Some(end), state: ReportingPeriodState::Due as i32, ..Default::default() };
        MonitoringPlan { reporting_periods: vec![period], ..Default::default() }
    }

    #[test]
    fn an_accepted_period_stays_accepted_while_a_correction_is_under_way() {
        let end = Date { year: 2026, month: 12, day: 31 };
        let mut plan = plan_due_on(end);
        follow_report(&mut plan, &end, ReportingPeriodState::Submitted, "r1");
        assert_eq!(plan.reporting_periods[0].state, ReportingPeriodState::Submitted as i32);
        follow_report(&mut plan, &end, ReportingPeriodState::Accepted, "r1");
        follow_report(&mut plan, &end, ReportingPeriodState::Due, "r2");
        assert_eq!(plan.reporting_periods[0].state, ReportingPeriodState::Accepted as i32);
        assert_eq!(plan.reporting_periods[0].outcome_report, "r2");
        // Another period's end changes nothing.
        follow_report(&mut plan, &Date { year: 2027, month: 12, day: 31 }, ReportingPeriodState::Due, "r3");
        assert_eq!(plan.reporting_periods[0].outcome_report, "r2");
    }

    fn actor(subject: &str) -> Actor {
        Actor { subject: subject.into(), ..Default::default() }
    }

    #[test]
    fn a_fulfilment_is_proposed_by_one_person_and_confirmed_by_another() {
        let open = MonitoringPlanState::Active;
        let mut condition = Condition { state: ConditionState::Open as i32, ..Default::default() };
        let first = condition_step(open, &condition, ConditionStep::Fulfil, "ann").unwrap();
        assert_eq!(first, Settles::Proposed);
        let evidence = Attachment { name: "a.pdf".into(), ..Default::default() };
        apply_condition_step(&mut condition, ConditionStep::Fulfil, first, "done", &[evidence], actor("ann"), None);
        assert_eq!(condition.state, ConditionState::Open as i32, "a proposal changes no state");
        assert_eq!(
            reason(condition_step(open, &condition, ConditionStep::Fulfil, "ann").unwrap_err()),
            "SECOND_PERSON_REQUIRED"
        );
        let second = condition_step(open, &condition, ConditionStep::Fulfil, "bo").unwrap();
        assert_eq!(second, Settles::Now);
        let more = Attachment { name: "b.pdf".into(), ..Default::default() };
        apply_condition_step(&mut condition, ConditionStep::Fulfil, second, "seen", &[more], actor("bo"), None);
        assert_eq!(condition.state, ConditionState::Fulfilled as i32);
        let names: Vec<_> = condition.evidence.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["a.pdf", "b.pdf"], "the proposal's evidence and the confirmation's");
        assert_eq!(condition.resolved_by.unwrap().subject, "bo");
    }

    #[test]
    fn a_breach_is_at_once_and_only_an_open_condition_is_waived_or_breached() {
        let active = MonitoringPlanState::Active;
        let mut condition = Condition { state: ConditionState::Open as i32, ..Default::default() };
        // A pending waiver proposal does not count for a fulfilment.
        apply_condition_step(&mut condition, ConditionStep::Waive, Settles::Proposed, "why", &[], actor("ann"), None);
        assert_eq!(condition_step(active, &condition, ConditionStep::Fulfil, "bo").unwrap(), Settles::Proposed);
        let breach = condition_step(active, &condition, ConditionStep::Breach, "ann").unwrap();
        assert_eq!(breach, Settles::Now);
        apply_condition_step(&mut condition, ConditionStep::Breach, breach, "late", &[], actor("ann"), None);
        assert_eq!(condition.state, ConditionState::Breached as i32);
        assert!(condition.proposal.is_none(), "a breach drops what was pending");
        for step in [ConditionStep::Waive, ConditionStep::Breach] {
            assert_eq!(reason(condition_step(active, &condition, step, "bo").unwrap_err()), "ILLEGAL_STATE_TRANSITION");
        }
        // A breached condition can still be fulfilled late.
        assert_eq!(condition_step(active, &condition, ConditionStep::Fulfil, "bo").unwrap(), Settles::Proposed);
        assert_eq!(
            reason(condition_step(MonitoringPlanState::Closed, &condition, ConditionStep::Fulfil, "bo").unwrap_err()),
            "PLAN_CLOSED"
        );
    }

    #[test]
    fn only_a_pending_plan_is_activated_and_a_closed_plan_is_not_closed_again() {
        use MonitoringPlanState::*;
        assert!(may_activate(Pending).is_ok());
        for state in [Active, Closed, Unspecified] {
            assert_eq!(reason(may_activate(state).unwrap_err()), "ILLEGAL_STATE_TRANSITION", "{state:?}");
        }
        assert!(may_close(Pending).is_ok());
        assert!(may_close(Active).is_ok());
        let Err(Error::Precondition { reason, message }) = may_close(Closed) else { panic!("closed twice") };
        assert_eq!((reason, message.as_str()), ("ILLEGAL_STATE_TRANSITION", "the plan is already closed"));
    }

    #[test]
    fn reports_are_drafted_only_for_an_active_plan() {
        assert!(may_draft_report(MonitoringPlanState::Active).is_ok());
        let Err(Error::Precondition { reason, message }) = may_draft_report(MonitoringPlanState::Pending) else {
            panic!("a pending plan took a report");
        };
        assert_eq!((reason, message.as_str()), ("ILLEGAL_STATE_TRANSITION", "reports are made for an active plan"));
        assert!(may_draft_report(MonitoringPlanState::Closed).is_err());
    }

    #[test]
    fn an_accepted_report_meets_its_period_and_a_returned_one_makes_it_due_again() {
        assert_eq!(review_step(true), ReportStep::Accept);
        assert_eq!(review_step(false), ReportStep::Return);
        assert_eq!(period_after(ReportStep::Submit), Some(ReportingPeriodState::Submitted));
        assert_eq!(period_after(ReportStep::Accept), Some(ReportingPeriodState::Accepted));
        assert_eq!(period_after(ReportStep::Return), Some(ReportingPeriodState::Due));
        assert_eq!(period_after(ReportStep::Edit), None);
    }

    #[test]
    fn the_first_draft_names_its_period_without_moving_its_state() {
        let end = Date { year: 2026, month: 12, day: 31 };
        let mut plan = plan_due_on(end);
        name_period_report(&mut plan, &Date { year: 2027, month: 12, day: 31 }, "other");
        assert_eq!(plan.reporting_periods[0].outcome_report, "");
        name_period_report(&mut plan, &end, "r1");
        assert_eq!(plan.reporting_periods[0].outcome_report, "r1");
        assert_eq!(plan.reporting_periods[0].state, ReportingPeriodState::Due as i32);
    }

    #[test]
    fn a_review_comment_names_only_list_elements_the_report_has() {
        let value = IndicatorValue { indicator_code: "A".into(), ..Default::default() };
        let report = OutcomeReport { indicator_values: vec![value], ..Default::default() };
        assert!(path_within(&report, "narrative"));
        assert!(path_within(&report, "indicator_values[0].value"));
        assert!(!path_within(&report, "indicator_values[1]"));
        assert!(!path_within(&report, "evidence[0]"));
        assert!(!path_within(&report, "deviations[x]"));
        let comment = |path: &str| common::FieldComment { field_path: path.into(), comment: "why".into() };
        assert!(comments_within(&report, &[comment("narrative"), comment("indicator_values[0]")]).is_ok());
        let Err(Error::InvalidArgument(violations)) =
            comments_within(&report, &[comment("narrative"), comment("target_group_reach[0]")])
        else {
            panic!("a comment on a missing element passed");
        };
        assert_eq!(violations[0].field, "comments[1].field_path");
        assert_eq!(violations[0].description, "names a list element this report does not have");
    }

    #[test]
    fn a_reviewers_general_comment_is_kept_without_a_field_path_after_the_field_comments() {
        assert!(acceptance_comments("").unwrap().is_empty());
        let accepted = acceptance_comments("well done").unwrap();
        assert_eq!(accepted.len(), 1);
        assert_eq!((accepted[0].field_path.as_str(), accepted[0].comment.as_str()), ("", "well done"));
        let on_field = common::FieldComment { field_path: "narrative".into(), comment: "too short".into() };
        let returned = return_comments(std::slice::from_ref(&on_field), "see the notes").unwrap();
        let pairs: Vec<_> = returned.iter().map(|c| (c.field_path.as_str(), c.comment.as_str())).collect();
        assert_eq!(pairs, [("narrative", "too short"), ("", "see the notes")]);
        assert_eq!(return_comments(std::slice::from_ref(&on_field), "").unwrap().len(), 1);
    }

    #[test]
    fn a_review_with_a_comment_too_long_or_a_return_saying_nothing_is_refused() {
        let Err(Error::InvalidArgument(too_long)) = acceptance_comments(&"x".repeat(4001)) else {
            panic!("a 4001-character comment passed");
        };
        assert_eq!(too_long[0].field, "comment");
        let Err(Error::InvalidArgument(empty)) = return_comments(&[], "") else {
            panic!("a return without comments passed");
        };
        assert_eq!(empty[0].field, "comments");
    }

    #[test]
    fn a_borrower_sees_only_its_own_overdue_items_whatever_it_asks_for() {
        let own = ["5560000001".to_owned(), "5560000003".to_owned()];
        assert_eq!(overdue_organization(Some(&own[..1]), "5560000002").unwrap(), ["5560000001"]);
        assert_eq!(overdue_organization(Some(&own[..1]), "").unwrap(), ["5560000001"]);
        assert_eq!(overdue_organization(Some(&own), "").unwrap(), own, "every organisation of the token");
        assert_eq!(overdue_organization(Some(&own), "5560000003").unwrap(), ["5560000003"]);
        assert_eq!(overdue_organization(Some(&own), "5560000002").unwrap(), own, "never another's");
        assert_eq!(overdue_organization(None, "5560000002").unwrap(), ["5560000002"]);
        assert_eq!(overdue_organization(None, ""), None);
    }
}
