//! Keeps the services of `socialloans up` running: a service that exits
//! (a crash, a `kill -9`) is logged with its exit status and started again,
//! after 1 s, then 2, 4 … up to 30 s while it keeps dying; one that dies
//! [`GIVE_UP_AFTER`] times within a minute is given up on, loudly, and the
//! whole suite stops (exit status non-zero), rather than crash-looping
//! unseen. A service that has run for a minute starts its backoff afresh.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use crate::services::{Suite, spawn_service};

/// Exits within [`CRASH_WINDOW`] after which a service is given up on.
pub const GIVE_UP_AFTER: usize = 5;
/// The window those exits are counted in.
pub const CRASH_WINDOW: Duration = Duration::from_secs(60);
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What the supervisor knows of one service.
#[derive(Debug, Default)]
struct Watch {
    exits: VecDeque<Instant>,
    backoff: Option<Duration>,
    restart_at: Option<Instant>,
    started: Option<Instant>,
}

impl Watch {
    /// Records an exit at `now`; the delay before the next start, or `None`
    /// to give up.
    fn exited(&mut self, now: Instant) -> Option<Duration> {
        self.exits.push_back(now);
        while self.exits.front().is_some_and(|t| now.duration_since(*t) > CRASH_WINDOW) {
            self.exits.pop_front();
        }
        if self.exits.len() >= GIVE_UP_AFTER {
            return None;
        }
        let stable = self.started.is_some_and(|t| now.duration_since(t) >= CRASH_WINDOW);
        let delay = match self.backoff {
            Some(previous) if !stable => (previous * 2).min(MAX_BACKOFF),
            _ => FIRST_BACKOFF,
        };
        self.backoff = Some(delay);
        self.restart_at = Some(now + delay);
        Some(delay)
    }
}

/// Watches the suite's services until one has to be given up on; returns
/// why (the caller stops the suite). Runs until dropped otherwise.
pub async fn supervise(suite: &mut Suite) -> Result<(), String> {
    let mut watches: Vec<Watch> =
        suite.children.0.iter().map(|_| Watch { started: Some(Instant::now()), ..Watch::default() }).collect();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = Instant::now();
        for (i, watch) in watches.iter_mut().enumerate() {
            let (name, child) = &mut suite.children.0[i];
            let name: &'static str = name;
            if watch.restart_at.is_none()
                && let Ok(Some(status)) = child.try_wait()
            {
                match watch.exited(now) {
                    Some(delay) => {
                        println!("{name:>12} | exited ({status}); starting it again in {} s", delay.as_secs());
                    }
                    None => {
                        let message = format!(
                            "{name} exited {GIVE_UP_AFTER} times within {} s (last: {status}); \
                             giving up and stopping the suite — its log is above",
                            CRASH_WINDOW.as_secs()
                        );
                        println!("{name:>12} | {message}");
                        return Err(message);
                    }
                }
            }
            if watch.restart_at.is_some_and(|at| now >= at) {
                watch.restart_at = None;
                match spawn_service(&suite.binary, name, &suite.serve_envs[i]) {
                    Ok(started) => {
                        println!("{name:>12} | started again, pid {}", started.id());
                        suite.children.0[i].1 = started;
                        watch.started = Some(now);
                    }
                    Err(err) => {
                        println!("{name:>12} | cannot start it again: {err}");
                        if watch.exited(now).is_none() {
                            return Err(format!("{name} cannot be started again: {err}"));
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_back_off_from_one_second_to_thirty_and_give_up_after_five_exits_a_minute() {
        let mut watch = Watch::default();
        let t0 = Instant::now();
        let delays: Vec<Option<u64>> =
            (0..5).map(|i| watch.exited(t0 + Duration::from_secs(i)).map(|d| d.as_secs())).collect();
        assert_eq!(delays, [Some(1), Some(2), Some(4), Some(8), None], "the fifth exit within a minute gives up");

        // Exits spread over more than a minute never give up, and the delay stops at 30 s.
        let mut watch = Watch::default();
        let mut last = None;
        for i in 0..20 {
            last = watch.exited(t0 + Duration::from_secs(i * 20));
            assert!(last.is_some(), "exit {i} gave up");
        }
        assert_eq!(last, Some(MAX_BACKOFF));

        // A service that ran for a minute starts afresh at 1 s.
        let mut watch = Watch { started: Some(t0), backoff: Some(MAX_BACKOFF), ..Watch::default() };
        assert_eq!(watch.exited(t0 + Duration::from_secs(120)), Some(FIRST_BACKOFF));
    }
}
