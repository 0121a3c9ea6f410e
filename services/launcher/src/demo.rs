//! `socialloans demo`: the pilot story of the seed article, driven through
//! the real gRPC APIs as each role would drive it. Botkyrkabyggen's and AB
//! Eidar's applications are drafted, submitted (one returned for completion
//! and resubmitted), reviewed, credit-assessed and referred; the committee
//! meets with a declared conflict of interest, votes, records and confirms
//! its decisions and approves the minutes; core banking tags the loans; the
//! borrowers report two years of outcomes (one report returned and
//! corrected); a covenant is fulfilled by four eyes; progress and the
//! portfolio impact report close the story.
//!
//! After every step the story reads the resource back and checks its state,
//! so a step that silently did the wrong thing stops the story with a
//! message saying what was expected. The end-to-end test runs this same
//! story against the suite running as real processes.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use socialloans_contracts::{
    applications::{self as ap, applications_service_client::ApplicationsServiceClient},
    committee::{self as cm, committee_service_client::CommitteeServiceClient},
    monitoring::{self as mo, monitoring_service_client::MonitoringServiceClient},
};
use socialloans_platform::{Role, auth::DevTokenMinter};
use tonic::Request;

use crate::{Endpoints, Suite, pilots, retry::Retrying, tokens};

/// What the story made, for whoever wants to look closer (the tests do).
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Botkyrkabyggen's and Eidar's applications, in that order.
    pub applications: [String; 2],
    /// Their committee cases.
    pub cases: [String; 2],
    /// The committee meeting.
    pub meeting: String,
    /// Their monitoring plans.
    pub plans: [String; 2],
    /// The portfolio impact report at the end.
    pub portfolio: mo::PortfolioImpactReport,
    /// The minutes, as Markdown.
    pub minutes_file: PathBuf,
    /// The portfolio impact report as CSV.
    pub csv_file: PathBuf,
    /// The portfolio impact report as an SVG chart.
    pub svg_file: PathBuf,
}

/// `socialloans demo`: uses the suite if it is up, otherwise starts it for
/// the story and stops it afterwards.
pub fn main(home: &Path) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    let endpoints = Endpoints::local()?;
    let suite = if runtime.block_on(endpoints.serving()) {
        println!("using the suite that is already up at {}", endpoints.applications);
        None
    } else {
        println!("the suite is not up; starting it for the story ...");
        Some(Suite::start(home)?)
    };
    let minter = tokens::minter(home)?;
    let out = home.join("demo");
    let result = runtime.block_on(run_signed(&endpoints, minter, &out, &mut |line| println!("{line}")));
    if let Some(suite) = suite {
        suite.stop();
    }
    let outcome = result?;
    println!("\nThe story ran to the end. What it produced:");
    println!("  minutes of the committee meeting   {}", outcome.minutes_file.display());
    println!("  portfolio impact report (CSV)      {}", outcome.csv_file.display());
    println!("  portfolio impact report (chart)    {}", outcome.svg_file.display());
    Ok(())
}

/// Runs the story against `endpoints` with tokens signed by `secret`,
/// writing its files under `out`; `say` gets each line of the narration.
pub async fn run(
    endpoints: &Endpoints,
    secret: &str,
    out: &Path,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<Outcome, String> {
    run_signed(endpoints, DevTokenMinter::new(secret, tokens::ISSUER, tokens::AUDIENCE), out, say).await
}

/// As [`run`], with tokens signed by `minter`; `https://` endpoints as
/// [`crate::services::endpoint`] makes them.
pub async fn run_signed(
    endpoints: &Endpoints,
    minter: DevTokenMinter,
    out: &Path,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<Outcome, String> {
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let connect = |url: &str| {
        let url = url.to_owned();
        async move { crate::services::endpoint(&url)?.connect().await.map_err(|e| format!("cannot reach {url}: {e}")) }
    };
    let channels = [
        Retrying::new(connect(&endpoints.applications).await?),
        Retrying::new(connect(&endpoints.committee).await?),
        Retrying::new(connect(&endpoints.monitoring).await?),
    ];
    let mut story = Story {
        apps: ApplicationsServiceClient::new(channels[0].clone()),
        committee: CommitteeServiceClient::new(channels[1].clone()),
        monitoring: MonitoringServiceClient::new(channels[2].clone()),
        minter,
        say,
    };
    let outcome = story.tell(out).await;
    let resent: u64 = channels.iter().map(Retrying::resent).sum();
    if resent > 0 {
        (story.say)(format!(
            "\n  ({resent} calls were sent again after a service did not answer; each request_id was applied once)"
        ));
    }
    outcome
}

struct Story<'a> {
    apps: ApplicationsServiceClient<Retrying>,
    committee: CommitteeServiceClient<Retrying>,
    monitoring: MonitoringServiceClient<Retrying>,
    minter: DevTokenMinter,
    say: &'a mut (dyn FnMut(String) + Send),
}

fn rid() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The answer of a call, or what went wrong, named by the step.
fn answer<T>(step: &str, result: Result<tonic::Response<T>, tonic::Status>) -> Result<T, String> {
    result.map(tonic::Response::into_inner).map_err(|s| format!("{step}: {:?} {}", s.code(), s.message()))
}

fn expect<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want { Ok(()) } else { Err(format!("{what}: expected {want:?}, found {got:?}")) }
}

