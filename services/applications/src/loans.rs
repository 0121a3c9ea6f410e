//! Core banking's loans on an approved application, over their whole life:
//! tagged once each, never before the approval's preconditions are met;
//! amortised, matured, redeemed or refinanced as core banking reports; a tag
//! made in error cancelled with four eyes. The cap counts what is
//! outstanding on the live loans, bounded by the approved amount and the
//! credit assessment's limit alike.

use chrono::{DateTime, Utc};
use socialloans_contracts::applications::{
    self as pb, LoanChange, LoanState, LoanTag, LoanTagCancellation, record_loan_event_request::Event,
};
use socialloans_contracts::common;
use socialloans_platform::error::FieldViolation;

use crate::{
    domain::Action,
    error::{Error, Own},
    record::{Record, timestamp},
    service::{Actor, Change, event, transition},
};

/// Most loans tagged to one application over its life.
pub const MAX_LOANS: usize = 100;

/// Where `loan` stands; a loan tagged before loan states existed is ACTIVE.
pub fn state(loan: &LoanTag) -> LoanState {
    match LoanState::try_from(loan.state) {
        Ok(LoanState::Unspecified) | Err(_) => LoanState::Active,
        Ok(state) => state,
    }
}

/// The principal `loan` still owes, in öre: nothing once it is not ACTIVE.
pub fn outstanding(loan: &LoanTag) -> i64 {
    if state(loan) != LoanState::Active {
        return 0;
    }
    loan.outstanding_principal.as_ref().or(loan.principal.as_ref()).map_or(0, |m| m.minor_units)
}

/// The principal outstanding on the application's live loans, in öre.
pub fn outstanding_total(record: &Record) -> i64 {
    record.app.loans.iter().map(outstanding).fold(0, i64::saturating_add)
}

fn sek(minor_units: i64) -> common::Money {
    common::Money { currency_code: "SEK".into(), minor_units }
}

fn precondition(reason: &'static str, message: String) -> Error {
    Error::Precondition { reason, message }
}

/// The outstanding principal may exceed neither the approved amount nor the
/// credit assessment's limit.
fn within_cap(record: &Record, total: i64) -> Result<(), Error> {
    let approved = record.app.approved_amount.as_ref().map(|m| m.minor_units).unwrap_or_default();
    if total > approved {
        return Err(precondition(
            "LOAN_EXCEEDS_APPROVED_AMOUNT",
            format!("the live loans would owe {total} öre, above the approved {approved} öre"),
        ));
    }
    let limit = record.app.credit_assessment.as_ref().and_then(|c| c.credit_limit.as_ref()).map(|m| m.minor_units);
    if let Some(limit) = limit.filter(|limit| total > *limit) {
        return Err(precondition(
            "LOAN_EXCEEDS_CREDIT_LIMIT",
            format!("the live loans would owe {total} öre, above the credit limit of {limit} öre"),
        ));
    }
    Ok(())
}

/// Tags `loan` to an approved application: idempotent on the loan id,
/// never above the cap; a refinancing replaces the loan it names.
pub fn tag(record: &mut Record, loan: LoanTag, now: DateTime<Utc>) -> Result<Change, Error> {
    if let Some(existing) = record.app.loans.iter().find(|l| l.loan_id == loan.loan_id) {
        if state(existing) == LoanState::Cancelled {
            return Err(precondition(
                "LOAN_TAG_CANCELLED",
                format!("loan {}'s tag on this application was cancelled; tag it to the one it finances", loan.loan_id),
            ));
        }
        let same = existing.principal.as_ref().map(|m| m.minor_units) == loan.principal.as_ref().map(|m| m.minor_units);
        return if same {
            Ok(Change { unchanged: true, ..Default::default() }) // tagging the same loan again is harmless
        } else {
            Err(precondition(
                "LOAN_ALREADY_TAGGED",
                format!("loan {} is already tagged with another principal", loan.loan_id),
            ))
        };
    }
    if record.app.loans.len() >= MAX_LOANS {
        return Err(precondition("TOO_MANY_LOANS", format!("an application finances at most {MAX_LOANS} loans")));
    }
    let previous = record.state;
    transition(record, Action::TagLoan)?;
    preconditions_met(record)?;
    let mut events = Vec::new();
    if !loan.refinances_loan_id.is_empty() {
        let old = refinanced(record, &loan, now)?;
        events.push(updated(record, old, LoanChange::Refinanced));
    }
    let principal = loan.principal.as_ref().map(|m| m.minor_units).unwrap_or_default();
    let total = outstanding_total(record).saturating_add(principal);
    within_cap(record, total)?;
    let stamp = Some(timestamp(now));
    let loan = LoanTag {
        state: LoanState::Active as i32,
        outstanding_principal: loan.principal.clone(),
        tag_time: stamp,
        update_time: stamp,
        ..loan
    };
    record.app.loans.push(loan.clone());
    // Each financing once: a refinanced loan lives on in the one that replaced it.
    let tagged = record.app.loans.iter().filter(|l| !matches!(state(l), LoanState::Cancelled | LoanState::Refinanced));
    let ever = tagged.filter_map(|l| l.principal.as_ref()).map(|m| m.minor_units).fold(0, i64::saturating_add);
    events.insert(
        0,
        event(pb::LoanTagged {
            application: record.name(),
            organization_number: record.row.organization_number.clone(),
            loan: Some(loan.clone()),
            total_tagged_principal: Some(sek(ever)),
            previous_state: previous as i32,
            total_outstanding_principal: Some(sek(total)),
        }),
    );
    Ok(Change {
        action: "TAG_LOAN",
        comment: loan.loan_id.clone(),
        events,
        loan: Some(loan.loan_id),
        loans_changed: true,
        ..Default::default()
    })
}

