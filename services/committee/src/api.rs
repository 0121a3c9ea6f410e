//! The committee's gRPC handlers: the roster, cases, the assessment of the
//! five basic requirements, conflict-of-interest declarations, meetings,
//! votes, decisions, minutes, the audit chain and the event feed.

use socialloans_contracts::committee::{self as pb, committee_service_server::CommitteeService};
use socialloans_platform::{
    Caller, Reply,
    auth::open,
    error::FieldViolation,
    events::{Feed, FeedStream},
    pagination::{cut_page, cut_sequence_page, decode_position, decode_token, page_size},
    unit::{self, Mutation},
};
use sqlx::{PgConnection, PgPool};
use tonic::{Request, Response};
use uuid::Uuid;

use crate::{cases, casework, chain, error::Error, meetings, members, proceedings, store};

/// The committee handlers.
#[derive(Debug, Clone)]
pub struct Api {
    /// The service's pool.
    pub pool: PgPool,
    /// The service's feed.
    pub feed: Feed,
    /// Quorum and decision rules.
    pub rules: crate::proceedings::Rules,
    /// The key that signs the chain's head.
    pub key: crate::signing::ChainKey,
}

use crate::proceedings::parse;

/// The answer of a step of a meeting: the meeting as shown.
trait MeetingAnswer: prost::Message + Default {
    /// The answer holding `meeting`.
    fn of(meeting: pb::Meeting) -> Self;
}

/// Every meeting step answers with a `meeting` field.
macro_rules! meeting_answers {
    ($($answer:ident),* $(,)?) => {
        $(impl MeetingAnswer for pb::$answer {
            fn of(meeting: pb::Meeting) -> Self {
                Self { meeting: Some(meeting) }
            }
        })*
    };
}

meeting_answers!(
    CreateMeetingResponse,
    UpdateMeetingResponse,
    AddAgendaItemResponse,
    RemoveAgendaItemResponse,
    RecordAttendanceResponse,
    StartMeetingResponse,
    AdjournMeetingResponse,
    CancelMeetingResponse,
    ApproveMinutesResponse,
    AppointAdjusterResponse,
);

/// The message field `field`, which the request must carry.
fn required<T: Clone>(field: &str, value: &Option<T>) -> Result<T, Error> {
    value.clone().ok_or_else(|| FieldViolation::new(field, "is required").into())
}

/// A keyset position: creation (or start) time and id of the last row served.
type Cursor = (chrono::DateTime<chrono::Utc>, Uuid);

fn page(query: &str, size: i32, token: &str) -> Result<(u32, Option<Cursor>), Error> {
    Ok((page_size(size)?, decode_position(query, token)?))
}

/// A list's filter by the state `value` of the enum `S`: none when
/// unspecified, else the state as stored; a value `S` does not have is refused.
fn state_filter<S: TryFrom<i32> + Default + PartialEq>(
    value: i32,
    kind: &str,
    stored: fn(S) -> String,
) -> Result<Option<String>, Error> {
    match S::try_from(value) {
        Ok(state) if state == S::default() => Ok(None),
        Ok(state) => Ok(Some(stored(state))),
        Err(_) => Err(FieldViolation::new("state", format!("is not a {kind}")).into()),
    }
}

/// What a look-up of `name` found, or NOT_FOUND.
fn found<T>(row: Result<Option<T>, sqlx::Error>, name: &str) -> Result<T, Error> {
    row?.ok_or_else(|| Error::NotFound(name.to_owned()))
}

impl Api {
    /// Runs `work` for `caller`'s `request` as one unit of work
    /// ([`unit::run_simple`]) and answers with what it returns: who acts is
    /// named for the history's triggers, a retry replays the first answer, a
    /// failure leaves nothing behind. What the request must be is checked
    /// before, so that a bad request claims no request id.
    async fn mutate<Req: Mutation, Resp: prost::Message + Default>(
        &self,
        caller: &Caller,
        request: &Req,
        work: impl AsyncFnOnce(&mut PgConnection) -> Result<Resp, Error>,
    ) -> Reply<Resp> {
        let answer = unit::run_simple(&self.pool, caller, request, work).await?;
        Ok(Response::new(answer))
    }

