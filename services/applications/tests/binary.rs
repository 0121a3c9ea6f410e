//! The applications binary as operators run it: the platform's conformance
//! tests, a graceful stop with a call in flight, and traces over OTLP.

use std::time::Duration;

use socialloans_contracts::applications::{
    ListApplicationsRequest, applications_service_client::ApplicationsServiceClient,
};
use socialloans_platform::Role;
use testkit::{Db, authorized, channel, otlp::hex, process::ServiceProcess, token};

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

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";

#[tokio::test]
async fn a_call_with_a_traceparent_is_exported_over_otlp_as_a_child_of_the_callers_span() {
    let (collector, endpoint) = testkit::otlp::Collector::start().await;

    let db = Db::prepared(&[&applications::SPEC]).await;
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

    let spans = collector.spans();
    let call = spans
        .iter()
        .find(|exported| exported.span.name == "grpc.call")
        .unwrap_or_else(|| panic!("no grpc.call span among {} exported", spans.len()));
    assert_eq!(hex(&call.span.trace_id), TRACE_ID, "the server span must join the caller's trace");
    assert_eq!(hex(&call.span.parent_span_id), PARENT_SPAN_ID, "the caller's span is the parent");
    assert!(call.service.contains("applications"), "{}", call.service);
}
