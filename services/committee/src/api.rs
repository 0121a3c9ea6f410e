//! The committee's gRPC handlers built so far: the roster, cases, the
//! assessment of the five basic requirements, conflict-of-interest
//! declarations, and the event feed. Meetings, votes and decisions follow.

use socialloans_contracts::committee::{
    self as pb, BasicRequirement, CaseState, RequirementVerdict, committee_service_server::CommitteeService,
};
use socialloans_platform::{
    Caller,
    error::FieldViolation,
    events::{Feed, ServiceStream},
    idempotency::{self, Claim},
    pagination::{decode_token, encode_token, page_size},
};
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{cases, error::Error, members};

/// The committee handlers; methods not built yet answer UNIMPLEMENTED.
#[derive(Debug, Clone)]
pub struct Api {
    /// The service's pool.
    pub pool: PgPool,
    /// The service's feed.
    pub feed: Feed,
}

fn caller<T>(request: &Request<T>) -> Result<Caller, Status> {
    request.extensions().get::<Caller>().cloned().ok_or_else(|| Status::unauthenticated("no authenticated caller"))
}

fn parse(field: &str, prefix: &str, name: &str) -> Result<Uuid, Error> {
    name.strip_prefix(prefix)
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(|| FieldViolation::new(field, format!("must be {prefix}{{uuid}}")).into())
}

/// A keyset position: creation time and id of the last row served.
type Cursor = (chrono::DateTime<chrono::Utc>, Uuid);

fn cursor(text: &str) -> Option<Cursor> {
    let (micros, id) = text.split_once('|')?;
    Some((chrono::DateTime::from_timestamp_micros(micros.parse().ok()?)?, Uuid::parse_str(id).ok()?))
}

fn page(query: &str, size: i32, token: &str) -> Result<(u32, Option<Cursor>), Error> {
    let mut violations = Vec::new();
    let size = page_size(size).map_err(|v| violations.push(v)).unwrap_or_default();
    let after = match decode_token(query, token) {
        Ok(Some(text)) => cursor(&text).or_else(|| {
            violations.push(FieldViolation::new("page_token", "is not a token this list returned"));
            None
        }),
        Ok(None) => None,
        Err(v) => {
            violations.push(v);
            None
        }
    };
    if violations.is_empty() { Ok((size, after)) } else { Err(Error::InvalidArgument(violations)) }
}

fn next_token(query: &str, last: Option<Cursor>) -> String {
    last.map(|(t, id)| encode_token(query, &format!("{}|{id}", t.timestamp_micros()))).unwrap_or_default()
}

/// The cases a declaration or an assessment may still change.
fn undecided(state: CaseState) -> bool {
    matches!(state, CaseState::Open | CaseState::Scheduled | CaseState::Deferred)
}

fn actor(caller: &Caller, role: &str) -> pb::Actor {
    pb::Actor { subject: caller.subject.clone(), role: role.to_owned(), member: String::new() }
}

impl Api {
    /// Locks case `name`, checks its etag, lets `change` edit it, saves it — in one
    /// transaction with the request id's answer.
    #[allow(clippy::too_many_arguments)]
    async fn change_case<Req: prost::Message, Resp: prost::Message + Default>(
        &self,
        caller: &Caller,
        method: &str,
        request: &Req,
        request_id: &str,
        name: &str,
        etag: &str,
        change: impl FnOnce(&mut pb::Case) -> Result<Resp, Error>,
        respond: fn(&mut Resp, pb::Case),
    ) -> Result<Resp, Error> {
        let id = parse("name", "cases/", name)?;
        let mut tx = self.pool.begin().await?;
        let request_uuid =
            match idempotency::claim::<Resp>(&mut tx, request_id, &caller.subject, method, request).await? {
                Claim::Replay(answer) => return Ok(answer),
                Claim::Fresh(id) => id,
            };
        let row = cases::lock(&mut tx, Some(id), None).await?.ok_or_else(|| Error::NotFound(name.to_owned()))?;
        let mut case = row.view()?;
        if !etag.is_empty() && etag != case.etag {
            return Err(Error::EtagMismatch { current: case.etag });
        }
        if !undecided(row.state()) {
            return Err(Error::Precondition {
                reason: "CASE_CLOSED",
                message: format!("the case is {}", cases::state_name(row.state())),
            });
        }
        let mut answer = change(&mut case)?;
        let saved = cases::save(&mut tx, &row, &case, row.state()).await?;
        respond(&mut answer, saved.view()?);
        idempotency::record(&mut tx, request_uuid, &answer).await?;
        tx.commit().await?;
        Ok(answer)
    }
}