    /// [`Api::mutate`] for a call with nothing to check first: `work` gets
    /// the caller and the request.
    async fn step<Req: Mutation, Resp: prost::Message + Default>(
        &self,
        request: Request<Req>,
        work: impl AsyncFnOnce(&mut PgConnection, &Caller, &Req) -> Result<Resp, Error>,
    ) -> Reply<Resp> {
        let (caller, req) = open(request)?;
        self.mutate(&caller, &req, async |conn| work(conn, &caller, &req).await).await
    }

    /// [`Api::step`] for a step of a meeting, answered with the meeting as shown.
    async fn meeting_step<Req: Mutation, Resp: MeetingAnswer>(
        &self,
        request: Request<Req>,
        work: impl AsyncFnOnce(&mut PgConnection, &Caller, &Req) -> Result<pb::Meeting, Error>,
    ) -> Reply<Resp> {
        self.step(request, async |conn, caller, req| {
            let meeting = work(conn, caller, req).await?;
            Ok(Resp::of(self.shown(conn, meeting).await?))
        })
        .await
    }

    /// A page of a list in sequence order (the chain, the history) of what is
    /// named `resource` (all when empty) and what lies under it: `list` reads
    /// the rows after a sequence, at most a page and one more. The page, and
    /// the next page's token.
    async fn sequence_page<R: store::Sequenced>(
        &self,
        resource: &str,
        size: i32,
        token: &str,
        list: impl AsyncFnOnce(&PgPool, &str, i64, u32) -> Result<Vec<R>, sqlx::Error>,
    ) -> Result<(Vec<R>, String), Error> {
        let size = page_size(size)?;
        let after = match decode_token(resource, token)? {
            Some(text) => {
                text.parse().map_err(|_| FieldViolation::new("page_token", "is not a token this list returned"))?
            }
            None => 0,
        };
        let mut rows = list(&self.pool, resource, after, size).await?;
        let next_page_token = cut_sequence_page(resource, &mut rows, size, R::sequence);
        Ok((rows, next_page_token))
    }

    /// `caller` taking a step the chain records, by `request_id`.
    fn acting<'a>(&'a self, caller: &'a Caller, request_id: &'a str) -> proceedings::Acting<'a> {
        proceedings::Acting { caller, request_id, key: &self.key }
    }

    /// A meeting as shown: with the quorum and, per case, who may decide it.
    async fn shown(&self, conn: &mut PgConnection, meeting: pb::Meeting) -> Result<pb::Meeting, Error> {
        let mut shown = [meeting];
        proceedings::annotate(conn, self.rules.quorum, &mut shown).await?;
        let [meeting] = shown;
        Ok(meeting)
    }
}

#[tonic::async_trait]
impl CommitteeService for Api {
    type StreamEventsStream = FeedStream;

    async fn create_member(&self, request: Request<pb::CreateMemberRequest>) -> Reply<pb::CreateMemberResponse> {
        let (caller, req) = open(request)?;
        let member = required("member", &req.member)?;
        members::checked(&member, "member.")?;
        self.mutate(&caller, &req, async |conn| {
            Ok(pb::CreateMemberResponse { member: Some(members::insert(conn, &member).await?.view()) })
        })
        .await
    }

    async fn get_member(&self, request: Request<pb::GetMemberRequest>) -> Reply<pb::GetMemberResponse> {
        let name = &request.get_ref().name;
        let id = parse("name", "members/", name)?;
        let row = found(store::members::get(&self.pool, id).await, name)?;
        Ok(Response::new(pb::GetMemberResponse { member: Some(row.view()) }))
    }

