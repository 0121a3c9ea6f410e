//! Who reads which of this service's events: services and auditors the
//! whole feed; core banking only what it acts on (approvals and amendments,
//! conditions, lapses, closings, its loans).

use prost::Name;
use socialloans_contracts::applications as pb;
use socialloans_platform::error::FieldViolation;

/// The event types of core banking's feed.
pub const CORE_BANKING: [fn() -> String; 7] = [
    pb::ApplicationApproved::full_name,
    pb::ApplicationDecisionAmended::full_name,
    pb::ApplicationConditionChanged::full_name,
    pb::ApplicationLapsed::full_name,
    pb::ApplicationClosed::full_name,
    pb::LoanTagged::full_name,
    pb::LoanUpdated::full_name,
];

/// A violation for each of `asked` outside core banking's feed.
pub fn core_banking_types(asked: &[String]) -> Vec<FieldViolation> {
    let allowed: Vec<String> = CORE_BANKING.iter().map(|t| t()).collect();
    asked
        .iter()
        .enumerate()
        .filter(|(_, t)| !allowed.contains(t))
        .map(|(i, t)| FieldViolation::new(format!("types[{i}]"), format!("{t} is not on core banking's feed")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_banking_may_ask_for_its_types_and_no_other() {
        let own: Vec<String> = CORE_BANKING.iter().map(|t| t()).collect();
        assert!(core_banking_types(&own).is_empty());
        let asked = [pb::LoanTagged::full_name(), pb::ApplicationSubmitted::full_name(), "x".into()];
        let refused: Vec<String> = core_banking_types(&asked).into_iter().map(|v| v.field).collect();
        assert_eq!(refused, ["types[1]", "types[2]"]);
    }
}
