//! The service binaries as operators run them: bootstrap and migrate
//! subcommands, refusal of bad configuration, SIGTERM with a call in flight.

use std::{collections::HashMap, time::Duration};

use e2e::{
    Db, SERVING, authorized, channel, eventually, health,
    process::{ServiceProcess, run},
    services, token,
};
use socialloans_contracts::applications::{
    ListApplicationsRequest, applications_service_client::ApplicationsServiceClient,
};
use socialloans_platform::Role;

fn env_without(
    db: &Db,
    service: &str,
    drop: &[&str],
    extra: &[(&str, &str)],
) -> HashMap<String, String> {
    let spec = services()
        .into_iter()
        .find(|s| s.spec.name == service)
        .unwrap()
        .spec;
    let mut env = db.env(spec, extra);
    for name in drop {
        env.remove(*name);
    }
    env
}

/// Everything a schema holds, as text: tables, columns, indexes, constraints, migrations.
async fn schema_snapshot(admin_url: &str, schema: &str) -> String {
    let pool = sqlx::PgPool::connect(admin_url).await.unwrap();
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT format('column %s.%s %s %s', table_name, column_name, data_type, column_default)
           FROM information_schema.columns WHERE table_schema = $1
         UNION ALL
         SELECT format('index %s', indexdef) FROM pg_indexes WHERE schemaname = $1
         UNION ALL
         SELECT format('constraint %s %s', conname, pg_get_constraintdef(c.oid))
           FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = $1
         ORDER BY 1",
    )
    .bind(schema)
    .fetch_all(&pool)
    .await
    .unwrap();
    // `schema` is one of the three service names, not input.
    let migrations: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT format('migration %s %s %s', version, success, encode(checksum, 'hex')) FROM {schema}._sqlx_migrations ORDER BY version"
    )))
    .fetch_all(&pool)
    .await
    .unwrap();
    let rows_in_catalogue: i64 = if schema == "monitoring" {
        sqlx::query_scalar("SELECT count(*) FROM monitoring.indicator_definition")
            .fetch_one(&pool)
            .await
            .unwrap()
    } else {
        0
    };
    pool.close().await;
    format!(
        "{}\n{}\nrows {rows_in_catalogue}",
        rows.join("\n"),
        migrations.join("\n")
    )
}

#[tokio::test]
async fn bootstrap_then_migrate_twice_changes_nothing_the_second_time() {
    let db = Db::start();
    for service in services() {
        let name = service.spec.name;
        let env = env_without(
            &db,
            name,
            &[],
            &[("DATABASE_ADMIN_URL", &db.cluster.admin_url())],
        );
        for attempt in 0..2 {
            let out = run(name, "bootstrap", &env);
            assert!(
                out.status.success(),
                "{name} bootstrap #{attempt}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let out = run(name, "migrate", &env);
        assert!(
            out.status.success(),
            "{name} migrate: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let first = schema_snapshot(&db.admin_url(), name).await;
        assert!(
            first.contains("migration 1 t ")
                && first.contains(&format!("ON {name}._sqlx_migrations")),
            "{name}: bookkeeping not in its own schema:\n{first}"
        );
        let out = run(name, "migrate", &env);
        assert!(out.status.success(), "{name} second migrate failed");
        assert_eq!(
            schema_snapshot(&db.admin_url(), name).await,
            first,
            "{name}: the second migrate changed the schema"
        );
    }
}

#[test]
fn a_service_refuses_to_start_naming_the_missing_or_malformed_variable() {
    /// The environment given, and what stderr must say.
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: [Case; 3] = [
        (
            &[("AUTH_HS256_SECRET", "0123456789abcdef0123456789abcdef")],
            &["DATABASE_URL is required"],
        ),
        (
            &[
                ("DATABASE_URL", "postgres://a:b@127.0.0.1:1/x"),
                ("AUTH_HS256_SECRET", "0123456789abcdef0123456789abcdef"),
                ("GRPC_ADDR", "port-fifty"),
            ],
            &["GRPC_ADDR=\"port-fifty\" is malformed"],
        ),
        (
            &[
                ("DATABASE_URL", "mysql://x"),
                ("GRPC_MAX_MESSAGE_BYTES", "lots"),
            ],
            &[
                "DATABASE_URL is malformed",
                "GRPC_MAX_MESSAGE_BYTES=\"lots\" is malformed",
                "AUTH_HS256_SECRET or AUTH_PUBLIC_KEY_FILE is required",
            ],
        ),
    ];
    for service in services() {
        for (vars, expected) in &cases {
            let env: HashMap<String, String> = vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            let out = run(service.spec.name, "serve", &env);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(78),
                "{}: expected EX_CONFIG, stderr: {stderr}",
                service.spec.name
            );
            for text in *expected {
                assert!(
                    stderr.contains(text),
                    "{}: {text:?} not in: {stderr}",
                    service.spec.name
                );
            }
        }
    }
}

#[tokio::test]
async fn each_service_binary_serves_health_and_stops_on_sigterm_with_exit_zero() {
    let db = Db::start();
    db.prepare().await;
    for service in services() {
        let mut process = ServiceProcess::spawn(service.spec.name, &db.env(service.spec, &[]));
        let ch = channel(process.grpc_addr).await;
        let serving = eventually(Duration::from_secs(10), || {
            let ch = ch.clone();
            async move { health(ch, "").await == Ok(SERVING) }
        })
        .await;
        assert!(
            serving,
            "{} process never reported SERVING",
            service.spec.name
        );
        process.terminate();
        let status = tokio::task::spawn_blocking(move || process.wait(Duration::from_secs(15)))
            .await
            .unwrap();
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(0),
            "{} did not exit 0 on SIGTERM",
            service.spec.name
        );
    }
}

#[tokio::test]
async fn sigterm_during_an_in_flight_call_lets_the_call_complete_then_exits_zero() {
    let db = Db::start();
    db.prepare().await;
    let mut process = ServiceProcess::spawn("applications", &db.env(&applications::SPEC, &[]));
    let ch = channel(process.grpc_addr).await;

    // Hold the table so that the call below waits inside the service.
    let lock = db.lock_table("applications.application").await;
    let mut client = ApplicationsServiceClient::new(ch.clone());
    let analyst = token(&[Role::Analyst], None);
    let call = tokio::spawn(async move {
        client
            .list_applications(authorized(ListApplicationsRequest::default(), &analyst))
            .await
    });
    assert!(
        lock.wait_for_waiters("applications", 1).await,
        "the call never reached the database"
    );

    process.terminate();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !call.is_finished(),
        "the call ended before the lock was released"
    );
    assert!(
        process.wait(Duration::ZERO).is_none(),
        "the process exited with a call in flight"
    );

    lock.release().await;
    let response = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("call finished")
        .unwrap();
    assert!(response.is_ok(), "the in-flight call failed: {response:?}");
    let status = tokio::task::spawn_blocking(move || process.wait(Duration::from_secs(15)))
        .await
        .unwrap();
    assert_eq!(status.and_then(|s| s.code()), Some(0));
}
