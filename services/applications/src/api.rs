//! The gRPC handlers: request → operation → response. Each handler checks
//! its request and hands one step of `steps` to [`Applications::mutate`]
//! (the unit of work); the state machine is in `domain`, the content checks
//! in `validate`.

use chrono::Utc;
use prost::Name;
use socialloans_contracts::applications::{self as pb, applications_service_server::ApplicationsService};
use socialloans_platform::{
    Reply,
    auth::{caller, open},
    error::FieldViolation,
    events::{Confinement, Feed, FeedStream},
    limits,
    unit::Mutation,
};
use tonic::{Request, Response};

use crate::{
    edit,
    error::Error,
    feeds, loans, queries,
    record::Record,
    service::{Actor, Applications, Change, Targeted},
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

/// Implements [`Targeted`] for `request`, answered by `answer` (both carry
/// the application in the field `application`); the target is the
/// request's `name` and `etag` unless given.
macro_rules! mutation {
    ($request:ident => $answer:ident) => {
        mutation!($request => $answer, |r| (&r.name, &r.etag));
    };
    ($request:ident => $answer:ident, |$r:ident| $target:expr) => {
        impl Targeted for pb::$request {
            type Answer = pb::$answer;
            fn target(&self) -> (&str, &str) {
                let $r = self;
                $target
            }
            fn answer(application: pb::Application) -> pb::$answer {
                pb::$answer { application: Some(application) }
            }
        }
    };
}

mutation!(UpdateApplicationRequest => UpdateApplicationResponse, |r| {
    (r.application.as_ref().map_or("", |a| a.name.as_str()), &r.etag)
});
mutation!(SubmitApplicationRequest => SubmitApplicationResponse);
mutation!(ReturnApplicationForCompletionRequest => ReturnApplicationForCompletionResponse);
mutation!(StartReviewRequest => StartReviewResponse);
mutation!(RecordCreditAssessmentRequest => RecordCreditAssessmentResponse);
mutation!(ReferApplicationToCommitteeRequest => ReferApplicationToCommitteeResponse);
mutation!(WithdrawApplicationRequest => WithdrawApplicationResponse);
mutation!(TagLoanRequest => TagLoanResponse);
mutation!(RecordLoanEventRequest => RecordLoanEventResponse);
mutation!(CancelLoanTagRequest => CancelLoanTagResponse);
mutation!(ConfirmLoanTagCancellationRequest => ConfirmLoanTagCancellationResponse);
mutation!(CloseApplicationRequest => CloseApplicationResponse);
// An erasure is done whatever the version: it takes no etag.
mutation!(EraseContactPersonRequest => EraseContactPersonResponse, |r| (&r.name, ""));

fn check(violations: Vec<FieldViolation>) -> Result<(), Error> {
    if violations.is_empty() { Ok(()) } else { Err(Error::InvalidArgument(violations)) }
}

/// A `reason` the method requires (`what` says what it is for), within the
/// comment limit.
fn required_reason(reason: &str, what: &str) -> Result<(), Error> {
    let missing = reason.trim().is_empty().then(|| FieldViolation::new("reason", format!("is required: {what}")));
    check(missing.into_iter().chain(limits::text("reason", reason, validate::COMMENT_TEXT)).collect())
}

impl Api {
    /// Runs `step` on the application `request` names, as one unit of work
    /// ([`Applications::mutate`]).
    async fn change<Req: Targeted>(
        &self,
        request: Request<Req>,
        step: impl FnOnce(&mut Record, &Req) -> Result<Change, Error>,
    ) -> Reply<Req::Answer> {
        let (caller, req) = open(request)?;
        Ok(Response::new(self.ops.mutate(&caller, &req, |record| step(record, &req)).await?))
    }
}

#[tonic::async_trait]
impl ApplicationsService for Api {
    type StreamEventsStream = FeedStream;

    async fn create_application(
        &self,
        request: Request<pb::CreateApplicationRequest>,
    ) -> Reply<pb::CreateApplicationResponse> {
        let (caller, req) = open(request)?;
        let draft = edit::new_draft(&caller, req.application.clone())?;
        let application = self.ops.create(&caller, &req, draft).await?;
        Ok(Response::new(pb::CreateApplicationResponse { application: Some(application) }))
    }

    async fn get_application(&self, request: Request<pb::GetApplicationRequest>) -> Reply<pb::GetApplicationResponse> {
        let caller = caller(&request)?;
        Ok(Response::new(self.ops.get(&caller, &request.get_ref().name).await?))
    }

    async fn list_applications(
        &self,
        request: Request<pb::ListApplicationsRequest>,
    ) -> Reply<pb::ListApplicationsResponse> {
        let caller = caller(&request)?;
        Ok(Response::new(queries::list(&self.ops, &caller, request.into_inner()).await?))
    }

    async fn update_application(
        &self,
        request: Request<pb::UpdateApplicationRequest>,
    ) -> Reply<pb::UpdateApplicationResponse> {
        let paths = edit::mask_paths(request.get_ref())?;
        if request.get_ref().etag.is_empty() {
            return Err(Error::from(FieldViolation::new("etag", "is required: send the etag you read")).into());
        }
        self.change(request, |record, req| steps::edit(record, &req.application.clone().unwrap_or_default(), &paths))
            .await
    }

    async fn submit_application(
        &self,
        request: Request<pb::SubmitApplicationRequest>,
    ) -> Reply<pb::SubmitApplicationResponse> {
        self.change(request, |record, _| steps::submit(record)).await
    }

    async fn return_application_for_completion(
        &self,
        request: Request<pb::ReturnApplicationForCompletionRequest>,
    ) -> Reply<pb::ReturnApplicationForCompletionResponse> {
        let req = request.get_ref();
        check(limits::review_comments(
            &pb::Application::full_name(),
            &req.comments,
            &req.message,
            "objectives[0].description or investment",
        )?)?;
        self.change(request, |record, req| steps::return_for_completion(record, &req.comments, &req.message)).await
    }

    async fn start_review(&self, request: Request<pb::StartReviewRequest>) -> Reply<pb::StartReviewResponse> {
        self.change(request, |record, _| steps::start_review(record)).await
    }

    async fn record_credit_assessment(
        &self,
        request: Request<pb::RecordCreditAssessmentRequest>,
    ) -> Reply<pb::RecordCreditAssessmentResponse> {
        let assessment = edit::credit_assessment(request.get_ref())?;
        let actor = Actor::of(&caller(&request)?, pb::RecordCreditAssessmentRequest::method());
        self.change(request, |record, _| steps::record_credit_assessment(record, assessment, &actor)).await
    }

    async fn refer_application_to_committee(
        &self,
        request: Request<pb::ReferApplicationToCommitteeRequest>,
    ) -> Reply<pb::ReferApplicationToCommitteeResponse> {
        let note = &request.get_ref().referral_note;
        check(limits::text("referral_note", note, validate::COMMENT_TEXT).into_iter().collect())?;
        self.change(request, |record, req| steps::refer(record, &req.referral_note)).await
    }

    async fn withdraw_application(
        &self,
        request: Request<pb::WithdrawApplicationRequest>,
    ) -> Reply<pb::WithdrawApplicationResponse> {
        required_reason(&request.get_ref().reason, "why the application is withdrawn")?;
        self.change(request, |record, req| steps::withdraw(record, &req.reason)).await
    }

    async fn tag_loan(&self, request: Request<pb::TagLoanRequest>) -> Reply<pb::TagLoanResponse> {
        let loan = edit::loan(request.get_ref())?;
        self.change(request, |record, _| loans::tag(record, loan, Utc::now())).await
    }

    async fn record_loan_event(
        &self,
        request: Request<pb::RecordLoanEventRequest>,
    ) -> Reply<pb::RecordLoanEventResponse> {
        let what = edit::loan_event(request.get_ref())?;
        self.change(request, |record, req| loans::record_event(record, &req.loan_id, what, Utc::now())).await
    }

    async fn cancel_loan_tag(&self, request: Request<pb::CancelLoanTagRequest>) -> Reply<pb::CancelLoanTagResponse> {
        let req = request.get_ref();
        check(edit::loan_id_violations(&req.loan_id))?;
        required_reason(&req.reason, "why the loan's tag is wrong")?;
        let actor = Actor::of(&caller(&request)?, pb::CancelLoanTagRequest::method());
        self.change(request, |record, req| {
            loans::request_cancellation(record, &req.loan_id, &req.reason, &actor, Utc::now())
        })
        .await
    }

    async fn confirm_loan_tag_cancellation(
        &self,
        request: Request<pb::ConfirmLoanTagCancellationRequest>,
    ) -> Reply<pb::ConfirmLoanTagCancellationResponse> {
        check(edit::loan_id_violations(&request.get_ref().loan_id))?;
        let actor = Actor::of(&caller(&request)?, pb::ConfirmLoanTagCancellationRequest::method());
        self.change(request, |record, req| loans::confirm_cancellation(record, &req.loan_id, &actor, Utc::now())).await
    }

    async fn get_loan(&self, request: Request<pb::GetLoanRequest>) -> Reply<pb::GetLoanResponse> {
        let caller = caller(&request)?;
        let loan = queries::get_loan(&self.ops, &caller, &request.get_ref().loan_id).await?;
        Ok(Response::new(pb::GetLoanResponse { loan: Some(loan) }))
    }

    async fn list_loans(&self, request: Request<pb::ListLoansRequest>) -> Reply<pb::ListLoansResponse> {
        let caller = caller(&request)?;
        Ok(Response::new(queries::list_loans(&self.ops, &caller, request.into_inner()).await?))
    }

    async fn close_application(
        &self,
        request: Request<pb::CloseApplicationRequest>,
    ) -> Reply<pb::CloseApplicationResponse> {
        required_reason(&request.get_ref().reason, "why the application is closed")?;
        self.change(request, |record, req| steps::close(record, &req.reason)).await
    }

    async fn erase_contact_person(
        &self,
        request: Request<pb::EraseContactPersonRequest>,
    ) -> Reply<pb::EraseContactPersonResponse> {
        required_reason(&request.get_ref().reason, "the erasure request's reference")?;
        self.change(request, |record, req| steps::erase_contact(record, &req.reason)).await
    }

    async fn list_audit_entries(
        &self,
        request: Request<pb::ListAuditEntriesRequest>,
    ) -> Reply<pb::ListAuditEntriesResponse> {
        let caller = caller(&request)?;
        Ok(Response::new(queries::history(&self.ops, &caller, request.into_inner()).await?))
    }

    async fn stream_events(
        &self,
        mut request: Request<socialloans_contracts::events::StreamEventsRequest>,
    ) -> Reply<Self::StreamEventsStream> {
        let caller = caller(&request)?;
        if let Some(organizations) = caller.confined_to() {
            // A borrower: its organisations' events, without internal notes.
            let types = &mut request.get_mut().types;
            check(feeds::outside(types, &feeds::BORROWER, "a borrower"))?;
            if types.is_empty() {
                *types = feeds::names(&feeds::BORROWER);
            }
            let confinement = Confinement { organizations: organizations.to_vec(), view: feeds::borrower_view };
            return self.feed.serve_confined(request, confinement).await;
        }
        if !caller.has(socialloans_platform::Role::Service) && !caller.has(socialloans_platform::Role::Auditor) {
            // Core banking: its own feed, of what it acts on.
            let types = &mut request.get_mut().types;
            check(feeds::outside(types, &feeds::CORE_BANKING, "core banking"))?;
            if types.is_empty() {
                *types = feeds::names(&feeds::CORE_BANKING);
            }
        }
        self.feed.serve(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_required_and_bounded_by_the_comment_limit() {
        assert!(required_reason("a reason", "why").is_ok());
        for bad in [String::new(), "  ".into(), "x".repeat(validate::COMMENT_TEXT + 1), "nul\0".into()] {
            let Err(Error::InvalidArgument(violations)) = required_reason(&bad, "why") else {
                panic!("{bad:?} passed");
            };
            assert_eq!(violations.len(), 1, "{bad:?}");
            assert_eq!(violations[0].field, "reason");
        }
        let Err(Error::InvalidArgument(violations)) = required_reason("", "why it is closed") else { panic!() };
        assert_eq!(violations[0].description, "is required: why it is closed");
    }

    #[test]
    fn every_request_names_a_method_the_policy_knows() {
        let methods = [
            pb::CreateApplicationRequest::method(),
            pb::UpdateApplicationRequest::method(),
            pb::SubmitApplicationRequest::method(),
            pb::ReturnApplicationForCompletionRequest::method(),
            pb::StartReviewRequest::method(),
            pb::RecordCreditAssessmentRequest::method(),
            pb::ReferApplicationToCommitteeRequest::method(),
            pb::WithdrawApplicationRequest::method(),
            pb::TagLoanRequest::method(),
            pb::RecordLoanEventRequest::method(),
            pb::CancelLoanTagRequest::method(),
            pb::ConfirmLoanTagCancellationRequest::method(),
            pb::CloseApplicationRequest::method(),
            pb::EraseContactPersonRequest::method(),
        ];
        for method in methods {
            assert!(crate::policy::POLICY.methods.iter().any(|(m, _)| *m == method), "{method}");
        }
        assert_eq!(pb::TagLoanRequest::method(), "TagLoan");
    }

    #[test]
    fn an_update_targets_the_application_it_carries_and_an_erasure_any_version() {
        let update = pb::UpdateApplicationRequest {
            application: Some(pb::Application { name: "applications/x".into(), ..Default::default() }),
            etag: "7".into(),
            ..Default::default()
        };
        assert_eq!(update.target(), ("applications/x", "7"));
        assert_eq!(pb::UpdateApplicationRequest::default().target(), ("", ""));
        let erase = pb::EraseContactPersonRequest { name: "applications/y".into(), ..Default::default() };
        assert_eq!(erase.target(), ("applications/y", ""));
    }
}
