//! Events between services, end to end over real gRPC and real PostgreSQL:
//! the applications service produces, a consumer in the committee's schema
//! applies. No event is skipped, lost or applied twice — whatever commits out
//! of order, crashes or restarts.

use std::time::Duration;

use e2e::{
    Db, authorized, channel,
    events::{
        RecordingHandler, append, applications_pool, applied, create_effect_table, produce_large, produce_one,
        start_consumer, subscription, wait_applied,
    },
    services, specs, token,
};
use socialloans_contracts::{
    applications::applications_service_client::ApplicationsServiceClient, events::StreamEventsRequest,
};
use socialloans_platform::{Role, events::Subscription};
use tonic::Code;
use tonic_types::StatusExt;

/// Fast polling and heartbeats keep the tests short.
const FAST: &[(&str, &str)] = &[("OUTBOX_POLL_MS", "200"), ("FEED_HEARTBEAT_MS", "300")];

fn aggregate(i: usize) -> String {
    format!("applications/00000000-0000-7000-8000-{i:012}")
}

#[tokio::test]
async fn a_transaction_that_commits_late_is_delivered_after_the_one_that_committed_first() {
    let db = Db::prepared(&specs()).await;
    let producer = db.serve(services()[0], FAST).await;
    let effects = create_effect_table(&db).await;
    let consumer =
        start_consumer(effects.clone(), subscription(producer.grpc_addr, "interleaving"), Default::default());
    let apps = applications_pool(&db).await;

    // A writes first but commits last; B writes second and commits first.
    let mut first = apps.begin().await.unwrap();
    let late = append(&mut first, &aggregate(1)).await;
    let mut second = apps.begin().await.unwrap();
    let early = append(&mut second, &aggregate(2)).await;
    second.commit().await.unwrap();

    let (_, events, ..) = wait_applied(&effects, 1).await;
    assert_eq!(events, 1, "the committed event is delivered while the other transaction is open");
    first.commit().await.unwrap();
    let (rows, events, positions, min, max) = wait_applied(&effects, 2).await;
    assert_eq!((rows, events, positions, min, max), (2, 2, 2, 1, 2), "both delivered, once each, positions 1 and 2");

    let order: Vec<(uuid::Uuid, i64)> =
        sqlx::query_as("SELECT event_id, position FROM committee.test_effect ORDER BY position")
            .fetch_all(&effects)
            .await
            .unwrap();
    assert_eq!(order, vec![(early, 1), (late, 2)], "positions follow commit order, not write order");
    consumer.stop().await;
    producer.stop().await.unwrap();
}

