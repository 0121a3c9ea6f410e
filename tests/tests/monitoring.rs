//! The monitoring service so far, with the other services where events cross:
//! approval opens a plan carrying the application's indicators and the
//! committee's conditions, a tagged loan activates it, closing closes it; the
//! catalogue; borrowers see only their own plans.

use e2e::{
    Db, channel,
    flow::{as_borrower, committee_decides_with, refer, reporting_covenant, rid, staff, staff_as},
    flow::{plan_of, wait_plan_state},
    pilots, services, specs,
};
use socialloans_contracts::common;
use socialloans_contracts::{
    applications::{self as ap, applications_service_client::ApplicationsServiceClient},
    committee as cm,
    monitoring::{self as mo, monitoring_service_client::MonitoringServiceClient},
};
use socialloans_platform::Role;
use tonic::{Code, transport::Channel};

/// The events on the monitoring feed of the given types, up to the first heartbeat.
async fn feed(
    client: &mut MonitoringServiceClient<Channel>,
    types: &[&str],
) -> Vec<socialloans_contracts::events::Event> {
    let types = types.iter().map(|t| format!("socialloans.monitoring.v1.{t}")).collect();
    let request = socialloans_contracts::events::StreamEventsRequest { after_position: 0, types, ..Default::default() };
    let mut stream = client.stream_events(staff(request, Role::Service)).await.unwrap().into_inner();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while let Ok(Some(message)) = tokio::time::timeout_at(deadline, stream.message()).await.unwrap() {
        match message.event {
            Some(event) => events.push(event),
            None => break,
        }
    }
    events
}

fn day(y: i32, m: u32, d: u32) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn reach(population: common::TargetPopulation, people: i64) -> mo::TargetGroupReach {
    mo::TargetGroupReach { population: population as i32, people_reached: people, description: String::new() }
}