    async fn list_members(&self, request: Request<pb::ListMembersRequest>) -> Reply<pb::ListMembersResponse> {
        let req = request.into_inner();
        let (size, after) = page("members", req.page_size, &req.page_token)?;
        let mut rows = store::members::list(&self.pool, after, size).await.map_err(Error::from)?;
        let next_page_token = cut_page("members", &mut rows, size, |_| 0, |r| (r.create_time, r.id));
        Ok(Response::new(pb::ListMembersResponse {
            members: rows.iter().map(store::members::Row::view).collect(),
            next_page_token,
        }))
    }

    async fn get_case(&self, request: Request<pb::GetCaseRequest>) -> Reply<pb::GetCaseResponse> {
        let name = &request.get_ref().name;
        let id = parse("name", "cases/", name)?;
        let row = found(store::cases::get(&self.pool, id).await, name)?;
        Ok(Response::new(pb::GetCaseResponse { case: Some(cases::view(&row)?) }))
    }

    async fn list_cases(&self, request: Request<pb::ListCasesRequest>) -> Reply<pb::ListCasesResponse> {
        let req = request.into_inner();
        let state = state_filter(req.state, "CaseState", cases::state_name)?;
        if !req.meeting.is_empty() {
            return Err(Error::from(FieldViolation::new("meeting", "filtering by meeting is not supported yet")).into());
        }
        let application = (!req.application.is_empty()).then_some(req.application.as_str());
        let query = format!("{state:?}|{application:?}");
        let (size, after) = page(&query, req.page_size, &req.page_token)?;
        let mut rows =
            store::cases::list(&self.pool, state.as_deref(), application, after, size).await.map_err(Error::from)?;
        // A page ends at its size or its byte budget, whichever comes first.
        let next_page_token = cut_page(&query, &mut rows, size, |r| r.content.len(), |r| (r.create_time, r.id));
        let cases = rows.iter().map(cases::view).collect::<Result<_, _>>()?;
        Ok(Response::new(pb::ListCasesResponse { cases, next_page_token }))
    }

    async fn assess_requirement(
        &self,
        request: Request<pb::AssessRequirementRequest>,
    ) -> Reply<pb::AssessRequirementResponse> {
        let (caller, req) = open(request)?;
        let assessment = required("assessment", &req.assessment)?;
        casework::check_assessment(&assessment)?;
        let assessment = casework::assessed_by(&caller, assessment);
        let id = parse("name", "cases/", &req.name)?;
        self.mutate(&caller, &req, async |conn| {
            let case = casework::assess(conn, &caller, id, &req.name, &req.etag, assessment).await?;
            Ok(pb::AssessRequirementResponse { case: Some(case) })
        })
        .await
    }

    async fn declare_conflict_of_interest(
        &self,
        request: Request<pb::DeclareConflictOfInterestRequest>,
    ) -> Reply<pb::DeclareConflictOfInterestResponse> {
        let (caller, req) = open(request)?;
        let declaration = required("declaration", &req.declaration)?;
        let member_id = parse("declaration.member", "members/", &declaration.member)?;
        let case_id = parse("parent", "cases/", &req.parent)?;
        casework::check_declaration(&declaration)?;
        let declaration = casework::declared_by(&self.pool, &caller, &req.parent, member_id, declaration).await?;
        self.mutate(&caller, &req, async |conn| {
            casework::declare_conflict(conn, case_id, member_id, &req.parent, &declaration).await?;
            Ok(pb::DeclareConflictOfInterestResponse { declaration: Some(declaration) })
        })
        .await
    }

    async fn create_meeting(&self, request: Request<pb::CreateMeetingRequest>) -> Reply<pb::CreateMeetingResponse> {
        self.meeting_step(request, async |conn, _, req| {
            proceedings::create_meeting(conn, req.meeting.clone().unwrap_or_default()).await
        })
        .await
    }

