//! What every service binary must do, as operators run it: refuse bad
//! configuration by name, bootstrap and migrate idempotently, serve health,
//! and stop with exit 0 on SIGTERM. Each service crate calls these from its
//! own tests with `env!("CARGO_BIN_EXE_<name>")`.

use std::{collections::HashMap, time::Duration};

use socialloans_platform::ServiceSpec;

use crate::{
    Db, SERVING, channel, eventually, health,
    process::{ServiceProcess, run},
};

/// The environment given, and what stderr must then say.
type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);

/// The binary exits with EX_CONFIG (78), naming each missing or malformed variable.
pub fn refuses_bad_configuration(binary: &str) {
    let keys = ("AUTH_JWKS_URL", "https://idp.bank.example/.well-known/jwks.json");
    let db = ("DATABASE_URL", "postgres://a:b@127.0.0.1:1/x");
    let cases: [Case; 5] = [
        (&[keys], &["DATABASE_URL is required"]),
        (&[db, keys, ("GRPC_ADDR", "port-fifty")], &["GRPC_ADDR=\"port-fifty\" is malformed"]),
        (
            &[("DATABASE_URL", "mysql://x"), ("GRPC_MAX_MESSAGE_BYTES", "lots")],
            &[
                "DATABASE_URL is malformed",
                "GRPC_MAX_MESSAGE_BYTES=\"lots\" is malformed",
                "AUTH_JWKS_URL, AUTH_JWKS_FILE or AUTH_PUBLIC_KEY_FILE is required",
            ],
        ),
        // A shared secret is for development only, and never a placeholder.
        (&[db, ("AUTH_HS256_SECRET", "5e8a1c3f7b9d2e4a6c8f0b1d3e5a7c9f2b4d6e8a")], &["for development only"]),
        (
            &[
                db,
                ("AUTH_HS256_SECRET", "REPLACE-with-at-least-32-random-bytes-from-the-vault"),
                ("AUTH_ALLOW_HS256", "development"),
            ],
            &["looks like a placeholder"],
        ),
    ];
    for (vars, expected) in cases {
        let env: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let out = run(binary, "serve", &env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "expected EX_CONFIG, stderr: {stderr}");
        for text in expected {
            assert!(stderr.contains(text), "{text:?} not in: {stderr}");
        }
    }
}

/// `bootstrap` twice and `migrate` twice succeed, and the second `migrate`
/// changes nothing; the bookkeeping lives in the service's own schema.
pub async fn bootstrap_then_migrate_twice_changes_nothing(binary: &str, spec: &'static ServiceSpec) {
    let db = Db::start();
    let name = spec.name;
    let env = db.env(spec, &[("DATABASE_ADMIN_URL", &db.cluster.admin_url())]);
    for attempt in 0..2 {
        let out = run(binary, "bootstrap", &env);
        assert!(out.status.success(), "bootstrap #{attempt}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let out = run(binary, "migrate", &env);
    assert!(
        out.status.success(),
        "migrate: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let first = schema_snapshot(&db.admin_url(), name).await;
    assert!(first.contains("migration 1 t "), "{name}: no migration recorded:\n{first}");
    assert!(first.contains(&format!("ON {name}._sqlx_migrations")), "bookkeeping not in its own schema:\n{first}");
    assert!(first.contains("column outbox.position"), "the platform's outbox is missing:\n{first}");
    let out = run(binary, "migrate", &env);
    assert!(out.status.success(), "second migrate failed");
    assert_eq!(schema_snapshot(&db.admin_url(), name).await, first, "the second migrate changed the schema");
}

/// Everything a schema holds, as text: tables, columns, indexes, constraints
/// and applied migrations.
pub async fn schema_snapshot(admin_url: &str, schema: &str) -> String {
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
    // `schema` is a service's name, not input.
    let migrations: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT format('migration %s %s %s', version, success, encode(checksum, 'hex'))
           FROM {schema}._sqlx_migrations
         UNION ALL
         SELECT format('platform migration %s %s', version, success) FROM {schema}._platform_migrations
         ORDER BY 1"
    )))
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    format!("{}\n{}", rows.join("\n"), migrations.join("\n"))
}

/// The binary serves health (SERVING) and exits 0 on SIGTERM. It serves TLS,
/// as in production, with the kubelet's plaintext health-only port beside it:
/// the `health` probe asks that port, and refuses to ask a TLS port.
pub async fn serves_health_and_exits_zero_on_sigterm(binary: &str, spec: &'static ServiceSpec) {
    let db = Db::prepared(&[spec]).await;
    let dir = crate::certs::temp_dir("binary-health");
    let ca = crate::certs::Ca::new("test CA");
    let (cert, key) = ca.leaf(&["localhost"]);
    let cert = crate::certs::write(&dir, "server.pem", &cert).display().to_string();
    let key = crate::certs::write(&dir, "server.key", &key).display().to_string();
    let health_addr = crate::reserved_addr().to_string();
    let env = db.env(spec, &[("TLS_CERT_FILE", &cert), ("TLS_KEY_FILE", &key), ("GRPC_HEALTH_ADDR", &health_addr)]);
    let mut process = ServiceProcess::spawn(binary, &env);
    let ch = channel(health_addr.parse().unwrap()).await;
    let serving = eventually(Duration::from_secs(10), || {
        let ch = ch.clone();
        async move { health(ch, spec.grpc_service()).await == Ok(SERVING) }
    })
    .await;
    assert!(serving, "{} never reported SERVING on its health port", spec.name);
    let probe = |vars: &[(&str, &str)]| {
        let env: std::collections::HashMap<String, String> =
            vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let binary = binary.to_owned();
        tokio::task::spawn_blocking(move || crate::process::run(&binary, "health", &env))
    };
    // `health` is the probe for images without a shell: 0 while serving, 1 once gone.
    let grpc_addr = process.grpc_addr.to_string();
    let up = probe(&[("GRPC_HEALTH_ADDR", &health_addr), ("TLS_CERT_FILE", &cert)]).await.unwrap();
    assert!(up.status.success(), "health while serving: {}", String::from_utf8_lossy(&up.stderr));
    let tls_port = probe(&[("GRPC_ADDR", &grpc_addr), ("TLS_CERT_FILE", &cert)]).await.unwrap();
    assert_eq!(tls_port.status.code(), Some(1), "health asked a TLS port in plaintext");
    assert!(String::from_utf8_lossy(&tls_port.stderr).contains("set GRPC_HEALTH_ADDR"));
    process.terminate();
    let status = tokio::task::spawn_blocking(move || process.wait(Duration::from_secs(15))).await.unwrap();
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{} did not exit 0 on SIGTERM", spec.name);
    let down = probe(&[("GRPC_HEALTH_ADDR", &health_addr)]).await.unwrap();
    assert_eq!(down.status.code(), Some(1), "health after the service stopped");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The three conformance tests for one service binary.
#[macro_export]
macro_rules! binary_conformance_tests {
    ($binary:expr, $spec:expr) => {
        #[test]
        fn the_binary_refuses_to_start_naming_the_missing_or_malformed_variable() {
            $crate::binary::refuses_bad_configuration($binary);
        }

        #[tokio::test]
        async fn bootstrap_then_migrate_twice_changes_nothing_the_second_time() {
            $crate::binary::bootstrap_then_migrate_twice_changes_nothing($binary, $spec).await;
        }

        #[tokio::test]
        async fn the_binary_serves_health_and_exits_zero_on_sigterm() {
            $crate::binary::serves_health_and_exits_zero_on_sigterm($binary, $spec).await;
        }
    };
}
