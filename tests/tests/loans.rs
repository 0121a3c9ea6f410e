//! A loan's life after tagging (issue 18, items 1–3), over gRPC with real
//! PostgreSQL: amortisation, maturity, refinancing within the approved amount,
//! early redemption, a tag cancelled with four eyes, GetLoan and ListLoans
//! with their confinement, the cap counting what is outstanding, and the
//! credit limit bounding the referral and the tags. Each rule is also tried
//! from the edge: replays, wrong roles, other organisations, bad input.

use e2e::{
    Db, authorized,
    flow::{as_borrower, committee_decides_with, refer, rid, staff, staff_as, wait_for_state},
    pilots, services, specs, token,
};
use socialloans_contracts::{
    applications::{
        self as pb, ApplicationState as S, LoanState, applications_service_client::ApplicationsServiceClient,
        record_loan_event_request::Event,
    },
    committee as cm, common,
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
        let committee = db.serve(services()[1], &[("OUTBOX_POLL_MS", "100")]).await;
        let apps = Self::serve_apps(&db, &committee).await;
        let client = ApplicationsServiceClient::new(e2e::channel(apps.grpc_addr).await);
        Suite { db, apps, committee, client }
    }

    async fn serve_apps(db: &Db, committee: &Running) -> Running {
        let feed = format!("http://{}", committee.grpc_addr);
        db.serve(services()[0], &[("OUTBOX_POLL_MS", "100"), ("COMMITTEE_FEED_URL", &feed)]).await
    }

    async fn stop(self) {
        self.apps.stop().await.unwrap();
        self.committee.stop().await.unwrap();
    }

    /// `pilot` referred and approved for `kronor`, without conditions; its name.
    async fn approved(&self, pilot: pb::Application, kronor: i64) -> String {
        let client = &mut self.client.clone();
        let name = refer(client, pilot).await;
        committee_decides_with(&self.db, &name, cm::DecisionOutcome::Approve, kronor, vec![]).await;
        wait_for_state(client, &name, S::Approved).await;
        name
    }
}

fn date(year: i32, month: i32, day: i32) -> Option<common::Date> {
    Some(common::Date { year, month, day })
}

fn tag(name: &str, loan_id: &str, kronor: i64, refinances: &str) -> pb::TagLoanRequest {
    pb::TagLoanRequest {
        name: name.into(),
        etag: String::new(),
        request_id: rid(),
        loan: Some(pb::LoanTag {
            loan_id: loan_id.into(),
            principal: pilots::sek(kronor),
            disbursement_date: date(2026, 12, 1),
            maturity_date: date(2031, 12, 1),
            refinances_loan_id: refinances.into(),
            ..Default::default()
        }),
    }
}

fn loan_event(name: &str, loan_id: &str, event: Event) -> pb::RecordLoanEventRequest {
    pb::RecordLoanEventRequest {
        name: name.into(),
        etag: String::new(),
        request_id: rid(),
        loan_id: loan_id.into(),
        event: Some(event),
    }
}

fn amortised(kronor: i64, on: Option<common::Date>) -> Event {
    Event::Amortisation(pb::LoanAmortisation { outstanding_principal: pilots::sek(kronor), date: on })
}

fn core<T>(message: T) -> tonic::Request<T> {
    staff(message, Role::CoreBanking)
}

fn loan<'a>(app: &'a pb::Application, loan_id: &str) -> &'a pb::LoanTag {
    app.loans.iter().find(|l| l.loan_id == loan_id).unwrap_or_else(|| panic!("{loan_id} not on {}", app.name))
}

fn kronor(money: &Option<common::Money>) -> i64 {
    money.as_ref().map_or(0, |m| m.minor_units / 100)
}

fn reason_of(status: &tonic::Status) -> (Code, String) {
    (status.code(), status.get_error_details().error_info().map(|i| i.reason.clone()).unwrap_or_default())
}

