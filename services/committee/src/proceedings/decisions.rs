//! Decisions: recorded consistent with the votes (or deferred without a
//! quorum), confirmed by a second person, amended once frozen.

use super::*;
use socialloans_contracts::common;

fn decision_index(case: &Case, name: &str) -> Option<usize> {
    case.decisions.iter().position(|d| d.name == name)
}

impl Acting<'_> {
    /// Records a decision on a case: at its meeting, with quorum and
    /// consistent with the votes — or, when the case's latest decision is
    /// frozen, an amendment of it. Either waits for the chair's confirmation.
    pub async fn record_decision(
        self,
        conn: &mut PgConnection,
        rules: Rules,
        case_name: &str,
        etag: &str,
        mut decision: Decision,
    ) -> Result<Decision, Error> {
        let (case_row, mut case) = lock_case(conn, case_name).await?;
        check_etag(etag, &case.etag)?;
        let outcome = match DecisionOutcome::try_from(decision.outcome) {
            Ok(DecisionOutcome::Unspecified) | Err(_) => {
                return Err(FieldViolation::new("decision.outcome", "is required").into());
            }
            Ok(o) => o,
        };
        check_content(&case, &decision, outcome)?;
        let amendment = case_row.state.0 == CaseState::Decided;
        let now = Utc::now();
        decision.name = format!("{case_name}/decisions/{}", case.decisions.len() + 1);
        decision.state = DecisionState::Recorded as i32;
        decision.recorded_by = Some(self.actor(Role::CommitteeSecretary));
        decision.record_time = Some(timestamp(now));
        decision.confirmed_by = None;
        decision.confirm_time = None;
        decision.frozen = false;
        decision.freeze_time = None;
        decision.vote_tally = None;
        decision.dissents.clear();
        decision.chain_hash.clear();
        decision.etag.clear();
        rules::supersede_waiting(&mut case.decisions);
        let action = if amendment {
            let amended = rules::amended(&case.decisions, outcome).map_err(|(reason, why)| refused(reason, why))?;
            rules::amend(&mut decision, amended);
            "AMENDMENT_RECORDED"
        } else {
            decide_at_meeting(conn, rules, &case_row, &case, &mut decision, outcome).await?;
            "DECISION_RECORDED"
        };
        decision.chain_hash = self.chain(conn, Role::CommitteeSecretary, action, &case, &decision).await?.1;
        case.decisions.push(decision.clone());
        let state = if amendment { CaseState::Decided } else { CaseState::DecisionRecorded };
        store::cases::save(conn, &case_row, &case, state).await?;
        Ok(decision)
    }

    /// Puts `decision` of `case` on the chain as `action`, taken in `role`:
    /// its outcome on the application for a person, the encoded decision as
    /// the payload. The entry's sequence and hash.
    pub(super) async fn chain(
        &self,
        conn: &mut PgConnection,
        role: Role,
        action: &str,
        case: &Case,
        decision: &Decision,
    ) -> Result<(i64, String), Error> {
        let outcome = DecisionOutcome::try_from(decision.outcome).unwrap_or_default();
        let summary = format!("{action} {} on {}", outcome.as_str_name(), case.application);
        let payload = decision.encode_to_vec();
        Ok(chain::append_at(conn, self.entry(role, action, &decision.name, &summary, &payload)).await?)
    }

    /// The chair confirms a recorded decision or amendment; never its
    /// recorder. The chain's head is signed.
    pub async fn confirm_decision(self, conn: &mut PgConnection, name: &str, etag: &str) -> Result<Decision, Error> {
        let case_name = name.split("/decisions/").next().unwrap_or_default().to_owned();
        let (case_row, mut case) = lock_case(conn, &case_name).await?;
        check_etag(etag, &case.etag)?;
        let index = decision_index(&case, name).ok_or_else(|| Error::NotFound(name.to_owned()))?;
        check_confirmable(&case.decisions[index], &self.caller.subject)?;
        check_participant(conn, self.caller, &case, false).await?;
        let amendment = case_row.state.0 == CaseState::Decided;
        let amends = amendment.then(|| rules::supersede_amended(&mut case.decisions, index));
        let now = Utc::now();
        let decision = &mut case.decisions[index];
        decision.state = DecisionState::Confirmed as i32;
        decision.confirmed_by = Some(self.actor(Role::CommitteeChair));
        decision.confirm_time = Some(timestamp(now));
        if amendment {
            decision.frozen = true;
            decision.freeze_time = Some(timestamp(now));
        }
        let action = if amendment { "AMENDMENT_CONFIRMED" } else { "DECISION_CONFIRMED" };
        let confirmed = decision.clone();
        let (chain_sequence, chain_hash) = self.chain(conn, Role::CommitteeChair, action, &case, &confirmed).await?;
        case.decisions[index].chain_hash = chain_hash.clone();
        let decision = case.decisions[index].clone();
        if decision.outcome == DecisionOutcome::Defer as i32 {
            mark_deferred(conn, &case_row, case, &decision).await?;
        } else {
            store::cases::save(conn, &case_row, &case, CaseState::Decided).await?;
            announce_confirmed(conn, &case, &decision, amends, chain_sequence, chain_hash).await?;
        }
        chain::sign_head(conn, self.key).await?;
        Ok(decision)
    }
}

