//! The applications service: a social loan application's life from first draft
//! to closed loan, and what core banking asks about it.

pub mod api;
pub mod error;
pub mod policy;
pub mod store;

use socialloans_contracts::applications::applications_service_server::ApplicationsServiceServer;
use socialloans_platform::{Context, ServiceSpec, config::DefaultPorts};

/// The service's fully-qualified gRPC name.
pub const GRPC_SERVICE: &str = "socialloans.applications.v1.ApplicationsService";

/// What makes this service itself.
pub static SPEC: ServiceSpec = ServiceSpec {
    name: "applications",
    grpc_service: GRPC_SERVICE,
    ports: DefaultPorts { grpc: 50051, metrics: 9091 },
    policy: &policy::POLICY,
    migrator: || sqlx::migrate!("./migrations"),
    descriptor_set: socialloans_contracts::FILE_DESCRIPTOR_SET,
};

/// Registers the service's gRPC handlers.
pub fn routes(context: &Context) -> tonic::service::Routes {
    let limit = context.config.max_message_bytes;
    tonic::service::Routes::new(
        ApplicationsServiceServer::new(api::Api::new(context.pool.clone(), context.feed.clone()))
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit),
    )
}
