//! The service's PostgreSQL: its pool (confined to its own schema), the one-time
//! bootstrap of roles and schema, and its migrations.
//!
//! Two roles per service. The **owner** (`DATABASE_MIGRATION_URL`) owns the
//! schema and everything in it and runs the migrations; nothing serves with
//! it. The **runtime** role (`DATABASE_URL`), which every serving process
//! holds, owns nothing: it may read and write the working tables, only
//! insert into and read the append-only ones (history, audit, chain), and
//! never truncate, alter, drop, disable a trigger or grant — so a leaked
//! service credential cannot rewrite the service's history. Both roles'
//! `search_path` is the service's schema; the migration bookkeeping lives
//! there too, so no service needs a privilege outside it.

use secrecy::ExposeSecret;
use std::{str::FromStr, time::Duration};

use sqlx::{
    AssertSqlSafe, ConnectOptions, Connection, Executor,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPool, PgPoolOptions},
};

use crate::config::Config;

/// A lazily connecting pool for `schema`: the service starts even while its
/// database is down, reports NOT_SERVING, and recovers when it returns.
///
/// Every session asks the server for TCP keepalives (5 s idle, then 3 probes
/// 2 s apart): a replica that vanishes without closing its connections (a
/// killed container, a lost node) has its sessions ended — and with them its
/// row locks, open transactions and a consumer's lease — within about 11 s
/// instead of the operating system's two hours.
///
/// Every session also runs under the configured `statement_timeout`,
/// `lock_timeout` and `idle_in_transaction_session_timeout`
/// ([`crate::config::DatabaseTimeouts`]); a transaction begun for a call with
/// a shorter deadline gets that instead (`crate::unit::run`).
pub fn pool(config: &Config, schema: &str) -> Result<PgPool, sqlx::Error> {
    let t = config.database_timeouts;
    let limits = [
        ("statement_timeout", t.statement.as_millis().to_string()),
        ("lock_timeout", t.lock.as_millis().to_string()),
        ("idle_in_transaction_session_timeout", t.idle_in_transaction.as_millis().to_string()),
    ];
    pool_of(config.database_url.expose_secret(), config, schema, &limits)
}

fn pool_of(url: &str, config: &Config, schema: &str, limits: &[(&str, String)]) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?
        .application_name(schema)
        .options([
            ("search_path", schema),
            ("tcp_keepalives_idle", "5"),
            ("tcp_keepalives_interval", "2"),
            ("tcp_keepalives_count", "3"),
        ])
        .options(limits.iter().map(|(k, v)| (*k, v.as_str())));
    Ok(PgPoolOptions::new()
        .max_connections(config.database_max_connections)
        .acquire_timeout(config.database_acquire_timeout)
        // No ping per acquire (a round trip on every query): a connection
        // broken by a database restart is noticed by `fresh` instead.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| Box::pin(fresh(conn, meta)))
        .connect_lazy_with(options))
}

/// A pooled connection idle this long is pinged before it is handed out.
const IDLE_CHECK: Duration = Duration::from_secs(5);

/// Whether a pooled connection may be handed out, decided without a round
/// trip on a busy pool: one opened before the process last saw a
/// connection to the database lost ([`connection_lost`]: the LISTEN
/// connection dropped, the health probe failed, a call met a broken
/// connection) is discarded — a restart breaks every connection at once,
/// and the LISTEN connection, always waiting on its socket, notices within
/// milliseconds; one that sat idle for [`IDLE_CHECK`] or more is pinged.
async fn fresh(conn: &mut sqlx::PgConnection, meta: sqlx::pool::PoolConnectionMetadata) -> Result<bool, sqlx::Error> {
    if opened_before_loss(meta.age) {
        return Ok(false);
    }
    if meta.idle_for >= IDLE_CHECK {
        conn.ping().await?;
    }
    Ok(true)
}

/// When this process last saw a database connection lost, in nanoseconds
/// after [`epoch`] (0: never).
static LOST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn epoch() -> std::time::Instant {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(std::time::Instant::now)
}

fn since_epoch(at: std::time::Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(epoch()).as_nanos()).unwrap_or(u64::MAX).saturating_add(1)
}

