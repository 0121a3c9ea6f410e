//! The committee service so far, with the applications service where events
//! cross: a referral opens a case holding the application as referred; the
//! roster; assessments of the five basic requirements; conflicts of interest;
//! a withdrawal closes the case; borrowers never see cases.

use std::time::Duration;

use e2e::{Db, authorized, channel, pilots, services, specs, token};
use socialloans_contracts::{
    applications::{self as ap, applications_service_client::ApplicationsServiceClient},
    committee::{self as cm, committee_service_client::CommitteeServiceClient},
};
use socialloans_platform::Role;
use tonic::Code;

fn rid() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn as_borrower<T>(org: &str, message: T) -> tonic::Request<T> {
    authorized(message, &token(&[Role::Borrower], Some(org)))
}

fn staff<T>(message: T, role: Role) -> tonic::Request<T> {
    authorized(message, &token(&[role], None))
}

/// Creates a pilot and takes it to the committee, returning its name.
async fn refer(apps: &mut ApplicationsServiceClient<tonic::transport::Channel>, pilot: ap::Application) -> String {
    let org = pilot.borrower.as_ref().unwrap().organization_number.clone();
    let app = apps
        .create_application(as_borrower(
            &org,
            ap::CreateApplicationRequest { request_id: rid(), application: Some(pilot.clone()) },
        ))
        .await
        .unwrap()
        .into_inner()
        .application
        .unwrap();
    let name = app.name.clone();
    apps.submit_application(as_borrower(
        &org,
        ap::SubmitApplicationRequest { name: name.clone(), etag: String::new(), request_id: rid() },
    ))
    .await
    .unwrap();
    apps.start_review(staff(
        ap::StartReviewRequest { name: name.clone(), etag: String::new(), request_id: rid() },
        Role::Analyst,
    ))
    .await
    .unwrap();
    let credit = ap::CreditAssessment {
        outcome: ap::CreditAssessmentOutcome::Approved as i32,
        credit_limit: pilot.requested_amount.clone(),
        ..Default::default()
    };
    let assess = ap::RecordCreditAssessmentRequest {
        name: name.clone(),
        request_id: rid(),
        credit_assessment: Some(credit),
        ..Default::default()
    };
    apps.record_credit_assessment(staff(assess, Role::CreditAnalyst)).await.unwrap();
    let referral = ap::ReferApplicationToCommitteeRequest {
        name: name.clone(),
        request_id: rid(),
        referral_note: "Komplett".into(),
        ..Default::default()
    };
    apps.refer_application_to_committee(staff(referral, Role::Analyst)).await.unwrap();
    name
}

