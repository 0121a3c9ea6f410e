//! The committee's rules as plain functions: who is eligible, quorum, and
//! whether a decision follows from the votes; what a meeting that lacks a
//! quorum may still decide; when a decision may be amended; who dissents;
//! in which role a caller acts on a case, and for whom a conflict is declared.
//! No I/O. A refusal is `(reason, message)`; the handlers make it an error.

use socialloans_contracts::committee::{
    CaseState, Decision, DecisionOutcome, DecisionState, Dissent, MeetingState, VoteChoice, VoteTally,
};

/// A rule's refusal: the stable reason and a message for a person.
pub type Refusal = (&'static str, String);

/// How decisions follow from votes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionRule {
    /// Simple majority: an outcome needs more than half of the votes cast
    /// (abstentions and members who did not vote cast none). When two
    /// outcomes each have exactly half, the chair's vote for one of them
    /// decides (the casting vote). Otherwise the votes give no outcome.
    Majority,
    /// Every eligible member present votes the same.
    Consensus,
}

/// How many eligible members a meeting needs to decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuorumRule {
    /// More than half of the active roster.
    MajorityOfRoster,
    /// A fixed number.
    Fixed(u32),
}

impl QuorumRule {
    /// The quorum for a roster of `active` members.
    pub fn quorum(self, active: u32) -> u32 {
        match self {
            QuorumRule::MajorityOfRoster => active / 2 + 1,
            QuorumRule::Fixed(n) => n,
        }
    }
}

/// One eligible member's vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ballot {
    /// The choice; `None` when the member did not vote.
    pub choice: Option<VoteChoice>,
    /// The member chairs the committee.
    pub chair: bool,
}

/// The outcome a vote choice stands for.
pub fn outcome_of(choice: VoteChoice) -> Option<DecisionOutcome> {
    match choice {
        VoteChoice::Approve => Some(DecisionOutcome::Approve),
        VoteChoice::ApproveWithConditions => Some(DecisionOutcome::ApproveWithConditions),
        VoteChoice::Defer => Some(DecisionOutcome::Defer),
        VoteChoice::Decline => Some(DecisionOutcome::Decline),
        VoteChoice::Abstain | VoteChoice::Unspecified => None,
    }
}

/// Counts the ballots.
pub fn tally(ballots: &[Ballot]) -> VoteTally {
    let mut t = VoteTally::default();
    for b in ballots {
        match b.choice {
            Some(VoteChoice::Approve) => t.approve += 1,
            Some(VoteChoice::ApproveWithConditions) => t.approve_with_conditions += 1,
            Some(VoteChoice::Defer) => t.defer += 1,
            Some(VoteChoice::Decline) => t.decline += 1,
            Some(VoteChoice::Abstain) => t.abstain += 1,
            Some(VoteChoice::Unspecified) | None => t.not_voted += 1,
        }
    }
    t
}

/// The outcome the votes give under `rule`, or why none.
pub fn outcome(ballots: &[Ballot], rule: DecisionRule) -> Result<DecisionOutcome, String> {
    let counted: Vec<(DecisionOutcome, bool)> =
        ballots.iter().filter_map(|b| b.choice.and_then(outcome_of).map(|o| (o, b.chair))).collect();
    if counted.is_empty() {
        return Err("no member has voted".into());
    }
    match rule {
        DecisionRule::Consensus => {
            let first = counted[0].0;
            if ballots.iter().all(|b| b.choice.and_then(outcome_of) == Some(first)) {
                Ok(first)
            } else {
                Err("the rule is consensus, and the eligible members present did not all vote alike".into())
            }
        }
        DecisionRule::Majority => {
            let options = [
                DecisionOutcome::Approve,
                DecisionOutcome::ApproveWithConditions,
                DecisionOutcome::Defer,
                DecisionOutcome::Decline,
            ];
            let cast = counted.len();
            let count = |o: DecisionOutcome| counted.iter().filter(|(c, _)| *c == o).count();
            if let Some(winner) = options.into_iter().find(|o| 2 * count(*o) > cast) {
                return Ok(winner);
            }
            let halves: Vec<DecisionOutcome> = options.into_iter().filter(|o| 2 * count(*o) == cast).collect();
            match counted.iter().find(|(_, chair)| *chair).map(|(o, _)| *o) {
                Some(chair) if halves.len() == 2 && halves.contains(&chair) => Ok(chair),
                _ if halves.len() == 2 => {
                    Err(format!("the {cast} votes cast are tied and the chair's vote does not break the tie"))
                }
                _ => Err(format!("no outcome has more than half of the {cast} votes cast")),
            }
        }
    }
}