#[tokio::test]
async fn a_loan_is_amortised_and_refinanced_at_maturity_within_the_approved_amount() {
    let suite = Suite::start().await;
    let client = &mut suite.client.clone();
    let botkyrka = suite.approved(pilots::botkyrkabyggen(), 400_000_000).await;

    let first = client.tag_loan(core(tag(&botkyrka, "BB-1", 400_000_000, ""))).await.unwrap().into_inner();
    let app = first.application.unwrap();
    assert_eq!((app.state, loan(&app, "BB-1").state), (S::Active as i32, LoanState::Active as i32));
    assert_eq!(kronor(&loan(&app, "BB-1").outstanding_principal), 400_000_000, "outstanding starts at the principal");

    // Amortised to 380 MSEK; the same report again (a new request id) changes nothing.
    let report = loan_event(&botkyrka, "BB-1", amortised(380_000_000, date(2027, 12, 1)));
    let after = client.record_loan_event(core(report.clone())).await.unwrap().into_inner().application.unwrap();
    assert_eq!(kronor(&loan(&after, "BB-1").outstanding_principal), 380_000_000);
    let again = pb::RecordLoanEventRequest { request_id: rid(), ..report.clone() };
    let same = client.record_loan_event(core(again)).await.unwrap().into_inner().application.unwrap();
    assert_eq!(same.etag, after.etag, "a repeated amortisation is harmless");
    // A replay of the same request id answers the first answer, even after a later change.
    let replay = client.record_loan_event(core(report)).await.unwrap().into_inner().application.unwrap();
    assert_eq!(replay.etag, after.etag);

    // While BB-1 owes 380 MSEK, a new loan of 20 MSEK fits; one more krona does not.
    client.tag_loan(core(tag(&botkyrka, "BB-2", 20_000_000, ""))).await.unwrap();
    let over = client.tag_loan(core(tag(&botkyrka, "BB-3", 1, ""))).await.unwrap_err();
    assert_eq!(reason_of(&over), (Code::FailedPrecondition, "LOAN_EXCEEDS_APPROVED_AMOUNT".into()));

    // At maturity BB-1 is rolled over into BB-4 for what it still owed: the
    // cap counts what is outstanding, so the refinancing fits although the
    // principals ever tagged (800 MSEK) are twice the approved amount.
    let rollover = tag(&botkyrka, "BB-4", 380_000_000, "BB-1");
    let app = client.tag_loan(core(rollover)).await.unwrap().into_inner().application.unwrap();
    let old = loan(&app, "BB-1");
    assert_eq!(
        (old.state, old.refinanced_by_loan_id.as_str(), kronor(&old.outstanding_principal)),
        (LoanState::Refinanced as i32, "BB-4", 0)
    );
    assert_eq!(app.loans.len(), 3, "the history keeps every loan");
    // A refinanced loan changes no more, and is not refinanced twice.
    let matured = loan_event(&botkyrka, "BB-1", Event::Maturity(pb::LoanMaturity { date: date(2031, 12, 1) }));
    let late = client.record_loan_event(core(matured)).await.unwrap_err();
    assert_eq!(reason_of(&late), (Code::FailedPrecondition, "LOAN_NOT_ACTIVE".into()));
    let twice = client.tag_loan(core(tag(&botkyrka, "BB-5", 1, "BB-1"))).await.unwrap_err();
    assert_eq!(reason_of(&twice), (Code::FailedPrecondition, "LOAN_NOT_REFINANCEABLE".into()));
    let elsewhere = client.tag_loan(core(tag(&botkyrka, "BB-5", 1, "NOT-HERE"))).await.unwrap_err();
    assert_eq!(reason_of(&elsewhere), (Code::FailedPrecondition, "LOAN_NOT_REFINANCEABLE".into()));

    // BB-2 is redeemed early; then it matures no more.
    let redeemed = Event::EarlyRedemption(pb::LoanEarlyRedemption { date: date(2028, 6, 30) });
    let app = client.record_loan_event(core(loan_event(&botkyrka, "BB-2", redeemed))).await.unwrap();
    let app = app.into_inner().application.unwrap();
    assert_eq!(loan(&app, "BB-2").state, LoanState::Redeemed as i32);

    // The history names each step.
    let history = pb::ListAuditEntriesRequest { parent: botkyrka.clone(), ..Default::default() };
    let entries = client.list_audit_entries(staff(history, Role::Auditor)).await.unwrap().into_inner().audit_entries;
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).skip_while(|a| *a != "TAG_LOAN").collect();
    assert_eq!(actions, ["TAG_LOAN", "AMORTISE_LOAN", "TAG_LOAN", "TAG_LOAN", "REDEEM_LOAN"]);

    // Each change published its event, in order, in the service's outbox.
    let pool = sqlx::PgPool::connect(&suite.db.admin_url()).await.unwrap();
    let types: Vec<String> = sqlx::query_scalar(
        "SELECT event_type FROM applications.outbox WHERE event_type LIKE '%Loan%' ORDER BY recorded",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let short: Vec<&str> = types.iter().map(|t| t.rsplit('.').next().unwrap()).collect();
    assert_eq!(short, ["LoanTagged", "LoanUpdated", "LoanTagged", "LoanTagged", "LoanUpdated", "LoanUpdated"]);
    suite.stop().await;
}

