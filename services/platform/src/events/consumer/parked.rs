//! Events a handler kept rejecting: parked, and replayed on request.

use super::*;

/// Replays the parked events an operator marked (`replay_requested`, set by
/// the `replay-parked` command): each is fetched again from the feed (its
/// payload may never have arrived), applied by the handler, and its row
/// removed, in one transaction. The checkpoint does not move: the feed has
/// long gone past the event. A replay that fails for any reason — the event
/// pruned from the feed, the feed refusing, the handler rejecting it again —
/// keeps the row, unmarked, with the new error, and the consumer goes on;
/// only a failure of the consumer's own database is an error here.
pub(super) async fn replay_parked<H: Handler>(
    pool: &PgPool,
    subscription: &Subscription,
    handler: &H,
    state: &ConsumerMetrics,
) -> Result<(), String> {
    let marked = sqlx::query!(
        "SELECT position, event_type FROM consumer_dead_letter
          WHERE subscription = $1 AND replay_requested ORDER BY position",
        subscription.name,
    )
    .fetch_all(pool)
    .await
    .map_err(|e| format!("reading the events to replay: {e}"))?;
    for (position, event_type) in marked.into_iter().map(|row| (row.position, row.event_type)) {
        let one = Subscription { types: vec![event_type.clone()], ..subscription.clone() };
        let fetched = match open(&one, position - 1).await {
            Ok(mut stream) => loop {
                match tokio::time::timeout(subscription.idle_timeout, stream.message()).await {
                    Ok(Ok(Some(response))) => match response.event {
                        Some(event) => break Ok(event),
                        None => continue, // a heartbeat: nothing at or after it yet
                    },
                    Ok(Err(status)) => break Err(format!("{}: {}", status.code(), status.message())),
                    Ok(Ok(None)) | Err(_) => break Err("the feed sent nothing".to_owned()),
                }
            },
            Err(reason) => Err(reason),
        };
        let outcome = match fetched {
            Ok(event) if event.position == position && event.omitted_payload_bytes == 0 => {
                let mut tx = pool.begin().await.map_err(|e| e.to_string())?;
                match CatchUnwind(Box::pin(handler.handle(&mut tx, &event))).await {
                    Ok(Ok(())) => {
                        sqlx::query!(
                            "DELETE FROM consumer_dead_letter WHERE subscription = $1 AND position = $2",
                            subscription.name,
                            position,
                        )
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| e.to_string())?;
                        tx.commit().await.map_err(|e| e.to_string())?;
                        state.applied.inc();
                        tracing::warn!(subscription = %subscription.name, position, event_type, "parked event replayed and applied");
                        continue;
                    }
                    Ok(Err(err)) => format!("replay failed: {err}"),
                    Err(panic) => format!("replay failed: the handler panicked: {panic}"),
                }
            }
            Ok(event) if event.position == position => format!(
                "replay failed: the payload ({} bytes) is still larger than this consumer receives",
                event.omitted_payload_bytes
            ),
            Ok(_) => "replay failed: the event is no longer on the producer's feed".to_owned(),
            Err(reason) => format!("replay failed: the feed did not give the event again ({reason})"),
        };
        tracing::error!(subscription = %subscription.name, position, event_type, error = %outcome, "parked event not replayed");
        sqlx::query!(
            "UPDATE consumer_dead_letter SET replay_requested = false, attempts = attempts + 1, error = $3
              WHERE subscription = $1 AND position = $2",
            subscription.name,
            position,
            outcome,
        )
        .execute(pool)
        .await
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Marks parked events of `subscription` (all, or the one at `position`) for
/// replay; the consumer replays them when it next connects. Returns how many.
pub async fn request_replay(pool: &PgPool, subscription: &str, position: Option<i64>) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query!(
        "UPDATE consumer_dead_letter SET replay_requested = true
          WHERE subscription = $1 AND ($2::bigint IS NULL OR position = $2)",
        subscription,
        position,
    )
    .execute(pool)
    .await?
    .rows_affected())
}

/// Parks `event`, counts and logs it once; the checkpoint moves past it.
pub(super) async fn park_once(
    pool: &PgPool,
    subscription: &Subscription,
    event: &Event,
    rejections: u32,
    error: &str,
    state: &ConsumerMetrics,
    span: &tracing::Span,
) -> Result<Applied, String> {
    let error: String = error.chars().take(2000).collect();
    park(pool, &subscription.name, event, rejections, &error).await.map_err(|e| format!("parking: {e}"))?;
    state.parked.inc();
    let _entered = span.enter();
    tracing::error!(
        subscription = %subscription.name,
        position = event.position,
        event_id = %event.id,
        event_type = %event.r#type,
        rejections,
        error = %error,
        "POISON EVENT parked in consumer_dead_letter; the feed goes on"
    );
    Ok(Applied::Parked)
}

pub(super) async fn park(
    pool: &PgPool,
    subscription: &str,
    event: &Event,
    attempts: u32,
    error: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let checkpoint = lock_checkpoint(&mut tx, subscription).await?;
    if event.position <= checkpoint {
        return Ok(()); // another replica dealt with it meanwhile
    }
    let id = uuid::Uuid::parse_str(&event.id).unwrap_or_default();
    sqlx::query!(
        "INSERT INTO consumer_dead_letter (subscription, position, event_id, event_type, aggregate, payload, attempts, error)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        subscription,
        event.position,
        id,
        event.r#type,
        event.aggregate,
        event.payload.as_ref().map(|p| p.value.clone()).unwrap_or_default(),
        attempts as i32,
        error,
    )
    .execute(&mut *tx)
    .await?;
    super::save_checkpoint(&mut tx, subscription, event.position).await?;
    tx.commit().await
}
