//! The monitoring service's feed, applied here: where each condition of an
//! approval stands (fulfilled, waived, breached — each decided in monitoring
//! with four eyes). TagLoan reads it: an open precondition stops a loan.

use prost::Name;
use socialloans_contracts::{applications as pb, monitoring as mo};
use socialloans_platform::events::{Event, Handler, HandlerError, payload};
use sqlx::PgConnection;

use crate::{
    record::timestamp,
    service::{Actor, Applications, Change, parse_name},
};

/// The monitoring feed method.
pub const MONITORING_FEED: &str = "/socialloans.monitoring.v1.MonitoringService/StreamEvents";

/// The event types this service consumes from monitoring.
pub fn types() -> Vec<String> {
    [
        mo::ConditionFulfilled::full_name(),
        mo::ConditionWaived::full_name(),
        mo::ConditionBreached::full_name(),
        mo::SocialLabelWithdrawn::full_name(),
    ]
    .into()
}

/// Applies monitoring's condition events to applications.
#[derive(Debug, Clone, Copy)]
pub struct MonitoringEvents;

impl Handler for MonitoringEvents {
    async fn handle(&self, conn: &mut PgConnection, event: &Event) -> Result<(), HandlerError> {
        if let Some(withdrawn) = payload::<mo::SocialLabelWithdrawn>(event)? {
            return label_withdrawn(conn, withdrawn).await;
        }
        let (condition, application, status, action) = if let Some(e) = payload::<mo::ConditionFulfilled>(event)? {
            (e.condition, e.application, pb::ConditionStatus::Fulfilled, "CONDITION_FULFILLED")
        } else if let Some(e) = payload::<mo::ConditionWaived>(event)? {
            (e.condition, e.application, pb::ConditionStatus::Waived, "CONDITION_WAIVED")
        } else if let Some(e) = payload::<mo::ConditionBreached>(event)? {
            (e.condition, e.application, pb::ConditionStatus::Breached, "CONDITION_BREACHED")
        } else {
            return Ok(()); // not ours to apply
        };
        let id = parse_name("application", &application).map_err(|v| HandlerError::Rejected(v.description))?;
        let key = condition.rsplit_once("/conditions/").map(|(_, key)| key.to_owned()).unwrap_or_default();
        let actor = Actor { subject: "monitoring".into(), role: "service".into(), organization: String::new() };
        Applications::apply_in(conn, id, &actor, |record| {
            let Some(kept) = record.app.conditions.iter_mut().find(|c| c.id == key) else {
                // A condition an amendment dropped lives on in monitoring until a
                // reviewer waives it: that news is recorded, not applied.
                return Ok(Change {
                    action: "CONDITION_EVENT_IGNORED",
                    comment: format!("{key}: not a condition of the decision in force"),
                    ..Default::default()
                });
            };
            kept.status = status as i32;
            kept.status_time = Some(timestamp(chrono::Utc::now()));
            let condition = Some(kept.clone());
            let changed = pb::ApplicationConditionChanged {
                application: record.name(),
                organization_number: record.row.organization_number.clone(),
                condition,
            };
            Ok(Change {
                action,
                comment: key.clone(),
                events: vec![crate::service::event(changed)],
                ..Default::default()
            })
        })
        .await
        .map_err(crate::decisions::reject)
    }
}

/// Records the label's withdrawal on the application and tells core banking
/// (`ApplicationLabelWithdrawn`): the discount ends from its effective date.
/// A second delivery of the same withdrawal changes nothing.
async fn label_withdrawn(conn: &mut PgConnection, withdrawn: mo::SocialLabelWithdrawn) -> Result<(), HandlerError> {
    let id = parse_name("application", &withdrawn.application).map_err(|v| HandlerError::Rejected(v.description))?;
    let actor = Actor { subject: "monitoring".into(), role: "service".into(), organization: String::new() };
    Applications::apply_in(conn, id, &actor, |record| {
        if record.app.label_withdrawal.as_ref().is_some_and(|w| w.monitoring_plan == withdrawn.monitoring_plan) {
            return Ok(Change { unchanged: true, ..Default::default() });
        }
        let withdrawal = pb::LabelWithdrawal {
            effective_date: withdrawn.effective_date,
            reason: withdrawn.reason.clone(),
            monitoring_plan: withdrawn.monitoring_plan.clone(),
            withdraw_time: Some(timestamp(chrono::Utc::now())),
        };
        record.app.label_withdrawal = Some(withdrawal.clone());
        let told = pb::ApplicationLabelWithdrawn {
            application: record.name(),
            organization_number: record.row.organization_number.clone(),
            label_withdrawal: Some(withdrawal),
        };
        Ok(Change {
            action: "LABEL_WITHDRAWN",
            comment: withdrawn.reason.clone(),
            events: vec![crate::service::event(told)],
            ..Default::default()
        })
    })
    .await
    .map_err(crate::decisions::reject)
}
