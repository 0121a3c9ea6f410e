//! A process that dies without running `Drop` (killed by a test runner, or a
//! cluster kept in a `static`) must not leave its server or directory behind.
//!
//! The test re-runs this test binary as a helper process that starts a
//! cluster, reports it, and then gets SIGKILLed.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const HELPER_ENV: &str = "PGCLUSTER_WATCHDOG_HELPER";
const MARKER: &str = "PGCLUSTER-HELPER";

/// Only does something when started by the test below.
#[test]
fn helper_process() {
    if std::env::var_os(HELPER_ENV).is_none() {
        return;
    }
    let cluster = pgcluster::Cluster::start_temporary().unwrap();
    let root = cluster.data_dir().parent().unwrap().display().to_string();
    println!("{MARKER} {} {root}", cluster.port());
    // Wait to be killed; Drop never runs.
    std::thread::sleep(Duration::from_secs(120));
}

#[test]
fn killed_owner_leaves_nothing_behind() {
    let mut helper = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "helper_process", "--nocapture", "--test-threads=1"])
        .env(HELPER_ENV, "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(helper.stdout.take().unwrap());
    let line =
        stdout.lines().map(Result::unwrap).find(|line| line.contains(MARKER)).expect("helper reported its cluster");
    // libtest may print "test helper_process ... " on the same line first.
    let (_, report) = line.split_once(MARKER).unwrap();
    let mut fields = report.split_whitespace();
    let port: u16 = fields.next().unwrap().parse().unwrap();
    let root = PathBuf::from(fields.next().unwrap());
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
    assert!(root.exists());

    helper.kill().unwrap();
    helper.wait().unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    while root.exists() || TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "server on port {port} / {} left behind", root.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}
