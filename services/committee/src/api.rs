//! The committee's gRPC handlers: the roster, cases, the assessment of the
//! five basic requirements, conflict-of-interest declarations, meetings,
//! votes, decisions, minutes, the audit chain and the event feed.

use socialloans_contracts::committee::{self as pb, CaseState, committee_service_server::CommitteeService};
use socialloans_platform::{
    Caller,
    auth::caller,
    error::FieldViolation,
    events::{Feed, FeedStream},
    limits,
    pagination::{cut_sequence_page, decode_position, decode_token, encode_position, page_size},
    unit,
};
use sqlx::PgPool;
use tonic::{Request, Response, Status};
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

/// A keyset position: creation time and id of the last row served.
type Cursor = (chrono::DateTime<chrono::Utc>, Uuid);

fn page(query: &str, size: i32, token: &str) -> Result<(u32, Option<Cursor>), Error> {
    Ok((page_size(size)?, decode_position(query, token)?))
}

/// Cuts `rows` to the first `take`; where the next page starts when more follow.
fn cut<R>(rows: &mut Vec<R>, take: usize, position: impl Fn(&R) -> Cursor) -> Option<Cursor> {
    let more = rows.len() > take;
    rows.truncate(take);
    rows.last().filter(|_| more).map(position)
}

fn next_token(query: &str, last: Option<Cursor>) -> String {
    last.map(|(t, id)| encode_position(query, t, &id)).unwrap_or_default()
}

/// Where a page of a list in sequence order (chain, history) starts.
fn sequence_after(resource: &str, token: &str) -> Result<i64, Error> {
    match decode_token(resource, token)? {
        Some(text) => {
            text.parse().map_err(|_| FieldViolation::new("page_token", "is not a token this list returned").into())
        }
        None => Ok(0),
    }
}

/// What a look-up of `name` found, or NOT_FOUND.
fn found<T>(row: Result<Option<T>, sqlx::Error>, name: &str) -> Result<T, Error> {
    row?.ok_or_else(|| Error::NotFound(name.to_owned()))
}

impl Api {
    /// Runs `work` as one unit of work ([`unit::run_simple`]): who acts is
    /// named for the history's triggers, a retry replays the first answer, a
    /// failure leaves nothing behind.
    async fn idempotent<Req: prost::Message, Resp: prost::Message + Default>(
        &self,
        caller: &Caller,
        method: &str,
        request: &Req,
        request_id: &str,
        work: impl AsyncFnOnce(&mut sqlx::PgConnection) -> Result<Resp, Error>,
    ) -> Result<Resp, Error> {
        unit::run_simple(&self.pool, caller, method, request, request_id, work).await
    }

    /// A meeting as shown: with the quorum and, per case, who may decide it.
    async fn shown(&self, conn: &mut sqlx::PgConnection, meeting: pb::Meeting) -> Result<pb::Meeting, Error> {
        let mut shown = [meeting];
        proceedings::annotate(conn, self.rules.quorum, &mut shown).await?;
        let [meeting] = shown;
        Ok(meeting)
    }
}

#[tonic::async_trait]
impl CommitteeService for Api {
    type StreamEventsStream = FeedStream;

