//! The committee's feed, applied here: a case opened for an application, a
//! decision confirmed (outcome, approved amount, conditions), a deferral.
//! Runs inside the consumer's transaction, which also moves its checkpoint.

use prost::Name;
use socialloans_contracts::common;
use socialloans_contracts::{applications as pb, committee as cm};
use socialloans_platform::events::{Event, Handler, HandlerError, payload};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    domain::{Action, Decision},
    error::Error,
    record::{Record, timestamp},
    service::{self, Actor, Applications, Change, parse_name, transition},
};

/// The committee's feed method.
pub const COMMITTEE_FEED: &str = "/socialloans.committee.v1.CommitteeService/StreamEvents";

/// The event types this service consumes from the committee.
pub fn types() -> Vec<String> {
    [
        cm::CaseOpened::full_name(),
        cm::CaseScheduled::full_name(),
        cm::CaseUnscheduled::full_name(),
        cm::DecisionConfirmed::full_name(),
        cm::CaseDeferred::full_name(),
        cm::DecisionAmended::full_name(),
    ]
    .into()
}

/// Applies the committee's events to applications.
#[derive(Debug, Clone)]
pub struct CommitteeEvents {
    /// Pricing discount given to approvals, in basis points.
    pub discount_bps: i32,
}

pub(crate) fn reject(err: Error) -> HandlerError {
    match err {
        Error::Database(e) => HandlerError::Database(e),
        other => HandlerError::Rejected(other.to_string()),
    }
}

/// The application an event of the committee names.
fn application_id(name: &str) -> Result<Uuid, HandlerError> {
    parse_name("application", name).map_err(|v| HandlerError::Rejected(v.description))
}

/// Applies `change` to application `id`, as the committee.
async fn apply(
    conn: &mut PgConnection,
    id: Uuid,
    change: impl FnOnce(&mut Record) -> Result<Change, Error>,
) -> Result<(), HandlerError> {
    Applications::apply_in(conn, id, &Actor::committee(), change).await.map_err(reject)
}

impl Handler for CommitteeEvents {
    async fn handle(&self, conn: &mut PgConnection, event: &Event) -> Result<(), HandlerError> {
        if let Some(opened) = payload::<cm::CaseOpened>(event)? {
            return apply(conn, application_id(&opened.application)?, |record| case_opened(record, &opened)).await;
        }
        if let Some(scheduled) = payload::<cm::CaseScheduled>(event)? {
            let meeting = scheduled.meeting.clone();
            return apply(conn, application_id(&scheduled.application)?, |record| on_agenda(record, meeting)).await;
        }
        if let Some(left) = payload::<cm::CaseUnscheduled>(event)? {
            return apply(conn, application_id(&left.application)?, |record| on_agenda(record, String::new())).await;
        }
        if let Some(deferred) = payload::<cm::CaseDeferred>(event)? {
            return apply(conn, application_id(&deferred.application)?, |record| defer(record, &deferred)).await;
        }
        if let Some(amended) = payload::<cm::DecisionAmended>(event)? {
            return apply(conn, application_id(&amended.application)?, |record| amend(record, &amended)).await;
        }
        let Some(decision) = payload::<cm::DecisionConfirmed>(event)? else {
            return Ok(()); // not ours to apply
        };
        let id = application_id(&decision.application)?;
        let outcome = match cm::DecisionOutcome::try_from(decision.outcome) {
            Ok(cm::DecisionOutcome::Approve) => Decision::Approved,
            Ok(cm::DecisionOutcome::ApproveWithConditions) => Decision::ApprovedWithConditions,
            Ok(cm::DecisionOutcome::Decline) => Decision::Declined,
            _ => return Err(HandlerError::Rejected(format!("outcome {} is not a final decision", decision.outcome))),
        };
        let discount_bps = self.discount_bps;
        apply(conn, id, |record| decide(record, &decision, outcome, discount_bps)).await
    }
}

