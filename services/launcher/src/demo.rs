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

use socialloans_contracts::common;
use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use socialloans_contracts::{
    applications::{self as ap, applications_service_client::ApplicationsServiceClient},
    bonds::bonds_service_client::BondsServiceClient,
    committee::{self as cm, committee_service_client::CommitteeServiceClient},
    monitoring::{self as mo, monitoring_service_client::MonitoringServiceClient},
    notices::notices_service_client::NoticesServiceClient,
};
use socialloans_platform::{Role, auth::DevTokenMinter};
use tonic::Request;

use crate::{Endpoints, Suite, pilots, retry::Retrying, tokens};

mod bonds;
mod chapters;
mod notices;

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
    /// Each borrower's extract of the minutes, in the story's order.
    pub extract_files: Vec<PathBuf>,
    /// The bond register's published reports and the investor report's
    /// exports (none when the suite names no bonds service).
    pub bond_files: Vec<PathBuf>,
}

/// `socialloans demo`: uses the suite if it is up, otherwise starts it for
/// the story and stops it afterwards.
pub fn main(home: &Path) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    let mut endpoints = Endpoints::local()?;
    if std::env::var("SOCIALLOANS_APPLICATIONS_URL").is_err() {
        // A local suite of this home: its detector reads the day the story writes.
        endpoints.clock_file = Some(crate::services::clock_file(home));
    }
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
    for file in &outcome.extract_files {
        println!("  extract of the minutes             {}", file.display());
    }
    println!("  the notices sent                   {}/mail/new", home.display());
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
    let notices = match endpoints.notices.as_str() {
        "" => None,
        url => Some(NoticesServiceClient::new(Retrying::new(connect(url).await?))),
    };
    let bonds = match endpoints.bonds.as_str() {
        "" => None,
        url => Some(BondsServiceClient::new(Retrying::new(connect(url).await?))),
    };
    let mut story = Story {
        apps: ApplicationsServiceClient::new(channels[0].clone()),
        committee: CommitteeServiceClient::new(channels[1].clone()),
        monitoring: MonitoringServiceClient::new(channels[2].clone()),
        notices,
        bonds,
        clock_file: endpoints.clock_file.clone(),
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
    /// The notices service, when the suite names one.
    notices: Option<NoticesServiceClient<Retrying>>,
    /// The bonds service, when the suite names one.
    bonds: Option<BondsClient>,
    /// The file the suite's overdue detector reads today from, when the
    /// story may let time pass.
    clock_file: Option<PathBuf>,
    minter: DevTokenMinter,
    say: &'a mut (dyn FnMut(String) + Send),
}

/// A client of the bonds service.
type BondsClient = BondsServiceClient<Retrying>;

