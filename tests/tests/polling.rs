//! Integrators that poll (issue 18, item 10): each list an integrator polls —
//! applications, loans, monitoring plans, outcome reports — takes
//! `updated_after` and answers only what changed at or after it, with the
//! caller's confinement and the list's other filters still in force; a bad
//! time is refused by field.

use e2e::{
    Db, channel,
    flow::{as_borrower, committee_decides_with, refer, rid, staff, wait_plan_state},
    pilots, specs, start_all,
};
use socialloans_contracts::{
    applications::{self as ap, applications_service_client::ApplicationsServiceClient},
    committee as cm, common,
    monitoring::{self as mo, monitoring_service_client::MonitoringServiceClient},
};
use socialloans_platform::Role;
use tonic::Code;
use tonic_types::StatusExt;

fn at(time: chrono::DateTime<chrono::Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds: time.timestamp(), nanos: time.timestamp_subsec_nanos() as i32 })
}

#[tokio::test]
async fn each_polled_list_answers_what_changed_since_a_time() {
    let db = Db::prepared(&specs()).await;
    let (running, endpoints) = start_all(&db).await;
    let apps = &mut ApplicationsServiceClient::new(channel(running[0].grpc_addr).await);
    let monitoring = &mut MonitoringServiceClient::new(channel(running[2].grpc_addr).await);
    let _ = endpoints;

    let eidar = refer(apps, pilots::eidar()).await;
    let botkyrka = refer(apps, pilots::botkyrkabyggen()).await;
    committee_decides_with(&db, &eidar, cm::DecisionOutcome::Approve, 75_000_000, vec![]).await;
    committee_decides_with(&db, &botkyrka, cm::DecisionOutcome::Approve, 400_000_000, vec![]).await;
    wait_plan_state(monitoring, &eidar, mo::MonitoringPlanState::Pending).await;
    wait_plan_state(monitoring, &botkyrka, mo::MonitoringPlanState::Pending).await;

    // Everything so far is older than `since`; then only Eidar's loan is tagged, which
    // changes its application, its loan and (through the event) its plan.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let since = chrono::Utc::now();
    let tag = ap::TagLoanRequest {
        name: eidar.clone(),
        request_id: rid(),
        loan: Some(ap::LoanTag {
            loan_id: "EI-1".into(),
            principal: pilots::sek(50_000_000),
            disbursement_date: Some(common::Date { year: 2026, month: 12, day: 1 }),
            maturity_date: Some(common::Date { year: 2031, month: 12, day: 1 }),
            ..Default::default()
        }),
        ..Default::default()
    };
    apps.tag_loan(staff(tag, Role::CoreBanking)).await.unwrap();
    let plan = wait_plan_state(monitoring, &eidar, mo::MonitoringPlanState::Active).await;

    let changed = ap::ListApplicationsRequest { updated_after: at(since), ..Default::default() };
    let listed = apps.list_applications(staff(changed.clone(), Role::CoreBanking)).await.unwrap().into_inner();
    let names: Vec<&str> = listed.applications.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, [eidar.as_str()], "only the application that changed since");
    let all =
        ap::ListApplicationsRequest { updated_after: at(since - chrono::Duration::hours(1)), ..Default::default() };
    assert_eq!(apps.list_applications(staff(all, Role::CoreBanking)).await.unwrap().into_inner().applications.len(), 2);
    // A borrower's confinement still holds: Botkyrkabyggen sees nothing changed of its own.
    let theirs = apps.list_applications(as_borrower(pilots::BOTKYRKABYGGEN, changed)).await.unwrap().into_inner();
    assert!(theirs.applications.is_empty());

    let loans = ap::ListLoansRequest { updated_after: at(since), ..Default::default() };
    assert_eq!(apps.list_loans(staff(loans, Role::CoreBanking)).await.unwrap().into_inner().loans.len(), 1);
    let later = ap::ListLoansRequest { updated_after: at(chrono::Utc::now()), ..Default::default() };
    assert!(apps.list_loans(staff(later, Role::CoreBanking)).await.unwrap().into_inner().loans.is_empty());

    let plans = mo::ListMonitoringPlansRequest { updated_after: at(since), ..Default::default() };
    let plans = monitoring.list_monitoring_plans(staff(plans, Role::Analyst)).await.unwrap().into_inner();
    let applications: Vec<&str> = plans.monitoring_plans.iter().map(|p| p.application.as_str()).collect();
    assert_eq!(applications, [eidar.as_str()], "only the plan the loan activated");

    // A report drafted after `since2` is listed from it; none before it.
    let since2 = chrono::Utc::now();
    let report = mo::CreateOutcomeReportRequest {
        parent: plan.name.clone(),
        request_id: rid(),
        outcome_report: Some(mo::OutcomeReport {
            period_end: plan.reporting_periods[0].end_date,
            narrative: "Fler verksamheter".into(),
            ..Default::default()
        }),
    };
    monitoring.create_outcome_report(as_borrower(pilots::EIDAR, report)).await.unwrap();
    let reports = |time| mo::ListOutcomeReportsRequest {
        parent: "monitoringPlans/-".into(),
        updated_after: at(time),
        ..Default::default()
    };
    let from = monitoring.list_outcome_reports(staff(reports(since2), Role::ReportReviewer)).await.unwrap();
    assert_eq!(from.into_inner().outcome_reports.len(), 1);
    let after =
        monitoring.list_outcome_reports(staff(reports(chrono::Utc::now()), Role::ReportReviewer)).await.unwrap();
    assert!(after.into_inner().outcome_reports.is_empty());

    // A time off the calendar is refused, by field, on each list.
    let bad = Some(prost_types::Timestamp { seconds: i64::MAX, nanos: -1 });
    let fields = |status: tonic::Status| {
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        status.get_error_details().bad_request().unwrap().field_violations[0].field.clone()
    };
    let request = ap::ListApplicationsRequest { updated_after: bad, ..Default::default() };
    assert_eq!(fields(apps.list_applications(staff(request, Role::Analyst)).await.unwrap_err()), "updated_after");
    let request = ap::ListLoansRequest { updated_after: bad, ..Default::default() };
    assert_eq!(fields(apps.list_loans(staff(request, Role::Analyst)).await.unwrap_err()), "updated_after");
    let request = mo::ListMonitoringPlansRequest { updated_after: bad, ..Default::default() };
    assert_eq!(
        fields(monitoring.list_monitoring_plans(staff(request, Role::Analyst)).await.unwrap_err()),
        "updated_after"
    );
    let request =
        mo::ListOutcomeReportsRequest { parent: "monitoringPlans/-".into(), updated_after: bad, ..Default::default() };
    let refused = monitoring.list_outcome_reports(staff(request, Role::ReportReviewer)).await.unwrap_err();
    assert_eq!(fields(refused), "updated_after");
    for service in running {
        service.stop().await.unwrap();
    }
}