async fn case_of(committee: &mut CommitteeServiceClient<tonic::transport::Channel>, application: &str) -> cm::Case {
    for _ in 0..200 {
        let request = cm::ListCasesRequest { application: application.into(), ..Default::default() };
        let cases = committee.list_cases(staff(request, Role::CommitteeSecretary)).await.unwrap().into_inner().cases;
        if let Some(case) = cases.into_iter().next() {
            return case;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no case opened for {application}");
}

#[tokio::test]
async fn a_referral_opens_a_case_that_the_committee_assesses_and_a_withdrawal_closes() {
    let db = Db::start();
    db.prepare(&specs()).await;
    let fast = [("OUTBOX_POLL_MS", "200"), ("FEED_HEARTBEAT_MS", "300")];
    // Both services start on fixed free ports so that each knows the other's feed.
    let probe = |_| std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (apps_addr, committee_addr) = (probe(0), probe(1));
    let committee_feed = format!("http://{committee_addr}");
    let apps_feed = format!("http://{apps_addr}");
    let apps_service = db
        .serve(
            services()[0],
            &[fast[0], fast[1], ("GRPC_ADDR", &apps_addr.to_string()), ("COMMITTEE_FEED_URL", &committee_feed)],
        )
        .await;
    let committee_service = db
        .serve(
            services()[1],
            &[fast[0], fast[1], ("GRPC_ADDR", &committee_addr.to_string()), ("APPLICATIONS_FEED_URL", &apps_feed)],
        )
        .await;
    let mut apps = ApplicationsServiceClient::new(channel(apps_addr).await);
    let mut committee = CommitteeServiceClient::new(channel(committee_addr).await);

    // The roster.
    let member = |display_name: &str, role: cm::MemberRole| cm::Member {
        display_name: display_name.into(),
        role: role as i32,
        term_start: Some(cm::Date { year: 2026, month: 1, day: 1 }),
        subject: format!("idp|{display_name}"),
        ..Default::default()
    };
    let lena = committee
        .create_member(staff(
            cm::CreateMemberRequest { request_id: rid(), member: Some(member("Lena", cm::MemberRole::Member)) },
            Role::CommitteeSecretary,
        ))
        .await
        .unwrap()
        .into_inner()
        .member
        .unwrap();
    let bad = cm::Member {
        term_end: Some(cm::Date { year: 2025, month: 1, day: 1 }),
        ..member("Per", cm::MemberRole::Unspecified)
    };
    let err = committee
        .create_member(staff(
            cm::CreateMemberRequest { request_id: rid(), member: Some(bad) },
            Role::CommitteeSecretary,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let roster = committee
        .list_members(staff(cm::ListMembersRequest::default(), Role::Analyst))
        .await
        .unwrap()
        .into_inner()
        .members;
    assert_eq!(roster.len(), 1);

    // A referral opens a case holding the application as referred; the application learns its case.
    let application = refer(&mut apps, pilots::botkyrkabyggen()).await;
    let case = case_of(&mut committee, &application).await;
    assert_eq!(case.state, cm::CaseState::Open as i32);
    assert_eq!(case.organization_number, pilots::BOTKYRKABYGGEN);
    assert_eq!(case.requested_amount.as_ref().unwrap().minor_units, 400_000_000 * 100);
    let snapshot: ap::Application =
        prost::Message::decode(case.application_snapshot.as_ref().unwrap().value.as_slice()).unwrap();
    assert_eq!(snapshot.title, pilots::botkyrkabyggen().title);
    assert!(snapshot.contact_person.is_none(), "the snapshot carries no personal data");
    let mut linked = String::new();
    for _ in 0..200 {
        let got = apps
            .get_application(staff(ap::GetApplicationRequest { name: application.clone() }, Role::Analyst))
            .await
            .unwrap()
            .into_inner();
        linked = got.application.unwrap().committee_case;
        if !linked.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(linked, case.name, "the applications service recorded the case from the committee's feed");

    // Borrowers never see cases.
    let borrower = authorized(
        cm::GetCaseRequest { name: case.name.clone() },
        &token(&[Role::Borrower], Some(pilots::BOTKYRKABYGGEN)),
    );
    assert_eq!(committee.get_case(borrower).await.unwrap_err().code(), Code::PermissionDenied);

    // Assessments, one per requirement, replaced when assessed again.
    let assess = |requirement: cm::BasicRequirement, verdict: cm::RequirementVerdict| cm::AssessRequirementRequest {
        name: case.name.clone(),
        request_id: rid(),
        assessment: Some(cm::RequirementAssessment {
            requirement: requirement as i32,
            verdict: verdict as i32,
            justification: "Se ansökan".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    committee
        .assess_requirement(staff(
            assess(cm::BasicRequirement::DefinedTargetGroup, cm::RequirementVerdict::PartiallyMet),
            Role::CommitteeMember,
        ))
        .await
        .unwrap();
    let assessed = committee
        .assess_requirement(staff(
            assess(cm::BasicRequirement::DefinedTargetGroup, cm::RequirementVerdict::Met),
            Role::CommitteeSecretary,
        ))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert_eq!(assessed.requirement_assessments.len(), 1);
    assert_eq!(assessed.requirement_assessments[0].verdict, cm::RequirementVerdict::Met as i32);
    let unknown = assess(cm::BasicRequirement::Unspecified, cm::RequirementVerdict::Met);
    assert_eq!(
        committee.assess_requirement(staff(unknown, Role::CommitteeMember)).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    let stale = cm::AssessRequirementRequest {
        etag: "\"1\"".into(),
        ..assess(cm::BasicRequirement::LongTerm, cm::RequirementVerdict::Met)
    };
    assert_eq!(
        committee.assess_requirement(staff(stale, Role::CommitteeMember)).await.unwrap_err().code(),
        Code::Aborted
    );

    // A conflict of interest, once per member.
    let declare = || cm::DeclareConflictOfInterestRequest {
        parent: case.name.clone(),
        request_id: rid(),
        declaration: Some(cm::ConflictOfInterestDeclaration {
            member: lena.name.clone(),
            description: "Styrelseledamot i låntagaren".into(),
            ..Default::default()
        }),
    };
    committee.declare_conflict_of_interest(staff(declare(), Role::CommitteeMember)).await.unwrap();
    assert_eq!(
        committee.declare_conflict_of_interest(staff(declare(), Role::CommitteeMember)).await.unwrap_err().code(),
        Code::AlreadyExists
    );

    // The borrower withdraws: the case closes as withdrawn.
    let withdraw = authorized(
        ap::WithdrawApplicationRequest {
            name: application.clone(),
            request_id: rid(),
            reason: "Annan finansiering".into(),
            ..Default::default()
        },
        &token(&[Role::Borrower], Some(pilots::BOTKYRKABYGGEN)),
    );
    apps.withdraw_application(withdraw).await.unwrap();
    let mut state = 0;
    for _ in 0..200 {
        state = committee
            .get_case(staff(cm::GetCaseRequest { name: case.name.clone() }, Role::Auditor))
            .await
            .unwrap()
            .into_inner()
            .case
            .unwrap()
            .state;
        if state == cm::CaseState::Withdrawn as i32 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(state, cm::CaseState::Withdrawn as i32);
    let late = assess(cm::BasicRequirement::LongTerm, cm::RequirementVerdict::Met);
    assert_eq!(
        committee.assess_requirement(staff(late, Role::CommitteeMember)).await.unwrap_err().code(),
        Code::FailedPrecondition
    );

    apps_service.stop().await.unwrap();
    committee_service.stop().await.unwrap();
}