#[tokio::test]
async fn the_pilots_are_followed_from_approval_through_two_years_of_reports_to_the_portfolio_report() {
    let db = Db::prepared(&specs()).await;
    let fast = [("OUTBOX_POLL_MS", "200"), ("FEED_HEARTBEAT_MS", "300")];
    let committee = db.serve(services()[1], &fast).await;
    let probe = testkit::reserved_addr();
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
    // (Preconditions, which stop a loan until met, have a test of their own.)
    let dialogue = cm::Condition {
        id: "c2".into(),
        kind: common::ConditionKind::ReportingCovenant as i32,
        description: "Boendedialog med varje hushåll inför varje etapp".into(),
        due_date: Some(common::Date { year: 2027, month: 6, day: 30 }),
    };
    let inform = cm::Condition {
        id: "c3".into(),
        kind: common::ConditionKind::ReportingCovenant as i32,
        description: "Informera hyresgästerna skriftligt före varje etapp".into(),
        due_date: None,
    };
    committee_decides_with(
        &db,
        &botkyrka,
        cm::DecisionOutcome::ApproveWithConditions,
        400_000_000,
        vec![reporting_covenant(), dialogue.clone(), inform.clone()],
    )
    .await;
    committee_decides_with(&db, &eidar, cm::DecisionOutcome::Approve, 75_000_000, vec![]).await;

    // Approval opens the plan with what was promised.
    let plan = wait_plan_state(&mut client, &botkyrka, mo::MonitoringPlanState::Pending).await;
    assert_eq!(plan.organization_number, pilots::BOTKYRKABYGGEN);
    assert_eq!(plan.approved_amount.as_ref().unwrap().minor_units, 400_000_000 * 100);
    let codes: Vec<(&str, bool)> = plan.indicators.iter().map(|i| (i.code.as_str(), i.in_catalogue)).collect();
    assert_eq!(codes, [("tenants_remaining_share", true), ("homes_renovated", true)]);
    let baseline = plan.indicators[0].baseline.as_ref().unwrap();
    assert_eq!((baseline.value, plan.indicators[0].target.as_ref().unwrap().value), (70.0, 90.0));
    let conditions: Vec<String> = plan.conditions.iter().map(|c| c.name.clone()).collect();
    let expected: Vec<String> = ["c1", "c2", "c3"].iter().map(|c| format!("{}/conditions/{c}", plan.name)).collect();
    assert_eq!(conditions, expected);
    assert_eq!(plan.conditions[0].kind, common::ConditionKind::ReportingCovenant as i32);
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

    // Core banking tags the loans: the plans become active with yearly reporting periods.
    let tag = |application: &str, loan_id: &str, kronor: i64, maturity: i32| ap::TagLoanRequest {
        name: application.into(),
        request_id: rid(),
        loan: Some(ap::LoanTag {
            loan_id: loan_id.into(),
            principal: pilots::sek(kronor),
            disbursement_date: Some(common::Date { year: 2026, month: 12, day: 1 }),
            maturity_date: Some(common::Date { year: maturity, month: 6, day: 30 }),
            ..Default::default()
        }),
        ..Default::default()
    };
    apps.tag_loan(staff(tag(&eidar, "KI-1001", 75_000_000, 2031), Role::CoreBanking)).await.unwrap();
    apps.tag_loan(staff(tag(&botkyrka, "KI-2001", 400_000_000, 2036), Role::CoreBanking)).await.unwrap();
    let active = wait_plan_state(&mut client, &eidar, mo::MonitoringPlanState::Active).await;
    let botkyrka_plan = wait_plan_state(&mut client, &botkyrka, mo::MonitoringPlanState::Active).await;
    assert_eq!(active.tagged_loan_amount.as_ref().unwrap().minor_units, 75_000_000 * 100);
    assert_eq!(active.last_maturity_date.as_ref().unwrap().year, 2031);
    let last = active.reporting_periods.last().unwrap();
    assert_eq!(last.end_date.as_ref().unwrap().year, 2031);
    assert!(active.reporting_periods.iter().all(|p| p.state == mo::ReportingPeriodState::Upcoming as i32));
    assert_eq!(botkyrka_plan.reporting_periods.last().unwrap().end_date.as_ref().unwrap().year, 2036);

    // Deadlines, on an injected clock: the first reports fall due 90 days after
    // the year ends, the covenant on 31 March 2027. Nothing is overdue on the
    // due date itself; the day after, each item is announced once.
    let first_due = botkyrka_plan.reporting_periods[0].due_date.unwrap();
    let due_day = day(first_due.year, first_due.month as u32, first_due.day as u32);
    assert_eq!(due_day, day(2027, 3, 31));
    let pool = sqlx::PgPool::connect(&db.service_url("monitoring")).await.unwrap();
    let clock = monitoring::overdue::ManualClock::new(due_day);
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let detector = tokio::spawn(monitoring::overdue::run(
        pool.clone(),
        std::sync::Arc::new(clock.clone()),
        std::time::Duration::from_millis(50),
        stopping,
    ));
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert!(feed(&mut client, &["ReportOverdue", "ConditionOverdue"]).await.is_empty(), "not before the due date");
    let on_due_date = plan_of(&mut client, &botkyrka).await.unwrap();
    assert_eq!(on_due_date.reporting_periods[0].state, mo::ReportingPeriodState::Due as i32, "the period has ended");
    clock.set(due_day.succ_opt().unwrap());
    let mut announced = Vec::new();
    for _ in 0..100 {
        announced = feed(&mut client, &["ReportOverdue", "ConditionOverdue"]).await;
        if announced.len() >= 3 {
            break;
        }
    }
    let mut aggregates: Vec<(String, String)> =
        announced.iter().map(|e| (e.r#type.rsplit('.').next().unwrap().to_owned(), e.aggregate.clone())).collect();
    aggregates.sort();
    let mut expected = vec![
        ("ConditionOverdue".to_owned(), format!("{}/conditions/c1", botkyrka_plan.name)),
        ("ReportOverdue".to_owned(), botkyrka_plan.name.clone()),
        ("ReportOverdue".to_owned(), active.name.clone()),
    ];
    expected.sort();
    assert_eq!(aggregates, expected);
    let overdue_report: mo::ReportOverdue = prost::Message::decode(
        announced.iter().find(|e| e.aggregate == active.name).unwrap().payload.as_ref().unwrap().value.as_slice(),
    )
    .unwrap();
    assert_eq!(
        (overdue_report.organization_number.as_str(), overdue_report.due_date),
        (pilots::EIDAR, Some(first_due))
    );
    let again = monitoring::overdue::sweep(&pool, day(2027, 4, 2)).await.unwrap();
    assert_eq!(again, monitoring::overdue::Sweep::default(), "each item is announced once");
    stop.send(true).unwrap();
    detector.await.unwrap();
    let late_plan = plan_of(&mut client, &eidar).await.unwrap();
    assert_eq!(late_plan.reporting_periods[0].state, mo::ReportingPeriodState::Overdue as i32);
    let overdue_on = |as_of: common::Date, org: Option<&str>| {
        let mut client = client.clone();
        let request = mo::ListOverdueItemsRequest { as_of: Some(as_of), page_size: 2, ..Default::default() };
        let request = match org {
            Some(org) => as_borrower(org, request),
            None => staff(request, Role::ReportReviewer),
        };
        async move { client.list_overdue_items(request).await.unwrap().into_inner() }
    };
    assert!(overdue_on(first_due, None).await.overdue_items.is_empty(), "on its due date a report is not overdue");
    let day_after = common::Date { year: 2027, month: 4, day: 1 };
    let page = overdue_on(day_after, None).await;
    assert_eq!(page.overdue_items.len(), 2);
    assert!(!page.next_page_token.is_empty(), "three items, two per page");
    let own_items = overdue_on(day_after, Some(pilots::EIDAR)).await.overdue_items;
    assert_eq!(
        own_items.iter().map(|i| (i.monitoring_plan.clone(), i.days_overdue)).collect::<Vec<_>>(),
        vec![(active.name.clone(), 1)],
        "a borrower sees only its own overdue items"
    );

    // Two years of reports for each pilot: Eidar's first is returned and corrected.
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
    let outside = Some(common::Date { year: 2040, month: 12, day: 31 });
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
    let linked = plan_of(&mut client, &eidar).await.unwrap();
    assert_eq!(linked.reporting_periods[0].outcome_report, first.name, "the period names its report from the draft on");
    // Without a narrative a report is incomplete: it cannot be submitted.
    let last = active.reporting_periods.last().unwrap().end_date;
    let mute = mo::CreateOutcomeReportRequest {
        parent: plan_name.clone(),
        request_id: rid(),
        outcome_report: Some(mo::OutcomeReport {
            period_end: last,
            indicator_values: vec![value(1.0, "jobs")],
            ..Default::default()
        }),
    };
    let mute = create(mute).await.unwrap().into_inner().outcome_report.unwrap();
    let refused = client
        .submit_outcome_report(as_borrower(
            pilots::EIDAR,
            mo::SubmitOutcomeReportRequest { name: mute.name.clone(), request_id: rid(), ..Default::default() },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (refused.code(), field(refused.clone()).as_str()),
        (Code::FailedPrecondition, "outcome_report.narrative")
    );
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
        comments: vec![common::FieldComment {
            field_path: "indicator_values[0].source".into(),
            comment: "Ange källa".into(),
        }],
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
        etag: String::new(),
    };
    // A content edit names the version it read: without an etag it is refused.
    let blind = client.update_outcome_report(as_borrower(pilots::EIDAR, fix.clone())).await.unwrap_err();
    assert_eq!((blind.code(), field(blind.clone()).as_str()), (Code::InvalidArgument, "etag"));
    let fix = mo::UpdateOutcomeReportRequest { etag: returned.etag.clone(), ..fix };
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
    let year_two = mo::CreateOutcomeReportRequest {
        outcome_report: Some(mo::OutcomeReport {
            target_group_reach: vec![reach(common::TargetPopulation::GeneralPublic, 3_200)],
            ..draft(period(1), vec![value(85.0, "jobs")]).outcome_report.unwrap()
        }),
        ..draft(period(1), vec![])
    };
    let year_two = create(year_two).await.unwrap().into_inner().outcome_report.unwrap();
    client.submit_outcome_report(as_borrower(pilots::EIDAR, submit(&year_two.name))).await.unwrap();
    client.accept_outcome_report(staff(accept(&year_two.name), Role::ReportReviewer)).await.unwrap();
    let plan_now = plan_of(&mut client, &eidar).await.unwrap();
    let states: Vec<i32> = plan_now.reporting_periods.iter().take(2).map(|p| p.state).collect();
    assert_eq!(states, [mo::ReportingPeriodState::Accepted as i32; 2]);

    // Botkyrkabyggen: retention 78 % then 91 % (target 90), homes 120 then 300 (of 380).
    for (i, (share, homes, reached)) in [(78.0, 120.0, 410), (91.0, 300.0, 640)].into_iter().enumerate() {
        let values = vec![
            mo::IndicatorValue {
                indicator_code: "tenants_remaining_share".into(),
                value: Some(share),
                unit: "percent".into(),
                method: "Hyresgästregistret".into(),
                ..Default::default()
            },
            mo::IndicatorValue {
                indicator_code: "homes_renovated".into(),
                value: Some(homes),
                unit: "homes".into(),
                method: "Slutbesiktningar".into(),
                ..Default::default()
            },
        ];
        let request = mo::CreateOutcomeReportRequest {
            parent: botkyrka_plan.name.clone(),
            request_id: rid(),
            outcome_report: Some(mo::OutcomeReport {
                period_end: botkyrka_plan.reporting_periods[i].end_date,
                indicator_values: values,
                target_group_reach: vec![reach(common::TargetPopulation::LowIncome, reached)],
                loan_amount_used: pilots::sek(150_000_000 * (i as i64 + 1))
                    .map(|m| common::Money { currency_code: m.currency_code, minor_units: m.minor_units }),
                narrative: "Renoveringen fortskrider enligt plan".into(),
                ..Default::default()
            }),
        };
        let report = client
            .create_outcome_report(as_borrower(pilots::BOTKYRKABYGGEN, request))
            .await
            .unwrap()
            .into_inner()
            .outcome_report
            .unwrap();
        client.submit_outcome_report(as_borrower(pilots::BOTKYRKABYGGEN, submit(&report.name))).await.unwrap();
        client.accept_outcome_report(staff(accept(&report.name), Role::ReportReviewer)).await.unwrap();
    }

    // Each submission is kept: the returned first version with its comment, the accepted second.
    let versions = client
        .list_outcome_report_versions(as_borrower(
            pilots::EIDAR,
            mo::ListOutcomeReportVersionsRequest { parent: first.name.clone(), page_size: 1, ..Default::default() },
        ))
        .await
        .unwrap()
        .into_inner();
    let v1 = &versions.outcome_report_versions[0];
    assert_eq!((v1.version, v1.review_result), (1, mo::OutcomeReportState::Returned as i32));
    assert_eq!(v1.outcome_report.as_ref().unwrap().indicator_values[0].value, Some(40.0));
    assert_eq!(v1.review_comments.iter().map(|c| c.comment.as_str()).collect::<Vec<_>>(), ["Ange källa"]);
    let rest = client
        .list_outcome_report_versions(as_borrower(
            pilots::EIDAR,
            mo::ListOutcomeReportVersionsRequest {
                parent: first.name.clone(),
                page_size: 1,
                page_token: versions.next_page_token.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let v2 = &rest.outcome_report_versions[0];
    assert_eq!((v2.version, v2.review_result), (2, mo::OutcomeReportState::Accepted as i32));
    assert!(rest.next_page_token.is_empty());
    let not_theirs = client
        .list_outcome_report_versions(as_borrower(
            pilots::BOTKYRKABYGGEN,
            mo::ListOutcomeReportVersionsRequest { parent: first.name.clone(), ..Default::default() },
        ))
        .await
        .unwrap_err();
    assert_eq!(not_theirs.code(), Code::NotFound);

    // Progress, computed here independently: baseline 20 jobs (2020), target 200 (2024), latest 85.
    let as_of = common::Date { year: 2028, month: 6, day: 30 };
    let (progress_client, progress_plan) = (client.clone(), plan_name.clone());
    let progress_of = move |org: &str| {
        let mut client = progress_client.clone();
        let request = mo::GetPlanProgressRequest { name: progress_plan.clone(), as_of: Some(as_of) };
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

    // The portfolio impact report, against figures worked out by hand.
    let report = client
        .get_portfolio_impact_report(staff(
            mo::GetPortfolioImpactReportRequest { as_of: Some(as_of), ..Default::default() },
            Role::Auditor,
        ))
        .await
        .unwrap()
        .into_inner()
        .portfolio_impact_report
        .unwrap();
    let minor = |m: &Option<common::Money>| m.as_ref().unwrap().minor_units;
    assert_eq!(report.plan_count, 2);
    assert_eq!(minor(&report.approved_amount), 475_000_000 * 100);
    assert_eq!(minor(&report.tagged_loan_amount), 475_000_000 * 100);
    let categories: Vec<(i32, i32, i64)> =
        report.by_category.iter().map(|c| (c.category, c.plan_count, minor(&c.approved_amount))).collect();
    assert_eq!(
        categories,
        [
            (common::Category::HousingAndResidentialEnvironments as i32, 1, 400_000_000 * 100),
            (common::Category::SafetySecurityAndAccessibility as i32, 1, 75_000_000 * 100),
        ]
    );
    let aggregate = |c: usize, code: &str| {
        let a = report.by_category[c].indicators.iter().find(|i| i.indicator_code == code).unwrap().clone();
        (a.plan_count, a.reporting_plan_count, a.improved_plan_count, a.target_reached_plan_count, a.latest_sum)
    };
    assert_eq!(report.by_category[0].indicators.len(), 2);
    assert_eq!(aggregate(0, "tenants_remaining_share"), (1, 1, 1, 1, 91.0), "91 % beats the target of 90 %");
    assert_eq!(aggregate(0, "homes_renovated"), (1, 1, 1, 0, 300.0), "300 of 380 homes");
    assert_eq!(aggregate(1, "jobs_created"), (1, 1, 1, 0, 85.0), "85 jobs, target 200");
    let groups: Vec<(i32, i64, i64)> =
        report.by_target_group.iter().map(|g| (g.population, g.estimated_people, g.people_reached)).collect();
    assert_eq!(
        groups,
        [
            (common::TargetPopulation::LowIncome as i32, 900, 640),
            (common::TargetPopulation::GeneralPublic as i32, 5_000, 3_200)
        ],
        "the latest accepted reach of each plan"
    );
    let sdgs: Vec<(&str, i32, i64)> =
        report.by_sdg.iter().map(|s| (s.sdg_target.as_str(), s.plan_count, minor(&s.approved_amount))).collect();
    assert_eq!(
        sdgs,
        [
            ("8.5", 1, 75_000_000 * 100),
            ("10.2", 1, 400_000_000 * 100),
            ("11.1", 1, 400_000_000 * 100),
            ("11.7", 1, 75_000_000 * 100)
        ]
    );
    let before_reports = client
        .get_portfolio_impact_report(staff(
            mo::GetPortfolioImpactReportRequest {
                as_of: Some(common::Date { year: 2020, month: 1, day: 1 }),
                ..Default::default()
            },
            Role::Auditor,
        ))
        .await
        .unwrap()
        .into_inner()
        .portfolio_impact_report
        .unwrap();
    assert_eq!(before_reports.plan_count, 0, "no plan was active then");

    // The same figures as CSV and as a chart.
    let export = |format: mo::ExportFormat| {
        let mut client = client.clone();
        let request =
            mo::ExportPortfolioImpactReportRequest { as_of: Some(as_of), format: format as i32, ..Default::default() };
        async move { client.export_portfolio_impact_report(staff(request, Role::Analyst)).await }
    };
    let csv = export(mo::ExportFormat::Csv).await.unwrap().into_inner();
    assert_eq!(
        (csv.content_type.as_str(), csv.file_name.as_str()),
        ("text/csv; charset=utf-8", "portfolio-impact-2028-06-30.csv")
    );
    let text = String::from_utf8(csv.content).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
    let column = |name: &str| rows[0].iter().position(|c| *c == name).unwrap();
    assert_eq!(rows[1][column("section")], "portfolio");
    assert_eq!(rows[1][column("approved_amount_sek")], "475000000.00");
    let jobs_row = rows.iter().find(|r| r[column("indicator_code")] == "jobs_created").unwrap();
    assert_eq!((jobs_row[column("latest_sum")], jobs_row[column("improved_plan_count")]), ("85", "1"));
    assert_eq!(rows.len(), 1 + 1 + 2 + 3 + 2 + 4, "header, portfolio, categories, indicators, groups, SDGs");
    let svg = export(mo::ExportFormat::Svg).await.unwrap().into_inner();
    assert_eq!(svg.content_type, "image/svg+xml");
    let chart = String::from_utf8(svg.content).unwrap();
    assert!(chart.starts_with("<svg") && chart.contains("Housing and residential environments"));
    assert!(chart.contains("475.0 MSEK") || chart.contains("approved 475.0 MSEK"), "{chart}");
    let swedish = mo::ExportPortfolioImpactReportRequest {
        as_of: Some(as_of),
        format: mo::ExportFormat::Csv as i32,
        language: common::Language::Swedish as i32,
        ..Default::default()
    };
    let swedish =
        client.clone().export_portfolio_impact_report(staff(swedish, Role::Analyst)).await.unwrap().into_inner();
    assert_eq!(swedish.file_name, "portfoljens-effekter-2028-06-30.csv");
    let text = String::from_utf8(swedish.content).unwrap();
    assert!(text.lines().nth(1).unwrap().contains(";portfölj;") && text.contains(";475 000 000 kr;"), "{text}");
    assert!(text.contains(";Arbetstillfällen för målgruppen;"), "{text}");
    let klingon = mo::ExportPortfolioImpactReportRequest { language: 77, ..Default::default() };
    let klingon = client.clone().export_portfolio_impact_report(staff(klingon, Role::Analyst)).await.unwrap_err();
    assert_eq!((klingon.code(), field(klingon)), (Code::InvalidArgument, "language".to_owned()));
    let unspecified = export(mo::ExportFormat::Unspecified).await.unwrap_err();
    assert_eq!((unspecified.code(), field(unspecified)), (Code::InvalidArgument, "format".to_owned()));
    let borrower_report = client
        .get_portfolio_impact_report(as_borrower(pilots::EIDAR, mo::GetPortfolioImpactReportRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(borrower_report.code(), Code::PermissionDenied);

    // Conditions: fulfilment needs a second person; a breach is declared at once.
    let covenant = format!("{}/conditions/c1", botkyrka_plan.name);
    let fulfil = |note: &str| mo::FulfilConditionRequest {
        name: covenant.clone(),
        request_id: rid(),
        note: note.into(),
        ..Default::default()
    };
    let no_note = client.fulfil_condition(staff_as("anna", fulfil(""), Role::ReportReviewer)).await.unwrap_err();
    assert_eq!((no_note.code(), field(no_note)), (Code::InvalidArgument, "note".to_owned()));
    let proposed = client
        .fulfil_condition(staff_as("anna", fulfil("Två årsrapporter godkända"), Role::ReportReviewer))
        .await
        .unwrap()
        .into_inner()
        .condition
        .unwrap();
    assert_eq!(proposed.state, mo::ConditionState::Open as i32, "one person's word is a proposal");
    assert_eq!(proposed.proposal.as_ref().unwrap().proposed_by.as_ref().unwrap().subject, "anna");
    let alone = client.fulfil_condition(staff_as("anna", fulfil("Igen"), Role::ReportReviewer)).await.unwrap_err();
    assert_eq!(alone.code(), Code::FailedPrecondition);
    let fulfilled = client
        .fulfil_condition(staff_as("bertil", fulfil("Bekräftat"), Role::Analyst))
        .await
        .unwrap()
        .into_inner()
        .condition
        .unwrap();
    assert_eq!(fulfilled.state, mo::ConditionState::Fulfilled as i32);
    assert_eq!(fulfilled.resolved_by.as_ref().unwrap().subject, "bertil");
    let waive_after = client
        .waive_condition(staff_as(
            "anna",
            mo::WaiveConditionRequest {
                name: covenant.clone(),
                request_id: rid(),
                reason: "Behövs ej".into(),
                ..Default::default()
            },
            Role::ReportReviewer,
        ))
        .await
        .unwrap_err();
    assert_eq!(waive_after.code(), Code::FailedPrecondition, "a fulfilled condition stays fulfilled");
    let dialogue_name = format!("{}/conditions/c2", botkyrka_plan.name);
    let breach = mo::BreachConditionRequest {
        name: dialogue_name.clone(),
        request_id: rid(),
        reason: "Dialog hölls inte före renoveringen i hus 4".into(),
        etag: "\"1\"".into(),
    };
    let stale = client.breach_condition(staff_as("anna", breach.clone(), Role::ReportReviewer)).await.unwrap_err();
    assert_eq!(stale.code(), Code::Aborted, "a stale etag is refused");
    let current = plan_of(&mut client, &botkyrka).await.unwrap().etag;
    let breached = client
        .breach_condition(staff_as(
            "anna",
            mo::BreachConditionRequest { etag: current, request_id: rid(), ..breach },
            Role::ReportReviewer,
        ))
        .await
        .unwrap()
        .into_inner()
        .condition
        .unwrap();
    assert_eq!(breached.state, mo::ConditionState::Breached as i32);
    // A breached condition can still be fulfilled late, again by four eyes.
    let late = |who: &str| {
        let request = mo::FulfilConditionRequest {
            name: dialogue_name.clone(),
            request_id: rid(),
            note: "Dialogen hölls i efterhand".into(),
            ..Default::default()
        };
        staff_as(who, request, Role::ReportReviewer)
    };
    let proposed = client.fulfil_condition(late("anna")).await.unwrap().into_inner().condition.unwrap();
    assert_eq!(proposed.state, mo::ConditionState::Breached as i32);
    let fulfilled_late = client.fulfil_condition(late("cecilia")).await.unwrap().into_inner().condition.unwrap();
    assert_eq!(fulfilled_late.state, mo::ConditionState::Fulfilled as i32);
    // A waiver, by four eyes too.
    let letter = format!("{}/conditions/c3", botkyrka_plan.name);
    let waive = |who: &str| {
        let request = mo::WaiveConditionRequest {
            name: letter.clone(),
            request_id: rid(),
            reason: "Ersatt av boendedialogerna".into(),
            ..Default::default()
        };
        staff_as(who, request, Role::Analyst)
    };
    let asked = client.waive_condition(waive("bertil")).await.unwrap().into_inner().condition.unwrap();
    assert_eq!(asked.state, mo::ConditionState::Open as i32);
    let again = client.waive_condition(waive("bertil")).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition, "the proposer cannot confirm");
    let waived = client.waive_condition(waive("anna")).await.unwrap().into_inner().condition.unwrap();
    assert_eq!(waived.state, mo::ConditionState::Waived as i32);
    let resolved = feed(&mut client, &["ConditionFulfilled", "ConditionBreached", "ConditionWaived"]).await;
    let resolved: Vec<(&str, &str)> =
        resolved.iter().map(|e| (e.r#type.rsplit('.').next().unwrap(), e.aggregate.as_str())).collect();
    assert_eq!(
        resolved,
        [
            ("ConditionFulfilled", covenant.as_str()),
            ("ConditionBreached", dialogue_name.as_str()),
            ("ConditionFulfilled", dialogue_name.as_str()),
            ("ConditionWaived", letter.as_str())
        ]
    );

    // The audit trail says who did what to Eidar's first report.
    let trail = client
        .list_audit_entries(staff(
            mo::ListAuditEntriesRequest { resource: first.name.clone(), ..Default::default() },
            Role::Auditor,
        ))
        .await
        .unwrap()
        .into_inner()
        .audit_entries;
    let steps: Vec<(&str, &str, &str)> =
        trail.iter().map(|e| (e.action.as_str(), e.from_state.as_str(), e.to_state.as_str())).collect();
    assert_eq!(
        steps,
        [
            ("CreateOutcomeReport", "", "OUTCOME_REPORT_STATE_DRAFT"),
            ("SubmitOutcomeReport", "OUTCOME_REPORT_STATE_DRAFT", "OUTCOME_REPORT_STATE_SUBMITTED"),
            ("ReturnOutcomeReport", "OUTCOME_REPORT_STATE_SUBMITTED", "OUTCOME_REPORT_STATE_RETURNED"),
            ("UpdateOutcomeReport", "OUTCOME_REPORT_STATE_RETURNED", "OUTCOME_REPORT_STATE_DRAFT"),
            ("SubmitOutcomeReport", "OUTCOME_REPORT_STATE_DRAFT", "OUTCOME_REPORT_STATE_SUBMITTED"),
            ("AcceptOutcomeReport", "OUTCOME_REPORT_STATE_SUBMITTED", "OUTCOME_REPORT_STATE_ACCEPTED"),
        ]
    );
    assert_eq!(trail[0].actor.as_ref().unwrap().organization_number, pilots::EIDAR);
    assert_eq!(trail[2].comment, "Ange källa");

    // A correction of an accepted report is a new version; until it is
    // accepted, progress and the portfolio keep the accepted figures.
    let accepted_year_two = client
        .get_outcome_report(as_borrower(pilots::EIDAR, mo::GetOutcomeReportRequest { name: year_two.name.clone() }))
        .await
        .unwrap()
        .into_inner()
        .outcome_report
        .unwrap();
    let correction = mo::UpdateOutcomeReportRequest {
        request_id: rid(),
        outcome_report: Some(mo::OutcomeReport {
            name: year_two.name.clone(),
            indicator_values: vec![value(88.0, "jobs")],
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["indicator_values".into()] }),
        etag: accepted_year_two.etag.clone(),
    };
    let draft_again = client.update_outcome_report(as_borrower(pilots::EIDAR, correction)).await.unwrap().into_inner();
    assert_eq!(draft_again.outcome_report.unwrap().state, mo::OutcomeReportState::Draft as i32);
    let latest = |progress: mo::PlanProgress| progress.indicators[0].latest_value;
    let during = progress_of(pilots::EIDAR).await.unwrap().into_inner().plan_progress.unwrap();
    assert_eq!(latest(during), Some(85.0), "the accepted value stands while the correction is drafted");
    // Returned, the correction does not reopen the period: its report was
    // accepted, and nothing falls due or overdue again.
    client.submit_outcome_report(as_borrower(pilots::EIDAR, submit(&year_two.name))).await.unwrap();
    let back_again = mo::ReturnOutcomeReportRequest {
        name: year_two.name.clone(),
        request_id: rid(),
        comments: vec![common::FieldComment { field_path: "narrative".into(), comment: "Källa?".into() }],
        ..Default::default()
    };
    client.return_outcome_report(staff(back_again, Role::ReportReviewer)).await.unwrap();
    let plan_now = plan_of(&mut client, &eidar).await.unwrap();
    let its_period = plan_now.reporting_periods.iter().find(|p| p.outcome_report == year_two.name).unwrap();
    assert_eq!(its_period.state, mo::ReportingPeriodState::Accepted as i32);
    let far_later = monitoring::overdue::sweep(&pool, day(2030, 1, 1)).await.unwrap();
    assert!(
        feed(&mut client, &["ReportOverdue"]).await.iter().all(|e| e.aggregate != plan_now.name || {
            let overdue: mo::ReportOverdue =
                prost::Message::decode(e.payload.as_ref().unwrap().value.as_slice()).unwrap();
            overdue.period_end != its_period.end_date
        }),
        "no ReportOverdue for a period whose report was accepted ({far_later:?})"
    );
    client.submit_outcome_report(as_borrower(pilots::EIDAR, submit(&year_two.name))).await.unwrap();
    let corrected = client
        .accept_outcome_report(staff(accept(&year_two.name), Role::ReportReviewer))
        .await
        .unwrap()
        .into_inner()
        .outcome_report
        .unwrap();
    assert_eq!(corrected.version, 3, "drafted, returned, then accepted");
    let after = progress_of(pilots::EIDAR).await.unwrap().into_inner().plan_progress.unwrap();
    assert_eq!(latest(after), Some(88.0));

    // The committee amends Botkyrkabyggen's approval: a lower amount, the
    // covenant moved, a new condition. The application and the plan follow.
    let moved =
        cm::Condition { due_date: Some(common::Date { year: 2028, month: 3, day: 31 }), ..reporting_covenant() };
    let added = cm::Condition {
        id: "c4".into(),
        kind: common::ConditionKind::ReportingCovenant as i32,
        description: "Redovisa hyresnivåer efter renovering".into(),
        due_date: Some(common::Date { year: 2028, month: 6, day: 30 }),
    };
    e2e::flow::committee_amends(&db, &botkyrka, 390_000_000, vec![moved, dialogue, inform, added]).await;
    let mut amended_plan = None;
    for _ in 0..200 {
        let plan = plan_of(&mut client, &botkyrka).await.unwrap();
        if plan.conditions.len() == 4 {
            amended_plan = Some(plan);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let amended_plan = amended_plan.expect("the amendment reached the plan");
    assert_eq!(amended_plan.approved_amount.as_ref().unwrap().minor_units, 390_000_000 * 100);
    assert_eq!(amended_plan.committee_decision, "cases/1/decisions/2");
    let c4 = &amended_plan.conditions[3];
    assert_eq!(
        (c4.name.clone(), c4.state),
        (format!("{}/conditions/c4", amended_plan.name), mo::ConditionState::Open as i32)
    );
    let application = apps
        .get_application(staff(ap::GetApplicationRequest { name: botkyrka.clone() }, Role::Auditor))
        .await
        .unwrap()
        .into_inner()
        .application
        .unwrap();
    assert_eq!(application.approved_amount.unwrap().minor_units, 390_000_000 * 100);
    assert_eq!(application.conditions.len(), 4);
    let portfolio_after = client
        .get_portfolio_impact_report(staff(
            mo::GetPortfolioImpactReportRequest { as_of: Some(as_of), ..Default::default() },
            Role::Auditor,
        ))
        .await
        .unwrap()
        .into_inner()
        .portfolio_impact_report
        .unwrap();
    assert_eq!(
        portfolio_after.approved_amount.unwrap().minor_units,
        (390_000_000 + 75_000_000) * 100,
        "the portfolio counts the amended amount"
    );

    // Closing the application closes the plan.
    let close = ap::CloseApplicationRequest {
        name: eidar.clone(),
        request_id: rid(),
        reason: "Lånet förfallit".into(),
        ..Default::default()
    };
    apps.close_application(staff(close, Role::CoreBanking)).await.unwrap();
    wait_plan_state(&mut client, &eidar, mo::MonitoringPlanState::Closed).await;
    let open_only = client
        .get_portfolio_impact_report(staff(
            mo::GetPortfolioImpactReportRequest { as_of: Some(as_of), exclude_closed: true, ..Default::default() },
            Role::Auditor,
        ))
        .await
        .unwrap()
        .into_inner()
        .portfolio_impact_report
        .unwrap();
    assert_eq!((open_only.plan_count, minor(&open_only.approved_amount)), (1, 390_000_000 * 100));

    pool.close().await;
    monitoring.stop().await.unwrap();
    apps_service.stop().await.unwrap();
    committee.stop().await.unwrap();
}

#[tokio::test]
async fn analysts_extend_the_catalogue_and_bad_definitions_are_refused_by_field() {
    let db = Db::prepared(&specs()).await;
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
    let homes = all.iter().find(|d| d.code == "homes_renovated").unwrap();
    assert_eq!(
        (homes.display_name.as_str(), homes.swedish_display_name.as_str()),
        ("Homes renovated", "Renoverade bostäder")
    );
    assert!(all.iter().all(|d| !d.swedish_display_name.is_empty()), "every starting indicator has a Swedish name");

    let definition = mo::IndicatorDefinition {
        code: "library_visits".into(),
        display_name: "Library visits".into(),
        swedish_display_name: "Besök på biblioteket".into(),
        unit: "visits per year".into(),
        direction: common::IndicatorDirection::HigherIsBetter as i32,
        level: common::IndicatorLevel::Outcome as i32,
        category: common::Category::HealthEducationSportAndCulture as i32,
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
    let created = created.indicator_definition.unwrap();
    assert_eq!(created.name, "indicatorDefinitions/library_visits");
    assert_eq!(created.swedish_display_name, "Besök på biblioteket");
    let again = client.create_indicator_definition(staff(create(definition.clone()), Role::Analyst)).await.unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists);
    let bad = mo::IndicatorDefinition {
        code: "Library Visits".into(),
        unit: String::new(),
        level: 9,
        swedish_display_name: "x".repeat(201),
        ..definition
    };
    let err = client.create_indicator_definition(staff(create(bad), Role::Analyst)).await.unwrap_err();
    use tonic_types::StatusExt;
    let fields: Vec<String> =
        err.get_error_details().bad_request().unwrap().field_violations.iter().map(|v| v.field.clone()).collect();
    assert_eq!(
        fields,
        [
            "indicator_definition.code",
            "indicator_definition.swedish_display_name",
            "indicator_definition.unit",
            "indicator_definition.level"
        ]
    );
    let denied = client
        .create_indicator_definition(as_borrower(pilots::EIDAR, create(mo::IndicatorDefinition::default())))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    monitoring.stop().await.unwrap();
}

#[tokio::test]
async fn no_loan_is_tagged_before_the_approvals_preconditions_are_met() {
    let db = Db::prepared(&specs()).await;
    let fast = [("OUTBOX_POLL_MS", "200"), ("FEED_HEARTBEAT_MS", "300")];
    let committee = db.serve(services()[1], &fast).await;
    let probe = testkit::reserved_addr;
    let (apps_addr, monitoring_addr) = (probe(), probe());
    let (committee_feed, apps_feed, monitoring_feed) =
        (format!("http://{}", committee.grpc_addr), format!("http://{apps_addr}"), format!("http://{monitoring_addr}"));
    let apps_service = db
        .serve(
            services()[0],
            &[
                fast[0],
                fast[1],
                ("GRPC_ADDR", &apps_addr.to_string()),
                ("COMMITTEE_FEED_URL", &committee_feed),
                ("MONITORING_FEED_URL", &monitoring_feed),
            ],
        )
        .await;
    let monitoring = db
        .serve(
            services()[2],
            &[fast[0], fast[1], ("GRPC_ADDR", &monitoring_addr.to_string()), ("APPLICATIONS_FEED_URL", &apps_feed)],
        )
        .await;
    let mut apps = ApplicationsServiceClient::new(channel(apps_service.grpc_addr).await);
    let mut client = MonitoringServiceClient::new(channel(monitoring.grpc_addr).await);

    // Approved on condition that the lease with the health centre is signed first.
    let eidar = refer(&mut apps, pilots::eidar()).await;
    let lease = cm::Condition {
        id: "c1".into(),
        kind: common::ConditionKind::Precondition as i32,
        description: "Hyresavtal med vårdcentralen undertecknat".into(),
        due_date: Some(common::Date { year: 2027, month: 1, day: 31 }),
    };
    committee_decides_with(&db, &eidar, cm::DecisionOutcome::ApproveWithConditions, 75_000_000, vec![lease]).await;
    let plan = wait_plan_state(&mut client, &eidar, mo::MonitoringPlanState::Pending).await;
    let application = |apps: &mut ApplicationsServiceClient<Channel>| {
        let mut apps = apps.clone();
        let name = eidar.clone();
        async move {
            let get = ap::GetApplicationRequest { name };
            apps.get_application(staff(get, Role::Auditor)).await.unwrap().into_inner().application.unwrap()
        }
    };
    assert_eq!(application(&mut apps).await.conditions[0].status, ap::ConditionStatus::Open as i32);

    // Core banking is refused while it is open, naming the condition.
    let tag = || ap::TagLoanRequest {
        name: eidar.clone(),
        request_id: rid(),
        loan: Some(ap::LoanTag {
            loan_id: "KI-1001".into(),
            principal: pilots::sek(75_000_000),
            disbursement_date: Some(common::Date { year: 2026, month: 12, day: 1 }),
            maturity_date: Some(common::Date { year: 2031, month: 6, day: 30 }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let early = apps.tag_loan(staff(tag(), Role::CoreBanking)).await.unwrap_err();
    {
        use tonic_types::StatusExt;
        let details = early.get_error_details();
        assert_eq!(
            (early.code(), details.error_info().unwrap().reason.as_str()),
            (Code::FailedPrecondition, "PRECONDITIONS_NOT_MET")
        );
        assert_eq!(details.bad_request().unwrap().field_violations[0].field, "conditions[0]");
    }

    // Monitoring's reviewers confirm it, four eyes; the application hears of it.
    let fulfil = |who: &str| {
        let request = mo::FulfilConditionRequest {
            name: format!("{}/conditions/c1", plan.name),
            request_id: rid(),
            note: "Avtalet undertecknat 2026-11-20".into(),
            ..Default::default()
        };
        staff_as(who, request, Role::ReportReviewer)
    };
    client.fulfil_condition(fulfil("anna")).await.unwrap();
    assert_eq!(
        apps.tag_loan(staff(tag(), Role::CoreBanking)).await.unwrap_err().code(),
        Code::FailedPrecondition,
        "a proposal is not yet a fulfilment"
    );
    client.fulfil_condition(fulfil("bertil")).await.unwrap();
    let mut status = 0;
    for _ in 0..200 {
        status = application(&mut apps).await.conditions[0].status;
        if status == ap::ConditionStatus::Fulfilled as i32 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, ap::ConditionStatus::Fulfilled as i32, "the fulfilment reached the application");
    let tagged = apps.tag_loan(staff(tag(), Role::CoreBanking)).await.unwrap().into_inner().application.unwrap();
    assert_eq!(tagged.state, ap::ApplicationState::Active as i32);
    wait_plan_state(&mut client, &eidar, mo::MonitoringPlanState::Active).await;
    let history = ap::ListAuditEntriesRequest { parent: eidar.clone(), ..Default::default() };
    let actions: Vec<String> = apps
        .list_audit_entries(staff(history, Role::Auditor))
        .await
        .unwrap()
        .into_inner()
        .audit_entries
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions[actions.len() - 2..], ["CONDITION_FULFILLED".to_owned(), "TAG_LOAN".to_owned()]);

    // News of a condition the decision in force no longer has (an amendment
    // dropped it; monitoring keeps it until it is waived) is recorded, not parked.
    let dropped = mo::ConditionWaived {
        condition: format!("{}/conditions/c9", plan.name),
        application: eidar.clone(),
        reason: "Utgått genom ändringsbeslut".into(),
    };
    let event = socialloans_platform::events::Event {
        id: uuid::Uuid::now_v7().to_string(),
        position: 1_000_000,
        r#type: <mo::ConditionWaived as prost::Name>::full_name(),
        aggregate: dropped.condition.clone(),
        payload: Some(prost_types::Any {
            type_url: <mo::ConditionWaived as prost::Name>::type_url(),
            value: prost::Message::encode_to_vec(&dropped),
        }),
        ..Default::default()
    };
    let pool = sqlx::PgPool::connect(&db.service_url("applications")).await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    socialloans_platform::events::Handler::handle(&applications::conditions::MonitoringEvents, &mut tx, &event)
        .await
        .expect("an unknown condition is not a poison event");
    tx.commit().await.unwrap();
    let history = ap::ListAuditEntriesRequest { parent: eidar.clone(), ..Default::default() };
    let last = apps.list_audit_entries(staff(history, Role::Auditor)).await.unwrap().into_inner().audit_entries;
    assert_eq!(last.last().unwrap().action, "CONDITION_EVENT_IGNORED");

    // Core banking's feed carries what it acts on, in order: the approval, the
    // precondition met, the loan; nothing of the drafting and review.
    let core_feed = |after: i64, types: Vec<String>| {
        let request =
            socialloans_contracts::events::StreamEventsRequest { after_position: after, types, ..Default::default() };
        staff(request, Role::CoreBanking)
    };
    let read = async |apps: &mut ApplicationsServiceClient<Channel>, after: i64| {
        let mut stream = apps.stream_events(core_feed(after, vec![])).await.unwrap().into_inner();
        let mut events = Vec::new();
        while let Some(event) = stream.message().await.unwrap().and_then(|m| m.event) {
            events.push(event);
        }
        events
    };
    let events = read(&mut apps, 0).await;
    let types: Vec<&str> = events.iter().map(|e| e.r#type.rsplit('.').next().unwrap()).collect();
    assert_eq!(types, ["ApplicationApproved", "ApplicationConditionChanged", "LoanTagged"]);
    let changed: ap::ApplicationConditionChanged =
        prost::Message::decode(events[1].payload.as_ref().unwrap().value.as_slice()).unwrap();
    let condition = changed.condition.unwrap();
    assert_eq!((condition.id.as_str(), condition.status), ("c1", ap::ConditionStatus::Fulfilled as i32));
    // Resumed after the first, it goes on from there: nothing twice, nothing missed.
    let rest = read(&mut apps, events[0].position).await;
    assert_eq!(rest.iter().map(|e| e.position).collect::<Vec<_>>(), [events[1].position, events[2].position]);
    // Any other type is refused by field.
    let other = vec![<ap::ApplicationSubmitted as prost::Name>::full_name()];
    let refused = apps.stream_events(core_feed(0, other)).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);

    monitoring.stop().await.unwrap();
    apps_service.stop().await.unwrap();
    committee.stop().await.unwrap();
}

#[tokio::test]
async fn a_schedule_outside_the_loans_life_and_dates_off_the_calendar_are_refused() {
    let db = Db::prepared(&specs()).await;
    let (running, _) = e2e::start_all(&db).await;
    let mut apps = ApplicationsServiceClient::new(channel(running[0].grpc_addr).await);
    let mut client = MonitoringServiceClient::new(channel(running[2].grpc_addr).await);
    let eidar = refer(&mut apps, pilots::eidar()).await;
    committee_decides_with(&db, &eidar, cm::DecisionOutcome::Approve, 75_000_000, vec![]).await;
    let plan = wait_plan_state(&mut client, &eidar, mo::MonitoringPlanState::Pending).await;
    let field = |status: &tonic::Status| {
        use tonic_types::StatusExt;
        status.get_error_details().bad_request().map(|b| b.field_violations[0].field.clone()).unwrap_or_default()
    };
    let activate = |first: common::Date| mo::ActivateMonitoringPlanRequest {
        name: plan.name.clone(),
        request_id: rid(),
        schedule: Some(mo::ReportingSchedule { first_period_end: Some(first), ..Default::default() }),
        ..Default::default()
    };
    let today = monitoring::overdue::today();
    let year = chrono::Datelike::year(&today);
    // Year 262142 (once a panic, then an active plan without periods), a
    // date 13 months on (longer than one yearly interval, though within the
    // five years a plan without a loan reports), and one off the calendar.
    let thirteen_months = today.checked_add_months(chrono::Months::new(13)).unwrap();
    for first in [
        common::Date { year: 262_142, month: 12, day: 30 },
        monitoring::plans::date(thirteen_months),
        common::Date { year: year + 1, month: 2, day: 30 },
    ] {
        let err = client.activate_monitoring_plan(staff(activate(first), Role::Analyst)).await.unwrap_err();
        assert_eq!(
            (err.code(), field(&err).as_str()),
            (Code::InvalidArgument, "schedule.first_period_end"),
            "{first:?}"
        );
    }
    let still = plan_of(&mut client, &eidar).await.unwrap();
    assert_eq!(still.state, mo::MonitoringPlanState::Pending as i32, "nothing was activated");
    // A loan that matures before the year is out: activated by its tag, the
    // plan's one period ends when the loan does, not on 31 December.
    let short = refer(&mut apps, pilots::botkyrkabyggen()).await;
    committee_decides_with(&db, &short, cm::DecisionOutcome::Approve, 1_000_000, vec![]).await;
    wait_plan_state(&mut client, &short, mo::MonitoringPlanState::Pending).await;
    let matures = today.checked_add_days(chrono::Days::new(20)).unwrap();
    let tag = ap::TagLoanRequest {
        name: short.clone(),
        request_id: rid(),
        loan: Some(ap::LoanTag {
            loan_id: "KI-SHORT".into(),
            principal: pilots::sek(1_000_000),
            disbursement_date: Some(common::Date { year: year - 1, month: 1, day: 1 }),
            maturity_date: Some(common::Date {
                year: chrono::Datelike::year(&matures),
                month: chrono::Datelike::month(&matures) as i32,
                day: chrono::Datelike::day(&matures) as i32,
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    for _ in 0..100 {
        if apps.tag_loan(staff(tag.clone(), Role::CoreBanking)).await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let short_plan = wait_plan_state(&mut client, &short, mo::MonitoringPlanState::Active).await;
    let ends: Vec<Option<common::Date>> = short_plan.reporting_periods.iter().map(|p| p.end_date).collect();
    assert_eq!(ends, [Some(monitoring::plans::date(matures))], "one period, ending with the loan");
    let first = common::Date { year, month: 12, day: 31 };
    let active = client.activate_monitoring_plan(staff(activate(first), Role::Analyst)).await.unwrap().into_inner();
    let active = active.monitoring_plan.unwrap();
    assert!(!active.reporting_periods.is_empty());

    // A value measured on 30 February is refused by name, and so is one beyond 10^12.
    let value = |measure_date, v: f64| mo::IndicatorValue {
        indicator_code: "jobs_created".into(),
        value: Some(v),
        unit: "jobs".into(),
        method: "Räkning".into(),
        measure_date,
        ..Default::default()
    };
    for (bad, path) in [
        (value(Some(common::Date { year: 2020, month: 2, day: 30 }), 1.0), "measure_date"),
        (value(None, 1e15), "value"),
    ] {
        let request = mo::CreateOutcomeReportRequest {
            parent: active.name.clone(),
            request_id: rid(),
            outcome_report: Some(mo::OutcomeReport {
                period_end: active.reporting_periods[0].end_date,
                indicator_values: vec![bad],
                narrative: "Första året".into(),
                ..Default::default()
            }),
        };
        let err = client.create_outcome_report(as_borrower(pilots::EIDAR, request)).await.unwrap_err();
        assert_eq!(
            (err.code(), field(&err)),
            (Code::InvalidArgument, format!("outcome_report.indicator_values[0].{path}"))
        );
    }
    for running in running {
        running.stop().await.unwrap();
    }
}
