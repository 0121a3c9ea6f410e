//! The steps of an application's life as pure functions of its record: each
//! moves the state machine (`domain`), changes the application and says what
//! happened for the history and the feed ([`Change`]). The unit of work
//! (`service::Applications::mutate`) runs them between locking and saving;
//! they touch no database and are tested without one.

use socialloans_contracts::applications::{self as pb, ApplicationState as S, CreditAssessmentOutcome};
use socialloans_contracts::common;
use socialloans_platform::error::FieldViolation;

use crate::{
    domain::Action,
    edit,
    error::Error,
    record::{Record, timestamp},
    service::{Actor, Change, erased_contact, event, transition},
    validate,
};

fn org_of(record: &Record) -> String {
    record.row.organization_number.clone()
}

/// An edit: the fields of `patch` named by `paths`; one that changes nothing leaves no revision and no history.
pub fn edit(record: &mut Record, patch: &pb::Application, paths: &[String]) -> Result<Change, Error> {
    let before = record.state;
    transition(record, Action::Edit)?;
    let changed_fields = edit::apply(record, patch, paths)?;
    // An edit that changes nothing leaves no revision and no history.
    let unchanged = changed_fields.is_empty() && record.state == before;
    Ok(Change { action: "EDIT", changed_fields, unchanged, ..Default::default() })
}

/// A submission (or resubmission): only of a complete application.
pub fn submit(record: &mut Record) -> Result<Change, Error> {
    transition(record, Action::Submit)?;
    let missing = validate::completeness(&record.view(true));
    if !missing.is_empty() {
        return Err(Error::Incomplete {
            reason: "APPLICATION_INCOMPLETE",
            message: format!("{} thing(s) missing before the application can be submitted", missing.len()),
            violations: missing,
        });
    }
    record.app.submission_count += 1;
    record.app.completion_comments.clear();
    record.row.submit_time.get_or_insert_with(chrono::Utc::now);
    let submitted = pb::ApplicationSubmitted {
        application: record.name(),
        organization_number: org_of(record),
        category: record.app.category,
        requested_amount: record.app.requested_amount.clone(),
        submission_count: record.app.submission_count,
    };
    Ok(Change { action: "SUBMIT", events: vec![event(submitted)], ..Default::default() })
}

/// A return for completion, with comments on fields the application has.
pub fn return_for_completion(
    record: &mut Record,
    comments: &[common::FieldComment],
    message: &str,
) -> Result<Change, Error> {
    let previous = record.state;
    if previous == S::ReferredToCommittee && !record.app.committee_meeting.is_empty() {
        return Err(Error::Precondition {
            reason: "CASE_ON_AGENDA",
            message: format!(
                "the committee has the case on the agenda of {}: it decides, or takes it off the agenda first",
                record.app.committee_meeting
            ),
        });
    }
    transition(record, Action::ReturnForCompletion)?;
    if let Some(i) = comments.iter().position(|c| !validate::path_within(&record.app, &c.field_path)) {
        return Err(FieldViolation::new(
            format!("comments[{i}].field_path"),
            "names a list element this application does not have",
        )
        .into());
    }
    record.app.completion_comments = comments.to_vec();
    let returned = pb::ApplicationReturnedForCompletion {
        application: record.name(),
        organization_number: org_of(record),
        comments: comments.to_vec(),
        message: message.to_owned(),
        previous_state: previous as i32,
    };
    Ok(Change {
        action: "RETURN_FOR_COMPLETION",
        comment: message.to_owned(),
        changed_fields: comments.iter().map(|c| c.field_path.clone()).collect(),
        events: vec![event(returned)],
        ..Default::default()
    })
}

/// An analyst starts the review.
pub fn start_review(record: &mut Record) -> Result<Change, Error> {
    transition(record, Action::StartReview)?;
    let started = pb::ApplicationReviewStarted { application: record.name(), organization_number: org_of(record) };
    Ok(Change { action: "START_REVIEW", events: vec![event(started)], ..Default::default() })
}

/// The ordinary credit assessment, recorded with its assessor.
pub fn record_credit_assessment(
    record: &mut Record,
    mut assessment: pb::CreditAssessment,
    actor: &Actor,
) -> Result<Change, Error> {
    transition(record, Action::RecordCreditAssessment)?;
    assessment.assessor = Some(common::Actor {
        subject: actor.subject.clone(),
        role: actor.role.clone(),
        organization_number: String::new(),
    });
    assessment.assess_time = Some(timestamp(chrono::Utc::now()));
    let recorded = pb::CreditAssessmentRecorded {
        application: record.name(),
        organization_number: org_of(record),
        outcome: assessment.outcome,
        credit_limit: assessment.credit_limit.clone(),
    };
    let outcome = CreditAssessmentOutcome::try_from(assessment.outcome).unwrap_or_default();
    record.app.credit_assessment = Some(assessment);
    Ok(Change {
        action: "RECORD_CREDIT_ASSESSMENT",
        comment: outcome.as_str_name().to_owned(),
        events: vec![event(recorded)],
        ..Default::default()
    })
}