#[tokio::test]
async fn loan_reports_from_the_edge_are_refused_and_store_nothing() {
    let suite = Suite::start().await;
    let client = &mut suite.client.clone();
    let eidar = suite.approved(pilots::eidar(), 75_000_000).await;
    let app = client.tag_loan(core(tag(&eidar, "EI-1", 50_000_000, ""))).await.unwrap().into_inner();
    let etag = app.application.unwrap().etag;

    let cases: Vec<(pb::RecordLoanEventRequest, Code, &str)> = vec![
        // An amortisation never raises what is owed.
        (
            loan_event(&eidar, "EI-1", amortised(50_000_001, date(2027, 1, 1))),
            Code::FailedPrecondition,
            "OUTSTANDING_PRINCIPAL_INCREASED",
        ),
        // Nothing happens to a loan before it is disbursed.
        (
            loan_event(&eidar, "EI-1", amortised(1, date(2026, 11, 30))),
            Code::FailedPrecondition,
            "LOAN_DATE_BEFORE_DISBURSEMENT",
        ),
        // Another application's loan, or none, is not found on this one.
        (loan_event(&eidar, "EI-404", amortised(1, date(2027, 1, 1))), Code::NotFound, "LOAN_NOT_FOUND"),
    ];
    for (request, code, reason) in cases {
        let refused = client.record_loan_event(core(request)).await.unwrap_err();
        assert_eq!(reason_of(&refused), (code, reason.to_owned()), "{refused:?}");
    }
    // Bad input names every bad field.
    let mut bad = loan_event(&eidar, "", amortised(-5, date(2027, 2, 30)));
    let refused = client.record_loan_event(core(bad.clone())).await.unwrap_err();
    let fields: Vec<String> =
        refused.get_error_details().bad_request().unwrap().field_violations.iter().map(|v| v.field.clone()).collect();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(fields, ["loan_id", "amortisation.outstanding_principal.minor_units", "amortisation.date"]);
    bad.event = None;
    bad.loan_id = "x".repeat(65);
    let refused = client.record_loan_event(core(bad)).await.unwrap_err();
    let fields: Vec<String> =
        refused.get_error_details().bad_request().unwrap().field_violations.iter().map(|v| v.field.clone()).collect();
    assert_eq!(fields, ["loan_id", "event"]);
    // Only core banking reports a loan's life; a borrower may not, even its own.
    let own = loan_event(&eidar, "EI-1", amortised(1, date(2027, 1, 1)));
    let denied = client.record_loan_event(as_borrower(pilots::EIDAR, own.clone())).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = client.record_loan_event(staff(own, Role::Analyst)).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    // A refinancing that names the new loan itself is bad input.
    let selfish = client.tag_loan(core(tag(&eidar, "EI-2", 1, "EI-2"))).await.unwrap_err();
    assert_eq!(selfish.code(), Code::InvalidArgument);
    // Nothing of it was kept.
    let got = pb::GetApplicationRequest { name: eidar.clone() };
    let now = client.get_application(staff(got, Role::Auditor)).await.unwrap().into_inner().application.unwrap();
    assert_eq!((now.etag, now.loans.len()), (etag, 1));
    assert_eq!(kronor(&now.loans[0].outstanding_principal), 50_000_000);

    // Output-only fields sent on a tag are ignored, not trusted.
    let mut forged = tag(&eidar, "EI-3", 1_000, "");
    let loan_in = forged.loan.as_mut().unwrap();
    loan_in.state = LoanState::Cancelled as i32;
    loan_in.outstanding_principal = pilots::sek(0);
    loan_in.refinanced_by_loan_id = "EI-9".into();
    loan_in.cancellation = Some(pb::LoanTagCancellation { reason: "forged".into(), ..Default::default() });
    let app = client.tag_loan(core(forged)).await.unwrap().into_inner().application.unwrap();
    let stored = loan(&app, "EI-3");
    assert_eq!((stored.state, kronor(&stored.outstanding_principal)), (LoanState::Active as i32, 1_000));
    assert!(stored.refinanced_by_loan_id.is_empty() && stored.cancellation.is_none());
    suite.stop().await;
}

