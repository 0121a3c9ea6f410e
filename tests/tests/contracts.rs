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

#[test]
fn every_services_event_feed_messages_match_the_platforms_wire_mirrors() {
    use socialloans_platform::events::{FeedRequest, FeedResponse, WireEvent, transcode};
    let wire = FeedResponse {
        event: Some(WireEvent {
            id: "0190f5c2-0000-7000-8000-000000000001".into(),
            position: 42,
            r#type: "socialloans.applications.v1.ApplicationSubmitted".into(),
            aggregate: "applications/0190f5c2-0000-7000-8000-000000000002".into(),
            occur_time: Some(prost_types::Timestamp { seconds: 1_790_000_000, nanos: 5 }),
            traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
            tracestate: "vendor=1".into(),
            payload: Some(prost_types::Any { type_url: "type.googleapis.com/x".into(), value: vec![1, 2, 3] }),
            omitted_payload_bytes: 5_000_000,
        }),
        head_position: 99,
        scanned_through: 42,
    };
    let request = FeedRequest { after_position: 7, types: vec!["a".into(), "b".into()], max_event_bytes: 1 << 20 };

    macro_rules! round_trip {
        ($package:ident) => {{
            use socialloans_contracts::$package as p;
            let theirs: p::StreamEventsResponse = transcode(&wire).unwrap();
            let event = theirs.event.as_ref().unwrap();
            assert_eq!(
                (event.position, event.r#type.as_str(), theirs.head_position),
                (42, wire.event.as_ref().unwrap().r#type.as_str(), 99)
            );
            assert_eq!(
                transcode::<_, FeedResponse>(&theirs).unwrap(),
                wire,
                "{}: response differs",
                stringify!($package)
            );
            let theirs: p::StreamEventsRequest = transcode(&request).unwrap();
            assert_eq!(theirs.after_position, 7);
            assert_eq!(
                transcode::<_, FeedRequest>(&theirs).unwrap(),
                request,
                "{}: request differs",
                stringify!($package)
            );
        }};
    }
    round_trip!(applications);
    round_trip!(committee);
    round_trip!(monitoring);
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