/// Whether the votes give `recorded`, the outcome the secretary records;
/// if not, why.
pub fn consistent(ballots: &[Ballot], rule: DecisionRule, recorded: DecisionOutcome) -> Result<(), Refusal> {
    let given = outcome(ballots, rule).map_err(|why| ("DECISION_INCONSISTENT_WITH_VOTES", why))?;
    if given != recorded {
        return Err((
            "DECISION_INCONSISTENT_WITH_VOTES",
            format!("the votes give {}, not {}", given.as_str_name(), recorded.as_str_name()),
        ));
    }
    Ok(())
}

/// Whether a decision on a case in state `case` is recorded at a meeting in
/// state `meeting`: while the meeting is in progress; a record still waiting
/// for confirmation may be corrected after adjournment too, on the votes the
/// meeting cast.
pub fn recordable_at(case: CaseState, meeting: MeetingState) -> Result<(), Refusal> {
    let correcting = case == CaseState::DecisionRecorded;
    if meeting == MeetingState::InProgress || (correcting && meeting == MeetingState::Adjourned) {
        return Ok(());
    }
    Err((
        "MEETING_NOT_IN_PROGRESS",
        "decisions are recorded while the meeting is in progress (a waiting record corrected until its minutes)".into(),
    ))
}

/// Why a meeting with `present` voting members, `eligible` of them without
/// a conflict on the case, cannot decide it under a quorum of `quorum`; or
/// `None` when it can. A meeting that cannot may still defer the case.
pub fn inquorate(present: usize, eligible: usize, quorum: usize) -> Option<Refusal> {
    if present < quorum {
        Some(("NO_QUORUM", format!("{present} members present of the {quorum} the quorum needs")))
    } else if eligible < quorum {
        Some((
            "CONFLICTS_BREAK_QUORUM",
            format!(
                "{eligible} eligible members present of the {quorum} the quorum needs; the case can only be deferred"
            ),
        ))
    } else {
        None
    }
}

/// The decision an amendment corrects: the case's last confirmed decision,
/// once its minutes are approved (frozen), and only with the same outcome.
pub fn amended(decisions: &[Decision], outcome: DecisionOutcome) -> Result<&Decision, Refusal> {
    let last = decisions.iter().rev().find(|d| d.state == DecisionState::Confirmed as i32);
    let Some(last) = last.filter(|d| d.frozen) else {
        return Err((
            "DECISION_NOT_FROZEN",
            "a confirmed decision changes only by amendment once the minutes are approved".into(),
        ));
    };
    if last.outcome != outcome as i32 {
        return Err((
            "AMENDMENT_CHANGES_OUTCOME",
            "an amendment corrects a decision; it cannot change its outcome".into(),
        ));
    }
    Ok(last)
}

/// What an amendment takes from the decision it amends: the meeting and its
/// vote tally; its rationale names the decision amended.
pub fn amend(amendment: &mut Decision, amended: &Decision) {
    amendment.meeting = amended.meeting.clone();
    amendment.vote_tally = amended.vote_tally;
    amendment.rationale = format!("Amends {}: {}", amended.name, amendment.rationale);
}

/// Recording a decision again before confirmation supersedes the record
/// waiting for it.
pub fn supersede_waiting(decisions: &mut [Decision]) {
    for d in decisions.iter_mut().filter(|d| d.state == DecisionState::Recorded as i32) {
        d.state = DecisionState::Superseded as i32;
    }
}

/// Confirming the amendment at `amendment` supersedes the decision it
/// amends: the latest confirmed one before it (an amendment keeps its
/// outcome); deferrals confirmed before it stay as they were. The name of
/// the decision superseded, empty when there is none.
pub fn supersede_amended(decisions: &mut [Decision], amendment: usize) -> String {
    let outcome = decisions[amendment].outcome;
    let amended = decisions[..amendment]
        .iter_mut()
        .rev()
        .find(|d| d.state == DecisionState::Confirmed as i32 && d.outcome == outcome);
    match amended {
        Some(d) => {
            d.state = DecisionState::Superseded as i32;
            d.name.clone()
        }
        None => String::new(),
    }
}

/// One eligible member's vote as the record keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vote {
    /// `members/{id}`.
    pub member: String,
    /// The choice.
    pub choice: Option<VoteChoice>,
    /// What the member said with it.
    pub comment: String,
}

