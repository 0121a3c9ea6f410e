//! The scenarios, in the order they run, and the report they make.

use socialloans_contracts::common;
use std::{
    fmt::Write as _,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use applications::{record::Record, store};
use socialloans::{Suite, demo, pilots};
use socialloans_contracts::{
    applications::{
        self as ap, applications_service_client::ApplicationsServiceClient,
        applications_service_server::ApplicationsService,
    },
    committee::{self as cm, committee_service_client::CommitteeServiceClient},
    monitoring::{self as mo, monitoring_service_client::MonitoringServiceClient},
};
use socialloans_platform::{Caller, Role, auth::DevTokenMinter};
use sqlx::{PgPool, postgres::PgPoolOptions};
use tonic::{Request, metadata::MetadataValue, transport::Channel};
use uuid::Uuid;

use crate::{
    Options, echo,
    measure::{self, Figures, Run, ms},
    procs::{self, mb},
};

const CALLERS: usize = 64;

fn rid() -> String {
    Uuid::now_v7().to_string()
}

/// The sizes and durations of a run.
struct Plan {
    span: Duration,
    sizes: Vec<i64>,
    stories: usize,
    story_callers: usize,
    portfolio_plans: i64,
    drafts: i64,
    approved: i64,
    /// Draft outcome reports to submit.
    reports: usize,
}

impl Plan {
    fn of(options: &Options) -> Plan {
        if options.quick {
            Plan {
                span: Duration::from_millis(300),
                sizes: vec![300, 1_000],
                stories: 2,
                story_callers: 2,
                portfolio_plans: 300,
                drafts: 3_000,
                approved: 100,
                reports: 400,
            }
        } else {
            Plan {
                span: Duration::from_secs(5),
                sizes: vec![1_000, 10_000, 100_000],
                stories: 40,
                story_callers: 4,
                portfolio_plans: 10_000,
                drafts: 40_000,
                approved: 2_000,
                reports: 8_000,
            }
        }
    }
}

/// A line of the targets table.
struct Target {
    what: String,
    target: String,
    measured: String,
    met: bool,
}

/// The report as it grows.
#[derive(Default)]
struct Report {
    body: String,
    targets: Vec<Target>,
}

impl Report {
    fn section(&mut self, title: &str, intro: &str) {
        let _ = write!(self.body, "\n## {title}\n\n{intro}\n\n");
        println!("\n== {title}");
    }

    fn line(&mut self, text: &str) {
        self.body.push_str(text);
        self.body.push('\n');
        println!("{text}");
    }

    fn target(&mut self, what: &str, target: &str, measured: String, met: bool) {
        self.targets.push(Target { what: what.into(), target: target.into(), measured, met });
    }

    fn table_head(&mut self) {
        self.line("| RPC | against | calls | calls/s | p50 ms | p90 ms | p99 ms | max ms | errors |");
        self.line("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    }

    fn row(&mut self, rpc: &str, against: &str, f: &Figures) {
        self.line(&format!(
            "| {rpc} | {against} | {} | {:.0} | {} | {} | {} | {} | {} |",
            f.count,
            f.per_second,
            ms(f.p50),
            ms(f.p90),
            ms(f.p99),
            ms(f.max),
            f.errors
        ));
    }
}

/// Clients and credentials for the suite under test.
struct Bench {
    suite: Suite,
    plan: Plan,
    minter: DevTokenMinter,
    channels: Vec<Channel>,
    /// The applications service's own pool shape: its role, 10 connections.
    apps_pool: PgPool,
    admin: PgPool,
    cpu: Vec<(&'static str, u32, Duration)>,
    /// The applications service's metrics, which count the calls it answered OK.
    apps_metrics: String,
}

impl Bench {
    fn token(&self, role: Role, org: Option<&str>) -> MetadataValue<tonic::metadata::Ascii> {
        let token = self.minter.mint(&format!("loadgen-{role}"), &[role], org, Duration::from_secs(4 * 3600));
        format!("Bearer {token}").parse().expect("ascii")
    }

    fn apps(&self, i: u64) -> ApplicationsServiceClient<Channel> {
        ApplicationsServiceClient::new(self.channels[i as usize % self.channels.len()].clone())
            .max_decoding_message_size(16 << 20)
    }

    /// CPU used by each service since the last call, as a line of the report.
    fn cpu_since(&mut self) -> String {
        let mut parts = Vec::new();
        for (name, pid, last) in &mut self.cpu {
            let now = procs::usage(*pid).map(|u| u.cpu).unwrap_or_default();
            parts.push(format!("{name} {:.1} s", (now.saturating_sub(*last)).as_secs_f64()));
            *last = now;
        }
        format!("CPU used by the services: {}.", parts.join(", "))
    }
}

fn authorized<T>(message: T, token: &MetadataValue<tonic::metadata::Ascii>) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert("authorization", token.clone());
    request
}

fn status<T>(result: Result<T, tonic::Status>) -> Result<(), String> {
    result.map(|_| ()).map_err(|s| format!("{:?} {}", s.code(), s.message()))
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim().to_owned()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|r| r.split_whitespace().next()?.parse::<u64>().ok())
        .map_or("?".into(), |kib| format!("{:.0} GiB", kib as f64 / 1_048_576.0));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{model}, {cores} cores available, {memory} memory, Linux {}", kernel.trim())
}

/// Runs everything and writes the report.
pub fn run(options: &Options) -> Result<(), String> {
    let plan = Plan::of(options);
    let home = std::env::temp_dir().join(format!("socialloans-loadgen-{}", Uuid::now_v7()));
    let offset = match std::env::var("SOCIALLOANS_PORT_OFFSET") {
        Ok(v) => v.parse().map_err(|_| format!("SOCIALLOANS_PORT_OFFSET={v:?} is not a port offset"))?,
        Err(_) => socialloans::free_offset().ok_or("no free set of ports for the suite")?,
    };
    println!("starting the suite (private PostgreSQL under {}) ...", home.display());
    let started = Instant::now();
    let suite = Suite::start_at(&home, offset)?;
    println!("the suite is up after {:.1} s", started.elapsed().as_secs_f64());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    let result = runtime.block_on(async {
        let bench = prepare(suite, plan, offset).await?;
        everything(bench, options).await
    });
    let _ = std::fs::remove_dir_all(&home);
    let report = result?;
    std::fs::write(&options.out, report).map_err(|e| format!("{}: {e}", options.out.display()))
}

async fn prepare(suite: Suite, plan: Plan, offset: u16) -> Result<Bench, String> {
    let mut channels = Vec::new();
    for _ in 0..4 {
        channels.push(
            Channel::from_shared(suite.endpoints.applications.clone())
                .map_err(|e| e.to_string())?
                .connect()
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    // The service's pool shape (`db::pool`): 10 connections, no ping per acquire.
    let apps_pool = PgPoolOptions::new()
        .max_connections(10)
        .test_before_acquire(false)
        .connect(&suite.service_url("applications")?)
        .await
        .map_err(|e| e.to_string())?;
    let admin = PgPoolOptions::new()
        .max_connections(4)
        .connect(&with_database(&suite.admin_url, "socialloans"))
        .await
        .map_err(|e| e.to_string())?;
    let minter = DevTokenMinter::new(&suite.secret, socialloans::tokens::ISSUER, socialloans::tokens::AUDIENCE);
    let cpu = suite
        .pids()
        .into_iter()
        .map(|(name, pid)| (name, pid, procs::usage(pid).map(|u| u.cpu).unwrap_or_default()))
        .collect();
    let apps_metrics = socialloans::Endpoints::metrics(offset, "applications").ok_or("no applications service")?;
    Ok(Bench { suite, plan, minter, channels, apps_pool, admin, cpu, apps_metrics })
}

/// The admin URL pointed at `database`.
fn with_database(admin_url: &str, database: &str) -> String {
    let (base, query) = admin_url.split_once('?').map_or((admin_url, None), |(b, q)| (b, Some(q)));
    let (prefix, _) = base.rsplit_once('/').unwrap_or((base, ""));
    match query {
        Some(q) => format!("{prefix}/{database}?{q}"),
        None => format!("{prefix}/{database}"),
    }
}

async fn everything(mut b: Bench, options: &Options) -> Result<String, String> {
    let mut r = Report::default();
    let idle: Vec<(&str, procs::Usage)> =
        b.suite.pids().into_iter().filter_map(|(name, pid)| Some((name, procs::usage(pid)?))).collect();

    // One pilot story first: it makes the committee's roster and the rows the others copy.
    let out = std::env::temp_dir().join(format!("socialloans-loadgen-demo-{}", Uuid::now_v7()));
    let first = demo::run(&b.suite.endpoints, &b.suite.secret, &out, &mut |_| {}).await?;
    let templates = seed_templates(&b, &first.applications[0]).await?;
    // `--contenders`: the independent contenders alone.
    let full = !options.contenders;
    if full {
        // The pilot story first, while every feed is idle; then the table at growing sizes.
        pilot_flow(&mut b, &mut r, &out).await?;
        let copies = scaling(&mut b, &mut r, templates.draft).await?;
        sqlx::query("DELETE FROM applications.application WHERE id = ANY($1)")
            .bind(&copies)
            .execute(&b.admin)
            .await
            .map_err(|e| e.to_string())?;
    }
    let ops = seed_ops(&b, &templates, &first).await?;
    let read_peaks = if full { Some(read_path(&mut b, &mut r, &ops).await?) } else { None };
    independent(&mut b, &mut r, &ops).await;
    let report_peak = write_cpu(&mut b, &mut r, &ops).await;
    if options.profile {
        profile(&mut b, &mut r, &ops).await;
    }
    if let Some(read_peaks) = read_peaks {
        let mut write_peaks = write_path(&mut b, &mut r, &ops).await?;
        write_peaks.extend(report_peak);
        latency(&mut b, &mut r, &ops, &read_peaks, &write_peaks).await?;
        portfolio(&mut b, &mut r).await?;
        resources(&mut b, &mut r, &idle).await?;
    }
    let _ = std::fs::remove_dir_all(&out);

    let doc = document(&b, &r, options).await;
    b.suite.stop();
    Ok(doc)
}

/// The open loops of the read and the write peaks, as one section of the report.
async fn latency(
    b: &mut Bench,
    r: &mut Report,
    ops: &Ops,
    read_peaks: &Peaks,
    write_peaks: &Peaks,
) -> Result<(), String> {
    let mut open = Report::default();
    open_loops(b, &mut open, ops, read_peaks, true).await?;
    open_loops(b, &mut open, ops, write_peaks, false).await?;
    let cpu = b.cpu_since();
    open.line(&format!("\n- {cpu}"));
    r.body.push_str(&open.body);
    r.targets.extend(open.targets);
    Ok(())
}

/// BENCHMARKS.md: the machine, the targets, the analysis and the sections of `r`.
async fn document(b: &Bench, r: &Report, options: &Options) -> String {
    let mut doc = String::new();
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    let _ = write!(
        doc,
        "# Benchmarks\n\nMeasured {date} on {}, by `cargo run --release -p loadgen{}`: the suite, \
         gRPC alone and PostgreSQL alone on the same machine, in the same run, with the same generator \
         (`services/loadgen`). PostgreSQL: {}. Everything shares the machine: the generator, the three \
         services and PostgreSQL compete for the same cores, as they would on one small host.\n",
        machine(),
        match (options.quick, options.profile) {
            (true, _) => " -- --quick` (a check that it works: brief and small; not figures to quote",
            (false, true) => " -- --profile",
            (false, false) => "",
        },
        pg_version(&b.admin).await,
    );
    doc.push_str("\n## Targets\n\n| what | target | measured | met |\n|---|---|---|---|\n");
    for t in &r.targets {
        let _ =
            writeln!(doc, "| {} | {} | {} | {} |", t.what, t.target, t.measured, if t.met { "yes" } else { "**no**" });
    }
    doc.push('\n');
    doc.push_str(include_str!("analysis.md"));
    doc.push_str(&r.body);
    doc
}

async fn pg_version(pool: &PgPool) -> String {
    sqlx::query_scalar::<_, String>("SHOW server_version").fetch_one(pool).await.unwrap_or_default()
}

/// Runs the `runs` in turn, twice over with half the span each, and merges
/// each one's halves: slow drifts (a checkpoint, autovacuum, a warming
/// cache) then fall on every contender alike.
async fn interleaved<F, Fut>(runs: Vec<F>) -> Vec<Run>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Run>,
{
    let mut merged: Vec<Run> = runs.iter().map(|_| Run::default()).collect();
    for _ in 0..2 {
        for (i, run) in runs.iter().enumerate() {
            merged[i].absorb(run().await);
        }
    }
    merged
}

/// A boxed run, so that contenders of different kinds can take turns.
type Contender<'a> = Box<dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Run> + 'a>> + 'a>;

fn contender<'a, F, Fut>(callers: usize, span: Duration, op: F) -> Contender<'a>
where
    F: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = (&'static str, Result<(), String>)> + Send + 'a,
{
    Box::new(move || Box::pin(measure::closed(callers, span, op.clone())))
}

/// The operations the scenarios call, each as `op(i)`.
#[derive(Clone)]
struct Ops {
    channels: Vec<Channel>,
    ids: Arc<Vec<Uuid>>,
    drafts: Arc<Vec<Uuid>>,
    next_draft: Arc<AtomicUsize>,
    approved: Arc<Vec<Uuid>>,
    monitoring: Channel,
    reports: Arc<Vec<String>>,
    next_report: Arc<AtomicUsize>,
    pilot: Arc<ap::Application>,
    analyst: MetadataValue<tonic::metadata::Ascii>,
    borrower: MetadataValue<tonic::metadata::Ascii>,
    core: MetadataValue<tonic::metadata::Ascii>,
}

impl Ops {
    fn client(&self, i: u64) -> ApplicationsServiceClient<Channel> {
        ApplicationsServiceClient::new(self.channels[i as usize % self.channels.len()].clone())
    }

    fn get(&self, i: u64) -> ap::GetApplicationRequest {
        ap::GetApplicationRequest { name: format!("applications/{}", self.ids[i as usize % self.ids.len()]) }
    }

    fn list() -> ap::ListApplicationsRequest {
        ap::ListApplicationsRequest { page_size: 20, ..Default::default() }
    }

    fn create(&self) -> ap::CreateApplicationRequest {
        ap::CreateApplicationRequest { request_id: rid(), application: Some((*self.pilot).clone()) }
    }

    fn submit(&self) -> Option<ap::SubmitApplicationRequest> {
        let id = self.drafts.get(self.next_draft.fetch_add(1, Ordering::Relaxed))?;
        Some(ap::SubmitApplicationRequest {
            name: format!("applications/{id}"),
            etag: String::new(),
            request_id: rid(),
        })
    }

    fn report(&self) -> Option<mo::SubmitOutcomeReportRequest> {
        let name = self.reports.get(self.next_report.fetch_add(1, Ordering::Relaxed))?;
        Some(mo::SubmitOutcomeReportRequest { name: name.clone(), request_id: rid(), ..Default::default() })
    }

    fn tag(&self, i: u64) -> ap::TagLoanRequest {
        ap::TagLoanRequest {
            name: format!("applications/{}", self.approved[i as usize % self.approved.len()]),
            request_id: rid(),
            loan: Some(ap::LoanTag {
                loan_id: format!("LG-{}", Uuid::now_v7()),
                principal: pilots::sek(100),
                disbursement_date: Some(common::Date { year: 2026, month: 12, day: 1 }),
                maturity_date: Some(common::Date { year: 2036, month: 12, day: 1 }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// One call of `rpc` to the suite over gRPC.
    async fn suite(self, rpc: Rpc, i: u64) -> Result<(), String> {
        let mut client = self.client(i);
        match rpc {
            Rpc::Get => status(client.get_application(authorized(self.get(i), &self.analyst)).await),
            Rpc::List => status(client.list_applications(authorized(Self::list(), &self.analyst)).await),
            Rpc::Create => status(client.create_application(authorized(self.create(), &self.borrower)).await),
            Rpc::Submit => match self.submit() {
                Some(m) => status(client.submit_application(authorized(m, &self.borrower)).await),
                None => Err("out of seeded drafts".into()),
            },
            Rpc::Tag => status(client.tag_loan(authorized(self.tag(i), &self.core)).await),
            Rpc::Report => match self.report() {
                Some(m) => {
                    let mut monitoring = MonitoringServiceClient::new(self.monitoring.clone());
                    status(monitoring.submit_outcome_report(authorized(m, &self.borrower)).await)
                }
                None => Err("out of seeded outcome reports".into()),
            },
        }
    }
}

/// The RPCs measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rpc {
    Get,
    List,
    Create,
    Submit,
    Tag,
    /// The monitoring service's `SubmitOutcomeReport`.
    Report,
}

impl Rpc {
    fn name(self) -> &'static str {
        match self {
            Rpc::Get => "GetApplication",
            Rpc::List => "ListApplications (20)",
            Rpc::Create => "CreateApplication",
            Rpc::Submit => "SubmitApplication",
            Rpc::Tag => "TagLoan",
            Rpc::Report => "SubmitOutcomeReport",
        }
    }
}

/// Peak calls/s of the suite per RPC, for the open loops.
type Peaks = Vec<(Rpc, f64)>;

mod footprint;
mod growth;
mod independent;
mod paths;
mod seed;

use footprint::*;
use growth::*;
use independent::*;
use paths::*;
use seed::*;
