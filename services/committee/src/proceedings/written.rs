//! Decisions by written procedure (per capsulam): the chair puts a
//! proposal to the eligible members in writing, each answers, and the case
//! is decided when every one of them has agreed. The decision is reported
//! in the next minutes approved, which freeze it.

use super::*;
use crate::proceedings::decisions::{announce_confirmed, check_content, check_requirements};

impl Acting<'_> {
    /// The chair puts `decision` on the case `case_name` to the committee in
    /// writing.
    pub async fn propose_written_decision(
        self,
        conn: &mut PgConnection,
        quorum: QuorumRule,
        case_name: &str,
        etag: &str,
        decision: &Decision,
    ) -> Result<Case, Error> {
        let outcome = match DecisionOutcome::try_from(decision.outcome) {
            Ok(DecisionOutcome::Unspecified) | Err(_) => {
                return Err(FieldViolation::new("decision.outcome", "is required").into());
            }
            Ok(DecisionOutcome::Defer) => {
                return Err(refused("OUTCOME_NOT_WRITTEN", "a deferral is the meeting's; put the case on an agenda"));
            }
            Ok(outcome) => outcome,
        };
        let (case_row, mut case) = lock_case(conn, case_name).await?;
        check_etag(etag, &case.etag)?;
        if !matches!(case_row.state.0, CaseState::Open | CaseState::Deferred) {
            return Err(refused("CASE_NOT_OPEN", format!("the case is {}", cases::state_name(case_row.state.0))));
        }
        if open_procedure(&case) {
            return Err(refused("WRITTEN_PROCEDURE_OPEN", "a written procedure on the case waits for answers"));
        }
        check_content(&case, decision, outcome)?;
        check_requirements(&case, outcome)?;
        let now = Utc::now();
        let standing = Standing::load(conn, socialloans_platform::stockholm_date(now)).await?;
        let active: Vec<&store::members::Row> = standing.active().collect();
        let needed = quorum.quorum(active.len() as u32) as usize;
        let eligible: Vec<&store::members::Row> =
            active.into_iter().filter(|m| !conflicted(&case, &format!("members/{}", m.id))).collect();
        if eligible.len() < needed {
            let why = format!("{} eligible member(s) serve today; the quorum is {needed}", eligible.len());
            return Err(refused("QUORUM_NOT_MET", why));
        }
        if let Some(mute) = eligible.iter().find(|m| m.subject.is_empty()) {
            let why = format!("{} has no subject to answer with", mute.display_name);
            return Err(refused("MEMBER_CANNOT_ANSWER", why));
        }
        let proposal = Decision {
            outcome: outcome as i32,
            approved_amount: decision.approved_amount.clone(),
            conditions: decision.conditions.clone(),
            rationale: decision.rationale.clone(),
            ..Default::default()
        };
        case.written_procedure = Some(pb::WrittenProcedure {
            proposal: Some(proposal),
            eligible_members: eligible.iter().map(|m| format!("members/{}", m.id)).collect(),
            state: pb::WrittenProcedureState::Open as i32,
            proposed_by: Some(self.actor(Role::CommitteeChair)),
            propose_time: Some(timestamp(now)),
            ..Default::default()
        });
        let state = case_row.state.0;
        cases::view(&store::cases::save(conn, &case_row, &case, state).await?)
    }

    /// The caller's answer in the written procedure open on `case_name`;
    /// the last agreement decides the case.
    pub async fn answer_written_procedure(
        self,
        conn: &mut PgConnection,
        case_name: &str,
        agree: bool,
        comment: &str,
    ) -> Result<Case, Error> {
        if let Some(violation) = limits::text("comment", comment, 4000).into_iter().next() {
            return Err(violation.into());
        }
        let (case_row, mut case) = lock_case(conn, case_name).await?;
        if !open_procedure(&case) {
            return Err(refused("NO_WRITTEN_PROCEDURE", "no written procedure on the case waits for answers"));
        }
        let member = format!("members/{}", member_of(conn, self.caller).await?.id);
        let now = Utc::now();
        let procedure = case.written_procedure.as_mut().expect("open");
        if !procedure.eligible_members.contains(&member) {
            return Err(Error::PermissionDenied {
                reason: "NOT_ELIGIBLE",
                message: "the procedure was put to the voting members serving, without a conflict on the case".into(),
            });
        }
        if procedure.answers.iter().any(|a| a.member == member) {
            return Err(refused("ALREADY_ANSWERED", "the member has answered"));
        }
        let answer_time = Some(timestamp(now));
        procedure.answers.push(pb::WrittenAnswer { member, agree, comment: comment.to_owned(), answer_time });
        let everyone = procedure.eligible_members.iter().all(|m| procedure.answers.iter().any(|a| &a.member == m));
        if !agree {
            procedure.state = pb::WrittenProcedureState::Failed as i32;
            procedure.close_time = Some(timestamp(now));
        } else if everyone {
            return self.decide_in_writing(conn, case_row, case, now).await;
        }
        let state = case_row.state.0;
        cases::view(&store::cases::save(conn, &case_row, &case, state).await?)
    }

    /// Every eligible member agreed: the proposal becomes the case's
    /// confirmed decision, on the chain and the feed, to be reported in the
    /// next minutes approved.
    async fn decide_in_writing(
        self,
        conn: &mut PgConnection,
        case_row: store::cases::Row,
        mut case: Case,
        now: DateTime<Utc>,
    ) -> Result<Case, Error> {
        let procedure = case.written_procedure.as_mut().expect("open");
        let mut decision = procedure.proposal.clone().unwrap_or_default();
        decision.name = format!("{}/decisions/{}", case.name, case.decisions.len() + 1);
        decision.state = DecisionState::Confirmed as i32;
        decision.recorded_by = procedure.proposed_by.clone();
        decision.record_time = procedure.propose_time;
        decision.confirmed_by = Some(self.actor(Role::CommitteeMember));
        decision.confirm_time = Some(timestamp(now));
        procedure.state = pb::WrittenProcedureState::Decided as i32;
        procedure.close_time = Some(timestamp(now));
        procedure.decision = decision.name.clone();
        let (sequence, hash) = self.chain(conn, Role::CommitteeMember, "DECISION_CONFIRMED", &case, &decision).await?;
        decision.chain_hash = hash.clone();
        case.decisions.push(decision.clone());
        store::cases::save(conn, &case_row, &case, CaseState::Decided).await?;
        store::written::insert(conn, &decision.name, case_row.id).await?;
        announce_confirmed(conn, &case, &decision, None, sequence, hash).await?;
        chain::sign_head(conn, self.key).await?;
        let (row, _) = lock_case(conn, &case.name).await?;
        cases::view(&row)
    }
}

/// Whether a written procedure on `case` waits for answers.
pub fn open_procedure(case: &Case) -> bool {
    case.written_procedure.as_ref().is_some_and(|p| p.state == pb::WrittenProcedureState::Open as i32)
}
