//! The "gRPC alone" baseline: the applications contract served by a tonic
//! server that answers `GetApplication` and `ListApplications` with canned
//! messages of the real size — no authentication, no database. With a pool
//! it is the floor of the suite's stack instead: each read first runs the
//! service's own SELECT through sqlx (`applications::store`), and answers
//! the canned message without looking at the rows — what tonic and sqlx
//! cost together before the service does anything of its own.

use socialloans_contracts::applications::{
    self as pb,
    applications_service_server::{ApplicationsService, ApplicationsServiceServer},
};
use tonic::{Request, Response, Status};

/// The answers, encoded once: the server copies them out as the service
/// splices its stored bytes, and encodes nothing per call.
#[derive(Debug, Clone)]
struct Echo {
    application: Vec<u8>,
    page: pb::ListApplicationsResponse,
    /// The floor: the service's SELECT runs before each answer.
    floor: Option<sqlx::PgPool>,
}

impl Echo {
    async fn select_one(&self, name: &str) -> Result<(), Status> {
        let Some(pool) = &self.floor else { return Ok(()) };
        let id = uuid::Uuid::parse_str(name.trim_start_matches("applications/"))
            .map_err(|_| Status::invalid_argument("name"))?;
        let row = applications::store::get(pool, id, None).await.map_err(|e| Status::unavailable(e.to_string()))?;
        row.map(drop).ok_or_else(|| Status::not_found(name.to_owned()))
    }

    async fn select_page(&self, size: u32) -> Result<(), Status> {
        let Some(pool) = &self.floor else { return Ok(()) };
        let filter = applications::store::ListFilter::default();
        applications::store::list(pool, &filter, None, size).await.map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(())
    }
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
                request: Request<pb::GetApplicationRequest>,
            ) -> Result<Response<pb::GetApplicationResponse>, Status> {
                self.select_one(&request.get_ref().name).await?;
                Ok(Response::new(pb::GetApplicationResponse::spliced(self.application.clone())))
            }

            async fn list_applications(
                &self,
                request: Request<pb::ListApplicationsRequest>,
            ) -> Result<Response<pb::ListApplicationsResponse>, Status> {
                self.select_page(request.get_ref().page_size.clamp(1, 200) as u32).await?;
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
    record_loan_event: RecordLoanEventRequest => RecordLoanEventResponse,
    cancel_loan_tag: CancelLoanTagRequest => CancelLoanTagResponse,
    confirm_loan_tag_cancellation: ConfirmLoanTagCancellationRequest => ConfirmLoanTagCancellationResponse,
    get_loan: GetLoanRequest => GetLoanResponse,
    list_loans: ListLoansRequest => ListLoansResponse,
    close_application: CloseApplicationRequest => CloseApplicationResponse,
    erase_contact_person: EraseContactPersonRequest => EraseContactPersonResponse,
    list_audit_entries: ListAuditEntriesRequest => ListAuditEntriesResponse,
}

/// Serves the canned answers on a free loopback port until the runtime ends
/// (after the service's SELECT on `floor`, when given); returns the address.
pub async fn serve(
    application: pb::Application,
    page: pb::ListApplicationsResponse,
    floor: Option<sqlx::PgPool>,
) -> Result<std::net::SocketAddr, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let incoming = tokio_stream_listener(listener);
    let encoded = page.applications().map_err(|e| e.to_string())?.iter().map(prost::Message::encode_to_vec).collect();
    let page = pb::ListApplicationsResponse::spliced(encoded, page.next_page_token);
    let service =
        ApplicationsServiceServer::new(Echo { application: prost::Message::encode_to_vec(&application), page, floor })
            .max_encoding_message_size(16 << 20)
            .max_decoding_message_size(16 << 20);
    tokio::spawn(tonic::transport::Server::builder().add_service(service).serve_with_incoming(incoming));
    Ok(addr)
}

/// The accepted connections, with TCP_NODELAY as the services set it
/// (`server.rs`): without it a small answer waits for the client's delayed
/// ACK, 40 ms a call.
fn tokio_stream_listener(
    listener: tokio::net::TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use tokio_stream::StreamExt;
    tokio_stream::wrappers::TcpListenerStream::new(listener)
        .map(|stream| stream.and_then(|stream| stream.set_nodelay(true).map(|()| stream)))
}