/// Checks that the committee, at the case's meeting, may decide `outcome`,
/// and fills in what the meeting gives the decision: its name, and the
/// tally and dissents of the votes it follows — or, without a quorum, the
/// reason for a deferral that follows no vote.
async fn decide_at_meeting(
    conn: &mut PgConnection,
    rules: Rules,
    case_row: &store::cases::Row,
    case: &Case,
    decision: &mut Decision,
    outcome: DecisionOutcome,
) -> Result<(), Error> {
    let before_the_committee = matches!(case_row.state.0, CaseState::Scheduled | CaseState::DecisionRecorded);
    if !before_the_committee || case.meeting.is_empty() {
        return Err(refused(
            "CASE_NOT_BEFORE_THE_COMMITTEE",
            format!("the case is {}", cases::state_name(case_row.state.0)),
        ));
    }
    if outcome != DecisionOutcome::Defer {
        check_requirements(case, outcome)?;
    }
    let (m_row, meeting) = lock_meeting(conn, &case.meeting).await?;
    rules::recordable_at(case_row.state.0, m_row.state()).map_err(|(reason, why)| refused(reason, why))?;
    let standing = Standing::load(conn, meetings::day(&meeting)).await?;
    let active: Vec<&store::members::Row> = standing.active().collect();
    let quorum = rules.quorum.quorum(active.len() as u32) as usize;
    let present_members: Vec<&store::members::Row> =
        active.into_iter().filter(|m| present(&meeting, &format!("members/{}", m.id))).collect();
    let eligible: Vec<&store::members::Row> =
        present_members.iter().copied().filter(|m| !conflicted(case, &format!("members/{}", m.id))).collect();
    decision.meeting = meeting.name.clone();
    // Without a quorum the committee decides nothing, but it may defer:
    // that deferral follows no vote, and waits for confirmation like any.
    if let Some((reason, why)) = rules::inquorate(present_members.len(), eligible.len(), quorum) {
        if outcome != DecisionOutcome::Defer {
            return Err(refused(reason, why));
        }
        decision.rationale = format!("Deferred without a quorum ({why}). {}", decision.rationale);
        return Ok(());
    }
    follow_the_votes(conn, rules.decision, case_row.id, m_row.document.id, &eligible, decision, outcome).await
}

/// Reads the votes cast on the case at the meeting and checks that
/// `outcome` follows from those of the `eligible` members under `rule`; the
/// decision gets their tally and the dissents.
async fn follow_the_votes(
    conn: &mut PgConnection,
    rule: DecisionRule,
    case_id: Uuid,
    meeting_id: Uuid,
    eligible: &[&store::members::Row],
    decision: &mut Decision,
    outcome: DecisionOutcome,
) -> Result<(), Error> {
    let votes: Vec<(Uuid, String, String)> = store::votes::at_meeting(conn, case_id, meeting_id)
        .await?
        .into_iter()
        .map(|r| (r.member_id, r.choice, r.comment))
        .collect();
    let ballots: Vec<Ballot> = eligible
        .iter()
        .map(|m| Ballot {
            choice: votes
                .iter()
                .find(|(id, _, _)| *id == m.id)
                .and_then(|(_, c, _)| StoredVoteChoice::from_stored(c).map(|c| c.0)),
            chair: m.role == "CHAIR",
        })
        .collect();
    rules::consistent(&ballots, rule, outcome).map_err(|(reason, why)| refused(reason, why))?;
    decision.vote_tally = Some(rules::tally(&ballots));
    // Eligible members who voted otherwise and said why are recorded as dissenting.
    let eligible_votes: Vec<rules::Vote> = votes
        .iter()
        .filter(|(id, _, _)| eligible.iter().any(|m| m.id == *id))
        .map(|(member, choice, comment)| rules::Vote {
            member: format!("members/{member}"),
            choice: StoredVoteChoice::from_stored(choice).map(|c| c.0),
            comment: comment.clone(),
        })
        .collect();
    decision.dissents = rules::dissents(&eligible_votes, outcome);
    Ok(())
}

