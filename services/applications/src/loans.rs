//! Core banking's loans on an approved application: tagged once each, never
//! before the approval's preconditions are met, never above the approved
//! amount.

use socialloans_contracts::applications::{self as pb, LoanTag};
use socialloans_contracts::common;
use socialloans_platform::error::FieldViolation;

use crate::{
    domain::Action,
    error::Error,
    record::{Record, timestamp},
    service::{Change, event, transition},
};

/// Most loans tagged to one application over its life.
pub const MAX_LOANS: usize = 100;

/// Tags `loan` to an approved application: idempotent on the loan id, never
/// above the approved amount.
pub fn tag(record: &mut Record, loan: LoanTag) -> Result<Change, Error> {
    if let Some(existing) = record.app.loans.iter().find(|l| l.loan_id == loan.loan_id) {
        let same = existing.principal.as_ref().map(|m| m.minor_units) == loan.principal.as_ref().map(|m| m.minor_units);
        return if same {
            Ok(Change { unchanged: true, ..Default::default() }) // tagging the same loan again is harmless
        } else {
            Err(Error::Precondition {
                reason: "LOAN_ALREADY_TAGGED",
                message: format!("loan {} is already tagged with another principal", loan.loan_id),
            })
        };
    }
    if record.app.loans.len() >= MAX_LOANS {
        return Err(Error::Precondition {
            reason: "TOO_MANY_LOANS",
            message: format!("an application finances at most {MAX_LOANS} loans"),
        });
    }
    let previous = record.state;
    transition(record, Action::TagLoan)?;
    // No loan before the approval's preconditions are met (or waived).
    let open: Vec<FieldViolation> = record
        .app
        .conditions
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            c.kind == common::ConditionKind::Precondition as i32
                && ![pb::ConditionStatus::Fulfilled as i32, pb::ConditionStatus::Waived as i32].contains(&c.status)
        })
        .map(|(i, c)| {
            FieldViolation::new(format!("conditions[{i}]"), format!("{} ({}) is not met yet", c.id, c.description))
        })
        .collect();
    if !open.is_empty() {
        return Err(Error::Incomplete {
            reason: "PRECONDITIONS_NOT_MET",
            message: format!(
                "{} precondition(s) of the approval are not met; the monitoring service records them",
                open.len()
            ),
            violations: open,
        });
    }
    let tagged = record.tagged_principal();
    let principal = loan.principal.as_ref().map(|m| m.minor_units).unwrap_or_default();
    let approved = record.app.approved_amount.as_ref().map(|m| m.minor_units).unwrap_or_default();
    let total = tagged.saturating_add(principal);
    if total > approved {
        return Err(Error::Precondition {
            reason: "LOAN_EXCEEDS_APPROVED_AMOUNT",
            message: format!("tagged loans would total {total} öre, above the approved {approved} öre"),
        });
    }
    let mut loan = loan;
    loan.tag_time = Some(timestamp(chrono::Utc::now()));
    record.app.loans.push(loan.clone());
    let total = common::Money { currency_code: "SEK".into(), minor_units: total };
    let event_payload = pb::LoanTagged {
        application: record.name(),
        organization_number: record.row.organization_number.clone(),
        loan: Some(loan.clone()),
        total_tagged_principal: Some(total),
        previous_state: previous as i32,
    };
    Ok(Change {
        action: "TAG_LOAN",
        comment: loan.loan_id.clone(),
        events: vec![event(event_payload)],
        loan: Some(loan.loan_id),
        ..Default::default()
    })
}
