//! Tests that drive the Social Loans services together, over gRPC. The
//! harness is `testkit`; this crate knows the services.

#![allow(missing_docs)]

pub mod events;
pub mod flow;
pub mod meetings;

pub use socialloans::pilots;
pub use testkit::*;

/// The five services, in their ports' order.
pub fn services() -> [Service; 5] {
    [
        Service { spec: &applications::SPEC, routes: applications::routes },
        Service { spec: &committee::SPEC, routes: committee::routes },
        Service { spec: &monitoring::SPEC, routes: monitoring::routes },
        Service { spec: &notices::SPEC, routes: notices::routes },
        Service { spec: &bonds::SPEC, routes: bonds::routes },
    ]
}

/// The reason of a refusal (its `ErrorInfo`), or "" when it gives none.
pub fn reason(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    status.get_error_details().error_info().map(|i| i.reason.clone()).unwrap_or_default()
}

/// The fields a refusal names in its field violations, in order.
pub fn violations(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    let details = status.get_error_details();
    details.bad_request().map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect()).unwrap_or_default()
}

/// The specs of the five services.
pub fn specs() -> [&'static socialloans_platform::ServiceSpec; 5] {
    services().map(|s| s.spec)
}

/// The five services in process on `db`, each reading the feeds it
/// consumes over real gRPC, with fast polling; in the order of
/// [`services`]. The notices wait unsent: no relay is named.
pub async fn start_all(db: &Db) -> (Vec<socialloans_platform::Running>, socialloans::Endpoints) {
    start_all_mailing(db, None).await
}

/// As [`start_all`], the notices sent through the relay at `smtp_url`.
pub async fn start_all_mailing(
    db: &Db,
    smtp_url: Option<&str>,
) -> (Vec<socialloans_platform::Running>, socialloans::Endpoints) {
    let addrs = [reserved_addr(), reserved_addr(), reserved_addr(), reserved_addr(), reserved_addr()];
    let url = |i: usize| format!("http://{}", addrs[i]);
    let feeds = [("APPLICATIONS_FEED_URL", url(0)), ("COMMITTEE_FEED_URL", url(1)), ("MONITORING_FEED_URL", url(2))];
    let mut running = Vec::new();
    for (i, service) in services().into_iter().enumerate() {
        let addr = addrs[i].to_string();
        let mut env: Vec<(&str, &str)> =
            vec![("OUTBOX_POLL_MS", "100"), ("FEED_HEARTBEAT_MS", "300"), ("GRPC_ADDR", &addr)];
        env.extend(feeds.iter().map(|(k, v)| (*k, v.as_str())));
        if let Some(smtp) = smtp_url.filter(|_| i == 3) {
            env.extend([("SMTP_URL", smtp), ("NOTICE_SEND_MS", "100")]);
        }
        running.push(db.serve(service, &env).await);
    }
    let endpoints = socialloans::Endpoints {
        applications: url(0),
        committee: url(1),
        monitoring: url(2),
        notices: url(3),
        bonds: url(4),
        clock_file: None,
    };
    (running, endpoints)
}
