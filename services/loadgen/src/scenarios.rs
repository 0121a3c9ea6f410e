//! The scenarios, in the order they run, and the report they make.

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
        let bench = prepare(suite, plan).await?;
        everything(bench, options).await
    });
    let _ = std::fs::remove_dir_all(&home);
    let report = result?;
    std::fs::write(&options.out, report).map_err(|e| format!("{}: {e}", options.out.display()))
}

async fn prepare(suite: Suite, plan: Plan) -> Result<Bench, String> {
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
    let apps_pool = PgPoolOptions::new()
        .max_connections(10)
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
    Ok(Bench { suite, plan, minter, channels, apps_pool, admin, cpu })
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
    // The pilot story first, while every feed is idle; then the table at growing sizes.
    pilot_flow(&mut b, &mut r, &out).await?;
    let copies = scaling(&mut b, &mut r, templates.draft).await?;
    sqlx::query("DELETE FROM applications.application WHERE id = ANY($1)")
        .bind(&copies)
        .execute(&b.admin)
        .await
        .map_err(|e| e.to_string())?;
    let drafts = clone(&b.admin, templates.draft, b.plan.drafts).await?;
    let approved = clone(&b.admin, templates.approved, b.plan.approved).await?;
    // Every approved application has its monitoring plan, as in life: copies of the pilot's.
    let plan_id = Uuid::parse_str(first.plans[0].trim_start_matches("monitoringPlans/")).map_err(|e| e.to_string())?;
    sqlx::query(
        "INSERT INTO monitoring.monitoring_plan
              (id, application, state, organization_number, category, content, approved_minor, tagged_minor,
               activate_date, sdg_targets)
         SELECT gen_random_uuid(), 'applications/' || a, p.state, p.organization_number, p.category, p.content,
                p.approved_minor, 0, p.activate_date, p.sdg_targets
           FROM monitoring.monitoring_plan p, unnest($2::uuid[]) a
          WHERE p.id = $1",
    )
    .bind(plan_id)
    .bind(&approved)
    .execute(&b.admin)
    .await
    .map_err(|e| format!("copying monitoring plans: {e}"))?;
    let sample = sample_ids(&b.admin, 10_000).await?;
    println!("seeded {} drafts and {} approved applications with their plans", drafts.len(), approved.len());
    let settled = quiesce(&b.admin).await?;
    println!("the services' event work settled in {:.1} s", settled.as_secs_f64());

    let ops = Ops {
        channels: b.channels.clone(),
        ids: Arc::new(sample),
        drafts: Arc::new(drafts),
        next_draft: Arc::new(AtomicUsize::new(0)),
        approved: Arc::new(approved),
        pilot: Arc::new(pilots::botkyrkabyggen()),
        analyst: b.token(Role::Analyst, None),
        borrower: b.token(Role::Borrower, Some(pilots::BOTKYRKABYGGEN)),
        core: b.token(Role::CoreBanking, None),
    };
    quiesce(&b.admin).await?;
    let read_peaks = read_path(&mut b, &mut r, &ops).await?;
    let write_peaks = write_path(&mut b, &mut r, &ops).await?;
    let mut open = Report::default();
    open_loops(&mut b, &mut open, &ops, &read_peaks, true).await?;
    open_loops(&mut b, &mut open, &ops, &write_peaks, false).await?;
    let cpu = b.cpu_since();
    open.line(&format!("\n- {cpu}"));
    r.body.push_str(&open.body);
    r.targets.extend(open.targets);
    portfolio(&mut b, &mut r).await?;
    resources(&mut b, &mut r, &idle).await?;
    let _ = std::fs::remove_dir_all(&out);

    let mut doc = String::new();
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    let _ = write!(
        doc,
        "# Benchmarks\n\nMeasured {date} on {}, by `cargo run --release -p loadgen{}`: the suite, \
         gRPC alone and PostgreSQL alone on the same machine, in the same run, with the same generator \
         (`services/loadgen`). PostgreSQL: {}. Everything shares the machine: the generator, the three \
         services and PostgreSQL compete for the same cores, as they would on one small host.\n",
        machine(),
        if options.quick { " -- --quick` (a check that it works: brief and small; not figures to quote" } else { "" },
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
    b.suite.stop();
    Ok(doc)
}

async fn pg_version(pool: &PgPool) -> String {
    sqlx::query_scalar::<_, String>("SHOW server_version").fetch_one(pool).await.unwrap_or_default()
}

struct Templates {
    draft: Uuid,
    approved: Uuid,
}

/// From the story's Botkyrkabyggen application: a complete draft, and an
/// approved application with no loans tagged yet, written through the
/// service's own store.
async fn seed_templates(b: &Bench, application: &str) -> Result<Templates, String> {
    let id = Uuid::parse_str(application.trim_start_matches("applications/")).map_err(|e| e.to_string())?;
    let row = store::get(&b.apps_pool, id, None).await.map_err(|e| e.to_string())?.ok_or("no template row")?;
    let mut ids = Vec::new();
    for state in [ap::ApplicationState::Draft, ap::ApplicationState::ApprovedWithConditions] {
        let mut record = Record::from_row(row.clone()).map_err(|e| e.to_string())?;
        record.state = state;
        record.app.loans.clear();
        record.row.id = Uuid::now_v7();
        if state == ap::ApplicationState::Draft {
            record.row.submit_time = None;
        }
        let mut conn = b.apps_pool.acquire().await.map_err(|e| e.to_string())?;
        store::insert(&mut conn, &record.to_row()).await.map_err(|e| e.to_string())?;
        ids.push(record.row.id);
    }
    Ok(Templates { draft: ids[0], approved: ids[1] })
}

/// `n` copies of application `template` with fresh ids; their ids.
async fn clone(admin: &PgPool, template: Uuid, n: i64) -> Result<Vec<Uuid>, String> {
    sqlx::query_scalar(
        "INSERT INTO applications.application
              (id, organization_number, state, category, revision, create_time, update_time, submit_time, content, contact_person)
         SELECT gen_random_uuid(), organization_number, state, category, 1,
                clock_timestamp(), clock_timestamp(), submit_time, content, contact_person
           FROM applications.application, generate_series(1, $2) g
          WHERE id = $1
         RETURNING id",
    )
    .bind(template)
    .bind(n)
    .fetch_all(admin)
    .await
    .map_err(|e| e.to_string())
}

async fn sample_ids(admin: &PgPool, n: i64) -> Result<Vec<Uuid>, String> {
    sqlx::query("ANALYZE applications.application").execute(admin).await.map_err(|e| e.to_string())?;
    sqlx::query_scalar("SELECT id FROM applications.application ORDER BY random() LIMIT $1")
        .bind(n)
        .fetch_all(admin)
        .await
        .map_err(|e| e.to_string())
}

/// Waits (at most two minutes) until the services' event work has settled:
/// every outbox row positioned and no consumer's checkpoint moving, so that
/// a scenario does not pay for the previous one's events.
async fn quiesce(admin: &PgPool) -> Result<Duration, String> {
    let started = Instant::now();
    let mut last: Option<Vec<i64>> = None;
    while started.elapsed() < Duration::from_secs(120) {
        let mut now = Vec::new();
        let mut unpositioned = 0i64;
        for schema in ["applications", "committee", "monitoring"] {
            unpositioned += sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
                "SELECT count(*) FROM {schema}.outbox WHERE position IS NULL"
            )))
            .fetch_one(admin)
            .await
            .map_err(|e| e.to_string())?;
            now.extend(
                sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
                    "SELECT position FROM {schema}.consumer_checkpoint ORDER BY subscription"
                )))
                .fetch_all(admin)
                .await
                .map_err(|e| e.to_string())?,
            );
        }
        if unpositioned == 0 && last.as_ref() == Some(&now) {
            return Ok(started.elapsed());
        }
        last = Some(now);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Err("the services' event work did not settle within two minutes".into())
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

    fn tag(&self, i: u64) -> ap::TagLoanRequest {
        ap::TagLoanRequest {
            name: format!("applications/{}", self.approved[i as usize % self.approved.len()]),
            request_id: rid(),
            loan: Some(ap::LoanTag {
                loan_id: format!("LG-{}", Uuid::now_v7()),
                principal: pilots::sek(100),
                disbursement_date: Some(ap::Date { year: 2026, month: 12, day: 1 }),
                maturity_date: Some(ap::Date { year: 2036, month: 12, day: 1 }),
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
}

impl Rpc {
    fn name(self) -> &'static str {
        match self {
            Rpc::Get => "GetApplication",
            Rpc::List => "ListApplications (20)",
            Rpc::Create => "CreateApplication",
            Rpc::Submit => "SubmitApplication",
            Rpc::Tag => "TagLoan",
        }
    }
}

/// Peak calls/s of the suite per RPC, for the open loops.
type Peaks = Vec<(Rpc, f64)>;

async fn read_path(b: &mut Bench, r: &mut Report, ops: &Ops) -> Result<Peaks, String> {
    r.section(
        "Read path: the suite against gRPC alone and PostgreSQL alone",
        &format!(
            "Closed loop, {CALLERS} callers, {:.0} s each, taken in turns (suite, gRPC alone, PostgreSQL \
             alone, and again) so that drifts fall on all alike. *Suite*: the applications service over \
             gRPC, with authentication, through 4 HTTP/2 connections. *gRPC alone*: a tonic server \
             answering the same messages from memory. *PostgreSQL alone*: the service's own SELECT \
             (`store::get`, `store::list`) through a pool shaped like the service's (its role, 10 \
             connections), no gRPC.",
            b.plan.span.as_secs_f64()
        ),
    );
    let half = b.plan.span / 2;
    // The canned answers of the echo server are real ones.
    let mut client = ops.client(0).max_decoding_message_size(16 << 20);
    let one = client
        .get_application(authorized(ops.get(0), &ops.analyst))
        .await
        .map_err(|e| e.to_string())?
        .into_inner()
        .application
        .ok_or("no application")?;
    let page =
        client.list_applications(authorized(Ops::list(), &ops.analyst)).await.map_err(|e| e.to_string())?.into_inner();
    let echo_addr = echo::serve(one, page).await?;
    let echo = Channel::from_shared(format!("http://{echo_addr}"))
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let pool = b.apps_pool.clone();

    let mut peaks = Vec::new();
    r.table_head();
    let mut ratios = Vec::new();
    for rpc in [Rpc::Get, Rpc::List] {
        let suite = {
            let ops = ops.clone();
            move |i| {
                let ops = ops.clone();
                async move { ("c", ops.suite(rpc, i).await) }
            }
        };
        let alone_grpc = {
            let (ops, echo) = (ops.clone(), echo.clone());
            move |i| {
                let mut client = ApplicationsServiceClient::new(echo.clone());
                let get = ops.get(i);
                async move {
                    let result = match rpc {
                        Rpc::Get => status(client.get_application(Request::new(get)).await),
                        _ => status(client.list_applications(Request::new(Ops::list())).await),
                    };
                    ("c", result)
                }
            }
        };
        let alone_pg = {
            let (ops, pool) = (ops.clone(), pool.clone());
            move |i| {
                let (pool, id) = (pool.clone(), ops.ids[i as usize % ops.ids.len()]);
                async move {
                    let result = match rpc {
                        Rpc::Get => match store::get(&pool, id, None).await {
                            Ok(Some(_)) => Ok(()),
                            Ok(None) => Err("not found".to_owned()),
                            Err(e) => Err(e.to_string()),
                        },
                        _ => store::list(&pool, &store::ListFilter::default(), None, 20)
                            .await
                            .map(|_| ())
                            .map_err(|e| e.to_string()),
                    };
                    ("c", result)
                }
            }
        };
        let runs = interleaved(vec![
            contender(CALLERS, half, suite),
            contender(CALLERS, half, alone_grpc),
            contender(CALLERS, half, alone_pg),
        ])
        .await;
        for (against, run) in ["suite", "gRPC alone", "PostgreSQL alone"].iter().zip(&runs) {
            r.row(rpc.name(), against, &run.figures("c"));
            if let Some(e) = run.first_error() {
                r.line(&format!("\n> errors ({against}): {e}\n"));
            }
        }
        let per_second = |run: &Run| run.figures("c").per_second.max(1e-9);
        peaks.push((rpc, per_second(&runs[0])));
        ratios.push((rpc, per_second(&runs[0]), per_second(&runs[1]), per_second(&runs[2])));
    }
    r.line("");
    for (rpc, suite, echo, pg) in ratios {
        let (vs_pg, vs_echo) = (suite / pg, suite / echo);
        // On one machine a call through the suite costs the gRPC work of both ends and the SQL
        // work: if nothing else were added, its rate would be 1 / (1/echo + 1/pg).
        let ceiling = 1.0 / (1.0 / echo + 1.0 / pg);
        r.line(&format!(
            "- {}: suite ÷ PostgreSQL alone = **{:.0} %**, suite ÷ gRPC alone = **{:.0} %**; the two costs \
             together allow {ceiling:.0} calls/s on this machine, of which the suite reaches **{:.0} %**.",
            rpc.name(),
            vs_pg * 100.0,
            vs_echo * 100.0,
            suite / ceiling * 100.0
        ));
        r.target(
            &format!("read {}: throughput vs PostgreSQL alone, 64 callers", rpc.name()),
            "≥ 80 %",
            format!("{:.0} %", vs_pg * 100.0),
            vs_pg >= 0.8,
        );
    }
    // Portal browsing: four reads of one application for each list page, as a borrower.
    let browse = {
        let ops = Ops { analyst: ops.borrower.clone(), ..ops.clone() };
        measure::closed(CALLERS, b.plan.span, move |i| {
            let ops = ops.clone();
            async move {
                if i % 5 == 0 { ("list", ops.suite(Rpc::List, i).await) } else { ("get", ops.suite(Rpc::Get, i).await) }
            }
        })
        .await
    };
    r.line(&format!(
        "- Read-heavy mix (a borrower's portal: 4 gets per list page): {:.0} calls/s; get p99 {} ms, list p99 {} ms.",
        browse.total_per_second(),
        ms(browse.figures("get").p99),
        ms(browse.figures("list").p99)
    ));
    let cpu = b.cpu_since();
    r.line(&format!("- {cpu}"));
    Ok(peaks)
}

fn caller(role: Role, org: Option<&str>) -> Caller {
    Caller {
        subject: format!("loadgen-{role}"),
        roles: [role].into_iter().collect(),
        organization: org.map(str::to_owned),
        expires_at: 0,
    }
}

fn in_process<T>(message: T, caller: &Caller) -> Request<T> {
    let mut request = Request::new(message);
    request.extensions_mut().insert(caller.clone());
    request
}

fn handlers(pool: &PgPool) -> applications::api::Api {
    let (_, positioned) = tokio::sync::watch::channel(0u64);
    let (_, stopping) = tokio::sync::watch::channel(false);
    let feed = socialloans_platform::events::Feed::new(
        pool.clone(),
        positioned,
        Duration::from_secs(1),
        Duration::from_secs(5),
        stopping,
        socialloans_platform::events::feed::FeedLimits { max_message_bytes: 4 << 20, max_streams_per_caller: 8 },
    );
    applications::api::Api::new(applications::service::Applications { pool: pool.clone(), discount_bps: 3 }, feed)
}

async fn write_path(b: &mut Bench, r: &mut Report, ops: &Ops) -> Result<Peaks, String> {
    r.section(
        "Write path: the suite against the same transactions without gRPC",
        &format!(
            "Closed loop, {CALLERS} callers, {:.0} s each, taken in turns (suite, alone, and again). \
             *Suite*: over gRPC with authentication. *PostgreSQL alone*: the service's own handlers \
             called in-process over a pool shaped like the service's — the same statements in the same \
             transactions (idempotency record, row, history, outbox), without gRPC, HTTP/2 or token \
             checks. CreateApplication drafts the Botkyrkabyggen pilot; SubmitApplication submits a copy \
             of a complete draft (each once); TagLoan tags a 100 kr loan to one of {} copies of an \
             approved application, each with its monitoring plan.",
            b.plan.span.as_secs_f64(),
            ops.approved.len()
        ),
    );
    let half = b.plan.span / 2;
    let api = Arc::new(handlers(&b.apps_pool));
    let borrower = caller(Role::Borrower, Some(pilots::BOTKYRKABYGGEN));
    let core = caller(Role::CoreBanking, None);
    let mut peaks = Vec::new();
    r.table_head();
    let mut ratios = Vec::new();
    for rpc in [Rpc::Create, Rpc::Submit, Rpc::Tag] {
        let suite = {
            let ops = ops.clone();
            move |i| {
                let ops = ops.clone();
                async move { ("w", ops.suite(rpc, i).await) }
            }
        };
        let alone = {
            let (ops, api, borrower, core) = (ops.clone(), api.clone(), borrower.clone(), core.clone());
            move |i| {
                let (api, ops, borrower, core) = (api.clone(), ops.clone(), borrower.clone(), core.clone());
                async move {
                    let result = match rpc {
                        Rpc::Create => status(api.create_application(in_process(ops.create(), &borrower)).await),
                        Rpc::Submit => match ops.submit() {
                            Some(m) => status(api.submit_application(in_process(m, &borrower)).await),
                            None => Err("out of seeded drafts".into()),
                        },
                        _ => status(api.tag_loan(in_process(ops.tag(i), &core)).await),
                    };
                    ("w", result)
                }
            }
        };
        let runs = interleaved(vec![contender(CALLERS, half, suite), contender(CALLERS, half, alone)]).await;
        for (against, run) in ["suite", "PostgreSQL alone"].iter().zip(&runs) {
            r.row(rpc.name(), against, &run.figures("w"));
            if let Some(e) = run.first_error() {
                r.line(&format!("\n> errors ({}, {against}): {e}\n", rpc.name()));
            }
        }
        let (suite, alone) = (runs[0].figures("w").per_second, runs[1].figures("w").per_second.max(1e-9));
        peaks.push((rpc, suite));
        ratios.push((rpc, suite / alone));
        quiesce(&b.admin).await?;
    }
    r.line("");
    for (rpc, ratio) in ratios {
        r.line(&format!("- {}: suite ÷ PostgreSQL alone = **{:.0} %**", rpc.name(), ratio * 100.0));
        r.target(
            &format!("write {}: throughput vs the same transaction alone", rpc.name()),
            "≥ 90 %",
            format!("{:.0} %", ratio * 100.0),
            ratio >= 0.9,
        );
    }
    let cpu = b.cpu_since();
    r.line(&format!("- {cpu}"));
    Ok(peaks)
}

async fn open_loops(b: &mut Bench, r: &mut Report, ops: &Ops, peaks: &Peaks, first: bool) -> Result<(), String> {
    if first {
        r.section(
            "Latency at half the peak (open loop)",
            &format!(
                "Calls start at a fixed rate — half the closed-loop peak measured above — for {:.0} s, \
                 whatever the answers do; each latency counts from the moment its call was due, so \
                 queueing shows. Each runs after the services' event work from earlier load has settled.",
                b.plan.span.as_secs_f64()
            ),
        );
        r.line("| RPC | offered calls/s | p50 ms | p90 ms | p99 ms | max ms | errors | target p99 |");
        r.line("|---|---:|---:|---:|---:|---:|---:|---|");
    }
    for (rpc, peak) in peaks {
        quiesce(&b.admin).await?;
        let (rpc, rate) = (*rpc, peak / 2.0);
        let target = if matches!(rpc, Rpc::Get | Rpc::List) { 5.0 } else { 20.0 };
        let run = {
            let ops = ops.clone();
            measure::open(rate, b.plan.span, 4_096, move |i| {
                let ops = ops.clone();
                async move { ("o", ops.suite(rpc, i).await) }
            })
            .await
        };
        let f = run.figures("o");
        let errors = f.errors + run.figures("overload").errors;
        r.line(&format!(
            "| {} | {rate:.0} | {} | {} | {} | {} | {errors} | < {target} ms |",
            rpc.name(),
            ms(f.p50),
            ms(f.p90),
            ms(f.p99),
            ms(f.max)
        ));
        let p99 = f.p99.as_secs_f64() * 1000.0;
        let kind = if target < 10.0 { "read" } else { "write" };
        r.target(
            &format!("{kind} {}: p99 at half the peak, open loop", rpc.name()),
            &format!("< {target} ms"),
            format!("{p99:.1} ms"),
            p99 < target && errors == 0,
        );
        if let Some(e) = run.first_error() {
            r.line(&format!("\n> errors ({}): {e}\n", rpc.name()));
        }
    }
    Ok(())
}

/// Returns the ids of the copies it made.
async fn scaling(b: &mut Bench, r: &mut Report, template: Uuid) -> Result<Vec<Uuid>, String> {
    r.section(
        "The read path as the table grows",
        "The applications table is filled with copies of a complete application up to each size, then \
         GetApplication (a random application) and ListApplications pages (page size 20: the first \
         page, and the page after 50 pages, reached by the real page tokens) run in a closed loop of 16 \
         callers. Keyset pagination means a page costs the same wherever it is and however large the table.",
    );
    let analyst = b.token(Role::Analyst, None);
    let span = b.plan.span.min(Duration::from_secs(3));
    r.line("| applications | Get p50 ms | Get p99 ms | first page p50 ms | first page p99 ms | page 51 p50 ms | page 51 p99 ms | Get calls/s |");
    r.line("|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut copies = Vec::new();
    for size in b.plan.sizes.clone() {
        let have: i64 = sqlx::query_scalar("SELECT count(*) FROM applications.application")
            .fetch_one(&b.admin)
            .await
            .map_err(|e| e.to_string())?;
        if have < size {
            copies.extend(clone(&b.admin, template, size - have).await?);
        }
        let ids = Arc::new(sample_ids(&b.admin, 10_000).await?);
        let total = have.max(size);
        let mut token = String::new();
        for _ in 0..50 {
            let page = b
                .apps(0)
                .list_applications(authorized(
                    ap::ListApplicationsRequest { page_size: 20, page_token: token.clone(), ..Default::default() },
                    &analyst,
                ))
                .await
                .map_err(|e| e.to_string())?
                .into_inner();
            token = page.next_page_token;
        }
        let (clients, analyst) = (b.channels.clone(), analyst.clone());
        let token = Arc::new(token);
        let run = measure::closed(16, span, move |i| {
            let mut client = ApplicationsServiceClient::new(clients[i as usize % clients.len()].clone());
            let (ids, analyst, token) = (ids.clone(), analyst.clone(), token.clone());
            async move {
                match i % 3 {
                    0 => (
                        "get",
                        status(
                            client
                                .get_application(authorized(
                                    ap::GetApplicationRequest {
                                        name: format!("applications/{}", ids[i as usize % ids.len()]),
                                    },
                                    &analyst,
                                ))
                                .await,
                        ),
                    ),
                    1 => (
                        "first",
                        status(
                            client
                                .list_applications(authorized(
                                    ap::ListApplicationsRequest { page_size: 20, ..Default::default() },
                                    &analyst,
                                ))
                                .await,
                        ),
                    ),
                    _ => (
                        "deep",
                        status(
                            client
                                .list_applications(authorized(
                                    ap::ListApplicationsRequest {
                                        page_size: 20,
                                        page_token: (*token).clone(),
                                        ..Default::default()
                                    },
                                    &analyst,
                                ))
                                .await,
                        ),
                    ),
                }
            }
        })
        .await;
        let (g, f, d) = (run.figures("get"), run.figures("first"), run.figures("deep"));
        r.line(&format!(
            "| {total} | {} | {} | {} | {} | {} | {} | {:.0} |",
            ms(g.p50),
            ms(g.p99),
            ms(f.p50),
            ms(f.p99),
            ms(d.p50),
            ms(d.p99),
            g.per_second
        ));
        if let Some(e) = run.first_error() {
            r.line(&format!("\n> errors at {total}: {e}\n"));
        }
    }
    let cpu = b.cpu_since();
    r.line(&format!("\n- {cpu}"));
    Ok(copies)
}

async fn pilot_flow(b: &mut Bench, r: &mut Report, out: &std::path::Path) -> Result<(), String> {
    r.section(
        "The pilot story end to end, and event propagation",
        &format!(
            "{} runs of the pilot story (`socialloans demo`: two applications each, from draft through \
             the committee, loan tagging and two years of outcome reports to the portfolio report; every \
             step checked), {} at a time. Event propagation is read afterwards from the services' own \
             timestamps: the committee's confirmation of a decision, the applications service's history \
             entry applying it, and the monitoring plan's creation.",
            b.plan.stories, b.plan.story_callers
        ),
    );
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..b.plan.story_callers {
        let (endpoints, secret, out, next, stories) =
            (b.suite.endpoints.clone(), b.suite.secret.clone(), out.to_path_buf(), next.clone(), b.plan.stories);
        // A thread and a runtime per worker: the story's future is not Send.
        workers.push(std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
            let mut outcomes = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < stories {
                outcomes.push(runtime.block_on(demo::run(&endpoints, &secret, &out, &mut |_| {})));
            }
            Ok::<_, String>(outcomes)
        }));
    }
    let mut outcomes = Vec::new();
    for worker in workers {
        outcomes.extend(tokio::task::block_in_place(|| worker.join()).map_err(|_| "a story worker panicked")??);
    }
    let elapsed = started.elapsed();
    let failures: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    let done: Vec<&demo::Outcome> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    r.line(&format!(
        "- {} stories ({} applications) in {:.1} s: **{:.1} applications per second** through the whole life cycle; {} failed{}.",
        done.len(),
        done.len() * 2,
        elapsed.as_secs_f64(),
        (done.len() * 2) as f64 / elapsed.as_secs_f64(),
        failures.len(),
        failures.first().map(|e| format!(" (first: {e})")).unwrap_or_default()
    ));
    let under_load = propagation(b, &done).await?;
    let load_p99 = report_propagation(r, &format!("With {} stories at a time", b.plan.story_callers), under_load);
    // The same, one story at a time: the feeds' own latency rather than the machine's queue.
    let quiet_runs = (b.plan.stories / 4).max(1);
    let mut quiet_done = Vec::new();
    for _ in 0..quiet_runs {
        quiet_done.push(demo::run(&b.suite.endpoints, &b.suite.secret, out, &mut |_| {}).await?);
    }
    let quiet = propagation(b, &quiet_done.iter().collect::<Vec<_>>()).await?;
    let quiet_p99 = report_propagation(r, &format!("One story at a time ({quiet_runs} stories)"), quiet);
    r.target(
        "event propagation: decision confirmed → application changed and plan opened, p99",
        "< 20 ms",
        format!(
            "{} ms one story at a time; {} ms with {} at a time",
            ms(quiet_p99),
            ms(load_p99),
            b.plan.story_callers
        ),
        quiet_p99 < Duration::from_millis(20) && quiet_p99 > Duration::ZERO,
    );
    let cpu = b.cpu_since();
    r.line(&format!("- {cpu}"));
    Ok(())
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort_unstable();
    if v.is_empty() { Duration::ZERO } else { v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1] }
}

