//! The contracts and the role tables agree: every method a service exposes has
//! exactly one entry in its policy, and every role table entry names a real method.

use std::collections::BTreeSet;

use prost::Message;
use prost_types::FileDescriptorSet;

fn methods_of(service: &str) -> BTreeSet<String> {
    let set = FileDescriptorSet::decode(socialloans_contracts::FILE_DESCRIPTOR_SET).expect("descriptor set decodes");
    let (package, name) = service.rsplit_once('.').unwrap();
    set.file
        .iter()
        .filter(|f| f.package() == package)
        .flat_map(|f| f.service.iter())
        .filter(|s| s.name() == name)
        .flat_map(|s| s.method.iter().map(|m| m.name().to_owned()))
        .collect()
}

#[test]
fn every_method_of_every_service_has_one_role_entry() {
    for service in e2e::services() {
        let policy = service.spec.policy;
        let declared = methods_of(policy.service);
        assert!(!declared.is_empty(), "{} has no methods in the descriptor set", policy.service);
        let listed: Vec<&str> = policy.methods.iter().map(|(m, _)| *m).collect();
        let unique: BTreeSet<String> = listed.iter().map(|m| (*m).to_owned()).collect();
        assert_eq!(unique.len(), listed.len(), "{}: a method is listed twice", policy.service);
        assert_eq!(unique, declared, "{}: policy and contract differ", policy.service);
        assert!(
            policy.methods.iter().all(|(_, roles)| !roles.is_empty()),
            "{}: a method no role may call",
            policy.service
        );
    }
}

#[test]
fn every_service_publishes_a_resumable_event_feed_to_services_only() {
    for service in e2e::services() {
        let roles = service.spec.policy.allowed(&format!("/{}/StreamEvents", service.spec.grpc_service));
        let roles = roles.unwrap_or_else(|| panic!("{} has no StreamEvents", service.spec.name));
        assert!(!roles.contains(&socialloans_platform::Role::Borrower), "borrowers must not read the raw event feed");
    }
}