/// Says that a connection to the database was lost: every pooled
/// connection opened until now is discarded instead of handed out.
pub fn connection_lost() {
    let now = since_epoch(std::time::Instant::now());
    LOST.fetch_max(now, std::sync::atomic::Ordering::Relaxed);
}

/// Whether a connection `age` old was opened at or before the last loss.
fn opened_before_loss(age: Duration) -> bool {
    let lost = LOST.load(std::sync::atomic::Ordering::Relaxed);
    let opened = std::time::Instant::now().checked_sub(age).map_or(0, since_epoch);
    lost != 0 && opened <= lost
}

tokio::task_local! {
    /// When the call being served must be answered by; set by the call guard
    /// from the client's `grpc-timeout` when that is shorter than the
    /// service's own request timeout.
    pub static DEADLINE: tokio::time::Instant;
}

/// Applies the platform's tables (outbox, consumer checkpoints) and then the
/// service's `migrator` to `schema`, as the owner (`owner_url`), keeping the
/// bookkeeping in `schema._platform_migrations` and `schema._sqlx_migrations`;
/// then grants the `runtime` role what it may do (see [`grant_runtime`]).
/// Already applied migrations are skipped, so running it twice changes
/// nothing.
///
/// It all happens on one connection, made patiently ([`connect_patiently`]):
/// a database that is still starting is waited for, and a refusal is
/// PostgreSQL's own answer, not a pool's bare timeout. Migrations have no
/// statement limits (an index built on a large table may take its time).
#[tracing::instrument(skip(owner_url, migrator, append_only))]
pub async fn migrate(
    owner_url: &str,
    mut migrator: Migrator,
    schema: &'static str,
    runtime: &str,
    append_only: &[&str],
) -> Result<(), sqlx::migrate::MigrateError> {
    // The platform's migrations name no schema: the session's search_path
    // puts them into the service's own.
    let options = PgConnectOptions::from_str(owner_url)?.application_name(schema).options([("search_path", schema)]);
    let mut owner = connect_patiently(&options).await?;
    let mut platform = platform_migrations();
    platform.dangerous_set_table_name(format!("{schema}._platform_migrations"));
    platform.run(&mut owner).await?;
    migrator.dangerous_set_table_name(format!("{schema}._sqlx_migrations"));
    migrator.run(&mut owner).await?;
    grant_runtime(&mut owner, schema, runtime, append_only).await?;
    owner.close().await?;
    tracing::info!(schema, applied = migrator.iter().count(), "migrations up to date");
    Ok(())
}

/// The platform's own migrations (outbox, consumer checkpoints, request
/// log), applied to every service's schema before its own.
pub fn platform_migrations() -> Migrator {
    sqlx::migrate!("./migrations")
}

/// Gives the `runtime` role what serving needs and nothing more: the schema's
/// use; reading and writing its tables; only reading and inserting into the
/// `append_only` ones and reading the migration bookkeeping. No TRUNCATE, no
/// ownership (so no DDL, no trigger changes), no grant option.
pub async fn grant_runtime(
    owner: &mut sqlx::PgConnection,
    schema: &str,
    runtime: &str,
    append_only: &[&str],
) -> Result<(), sqlx::Error> {
    let read_only = ["_sqlx_migrations", "_platform_migrations"];
    let statements = sqlx::query_scalar!(
        r#"SELECT unnest(ARRAY[
            format('GRANT USAGE ON SCHEMA %I TO %I', $1::text, $2::text),
            format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM %I', $1::text, $2::text),
            format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO %I', $1::text, $2::text),
            format('GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA %I TO %I', $1::text, $2::text)
         ] || ARRAY(SELECT format('REVOKE INSERT, UPDATE, DELETE ON %I.%I FROM %I', $1::text, t, $2::text)
                      FROM unnest($4::text[]) AS t)
           || ARRAY(SELECT format('REVOKE UPDATE, DELETE ON %I.%I FROM %I', $1::text, t, $2::text)
                      FROM unnest($3::text[]) AS t)) AS "statement!""#,
        schema,
        runtime,
        append_only as &[&str],
        &read_only as &[&str],
    )
    .fetch_all(&mut *owner)
    .await?;
    for statement in statements {
        owner.execute(AssertSqlSafe(statement)).await?;
    }
    Ok(())
}

/// The role a `postgres://role:…@host/db` URL connects as.
pub fn role_of(url: &str) -> Result<String, sqlx::Error> {
    Ok(PgConnectOptions::from_str(url)?.get_username().to_owned())
}

