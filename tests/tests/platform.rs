//! The platform, as every service uses it: health that follows the database,
//! reflection, authentication and roles, schema isolation, metrics.
//! Real PostgreSQL, real servers on free loopback ports, real tonic clients.

use std::time::Duration;

use e2e::{Db, NOT_SERVING, SERVING, authorized, channel, eventually, health, http_get, minter, services, token};
use socialloans_contracts::{
    applications::{
        GetApplicationRequest, ListApplicationsRequest, TagLoanRequest,
        applications_service_client::ApplicationsServiceClient,
    },
    committee::{ListMembersRequest, committee_service_client::CommitteeServiceClient},
};
use socialloans_platform::Role;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};
use tonic_types::StatusExt;

#[tokio::test]
async fn each_service_reports_serving_and_lists_only_itself_through_reflection() {
    let db = Db::prepared(&e2e::specs()).await;
    for service in services() {
        let running = db.serve(service, &[]).await;
        let ch = channel(running.grpc_addr).await;
        let serving = eventually(Duration::from_secs(10), || {
            let ch = ch.clone();
            async move { health(ch, service.spec.grpc_service()).await == Ok(SERVING) }
        })
        .await;
        assert!(serving, "{} never reported SERVING", service.spec.name);

        let mut reflection = ServerReflectionClient::new(ch.clone());
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut responses =
            reflection.server_reflection_info(tokio_stream::iter([request])).await.unwrap().into_inner();
        let Some(MessageResponse::ListServicesResponse(list)) =
            responses.next().await.unwrap().unwrap().message_response
        else {
            panic!("expected a list of services");
        };
        let mut names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        // That service only: not the other two, whose contracts share the descriptor set.
        let mut expected = vec![
            service.spec.grpc_service(),
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ];
        expected.sort_unstable();
        assert_eq!(names, expected);
        running.stop().await.unwrap();
    }
}

#[tokio::test]
async fn health_follows_the_database_down_and_back_up_without_a_restart() {
    let db = Db::prepared(&e2e::specs()).await;
    let running = db.serve(e2e::services()[0], &[]).await;
    let ch = channel(running.grpc_addr).await;
    let status_becomes = |want: i32| {
        let ch = ch.clone();
        eventually(Duration::from_secs(15), move || {
            let ch = ch.clone();
            async move { health(ch, "").await == Ok(want) }
        })
    };
    assert!(status_becomes(SERVING).await, "not SERVING at start");

    db.cluster.stop().unwrap();
    assert!(status_becomes(NOT_SERVING).await, "still SERVING with the database stopped");
    assert_eq!(health(ch.clone(), "liveness").await, Ok(SERVING), "liveness must not follow the database");

    db.cluster.start().unwrap();
    assert!(status_becomes(SERVING).await, "did not recover after the database came back");
    let mut client = ApplicationsServiceClient::new(ch.clone());
    let listed =
        client.list_applications(authorized(ListApplicationsRequest::default(), &token(&[Role::Analyst], None))).await;
    assert!(listed.is_ok(), "a call after recovery failed: {listed:?}");
    running.stop().await.unwrap();
}

/// The codes `n` concurrent list calls are answered with.
async fn all_answered(client: &ApplicationsServiceClient<tonic::transport::Channel>, n: usize) -> Vec<Code> {
    let analyst = token(&[Role::Analyst], None);
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..n {
        let mut client = client.clone();
        let request = authorized(ListApplicationsRequest::default(), &analyst);
        calls.spawn(async move { client.list_applications(request).await.map_or_else(|e| e.code(), |_| Code::Ok) });
    }
    calls.join_all().await
}

#[tokio::test]
async fn a_database_restart_breaks_no_call_made_after_it_even_with_every_pooled_connection_broken() {
    let db = std::sync::Arc::new(Db::prepared(&e2e::specs()).await);
    let running = db.serve(e2e::services()[0], &[]).await;
    let client = ApplicationsServiceClient::new(channel(running.grpc_addr).await);
    // Fill the pool: its connections all exist, idle, when the database goes.
    assert!(all_answered(&client, 30).await.iter().all(|c| *c == Code::Ok));

    let restarting = db.clone();
    tokio::task::spawn_blocking(move || restarting.cluster.restart_immediate().expect("pg_ctl restart -m immediate"))
        .await
        .unwrap();

    // Every pooled connection is broken now; none may reach a caller.
    let codes = all_answered(&client, 30).await;
    assert!(codes.iter().all(|c| *c == Code::Ok), "calls after the restart failed: {codes:?}");
    running.stop().await.unwrap();
}