/// No loan before the approval's preconditions are met (or waived).
fn preconditions_met(record: &Record) -> Result<(), Error> {
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
    if open.is_empty() {
        return Ok(());
    }
    Err(Error::Incomplete {
        reason: "PRECONDITIONS_NOT_MET",
        message: format!(
            "{} precondition(s) of the approval are not met; the monitoring service records them",
            open.len()
        ),
        violations: open,
    })
}

/// Marks the loan `new` refinances as REFINANCED; its index.
fn refinanced(record: &mut Record, new: &LoanTag, now: DateTime<Utc>) -> Result<usize, Error> {
    let index = record.app.loans.iter().position(|l| l.loan_id == new.refinances_loan_id);
    let Some(index) = index.filter(|i| {
        matches!(state(&record.app.loans[*i]), LoanState::Active | LoanState::Matured | LoanState::Redeemed)
    }) else {
        return Err(precondition(
            "LOAN_NOT_REFINANCEABLE",
            format!(
                "loan {} is not a loan of this application that is active, matured or redeemed",
                new.refinances_loan_id
            ),
        ));
    };
    let old = &mut record.app.loans[index];
    old.state = LoanState::Refinanced as i32;
    old.outstanding_principal = Some(sek(0));
    old.refinanced_by_loan_id = new.loan_id.clone();
    old.state_date = new.disbursement_date;
    old.update_time = Some(timestamp(now));
    Ok(index)
}

/// The event of the loan at `index` having changed by `change`.
fn updated(record: &Record, index: usize, change: LoanChange) -> (String, Vec<u8>) {
    event(pb::LoanUpdated {
        application: record.name(),
        organization_number: record.row.organization_number.clone(),
        loan: Some(record.app.loans[index].clone()),
        change: change as i32,
        total_outstanding_principal: Some(sek(outstanding_total(record))),
    })
}

/// The index of loan `loan_id` on the application.
fn find(record: &Record, loan_id: &str) -> Result<usize, Error> {
    record
        .app
        .loans
        .iter()
        .position(|l| l.loan_id == loan_id)
        .ok_or_else(|| Error::Own(Own::LoanNotFound { loan_id: loan_id.to_owned(), application: record.name() }))
}

fn not_active(loan: &LoanTag) -> Error {
    precondition(
        "LOAN_NOT_ACTIVE",
        format!("loan {} is {} and no longer changes", loan.loan_id, state(loan).as_str_name()),
    )
}

/// A change `kind` of loan `index` recorded: the history and the event.
fn loan_change(record: &Record, index: usize, action: &'static str, kind: LoanChange, comment: String) -> Change {
    Change { action, comment, events: vec![updated(record, index, kind)], loans_changed: true, ..Default::default() }
}

