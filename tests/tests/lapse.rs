//! An approval never drawn lapses (issue 18, item 4): with
//! `APPROVAL_LAPSE_DAYS` set, an approved application without a tagged loan
//! that long after the committee's confirmed decision becomes LAPSED, with
//! `ApplicationLapsed` on the feed; its waiting monitoring plan closes; a
//! younger approval stays; nothing can be tagged to a lapsed one.

use e2e::{
    Db, channel,
    flow::{refer, rid, staff, wait_for_state, wait_plan_state},
    pilots, services, specs,
};
use socialloans_contracts::{
    applications::{self as ap, ApplicationState as S, applications_service_client::ApplicationsServiceClient},
    committee as cm, common,
    monitoring::{self as mo, monitoring_service_client::MonitoringServiceClient},
};
use socialloans_platform::Role;
use tonic::Code;
use tonic_types::StatusExt;

/// The committee's confirmed approval of `application`, confirmed `days_ago`.
async fn approved_days_ago(db: &Db, application: &str, amount_kronor: i64, days_ago: i64) {
    let pool = sqlx::PgPool::connect(&db.service_url("committee")).await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    let confirmed = chrono::Utc::now() - chrono::Duration::days(days_ago);
    let decision = cm::DecisionConfirmed {
        case: format!("cases/{days_ago}"),
        application: application.into(),
        decision: format!("cases/{days_ago}/decisions/1"),
        meeting: "meetings/2025-q3".into(),
        outcome: cm::DecisionOutcome::Approve as i32,
        approved_amount: Some(common::Money { currency_code: "SEK".into(), minor_units: amount_kronor * 100 }),
        rationale: "Uppfyller de fem grundkraven".into(),
        confirm_time: Some(prost_types::Timestamp { seconds: confirmed.timestamp(), nanos: 0 }),
        ..Default::default()
    };
    socialloans_platform::events::append(&mut tx, "committee", &decision.case, None, &decision).await.unwrap();
    tx.commit().await.unwrap();
    pool.close().await;
}

#[tokio::test]
async fn an_approval_undrawn_past_its_lapse_period_lapses_and_its_plan_closes() {
    let db = Db::prepared(&specs()).await;
    let fast = [("OUTBOX_POLL_MS", "100"), ("FEED_HEARTBEAT_MS", "300")];
    let committee = db.serve(services()[1], &fast).await;
    let apps_addr = testkit::reserved_addr();
    let committee_feed = format!("http://{}", committee.grpc_addr);
    let apps = db
        .serve(
            services()[0],
            &[
                fast[0],
                fast[1],
                ("GRPC_ADDR", &apps_addr.to_string()),
                ("COMMITTEE_FEED_URL", &committee_feed),
                ("APPROVAL_LAPSE_DAYS", "365"),
                ("APPROVAL_LAPSE_SWEEP_MS", "200"),
            ],
        )
        .await;
    let apps_feed = format!("http://{apps_addr}");
    let monitoring = db.serve(services()[2], &[fast[0], fast[1], ("APPLICATIONS_FEED_URL", &apps_feed)]).await;
    let client = &mut ApplicationsServiceClient::new(channel(apps.grpc_addr).await);
    let plans = &mut MonitoringServiceClient::new(channel(monitoring.grpc_addr).await);

    // Eidar's approval is 400 days old, Botkyrkabyggen's 10.
    let eidar = refer(client, pilots::eidar()).await;
    let botkyrka = refer(client, pilots::botkyrkabyggen()).await;
    approved_days_ago(&db, &eidar, 75_000_000, 400).await;
    approved_days_ago(&db, &botkyrka, 400_000_000, 10).await;

    let lapsed = wait_for_state(client, &eidar, S::Lapsed).await;
    assert!(lapsed.close_time.is_some());
    let plan = wait_plan_state(plans, &eidar, mo::MonitoringPlanState::Closed).await;
    assert_eq!(plan.application, eidar);
    // The younger approval outlives several sweeps.
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let young = ap::GetApplicationRequest { name: botkyrka.clone() };
    let young = client.get_application(staff(young, Role::Analyst)).await.unwrap().into_inner().application.unwrap();
    assert_eq!(young.state, S::Approved as i32);

    // Nothing is tagged to a lapsed approval.
    let tag = ap::TagLoanRequest {
        name: eidar.clone(),
        request_id: rid(),
        loan: Some(ap::LoanTag {
            loan_id: "EI-1".into(),
            principal: pilots::sek(1_000),
            disbursement_date: Some(common::Date { year: 2026, month: 12, day: 1 }),
            maturity_date: Some(common::Date { year: 2031, month: 12, day: 1 }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let refused = client.tag_loan(staff(tag, Role::CoreBanking)).await.unwrap_err();
    let reason = refused.get_error_details().error_info().unwrap().reason.clone();
    assert_eq!((refused.code(), reason.as_str()), (Code::FailedPrecondition, "ILLEGAL_STATE_TRANSITION"));

    // The history says the service did it, once, however many sweeps ran; the feed carries it once.
    let history = ap::ListAuditEntriesRequest { parent: eidar.clone(), ..Default::default() };
    let entries = client.list_audit_entries(staff(history, Role::Auditor)).await.unwrap().into_inner().audit_entries;
    let lapses: Vec<_> = entries.iter().filter(|e| e.action == "LAPSE").collect();
    assert_eq!(lapses.len(), 1);
    assert_eq!(lapses[0].actor.as_ref().unwrap().role, "service");
    let admin = sqlx::PgPool::connect(&db.admin_url()).await.unwrap();
    let events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM applications.outbox WHERE event_type = 'socialloans.applications.v1.ApplicationLapsed'",
    )
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(events, 1);
    for service in [apps, monitoring, committee] {
        service.stop().await.unwrap();
    }
}
