//! The applications service over gRPC with real PostgreSQL: the pilots'
//! whole life, who may do what, bad input, retries and races, pagination under
//! inserts, and erasure of personal data. The committee's decisions arrive
//! over its real feed.

use std::time::Duration;

use e2e::{Db, authorized, channel, pilots, services, specs, token};
use prost_types::FieldMask;
use socialloans_contracts::{
    applications::{
        self as pb, Application, ApplicationState as S, applications_service_client::ApplicationsServiceClient,
    },
    committee as cm,
};
use socialloans_platform::{Role, Running};
use tonic::{Code, transport::Channel};
use tonic_types::StatusExt;

type Client = ApplicationsServiceClient<Channel>;

struct Suite {
    db: Db,
    apps: Running,
    committee: Running,
    client: Client,
}

impl Suite {
    async fn start() -> Suite {
        let db = Db::start();
        db.prepare(&specs()).await;
        let fast = [("OUTBOX_POLL_MS", "200"), ("FEED_HEARTBEAT_MS", "300")];
        let committee = db.serve(services()[1], &fast).await;
        let feed = format!("http://{}", committee.grpc_addr);
        let apps = db.serve(services()[0], &[fast[0], fast[1], ("COMMITTEE_FEED_URL", &feed)]).await;
        let client = ApplicationsServiceClient::new(channel(apps.grpc_addr).await);
        Suite { db, apps, committee, client }
    }

    async fn stop(self) {
        self.apps.stop().await.unwrap();
        self.committee.stop().await.unwrap();
    }

    /// The committee confirms a decision, as its service would: an event in its outbox.
    async fn committee_decides(&self, application: &str, outcome: cm::DecisionOutcome, amount_kronor: i64) {
        let pool = sqlx::PgPool::connect(&self.db.service_url("committee")).await.unwrap();
        let mut tx = pool.begin().await.unwrap();
        let decision = cm::DecisionConfirmed {
            case: "cases/1".into(),
            application: application.into(),
            decision: "cases/1/decisions/1".into(),
            meeting: "meetings/2026-q4".into(),
            outcome: outcome as i32,
            approved_amount: Some(cm::Money { currency_code: "SEK".into(), minor_units: amount_kronor * 100 }),
            conditions: vec![cm::Condition {
                id: "c1".into(),
                kind: cm::ConditionKind::Reporting as i32,
                description: "Rapportera kvarboende årligen".into(),
                due_date: Some(cm::Date { year: 2027, month: 3, day: 31 }),
            }],
            rationale: "Uppfyller de fem grundkraven".into(),
            ..Default::default()
        };
        socialloans_platform::events::append(&mut tx, "committee", "cases/1", &decision).await.unwrap();
        tx.commit().await.unwrap();
        pool.close().await;
    }
}

fn rid() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn as_role<T>(message: T, role: Role, org: Option<&str>) -> tonic::Request<T> {
    authorized(message, &token(&[role], org))
}

fn borrower<T>(message: T, org: &str) -> tonic::Request<T> {
    as_role(message, Role::Borrower, Some(org))
}

fn staff<T>(message: T, role: Role) -> tonic::Request<T> {
    as_role(message, role, None)
}

async fn create(client: &mut Client, application: Application) -> Application {
    let org = application.borrower.as_ref().unwrap().organization_number.clone();
    let request = pb::CreateApplicationRequest { request_id: rid(), application: Some(application) };
    client.create_application(borrower(request, &org)).await.unwrap().into_inner().application.unwrap()
}

fn state(app: &Application) -> S {
    S::try_from(app.state).unwrap()
}