/// The dissents a decision records: eligible members who voted for another
/// outcome (or abstained) and said why.
pub fn dissents(votes: &[Vote], outcome: DecisionOutcome) -> Vec<Dissent> {
    votes
        .iter()
        .filter(|v| v.choice.and_then(outcome_of) != Some(outcome) && !v.comment.is_empty())
        .map(|v| Dissent { member: v.member.clone(), statement: v.comment.clone() })
        .collect()
}

/// The role in which a caller acts on a case outside a meeting: the
/// secretary's when the caller is the secretary, else a member's.
pub fn acting_role(secretary: bool) -> &'static str {
    if secretary { "committee_secretary" } else { "committee_member" }
}

/// Whether a caller with the login subject `caller` declares a conflict of
/// interest for the member whose subject is `member`: members declare for
/// themselves (a member without a subject is nobody's), the secretary
/// records it for any member.
pub fn declares_for(secretary: bool, caller: &str, member: &str) -> Result<(), Refusal> {
    if secretary || (!member.is_empty() && member == caller) {
        return Ok(());
    }
    Err((
        "NOT_THE_MEMBER",
        "a member declares a conflict for themself; the secretary may record it for any member".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(choice: VoteChoice, chair: bool) -> Ballot {
        Ballot { choice: Some(choice), chair }
    }

    #[test]
    fn majority_wins_and_the_chair_breaks_a_tie() {
        use VoteChoice::*;
        assert_eq!(
            outcome(&[b(Approve, false), b(Approve, false), b(Decline, true)], DecisionRule::Majority),
            Ok(DecisionOutcome::Approve)
        );
        assert_eq!(
            outcome(&[b(Approve, false), b(Decline, true)], DecisionRule::Majority),
            Ok(DecisionOutcome::Decline)
        );
        assert!(outcome(&[b(Approve, false), b(Decline, false), b(Abstain, true)], DecisionRule::Majority).is_err());
    }

    #[test]
    fn a_simple_majority_is_more_than_half_of_the_votes_cast() {
        use VoteChoice::*;
        let none = Ballot { choice: None, chair: false };
        let majority = |ballots: &[Ballot]| outcome(ballots, DecisionRule::Majority);
        // 3 of 5: more than half.
        let three_two = [b(Approve, false), b(Approve, false), b(Approve, false), b(Decline, false), b(Decline, true)];
        assert_eq!(majority(&three_two), Ok(DecisionOutcome::Approve));
        // The most votes, but not more than half: no outcome (plurality is not majority).
        let split =
            [b(Approve, false), b(Approve, false), b(ApproveWithConditions, false), b(Decline, false), b(Defer, true)];
        assert!(majority(&split).is_err(), "2 of 5 is not a majority");
        // Abstentions and absent votes are not cast: 2 of 3 cast decide.
        let abstaining =
            [b(Approve, false), b(Approve, false), b(Decline, false), b(Abstain, false), b(Abstain, true), none];
        assert_eq!(majority(&abstaining), Ok(DecisionOutcome::Approve));
        // Exactly half each: the chair's vote decides, whichever side it is on.
        let tie = [b(Approve, false), b(Decline, false), b(Approve, true), b(Decline, false)];
        assert_eq!(majority(&tie), Ok(DecisionOutcome::Approve));
        let tie = [b(Approve, false), b(Decline, true)];
        assert_eq!(majority(&tie), Ok(DecisionOutcome::Decline));
        // A tie the chair does not vote in stays a tie.
        let tie = [b(Approve, false), b(Decline, false), b(Abstain, true)];
        assert!(majority(&tie).unwrap_err().contains("tied"));
        // Three ways, one each: no outcome, even with the chair among them.
        let three_ways = [b(Approve, true), b(Decline, false), b(Defer, false)];
        assert!(majority(&three_ways).is_err());
        // One vote cast, everyone else abstaining: that vote is all the votes cast.
        let alone = [b(Approve, false), b(Abstain, false), b(Abstain, true)];
        assert_eq!(majority(&alone), Ok(DecisionOutcome::Approve));
        // Nobody cast a vote.
        assert!(majority(&[b(Abstain, true), none]).is_err());
    }

    #[test]
    fn consensus_needs_every_eligible_member_alike() {
        use VoteChoice::*;
        assert_eq!(
            outcome(&[b(Approve, false), b(Approve, true)], DecisionRule::Consensus),
            Ok(DecisionOutcome::Approve)
        );
        assert!(
            outcome(
                &[b(Approve, false), b(Approve, true), Ballot { choice: None, chair: false }],
                DecisionRule::Consensus
            )
            .is_err()
        );
        assert!(outcome(&[b(Approve, false), b(Decline, true)], DecisionRule::Consensus).is_err());
    }

    #[test]
    fn quorum_is_more_than_half_of_the_active_roster_by_default() {
        assert_eq!(QuorumRule::MajorityOfRoster.quorum(8), 5);
        assert_eq!(QuorumRule::MajorityOfRoster.quorum(7), 4);
        assert_eq!(QuorumRule::Fixed(3).quorum(8), 3);
    }

    #[test]
    fn a_meeting_without_a_quorum_or_with_too_many_conflicts_cannot_decide() {
        assert_eq!(super::inquorate(3, 3, 3), None);
        assert_eq!(super::inquorate(2, 2, 3).unwrap().0, "NO_QUORUM");
        let (reason, message) = super::inquorate(4, 2, 3).unwrap();
        assert_eq!(reason, "CONFLICTS_BREAK_QUORUM");
        assert!(message.contains("2 eligible members present of the 3"), "{message}");
    }

    #[test]
    fn only_a_frozen_confirmed_decision_is_amended_and_never_to_another_outcome() {
        use socialloans_contracts::committee::{Decision, DecisionState};
        let decision = |state: DecisionState, frozen: bool, outcome: DecisionOutcome| Decision {
            state: state as i32,
            frozen,
            outcome: outcome as i32,
            ..Default::default()
        };
        let approve = DecisionOutcome::Approve;
        let unfrozen = [decision(DecisionState::Confirmed, false, approve)];
        assert_eq!(super::amended(&unfrozen, approve).unwrap_err().0, "DECISION_NOT_FROZEN");
        assert_eq!(super::amended(&[], approve).unwrap_err().0, "DECISION_NOT_FROZEN");
        let history = [
            decision(DecisionState::Confirmed, true, approve),
            decision(DecisionState::Superseded, false, DecisionOutcome::Decline),
        ];
        assert_eq!(super::amended(&history, DecisionOutcome::Decline).unwrap_err().0, "AMENDMENT_CHANGES_OUTCOME");
        assert!(std::ptr::eq(super::amended(&history, approve).unwrap(), &history[0]));
    }

    #[test]
    fn a_dissent_is_a_different_vote_with_its_reason() {
        use super::Vote;
        let vote = |member: &str, choice: Option<VoteChoice>, comment: &str| Vote {
            member: member.into(),
            choice,
            comment: comment.into(),
        };
        let votes = [
            vote("members/a", Some(VoteChoice::Approve), "good"),
            vote("members/b", Some(VoteChoice::Decline), "too risky"),
            vote("members/c", Some(VoteChoice::Decline), ""),
            vote("members/d", Some(VoteChoice::Abstain), "conflict of schedule"),
            vote("members/e", None, "away"),
        ];
        let recorded: Vec<_> =
            super::dissents(&votes, DecisionOutcome::Approve).into_iter().map(|d| (d.member, d.statement)).collect();
        assert_eq!(
            recorded,
            [
                ("members/b".to_owned(), "too risky".to_owned()),
                ("members/d".to_owned(), "conflict of schedule".to_owned()),
                ("members/e".to_owned(), "away".to_owned()),
            ]
        );
    }

    #[test]
    fn a_recorded_outcome_must_be_the_one_the_votes_give() {
        use VoteChoice::*;
        let ballots = [b(Approve, false), b(Approve, false), b(Decline, true)];
        assert_eq!(consistent(&ballots, DecisionRule::Majority, DecisionOutcome::Approve), Ok(()));
        assert_eq!(
            consistent(&ballots, DecisionRule::Majority, DecisionOutcome::Decline),
            Err((
                "DECISION_INCONSISTENT_WITH_VOTES",
                "the votes give DECISION_OUTCOME_APPROVE, not DECISION_OUTCOME_DECLINE".to_owned()
            ))
        );
        assert_eq!(
            consistent(&ballots, DecisionRule::Consensus, DecisionOutcome::Approve),
            Err((
                "DECISION_INCONSISTENT_WITH_VOTES",
                "the rule is consensus, and the eligible members present did not all vote alike".to_owned()
            ))
        );
    }

    #[test]
    fn decisions_are_recorded_during_the_meeting_and_a_waiting_record_corrected_after_it() {
        use {CaseState as C, MeetingState as M};
        assert_eq!(recordable_at(C::Scheduled, M::InProgress), Ok(()));
        assert_eq!(recordable_at(C::DecisionRecorded, M::InProgress), Ok(()));
        assert_eq!(recordable_at(C::DecisionRecorded, M::Adjourned), Ok(()));
        assert_eq!(recordable_at(C::Scheduled, M::Adjourned).unwrap_err().0, "MEETING_NOT_IN_PROGRESS");
        assert_eq!(recordable_at(C::Scheduled, M::Scheduled).unwrap_err().0, "MEETING_NOT_IN_PROGRESS");
        assert_eq!(recordable_at(C::DecisionRecorded, M::MinutesApproved).unwrap_err().0, "MEETING_NOT_IN_PROGRESS");
    }

    #[test]
    fn an_amendment_keeps_the_meeting_and_tally_and_names_what_it_amends() {
        let tally = VoteTally { approve: 3, decline: 1, ..Default::default() };
        let amended = Decision {
            name: "cases/c/decisions/1".into(),
            meeting: "meetings/m".into(),
            vote_tally: Some(tally),
            rationale: "Strong case.".into(),
            ..Default::default()
        };
        let mut amendment = Decision {
            meeting: "meetings/other".into(),
            rationale: "The due date moves.".into(),
            ..Default::default()
        };
        amend(&mut amendment, &amended);
        assert_eq!(amendment.meeting, "meetings/m");
        assert_eq!(amendment.vote_tally, Some(tally));
        assert_eq!(amendment.rationale, "Amends cases/c/decisions/1: The due date moves.");
    }

    #[test]
    fn recording_again_supersedes_only_the_record_waiting_for_confirmation() {
        use DecisionState::*;
        let mut decisions: Vec<Decision> = [Confirmed, Superseded, Recorded]
            .into_iter()
            .map(|state| Decision { state: state as i32, ..Default::default() })
            .collect();
        supersede_waiting(&mut decisions);
        let states: Vec<i32> = decisions.iter().map(|d| d.state).collect();
        assert_eq!(states, [Confirmed as i32, Superseded as i32, Superseded as i32]);
    }

    #[test]
    fn a_confirmed_amendment_supersedes_the_latest_confirmed_decision_of_its_outcome() {
        use DecisionOutcome::{Approve, Defer};
        use DecisionState::*;
        let decision = |n: u32, state: DecisionState, outcome: DecisionOutcome| Decision {
            name: format!("cases/c/decisions/{n}"),
            state: state as i32,
            outcome: outcome as i32,
            ..Default::default()
        };
        let mut decisions = vec![
            decision(1, Confirmed, Defer),
            decision(2, Superseded, Approve),
            decision(3, Confirmed, Approve),
            decision(4, Confirmed, Defer),
            decision(5, Recorded, Approve),
        ];
        assert_eq!(supersede_amended(&mut decisions, 4), "cases/c/decisions/3");
        let states: Vec<i32> = decisions.iter().map(|d| d.state).collect();
        assert_eq!(states, [Confirmed as i32, Superseded as i32, Superseded as i32, Confirmed as i32, Recorded as i32]);
        let mut first = vec![decision(1, Confirmed, Defer), decision(2, Recorded, Approve)];
        assert_eq!(supersede_amended(&mut first, 1), "");
        assert_eq!(first[0].state, Confirmed as i32);
    }

    #[test]
    fn the_secretary_acts_as_secretary_and_everyone_else_as_a_member() {
        assert_eq!(acting_role(true), "committee_secretary");
        assert_eq!(acting_role(false), "committee_member");
    }

    #[test]
    fn a_member_declares_a_conflict_only_for_themself_and_the_secretary_for_anyone() {
        assert_eq!(declares_for(false, "anna", "anna"), Ok(()));
        assert_eq!(declares_for(true, "sara", "anna"), Ok(()));
        assert_eq!(declares_for(true, "sara", ""), Ok(()));
        let refused = declares_for(false, "bo", "anna").unwrap_err();
        assert_eq!(refused.0, "NOT_THE_MEMBER");
        assert_eq!(refused.1, "a member declares a conflict for themself; the secretary may record it for any member");
        assert_eq!(declares_for(false, "", "").unwrap_err().0, "NOT_THE_MEMBER");
    }
}
