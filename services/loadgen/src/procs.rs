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

/// The whole machine's CPU time so far, from `/proc/stat`'s first line, in
/// ticks: busy (user, nice, system, irq, softirq), stolen by the host, and
/// all of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Machine {
    pub busy: u64,
    pub steal: u64,
    pub total: u64,
}

/// The machine's CPU time so far.
pub fn machine() -> Machine {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    machine_of(stat.lines().next().unwrap_or_default())
}

fn machine_of(line: &str) -> Machine {
    // cpu user nice system idle iowait irq softirq steal guest guest_nice
    let t: Vec<u64> = line.split_whitespace().skip(1).map(|f| f.parse().unwrap_or(0)).collect();
    let at = |i: usize| t.get(i).copied().unwrap_or(0);
    Machine { busy: at(0) + at(1) + at(2) + at(5) + at(6), steal: at(7), total: t.iter().take(8).sum() }
}

/// The shares of the machine's CPU time between two readings that were
/// busy and stolen, in percent.
pub fn shares(before: Machine, after: Machine) -> (f64, f64) {
    let total = after.total.saturating_sub(before.total).max(1) as f64;
    let share = |a: u64, b: u64| a.saturating_sub(b) as f64 * 100.0 / total;
    (share(after.busy, before.busy), share(after.steal, before.steal))
}

/// Megabytes with one decimal.
pub fn mb(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / 1_048_576.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_line_gives_busy_steal_and_total_ticks() {
        let before = machine_of("cpu  100 0 50 800 10 0 5 20 0 0");
        let after = machine_of("cpu  150 0 70 810 10 0 5 40 0 0");
        assert_eq!(before, Machine { busy: 155, steal: 20, total: 985 });
        let (busy, steal) = shares(before, after);
        assert!((busy - 70.0).abs() < 1e-9 && (steal - 20.0).abs() < 1e-9, "{busy} {steal}");
        assert!(machine().total > 0);
    }

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
