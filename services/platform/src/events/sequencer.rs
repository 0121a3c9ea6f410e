//! Gives committed events their positions, in commit order, and prunes old ones.
//!
//! Why positions are given after commit: a position taken inside the
//! producing transaction (a sequence, say) can become visible out of order —
//! the transaction holding 7 may commit after the one holding 8, and a
//! consumer that already read 8 would skip 7 for ever. Here the producing
//! transaction writes no position. The sequencer, holding the lock of
//! `outbox_head`'s single row, numbers every committed, unnumbered event
//! `head+1, head+2, …` and commits; sequencers on several replicas take turns
//! on that lock. A reader therefore always sees a gap-free prefix of the feed.

use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;

use super::outbox::positioned_channel;
use crate::metrics::Metrics;

/// Events numbered per round at most.
const BATCH: i64 = 1000;
/// How often retention runs.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// Numbers every committed, unnumbered event; returns how many, and the new head.
#[tracing::instrument(level = "debug", skip(pool))]
pub async fn sequence_once(pool: &PgPool, schema: &str) -> Result<(u64, i64), sqlx::Error> {
    // The common case — nothing waiting — takes no lock and writes nothing.
    let now = sqlx::query!(
        r#"SELECT EXISTS (SELECT FROM outbox WHERE position IS NULL) AS "waiting!",
                  (SELECT last_position FROM outbox_head) AS "head!""#
    )
    .fetch_one(pool)
    .await?;
    if !now.waiting {
        return Ok((0, now.head));
    }
    let mut tx = pool.begin().await?;
    let head = sqlx::query_scalar!("SELECT last_position FROM outbox_head FOR UPDATE").fetch_one(&mut *tx).await?;
    let numbered = sqlx::query_scalar!(
        r#"UPDATE outbox AS o SET position = $1 + s.n
             FROM (SELECT id, row_number() OVER (ORDER BY recorded) AS n
                     FROM outbox WHERE position IS NULL ORDER BY recorded LIMIT $2) AS s
            WHERE o.id = s.id
          RETURNING o.position AS "position!""#,
        head,
        BATCH,
    )
    .fetch_all(&mut *tx)
    .await?;
    let count = numbered.len() as u64;
    let new_head = head + count as i64;
    if count > 0 {
        sqlx::query!("UPDATE outbox_head SET last_position = $1", new_head).execute(&mut *tx).await?;
        sqlx::query!("SELECT pg_notify($1, $2)", positioned_channel(schema), new_head.to_string())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok((count, new_head))
}

/// Deletes the feed's prefix older than `retention`; returns the new
/// `pruned_through`. Positions stay a prefix: everything up to the last
/// position older than the cut-off goes.
#[tracing::instrument(level = "debug", skip(pool))]
pub async fn prune(pool: &PgPool, retention: Duration) -> Result<i64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query!("SELECT 1 AS locked FROM outbox_head FOR UPDATE").fetch_one(&mut *tx).await?;
    let pruned = sqlx::query_scalar!(
        "WITH cut AS (
             SELECT max(position) AS position FROM outbox
              WHERE position IS NOT NULL AND occur_time < now() - make_interval(secs => $1)),
         gone AS (
             DELETE FROM outbox WHERE position <= (SELECT position FROM cut) RETURNING position)
         UPDATE outbox_head
            SET pruned_through = GREATEST(pruned_through, COALESCE((SELECT max(position) FROM gone), 0))
         RETURNING pruned_through",
        retention.as_secs_f64(),
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(pruned)
}

/// Runs the sequencer until `stop`: on every append notification, and every
/// `poll` as the safety net. `retention` of zero keeps events for ever.
pub async fn run(
    pool: PgPool,
    schema: &'static str,
    mut appended: watch::Receiver<u64>,
    poll: Duration,
    retention: Duration,
    metrics: Metrics,
    mut stop: watch::Receiver<bool>,
) {
    let mut last_prune = tokio::time::Instant::now();
    loop {
        match sequence_once(&pool, schema).await {
            Ok((count, head)) => {
                metrics.set_outbox_head(head);
                if count as i64 == BATCH {
                    continue; // more are waiting
                }
            }
            Err(err) => tracing::warn!(error = %err, "sequencing the outbox failed; retrying"),
        }
        if !retention.is_zero() && last_prune.elapsed() >= PRUNE_EVERY {
            last_prune = tokio::time::Instant::now();
            match prune(&pool, retention).await {
                Ok(through) => tracing::debug!(pruned_through = through, "outbox retention applied"),
                Err(err) => tracing::warn!(error = %err, "outbox retention failed"),
            }
        }
        tokio::select! {
            _ = appended.changed() => {}
            () = tokio::time::sleep(poll) => {}
            () = super::until_stopped(&mut stop) => return,
        }
    }
}
