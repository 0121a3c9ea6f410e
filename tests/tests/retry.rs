//! The story's client survives a service that is not there yet (or any more):
//! its calls are sent again until a replica answers, and a resent mutation is
//! applied once, thanks to its request_id.

use e2e::{Db, flow::rid, pilots, services, specs, token};
use socialloans::retry::Retrying;
use socialloans_contracts::applications::{self as ap, applications_service_client::ApplicationsServiceClient};
use socialloans_platform::Role;
use tonic::transport::Channel;

#[tokio::test]
async fn calls_are_resent_until_the_service_answers_and_a_mutation_applies_once() {
    let db = Db::prepared(&specs()).await;
    let addr = testkit::reserved_addr();
    let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect_lazy();
    let mut client = ApplicationsServiceClient::new(Retrying::new(channel));

    // Nothing listens yet: the call waits for the service to come up.
    let listen = addr.to_string();
    let late = async {
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        db.serve(services()[0], &[("GRPC_ADDR", &listen)]).await
    };
    let borrower = token(&[Role::Borrower], Some(pilots::EIDAR));
    let create = ap::CreateApplicationRequest { request_id: rid(), application: Some(pilots::eidar()) };
    let call = client.create_application(e2e::authorized(create.clone(), &borrower));
    let (created, service) = tokio::join!(call, late);
    let first = created.expect("answered once the service is up").into_inner().application.unwrap();

    // The same request again (as a resend after a lost answer would be): the same application.
    let again = client.create_application(e2e::authorized(create, &borrower)).await.unwrap().into_inner();
    assert_eq!(again.application.unwrap().name, first.name);
    let listed = client
        .list_applications(e2e::authorized(ap::ListApplicationsRequest::default(), &token(&[Role::Analyst], None)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.applications.len(), 1, "applied once");
    service.stop().await.unwrap();
}
