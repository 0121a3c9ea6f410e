//! The monitoring service's gRPC handlers built so far: the indicator
//! catalogue, monitoring plans, and the event feed. Outcome reports,
//! deadlines, progress and the portfolio report follow.

use socialloans_contracts::monitoring::{self as pb, monitoring_service_server::MonitoringService};
use socialloans_platform::{
    auth::caller,
    error::FieldViolation,
    events::{Feed, ServiceStream},
    idempotency,
    pagination::{decode_position, encode_position, page_size},
};
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{catalogue, error::Error, overdue, plans, progress, report_api, reports};

/// The monitoring handlers; methods not built yet answer UNIMPLEMENTED.
#[derive(Debug, Clone)]
pub struct Api {
    /// The service's pool.
    pub pool: PgPool,
    /// The service's feed.
    pub feed: Feed,
}

#[tonic::async_trait]
impl MonitoringService for Api {
    async fn create_indicator_definition(
        &self,
        request: Request<pb::CreateIndicatorDefinitionRequest>,
    ) -> Result<Response<pb::CreateIndicatorDefinitionResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let definition = req.indicator_definition.clone().unwrap_or_default();
        let answer = idempotency::run(
            &self.pool,
            &caller.subject,
            "CreateIndicatorDefinition",
            &req,
            &req.request_id,
            async |conn| {
                let row = catalogue::create(conn, &definition).await?;
                Ok::<_, Error>(pb::CreateIndicatorDefinitionResponse { indicator_definition: Some(row.view()) })
            },
        )
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
        let row = catalogue::get(&self.pool, code)
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
        let mut rows = catalogue::list(&self.pool, after, size).await.map_err(Error::from)?;
        let next_page_token = if rows.len() > size as usize {
            rows.truncate(size as usize);
            let (time, code) = rows.last().expect("a full page").key();
            encode_position("catalogue", time, &code)
        } else {
            String::new()
        };
        let indicator_definitions = rows.iter().map(catalogue::Row::view).collect();
        Ok(Response::new(pb::ListIndicatorDefinitionsResponse { indicator_definitions, next_page_token }))
    }

    async fn get_monitoring_plan(
        &self,
        request: Request<pb::GetMonitoringPlanRequest>,
    ) -> Result<Response<pb::GetMonitoringPlanResponse>, Status> {
        let caller = caller(&request)?;
        let name = &request.get_ref().name;
        let id = name
            .strip_prefix("monitoringPlans/")
            .and_then(|id| Uuid::parse_str(id).ok())
            .ok_or_else(|| Error::from(FieldViolation::new("name", "must be monitoringPlans/{uuid}")))?;
        let row = plans::get(&self.pool, id, caller.confined_to())
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
        let category = match pb::Category::try_from(req.category) {
            Ok(pb::Category::Unspecified) => None,
            Ok(_) => Some(plans::category_name(req.category)),
            Err(_) => {
                violations.push(FieldViolation::new("category", "is not a Category"));
                None
            }
        };
        // A borrower sees only its own organisation's plans.
        let organization = match (caller.confined_to(), req.organization_number.as_str()) {
            (Some(own), "") => Some(own.to_owned()),
            (Some(own), asked) if asked == own => Some(own.to_owned()),
            (Some(_), _) => {
                violations
                    .push(FieldViolation::new("organization_number", "a borrower may list only its own organisation"));
                None
            }
            (None, "") => None,
            (None, asked) => Some(asked.to_owned()),
        };
        if !violations.is_empty() {
            return Err(Error::InvalidArgument(violations).into());
        }
        let filter = plans::Filter {
            state,
            organization_number: organization,
            application: (!req.application.is_empty()).then(|| req.application.clone()),
            category,
        };
        let query = format!("{filter:?}");
        let size = page_size(req.page_size).map_err(Error::from)?;
        let after = decode_position::<Uuid>(&query, &req.page_token).map_err(Error::from)?;
        let mut rows = plans::list(&self.pool, &filter, after, size).await.map_err(Error::from)?;
        let next_page_token = if rows.len() > size as usize {
            rows.truncate(size as usize);
            let last = rows.last().expect("a full page");
            encode_position(&query, last.create_time, &last.id)
        } else {
            String::new()
        };
        let monitoring_plans = rows.iter().map(plans::Row::view).collect::<Result<_, _>>()?;
        Ok(Response::new(pb::ListMonitoringPlansResponse { monitoring_plans, next_page_token }))
    }

    async fn create_outcome_report(
        &self,
        request: Request<pb::CreateOutcomeReportRequest>,
    ) -> Result<Response<pb::CreateOutcomeReportResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let report = req.outcome_report.clone().unwrap_or_default();
        let answer =
            idempotency::run(&self.pool, &caller.subject, "CreateOutcomeReport", &req, &req.request_id, async |conn| {
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
        let row = reports::get(&self.pool, id, caller.confined_to())
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
        let plan_id = report_api::parse_plan("parent", &req.parent)?;
        plans::get(&self.pool, plan_id, caller.confined_to())
            .await
            .map_err(Error::from)?
            .ok_or_else(|| Error::NotFound(req.parent.clone()))?;
        let rows: Vec<reports::Row> = sqlx::query_as(
            "SELECT id, plan_id, period_end, state, version, revision, organization_number, content, create_time, update_time
               FROM monitoring.outcome_report WHERE plan_id = $1 ORDER BY period_end",
        )
        .bind(plan_id)
        .fetch_all(&self.pool)
        .await
        .map_err(Error::from)?;
        let outcome_reports = rows
            .iter()
            .filter(|r| req.state == 0 || r.state() as i32 == req.state)
            .map(reports::Row::view)
            .collect::<Result<_, _>>()?;
        Ok(Response::new(pb::ListOutcomeReportsResponse { outcome_reports, next_page_token: String::new() }))
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
            paths = report_api::EDITABLE.iter().map(|p| (*p).to_owned()).collect();
        }
        if paths.is_empty() || req.etag.is_empty() {
            return Err(Error::from(FieldViolation::new(
                "update_mask",
                "an update names its fields and carries the etag it read",
            ))
            .into());
        }
        let answer =
            idempotency::run(&self.pool, &caller.subject, "UpdateOutcomeReport", &req, &req.request_id, async |conn| {
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
        let answer =
            idempotency::run(&self.pool, &caller.subject, "SubmitOutcomeReport", &req, &req.request_id, async |conn| {
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
        let comments = if req.comment.is_empty() {
            Vec::new()
        } else {
            vec![pb::FieldComment { field_path: String::new(), comment: req.comment.clone() }]
        };
        let answer =
            idempotency::run(&self.pool, &caller.subject, "AcceptOutcomeReport", &req, &req.request_id, async |conn| {
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
        if req.comments.is_empty() && req.message.trim().is_empty() {
            return Err(Error::from(FieldViolation::new("comments", "say what to correct")).into());
        }
        let mut comments = req.comments.clone();
        if !req.message.is_empty() {
            comments.push(pb::FieldComment { field_path: String::new(), comment: req.message.clone() });
        }
        let answer =
            idempotency::run(&self.pool, &caller.subject, "ReturnOutcomeReport", &req, &req.request_id, async |conn| {
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
        let req = request.into_inner();
        let mut violations = Vec::new();
        let day = match &req.as_of {
            None => chrono::Utc::now().date_naive(),
            Some(d) => chrono::NaiveDate::from_ymd_opt(d.year, d.month as u32, d.day as u32).unwrap_or_else(|| {
                violations.push(FieldViolation::new("as_of", "is not a valid date"));
                chrono::NaiveDate::MIN
            }),
        };
        let kind = pb::OverdueItemKind::try_from(req.kind).unwrap_or_else(|_| {
            violations.push(FieldViolation::new("kind", "is not an OverdueItemKind"));
            pb::OverdueItemKind::Unspecified
        });
        if !violations.is_empty() {
            return Err(Error::InvalidArgument(violations).into());
        }
        let filter = plans::Filter {
            state: Some(plans::state_name(pb::MonitoringPlanState::Active)),
            organization_number: (!req.organization_number.is_empty()).then(|| req.organization_number.clone()),
            ..Default::default()
        };
        let mut overdue_items = Vec::new();
        let mut after = None;
        loop {
            let rows = plans::list(&self.pool, &filter, after, 500).await.map_err(Error::from)?;
            for row in rows.iter().take(500) {
                overdue_items.extend(
                    overdue::of_plan(&row.view()?, day)
                        .into_iter()
                        .filter(|i| kind == pb::OverdueItemKind::Unspecified || i.kind == kind as i32),
                );
            }
            if rows.len() <= 500 {
                break;
            }
            after = rows.get(499).map(|r| (r.create_time, r.id));
        }
        overdue_items.sort_by_key(|i| std::cmp::Reverse(i.days_overdue));
        Ok(Response::new(pb::ListOverdueItemsResponse { overdue_items, next_page_token: String::new() }))
    }

    async fn get_plan_progress(
        &self,
        request: Request<pb::GetPlanProgressRequest>,
    ) -> Result<Response<pb::GetPlanProgressResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let plan_id = report_api::parse_plan("name", &req.name)?;
        let day = match &req.as_of {
            None => chrono::Utc::now().date_naive(),
            Some(d) => chrono::NaiveDate::from_ymd_opt(d.year, d.month as u32, d.day as u32)
                .ok_or_else(|| Error::from(FieldViolation::new("as_of", "is not a valid date")))?,
        };
        let row = plans::get(&self.pool, plan_id, caller.confined_to())
            .await
            .map_err(Error::from)?
            .ok_or_else(|| Error::NotFound(req.name.clone()))?;
        let plan = row.view()?;
        let rows: Vec<reports::Row> = sqlx::query_as(
            "SELECT id, plan_id, period_end, state, version, revision, organization_number, content, create_time, update_time
               FROM monitoring.outcome_report WHERE plan_id = $1 AND state = 'ACCEPTED' AND period_end <= $2",
        )
        .bind(plan_id)
        .bind(day)
        .fetch_all(&self.pool)
        .await
        .map_err(Error::from)?;
        let accepted = rows.iter().map(|r| r.view().map(|v| (v.name.clone(), v))).collect::<Result<Vec<_>, _>>()?;
        let overdue =
            overdue::of_plan(&plan, day).iter().filter(|i| i.kind == pb::OverdueItemKind::OutcomeReport as i32).count();
        let progress = progress::of_plan(&plan, &accepted, day, overdue as i32);
        Ok(Response::new(pb::GetPlanProgressResponse { plan_progress: Some(progress) }))
    }

    async fn stream_events(
        &self,
        request: Request<pb::StreamEventsRequest>,
    ) -> Result<Response<ServiceStream<pb::StreamEventsResponse>>, Status> {
        Ok(Response::new(self.feed.serve(request.get_ref()).await?))
    }
}
