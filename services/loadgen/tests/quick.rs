//! The benchmark works: `loadgen --quick` runs every scenario briefly and
//! small against a real suite and writes a report with every section and a
//! verdict for every target. The figures of a quick run mean nothing (debug
//! build, fractions of a second); this only keeps the benchmark from rotting.

#[test]
fn a_quick_run_measures_every_scenario_and_writes_the_report() {
    let out = std::env::temp_dir().join(format!("loadgen-quick-{}.md", std::process::id()));
    // Outside the kernel's ephemeral ports (see the launcher's port offset), apart from the story tests'.
    let offset = 13_000 + (std::process::id() % 24) * 100;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["--quick", "--out"])
        .arg(&out)
        .env("SOCIALLOANS_PORT_OFFSET", offset.to_string())
        .env_remove("DATABASE_URL")
        .output()
        .expect("loadgen runs");
    let log = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{log}\n{}", String::from_utf8_lossy(&output.stderr));
    let report = std::fs::read_to_string(&out).expect("the report is written");
    let _ = std::fs::remove_file(&out);
    for section in [
        "## Targets",
        "## The pilot story end to end, and event propagation",
        "## The read path as the table grows",
        "## Read path: the suite against gRPC alone and PostgreSQL alone",
        "## Write path: the suite against the same transactions without gRPC",
        "## Latency at half the peak (open loop)",
        "## The portfolio impact report",
        "## Memory and start-up",
        "## Independent contenders: h2load and pgbench",
    ] {
        assert!(report.contains(section), "{section:?} missing:\n{report}");
    }
    let verdicts = report.lines().filter(|l| l.ends_with("| yes |") || l.ends_with("| **no** |")).count();
    // h2load's and pgbench's targets are judged where the tools are installed (CI installs them).
    let independent = if report.contains("| GetApplication | h2load | —") { 0 } else { 4 };
    assert_eq!(
        verdicts,
        2 + 3 + 6 + 1 + 1 + 3 * 5 + independent,
        "a verdict per target (footprint: 3 per service):\n{report}"
    );
    assert!(report.contains("| GetApplication's SELECT | pgbench |"), "pgbench ran:\n{report}");
    assert!(report.contains("| ListApplications' SELECT | pgbench |"), "pgbench ran the list:\n{report}");
    assert!(report.contains("| GetApplication: tonic + sqlx floor | h2load |"), "the floor ran:\n{report}");
    assert!(!report.contains("> errors"), "no call failed:\n{report}");
    // Each write's floor in the open loop: its handlers in-process, at the suite's rate, without a failure.
    for rpc in ["CreateApplication", "SubmitApplication", "TagLoan"] {
        let row = report
            .lines()
            .find(|l| l.starts_with(&format!("| {rpc}: its handlers in-process |")))
            .unwrap_or_else(|| panic!("{rpc}'s in-process open loop is missing:\n{report}"));
        let errors = row.split('|').map(str::trim).nth(7);
        assert_eq!(errors, Some("0"), "{rpc}'s in-process open loop failed: {row}");
    }
    assert!(report.contains("0 failed"), "every pilot story ran to the end:\n{report}");
}
