//! A borrower stays inside its organisation (or the several its token names,
//! exactly those), whatever else its token holds and however it replays a
//! request; a report reviewer never reviews their own
//! report. Each rule is tried from the edge: every role combined with
//! `borrower`, request ids sent again under another organisation, and a
//! reviewer who also wrote the report.

use socialloans_contracts::common;
use std::time::Duration;

use e2e::{
    Db, authorized, channel,
    flow::{as_borrower, committee_decides_with, refer, reporting_covenant, rid, staff, wait_plan_state},
    minter, pilots, reason, specs,
};
use prost_types::FieldMask;
use socialloans_contracts::{
    applications::{self as ap, applications_service_client::ApplicationsServiceClient},
    committee as cm,
    monitoring::{self as mo, monitoring_service_client::MonitoringServiceClient},
};
use socialloans_platform::{Role, Running};
use tonic::{Code, transport::Channel};

/// Org A: the caller's own organisation. Org B: someone else's.
const A: &str = pilots::EIDAR;
const B: &str = pilots::BOTKYRKABYGGEN;

struct Suite {
    db: Db,
    running: Vec<Running>,
    apps: ApplicationsServiceClient<Channel>,
    monitoring: MonitoringServiceClient<Channel>,
}

impl Suite {
    async fn start() -> Suite {
        let db = Db::prepared(&specs()).await;
        let (running, _) = e2e::start_all(&db).await;
        let apps = ApplicationsServiceClient::new(channel(running[0].grpc_addr).await);
        let monitoring = MonitoringServiceClient::new(channel(running[2].grpc_addr).await);
        Suite { db, running, apps, monitoring }
    }

    async fn stop(self) {
        for running in self.running {
            running.stop().await.unwrap();
        }
    }
}

/// A token for `subject` with `roles`, bound to `org`.
fn mixed(subject: &str, roles: &[Role], org: &str) -> String {
    minter().mint(subject, roles, Some(org), Duration::from_secs(3600))
}

fn allowed(policy: &socialloans_platform::Policy, method: &str) -> &'static [Role] {
    policy.methods.iter().find(|(m, _)| *m == method).map(|(_, roles)| *roles).expect("a method of the policy")
}

async fn draft(apps: &mut ApplicationsServiceClient<Channel>, pilot: ap::Application) -> ap::Application {
    let org = pilot.borrower.as_ref().unwrap().organization_number.clone();
    let request = ap::CreateApplicationRequest { request_id: rid(), application: Some(pilot) };
    apps.create_application(as_borrower(&org, request)).await.unwrap().into_inner().application.unwrap()
}

async fn get(apps: &mut ApplicationsServiceClient<Channel>, name: &str) -> ap::Application {
    let request = ap::GetApplicationRequest { name: name.into() };
    apps.get_application(staff(request, Role::Analyst)).await.unwrap().into_inner().application.unwrap()
}

