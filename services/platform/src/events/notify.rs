//! One LISTEN connection per process, fanned out to whoever waits for news:
//! the sequencer (events appended) and the feeds (positions visible).
//!
//! Notifications can be lost while the connection is down, so every waiter
//! also polls slowly; after a reconnect both channels are bumped so that
//! everyone looks again at once.

use std::time::Duration;

use sqlx::{PgPool, postgres::PgListener};
use tokio::sync::watch;

use super::outbox::{appended_channel, positioned_channel};

/// Receivers that change whenever their channel was notified.
#[derive(Clone, Debug)]
pub struct Notifier {
    /// Bumped when events were appended (the sequencer listens).
    pub appended: watch::Receiver<u64>,
    /// Bumped when new positions became visible (feeds listen).
    pub positioned: watch::Receiver<u64>,
}

/// Starts listening for `schema`'s channels until `stop` turns true.
pub fn spawn(
    background: &crate::background::Background,
    pool: PgPool,
    schema: &'static str,
    mut stop: watch::Receiver<bool>,
) -> Notifier {
    let (appended_tx, appended) = watch::channel(0u64);
    let (positioned_tx, positioned) = watch::channel(0u64);
    let bump = |tx: &watch::Sender<u64>| tx.send_modify(|n| *n = n.wrapping_add(1));
    background.spawn(async move {
        let appended_name = appended_channel(schema);
        let positioned_name = positioned_channel(schema);
        let mut backoff = crate::backoff::Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        loop {
            let listener = async {
                let mut listener = PgListener::connect_with(&pool).await?;
                listener.listen_all([appended_name.as_str(), positioned_name.as_str()]).await?;
                Ok::<_, sqlx::Error>(listener)
            };
            let mut listener = tokio::select! {
                listener = listener => match listener {
                    Ok(listener) => listener,
                    Err(err) => {
                        tracing::debug!(error = %err, "LISTEN connection failed; retrying");
                        tokio::select! {
                            () = tokio::time::sleep(backoff.next_wait()) => {}
                            () = super::until_stopped(&mut stop) => return,
                        }
                        continue;
                    }
                },
                () = super::until_stopped(&mut stop) => return,
            };
            backoff.reset();
            // Anything may have happened while we were not listening.
            bump(&appended_tx);
            bump(&positioned_tx);
            loop {
                let received = tokio::select! {
                    received = listener.try_recv() => received,
                    () = super::until_stopped(&mut stop) => return,
                };
                match received {
                    Ok(Some(notification)) if notification.channel() == appended_name => bump(&appended_tx),
                    Ok(Some(_)) => bump(&positioned_tx),
                    // The connection was lost and re-established: look again.
                    Ok(None) => {
                        crate::db::connection_lost();
                        bump(&appended_tx);
                        bump(&positioned_tx);
                    }
                    Err(err) => {
                        tracing::debug!(error = %err, "LISTEN connection lost");
                        crate::db::connection_lost();
                        break;
                    }
                }
            }
        }
    });
    Notifier { appended, positioned }
}