    async fn get_meeting(&self, request: Request<pb::GetMeetingRequest>) -> Reply<pb::GetMeetingResponse> {
        let name = &request.get_ref().name;
        let id = parse("name", "meetings/", name)?;
        let row = found(store::meetings::get(&self.pool, id).await, name)?;
        let mut conn = self.pool.acquire().await.map_err(Error::from)?;
        Ok(Response::new(pb::GetMeetingResponse { meeting: Some(self.shown(&mut conn, meetings::view(&row)?).await?) }))
    }

    async fn list_meetings(&self, request: Request<pb::ListMeetingsRequest>) -> Reply<pb::ListMeetingsResponse> {
        let req = request.into_inner();
        let state = state_filter(req.state, "MeetingState", meetings::state_name)?;
        let query = format!("{state:?}");
        let (size, after) = page(&query, req.page_size, &req.page_token)?;
        let mut rows = store::meetings::list(&self.pool, state.as_deref(), after, size).await.map_err(Error::from)?;
        // A page ends at its size or its byte budget, whichever comes first.
        let next_page_token =
            cut_page(&query, &mut rows, size, |r| r.document.content.len(), |r| (r.start_time, r.document.id));
        let mut meetings = rows.iter().map(meetings::view).collect::<Result<Vec<_>, _>>()?;
        let mut conn = self.pool.acquire().await.map_err(Error::from)?;
        proceedings::annotate(&mut conn, self.rules.quorum, &mut meetings).await?;
        Ok(Response::new(pb::ListMeetingsResponse { meetings, next_page_token }))
    }

    async fn update_meeting(&self, request: Request<pb::UpdateMeetingRequest>) -> Reply<pb::UpdateMeetingResponse> {
        let (caller, req) = open(request)?;
        let patch = req.meeting.clone().unwrap_or_default();
        parse("meeting.name", "meetings/", &patch.name)?;
        let paths = req.update_mask.as_ref().map(|m| m.paths.clone()).unwrap_or_default();
        self.mutate(&caller, &req, async |conn| {
            let meeting = proceedings::update_meeting(conn, &patch.name, &req.etag, &patch, &paths).await?;
            Ok(pb::UpdateMeetingResponse { meeting: Some(self.shown(conn, meeting).await?) })
        })
        .await
    }

    async fn add_agenda_item(&self, request: Request<pb::AddAgendaItemRequest>) -> Reply<pb::AddAgendaItemResponse> {
        self.meeting_step(request, async |conn, _, req| proceedings::add_agenda_item(conn, req).await).await
    }

    async fn record_attendance(
        &self,
        request: Request<pb::RecordAttendanceRequest>,
    ) -> Reply<pb::RecordAttendanceResponse> {
        self.meeting_step(request, async |conn, _, req| proceedings::record_attendance(conn, req).await).await
    }

    async fn start_meeting(&self, request: Request<pb::StartMeetingRequest>) -> Reply<pb::StartMeetingResponse> {
        self.meeting_step(request, async |conn, _, req| proceedings::start_meeting(conn, &req.name, &req.etag).await)
            .await
    }

    async fn adjourn_meeting(&self, request: Request<pb::AdjournMeetingRequest>) -> Reply<pb::AdjournMeetingResponse> {
        self.meeting_step(request, async |conn, _, req| proceedings::adjourn_meeting(conn, &req.name, &req.etag).await)
            .await
    }

    async fn cancel_meeting(&self, request: Request<pb::CancelMeetingRequest>) -> Reply<pb::CancelMeetingResponse> {
        self.meeting_step(request, async |conn, caller, req| {
            self.acting(caller, &req.request_id).cancel_meeting(conn, &req.name, &req.etag, &req.reason).await
        })
        .await
    }

    async fn approve_minutes(&self, request: Request<pb::ApproveMinutesRequest>) -> Reply<pb::ApproveMinutesResponse> {
        self.meeting_step(request, async |conn, caller, req| {
            self.acting(caller, &req.request_id).approve_minutes(conn, &req.name, &req.etag).await
        })
        .await
    }