/// Reports both legs of propagation; returns the p99 of the later of the two per decision.
fn report_propagation(r: &mut Report, how: &str, (mut a, mut m): (Vec<Duration>, Vec<Duration>)) -> Duration {
    let mut both: Vec<Duration> = a.iter().zip(&m).map(|(x, y)| *x.max(y)).collect();
    r.line(&format!(
        "- {how}: decision confirmed → application state changed: p50 {} ms, p99 {} ms, max {} ms ({} decisions); \
         → monitoring plan opened (through the applications feed): p50 {} ms, p99 {} ms, max {} ms.",
        ms(percentile(&mut a, 0.5)),
        ms(percentile(&mut a, 0.99)),
        ms(percentile(&mut a, 1.0)),
        a.len(),
        ms(percentile(&mut m, 0.5)),
        ms(percentile(&mut m, 0.99)),
        ms(percentile(&mut m, 1.0))
    ));
    percentile(&mut both, 0.99)
}

fn time(t: Option<&prost_types::Timestamp>) -> Option<chrono::DateTime<chrono::Utc>> {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos as u32))
}

/// Per confirmed decision: how long until the application applied it, and until the plan was opened.
async fn propagation(b: &Bench, done: &[&demo::Outcome]) -> Result<(Vec<Duration>, Vec<Duration>), String> {
    let auditor = b.token(Role::Auditor, None);
    let mut committee =
        CommitteeServiceClient::connect(b.suite.endpoints.committee.clone()).await.map_err(|e| e.to_string())?;
    let mut monitoring =
        MonitoringServiceClient::connect(b.suite.endpoints.monitoring.clone()).await.map_err(|e| e.to_string())?;
    let mut apps = b.apps(0);
    let (mut to_application, mut to_plan) = (Vec::new(), Vec::new());
    for outcome in done {
        for i in 0..2 {
            let case = committee
                .get_case(authorized(cm::GetCaseRequest { name: outcome.cases[i].clone() }, &auditor))
                .await
                .map_err(|e| e.to_string())?
                .into_inner()
                .case
                .ok_or("no case")?;
            let Some(confirmed) = case.decisions.first().and_then(|d| time(d.confirm_time.as_ref())) else { continue };
            let history = apps
                .list_audit_entries(authorized(
                    ap::ListAuditEntriesRequest {
                        parent: outcome.applications[i].clone(),
                        page_size: 200,
                        ..Default::default()
                    },
                    &auditor,
                ))
                .await
                .map_err(|e| e.to_string())?
                .into_inner()
                .audit_entries;
            let applied = history
                .iter()
                .find(|e| {
                    [ap::ApplicationState::Approved as i32, ap::ApplicationState::ApprovedWithConditions as i32]
                        .contains(&e.to_state)
                })
                .and_then(|e| time(e.occur_time.as_ref()));
            let plan = monitoring
                .get_monitoring_plan(authorized(
                    mo::GetMonitoringPlanRequest { name: outcome.plans[i].clone() },
                    &auditor,
                ))
                .await
                .map_err(|e| e.to_string())?
                .into_inner()
                .monitoring_plan
                .ok_or("no plan")?;
            let opened = time(plan.create_time.as_ref());
            if let (Some(applied), Some(opened)) = (applied, opened) {
                to_application.push((applied - confirmed).to_std().unwrap_or_default());
                to_plan.push((opened - confirmed).to_std().unwrap_or_default());
            }
        }
    }
    Ok((to_application, to_plan))
}

