//! Turning requests into content: a new draft, a field-mask edit, a credit
//! assessment, a loan — each checked, with every bad field named.

use socialloans_contracts::applications::{
    self as pb, Application, CreditAssessment, CreditAssessmentOutcome, LoanTag, UpdateApplicationRequest,
};
use socialloans_contracts::common;
use socialloans_platform::{Caller, error::FieldViolation};

use crate::{error::Error, record::Record, validate};

/// The fields a borrower edits, as field-mask paths. The borrower's type is
/// set once, on creation: what kind of organisation applies does not change.
pub const EDITABLE: [&str; 15] = [
    "borrower.display_name",
    "category",
    "title",
    "investment",
    "social_challenge",
    "target_groups",
    "interventions",
    "objectives",
    "intended_future_state",
    "indicators",
    "sdg_targets",
    "requested_amount",
    "contact_person",
    "attachments",
    "requirement_statements",
];

/// What the borrower authors of `app`: the editable content and the type.
pub fn authored(app: &Application) -> Application {
    editable_part(app)
}

/// The borrower's type: given on creation; a draft made before it was
/// required may have it set once, never changed.
const SET_ONCE: &str = "borrower.type";

/// Only what a client may set: the editable content, nothing the service owns.
fn editable_part(source: &Application) -> Application {
    let mut target = Application::default();
    for path in EDITABLE.iter().chain(["borrower.type"].iter()) {
        copy(&mut target, source, path);
    }
    target.borrower.get_or_insert_with(Default::default).organization_number =
        source.borrower.as_ref().map(|b| b.organization_number.clone()).unwrap_or_default();
    target
}

fn copy(target: &mut Application, source: &Application, path: &str) {
    let source_borrower = source.borrower.clone().unwrap_or_default();
    match path {
        "borrower.display_name" => {
            target.borrower.get_or_insert_with(Default::default).display_name = source_borrower.display_name
        }
        "borrower.type" => target.borrower.get_or_insert_with(Default::default).r#type = source_borrower.r#type,
        // Erased stays erased; the marker is the service's, never a client's.
        "contact_person" if !target.contact_person.as_ref().is_some_and(|c| c.erased) => {
            target.contact_person =
                source.contact_person.clone().map(|c| pb::ContactPerson { erased: false, erase_time: None, ..c });
        }
        _ => {
            socialloans_platform::copy_fields!(path, target, source;
                category, title, investment, social_challenge, target_groups, interventions, objectives,
                intended_future_state, indicators, sdg_targets, requested_amount, attachments, requirement_statements);
        }
    }
}

/// A new draft from `application`, for `caller`: a borrower only for its own organisation.
pub fn new_draft(caller: &Caller, application: Option<Application>) -> Result<Application, Error> {
    let Some(application) = application else {
        return Err(FieldViolation::new("application", "is required").into());
    };
    let draft = editable_part(&application);
    let mut violations = validate::content(&draft, "application.");
    let organization = draft.borrower.as_ref().map(|b| b.organization_number.as_str()).unwrap_or_default();
    if organization.is_empty() {
        violations.insert(0, FieldViolation::new("application.borrower.organization_number", "is required"));
    }
    if draft.borrower.as_ref().is_none_or(|b| b.r#type == pb::OrganizationType::Unspecified as i32) {
        violations.push(FieldViolation::new(
            "application.borrower.type",
            "is required: the kind of organisation that applies; it cannot be changed later",
        ));
    }
    if !violations.is_empty() {
        return Err(Error::InvalidArgument(violations));
    }
    if let Some(own) = caller.confined_to()
        && !own.iter().any(|o| *o == organization)
    {
        return Err(Error::PermissionDenied {
            reason: "OTHER_ORGANIZATION",
            message: "a borrower may apply only for the organisations its token names".into(),
        });
    }
    Ok(draft)
}