    async fn appoint_adjuster(
        &self,
        request: Request<pb::AppointAdjusterRequest>,
    ) -> Reply<pb::AppointAdjusterResponse> {
        self.meeting_step(request, async |conn, _, req| proceedings::appoint_adjuster(conn, req).await).await
    }

    async fn render_minutes(&self, request: Request<pb::RenderMinutesRequest>) -> Reply<pb::RenderMinutesResponse> {
        Ok(Response::new(proceedings::render_minutes(&self.pool, request.get_ref()).await?))
    }

    async fn get_case_extract(&self, request: Request<pb::GetCaseExtractRequest>) -> Reply<pb::GetCaseExtractResponse> {
        let (caller, req) = open(request)?;
        Ok(Response::new(proceedings::case_extract(&self.pool, &caller, &req).await?))
    }

    async fn cast_vote(&self, request: Request<pb::CastVoteRequest>) -> Reply<pb::CastVoteResponse> {
        let (caller, req) = open(request)?;
        let vote = required("vote", &req.vote)?;
        self.mutate(&caller, &req, async |conn| {
            Ok(pb::CastVoteResponse { vote: Some(proceedings::cast_vote(conn, &caller, &req.parent, vote).await?) })
        })
        .await
    }

    async fn list_votes(&self, request: Request<pb::ListVotesRequest>) -> Reply<pb::ListVotesResponse> {
        let req = request.into_inner();
        let case_id = parse("parent", "cases/", &req.parent)?;
        // A case's votes are a handful per meeting: one page holds them all.
        page_size(req.page_size).map_err(Error::from)?;
        found(store::cases::get(&self.pool, case_id).await, &req.parent)?;
        let votes = proceedings::votes_on(&self.pool, case_id, &req.parent, &req.meeting).await?;
        Ok(Response::new(pb::ListVotesResponse { votes, next_page_token: String::new() }))
    }

    async fn record_decision(&self, request: Request<pb::RecordDecisionRequest>) -> Reply<pb::RecordDecisionResponse> {
        let (caller, req) = open(request)?;
        let decision = required("decision", &req.decision)?;
        self.mutate(&caller, &req, async |conn| {
            let secretary = self.acting(&caller, &req.request_id);
            let decision = secretary.record_decision(conn, self.rules, &req.parent, &req.etag, decision).await?;
            Ok(pb::RecordDecisionResponse { decision: Some(decision) })
        })
        .await
    }

    async fn propose_written_decision(
        &self,
        request: Request<pb::ProposeWrittenDecisionRequest>,
    ) -> Reply<pb::ProposeWrittenDecisionResponse> {
        let (caller, req) = open(request)?;
        let decision = required("decision", &req.decision)?;
        self.mutate(&caller, &req, async |conn| {
            let chair = self.acting(&caller, &req.request_id);
            let case =
                chair.propose_written_decision(conn, self.rules.quorum, &req.parent, &req.etag, &decision).await?;
            Ok(pb::ProposeWrittenDecisionResponse { case: Some(case) })
        })
        .await
    }

    async fn answer_written_procedure(
        &self,
        request: Request<pb::AnswerWrittenProcedureRequest>,
    ) -> Reply<pb::AnswerWrittenProcedureResponse> {
        self.step(request, async |conn, caller, req| {
            let member = self.acting(caller, &req.request_id);
            let case = member.answer_written_procedure(conn, &req.parent, req.agree, &req.comment).await?;
            Ok(pb::AnswerWrittenProcedureResponse { case: Some(case) })
        })
        .await
    }

    async fn confirm_decision(
        &self,
        request: Request<pb::ConfirmDecisionRequest>,
    ) -> Reply<pb::ConfirmDecisionResponse> {
        self.step(request, async |conn, caller, req| {
            let decision = self.acting(caller, &req.request_id).confirm_decision(conn, &req.name, &req.etag).await?;
            Ok(pb::ConfirmDecisionResponse { decision: Some(decision) })
        })
        .await
    }

