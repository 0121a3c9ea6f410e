//! The pilot story end to end, as a newcomer meets it: `socialloans up`
//! starts a private PostgreSQL and the three services as real processes;
//! `socialloans demo` drives the story through the real gRPC APIs (checking
//! each step's state as it goes); then this test reads each service's state
//! over gRPC and the files the story wrote, and stops the suite with SIGTERM.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use e2e::{authorized, pilots};
use socialloans_contracts::{
    applications::{self as ap, applications_service_client::ApplicationsServiceClient},
    committee::{self as cm, committee_service_client::CommitteeServiceClient},
    monitoring::{self as mo, monitoring_service_client::MonitoringServiceClient},
};
use socialloans_platform::{Role, auth::DevTokenMinter};

const SUITE: &str = env!("CARGO_BIN_EXE_suite");

/// A port offset at which all six of the suite's ports are free now, from
/// 11,000 to 12,900: the gRPC ports above the kernel's ephemeral range, the
/// metrics ports below it (loadgen's quick run takes 13,000 and up).
fn free_offset(attempt: u16) -> u16 {
    let start = (std::process::id() % 20) as u16 + attempt * 7;
    (0..20u16)
        .map(|k| 11_000 + (start + k) % 20 * 100)
        .find(|offset| {
            [50051u16, 50052, 50053, 50054, 50055, 9091, 9092, 9093, 9094, 9095, 2525]
                .iter()
                .all(|port| std::net::TcpListener::bind(("127.0.0.1", port + offset)).is_ok())
        })
        .expect("a free set of ports")
}

/// `suite up`, stopped with SIGTERM (and killed if still there) when dropped.
struct Up {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Up {
    fn start(home: &Path, offset: u16) -> Up {
        let mut child = Command::new(SUITE)
            .arg("up")
            .env("SOCIALLOANS_HOME", home)
            .env("SOCIALLOANS_PORT_OFFSET", offset.to_string())
            .env_remove("DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("suite up starts");
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        // Both streams are read: a port taken shows as an error on stderr (the
        // mail relay's, say), and the suite is then started again elsewhere.
        let errors = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("{line}");
                if errors.send(line).is_err() {
                    break;
                }
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Up { child, lines, seen: Vec::new() }
    }

    /// `up` on a free set of ports, until it says the suite is up; the offset.
    /// The ports sit in the kernel's ephemeral range, so one found free can
    /// be taken by an outgoing connection before a service binds it: then
    /// the suite is started again on other ports (three times at most).
    fn start_on_free_ports(home: &Path) -> (Up, u16) {
        for attempt in 0..3 {
            let offset = free_offset(attempt);
            let mut up = Up::start(home, offset);
            if up.wait_for("Social Loans is up", Duration::from_secs(120)) {
                return (up, offset);
            }
            assert!(
                up.seen.iter().any(|l| l.contains("Address already in use")),
                "the suite did not come up: {:?}",
                up.seen
            );
        }
        panic!("three sets of free ports were taken before the services bound them");
    }

    /// Waits for a line containing `text`, at most `limit`.
    fn wait_for(&mut self, text: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while let Ok(line) = self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            let found = line.contains(text);
            self.seen.push(line);
            if found {
                return true;
            }
        }
        false
    }

    /// The pid `service` was last started with, from what `up` said.
    fn pid_of(&self, service: &str) -> Option<i32> {
        self.seen
            .iter()
            .rev()
            .filter(|l| l.trim_start().starts_with(&format!("{service} |")))
            .find_map(|l| l.rsplit_once("pid ").and_then(|(_, pid)| pid.trim().parse().ok()))
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        rustix::process::kill_process(rustix::process::Pid::from_child(&self.child), rustix::process::Signal::TERM)
            .expect("SIGTERM");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "suite up did not stop within 60 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.terminate();
        }
    }
}