#[tokio::test]
async fn many_writers_committing_in_random_order_skip_nothing() {
    let db = Db::prepared(&specs()).await;
    let producer = db.serve(services()[0], FAST).await;
    let effects = create_effect_table(&db).await;
    let consumer = start_consumer(effects.clone(), subscription(producer.grpc_addr, "writers"), Default::default());
    let apps = applications_pool(&db).await;

    let writers: Vec<_> = (0..8)
        .map(|w| {
            let apps = apps.clone();
            tokio::spawn(async move {
                for i in 0..25 {
                    let mut tx = apps.begin().await.unwrap();
                    append(&mut tx, &aggregate(w * 100 + i)).await;
                    // Hold some transactions open while others commit.
                    tokio::time::sleep(Duration::from_millis(((w * 7 + i * 13) % 11) as u64)).await;
                    tx.commit().await.unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let (rows, events, positions, min, max) = wait_applied(&effects, 200).await;
    assert_eq!((rows, events, positions, min, max), (200, 200, 200, 1, 200), "every event once, positions 1..=200");
    consumer.stop().await;
    producer.stop().await.unwrap();
}

#[tokio::test]
async fn a_consumer_killed_mid_stream_resumes_and_applies_every_event_once() {
    let db = Db::prepared(&specs()).await;
    let producer = db.serve(services()[0], FAST).await;
    let effects = create_effect_table(&db).await;
    let apps = applications_pool(&db).await;
    for i in 0..150 {
        produce_one(&apps, &aggregate(i)).await;
    }

    let slow = RecordingHandler { delay: Duration::from_millis(5), ..Default::default() };
    let consumer = start_consumer(effects.clone(), subscription(producer.grpc_addr, "killed"), slow.clone());
    e2e::eventually(Duration::from_secs(20), || async { applied(&effects).await.1 >= 30 }).await;
    // A crash: the task dies wherever it is, its open transaction rolls back.
    consumer.task.abort();
    let _ = consumer.task.await;
    let (_, halfway, ..) = applied(&effects).await;
    assert!(halfway < 150, "the consumer was killed mid-stream (applied {halfway})");

    let restarted = start_consumer(effects.clone(), subscription(producer.grpc_addr, "killed"), Default::default());
    let (rows, events, positions, min, max) = wait_applied(&effects, 150).await;
    assert_eq!((rows, events, positions, min, max), (150, 150, 150, 1, 150));
    let checkpoint: i64 =
        sqlx::query_scalar("SELECT position FROM committee.consumer_checkpoint WHERE subscription = 'killed'")
            .fetch_one(&effects)
            .await
            .unwrap();
    assert_eq!(checkpoint, 150);
    restarted.stop().await;
    producer.stop().await.unwrap();
}

#[tokio::test]
async fn producer_and_postgres_restarts_during_a_stream_lose_and_duplicate_nothing() {
    let db = Db::prepared(&specs()).await;
    let producer = db.serve(services()[0], FAST).await;
    let addr = producer.grpc_addr;
    let effects = create_effect_table(&db).await;
    let consumer = start_consumer(effects.clone(), subscription(addr, "restarts"), Default::default());
    let apps = applications_pool(&db).await;

    for i in 0..100 {
        produce_one(&apps, &aggregate(i)).await;
    }
    // The producer restarts on the same address while the consumer streams;
    // the open feed stream must not hold up its graceful stop (grace is 10 s).
    let stopping = std::time::Instant::now();
    producer.stop().await.unwrap();
    assert!(stopping.elapsed() < Duration::from_secs(5), "stopping took {:?}", stopping.elapsed());
    for i in 100..150 {
        produce_one(&apps, &aggregate(i)).await;
    }
    let producer = db.serve(services()[0], &[FAST, &[("GRPC_ADDR", &addr.to_string())]].concat()).await;
    for i in 150..200 {
        produce_one(&apps, &aggregate(i)).await;
    }
    // PostgreSQL itself restarts.
    db.cluster.stop().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    db.cluster.start().unwrap();
    let mut produced = 200;
    while produced < 300 {
        // The pools reconnect on their own; a write may fail while they do.
        let attempt = async || {
            let mut tx = apps.begin().await?;
            socialloans_platform::events::append(
                &mut tx,
                "applications",
                &aggregate(produced),
                None,
                &socialloans_contracts::applications::ApplicationSubmitted::default(),
            )
            .await?;
            tx.commit().await
        };
        match attempt().await {
            Ok(()) => produced += 1,
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let (rows, events, positions, min, max) = wait_applied(&effects, 300).await;
    assert_eq!((rows, events, positions, min, max), (300, 300, 300, 1, 300), "no gap, no duplicate");
    consumer.stop().await;
    producer.stop().await.unwrap();
}

#[tokio::test]
async fn two_consumer_replicas_on_one_subscription_apply_each_event_once_even_when_one_dies() {
    let db = Db::prepared(&specs()).await;
    let producer = db.serve(services()[0], FAST).await;
    let effects = create_effect_table(&db).await;
    let apps = applications_pool(&db).await;
    let slow = RecordingHandler { delay: Duration::from_millis(3), ..Default::default() };
    let one = start_consumer(effects.clone(), subscription(producer.grpc_addr, "shared"), slow.clone());
    let two = start_consumer(effects.clone(), subscription(producer.grpc_addr, "shared"), slow.clone());

    for i in 0..100 {
        produce_one(&apps, &aggregate(i)).await;
    }
    e2e::eventually(Duration::from_secs(20), || async { applied(&effects).await.1 >= 40 }).await;
    // Whichever replica holds the lease dies; the other takes over.
    let leader =
        |c: &e2e::events::ConsumerTask| c.metrics.render().contains("consumer_lease_held{subscription=\"shared\"} 1");
    let (dead, alive) = if leader(&one) { (one, two) } else { (two, one) };
    assert!(!leader(&alive), "exactly one replica holds the lease");
    dead.task.abort();
    let _ = dead.task.await;
    for i in 100..200 {
        produce_one(&apps, &aggregate(i)).await;
    }
    let (rows, events, positions, min, max) = wait_applied(&effects, 200).await;
    assert_eq!((rows, events, positions, min, max), (200, 200, 200, 1, 200));
    assert!(leader(&alive), "the surviving replica took the lease over");
    alive.stop().await;
    producer.stop().await.unwrap();
}

#[tokio::test]
async fn a_poison_event_is_parked_counted_and_the_feed_goes_on() {
    let db = Db::prepared(&specs()).await;
    let producer = db.serve(services()[0], FAST).await;
    let effects = create_effect_table(&db).await;
    let consumer = start_consumer(effects.clone(), subscription(producer.grpc_addr, "poison"), Default::default());
    let apps = applications_pool(&db).await;
    produce_one(&apps, &aggregate(1)).await;
    produce_one(&apps, "poison").await;
    produce_one(&apps, &aggregate(3)).await;

    let (rows, events, ..) = wait_applied(&effects, 2).await;
    assert_eq!((rows, events), (2, 2), "the events around the poison one are applied");
    let parked: Vec<(i64, i32, String)> = sqlx::query_as(
        "SELECT position, attempts, error FROM committee.consumer_dead_letter WHERE subscription = 'poison'",
    )
    .fetch_all(&effects)
    .await
    .unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!((parked[0].0, parked[0].1), (2, 3), "parked at position 2 after 3 rejections");
    assert!(parked[0].2.contains("poison"));
    let metrics = consumer.metrics.render();
    assert!(metrics.contains("socialloans_consumer_events_parked_total{subscription=\"poison\"} 1"), "{metrics}");
    assert!(metrics.contains("socialloans_consumer_checkpoint_position{subscription=\"poison\"} 3"), "{metrics}");
    consumer.stop().await;
    producer.stop().await.unwrap();
}

#[tokio::test]
async fn an_event_too_large_for_the_consumer_or_one_its_handler_panics_on_is_parked_and_the_feed_goes_on() {
    let db = Db::prepared(&specs()).await;
    let producer = db.serve(services()[0], FAST).await;
    let effects = create_effect_table(&db).await;
    // The consumer receives at most 1 MiB; the producer would send up to 4 MiB.
    let small = Subscription { max_message_bytes: 1 << 20, ..subscription(producer.grpc_addr, "small") };
    let consumer = start_consumer(effects.clone(), small, Default::default());
    let apps = applications_pool(&db).await;
    produce_one(&apps, &aggregate(1)).await;
    produce_large(&apps, &aggregate(2), 2 << 20).await;
    produce_one(&apps, "panic").await;
    produce_one(&apps, &aggregate(4)).await;

    let (rows, events, ..) = wait_applied(&effects, 2).await;
    assert_eq!((rows, events), (2, 2), "the events around the large and the panicking one are applied");
    let parked: Vec<(i64, String)> = sqlx::query_as(
        "SELECT position, error FROM committee.consumer_dead_letter WHERE subscription = 'small' ORDER BY position",
    )
    .fetch_all(&effects)
    .await
    .unwrap();
    assert_eq!(parked.len(), 2, "{parked:?}");
    assert_eq!(parked[0].0, 2);
    assert!(parked[0].1.contains("larger than this consumer receives"), "{}", parked[0].1);
    assert_eq!(parked[1].0, 3);
    assert!(parked[1].1.contains("panicked"), "{}", parked[1].1);
    let metrics = consumer.metrics.render();
    assert!(metrics.contains("socialloans_consumer_events_parked_total{subscription=\"small\"} 2"), "{metrics}");
    assert!(metrics.contains("socialloans_consumer_checkpoint_position{subscription=\"small\"} 4"), "{metrics}");
    consumer.stop().await;

    // After the fix (the handler mended, the limit raised) the operator asks
    // for a replay; the consumer fetches both again and applies them.
    let marked = socialloans_platform::events::consumer::request_replay(&effects, "small", None).await.unwrap();
    assert_eq!(marked, 2);
    let fixed = RecordingHandler { fixed: true, ..Default::default() };
    let consumer = start_consumer(effects.clone(), subscription(producer.grpc_addr, "small"), fixed);
    let (rows, events, ..) = wait_applied(&effects, 4).await;
    assert_eq!((rows, events), (4, 4), "both parked events were replayed once");
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM committee.consumer_dead_letter").fetch_one(&effects).await.unwrap();
    assert_eq!(left, 0);
    consumer.stop().await;
    producer.stop().await.unwrap();
}

#[tokio::test]
async fn a_replay_of_an_event_the_feed_no_longer_has_is_recorded_and_the_consumer_goes_on() {
    let db = Db::prepared(&specs()).await;
    // One stream per caller: the replay must not need a second one.
    let producer = db.serve(services()[0], &[FAST[0], FAST[1], ("FEED_MAX_STREAMS_PER_CALLER", "1")]).await;
    let effects = create_effect_table(&db).await;
    let consumer = start_consumer(effects.clone(), subscription(producer.grpc_addr, "gone"), Default::default());
    let apps = applications_pool(&db).await;
    produce_one(&apps, "poison").await;
    produce_one(&apps, &aggregate(2)).await;
    wait_applied(&effects, 1).await;
    consumer.stop().await;
    // Five weeks on, the parked event has been pruned from the producer's feed.
    let admin = sqlx::PgPool::connect(&db.admin_url()).await.unwrap();
    sqlx::query("UPDATE applications.outbox SET occur_time = now() - interval '40 days'")
        .execute(&admin)
        .await
        .unwrap();
    let pruned = socialloans_platform::events::sequencer::prune(&apps, Duration::from_secs(30 * 86_400)).await.unwrap();
    assert_eq!(pruned, 2);
    let marked = socialloans_platform::events::consumer::request_replay(&effects, "gone", None).await.unwrap();
    assert_eq!(marked, 1);

    let consumer = start_consumer(effects.clone(), subscription(producer.grpc_addr, "gone"), Default::default());
    produce_one(&apps, &aggregate(3)).await;
    let (rows, ..) = wait_applied(&effects, 2).await;
    assert_eq!(rows, 2, "the consumer goes on after the replay failed");
    let (marked, error): (bool, String) = sqlx::query_as(
        "SELECT replay_requested, error FROM committee.consumer_dead_letter WHERE subscription = 'gone'",
    )
    .fetch_one(&effects)
    .await
    .unwrap();
    assert!(!marked, "the failed replay is unmarked, not retried for ever");
    assert!(error.contains("replay failed") && error.contains("pruned"), "{error}");
    consumer.stop().await;
    producer.stop().await.unwrap();
}

#[tokio::test]
async fn the_trace_started_by_the_producers_call_continues_in_the_consumer() {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    use tracing_subscriber::layer::SubscriberExt;
    opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber =
        tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this test process");

    let db = Db::prepared(&specs()).await;
    let producer = db.serve(services()[0], FAST).await;
    let effects = create_effect_table(&db).await;
    let consumer = start_consumer(effects.clone(), subscription(producer.grpc_addr, "traced"), Default::default());
    let apps = applications_pool(&db).await;

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let span = tracing::info_span!("producer call");
    let mut incoming = http::HeaderMap::new();
    incoming.insert("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01").parse().unwrap());
    span.set_parent(socialloans_platform::trace_context::extract(&incoming)).unwrap();
    {
        use tracing::Instrument;
        produce_one(&apps, &aggregate(1)).instrument(span).await;
    }
    wait_applied(&effects, 1).await;
    let recorded: String =
        sqlx::query_scalar("SELECT trace_id FROM committee.test_effect").fetch_one(&effects).await.unwrap();
    assert_eq!(recorded, trace_id, "the consumer's handling joined the producer's trace");
    consumer.stop().await;
    producer.stop().await.unwrap();
}

#[tokio::test]
async fn the_feed_refuses_negative_positions_pruned_history_and_the_lenders_other_staff() {
    let db = Db::prepared(&specs()).await;
    let producer = db.serve(services()[0], FAST).await;
    let apps = applications_pool(&db).await;
    for i in 0..5 {
        produce_one(&apps, &aggregate(i)).await;
    }
    e2e::eventually(Duration::from_secs(10), || async {
        sqlx::query_scalar::<_, i64>("SELECT last_position FROM applications.outbox_head")
            .fetch_one(&apps)
            .await
            .unwrap()
            == 5
    })
    .await;
    let pruned = socialloans_platform::events::sequencer::prune(&apps, Duration::ZERO).await.unwrap();
    assert_eq!(pruned, 5);

    let mut client = ApplicationsServiceClient::new(channel(producer.grpc_addr).await);
    let service = token(&[Role::Service], None);
    let stream = |after: i64| authorized(StreamEventsRequest { after_position: after, ..Default::default() }, &service);
    let err = client.stream_events(stream(0)).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    let info = err.get_error_details().error_info().unwrap().clone();
    assert_eq!(
        (info.reason.as_str(), info.metadata.get("oldest_position").map(String::as_str)),
        ("EVENTS_PRUNED", Some("6"))
    );
    assert!(client.stream_events(stream(5)).await.is_ok(), "resuming after the pruned prefix works");

    let err = client.stream_events(stream(-1)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let analyst = token(&[Role::Analyst], None);
    let err = client
        .stream_events(authorized(StreamEventsRequest { after_position: 0, ..Default::default() }, &analyst))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    producer.stop().await.unwrap();
}

#[tokio::test]
async fn events_pruned_under_a_live_stream_fail_it_instead_of_being_skipped() {
    let db = Db::prepared(&specs()).await;
    let producer = db.serve(services()[0], FAST).await;
    let apps = applications_pool(&db).await;
    // Events of 100 KB: more than the connection's buffers hold, so the feed
    // is still reading when the prune comes.
    for i in 0..300 {
        produce_large(&apps, &aggregate(i), 100_000).await;
    }
    e2e::eventually(Duration::from_secs(20), || async {
        sqlx::query_scalar::<_, i64>("SELECT last_position FROM applications.outbox_head")
            .fetch_one(&apps)
            .await
            .unwrap()
            == 300
    })
    .await;
    let mut client = ApplicationsServiceClient::new(channel(producer.grpc_addr).await);
    let request = StreamEventsRequest {
        types: vec!["socialloans.applications.v1.ApplicationSubmitted".into()],
        ..Default::default()
    };
    let mut stream =
        client.stream_events(authorized(request, &token(&[Role::Service], None))).await.unwrap().into_inner();
    // Read one event, then stop reading: the feed blocks with what it read.
    let first = stream.message().await.unwrap().unwrap();
    assert_eq!(first.event.unwrap().position, 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let admin = sqlx::PgPool::connect(&db.admin_url()).await.unwrap();
    sqlx::query("UPDATE applications.outbox SET occur_time = now() - interval '40 days'")
        .execute(&admin)
        .await
        .unwrap();
    socialloans_platform::events::sequencer::prune(&apps, Duration::from_secs(30 * 86_400)).await.unwrap();
    // Resume: what the feed had read before the prune arrives in order, then
    // the stream fails — it never jumps past the pruned events.
    let mut expected = 2;
    let resumed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match stream.message().await {
                Ok(Some(message)) => {
                    if let Some(event) = message.event {
                        assert_eq!(event.position, expected, "an event was skipped");
                        expected += 1;
                    } else {
                        panic!("a heartbeat: the stream waits on as if nothing were pruned");
                    }
                }
                Ok(None) => panic!("the stream ended without an error"),
                Err(status) => break status,
            }
        }
    });
    let err = resumed.await.expect("the stream neither failed nor ended");
    assert!(expected < 301, "every event was sent before the prune; the test proves nothing");
    assert_eq!(
        (err.code(), err.get_error_details().error_info().unwrap().reason.as_str()),
        (Code::FailedPrecondition, "EVENTS_PRUNED")
    );
    producer.stop().await.unwrap();
}

#[tokio::test]
async fn a_quiet_filtered_subscription_survives_the_pruning_of_events_it_does_not_take() {
    use e2e::flow::{committee_decides_with, refer, staff};
    use socialloans_contracts::{
        committee as cm,
        monitoring::{self as mo, monitoring_service_client::MonitoringServiceClient},
    };
    let db = Db::prepared(&specs()).await;
    let (mut running, endpoints) = e2e::start_all(&db).await;
    let mut apps = ApplicationsServiceClient::new(channel(running[0].grpc_addr).await);
    let plan_opened = |addr: std::net::SocketAddr, application: String| async move {
        let client = MonitoringServiceClient::new(channel(addr).await);
        e2e::eventually(Duration::from_secs(10), || {
            let mut client = client.clone();
            let request = mo::ListMonitoringPlansRequest { application: application.clone(), ..Default::default() };
            async move {
                let plans = client.list_monitoring_plans(staff(request, Role::Analyst)).await.unwrap();
                !plans.into_inner().monitoring_plans.is_empty()
            }
        })
        .await
    };
    // Monitoring takes approvals from the applications feed: one now.
    let first = refer(&mut apps, e2e::pilots::eidar()).await;
    committee_decides_with(&db, &first, cm::DecisionOutcome::Approve, 1_000_000, vec![]).await;
    assert!(plan_opened(running[2].grpc_addr, first.clone()).await, "the first plan opens");
    // Then a month of other events on the feed that monitoring does not take.
    let apps_pool = applications_pool(&db).await;
    for i in 0..40 {
        produce_one(&apps_pool, &aggregate(i)).await;
    }
    let head = || async {
        sqlx::query_scalar::<_, i64>("SELECT last_position FROM applications.outbox_head")
            .fetch_one(&apps_pool)
            .await
            .unwrap()
    };
    let monitoring_pool = sqlx::PgPool::connect(&db.service_url("monitoring")).await.unwrap();
    let checkpoint = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT position FROM monitoring.consumer_checkpoint WHERE subscription = 'applications'",
        )
        .fetch_one(&monitoring_pool)
        .await
        .unwrap()
    };
    let caught_up = e2e::eventually(Duration::from_secs(10), || async { checkpoint().await >= head().await }).await;
    assert!(caught_up, "the checkpoint follows the feed through events it does not take");

    // Monitoring stops (a deploy); the month passes; the feed prunes it all.
    running.pop().unwrap().stop().await.unwrap();
    let admin = sqlx::PgPool::connect(&db.admin_url()).await.unwrap();
    sqlx::query("UPDATE applications.outbox SET occur_time = now() - interval '40 days'")
        .execute(&admin)
        .await
        .unwrap();
    let pruned =
        socialloans_platform::events::sequencer::prune(&apps_pool, Duration::from_secs(30 * 86_400)).await.unwrap();
    assert!(pruned >= 40, "pruned through {pruned}");

    // Monitoring comes back and resumes cleanly: the next approval opens its plan.
    let monitoring = db
        .serve(
            services()[2],
            &[
                ("OUTBOX_POLL_MS", "100"),
                ("FEED_HEARTBEAT_MS", "300"),
                ("APPLICATIONS_FEED_URL", &endpoints.applications),
            ],
        )
        .await;
    let second = refer(&mut apps, e2e::pilots::botkyrkabyggen()).await;
    committee_decides_with(&db, &second, cm::DecisionOutcome::Approve, 1_000_000, vec![]).await;
    assert!(plan_opened(monitoring.grpc_addr, second).await, "a quiet subscription resumed after the prune");
    monitoring.stop().await.unwrap();
    for running in running {
        running.stop().await.unwrap();
    }
}

#[tokio::test]
async fn a_standby_replica_does_not_open_a_session_a_second() {
    let db = Db::prepared(&specs()).await;
    let producer = db.serve(services()[0], FAST).await;
    let effects = create_effect_table(&db).await;
    let one = start_consumer(effects.clone(), subscription(producer.grpc_addr, "standby"), Default::default());
    let two = start_consumer(effects.clone(), subscription(producer.grpc_addr, "standby"), Default::default());
    let apps = applications_pool(&db).await;
    produce_one(&apps, &aggregate(1)).await;
    wait_applied(&effects, 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Watch the committee role's sessions for 8 s: the standby asks for the
    // lease every second, on the one connection it keeps — no session ends.
    let admin = sqlx::PgPool::connect(&db.admin_url()).await.unwrap();
    let sessions = || async {
        sqlx::query_scalar::<_, i32>("SELECT pid FROM pg_stat_activity WHERE usename = 'committee'")
            .fetch_all(&admin)
            .await
            .unwrap()
            .into_iter()
            .collect::<std::collections::BTreeSet<i32>>()
    };
    let mut seen = sessions().await;
    let mut ended = 0;
    for _ in 0..32 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = sessions().await;
        ended += seen.difference(&now).count();
        seen = now;
    }
    assert_eq!(ended, 0, "sessions came and went while a replica stood by");
    one.stop().await;
    two.stop().await;
    producer.stop().await.unwrap();
}
