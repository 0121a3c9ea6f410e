//! The gRPC handlers: request → operation → response. The rules of each step
//! are in the closures handed to [`Applications::mutate`]; the state machine
//! is in `domain`, the content checks in `validate`.

use prost::Name;
use socialloans_contracts::applications::{
    self as pb, ApplicationState as S, CreditAssessmentOutcome, applications_service_server::ApplicationsService,
};
use socialloans_contracts::common;
use socialloans_platform::{
    auth::caller,
    error::FieldViolation,
    events::{Feed, FeedStream},
    limits,
};
use tonic::{Request, Response, Status};

use crate::{
    domain::Action,
    edit,
    error::Error,
    loans, queries,
    record::{Record, timestamp},
    service::{Applications, Change, erased_contact, event, transition},
    validate,
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

fn org_of(record: &Record) -> String {
    record.row.organization_number.clone()
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
                |record| {
                    let before = record.state;
                    transition(record, Action::Edit)?;
                    let changed_fields = edit::apply(record, &patch, &paths)?;
                    // An edit that changes nothing leaves no revision and no history.
                    let unchanged = changed_fields.is_empty() && record.state == before;
                    Ok(Change { action: "EDIT", changed_fields, unchanged, ..Default::default() })
                },
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
                |record| {
                    transition(record, Action::Submit)?;
                    let missing = validate::completeness(&record.view(true));
                    if !missing.is_empty() {
                        return Err(Error::Incomplete {
                            reason: "APPLICATION_INCOMPLETE",
                            message: format!(
                                "{} thing(s) missing before the application can be submitted",
                                missing.len()
                            ),
                            violations: missing,
                        });
                    }
                    record.app.submission_count += 1;
                    record.app.completion_comments.clear();
                    record.row.submit_time.get_or_insert_with(chrono::Utc::now);
                    let submitted = pb::ApplicationSubmitted {
                        application: record.name(),
                        organization_number: org_of(record),
                        category: record.app.category,
                        requested_amount: record.app.requested_amount.clone(),
                        submission_count: record.app.submission_count,
                    };
                    Ok(Change { action: "SUBMIT", events: vec![event(submitted)], ..Default::default() })
                },
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
                |record| {
                    transition(record, Action::ReturnForCompletion)?;
                    if let Some(i) =
                        req.comments.iter().position(|c| !validate::path_within(&record.app, &c.field_path))
                    {
                        return Err(FieldViolation::new(
                            format!("comments[{i}].field_path"),
                            "names a list element this application does not have",
                        )
                        .into());
                    }
                    record.app.completion_comments = req.comments.clone();
                    let returned = pb::ApplicationReturnedForCompletion {
                        application: record.name(),
                        organization_number: org_of(record),
                        comments: req.comments.clone(),
                        message: req.message.clone(),
                    };
                    Ok(Change {
                        action: "RETURN_FOR_COMPLETION",
                        comment: req.message.clone(),
                        changed_fields: req.comments.iter().map(|c| c.field_path.clone()).collect(),
                        events: vec![event(returned)],
                        ..Default::default()
                    })
                },
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
                |record| {
                    transition(record, Action::StartReview)?;
                    let started = pb::ApplicationReviewStarted {
                        application: record.name(),
                        organization_number: org_of(record),
                    };
                    Ok(Change { action: "START_REVIEW", events: vec![event(started)], ..Default::default() })
                },
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
        let actor = crate::service::Actor::of(&caller, "RecordCreditAssessment");
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
                |record| {
                    transition(record, Action::RecordCreditAssessment)?;
                    let mut assessment = assessment;
                    assessment.assessor = Some(common::Actor {
                        subject: actor.subject.clone(),
                        role: actor.role.clone(),
                        organization_number: String::new(),
                    });
                    assessment.assess_time = Some(timestamp(chrono::Utc::now()));
                    let recorded = pb::CreditAssessmentRecorded {
                        application: record.name(),
                        organization_number: org_of(record),
                        outcome: assessment.outcome,
                        credit_limit: assessment.credit_limit.clone(),
                    };
                    let outcome = CreditAssessmentOutcome::try_from(assessment.outcome).unwrap_or_default();
                    record.app.credit_assessment = Some(assessment);
                    Ok(Change {
                        action: "RECORD_CREDIT_ASSESSMENT",
                        comment: outcome.as_str_name().to_owned(),
                        events: vec![event(recorded)],
                        ..Default::default()
                    })
                },
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
                |record| {
                    transition(record, Action::Refer)?;
                    let missing = validate::completeness(&record.view(true));
                    if !missing.is_empty() {
                        return Err(Error::Incomplete {
                            reason: "APPLICATION_INCOMPLETE",
                            message: "the application is not complete enough to refer".into(),
                            violations: missing,
                        });
                    }
                    let credit = record
                        .app
                        .credit_assessment
                        .as_ref()
                        .and_then(|c| CreditAssessmentOutcome::try_from(c.outcome).ok());
                    if !matches!(
                        credit,
                        Some(CreditAssessmentOutcome::Approved | CreditAssessmentOutcome::ApprovedWithReservations)
                    ) {
                        return Err(Error::Precondition {
                            reason: "CREDIT_NOT_APPROVED",
                            message: "the ordinary credit assessment must approve the borrower before referral".into(),
                        });
                    }
                    record.app.referral_note = req.referral_note.clone();
                    let referred = pb::ApplicationReferredToCommittee { application: Some(record.snapshot()) };
                    Ok(Change {
                        action: "REFER_TO_COMMITTEE",
                        comment: req.referral_note.clone(),
                        events: vec![event(referred)],
                        ..Default::default()
                    })
                },
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
                |record| {
                    let previous = record.state;
                    transition(record, Action::Withdraw)?;
                    record.app.close_time = Some(timestamp(chrono::Utc::now()));
                    let withdrawn = pb::ApplicationWithdrawn {
                        application: record.name(),
                        organization_number: org_of(record),
                        previous_state: previous as i32,
                        reason: req.reason.clone(),
                    };
                    Ok(Change {
                        action: "WITHDRAW",
                        comment: req.reason.clone(),
                        events: vec![event(withdrawn)],
                        ..Default::default()
                    })
                },
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
                |record| {
                    if record.state == S::Closed {
                        return Ok(Change { unchanged: true, ..Default::default() }); // a retry is harmless
                    }
                    transition(record, Action::Close)?;
                    record.app.close_time = Some(timestamp(chrono::Utc::now()));
                    let closed = pb::ApplicationClosed {
                        application: record.name(),
                        organization_number: org_of(record),
                        reason: req.reason.clone(),
                    };
                    Ok(Change {
                        action: "CLOSE",
                        comment: req.reason.clone(),
                        events: vec![event(closed)],
                        ..Default::default()
                    })
                },
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
                |record| {
                    if record.contact.erased {
                        return Ok(Change { unchanged: true, ..Default::default() });
                    }
                    // The history keeps the reason for ever: it must not repeat what is erased.
                    if validate::repeats_contact(&req.reason, &record.contact) {
                        return Err(FieldViolation::new(
                            "reason",
                            "must not contain the personal data being erased (give the request's reference)",
                        )
                        .into());
                    }
                    record.contact = erased_contact();
                    let erased = pb::ContactPersonErased { application: record.name() };
                    Ok(Change {
                        action: "ERASE_CONTACT_PERSON",
                        comment: req.reason.clone(),
                        changed_fields: vec!["contact_person".into()],
                        events: vec![event(erased)],
                        ..Default::default()
                    })
                },
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
