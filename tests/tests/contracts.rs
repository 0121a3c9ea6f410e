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
fn every_service_publishes_a_resumable_event_feed_and_only_the_confining_ones_to_borrowers() {
    // A borrower reads only a feed that confines it to its organisations
    // (applications and monitoring: tests/tests/portal_feed.rs); the
    // committee's feed holds the deliberation and is never a borrower's.
    for service in e2e::services() {
        let roles = service.spec.policy.allowed(&format!("/{}/StreamEvents", service.spec.grpc_service()));
        let roles = roles.unwrap_or_else(|| panic!("{} has no StreamEvents", service.spec.name));
        assert!(roles.contains(&socialloans_platform::Role::Service), "{}", service.spec.name);
        let confines = ["applications", "monitoring"].contains(&service.spec.name);
        assert_eq!(roles.contains(&socialloans_platform::Role::Borrower), confines, "{}", service.spec.name);
    }
}

#[test]
fn every_services_event_feed_speaks_the_one_feeds_messages() {
    let set = FileDescriptorSet::decode(socialloans_contracts::FILE_DESCRIPTOR_SET).expect("descriptor set decodes");
    for service in e2e::services() {
        let (package, name) = service.spec.grpc_service().rsplit_once('.').unwrap();
        let method = set
            .file
            .iter()
            .filter(|f| f.package() == package)
            .flat_map(|f| f.service.iter())
            .filter(|s| s.name() == name)
            .flat_map(|s| s.method.iter())
            .find(|m| m.name() == "StreamEvents")
            .unwrap_or_else(|| panic!("{name} has no StreamEvents"));
        assert_eq!(method.input_type(), ".socialloans.events.v1.StreamEventsRequest", "{name}");
        assert_eq!(method.output_type(), ".socialloans.events.v1.StreamEventsResponse", "{name}");
        assert!(method.server_streaming() && !method.client_streaming(), "{name}");
    }
    // No contract declares a type of its own under a shared type's name:
    // a second Money or Event is how the copies began.
    let shared: BTreeSet<&str> = set
        .file
        .iter()
        .filter(|f| matches!(f.package(), "socialloans.common.v1" | "socialloans.events.v1"))
        .flat_map(|f| f.message_type.iter().map(|m| m.name()).chain(f.enum_type.iter().map(|e| e.name())))
        .collect();
    assert!(shared.contains("Money") && shared.contains("Event"), "{shared:?}");
    for file in set.file.iter().filter(|f| f.package().starts_with("socialloans.")) {
        if matches!(file.package(), "socialloans.common.v1" | "socialloans.events.v1") {
            continue;
        }
        for own in file.message_type.iter().map(|m| m.name()).chain(file.enum_type.iter().map(|e| e.name())) {
            assert!(!shared.contains(own), "{} declares its own {own}", file.name());
        }
    }
}

#[test]
fn the_readme_role_table_is_the_services_own() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let (_, rest) = readme.split_once("<!-- roles:begin -->").expect("the README has a role table");
    let (table, _) = rest.split_once("<!-- roles:end -->").expect("the role table ends");
    let expected = socialloans::roles_markdown();
    assert_eq!(
        table.trim(),
        expected,
        "the README's role table differs from the policies; paste `socialloans roles` between the markers"
    );
}