#[tokio::test]
async fn calls_without_a_valid_token_are_unauthenticated_and_wrong_roles_denied() {
    let db = Db::prepared(&e2e::specs()).await;
    let apps = db.serve(services()[0], &[]).await;
    let committee = db.serve(services()[1], &[]).await;
    let mut client = ApplicationsServiceClient::new(channel(apps.grpc_addr).await);

    let no_token = client.list_applications(ListApplicationsRequest::default()).await.unwrap_err();
    assert_eq!(no_token.code(), Code::Unauthenticated);
    assert_eq!(no_token.get_error_details().error_info().unwrap().reason, "TOKEN_MISSING");

    let expired = minter().expired("x", &[Role::Analyst], Duration::from_secs(3600));
    let err = client.list_applications(authorized(ListApplicationsRequest::default(), &expired)).await.unwrap_err();
    assert_eq!(
        (err.code(), err.get_error_details().error_info().unwrap().reason.as_str()),
        (Code::Unauthenticated, "TOKEN_EXPIRED")
    );

    let forged = socialloans_platform::auth::DevTokenMinter::new(
        "a-different-secret-of-enough-length!!",
        e2e::ISSUER,
        e2e::AUDIENCE,
    )
    .mint("x", &[Role::Analyst], None, Duration::from_secs(60));
    let err = client.list_applications(authorized(ListApplicationsRequest::default(), &forged)).await.unwrap_err();
    assert_eq!(
        (err.code(), err.get_error_details().error_info().unwrap().reason.as_str()),
        (Code::Unauthenticated, "TOKEN_INVALID")
    );

    let borrower = token(&[Role::Borrower], Some("556000-0000"));
    let denied = client.tag_loan(authorized(TagLoanRequest::default(), &borrower)).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert_eq!(denied.get_error_details().error_info().unwrap().reason, "ROLE_NOT_ALLOWED");

    let analyst = token(&[Role::Analyst], None);
    assert!(client.list_applications(authorized(ListApplicationsRequest::default(), &analyst)).await.is_ok());

    // Borrowers never see the committee's work; staff pass the guard.
    let mut committee_client = CommitteeServiceClient::new(channel(committee.grpc_addr).await);
    let denied = committee_client.list_members(authorized(ListMembersRequest::default(), &borrower)).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let passed = committee_client.list_members(authorized(ListMembersRequest::default(), &analyst)).await;
    assert_ne!(passed.map_err(|s| s.code()).err(), Some(Code::PermissionDenied));
    apps.stop().await.unwrap();
    committee.stop().await.unwrap();
}

