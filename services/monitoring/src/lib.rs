//! The monitoring service: monitoring plans, borrowers' outcome reports,
//! progress and the portfolio impact report. This first cut serves its
//! platform (health, reflection, auth) and owns its schema with the starting
//! indicator catalogue; the methods arrive with the monitoring work.

pub mod policy;

use socialloans_contracts::monitoring::{
    StreamEventsRequest, StreamEventsResponse,
    monitoring_service_server::{MonitoringService, MonitoringServiceServer},
};
use socialloans_platform::{
    Context, ServiceSpec,
    config::DefaultPorts,
    events::{Feed, ServiceStream},
};
use tonic::{Request, Response, Status};

/// The service's fully-qualified gRPC name.
pub const GRPC_SERVICE: &str = "socialloans.monitoring.v1.MonitoringService";

/// What makes this service itself.
pub static SPEC: ServiceSpec = ServiceSpec {
    name: "monitoring",
    grpc_service: GRPC_SERVICE,
    ports: DefaultPorts { grpc: 50053, metrics: 9093 },
    policy: &policy::POLICY,
    migrator: || sqlx::migrate!("./migrations"),
    descriptor_set: socialloans_contracts::FILE_DESCRIPTOR_SET,
    check_env: socialloans_platform::no_env,
    background: socialloans_platform::no_background,
};

/// The monitoring handlers; every method not yet built answers UNIMPLEMENTED.
#[derive(Debug, Clone)]
pub struct Api {
    feed: Feed,
}

#[tonic::async_trait]
impl MonitoringService for Api {
    async fn stream_events(
        &self,
        request: Request<StreamEventsRequest>,
    ) -> Result<Response<ServiceStream<StreamEventsResponse>>, Status> {
        Ok(Response::new(self.feed.serve(request.get_ref()).await?))
    }
}

/// Registers the service's gRPC handlers.
pub fn routes(context: &Context) -> tonic::service::Routes {
    let limit = context.config.max_message_bytes;
    tonic::service::Routes::new(
        MonitoringServiceServer::new(Api { feed: context.feed.clone() })
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit),
    )
}
