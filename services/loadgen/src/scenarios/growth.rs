//! The read path as the data grows, the pilot story and its event propagation, the portfolio report at scale.

use super::*;
use socialloans_contracts::common;

/// Returns the ids of the copies it made.
pub(super) async fn scaling(b: &mut Bench, r: &mut Report, template: Uuid) -> Result<Vec<Uuid>, String> {
    r.section(
        "The read path as the table grows",
        "The applications table is filled with copies of a complete application up to each size, then \
         GetApplication (a random application) and ListApplications pages (page size 20: the first \
         page, and the page after 50 pages, reached by the real page tokens) run in a closed loop of 16 \
         callers. Keyset pagination means a page costs the same wherever it is and however large the table.",
    );
    let analyst = b.token(Role::Analyst, None);
    let span = b.plan.span.min(Duration::from_secs(3));
    r.line("| applications | Get p50 ms | Get p99 ms | first page p50 ms | first page p99 ms | page 51 p50 ms | page 51 p99 ms | Get calls/s |");
    r.line("|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut copies = Vec::new();
    for size in b.plan.sizes.clone() {
        let have: i64 = sqlx::query_scalar("SELECT count(*) FROM applications.application")
            .fetch_one(&b.admin)
            .await
            .map_err(|e| e.to_string())?;
        if have < size {
            copies.extend(clone(&b.admin, template, size - have).await?);
        }
        let ids = Arc::new(sample_ids(&b.admin, 10_000).await?);
        let total = have.max(size);
        let token = page_token_after_50(b, &analyst).await?;
        let run = read_mix(b.channels.clone(), span, ids, analyst.clone(), token).await;
        report_size(r, total, &run);
    }
    let cpu = b.cpu_since();
    r.line(&format!("\n- {cpu}"));
    Ok(copies)
}

/// The page token of the page after 50 pages of 20, walked through the suite.
async fn page_token_after_50(b: &Bench, analyst: &MetadataValue<tonic::metadata::Ascii>) -> Result<String, String> {
    let mut token = String::new();
    for _ in 0..50 {
        let page = b
            .apps(0)
            .list_applications(authorized(
                ap::ListApplicationsRequest { page_size: 20, page_token: token.clone(), ..Default::default() },
                analyst,
            ))
            .await
            .map_err(|e| e.to_string())?
            .into_inner();
        token = page.next_page_token;
    }
    Ok(token)
}

/// A closed loop of 16 callers taking turns at a random get, the first page and the page at `token`.
async fn read_mix(
    clients: Vec<Channel>,
    span: Duration,
    ids: Arc<Vec<Uuid>>,
    analyst: MetadataValue<tonic::metadata::Ascii>,
    token: String,
) -> Run {
    let token = Arc::new(token);
    measure::closed(16, span, move |i| {
        let mut client = ApplicationsServiceClient::new(clients[i as usize % clients.len()].clone());
        let (ids, analyst, token) = (ids.clone(), analyst.clone(), token.clone());
        async move {
            match i % 3 {
                0 => (
                    "get",
                    status(
                        client
                            .get_application(authorized(
                                ap::GetApplicationRequest {
                                    name: format!("applications/{}", ids[i as usize % ids.len()]),
                                },
                                &analyst,
                            ))
                            .await,
                    ),
                ),
                1 => (
                    "first",
                    status(
                        client
                            .list_applications(authorized(
                                ap::ListApplicationsRequest { page_size: 20, ..Default::default() },
                                &analyst,
                            ))
                            .await,
                    ),
                ),
                _ => (
                    "deep",
                    status(
                        client
                            .list_applications(authorized(
                                ap::ListApplicationsRequest {
                                    page_size: 20,
                                    page_token: (*token).clone(),
                                    ..Default::default()
                                },
                                &analyst,
                            ))
                            .await,
                    ),
                ),
            }
        }
    })
    .await
}

/// The table's row for `total` applications.
fn report_size(r: &mut Report, total: i64, run: &Run) {
    let (g, f, d) = (run.figures("get"), run.figures("first"), run.figures("deep"));
    r.line(&format!(
        "| {total} | {} | {} | {} | {} | {} | {} | {:.0} |",
        ms(g.p50),
        ms(g.p99),
        ms(f.p50),
        ms(f.p99),
        ms(d.p50),
        ms(d.p99),
        g.per_second
    ));
    if let Some(e) = run.first_error() {
        r.line(&format!("\n> errors at {total}: {e}\n"));
    }
}

pub(super) async fn pilot_flow(b: &mut Bench, r: &mut Report, out: &std::path::Path) -> Result<(), String> {
    r.section(
        "The pilot story end to end, and event propagation",
        &format!(
            "{} runs of the pilot story (`socialloans demo`: two applications each, from draft through \
             the committee, loan tagging and two years of outcome reports to the portfolio report; every \
             step checked), {} at a time. Event propagation is read afterwards from the services' own \
             timestamps: the committee's confirmation of a decision, the applications service's history \
             entry applying it, and the monitoring plan's creation.",
            b.plan.stories, b.plan.story_callers
        ),
    );
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..b.plan.story_callers {
        let (endpoints, secret, out, next, stories) =
            (b.suite.endpoints.clone(), b.suite.secret.clone(), out.to_path_buf(), next.clone(), b.plan.stories);
        // A thread and a runtime per worker: the story's future is not Send.
        workers.push(std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
            let mut outcomes = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < stories {
                outcomes.push(runtime.block_on(demo::run(&endpoints, &secret, &out, &mut |_| {})));
            }
            Ok::<_, String>(outcomes)
        }));
    }
    let mut outcomes = Vec::new();
    for worker in workers {
        outcomes.extend(tokio::task::block_in_place(|| worker.join()).map_err(|_| "a story worker panicked")??);
    }
    let elapsed = started.elapsed();
    let failures: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    let done: Vec<&demo::Outcome> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    r.line(&format!(
        "- {} stories ({} applications) in {:.1} s: **{:.1} applications per second** through the whole life cycle; {} failed{}.",
        done.len(),
        done.len() * 2,
        elapsed.as_secs_f64(),
        (done.len() * 2) as f64 / elapsed.as_secs_f64(),
        failures.len(),
        failures.first().map(|e| format!(" (first: {e})")).unwrap_or_default()
    ));
    let under_load = propagation(b, &done).await?;
    let load_p99 = report_propagation(r, &format!("With {} stories at a time", b.plan.story_callers), under_load);
    // The same, one story at a time: the feeds' own latency rather than the machine's queue.
    let quiet_runs = (b.plan.stories / 4).max(1);
    let mut quiet_done = Vec::new();
    for _ in 0..quiet_runs {
        quiet_done.push(demo::run(&b.suite.endpoints, &b.suite.secret, out, &mut |_| {}).await?);
    }
    let quiet = propagation(b, &quiet_done.iter().collect::<Vec<_>>()).await?;
    let quiet_p99 = report_propagation(r, &format!("One story at a time ({quiet_runs} stories)"), quiet);
    r.target(
        "event propagation: decision confirmed → application changed and plan opened, p99",
        "< 20 ms",
        format!(
            "{} ms one story at a time; {} ms with {} at a time",
            ms(quiet_p99),
            ms(load_p99),
            b.plan.story_callers
        ),
        quiet_p99 < Duration::from_millis(20) && quiet_p99 > Duration::ZERO,
    );
    let cpu = b.cpu_since();
    r.line(&format!("- {cpu}"));
    Ok(())
}

