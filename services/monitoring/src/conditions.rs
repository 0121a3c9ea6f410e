//! Follow-up of the committee's conditions. A fulfilment or a waiver needs
//! four eyes: one person proposes it, a different person confirms it; a
//! breach is declared at once. The condition lives in its plan, so each
//! change saves the plan (and moves the plan's etag, which is the
//! condition's).

use chrono::Utc;
use socialloans_contracts::common;
use socialloans_contracts::common::Attachment;
use socialloans_contracts::monitoring::{self as pb, Condition, ConditionState};
use socialloans_platform::{Caller, error::FieldViolation, events::outbox};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    audit,
    error::Error,
    plans::{self, PlanRow},
    rules::{self, ConditionStep, Settles},
    store,
};

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
    fn step(&self) -> ConditionStep {
        match self {
            Action::Fulfil { .. } => ConditionStep::Fulfil,
            Action::Waive { .. } => ConditionStep::Waive,
            Action::Breach { .. } => ConditionStep::Breach,
        }
    }

    fn evidence(&self) -> &[Attachment] {
        match self {
            Action::Fulfil { evidence, .. } => evidence,
            _ => &[],
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

/// A request to act on a condition: the condition's name, the etag the
/// caller read (empty: any), and what to do.
pub trait Command {
    /// Name, etag and action.
    fn command(&self) -> (&str, &str, Action);
}

impl Command for pb::FulfilConditionRequest {
    fn command(&self) -> (&str, &str, Action) {
        (&self.name, &self.etag, Action::Fulfil { note: self.note.clone(), evidence: self.evidence.clone() })
    }
}

impl Command for pb::WaiveConditionRequest {
    fn command(&self) -> (&str, &str, Action) {
        (&self.name, &self.etag, Action::Waive { reason: self.reason.clone() })
    }
}

impl Command for pb::BreachConditionRequest {
    fn command(&self) -> (&str, &str, Action) {
        (&self.name, &self.etag, Action::Breach { reason: self.reason.clone() })
    }
}

/// The problems of an evidence document (see `socialloans_platform::limits::attachment`).
pub fn check_attachment(at: &str, a: &common::Attachment) -> Vec<FieldViolation> {
    socialloans_platform::limits::attachment(at, a)
}

/// `monitoringPlans/{uuid}/conditions/{id}`.
fn parse(name: &str) -> Result<Uuid, Error> {
    Ok(socialloans_platform::names::uuid("name", "monitoringPlans/{uuid}/conditions/{id}", name)?)
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
    let row =
        store::plans::find(&mut *conn, plan_id, None, true).await?.ok_or_else(|| Error::NotFound(name.to_owned()))?;
    let mut plan = row.view()?;
    outbox::follow_thread(conn, &plan.application).await?;
    let index = plan.conditions.iter().position(|c| c.name == name).ok_or_else(|| Error::NotFound(name.to_owned()))?;
    if !etag.is_empty() && etag != plan.etag {
        return Err(Error::EtagMismatch { current: plan.etag });
    }
    let now = Some(socialloans_platform::timestamp(Utc::now()));
    let condition = &mut plan.conditions[index];
    let state = ConditionState::try_from(condition.state).unwrap_or_default();
    let (step, me) = (action.step(), audit::actor_of(caller));
    let settles = rules::condition_step(row.state(), condition, step, &me.subject)?;
    let confirmed = settles == Settles::Now;
    rules::apply_condition_step(condition, step, settles, action.note(), action.evidence(), me, now);
    let target = step.target();
    let condition = condition.clone();
    plans::save(conn, &row, &plan, row.state()).await?;
    let comment = if confirmed {
        action.note().to_owned()
    } else {
        format!("proposed {} for a second person to confirm: {}", target.as_str_name(), action.note())
    };
    let to = ConditionState::try_from(condition.state).unwrap_or_default();
    store::audit::record(conn, name, state.as_str_name(), to.as_str_name(), &comment).await?;
    if confirmed {
        let application = plan.application.clone();
        match &action {
            Action::Fulfil { note, .. } => {
                let event = pb::ConditionFulfilled { condition: name.to_owned(), application, note: note.clone() };
                outbox::append(conn, "monitoring", name, Some(&plan.organization_number), &event).await?;
            }
            Action::Waive { reason } => {
                let event = pb::ConditionWaived { condition: name.to_owned(), application, reason: reason.clone() };
                outbox::append(conn, "monitoring", name, Some(&plan.organization_number), &event).await?;
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
                outbox::append(conn, "monitoring", name, Some(&plan.organization_number), &event).await?;
            }
        }
    }
    // The etag the caller sees next is the saved plan's.
    let revision = plan.etag.trim_matches('"').parse::<i64>().unwrap_or_default() + 1;
    Ok(Condition { etag: format!("\"{revision}\""), ..condition })
}
