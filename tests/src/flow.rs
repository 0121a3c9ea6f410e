//! Steps of the story that several tests share: an application taken to the
//! committee, and a committee decision published as the committee would.

use socialloans_contracts::common;
use socialloans_contracts::{
    applications::{self as ap, applications_service_client::ApplicationsServiceClient},
    committee as cm,
    monitoring::{self as mo, monitoring_service_client::MonitoringServiceClient},
};
use std::time::Duration;

use socialloans_platform::Role;
use tonic::transport::Channel;

use crate::{Db, authorized, token};

/// A fresh request id.
pub fn rid() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// `message` as staff in `role`.
pub fn staff<T>(message: T, role: Role) -> tonic::Request<T> {
    authorized(message, &token(&[role], None))
}

/// `message` as the staff member `subject` in `role` (four-eyes steps need two people).
pub fn staff_as<T>(subject: &str, message: T, role: Role) -> tonic::Request<T> {
    let token = crate::minter().mint(subject, &[role], None, std::time::Duration::from_secs(3600));
    authorized(message, &token)
}

/// `message` as a borrower of `org`.
pub fn as_borrower<T>(org: &str, message: T) -> tonic::Request<T> {
    authorized(message, &token(&[Role::Borrower], Some(org)))
}

/// Creates `pilot`, submits it, reviews it, approves its credit and refers it; returns its name.
pub async fn refer(apps: &mut ApplicationsServiceClient<Channel>, pilot: ap::Application) -> String {
    let org = pilot.borrower.as_ref().expect("a borrower").organization_number.clone();
    let create = ap::CreateApplicationRequest { request_id: rid(), application: Some(pilot.clone()) };
    let name = apps.create_application(as_borrower(&org, create)).await.unwrap().into_inner().application.unwrap().name;
    let submit = ap::SubmitApplicationRequest { name: name.clone(), etag: String::new(), request_id: rid() };
    apps.submit_application(as_borrower(&org, submit)).await.unwrap();
    let review = ap::StartReviewRequest { name: name.clone(), etag: String::new(), request_id: rid() };
    apps.start_review(staff(review, Role::Analyst)).await.unwrap();
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

/// Reads `name` until it is in state `want` (the committee's decision arrives
/// as an event, so a moment after it is published); panics after 10 s.
pub async fn wait_for_state(
    apps: &mut ApplicationsServiceClient<Channel>,
    name: &str,
    want: ap::ApplicationState,
) -> ap::Application {
    for _ in 0..200 {
        let request = ap::GetApplicationRequest { name: name.into() };
        let got = apps.get_application(staff(request, Role::Analyst)).await.unwrap().into_inner().application.unwrap();
        if got.state == want as i32 {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{name} never reached {want:?}");
}

/// The monitoring plan of `application`, if it has one yet (read as an analyst).
pub async fn plan_of(
    monitoring: &mut MonitoringServiceClient<Channel>,
    application: &str,
) -> Option<mo::MonitoringPlan> {
    let request = mo::ListMonitoringPlansRequest { application: application.into(), ..Default::default() };
    let plans = monitoring.list_monitoring_plans(staff(request, Role::Analyst)).await.unwrap();
    plans.into_inner().monitoring_plans.into_iter().next()
}

/// Reads the plan of `application` until it is in `state` (it opens and
/// activates from events, so a moment later); panics after 10 s.
pub async fn wait_plan_state(
    monitoring: &mut MonitoringServiceClient<Channel>,
    application: &str,
    state: mo::MonitoringPlanState,
) -> mo::MonitoringPlan {
    for _ in 0..200 {
        if let Some(plan) = plan_of(monitoring, application).await.filter(|p| p.state == state as i32) {
            return plan;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {state:?} plan for {application}");
}

/// The committee's one standard condition: report tenant retention yearly, by 31 March 2027.
pub fn reporting_covenant() -> cm::Condition {
    cm::Condition {
        id: "c1".into(),
        kind: common::ConditionKind::ReportingCovenant as i32,
        description: "Rapportera kvarboende årligen".into(),
        due_date: Some(common::Date { year: 2027, month: 3, day: 31 }),
    }
}

/// The committee confirms a decision on `application`, as its service would:
/// a `DecisionConfirmed` in the committee's outbox, with the reporting covenant.
pub async fn committee_decides(db: &Db, application: &str, outcome: cm::DecisionOutcome, amount_kronor: i64) {
    committee_decides_with(db, application, outcome, amount_kronor, vec![reporting_covenant()]).await;
}

/// As [`committee_decides`], with the given conditions.
pub async fn committee_decides_with(
    db: &Db,
    application: &str,
    outcome: cm::DecisionOutcome,
    amount_kronor: i64,
    conditions: Vec<cm::Condition>,
) {
    let pool = sqlx::PgPool::connect(&db.service_url("committee")).await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    let decision = cm::DecisionConfirmed {
        case: "cases/1".into(),
        application: application.into(),
        decision: "cases/1/decisions/1".into(),
        meeting: "meetings/2026-q4".into(),
        outcome: outcome as i32,
        approved_amount: Some(common::Money { currency_code: "SEK".into(), minor_units: amount_kronor * 100 }),
        conditions,
        rationale: "Uppfyller de fem grundkraven".into(),
        ..Default::default()
    };
    socialloans_platform::events::append(&mut tx, "committee", "cases/1", None, &decision).await.unwrap();
    tx.commit().await.unwrap();
    pool.close().await;
}

/// The committee's amendment of `application`'s decision, as the committee
/// service publishes it once confirmed (same outcome; new amount and
/// conditions).
pub async fn committee_amends(db: &Db, application: &str, amount_kronor: i64, conditions: Vec<cm::Condition>) {
    let pool = sqlx::PgPool::connect(&db.service_url("committee")).await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    let amended = cm::DecisionAmended {
        case: "cases/1".into(),
        application: application.into(),
        decision: "cases/1/decisions/2".into(),
        amends: "cases/1/decisions/1".into(),
        outcome: cm::DecisionOutcome::ApproveWithConditions as i32,
        approved_amount: Some(common::Money { currency_code: "SEK".into(), minor_units: amount_kronor * 100 }),
        conditions,
        rationale: "Amends cases/1/decisions/1: rättat belopp och villkor".into(),
        ..Default::default()
    };
    socialloans_platform::events::append(&mut tx, "committee", "cases/1", None, &amended).await.unwrap();
    tx.commit().await.unwrap();
    pool.close().await;
}