/// The basic requirements an outcome needs: all five assessed; an approval
/// every one MET, an approval with conditions none NOT_MET.
pub(super) fn check_requirements(case: &Case, outcome: DecisionOutcome) -> Result<(), Error> {
    use pb::{BasicRequirement as B, RequirementVerdict as V};
    let assessed = case.requirement_assessments.len();
    if assessed < 5 {
        return Err(refused(
            "REQUIREMENTS_NOT_ASSESSED",
            format!("{assessed} of the five basic requirements are assessed"),
        ));
    }
    let short: Vec<String> = case
        .requirement_assessments
        .iter()
        .filter(|a| match outcome {
            DecisionOutcome::Approve => a.verdict != V::Met as i32,
            DecisionOutcome::ApproveWithConditions => a.verdict == V::NotMet as i32,
            _ => false,
        })
        .map(|a| {
            let requirement = B::try_from(a.requirement).unwrap_or_default().as_str_name();
            let verdict = V::try_from(a.verdict).unwrap_or_default().as_str_name();
            format!(
                "{} is {}",
                requirement.trim_start_matches("BASIC_REQUIREMENT_"),
                verdict.trim_start_matches("REQUIREMENT_VERDICT_")
            )
        })
        .collect();
    if short.is_empty() {
        return Ok(());
    }
    let needs = if outcome == DecisionOutcome::Approve {
        "an approval needs every basic requirement met (a partly met one calls for conditions)"
    } else {
        "an approval with conditions needs no basic requirement unmet"
    };
    Err(refused("REQUIREMENT_NOT_MET", format!("{needs}: {}", short.join(", "))))
}

pub(super) fn check_content(case: &Case, decision: &Decision, outcome: DecisionOutcome) -> Result<(), Error> {
    let mut violations = Vec::new();
    if decision.rationale.trim().is_empty() {
        violations.push(FieldViolation::new("decision.rationale", "is required, at most 10000 characters"));
    }
    violations.extend(limits::text("decision.rationale", &decision.rationale, 10_000));
    if decision.conditions.len() > 50 {
        violations.push(FieldViolation::new("decision.conditions", "at most 50"));
        return Err(Error::InvalidArgument(violations));
    }
    let approving = matches!(outcome, DecisionOutcome::Approve | DecisionOutcome::ApproveWithConditions);
    if approving {
        match &decision.approved_amount {
            None => violations.push(FieldViolation::new("decision.approved_amount", "is required for an approval")),
            Some(m) if m.currency_code != "SEK" || m.minor_units <= 0 => {
                violations.push(FieldViolation::new("decision.approved_amount", "must be a positive amount in SEK"))
            }
            Some(_) => {}
        }
    } else if decision.approved_amount.is_some() {
        violations.push(FieldViolation::new("decision.approved_amount", "is only for approvals"));
    }
    if outcome == DecisionOutcome::ApproveWithConditions && decision.conditions.is_empty() {
        violations.push(FieldViolation::new("decision.conditions", "an approval with conditions needs at least one"));
    }
    if outcome != DecisionOutcome::ApproveWithConditions && !decision.conditions.is_empty() {
        violations.push(FieldViolation::new("decision.conditions", "are only for an approval with conditions"));
    }
    let mut ids = std::collections::HashSet::new();
    for (i, c) in decision.conditions.iter().enumerate() {
        let well_formed = !c.id.is_empty()
            && c.id.len() <= 20
            && c.id.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
        if !well_formed || !ids.insert(c.id.as_str()) {
            violations.push(FieldViolation::new(
                format!("decision.conditions[{i}].id"),
                "is required: a key unique within the decision, 1..20 of [A-Za-z0-9_-] (an amendment keeps the keys of the conditions it keeps)",
            ));
        }
    }
    for (i, c) in decision.conditions.iter().enumerate() {
        if c.description.trim().is_empty() {
            violations.push(FieldViolation::new(format!("decision.conditions[{i}].description"), "is required"));
        }
        violations.extend(limits::text(&format!("decision.conditions[{i}].description"), &c.description, 4000));
        let due = c.due_date.as_ref().and_then(|d| limits::date(d.year, d.month, d.day, limits::YEARS));
        if due.is_none() {
            violations.push(FieldViolation::new(
                format!("decision.conditions[{i}].due_date"),
                "is required: a calendar date between 1900 and 2200",
            ));
        }
        if !matches!(common::ConditionKind::try_from(c.kind), Ok(k) if k != common::ConditionKind::Unspecified) {
            violations.push(FieldViolation::new(format!("decision.conditions[{i}].kind"), "is required"));
        }
    }
    if !violations.is_empty() {
        return Err(Error::InvalidArgument(violations));
    }
    // The application carries the decision too: it must fit beside it.
    limits::check_size("decision", decision.encoded_len(), limits::MAX_DECISION_BYTES)?;
    let requested = case.requested_amount.as_ref().map(|m| m.minor_units).unwrap_or_default();
    if let Some(amount) = decision.approved_amount.as_ref().filter(|_| approving)
        && amount.minor_units > requested
    {
        return Err(refused(
            "APPROVED_AMOUNT_ABOVE_REQUESTED",
            format!("approved {} öre is above the {} öre applied for", amount.minor_units, requested),
        ));
    }
    Ok(())
}

