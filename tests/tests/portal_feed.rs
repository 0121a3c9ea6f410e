//! A feed per borrower organisation for the member portals' backends
//! (issue 18, item 9): a borrower token follows the applications and
//! monitoring feeds confined to the organisations it names, with the lender's
//! internal notes left out; another organisation's token sees nothing of it;
//! asking for an internal event type is refused by field.

use e2e::{
    Db, channel,
    flow::{as_borrower, committee_decides, refer, wait_for_state, wait_plan_state},
    pilots, specs, start_all,
};
use socialloans_contracts::{
    applications::{self as ap, applications_service_client::ApplicationsServiceClient},
    committee as cm,
    events::{Event, StreamEventsRequest},
    monitoring::{self as mo, monitoring_service_client::MonitoringServiceClient},
};
use socialloans_platform::Role;
use tonic::Code;
use tonic_types::StatusExt;

fn feed(after: i64, types: Vec<String>) -> StreamEventsRequest {
    StreamEventsRequest { after_position: after, types, ..Default::default() }
}

/// Every event a stream sends before its first heartbeat (the feed is quiet
/// by then: the tests wait for the states they read).
async fn until_quiet(
    stream: Result<
        tonic::Response<tonic::Streaming<socialloans_contracts::events::StreamEventsResponse>>,
        tonic::Status,
    >,
) -> Vec<Event> {
    let mut stream = stream.expect("the feed opens").into_inner();
    let mut events = Vec::new();
    while let Some(event) = stream.message().await.unwrap().and_then(|m| m.event) {
        events.push(event);
    }
    events
}

fn short(event: &Event) -> &str {
    event.r#type.rsplit('.').next().unwrap()
}

