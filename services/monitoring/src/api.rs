//! The monitoring service's gRPC handlers: parse and check the request, run
//! the change in one transaction (with its request id's answer and its audit
//! record), answer.

use socialloans_contracts::common;
use socialloans_contracts::monitoring::{self as pb, monitoring_service_server::MonitoringService};
use socialloans_platform::{
    Caller,
    auth::caller,
    error::FieldViolation,
    events::{Feed, FeedStream},
    pagination::{cut_page, decode_position, encode_position, page_size},
    unit,
};
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    catalogue, conditions, error::Error, export, overdue, plans, portfolio, progress, report_api, reports, rules, store,
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
    /// Runs a change for `caller` as one unit of work ([`unit::run_simple`]):
    /// who acts is named for the audit trail, a retry replays the first
    /// answer, a failure leaves nothing behind.
    async fn change<Req: prost::Message, Resp: prost::Message + Default>(
        &self,
        caller: &Caller,
        method: &str,
        request: &Req,
        request_id: &str,
        work: impl AsyncFnOnce(&mut sqlx::PgConnection) -> Result<Resp, Error>,
    ) -> Result<Resp, Error> {
        unit::run_simple(&self.pool, caller, method, request, request_id, work).await
    }
}

impl Api {
    /// Fulfils, waives or breaches a condition, as one change.
    async fn condition<Req: prost::Message, Resp: prost::Message + Default>(
        &self,
        caller: &Caller,
        method: &str,
        request: &Req,
        (request_id, name, etag): (&str, &str, &str),
        action: conditions::Action,
        respond: fn(pb::Condition) -> Resp,
    ) -> Result<Resp, Error> {
        self.change(caller, method, request, request_id, async |conn| {
            Ok(respond(conditions::resolve(conn, caller, name, etag, action).await?))
        })
        .await
    }
}

#[tonic::async_trait]
impl MonitoringService for Api {
    type StreamEventsStream = FeedStream;

