//! The committee's rules as plain functions: who is eligible, quorum, and
//! whether a decision follows from the votes. No I/O.

use socialloans_contracts::committee::{DecisionOutcome, VoteChoice, VoteTally};

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
}