/// Drafts, submits, is returned, completes, resubmits, is reviewed, credit-approved and referred.
async fn bring_to_committee(client: &mut Client, pilot: Application) -> Application {
    let org = pilot.borrower.as_ref().unwrap().organization_number.clone();
    let draft = create(client, pilot).await;
    assert_eq!(state(&draft), S::Draft);
    let name = draft.name.clone();
    let submit = |etag: String| pb::SubmitApplicationRequest { name: name.clone(), etag, request_id: rid() };
    let app =
        client.submit_application(borrower(submit(draft.etag), &org)).await.unwrap().into_inner().application.unwrap();
    assert_eq!(state(&app), S::Submitted);
    let back = pb::ReturnApplicationForCompletionRequest {
        name: name.clone(),
        etag: app.etag,
        request_id: rid(),
        comments: vec![pb::FieldComment { field_path: "title".into(), comment: "Ange även etapp".into() }],
        message: "Komplettera titeln".into(),
    };
    let app = client
        .return_application_for_completion(staff(back, Role::Analyst))
        .await
        .unwrap()
        .into_inner()
        .application
        .unwrap();
    assert_eq!(state(&app), S::ReturnedForCompletion);
    assert_eq!(app.completion_comments.len(), 1);
    let edit = pb::UpdateApplicationRequest {
        request_id: rid(),
        application: Some(Application {
            name: name.clone(),
            title: format!("{} (etapp 1)", app.title),
            ..Default::default()
        }),
        update_mask: Some(FieldMask { paths: vec!["title".into()] }),
        etag: app.etag,
    };
    let app = client.update_application(borrower(edit, &org)).await.unwrap().into_inner().application.unwrap();
    assert!(app.title.ends_with("(etapp 1)"));
    let app =
        client.submit_application(borrower(submit(app.etag), &org)).await.unwrap().into_inner().application.unwrap();
    assert_eq!((state(&app), app.submission_count), (S::Submitted, 2));
    let review = pb::StartReviewRequest { name: name.clone(), etag: app.etag, request_id: rid() };
    let app = client.start_review(staff(review, Role::Analyst)).await.unwrap().into_inner().application.unwrap();
    let credit = pb::RecordCreditAssessmentRequest {
        name: name.clone(),
        etag: app.etag,
        request_id: rid(),
        credit_assessment: Some(pb::CreditAssessment {
            outcome: pb::CreditAssessmentOutcome::Approved as i32,
            credit_limit: app.requested_amount.clone(),
            summary: "Ordinarie kreditprövning utan anmärkning".into(),
            ..Default::default()
        }),
    };
    let app = client
        .record_credit_assessment(staff(credit, Role::CreditAnalyst))
        .await
        .unwrap()
        .into_inner()
        .application
        .unwrap();
    let refer = pb::ReferApplicationToCommitteeRequest {
        name: name.clone(),
        etag: app.etag,
        request_id: rid(),
        referral_note: "Komplett".into(),
    };
    let app = client
        .refer_application_to_committee(staff(refer, Role::Analyst))
        .await
        .unwrap()
        .into_inner()
        .application
        .unwrap();
    assert_eq!(state(&app), S::ReferredToCommittee);
    app
}

