//! The bond register's reports over a large pool: N loans of 100 projects
//! (each with 20 movements of history: the tag and 19 amortisations), four
//! bonds, and accepted outcomes for every project; then, over gRPC with a
//! treasury token:
//! - GetHeadroom today;
//! - GetAllocationReport as of today;
//! - GetInvestorImpactReport as of today;
//! - ForecastHeadroom over five years (a snapshot per maturity date);
//! - PublishReport (compute, sign, keep) of the allocation report.
//!
//! `cargo bench -p e2e --bench allocation_report` prints the figures, for
//! 1,000 and 10,000 loans.

use std::time::{Duration, Instant};

use e2e::{Db, flow::staff, services, specs};
use socialloans_contracts::bonds::{self as pb, bonds_service_client::BondsServiceClient};
use socialloans_contracts::common::Date;
use socialloans_platform::Role;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        for loans in [1_000, 10_000] {
            run(loans).await;
        }
    });
}

async fn seed(pool: &sqlx::PgPool, loans: i64) {
    let statements = [
        "INSERT INTO bonds.project (application, organization_number, borrower_name, title, category, municipality,
                                    municipality_code, populations, project_cost)
         SELECT 'applications/p' || g, '556111-1112', 'Bolag ' || g, 'Projekt ' || g,
                (ARRAY['CATEGORY_HOUSING_AND_RESIDENTIAL_ENVIRONMENTS', 'CATEGORY_SAFETY_SECURITY_AND_ACCESSIBILITY'])[1 + g % 2],
                'Kommun ' || (g % 30), lpad((g % 30)::text, 4, '0'), ARRAY['TARGET_POPULATION_LOW_INCOME'], 100000000000
         FROM generate_series(1, 100) g",
        "INSERT INTO bonds.loan (loan_id, application, disbursement_date, maturity_date, principal)
         SELECT 'L-' || g, 'applications/p' || (g % 100 + 1), date '2024-01-01' + (g % 700)::int,
                date '2027-01-01' + (g % 3000)::int, 10000000000
         FROM generate_series(1, $1) g",
        "INSERT INTO bonds.pool_movement (loan_id, effective_date, delta, reason, cause)
         SELECT 'L-' || g, date '2024-01-01' + (g % 700)::int, 10000000000, 'TAGGED', 'bench' FROM generate_series(1, $1) g",
        "INSERT INTO bonds.pool_movement (loan_id, effective_date, delta, reason, cause)
         SELECT 'L-' || g, date '2025-01-01' + a * 20, -10000000, 'AMORTISED', 'bench'
         FROM generate_series(1, $1) g, generate_series(1, 19) a",
        "INSERT INTO bonds.accepted_indicator (application, outcome_report, period_end, version, indicator_code, unit, value, cause)
         SELECT 'applications/p' || g, 'r', date '2025-12-31', 1, 'dwellings', 'count', g, 'bench' FROM generate_series(1, 100) g",
        "INSERT INTO bonds.bond (isin, currency_code, nominal, issue_date, maturity_date, rate_micros, state, recorded_by,
                                 recorded_role, register_time)
         VALUES ('SE0017160872', 'SEK', 100000000000, '2025-06-01', '2031-06-01', 1000000, 'OUTSTANDING', 'b', 'treasury', now()),
                ('XS2191351126', 'EUR', 10000000000, '2025-09-01', '2030-09-01', 11452300, 'OUTSTANDING', 'b', 'treasury', now()),
                ('US0378331005', 'USD', 5000000000, '2026-01-01', '2029-01-01', 10500000, 'OUTSTANDING', 'b', 'treasury', now()),
                ('SE0000108656', 'SEK', 50000000000, '2026-03-01', '2032-03-01', 1000000, 'OUTSTANDING', 'b', 'treasury', now())",
    ];
    for statement in statements {
        let query = sqlx::query(statement);
        let query = if statement.contains("$1") { query.bind(loans) } else { query };
        query.execute(pool).await.expect("seed");
    }
    sqlx::query("ANALYZE").execute(pool).await.expect("analyze");
}

/// The median and the slowest of `runs` calls of `call`, in ms.
async fn timed<F: AsyncFnMut()>(runs: usize, mut call: F) -> (f64, f64) {
    let mut times = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        call().await;
        times.push(started.elapsed());
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (ms(times[times.len() / 2]), ms(times[times.len() - 1]))
}

async fn run(loans: i64) {
    let db = Db::prepared(&specs()).await;
    let own = sqlx::PgPool::connect(&db.service_url("bonds")).await.unwrap();
    seed(&own, loans).await;
    let bonds = db.serve(services()[4], &[]).await;
    let mut client = BondsServiceClient::new(e2e::channel(bonds.grpc_addr).await);
    let today = socialloans_platform::stockholm_date(chrono::Utc::now());
    let as_of = Some(Date {
        year: chrono::Datelike::year(&today),
        month: chrono::Datelike::month(&today) as i32,
        day: chrono::Datelike::day(&today) as i32,
    });
    println!("\n{loans} loans, {} movements, 4 bonds", loans * 20);
    let c = &mut client;
    let headroom = timed(20, async || {
        let request = pb::GetHeadroomRequest { as_of, known_at: None };
        c.get_headroom(staff(request, Role::Treasury)).await.unwrap();
    })
    .await;
    println!("  GetHeadroom                   median {:.1} ms, max {:.1} ms", headroom.0, headroom.1);
    let allocation = timed(10, async || {
        let request = pb::GetAllocationReportRequest { as_of, known_at: None };
        c.get_allocation_report(staff(request, Role::Treasury)).await.unwrap();
    })
    .await;
    println!("  GetAllocationReport           median {:.1} ms, max {:.1} ms", allocation.0, allocation.1);
    let impact = timed(10, async || {
        let request = pb::GetInvestorImpactReportRequest { as_of, known_at: None };
        c.get_investor_impact_report(staff(request, Role::Treasury)).await.unwrap();
    })
    .await;
    println!("  GetInvestorImpactReport       median {:.1} ms, max {:.1} ms", impact.0, impact.1);
    let forecast = timed(3, async || {
        let request = pb::ForecastHeadroomRequest { until: None };
        let points = c.forecast_headroom(staff(request, Role::Treasury)).await.unwrap().into_inner().points.len();
        assert!(points > 0);
    })
    .await;
    println!("  ForecastHeadroom (5 years)    median {:.1} ms, max {:.1} ms", forecast.0, forecast.1);
    let mut published = false;
    let publish = timed(1, async || {
        let request = pb::PublishReportRequest {
            request_id: uuid::Uuid::now_v7().to_string(),
            kind: pb::ReportKind::Allocation as i32,
            as_of,
            restatement_reason: String::new(),
        };
        published = c.publish_report(staff(request, Role::Treasury)).await.is_ok();
    })
    .await;
    assert!(published);
    println!("  PublishReport (allocation)    {:.1} ms", publish.0);
    own.close().await;
    bonds.stop().await.unwrap();
}
