//! What a process costs, from `/proc`: resident memory now and at its peak,
//! and CPU time used.

use std::time::Duration;

/// A process's resources at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// Resident set size now, in bytes.
    pub rss: u64,
    /// The highest resident set size so far (VmHWM), in bytes.
    pub peak_rss: u64,
    /// User plus system CPU time so far.
    pub cpu: Duration,
}

fn kib(status: &str, field: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// The usage of process `pid`, if it exists.
pub fn usage(pid: u32) -> Option<Usage> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the name.
    let per_second = 100; // USER_HZ on Linux
    let cpu = Duration::from_millis((ticks(11) + ticks(12)) * 1000 / per_second);
    Some(Usage { rss: kib(&status, "VmRSS:"), peak_rss: kib(&status, "VmHWM:"), cpu })
}

/// Megabytes with one decimal.
pub fn mb(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / 1_048_576.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_memory_and_cpu() {
        let mut spin = 0u64;
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_millis(30) {
            spin = spin.wrapping_add(1);
        }
        let u = usage(std::process::id()).expect("our own /proc entry");
        assert!(u.rss > 1_000_000 && u.peak_rss >= u.rss, "{u:?}");
        assert!(u.cpu > Duration::ZERO, "{u:?} after {spin} spins");
        assert_eq!(mb(1_572_864), "1.5");
    }
}
