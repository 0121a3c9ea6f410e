//! The "gRPC alone" baseline: the applications contract served by a tonic
//! server that answers `GetApplication` and `ListApplications` with canned
//! messages of the real size — no authentication, no database.

use socialloans_contracts::applications::{
    self as pb,
    applications_service_server::{ApplicationsService, ApplicationsServiceServer},
};
use tonic::{Request, Response, Status};

#[derive(Debug, Clone)]
struct Echo {
    application: pb::Application,
    page: pb::ListApplicationsResponse,
}

/// The whole contract, as the compiler wants it (no default stubs): the two
/// reads answer, every other method is UNIMPLEMENTED.
macro_rules! echo_service {
    ($($method:ident: $request:ident => $response:ident),* $(,)?) => {
        #[tonic::async_trait]
        impl ApplicationsService for Echo {
            type StreamEventsStream = socialloans_platform::events::FeedStream;

            async fn get_application(
                &self,
                _: Request<pb::GetApplicationRequest>,
            ) -> Result<Response<pb::GetApplicationResponse>, Status> {
                Ok(Response::new(pb::GetApplicationResponse { application: Some(self.application.clone()) }))
            }

            async fn list_applications(
                &self,
                _: Request<pb::ListApplicationsRequest>,
            ) -> Result<Response<pb::ListApplicationsResponse>, Status> {
                Ok(Response::new(self.page.clone()))
            }

            async fn stream_events(
                &self,
                _: Request<socialloans_platform::events::StreamEventsRequest>,
            ) -> Result<Response<Self::StreamEventsStream>, Status> {
                Err(Status::unimplemented("the echo baseline answers reads only"))
            }

            $(
                async fn $method(&self, _: Request<pb::$request>) -> Result<Response<pb::$response>, Status> {
                    Err(Status::unimplemented("the echo baseline answers reads only"))
                }
            )*
        }
    };
}

echo_service! {
    create_application: CreateApplicationRequest => CreateApplicationResponse,
    update_application: UpdateApplicationRequest => UpdateApplicationResponse,
    submit_application: SubmitApplicationRequest => SubmitApplicationResponse,
    return_application_for_completion: ReturnApplicationForCompletionRequest => ReturnApplicationForCompletionResponse,
    start_review: StartReviewRequest => StartReviewResponse,
    record_credit_assessment: RecordCreditAssessmentRequest => RecordCreditAssessmentResponse,
    refer_application_to_committee: ReferApplicationToCommitteeRequest => ReferApplicationToCommitteeResponse,
    withdraw_application: WithdrawApplicationRequest => WithdrawApplicationResponse,
    tag_loan: TagLoanRequest => TagLoanResponse,
    close_application: CloseApplicationRequest => CloseApplicationResponse,
    erase_contact_person: EraseContactPersonRequest => EraseContactPersonResponse,
    list_audit_entries: ListAuditEntriesRequest => ListAuditEntriesResponse,
}

/// Serves the canned answers on a free loopback port until the runtime ends; returns the address.
pub async fn serve(
    application: pb::Application,
    page: pb::ListApplicationsResponse,
) -> Result<std::net::SocketAddr, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let incoming = tokio_stream_listener(listener);
    let service = ApplicationsServiceServer::new(Echo { application, page })
        .max_encoding_message_size(16 << 20)
        .max_decoding_message_size(16 << 20);
    tokio::spawn(tonic::transport::Server::builder().add_service(service).serve_with_incoming(incoming));
    Ok(addr)
}

fn tokio_stream_listener(
    listener: tokio::net::TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    tokio_stream::wrappers::TcpListenerStream::new(listener)
}