/// An enum value's name as words: `APPLICATION_STATE_RETURNED_FOR_COMPLETION` → "returned for completion".
fn short(name: &str) -> String {
    let markers = ["STATE_", "OUTCOME_", "CHOICE_", "CATEGORY_", "POPULATION_", "STATUS_"];
    let rest = markers.iter().find_map(|m| name.find(m).map(|i| &name[i + m.len()..])).unwrap_or(name);
    rest.replace('_', " ").to_lowercase()
}

fn app_state(state: i32) -> String {
    short(ap::ApplicationState::try_from(state).unwrap_or_default().as_str_name())
}

fn sek(kronor: i64) -> String {
    let digits = kronor.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push('\u{a0}');
        }
        grouped.push(c);
    }
    format!("{grouped} kr")
}

const BOTKYRKA: usize = 0;
const EIDAR: usize = 1;

impl Story<'_> {
    fn as_<T>(&self, subject: &str, role: Role, org: Option<&str>, message: T) -> Request<T> {
        let token = self.minter.mint(subject, &[role], org, Duration::from_secs(3600));
        let mut request = Request::new(message);
        let value = format!("Bearer {token}").parse().expect("a token is ASCII");
        request.metadata_mut().insert("authorization", value);
        request
    }

    fn staff<T>(&self, role: Role, message: T) -> Request<T> {
        self.as_(&format!("demo-{role}"), role, None, message)
    }

    fn borrower<T>(&self, org: &str, message: T) -> Request<T> {
        self.as_(&format!("demo-portal-{org}"), Role::Borrower, Some(org), message)
    }

    async fn chapter(&mut self, title: &str) {
        // `SOCIALLOANS_DEMO_PAUSE_MS`: a pause before each chapter, for an audience (or a test
        // that stops replicas in the middle of the story).
        if let Some(ms) = std::env::var("SOCIALLOANS_DEMO_PAUSE_MS").ok().and_then(|v| v.parse::<u64>().ok()) {
            tokio::time::sleep(Duration::from_millis(ms.min(60_000))).await;
        }
        (self.say)(String::new());
        (self.say)(format!("── {title} {}", "─".repeat(70usize.saturating_sub(title.chars().count()))));
    }

    fn step(&mut self, who: &str, what: &str, result: &str) {
        let line = if result.is_empty() {
            format!("  {who:<24} {what}")
        } else {
            format!("  {who:<24} {what:<52} → {result}")
        };
        (self.say)(line);
    }

    async fn application(&mut self, name: &str) -> Result<ap::Application, String> {
        let request = self.staff(Role::Analyst, ap::GetApplicationRequest { name: name.into() });
        answer("GetApplication", self.apps.get_application(request).await)?
            .application
            .ok_or_else(|| format!("{name}: no application in the answer"))
    }

    async fn expect_app(&mut self, name: &str, want: ap::ApplicationState) -> Result<ap::Application, String> {
        let app = self.application(name).await?;
        expect(&format!("{name} state"), app_state(app.state), app_state(want as i32))?;
        Ok(app)
    }

    /// Waits (at most 30 s) until `check` passes: the suite's events are asynchronous.
    async fn eventually<T, F>(&mut self, what: &str, mut check: F) -> Result<T, String>
    where
        F: AsyncFnMut(&mut Self) -> Result<Option<T>, String>,
    {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(value) = check(self).await? {
                return Ok(value);
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!("{what} did not happen within 30 s"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn tell(&mut self, out: &Path) -> Result<Outcome, String> {
        let pilots = [pilots::botkyrkabyggen(), pilots::eidar()];
        let orgs = [pilots::BOTKYRKABYGGEN, pilots::EIDAR];
        let short_names = ["Botkyrkabyggen", "AB Eidar"];

        self.chapter("1. Two housing companies apply").await;
        let mut applications = Vec::new();
        for (i, pilot) in pilots.iter().enumerate() {
            let borrower = format!("{} (portal)", short_names[i]);
            let create = ap::CreateApplicationRequest { request_id: rid(), application: Some(pilot.clone()) };
            let created =
                answer("CreateApplication", self.apps.create_application(self.borrower(orgs[i], create)).await)?
                    .application
                    .ok_or("CreateApplication: no application")?;
            let amount = pilot.requested_amount.as_ref().map_or(0, |m| m.minor_units / 100);
            self.step(&borrower, &format!("drafts \"{}\"", truncate(&pilot.title, 40)), &app_state(created.state));
            self.step("", &format!("asks for {} ({})", sek(amount), category(pilot.category)), "");
            let submit =
                ap::SubmitApplicationRequest { name: created.name.clone(), etag: created.etag, request_id: rid() };
            answer("SubmitApplication", self.apps.submit_application(self.borrower(orgs[i], submit)).await)?;
            let app = self.expect_app(&created.name, ap::ApplicationState::Submitted).await?;
            self.step(&borrower, "submits it", &app_state(app.state));
            applications.push(created.name);
        }
        let applications: [String; 2] = [applications[0].clone(), applications[1].clone()];

        // The analyst wants the tenant survey before reviewing Botkyrkabyggen's application.
        let app = self.application(&applications[BOTKYRKA]).await?;
        let back = ap::ReturnApplicationForCompletionRequest {
            name: app.name.clone(),
            etag: app.etag,
            request_id: rid(),
            comments: vec![ap::FieldComment {
                field_path: "social_challenge".into(),
                comment: "Beskriv hur hyresgästerna har fått säga sitt om renoveringsnivån".into(),
            }],
            message: "Komplettera gärna innan vi granskar".into(),
        };
        answer(
            "ReturnApplicationForCompletion",
            self.apps.return_application_for_completion(self.staff(Role::Analyst, back)).await,
        )?;
        let app = self.expect_app(&applications[BOTKYRKA], ap::ApplicationState::ReturnedForCompletion).await?;
        self.step("analyst", "returns it for completion: tenants' say?", &app_state(app.state));
        let edit = ap::UpdateApplicationRequest {
            request_id: rid(),
            application: Some(ap::Application {
                name: app.name.clone(),
                social_challenge: format!(
                    "{} Varje hushåll väljer själv renoveringsnivå och därmed hyra, efter boendedialog.",
                    app.social_challenge
                ),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["social_challenge".into()] }),
            etag: app.etag,
        };
        let edited =
            answer("UpdateApplication", self.apps.update_application(self.borrower(orgs[BOTKYRKA], edit)).await)?
                .application
                .ok_or("UpdateApplication: no application")?;
        let submit = ap::SubmitApplicationRequest { name: edited.name.clone(), etag: edited.etag, request_id: rid() };
        answer("SubmitApplication", self.apps.submit_application(self.borrower(orgs[BOTKYRKA], submit)).await)?;
        let app = self.expect_app(&applications[BOTKYRKA], ap::ApplicationState::Submitted).await?;
        expect("submissions of Botkyrkabyggen's application", app.submission_count, 2)?;
        self.step("Botkyrkabyggen (portal)", "completes the description and resubmits", &app_state(app.state));

        for (i, name) in applications.iter().enumerate() {
            let review = ap::StartReviewRequest { name: name.clone(), etag: String::new(), request_id: rid() };
            answer("StartReview", self.apps.start_review(self.staff(Role::Analyst, review)).await)?;
            let app = self.expect_app(name, ap::ApplicationState::UnderReview).await?;
            self.step("analyst", &format!("reviews {}'s application", short_names[i]), &app_state(app.state));
            let credit = ap::RecordCreditAssessmentRequest {
                name: name.clone(),
                request_id: rid(),
                credit_assessment: Some(ap::CreditAssessment {
                    outcome: ap::CreditAssessmentOutcome::Approved as i32,
                    credit_limit: pilots[i].requested_amount.clone(),
                    summary: "Ordinarie kreditprövning: kommunal borgen".into(),
                    ..Default::default()
                }),
                ..Default::default()
            };
            answer(
                "RecordCreditAssessment",
                self.apps.record_credit_assessment(self.staff(Role::CreditAnalyst, credit)).await,
            )?;
            let app = self.application(name).await?;
            let outcome = app.credit_assessment.as_ref().map(|c| c.outcome).unwrap_or_default();
            expect("credit assessment", outcome, ap::CreditAssessmentOutcome::Approved as i32)?;
            self.step("credit analyst", "approves the ordinary credit assessment", "credit approved");
            let refer = ap::ReferApplicationToCommitteeRequest {
                name: name.clone(),
                request_id: rid(),
                referral_note: "Komplett; de fem grundkraven är belagda".into(),
                ..Default::default()
            };
            answer(
                "ReferApplicationToCommittee",
                self.apps.refer_application_to_committee(self.staff(Role::Analyst, refer)).await,
            )?;
            let app = self.expect_app(name, ap::ApplicationState::ReferredToCommittee).await?;
            self.step("analyst", "refers it to the expert committee", &app_state(app.state));
        }

        self.chapter("2. The expert committee meets").await;
        let carl = self.member("Carl", cm::MemberRole::Chair).await?;
        let lena = self.member("Lena", cm::MemberRole::Member).await?;
        let olof = self.member("Olof", cm::MemberRole::Member).await?;
        let maja = self.member("Maja", cm::MemberRole::Member).await?;
        self.member("Sara", cm::MemberRole::Secretary).await?;
        self.step("committee secretary", "the roster: Carl (chair), Lena, Olof, Maja; Sara", "5 members");
        let mut cases = Vec::new();
        for (i, application) in applications.iter().enumerate() {
            let application = application.clone();
            let case = self
                .eventually("the committee case for the referral", async |s: &mut Self| {
                    let request = cm::ListCasesRequest { application: application.clone(), ..Default::default() };
                    let request = s.staff(Role::CommitteeSecretary, request);
                    Ok(answer("ListCases", s.committee.list_cases(request).await)?.cases.into_iter().next())
                })
                .await?;
            expect("a new case's state", case.state, cm::CaseState::Open as i32)?;
            self.step("(applications feed)", &format!("opens the case for {}", short_names[i]), "open");
            cases.push(case.name);
        }
        let cases: [String; 2] = [cases[0].clone(), cases[1].clone()];
        let conflict = cm::DeclareConflictOfInterestRequest {
            parent: cases[BOTKYRKA].clone(),
            request_id: rid(),
            declaration: Some(cm::ConflictOfInterestDeclaration {
                member: lena.clone(),
                description: "Sitter i Botkyrkabyggens styrelse".into(),
                ..Default::default()
            }),
        };
        let request = self.as_("demo-lena", Role::CommitteeMember, None, conflict);
        answer("DeclareConflictOfInterest", self.committee.declare_conflict_of_interest(request).await)?;
        let case = self.case(&cases[BOTKYRKA]).await?;
        expect("declared conflicts", case.conflicts_of_interest.len(), 1)?;
        self.step("Lena", "declares a conflict: sits on Botkyrkabyggen's board", "recused");
        for case in &cases {
            self.assess_all(case).await?;
        }
        self.step("committee secretary", "assesses the five basic requirements: all met", "assessed");
        let meeting = self.meeting(&cases, &[&carl, &lena, &olof, &maja]).await?;
        self.step("chair", "opens the meeting; 4 present, quorum 3", "in session");
        let votes: [&[(&str, cm::VoteChoice, &str)]; 2] = [
            &[
                ("carl", cm::VoteChoice::ApproveWithConditions, ""),
                ("olof", cm::VoteChoice::ApproveWithConditions, ""),
                ("maja", cm::VoteChoice::Decline, "Risk för hyreshöjningar"),
            ],
            &[
                ("carl", cm::VoteChoice::Approve, ""),
                ("lena", cm::VoteChoice::Approve, ""),
                ("olof", cm::VoteChoice::Approve, ""),
                ("maja", cm::VoteChoice::Approve, ""),
            ],
        ];
        for (i, case) in cases.iter().enumerate() {
            for (who, choice, comment) in votes[i] {
                let vote = cm::Vote { choice: *choice as i32, comment: (*comment).into(), ..Default::default() };
                let request = cm::CastVoteRequest { parent: case.clone(), request_id: rid(), vote: Some(vote) };
                let request = self.as_(&format!("demo-{who}"), Role::CommitteeMember, None, request);
                answer("CastVote", self.committee.cast_vote(request).await)?;
            }
            let request = self
                .staff(Role::CommitteeSecretary, cm::ListVotesRequest { parent: case.clone(), ..Default::default() });
            let cast = answer("ListVotes", self.committee.list_votes(request).await)?.votes.len();
            expect("votes cast", cast, votes[i].len())?;
            let tally =
                votes[i].iter().map(|(who, choice, _)| format!("{who}: {}", short_vote(*choice))).collect::<Vec<_>>();
            self.step("members", &format!("vote on {}", short_names[i]), &tally.join(", "));
        }
        let covenant = cm::Condition {
            id: "c1".into(),
            kind: cm::ConditionKind::ReportingCovenant as i32,
            description: "Rapportera andel kvarboende årligen".into(),
            due_date: Some(cm::Date { year: 2027, month: 3, day: 31 }),
        };
        let decisions = [
            cm::Decision {
                outcome: cm::DecisionOutcome::ApproveWithConditions as i32,
                approved_amount: Some(cm::Money { currency_code: "SEK".into(), minor_units: 400_000_000 * 100 }),
                conditions: vec![covenant],
                rationale: "Uppfyller grundkraven; kvarboendet ska följas upp".into(),
                ..Default::default()
            },
            cm::Decision {
                outcome: cm::DecisionOutcome::Approve as i32,
                approved_amount: Some(cm::Money { currency_code: "SEK".into(), minor_units: 75_000_000 * 100 }),
                rationale: "Ett levande centrum ger trygghet och närservice".into(),
                ..Default::default()
            },
        ];
        for (i, decision) in decisions.into_iter().enumerate() {
            let amount = decision.approved_amount.as_ref().map_or(0, |m| m.minor_units / 100);
            let outcome = short(cm::DecisionOutcome::try_from(decision.outcome).unwrap_or_default().as_str_name());
            let request = cm::RecordDecisionRequest {
                parent: cases[i].clone(),
                request_id: rid(),
                decision: Some(decision),
                ..Default::default()
            };
            let request = self.as_("demo-sara", Role::CommitteeSecretary, None, request);
            let recorded = answer("RecordDecision", self.committee.record_decision(request).await)?
                .decision
                .ok_or("RecordDecision: no decision")?;
            self.step("Sara (secretary)", &format!("records: {outcome} — {}", sek(amount)), "recorded");
            let confirm =
                cm::ConfirmDecisionRequest { name: recorded.name.clone(), request_id: rid(), ..Default::default() };
            let request = self.as_("demo-carl", Role::CommitteeChair, None, confirm);
            answer("ConfirmDecision", self.committee.confirm_decision(request).await)?;
            let case = self.case(&cases[i]).await?;
            expect("the case after confirmation", case.state, cm::CaseState::Decided as i32)?;
            self.step("Carl (chair)", &format!("confirms the decision on {} (four eyes)", short_names[i]), "decided");
        }
        let adjourn = cm::AdjournMeetingRequest { name: meeting.clone(), request_id: rid(), ..Default::default() };
        let request = self.as_("demo-carl", Role::CommitteeChair, None, adjourn);
        let adjourned =
            answer("AdjournMeeting", self.committee.adjourn_meeting(request).await)?.meeting.ok_or("no meeting")?;
        let approve = cm::ApproveMinutesRequest { name: meeting.clone(), request_id: rid(), ..Default::default() };
        let request = self.as_("demo-carl", Role::CommitteeChair, None, approve);
        let approved =
            answer("ApproveMinutes", self.committee.approve_minutes(request).await)?.meeting.ok_or("no meeting")?;
        expect("minutes approved by", approved.minutes_approved_by.map(|a| a.subject), Some("demo-carl".to_owned()))?;
        let minutes_file = out.join(format!("minutes-{}.md", meeting.rsplit('/').next().unwrap_or("meeting")));
        std::fs::write(&minutes_file, &adjourned.minutes).map_err(|e| format!("{}: {e}", minutes_file.display()))?;
        self.step("Carl (chair)", "adjourns and approves the minutes; decisions frozen", "minutes approved");

        self.chapter("3. The decisions reach the applications; core banking pays out").await;
        let wanted = [ap::ApplicationState::ApprovedWithConditions, ap::ApplicationState::Approved];
        for (i, name) in applications.iter().enumerate() {
            let name = name.clone();
            let want = wanted[i];
            let app = self
                .eventually("the committee's decision reaching the application", async |s: &mut Self| {
                    let app = s.application(&name).await?;
                    Ok((app.state == want as i32).then_some(app))
                })
                .await?;
            let discount = app.pricing_discount_bps;
            self.step(
                "(committee feed)",
                &format!("{}: decision applied, {discount} bp discount", short_names[i]),
                &app_state(app.state),
            );
        }
        let loans = [("KI-2001", 400_000_000, 2036), ("KI-1001", 75_000_000, 2031)];
        for (i, (series, kronor, maturity)) in loans.into_iter().enumerate() {
            // A loan finances one application: each run of the story has loans of its own.
            let id = &applications[i];
            let run = id.get(id.len().saturating_sub(6)..).unwrap_or_default();
            let loan_id = &format!("{series}-{run}");
            let tag = ap::TagLoanRequest {
                name: applications[i].clone(),
                request_id: rid(),
                loan: Some(ap::LoanTag {
                    loan_id: loan_id.into(),
                    principal: pilots::sek(kronor),
                    disbursement_date: Some(ap::Date { year: 2026, month: 12, day: 1 }),
                    maturity_date: Some(ap::Date { year: maturity, month: 6, day: 30 }),
                    ..Default::default()
                }),
                ..Default::default()
            };
            answer("TagLoan", self.apps.tag_loan(self.staff(Role::CoreBanking, tag)).await)?;
            let app = self.expect_app(&applications[i], ap::ApplicationState::Active).await?;
            self.step(
                "core banking",
                &format!("tags loan {loan_id}: {} to {maturity}", sek(kronor)),
                &app_state(app.state),
            );
        }

        self.chapter("4. Two years of outcomes").await;
        let mut plans = Vec::new();
        for (i, application) in applications.iter().enumerate() {
            let application = application.clone();
            let plan = self
                .eventually("the monitoring plan's activation", async |s: &mut Self| {
                    let request =
                        mo::ListMonitoringPlansRequest { application: application.clone(), ..Default::default() };
                    let request = s.staff(Role::ReportReviewer, request);
                    let plans = answer("ListMonitoringPlans", s.monitoring.list_monitoring_plans(request).await)?
                        .monitoring_plans;
                    Ok(plans.into_iter().find(|p| p.state == mo::MonitoringPlanState::Active as i32))
                })
                .await?;
            let periods = plan.reporting_periods.len();
            self.step(
                "(applications feed)",
                &format!("{}: monitoring plan active, {periods} yearly reports due", short_names[i]),
                "active",
            );
            plans.push(plan);
        }
        // Botkyrkabyggen: tenants remaining 78 % then 91 % (target 90 %); homes 120 then 300 of 380.
        let botkyrka_years = [(78.0, 120.0, 410), (91.0, 300.0, 640)];
        for (year, (share, homes, reached)) in botkyrka_years.into_iter().enumerate() {
            let values = vec![
                value("tenants_remaining_share", share, "percent", "Hyresgästregistret"),
                value("homes_renovated", homes, "homes", "Slutbesiktningar"),
            ];
            let reach = vec![mo::TargetGroupReach {
                population: mo::TargetPopulation::LowIncome as i32,
                people_reached: reached,
                description: "Hushåll i renoverade hus".into(),
            }];
            let period = plans[BOTKYRKA].reporting_periods[year].end_date;
            let report = self.report(&plans[BOTKYRKA].name, orgs[BOTKYRKA], period, values, reach).await?;
            self.submit(&report, orgs[BOTKYRKA]).await?;
            self.accept(&report).await?;
            self.step(
                "Botkyrkabyggen → reviewer",
                &format!("year {}: {share} % remain, {homes} homes, {reached} reached", year + 1),
                "accepted",
            );
        }
        // AB Eidar: 40 jobs reported without a source, returned, corrected to 42; then 85.
        let period = plans[EIDAR].reporting_periods[0].end_date;
        let first = self
            .report(
                &plans[EIDAR].name,
                orgs[EIDAR],
                period,
                vec![value("jobs_created", 40.0, "jobs", "Räkning")],
                vec![],
            )
            .await?;
        self.submit(&first, orgs[EIDAR]).await?;
        let back = mo::ReturnOutcomeReportRequest {
            name: first.clone(),
            request_id: rid(),
            comments: vec![mo::FieldComment {
                field_path: "indicator_values[0].source".into(),
                comment: "Ange källa för antalet arbetsplatser".into(),
            }],
            ..Default::default()
        };
        let returned = answer(
            "ReturnOutcomeReport",
            self.monitoring.return_outcome_report(self.staff(Role::ReportReviewer, back)).await,
        )?
        .outcome_report
        .ok_or("no report")?;
        expect("the returned report", returned.state, mo::OutcomeReportState::Returned as i32)?;
        self.step("report reviewer", "returns Eidar's year 1: \"ange källa\"", "returned");
        let fix = mo::UpdateOutcomeReportRequest {
            request_id: rid(),
            outcome_report: Some(mo::OutcomeReport {
                name: first.clone(),
                indicator_values: vec![mo::IndicatorValue {
                    source: "Lönelistor från hyresgästerna i centrumet".into(),
                    ..value("jobs_created", 42.0, "jobs", "Räkning")
                }],
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["indicator_values".into()] }),
            etag: returned.etag,
        };
        answer("UpdateOutcomeReport", self.monitoring.update_outcome_report(self.borrower(orgs[EIDAR], fix)).await)?;
        self.submit(&first, orgs[EIDAR]).await?;
        let accepted = self.accept(&first).await?;
        expect("versions of Eidar's year-1 report", accepted.version, 2)?;
        self.step("AB Eidar → reviewer", "year 1 corrected: 42 jobs, with source (version 2)", "accepted");
        let period = plans[EIDAR].reporting_periods[1].end_date;
        let reach = vec![mo::TargetGroupReach {
            population: mo::TargetPopulation::GeneralPublic as i32,
            people_reached: 3_200,
            description: "Besökare i centrumet".into(),
        }];
        let second = self
            .report(
                &plans[EIDAR].name,
                orgs[EIDAR],
                period,
                vec![value("jobs_created", 85.0, "jobs", "Lönelistor")],
                reach,
            )
            .await?;
        self.submit(&second, orgs[EIDAR]).await?;
        self.accept(&second).await?;
        self.step("AB Eidar → reviewer", "year 2: 85 jobs, 3 200 visitors reached", "accepted");

        let condition = format!("{}/conditions/c1", plans[BOTKYRKA].name);
        let fulfil = |note: &str| mo::FulfilConditionRequest {
            name: condition.clone(),
            request_id: rid(),
            note: note.into(),
            ..Default::default()
        };
        let request =
            self.as_("demo-anna", Role::ReportReviewer, None, fulfil("Två årsrapporter om kvarboende godkända"));
        answer("FulfilCondition", self.monitoring.fulfil_condition(request).await)?;
        let request = self.as_("demo-bertil", Role::Analyst, None, fulfil("Bekräftat"));
        let fulfilled = answer("FulfilCondition", self.monitoring.fulfil_condition(request).await)?
            .condition
            .ok_or("no condition")?;
        expect("the covenant", fulfilled.state, mo::ConditionState::Fulfilled as i32)?;
        self.step("Anna, then Bertil", "the reporting covenant: proposed, then confirmed", "fulfilled");

        // The story's second reporting year ends on 31 December of next year; look back from there.
        let as_of = plans[BOTKYRKA].reporting_periods[1].end_date;
        let day = as_of.map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)).unwrap_or_default();
        self.chapter(&format!("5. Progress and the portfolio impact report, as of {day}")).await;
        for (i, plan) in plans.iter().enumerate() {
            let request =
                self.staff(Role::ReportReviewer, mo::GetPlanProgressRequest { name: plan.name.clone(), as_of });
            let progress = answer("GetPlanProgress", self.monitoring.get_plan_progress(request).await)?
                .plan_progress
                .ok_or("no progress")?;
            expect("accepted reports", progress.accepted_report_count, 2)?;
            for indicator in &progress.indicators {
                let status = short(mo::ProgressStatus::try_from(indicator.status).unwrap_or_default().as_str_name());
                let share = indicator.progress_ratio.map_or("—".into(), |r| format!("{:.0} % of the way", r * 100.0));
                self.step(
                    short_names[i],
                    &format!(
                        "{}: {} → {} ({share})",
                        indicator.indicator_code,
                        indicator.baseline.as_ref().map_or(0.0, |b| b.value),
                        indicator.latest_value.unwrap_or_default()
                    ),
                    &status,
                );
            }
        }
        let request = self.staff(Role::Auditor, mo::GetPortfolioImpactReportRequest { as_of, ..Default::default() });
        let portfolio = answer("GetPortfolioImpactReport", self.monitoring.get_portfolio_impact_report(request).await)?
            .portfolio_impact_report
            .ok_or("no report")?;
        let amount = |m: &Option<mo::Money>| m.as_ref().map_or(0, |m| m.minor_units / 100);
        self.step(
            "auditor",
            &format!(
                "portfolio: {} projects, approved {}",
                portfolio.plan_count,
                sek(amount(&portfolio.approved_amount))
            ),
            &format!("tagged {}", sek(amount(&portfolio.tagged_loan_amount))),
        );
        for group in &portfolio.by_target_group {
            let population = short(mo::TargetPopulation::try_from(group.population).unwrap_or_default().as_str_name());
            self.step(
                "",
                &format!("{population}: {} people reached", group.people_reached),
                &format!("of {} estimated", group.estimated_people),
            );
        }
        let mut files = Vec::new();
        for format in [mo::ExportFormat::Csv, mo::ExportFormat::Svg] {
            let request = mo::ExportPortfolioImpactReportRequest { as_of, format: format as i32, ..Default::default() };
            let file = answer(
                "ExportPortfolioImpactReport",
                self.monitoring.export_portfolio_impact_report(self.staff(Role::Auditor, request)).await,
            )?;
            let path = out.join(&file.file_name);
            std::fs::write(&path, &file.content).map_err(|e| format!("{}: {e}", path.display()))?;
            files.push(path);
        }
        self.step("auditor", "exports the report as CSV and as a chart", "written");
        Ok(Outcome {
            applications,
            cases,
            meeting,
            plans: [plans[0].name.clone(), plans[1].name.clone()],
            portfolio,
            minutes_file,
            csv_file: files[0].clone(),
            svg_file: files[1].clone(),
        })
    }

    /// The member with subject `demo-<name>`, created unless it exists (a rerun reuses the roster).
    async fn member(&mut self, name: &str, role: cm::MemberRole) -> Result<String, String> {
        let subject = format!("demo-{}", name.to_lowercase());
        let mut page_token = String::new();
        loop {
            let request = cm::ListMembersRequest { page_size: 200, page_token };
            let page = answer(
                "ListMembers",
                self.committee.list_members(self.staff(Role::CommitteeSecretary, request)).await,
            )?;
            if let Some(member) = page.members.into_iter().find(|m| m.subject == subject) {
                return Ok(member.name);
            }
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        let member = cm::Member {
            display_name: name.into(),
            role: role as i32,
            term_start: Some(cm::Date { year: 2024, month: 1, day: 1 }),
            subject,
            ..Default::default()
        };
        let request = cm::CreateMemberRequest { request_id: rid(), member: Some(member) };
        Ok(answer("CreateMember", self.committee.create_member(self.staff(Role::CommitteeSecretary, request)).await)?
            .member
            .ok_or("CreateMember: no member")?
            .name)
    }

    async fn case(&mut self, name: &str) -> Result<cm::Case, String> {
        let request = self.staff(Role::CommitteeSecretary, cm::GetCaseRequest { name: name.into() });
        answer("GetCase", self.committee.get_case(request).await)?.case.ok_or_else(|| format!("{name}: no case"))
    }

    async fn assess_all(&mut self, case: &str) -> Result<(), String> {
        use cm::BasicRequirement::*;
        for requirement in [PracticeDevelopment, SystematicWork, DefinedTargetGroup, LongTerm, ObjectivesAndEvaluation]
        {
            let request = cm::AssessRequirementRequest {
                name: case.into(),
                request_id: rid(),
                assessment: Some(cm::RequirementAssessment {
                    requirement: requirement as i32,
                    verdict: cm::RequirementVerdict::Met as i32,
                    justification: "Belagt i ansökan och bilagorna".into(),
                    ..Default::default()
                }),
                ..Default::default()
            };
            answer(
                "AssessRequirement",
                self.committee.assess_requirement(self.staff(Role::CommitteeSecretary, request)).await,
            )?;
        }
        expect("assessed requirements", self.case(case).await?.requirement_assessments.len(), 5)
    }

    async fn meeting(&mut self, cases: &[String], present: &[&String]) -> Result<String, String> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let meeting = cm::Meeting {
            title: "Expertkommitténs möte".into(),
            location: "Örebro".into(),
            start_time: Some(prost_types::Timestamp { seconds: now.as_secs() as i64, nanos: 0 }),
            ..Default::default()
        };
        let request = self
            .staff(Role::CommitteeSecretary, cm::CreateMeetingRequest { request_id: rid(), meeting: Some(meeting) });
        let name =
            answer("CreateMeeting", self.committee.create_meeting(request).await)?.meeting.ok_or("no meeting")?.name;
        for case in cases {
            let add = cm::AddAgendaItemRequest {
                name: name.clone(),
                request_id: rid(),
                case: case.clone(),
                ..Default::default()
            };
            answer("AddAgendaItem", self.committee.add_agenda_item(self.staff(Role::CommitteeSecretary, add)).await)?;
        }
        for member in present {
            let attend = cm::RecordAttendanceRequest {
                name: name.clone(),
                request_id: rid(),
                member: (*member).clone(),
                status: cm::AttendanceStatus::Present as i32,
                ..Default::default()
            };
            answer(
                "RecordAttendance",
                self.committee.record_attendance(self.staff(Role::CommitteeSecretary, attend)).await,
            )?;
        }
        let start = cm::StartMeetingRequest { name: name.clone(), request_id: rid(), ..Default::default() };
        answer(
            "StartMeeting",
            self.committee.start_meeting(self.as_("demo-carl", Role::CommitteeChair, None, start)).await,
        )?;
        let request = self.staff(Role::CommitteeSecretary, cm::GetMeetingRequest { name: name.clone() });
        let meeting = answer("GetMeeting", self.committee.get_meeting(request).await)?.meeting.ok_or("no meeting")?;
        expect("the meeting's agenda", meeting.agenda.len(), cases.len())?;
        expect("the meeting's state", meeting.state, cm::MeetingState::InProgress as i32)?;
        Ok(name)
    }

    async fn report(
        &mut self,
        plan: &str,
        org: &str,
        period_end: Option<mo::Date>,
        indicator_values: Vec<mo::IndicatorValue>,
        target_group_reach: Vec<mo::TargetGroupReach>,
    ) -> Result<String, String> {
        let request = mo::CreateOutcomeReportRequest {
            parent: plan.into(),
            request_id: rid(),
            outcome_report: Some(mo::OutcomeReport {
                period_end,
                indicator_values,
                target_group_reach,
                narrative: "Arbetet går enligt plan; se bilagda underlag.".into(),
                ..Default::default()
            }),
        };
        let report =
            answer("CreateOutcomeReport", self.monitoring.create_outcome_report(self.borrower(org, request)).await)?
                .outcome_report
                .ok_or("no report")?;
        expect("a new report", report.state, mo::OutcomeReportState::Draft as i32)?;
        Ok(report.name)
    }

    async fn submit(&mut self, report: &str, org: &str) -> Result<(), String> {
        let request = mo::SubmitOutcomeReportRequest { name: report.into(), request_id: rid(), ..Default::default() };
        let submitted =
            answer("SubmitOutcomeReport", self.monitoring.submit_outcome_report(self.borrower(org, request)).await)?
                .outcome_report
                .ok_or("no report")?;
        expect("a submitted report", submitted.state, mo::OutcomeReportState::Submitted as i32)
    }

    async fn accept(&mut self, report: &str) -> Result<mo::OutcomeReport, String> {
        let request = mo::AcceptOutcomeReportRequest { name: report.into(), request_id: rid(), ..Default::default() };
        answer(
            "AcceptOutcomeReport",
            self.monitoring.accept_outcome_report(self.staff(Role::ReportReviewer, request)).await,
        )?;
        let request = self.staff(Role::ReportReviewer, mo::GetOutcomeReportRequest { name: report.into() });
        let report = answer("GetOutcomeReport", self.monitoring.get_outcome_report(request).await)?
            .outcome_report
            .ok_or("no report")?;
        expect("an accepted report", report.state, mo::OutcomeReportState::Accepted as i32)?;
        Ok(report)
    }
}

fn value(code: &str, value: f64, unit: &str, method: &str) -> mo::IndicatorValue {
    mo::IndicatorValue {
        indicator_code: code.into(),
        value: Some(value),
        unit: unit.into(),
        method: method.into(),
        ..Default::default()
    }
}

fn truncate(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(chars).collect::<String>())
    }
}

fn category(category: i32) -> String {
    short(ap::Category::try_from(category).unwrap_or_default().as_str_name())
}

fn short_vote(choice: cm::VoteChoice) -> String {
    short(choice.as_str_name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_like_kronor_and_states_like_words() {
        assert_eq!(sek(400_000_000), "400\u{a0}000\u{a0}000 kr");
        assert_eq!(sek(75), "75 kr");
        assert_eq!(app_state(ap::ApplicationState::ReturnedForCompletion as i32), "returned for completion");
        assert_eq!(short_vote(cm::VoteChoice::ApproveWithConditions), "approve with conditions");
        assert_eq!(truncate("Varsam renovering", 6), "Varsam…");
    }
}
