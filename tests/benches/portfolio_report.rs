//! The portfolio impact report over a large portfolio: 10,000 active plans,
//! five catalogue indicators each, two accepted reports each — 100,000
//! measurements — served by the real monitoring service over gRPC from one
//! real PostgreSQL.
//!
//! `cargo bench -p e2e --bench portfolio_report` seeds the portfolio with
//! set-based SQL, then prints the latency of `GetPortfolioImpactReport`
//! (p50/p90/max over 20 calls after one warm-up) and of the CSV and SVG
//! exports. `PORTFOLIO_PLANS` changes the number of plans (default 10,000).

use std::time::{Duration, Instant};

use e2e::{Db, channel, flow::staff, services, specs};
use socialloans_contracts::monitoring::{
    ExportFormat, ExportPortfolioImpactReportRequest, GetPortfolioImpactReportRequest,
    monitoring_service_client::MonitoringServiceClient,
};
use socialloans_platform::Role;

const CALLS: usize = 20;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(run());
}

/// Plans with facts, indicators, target groups, two accepted reports each
/// and a value per indicator and report.
async fn seed(pool: &sqlx::PgPool, plans: i64) {
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
                               ORDER BY code OFFSET abs(hashtext(p.id::text)) % 7 LIMIT 5) d",
        "INSERT INTO monitoring.plan_target_group (plan_id, population, estimated_size)
         SELECT id, (ARRAY['LOW_INCOME', 'GENERAL_PUBLIC', 'AGEING', 'CHILDREN_AND_YOUTH'])[1 + abs(hashtext(id::text)) % 4],
                500 + abs(hashtext(id::text)) % 5000
           FROM monitoring.monitoring_plan",
        "INSERT INTO monitoring.outcome_report (id, plan_id, period_end, state, version, organization_number, content)
         SELECT gen_random_uuid(), p.id, y.period_end, 'ACCEPTED', 1, p.organization_number, '\\x'::bytea
           FROM monitoring.monitoring_plan p
          CROSS JOIN (VALUES (DATE '2025-12-31'), (DATE '2026-12-31')) y(period_end)",
        "INSERT INTO monitoring.measurement (report_id, plan_id, period_end, accept_date, indicator_code, value)
         SELECT r.id, r.plan_id, r.period_end, r.period_end + 60, i.code,
                i.baseline + (i.target - i.baseline) * ((abs(hashtext(r.id::text || i.code)) % 130) / 100.0)
           FROM monitoring.outcome_report r JOIN monitoring.plan_indicator i ON i.plan_id = r.plan_id",
        "INSERT INTO monitoring.reach (report_id, plan_id, period_end, accept_date, population, people)
         SELECT r.id, r.plan_id, r.period_end, r.period_end + 60, g.population, g.estimated_size / 2
           FROM monitoring.outcome_report r JOIN monitoring.plan_target_group g ON g.plan_id = r.plan_id",
        "ANALYZE",
    ];
    for sql in statements {
        let query = sqlx::query(sqlx::AssertSqlSafe(sql));
        let query = if sql.contains("$1") { query.bind(plans) } else { query };
        query.execute(pool).await.expect(sql);
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn run() {
    let plans: i64 = std::env::var("PORTFOLIO_PLANS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let db = Db::start();
    db.prepare(&specs()).await;
    let pool = sqlx::PgPool::connect(&db.service_url("monitoring")).await.unwrap();
    let started = Instant::now();
    seed(&pool, plans).await;
    let (plan_rows, measurements): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM monitoring.monitoring_plan), (SELECT count(*) FROM monitoring.measurement)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    println!("seeded {plan_rows} plans and {measurements} measurements in {}", ms(started.elapsed()));

    let service = db.serve(services()[2], &[("CALL_TIMEOUT_MS", "30000")]).await;
    let mut client = MonitoringServiceClient::new(channel(service.grpc_addr).await);
    let as_of = Some(socialloans_contracts::monitoring::Date { year: 2027, month: 12, day: 31 });
    let request = GetPortfolioImpactReportRequest { as_of, ..Default::default() };
    let report = client
        .get_portfolio_impact_report(staff(request, Role::Auditor))
        .await
        .unwrap()
        .into_inner()
        .portfolio_impact_report
        .unwrap();
    let expected: i64 = sqlx::query_scalar(
        "SELECT sum(approved_minor)::bigint FROM monitoring.monitoring_plan WHERE state IN ('ACTIVE', 'CLOSED')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(report.approved_amount.unwrap().minor_units, expected, "the report adds up");
    assert_eq!(i64::from(report.plan_count), plan_rows);
    let reporting: i32 = report.by_category.iter().flat_map(|c| &c.indicators).map(|i| i.reporting_plan_count).sum();
    println!(
        "report: {} plans, {} categories, {} indicator rows ({reporting} reporting plan-indicators), {} SDG targets",
        report.plan_count,
        report.by_category.len(),
        report.by_category.iter().map(|c| c.indicators.len()).sum::<usize>(),
        report.by_sdg.len()
    );

    let mut times = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let t = Instant::now();
        client.get_portfolio_impact_report(staff(request, Role::Auditor)).await.unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "GetPortfolioImpactReport over {plan_rows} plans / {measurements} measurements: p50 {}, p90 {}, max {} ({CALLS} calls)",
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.9)),
        ms(*times.last().unwrap())
    );
    for format in [ExportFormat::Csv, ExportFormat::Svg] {
        let request = ExportPortfolioImpactReportRequest { as_of, format: format as i32, ..Default::default() };
        let t = Instant::now();
        let file = client.export_portfolio_impact_report(staff(request, Role::Auditor)).await.unwrap().into_inner();
        println!("ExportPortfolioImpactReport {format:?}: {} bytes in {}", file.content.len(), ms(t.elapsed()));
    }
    service.stop().await.unwrap();
    pool.close().await;
}