async fn portfolio(b: &mut Bench, r: &mut Report) -> Result<(), String> {
    let plans = b.plan.portfolio_plans;
    r.section(
        "The portfolio impact report",
        &format!(
            "{plans} active monitoring plans with five catalogue indicators and two accepted reports each \
             ({} measurements), written with set-based SQL; then GetPortfolioImpactReport over gRPC, 20 calls \
             one after another, and the CSV and SVG exports.",
            plans * 10
        ),
    );
    let seeded = Instant::now();
    seed_portfolio(&b.admin, plans).await?;
    let seed_time = seeded.elapsed();
    let auditor = b.token(Role::Auditor, None);
    let mut client =
        MonitoringServiceClient::connect(b.suite.endpoints.monitoring.clone()).await.map_err(|e| e.to_string())?;
    let as_of = Some(mo::Date { year: 2027, month: 12, day: 31 });
    let request = || authorized(mo::GetPortfolioImpactReportRequest { as_of, ..Default::default() }, &auditor);
    client.get_portfolio_impact_report(request()).await.map_err(|e| e.to_string())?;
    let mut times = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        client.get_portfolio_impact_report(request()).await.map_err(|e| e.to_string())?;
        times.push(t.elapsed());
    }
    times.sort_unstable();
    let mut exports = Vec::new();
    for format in [mo::ExportFormat::Csv, mo::ExportFormat::Svg] {
        let t = Instant::now();
        let file = client
            .export_portfolio_impact_report(authorized(
                mo::ExportPortfolioImpactReportRequest { as_of, format: format as i32, ..Default::default() },
                &auditor,
            ))
            .await
            .map_err(|e| e.to_string())?
            .into_inner();
        exports.push(format!("{format:?} {} bytes in {} ms", file.content.len(), ms(t.elapsed())));
    }
    r.line(&format!(
        "- Seeded in {:.1} s. GetPortfolioImpactReport: p50 {} ms, p90 {} ms, max {} ms. Exports: {}.",
        seed_time.as_secs_f64(),
        ms(times[9]),
        ms(times[17]),
        ms(times[19]),
        exports.join("; ")
    ));
    r.target(
        &format!("portfolio report over {plans} plans / {} measurements", plans * 10),
        "well under 1 s",
        format!("p50 {} ms", ms(times[9])),
        times[9] < Duration::from_millis(500),
    );
    let cpu = b.cpu_since();
    r.line(&format!("- {cpu}"));
    Ok(())
}