#[tokio::test]
async fn a_borrowers_feed_holds_its_own_organisations_events_without_the_lenders_notes() {
    let db = Db::prepared(&specs()).await;
    let (running, endpoints) = start_all(&db).await;
    let apps_channel = tonic::transport::Endpoint::from_shared(endpoints.applications.clone()).unwrap();
    let apps = &mut ApplicationsServiceClient::new(apps_channel.connect().await.unwrap());
    let plans = &mut MonitoringServiceClient::new(channel(running[2].grpc_addr).await);

    let botkyrka = refer(apps, pilots::botkyrkabyggen()).await;
    let eidar = refer(apps, pilots::eidar()).await;
    for (application, kronor) in [(&botkyrka, 400_000_000), (&eidar, 75_000_000)] {
        committee_decides(&db, application, cm::DecisionOutcome::ApproveWithConditions, kronor).await;
        wait_for_state(apps, application, ap::ApplicationState::ApprovedWithConditions).await;
        wait_plan_state(plans, application, mo::MonitoringPlanState::Pending).await;
    }

    // Botkyrkabyggen's portal: its application's life, in order, and nothing of AB Eidar's.
    let events = until_quiet(apps.stream_events(as_borrower(pilots::BOTKYRKABYGGEN, feed(0, vec![]))).await).await;
    let types: Vec<&str> = events.iter().map(short).collect();
    assert_eq!(
        types,
        ["ApplicationSubmitted", "ApplicationReviewStarted", "ApplicationReferredToCommittee", "ApplicationApproved"]
    );
    assert!(events.iter().all(|e| e.aggregate == botkyrka), "{events:?}");
    // The snapshots carry the decision, not the lender's notes on the way to it.
    for event in &events[2..] {
        let bytes = event.payload.as_ref().unwrap().value.as_slice();
        let application = if short(event) == "ApplicationApproved" {
            <ap::ApplicationApproved as prost::Message>::decode(bytes).unwrap().application.unwrap()
        } else {
            <ap::ApplicationReferredToCommittee as prost::Message>::decode(bytes).unwrap().application.unwrap()
        };
        assert_eq!(application.referral_note, "", "{}", short(event));
        let credit = application.credit_assessment.unwrap();
        assert_eq!(credit.outcome, ap::CreditAssessmentOutcome::Approved as i32);
        assert_eq!((credit.summary.as_str(), credit.credit_limit), ("", None), "{}", short(event));
    }
    // Staff reading the same event see the note: only the borrower's view leaves it out.
    let service = e2e::authorized(feed(events[1].position, vec![]), &e2e::token(&[Role::Service], None));
    let whole = until_quiet(apps.stream_events(service).await).await;
    let referred = whole.iter().find(|e| short(e) == "ApplicationReferredToCommittee" && e.aggregate == botkyrka);
    let bytes = referred.unwrap().payload.as_ref().unwrap().value.as_slice();
    let referred = <ap::ApplicationReferredToCommittee as prost::Message>::decode(bytes).unwrap();
    assert_eq!(referred.application.unwrap().referral_note, "Komplett");
    assert!(whole.iter().any(|e| short(e) == "CreditAssessmentRecorded"));

    // Resumed after its second event, it goes on from the third.
    let rest =
        until_quiet(apps.stream_events(as_borrower(pilots::BOTKYRKABYGGEN, feed(events[1].position, vec![]))).await)
            .await;
    assert_eq!(rest.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), [&events[2].id, &events[3].id]);

    // The lender's own work is not on a borrower's feed: asking for it is refused by field.
    let credit = vec![<ap::CreditAssessmentRecorded as prost::Name>::full_name()];
    let refused = apps.stream_events(as_borrower(pilots::BOTKYRKABYGGEN, feed(0, credit))).await.expect_err("refused");
    assert_eq!(refused.code(), Code::InvalidArgument);
    let violations = refused.get_error_details().bad_request().unwrap().field_violations.clone();
    assert_eq!(violations[0].field, "types[0]");

    // Another organisation sees nothing; a token naming both sees both.
    let stranger = until_quiet(apps.stream_events(as_borrower("212000-0142", feed(0, vec![]))).await).await;
    assert!(stranger.is_empty(), "{stranger:?}");
    let both = e2e::minter().mint_orgs(
        "kommunkoncern",
        &[Role::Borrower],
        &[pilots::BOTKYRKABYGGEN, pilots::EIDAR],
        std::time::Duration::from_secs(600),
    );
    let group = until_quiet(apps.stream_events(e2e::authorized(feed(0, vec![]), &both)).await).await;
    assert_eq!(group.len(), 8);
    assert_eq!(group.iter().filter(|e| e.aggregate == eidar).count(), 4);
    assert!(group.windows(2).all(|w| w[0].position < w[1].position));

    // A borrower that is also the lender's analyst acts here as a borrower only:
    // the analyst's role does not open the feed.
    let mixed = e2e::minter().mint(
        "dubbelroll",
        &[Role::Borrower, Role::Analyst],
        Some(pilots::EIDAR),
        std::time::Duration::from_secs(600),
    );
    let mixed = until_quiet(apps.stream_events(e2e::authorized(feed(0, vec![]), &mixed)).await).await;
    assert!(mixed.iter().all(|e| e.aggregate == eidar) && mixed.len() == 4, "{mixed:?}");

    // Monitoring's feed is confined the same way: Botkyrkabyggen's plan, not Eidar's.
    let plan = wait_plan_state(plans, &botkyrka, mo::MonitoringPlanState::Pending).await;
    let own = until_quiet(plans.stream_events(as_borrower(pilots::BOTKYRKABYGGEN, feed(0, vec![]))).await).await;
    assert_eq!(own.iter().map(short).collect::<Vec<_>>(), ["MonitoringPlanCreated"]);
    assert_eq!(own[0].aggregate, plan.name);
    let stranger = until_quiet(plans.stream_events(as_borrower("212000-0142", feed(0, vec![]))).await).await;
    assert!(stranger.is_empty(), "{stranger:?}");

    for service in running.into_iter().rev() {
        service.stop().await.unwrap();
    }
}