/// Takes a case off its meeting as deferred, and says so on the feed.
async fn mark_deferred(
    conn: &mut PgConnection,
    case_row: &store::cases::Row,
    mut case: Case,
    decision: &Decision,
) -> Result<(), Error> {
    case.deferral_count += 1;
    let meeting = std::mem::take(&mut case.meeting);
    store::cases::save(conn, case_row, &case, CaseState::Deferred).await?;
    let deferred = pb::CaseDeferred {
        case: case.name.clone(),
        application: case.application.clone(),
        decision: decision.name.clone(),
        meeting,
        rationale: decision.rationale.clone(),
        deferral_count: case.deferral_count,
    };
    publish(conn, &case.name, &deferred).await
}

/// Only a recorded, unconfirmed decision is confirmed, and never by
/// `confirmer` when it is the person who recorded it.
fn check_confirmable(decision: &Decision, confirmer: &str) -> Result<(), Error> {
    if decision.state != DecisionState::Recorded as i32 {
        return Err(refused("DECISION_NOT_RECORDED", "only a recorded, unconfirmed decision can be confirmed"));
    }
    let recorder = decision.recorded_by.as_ref().map(|a| a.subject.as_str()).unwrap_or_default();
    if recorder == confirmer {
        return Err(Error::PermissionDenied {
            reason: "FOUR_EYES_VIOLATION",
            message: "the person who recorded a decision cannot confirm it".into(),
        });
    }
    Ok(())
}

/// Says on the feed that a decision is confirmed at `chain_sequence` — or,
/// for an amendment (`amends` names the decision it amends), that the
/// decision is amended.
pub(super) async fn announce_confirmed(
    conn: &mut PgConnection,
    case: &Case,
    decision: &Decision,
    amends: Option<String>,
    chain_sequence: i64,
    chain_hash: String,
) -> Result<(), Error> {
    if let Some(amends) = amends {
        let amended = pb::DecisionAmended {
            case: case.name.clone(),
            application: case.application.clone(),
            decision: decision.name.clone(),
            amends,
            outcome: decision.outcome,
            approved_amount: decision.approved_amount.clone(),
            conditions: decision.conditions.clone(),
            rationale: decision.rationale.clone(),
            confirm_time: decision.confirm_time,
            chain_sequence,
            chain_hash,
        };
        publish(conn, &case.name, &amended).await
    } else {
        let confirmed = pb::DecisionConfirmed {
            case: case.name.clone(),
            application: case.application.clone(),
            decision: decision.name.clone(),
            meeting: decision.meeting.clone(),
            outcome: decision.outcome,
            approved_amount: decision.approved_amount.clone(),
            conditions: decision.conditions.clone(),
            rationale: decision.rationale.clone(),
            deferral_count: case.deferral_count,
            confirm_time: decision.confirm_time,
            chain_sequence,
            chain_hash,
        };
        publish(conn, &case.name, &confirmed).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_waiting_record_is_confirmed_and_never_by_its_recorder() {
        let recorded = Decision {
            state: DecisionState::Recorded as i32,
            recorded_by: Some(common::Actor { subject: "secretary".into(), ..Default::default() }),
            ..Default::default()
        };
        assert!(check_confirmable(&recorded, "chair").is_ok());
        assert!(matches!(
            check_confirmable(&recorded, "secretary"),
            Err(Error::PermissionDenied { reason: "FOUR_EYES_VIOLATION", .. })
        ));
        let confirmed = Decision { state: DecisionState::Confirmed as i32, ..recorded };
        assert!(matches!(
            check_confirmable(&confirmed, "chair"),
            Err(Error::Precondition { reason: "DECISION_NOT_RECORDED", .. })
        ));
        let unrecorded = Decision { state: DecisionState::Recorded as i32, ..Default::default() };
        assert!(matches!(
            check_confirmable(&unrecorded, ""),
            Err(Error::PermissionDenied { reason: "FOUR_EYES_VIOLATION", .. })
        ));
    }
}