/// A case opened for the application: it keeps the case's name.
fn case_opened(record: &mut Record, opened: &cm::CaseOpened) -> Result<Change, Error> {
    record.app.committee_case = opened.case.clone();
    Ok(Change { action: "COMMITTEE_CASE_OPENED", comment: opened.case.clone(), ..Default::default() })
}

/// The case went on a meeting's agenda (`meeting`) or left it (empty): a
/// referred application is returned for completion only while it is on none.
fn on_agenda(record: &mut Record, meeting: String) -> Result<Change, Error> {
    let (action, comment) = if meeting.is_empty() {
        ("COMMITTEE_CASE_UNSCHEDULED", record.app.committee_meeting.clone())
    } else {
        ("COMMITTEE_CASE_SCHEDULED", meeting.clone())
    };
    record.app.committee_meeting = meeting;
    Ok(Change { action, comment, ..Default::default() })
}

/// The committee deferred its decision: the summary counts the deferral
/// and names the meeting.
fn defer(record: &mut Record, deferred: &cm::CaseDeferred) -> Result<Change, Error> {
    record.app.committee_meeting.clear();
    let summary = record.app.committee_decision.get_or_insert_with(Default::default);
    summary.deferral_count = deferred.deferral_count;
    summary.meeting = deferred.meeting.clone();
    Ok(Change { action: "COMMITTEE_DEFERRED", comment: deferred.rationale.clone(), ..Default::default() })
}

/// The committee's final decision: the application is approved (with the
/// amount, conditions and the pricing discount) or declined, and says so on
/// its feed. Withdrawn while the committee met, it keeps its state.
fn decide(
    record: &mut Record,
    decision: &cm::DecisionConfirmed,
    outcome: Decision,
    discount_bps: i32,
) -> Result<Change, Error> {
    if record.state == pb::ApplicationState::Withdrawn {
        // Withdrawn while the committee met: the decision no longer applies.
        return Ok(Change { action: "COMMITTEE_DECISION_IGNORED", comment: "withdrawn".into(), ..Default::default() });
    }
    transition(record, Action::ApplyDecision(outcome))?;
    record.app.committee_meeting.clear();
    let requested = record.app.requested_amount.as_ref().map(|m| m.minor_units).unwrap_or_default();
    if outcome != Decision::Declined {
        let amount = decision.approved_amount.as_ref().map(|m| m.minor_units).unwrap_or(requested);
        if amount <= 0 || amount > requested {
            return Err(Error::Precondition {
                reason: "APPROVED_AMOUNT_INVALID",
                message: format!("approved {amount} öre, applied for {requested} öre"),
            });
        }
        record.app.approved_amount = Some(common::Money { currency_code: "SEK".into(), minor_units: amount });
        record.app.pricing_discount_bps = discount_bps;
        record.app.conditions = opened(&decision.conditions, &[]);
    }
    let summary_outcome = match outcome {
        Decision::Approved => pb::CommitteeOutcome::Approved,
        Decision::ApprovedWithConditions => pb::CommitteeOutcome::ApprovedWithConditions,
        Decision::Declined => pb::CommitteeOutcome::Declined,
    };
    record.app.committee_decision = Some(pb::CommitteeDecisionSummary {
        decision: decision.decision.clone(),
        meeting: decision.meeting.clone(),
        outcome: summary_outcome as i32,
        approved_amount: record.app.approved_amount.clone(),
        rationale: decision.rationale.clone(),
        deferral_count: decision.deferral_count,
        confirm_time: decision.confirm_time,
        chain_sequence: decision.chain_sequence,
        chain_hash: decision.chain_hash.clone(),
    });
    record.app.decide_time = Some(timestamp(chrono::Utc::now()));
    let published = if outcome == Decision::Declined {
        service::event(pb::ApplicationDeclined {
            application: record.name(),
            organization_number: record.row.organization_number.clone(),
            decision: decision.decision.clone(),
            rationale: decision.rationale.clone(),
        })
    } else {
        service::event(pb::ApplicationApproved { application: Some(record.snapshot()) })
    };
    Ok(Change {
        action: "APPLY_COMMITTEE_DECISION",
        comment: decision.decision.clone(),
        events: vec![published],
        ..Default::default()
    })
}

