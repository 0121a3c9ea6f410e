//! The applications service over gRPC with real PostgreSQL: the pilots'
//! whole life, who may do what, bad input, retries and races, pagination under
//! inserts, and erasure of personal data. The committee's decisions arrive
//! over its real feed.

use socialloans_contracts::common;
use std::time::Duration;

use e2e::{Db, authorized, channel, flow::wait_for_state, pilots, services, specs, token};
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
        let db = Db::prepared(&specs()).await;
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
        e2e::flow::committee_decides(&self.db, application, outcome, amount_kronor).await;
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
        comments: vec![common::FieldComment { field_path: "title".into(), comment: "Ange även etapp".into() }],
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

fn tag(name: &str, loan_id: &str, kronor: i64) -> pb::TagLoanRequest {
    pb::TagLoanRequest {
        name: name.into(),
        etag: String::new(),
        request_id: rid(),
        loan: Some(pb::LoanTag {
            loan_id: loan_id.into(),
            principal: pilots::sek(kronor),
            disbursement_date: Some(common::Date { year: 2026, month: 12, day: 1 }),
            maturity_date: Some(common::Date { year: 2036, month: 12, day: 1 }),
            ..Default::default()
        }),
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
    let names: Vec<&str> = listed.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, [eidar.name.as_str(), botkyrka.name.as_str()], "newest first");
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
    // A loan finances one application: Eidar's loan cannot also go to Botkyrkabyggen.
    let taken =
        client.tag_loan(staff(tag(&botkyrka.name, "KI-1001", 50_000_000), Role::CoreBanking)).await.unwrap_err();
    let info = taken.get_error_details().error_info().unwrap().clone();
    assert_eq!((taken.code(), info.reason.as_str()), (Code::AlreadyExists, "LOAN_TAGGED_ELSEWHERE"));
    assert_eq!(info.metadata["application"], eidar.name);
    // Loans need their dates, maturity after disbursement; every bad field is named.
    let mut undated = tag(&botkyrka.name, "KI-2001", 400_000_000);
    undated.loan.as_mut().unwrap().disbursement_date = None;
    undated.loan.as_mut().unwrap().maturity_date = Some(common::Date { year: 2026, month: 2, day: 30 });
    let bad = client.tag_loan(staff(undated.clone(), Role::CoreBanking)).await.unwrap_err();
    let fields: Vec<String> =
        bad.get_error_details().bad_request().unwrap().field_violations.iter().map(|v| v.field.clone()).collect();
    assert_eq!(
        (bad.code(), fields),
        (Code::InvalidArgument, vec!["loan.disbursement_date".into(), "loan.maturity_date".into()])
    );
    undated.loan.as_mut().unwrap().disbursement_date = Some(common::Date { year: 2036, month: 12, day: 1 });
    undated.loan.as_mut().unwrap().maturity_date = Some(common::Date { year: 2030, month: 1, day: 1 });
    let backwards = client.tag_loan(staff(undated, Role::CoreBanking)).await.unwrap_err();
    assert_eq!(backwards.get_error_details().bad_request().unwrap().field_violations[0].field, "loan.maturity_date");
    let untouched = client
        .get_application(staff(pb::GetApplicationRequest { name: botkyrka.name.clone() }, Role::Auditor))
        .await
        .unwrap()
        .into_inner()
        .application
        .unwrap();
    assert_eq!(
        (state(&untouched), untouched.loans.len(), &untouched.etag),
        (S::ApprovedWithConditions, 0, &botkyrka.etag),
        "refused tags store nothing"
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
    let personal: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM applications.outbox WHERE position(convert_to('Anna Andersson', 'UTF8') in payload) > 0",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(personal, 0, "events never carry the contact person");
    suite.stop().await;
}

/// Every method, called by every role: refused with PERMISSION_DENIED exactly
/// when the role table says so, otherwise let through to the service.
#[tokio::test]
async fn each_method_refuses_each_role_the_table_does_not_allow() {
    let suite = Suite::start().await;
    let mut client = suite.client.clone();
    let app = create(&mut client, pilots::eidar()).await;
    let name = app.name.clone();
    for role in Role::ALL {
        let org = (role == Role::Borrower).then_some(pilots::EIDAR);
        let call = |method: &str| {
            socialloans_platform::Policy::allowed(
                &applications::policy::POLICY,
                &format!("/{}/{method}", applications::SPEC.grpc_service()),
            )
            .unwrap()
            .contains(&role)
        };
        macro_rules! expect {
            ($method:literal, $call:expr) => {{
                let code = match $call.await {
                    Ok(_) => Code::Ok,
                    Err(status) => status.code(),
                };
                let allowed = call($method);
                assert_eq!(code == Code::PermissionDenied, !allowed, "{} as {role}: {code:?}", $method);
            }};
        }
        macro_rules! r {
            ($m:expr) => {
                as_role($m, role, org)
            };
        }
        expect!("GetApplication", client.get_application(r!(pb::GetApplicationRequest { name: name.clone() })));
        expect!("ListApplications", client.list_applications(r!(pb::ListApplicationsRequest::default())));
        expect!(
            "SubmitApplication",
            client.submit_application(r!(pb::SubmitApplicationRequest {
                name: name.clone(),
                etag: "\"0\"".into(),
                request_id: rid()
            }))
        );
        expect!(
            "StartReview",
            client.start_review(r!(pb::StartReviewRequest {
                name: name.clone(),
                etag: "\"0\"".into(),
                request_id: rid()
            }))
        );
        expect!(
            "RecordCreditAssessment",
            client.record_credit_assessment(r!(pb::RecordCreditAssessmentRequest {
                name: name.clone(),
                ..Default::default()
            }))
        );
        expect!(
            "ReferApplicationToCommittee",
            client.refer_application_to_committee(r!(pb::ReferApplicationToCommitteeRequest {
                name: name.clone(),
                etag: "\"0\"".into(),
                request_id: rid(),
                ..Default::default()
            }))
        );
        expect!(
            "WithdrawApplication",
            client.withdraw_application(r!(pb::WithdrawApplicationRequest {
                name: name.clone(),
                etag: "\"0\"".into(),
                request_id: rid(),
                ..Default::default()
            }))
        );
        expect!("TagLoan", client.tag_loan(r!(tag(&name, "X", 1))));
        expect!(
            "CloseApplication",
            client.close_application(r!(pb::CloseApplicationRequest {
                name: name.clone(),
                request_id: rid(),
                ..Default::default()
            }))
        );
        expect!(
            "EraseContactPerson",
            client.erase_contact_person(r!(pb::EraseContactPersonRequest {
                name: name.clone(),
                request_id: rid(),
                ..Default::default()
            }))
        );
        expect!(
            "ListAuditEntries",
            client.list_audit_entries(r!(pb::ListAuditEntriesRequest { parent: name.clone(), ..Default::default() }))
        );
        expect!("StreamEvents", async {
            client.stream_events(r!(socialloans_contracts::events::StreamEventsRequest::default())).await.map(|_| ())
        });
    }
    suite.stop().await;
}

#[tokio::test]
async fn illegal_transitions_and_other_organisations_are_refused_with_the_right_code() {
    let suite = Suite::start().await;
    let mut client = suite.client.clone();
    let draft = create(&mut client, pilots::eidar()).await;
    let name = draft.name.clone();

    // From DRAFT nothing but edit, submit and withdraw.
    let review = client
        .start_review(staff(
            pb::StartReviewRequest { name: name.clone(), etag: String::new(), request_id: rid() },
            Role::Analyst,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (review.code(), review.get_error_details().error_info().unwrap().reason.as_str()),
        (Code::FailedPrecondition, "ILLEGAL_STATE_TRANSITION")
    );
    let refer = client
        .refer_application_to_committee(staff(
            pb::ReferApplicationToCommitteeRequest { name: name.clone(), request_id: rid(), ..Default::default() },
            Role::Analyst,
        ))
        .await
        .unwrap_err();
    assert_eq!(refer.code(), Code::FailedPrecondition);
    let tagged = client.tag_loan(staff(tag(&name, "KI-1", 1_000), Role::CoreBanking)).await.unwrap_err();
    assert_eq!(tagged.code(), Code::FailedPrecondition);
    let closed = client
        .close_application(staff(
            pb::CloseApplicationRequest {
                name: name.clone(),
                request_id: rid(),
                reason: "Alla lån förfallna".into(),
                ..Default::default()
            },
            Role::CoreBanking,
        ))
        .await
        .unwrap_err();
    assert_eq!(closed.code(), Code::FailedPrecondition);

    // Withdrawn is final: no submit, no edit.
    let withdrawn = client
        .withdraw_application(borrower(
            pb::WithdrawApplicationRequest {
                name: name.clone(),
                request_id: rid(),
                reason: "Annan finansiering".into(),
                ..Default::default()
            },
            pilots::EIDAR,
        ))
        .await
        .unwrap()
        .into_inner()
        .application
        .unwrap();
    assert_eq!(state(&withdrawn), S::Withdrawn);
    assert!(withdrawn.close_time.is_some(), "a withdrawal closes the application");
    let resubmit = client
        .submit_application(borrower(
            pb::SubmitApplicationRequest { name: name.clone(), etag: String::new(), request_id: rid() },
            pilots::EIDAR,
        ))
        .await
        .unwrap_err();
    assert_eq!(resubmit.code(), Code::FailedPrecondition);

    // Another organisation cannot see, change or learn of it: NOT_FOUND, like a name that never existed.
    let stranger = pilots::BOTKYRKABYGGEN;
    let get =
        client.get_application(borrower(pb::GetApplicationRequest { name: name.clone() }, stranger)).await.unwrap_err();
    let missing = client
        .get_application(borrower(
            pb::GetApplicationRequest { name: format!("applications/{}", uuid::Uuid::now_v7()) },
            stranger,
        ))
        .await
        .unwrap_err();
    assert_eq!((get.code(), missing.code()), (Code::NotFound, Code::NotFound));
    let reason = |s: &tonic::Status| s.get_error_details().error_info().unwrap().reason.clone();
    assert_eq!(reason(&get), reason(&missing), "a foreign application looks exactly like a missing one");
    let edit = pb::UpdateApplicationRequest {
        request_id: rid(),
        application: Some(Application { name: name.clone(), title: "kapad".into(), ..Default::default() }),
        update_mask: Some(FieldMask { paths: vec!["title".into()] }),
        etag: withdrawn.etag.clone(),
    };
    assert_eq!(client.update_application(borrower(edit, stranger)).await.unwrap_err().code(), Code::NotFound);
    let history = client
        .list_audit_entries(borrower(
            pb::ListAuditEntriesRequest { parent: name.clone(), ..Default::default() },
            stranger,
        ))
        .await
        .unwrap_err();
    assert_eq!(history.code(), Code::NotFound);
    let listed = client
        .list_applications(borrower(pb::ListApplicationsRequest::default(), stranger))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.applications.is_empty());
    let foreign_create = pb::CreateApplicationRequest { request_id: rid(), application: Some(pilots::eidar()) };
    assert_eq!(
        client.create_application(borrower(foreign_create, stranger)).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    suite.stop().await;
}

async fn count_rows(db: &Db) -> i64 {
    let pool = sqlx::PgPool::connect(&db.admin_url()).await.unwrap();
    let n = sqlx::query_scalar("SELECT count(*) FROM applications.application").fetch_one(&pool).await.unwrap();
    pool.close().await;
    n
}

fn violations(status: &tonic::Status) -> Vec<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_and_nothing_is_stored() {
    let suite = Suite::start().await;
    let mut client = suite.client.clone();
    type Spoil = Box<dyn Fn(&mut Application)>;
    let cases: Vec<(&str, Spoil)> = vec![
        (
            "application.borrower.organization_number",
            Box::new(|a| a.borrower.as_mut().unwrap().organization_number = "556222-2224".into()),
        ),
        (
            "application.borrower.organization_number",
            Box::new(|a| a.borrower.as_mut().unwrap().organization_number = "5562222223".into()),
        ),
        (
            "application.requested_amount.minor_units",
            Box::new(|a| a.requested_amount = Some(common::Money { currency_code: "SEK".into(), minor_units: -1 })),
        ),
        (
            "application.investment.total_amount.minor_units",
            Box::new(|a| {
                a.investment.as_mut().unwrap().total_amount =
                    Some(common::Money { currency_code: "SEK".into(), minor_units: i64::MAX })
            }),
        ),
        ("application.requested_amount", Box::new(|a| a.requested_amount = pilots::sek(500_000_000))),
        ("application.title", Box::new(|a| a.title = "x".repeat(201))),
        ("application.category", Box::new(|a| a.category = 99)),
        ("application.target_groups[0].population", Box::new(|a| a.target_groups[0].population = 77)),
        ("application.sdg_targets[0]", Box::new(|a| a.sdg_targets[0] = "18.1".into())),
        (
            "application.contact_person.email",
            Box::new(|a| a.contact_person.as_mut().unwrap().email = "not an address".into()),
        ),
        (
            "application.requested_amount.currency_code",
            Box::new(|a| a.requested_amount.as_mut().unwrap().currency_code = "EUR".into()),
        ),
        ("application.sdg_targets[1]", Box::new(|a| a.sdg_targets[1] = a.sdg_targets[0].clone())),
        (
            "application.attachments[0].name",
            Box::new(|a| {
                a.attachments = pilots::botkyrkabyggen().attachments;
                a.attachments[0].name = "../etc/passwd".into()
            }),
        ),
        (
            "application.attachments[0].sha256",
            Box::new(|a| {
                a.attachments = pilots::botkyrkabyggen().attachments;
                a.attachments[0].sha256 = a.attachments[0].sha256.to_uppercase()
            }),
        ),
        (
            "application.attachments[0].uri",
            Box::new(|a| {
                a.attachments = pilots::botkyrkabyggen().attachments;
                a.attachments[0].uri.clear()
            }),
        ),
        (
            "application.indicators[1].code",
            Box::new(|a| {
                let twin = a.indicators[0].clone();
                a.indicators.push(twin)
            }),
        ),
        ("application.indicators[0].objective_key", Box::new(|a| a.indicators[0].objective_key = "o9".into())),
        (
            "application.indicators[0].target.value",
            Box::new(|a| {
                a.indicators[0].target.as_mut().unwrap().value = a.indicators[0].baseline.as_ref().unwrap().value
            }),
        ),
        (
            "application.indicators[0].target.date",
            Box::new(|a| {
                a.indicators[0].target.as_mut().unwrap().date = Some(common::Date { year: 2019, month: 1, day: 1 })
            }),
        ),
        (
            "application.investment.schedule.completion_date",
            Box::new(|a| {
                a.investment.as_mut().unwrap().schedule.as_mut().unwrap().completion_date =
                    Some(common::Date { year: 2017, month: 1, day: 1 })
            }),
        ),
    ];
    for (field, spoil) in cases {
        let mut app = pilots::eidar();
        spoil(&mut app);
        let org = pilots::EIDAR;
        let err = client
            .create_application(borrower(
                pb::CreateApplicationRequest { request_id: rid(), application: Some(app) },
                org,
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{field}: {err:?}");
        assert!(violations(&err).iter().any(|v| v == field), "{field} not named in {:?}", violations(&err));
    }
    let err = client
        .create_application(borrower(
            pb::CreateApplicationRequest { request_id: "not-a-uuid".into(), application: Some(pilots::eidar()) },
            pilots::EIDAR,
        ))
        .await
        .unwrap_err();
    assert_eq!(violations(&err), ["request_id"]);
    assert_eq!(count_rows(&suite.db).await, 0, "no bad request stored anything");

    // Submitting an incomplete draft names every gap at once.
    let mut thin = pilots::eidar();
    thin.target_groups.clear();
    thin.indicators[0].level = common::IndicatorLevel::Output as i32;
    thin.indicators[0].method.clear();
    thin.requirement_statements = None;
    let draft = create(&mut client, thin).await;
    let err = client
        .submit_application(borrower(
            pb::SubmitApplicationRequest { name: draft.name.clone(), etag: draft.etag.clone(), request_id: rid() },
            pilots::EIDAR,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.get_error_details().error_info().unwrap().reason.as_str()),
        (Code::FailedPrecondition, "APPLICATION_INCOMPLETE")
    );
    let missing = violations(&err);
    for field in [
        "application.target_groups",
        "application.indicators",
        "application.indicators[0]",
        "application.requirement_statements.systematic_work",
    ] {
        assert!(missing.iter().any(|m| m == field), "{field} not in {missing:?}");
    }
    let descriptions = err.get_error_details().bad_request().unwrap().field_violations.clone();
    assert!(
        descriptions.iter().any(|v| v.field == "application.indicators" && v.description.contains("OUTCOME")),
        "an evaluation plan needs an outcome indicator: {descriptions:?}"
    );
    assert!(
        descriptions.iter().any(|v| v.field == "application.indicators[0]" && v.description.contains("method")),
        "an incomplete indicator names what it lacks: {descriptions:?}"
    );
    let unchanged = client
        .get_application(staff(pb::GetApplicationRequest { name: draft.name.clone() }, Role::Analyst))
        .await
        .unwrap()
        .into_inner()
        .application
        .unwrap();
    assert_eq!((state(&unchanged), unchanged.etag), (S::Draft, draft.etag));
    suite.stop().await;
}

#[tokio::test]
async fn retries_give_one_effect_and_concurrent_edits_one_winner() {
    let suite = Suite::start().await;
    let client = suite.client.clone();
    let request_id = rid();
    let create = |request_id: String| {
        let mut client = client.clone();
        async move {
            let request = pb::CreateApplicationRequest { request_id, application: Some(pilots::eidar()) };
            client
                .create_application(borrower(request, pilots::EIDAR))
                .await
                .map(|r| r.into_inner().application.unwrap().name)
        }
    };
    let attempts: Vec<_> = (0..6).map(|_| tokio::spawn(create(request_id.clone()))).collect();
    let mut names = Vec::new();
    for attempt in attempts {
        names.push(attempt.await.unwrap().expect("a retry succeeds"));
    }
    names.dedup();
    assert_eq!(names.len(), 1, "six concurrent retries, one application");
    assert_eq!(count_rows(&suite.db).await, 1);

    let mut changed = pilots::eidar();
    changed.title = "Något annat".into();
    let reused = pb::CreateApplicationRequest { request_id: request_id.clone(), application: Some(changed) };
    let err = client.clone().create_application(borrower(reused, pilots::EIDAR)).await.unwrap_err();
    assert_eq!(
        (err.code(), err.get_error_details().error_info().unwrap().reason.as_str()),
        (Code::InvalidArgument, "REQUEST_ID_REUSED")
    );

    let name = names.remove(0);
    let current = client
        .clone()
        .get_application(staff(pb::GetApplicationRequest { name: name.clone() }, Role::Analyst))
        .await
        .unwrap()
        .into_inner()
        .application
        .unwrap();
    let edits: Vec<_> = (0..5)
        .map(|i| {
            let mut client = client.clone();
            let edit = pb::UpdateApplicationRequest {
                request_id: rid(),
                application: Some(Application {
                    name: name.clone(),
                    title: format!("Version {i}"),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask { paths: vec!["title".into()] }),
                etag: current.etag.clone(),
            };
            tokio::spawn(
                async move { client.update_application(borrower(edit, pilots::EIDAR)).await.map_err(|s| s.code()) },
            )
        })
        .collect();
    let mut outcomes = Vec::new();
    for edit in edits {
        outcomes.push(edit.await.unwrap().map(|_| ()));
    }
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1, "{outcomes:?}");
    assert!(outcomes.iter().filter(|o| o.is_err()).all(|o| *o == Err(Code::Aborted)), "{outcomes:?}");
    suite.stop().await;
}

#[tokio::test]
async fn a_paged_walk_sees_every_application_once_while_new_ones_arrive() {
    let suite = Suite::start().await;
    let mut client = suite.client.clone();
    let mut before = std::collections::BTreeSet::new();
    for _ in 0..30 {
        before.insert(create(&mut client, pilots::eidar()).await.name);
    }
    let writer = {
        let mut client = client.clone();
        tokio::spawn(async move {
            for _ in 0..20 {
                create(&mut client, pilots::eidar()).await;
            }
        })
    };
    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let request =
            pb::ListApplicationsRequest { page_size: 7, page_token: page_token.clone(), ..Default::default() };
        let page = client.list_applications(staff(request, Role::Analyst)).await.unwrap().into_inner();
        seen.extend(page.applications.into_iter().map(|a| a.name));
        tokio::time::sleep(Duration::from_millis(20)).await;
        page_token = page.next_page_token;
        if page_token.is_empty() {
            break;
        }
    }
    writer.await.unwrap();
    let unique: std::collections::BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no application twice");
    assert!(before.is_subset(&unique), "every application that existed is seen");
    suite.stop().await;
}

#[tokio::test]
async fn erasing_the_contact_person_keeps_the_application_and_its_history() {
    let suite = Suite::start().await;
    let mut client = suite.client.clone();
    let app = create(&mut client, pilots::botkyrkabyggen()).await;
    assert_eq!(app.contact_person.as_ref().unwrap().name, "Anna Andersson");
    let erase = pb::EraseContactPersonRequest {
        name: app.name.clone(),
        request_id: rid(),
        reason: "Begäran enligt GDPR art. 17".into(),
    };
    let erased =
        client.erase_contact_person(staff(erase, Role::Analyst)).await.unwrap().into_inner().application.unwrap();
    let person = erased.contact_person.unwrap();
    assert!(person.erased && person.name.is_empty() && person.email.is_empty() && person.erase_time.is_some());
    assert_eq!(
        (erased.title, erased.requested_amount, erased.state),
        (app.title.clone(), app.requested_amount.clone(), app.state)
    );

    // Erased data is never entered again, and its absence blocks nothing.
    let again = pb::UpdateApplicationRequest {
        request_id: rid(),
        application: Some(Application {
            name: app.name.clone(),
            contact_person: Some(pb::ContactPerson { name: "Anna Andersson".into(), ..Default::default() }),
            ..Default::default()
        }),
        update_mask: Some(FieldMask { paths: vec!["contact_person".into()] }),
        etag: erased.etag.clone(),
    };
    let refused = client.update_application(borrower(again, pilots::BOTKYRKABYGGEN)).await.unwrap_err();
    assert_eq!(
        (refused.code(), refused.get_error_details().bad_request().unwrap().field_violations[0].field.as_str()),
        (Code::InvalidArgument, "application.contact_person")
    );
    let unmark = pb::UpdateApplicationRequest {
        request_id: rid(),
        application: Some(Application {
            name: app.name.clone(),
            contact_person: Some(pb::ContactPerson { erased: false, ..Default::default() }),
            ..Default::default()
        }),
        update_mask: Some(FieldMask { paths: vec!["contact_person".into()] }),
        etag: erased.etag.clone(),
    };
    let still = client
        .update_application(borrower(unmark, pilots::BOTKYRKABYGGEN))
        .await
        .unwrap()
        .into_inner()
        .application
        .unwrap();
    assert!(still.contact_person.unwrap().erased, "a client cannot take the erasure back");
    let submit = pb::SubmitApplicationRequest { name: app.name.clone(), etag: String::new(), request_id: rid() };
    let submitted = client
        .submit_application(borrower(submit, pilots::BOTKYRKABYGGEN))
        .await
        .unwrap()
        .into_inner()
        .application
        .unwrap();
    assert_eq!(state(&submitted), S::Submitted, "an erased contact person does not make the application incomplete");

    // A new draft cannot claim an erasure that never happened.
    let mut forged = pilots::eidar();
    forged.contact_person.as_mut().unwrap().erased = true;
    let created = create(&mut client, forged).await;
    assert!(!created.contact_person.unwrap().erased);

    let history = pb::ListAuditEntriesRequest { parent: app.name.clone(), ..Default::default() };
    let entries = client.list_audit_entries(staff(history, Role::Auditor)).await.unwrap().into_inner().audit_entries;
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["CREATE", "ERASE_CONTACT_PERSON", "SUBMIT"]);

    let pool = sqlx::PgPool::connect(&suite.db.admin_url()).await.unwrap();
    let traces: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM applications.application
                  WHERE position(convert_to('Anna', 'UTF8') in contact_person) > 0
                     OR position(convert_to('Anna', 'UTF8') in content) > 0)
              + (SELECT count(*) FROM applications.application_history WHERE comment LIKE '%Anna%')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(traces, 0, "the contact person's data is gone from storage");
    let tampered = sqlx::query("DELETE FROM applications.application_history").execute(&pool).await.unwrap_err();
    assert!(tampered.to_string().contains("append-only"), "{tampered}");
    suite.stop().await;
}

#[tokio::test]
async fn lists_filter_by_state_category_borrower_and_submission_date() {
    let suite = Suite::start().await;
    let mut client = suite.client.clone();
    let housing = create(&mut client, pilots::botkyrkabyggen()).await;
    let safety = create(&mut client, pilots::eidar()).await;
    let before_submission = prost_types::Timestamp { seconds: housing.create_time.unwrap().seconds - 1, nanos: 0 };
    let submit =
        pb::SubmitApplicationRequest { name: safety.name.clone(), etag: safety.etag.clone(), request_id: rid() };
    client.submit_application(borrower(submit, pilots::EIDAR)).await.unwrap();

    let names = |apps: Vec<Application>| apps.into_iter().map(|a| a.name).collect::<Vec<_>>();
    let list = |request: pb::ListApplicationsRequest| {
        let mut client = client.clone();
        async move { client.list_applications(staff(request, Role::Analyst)).await.unwrap().into_inner().applications }
    };
    let by_category = pb::ListApplicationsRequest {
        category: common::Category::HousingAndResidentialEnvironments as i32,
        ..Default::default()
    };
    assert_eq!(names(list(by_category).await), vec![housing.name.clone()]);
    let by_state = pb::ListApplicationsRequest { state: S::Submitted as i32, ..Default::default() };
    assert_eq!(names(list(by_state).await), vec![safety.name.clone()]);
    let by_borrower =
        pb::ListApplicationsRequest { organization_number: pilots::BOTKYRKABYGGEN.into(), ..Default::default() };
    assert_eq!(names(list(by_borrower).await), vec![housing.name.clone()]);
    let submitted_since =
        pb::ListApplicationsRequest { submitted_after: Some(before_submission), ..Default::default() };
    assert_eq!(names(list(submitted_since).await), vec![safety.name.clone()], "a draft was never submitted");
    let far_future = prost_types::Timestamp { seconds: 4_102_444_800, nanos: 0 };
    let submitted_later = pb::ListApplicationsRequest { submitted_after: Some(far_future), ..Default::default() };
    assert!(list(submitted_later).await.is_empty());
    let bad = pb::ListApplicationsRequest { states: vec![42], category: 17, ..Default::default() };
    let err = client.list_applications(staff(bad, Role::Analyst)).await.unwrap_err();
    assert_eq!(violations(&err), ["states[0]", "category"]);
    suite.stop().await;
}

#[tokio::test]
async fn an_application_under_review_or_referred_goes_back_for_completion_once() {
    let suite = Suite::start().await;
    let client = &mut suite.client.clone();
    let org = pilots::EIDAR;
    let draft = create(client, pilots::eidar()).await;
    let name = draft.name.clone();
    let submit = pb::SubmitApplicationRequest { name: name.clone(), etag: String::new(), request_id: rid() };
    client.submit_application(borrower(submit, org)).await.unwrap();
    let review = pb::StartReviewRequest { name: name.clone(), etag: String::new(), request_id: rid() };
    client.start_review(staff(review, Role::Analyst)).await.unwrap();
    let credit = pb::RecordCreditAssessmentRequest {
        name: name.clone(),
        request_id: rid(),
        credit_assessment: Some(pb::CreditAssessment {
            outcome: pb::CreditAssessmentOutcome::Approved as i32,
            credit_limit: pilots::sek(80_000_000),
            ..Default::default()
        }),
        ..Default::default()
    };
    client.record_credit_assessment(staff(credit, Role::CreditAnalyst)).await.unwrap();
    let back = |name: &str| pb::ReturnApplicationForCompletionRequest {
        name: name.into(),
        request_id: rid(),
        comments: vec![common::FieldComment { field_path: "title".into(), comment: "Ange etapp".into() }],
        message: "Komplettera under granskningen".into(),
        ..Default::default()
    };
    // Under review: back to the borrower, the credit assessment kept.
    let returned =
        client.return_application_for_completion(staff(back(&name), Role::Analyst)).await.unwrap().into_inner();
    let returned = returned.application.unwrap();
    assert_eq!(state(&returned), S::ReturnedForCompletion);
    assert!(returned.credit_assessment.is_some(), "the credit review stays recorded");
    let resubmit = pb::SubmitApplicationRequest { name: name.clone(), etag: String::new(), request_id: rid() };
    let again = client.submit_application(borrower(resubmit, org)).await.unwrap().into_inner().application.unwrap();
    assert_eq!((state(&again), again.submission_count), (S::Submitted, 2));
    // Referred, its case on no agenda yet: returned as well (tests/tests/returns.rs
    // follows the committee's side); once returned, not again.
    let referred = e2e::flow::refer(client, pilots::botkyrkabyggen()).await;
    let returned = client.return_application_for_completion(staff(back(&referred), Role::Analyst)).await.unwrap();
    assert_eq!(state(&returned.into_inner().application.unwrap()), S::ReturnedForCompletion);
    let refused = client.return_application_for_completion(staff(back(&referred), Role::Analyst)).await.unwrap_err();
    let reason = refused.get_error_details().error_info().unwrap().reason.clone();
    assert_eq!((refused.code(), reason.as_str()), (Code::FailedPrecondition, "ILLEGAL_STATE_TRANSITION"));
    suite.stop().await;
}
