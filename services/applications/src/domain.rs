//! The application's life cycle as an explicit state machine: which action
//! may move an application from which state to which. Plain Rust, no I/O.
//!
//! ```text
//! DRAFT → SUBMITTED → UNDER_REVIEW → REFERRED_TO_COMMITTEE → APPROVED | APPROVED_WITH_CONDITIONS | DECLINED
//!           ↑   ↓                                                 ↓
//!   RETURNED_FOR_COMPLETION                                    ACTIVE (a loan tagged) → CLOSED
//!                                                              LAPSED (never drawn)
//! WITHDRAWN: by the borrower from any state before a decision.
//! ```

use socialloans_contracts::applications::ApplicationState as S;

/// What can happen to an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The borrower edits the content.
    Edit,
    /// The borrower submits (or resubmits).
    Submit,
    /// An analyst returns it for completion.
    ReturnForCompletion,
    /// An analyst takes it under review.
    StartReview,
    /// A credit analyst records the ordinary credit assessment.
    RecordCreditAssessment,
    /// An analyst refers it to the committee.
    Refer,
    /// The committee's confirmed decision arrives.
    ApplyDecision(Decision),
    /// The borrower withdraws it.
    Withdraw,
    /// Core banking tags a loan to it.
    TagLoan,
    /// A tagged loan changes: amortised, matured, redeemed, its tag cancelled.
    ChangeLoan,
    /// Core banking closes it when its loans mature.
    Close,
    /// An approval never drawn lapses.
    Lapse,
}

/// The committee's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Approved as applied for.
    Approved,
    /// Approved with conditions.
    ApprovedWithConditions,
    /// Declined.
    Declined,
}

/// An action the state machine refuses, with the state it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IllegalTransition {
    /// The refused action.
    pub action: Action,
    /// The state the application is in.
    pub from: S,
}

impl std::fmt::Display for IllegalTransition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} is not allowed in state {}", self.action, self.from.as_str_name())
    }
}

/// The state `action` leads to from `from`, or why not.
pub fn next(from: S, action: Action) -> Result<S, IllegalTransition> {
    use Action::*;
    let to = match (action, from) {
        (Edit, S::Draft | S::ReturnedForCompletion) => from,
        (Submit, S::Draft | S::ReturnedForCompletion) => S::Submitted,
        // A referred one only while its case is on no agenda (steps::return_for_completion).
        (ReturnForCompletion, S::Submitted | S::UnderReview | S::ReferredToCommittee) => S::ReturnedForCompletion,
        (StartReview, S::Submitted) => S::UnderReview,
        (RecordCreditAssessment, S::Submitted | S::UnderReview | S::ReferredToCommittee) => from,
        (Refer, S::UnderReview) => S::ReferredToCommittee,
        (ApplyDecision(Decision::Approved), S::ReferredToCommittee) => S::Approved,
        (ApplyDecision(Decision::ApprovedWithConditions), S::ReferredToCommittee) => S::ApprovedWithConditions,
        (ApplyDecision(Decision::Declined), S::ReferredToCommittee) => S::Declined,
        (Withdraw, S::Draft | S::Submitted | S::ReturnedForCompletion | S::UnderReview | S::ReferredToCommittee) => {
            S::Withdrawn
        }
        (TagLoan, S::Approved | S::ApprovedWithConditions | S::Active) => S::Active,
        (ChangeLoan, S::Active) => S::Active,
        (Close, S::Active) => S::Closed,
        (Lapse, S::Approved | S::ApprovedWithConditions) => S::Lapsed,
        _ => return Err(IllegalTransition { action, from }),
    };
    Ok(to)
}

/// The states whose content the borrower may still change.
pub fn editable(state: S) -> bool {
    next(state, Action::Edit).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [S; 12] = [
        S::Draft,
        S::Submitted,
        S::ReturnedForCompletion,
        S::UnderReview,
        S::ReferredToCommittee,
        S::Approved,
        S::ApprovedWithConditions,
        S::Declined,
        S::Withdrawn,
        S::Active,
        S::Closed,
        S::Lapsed,
    ];

    #[test]
    fn the_happy_path_runs_from_draft_to_closed() {
        let mut state = S::Draft;
        for action in [
            Action::Submit,
            Action::ReturnForCompletion,
            Action::Submit,
            Action::StartReview,
            Action::RecordCreditAssessment,
            Action::Refer,
            Action::ApplyDecision(Decision::ApprovedWithConditions),
            Action::TagLoan,
            Action::TagLoan,
            Action::Close,
        ] {
            state = next(state, action).unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(state, S::Closed);
    }

    #[test]
    fn withdrawal_is_possible_exactly_before_a_decision() {
        let before = [S::Draft, S::Submitted, S::ReturnedForCompletion, S::UnderReview, S::ReferredToCommittee];
        for state in ALL {
            assert_eq!(next(state, Action::Withdraw).is_ok(), before.contains(&state), "{state:?}");
        }
    }

    #[test]
    fn terminal_states_accept_nothing_and_edits_stop_at_submission() {
        for state in [S::Declined, S::Withdrawn, S::Closed, S::Lapsed] {
            for action in [
                Action::Edit,
                Action::Submit,
                Action::Withdraw,
                Action::TagLoan,
                Action::Close,
                Action::Refer,
                Action::Lapse,
                Action::ChangeLoan,
            ] {
                assert!(next(state, action).is_err(), "{action:?} from {state:?}");
            }
        }
        let editable_states: Vec<S> = ALL.into_iter().filter(|s| editable(*s)).collect();
        assert_eq!(editable_states, [S::Draft, S::ReturnedForCompletion]);
    }

    #[test]
    fn an_application_is_returned_for_completion_before_the_committee_decides() {
        for state in ALL {
            let returns = next(state, Action::ReturnForCompletion).is_ok();
            let before = matches!(state, S::Submitted | S::UnderReview | S::ReferredToCommittee);
            assert_eq!(returns, before, "{state:?}");
        }
    }

    #[test]
    fn only_an_undrawn_approval_lapses() {
        for state in ALL {
            let lapses = next(state, Action::Lapse).is_ok();
            assert_eq!(lapses, matches!(state, S::Approved | S::ApprovedWithConditions), "{state:?}");
        }
    }

    #[test]
    fn a_tagged_loan_changes_only_while_the_application_is_active() {
        for state in ALL {
            assert_eq!(next(state, Action::ChangeLoan).ok(), (state == S::Active).then_some(S::Active), "{state:?}");
        }
    }

    #[test]
    fn a_decision_applies_only_to_a_referred_application() {
        for state in ALL {
            let ok = next(state, Action::ApplyDecision(Decision::Declined)).is_ok();
            assert_eq!(ok, state == S::ReferredToCommittee, "{state:?}");
        }
    }
}