/// Plans with facts, indicators, target groups, two accepted reports each and
/// a value per indicator and report, as the monitoring service keeps them.
async fn seed_portfolio(admin: &PgPool, plans: i64) -> Result<(), String> {
    let statements = [
        "INSERT INTO monitoring.monitoring_plan
              (id, application, state, organization_number, category, content,
               approved_minor, tagged_minor, activate_date, sdg_targets)
         SELECT gen_random_uuid(), 'applications/bench-' || g, CASE WHEN g % 10 = 0 THEN 'CLOSED' ELSE 'ACTIVE' END,
                lpad((g % 900000 + 100000)::text, 6, '0') || '-' || lpad((g % 10000)::text, 4, '0'),
                (ARRAY['HOUSING_AND_RESIDENTIAL_ENVIRONMENTS', 'SAFETY_SECURITY_AND_ACCESSIBILITY',
                       'HEALTH_EDUCATION_SPORT_AND_CULTURE'])[1 + g % 3],
                '\\x'::bytea, (20 + g % 400) * 100000000::bigint, (20 + g % 400) * 90000000::bigint,
                DATE '2025-01-01' + g % 300,
                CASE g % 3 WHEN 0 THEN ARRAY['11.1', '10.2'] WHEN 1 THEN ARRAY['16.1', '11.7']
                           ELSE ARRAY['3.4', '4.1', '8.5'] END
           FROM generate_series(1, $1::int) g",
        "INSERT INTO monitoring.plan_indicator (plan_id, code, unit, baseline, target)
         SELECT p.id, d.code, d.unit, 10 + abs(hashtext(p.id::text || d.code)) % 40, 60 + abs(hashtext(d.code)) % 60
           FROM monitoring.monitoring_plan p
          CROSS JOIN LATERAL (SELECT code, unit FROM monitoring.indicator_definition
                               ORDER BY code OFFSET abs(hashtext(p.id::text)) % 7 LIMIT 5) d
          WHERE p.application LIKE 'applications/bench-%'",
        "INSERT INTO monitoring.plan_target_group (plan_id, population, estimated_size)
         SELECT id, (ARRAY['LOW_INCOME', 'GENERAL_PUBLIC', 'AGEING', 'CHILDREN_AND_YOUTH'])[1 + abs(hashtext(id::text)) % 4],
                500 + abs(hashtext(id::text)) % 5000
           FROM monitoring.monitoring_plan WHERE application LIKE 'applications/bench-%'",
        "INSERT INTO monitoring.outcome_report (id, plan_id, period_end, state, version, organization_number, content)
         SELECT gen_random_uuid(), p.id, y.period_end, 'ACCEPTED', 1, p.organization_number, '\\x'::bytea
           FROM monitoring.monitoring_plan p
          CROSS JOIN (VALUES (DATE '2025-12-31'), (DATE '2026-12-31')) y(period_end)
          WHERE p.application LIKE 'applications/bench-%'",
        "INSERT INTO monitoring.measurement (report_id, plan_id, period_end, accept_date, indicator_code, value)
         SELECT r.id, r.plan_id, r.period_end, r.period_end + 60, i.code,
                i.baseline + (i.target - i.baseline) * ((abs(hashtext(r.id::text || i.code)) % 130) / 100.0)
           FROM monitoring.outcome_report r JOIN monitoring.plan_indicator i ON i.plan_id = r.plan_id
           JOIN monitoring.monitoring_plan p ON p.id = r.plan_id WHERE p.application LIKE 'applications/bench-%'",
        "INSERT INTO monitoring.reach (report_id, plan_id, period_end, accept_date, population, people)
         SELECT r.id, r.plan_id, r.period_end, r.period_end + 60, g.population, g.estimated_size / 2
           FROM monitoring.outcome_report r JOIN monitoring.plan_target_group g ON g.plan_id = r.plan_id
           JOIN monitoring.monitoring_plan p ON p.id = r.plan_id WHERE p.application LIKE 'applications/bench-%'",
        "ANALYZE",
    ];
    for sql in statements {
        let query = sqlx::query(sqlx::AssertSqlSafe(sql));
        let query = if sql.contains("$1") { query.bind(plans) } else { query };
        query.execute(admin).await.map_err(|e| format!("seeding the portfolio: {e}"))?;
    }
    Ok(())
}