async fn insert_applications(db: &Db, rows: &[(&str, &str)]) {
    let pool = sqlx::PgPool::connect(&db.admin_url()).await.unwrap();
    for (i, (org, state)) in rows.iter().enumerate() {
        sqlx::query(
            "INSERT INTO applications.application (id, organization_number, state, create_time)
             VALUES (gen_random_uuid(), $1, $2, now() + make_interval(secs => $3))",
        )
        .bind(org)
        .bind(state)
        .bind(i as f64)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;
}

#[tokio::test]
async fn a_borrower_sees_only_its_own_organisation_and_pages_walk_the_whole_list() {
    let db = Db::prepared(&e2e::specs()).await;
    let own = "212000-0142";
    let other = "556677-8899";
    insert_applications(
        &db,
        &[(own, "DRAFT"), (other, "DRAFT"), (own, "SUBMITTED"), (own, "DRAFT"), (other, "SUBMITTED")],
    )
    .await;
    let running = db.serve(services()[0], &[]).await;
    let mut client = ApplicationsServiceClient::new(channel(running.grpc_addr).await);

    let borrower = token(&[Role::Borrower], Some(own));
    let mut seen = Vec::new();
    let mut page_token = String::new();
    for _ in 0..10 {
        let request = ListApplicationsRequest { page_size: 2, page_token: page_token.clone(), ..Default::default() };
        let page = client.list_applications(authorized(request, &borrower)).await.unwrap().into_inner();
        assert!(page.applications.len() <= 2);
        seen.extend(page.applications);
        page_token = page.next_page_token;
        if page_token.is_empty() {
            break;
        }
    }
    assert_eq!(seen.len(), 3, "the borrower's three applications, each once");
    assert!(seen.iter().all(|a| a.borrower.as_ref().unwrap().organization_number == own));

    let analyst = token(&[Role::Analyst], None);
    let all =
        client.list_applications(authorized(ListApplicationsRequest::default(), &analyst)).await.unwrap().into_inner();
    assert_eq!(all.applications.len(), 5);
    let foreign = all.applications.iter().find(|a| a.borrower.as_ref().unwrap().organization_number == other).unwrap();
    let hidden = client
        .get_application(authorized(GetApplicationRequest { name: foreign.name.clone() }, &borrower))
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound, "another organisation's application must look absent");

    let bad = client
        .list_applications(authorized(
            ListApplicationsRequest { page_size: -1, page_token: "garbage!".into(), ..Default::default() },
            &analyst,
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    let fields: Vec<_> =
        bad.get_error_details().bad_request().unwrap().field_violations.iter().map(|v| v.field.clone()).collect();
    assert_eq!(fields, ["page_size", "page_token"]);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_service_role_cannot_read_or_write_another_services_schema() {
    let db = Db::prepared(&e2e::specs()).await;
    let apps = sqlx::PgPool::connect(&db.service_url("applications")).await.unwrap();
    let own: i64 = sqlx::query_scalar("SELECT count(*) FROM applications.application").fetch_one(&apps).await.unwrap();
    assert_eq!(own, 0);
    let attempts = [
        "SELECT count(*) FROM committee.member",
        "SELECT count(*) FROM monitoring.indicator_definition",
        "INSERT INTO monitoring.indicator_definition (code, display_name, unit, direction, level, category)
         VALUES ('x_x', 'x', 'x', 'HIGHER_IS_BETTER', 'OUTPUT', 'HOUSING_AND_RESIDENTIAL_ENVIRONMENTS')",
        "CREATE TABLE committee.intruder (id int)",
    ];
    for sql in attempts {
        let err = sqlx::query(sql).execute(&apps).await.expect_err(sql);
        let code = err.as_database_error().and_then(|e| e.code()).map(|c| c.into_owned());
        assert_eq!(code.as_deref(), Some("42501"), "{sql}: expected insufficient_privilege, got {err}");
    }
    let monitoring = sqlx::PgPool::connect(&db.service_url("monitoring")).await.unwrap();
    let err = sqlx::query("SELECT count(*) FROM applications.application").execute(&monitoring).await.unwrap_err();
    assert_eq!(err.as_database_error().and_then(|e| e.code()).as_deref(), Some("42501"));
    let catalogue: i64 = sqlx::query_scalar("SELECT count(*) FROM monitoring.indicator_definition")
        .fetch_one(&monitoring)
        .await
        .unwrap();
    assert!(catalogue >= 10, "the starting indicator catalogue is in place");
}

#[tokio::test]
async fn metrics_count_calls_by_method_and_code() {
    let db = Db::prepared(&e2e::specs()).await;
    let running = db.serve(services()[0], &[]).await;
    let mut client = ApplicationsServiceClient::new(channel(running.grpc_addr).await);
    let analyst = token(&[Role::Analyst], None);
    for _ in 0..3 {
        client.list_applications(authorized(ListApplicationsRequest::default(), &analyst)).await.unwrap();
    }
    let _ = client.list_applications(ListApplicationsRequest::default()).await;

    let body = http_get(running.metrics_addr, "/metrics").await;
    let method = "socialloans.applications.v1.ApplicationsService/ListApplications";
    assert!(
        body.contains(&format!(r#"socialloans_grpc_server_calls_total{{method="{method}",code="OK"}} 3"#)),
        "{body}"
    );
    assert!(
        body.contains(&format!(r#"socialloans_grpc_server_calls_total{{method="{method}",code="UNAUTHENTICATED"}} 1"#))
    );
    assert!(body.contains(r#"socialloans_db_pool_connections{state="max"} 10"#), "{body}");
    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_service_session_asks_for_keepalives_so_a_vanished_replica_releases_its_locks() {
    let db = Db::start();
    let spec = e2e::specs()[0];
    db.prepare(&[spec]).await;
    let pool = socialloans_platform::db::pool(&db.config(spec, &[]), spec.name).unwrap();
    let settings: Vec<String> = sqlx::query_scalar(
        "SELECT setting FROM pg_settings
          WHERE name IN ('tcp_keepalives_idle', 'tcp_keepalives_interval', 'tcp_keepalives_count') ORDER BY name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(settings, ["3", "5", "2"], "count, idle, interval");
    pool.close().await;
}

/// Compose (and a Kubernetes rollout) start the three bootstraps at once on a
/// fresh server: they race to create the same database and to change the
/// same `public` schema. Every round here is a fresh database and fresh
/// roles, bootstrapped three at a time, then again (a restart), and each
/// role must come out able to log in to its own schema and no other.
#[tokio::test]
async fn three_bootstraps_at_once_on_a_fresh_server_all_succeed() {
    let db = Db::start();
    let admin = db.cluster.admin_url();
    for round in 0..6 {
        let database = format!("race{round}");
        let urls: Vec<(String, String, String)> = ["applications", "committee", "monitoring"]
            .iter()
            .map(|schema| {
                let role = format!("{schema}_{round}");
                let owner = format!("{schema}_{round}_owner");
                (
                    db.cluster.url(&role, &format!("{role}-pw"), &database),
                    (*schema).to_owned(),
                    db.cluster.url(&owner, &format!("{owner}-pw"), &database),
                )
            })
            .collect();
        for attempt in ["first start", "restart"] {
            let boot = |i: usize| socialloans_platform::db::bootstrap(&admin, &urls[i].0, &urls[i].2, &urls[i].1);
            let (a, c, m) = tokio::join!(boot(0), boot(1), boot(2));
            for ((_, schema, _), result) in urls.iter().zip([a, c, m]) {
                if let Err(e) = result {
                    panic!("round {round}, {attempt}: bootstrap of {schema} failed: {e}");
                }
            }
        }
        for (url, schema, owner_url) in &urls {
            let owner = sqlx::PgPool::connect(owner_url).await.unwrap();
            let owned: bool = sqlx::query_scalar(
                "SELECT nspowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
                   FROM pg_namespace WHERE nspname = $1",
            )
            .bind(schema)
            .fetch_one(&owner)
            .await
            .unwrap();
            assert!(owned, "round {round}: {schema} is owned by its owner role");
            owner.close().await;
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            let (path, owns): (String, bool) = sqlx::query_as(
                "SELECT current_setting('search_path'),
                        (SELECT nspowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
                           FROM pg_namespace WHERE nspname = $1)",
            )
            .bind(schema)
            .fetch_one(&pool)
            .await
            .unwrap();
            assert_eq!(path, *schema, "round {round}: search_path of {schema}");
            assert!(!owns, "round {round}: {schema} is not owned by the role that serves");
            let err = sqlx::query("CREATE TABLE public.intruder (id int)").execute(&pool).await.unwrap_err();
            assert_eq!(err.as_database_error().and_then(|e| e.code()).as_deref(), Some("42501"));
            pool.close().await;
        }
    }
}

/// Every method the contracts declare is served: called by a role its policy
/// allows, with an empty request, each answers something (an answer, or
/// INVALID_ARGUMENT, NOT_FOUND …) — never UNIMPLEMENTED. The generated
/// server traits have default bodies, so only this catches a method the
/// contract promises and no handler keeps.
#[tokio::test]
async fn every_method_in_the_contracts_is_served() {
    use prost::Message;
    let set = prost_types::FileDescriptorSet::decode(socialloans_contracts::FILE_DESCRIPTOR_SET).unwrap();
    let db = Db::prepared(&e2e::specs()).await;
    let mut checked = 0;
    for service in services() {
        let running = db.serve(service, &[]).await;
        let (package, name) = service.spec.grpc_service().rsplit_once('.').unwrap();
        let methods: Vec<_> = set
            .file
            .iter()
            .filter(|f| f.package() == package)
            .flat_map(|f| &f.service)
            .filter(|s| s.name() == name)
            .flat_map(|s| &s.method)
            .collect();
        assert!(!methods.is_empty(), "{name} has methods");
        let mut grpc = tonic::client::Grpc::new(channel(running.grpc_addr).await);
        for method in methods {
            let path = format!("/{}/{}", service.spec.grpc_service(), method.name());
            let role = service.spec.policy.allowed(&path).and_then(|roles| roles.first().copied()).expect("a role");
            let org = (role == Role::Borrower).then_some("5560000001");
            let request = authorized((), &token(&[role], org));
            grpc.ready().await.unwrap();
            let codec = tonic_prost::ProstCodec::<(), ()>::default();
            let code = if method.server_streaming() {
                grpc.server_streaming(request, path.parse().unwrap(), codec).await.map(|_| ()).err().map(|s| s.code())
            } else {
                grpc.unary(request, path.parse().unwrap(), codec).await.map(|_| ()).err().map(|s| s.code())
            };
            assert_ne!(code, Some(Code::Unimplemented), "{path} is in the contract but not served");
            checked += 1;
        }
        running.stop().await.unwrap();
    }
    assert!(checked > 60, "only {checked} methods checked");
}

/// Request ids are remembered for the configured retention, then forgotten
/// in batches; younger ones stay, and so does what they answered.
#[tokio::test]
async fn request_ids_past_their_retention_are_forgotten_in_batches() {
    let db = Db::prepared(&e2e::specs()).await;
    let pool = sqlx::PgPool::connect(&db.service_url("applications")).await.unwrap();
    sqlx::query(
        "INSERT INTO request_log (request_id, method, fingerprint, create_time)
         SELECT gen_random_uuid(), 'CreateApplication', '\\x00', now() - interval '40 days' FROM generate_series(1, 12000)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let recent = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO request_log (request_id, method, fingerprint, create_time) VALUES ($1, 'SubmitApplication', '\\x01', now() - interval '6 days')",
    )
    .bind(recent)
    .execute(&pool)
    .await
    .unwrap();
    let month = Duration::from_secs(30 * 86_400);
    let forgotten = socialloans_platform::idempotency::prune(&pool, month).await.unwrap();
    assert_eq!(forgotten, 12_000, "every old id, over several batches");
    let left: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT request_id FROM request_log").fetch_all(&pool).await.unwrap();
    assert_eq!(left, [recent], "a week-old id is still remembered");
    assert_eq!(socialloans_platform::idempotency::prune(&pool, month).await.unwrap(), 0);
}

/// Two transactions that lock the same rows in opposite orders deadlock;
/// PostgreSQL aborts one, and the client is told ABORTED (retry with the
/// same request_id), not INTERNAL.
#[tokio::test]
async fn a_deadlock_is_aborted_for_a_retry_not_an_internal_error() {
    let db = Db::prepared(&e2e::specs()).await;
    let owner = sqlx::PgPool::connect(&db.owner_url("committee")).await.unwrap();
    sqlx::query("CREATE TABLE committee.lock_probe (id int PRIMARY KEY)").execute(&owner).await.unwrap();
    sqlx::query("GRANT SELECT, INSERT, UPDATE ON committee.lock_probe TO committee").execute(&owner).await.unwrap();
    let pool = sqlx::PgPool::connect(&db.service_url("committee")).await.unwrap();
    sqlx::query("INSERT INTO committee.lock_probe VALUES (1), (2)").execute(&pool).await.unwrap();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let contender = |first: i32, second: i32| {
        let (pool, barrier) = (pool.clone(), barrier.clone());
        tokio::spawn(async move {
            let mut tx = pool.begin().await.unwrap();
            sqlx::query("SELECT id FROM committee.lock_probe WHERE id = $1 FOR UPDATE")
                .bind(first)
                .execute(&mut *tx)
                .await
                .unwrap();
            barrier.wait().await;
            let locked = sqlx::query("SELECT id FROM committee.lock_probe WHERE id = $1 FOR UPDATE")
                .bind(second)
                .execute(&mut *tx)
                .await;
            match locked {
                Ok(_) => tx.commit().await.map(|_| ()),
                Err(e) => Err(e),
            }
        })
    };
    let (a, b) = (contender(1, 2), contender(2, 1));
    let results = [a.await.unwrap(), b.await.unwrap()];
    let failed: Vec<&sqlx::Error> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(failed.len(), 1, "PostgreSQL aborts exactly one of the two");
    let status = socialloans_platform::error::database("probing", failed[0]);
    assert_eq!(status.code(), Code::Aborted);
    assert_eq!(status.get_error_details().error_info().unwrap().reason, "CONCURRENT_CHANGE");
}

/// What the service's own credential — the one every serving process holds —
/// can do to its schema: work with its tables, and nothing more. For every
/// table of every service: no trigger disabled, no truncate, no drop, no
/// change of owner, no privilege granted back to itself; for the append-only
/// tables (history, audit, chain) no update and no delete either.
#[tokio::test]
async fn the_runtime_role_cannot_rewrite_or_unprotect_its_own_history() {
    let db = Db::prepared(&e2e::specs()).await;
    let admin = sqlx::PgPool::connect(&db.admin_url()).await.unwrap();
    let denied = |result: Result<sqlx::postgres::PgQueryResult, sqlx::Error>| {
        result.err().and_then(|e| e.as_database_error().and_then(|d| d.code()).map(|c| c.into_owned()))
            == Some("42501".to_owned())
    };
    let mut checked = 0;
    for spec in e2e::specs() {
        let schema = spec.name;
        let runtime = sqlx::PgPool::connect(&db.service_url(schema)).await.unwrap();
        let tables: Vec<(String, String)> = sqlx::query_as(
            "SELECT c.table_name::text, min(c.column_name::text)
               FROM information_schema.columns c JOIN pg_tables t
                 ON t.schemaname = c.table_schema AND t.tablename = c.table_name
              WHERE c.table_schema = $1 GROUP BY c.table_name",
        )
        .bind(schema)
        .fetch_all(&admin)
        .await
        .unwrap();
        assert!(tables.len() >= 5, "{schema}: {tables:?}");
        for (table, column) in &tables {
            let t = format!("\"{schema}\".\"{table}\"");
            // It may try to give itself back what was kept from it: nothing changes.
            let _ =
                sqlx::query(sqlx::AssertSqlSafe(format!("GRANT ALL ON {t} TO \"{schema}\""))).execute(&runtime).await;
            for statement in [
                format!("ALTER TABLE {t} DISABLE TRIGGER ALL"),
                format!("TRUNCATE {t}"),
                format!("DROP TABLE {t}"),
                format!("ALTER TABLE {t} OWNER TO \"{schema}\""),
                format!("ALTER TABLE {t} ADD COLUMN intruder int"),
                format!("CREATE INDEX ON {t} (\"{column}\")"),
            ] {
                let result = sqlx::query(sqlx::AssertSqlSafe(statement.clone())).execute(&runtime).await;
                assert!(denied(result), "{statement}: not refused to the runtime role");
            }
            let append_only = spec.append_only.contains(&table.as_str())
                || ["_sqlx_migrations", "_platform_migrations"].contains(&table.as_str());
            if append_only {
                for statement in [format!("UPDATE {t} SET \"{column}\" = \"{column}\""), format!("DELETE FROM {t}")] {
                    let result = sqlx::query(sqlx::AssertSqlSafe(statement.clone())).execute(&runtime).await;
                    assert!(denied(result), "{statement}: an append-only table changed by the runtime role");
                }
            }
            checked += 1;
        }
        for statement in [
            format!("CREATE TABLE \"{schema}\".intruder (id int)"),
            format!("ALTER SCHEMA \"{schema}\" OWNER TO \"{schema}\""),
            format!("DROP SCHEMA \"{schema}\" CASCADE"),
        ] {
            let result = sqlx::query(sqlx::AssertSqlSafe(statement.clone())).execute(&runtime).await;
            assert!(denied(result), "{statement}: not refused");
        }
        for table in spec.append_only {
            let has: bool = sqlx::query_scalar("SELECT has_table_privilege($1, $2, 'SELECT, INSERT')")
                .bind(schema)
                .bind(format!("{schema}.{table}"))
                .fetch_one(&admin)
                .await
                .unwrap();
            assert!(has, "{schema}.{table}: the service still writes its history");
        }
        runtime.close().await;
    }
    assert!(checked >= 20, "{checked} tables checked");
}

/// A stopped service runs nothing and holds no database session: its
/// consumers (and their lease connections), the sequencer, the LISTEN
/// connection, retention and monitoring's overdue sweep are joined before
/// `stop` returns. (PostgreSQL ends a backend a moment after its client has
/// gone, so the sessions are counted until they are gone, for a second.)
#[tokio::test]
async fn a_stopped_service_leaves_no_session_behind() {
    let db = Db::prepared(&e2e::specs()).await;
    let (running, _) = e2e::start_all(&db).await;
    let admin = sqlx::PgPool::connect(&db.admin_url()).await.unwrap();
    let sessions = |role: &'static str| {
        let admin = admin.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM pg_stat_activity WHERE usename = $1")
                .bind(role)
                .fetch_one(&admin)
                .await
                .unwrap()
        }
    };
    // Every service is consuming (a lease session each subscription) and listening.
    for role in ["applications", "committee", "monitoring"] {
        let busy = eventually(Duration::from_secs(10), || async move { sessions(role).await >= 2 }).await;
        assert!(busy, "{role} never held its listening and lease sessions");
    }
    for (service, role) in running.into_iter().zip(["applications", "committee", "monitoring"]) {
        service.stop().await.unwrap();
        let gone = eventually(Duration::from_secs(1), || async move { sessions(role).await == 0 }).await;
        assert!(gone, "{role} left {} sessions behind after stop returned", sessions(role).await);
    }
    admin.close().await;
}
