//! A quiet subscription over a feed of 1,000,000 events of another type and
//! one of its own at the end:
//! - one read of the feed for that type from position 0, as the feed makes
//!   it (the cost every wake-up of such a stream paid before its position
//!   followed the scanned-through marker), timed in PostgreSQL;
//! - a consumer of that type starting at 0, until it has applied its event
//!   and its checkpoint has reached the head.
//!
//! Both with and without the outbox's index on (event_type, position).
//!
//! `cargo bench -p e2e --bench quiet_subscription` prints the figures
//! (`SHOW_PLAN=1` also prints the plan of the read).

use std::time::{Duration, Instant};

use e2e::{
    Db,
    events::{applications_pool, applied, create_effect_table, start_consumer, subscription},
    services, specs,
};
use socialloans_platform::events::Subscription;

const OTHERS: i64 = 1_000_000;
const WANTED: &str = "socialloans.applications.v1.ApplicationApproved";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let db = Db::prepared(&specs()).await;
    let apps = applications_pool(&db).await;
    let started = Instant::now();
    sqlx::query(
        "INSERT INTO applications.outbox (id, position, event_type, aggregate, payload)
         SELECT gen_random_uuid(), g, 'socialloans.applications.v1.ApplicationSubmitted', 'applications/bench', '\\x0a00'
           FROM generate_series(1, $1) AS g",
    )
    .bind(OTHERS)
    .execute(&apps)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO applications.outbox (id, position, event_type, aggregate, payload)
         VALUES (gen_random_uuid(), $1 + 1, $2, 'applications/bench', '\\x0a00')",
    )
    .bind(OTHERS)
    .bind(WANTED)
    .execute(&apps)
    .await
    .unwrap();
    sqlx::query("UPDATE applications.outbox_head SET last_position = $1 + 1")
        .bind(OTHERS)
        .execute(&apps)
        .await
        .unwrap();
    sqlx::query("ANALYZE applications.outbox").execute(&apps).await.unwrap();
    println!("feed of {} events written in {:.1} s", OTHERS + 1, started.elapsed().as_secs_f64());
    let producer = db.serve(services()[0], &[("FEED_HEARTBEAT_MS", "200")]).await;
    let effects = create_effect_table(&db).await;

    let read = one_read(&apps).await;
    let with_index = catch_up(&db, &effects, producer.grpc_addr, "with-index").await;
    println!(
        "with the (event_type, position) index:  one read {:>8.2} ms; caught up in {:.3} s",
        read,
        with_index.as_secs_f64()
    );
    let admin = sqlx::PgPool::connect(&db.admin_url()).await.unwrap();
    sqlx::query("DROP INDEX applications.outbox_type_position_idx").execute(&admin).await.unwrap();
    sqlx::query("DELETE FROM committee.test_effect").execute(&effects).await.unwrap();
    let read = one_read(&apps).await;
    let without = catch_up(&db, &effects, producer.grpc_addr, "without-index").await;
    println!(
        "without it (the tail scanned):          one read {:>8.2} ms; caught up in {:.3} s",
        read,
        without.as_secs_f64()
    );
    println!("(catching up includes one heartbeat, 200 ms here, before the checkpoint follows the scan)");
    producer.stop().await.unwrap();
}

/// The median of 11 executions of the feed's read for the wanted type from
/// position 0, in milliseconds as PostgreSQL measures it.
async fn one_read(apps: &sqlx::PgPool) -> f64 {
    let (batch, bytes) = socialloans_platform::events::feed::READ_LIMITS;
    let sql = format!(
        "EXPLAIN (ANALYZE) {}",
        socialloans_platform::events::feed::read_query(socialloans_platform::events::feed::Scope::Types)
    );
    let mut times = Vec::new();
    for _ in 0..11 {
        let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
            .bind(0i64)
            .bind(vec![WANTED.to_owned()])
            .bind(batch)
            .bind(bytes)
            .fetch_all(apps)
            .await
            .unwrap();
        if std::env::var("SHOW_PLAN").is_ok() && times.is_empty() {
            println!("{}", plan.join("\n"));
        }
        let line = plan.iter().find(|l| l.starts_with("Execution Time:")).cloned().unwrap_or_default();
        let ms = line.trim_start_matches("Execution Time:").trim().trim_end_matches("ms").trim();
        times.push(ms.parse::<f64>().unwrap_or(f64::NAN));
    }
    times.sort_by(f64::total_cmp);
    times[5]
}

/// Starts a consumer of the wanted type only and times it until its event is
/// applied and its checkpoint has reached the head.
async fn catch_up(db: &Db, effects: &sqlx::PgPool, addr: std::net::SocketAddr, name: &str) -> Duration {
    let quiet = Subscription { types: vec![WANTED.into()], ..subscription(addr, name) };
    let started = Instant::now();
    let consumer = start_consumer(effects.clone(), quiet, Default::default());
    let committee = sqlx::PgPool::connect(&db.service_url("committee")).await.unwrap();
    loop {
        let checkpoint: i64 = sqlx::query_scalar(
            "SELECT coalesce(max(position), 0) FROM committee.consumer_checkpoint WHERE subscription = $1",
        )
        .bind(name)
        .fetch_one(&committee)
        .await
        .unwrap();
        if applied(effects).await.1 >= 1 && checkpoint > OTHERS {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(600), "not caught up after 10 minutes");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = started.elapsed();
    consumer.stop().await;
    took
}
