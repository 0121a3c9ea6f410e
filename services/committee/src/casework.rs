//! Work on a case outside a meeting: the basic requirements assessed, and
//! conflicts of interest declared.

use socialloans_contracts::committee::{
    self as pb, BasicRequirement, ConflictOfInterestDeclaration, RequirementAssessment, RequirementVerdict,
};
use socialloans_contracts::common;
use socialloans_platform::{Caller, Role, error::FieldViolation};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{cases, error::Error, proceedings, rules, store};

/// The caller as the actor of work on a case: in the role [`rules::acting_role`] gives.
fn acting(caller: &Caller) -> common::Actor {
    common::Actor {
        subject: caller.subject.clone(),
        role: rules::acting_role(caller.has(Role::CommitteeSecretary)).to_owned(),
        organization_number: String::new(),
    }
}

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

/// `assessment` as the caller makes it, now.
pub fn assessed_by(caller: &Caller, mut assessment: RequirementAssessment) -> RequirementAssessment {
    assessment.assessor = Some(acting(caller));
    assessment.assess_time = Some(cases::timestamp(chrono::Utc::now()));
    assessment
}

/// The problem with a declaration as sent: it says what the conflict is.
pub fn check_declaration(declaration: &ConflictOfInterestDeclaration) -> Result<(), Error> {
    if declaration.description.trim().is_empty() || socialloans_platform::limits::unfit(&declaration.description, 4000)
    {
        return Err(FieldViolation::new(
            "declaration.description",
            "is required: what the conflict is, in at most 4000 characters",
        )
        .into());
    }
    Ok(())
}

/// `declaration` of a conflict of the member `member_id` on the case
/// `parent`, as the caller makes it, now: a member declares for themself,
/// the secretary for anyone ([`rules::declares_for`]).
pub async fn declared_by(
    pool: &PgPool,
    caller: &Caller,
    parent: &str,
    member_id: Uuid,
    declaration: ConflictOfInterestDeclaration,
) -> Result<ConflictOfInterestDeclaration, Error> {
    let member =
        store::members::get(pool, member_id).await?.ok_or_else(|| Error::NotFound(declaration.member.clone()))?;
    rules::declares_for(caller.has(Role::CommitteeSecretary), &caller.subject, &member.subject)
        .map_err(|(reason, message)| Error::PermissionDenied { reason, message })?;
    Ok(recorded(declaration, acting(caller), parent, member_id, chrono::Utc::now()))
}

/// A declaration as recorded: by `by` at `now`, named after its member under
/// the case `parent`, and the member spelt one way, so that every later
/// comparison matches.
fn recorded(
    mut declaration: ConflictOfInterestDeclaration,
    by: common::Actor,
    parent: &str,
    member_id: Uuid,
    now: chrono::DateTime<chrono::Utc>,
) -> ConflictOfInterestDeclaration {
    declaration.declared_by = Some(by);
    declaration.declare_time = Some(cases::timestamp(now));
    declaration.name = format!("{parent}/conflictsOfInterest/{member_id}");
    declaration.member = format!("members/{member_id}");
    declaration
}

/// Locks the case `id` (named `name`) while it is still undecided, checking `etag` if given.
async fn lock_undecided(
    conn: &mut PgConnection,
    id: Uuid,
    name: &str,
    etag: &str,
) -> Result<(store::cases::Row, pb::Case), Error> {
    let row = store::cases::lock(conn, Some(id), None).await?.ok_or_else(|| Error::NotFound(name.to_owned()))?;
    let case = cases::view(&row)?;
    socialloans_platform::events::outbox::follow_thread(conn, &case.application).await?;
    if !etag.is_empty() && etag != case.etag {
        return Err(Error::EtagMismatch { current: case.etag });
    }
    let undecided = matches!(row.state.0, pb::CaseState::Open | pb::CaseState::Scheduled | pb::CaseState::Deferred);
    if !undecided {
        return Err(Error::Precondition {
            reason: "CASE_CLOSED",
            message: format!("the case is {}", cases::state_name(row.state.0)),
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
    cases::view(&store::cases::save(conn, &row, &case, row.state.0).await?)
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
    store::cases::save(conn, &row, &case, row.state.0).await?;
    store::votes::delete_pending(conn, case_id, member_id).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declaration_is_named_under_its_case_and_spells_its_member_one_way() {
        let member_id = Uuid::parse_str("0190a6c2-0000-7000-8000-000000000001").unwrap();
        let by = common::Actor { subject: "anna".into(), role: "committee_member".into(), ..Default::default() };
        let now = chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        let sent = ConflictOfInterestDeclaration {
            member: "members/0190A6C2-0000-7000-8000-000000000001".into(),
            description: "Board member of the borrower".into(),
            ..Default::default()
        };
        let declaration = recorded(sent, by.clone(), "cases/c1", member_id, now);
        assert_eq!(declaration.name, "cases/c1/conflictsOfInterest/0190a6c2-0000-7000-8000-000000000001");
        assert_eq!(declaration.member, "members/0190a6c2-0000-7000-8000-000000000001");
        assert_eq!(declaration.declared_by, Some(by));
        assert_eq!(declaration.declare_time.map(|t| t.seconds), Some(1_780_000_000));
        assert_eq!(declaration.description, "Board member of the borrower");
    }
}
