//! Event propagation, end to end: a commit in the producer (applications) to
//! the effect written in the consumer (a handler in the committee's schema),
//! over the real feed, real gRPC and one real PostgreSQL.
//!
//! `cargo bench -p e2e --bench event_propagation` prints:
//! - latency p50/p90/p99/max over 1,000 events offered at 200 per second,
//!   measured with PostgreSQL's own clock (`clock_timestamp()` just before the
//!   producer commits, and when the consumer writes its effect);
//! - end-to-end throughput: 10,000 events written in batches of 100 as fast as
//!   possible, until the last one is applied;
//! - the feed alone: 10,000 events streamed from position 0 by a bare client.

use std::time::{Duration, Instant};

use e2e::{
    Db, authorized, channel,
    events::{RecordingHandler, applications_pool, applied, create_effect_table, start_consumer, subscription},
    services, specs, token,
};
use socialloans_contracts::{
    applications::applications_service_client::ApplicationsServiceClient, events::StreamEventsRequest,
};
use socialloans_platform::Role;
use uuid::Uuid;

const LATENCY_EVENTS: usize = 1_000;
const RATE_PER_SECOND: u64 = 200;
const BULK_EVENTS: usize = 10_000;
const BULK_BATCH: usize = 100;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(run());
}

async fn wait_for(pool: &sqlx::PgPool, n: i64, limit: Duration) -> Duration {
    let started = Instant::now();
    while applied(pool).await.1 < n {
        assert!(started.elapsed() < limit, "only {} of {n} events applied after {limit:?}", applied(pool).await.1);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    started.elapsed()
}

async fn run() {
    let db = Db::prepared(&specs()).await;
    let producer = db.serve(services()[0], &[]).await;
    let effects = create_effect_table(&db).await;
    let apps = applications_pool(&db).await;
    sqlx::query("CREATE TABLE applications.bench_sent (event_id uuid PRIMARY KEY, sent_at timestamptz NOT NULL)")
        .execute(&apps)
        .await
        .unwrap();
    let consumer =
        start_consumer(effects.clone(), subscription(producer.grpc_addr, "bench"), RecordingHandler::default());

    let send = |i: usize| {
        let apps = apps.clone();
        async move {
            let mut tx = apps.begin().await.unwrap();
            let id = e2e::events::append(&mut tx, &format!("applications/{}", Uuid::now_v7())).await;
            sqlx::query("INSERT INTO applications.bench_sent VALUES ($1, clock_timestamp())")
                .bind(id)
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            i
        }
    };

    // Warm-up.
    for i in 0..100 {
        send(i).await;
    }
    wait_for(&effects, 100, Duration::from_secs(30)).await;

    // Latency at a fixed arrival rate (open loop).
    let interval = Duration::from_micros(1_000_000 / RATE_PER_SECOND);
    let mut ticker = tokio::time::interval(interval);
    let mut sends = Vec::new();
    for i in 0..LATENCY_EVENTS {
        ticker.tick().await;
        sends.push(tokio::spawn(send(i)));
    }
    for s in sends {
        s.await.unwrap();
    }
    wait_for(&effects, (100 + LATENCY_EVENTS) as i64, Duration::from_secs(60)).await;
    let admin = sqlx::PgPool::connect(&db.admin_url()).await.unwrap();
    let (p50, p90, p99, max): (f64, f64, f64, f64) = sqlx::query_as(
        "WITH l AS (
            SELECT (extract(epoch FROM e.applied_at - s.sent_at) * 1000)::float8 AS ms
              FROM committee.test_effect e JOIN applications.bench_sent s USING (event_id)
             ORDER BY e.position OFFSET 100)
         SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), percentile_cont(0.9) WITHIN GROUP (ORDER BY ms),
                percentile_cont(0.99) WITHIN GROUP (ORDER BY ms), max(ms) FROM l",
    )
    .fetch_one(&admin)
    .await
    .unwrap();

    // Throughput end to end.
    let before = applied(&effects).await.1;
    let started = Instant::now();
    for _ in 0..BULK_EVENTS / BULK_BATCH {
        let mut tx = apps.begin().await.unwrap();
        for _ in 0..BULK_BATCH {
            e2e::events::append(&mut tx, &format!("applications/{}", Uuid::now_v7())).await;
        }
        tx.commit().await.unwrap();
    }
    let written = started.elapsed();
    while applied(&effects).await.1 < before + BULK_EVENTS as i64 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drained = started.elapsed();

    // The feed alone: every event from position 0, no consumer work.
    let mut client = ApplicationsServiceClient::new(channel(producer.grpc_addr).await);
    let request =
        authorized(StreamEventsRequest { after_position: 0, ..Default::default() }, &token(&[Role::Service], None));
    let started = Instant::now();
    let mut stream = client.stream_events(request).await.unwrap().into_inner();
    let total = before + BULK_EVENTS as i64;
    let mut seen = 0i64;
    while seen < total {
        if stream.message().await.unwrap().unwrap().event.is_some() {
            seen += 1;
        }
    }
    let feed = started.elapsed();

    println!("## Event propagation (commit in applications → effect in committee's consumer)\n");
    println!("| measure | value |\n|---|---|");
    println!("| latency p50, {LATENCY_EVENTS} events at {RATE_PER_SECOND}/s | {p50:.2} ms |");
    println!("| latency p90 | {p90:.2} ms |");
    println!("| latency p99 | {p99:.2} ms |");
    println!("| latency max | {max:.2} ms |");
    println!(
        "| end to end, {BULK_EVENTS} events in batches of {BULK_BATCH} | {:.0} events/s (written in {:.2} s, all applied after {:.2} s) |",
        BULK_EVENTS as f64 / drained.as_secs_f64(),
        written.as_secs_f64(),
        drained.as_secs_f64()
    );
    println!("| feed alone, {total} events from position 0 | {:.0} events/s |", total as f64 / feed.as_secs_f64());
    consumer.stop().await;
    producer.stop().await.unwrap();
}