#[tokio::test]
async fn a_tag_made_in_error_is_cancelled_by_a_second_person_and_frees_the_loan_id() {
    let suite = Suite::start().await;
    let client = &mut suite.client.clone();
    let eidar = suite.approved(pilots::eidar(), 75_000_000).await;
    let botkyrka = suite.approved(pilots::botkyrkabyggen(), 400_000_000).await;
    // Core banking tags Botkyrkabyggen's loan to Eidar's application by mistake.
    client.tag_loan(core(tag(&eidar, "BB-77", 60_000_000, ""))).await.unwrap();
    let taken = client.tag_loan(core(tag(&botkyrka, "BB-77", 60_000_000, ""))).await.unwrap_err();
    assert_eq!(reason_of(&taken), (Code::AlreadyExists, "LOAN_TAGGED_ELSEWHERE".into()));

    let cancel = |reason: &str| pb::CancelLoanTagRequest {
        name: eidar.clone(),
        request_id: rid(),
        loan_id: "BB-77".into(),
        reason: reason.into(),
        ..Default::default()
    };
    let confirm = || pb::ConfirmLoanTagCancellationRequest {
        name: eidar.clone(),
        request_id: rid(),
        loan_id: "BB-77".into(),
        ..Default::default()
    };
    // Nothing to confirm before somebody asks; a reason is required; a borrower may not ask.
    let early = client.confirm_loan_tag_cancellation(staff_as("anna", confirm(), Role::Analyst)).await.unwrap_err();
    assert_eq!(reason_of(&early), (Code::FailedPrecondition, "NO_CANCELLATION_REQUESTED".into()));
    let bare = client.cancel_loan_tag(staff_as("anna", cancel(" "), Role::Analyst)).await.unwrap_err();
    assert_eq!(bare.code(), Code::InvalidArgument);
    let borrower = client.cancel_loan_tag(as_borrower(pilots::EIDAR, cancel("mine"))).await.unwrap_err();
    assert_eq!(borrower.code(), Code::PermissionDenied);

    let asked = client.cancel_loan_tag(staff_as("anna", cancel("Fel ansökan"), Role::Analyst)).await.unwrap();
    let pending = asked.into_inner().application.unwrap();
    let pending_loan = loan(&pending, "BB-77");
    assert_eq!(pending_loan.state, LoanState::Active as i32, "the tag holds until confirmed");
    assert_eq!(pending_loan.cancellation.as_ref().unwrap().requested_by.as_ref().unwrap().subject, "anna");
    // Four eyes: the requester cannot confirm, nor can core banking (not its role).
    let same = client.confirm_loan_tag_cancellation(staff_as("anna", confirm(), Role::Analyst)).await.unwrap_err();
    assert_eq!(reason_of(&same), (Code::PermissionDenied, "CONFIRMER_IS_REQUESTER".into()));
    let core_confirm = client.confirm_loan_tag_cancellation(core(confirm())).await.unwrap_err();
    assert_eq!(core_confirm.code(), Code::PermissionDenied);
    // Still taken while pending.
    let still = client.tag_loan(core(tag(&botkyrka, "BB-77", 60_000_000, ""))).await.unwrap_err();
    assert_eq!(reason_of(&still), (Code::AlreadyExists, "LOAN_TAGGED_ELSEWHERE".into()));

    let done = client.confirm_loan_tag_cancellation(staff_as("bertil", confirm(), Role::Analyst)).await.unwrap();
    let cancelled = done.into_inner().application.unwrap();
    let gone = loan(&cancelled, "BB-77");
    assert_eq!((gone.state, kronor(&gone.outstanding_principal)), (LoanState::Cancelled as i32, 0));
    assert_eq!(gone.cancellation.as_ref().unwrap().confirmed_by.as_ref().unwrap().subject, "bertil");
    // Confirming again is harmless; the loan changes no more.
    let again = client.confirm_loan_tag_cancellation(staff_as("bertil", confirm(), Role::Analyst)).await.unwrap();
    assert_eq!(again.into_inner().application.unwrap().etag, cancelled.etag);
    let after = loan_event(&eidar, "BB-77", amortised(1, date(2027, 1, 1)));
    assert_eq!(
        reason_of(&client.record_loan_event(core(after)).await.unwrap_err()),
        (Code::FailedPrecondition, "LOAN_NOT_ACTIVE".into())
    );
    // The loan id is free for the application it finances, and not again for the wrong one.
    client.tag_loan(core(tag(&botkyrka, "BB-77", 60_000_000, ""))).await.unwrap();
    let back = client.tag_loan(core(tag(&eidar, "BB-77", 60_000_000, ""))).await.unwrap_err();
    assert_eq!(reason_of(&back).1, "LOAN_TAG_CANCELLED");
    // GetLoan answers the live tag, on Botkyrkabyggen's application.
    let got = client.get_loan(core(pb::GetLoanRequest { loan_id: "BB-77".into() })).await.unwrap().into_inner();
    let got = got.loan.unwrap();
    assert_eq!((got.application.as_str(), got.loan.unwrap().state), (botkyrka.as_str(), LoanState::Active as i32));
    // The cancelled 60 MSEK no longer count against Eidar's 75 MSEK.
    client.tag_loan(core(tag(&eidar, "EI-1", 75_000_000, ""))).await.unwrap();
    suite.stop().await;
}

