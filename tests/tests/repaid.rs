//! Monitoring follows the loan to its end (issue 18, item 5): the portfolio
//! impact report states what is outstanding on its date, beside what was
//! approved and tagged; when the last loan is repaid early, the reporting
//! period holding that day is the last one owed, and accepting its report
//! (the final report) closes the plan.

use e2e::{
    Db, channel,
    flow::{as_borrower, committee_decides_with, refer, rid, staff, wait_for_state, wait_plan_state},
    pilots, specs, start_all,
};
use socialloans_contracts::{
    applications::{
        self as ap, applications_service_client::ApplicationsServiceClient, record_loan_event_request::Event,
    },
    committee as cm, common,
    monitoring::{self as mo, monitoring_service_client::MonitoringServiceClient},
};
use socialloans_platform::Role;
use tonic::transport::Channel;

fn date(year: i32, month: i32, day: i32) -> Option<common::Date> {
    Some(common::Date { year, month, day })
}

fn kronor(money: &Option<common::Money>) -> i64 {
    money.as_ref().map_or(0, |m| m.minor_units / 100)
}

/// (outstanding, tagged, plans) in the portfolio report as of a day.
async fn portfolio(plans: &mut MonitoringServiceClient<Channel>, as_of: Option<common::Date>) -> (i64, i64, i32) {
    let request = mo::GetPortfolioImpactReportRequest { as_of, ..Default::default() };
    let report = plans.get_portfolio_impact_report(staff(request, Role::Analyst)).await.unwrap().into_inner();
    let report = report.portfolio_impact_report.unwrap();
    let category = &report.by_category[0];
    assert_eq!(kronor(&category.outstanding_loan_amount), kronor(&report.outstanding_loan_amount));
    (kronor(&report.outstanding_loan_amount), kronor(&report.tagged_loan_amount), report.plan_count)
}

