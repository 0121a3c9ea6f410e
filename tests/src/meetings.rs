//! The committee and the applications service in process, over gRPC, with
//! the steps of a meeting as methods: the roster, assessments, a meeting
//! held with an agenda and attendance, votes, decisions, and the minutes'
//! approval by the chair and the adjuster.

use std::time::Duration;

use socialloans_contracts::{
    applications::{self as ap, applications_service_client::ApplicationsServiceClient},
    committee::{self as cm, committee_service_client::CommitteeServiceClient},
    common,
};
use socialloans_platform::Role;

use crate::{
    Db, authorized, channel,
    flow::{rid, staff},
    services, specs,
};

pub fn as_person<T>(subject: &str, roles: &[Role], message: T) -> tonic::Request<T> {
    let token = crate::minter().mint(subject, roles, None, Duration::from_secs(3600));
    authorized(message, &token)
}

pub struct Committee {
    pub db: Db,
    pub apps_service: socialloans_platform::Running,
    pub committee_service: socialloans_platform::Running,
    pub apps: ApplicationsServiceClient<tonic::transport::Channel>,
    pub client: CommitteeServiceClient<tonic::transport::Channel>,
}

impl Committee {
    pub async fn start() -> Committee {
        let db = Db::prepared(&specs()).await;
        let fast = [("OUTBOX_POLL_MS", "200"), ("FEED_HEARTBEAT_MS", "300")];
        let probe = testkit::reserved_addr;
        let (apps_addr, committee_addr) = (probe(), probe());
        let (committee_feed, apps_feed) = (format!("http://{committee_addr}"), format!("http://{apps_addr}"));
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
        let apps = ApplicationsServiceClient::new(channel(apps_addr).await);
        let client = CommitteeServiceClient::new(channel(committee_addr).await);
        Committee { db, apps_service, committee_service, apps, client }
    }

    pub async fn stop(self) {
        self.apps_service.stop().await.unwrap();
        self.committee_service.stop().await.unwrap();
    }

    pub async fn member(&mut self, name: &str, role: cm::MemberRole, term_end: Option<common::Date>) -> String {
        let member = cm::Member {
            display_name: name.into(),
            role: role as i32,
            term_start: Some(common::Date { year: 2024, month: 1, day: 1 }),
            term_end,
            subject: name.to_lowercase(),
            ..Default::default()
        };
        let request = cm::CreateMemberRequest { request_id: rid(), member: Some(member) };
        self.client
            .create_member(staff(request, Role::CommitteeSecretary))
            .await
            .unwrap()
            .into_inner()
            .member
            .unwrap()
            .name
    }

