//! The one backoff every retry loop of the platform uses: doubling from a
//! floor to a ceiling, with up to 25% jitter so that replicas which lost the
//! same database or feed at the same moment do not come back in lockstep.

use std::time::Duration;

/// Exponential backoff with jitter between `floor` and `ceiling`.
#[derive(Debug, Clone)]
pub struct Backoff {
    floor: Duration,
    ceiling: Duration,
    next: Duration,
}

impl Backoff {
    /// Starts at `floor`, doubles after each wait, never beyond `ceiling`.
    pub fn new(floor: Duration, ceiling: Duration) -> Self {
        Self { floor, ceiling: ceiling.max(floor), next: floor }
    }

    /// After a success: the next failure waits `floor` again.
    pub fn reset(&mut self) {
        self.next = self.floor;
    }

    /// How long to wait now; the wait after it is twice as long.
    pub fn next_wait(&mut self) -> Duration {
        let current = self.next;
        self.next = (self.next * 2).min(self.ceiling);
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        current + current.mul_f64(f64::from(nanos % 1000) / 4000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_from_the_floor_to_the_ceiling_with_at_most_a_quarter_more_and_start_again_after_a_reset() {
        let (floor, ceiling) = (Duration::from_millis(100), Duration::from_millis(1000));
        let mut backoff = Backoff::new(floor, ceiling);
        let waits: Vec<Duration> = (0..6).map(|_| backoff.next_wait()).collect();
        for (wait, base) in waits.iter().zip([100, 200, 400, 800, 1000, 1000]) {
            let base = Duration::from_millis(base);
            assert!(*wait >= base && *wait <= base.mul_f64(1.25), "{wait:?} for {base:?}");
        }
        backoff.reset();
        assert!(backoff.next_wait() <= floor.mul_f64(1.25));
    }
}
