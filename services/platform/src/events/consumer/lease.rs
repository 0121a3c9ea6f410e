//! One replica consumes a subscription at a time: the lease, and the
//! backoff of those waiting for it.

use super::*;

/// A session advisory lock on a dedicated connection: held while it lives.
pub(super) struct Lease {
    conn: PgConnection,
}

impl Lease {
    /// Takes the subscription's lease on `standby`'s connection (or a new
    /// one): the lease, or `None` with the connection kept in `standby` for
    /// the next try.
    pub(super) async fn acquire(
        pool: &PgPool,
        subscription: &str,
        standby: &mut Option<PgConnection>,
    ) -> Result<Option<Lease>, sqlx::Error> {
        let mut conn = match standby.take() {
            Some(conn) => conn,
            None => pool.acquire().await?.detach(),
        };
        // Keyed by schema too: two services may name a subscription alike.
        let held = sqlx::query_scalar!(
            r#"SELECT pg_try_advisory_lock(hashtextextended(current_schema() || ':consumer:' || $1, 0)) AS "held!""#,
            subscription,
        )
        .fetch_one(&mut conn)
        .await?;
        if held {
            Ok(Some(Lease { conn }))
        } else {
            *standby = Some(conn);
            Ok(None)
        }
    }

    pub(super) async fn alive(&mut self) -> bool {
        matches!(tokio::time::timeout(Duration::from_secs(5), self.conn.ping()).await, Ok(Ok(())))
    }
}

/// The consumer's backoff between reconnections and retries: 100 ms to 5 s.
pub(super) fn backoff() -> crate::backoff::Backoff {
    crate::backoff::Backoff::new(Duration::from_millis(100), Duration::from_secs(5))
}

/// Sleeps `delay`; true when `stop` turned true first.
pub(super) async fn sleep_or_stop(delay: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    let stopped = tokio::select! {
        () = tokio::time::sleep(delay) => None,
        () = crate::events::until_stopped(stop) => Some(true),
    };
    stopped.unwrap_or_else(|| *stop.borrow())
}
