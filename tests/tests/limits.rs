//! The limits every service enforces: message size, per-request deadline, and
//! bounded concurrency that never starves the health probes.

use std::time::{Duration, Instant};

use e2e::{Db, SERVING, authorized, channel, health, services, token};
use socialloans_contracts::applications::{
    ListApplicationsRequest, applications_service_client::ApplicationsServiceClient,
};
use socialloans_platform::Role;
use tonic::Code;

fn list() -> ListApplicationsRequest {
    ListApplicationsRequest::default()
}

#[tokio::test]
async fn a_message_over_the_limit_is_refused_and_the_service_keeps_serving() {
    let db = Db::prepared(&e2e::specs()).await;
    let running = db.serve(services()[0], &[("GRPC_MAX_MESSAGE_BYTES", "1048576")]).await;
    let mut client = ApplicationsServiceClient::new(channel(running.grpc_addr).await);
    let analyst = token(&[Role::Analyst], None);

    let huge = ListApplicationsRequest { page_token: "x".repeat(1_100_000), ..Default::default() };
    let err = client.list_applications(authorized(huge, &analyst)).await.unwrap_err();
    assert!(matches!(err.code(), Code::ResourceExhausted | Code::OutOfRange), "{err:?}");
    assert!(client.list_applications(authorized(list(), &analyst)).await.is_ok());
    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_call_past_the_request_timeout_is_cut_off() {
    let db = Db::prepared(&e2e::specs()).await;
    let running = db.serve(services()[0], &[("GRPC_REQUEST_TIMEOUT_MS", "300")]).await;
    let mut client = ApplicationsServiceClient::new(channel(running.grpc_addr).await);
    let lock = db.lock_table("applications.application").await;

    let started = Instant::now();
    let err = client.list_applications(authorized(list(), &token(&[Role::Analyst], None))).await.unwrap_err();
    assert!(matches!(err.code(), Code::Cancelled | Code::DeadlineExceeded), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    lock.release().await;
    running.stop().await.unwrap();
}

#[tokio::test]
async fn calls_beyond_the_concurrency_bound_wait_while_health_still_answers() {
    let db = Db::prepared(&e2e::specs()).await;
    let running = db.serve(services()[0], &[("GRPC_MAX_CONCURRENT_REQUESTS", "1")]).await;
    let ch = channel(running.grpc_addr).await;
    let lock = db.lock_table("applications.application").await;
    let analyst = token(&[Role::Analyst], None);

    let spawn_call = || {
        let mut client = ApplicationsServiceClient::new(ch.clone());
        let analyst = analyst.clone();
        tokio::spawn(async move { client.list_applications(authorized(list(), &analyst)).await })
    };
    let first = spawn_call();
    assert!(lock.wait_for_waiters("applications", 1).await, "the first call never reached the database");
    let second = spawn_call();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Only one handler may run: the second call must not have reached the database.
    assert!(!lock.wait_for_waiters_now("applications", 2).await, "the bound let a second call through");
    assert!(!second.is_finished());
    assert_eq!(health(ch.clone(), "").await, Ok(SERVING), "health must bypass the bound");

    lock.release().await;
    let first = first.await.unwrap();
    assert!(first.is_ok(), "{first:?}");
    assert!(second.await.unwrap().is_ok());
    running.stop().await.unwrap();
}

/// A call whose deadline passes leaves nothing waiting in the database: its
/// transaction was limited to the call's deadline, so the server ends the
/// statement itself — and a retry with the same request id then works.
/// Without a client deadline, the session's own lock timeout ends the wait.
#[tokio::test]
async fn a_call_past_its_deadline_leaves_no_statement_waiting_in_the_database() {
    use socialloans_contracts::applications::{self as ap};
    let db = Db::prepared(&e2e::specs()).await;
    let running = db.serve(services()[0], &[("DATABASE_LOCK_TIMEOUT_MS", "1500")]).await;
    let mut client = ApplicationsServiceClient::new(channel(running.grpc_addr).await);
    let org = e2e::pilots::EIDAR;
    let borrower = token(&[Role::Borrower], Some(org));
    let create = ap::CreateApplicationRequest { request_id: e2e::flow::rid(), application: Some(e2e::pilots::eidar()) };
    let draft =
        client.create_application(authorized(create, &borrower)).await.unwrap().into_inner().application.unwrap();
    let update = ap::UpdateApplicationRequest {
        request_id: e2e::flow::rid(),
        application: Some(ap::Application { name: draft.name.clone(), title: "Ny titel".into(), ..Default::default() }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["title".into()] }),
        etag: draft.etag.clone(),
    };
    // Someone holds the application's row.
    let admin = sqlx::PgPool::connect(&db.admin_url()).await.unwrap();
    let mut holder = admin.begin().await.unwrap();
    let id = uuid::Uuid::parse_str(draft.name.trim_start_matches("applications/")).unwrap();
    sqlx::query("SELECT 1 FROM applications.application WHERE id = $1 FOR UPDATE")
        .bind(id)
        .execute(&mut *holder)
        .await
        .unwrap();
    let waiting = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = 'applications' AND wait_event_type = 'Lock'",
        )
        .fetch_one(&admin)
        .await
        .unwrap()
    };

    // A client that gives the call 300 ms.
    let mut request = authorized(update.clone(), &borrower);
    request.set_timeout(Duration::from_millis(300));
    let err = client.update_application(request).await.unwrap_err();
    assert!(matches!(err.code(), Code::DeadlineExceeded | Code::Cancelled), "{err:?}");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(waiting().await, 0, "the statement of a call given up on still waits in the database");

    // A client that sends no deadline: the session's lock timeout (1.5 s here) ends the wait.
    let started = Instant::now();
    let err = client.update_application(authorized(update.clone(), &borrower)).await.unwrap_err();
    assert_eq!(err.code(), Code::Aborted, "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    holder.rollback().await.unwrap();
    // Nothing of either was kept: the same request id now goes through.
    let updated = client.update_application(authorized(update, &borrower)).await.unwrap().into_inner();
    assert_eq!(updated.application.unwrap().title, "Ny titel");
    running.stop().await.unwrap();
}
