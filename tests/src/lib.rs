//! Tests that drive the three Social Loans services together, over gRPC. The
//! harness is `testkit`; this crate knows the services.

#![allow(missing_docs)]

pub mod events;
pub mod flow;

pub use socialloans::pilots;
pub use testkit::*;

/// The three services.
pub fn services() -> [Service; 3] {
    [
        Service { spec: &applications::SPEC, routes: applications::routes },
        Service { spec: &committee::SPEC, routes: committee::routes },
        Service { spec: &monitoring::SPEC, routes: monitoring::routes },
    ]
}

/// The specs of the three services.
pub fn specs() -> [&'static socialloans_platform::ServiceSpec; 3] {
    services().map(|s| s.spec)
}