fn rid() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The answer of a call, or what went wrong, named by the method (the
/// answer's message name without `Response`).
fn answer<T: prost::Name>(result: Result<tonic::Response<T>, tonic::Status>) -> Result<T, String> {
    let method = T::NAME.strip_suffix("Response").unwrap_or(T::NAME);
    result.map(tonic::Response::into_inner).map_err(|s| format!("{method}: {:?} {}", s.code(), s.message()))
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
/// The two pilots' organisation numbers, in the story's order.
const ORGS: [&str; 2] = [pilots::BOTKYRKABYGGEN, pilots::EIDAR];
/// What the story calls them.
const SHORT_NAMES: [&str; 2] = ["Botkyrkabyggen", "AB Eidar"];
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
        answer(self.apps.get_application(request).await)?
            .application
            .ok_or_else(|| format!("{name}: no application in the answer"))
    }

    async fn expect_app(&mut self, name: &str, want: ap::ApplicationState) -> Result<ap::Application, String> {
        let app = self.application(name).await?;
        expect(&format!("{name} state"), app_state(app.state), app_state(want as i32))?;
        Ok(app)
    }

    /// Checks that application `name` has moved to `want`, and says `who`
    /// did `what`, with that state.
    async fn moved(
        &mut self,
        name: &str,
        want: ap::ApplicationState,
        who: &str,
        what: &str,
    ) -> Result<ap::Application, String> {
        let app = self.expect_app(name, want).await?;
        self.step(who, what, &app_state(app.state));
        Ok(app)
    }

    /// Waits (at most 60 s) until `check` passes: the suite's events are
    /// asynchronous, and a stack that has just come up may still be
    /// connecting its consumers to their peers.
    async fn eventually<T, F>(&mut self, what: &str, mut check: F) -> Result<T, String>
    where
        F: AsyncFnMut(&mut Self) -> Result<Option<T>, String>,
    {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(value) = check(self).await? {
                return Ok(value);
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!("{what} did not happen within 60 s"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn tell(&mut self, out: &Path) -> Result<Outcome, String> {
        self.recipients().await?;
        let applications = self.apply().await?;
        let (cases, meeting, minutes_file) = self.committee_meets(&applications, out).await?;
        let extract_files = self.extracts(&applications, out).await?;
        self.decisions_reach_the_applications(&applications).await?;
        let plans = self.two_years_of_outcomes(&applications).await?;
        let (portfolio, files) = self.progress_and_portfolio(&plans, out).await?;
        self.the_loans_life(&applications).await?;
        let bond_files = self.the_bonds(&applications, out).await?;
        self.communication_logs().await?;
        Ok(Outcome {
            applications,
            cases,
            meeting,
            plans: [plans[0].name.clone(), plans[1].name.clone()],
            portfolio,
            minutes_file,
            csv_file: files[0].clone(),
            svg_file: files[1].clone(),
            extract_files,
            bond_files,
        })
    }

    /// The member with subject `demo-<name>`, created unless it exists (a rerun reuses the roster).
    async fn member(&mut self, name: &str, role: cm::MemberRole) -> Result<String, String> {
        let subject = format!("demo-{}", name.to_lowercase());
        let mut page_token = String::new();
        loop {
            let request = cm::ListMembersRequest { page_size: 200, page_token };
            let page = answer(self.committee.list_members(self.staff(Role::CommitteeSecretary, request)).await)?;
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
            term_start: Some(common::Date { year: 2024, month: 1, day: 1 }),
            subject,
            ..Default::default()
        };
        let request = cm::CreateMemberRequest { request_id: rid(), member: Some(member) };
        Ok(answer(self.committee.create_member(self.staff(Role::CommitteeSecretary, request)).await)?
            .member
            .ok_or("CreateMember: no member")?
            .name)
    }

    async fn case(&mut self, name: &str) -> Result<cm::Case, String> {
        let request = self.staff(Role::CommitteeSecretary, cm::GetCaseRequest { name: name.into() });
        answer(self.committee.get_case(request).await)?.case.ok_or_else(|| format!("{name}: no case"))
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
            answer(self.committee.assess_requirement(self.staff(Role::CommitteeSecretary, request)).await)?;
        }
        expect("assessed requirements", self.case(case).await?.requirement_assessments.len(), 5)
    }

    /// Olof is appointed adjuster; Carl (chair) and Olof approve the
    /// minutes (justering), which freezes the decisions.
    async fn justera(&mut self, meeting: &str, olof: &str) -> Result<cm::Meeting, String> {
        let appoint = cm::AppointAdjusterRequest {
            name: meeting.into(),
            request_id: rid(),
            member: olof.into(),
            ..Default::default()
        };
        let request = self.as_("demo-carl", Role::CommitteeChair, None, appoint);
        answer(self.committee.appoint_adjuster(request).await)?;
        let approve = || cm::ApproveMinutesRequest { name: meeting.into(), request_id: rid(), ..Default::default() };
        let request = self.as_("demo-carl", Role::CommitteeChair, None, approve());
        let signed = answer(self.committee.approve_minutes(request).await)?.meeting.ok_or("no meeting")?;
        expect("the minutes after the chair alone", signed.state, cm::MeetingState::Adjourned as i32)?;
        let request = self.as_("demo-olof", Role::CommitteeMember, None, approve());
        let approved = answer(self.committee.approve_minutes(request).await)?.meeting.ok_or("no meeting")?;
        expect("the minutes after both", approved.state, cm::MeetingState::MinutesApproved as i32)?;
        self.step("Carl and Olof", "Olof adjuster; both approve the minutes (justerat); decisions frozen", "justerat");
        Ok(approved)
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
        let name = answer(self.committee.create_meeting(request).await)?.meeting.ok_or("no meeting")?.name;
        for case in cases {
            let add = cm::AddAgendaItemRequest {
                name: name.clone(),
                request_id: rid(),
                case: case.clone(),
                ..Default::default()
            };
            answer(self.committee.add_agenda_item(self.staff(Role::CommitteeSecretary, add)).await)?;
        }
        for member in present {
            let attend = cm::RecordAttendanceRequest {
                name: name.clone(),
                request_id: rid(),
                member: (*member).clone(),
                status: cm::AttendanceStatus::Present as i32,
                ..Default::default()
            };
            answer(self.committee.record_attendance(self.staff(Role::CommitteeSecretary, attend)).await)?;
        }
        let start = cm::StartMeetingRequest { name: name.clone(), request_id: rid(), ..Default::default() };
        answer(self.committee.start_meeting(self.as_("demo-carl", Role::CommitteeChair, None, start)).await)?;
        let request = self.staff(Role::CommitteeSecretary, cm::GetMeetingRequest { name: name.clone() });
        let meeting = answer(self.committee.get_meeting(request).await)?.meeting.ok_or("no meeting")?;
        expect("the meeting's agenda", meeting.agenda.len(), cases.len())?;
        expect("the meeting's state", meeting.state, cm::MeetingState::InProgress as i32)?;
        Ok(name)
    }

    async fn report(
        &mut self,
        plan: &str,
        org: &str,
        period_end: Option<common::Date>,
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
        let report = answer(self.monitoring.create_outcome_report(self.borrower(org, request)).await)?
            .outcome_report
            .ok_or("no report")?;
        expect("a new report", report.state, mo::OutcomeReportState::Draft as i32)?;
        Ok(report.name)
    }

    async fn submit(&mut self, report: &str, org: &str) -> Result<(), String> {
        let request = mo::SubmitOutcomeReportRequest { name: report.into(), request_id: rid(), ..Default::default() };
        let submitted = answer(self.monitoring.submit_outcome_report(self.borrower(org, request)).await)?
            .outcome_report
            .ok_or("no report")?;
        expect("a submitted report", submitted.state, mo::OutcomeReportState::Submitted as i32)
    }

    async fn accept(&mut self, report: &str) -> Result<mo::OutcomeReport, String> {
        let request = mo::AcceptOutcomeReportRequest { name: report.into(), request_id: rid(), ..Default::default() };
        answer(self.monitoring.accept_outcome_report(self.staff(Role::ReportReviewer, request)).await)?;
        let request = self.staff(Role::ReportReviewer, mo::GetOutcomeReportRequest { name: report.into() });
        let report = answer(self.monitoring.get_outcome_report(request).await)?.outcome_report.ok_or("no report")?;
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
    short(common::Category::try_from(category).unwrap_or_default().as_str_name())
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

    #[test]
    fn a_failed_call_is_named_by_its_method() {
        let failed: Result<tonic::Response<ap::TagLoanResponse>, _> = Err(tonic::Status::not_found("no such loan"));
        assert_eq!(answer(failed), Err("TagLoan: NotFound no such loan".to_owned()));
    }
}