#[tonic::async_trait]
impl CommitteeService for Api {
    async fn create_member(
        &self,
        request: Request<pb::CreateMemberRequest>,
    ) -> Result<Response<pb::CreateMemberResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let member = req.member.clone().ok_or_else(|| Error::from(FieldViolation::new("member", "is required")))?;
        members::checked(&member, "member.")?;
        let mut tx = self.pool.begin().await.map_err(Error::from)?;
        let id = match idempotency::claim::<pb::CreateMemberResponse>(
            &mut tx,
            &req.request_id,
            &caller.subject,
            "CreateMember",
            &req,
        )
        .await?
        {
            Claim::Replay(answer) => return Ok(Response::new(answer)),
            Claim::Fresh(id) => id,
        };
        let row = members::insert(&mut tx, &member).await?;
        let answer = pb::CreateMemberResponse { member: Some(row.view()) };
        idempotency::record(&mut tx, id, &answer).await.map_err(Error::from)?;
        tx.commit().await.map_err(Error::from)?;
        Ok(Response::new(answer))
    }

    async fn get_member(
        &self,
        request: Request<pb::GetMemberRequest>,
    ) -> Result<Response<pb::GetMemberResponse>, Status> {
        let name = &request.get_ref().name;
        let id = parse("name", "members/", name)?;
        let row =
            members::get(&self.pool, id).await.map_err(Error::from)?.ok_or_else(|| Error::NotFound(name.clone()))?;
        Ok(Response::new(pb::GetMemberResponse { member: Some(row.view()) }))
    }

    async fn list_members(
        &self,
        request: Request<pb::ListMembersRequest>,
    ) -> Result<Response<pb::ListMembersResponse>, Status> {
        let req = request.into_inner();
        let (size, after) = page("members", req.page_size, &req.page_token)?;
        let mut rows = members::list(&self.pool, after, size).await.map_err(Error::from)?;
        let more = rows.len() > size as usize;
        rows.truncate(size as usize);
        let last = rows.last().filter(|_| more).map(|r| (r.create_time, r.id));
        Ok(Response::new(pb::ListMembersResponse {
            members: rows.iter().map(members::Row::view).collect(),
            next_page_token: next_token("members", last),
        }))
    }

    async fn get_case(&self, request: Request<pb::GetCaseRequest>) -> Result<Response<pb::GetCaseResponse>, Status> {
        let name = &request.get_ref().name;
        let id = parse("name", "cases/", name)?;
        let row =
            cases::get(&self.pool, id).await.map_err(Error::from)?.ok_or_else(|| Error::NotFound(name.clone()))?;
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
            cases::list(&self.pool, state.as_deref(), application, after, size).await.map_err(Error::from)?;
        let more = rows.len() > size as usize;
        rows.truncate(size as usize);
        let last = rows.last().filter(|_| more).map(|r| (r.create_time, r.id));
        let cases = rows.iter().map(cases::Row::view).collect::<Result<_, _>>()?;
        Ok(Response::new(pb::ListCasesResponse { cases, next_page_token: next_token(&query, last) }))
    }

    async fn assess_requirement(
        &self,
        request: Request<pb::AssessRequirementRequest>,
    ) -> Result<Response<pb::AssessRequirementResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut assessment =
            req.assessment.clone().ok_or_else(|| Error::from(FieldViolation::new("assessment", "is required")))?;
        let mut violations = Vec::new();
        if !matches!(BasicRequirement::try_from(assessment.requirement), Ok(r) if r != BasicRequirement::Unspecified) {
            violations
                .push(FieldViolation::new("assessment.requirement", "must be one of the five basic requirements"));
        }
        if !matches!(RequirementVerdict::try_from(assessment.verdict), Ok(v) if v != RequirementVerdict::Unspecified) {
            violations.push(FieldViolation::new("assessment.verdict", "must be MET, PARTIALLY_MET or NOT_MET"));
        }
        if assessment.justification.chars().count() > 10_000 {
            violations.push(FieldViolation::new("assessment.justification", "is longer than 10000 characters"));
        }
        if !violations.is_empty() {
            return Err(Error::InvalidArgument(violations).into());
        }
        let role = if caller.has(socialloans_platform::Role::CommitteeSecretary) {
            "committee_secretary"
        } else {
            "committee_member"
        };
        assessment.assessor = Some(actor(&caller, role));
        assessment.assess_time = Some(cases::timestamp(chrono::Utc::now()));
        let answer = self
            .change_case(
                &caller,
                "AssessRequirement",
                &req,
                &req.request_id,
                &req.name,
                &req.etag,
                |case| {
                    case.requirement_assessments.retain(|a| a.requirement != assessment.requirement);
                    case.requirement_assessments.push(assessment);
                    case.requirement_assessments.sort_by_key(|a| a.requirement);
                    Ok(pb::AssessRequirementResponse::default())
                },
                |answer, case| answer.case = Some(case),
            )
            .await?;
        Ok(Response::new(answer))
    }

    async fn declare_conflict_of_interest(
        &self,
        request: Request<pb::DeclareConflictOfInterestRequest>,
    ) -> Result<Response<pb::DeclareConflictOfInterestResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut declaration =
            req.declaration.clone().ok_or_else(|| Error::from(FieldViolation::new("declaration", "is required")))?;
        let member_id = parse("declaration.member", "members/", &declaration.member)?;
        if declaration.description.trim().is_empty() || declaration.description.chars().count() > 10_000 {
            return Err(Error::from(FieldViolation::new(
                "declaration.description",
                "is required: what the conflict is",
            ))
            .into());
        }
        members::get(&self.pool, member_id)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| Error::NotFound(declaration.member.clone()))?;
        let case_name = req.parent.clone();
        declaration.declared_by = Some(actor(&caller, "committee"));
        declaration.declare_time = Some(cases::timestamp(chrono::Utc::now()));
        let answer = self
            .change_case(
                &caller,
                "DeclareConflictOfInterest",
                &req,
                &req.request_id,
                &case_name,
                "",
                |case| {
                    if case.conflicts_of_interest.iter().any(|c| c.member == declaration.member) {
                        return Err(Error::AlreadyExists(format!(
                            "{} already declared a conflict on this case",
                            declaration.member
                        )));
                    }
                    declaration.name = format!("{case_name}/conflictsOfInterest/{}", member_id);
                    case.conflicts_of_interest.push(declaration.clone());
                    Ok(pb::DeclareConflictOfInterestResponse { declaration: Some(declaration) })
                },
                |_, _| {},
            )
            .await?;
        Ok(Response::new(answer))
    }

    async fn stream_events(
        &self,
        request: Request<pb::StreamEventsRequest>,
    ) -> Result<Response<ServiceStream<pb::StreamEventsResponse>>, Status> {
        Ok(Response::new(self.feed.serve(request.get_ref()).await?))
    }
}