pub(super) fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort_unstable();
    if v.is_empty() { Duration::ZERO } else { v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1] }
}

/// Reports both legs of propagation; returns the p99 of the later of the two per decision.
pub(super) fn report_propagation(
    r: &mut Report,
    how: &str,
    (mut a, mut m): (Vec<Duration>, Vec<Duration>),
) -> Duration {
    let mut both: Vec<Duration> = a.iter().zip(&m).map(|(x, y)| *x.max(y)).collect();
    r.line(&format!(
        "- {how}: decision confirmed → application state changed: p50 {} ms, p99 {} ms, max {} ms ({} decisions); \
         → monitoring plan opened (through the applications feed): p50 {} ms, p99 {} ms, max {} ms.",
        ms(percentile(&mut a, 0.5)),
        ms(percentile(&mut a, 0.99)),
        ms(percentile(&mut a, 1.0)),
        a.len(),
        ms(percentile(&mut m, 0.5)),
        ms(percentile(&mut m, 0.99)),
        ms(percentile(&mut m, 1.0))
    ));
    percentile(&mut both, 0.99)
}

pub(super) fn time(t: Option<&prost_types::Timestamp>) -> Option<chrono::DateTime<chrono::Utc>> {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos as u32))
}

/// Per confirmed decision: how long until the application applied it, and until the plan was opened.
pub(super) async fn propagation(b: &Bench, done: &[&demo::Outcome]) -> Result<(Vec<Duration>, Vec<Duration>), String> {
    let auditor = b.token(Role::Auditor, None);
    let mut committee =
        CommitteeServiceClient::connect(b.suite.endpoints.committee.clone()).await.map_err(|e| e.to_string())?;
    let mut monitoring =
        MonitoringServiceClient::connect(b.suite.endpoints.monitoring.clone()).await.map_err(|e| e.to_string())?;
    let mut apps = b.apps(0);
    let (mut to_application, mut to_plan) = (Vec::new(), Vec::new());
    for outcome in done {
        for i in 0..2 {
            let case = committee
                .get_case(authorized(cm::GetCaseRequest { name: outcome.cases[i].clone() }, &auditor))
                .await
                .map_err(|e| e.to_string())?
                .into_inner()
                .case
                .ok_or("no case")?;
            let Some(confirmed) = case.decisions.first().and_then(|d| time(d.confirm_time.as_ref())) else { continue };
            let history = apps
                .list_audit_entries(authorized(
                    ap::ListAuditEntriesRequest {
                        parent: outcome.applications[i].clone(),
                        page_size: 200,
                        ..Default::default()
                    },
                    &auditor,
                ))
                .await
                .map_err(|e| e.to_string())?
                .into_inner()
                .audit_entries;
            let applied = history
                .iter()
                .find(|e| {
                    [ap::ApplicationState::Approved as i32, ap::ApplicationState::ApprovedWithConditions as i32]
                        .contains(&e.to_state)
                })
                .and_then(|e| time(e.occur_time.as_ref()));
            let plan = monitoring
                .get_monitoring_plan(authorized(
                    mo::GetMonitoringPlanRequest { name: outcome.plans[i].clone() },
                    &auditor,
                ))
                .await
                .map_err(|e| e.to_string())?
                .into_inner()
                .monitoring_plan
                .ok_or("no plan")?;
            let opened = time(plan.create_time.as_ref());
            if let (Some(applied), Some(opened)) = (applied, opened) {
                to_application.push((applied - confirmed).to_std().unwrap_or_default());
                to_plan.push((opened - confirmed).to_std().unwrap_or_default());
            }
        }
    }
    Ok((to_application, to_plan))
}