    async fn create_indicator_definition(
        &self,
        request: Request<pb::CreateIndicatorDefinitionRequest>,
    ) -> Result<Response<pb::CreateIndicatorDefinitionResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let definition = req.indicator_definition.clone().unwrap_or_default();
        let answer = self
            .change(&caller, "CreateIndicatorDefinition", &req, &req.request_id, async |conn| {
                let row = catalogue::create(conn, &definition).await?;
                Ok::<_, Error>(pb::CreateIndicatorDefinitionResponse { indicator_definition: Some(row.view()) })
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn get_indicator_definition(
        &self,
        request: Request<pb::GetIndicatorDefinitionRequest>,
    ) -> Result<Response<pb::GetIndicatorDefinitionResponse>, Status> {
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
    ) -> Result<Response<pb::ListIndicatorDefinitionsResponse>, Status> {
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
    ) -> Result<Response<pb::GetMonitoringPlanResponse>, Status> {
        let caller = caller(&request)?;
        let name = &request.get_ref().name;
        let id = report_api::parse_plan("name", name)?;
        let row = store::plans::get(&self.pool, id, caller.confined_to())
            .await
            .map_err(Error::from)?
            .ok_or_else(|| Error::NotFound(name.clone()))?;
        Ok(Response::new(pb::GetMonitoringPlanResponse { monitoring_plan: Some(row.view()?) }))
    }

    async fn list_monitoring_plans(
        &self,
        request: Request<pb::ListMonitoringPlansRequest>,
    ) -> Result<Response<pb::ListMonitoringPlansResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut violations = Vec::new();
        let state = match pb::MonitoringPlanState::try_from(req.state) {
            Ok(pb::MonitoringPlanState::Unspecified) => None,
            Ok(s) => Some(plans::state_name(s)),
            Err(_) => {
                violations.push(FieldViolation::new("state", "is not a MonitoringPlanState"));
                None
            }
        };
        let category = match common::Category::try_from(req.category) {
            Ok(common::Category::Unspecified) => None,
            Ok(_) => Some(plans::category_name(req.category)),
            Err(_) => {
                violations.push(FieldViolation::new("category", "is not a Category"));
                None
            }
        };
        // A borrower sees only its own organisation's plans.
        let organization =
            caller.organization_filter(&req.organization_number).map_err(|v| violations.push(v)).ok().flatten();
        if !violations.is_empty() {
            return Err(Error::InvalidArgument(violations).into());
        }
        let filter = store::plans::Filter {
            state,
            organization_number: organization,
            application: (!req.application.is_empty()).then(|| req.application.clone()),
            category,
        };
        let query = format!("{filter:?}");
        let size = page_size(req.page_size).map_err(Error::from)?;
        let after = decode_position::<Uuid>(&query, &req.page_token).map_err(Error::from)?;
        let mut rows = store::plans::list(&self.pool, &filter, after, size).await.map_err(Error::from)?;
        let next_page_token = cut_page(&query, &mut rows, size, |r| r.content.len(), |r| (r.create_time, r.id));
        let monitoring_plans = rows.iter().map(store::plans::Row::view).collect::<Result<_, _>>()?;
        Ok(Response::new(pb::ListMonitoringPlansResponse { monitoring_plans, next_page_token }))
    }

    async fn create_outcome_report(
        &self,
        request: Request<pb::CreateOutcomeReportRequest>,
    ) -> Result<Response<pb::CreateOutcomeReportResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let report = req.outcome_report.clone().unwrap_or_default();
        let answer = self
            .change(&caller, "CreateOutcomeReport", &req, &req.request_id, async |conn| {
                let report = report_api::create(conn, &caller, &req.parent, report).await?;
                Ok::<_, Error>(pb::CreateOutcomeReportResponse { outcome_report: Some(report) })
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn get_outcome_report(
        &self,
        request: Request<pb::GetOutcomeReportRequest>,
    ) -> Result<Response<pb::GetOutcomeReportResponse>, Status> {
        let caller = caller(&request)?;
        let name = &request.get_ref().name;
        let (plan_id, id) = report_api::parse_report(name)?;
        let row = store::reports::get(&self.pool, id, caller.confined_to())
            .await
            .map_err(Error::from)?
            .filter(|r| r.plan_id == plan_id)
            .ok_or_else(|| Error::NotFound(name.clone()))?;
        Ok(Response::new(pb::GetOutcomeReportResponse { outcome_report: Some(row.view()?) }))
    }

    async fn list_outcome_reports(
        &self,
        request: Request<pb::ListOutcomeReportsRequest>,
    ) -> Result<Response<pb::ListOutcomeReportsResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
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
            store::plans::get(&self.pool, id, caller.confined_to())
                .await
                .map_err(Error::from)?
                .ok_or_else(|| Error::NotFound(req.parent.clone()))?;
        }
        let query = format!("reports {plan_id:?} {state:?} {:?}", caller.confined_to());
        let size = page_size(req.page_size).map_err(Error::from)?;
        let after = decode_position::<Uuid>(&query, &req.page_token).map_err(Error::from)?;
        let mut rows = store::reports::list(&self.pool, plan_id, caller.confined_to(), state, after, size)
            .await
            .map_err(Error::from)?;
        let next_page_token = cut_page(&query, &mut rows, size, |r| r.content.len(), |r| (r.create_time, r.id));
        let outcome_reports = rows.iter().map(store::reports::Row::view).collect::<Result<_, _>>()?;
        Ok(Response::new(pb::ListOutcomeReportsResponse { outcome_reports, next_page_token }))
    }

    async fn list_outcome_report_versions(
        &self,
        request: Request<pb::ListOutcomeReportVersionsRequest>,
    ) -> Result<Response<pb::ListOutcomeReportVersionsResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let (plan_id, id) = report_api::parse_report(&req.parent).map_err(|_| {
            Error::from(FieldViolation::new("parent", "must be monitoringPlans/{uuid}/outcomeReports/{uuid}"))
        })?;
        let report = store::reports::get(&self.pool, id, caller.confined_to())
            .await
            .map_err(Error::from)?
            .filter(|r| r.plan_id == plan_id)
            .ok_or_else(|| Error::NotFound(req.parent.clone()))?;
        let size = page_size(req.page_size).map_err(Error::from)?;
        let query = format!("versions {id}");
        let after = decode_position::<i32>(&query, &req.page_token).map_err(Error::from)?.map_or(0, |(_, v)| v);
        let mut rows = store::reports::versions(&self.pool, id, after, size).await.map_err(Error::from)?;
        let next_page_token = cut_page(&query, &mut rows, size, |r| r.content.len(), |r| (r.submit_time, r.version));
        let outcome_report_versions = rows.iter().map(|v| v.view(&report)).collect::<Result<_, _>>()?;
        Ok(Response::new(pb::ListOutcomeReportVersionsResponse { outcome_report_versions, next_page_token }))
    }