async fn resources(b: &mut Bench, r: &mut Report, idle: &[(&str, procs::Usage)]) -> Result<(), String> {
    r.section(
        "Memory and start-up",
        "Resident memory of each service process right after the suite started (idle) and its peak \
         (VmHWM) over the whole run (under load). Start-up: a further process of each service started \
         against the same database (migrations already applied), timed from spawn until its health \
         check answers SERVING, five times.",
    );
    r.line("| service | idle RSS MB | peak RSS MB under load | start-up to SERVING, ms (min / median / max) | idle RSS of a fresh process MB |");
    r.line("|---|---:|---:|---|---:|");
    for (name, pid) in b.suite.pids() {
        let idle_rss = idle.iter().find(|(n, _)| *n == name).map_or(0, |(_, u)| u.rss);
        let peak = procs::usage(pid).map_or(0, |u| u.peak_rss);
        let (times, fresh) = start_up(b, name).await?;
        r.line(&format!(
            "| {name} | {} | {} | {} / {} / {} | {} |",
            mb(idle_rss),
            mb(peak),
            ms(times[0]),
            ms(times[2]),
            ms(times[4]),
            mb(fresh)
        ));
        r.target(&format!("{name}: RSS idle"), "< 20 MB", format!("{} MB", mb(idle_rss)), idle_rss < 20 << 20);
        r.target(&format!("{name}: RSS under load (peak)"), "< 60 MB", format!("{} MB", mb(peak)), peak < 60 << 20);
        r.target(
            &format!("{name}: start-up to SERVING (median)"),
            "< 200 ms",
            format!("{} ms", ms(times[2])),
            times[2] < Duration::from_millis(200),
        );
    }
    Ok(())
}