async fn wait_for_state(client: &mut Client, name: &str, want: S) -> Application {
    for _ in 0..200 {
        let got = client
            .get_application(staff(pb::GetApplicationRequest { name: name.into() }, Role::Analyst))
            .await
            .unwrap()
            .into_inner()
            .application
            .unwrap();
        if state(&got) == want {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{name} never reached {want:?}");
}

fn tag(name: &str, loan_id: &str, kronor: i64) -> pb::TagLoanRequest {
    pb::TagLoanRequest {
        name: name.into(),
        etag: String::new(),
        request_id: rid(),
        loan: Some(pb::LoanTag { loan_id: loan_id.into(), principal: pilots::sek(kronor), ..Default::default() }),
    }
}

#[tokio::test]
async fn the_pilot_applications_go_from_draft_to_active_with_their_history() {
    let suite = Suite::start().await;
    let client = &mut suite.client.clone();
    let botkyrka = bring_to_committee(client, pilots::botkyrkabyggen()).await;
    let eidar = bring_to_committee(client, pilots::eidar()).await;

    suite.committee_decides(&botkyrka.name, cm::DecisionOutcome::ApproveWithConditions, 400_000_000).await;
    suite.committee_decides(&eidar.name, cm::DecisionOutcome::Approve, 75_000_000).await;
    let botkyrka = wait_for_state(client, &botkyrka.name, S::ApprovedWithConditions).await;
    let eidar = wait_for_state(client, &eidar.name, S::Approved).await;
    assert_eq!(botkyrka.conditions.len(), 1);
    assert_eq!(eidar.approved_amount.as_ref().unwrap().minor_units, 75_000_000 * 100);
    assert_eq!(eidar.pricing_discount_bps, applications::DEFAULT_DISCOUNT_BPS as i32);

    // Core banking lists what is approved, with amount, conditions and discount.
    let approved = pb::ListApplicationsRequest {
        states: vec![S::Approved as i32, S::ApprovedWithConditions as i32, S::Active as i32],
        ..Default::default()
    };
    let listed = client.list_applications(staff(approved, Role::CoreBanking)).await.unwrap().into_inner().applications;
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|a| a.approved_amount.is_some() && a.pricing_discount_bps > 0));
    assert!(listed.iter().all(|a| a.contact_person.is_none()), "core banking gets no personal data");

    // Loans: tagging the same loan twice is harmless; the approved amount is a ceiling.
    let first =
        client.tag_loan(staff(tag(&eidar.name, "KI-1001", 50_000_000), Role::CoreBanking)).await.unwrap().into_inner();
    let again =
        client.tag_loan(staff(tag(&eidar.name, "KI-1001", 50_000_000), Role::CoreBanking)).await.unwrap().into_inner();
    assert_eq!(state(first.application.as_ref().unwrap()), S::Active);
    assert_eq!(again.application.unwrap().loans.len(), 1);
    let over = client.tag_loan(staff(tag(&eidar.name, "KI-1002", 30_000_000), Role::CoreBanking)).await.unwrap_err();
    assert_eq!(
        (over.code(), over.get_error_details().error_info().unwrap().reason.as_str()),
        (Code::FailedPrecondition, "LOAN_EXCEEDS_APPROVED_AMOUNT")
    );
    client.tag_loan(staff(tag(&botkyrka.name, "KI-2001", 400_000_000), Role::CoreBanking)).await.unwrap();
    let active = wait_for_state(client, &botkyrka.name, S::Active).await;
    assert_eq!(active.loans.len(), 1);

    // The history, oldest first, as the borrower reads it.
    let history = pb::ListAuditEntriesRequest { parent: botkyrka.name.clone(), ..Default::default() };
    let entries =
        client.list_audit_entries(borrower(history, pilots::BOTKYRKABYGGEN)).await.unwrap().into_inner().audit_entries;
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "CREATE",
            "SUBMIT",
            "RETURN_FOR_COMPLETION",
            "EDIT",
            "SUBMIT",
            "START_REVIEW",
            "RECORD_CREDIT_ASSESSMENT",
            "REFER_TO_COMMITTEE",
            "APPLY_COMMITTEE_DECISION",
            "TAG_LOAN"
        ]
    );
    let roles: Vec<&str> = entries.iter().map(|e| e.actor.as_ref().unwrap().role.as_str()).collect();
    assert_eq!(&roles[..3], ["borrower", "borrower", "analyst"]);
    assert_eq!(entries[3].changed_fields, ["title"]);

    // The feed carries the life cycle, and the referral carries the frozen content without personal data.
    let pool = sqlx::PgPool::connect(&suite.db.admin_url()).await.unwrap();
    let types: Vec<String> = sqlx::query_scalar("SELECT DISTINCT event_type FROM applications.outbox ORDER BY 1")
        .fetch_all(&pool)
        .await
        .unwrap();
    for expected in ["ApplicationSubmitted", "ApplicationReferredToCommittee", "ApplicationApproved", "LoanTagged"] {
        assert!(types.contains(&format!("socialloans.applications.v1.{expected}")), "{expected} not in {types:?}");
    }
    let personal: i64 = sqlx::query_scalar("SELECT count(*) FROM applications.outbox WHERE position(convert_to('Anna Andersson', 'UTF8') in payload) > 0")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(personal, 0, "events never carry the contact person");
    suite.stop().await;
}
