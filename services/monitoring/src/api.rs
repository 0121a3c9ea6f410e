//! The monitoring service's gRPC handlers: parse and check the request, run
//! the change in one transaction (with its request id's answer and its audit
//! record), answer.

use chrono::{DateTime, Utc};
use socialloans_contracts::monitoring::{self as pb, monitoring_service_server::MonitoringService};
use socialloans_platform::{
    Caller, Reply,
    auth::{caller, open},
    error::FieldViolation,
    events::{Confinement, Feed, FeedStream},
    pagination::{cut_page, decode_position, encode_position, page_size},
    stored::Document,
    unit::{self, Mutation},
};
use sqlx::{PgConnection, PgPool};
use tonic::{Request, Response};
use uuid::Uuid;

use crate::{
    catalogue, conditions,
    error::Error,
    export, label, overdue,
    plans::{self, PlanRow},
    portfolio, progress, report_api, reports, rules, store,
};

/// The monitoring handlers.
#[derive(Debug, Clone)]
pub struct Api {
    /// The service's pool.
    pub pool: PgPool,
    /// The service's feed.
    pub feed: Feed,
}

impl Api {
    /// Runs `work` on `request` for its caller as one unit of work of its
    /// method ([`unit::run_simple`]): who acts is named for the audit trail,
    /// a retry replays the first answer, a failure leaves nothing behind.
    /// Checks of the request alone come before, so a refused request claims
    /// no request id.
    async fn change<Req: Mutation, Resp: prost::Message + Default>(
        &self,
        request: Request<Req>,
        work: impl AsyncFnOnce(&mut PgConnection, &Caller, &Req) -> Result<Resp, Error>,
    ) -> Reply<Resp> {
        let (caller, req) = open(request)?;
        let answer = unit::run_simple(&self.pool, &caller, &req, async |conn| work(conn, &caller, &req).await).await?;
        Ok(Response::new(answer))
    }

    /// Fulfils, waives or breaches the condition `request` names, as one
    /// change answered by `answer`.
    async fn condition<Req: Mutation + conditions::Command, Resp: prost::Message + Default>(
        &self,
        request: Request<Req>,
        answer: fn(pb::Condition) -> Resp,
    ) -> Reply<Resp> {
        self.change(request, async |conn, caller, req| {
            let (name, etag, action) = req.command();
            Ok(answer(conditions::resolve(conn, caller, name, etag, action).await?))
        })
        .await
    }

    /// Accepts or returns the report `request` names, as one change
    /// answered by `answer`; its comments are checked first.
    async fn review<Req: Mutation + report_api::Review, Resp: prost::Message + Default>(
        &self,
        request: Request<Req>,
        answer: fn(pb::OutcomeReport) -> Resp,
    ) -> Reply<Resp> {
        let comments = request.get_ref().comments()?;
        self.change(request, async |conn, caller, req| {
            let (name, etag) = req.target();
            Ok(answer(report_api::review(conn, caller, name, etag, Req::ACCEPT, comments).await?))
        })
        .await
    }

    /// The plan `id` (named `name`), as `caller` may see it.
    async fn plan(&self, caller: &Caller, id: Uuid, name: &str) -> Result<store::plans::Row, Error> {
        let row = store::plans::find(&self.pool, id, caller.confined_to(), false).await?;
        row.ok_or_else(|| Error::NotFound(name.to_owned()))
    }

    /// The report `key` (plan and report, named `name`), as `caller` may see it.
    async fn report(&self, caller: &Caller, key: (Uuid, Uuid), name: &str) -> Result<store::reports::Row, Error> {
        let row = store::reports::find(&self.pool, key, caller.confined_to(), false).await?;
        row.ok_or_else(|| Error::NotFound(name.to_owned()))
    }
}

/// One page of documents in creation order for `query`, from a request's
/// page size and token: `list` reads the rows after the token's position
/// (one more than the page), cut to the page. The rows and the next page's
/// token.
async fn page<R, S>(
    query: &str,
    (size, token): (i32, &str),
    list: impl AsyncFnOnce(Option<(DateTime<Utc>, Uuid)>, u32) -> Result<Vec<R>, sqlx::Error>,
    document: impl Fn(&R) -> &Document<S>,
) -> Result<(Vec<R>, String), Error> {
    let size = page_size(size)?;
    let after = decode_position::<Uuid>(query, token)?;
    let mut rows = list(after, size).await?;
    let next = cut_page(query, &mut rows, size, |r| document(r).content.len(), |r| document(r).position());
    Ok((rows, next))
}