    async fn list_audit_entries(
        &self,
        request: Request<pb::ListAuditEntriesRequest>,
    ) -> Reply<pb::ListAuditEntriesResponse> {
        let req = request.into_inner();
        let (rows, next_page_token) =
            self.sequence_page(&req.resource, req.page_size, &req.page_token, store::chain::list).await?;
        let audit_entries = rows.into_iter().map(store::chain::Stored::view).collect();
        Ok(Response::new(pb::ListAuditEntriesResponse { audit_entries, next_page_token }))
    }

    async fn list_history_entries(
        &self,
        request: Request<pb::ListHistoryEntriesRequest>,
    ) -> Reply<pb::ListHistoryEntriesResponse> {
        let req = request.into_inner();
        let (rows, next_page_token) =
            self.sequence_page(&req.resource, req.page_size, &req.page_token, store::history::list).await?;
        let history_entries = rows.into_iter().map(store::history::Row::view).collect();
        Ok(Response::new(pb::ListHistoryEntriesResponse { history_entries, next_page_token }))
    }

    async fn verify_audit_chain(
        &self,
        request: Request<pb::VerifyAuditChainRequest>,
    ) -> Reply<pb::VerifyAuditChainResponse> {
        let req = request.into_inner();
        chain::check_verify_request(&req)?;
        let anchor = (req.anchor_sequence > 0).then_some((req.anchor_sequence, req.anchor_hash.as_str()));
        let result =
            chain::verify(&self.pool, req.from_sequence, req.to_sequence, anchor).await.map_err(Error::from)?;
        let (head_sequence, head_hash) = result.head.unwrap_or_default();
        Ok(Response::new(pb::VerifyAuditChainResponse {
            valid: result.first_invalid.is_none(),
            verified_count: result.verified,
            first_invalid_sequence: result.first_invalid.unwrap_or_default(),
            head_sequence,
            head_hash,
            verify_time: Some(cases::timestamp(chrono::Utc::now())),
            invalid_reason: result.reason.to_owned(),
        }))
    }

    async fn get_chain_head(&self, _request: Request<pb::GetChainHeadRequest>) -> Reply<pb::GetChainHeadResponse> {
        let mut conn = self.pool.acquire().await.map_err(Error::from)?;
        let chain_head = chain::head(&mut conn, &self.key).await?;
        Ok(Response::new(pb::GetChainHeadResponse { chain_head: Some(chain_head) }))
    }

    async fn update_member(&self, request: Request<pb::UpdateMemberRequest>) -> Reply<pb::UpdateMemberResponse> {
        let (caller, req) = open(request)?;
        let patch = req.member.clone().unwrap_or_default();
        let id = parse("member.name", "members/", &patch.name)?;
        let paths = members::paths_to_update(req.update_mask.as_ref())?;
        self.mutate(&caller, &req, async |conn| {
            let row = members::update(conn, id, &req.etag, &patch, &paths).await?;
            Ok(pb::UpdateMemberResponse { member: Some(row.view()) })
        })
        .await
    }

    async fn remove_agenda_item(
        &self,
        request: Request<pb::RemoveAgendaItemRequest>,
    ) -> Reply<pb::RemoveAgendaItemResponse> {
        self.meeting_step(request, async |conn, _, req| proceedings::remove_agenda_item(conn, req).await).await
    }

    async fn stream_events(
        &self,
        request: Request<socialloans_contracts::events::StreamEventsRequest>,
    ) -> Reply<Self::StreamEventsStream> {
        self.feed.serve(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_filter_is_none_when_unspecified_the_stored_name_otherwise_and_refused_when_unknown() {
        assert_eq!(state_filter(0, "CaseState", cases::state_name).unwrap(), None);
        let scheduled = pb::CaseState::Scheduled as i32;
        assert_eq!(state_filter(scheduled, "CaseState", cases::state_name).unwrap().as_deref(), Some("SCHEDULED"));
        assert!(matches!(state_filter(999, "CaseState", cases::state_name), Err(Error::InvalidArgument(_))));
    }
}
