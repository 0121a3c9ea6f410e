//! A service's background work — consumers, the sequencer, the LISTEN
//! connection, retention, key refresh, the health port — started in one
//! place and joined when the service stops, so that a stopped service holds
//! no database session and runs nothing.

use std::{future::Future, sync::Arc, time::Duration};

use tokio::task::JoinHandle;

/// The tasks of one service; clones share them.
#[derive(Debug, Clone, Default)]
pub struct Background(Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>);

impl Background {
    /// Runs `work`, which ends by itself when the service stops (it watches
    /// the service's stop signal).
    pub fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(work);
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(handle);
    }

    /// Waits for every task to end, at most `within` in all; what still runs
    /// then is aborted, and said so.
    pub async fn join(&self, within: Duration) {
        let handles = std::mem::take(&mut *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        let deadline = tokio::time::Instant::now() + within;
        let mut late = 0;
        for mut handle in handles {
            if tokio::time::timeout_at(deadline, &mut handle).await.is_err() {
                handle.abort();
                let _ = handle.await;
                late += 1;
            }
        }
        if late > 0 {
            tracing::warn!(late, "background tasks did not end in time and were aborted");
        }
    }

    /// How many tasks were started and not yet joined.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).len()
    }

    /// Whether none was started since the last join.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn joining_waits_for_work_that_ends_and_aborts_work_that_does_not() {
        let background = Background::default();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        background.spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = done_tx.send(());
        });
        let (dropped_tx, dropped_rx) = tokio::sync::oneshot::channel::<()>();
        background.spawn(async move {
            let _keep = dropped_tx;
            std::future::pending::<()>().await;
        });
        assert_eq!(background.len(), 2);
        let started = std::time::Instant::now();
        background.join(Duration::from_millis(300)).await;
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(done_rx.await.is_ok(), "work that ends is waited for");
        assert!(dropped_rx.await.is_err(), "work that does not end is aborted (its state dropped)");
        assert!(background.is_empty());
    }
}
