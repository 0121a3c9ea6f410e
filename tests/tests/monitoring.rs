//! The monitoring service so far, with the other services where events cross:
//! approval opens a plan carrying the application's indicators and the
//! committee's conditions, a tagged loan activates it, closing closes it; the
//! catalogue; borrowers see only their own plans.

use e2e::{
    Db, channel,
    flow::{as_borrower, committee_decides, refer, rid, staff},
    pilots, services, specs,
};
use socialloans_contracts::{
    applications::{self as ap, applications_service_client::ApplicationsServiceClient},
    committee as cm,
    monitoring::{self as mo, monitoring_service_client::MonitoringServiceClient},
};
use socialloans_platform::Role;
use tonic::{Code, transport::Channel};

async fn plan_of(client: &mut MonitoringServiceClient<Channel>, application: &str) -> Option<mo::MonitoringPlan> {
    let request = mo::ListMonitoringPlansRequest { application: application.into(), ..Default::default() };
    client
        .list_monitoring_plans(staff(request, Role::Analyst))
        .await
        .unwrap()
        .into_inner()
        .monitoring_plans
        .into_iter()
        .next()
}

async fn wait_plan_state(
    client: &mut MonitoringServiceClient<Channel>,
    application: &str,
    state: mo::MonitoringPlanState,
) -> mo::MonitoringPlan {
    for _ in 0..200 {
        if let Some(plan) = plan_of(client, application).await.filter(|p| p.state == state as i32) {
            return plan;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no {state:?} plan for {application}");
}

#[tokio::test]
async fn an_approval_opens_a_plan_a_loan_activates_it_and_closing_closes_it() {
    let db = Db::start();
    db.prepare(&specs()).await;
    let fast = [("OUTBOX_POLL_MS", "200"), ("FEED_HEARTBEAT_MS", "300")];
    let committee = db.serve(services()[1], &fast).await;
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let committee_feed = format!("http://{}", committee.grpc_addr);
    let apps_service = db
        .serve(
            services()[0],
            &[fast[0], fast[1], ("GRPC_ADDR", &probe.to_string()), ("COMMITTEE_FEED_URL", &committee_feed)],
        )
        .await;
    let apps_feed = format!("http://{probe}");
    let monitoring = db.serve(services()[2], &[fast[0], fast[1], ("APPLICATIONS_FEED_URL", &apps_feed)]).await;
    let mut apps = ApplicationsServiceClient::new(channel(apps_service.grpc_addr).await);
    let mut client = MonitoringServiceClient::new(channel(monitoring.grpc_addr).await);

    let botkyrka = refer(&mut apps, pilots::botkyrkabyggen()).await;
    let eidar = refer(&mut apps, pilots::eidar()).await;
    committee_decides(&db, &botkyrka, cm::DecisionOutcome::ApproveWithConditions, 400_000_000).await;
    committee_decides(&db, &eidar, cm::DecisionOutcome::Approve, 75_000_000).await;

    // Approval opens the plan with what was promised.
    let plan = wait_plan_state(&mut client, &botkyrka, mo::MonitoringPlanState::Pending).await;
    assert_eq!(plan.organization_number, pilots::BOTKYRKABYGGEN);
    assert_eq!(plan.approved_amount.as_ref().unwrap().minor_units, 400_000_000 * 100);
    let codes: Vec<(&str, bool)> = plan.indicators.iter().map(|i| (i.code.as_str(), i.in_catalogue)).collect();
    assert_eq!(codes, [("tenants_remaining_share", true), ("homes_renovated", true)]);
    let baseline = plan.indicators[0].baseline.as_ref().unwrap();
    assert_eq!((baseline.value, plan.indicators[0].target.as_ref().unwrap().value), (70.0, 90.0));
    assert_eq!(plan.conditions.len(), 1);
    assert_eq!(plan.conditions[0].kind, mo::ConditionKind::ReportingCovenant as i32);
    assert_eq!(plan.sdg_targets, ["11.1", "10.2"]);
    let eidar_plan = wait_plan_state(&mut client, &eidar, mo::MonitoringPlanState::Pending).await;

    // A borrower sees its own plan and nobody else's.
    let own = client
        .list_monitoring_plans(as_borrower(pilots::EIDAR, mo::ListMonitoringPlansRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own.monitoring_plans.iter().map(|p| p.name.clone()).collect::<Vec<_>>(), vec![eidar_plan.name.clone()]);
    let foreign = client
        .get_monitoring_plan(as_borrower(pilots::EIDAR, mo::GetMonitoringPlanRequest { name: plan.name.clone() }))
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), Code::NotFound);

    // Core banking tags a loan: the plan becomes active with yearly reporting periods.
    let loan = ap::LoanTag {
        loan_id: "KI-1001".into(),
        principal: pilots::sek(75_000_000),
        maturity_date: Some(ap::Date { year: 2031, month: 6, day: 30 }),
        ..Default::default()
    };
    let tag = ap::TagLoanRequest { name: eidar.clone(), request_id: rid(), loan: Some(loan), ..Default::default() };
    apps.tag_loan(staff(tag, Role::CoreBanking)).await.unwrap();
    let active = wait_plan_state(&mut client, &eidar, mo::MonitoringPlanState::Active).await;
    assert_eq!(active.tagged_loan_amount.as_ref().unwrap().minor_units, 75_000_000 * 100);
    assert_eq!(active.last_maturity_date.as_ref().unwrap().year, 2031);
    let last = active.reporting_periods.last().unwrap();
    assert_eq!(last.end_date.as_ref().unwrap().year, 2031);
    assert!(active.reporting_periods.iter().all(|p| p.state == mo::ReportingPeriodState::Upcoming as i32));

    // Two years of reports: one returned and corrected, both accepted.
    let plan_name = active.name.clone();
    let period = |i: usize| active.reporting_periods[i].end_date;
    let value = |v: f64, unit: &str| mo::IndicatorValue {
        indicator_code: "jobs_created".into(),
        value: Some(v),
        unit: unit.into(),
        method: "Räkning av anställda i centrumet".into(),
        ..Default::default()
    };
    let draft = |end, values| mo::CreateOutcomeReportRequest {
        parent: plan_name.clone(),
        request_id: rid(),
        outcome_report: Some(mo::OutcomeReport {
            period_end: end,
            indicator_values: values,
            narrative: "Fler verksamheter".into(),
            ..Default::default()
        }),
    };
    let creator = client.clone();
    let create = |request| {
        let mut client = creator.clone();
        async move { client.create_outcome_report(as_borrower(pilots::EIDAR, request)).await }
    };
    let field = |status: tonic::Status| {
        use tonic_types::StatusExt;
        status.get_error_details().bad_request().map(|b| b.field_violations[0].field.clone()).unwrap_or_default()
    };
    let unknown = mo::IndicatorValue { indicator_code: "homes_renovated".into(), ..value(1.0, "homes") };
    assert_eq!(
        field(create(draft(period(0), vec![unknown])).await.unwrap_err()),
        "outcome_report.indicator_values[0].indicator_code"
    );
    assert_eq!(
        field(create(draft(period(0), vec![value(40.0, "persons")])).await.unwrap_err()),
        "outcome_report.indicator_values[0].unit"
    );
    let outside = Some(mo::Date { year: 2040, month: 12, day: 31 });
    assert_eq!(
        field(create(draft(outside, vec![value(40.0, "jobs")])).await.unwrap_err()),
        "outcome_report.period_end"
    );
    let stranger = client
        .create_outcome_report(as_borrower(pilots::BOTKYRKABYGGEN, draft(period(0), vec![value(40.0, "jobs")])))
        .await
        .unwrap_err();
    assert_eq!(stranger.code(), Code::NotFound, "another organisation cannot report for this plan");
    let listed = client
        .list_outcome_reports(staff(
            mo::ListOutcomeReportsRequest { parent: plan_name.clone(), ..Default::default() },
            Role::ReportReviewer,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.outcome_reports.is_empty(), "nothing was stored by the refused reports");

    let first = create(draft(period(0), vec![value(40.0, "jobs")])).await.unwrap().into_inner().outcome_report.unwrap();
    assert_eq!(create(draft(period(0), vec![value(41.0, "jobs")])).await.unwrap_err().code(), Code::AlreadyExists);
    let submit =
        |name: &str| mo::SubmitOutcomeReportRequest { name: name.into(), request_id: rid(), ..Default::default() };
    let submitted = client
        .submit_outcome_report(as_borrower(pilots::EIDAR, submit(&first.name)))
        .await
        .unwrap()
        .into_inner()
        .outcome_report
        .unwrap();
    assert_eq!((submitted.state, submitted.version), (mo::OutcomeReportState::Submitted as i32, 1));
    let twice = client.submit_outcome_report(as_borrower(pilots::EIDAR, submit(&first.name))).await.unwrap_err();
    assert_eq!(twice.code(), Code::FailedPrecondition, "a duplicate submission is refused");
    let back = mo::ReturnOutcomeReportRequest {
        name: first.name.clone(),
        request_id: rid(),
        message: "Ange källa".into(),
        ..Default::default()
    };
    let returned = client
        .return_outcome_report(staff(back, Role::ReportReviewer))
        .await
        .unwrap()
        .into_inner()
        .outcome_report
        .unwrap();
    assert_eq!(returned.state, mo::OutcomeReportState::Returned as i32);
    let fix = mo::UpdateOutcomeReportRequest {
        request_id: rid(),
        outcome_report: Some(mo::OutcomeReport {
            name: first.name.clone(),
            indicator_values: vec![mo::IndicatorValue { source: "Lönelistor".into(), ..value(42.0, "jobs") }],
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["indicator_values".into()] }),
        etag: returned.etag.clone(),
    };
    client.update_outcome_report(as_borrower(pilots::EIDAR, fix)).await.unwrap();
    let second_version = client
        .submit_outcome_report(as_borrower(pilots::EIDAR, submit(&first.name)))
        .await
        .unwrap()
        .into_inner()
        .outcome_report
        .unwrap();
    assert_eq!(second_version.version, 2);
    let accept =
        |name: &str| mo::AcceptOutcomeReportRequest { name: name.into(), request_id: rid(), ..Default::default() };
    let accepted = client
        .accept_outcome_report(staff(accept(&first.name), Role::ReportReviewer))
        .await
        .unwrap()
        .into_inner()
        .outcome_report
        .unwrap();
    assert_eq!(
        (accepted.state, accepted.indicator_values[0].value),
        (mo::OutcomeReportState::Accepted as i32, Some(42.0))
    );
    let year_two =
        create(draft(period(1), vec![value(85.0, "jobs")])).await.unwrap().into_inner().outcome_report.unwrap();
    client.submit_outcome_report(as_borrower(pilots::EIDAR, submit(&year_two.name))).await.unwrap();
    client.accept_outcome_report(staff(accept(&year_two.name), Role::ReportReviewer)).await.unwrap();
    let plan_now = plan_of(&mut client, &eidar).await.unwrap();
    let states: Vec<i32> = plan_now.reporting_periods.iter().take(2).map(|p| p.state).collect();
    assert_eq!(states, [mo::ReportingPeriodState::Accepted as i32; 2]);

    // Progress, computed here independently: baseline 20 jobs (2020), target 200 (2024), latest 85.
    let as_of = mo::Date { year: 2028, month: 6, day: 30 };
    let progress_of = |org: &str| {
        let mut client = client.clone();
        let request = mo::GetPlanProgressRequest { name: plan_name.clone(), as_of: Some(as_of) };
        let request = as_borrower(org, request);
        async move { client.get_plan_progress(request).await }
    };
    let progress = progress_of(pilots::EIDAR).await.unwrap().into_inner().plan_progress.unwrap();
    let jobs = &progress.indicators[0];
    let expected = (85.0 - 20.0) / (200.0 - 20.0);
    assert_eq!(jobs.history.iter().map(|p| p.value).collect::<Vec<_>>(), vec![42.0, 85.0]);
    assert_eq!(jobs.latest_value, Some(85.0));
    assert!((jobs.progress_ratio.unwrap() - expected).abs() < 1e-9, "{:?}", jobs.progress_ratio);
    assert_eq!(jobs.elapsed_ratio, 1.0, "the target date has passed");
    assert_eq!(jobs.status, mo::ProgressStatus::Behind as i32);
    assert_eq!(progress.accepted_report_count, 2);
    assert_eq!(progress_of(pilots::BOTKYRKABYGGEN).await.unwrap_err().code(), Code::NotFound);

    // Deadlines: Botkyrkabyggen's first report falls due 90 days after the year ends.
    let loan = ap::LoanTag { loan_id: "KI-2001".into(), principal: pilots::sek(400_000_000), ..Default::default() };
    apps.tag_loan(staff(
        ap::TagLoanRequest { name: botkyrka.clone(), request_id: rid(), loan: Some(loan), ..Default::default() },
        Role::CoreBanking,
    ))
    .await
    .unwrap();
    let botkyrka_plan = wait_plan_state(&mut client, &botkyrka, mo::MonitoringPlanState::Active).await;
    let due = botkyrka_plan.reporting_periods[0].due_date.unwrap();
    let overdue_on = |day: mo::Date| {
        let mut client = client.clone();
        async move {
            let request = mo::ListOverdueItemsRequest {
                as_of: Some(day),
                kind: mo::OverdueItemKind::OutcomeReport as i32,
                ..Default::default()
            };
            client.list_overdue_items(staff(request, Role::ReportReviewer)).await.unwrap().into_inner().overdue_items
        }
    };
    assert!(overdue_on(due).await.is_empty(), "on its due date a report is not overdue");
    let next = chrono::NaiveDate::from_ymd_opt(due.year, due.month as u32, due.day as u32).unwrap().succ_opt().unwrap();
    let day_after = {
        use chrono::Datelike;
        mo::Date { year: next.year(), month: next.month() as i32, day: next.day() as i32 }
    };
    let late = overdue_on(day_after).await;
    assert_eq!(
        late.iter().map(|i| (i.monitoring_plan.clone(), i.days_overdue)).collect::<Vec<_>>(),
        vec![(botkyrka_plan.name.clone(), 1)]
    );
    let borrower_asks = client
        .list_overdue_items(as_borrower(pilots::EIDAR, mo::ListOverdueItemsRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(borrower_asks.code(), Code::PermissionDenied);

    // Closing the application closes the plan.
    let close = ap::CloseApplicationRequest {
        name: eidar.clone(),
        request_id: rid(),
        reason: "Lånet förfallit".into(),
        ..Default::default()
    };
    apps.close_application(staff(close, Role::CoreBanking)).await.unwrap();
    wait_plan_state(&mut client, &eidar, mo::MonitoringPlanState::Closed).await;

    monitoring.stop().await.unwrap();
    apps_service.stop().await.unwrap();
    committee.stop().await.unwrap();
}

#[tokio::test]
async fn analysts_extend_the_catalogue_and_bad_definitions_are_refused_by_field() {
    let db = Db::start();
    db.prepare(&specs()).await;
    let monitoring = db.serve(services()[2], &[]).await;
    let mut client = MonitoringServiceClient::new(channel(monitoring.grpc_addr).await);
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = mo::ListIndicatorDefinitionsRequest { page_size: 4, page_token };
        let page = client.list_indicator_definitions(as_borrower(pilots::EIDAR, request)).await.unwrap().into_inner();
        all.extend(page.indicator_definitions);
        page_token = page.next_page_token;
        if page_token.is_empty() {
            break;
        }
    }
    assert_eq!(all.len(), 11, "the starting catalogue, every entry once");

    let definition = mo::IndicatorDefinition {
        code: "library_visits".into(),
        display_name: "Besök på biblioteket".into(),
        unit: "visits per year".into(),
        direction: mo::IndicatorDirection::HigherIsBetter as i32,
        level: mo::IndicatorLevel::Outcome as i32,
        category: mo::Category::HealthEducationSportAndCulture as i32,
        sdg_targets: vec!["4.6".into()],
        ..Default::default()
    };
    let create = |d: mo::IndicatorDefinition| mo::CreateIndicatorDefinitionRequest {
        request_id: rid(),
        indicator_definition: Some(d),
    };
    let created = client
        .create_indicator_definition(staff(create(definition.clone()), Role::Analyst))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.indicator_definition.unwrap().name, "indicatorDefinitions/library_visits");
    let again = client.create_indicator_definition(staff(create(definition.clone()), Role::Analyst)).await.unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists);
    let bad = mo::IndicatorDefinition { code: "Library Visits".into(), unit: String::new(), level: 9, ..definition };
    let err = client.create_indicator_definition(staff(create(bad), Role::Analyst)).await.unwrap_err();
    use tonic_types::StatusExt;
    let fields: Vec<String> =
        err.get_error_details().bad_request().unwrap().field_violations.iter().map(|v| v.field.clone()).collect();
    assert_eq!(fields, ["indicator_definition.code", "indicator_definition.unit", "indicator_definition.level"]);
    let denied = client
        .create_indicator_definition(as_borrower(pilots::EIDAR, create(mo::IndicatorDefinition::default())))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    monitoring.stop().await.unwrap();
}