/// An approved application of `pilot`'s organisation with an active plan;
/// returns the plan. (The decision reaches the application over the
/// committee's real feed, the approval and the loan reach monitoring over the
/// applications feed.)
async fn active_plan(suite: &mut Suite, pilot: ap::Application) -> mo::MonitoringPlan {
    let application = refer(&mut suite.apps, pilot).await;
    committee_decides_with(
        &suite.db,
        &application,
        cm::DecisionOutcome::Approve,
        1_000_000,
        vec![reporting_covenant()],
    )
    .await;
    for _ in 0..200 {
        let found = get(&mut suite.apps, &application).await;
        if found.state == ap::ApplicationState::Approved as i32 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let tag = ap::TagLoanRequest {
        name: application.clone(),
        request_id: rid(),
        loan: Some(ap::LoanTag {
            loan_id: format!("KI-{}", &rid()[24..]),
            principal: pilots::sek(1_000_000),
            disbursement_date: Some(common::Date { year: 2026, month: 12, day: 1 }),
            maturity_date: Some(common::Date { year: 2031, month: 6, day: 30 }),
            ..Default::default()
        }),
        ..Default::default()
    };
    suite.apps.tag_loan(staff(tag, Role::CoreBanking)).await.unwrap();
    wait_plan_state(&mut suite.monitoring, &application, mo::MonitoringPlanState::Active).await
}

fn report_draft(plan: &mo::MonitoringPlan, period: usize) -> mo::CreateOutcomeReportRequest {
    let indicator = &plan.indicators[0];
    mo::CreateOutcomeReportRequest {
        parent: plan.name.clone(),
        request_id: rid(),
        outcome_report: Some(mo::OutcomeReport {
            period_end: plan.reporting_periods[period].end_date,
            indicator_values: plan
                .indicators
                .iter()
                .map(|i| mo::IndicatorValue {
                    indicator_code: i.code.clone(),
                    value: Some(1.0),
                    unit: i.unit.clone(),
                    method: "Räkning".into(),
                    ..Default::default()
                })
                .collect(),
            narrative: format!("Arbetet med {} fortsätter", indicator.code),
            ..Default::default()
        }),
    }
}

#[tokio::test]
async fn a_token_with_borrower_and_any_other_role_stays_inside_its_organisation() {
    let mut suite = Suite::start().await;
    let theirs = draft(&mut suite.apps, pilots::botkyrkabyggen()).await;
    let ours = draft(&mut suite.apps, pilots::eidar()).await;
    assert!(theirs.contact_person.as_ref().is_some_and(|c| !c.name.is_empty()), "the pilot has a contact person");
    let their_plan = active_plan(&mut suite, pilots::botkyrkabyggen()).await;
    let their_report = suite
        .monitoring
        .create_outcome_report(as_borrower(B, report_draft(&their_plan, 0)))
        .await
        .unwrap()
        .into_inner()
        .outcome_report
        .unwrap();
    let policy = &applications::policy::POLICY;
    let mut checked = 0;

    for other in Role::ALL.into_iter().filter(|r| *r != Role::Borrower) {
        let token = mixed(&format!("mixed-{other}"), &[Role::Borrower, other], A);
        let unconfined = |method: &str| allowed(policy, method).contains(&other);
        let apps = &mut suite.apps;

        // Get: another organisation's application is not there, unless the
        // other role reads applications; its contact person only for analysts.
        let got =
            apps.get_application(authorized(ap::GetApplicationRequest { name: theirs.name.clone() }, &token)).await;
        if unconfined("GetApplication") {
            let app = got.unwrap_or_else(|e| panic!("{other}: {e:?}")).into_inner().application.unwrap();
            assert_eq!(app.contact_person.is_some(), other == Role::Analyst, "{other}: contact person of another org");
        } else {
            assert_eq!(got.unwrap_err().code(), Code::NotFound, "{other}: read another org's application");
        }
        // Its own organisation's application, with its contact person.
        let own = apps.get_application(authorized(ap::GetApplicationRequest { name: ours.name.clone() }, &token)).await;
        assert!(own.unwrap().into_inner().application.unwrap().contact_person.is_some(), "{other}: own contact");

        // List: only its own organisation's, unless the other role lists.
        let listed = apps
            .list_applications(authorized(ap::ListApplicationsRequest { page_size: 200, ..Default::default() }, &token))
            .await
            .unwrap()
            .into_inner()
            .applications;
        let foreign: Vec<&ap::Application> =
            listed.iter().filter(|a| a.borrower.as_ref().unwrap().organization_number != A).collect();
        if unconfined("ListApplications") {
            assert!(!foreign.is_empty(), "{other}: staff lists every organisation");
            assert!(
                foreign.iter().all(|a| a.contact_person.is_some() == (other == Role::Analyst)),
                "{other}: contact persons of other organisations"
            );
        } else {
            assert!(foreign.is_empty(), "{other}: listed {} applications of other organisations", foreign.len());
        }
        let asked = ap::ListApplicationsRequest { organization_number: B.into(), ..Default::default() };
        let asked = apps.list_applications(authorized(asked, &token)).await;
        if !unconfined("ListApplications") {
            assert_eq!(asked.unwrap_err().code(), Code::InvalidArgument, "{other}: asked for another org");
        }

        // Create for another organisation.
        let create = ap::CreateApplicationRequest { request_id: rid(), application: Some(pilots::botkyrkabyggen()) };
        let created = apps.create_application(authorized(create, &token)).await;
        if unconfined("CreateApplication") {
            assert!(created.is_ok(), "{other}: {created:?}");
        } else {
            let err = created.unwrap_err();
            assert_eq!((err.code(), reason(&err).as_str()), (Code::PermissionDenied, "OTHER_ORGANIZATION"), "{other}");
        }

        // Update another organisation's draft.
        let current = get(apps, &theirs.name).await;
        let update = ap::UpdateApplicationRequest {
            request_id: rid(),
            application: Some(ap::Application {
                name: theirs.name.clone(),
                title: format!("Ändrad av {other}"),
                ..current.clone()
            }),
            update_mask: Some(FieldMask { paths: vec!["title".into()] }),
            etag: current.etag.clone(),
        };
        let updated = apps.update_application(authorized(update, &token)).await;
        if unconfined("UpdateApplication") {
            assert!(updated.is_ok(), "{other}: {updated:?}");
        } else {
            assert_eq!(updated.unwrap_err().code(), Code::NotFound, "{other}: edited another org's draft");
        }

        // Submit and withdraw another organisation's draft: borrowers' methods only.
        assert!(!unconfined("SubmitApplication") && !unconfined("WithdrawApplication"));
        let submit =
            ap::SubmitApplicationRequest { name: theirs.name.clone(), request_id: rid(), ..Default::default() };
        assert_eq!(apps.submit_application(authorized(submit, &token)).await.unwrap_err().code(), Code::NotFound);
        let withdraw = ap::WithdrawApplicationRequest {
            name: theirs.name.clone(),
            request_id: rid(),
            reason: "inte vår".into(),
            ..Default::default()
        };
        assert_eq!(apps.withdraw_application(authorized(withdraw, &token)).await.unwrap_err().code(), Code::NotFound);
        assert_eq!(get(apps, &theirs.name).await.state, ap::ApplicationState::Draft as i32, "{other}");

        // Reading another organisation's plan and reports: only roles that read them.
        let monitoring = &mut suite.monitoring;
        let reads = |method: &str| allowed(&monitoring::policy::POLICY, method).contains(&other);
        let plan = monitoring
            .get_monitoring_plan(authorized(mo::GetMonitoringPlanRequest { name: their_plan.name.clone() }, &token))
            .await;
        if reads("GetMonitoringPlan") {
            assert!(plan.is_ok(), "{other}: {plan:?}");
        } else {
            assert_eq!(plan.unwrap_err().code(), Code::NotFound, "{other}: read another org's plan");
        }
        let listed = mo::ListOutcomeReportsRequest { parent: their_plan.name.clone(), ..Default::default() };
        let listed = monitoring.list_outcome_reports(authorized(listed, &token)).await;
        if reads("ListOutcomeReports") {
            assert_eq!(listed.unwrap().into_inner().outcome_reports.len(), 1, "{other}");
        } else {
            assert_eq!(listed.unwrap_err().code(), Code::NotFound, "{other}: listed another org's reports");
        }
        let got = mo::GetOutcomeReportRequest { name: their_report.name.clone() };
        let got = monitoring.get_outcome_report(authorized(got, &token)).await;
        if reads("GetOutcomeReport") {
            assert!(got.is_ok(), "{other}");
        } else {
            assert_eq!(got.unwrap_err().code(), Code::NotFound, "{other}: read another org's report");
        }

        // Outcome reports on another organisation's plan: borrowers' methods only.
        let create = report_draft(&their_plan, 1);
        let err = monitoring.create_outcome_report(authorized(create, &token)).await.unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{other}: reported for another org's plan");
        let update = mo::UpdateOutcomeReportRequest {
            request_id: rid(),
            outcome_report: Some(mo::OutcomeReport {
                name: their_report.name.clone(),
                narrative: "Ändrad".into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask { paths: vec!["narrative".into()] }),
            etag: their_report.etag.clone(),
        };
        let err = monitoring.update_outcome_report(authorized(update, &token)).await.unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{other}: edited another org's report");
        let submit =
            mo::SubmitOutcomeReportRequest { name: their_report.name.clone(), request_id: rid(), ..Default::default() };
        let err = monitoring.submit_outcome_report(authorized(submit, &token)).await.unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{other}: submitted another org's report");
        checked += 1;
    }
    assert_eq!(checked, Role::ALL.len() - 1);
    let report = suite
        .monitoring
        .get_outcome_report(staff(mo::GetOutcomeReportRequest { name: their_report.name.clone() }, Role::Analyst))
        .await
        .unwrap()
        .into_inner()
        .outcome_report
        .unwrap();
    assert_eq!((report.state, report.narrative), (mo::OutcomeReportState::Draft as i32, their_report.narrative));
    suite.stop().await;
}

#[tokio::test]
async fn a_request_id_replayed_under_another_organisation_gets_nothing_of_the_first_answer() {
    let mut suite = Suite::start().await;
    // One portal backend, one subject, acting for two member organisations.
    let for_a = mixed("portal-backend", &[Role::Borrower], A);
    let for_b = mixed("portal-backend", &[Role::Borrower], B);

    let create = ap::CreateApplicationRequest { request_id: rid(), application: Some(pilots::eidar()) };
    let first = suite.apps.create_application(authorized(create.clone(), &for_a)).await.unwrap().into_inner();
    let err = suite.apps.create_application(authorized(create.clone(), &for_b)).await.unwrap_err();
    assert_eq!((err.code(), reason(&err).as_str()), (Code::PermissionDenied, "OTHER_ORGANIZATION"));
    // The same caller's retry still gets its first answer.
    let again = suite.apps.create_application(authorized(create.clone(), &for_a)).await.unwrap().into_inner();
    assert_eq!(again, first);
    let ours = first.application.unwrap();

    let update = ap::UpdateApplicationRequest {
        request_id: rid(),
        application: Some(ap::Application { title: "Ny titel".into(), ..ours.clone() }),
        update_mask: Some(FieldMask { paths: vec!["title".into()] }),
        etag: ours.etag.clone(),
    };
    suite.apps.update_application(authorized(update.clone(), &for_a)).await.unwrap();
    let err = suite.apps.update_application(authorized(update, &for_b)).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "B got A's stored answer to UpdateApplication");
    let submit = ap::SubmitApplicationRequest { name: ours.name.clone(), request_id: rid(), ..Default::default() };
    let submitted = suite.apps.submit_application(authorized(submit.clone(), &for_a)).await.unwrap().into_inner();
    assert!(submitted.application.unwrap().contact_person.is_some());
    let err = suite.apps.submit_application(authorized(submit, &for_b)).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "B got A's stored answer to SubmitApplication");

    // Outcome reports: B's plan, the portal acting for B, then for A.
    let plan = active_plan(&mut suite, pilots::botkyrkabyggen()).await;
    let for_b_report = report_draft(&plan, 0);
    suite.monitoring.create_outcome_report(authorized(for_b_report.clone(), &for_b)).await.unwrap();
    let err = suite.monitoring.create_outcome_report(authorized(for_b_report, &for_a)).await.unwrap_err();
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::InvalidArgument, "REQUEST_ID_REUSED"),
        "A got B's stored answer to CreateOutcomeReport"
    );

    // Another caller sending the same id for the same request gets nothing of
    // the answer: the same subject and organisation acting in other roles (an
    // analyst may create for A, so the request passes every other check)…
    let as_analyst = mixed("portal-backend", &[Role::Borrower, Role::Analyst], A);
    let err = suite.apps.create_application(authorized(create.clone(), &as_analyst)).await.unwrap_err();
    assert_eq!((err.code(), reason(&err).as_str()), (Code::InvalidArgument, "REQUEST_ID_REUSED"));
    // …and someone else altogether, for a request of their own.
    let squatter = mixed("someone-else", &[Role::Borrower], B);
    let own_create = ap::CreateApplicationRequest {
        request_id: create.request_id.clone(),
        application: Some(pilots::botkyrkabyggen()),
    };
    let err = suite.apps.create_application(authorized(own_create, &squatter)).await.unwrap_err();
    assert_eq!(reason(&err), "REQUEST_ID_REUSED");
    suite.stop().await;
}

