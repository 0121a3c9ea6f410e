//! Work on a case outside a meeting: the basic requirements assessed, and
//! conflicts of interest declared.

use socialloans_contracts::committee::{
    self as pb, BasicRequirement, ConflictOfInterestDeclaration, RequirementAssessment, RequirementVerdict,
};
use socialloans_platform::{Caller, error::FieldViolation};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{cases, error::Error, proceedings, store};

/// Every problem with an assessment as sent.
pub fn check_assessment(assessment: &RequirementAssessment) -> Result<(), Error> {
    let mut violations = Vec::new();
    if !matches!(BasicRequirement::try_from(assessment.requirement), Ok(r) if r != BasicRequirement::Unspecified) {
        violations.push(FieldViolation::new("assessment.requirement", "must be one of the five basic requirements"));
    }
    if !matches!(RequirementVerdict::try_from(assessment.verdict), Ok(v) if v != RequirementVerdict::Unspecified) {
        violations.push(FieldViolation::new("assessment.verdict", "must be MET, PARTIALLY_MET or NOT_MET"));
    }
    violations.extend(socialloans_platform::limits::text(
        "assessment.justification",
        &assessment.justification,
        10_000,
    ));
    if violations.is_empty() { Ok(()) } else { Err(Error::InvalidArgument(violations)) }
}

/// Locks the case `id` (named `name`) while it is still undecided, checking `etag` if given.
async fn lock_undecided(
    conn: &mut PgConnection,
    id: Uuid,
    name: &str,
    etag: &str,
) -> Result<(store::cases::Row, pb::Case), Error> {
    let row = store::cases::lock(conn, Some(id), None).await?.ok_or_else(|| Error::NotFound(name.to_owned()))?;
    let case = row.view()?;
    if !etag.is_empty() && etag != case.etag {
        return Err(Error::EtagMismatch { current: case.etag });
    }
    let undecided = matches!(row.state(), pb::CaseState::Open | pb::CaseState::Scheduled | pb::CaseState::Deferred);
    if !undecided {
        return Err(Error::Precondition {
            reason: "CASE_CLOSED",
            message: format!("the case is {}", cases::state_name(row.state())),
        });
    }
    Ok((row, case))
}

/// Records `assessment` on the case `id`, replacing an earlier one of the
/// same requirement; returns the case. The assessor is a rostered member
/// serving today and free of conflict, or the secretary recording the
/// committee's verdict.
pub async fn assess(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
    name: &str,
    etag: &str,
    assessment: RequirementAssessment,
) -> Result<pb::Case, Error> {
    let (row, mut case) = lock_undecided(conn, id, name, etag).await?;
    proceedings::check_participant(conn, caller, &case, true).await?;
    case.requirement_assessments.retain(|a| a.requirement != assessment.requirement);
    case.requirement_assessments.push(assessment);
    case.requirement_assessments.sort_by_key(|a| a.requirement);
    store::cases::save(conn, &row, &case, row.state()).await?.view()
}

/// Records `declaration` of `member_id` on the case `case_id` (named
/// `parent`), once per member; a vote the member cast on the case at a
/// meeting not yet over no longer counts.
pub async fn declare_conflict(
    conn: &mut PgConnection,
    case_id: Uuid,
    member_id: Uuid,
    parent: &str,
    declaration: &ConflictOfInterestDeclaration,
) -> Result<(), Error> {
    let (row, mut case) = lock_undecided(conn, case_id, parent, "").await?;
    if case.conflicts_of_interest.iter().any(|c| c.member == declaration.member) {
        return Err(Error::AlreadyExists(format!("{} already declared a conflict on this case", declaration.member)));
    }
    case.conflicts_of_interest.push(declaration.clone());
    store::cases::save(conn, &row, &case, row.state()).await?;
    store::votes::delete_pending(conn, case_id, member_id).await?;
    Ok(())
}
