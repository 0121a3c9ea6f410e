//! The gRPC handlers: request → operation → response. Each handler checks
//! its request and hands one step of `steps` to [`Applications::mutate`]
//! (the unit of work); the state machine is in `domain`, the content checks
//! in `validate`.

use prost::Name;
use socialloans_contracts::applications::{self as pb, applications_service_server::ApplicationsService};
use socialloans_platform::{
    auth::caller,
    error::FieldViolation,
    events::{Feed, FeedStream},
    limits,
};
use tonic::{Request, Response, Status};

use crate::{
    edit,
    error::Error,
    loans, queries,
    service::{Actor, Applications},
    steps, validate,
};

/// The applications service's handlers.
#[derive(Debug, Clone)]
pub struct Api {
    ops: Applications,
    feed: Feed,
}

impl Api {
    /// Handlers over `ops`, serving `feed`.
    pub fn new(ops: Applications, feed: Feed) -> Self {
        Self { ops, feed }
    }
}

fn text_limit(violations: &mut Vec<FieldViolation>, field: &str, value: &str, max: usize) {
    violations.extend(socialloans_platform::limits::text(field, value, max));
}

fn check(violations: Vec<FieldViolation>) -> Result<(), Error> {
    if violations.is_empty() { Ok(()) } else { Err(Error::InvalidArgument(violations)) }
}

#[tonic::async_trait]
impl ApplicationsService for Api {
    type StreamEventsStream = FeedStream;

    async fn create_application(
        &self,
        request: Request<pb::CreateApplicationRequest>,
    ) -> Result<Response<pb::CreateApplicationResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let draft = edit::new_draft(&caller, req.application.clone())?;
        let answer = self
            .ops
            .create(&caller, "CreateApplication", &req, &req.request_id, draft, |application| {
                pb::CreateApplicationResponse { application: Some(application) }
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn get_application(
        &self,
        request: Request<pb::GetApplicationRequest>,
    ) -> Result<Response<pb::GetApplicationResponse>, Status> {
        let caller = caller(&request)?;
        let application = self.ops.get(&caller, &request.get_ref().name).await?;
        Ok(Response::new(pb::GetApplicationResponse { application: Some(application) }))
    }

    async fn list_applications(
        &self,
        request: Request<pb::ListApplicationsRequest>,
    ) -> Result<Response<pb::ListApplicationsResponse>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(queries::list(&self.ops, &caller, request.into_inner()).await?))
    }