struct Home(PathBuf);

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `socialloans demo` against the suite up in `home`, run to its end.
async fn demo(home: &std::path::Path, offset: u16) -> std::process::Output {
    let home = home.to_owned();
    tokio::task::spawn_blocking(move || {
        Command::new(SUITE)
            .arg("demo")
            .env("SOCIALLOANS_HOME", &home)
            .env("SOCIALLOANS_PORT_OFFSET", offset.to_string())
            .output()
            .expect("suite demo runs")
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pilot_story_runs_end_to_end_against_the_suite_as_real_processes() {
    let home = Home(std::env::temp_dir().join(format!("socialloans-story-{}", uuid::Uuid::now_v7())));
    let (mut up, offset) = Up::start_on_free_ports(&home.0);

    // The demo, as a newcomer runs it, against the suite that is up.
    let first = demo(&home.0, offset).await;
    let narration = String::from_utf8_lossy(&first.stdout);
    assert!(first.status.success(), "the demo failed:\n{narration}\n{}", String::from_utf8_lossy(&first.stderr));
    assert!(narration.contains("using the suite that is already up"), "{narration}");
    for chapter in [
        "1. Two housing companies apply",
        "2. The expert committee meets",
        "4. Two years of outcomes",
        "6. The loan's life: amortised, then refinanced at maturity",
        "7. The lender's side of the money: a social bond and its reports",
    ] {
        assert!(narration.contains(chapter), "{chapter:?} missing from:\n{narration}");
    }
    assert!(narration.contains("The story ran to the end"));

    // Each service's state afterwards, read over gRPC.
    let secret = std::fs::read_to_string(home.0.join("dev-auth-secret")).unwrap();
    let minter = DevTokenMinter::new(secret.trim(), "socialloans-dev", "socialloans");
    let as_ = |role: Role, org: Option<&str>| minter.mint("e2e", &[role], org, Duration::from_secs(600));
    let url = |port: u16| format!("http://127.0.0.1:{}", port + offset);
    let mut apps = ApplicationsServiceClient::connect(url(50051)).await.unwrap();
    let mut committee = CommitteeServiceClient::connect(url(50052)).await.unwrap();
    let mut monitoring = MonitoringServiceClient::connect(url(50053)).await.unwrap();

    let listed = apps
        .list_applications(authorized(ap::ListApplicationsRequest::default(), &as_(Role::Analyst, None)))
        .await
        .unwrap()
        .into_inner()
        .applications;
    let mut states: Vec<(String, i32, i32)> = listed
        .iter()
        .map(|a| (a.borrower.as_ref().unwrap().organization_number.clone(), a.state, a.submission_count))
        .collect();
    states.sort();
    assert_eq!(
        states,
        [
            (pilots::BOTKYRKABYGGEN.to_owned(), ap::ApplicationState::Active as i32, 2),
            (pilots::EIDAR.to_owned(), ap::ApplicationState::Active as i32, 1)
        ],
        "both loans are tagged; Botkyrkabyggen's application was submitted twice"
    );
    // Botkyrkabyggen's first loan was amortised, then refinanced within the approved amount.
    let botkyrka = listed.iter().find(|a| a.borrower.as_ref().unwrap().organization_number == pilots::BOTKYRKABYGGEN);
    let loans = &botkyrka.unwrap().loans;
    let states: Vec<i32> = loans.iter().map(|l| l.state).collect();
    assert_eq!(states, [ap::LoanState::Refinanced as i32, ap::LoanState::Active as i32], "{loans:?}");
    assert_eq!(loans[0].refinanced_by_loan_id, loans[1].loan_id);
    let own = apps
        .list_applications(authorized(
            ap::ListApplicationsRequest::default(),
            &as_(Role::Borrower, Some(pilots::EIDAR)),
        ))
        .await
        .unwrap()
        .into_inner()
        .applications;
    assert_eq!(own.len(), 1, "a borrower sees only its own application");

    let cases = committee
        .list_cases(authorized(cm::ListCasesRequest::default(), &as_(Role::Auditor, None)))
        .await
        .unwrap()
        .into_inner()
        .cases;
    assert_eq!(cases.len(), 2);
    assert!(cases.iter().all(|c| c.state == cm::CaseState::Decided as i32), "{cases:?}");
    assert!(cases.iter().all(|c| c.decisions.iter().all(|d| d.frozen)), "approving the minutes froze the decisions");
    let botkyrka_case = cases.iter().find(|c| c.organization_number == pilots::BOTKYRKABYGGEN).unwrap();
    assert_eq!(botkyrka_case.conflicts_of_interest.len(), 1);
    assert_eq!(botkyrka_case.decisions[0].dissents.len(), 1, "Maja's dissent");
    let chain = committee
        .verify_audit_chain(authorized(cm::VerifyAuditChainRequest::default(), &as_(Role::Auditor, None)))
        .await
        .unwrap()
        .into_inner();
    assert!(chain.valid, "{chain:?}");

    let plans = monitoring
        .list_monitoring_plans(authorized(mo::ListMonitoringPlansRequest::default(), &as_(Role::Auditor, None)))
        .await
        .unwrap()
        .into_inner()
        .monitoring_plans;
    assert_eq!(plans.len(), 2);
    for plan in &plans {
        assert_eq!(plan.state, mo::MonitoringPlanState::Active as i32);
        let accepted =
            plan.reporting_periods.iter().filter(|p| p.state == mo::ReportingPeriodState::Accepted as i32).count();
        assert_eq!(accepted, 2, "two accepted years for {}", plan.borrower_display_name);
    }
    // The rollover to 2041 extended Botkyrkabyggen's reporting through its new maturity.
    let mut last_end = 0;
    for _ in 0..100 {
        let request =
            mo::ListMonitoringPlansRequest { organization_number: pilots::BOTKYRKABYGGEN.into(), ..Default::default() };
        let plans = monitoring.list_monitoring_plans(authorized(request, &as_(Role::Auditor, None))).await.unwrap();
        let plan = plans.into_inner().monitoring_plans.remove(0);
        last_end =
            plan.reporting_periods.last().and_then(|p| p.end_date).map_or(0, |d| d.year * 10_000 + d.month * 100);
        if last_end >= 20_410_600 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(last_end >= 20_410_600, "Botkyrkabyggen's periods end {last_end}, before the new maturity");
    let as_of = plans[0].reporting_periods[1].end_date;
    let report = monitoring
        .get_portfolio_impact_report(authorized(
            mo::GetPortfolioImpactReportRequest { as_of, ..Default::default() },
            &as_(Role::Auditor, None),
        ))
        .await
        .unwrap()
        .into_inner()
        .portfolio_impact_report
        .unwrap();
    assert_eq!(report.plan_count, 2);
    assert_eq!(report.approved_amount.unwrap().minor_units, (400_000_000 + 75_000_000) * 100);
    let reached: Vec<i64> = report.by_target_group.iter().map(|g| g.people_reached).collect();
    assert_eq!(reached, [640, 3_200], "the latest accepted reach of each pilot");

    // The files the story wrote.
    let demo_dir = home.0.join("demo");
    let file = |suffix: &str| {
        std::fs::read_dir(&demo_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(suffix))
            .unwrap_or_else(|| panic!("no *{suffix} in {}", demo_dir.display()))
    };
    // The bond register's first allocation report: the 400 MSEK bond against
    // the pilots' 475 MSEK, signed; the investor report in Swedish.
    let written = |prefix: &str, suffix: &str| {
        let mut paths = std::fs::read_dir(&demo_dir).unwrap().map(|e| e.unwrap().path());
        let path = paths.find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with(prefix) && name.ends_with(suffix)
        });
        std::fs::read_to_string(path.unwrap_or_else(|| panic!("no {prefix}*{suffix} written"))).unwrap()
    };
    let allocation = written("reports-allocation-", ".txt");
    assert!(allocation.contains("total/pool=47500000000\n"), "{allocation}");
    assert!(allocation.contains("total/bonds_outstanding=40000000000\n") && allocation.contains("# signature "));
    assert!(narration.contains("refused: would exceed the pool"), "{narration}");
    assert!(written("investerarrapport-", ".csv").starts_with("rad;ansökan;"));
    let minutes = std::fs::read_dir(&demo_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("protokoll-"))
        .expect("the minutes were written");
    let minutes = std::fs::read_to_string(minutes).unwrap();
    for org in [pilots::BOTKYRKABYGGEN, pilots::EIDAR] {
        let extract = std::fs::read_to_string(file(&format!("protokollsutdrag-{org}.md"))).unwrap();
        assert!(extract.contains("Protokollet justerades") && extract.contains(org), "{extract}");
    }
    // The notices the story caused are in the development mailbox: each
    // borrower's agenda and decision notices, Botkyrkabyggen's reminder.
    let to = |mail: &[String], address: &str| {
        mail.iter().filter(|m| m.contains(&format!("Delivered-To: <{address}>"))).count()
    };
    let mut mail: Vec<String> = Vec::new();
    for _ in 0..300 {
        mail = notices::sink::messages(&home.0.join("mail"));
        if to(&mail, "anna.andersson@example.se") >= 3 && to(&mail, "erik.eriksson@example.se") >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(to(&mail, "anna.andersson@example.se") >= 3, "Botkyrkabyggen's notices: {}", mail.len());
    assert!(to(&mail, "erik.eriksson@example.se") >= 2, "AB Eidar's notices: {}", mail.len());
    let mut log = socialloans_contracts::notices::notices_service_client::NoticesServiceClient::connect(url(50054))
        .await
        .unwrap();
    let request = socialloans_contracts::notices::ListCommunicationsRequest::default();
    let own = log.list_communications(authorized(request, &as_(Role::Borrower, Some(pilots::BOTKYRKABYGGEN)))).await;
    let own = own.unwrap().into_inner().communications;
    let kinds: Vec<i32> = own.iter().map(|c| c.kind).collect();
    use socialloans_contracts::notices::NoticeKind;
    for kind in [NoticeKind::ReportDueSoon, NoticeKind::CaseScheduled, NoticeKind::Decision] {
        assert!(kinds.contains(&(kind as i32)), "{kind:?} in Botkyrkabyggen's log: {own:#?}");
    }
    assert!(own.iter().all(|c| c.organization_number == pilots::BOTKYRKABYGGEN));
    assert!(minutes.contains("Sitter i Botkyrkabyggens styrelse"), "{minutes}");
    assert!(minutes.contains("- Maja: avslag – Risk för hyreshöjningar\n"), "{minutes}");
    assert!(minutes.contains("av Carl, ordförande, och Olof, justerare."), "justerat: {minutes}");
    let csv = written("portfolio-impact-", ".csv");
    assert!(csv.lines().nth(1).unwrap().contains(",portfolio,") && csv.contains("475000000.00"), "{csv}");
    let svg = written("portfolio-impact-", ".svg");
    assert!(svg.starts_with("<svg") && svg.contains("Portfolio impact report"));

    // A service killed with SIGKILL is started again and the story goes on.
    let pid = up.pid_of("applications").expect("up names the applications pid");
    let grandchild = rustix::process::Pid::from_raw(pid).expect("a positive pid");
    rustix::process::kill_process(grandchild, rustix::process::Signal::KILL).expect("SIGKILL");
    let killed = Instant::now();
    assert!(up.wait_for("applications | started again", Duration::from_secs(10)), "not restarted");
    let restarted = up.pid_of("applications").unwrap();
    assert_ne!(restarted, pid);
    let mut serving = false;
    while killed.elapsed() < Duration::from_secs(10) && !serving {
        serving = ApplicationsServiceClient::connect(url(50051)).await.is_ok()
            && apps
                .list_applications(authorized(ap::ListApplicationsRequest::default(), &as_(Role::Analyst, None)))
                .await
                .is_ok();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(serving, "applications not serving again within 10 s of SIGKILL");
    let again = demo(&home.0, offset).await;
    assert!(again.status.success(), "the story did not go on:\n{}", String::from_utf8_lossy(&again.stdout));

    // Ctrl-C (here SIGTERM) stops everything cleanly.
    let status = up.terminate();
    assert!(status.success(), "suite up exited with {status}");
    let stopped: Vec<String> = up.lines.try_iter().filter(|l| l.ends_with("stopped (exit status: 0)")).collect();
    assert_eq!(stopped.len(), 5, "each service stops cleanly: {stopped:?}");
}

/// The README's first command from a clone in a private directory (mode 700,
/// as under /root or in a `mktemp -d` directory): as root, PostgreSQL runs as
/// the `postgres` user, which cannot reach it — the cluster goes where it can,
/// the suite comes up, and `reset` removes both.
#[tokio::test(flavor = "multi_thread")]
async fn up_works_from_a_private_directory_and_reset_removes_everything() {
    use std::os::unix::fs::PermissionsExt;
    let private = Home(std::env::temp_dir().join(format!("socialloans-private-{}", uuid::Uuid::now_v7())));
    std::fs::create_dir_all(&private.0).unwrap();
    std::fs::set_permissions(&private.0, std::fs::Permissions::from_mode(0o700)).unwrap();
    let home = private.0.join("clone").join(".local");
    let (mut up, _) = Up::start_on_free_ports(&home);
    let outside = up.seen.iter().find(|l| l.contains("the private PostgreSQL's data goes to")).cloned();
    let root = rustix::process::geteuid().is_root();
    assert_eq!(outside.is_some(), root, "as root the data goes where the postgres user can reach it: {:?}", up.seen);
    let status = up.terminate();
    assert!(status.success(), "suite up exited with {status}");
    let reset = Command::new(SUITE).arg("reset").env("SOCIALLOANS_HOME", &home).output().unwrap();
    assert!(reset.status.success(), "{}", String::from_utf8_lossy(&reset.stderr));
    if let Some(line) = outside {
        let dir = line.rsplit_once("goes to ").unwrap().1.trim().trim_end_matches("/postgres");
        assert!(!Path::new(dir).exists(), "reset left {dir}");
    }
    assert!(!home.exists(), "reset left {}", home.display());
}
