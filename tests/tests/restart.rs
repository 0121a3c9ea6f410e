//! PostgreSQL restarted under load loses nothing: while clients create and
//! submit applications, tag loans and file outcome reports — retrying, as a
//! client does, with the same request id until answered — the database is
//! restarted as a crash would (`pg_ctl restart -m immediate`). Afterwards
//! every request answered OK has its effect, none twice; every service is
//! SERVING again within 5 s of the database, in the same process; and every
//! feed goes on with no gap and no duplicate.

use socialloans_contracts::common;
use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use e2e::{
    Db, SERVING, authorized, channel,
    flow::{as_borrower, committee_decides_with, refer, rid, staff, wait_for_state, wait_plan_state},
    health, pilots, specs, token,
};
use socialloans_contracts::{
    applications::{self as ap, applications_service_client::ApplicationsServiceClient},
    committee as cm,
    monitoring::{self as mo, monitoring_service_client::MonitoringServiceClient},
};
use socialloans_platform::Role;
use tonic::Code;

/// How long the load runs, and when the database is restarted in it.
const LOAD: Duration = Duration::from_secs(6);
const RESTART_AT: Duration = Duration::from_millis(1500);

/// How many calls were refused and sent again: the crash, as clients felt it.
static RETRIED: AtomicUsize = AtomicUsize::new(0);

