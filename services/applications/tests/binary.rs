//! The applications binary as operators run it: the platform's conformance
//! tests, a graceful stop with a call in flight, and traces over OTLP.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
    trace_service_server::{TraceService, TraceServiceServer},
};
use socialloans_contracts::applications::{
    ListApplicationsRequest, applications_service_client::ApplicationsServiceClient,
};
use socialloans_platform::Role;
use testkit::{Db, authorized, channel, process::ServiceProcess, token};

const BINARY: &str = env!("CARGO_BIN_EXE_applications");

testkit::binary_conformance_tests!(BINARY, &applications::SPEC);

#[tokio::test]
async fn sigterm_during_an_in_flight_call_lets_the_call_complete_then_exits_zero() {
    let db = Db::prepared(&[&applications::SPEC]).await;
    let mut process = ServiceProcess::spawn(BINARY, &db.env(&applications::SPEC, &[]));
    let ch = channel(process.grpc_addr).await;

    // Hold the table so that the call below waits inside the service.
    let lock = db.lock_table("applications.application").await;
    let mut client = ApplicationsServiceClient::new(ch.clone());
    let analyst = token(&[Role::Analyst], None);
    let call = tokio::spawn(async move {
        client.list_applications(authorized(ListApplicationsRequest::default(), &analyst)).await
    });
    assert!(lock.wait_for_waiters("applications", 1).await, "the call never reached the database");

    process.terminate();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!call.is_finished(), "the call ended before the lock was released");
    assert!(process.wait(Duration::ZERO).is_none(), "the process exited with a call in flight");

    lock.release().await;
    let response = tokio::time::timeout(Duration::from_secs(10), call).await.expect("call finished").unwrap();
    assert!(response.is_ok(), "the in-flight call failed: {response:?}");
    let status = tokio::task::spawn_blocking(move || process.wait(Duration::from_secs(15))).await.unwrap();
    assert_eq!(status.and_then(|s| s.code()), Some(0));
}

/// A collector that keeps what it is sent.
#[derive(Clone, Default)]
struct Collector {
    received: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.received.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn a_call_with_a_traceparent_is_exported_over_otlp_as_a_child_of_the_callers_span() {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector_addr = listener.local_addr().unwrap();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let db = Db::prepared(&[&applications::SPEC]).await;
    let endpoint = format!("http://{collector_addr}");
    let env = db.env(&applications::SPEC, &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)]);
    let mut process = ServiceProcess::spawn(BINARY, &env);

    let mut client = ApplicationsServiceClient::new(channel(process.grpc_addr).await);
    let mut request = authorized(ListApplicationsRequest::default(), &token(&[Role::Analyst], None));
    request.metadata_mut().insert("traceparent", format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01").parse().unwrap());
    client.list_applications(request).await.expect("the call succeeds");

    // A graceful stop flushes the batch exporter.
    process.terminate();
    let status = tokio::task::spawn_blocking(move || process.wait(Duration::from_secs(15))).await.unwrap();
    assert_eq!(status.and_then(|s| s.code()), Some(0));

    let received = collector.received.lock().unwrap().clone();
    let spans: Vec<_> = received
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|rs| rs.scope_spans.iter().flat_map(|ss| &ss.spans).map(move |span| (rs, span)))
        .collect();
    let (resource, span) = spans
        .iter()
        .find(|(_, span)| span.name == "grpc.call")
        .unwrap_or_else(|| panic!("no grpc.call span among {} exported", spans.len()));
    assert_eq!(hex(&span.trace_id), TRACE_ID, "the server span must join the caller's trace");
    assert_eq!(hex(&span.parent_span_id), PARENT_SPAN_ID, "the caller's span is the parent");
    let service_name = resource
        .resource
        .as_ref()
        .unwrap()
        .attributes
        .iter()
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| kv.value.as_ref())
        .map(|v| format!("{v:?}"));
    assert!(service_name.unwrap_or_default().contains("applications"));
    server.abort();
}