/// How long a one-off step waits for a database that is not reachable yet.
pub const CONNECT_PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// Connects, retrying while the database cannot be reached (as opposed to
/// refusing us: a wrong password or a missing database fails at once).
pub async fn connect_patiently(options: &PgConnectOptions) -> Result<sqlx::PgConnection, sqlx::Error> {
    let started = std::time::Instant::now();
    let mut backoff = crate::backoff::Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
    loop {
        match options.connect().await {
            Err(err) if unreachable(&err) && started.elapsed() < CONNECT_PATIENCE => {
                tracing::warn!(error = %err, "the database is not reachable yet; waiting");
                tokio::time::sleep(backoff.next_wait()).await;
            }
            result => return result,
        }
    }
}

/// Whether `err` means the server is not there (yet), rather than that it said no.
fn unreachable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) => true,
        // 57P03 cannot_connect_now: starting up, shutting down, in recovery.
        sqlx::Error::Database(db) => db.code().as_deref() == Some("57P03"),
        _ => false,
    }
}

/// Creates (or brings up to date) the database, the service's two roles and
/// its schema, over an admin connection. The roles and their passwords are
/// those of the service's `DATABASE_URL` (runtime) and
/// `DATABASE_MIGRATION_URL` (owner); the database is the one the runtime URL
/// names. The schema belongs to the owner; a schema (and what is in it) that
/// an earlier version let the runtime role own is handed to the owner.
/// A database that cannot be reached yet (its name not resolvable, its port
/// closed, still starting) is waited for, up to [`CONNECT_PATIENCE`]: in a
/// container stack the bootstrap often starts together with the database.
/// Safe to run again and to run for several services at once.
#[tracing::instrument(skip_all, fields(schema))]
pub async fn bootstrap(admin_url: &str, service_url: &str, owner_url: &str, schema: &str) -> Result<(), sqlx::Error> {
    let service = PgConnectOptions::from_str(service_url)?;
    let role = service.get_username().to_owned();
    let database = service.get_database().unwrap_or(&role).to_owned();
    let password = url_password(service_url);
    let owner = role_of(owner_url)?;
    let owner_password = url_password(owner_url);
    if owner == role {
        return Err(sqlx::Error::Configuration(
            "DATABASE_MIGRATION_URL must name another role than DATABASE_URL: the owner of the schema".into(),
        ));
    }

    let admin = PgConnectOptions::from_str(admin_url)?;
    let turn = create_database_in_turn(&admin, &database).await?;
    let mut conn = connect_patiently(&admin.clone().database(&database)).await?;
    refuse_superusers(&mut conn, &role, &owner).await?;
    // The admin need not be a superuser: a role with CREATEROLE that owns
    // the database will do (CloudNativePG with superuser access off). Such a
    // role acts for the two roles it creates by being granted them, and
    // cannot make either a superuser (one that already is was refused above).
    let statements = sqlx::query_scalar!(
        r#"SELECT unnest(ARRAY[
            format('CREATE ROLE %I LOGIN', $1::text),
            format('ALTER ROLE %I WITH LOGIN NOCREATEDB NOCREATEROLE PASSWORD %L', $1::text, $3::text),
            format('CREATE ROLE %I LOGIN', $5::text),
            format('ALTER ROLE %I WITH LOGIN NOCREATEDB NOCREATEROLE PASSWORD %L', $5::text, $6::text)
         ] || CASE WHEN (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN ARRAY[]::text[]
                   ELSE ARRAY[format('GRANT %I, %I TO CURRENT_USER', $1::text, $5::text)] END
           || ARRAY[
            format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', $2::text, $5::text),
            format('ALTER SCHEMA %I OWNER TO %I', $2::text, $5::text),
            format('REASSIGN OWNED BY %I TO %I', $1::text, $5::text),
            format('GRANT USAGE ON SCHEMA %I TO %I', $2::text, $1::text),
            format('ALTER ROLE %I IN DATABASE %I SET search_path = %I', $1::text, $4::text, $2::text),
            format('ALTER ROLE %I IN DATABASE %I SET search_path = %I', $5::text, $4::text, $2::text),
            format('REVOKE ALL ON SCHEMA public FROM %I', $1::text),
            format('REVOKE ALL ON SCHEMA public FROM %I', $5::text)
        ]) AS "statement!""#,
        role,
        schema,
        password.as_deref(),
        database,
        owner,
        owner_password.as_deref(),
    )
    .fetch_all(&mut conn)
    .await?;
    for statement in statements {
        ignore_duplicate(conn.execute(AssertSqlSafe(statement)).await)?;
    }
    conn.close().await?;
    turn.close().await?;
    tracing::info!(role, owner, database, "bootstrap done");
    Ok(())
}