/// The paths of an update's field mask; `*` means every editable field.
pub fn mask_paths(request: &UpdateApplicationRequest) -> Result<Vec<String>, Error> {
    let paths = request.update_mask.as_ref().map(|m| m.paths.clone()).unwrap_or_default();
    if paths.is_empty() {
        return Err(FieldViolation::new("update_mask", "is required: name the fields to change, or *").into());
    }
    if paths.iter().any(|p| p == "*") {
        return Ok(EDITABLE.iter().chain([SET_ONCE].iter()).map(|p| (*p).to_owned()).collect());
    }
    let unknown: Vec<FieldViolation> = paths
        .iter()
        .filter(|p| !EDITABLE.contains(&p.as_str()) && p.as_str() != SET_ONCE)
        .map(|p| {
            FieldViolation::new(
                "update_mask.paths",
                format!("{:?} cannot be edited", socialloans_platform::error::shortened(p, 80)),
            )
        })
        .collect();
    if unknown.is_empty() { Ok(paths) } else { Err(Error::InvalidArgument(unknown)) }
}

/// Applies the masked fields of `patch` to `record`; returns the paths changed.
pub fn apply(record: &mut Record, patch: &Application, paths: &[String]) -> Result<Vec<String>, Error> {
    let personal = patch
        .contact_person
        .as_ref()
        .is_some_and(|c| !(c.name.is_empty() && c.email.is_empty() && c.phone.is_empty() && c.job_title.is_empty()));
    if record.contact.erased && personal && paths.iter().any(|p| p == "contact_person") {
        return Err(FieldViolation::new(
            "application.contact_person",
            "was erased on request (GDPR); personal data cannot be entered again on this application",
        )
        .into());
    }
    let mut next = record.view(true);
    if paths.iter().any(|p| p == SET_ONCE) {
        let current = record.app.borrower.as_ref().map(|b| b.r#type).unwrap_or_default();
        let asked = patch.borrower.as_ref().map(|b| b.r#type).unwrap_or_default();
        if current != pb::OrganizationType::Unspecified as i32 && asked != current {
            return Err(FieldViolation::new(
                "application.borrower.type",
                "is set on creation and cannot be changed (apply anew for another kind of organisation)",
            )
            .into());
        }
    }
    for path in paths {
        copy(&mut next, patch, path);
    }
    let violations = validate::content(&editable_part(&next), "application.");
    if !violations.is_empty() {
        return Err(Error::InvalidArgument(violations));
    }
    let before = record.view(true);
    let changed: Vec<String> = paths
        .iter()
        .filter(|path| {
            let (mut a, mut b) = (Application::default(), Application::default());
            copy(&mut a, &before, path);
            copy(&mut b, &next, path);
            a != b
        })
        .cloned()
        .collect();
    record.contact = next.contact_person.take().unwrap_or_default();
    for path in paths {
        copy(&mut record.app, &next, path);
    }
    Ok(changed)
}

/// The credit assessment of a request, checked.
pub fn credit_assessment(request: &pb::RecordCreditAssessmentRequest) -> Result<CreditAssessment, Error> {
    let Some(assessment) = request.credit_assessment.clone() else {
        return Err(FieldViolation::new("credit_assessment", "is required").into());
    };
    let mut violations = Vec::new();
    match CreditAssessmentOutcome::try_from(assessment.outcome) {
        Ok(CreditAssessmentOutcome::Unspecified) => {
            violations.push(FieldViolation::new("credit_assessment.outcome", "is required"))
        }
        Err(_) => violations.push(FieldViolation::new("credit_assessment.outcome", "is not a known outcome")),
        Ok(CreditAssessmentOutcome::Rejected) => {}
        Ok(_) => {
            if assessment.credit_limit.is_none() {
                violations.push(FieldViolation::new("credit_assessment.credit_limit", "is required when approved"));
            }
        }
    }
    let probe = Application { requested_amount: assessment.credit_limit.clone(), ..Default::default() };
    for v in validate::content(&probe, "") {
        violations.push(FieldViolation::new(
            v.field.replacen("requested_amount", "credit_assessment.credit_limit", 1),
            v.description,
        ));
    }
    if socialloans_platform::limits::unfit(&assessment.credit_case_reference, validate::SHORT_TEXT) {
        violations.push(FieldViolation::new("credit_assessment.credit_case_reference", "is too long"));
    }
    if socialloans_platform::limits::unfit(&assessment.summary, validate::COMMENT_TEXT) {
        violations.push(FieldViolation::new("credit_assessment.summary", "is too long"));
    }
    if violations.is_empty() { Ok(assessment) } else { Err(Error::InvalidArgument(violations)) }
}

/// What is wrong with the loan id of a request (its field `loan_id`).
pub fn loan_id_violations(id: &str) -> Vec<FieldViolation> {
    let mut violations = Vec::new();
    loan_id("loan_id", id, &mut violations);
    violations
}

/// A core-banking loan id at `field`: required, at most 64 characters.
fn loan_id(field: &str, id: &str, violations: &mut Vec<FieldViolation>) {
    if id.trim().is_empty() || socialloans_platform::limits::unfit(id, 64) {
        violations.push(FieldViolation::new(field, "is required: core banking's loan id, at most 64 characters"));
    }
}

/// An amount of SEK at `field`, as the requested amount is checked (zero
/// allowed where `zero` says so).
fn amount(field: &str, money: &Option<common::Money>, zero: bool, violations: &mut Vec<FieldViolation>) {
    let Some(money) = money else {
        return violations.push(FieldViolation::new(field, "is required"));
    };
    if zero && money.minor_units == 0 && money.currency_code == "SEK" {
        return;
    }
    let probe = Application { requested_amount: Some(money.clone()), ..Default::default() };
    for v in validate::content(&probe, "") {
        violations.push(FieldViolation::new(v.field.replacen("requested_amount", field, 1), v.description));
    }
}

/// A calendar date at `field` between 1900 and 2200.
fn day(field: &str, date: &Option<common::Date>, violations: &mut Vec<FieldViolation>) -> Option<chrono::NaiveDate> {
    let day = date.as_ref().and_then(|d| socialloans_platform::limits::date(d.year, d.month, d.day, 1900..=2200));
    if day.is_none() {
        violations.push(FieldViolation::new(field, "is required: a calendar date between 1900 and 2200"));
    }
    day
}

/// The loan of a tagging request, checked; what only the service sets is cleared.
pub fn loan(request: &pb::TagLoanRequest) -> Result<LoanTag, Error> {
    let Some(loan) = request.loan.clone() else {
        return Err(FieldViolation::new("loan", "is required").into());
    };
    let mut violations = Vec::new();
    loan_id("loan.loan_id", &loan.loan_id, &mut violations);
    if !loan.refinances_loan_id.is_empty() {
        loan_id("loan.refinances_loan_id", &loan.refinances_loan_id, &mut violations);
        if loan.refinances_loan_id == loan.loan_id {
            violations.push(FieldViolation::new("loan.refinances_loan_id", "names another loan than loan_id"));
        }
    }
    amount("loan.principal", &loan.principal, false, &mut violations);
    let disbursed = day("loan.disbursement_date", &loan.disbursement_date, &mut violations);
    let matures = day("loan.maturity_date", &loan.maturity_date, &mut violations);
    if let (Some(disbursed), Some(matures)) = (disbursed, matures)
        && matures <= disbursed
    {
        violations.push(FieldViolation::new("loan.maturity_date", "must be after the disbursement date"));
    }
    if !violations.is_empty() {
        return Err(Error::InvalidArgument(violations));
    }
    Ok(LoanTag { refinanced_by_loan_id: String::new(), state_date: None, cancellation: None, ..loan })
}

/// The loan and the event of a `RecordLoanEvent` request, checked.
pub fn loan_event(request: &pb::RecordLoanEventRequest) -> Result<pb::record_loan_event_request::Event, Error> {
    use pb::record_loan_event_request::Event;
    let mut violations = Vec::new();
    loan_id("loan_id", &request.loan_id, &mut violations);
    match &request.event {
        None => violations
            .push(FieldViolation::new("event", "is required: one of amortisation, maturity or early_redemption")),
        Some(Event::Amortisation(a)) => {
            amount("amortisation.outstanding_principal", &a.outstanding_principal, true, &mut violations);
            day("amortisation.date", &a.date, &mut violations);
        }
        Some(Event::Maturity(m)) => {
            day("maturity.date", &m.date, &mut violations);
        }
        Some(Event::EarlyRedemption(r)) => {
            day("early_redemption.date", &r.date, &mut violations);
        }
    }
    match request.event.clone() {
        Some(event) if violations.is_empty() => Ok(event),
        _ => Err(Error::InvalidArgument(violations)),
    }
}