pub(super) async fn portfolio(b: &mut Bench, r: &mut Report) -> Result<(), String> {
    let plans = b.plan.portfolio_plans;
    r.section(
        "The portfolio impact report",
        &format!(
            "{plans} active monitoring plans with five catalogue indicators and two accepted reports each \
             ({} measurements), written with set-based SQL; then GetPortfolioImpactReport over gRPC, 20 calls \
             one after another, and the CSV and SVG exports.",
            plans * 10
        ),
    );
    let seeded = Instant::now();
    seed_portfolio(&b.admin, plans).await?;
    let seed_time = seeded.elapsed();
    let auditor = b.token(Role::Auditor, None);
    let mut client =
        MonitoringServiceClient::connect(b.suite.endpoints.monitoring.clone()).await.map_err(|e| e.to_string())?;
    let as_of = Some(common::Date { year: 2027, month: 12, day: 31 });
    let request = || authorized(mo::GetPortfolioImpactReportRequest { as_of, ..Default::default() }, &auditor);
    client.get_portfolio_impact_report(request()).await.map_err(|e| e.to_string())?;
    let mut times = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        client.get_portfolio_impact_report(request()).await.map_err(|e| e.to_string())?;
        times.push(t.elapsed());
    }
    times.sort_unstable();
    let mut exports = Vec::new();
    for format in [mo::ExportFormat::Csv, mo::ExportFormat::Svg] {
        let t = Instant::now();
        let file = client
            .export_portfolio_impact_report(authorized(
                mo::ExportPortfolioImpactReportRequest { as_of, format: format as i32, ..Default::default() },
                &auditor,
            ))
            .await
            .map_err(|e| e.to_string())?
            .into_inner();
        exports.push(format!("{format:?} {} bytes in {} ms", file.content.len(), ms(t.elapsed())));
    }
    r.line(&format!(
        "- Seeded in {:.1} s. GetPortfolioImpactReport: p50 {} ms, p90 {} ms, max {} ms. Exports: {}.",
        seed_time.as_secs_f64(),
        ms(times[9]),
        ms(times[17]),
        ms(times[19]),
        exports.join("; ")
    ));
    r.target(
        &format!("portfolio report over {plans} plans / {} measurements", plans * 10),
        "well under 1 s",
        format!("p50 {} ms", ms(times[9])),
        times[9] < Duration::from_millis(500),
    );
    let cpu = b.cpu_since();
    r.line(&format!("- {cpu}"));
    Ok(())
}