/// A referral to the committee: of a complete application whose borrower the credit assessment approved.
pub fn refer(record: &mut Record, note: &str) -> Result<Change, Error> {
    transition(record, Action::Refer)?;
    let missing = validate::completeness(&record.view(true));
    if !missing.is_empty() {
        return Err(Error::Incomplete {
            reason: "APPLICATION_INCOMPLETE",
            message: "the application is not complete enough to refer".into(),
            violations: missing,
        });
    }
    let credit = record.app.credit_assessment.as_ref().and_then(|c| CreditAssessmentOutcome::try_from(c.outcome).ok());
    if !matches!(credit, Some(CreditAssessmentOutcome::Approved | CreditAssessmentOutcome::ApprovedWithReservations)) {
        return Err(Error::Precondition {
            reason: "CREDIT_NOT_APPROVED",
            message: "the ordinary credit assessment must approve the borrower before referral".into(),
        });
    }
    let limit = record.app.credit_assessment.as_ref().and_then(|c| c.credit_limit.as_ref()).map(|m| m.minor_units);
    let requested = record.app.requested_amount.as_ref().map_or(0, |m| m.minor_units);
    if let Some(limit) = limit.filter(|limit| requested > *limit) {
        return Err(Error::Precondition {
            reason: "REQUESTED_AMOUNT_ABOVE_CREDIT_LIMIT",
            message: format!(
                "the requested {requested} öre is above the credit limit of {limit} öre: lower the amount or \
                 record a new credit assessment"
            ),
        });
    }
    record.app.referral_note = note.to_owned();
    let referred = pb::ApplicationReferredToCommittee { application: Some(record.snapshot()) };
    Ok(Change {
        action: "REFER_TO_COMMITTEE",
        comment: note.to_owned(),
        events: vec![event(referred)],
        ..Default::default()
    })
}

/// A withdrawal, with its reason.
pub fn withdraw(record: &mut Record, reason: &str) -> Result<Change, Error> {
    let previous = record.state;
    transition(record, Action::Withdraw)?;
    record.app.close_time = Some(timestamp(chrono::Utc::now()));
    let withdrawn = pb::ApplicationWithdrawn {
        application: record.name(),
        organization_number: org_of(record),
        previous_state: previous as i32,
        reason: reason.to_owned(),
    };
    Ok(Change { action: "WITHDRAW", comment: reason.to_owned(), events: vec![event(withdrawn)], ..Default::default() })
}

/// A closing, with its reason; closing again changes nothing.
pub fn close(record: &mut Record, reason: &str) -> Result<Change, Error> {
    if record.state == S::Closed {
        return Ok(Change { unchanged: true, ..Default::default() }); // a retry is harmless
    }
    transition(record, Action::Close)?;
    record.app.close_time = Some(timestamp(chrono::Utc::now()));
    let closed = pb::ApplicationClosed {
        application: record.name(),
        organization_number: org_of(record),
        reason: reason.to_owned(),
    };
    Ok(Change { action: "CLOSE", comment: reason.to_owned(), events: vec![event(closed)], ..Default::default() })
}

/// The contact person erased (GDPR); the reason, kept for ever, must not repeat what is erased.
pub fn erase_contact(record: &mut Record, reason: &str) -> Result<Change, Error> {
    if record.contact.erased {
        return Ok(Change { unchanged: true, ..Default::default() });
    }
    // The history keeps the reason for ever: it must not repeat what is erased.
    if validate::repeats_contact(reason, &record.contact) {
        return Err(FieldViolation::new(
            "reason",
            "must not contain the personal data being erased (give the request's reference)",
        )
        .into());
    }
    record.contact = erased_contact();
    let erased = pb::ContactPersonErased { application: record.name() };
    Ok(Change {
        action: "ERASE_CONTACT_PERSON",
        comment: reason.to_owned(),
        changed_fields: vec!["contact_person".into()],
        events: vec![event(erased)],
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use socialloans_contracts::applications::{Application, ContactPerson};

    fn draft() -> Record {
        let mut record = Record::draft(Application::default(), chrono::Utc::now());
        record.contact =
            ContactPerson { name: "Anna Andersson".into(), email: "anna@example.se".into(), ..Default::default() };
        record
    }

    #[test]
    fn an_incomplete_draft_is_not_submitted_and_every_gap_is_named() {
        let mut record = draft();
        match submit(&mut record) {
            Err(Error::Incomplete { reason, violations, .. }) => {
                assert_eq!(reason, "APPLICATION_INCOMPLETE");
                assert!(violations.iter().any(|v| v.field == "application.title"), "{violations:?}");
                assert!(violations.iter().any(|v| v.field == "application.indicators"), "{violations:?}");
            }
            other => panic!("expected INCOMPLETE, got {other:?}"),
        }
    }

    #[test]
    fn a_draft_is_withdrawn_with_its_reason_on_the_feed_but_never_referred() {
        let mut record = draft();
        assert!(matches!(refer(&mut record, "note"), Err(Error::Own(_))), "a draft is not before the committee");
        let change = withdraw(&mut record, "Projektet skjuts upp").unwrap();
        assert_eq!(record.state, S::Withdrawn);
        assert_eq!((change.action, change.comment.as_str()), ("WITHDRAW", "Projektet skjuts upp"));
        let (event_type, _) = &change.events[0];
        assert_eq!(event_type, "socialloans.applications.v1.ApplicationWithdrawn");
    }

    #[test]
    fn an_erasure_keeps_no_personal_data_even_in_its_reason_and_is_done_once() {
        let mut record = draft();
        let refused = erase_contact(&mut record, "begäran från anna@example.se").unwrap_err();
        assert!(matches!(refused, Error::InvalidArgument(_)), "{refused:?}");
        assert_eq!(record.contact.email, "anna@example.se", "nothing erased on a refusal");
        let change = erase_contact(&mut record, "GDPR-2026-117").unwrap();
        assert!(record.contact.erased && record.contact.name.is_empty() && record.contact.email.is_empty());
        assert_eq!(change.changed_fields, ["contact_person"]);
        assert!(erase_contact(&mut record, "GDPR-2026-117").unwrap().unchanged, "a second erasure changes nothing");
    }
}
