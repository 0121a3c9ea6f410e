//! Draft outcome reports for `SubmitOutcomeReport`: the monitoring side's
//! write, measured beside the applications service's.

use super::*;

/// Callers drafting reports at once while seeding.
const SEEDERS: usize = 16;

/// Drafts up to `count` outcome reports, through the monitoring service as
/// the borrower would, on the plans of the approved copies (`approved`):
/// one per open reporting period of each plan, with the values of the pilot
/// story's first report, so that each can be submitted once. Their names.
pub(super) async fn seed_reports(
    b: &Bench,
    first: &demo::Outcome,
    approved: &[Uuid],
    count: usize,
) -> Result<Vec<String>, String> {
    let channel = Channel::from_shared(b.suite.endpoints.monitoring.clone())
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let borrower = b.token(Role::Borrower, Some(pilots::BOTKYRKABYGGEN));
    let reviewer = b.token(Role::ReportReviewer, None);
    let mut client = MonitoringServiceClient::new(channel.clone());
    let listed = client
        .list_outcome_reports(authorized(
            mo::ListOutcomeReportsRequest { parent: first.plans[0].clone(), ..Default::default() },
            &reviewer,
        ))
        .await
        .map_err(|e| format!("the pilot's reports: {e}"))?
        .into_inner();
    let template = listed.outcome_reports.into_iter().next().ok_or("the pilot story drafted no report")?;
    let plan = client
        .get_monitoring_plan(authorized(mo::GetMonitoringPlanRequest { name: first.plans[0].clone() }, &reviewer))
        .await
        .map_err(|e| format!("the pilot's plan: {e}"))?
        .into_inner()
        .monitoring_plan
        .ok_or("no plan")?;
    // The copies carry the pilot plan's periods; the pilot's own report took the first.
    let ends: Vec<common::Date> =
        plan.reporting_periods.iter().filter(|p| p.outcome_report.is_empty()).filter_map(|p| p.end_date).collect();
    let names: Vec<String> = sqlx::query_scalar::<_, Uuid>(
        "SELECT id FROM monitoring.monitoring_plan WHERE application = ANY($1) ORDER BY id",
    )
    .bind(approved.iter().map(|a| format!("applications/{a}")).collect::<Vec<_>>())
    .fetch_all(&b.admin)
    .await
    .map_err(|e| e.to_string())?
    .into_iter()
    .map(|id| format!("monitoringPlans/{id}"))
    .collect();
    let wanted: Vec<(String, common::Date)> =
        names.iter().flat_map(|plan| ends.iter().map(move |end| (plan.clone(), *end))).take(count).collect();
    let mut drafting = tokio::task::JoinSet::new();
    for part in wanted.chunks(wanted.len().div_ceil(SEEDERS).max(1)) {
        let (part, template, borrower) = (part.to_vec(), template.clone(), borrower.clone());
        let mut client = MonitoringServiceClient::new(channel.clone());
        drafting.spawn(async move {
            let mut drafted = Vec::new();
            for (parent, end) in part {
                let report = mo::OutcomeReport {
                    period_end: Some(end),
                    indicator_values: template.indicator_values.clone(),
                    target_group_reach: template.target_group_reach.clone(),
                    narrative: template.narrative.clone(),
                    ..Default::default()
                };
                let request =
                    mo::CreateOutcomeReportRequest { parent, request_id: rid(), outcome_report: Some(report) };
                let created = client.create_outcome_report(authorized(request, &borrower)).await;
                let created = created.map_err(|e| format!("drafting a report: {:?} {}", e.code(), e.message()))?;
                drafted.extend(created.into_inner().outcome_report.map(|r| r.name));
            }
            Ok::<_, String>(drafted)
        });
    }
    let mut reports = Vec::new();
    while let Some(done) = drafting.join_next().await {
        reports.extend(done.map_err(|e| e.to_string())??);
    }
    Ok(reports)
}