/// Five timed starts of `service` (sorted), and the idle RSS of the last one.
async fn start_up(b: &Bench, service: &str) -> Result<(Vec<Duration>, u64), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut times = Vec::new();
    let mut fresh = 0;
    for _ in 0..5 {
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        let metrics =
            std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        let started = Instant::now();
        let mut child = std::process::Command::new(&exe)
            .args(["service", service, "serve"])
            .env("DATABASE_URL", b.suite.service_url(service)?)
            .env("AUTH_HS256_SECRET", &b.suite.secret)
            .env("AUTH_ALLOW_HS256", socialloans_platform::config::ALLOW_HS256)
            .env("GRPC_ADDR", format!("127.0.0.1:{port}"))
            .env("METRICS_ADDR", format!("127.0.0.1:{metrics}"))
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let url = format!("http://127.0.0.1:{port}");
        let serving = loop {
            if started.elapsed() > Duration::from_secs(20) {
                break None;
            }
            let one =
                socialloans::Endpoints { applications: url.clone(), committee: url.clone(), monitoring: url.clone() };
            if one.serving().await {
                break Some(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        fresh = procs::usage(child.id()).map_or(0, |u| u.rss);
        let _ = child.kill();
        let _ = child.wait();
        times.push(serving.ok_or_else(|| format!("{service} did not report SERVING within 20 s"))?);
    }
    times.sort_unstable();
    Ok((times, fresh))
}