#[tokio::test]
async fn a_report_reviewer_never_reviews_a_report_they_wrote() {
    let mut suite = Suite::start().await;
    let plan = active_plan(&mut suite, pilots::botkyrkabyggen()).await;
    // Eva works for the borrower and, by mistake or design, also holds the reviewer role.
    let eva = mixed("eva", &[Role::Borrower, Role::ReportReviewer], B);
    let report = suite
        .monitoring
        .create_outcome_report(authorized(report_draft(&plan, 0), &eva))
        .await
        .unwrap()
        .into_inner()
        .outcome_report
        .unwrap();
    let submit = mo::SubmitOutcomeReportRequest { name: report.name.clone(), request_id: rid(), ..Default::default() };
    suite.monitoring.submit_outcome_report(authorized(submit, &eva)).await.unwrap();
    let accept =
        || mo::AcceptOutcomeReportRequest { name: report.name.clone(), request_id: rid(), ..Default::default() };
    let err = suite.monitoring.accept_outcome_report(authorized(accept(), &eva)).await.unwrap_err();
    assert_eq!((err.code(), reason(&err).as_str()), (Code::PermissionDenied, "REVIEWER_IS_AUTHOR"));
    // Another spelling of the report's id is no way round it: names are written one way.
    let (plan_part, report_id) = report.name.split_once("/outcomeReports/").unwrap();
    let shouting = mo::AcceptOutcomeReportRequest {
        name: format!("{plan_part}/outcomeReports/{}", report_id.to_uppercase()),
        request_id: rid(),
        ..Default::default()
    };
    let err = suite.monitoring.accept_outcome_report(authorized(shouting, &eva)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    // The same person with a reviewer-only token is the same person.
    let eva_reviewing = minter().mint("eva", &[Role::ReportReviewer], None, Duration::from_secs(3600));
    let err = suite.monitoring.accept_outcome_report(authorized(accept(), &eva_reviewing)).await.unwrap_err();
    assert_eq!(reason(&err), "REVIEWER_IS_AUTHOR");
    let back = mo::ReturnOutcomeReportRequest {
        name: report.name.clone(),
        request_id: rid(),
        comments: vec![common::FieldComment { field_path: "narrative".into(), comment: "Mer".into() }],
        ..Default::default()
    };
    let err = suite.monitoring.return_outcome_report(authorized(back, &eva_reviewing)).await.unwrap_err();
    assert_eq!(reason(&err), "REVIEWER_IS_AUTHOR", "nor returns it");
    // Someone else reviews it (a comment with NUL in it is refused, not INTERNAL).
    let olle = minter().mint("olle", &[Role::ReportReviewer], None, Duration::from_secs(3600));
    let nul = mo::AcceptOutcomeReportRequest { comment: "Bra\0".into(), ..accept() };
    let err = suite.monitoring.accept_outcome_report(authorized(nul, &olle)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let accepted = suite.monitoring.accept_outcome_report(authorized(accept(), &olle)).await.unwrap().into_inner();
    assert_eq!(accepted.outcome_report.unwrap().state, mo::OutcomeReportState::Accepted as i32);
    suite.stop().await;
}

#[tokio::test]
async fn a_borrower_sees_the_outcome_of_the_lenders_work_but_not_its_internal_notes() {
    let mut suite = Suite::start().await;
    let application = refer(&mut suite.apps, pilots::eidar()).await;
    let request = ap::GetApplicationRequest { name: application.clone() };
    let seen = suite.apps.get_application(as_borrower(A, request)).await.unwrap().into_inner().application.unwrap();
    let credit = seen.credit_assessment.unwrap();
    assert_eq!(credit.outcome, ap::CreditAssessmentOutcome::Approved as i32, "the outcome is the borrower's to know");
    assert!(credit.credit_limit.is_none() && credit.summary.is_empty() && credit.assessor.is_none());
    assert!(seen.referral_note.is_empty());
    let staff_view = get(&mut suite.apps, &application).await;
    assert!(staff_view.credit_assessment.unwrap().credit_limit.is_some());
    assert_eq!(staff_view.referral_note, "Komplett");
    let history = ap::ListAuditEntriesRequest { parent: application.clone(), ..Default::default() };
    let entries = suite.apps.list_audit_entries(as_borrower(A, history)).await.unwrap().into_inner().audit_entries;
    let refer = entries.iter().find(|e| e.action == "REFER_TO_COMMITTEE").unwrap();
    let actor = refer.actor.as_ref().unwrap();
    assert_eq!((actor.subject.as_str(), actor.role.as_str(), refer.comment.as_str()), ("", "analyst", ""));
    let submit = entries.iter().find(|e| e.action == "SUBMIT").unwrap();
    assert!(!submit.actor.as_ref().unwrap().subject.is_empty(), "the borrower's own people are named");
    suite.stop().await;
}

#[tokio::test]
async fn a_token_for_several_organisations_is_confined_to_exactly_those() {
    let mut suite = Suite::start().await;
    /// A third organisation, outside the municipality's token.
    const C: &str = "212000-0142";
    let other = ap::Application {
        borrower: Some(ap::Borrower { organization_number: C.into(), ..pilots::eidar().borrower.unwrap() }),
        ..pilots::eidar()
    };
    let outsider = draft(&mut suite.apps, other).await;
    let plan_a = active_plan(&mut suite, pilots::eidar()).await;
    let plan_c = active_plan(
        &mut suite,
        ap::Application {
            borrower: Some(ap::Borrower { organization_number: C.into(), ..pilots::eidar().borrower.unwrap() }),
            ..pilots::eidar()
        },
    )
    .await;

    // The municipality's token acts for A and B: it applies for either, never for C.
    let both = minter().mint_orgs("kommunen", &[Role::Borrower], &[A, B], Duration::from_secs(3600));
    let create = |org: &str| ap::CreateApplicationRequest {
        request_id: rid(),
        application: Some(ap::Application {
            borrower: Some(ap::Borrower { organization_number: org.into(), ..pilots::eidar().borrower.unwrap() }),
            ..pilots::eidar()
        }),
    };
    let for_a = suite.apps.create_application(authorized(create(A), &both)).await.unwrap().into_inner();
    let for_b = suite.apps.create_application(authorized(create(B), &both)).await.unwrap().into_inner();
    let refused = suite.apps.create_application(authorized(create(C), &both)).await.unwrap_err();
    assert_eq!((refused.code(), reason(&refused)), (Code::PermissionDenied, "OTHER_ORGANIZATION".into()));

    // It reads and lists A's and B's, and nothing of C's, whatever it asks for.
    let get_as = |name: &str| authorized(ap::GetApplicationRequest { name: name.into() }, &both);
    for name in [&for_a.application.as_ref().unwrap().name, &for_b.application.as_ref().unwrap().name] {
        suite.apps.get_application(get_as(name)).await.unwrap();
    }
    assert_eq!(suite.apps.get_application(get_as(&outsider.name)).await.unwrap_err().code(), Code::NotFound);
    let list = |org: &str| {
        authorized(ap::ListApplicationsRequest { organization_number: org.into(), ..Default::default() }, &both)
    };
    let orgs = |response: ap::ListApplicationsResponse| {
        let mut orgs: Vec<String> =
            response.applications.iter().map(|a| a.borrower.as_ref().unwrap().organization_number.clone()).collect();
        orgs.dedup();
        orgs.sort();
        orgs.dedup();
        orgs
    };
    let mut expected = vec![A.to_owned(), B.to_owned()];
    expected.sort();
    assert_eq!(orgs(suite.apps.list_applications(list("")).await.unwrap().into_inner()), expected);
    assert_eq!(orgs(suite.apps.list_applications(list(B)).await.unwrap().into_inner()), [B]);
    assert_eq!(suite.apps.list_applications(list(C)).await.unwrap_err().code(), Code::InvalidArgument);
    // Loans and monitoring alike: A's plan is there, C's is not, by list or by name.
    let loans = suite.apps.list_loans(authorized(ap::ListLoansRequest::default(), &both)).await.unwrap().into_inner();
    assert!(loans.loans.iter().all(|l| [A, B].contains(&l.organization_number.as_str())) && !loans.loans.is_empty());
    let plans = suite.monitoring.list_monitoring_plans(authorized(mo::ListMonitoringPlansRequest::default(), &both));
    let plans = plans.await.unwrap().into_inner().monitoring_plans;
    assert_eq!(plans.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), [plan_a.name.as_str()]);
    let get_plan = |name: &str| authorized(mo::GetMonitoringPlanRequest { name: name.into() }, &both);
    suite.monitoring.get_monitoring_plan(get_plan(&plan_a.name)).await.unwrap();
    assert_eq!(suite.monitoring.get_monitoring_plan(get_plan(&plan_c.name)).await.unwrap_err().code(), Code::NotFound);
    let report = suite.monitoring.create_outcome_report(authorized(report_draft(&plan_c, 0), &both)).await;
    assert_eq!(report.unwrap_err().code(), Code::NotFound, "no report for another organisation's plan");

    // A request id answered for one organisation is no answer for a token of several.
    let request = create(A);
    suite.apps.create_application(as_borrower(A, request.clone())).await.unwrap();
    let replayed = suite.apps.create_application(authorized(request, &both)).await.unwrap_err();
    assert_eq!((replayed.code(), reason(&replayed)), (Code::InvalidArgument, "REQUEST_ID_REUSED".into()));
    suite.stop().await;
}
