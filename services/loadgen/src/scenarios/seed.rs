//! What the scenarios run against: copies of the pilot story's rows, written
//! through the services' own stores and APIs, and the wait for the
//! services' event work to settle.

use super::*;

/// Seeds the drafts to submit and the approved applications to tag, each
/// approved one with a copy of the monitoring plan of the `first` story, and
/// waits for the event work to settle; the operations over them.
pub(super) async fn seed_ops(b: &Bench, templates: &Templates, first: &demo::Outcome) -> Result<Ops, String> {
    let drafts = clone(&b.admin, templates.draft, b.plan.drafts).await?;
    let approved = clone(&b.admin, templates.approved, b.plan.approved).await?;
    // Every approved application has its monitoring plan, as in life: copies of the pilot's.
    let plan_id = Uuid::parse_str(first.plans[0].trim_start_matches("monitoringPlans/")).map_err(|e| e.to_string())?;
    sqlx::query(
        "INSERT INTO monitoring.monitoring_plan
              (id, application, state, organization_number, category, content, approved_minor, tagged_minor,
               activate_date, sdg_targets)
         SELECT gen_random_uuid(), 'applications/' || a, p.state, p.organization_number, p.category, p.content,
                p.approved_minor, 0, p.activate_date, p.sdg_targets
           FROM monitoring.monitoring_plan p, unnest($2::uuid[]) a
          WHERE p.id = $1",
    )
    .bind(plan_id)
    .bind(&approved)
    .execute(&b.admin)
    .await
    .map_err(|e| format!("copying monitoring plans: {e}"))?;
    let sample = sample_ids(&b.admin, 10_000).await?;
    let reports = seed_reports(b, first, &approved, b.plan.reports).await?;
    println!(
        "seeded {} drafts, {} approved applications with their plans and {} draft outcome reports",
        drafts.len(),
        approved.len(),
        reports.len()
    );
    let settled = quiesce(&b.admin).await?;
    println!("the services' event work settled in {:.1} s", settled.as_secs_f64());

    Ok(Ops {
        channels: b.channels.clone(),
        ids: Arc::new(sample),
        drafts: Arc::new(drafts),
        next_draft: Arc::new(AtomicUsize::new(0)),
        approved: Arc::new(approved),
        monitoring: Channel::from_shared(b.suite.endpoints.monitoring.clone())
            .map_err(|e| e.to_string())?
            .connect()
            .await
            .map_err(|e| e.to_string())?,
        reports: Arc::new(reports),
        next_report: Arc::new(AtomicUsize::new(0)),
        pilot: Arc::new(pilots::botkyrkabyggen()),
        analyst: b.token(Role::Analyst, None),
        borrower: b.token(Role::Borrower, Some(pilots::BOTKYRKABYGGEN)),
        core: b.token(Role::CoreBanking, None),
    })
}

/// The rows the copies are made of: a complete draft and an approved application.
pub(super) struct Templates {
    pub(super) draft: Uuid,
    pub(super) approved: Uuid,
}

/// From the story's Botkyrkabyggen application: a complete draft, and an
/// approved application with no loans tagged yet, written through the
/// service's own store.
pub(super) async fn seed_templates(b: &Bench, application: &str) -> Result<Templates, String> {
    let id = Uuid::parse_str(application.trim_start_matches("applications/")).map_err(|e| e.to_string())?;
    let row = store::get(&b.apps_pool, id, None).await.map_err(|e| e.to_string())?.ok_or("no template row")?;
    let mut ids = Vec::new();
    for state in [ap::ApplicationState::Draft, ap::ApplicationState::ApprovedWithConditions] {
        let mut record = Record::from_row(row.clone()).map_err(|e| e.to_string())?;
        record.state = state;
        record.app.loans.clear();
        record.row.document.id = Uuid::now_v7();
        if state == ap::ApplicationState::Draft {
            record.row.submit_time = None;
        }
        let mut conn = b.apps_pool.acquire().await.map_err(|e| e.to_string())?;
        store::write(&mut conn, &record.to_row()).await.map_err(|e| e.to_string())?;
        ids.push(record.row.document.id);
    }
    Ok(Templates { draft: ids[0], approved: ids[1] })
}

/// `n` copies of application `template` with fresh ids; their ids.
pub(super) async fn clone(admin: &PgPool, template: Uuid, n: i64) -> Result<Vec<Uuid>, String> {
    sqlx::query_scalar(
        "INSERT INTO applications.application
              (id, organization_number, state, category, revision, create_time, update_time, submit_time, content, contact_person)
         SELECT gen_random_uuid(), organization_number, state, category, 1,
                clock_timestamp(), clock_timestamp(), submit_time, content, contact_person
           FROM applications.application, generate_series(1, $2) g
          WHERE id = $1
         RETURNING id",
    )
    .bind(template)
    .bind(n)
    .fetch_all(admin)
    .await
    .map_err(|e| e.to_string())
}

pub(super) async fn sample_ids(admin: &PgPool, n: i64) -> Result<Vec<Uuid>, String> {
    sqlx::query("ANALYZE applications.application").execute(admin).await.map_err(|e| e.to_string())?;
    sqlx::query_scalar("SELECT id FROM applications.application ORDER BY random() LIMIT $1")
        .bind(n)
        .fetch_all(admin)
        .await
        .map_err(|e| e.to_string())
}

/// Waits (at most two minutes) until the services' event work has settled:
/// every outbox row positioned and no consumer's checkpoint moving, so that
/// a scenario does not pay for the previous one's events.
pub(super) async fn quiesce(admin: &PgPool) -> Result<Duration, String> {
    let started = Instant::now();
    let mut last: Option<Vec<i64>> = None;
    while started.elapsed() < Duration::from_secs(120) {
        let mut now = Vec::new();
        let mut unpositioned = 0i64;
        for schema in ["applications", "committee", "monitoring"] {
            unpositioned += sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
                "SELECT count(*) FROM {schema}.outbox WHERE position IS NULL"
            )))
            .fetch_one(admin)
            .await
            .map_err(|e| e.to_string())?;
            now.extend(
                sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
                    "SELECT position FROM {schema}.consumer_checkpoint ORDER BY subscription"
                )))
                .fetch_all(admin)
                .await
                .map_err(|e| e.to_string())?,
            );
        }
        if unpositioned == 0 && last.as_ref() == Some(&now) {
            return Ok(started.elapsed());
        }
        last = Some(now);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Err("the services' event work did not settle within two minutes".into())
}

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