#[tokio::test]
async fn loans_are_found_and_listed_within_the_callers_organisation() {
    let suite = Suite::start().await;
    let client = &mut suite.client.clone();
    let eidar = suite.approved(pilots::eidar(), 75_000_000).await;
    let botkyrka = suite.approved(pilots::botkyrkabyggen(), 400_000_000).await;
    let mut soon = tag(&botkyrka, "BB-1", 100_000_000, "");
    soon.loan.as_mut().unwrap().maturity_date = date(2028, 6, 30);
    client.tag_loan(core(soon)).await.unwrap();
    client.tag_loan(core(tag(&botkyrka, "BB-2", 100_000_000, ""))).await.unwrap();
    client.tag_loan(core(tag(&botkyrka, "BB-3", 100_000_000, ""))).await.unwrap();
    client.tag_loan(core(tag(&eidar, "EI-1", 50_000_000, ""))).await.unwrap();
    let matured = Event::Maturity(pb::LoanMaturity { date: date(2028, 6, 30) });
    client.record_loan_event(core(loan_event(&botkyrka, "BB-1", matured))).await.unwrap();

    let get = |id: &str| pb::GetLoanRequest { loan_id: id.into() };
    let own =
        client.get_loan(as_borrower(pilots::BOTKYRKABYGGEN, get("BB-1"))).await.unwrap().into_inner().loan.unwrap();
    assert_eq!(
        (own.application.as_str(), own.organization_number.as_str()),
        (botkyrka.as_str(), pilots::BOTKYRKABYGGEN)
    );
    assert_eq!(own.loan.unwrap().state, LoanState::Matured as i32);
    // Another organisation's loan is not found for a borrower, as a missing one is not.
    let other = client.get_loan(as_borrower(pilots::BOTKYRKABYGGEN, get("EI-1"))).await.unwrap_err();
    let missing = client.get_loan(core(get("NONE"))).await.unwrap_err();
    assert_eq!(reason_of(&other), (Code::NotFound, "LOAN_NOT_FOUND".into()));
    assert_eq!(reason_of(&missing), reason_of(&other));
    assert_eq!(client.get_loan(core(get(""))).await.unwrap_err().code(), Code::InvalidArgument);
    assert_eq!(
        client.get_loan(authorized(get("EI-1"), &token(&[Role::Service], None))).await.unwrap_err().code(),
        Code::PermissionDenied
    );

    let ids = |loans: &[pb::Loan]| loans.iter().map(|l| l.loan.as_ref().unwrap().loan_id.clone()).collect::<Vec<_>>();
    let all = client.list_loans(core(pb::ListLoansRequest::default())).await.unwrap().into_inner();
    // Eidar's application is older than Botkyrkabyggen's: at the same maturity its loan comes first.
    assert_eq!(ids(&all.loans), ["BB-1", "EI-1", "BB-2", "BB-3"], "soonest maturity first, then by application");
    // A borrower sees its own only, whatever it asks for.
    let mine = client.list_loans(as_borrower(pilots::EIDAR, pb::ListLoansRequest::default())).await.unwrap();
    assert_eq!(ids(&mine.into_inner().loans), ["EI-1"]);
    let theirs = pb::ListLoansRequest { organization_number: pilots::BOTKYRKABYGGEN.into(), ..Default::default() };
    assert_eq!(client.list_loans(as_borrower(pilots::EIDAR, theirs)).await.unwrap_err().code(), Code::InvalidArgument);
    // Filters: state, maturing before, application.
    let active = pb::ListLoansRequest { state: LoanState::Active as i32, ..Default::default() };
    assert_eq!(ids(&client.list_loans(core(active)).await.unwrap().into_inner().loans), ["EI-1", "BB-2", "BB-3"]);
    let before = pb::ListLoansRequest { maturing_before: date(2030, 1, 1), ..Default::default() };
    assert_eq!(ids(&client.list_loans(core(before)).await.unwrap().into_inner().loans), ["BB-1"]);
    let of_eidar = pb::ListLoansRequest { application: eidar.clone(), ..Default::default() };
    assert_eq!(ids(&client.list_loans(core(of_eidar)).await.unwrap().into_inner().loans), ["EI-1"]);
    // Pages of one follow each other without gaps or repeats; a token of another filter is refused.
    let mut seen = Vec::new();
    let mut token = String::new();
    for _ in 0..10 {
        let page = pb::ListLoansRequest { page_size: 1, page_token: token.clone(), ..Default::default() };
        let page = client.list_loans(core(page)).await.unwrap().into_inner();
        seen.extend(ids(&page.loans));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(seen, ["BB-1", "EI-1", "BB-2", "BB-3"]);
    let first = client.list_loans(core(pb::ListLoansRequest { page_size: 1, ..Default::default() })).await.unwrap();
    let filtered = pb::ListLoansRequest {
        page_size: 1,
        page_token: first.into_inner().next_page_token,
        state: LoanState::Active as i32,
        ..Default::default()
    };
    assert_eq!(client.list_loans(core(filtered)).await.unwrap_err().code(), Code::InvalidArgument);
    let bad = pb::ListLoansRequest {
        state: 99,
        page_size: -1,
        maturing_before: date(2030, 2, 30),
        application: "applications/nope".into(),
        ..Default::default()
    };
    let refused = client.list_loans(core(bad)).await.unwrap_err();
    let fields: Vec<String> =
        refused.get_error_details().bad_request().unwrap().field_violations.iter().map(|v| v.field.clone()).collect();
    assert_eq!(fields, ["page_size", "application", "state", "maturing_before"]);

    // Loans tagged before the loan table kept them are filled in when the service starts.
    let admin = sqlx::PgPool::connect(&suite.db.admin_url()).await.unwrap();
    sqlx::query("UPDATE applications.loan SET content = NULL, organization_number = NULL, maturity_date = NULL")
        .execute(&admin)
        .await
        .unwrap();
    let empty = client.list_loans(core(pb::ListLoansRequest::default())).await.unwrap().into_inner();
    assert!(empty.loans.is_empty(), "rows without content are not listed");
    let Suite { db, apps, committee, .. } = suite;
    apps.stop().await.unwrap();
    let apps = Suite::serve_apps(&db, &committee).await;
    let client = &mut ApplicationsServiceClient::new(e2e::channel(apps.grpc_addr).await);
    let mut refilled = Vec::new();
    for _ in 0..100 {
        refilled = ids(&client.list_loans(core(pb::ListLoansRequest::default())).await.unwrap().into_inner().loans);
        if refilled.len() == 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(refilled, ["BB-1", "EI-1", "BB-2", "BB-3"]);
    apps.stop().await.unwrap();
    committee.stop().await.unwrap();
}

#[tokio::test]
async fn the_credit_limit_bounds_the_referral_and_the_tagged_loans() {
    let suite = Suite::start().await;
    let client = &mut suite.client.clone();
    let assess = |name: &str, kronor: i64| pb::RecordCreditAssessmentRequest {
        name: name.into(),
        request_id: rid(),
        credit_assessment: Some(pb::CreditAssessment {
            outcome: pb::CreditAssessmentOutcome::Approved as i32,
            credit_limit: pilots::sek(kronor),
            ..Default::default()
        }),
        ..Default::default()
    };
    let refer_request = |name: &str| pb::ReferApplicationToCommitteeRequest {
        name: name.into(),
        request_id: rid(),
        referral_note: "Komplett".into(),
        ..Default::default()
    };
    // Eidar asks for 80 MSEK; a credit limit of 70 MSEK stops the referral.
    let eidar = pilots::eidar();
    let create = pb::CreateApplicationRequest { request_id: rid(), application: Some(eidar.clone()) };
    let name = client.create_application(as_borrower(pilots::EIDAR, create)).await.unwrap().into_inner();
    let name = name.application.unwrap().name;
    let submit = pb::SubmitApplicationRequest { name: name.clone(), etag: String::new(), request_id: rid() };
    client.submit_application(as_borrower(pilots::EIDAR, submit)).await.unwrap();
    let review = pb::StartReviewRequest { name: name.clone(), etag: String::new(), request_id: rid() };
    client.start_review(staff(review, Role::Analyst)).await.unwrap();
    client.record_credit_assessment(staff(assess(&name, 70_000_000), Role::CreditAnalyst)).await.unwrap();
    let refused = client.refer_application_to_committee(staff(refer_request(&name), Role::Analyst)).await.unwrap_err();
    assert_eq!(reason_of(&refused), (Code::FailedPrecondition, "REQUESTED_AMOUNT_ABOVE_CREDIT_LIMIT".into()));
    // With the limit at the requested amount it goes through.
    client.record_credit_assessment(staff(assess(&name, 80_000_000), Role::CreditAnalyst)).await.unwrap();
    client.refer_application_to_committee(staff(refer_request(&name), Role::Analyst)).await.unwrap();
    // The credit review lowers the limit to 60 MSEK while the committee deliberates; it approves 75.
    client.record_credit_assessment(staff(assess(&name, 60_000_000), Role::CreditAnalyst)).await.unwrap();
    committee_decides_with(&suite.db, &name, cm::DecisionOutcome::Approve, 75_000_000, vec![]).await;
    wait_for_state(client, &name, S::Approved).await;
    // The lower of the two bounds the loans.
    let over = client.tag_loan(core(tag(&name, "EI-1", 60_000_001, ""))).await.unwrap_err();
    assert_eq!(reason_of(&over), (Code::FailedPrecondition, "LOAN_EXCEEDS_CREDIT_LIMIT".into()));
    client.tag_loan(core(tag(&name, "EI-1", 60_000_000, ""))).await.unwrap();
    suite.stop().await;
}