    async fn create_member(
        &self,
        request: Request<pb::CreateMemberRequest>,
    ) -> Result<Response<pb::CreateMemberResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let member = req.member.clone().ok_or_else(|| Error::from(FieldViolation::new("member", "is required")))?;
        members::checked(&member, "member.")?;
        let answer = self
            .idempotent(&caller, "CreateMember", &req, &req.request_id, async |conn| {
                Ok(pb::CreateMemberResponse { member: Some(members::insert(conn, &member).await?.view()) })
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn get_member(
        &self,
        request: Request<pb::GetMemberRequest>,
    ) -> Result<Response<pb::GetMemberResponse>, Status> {
        let name = &request.get_ref().name;
        let id = parse("name", "members/", name)?;
        let row = found(store::members::get(&self.pool, id).await, name)?;
        Ok(Response::new(pb::GetMemberResponse { member: Some(row.view()) }))
    }

    async fn list_members(
        &self,
        request: Request<pb::ListMembersRequest>,
    ) -> Result<Response<pb::ListMembersResponse>, Status> {
        let req = request.into_inner();
        let (size, after) = page("members", req.page_size, &req.page_token)?;
        let mut rows = store::members::list(&self.pool, after, size).await.map_err(Error::from)?;
        let last = cut(&mut rows, size as usize, |r| (r.create_time, r.id));
        Ok(Response::new(pb::ListMembersResponse {
            members: rows.iter().map(store::members::Row::view).collect(),
            next_page_token: next_token("members", last),
        }))
    }

    async fn get_case(&self, request: Request<pb::GetCaseRequest>) -> Result<Response<pb::GetCaseResponse>, Status> {
        let name = &request.get_ref().name;
        let id = parse("name", "cases/", name)?;
        let row = found(store::cases::get(&self.pool, id).await, name)?;
        Ok(Response::new(pb::GetCaseResponse { case: Some(row.view()?) }))
    }

    async fn list_cases(
        &self,
        request: Request<pb::ListCasesRequest>,
    ) -> Result<Response<pb::ListCasesResponse>, Status> {
        let req = request.into_inner();
        let state = match CaseState::try_from(req.state) {
            Ok(CaseState::Unspecified) => None,
            Ok(state) => Some(cases::state_name(state)),
            Err(_) => return Err(Error::from(FieldViolation::new("state", "is not a CaseState")).into()),
        };
        if !req.meeting.is_empty() {
            return Err(Error::from(FieldViolation::new("meeting", "filtering by meeting is not supported yet")).into());
        }
        let application = (!req.application.is_empty()).then_some(req.application.as_str());
        let query = format!("{state:?}|{application:?}");
        let (size, after) = page(&query, req.page_size, &req.page_token)?;
        let mut rows =
            store::cases::list(&self.pool, state.as_deref(), application, after, size).await.map_err(Error::from)?;
        // A page ends at its size or its byte budget, whichever comes first.
        let take = limits::page_len(rows.iter().map(|r| r.content.len()), size as usize);
        let last = cut(&mut rows, take, |r| (r.create_time, r.id));
        let cases = rows.iter().map(store::cases::Row::view).collect::<Result<_, _>>()?;
        Ok(Response::new(pb::ListCasesResponse { cases, next_page_token: next_token(&query, last) }))
    }

    async fn assess_requirement(
        &self,
        request: Request<pb::AssessRequirementRequest>,
    ) -> Result<Response<pb::AssessRequirementResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let assessment =
            req.assessment.clone().ok_or_else(|| Error::from(FieldViolation::new("assessment", "is required")))?;
        casework::check_assessment(&assessment)?;
        let assessment = casework::assessed_by(&caller, assessment);
        let id = parse("name", "cases/", &req.name)?;
        let answer = self
            .idempotent(&caller, "AssessRequirement", &req, &req.request_id, async |conn| {
                let case = casework::assess(conn, &caller, id, &req.name, &req.etag, assessment).await?;
                Ok(pb::AssessRequirementResponse { case: Some(case) })
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn declare_conflict_of_interest(
        &self,
        request: Request<pb::DeclareConflictOfInterestRequest>,
    ) -> Result<Response<pb::DeclareConflictOfInterestResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let declaration =
            req.declaration.clone().ok_or_else(|| Error::from(FieldViolation::new("declaration", "is required")))?;
        let member_id = parse("declaration.member", "members/", &declaration.member)?;
        let case_id = parse("parent", "cases/", &req.parent)?;
        casework::check_declaration(&declaration)?;
        let declaration = casework::declared_by(&self.pool, &caller, &req.parent, member_id, declaration).await?;
        let answer = self
            .idempotent(&caller, "DeclareConflictOfInterest", &req, &req.request_id, async |conn| {
                casework::declare_conflict(conn, case_id, member_id, &req.parent, &declaration).await?;
                Ok(pb::DeclareConflictOfInterestResponse { declaration: Some(declaration) })
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn create_meeting(
        &self,
        request: Request<pb::CreateMeetingRequest>,
    ) -> Result<Response<pb::CreateMeetingResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let meeting = req.meeting.clone().unwrap_or_default();
        let answer = self
            .idempotent(&caller, "CreateMeeting", &req, &req.request_id, async |conn| {
                let meeting = proceedings::create_meeting(conn, meeting).await?;
                Ok(pb::CreateMeetingResponse { meeting: Some(self.shown(conn, meeting).await?) })
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn get_meeting(
        &self,
        request: Request<pb::GetMeetingRequest>,
    ) -> Result<Response<pb::GetMeetingResponse>, Status> {
        let name = &request.get_ref().name;
        let id = parse("name", "meetings/", name)?;
        let row = found(store::meetings::get(&self.pool, id).await, name)?;
        let mut conn = self.pool.acquire().await.map_err(Error::from)?;
        Ok(Response::new(pb::GetMeetingResponse { meeting: Some(self.shown(&mut conn, row.view()?).await?) }))
    }

    async fn list_meetings(
        &self,
        request: Request<pb::ListMeetingsRequest>,
    ) -> Result<Response<pb::ListMeetingsResponse>, Status> {
        let req = request.into_inner();
        let state = match pb::MeetingState::try_from(req.state) {
            Ok(pb::MeetingState::Unspecified) => None,
            Ok(state) => Some(meetings::state_name(state)),
            Err(_) => return Err(Error::from(FieldViolation::new("state", "is not a MeetingState")).into()),
        };
        let query = format!("{state:?}");
        let (size, after) = page(&query, req.page_size, &req.page_token)?;
        let mut rows = store::meetings::list(&self.pool, state.as_deref(), after, size).await.map_err(Error::from)?;
        // A page ends at its size or its byte budget, whichever comes first.
        let take = limits::page_len(rows.iter().map(|r| r.content.len()), size as usize);
        let last = cut(&mut rows, take, |r| (r.start_time, r.id));
        let mut meetings = rows.iter().map(store::meetings::Row::view).collect::<Result<Vec<_>, _>>()?;
        let mut conn = self.pool.acquire().await.map_err(Error::from)?;
        proceedings::annotate(&mut conn, self.rules.quorum, &mut meetings).await?;
        Ok(Response::new(pb::ListMeetingsResponse { meetings, next_page_token: next_token(&query, last) }))
    }

    async fn update_meeting(
        &self,
        request: Request<pb::UpdateMeetingRequest>,
    ) -> Result<Response<pb::UpdateMeetingResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let patch = req.meeting.clone().unwrap_or_default();
        parse("meeting.name", "meetings/", &patch.name)?;
        let paths = req.update_mask.as_ref().map(|m| m.paths.clone()).unwrap_or_default();
        let answer = self
            .idempotent(&caller, "UpdateMeeting", &req, &req.request_id, async |conn| {
                let meeting = proceedings::update_meeting(conn, &patch.name, &req.etag, &patch, &paths).await?;
                Ok(pb::UpdateMeetingResponse { meeting: Some(self.shown(conn, meeting).await?) })
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn add_agenda_item(
        &self,
        request: Request<pb::AddAgendaItemRequest>,
    ) -> Result<Response<pb::AddAgendaItemResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let answer = self
            .idempotent(&caller, "AddAgendaItem", &req, &req.request_id, async |conn| {
                let meeting = proceedings::add_agenda_item(conn, &req.name, &req.etag, &req.case).await?;
                Ok(pb::AddAgendaItemResponse { meeting: Some(self.shown(conn, meeting).await?) })
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn record_attendance(
        &self,
        request: Request<pb::RecordAttendanceRequest>,
    ) -> Result<Response<pb::RecordAttendanceResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let answer = self
            .idempotent(&caller, "RecordAttendance", &req, &req.request_id, async |conn| {
                let meeting =
                    proceedings::record_attendance(conn, &req.name, &req.etag, &req.member, req.status).await?;
                Ok(pb::RecordAttendanceResponse { meeting: Some(self.shown(conn, meeting).await?) })
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn start_meeting(
        &self,
        request: Request<pb::StartMeetingRequest>,
    ) -> Result<Response<pb::StartMeetingResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let answer = self
            .idempotent(&caller, "StartMeeting", &req, &req.request_id, async |conn| {
                let meeting = proceedings::start_meeting(conn, &req.name, &req.etag).await?;
                Ok(pb::StartMeetingResponse { meeting: Some(self.shown(conn, meeting).await?) })
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn adjourn_meeting(
        &self,
        request: Request<pb::AdjournMeetingRequest>,
    ) -> Result<Response<pb::AdjournMeetingResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let answer = self
            .idempotent(&caller, "AdjournMeeting", &req, &req.request_id, async |conn| {
                let meeting = proceedings::adjourn_meeting(conn, &req.name, &req.etag).await?;
                Ok(pb::AdjournMeetingResponse { meeting: Some(self.shown(conn, meeting).await?) })
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn cancel_meeting(
        &self,
        request: Request<pb::CancelMeetingRequest>,
    ) -> Result<Response<pb::CancelMeetingResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let answer = self
            .idempotent(&caller, "CancelMeeting", &req, &req.request_id, async |conn| {
                let meeting =
                    proceedings::cancel_meeting(conn, &caller, &req.name, &req.etag, &req.reason, &req.request_id)
                        .await?;
                Ok(pb::CancelMeetingResponse { meeting: Some(self.shown(conn, meeting).await?) })
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn approve_minutes(
        &self,
        request: Request<pb::ApproveMinutesRequest>,
    ) -> Result<Response<pb::ApproveMinutesResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let answer = self
            .idempotent(&caller, "ApproveMinutes", &req, &req.request_id, async |conn| {
                let meeting =
                    proceedings::approve_minutes(conn, &caller, &self.key, &req.name, &req.etag, &req.request_id)
                        .await?;
                Ok(pb::ApproveMinutesResponse { meeting: Some(self.shown(conn, meeting).await?) })
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn cast_vote(&self, request: Request<pb::CastVoteRequest>) -> Result<Response<pb::CastVoteResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let vote = req.vote.clone().ok_or_else(|| Error::from(FieldViolation::new("vote", "is required")))?;
        let answer = self
            .idempotent(&caller, "CastVote", &req, &req.request_id, async |conn| {
                Ok(pb::CastVoteResponse { vote: Some(proceedings::cast_vote(conn, &caller, &req.parent, vote).await?) })
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn list_votes(
        &self,
        request: Request<pb::ListVotesRequest>,
    ) -> Result<Response<pb::ListVotesResponse>, Status> {
        let req = request.into_inner();
        let case_id = parse("parent", "cases/", &req.parent)?;
        // A case's votes are a handful per meeting: one page holds them all.
        page_size(req.page_size).map_err(Error::from)?;
        found(store::cases::get(&self.pool, case_id).await, &req.parent)?;
        let votes = proceedings::votes_on(&self.pool, case_id, &req.parent, &req.meeting).await?;
        Ok(Response::new(pb::ListVotesResponse { votes, next_page_token: String::new() }))
    }

    async fn record_decision(
        &self,
        request: Request<pb::RecordDecisionRequest>,
    ) -> Result<Response<pb::RecordDecisionResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let decision =
            req.decision.clone().ok_or_else(|| Error::from(FieldViolation::new("decision", "is required")))?;
        let rules = self.rules;
        let answer = self
            .idempotent(&caller, "RecordDecision", &req, &req.request_id, async |conn| {
                let decision = proceedings::record_decision(
                    conn,
                    &caller,
                    rules,
                    &req.parent,
                    &req.etag,
                    &req.request_id,
                    decision,
                )
                .await?;
                Ok(pb::RecordDecisionResponse { decision: Some(decision) })
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn confirm_decision(
        &self,
        request: Request<pb::ConfirmDecisionRequest>,
    ) -> Result<Response<pb::ConfirmDecisionResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let answer = self
            .idempotent(&caller, "ConfirmDecision", &req, &req.request_id, async |conn| {
                let decision =
                    proceedings::confirm_decision(conn, &caller, &self.key, &req.name, &req.etag, &req.request_id)
                        .await?;
                Ok(pb::ConfirmDecisionResponse { decision: Some(decision) })
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn list_audit_entries(
        &self,
        request: Request<pb::ListAuditEntriesRequest>,
    ) -> Result<Response<pb::ListAuditEntriesResponse>, Status> {
        let req = request.into_inner();
        let size = page_size(req.page_size).map_err(Error::from)?;
        let after = sequence_after(&req.resource, &req.page_token)?;
        let mut rows = store::chain::list(&self.pool, &req.resource, after, size).await.map_err(Error::from)?;
        let next_page_token = cut_sequence_page(&req.resource, &mut rows, size, |r| r.sequence);
        let audit_entries = rows.into_iter().map(store::chain::Stored::view).collect();
        Ok(Response::new(pb::ListAuditEntriesResponse { audit_entries, next_page_token }))
    }

    async fn list_history_entries(
        &self,
        request: Request<pb::ListHistoryEntriesRequest>,
    ) -> Result<Response<pb::ListHistoryEntriesResponse>, Status> {
        let req = request.into_inner();
        let size = page_size(req.page_size).map_err(Error::from)?;
        let after = sequence_after(&req.resource, &req.page_token)?;
        let mut rows = store::history::list(&self.pool, &req.resource, after, size).await.map_err(Error::from)?;
        let next_page_token = cut_sequence_page(&req.resource, &mut rows, size, store::history::Row::sequence);
        let history_entries = rows.into_iter().map(store::history::Row::view).collect();
        Ok(Response::new(pb::ListHistoryEntriesResponse { history_entries, next_page_token }))
    }

    async fn verify_audit_chain(
        &self,
        request: Request<pb::VerifyAuditChainRequest>,
    ) -> Result<Response<pb::VerifyAuditChainResponse>, Status> {
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

    async fn get_chain_head(
        &self,
        _request: Request<pb::GetChainHeadRequest>,
    ) -> Result<Response<pb::GetChainHeadResponse>, Status> {
        let mut conn = self.pool.acquire().await.map_err(Error::from)?;
        let chain_head = chain::head(&mut conn, &self.key).await?;
        Ok(Response::new(pb::GetChainHeadResponse { chain_head: Some(chain_head) }))
    }

    async fn update_member(
        &self,
        request: Request<pb::UpdateMemberRequest>,
    ) -> Result<Response<pb::UpdateMemberResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let patch = req.member.clone().unwrap_or_default();
        let id = parse("member.name", "members/", &patch.name)?;
        let paths = members::paths_to_update(req.update_mask.as_ref())?;
        let answer = self
            .idempotent(&caller, "UpdateMember", &req, &req.request_id, async |conn| {
                let row = members::update(conn, id, &req.etag, &patch, &paths).await?;
                Ok(pb::UpdateMemberResponse { member: Some(row.view()) })
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn remove_agenda_item(
        &self,
        request: Request<pb::RemoveAgendaItemRequest>,
    ) -> Result<Response<pb::RemoveAgendaItemResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let answer = self
            .idempotent(&caller, "RemoveAgendaItem", &req, &req.request_id, async |conn| {
                let meeting = proceedings::remove_agenda_item(conn, &req.name, &req.etag, &req.case).await?;
                Ok(pb::RemoveAgendaItemResponse { meeting: Some(self.shown(conn, meeting).await?) })
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn stream_events(
        &self,
        request: Request<socialloans_contracts::events::StreamEventsRequest>,
    ) -> Result<Response<Self::StreamEventsStream>, Status> {
        let caller = socialloans_platform::auth::caller(&request)?;
        Ok(Response::new(self.feed.serve(&caller, request.into_inner()).await?))
    }
}