    async fn activate_monitoring_plan(
        &self,
        request: Request<pb::ActivateMonitoringPlanRequest>,
    ) -> Result<Response<pb::ActivateMonitoringPlanResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let answer = self
            .change(&caller, "ActivateMonitoringPlan", &req, &req.request_id, async |conn| {
                let schedule = req.schedule.unwrap_or_default();
                let plan = plans::activate_named(conn, &req.name, &req.etag, schedule).await?;
                Ok::<_, Error>(pb::ActivateMonitoringPlanResponse { monitoring_plan: Some(plan) })
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn close_monitoring_plan(
        &self,
        request: Request<pb::CloseMonitoringPlanRequest>,
    ) -> Result<Response<pb::CloseMonitoringPlanResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        if req.reason.trim().is_empty() {
            return Err(Error::from(FieldViolation::new("reason", "is required")).into());
        }
        if let Some(v) = socialloans_platform::limits::text("reason", &req.reason, 4000) {
            return Err(Error::from(v).into());
        }
        let answer = self
            .change(&caller, "CloseMonitoringPlan", &req, &req.request_id, async |conn| {
                let plan = plans::close_named(conn, &req.name, &req.etag, &req.reason).await?;
                Ok::<_, Error>(pb::CloseMonitoringPlanResponse { monitoring_plan: Some(plan) })
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn update_outcome_report(
        &self,
        request: Request<pb::UpdateOutcomeReportRequest>,
    ) -> Result<Response<pb::UpdateOutcomeReportResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let patch = req.outcome_report.clone().unwrap_or_default();
        let mut paths = req.update_mask.as_ref().map(|m| m.paths.clone()).unwrap_or_default();
        if paths.iter().any(|p| p == "*") {
            paths = reports::EDITABLE.iter().map(|p| (*p).to_owned()).collect();
        }
        let mut violations = Vec::new();
        if paths.is_empty() {
            violations.push(FieldViolation::new("update_mask", "is required: name the fields to change, or *"));
        }
        if req.etag.is_empty() {
            // A borrower's edit never overwrites an edit it has not seen.
            violations.push(FieldViolation::new("etag", "is required: send the etag you read"));
        }
        if !violations.is_empty() {
            return Err(Error::InvalidArgument(violations).into());
        }
        let answer = self
            .change(&caller, "UpdateOutcomeReport", &req, &req.request_id, async |conn| {
                let report = report_api::update(conn, &caller, &patch, &paths, &req.etag).await?;
                Ok::<_, Error>(pb::UpdateOutcomeReportResponse { outcome_report: Some(report) })
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn submit_outcome_report(
        &self,
        request: Request<pb::SubmitOutcomeReportRequest>,
    ) -> Result<Response<pb::SubmitOutcomeReportResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let answer = self
            .change(&caller, "SubmitOutcomeReport", &req, &req.request_id, async |conn| {
                let report = report_api::submit(conn, &caller, &req.name, &req.etag).await?;
                Ok::<_, Error>(pb::SubmitOutcomeReportResponse { outcome_report: Some(report) })
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn accept_outcome_report(
        &self,
        request: Request<pb::AcceptOutcomeReportRequest>,
    ) -> Result<Response<pb::AcceptOutcomeReportResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        if let Some(v) = socialloans_platform::limits::text("comment", &req.comment, 4000) {
            return Err(Error::from(v).into());
        }
        let comments = rules::acceptance_comments(&req.comment);
        let answer = self
            .change(&caller, "AcceptOutcomeReport", &req, &req.request_id, async |conn| {
                let report = report_api::review(conn, &caller, &req.name, &req.etag, true, comments).await?;
                Ok::<_, Error>(pb::AcceptOutcomeReportResponse { outcome_report: Some(report) })
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn return_outcome_report(
        &self,
        request: Request<pb::ReturnOutcomeReportRequest>,
    ) -> Result<Response<pb::ReturnOutcomeReportResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let violations = socialloans_platform::limits::review_comments(
            &<pb::OutcomeReport as prost::Name>::full_name(),
            &req.comments,
            &req.message,
            "indicator_values[0].value or narrative",
        )?;
        if !violations.is_empty() {
            return Err(Error::InvalidArgument(violations).into());
        }
        let comments = rules::return_comments(&req.comments, &req.message);
        let answer = self
            .change(&caller, "ReturnOutcomeReport", &req, &req.request_id, async |conn| {
                let report = report_api::review(conn, &caller, &req.name, &req.etag, false, comments).await?;
                Ok::<_, Error>(pb::ReturnOutcomeReportResponse { outcome_report: Some(report) })
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn list_overdue_items(
        &self,
        request: Request<pb::ListOverdueItemsRequest>,
    ) -> Result<Response<pb::ListOverdueItemsResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
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
    ) -> Result<Response<pb::GetPlanProgressResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let plan_id = report_api::parse_plan("name", &req.name)?;
        let day = portfolio::day_of("as_of", req.as_of.as_ref()).map_err(Error::from)?;
        let row = store::plans::get(&self.pool, plan_id, caller.confined_to())
            .await
            .map_err(Error::from)?
            .ok_or_else(|| Error::NotFound(req.name.clone()))?;
        let plan = row.view()?;
        let accepted = reports::accepted(&self.pool, plan_id, day).await?;
        let progress = progress::of_plan(&plan, &accepted, day, progress::overdue_reports(&plan, day));
        Ok(Response::new(pb::GetPlanProgressResponse { plan_progress: Some(progress) }))
    }

    async fn fulfil_condition(
        &self,
        request: Request<pb::FulfilConditionRequest>,
    ) -> Result<Response<pb::FulfilConditionResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let action = conditions::Action::Fulfil { note: req.note.clone(), evidence: req.evidence.clone() };
        let answer = self
            .condition(&caller, "FulfilCondition", &req, (&req.request_id, &req.name, &req.etag), action, |condition| {
                pb::FulfilConditionResponse { condition: Some(condition) }
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn waive_condition(
        &self,
        request: Request<pb::WaiveConditionRequest>,
    ) -> Result<Response<pb::WaiveConditionResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let action = conditions::Action::Waive { reason: req.reason.clone() };
        let answer = self
            .condition(&caller, "WaiveCondition", &req, (&req.request_id, &req.name, &req.etag), action, |condition| {
                pb::WaiveConditionResponse { condition: Some(condition) }
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn breach_condition(
        &self,
        request: Request<pb::BreachConditionRequest>,
    ) -> Result<Response<pb::BreachConditionResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let action = conditions::Action::Breach { reason: req.reason.clone() };
        let answer = self
            .condition(&caller, "BreachCondition", &req, (&req.request_id, &req.name, &req.etag), action, |condition| {
                pb::BreachConditionResponse { condition: Some(condition) }
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn get_portfolio_impact_report(
        &self,
        request: Request<pb::GetPortfolioImpactReportRequest>,
    ) -> Result<Response<pb::GetPortfolioImpactReportResponse>, Status> {
        let req = request.into_inner();
        let scope = portfolio::scope(req.as_of.as_ref(), req.category, req.exclude_closed, None)?;
        let report = portfolio::report(&self.pool, scope).await?;
        Ok(Response::new(pb::GetPortfolioImpactReportResponse { portfolio_impact_report: Some(report) }))
    }

    async fn export_portfolio_impact_report(
        &self,
        request: Request<pb::ExportPortfolioImpactReportRequest>,
    ) -> Result<Response<pb::ExportPortfolioImpactReportResponse>, Status> {
        let req = request.into_inner();
        let scope = portfolio::scope(req.as_of.as_ref(), req.category, req.exclude_closed, Some(req.format))?;
        let report = portfolio::report(&self.pool, scope).await?;
        let (content_type, file_name, content) = export::file(&report, req.format, scope.as_of);
        Ok(Response::new(pb::ExportPortfolioImpactReportResponse {
            content_type: content_type.into(),
            file_name,
            content: content.into_bytes(),
        }))
    }

    async fn list_audit_entries(
        &self,
        request: Request<pb::ListAuditEntriesRequest>,
    ) -> Result<Response<pb::ListAuditEntriesResponse>, Status> {
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
    ) -> Result<Response<Self::StreamEventsStream>, Status> {
        let caller = socialloans_platform::auth::caller(&request)?;
        Ok(Response::new(self.feed.serve(&caller, request.into_inner()).await?))
    }
}