/// An amendment of the committee's decision: the approved amount, the
/// conditions and the decision's summary follow it; the state does not (an
/// amendment never changes the outcome). Monitoring is told of approvals.
fn amend(record: &mut Record, amended: &cm::DecisionAmended) -> Result<Change, Error> {
    use pb::ApplicationState as S;
    let decided = matches!(
        record.state,
        S::Approved | S::ApprovedWithConditions | S::Active | S::Closed | S::Declined | S::Lapsed
    );
    if !decided {
        return Ok(Change {
            action: "COMMITTEE_AMENDMENT_IGNORED",
            comment: format!(
                "{} amends a decision this application ({}) never took",
                amended.decision,
                record.state.as_str_name()
            ),
            ..Default::default()
        });
    }
    let summary = record.app.committee_decision.get_or_insert_with(Default::default);
    summary.decision.clone_from(&amended.decision);
    summary.rationale.clone_from(&amended.rationale);
    summary.confirm_time = amended.confirm_time;
    if record.state == S::Declined {
        return Ok(Change {
            action: "APPLY_COMMITTEE_AMENDMENT",
            comment: amended.decision.clone(),
            ..Default::default()
        });
    }
    let requested = record.app.requested_amount.as_ref().map(|m| m.minor_units).unwrap_or_default();
    let amount = amended.approved_amount.as_ref().map(|m| m.minor_units).unwrap_or(requested);
    if amount <= 0 || amount > requested {
        return Err(Error::Precondition {
            reason: "APPROVED_AMOUNT_INVALID",
            message: format!("amended to {amount} öre, applied for {requested} öre"),
        });
    }
    let previous =
        record.app.approved_amount.replace(common::Money { currency_code: "SEK".into(), minor_units: amount });
    record.app.conditions = opened(&amended.conditions, &record.app.conditions);
    if let Some(summary) = record.app.committee_decision.as_mut() {
        summary.approved_amount.clone_from(&record.app.approved_amount);
        // The chain's entry of the amendment anchors it now.
        summary.chain_sequence = amended.chain_sequence;
        summary.chain_hash.clone_from(&amended.chain_hash);
    }
    let owed = crate::loans::outstanding_total(record);
    let mut comment = amended.decision.clone();
    if owed > amount {
        comment.push_str(&format!(": the loans outstanding ({owed} öre) exceed the amended amount ({amount} öre)"));
    }
    let published = service::event(pb::ApplicationDecisionAmended {
        application: Some(record.snapshot()),
        amends: amended.amends.clone(),
        previous_approved_amount: previous,
    });
    Ok(Change { action: "APPLY_COMMITTEE_AMENDMENT", comment, events: vec![published], ..Default::default() })
}

/// The committee's conditions as the application keeps them: OPEN, unless
/// `before` (the conditions an amendment replaces) already had the same key
/// fulfilled, waived or breached.
fn opened(conditions: &[cm::Condition], before: &[pb::Condition]) -> Vec<pb::Condition> {
    conditions
        .iter()
        .map(|c| pb::Condition {
            id: c.id.clone(),
            kind: c.kind,
            description: c.description.clone(),
            due_date: c.due_date,
            ..Default::default()
        })
        .map(|mut c| {
            match before.iter().find(|b| b.id == c.id && b.status != pb::ConditionStatus::Unspecified as i32) {
                Some(b) => {
                    c.status = b.status;
                    c.status_time = b.status_time;
                }
                None => c.status = pb::ConditionStatus::Open as i32,
            }
            c
        })
        .collect()
}