/// Waits until the plan of `application` satisfies `done`.
async fn plan_until(
    plans: &mut MonitoringServiceClient<Channel>,
    application: &str,
    done: impl Fn(&mo::MonitoringPlan) -> bool,
) -> mo::MonitoringPlan {
    for _ in 0..200 {
        if let Some(plan) = e2e::flow::plan_of(plans, application).await.filter(|p| done(p)) {
            return plan;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the plan of {application} never got there");
}

#[tokio::test]
async fn outstanding_follows_the_loans_and_the_final_report_after_repayment_closes_the_plan() {
    let db = Db::prepared(&specs()).await;
    let (running, _) = start_all(&db).await;
    let apps = &mut ApplicationsServiceClient::new(channel(running[0].grpc_addr).await);
    let plans = &mut MonitoringServiceClient::new(channel(running[2].grpc_addr).await);

    let eidar = refer(apps, pilots::eidar()).await;
    committee_decides_with(&db, &eidar, cm::DecisionOutcome::Approve, 75_000_000, vec![]).await;
    wait_for_state(apps, &eidar, ap::ApplicationState::Approved).await;
    wait_plan_state(plans, &eidar, mo::MonitoringPlanState::Pending).await;
    let tag = ap::TagLoanRequest {
        name: eidar.clone(),
        request_id: rid(),
        loan: Some(ap::LoanTag {
            loan_id: "EI-1".into(),
            principal: pilots::sek(60_000_000),
            disbursement_date: date(2026, 12, 1),
            maturity_date: date(2031, 12, 1),
            ..Default::default()
        }),
        ..Default::default()
    };
    apps.tag_loan(staff(tag, Role::CoreBanking)).await.unwrap();
    let active = wait_plan_state(plans, &eidar, mo::MonitoringPlanState::Active).await;
    assert_eq!(kronor(&active.outstanding_loan_amount), 60_000_000);
    let owed = active.reporting_periods.len();
    assert!(owed >= 5, "periods through the maturity in 2031: {owed}");

    // Amortised to 40 MSEK at midsummer 2027: investors see 60 before, 40 from that day.
    let event = |event: Event| ap::RecordLoanEventRequest {
        name: eidar.clone(),
        request_id: rid(),
        loan_id: "EI-1".into(),
        event: Some(event),
        ..Default::default()
    };
    let amortised = ap::LoanAmortisation { outstanding_principal: pilots::sek(40_000_000), date: date(2027, 6, 30) };
    apps.record_loan_event(staff(event(Event::Amortisation(amortised)), Role::CoreBanking)).await.unwrap();
    plan_until(plans, &eidar, |p| kronor(&p.outstanding_loan_amount) == 40_000_000).await;
    assert_eq!(portfolio(plans, date(2027, 6, 29)).await, (60_000_000, 60_000_000, 1));
    assert_eq!(portfolio(plans, date(2027, 6, 30)).await, (40_000_000, 60_000_000, 1));
    // The investors' export says the same, in its last column.
    let export = mo::ExportPortfolioImpactReportRequest {
        as_of: date(2027, 6, 30),
        format: mo::ExportFormat::Csv as i32,
        ..Default::default()
    };
    let csv = plans.export_portfolio_impact_report(staff(export, Role::Analyst)).await.unwrap().into_inner();
    let csv = String::from_utf8(csv.content).unwrap();
    let header = csv.lines().next().unwrap();
    let portfolio_row = csv.lines().find(|l| l.split(',').nth(1) == Some("portfolio")).unwrap();
    assert_eq!(header.rsplit(',').next(), Some("outstanding_loan_amount_sek"));
    assert_eq!(portfolio_row.rsplit(',').next(), Some("40000000.00"));

    // Redeemed early in the autumn of 2027: nothing outstanding from then, and
    // the reporting after that year is no longer owed.
    let redeemed = ap::LoanEarlyRedemption { date: date(2027, 9, 30) };
    apps.record_loan_event(staff(event(Event::EarlyRedemption(redeemed)), Role::CoreBanking)).await.unwrap();
    let repaid = plan_until(plans, &eidar, |p| p.repaid_date.is_some()).await;
    assert_eq!(repaid.repaid_date, date(2027, 9, 30));
    assert_eq!(repaid.state, mo::MonitoringPlanState::Active as i32, "the final report is still owed");
    let last = repaid.reporting_periods.last().unwrap();
    let (start, end) = (last.start_date.unwrap(), last.end_date.unwrap());
    assert!((start.year, start.month, start.day) <= (2027, 9, 30) && (end.year, end.month, end.day) >= (2027, 9, 30));
    assert!(repaid.reporting_periods.len() < owed);
    assert_eq!(portfolio(plans, date(2027, 9, 29)).await.0, 40_000_000);
    assert_eq!(portfolio(plans, date(2027, 9, 30)).await.0, 0);

    // A new loan after the repayment reopens the plan's end: its periods run
    // through the new maturity, until that loan is redeemed in turn.
    let second = ap::TagLoanRequest {
        name: eidar.clone(),
        request_id: rid(),
        loan: Some(ap::LoanTag {
            loan_id: "EI-2".into(),
            principal: pilots::sek(10_000_000),
            disbursement_date: date(2027, 10, 1),
            maturity_date: date(2029, 6, 30),
            ..Default::default()
        }),
        ..Default::default()
    };
    apps.tag_loan(staff(second, Role::CoreBanking)).await.unwrap();
    let reopened = plan_until(plans, &eidar, |p| p.repaid_date.is_none()).await;
    let end = reopened.reporting_periods.last().unwrap().end_date.unwrap();
    assert!((end.year, end.month, end.day) >= (2029, 6, 30), "periods through the new maturity: {end:?}");
    assert_eq!(portfolio(plans, date(2027, 10, 1)).await.0, 10_000_000);
    let redeem_second = ap::RecordLoanEventRequest {
        name: eidar.clone(),
        request_id: rid(),
        loan_id: "EI-2".into(),
        event: Some(Event::EarlyRedemption(ap::LoanEarlyRedemption { date: date(2027, 10, 31) })),
        ..Default::default()
    };
    apps.record_loan_event(staff(redeem_second, Role::CoreBanking)).await.unwrap();
    let repaid = plan_until(plans, &eidar, |p| p.repaid_date == date(2027, 10, 31)).await;

    // Every report still owed, accepted: the last one closes the plan.
    for (i, period) in repaid.reporting_periods.iter().enumerate() {
        let draft = mo::CreateOutcomeReportRequest {
            parent: repaid.name.clone(),
            request_id: rid(),
            outcome_report: Some(mo::OutcomeReport {
                period_end: period.end_date,
                indicator_values: vec![mo::IndicatorValue {
                    indicator_code: "jobs_created".into(),
                    value: Some(40.0 + i as f64),
                    unit: "jobs".into(),
                    method: "Lönelistor".into(),
                    source: "Hyresgästernas lönelistor".into(),
                    ..Default::default()
                }],
                narrative: "Lånet är återbetalt; detta är slutrapporten.".into(),
                ..Default::default()
            }),
        };
        let report = plans.create_outcome_report(as_borrower(pilots::EIDAR, draft)).await.unwrap().into_inner();
        let name = report.outcome_report.unwrap().name;
        let submit = mo::SubmitOutcomeReportRequest { name: name.clone(), request_id: rid(), ..Default::default() };
        plans.submit_outcome_report(as_borrower(pilots::EIDAR, submit)).await.unwrap();
        let still = e2e::flow::plan_of(plans, &eidar).await.unwrap();
        assert_eq!(still.state, mo::MonitoringPlanState::Active as i32, "closed before its final report");
        let accept = mo::AcceptOutcomeReportRequest { name, request_id: rid(), ..Default::default() };
        plans.accept_outcome_report(staff(accept, Role::ReportReviewer)).await.unwrap();
    }
    let closed = e2e::flow::plan_of(plans, &eidar).await.unwrap();
    assert_eq!(closed.state, mo::MonitoringPlanState::Closed as i32);
    let trail = mo::ListAuditEntriesRequest { resource: closed.name.clone(), ..Default::default() };
    let trail = plans.list_audit_entries(staff(trail, Role::Auditor)).await.unwrap().into_inner().audit_entries;
    let own = trail.iter().rfind(|e| e.resource == closed.name).unwrap();
    assert_eq!(own.comment, "every loan repaid and the final report accepted");

    for service in running.into_iter().rev() {
        service.stop().await.unwrap();
    }
}
