//! Follow-up of the committee's conditions. A fulfilment or a waiver needs
//! four eyes: one person proposes it, a different person confirms it; a
//! breach is declared at once. The condition lives in its plan, so each
//! change saves the plan (and moves the plan's etag, which is the
//! condition's).

use chrono::Utc;
use socialloans_contracts::monitoring::{
    self as pb, Attachment, Condition, ConditionProposal, ConditionState, MonitoringPlanState,
};
use socialloans_platform::{Caller, error::FieldViolation, events::outbox};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{audit, error::Error, plans};

/// What a reviewer does with a condition.
#[derive(Debug, Clone)]
pub enum Action {
    /// Judge it fulfilled (four eyes).
    Fulfil {
        /// How it was fulfilled.
        note: String,
        /// Evidence.
        evidence: Vec<Attachment>,
    },
    /// Waive it (four eyes).
    Waive {
        /// Why.
        reason: String,
    },
    /// Declare it breached.
    Breach {
        /// Why.
        reason: String,
    },
}

impl Action {
    fn target(&self) -> ConditionState {
        match self {
            Action::Fulfil { .. } => ConditionState::Fulfilled,
            Action::Waive { .. } => ConditionState::Waived,
            Action::Breach { .. } => ConditionState::Breached,
        }
    }

    fn note(&self) -> &str {
        match self {
            Action::Fulfil { note, .. } => note,
            Action::Waive { reason } | Action::Breach { reason } => reason,
        }
    }

    /// Every problem with the request itself.
    pub fn check(&self) -> Vec<FieldViolation> {
        let field = if matches!(self, Action::Fulfil { .. }) { "note" } else { "reason" };
        let mut v = Vec::new();
        if self.note().trim().is_empty() {
            v.push(FieldViolation::new(field, "is required"));
        }
        v.extend(socialloans_platform::limits::text(field, self.note(), 4000));
        if let Action::Fulfil { evidence, .. } = self {
            if evidence.len() > crate::reports::MAX_ITEMS {
                v.push(FieldViolation::new("evidence", format!("at most {} documents", crate::reports::MAX_ITEMS)));
            } else {
                for (i, a) in evidence.iter().enumerate() {
                    v.extend(check_attachment(&format!("evidence[{i}]"), a));
                }
            }
        }
        v
    }
}

/// The problems of an evidence document (see `socialloans_platform::limits::attachment`).
pub fn check_attachment(at: &str, a: &pb::Attachment) -> Vec<FieldViolation> {
    socialloans_platform::limits::attachment(
        at,
        &a.name,
        &a.media_type,
        a.size_bytes,
        &a.sha256,
        &a.uri,
        &a.description,
    )
}

/// `monitoringPlans/{uuid}/conditions/{id}`.
fn parse(name: &str) -> Result<Uuid, Error> {
    Ok(socialloans_platform::names::uuid("name", "monitoringPlans/{uuid}/conditions/{id}", name)?)
}

fn refuse(reason: &'static str, message: impl Into<String>) -> Error {
    Error::Precondition { reason, message: message.into() }
}

/// Applies `action` to the condition `name`, checking `etag` if given.
pub async fn resolve(
    conn: &mut PgConnection,
    caller: &Caller,
    name: &str,
    etag: &str,
    action: Action,
) -> Result<Condition, Error> {
    let plan_id = parse(name)?;
    let violations = action.check();
    if !violations.is_empty() {
        return Err(Error::InvalidArgument(violations));
    }
    let row = plans::lock(conn, plan_id, None).await?.ok_or_else(|| Error::NotFound(name.to_owned()))?;
    let mut plan = row.view()?;
    let index = plan.conditions.iter().position(|c| c.name == name).ok_or_else(|| Error::NotFound(name.to_owned()))?;
    if !etag.is_empty() && etag != plan.etag {
        return Err(Error::EtagMismatch { current: plan.etag });
    }
    if row.state() == MonitoringPlanState::Closed {
        return Err(refuse("PLAN_CLOSED", "the plan is closed; its conditions are no longer followed up"));
    }
    let now = Some(socialloans_platform::timestamp(Utc::now()));
    let condition = &mut plan.conditions[index];
    let state = ConditionState::try_from(condition.state).unwrap_or_default();
    let target = action.target();
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
    let me = audit::actor_of(caller);
    let pending = condition.proposal.as_ref().filter(|p| p.state == target as i32 && state != target);
    let confirmed = match (&action, pending) {
        (Action::Breach { .. }, _) => true,
        (_, Some(p)) if p.proposed_by.as_ref().is_some_and(|by| by.subject == me.subject) => {
            return Err(refuse(
                "SECOND_PERSON_REQUIRED",
                "you proposed this; a different reviewer must confirm it (four eyes)",
            ));
        }
        (_, Some(_)) => true,
        (_, None) => false,
    };
    if confirmed {
        if let Action::Fulfil { evidence, .. } = &action {
            let mut all = condition.proposal.as_ref().map(|p| p.evidence.clone()).unwrap_or_default();
            all.extend(evidence.iter().cloned());
            condition.evidence = all;
        }
        if matches!(action, Action::Breach { .. }) {
            condition.proposal = None;
        }
        condition.state = target as i32;
        condition.resolution_note = action.note().to_owned();
        condition.resolved_by = Some(me);
        condition.resolve_time = now;
    } else {
        condition.proposal = Some(ConditionProposal {
            state: target as i32,
            note: action.note().to_owned(),
            evidence: match &action {
                Action::Fulfil { evidence, .. } => evidence.clone(),
                _ => Vec::new(),
            },
            proposed_by: Some(me),
            propose_time: now,
        });
    }
    let condition = condition.clone();
    plans::save(conn, &row, &plan, row.state()).await?;
    let comment = if confirmed {
        action.note().to_owned()
    } else {
        format!("proposed {} for a second person to confirm: {}", target.as_str_name(), action.note())
    };
    let to = ConditionState::try_from(condition.state).unwrap_or_default();
    audit::record(conn, name, state.as_str_name(), to.as_str_name(), &comment).await?;
    if confirmed {
        let application = plan.application.clone();
        match &action {
            Action::Fulfil { note, .. } => {
                let event = pb::ConditionFulfilled { condition: name.to_owned(), application, note: note.clone() };
                outbox::append(conn, "monitoring", name, &event).await?;
            }
            Action::Waive { reason } => {
                let event = pb::ConditionWaived { condition: name.to_owned(), application, reason: reason.clone() };
                outbox::append(conn, "monitoring", name, &event).await?;
            }
            Action::Breach { reason } => {
                let event = pb::ConditionBreached {
                    condition: name.to_owned(),
                    application,
                    organization_number: plan.organization_number.clone(),
                    kind: condition.kind,
                    description: condition.description.clone(),
                    reason: reason.clone(),
                };
                outbox::append(conn, "monitoring", name, &event).await?;
            }
        }
    }
    // The etag the caller sees next is the saved plan's.
    let revision = plan.etag.trim_matches('"').parse::<i64>().unwrap_or_default() + 1;
    Ok(Condition { etag: format!("\"{revision}\""), ..condition })
}