    async fn update_application(
        &self,
        request: Request<pb::UpdateApplicationRequest>,
    ) -> Result<Response<pb::UpdateApplicationResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let patch = req.application.clone().unwrap_or_default();
        let paths = edit::mask_paths(&req)?;
        if req.etag.is_empty() {
            return Err(Error::from(FieldViolation::new("etag", "is required: send the etag you read")).into());
        }
        let answer = self
            .ops
            .mutate(
                &caller,
                "UpdateApplication",
                &req,
                &req.request_id,
                &patch.name,
                &req.etag,
                |application| pb::UpdateApplicationResponse { application: Some(application) },
                |record| steps::edit(record, &patch, &paths),
            )
            .await?;
        Ok(Response::new(answer))
    }

    async fn submit_application(
        &self,
        request: Request<pb::SubmitApplicationRequest>,
    ) -> Result<Response<pb::SubmitApplicationResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let answer = self
            .ops
            .mutate(
                &caller,
                "SubmitApplication",
                &req,
                &req.request_id,
                &req.name,
                &req.etag,
                |application| pb::SubmitApplicationResponse { application: Some(application) },
                steps::submit,
            )
            .await?;
        Ok(Response::new(answer))
    }

    async fn return_application_for_completion(
        &self,
        request: Request<pb::ReturnApplicationForCompletionRequest>,
    ) -> Result<Response<pb::ReturnApplicationForCompletionResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        check(limits::review_comments(
            &pb::Application::full_name(),
            &req.comments,
            &req.message,
            "objectives[0].description or investment",
        )?)?;
        let answer = self
            .ops
            .mutate(
                &caller,
                "ReturnApplicationForCompletion",
                &req,
                &req.request_id,
                &req.name,
                &req.etag,
                |application| pb::ReturnApplicationForCompletionResponse { application: Some(application) },
                |record| steps::return_for_completion(record, &req.comments, &req.message),
            )
            .await?;
        Ok(Response::new(answer))
    }

    async fn start_review(
        &self,
        request: Request<pb::StartReviewRequest>,
    ) -> Result<Response<pb::StartReviewResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let answer = self
            .ops
            .mutate(
                &caller,
                "StartReview",
                &req,
                &req.request_id,
                &req.name,
                &req.etag,
                |application| pb::StartReviewResponse { application: Some(application) },
                steps::start_review,
            )
            .await?;
        Ok(Response::new(answer))
    }

    async fn record_credit_assessment(
        &self,
        request: Request<pb::RecordCreditAssessmentRequest>,
    ) -> Result<Response<pb::RecordCreditAssessmentResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let assessment = edit::credit_assessment(&req)?;
        let actor = Actor::of(&caller, "RecordCreditAssessment");
        let answer = self
            .ops
            .mutate(
                &caller,
                "RecordCreditAssessment",
                &req,
                &req.request_id,
                &req.name,
                &req.etag,
                |application| pb::RecordCreditAssessmentResponse { application: Some(application) },
                |record| steps::record_credit_assessment(record, assessment, &actor),
            )
            .await?;
        Ok(Response::new(answer))
    }

    async fn refer_application_to_committee(
        &self,
        request: Request<pb::ReferApplicationToCommitteeRequest>,
    ) -> Result<Response<pb::ReferApplicationToCommitteeResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut violations = Vec::new();
        text_limit(&mut violations, "referral_note", &req.referral_note, validate::COMMENT_TEXT);
        check(violations)?;
        let answer = self
            .ops
            .mutate(
                &caller,
                "ReferApplicationToCommittee",
                &req,
                &req.request_id,
                &req.name,
                &req.etag,
                |application| pb::ReferApplicationToCommitteeResponse { application: Some(application) },
                |record| steps::refer(record, &req.referral_note),
            )
            .await?;
        Ok(Response::new(answer))
    }

    async fn withdraw_application(
        &self,
        request: Request<pb::WithdrawApplicationRequest>,
    ) -> Result<Response<pb::WithdrawApplicationResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut violations = Vec::new();
        if req.reason.trim().is_empty() {
            violations.push(FieldViolation::new("reason", "is required: why the application is withdrawn"));
        }
        text_limit(&mut violations, "reason", &req.reason, validate::COMMENT_TEXT);
        check(violations)?;
        let answer = self
            .ops
            .mutate(
                &caller,
                "WithdrawApplication",
                &req,
                &req.request_id,
                &req.name,
                &req.etag,
                |application| pb::WithdrawApplicationResponse { application: Some(application) },
                |record| steps::withdraw(record, &req.reason),
            )
            .await?;
        Ok(Response::new(answer))
    }

    async fn tag_loan(&self, request: Request<pb::TagLoanRequest>) -> Result<Response<pb::TagLoanResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let loan = edit::loan(&req)?;
        let answer = self
            .ops
            .mutate(
                &caller,
                "TagLoan",
                &req,
                &req.request_id,
                &req.name,
                &req.etag,
                |application| pb::TagLoanResponse { application: Some(application) },
                |record| loans::tag(record, loan),
            )
            .await?;
        Ok(Response::new(answer))
    }

    async fn close_application(
        &self,
        request: Request<pb::CloseApplicationRequest>,
    ) -> Result<Response<pb::CloseApplicationResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut violations = Vec::new();
        if req.reason.trim().is_empty() {
            violations.push(FieldViolation::new("reason", "is required: why the application is closed"));
        }
        text_limit(&mut violations, "reason", &req.reason, validate::COMMENT_TEXT);
        check(violations)?;
        let answer = self
            .ops
            .mutate(
                &caller,
                "CloseApplication",
                &req,
                &req.request_id,
                &req.name,
                &req.etag,
                |application| pb::CloseApplicationResponse { application: Some(application) },
                |record| steps::close(record, &req.reason),
            )
            .await?;
        Ok(Response::new(answer))
    }

    async fn erase_contact_person(
        &self,
        request: Request<pb::EraseContactPersonRequest>,
    ) -> Result<Response<pb::EraseContactPersonResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut violations = Vec::new();
        if req.reason.trim().is_empty() {
            violations.push(FieldViolation::new("reason", "is required: the erasure request's reference"));
        }
        text_limit(&mut violations, "reason", &req.reason, validate::COMMENT_TEXT);
        check(violations)?;
        let answer = self
            .ops
            .mutate(
                &caller,
                "EraseContactPerson",
                &req,
                &req.request_id,
                &req.name,
                "",
                |application| pb::EraseContactPersonResponse { application: Some(application) },
                |record| steps::erase_contact(record, &req.reason),
            )
            .await?;
        Ok(Response::new(answer))
    }

    async fn list_audit_entries(
        &self,
        request: Request<pb::ListAuditEntriesRequest>,
    ) -> Result<Response<pb::ListAuditEntriesResponse>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(queries::history(&self.ops, &caller, request.into_inner()).await?))
    }

    async fn stream_events(
        &self,
        request: Request<socialloans_contracts::events::StreamEventsRequest>,
    ) -> Result<Response<Self::StreamEventsStream>, Status> {
        let caller = socialloans_platform::auth::caller(&request)?;
        Ok(Response::new(self.feed.serve(&caller, request.into_inner()).await?))
    }
}