/// Plans with facts, indicators, target groups, two accepted reports each and
/// a value per indicator and report, as the monitoring service keeps them.
pub(super) async fn seed_portfolio(admin: &PgPool, plans: i64) -> Result<(), String> {
    let statements = [
        "INSERT INTO monitoring.monitoring_plan
              (id, application, state, organization_number, category, content,
               approved_minor, tagged_minor, activate_date, sdg_targets)
         SELECT gen_random_uuid(), 'applications/bench-' || g, CASE WHEN g % 10 = 0 THEN 'CLOSED' ELSE 'ACTIVE' END,
                lpad((g % 900000 + 100000)::text, 6, '0') || '-' || lpad((g % 10000)::text, 4, '0'),
                (ARRAY['HOUSING_AND_RESIDENTIAL_ENVIRONMENTS', 'SAFETY_SECURITY_AND_ACCESSIBILITY',
                       'HEALTH_EDUCATION_SPORT_AND_CULTURE'])[1 + g % 3],
                '\\x'::bytea, (20 + g % 400) * 100000000::bigint, (20 + g % 400) * 90000000::bigint,
                DATE '2025-01-01' + g % 300,
                CASE g % 3 WHEN 0 THEN ARRAY['11.1', '10.2'] WHEN 1 THEN ARRAY['16.1', '11.7']
                           ELSE ARRAY['3.4', '4.1', '8.5'] END
           FROM generate_series(1, $1::int) g",
        "INSERT INTO monitoring.plan_indicator (plan_id, code, unit, baseline, target)
         SELECT p.id, d.code, d.unit, 10 + abs(hashtext(p.id::text || d.code)) % 40, 60 + abs(hashtext(d.code)) % 60
           FROM monitoring.monitoring_plan p
          CROSS JOIN LATERAL (SELECT code, unit FROM monitoring.indicator_definition
                               ORDER BY code OFFSET abs(hashtext(p.id::text)) % 7 LIMIT 5) d
          WHERE p.application LIKE 'applications/bench-%'",
        "INSERT INTO monitoring.plan_target_group (plan_id, population, estimated_size)
         SELECT id, (ARRAY['LOW_INCOME', 'GENERAL_PUBLIC', 'AGEING', 'CHILDREN_AND_YOUTH'])[1 + abs(hashtext(id::text)) % 4],
                500 + abs(hashtext(id::text)) % 5000
           FROM monitoring.monitoring_plan WHERE application LIKE 'applications/bench-%'",
        "INSERT INTO monitoring.outcome_report (id, plan_id, period_end, state, version, organization_number, content)
         SELECT gen_random_uuid(), p.id, y.period_end, 'ACCEPTED', 1, p.organization_number, '\\x'::bytea
           FROM monitoring.monitoring_plan p
          CROSS JOIN (VALUES (DATE '2025-12-31'), (DATE '2026-12-31')) y(period_end)
          WHERE p.application LIKE 'applications/bench-%'",
        "INSERT INTO monitoring.measurement (report_id, plan_id, period_end, accept_date, indicator_code, value)
         SELECT r.id, r.plan_id, r.period_end, r.period_end + 60, i.code,
                i.baseline + (i.target - i.baseline) * ((abs(hashtext(r.id::text || i.code)) % 130) / 100.0)
           FROM monitoring.outcome_report r JOIN monitoring.plan_indicator i ON i.plan_id = r.plan_id
           JOIN monitoring.monitoring_plan p ON p.id = r.plan_id WHERE p.application LIKE 'applications/bench-%'",
        "INSERT INTO monitoring.reach (report_id, plan_id, period_end, accept_date, population, people)
         SELECT r.id, r.plan_id, r.period_end, r.period_end + 60, g.population, g.estimated_size / 2
           FROM monitoring.outcome_report r JOIN monitoring.plan_target_group g ON g.plan_id = r.plan_id
           JOIN monitoring.monitoring_plan p ON p.id = r.plan_id WHERE p.application LIKE 'applications/bench-%'",
        "ANALYZE",
    ];
    for sql in statements {
        let query = sqlx::query(sqlx::AssertSqlSafe(sql));
        let query = if sql.contains("$1") { query.bind(plans) } else { query };
        query.execute(admin).await.map_err(|e| format!("seeding the portfolio: {e}"))?;
    }
    Ok(())
}
