//! Who reads which of this service's events: services and auditors the
//! whole feed; core banking only what it acts on (approvals and amendments,
//! conditions, lapses, closings, its loans, label withdrawals); a borrower (its portal backend)
//! the events about its own organisations' applications, without the
//! lender's internal notes.

use prost::{Message, Name};
use socialloans_contracts::applications as pb;
use socialloans_platform::error::FieldViolation;

/// The event types of core banking's feed.
pub const CORE_BANKING: [fn() -> String; 8] = [
    pb::ApplicationApproved::full_name,
    pb::ApplicationDecisionAmended::full_name,
    pb::ApplicationConditionChanged::full_name,
    pb::ApplicationLapsed::full_name,
    pb::ApplicationClosed::full_name,
    pb::LoanTagged::full_name,
    pb::LoanUpdated::full_name,
    pb::ApplicationLabelWithdrawn::full_name,
];

/// The event types of a borrower's feed: all but the credit assessment, the
/// lender's own work (its outcome is on the application).
pub const BORROWER: [fn() -> String; 15] = [
    pb::ApplicationSubmitted::full_name,
    pb::ApplicationReturnedForCompletion::full_name,
    pb::ApplicationReviewStarted::full_name,
    pb::ApplicationReferredToCommittee::full_name,
    pb::ApplicationWithdrawn::full_name,
    pb::ApplicationApproved::full_name,
    pb::ApplicationDecisionAmended::full_name,
    pb::ApplicationDeclined::full_name,
    pb::ApplicationConditionChanged::full_name,
    pb::ApplicationLapsed::full_name,
    pb::ApplicationClosed::full_name,
    pb::LoanTagged::full_name,
    pb::LoanUpdated::full_name,
    pb::ContactPersonErased::full_name,
    pb::ApplicationLabelWithdrawn::full_name,
];

/// The names of `feed`'s event types.
pub fn names(feed: &[fn() -> String]) -> Vec<String> {
    feed.iter().map(|t| t()).collect()
}

/// A violation for each of `asked` outside `feed` (whose reader is `reader`).
pub fn outside(asked: &[String], feed: &[fn() -> String], reader: &str) -> Vec<FieldViolation> {
    let allowed = names(feed);
    asked
        .iter()
        .enumerate()
        .filter(|(_, t)| !allowed.contains(t))
        .map(|(i, t)| FieldViolation::new(format!("types[{i}]"), format!("{t} is not on {reader}'s feed")))
        .collect()
}

/// A borrower's view of an event's payload: the application snapshots
/// without the credit assessment's notes and the referral note, as
/// `GetApplication` shows them. A payload that does not decode is sent
/// empty, never as it was stored.
pub fn borrower_view(event_type: &str, payload: Vec<u8>) -> Vec<u8> {
    fn redacted<M: Message + Default>(payload: &[u8], app: impl Fn(&mut M) -> Option<&mut pb::Application>) -> Vec<u8> {
        let Ok(mut event) = M::decode(payload) else { return Vec::new() };
        if let Some(application) = app(&mut event) {
            crate::record::redact_internal(application);
        }
        event.encode_to_vec()
    }
    if event_type == pb::ApplicationReferredToCommittee::full_name() {
        redacted(&payload, |e: &mut pb::ApplicationReferredToCommittee| e.application.as_mut())
    } else if event_type == pb::ApplicationApproved::full_name() {
        redacted(&payload, |e: &mut pb::ApplicationApproved| e.application.as_mut())
    } else if event_type == pb::ApplicationDecisionAmended::full_name() {
        redacted(&payload, |e: &mut pb::ApplicationDecisionAmended| e.application.as_mut())
    } else {
        payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use socialloans_contracts::applications::CreditAssessment;

    #[test]
    fn a_reader_may_ask_for_its_feeds_types_and_no_other() {
        assert!(outside(&names(&CORE_BANKING), &CORE_BANKING, "core banking").is_empty());
        let asked = [pb::LoanTagged::full_name(), pb::ApplicationSubmitted::full_name(), "x".into()];
        let refused: Vec<String> =
            outside(&asked, &CORE_BANKING, "core banking").into_iter().map(|v| v.field).collect();
        assert_eq!(refused, ["types[1]", "types[2]"]);
        let credit = [pb::CreditAssessmentRecorded::full_name()];
        assert_eq!(outside(&credit, &BORROWER, "a borrower").len(), 1);
    }

    #[test]
    fn a_borrower_sees_application_snapshots_without_the_lenders_notes() {
        let application = pb::Application {
            referral_note: "internal: weak cash flow".into(),
            credit_assessment: Some(CreditAssessment { summary: "internal".into(), outcome: 1, ..Default::default() }),
            ..Default::default()
        };
        let approved = pb::ApplicationApproved { application: Some(application) };
        let seen = borrower_view(&pb::ApplicationApproved::full_name(), approved.encode_to_vec());
        let seen = pb::ApplicationApproved::decode(seen.as_slice()).unwrap().application.unwrap();
        assert!(seen.referral_note.is_empty());
        let credit = seen.credit_assessment.unwrap();
        assert_eq!((credit.summary.as_str(), credit.outcome), ("", 1));
        // Not an event of its type: nothing of it is sent.
        assert!(borrower_view(&pb::ApplicationApproved::full_name(), vec![0xff, 0xff]).is_empty());
        let other = pb::ApplicationSubmitted { application: "applications/x".into(), ..Default::default() };
        let kept = borrower_view(&pb::ApplicationSubmitted::full_name(), other.encode_to_vec());
        assert_eq!(kept, other.encode_to_vec());
    }
}