/// Sends `call` until it is answered OK (at most 30 s): a client's retry,
/// with the same request inside. Answers that say nothing was kept
/// (UNAVAILABLE, ABORTED, …) are retried; any other error is the test's failure.
async fn until_ok<T, F, Fut>(what: &str, mut call: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    let started = Instant::now();
    loop {
        match call().await {
            Ok(answer) => return answer,
            Err(status)
                if matches!(
                    status.code(),
                    Code::Unavailable
                        | Code::Aborted
                        | Code::Internal
                        | Code::Cancelled
                        | Code::DeadlineExceeded
                        | Code::Unknown
                ) && started.elapsed() < Duration::from_secs(30) =>
            {
                RETRIED.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => panic!("{what}: {status:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_restarted_under_load_loses_and_repeats_nothing() {
    let db = Arc::new(Db::start());
    db.prepare(&specs()).await;
    // A throwaway cluster acknowledges commits before their WAL is written
    // (synchronous_commit=off), so a crash may lose them; production keeps
    // the default, and so does this test, for every session it starts.
    let admin = sqlx::PgPool::connect(&db.admin_url()).await.unwrap();
    sqlx::query("ALTER ROLE ALL SET synchronous_commit = on").execute(&admin).await.unwrap();
    admin.close().await;
    let (running, _) = e2e::start_all(&db).await;
    let apps = ApplicationsServiceClient::new(channel(running[0].grpc_addr).await);
    let mut monitoring = MonitoringServiceClient::new(channel(running[2].grpc_addr).await);

    // An approved application with an active plan: loans to tag, periods to report on.
    let approved = refer(&mut apps.clone(), pilots::eidar()).await;
    committee_decides_with(&db, &approved, cm::DecisionOutcome::Approve, 75_000_000, vec![]).await;
    wait_for_state(&mut apps.clone(), &approved, ap::ApplicationState::Approved).await;
    let name = approved.clone();
    let tag = move |loan_id: String, request_id: String| ap::TagLoanRequest {
        name: name.clone(),
        request_id,
        loan: Some(ap::LoanTag {
            loan_id,
            principal: pilots::sek(1),
            disbursement_date: Some(common::Date { year: 2026, month: 12, day: 1 }),
            maturity_date: Some(common::Date { year: 2031, month: 6, day: 30 }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let first = tag("KI-0".into(), rid());
    until_ok("the first tag", || {
        let mut apps = apps.clone();
        let first = first.clone();
        async move { apps.tag_loan(staff(first, Role::CoreBanking)).await }
    })
    .await;
    let plan = wait_plan_state(&mut monitoring, &approved, mo::MonitoringPlanState::Active).await;

    // The load.
    let created = Arc::new(Mutex::new(Vec::<String>::new()));
    let submitted = Arc::new(Mutex::new(Vec::<String>::new()));
    let tagged = Arc::new(Mutex::new(0i64));
    let reported = Arc::new(Mutex::new(0i64));
    let began = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..2 {
        let (apps, created, submitted) = (apps.clone(), created.clone(), submitted.clone());
        workers.push(tokio::spawn(async move {
            while began.elapsed() < LOAD {
                let create =
                    ap::CreateApplicationRequest { request_id: rid(), application: Some(pilots::botkyrkabyggen()) };
                let app = until_ok("create", || {
                    let (mut apps, create) = (apps.clone(), create.clone());
                    async move { apps.create_application(as_borrower(pilots::BOTKYRKABYGGEN, create)).await }
                })
                .await
                .into_inner()
                .application
                .unwrap();
                created.lock().unwrap().push(app.name.clone());
                let submit =
                    ap::SubmitApplicationRequest { name: app.name.clone(), request_id: rid(), ..Default::default() };
                until_ok("submit", || {
                    let (mut apps, submit) = (apps.clone(), submit.clone());
                    async move { apps.submit_application(as_borrower(pilots::BOTKYRKABYGGEN, submit)).await }
                })
                .await;
                submitted.lock().unwrap().push(app.name);
            }
        }));
    }
    {
        let (apps, tagged, tag) = (apps.clone(), tagged.clone(), tag.clone());
        workers.push(tokio::spawn(async move {
            let mut n = 1;
            // An application finances at most 100 loans; KI-0 is the first.
            while began.elapsed() < LOAD && n < 100 {
                let request = tag(format!("KI-{n}"), rid());
                until_ok("tag", || {
                    let (mut apps, request) = (apps.clone(), request.clone());
                    async move { apps.tag_loan(staff(request, Role::CoreBanking)).await }
                })
                .await;
                *tagged.lock().unwrap() += 1;
                n += 1;
                // Spread over the load, so that tags meet the restart.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }
    {
        let (monitoring, reported, plan) = (monitoring.clone(), reported.clone(), plan.clone());
        workers.push(tokio::spawn(async move {
            for period in &plan.reporting_periods {
                let request = mo::CreateOutcomeReportRequest {
                    parent: plan.name.clone(),
                    request_id: rid(),
                    outcome_report: Some(mo::OutcomeReport {
                        period_end: period.end_date,
                        narrative: "Arbetet går vidare".into(),
                        ..Default::default()
                    }),
                };
                until_ok("outcome report", || {
                    let (mut monitoring, request) = (monitoring.clone(), request.clone());
                    async move { monitoring.create_outcome_report(as_borrower(pilots::EIDAR, request)).await }
                })
                .await;
                *reported.lock().unwrap() += 1;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }));
    }

    // The crash, and the way back: again (at most three times, within the
    // load) while no call was caught in flight, as on a busy machine a crash
    // can fall between calls.
    tokio::time::sleep(RESTART_AT).await;
    let mut back = Vec::new();
    for _ in 0..3 {
        let restarting = db.clone();
        tokio::task::spawn_blocking(move || {
            restarting.cluster.restart_immediate().expect("pg_ctl restart -m immediate")
        })
        .await
        .unwrap();
        let database_back = Instant::now();
        for running in &running {
            let ch = channel(running.grpc_addr).await;
            while health(ch.clone(), "").await != Ok(SERVING) {
                assert!(database_back.elapsed() < Duration::from_secs(5), "not SERVING within 5 s of the database");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            back.push(database_back.elapsed());
        }
        if RETRIED.load(Ordering::Relaxed) > 0 || began.elapsed() + Duration::from_secs(1) > LOAD {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for worker in workers {
        worker.await.unwrap();
    }

    // Every answered request has its effect, once.
    let admin = sqlx::PgPool::connect(&db.admin_url()).await.unwrap();
    let created = created.lock().unwrap().clone();
    let submitted = submitted.lock().unwrap().clone();
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM applications.application WHERE organization_number = $1")
            .bind(pilots::BOTKYRKABYGGEN)
            .fetch_one(&admin)
            .await
            .unwrap();
    assert_eq!(stored, created.len() as i64, "applications stored against creates answered OK");
    let mut client = apps.clone();
    for name in &submitted {
        let app = client
            .get_application(staff(ap::GetApplicationRequest { name: name.clone() }, Role::Analyst))
            .await
            .unwrap()
            .into_inner()
            .application
            .unwrap();
        assert_eq!((app.state, app.submission_count), (ap::ApplicationState::Submitted as i32, 1), "{name}");
    }
    let tags = *tagged.lock().unwrap() + 1;
    let loans: i64 = sqlx::query_scalar("SELECT count(*) FROM applications.loan").fetch_one(&admin).await.unwrap();
    assert_eq!(loans, tags, "loans stored against tags answered OK");
    let reports = *reported.lock().unwrap();
    let stored_reports: i64 =
        sqlx::query_scalar("SELECT count(*) FROM monitoring.outcome_report").fetch_one(&admin).await.unwrap();
    assert_eq!(stored_reports, reports);

    // The feeds go on: monitoring applied every LoanTagged once…
    let tagged_amount = || {
        let mut monitoring = monitoring.clone();
        let name = plan.name.clone();
        async move {
            monitoring
                .get_monitoring_plan(staff(mo::GetMonitoringPlanRequest { name }, Role::Analyst))
                .await
                .unwrap()
                .into_inner()
                .monitoring_plan
                .unwrap()
                .tagged_loan_amount
                .map_or(0, |m| m.minor_units)
        }
    };
    let caught_up = e2e::eventually(Duration::from_secs(20), || async { tagged_amount().await == tags * 100 }).await;
    assert!(caught_up, "monitoring counts {} öre of {} tagged", tagged_amount().await, tags * 100);
    // …and the applications feed holds every position once, in order.
    let mut feed = client
        .stream_events(authorized(
            socialloans_contracts::events::StreamEventsRequest::default(),
            &token(&[Role::Service], None),
        ))
        .await
        .unwrap()
        .into_inner();
    let mut expected = 1;
    let mut ids = std::collections::HashSet::new();
    while let Some(message) = feed.message().await.unwrap() {
        let Some(event) = message.event else { break };
        assert_eq!(event.position, expected, "a gap or a repeat in the feed");
        assert!(ids.insert(event.id.clone()), "an event twice");
        expected += 1;
    }
    let committee_checkpoint: i64 =
        sqlx::query_scalar("SELECT position FROM committee.consumer_checkpoint WHERE subscription = 'applications'")
            .fetch_one(&admin)
            .await
            .unwrap();
    assert!(committee_checkpoint >= 1, "the committee's subscription resumed");

    let retried = RETRIED.load(Ordering::Relaxed);
    assert!(retried > 0, "the restart interrupted no call, so this test proved nothing");
    println!(
        "answered OK: {} creates, {} submits, {} tags, {} outcome reports ({retried} refusals retried); effects found: \
         {} applications, {} loans, {} reports; {} feed events; SERVING again {:?} after the database",
        created.len(),
        submitted.len(),
        tags,
        reports,
        stored,
        loans,
        stored_reports,
        expected - 1,
        back
    );
    for running in running {
        running.stop().await.unwrap();
    }
}