/// Core banking's report of what happened to loan `loan_id`.
pub fn record_event(record: &mut Record, loan_id: &str, what: Event, now: DateTime<Utc>) -> Result<Change, Error> {
    transition(record, Action::ChangeLoan)?;
    let index = find(record, loan_id)?;
    let loan = &record.app.loans[index];
    let (date, to, kind, action) = match &what {
        Event::Amortisation(a) => (a.date, LoanState::Active, LoanChange::Amortised, "AMORTISE_LOAN"),
        Event::Maturity(m) => (m.date, LoanState::Matured, LoanChange::Matured, "LOAN_MATURED"),
        Event::EarlyRedemption(r) => (r.date, LoanState::Redeemed, LoanChange::Redeemed, "REDEEM_LOAN"),
    };
    let owed = match &what {
        Event::Amortisation(a) => a.outstanding_principal.as_ref().map_or(0, |m| m.minor_units),
        _ => 0,
    };
    let current = state(loan);
    if current == to && to != LoanState::Active && loan.state_date == date {
        return Ok(Change { unchanged: true, ..Default::default() }); // the same report again
    }
    if current != LoanState::Active {
        return Err(not_active(loan));
    }
    if owed > outstanding(loan) {
        return Err(precondition(
            "OUTSTANDING_PRINCIPAL_INCREASED",
            format!("an amortisation lowers what loan {loan_id} owes ({} öre), never raises it", outstanding(loan)),
        ));
    }
    if let (Some(day), Some(disbursed)) = (date, loan.disbursement_date)
        && (day.year, day.month, day.day) < (disbursed.year, disbursed.month, disbursed.day)
    {
        return Err(precondition(
            "LOAN_DATE_BEFORE_DISBURSEMENT",
            format!("loan {loan_id} was disbursed on {}-{:02}-{:02}", disbursed.year, disbursed.month, disbursed.day),
        ));
    }
    if to == LoanState::Active && owed == outstanding(loan) && loan.state_date == date {
        return Ok(Change { unchanged: true, ..Default::default() }); // the same amortisation again
    }
    let loan = &mut record.app.loans[index];
    loan.state = to as i32;
    loan.outstanding_principal = Some(sek(owed));
    loan.state_date = date;
    loan.update_time = Some(timestamp(now));
    let comment = format!("{loan_id}: {} öre outstanding", owed);
    Ok(loan_change(record, index, action, kind, comment))
}

fn common_actor(actor: &Actor) -> common::Actor {
    common::Actor {
        subject: actor.subject.clone(),
        role: actor.role.clone(),
        organization_number: actor.organization.clone(),
    }
}

/// Asks for the cancellation of loan `loan_id`'s tag, made in error.
pub fn request_cancellation(
    record: &mut Record,
    loan_id: &str,
    reason: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Change, Error> {
    transition(record, Action::ChangeLoan)?;
    let index = find(record, loan_id)?;
    let loan = &mut record.app.loans[index];
    if state(loan) != LoanState::Active {
        return Err(not_active(loan));
    }
    loan.cancellation = Some(LoanTagCancellation {
        reason: reason.to_owned(),
        requested_by: Some(common_actor(actor)),
        request_time: Some(timestamp(now)),
        confirmed_by: None,
        confirm_time: None,
    });
    loan.update_time = Some(timestamp(now));
    let comment = format!("{loan_id}: {reason}");
    Ok(loan_change(record, index, "REQUEST_LOAN_TAG_CANCELLATION", LoanChange::CancellationRequested, comment))
}

/// Confirms the pending cancellation of loan `loan_id`'s tag: never by whoever asked for it.
pub fn confirm_cancellation(
    record: &mut Record,
    loan_id: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Change, Error> {
    transition(record, Action::ChangeLoan)?;
    let index = find(record, loan_id)?;
    let loan = &mut record.app.loans[index];
    if state(loan) == LoanState::Cancelled {
        return Ok(Change { unchanged: true, ..Default::default() }); // confirmed already
    }
    let active = state(loan) == LoanState::Active;
    let Some(cancellation) = loan.cancellation.as_mut().filter(|_| active) else {
        return Err(precondition(
            "NO_CANCELLATION_REQUESTED",
            format!("nobody has asked for the cancellation of loan {loan_id}'s tag"),
        ));
    };
    if cancellation.requested_by.as_ref().is_some_and(|r| r.subject == actor.subject) {
        return Err(Error::PermissionDenied {
            reason: "CONFIRMER_IS_REQUESTER",
            message: "a loan tag's cancellation is confirmed by somebody other than who asked for it (four eyes)"
                .into(),
        });
    }
    cancellation.confirmed_by = Some(common_actor(actor));
    cancellation.confirm_time = Some(timestamp(now));
    loan.state = LoanState::Cancelled as i32;
    loan.outstanding_principal = Some(sek(0));
    loan.update_time = Some(timestamp(now));
    Ok(loan_change(record, index, "CANCEL_LOAN_TAG", LoanChange::Cancelled, loan_id.to_owned()))
}
