//! Closed and open loops over an operation, with latencies per RPC.
//!
//! A closed loop keeps `callers` operations in flight, each starting the
//! next as soon as its last one answers: it finds the peak throughput. An
//! open loop starts operations at a fixed rate whatever the answers do, and
//! measures each from the moment it was due, so a stalled server shows as
//! latency rather than as fewer requests (no coordinated omission).

use std::{
    collections::BTreeMap,
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// What one run measured, per RPC label.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// Latencies of successful calls, by label.
    pub latencies: BTreeMap<&'static str, Vec<Duration>>,
    /// Failed calls, by label, with the first error seen.
    pub errors: BTreeMap<&'static str, (u64, String)>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

/// Figures for one RPC of a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Figures {
    /// Successful calls.
    pub count: usize,
    /// Failed calls.
    pub errors: u64,
    /// Successful calls per second.
    pub per_second: f64,
    /// Percentiles.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Slowest.
    pub max: Duration,
}

impl Run {
    fn record(&mut self, label: &'static str, result: Result<(), String>, latency: Duration) {
        match result {
            Ok(()) => self.latencies.entry(label).or_default().push(latency),
            Err(e) => {
                let entry = self.errors.entry(label).or_insert((0, e));
                entry.0 += 1;
            }
        }
    }

    fn merge(&mut self, other: Run) {
        for (label, mut l) in other.latencies {
            self.latencies.entry(label).or_default().append(&mut l);
        }
        for (label, (n, e)) in other.errors {
            self.errors.entry(label).or_insert((0, e)).0 += n;
        }
    }

    /// Adds `other`'s calls and time to this run's.
    pub fn absorb(&mut self, other: Run) {
        self.elapsed += other.elapsed;
        self.merge(other);
    }

    /// The figures of `label`.
    pub fn figures(&self, label: &str) -> Figures {
        let mut l = self.latencies.get(label).cloned().unwrap_or_default();
        l.sort_unstable();
        let errors = self.errors.get(label).map_or(0, |e| e.0);
        if l.is_empty() {
            return Figures { errors, ..Figures::default() };
        }
        let at = |p: f64| l[((l.len() as f64 * p).ceil() as usize).clamp(1, l.len()) - 1];
        Figures {
            count: l.len(),
            errors,
            per_second: l.len() as f64 / self.elapsed.as_secs_f64(),
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: *l.last().unwrap_or(&Duration::ZERO),
        }
    }

    /// Successful calls per second over all labels.
    pub fn total_per_second(&self) -> f64 {
        self.latencies.values().map(Vec::len).sum::<usize>() as f64 / self.elapsed.as_secs_f64()
    }

    /// The first error of any label, if any call failed.
    pub fn first_error(&self) -> Option<String> {
        self.errors.iter().next().map(|(label, (n, e))| format!("{n} × {label}: {e}"))
    }
}

/// `callers` loops calling `op(i)` (i counts calls across all callers) for `duration`.
pub async fn closed<F, Fut>(callers: usize, duration: Duration, op: F) -> Run
where
    F: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = (&'static str, Result<(), String>)> + Send,
{
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::with_capacity(callers);
    for _ in 0..callers {
        let op = op.clone();
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            let mut run = Run::default();
            while Instant::now() < deadline {
                let i = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let t = Instant::now();
                let (label, result) = op(i).await;
                run.record(label, result, t.elapsed());
            }
            run
        }));
    }
    let mut run = Run::default();
    for task in tasks {
        if let Ok(part) = task.await {
            run.merge(part);
        }
    }
    run.elapsed = started.elapsed();
    run
}

/// Starts `op(i)` `rate` times a second for `duration`, at most `in_flight`
/// at a time (beyond that, calls count as errors rather than pile up), and
/// measures each from the moment it was due.
pub async fn open<F, Fut>(rate: f64, duration: Duration, in_flight: usize, op: F) -> Run
where
    F: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = (&'static str, Result<(), String>)> + Send + 'static,
{
    let run = Arc::new(Mutex::new(Run::default()));
    let gate = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let interval = Duration::from_secs_f64(1.0 / rate.max(1.0));
    let started = Instant::now();
    let total = (duration.as_secs_f64() * rate) as u64;
    let mut tasks = Vec::new();
    for i in 0..total {
        let due = started + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let Ok(permit) = gate.clone().try_acquire_owned() else {
            run.lock().unwrap_or_else(|e| e.into_inner()).record(
                "overload",
                Err("too many in flight".into()),
                Duration::ZERO,
            );
            continue;
        };
        let op = op.clone();
        let run = run.clone();
        tasks.push(tokio::spawn(async move {
            let (label, result) = op(i).await;
            let latency = due.elapsed();
            run.lock().unwrap_or_else(|e| e.into_inner()).record(label, result, latency);
            drop(permit);
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let mut run = std::mem::take(&mut *run.lock().unwrap_or_else(|e| e.into_inner()));
    run.elapsed = started.elapsed();
    run
}

/// Milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut run = Run { elapsed: Duration::from_secs(2), ..Run::default() };
        for n in 1..=100u64 {
            run.record("get", Ok(()), Duration::from_millis(n));
        }
        run.record("get", Err("boom".into()), Duration::ZERO);
        let f = run.figures("get");
        assert_eq!((f.count, f.errors), (100, 1));
        assert_eq!(
            (f.p50, f.p90, f.p99, f.max),
            (
                Duration::from_millis(50),
                Duration::from_millis(90),
                Duration::from_millis(99),
                Duration::from_millis(100)
            )
        );
        assert_eq!(f.per_second, 50.0);
        assert_eq!(run.figures("list").count, 0);
    }

    #[tokio::test]
    async fn an_open_loop_offers_the_rate_it_was_given() {
        let run = open(200.0, Duration::from_millis(500), 64, |_| async { ("noop", Ok(())) }).await;
        assert_eq!(run.figures("noop").count, 100);
        let closed_run = closed(4, Duration::from_millis(100), |i| async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            ("sleep", if i == 0 { Err("first".to_owned()) } else { Ok(()) })
        })
        .await;
        let f = closed_run.figures("sleep");
        assert!(f.count >= 20 && f.count <= 44, "{f:?}");
        assert_eq!(f.errors, 1);
    }
}