    pub async fn assess(&mut self, case: &str, requirement: cm::BasicRequirement, verdict: cm::RequirementVerdict) {
        let request = cm::AssessRequirementRequest {
            name: case.into(),
            request_id: rid(),
            assessment: Some(cm::RequirementAssessment {
                requirement: requirement as i32,
                verdict: verdict as i32,
                justification: "Bedömt".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.client.assess_requirement(staff(request, Role::CommitteeSecretary)).await.unwrap();
    }

    pub async fn assess_all(&mut self, case: &str) {
        use cm::BasicRequirement::*;
        for requirement in [PracticeDevelopment, SystematicWork, DefinedTargetGroup, LongTerm, ObjectivesAndEvaluation]
        {
            let request = cm::AssessRequirementRequest {
                name: case.into(),
                request_id: rid(),
                assessment: Some(cm::RequirementAssessment {
                    requirement: requirement as i32,
                    verdict: cm::RequirementVerdict::Met as i32,
                    justification: "Väl underbyggt".into(),
                    ..Default::default()
                }),
                ..Default::default()
            };
            self.client.assess_requirement(staff(request, Role::CommitteeSecretary)).await.unwrap();
        }
    }

    pub async fn meeting(&mut self, title: &str, agenda: &[&str], present: &[&str]) -> String {
        let meeting = cm::Meeting {
            title: title.into(),
            location: "Örebro".into(),
            start_time: Some(prost_types::Timestamp {
                seconds: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64,
                nanos: 0,
            }),
            ..Default::default()
        };
        let name = self
            .client
            .create_meeting(staff(
                cm::CreateMeetingRequest { request_id: rid(), meeting: Some(meeting) },
                Role::CommitteeSecretary,
            ))
            .await
            .unwrap()
            .into_inner()
            .meeting
            .unwrap()
            .name;
        for case in agenda {
            let add = cm::AddAgendaItemRequest {
                name: name.clone(),
                request_id: rid(),
                case: (*case).into(),
                ..Default::default()
            };
            self.client.add_agenda_item(staff(add, Role::CommitteeSecretary)).await.unwrap();
        }
        for member in present {
            let attend = cm::RecordAttendanceRequest {
                name: name.clone(),
                request_id: rid(),
                member: (*member).into(),
                status: cm::AttendanceStatus::Present as i32,
                ..Default::default()
            };
            self.client.record_attendance(staff(attend, Role::CommitteeSecretary)).await.unwrap();
        }
        let start = cm::StartMeetingRequest { name: name.clone(), request_id: rid(), ..Default::default() };
        self.client.start_meeting(staff(start, Role::CommitteeChair)).await.unwrap();
        name
    }

    pub async fn get_meeting(&mut self, name: &str) -> cm::Meeting {
        let get = cm::GetMeetingRequest { name: name.into() };
        self.client.get_meeting(staff(get, Role::CommitteeMember)).await.unwrap().into_inner().meeting.unwrap()
    }

    /// The meeting's quorum, and of the first case on its agenda the
    /// eligible members present and whether they reach it.
    pub async fn standing(&mut self, name: &str) -> (i32, i32, bool) {
        let meeting = self.get_meeting(name).await;
        let item = &meeting.agenda[0];
        (meeting.quorum, item.eligible_present_count, item.quorate)
    }

    pub async fn update_meeting(
        &mut self,
        name: &str,
        etag: &str,
        patch: cm::Meeting,
        paths: &[&str],
    ) -> Result<cm::Meeting, tonic::Status> {
        let request = cm::UpdateMeetingRequest {
            request_id: rid(),
            meeting: Some(cm::Meeting { name: name.into(), ..patch }),
            update_mask: Some(prost_types::FieldMask { paths: paths.iter().map(|p| (*p).to_owned()).collect() }),
            etag: etag.into(),
        };
        self.client
            .update_meeting(staff(request, Role::CommitteeSecretary))
            .await
            .map(|r| r.into_inner().meeting.unwrap())
    }

    pub async fn vote(
        &mut self,
        who: &str,
        case: &str,
        choice: cm::VoteChoice,
        comment: &str,
    ) -> Result<cm::Vote, tonic::Status> {
        let vote = cm::Vote { choice: choice as i32, comment: comment.into(), ..Default::default() };
        let request = cm::CastVoteRequest { parent: case.into(), request_id: rid(), vote: Some(vote) };
        self.client
            .cast_vote(as_person(&who.to_lowercase(), &[Role::CommitteeMember], request))
            .await
            .map(|r| r.into_inner().vote.unwrap())
    }

    pub async fn record(
        &mut self,
        who: &str,
        roles: &[Role],
        case: &str,
        decision: cm::Decision,
    ) -> Result<cm::Decision, tonic::Status> {
        let request = cm::RecordDecisionRequest {
            parent: case.into(),
            request_id: rid(),
            decision: Some(decision),
            ..Default::default()
        };
        self.client.record_decision(as_person(who, roles, request)).await.map(|r| r.into_inner().decision.unwrap())
    }

    pub async fn confirm(&mut self, who: &str, roles: &[Role], decision: &str) -> Result<cm::Decision, tonic::Status> {
        let request = cm::ConfirmDecisionRequest { name: decision.into(), request_id: rid(), ..Default::default() };
        self.client.confirm_decision(as_person(who, roles, request)).await.map(|r| r.into_inner().decision.unwrap())
    }

    /// The member `member` (whose subject is `subject`) declares a conflict of
    /// interest in `case`.
    pub async fn declare_conflict(&mut self, case: &str, member: &str, subject: &str, description: &str) {
        let conflict = cm::DeclareConflictOfInterestRequest {
            parent: case.into(),
            request_id: rid(),
            declaration: Some(cm::ConflictOfInterestDeclaration {
                member: member.into(),
                description: description.into(),
                ..Default::default()
            }),
        };
        self.client.declare_conflict_of_interest(as_person(subject, &[Role::CommitteeMember], conflict)).await.unwrap();
    }

    /// Appoints the member `adjuster` (its resource name; its subject is
    /// `subject`) adjuster of `meeting`.
    pub async fn appoint_adjuster(&mut self, meeting: &str, adjuster: &str) -> Result<cm::Meeting, tonic::Status> {
        let request = cm::AppointAdjusterRequest {
            name: meeting.into(),
            request_id: rid(),
            member: adjuster.into(),
            ..Default::default()
        };
        self.client
            .appoint_adjuster(staff(request, Role::CommitteeSecretary))
            .await
            .map(|r| r.into_inner().meeting.unwrap())
    }

    /// `who`, acting in `roles`, approves the minutes of `meeting`.
    pub async fn approve(&mut self, who: &str, roles: &[Role], meeting: &str) -> Result<cm::Meeting, tonic::Status> {
        let request = cm::ApproveMinutesRequest { name: meeting.into(), request_id: rid(), ..Default::default() };
        self.client.approve_minutes(as_person(who, roles, request)).await.map(|r| r.into_inner().meeting.unwrap())
    }

    /// The minutes of the adjourned `meeting` approved (justerade): the
    /// member `adjuster` (resource name), whose subject is `subject`,
    /// appointed; then approved by the chair (subject "carl") and by the
    /// adjuster.
    pub async fn justera(&mut self, meeting: &str, adjuster: &str, subject: &str) -> cm::Meeting {
        self.appoint_adjuster(meeting, adjuster).await.unwrap();
        self.approve("carl", &[Role::CommitteeChair], meeting).await.unwrap();
        self.approve(subject, &[Role::CommitteeMember], meeting).await.unwrap()
    }
}

pub fn sek(kronor: i64) -> Option<common::Money> {
    Some(common::Money { currency_code: "SEK".into(), minor_units: kronor * 100 })
}

pub async fn application_state(
    apps: &mut ApplicationsServiceClient<tonic::transport::Channel>,
    name: &str,
    want: ap::ApplicationState,
) -> bool {
    for _ in 0..200 {
        let got = apps
            .get_application(staff(ap::GetApplicationRequest { name: name.into() }, Role::Analyst))
            .await
            .unwrap()
            .into_inner();
        if got.application.unwrap().state == want as i32 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// The committee case opened for `application`, once the feed has opened it.
pub async fn case_of(committee: &mut CommitteeServiceClient<tonic::transport::Channel>, application: &str) -> cm::Case {
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