/// Takes the bootstrap's turn and creates `database` unless it exists; the
/// turn is held as long as the returned session.
///
/// Compose and Kubernetes start every service's bootstrap at once. Their
/// CREATE DATABASE, and their changes to the shared `public` schema, would
/// collide ("tuple concurrently updated"), so they take turns.
async fn create_database_in_turn(admin: &PgConnectOptions, database: &str) -> Result<sqlx::PgConnection, sqlx::Error> {
    let mut conn = connect_patiently(admin).await?;
    sqlx::query!("SELECT pg_advisory_lock(hashtextextended('socialloans:bootstrap', 0))").execute(&mut conn).await?;
    let exists =
        sqlx::query_scalar!(r#"SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1) AS "exists!""#, database)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        let create = sqlx::query_scalar!(r#"SELECT format('CREATE DATABASE %I', $1::text) AS "create!""#, database)
            .fetch_one(&mut conn)
            .await?;
        // Built by format(%I) in PostgreSQL itself: the name is quoted there.
        ignore_duplicate(conn.execute(AssertSqlSafe(create)).await)?;
    }
    Ok(conn)
}

/// A service's roles own and may do only their own: neither may be a superuser.
async fn refuse_superusers(conn: &mut sqlx::PgConnection, role: &str, owner: &str) -> Result<(), sqlx::Error> {
    let superusers = sqlx::query_scalar!(
        r#"SELECT rolname::text AS "rolname!" FROM pg_roles WHERE rolname IN ($1, $2) AND rolsuper ORDER BY 1"#,
        role,
        owner,
    )
    .fetch_all(conn)
    .await?;
    if superusers.is_empty() {
        return Ok(());
    }
    Err(sqlx::Error::Configuration(
        format!("{} must not be a superuser: a service's roles own and may do only its own", superusers.join(", "))
            .into(),
    ))
}

/// Concurrent bootstraps race on CREATE; the loser's "already exists" is success.
fn ignore_duplicate<T: Default>(result: Result<T, sqlx::Error>) -> Result<T, sqlx::Error> {
    match result {
        Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("42710" | "42P04" | "42P06" | "23505")) => {
            Ok(T::default())
        }
        other => other,
    }
}

/// The password in a `postgres://user:password@…` URL, percent-decoded.
fn url_password(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let userinfo = rest.split_once('@')?.0;
    let encoded = userinfo.split_once(':')?.1;
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = encoded.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Whether the database answers a trivial query within `timeout`; when a
/// connection fails, the pool's older connections are not trusted
/// ([`connection_lost`]).
pub async fn is_reachable(pool: &PgPool, timeout: Duration) -> bool {
    let probe = async {
        let mut conn = pool.acquire().await?;
        conn.ping().await
    };
    match tokio::time::timeout(timeout, probe).await {
        Ok(Ok(())) => true,
        // A connection that failed: the others may have too. A probe that
        // only waited too long (a busy pool) says nothing of them.
        Ok(Err(_)) => {
            connection_lost();
            false
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::url_password;
    use std::time::Duration;

    #[test]
    fn a_connection_opened_before_a_loss_is_stale_and_one_opened_after_is_not() {
        let opened_long_ago = Duration::from_secs(3600);
        super::connection_lost();
        assert!(super::opened_before_loss(opened_long_ago));
        std::thread::sleep(Duration::from_millis(5));
        assert!(!super::opened_before_loss(Duration::from_millis(1)), "opened after the loss");
    }

    #[test]
    fn password_is_read_and_percent_decoded_from_the_url() {
        assert_eq!(url_password("postgres://app:s%40cret@h:5432/db").as_deref(), Some("s@cret"));
        assert_eq!(url_password("postgres://app@h/db"), None);
    }
}