#[tonic::async_trait]
impl MonitoringService for Api {
    type StreamEventsStream = FeedStream;

    async fn create_indicator_definition(
        &self,
        request: Request<pb::CreateIndicatorDefinitionRequest>,
    ) -> Reply<pb::CreateIndicatorDefinitionResponse> {
        self.change(request, async |conn, _, req| {
            let row = catalogue::create(conn, &req.indicator_definition.clone().unwrap_or_default()).await?;
            Ok(pb::CreateIndicatorDefinitionResponse { indicator_definition: Some(row.view()) })
        })
        .await
    }

    async fn get_indicator_definition(
        &self,
        request: Request<pb::GetIndicatorDefinitionRequest>,
    ) -> Reply<pb::GetIndicatorDefinitionResponse> {
        let name = &request.get_ref().name;
        let code = name
            .strip_prefix("indicatorDefinitions/")
            .ok_or_else(|| Error::from(FieldViolation::new("name", "must be indicatorDefinitions/{code}")))?;
        let row = store::catalogue::get(&self.pool, code)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| Error::NotFound(name.clone()))?;
        Ok(Response::new(pb::GetIndicatorDefinitionResponse { indicator_definition: Some(row.view()) }))
    }

    async fn list_indicator_definitions(
        &self,
        request: Request<pb::ListIndicatorDefinitionsRequest>,
    ) -> Reply<pb::ListIndicatorDefinitionsResponse> {
        let req = request.into_inner();
        let size = page_size(req.page_size).map_err(Error::from)?;
        let after = decode_position::<String>("catalogue", &req.page_token).map_err(Error::from)?;
        let mut rows = store::catalogue::list(&self.pool, after, size).await.map_err(Error::from)?;
        let next_page_token = cut_page("catalogue", &mut rows, size, |_| 0, store::catalogue::Row::key);
        let indicator_definitions = rows.iter().map(store::catalogue::Row::view).collect();
        Ok(Response::new(pb::ListIndicatorDefinitionsResponse { indicator_definitions, next_page_token }))
    }

    async fn get_monitoring_plan(
        &self,
        request: Request<pb::GetMonitoringPlanRequest>,
    ) -> Reply<pb::GetMonitoringPlanResponse> {
        let name = &request.get_ref().name;
        let row = self.plan(&caller(&request)?, report_api::parse_plan("name", name)?, name).await?;
        Ok(Response::new(pb::GetMonitoringPlanResponse { monitoring_plan: Some(row.view()?) }))
    }

    async fn list_monitoring_plans(
        &self,
        request: Request<pb::ListMonitoringPlansRequest>,
    ) -> Reply<pb::ListMonitoringPlansResponse> {
        let (caller, req) = open(request)?;
        let filter = plans::filter(&caller, &req)?;
        let query = format!("{filter:?}");
        let list = async |after, size| store::plans::list(&self.pool, &filter, after, size).await;
        let (rows, next_page_token) = page(&query, (req.page_size, &req.page_token), list, |r| r).await?;
        let monitoring_plans = rows.iter().map(store::plans::Row::view).collect::<Result<_, _>>()?;
        Ok(Response::new(pb::ListMonitoringPlansResponse { monitoring_plans, next_page_token }))
    }

    async fn create_outcome_report(
        &self,
        request: Request<pb::CreateOutcomeReportRequest>,
    ) -> Reply<pb::CreateOutcomeReportResponse> {
        self.change(request, async |conn, caller, req| {
            let report = req.outcome_report.clone().unwrap_or_default();
            let created = report_api::create(conn, caller, &req.parent, report).await?;
            Ok(pb::CreateOutcomeReportResponse { outcome_report: Some(created) })
        })
        .await
    }

    async fn get_outcome_report(
        &self,
        request: Request<pb::GetOutcomeReportRequest>,
    ) -> Reply<pb::GetOutcomeReportResponse> {
        let name = &request.get_ref().name;
        let row = self.report(&caller(&request)?, report_api::parse_report(name)?, name).await?;
        Ok(Response::new(pb::GetOutcomeReportResponse { outcome_report: Some(row.view()?) }))
    }

    async fn list_outcome_reports(
        &self,
        request: Request<pb::ListOutcomeReportsRequest>,
    ) -> Reply<pb::ListOutcomeReportsResponse> {
        let (caller, req) = open(request)?;
        let plan_id = match req.parent.as_str() {
            "monitoringPlans/-" => None,
            parent => Some(report_api::parse_plan("parent", parent)?),
        };
        let state = match pb::OutcomeReportState::try_from(req.state) {
            Ok(pb::OutcomeReportState::Unspecified) => None,
            Ok(s) => Some(reports::state_name(s)),
            Err(_) => return Err(Error::from(FieldViolation::new("state", "is not an OutcomeReportState")).into()),
        };
        if let Some(id) = plan_id {
            self.plan(&caller, id, &req.parent).await?;
        }
        let updated_after = match &req.updated_after {
            Some(time) => Some(socialloans_platform::limits::time_field("updated_after", time).map_err(Error::from)?),
            None => None,
        };
        let organization = caller.confined_to();
        let filter = store::reports::ReportFilter { plan: plan_id, organization, state, updated_after };
        let query = format!("reports {filter:?}");
        let list = async |after, size| store::reports::list(&self.pool, &filter, after, size).await;
        let (rows, next_page_token) = page(&query, (req.page_size, &req.page_token), list, |r| &r.document).await?;
        let outcome_reports = rows.iter().map(store::reports::Row::view).collect::<Result<_, _>>()?;
        Ok(Response::new(pb::ListOutcomeReportsResponse { outcome_reports, next_page_token }))
    }

    async fn list_outcome_report_versions(
        &self,
        request: Request<pb::ListOutcomeReportVersionsRequest>,
    ) -> Reply<pb::ListOutcomeReportVersionsResponse> {
        let (caller, req) = open(request)?;
        let key = report_api::parse_report(&req.parent).map_err(|_| {
            Error::from(FieldViolation::new("parent", "must be monitoringPlans/{uuid}/outcomeReports/{uuid}"))
        })?;
        let report = self.report(&caller, key, &req.parent).await?;
        let size = page_size(req.page_size).map_err(Error::from)?;
        let query = format!("versions {}", report.document.id);
        let after = decode_position::<i32>(&query, &req.page_token).map_err(Error::from)?.map_or(0, |(_, v)| v);
        let mut rows =
            store::reports::versions(&self.pool, report.document.id, after, size).await.map_err(Error::from)?;
        let next_page_token = cut_page(&query, &mut rows, size, |r| r.content.len(), |r| (r.submit_time, r.version));
        let outcome_report_versions = rows.iter().map(|v| v.view(&report)).collect::<Result<_, _>>()?;
        Ok(Response::new(pb::ListOutcomeReportVersionsResponse { outcome_report_versions, next_page_token }))
    }

    async fn activate_monitoring_plan(
        &self,
        request: Request<pb::ActivateMonitoringPlanRequest>,
    ) -> Reply<pb::ActivateMonitoringPlanResponse> {
        self.change(request, async |conn, _, req| {
            let schedule = req.schedule.unwrap_or_default();
            let plan = plans::activate_named(conn, &req.name, &req.etag, schedule).await?;
            Ok(pb::ActivateMonitoringPlanResponse { monitoring_plan: Some(plan) })
        })
        .await
    }

    async fn close_monitoring_plan(
        &self,
        request: Request<pb::CloseMonitoringPlanRequest>,
    ) -> Reply<pb::CloseMonitoringPlanResponse> {
        plans::check_closing_reason(&request.get_ref().reason)?;
        self.change(request, async |conn, _, req| {
            let plan = plans::close_named(conn, &req.name, &req.etag, &req.reason).await?;
            Ok(pb::CloseMonitoringPlanResponse { monitoring_plan: Some(plan) })
        })
        .await
    }

    async fn reassess_social_label(
        &self,
        request: Request<pb::ReassessSocialLabelRequest>,
    ) -> Reply<pb::ReassessSocialLabelResponse> {
        let (outcome, effective) = label::check(request.get_ref())?;
        self.change(request, async |conn, caller, req| {
            let plan = label::reassess(conn, caller, req, outcome, effective).await?;
            Ok(pb::ReassessSocialLabelResponse { monitoring_plan: Some(plan) })
        })
        .await
    }

    async fn confirm_social_label_withdrawal(
        &self,
        request: Request<pb::ConfirmSocialLabelWithdrawalRequest>,
    ) -> Reply<pb::ConfirmSocialLabelWithdrawalResponse> {
        self.change(request, async |conn, caller, req| {
            let plan = label::confirm_withdrawal(conn, caller, req).await?;
            Ok(pb::ConfirmSocialLabelWithdrawalResponse { monitoring_plan: Some(plan) })
        })
        .await
    }

    async fn update_outcome_report(
        &self,
        request: Request<pb::UpdateOutcomeReportRequest>,
    ) -> Reply<pb::UpdateOutcomeReportResponse> {
        let paths = report_api::edited_paths(request.get_ref())?;
        self.change(request, async |conn, caller, req| {
            let patch = req.outcome_report.clone().unwrap_or_default();
            let report = report_api::update(conn, caller, &patch, &paths, &req.etag).await?;
            Ok(pb::UpdateOutcomeReportResponse { outcome_report: Some(report) })
        })
        .await
    }

    async fn submit_outcome_report(
        &self,
        request: Request<pb::SubmitOutcomeReportRequest>,
    ) -> Reply<pb::SubmitOutcomeReportResponse> {
        self.change(request, async |conn, caller, req| {
            let report = report_api::submit(conn, caller, &req.name, &req.etag).await?;
            Ok(pb::SubmitOutcomeReportResponse { outcome_report: Some(report) })
        })
        .await
    }

    async fn accept_outcome_report(
        &self,
        request: Request<pb::AcceptOutcomeReportRequest>,
    ) -> Reply<pb::AcceptOutcomeReportResponse> {
        self.review(request, |report| pb::AcceptOutcomeReportResponse { outcome_report: Some(report) }).await
    }

    async fn return_outcome_report(
        &self,
        request: Request<pb::ReturnOutcomeReportRequest>,
    ) -> Reply<pb::ReturnOutcomeReportResponse> {
        self.review(request, |report| pb::ReturnOutcomeReportResponse { outcome_report: Some(report) }).await
    }

    async fn list_overdue_items(
        &self,
        request: Request<pb::ListOverdueItemsRequest>,
    ) -> Reply<pb::ListOverdueItemsResponse> {
        let (caller, req) = open(request)?;
        let mut violations = Vec::new();
        let day = portfolio::day_of("as_of", req.as_of.as_ref()).map_err(|v| violations.push(v)).ok();
        let kind = pb::OverdueItemKind::try_from(req.kind).unwrap_or_else(|_| {
            violations.push(FieldViolation::new("kind", "is not an OverdueItemKind"));
            pb::OverdueItemKind::Unspecified
        });
        let size = page_size(req.page_size).map_err(|v| violations.push(v)).unwrap_or_default();
        let Some(day) = day.filter(|_| violations.is_empty()) else {
            return Err(Error::InvalidArgument(violations).into());
        };
        let organization = rules::overdue_organization(caller.confined_to(), &req.organization_number);
        let query = format!("overdue {day} {kind:?} {organization:?}");
        let offset = decode_position::<usize>(&query, &req.page_token).map_err(Error::from)?.map_or(0, |(_, n)| n);
        let items = overdue::items(&self.pool, day, kind, organization).await?;
        let overdue_items: Vec<pb::OverdueItem> = items.iter().skip(offset).take(size as usize).cloned().collect();
        let next_page_token = if offset + overdue_items.len() < items.len() {
            encode_position(&query, chrono::DateTime::UNIX_EPOCH, &(offset + overdue_items.len()))
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListOverdueItemsResponse { overdue_items, next_page_token }))
    }

    async fn get_plan_progress(
        &self,
        request: Request<pb::GetPlanProgressRequest>,
    ) -> Reply<pb::GetPlanProgressResponse> {
        let (caller, req) = open(request)?;
        let plan_id = report_api::parse_plan("name", &req.name)?;
        let day = portfolio::day_of("as_of", req.as_of.as_ref()).map_err(Error::from)?;
        let plan = self.plan(&caller, plan_id, &req.name).await?.view()?;
        let accepted = reports::accepted(&self.pool, plan_id, day).await?;
        let progress = progress::of_plan(&plan, &accepted, day, progress::overdue_reports(&plan, day));
        Ok(Response::new(pb::GetPlanProgressResponse { plan_progress: Some(progress) }))
    }

    async fn fulfil_condition(
        &self,
        request: Request<pb::FulfilConditionRequest>,
    ) -> Reply<pb::FulfilConditionResponse> {
        self.condition(request, |condition| pb::FulfilConditionResponse { condition: Some(condition) }).await
    }

    async fn waive_condition(&self, request: Request<pb::WaiveConditionRequest>) -> Reply<pb::WaiveConditionResponse> {
        self.condition(request, |condition| pb::WaiveConditionResponse { condition: Some(condition) }).await
    }

    async fn breach_condition(
        &self,
        request: Request<pb::BreachConditionRequest>,
    ) -> Reply<pb::BreachConditionResponse> {
        self.condition(request, |condition| pb::BreachConditionResponse { condition: Some(condition) }).await
    }

    async fn get_portfolio_impact_report(
        &self,
        request: Request<pb::GetPortfolioImpactReportRequest>,
    ) -> Reply<pb::GetPortfolioImpactReportResponse> {
        let req = request.into_inner();
        let scope = portfolio::scope(req.as_of.as_ref(), req.category, req.exclude_closed, None)?;
        let report = portfolio::report(&self.pool, scope).await?;
        Ok(Response::new(pb::GetPortfolioImpactReportResponse { portfolio_impact_report: Some(report) }))
    }

    async fn export_portfolio_impact_report(
        &self,
        request: Request<pb::ExportPortfolioImpactReportRequest>,
    ) -> Reply<pb::ExportPortfolioImpactReportResponse> {
        let req = request.into_inner();
        // The file has been English from the start; Swedish on request.
        let language = match socialloans_contracts::common::Language::try_from(req.language) {
            Ok(socialloans_contracts::common::Language::Swedish) => socialloans_documents::Language::Swedish,
            Ok(_) => socialloans_documents::Language::English,
            Err(_) => {
                let why = "is LANGUAGE_ENGLISH (the default) or LANGUAGE_SWEDISH";
                return Err(Error::from(FieldViolation::new("language", why)).into());
            }
        };
        let scope = portfolio::scope(req.as_of.as_ref(), req.category, req.exclude_closed, Some(req.format))?;
        let report = portfolio::report(&self.pool, scope).await?;
        let (content_type, file_name, content) = export::file(&report, req.format, language, scope.as_of);
        Ok(Response::new(pb::ExportPortfolioImpactReportResponse {
            content_type: content_type.into(),
            file_name,
            content: content.into_bytes(),
        }))
    }

    async fn list_audit_entries(
        &self,
        request: Request<pb::ListAuditEntriesRequest>,
    ) -> Reply<pb::ListAuditEntriesResponse> {
        let req = request.into_inner();
        let query = format!("audit {}", req.resource);
        let size = page_size(req.page_size).map_err(Error::from)?;
        let after = decode_position::<i64>(&query, &req.page_token).map_err(Error::from)?.map_or(0, |(_, s)| s);
        let mut rows = store::audit::list(&self.pool, &req.resource, after, size).await.map_err(Error::from)?;
        let next_page_token = if rows.len() > size as usize {
            rows.truncate(size as usize);
            let last = rows.last().expect("a full page");
            encode_position(&query, chrono::DateTime::UNIX_EPOCH, &last.sequence())
        } else {
            String::new()
        };
        let audit_entries = rows.into_iter().map(store::audit::Row::view).collect();
        Ok(Response::new(pb::ListAuditEntriesResponse { audit_entries, next_page_token }))
    }

    async fn stream_events(
        &self,
        request: Request<socialloans_contracts::events::StreamEventsRequest>,
    ) -> Reply<Self::StreamEventsStream> {
        let caller = caller(&request)?;
        if let Some(organizations) = caller.confined_to() {
            // A borrower: the events of its organisations' plans, which it
            // may read whole (as it reads the plans and reports).
            let confinement = Confinement { organizations: organizations.to_vec(), view: |_, payload| payload };
            return self.feed.serve_confined(request, confinement).await;
        }
        self.feed.serve(request).await
    }
}
