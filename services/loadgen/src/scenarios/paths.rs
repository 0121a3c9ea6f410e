//! The read and write paths: peaks against the baselines, latency at half the peak in an open loop.

use super::*;

pub(super) async fn read_path(b: &mut Bench, r: &mut Report, ops: &Ops) -> Result<Peaks, String> {
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
    let echo = echo_channel(ops).await?;
    let pool = b.apps_pool.clone();

    let mut peaks = Vec::new();
    r.table_head();
    let mut ratios = Vec::new();
    for rpc in [Rpc::Get, Rpc::List] {
        let (suite, echo, pg) = read_contest(r, ops, &echo, &pool, rpc, half).await;
        peaks.push((rpc, suite));
        ratios.push((rpc, suite, echo, pg));
    }
    r.line("");
    report_read_ratios(r, ratios);
    browse(b, r, ops).await;
    let cpu = b.cpu_since();
    r.line(&format!("- {cpu}"));
    Ok(peaks)
}

/// A connection to an echo server that answers with real answers of the suite.
async fn echo_channel(ops: &Ops) -> Result<Channel, String> {
    let echo_addr = echo_server(ops, None).await?;
    Channel::from_shared(format!("http://{echo_addr}"))
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| e.to_string())
}

/// An echo server answering real answers of the suite (after the service's
/// SELECT on `floor`, when given); its address.
pub(super) async fn echo_server(ops: &Ops, floor: Option<PgPool>) -> Result<std::net::SocketAddr, String> {
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
    echo::serve(one, page, floor).await
}

/// Runs `rpc` against the suite, gRPC alone and PostgreSQL alone in turns and
/// reports a row for each; returns their calls/s in that order.
async fn read_contest(
    r: &mut Report,
    ops: &Ops,
    echo: &Channel,
    pool: &PgPool,
    rpc: Rpc,
    half: Duration,
) -> (f64, f64, f64) {
    let suite = per_call(ops, move |ops, i| async move { ("c", ops.suite(rpc, i).await) });
    let echo = echo.clone();
    let alone_grpc = per_call(ops, move |ops, i| {
        let read = echo_read(echo.clone(), rpc, ops.get(i));
        async move { ("c", read.await) }
    });
    let pool = pool.clone();
    let alone_pg = per_call(ops, move |ops, i| {
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
    });
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
    (per_second(&runs[0]), per_second(&runs[1]), per_second(&runs[2]))
}

/// The suite's rate against each baseline and against the two together, with a target per RPC.
fn report_read_ratios(r: &mut Report, ratios: Vec<(Rpc, f64, f64, f64)>) {
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
}

/// Portal browsing: four reads of one application for each list page, as a borrower.
async fn browse(b: &Bench, r: &mut Report, ops: &Ops) {
    let as_borrower = Ops { analyst: ops.borrower.clone(), ..ops.clone() };
    let browse = measure::closed(
        CALLERS,
        b.plan.span,
        per_call(&as_borrower, |ops, i| async move {
            if i % 5 == 0 { ("list", ops.suite(Rpc::List, i).await) } else { ("get", ops.suite(Rpc::Get, i).await) }
        }),
    )
    .await;
    r.line(&format!(
        "- Read-heavy mix (a borrower's portal: 4 gets per list page): {:.0} calls/s; get p99 {} ms, list p99 {} ms.",
        browse.total_per_second(),
        ms(browse.figures("get").p99),
        ms(browse.figures("list").p99)
    ));
}

/// `op` as a measuring loop's operation: each call is given its own `Ops`
/// (a cheap copy: its parts are shared).
pub(super) fn per_call<F, Fut>(ops: &Ops, op: F) -> impl Fn(u64) -> Fut + Clone + Send + Sync + 'static
where
    F: Fn(Ops, u64) -> Fut + Clone + Send + Sync + 'static,
{
    let ops = ops.clone();
    move |i| op(ops.clone(), i)
}

pub(super) fn caller(role: Role, org: Option<&str>) -> Caller {
    Caller {
        subject: format!("loadgen-{role}"),
        roles: [role].into_iter().collect(),
        organizations: org.map(str::to_owned).into_iter().collect(),
        expires_at: 0,
    }
}

pub(super) fn in_process<T>(message: T, caller: &Caller) -> Request<T> {
    let mut request = Request::new(message);
    request.extensions_mut().insert(caller.clone());
    request
}

pub(super) fn handlers(pool: &PgPool) -> applications::api::Api {
    let (_, positioned) = tokio::sync::watch::channel(0u64);
    let (_, stopping) = tokio::sync::watch::channel(false);
    let settings = socialloans_platform::events::feed::FeedSettings {
        poll: Duration::from_secs(1),
        heartbeat: Duration::from_secs(5),
        max_message_bytes: 4 << 20,
        max_streams_per_caller: 8,
    };
    let feed = socialloans_platform::events::Feed::new(pool.clone(), positioned, stopping, settings);
    applications::api::Api::new(applications::service::Applications { pool: pool.clone(), discount_bps: 3 }, feed)
}

/// One boxed call of a measuring loop: its label and outcome.
type Call = std::pin::Pin<Box<dyn std::future::Future<Output = (&'static str, Result<(), String>)> + Send>>;

/// One call of the write `rpc` (Create, Submit or Tag) to the service's own
/// handlers in-process (`handlers`): the same transactions, without gRPC,
/// HTTP/2 or a token; counted under `label`.
fn in_process_write(
    ops: &Ops,
    api: &Arc<applications::api::Api>,
    rpc: Rpc,
    label: &'static str,
) -> impl Fn(u64) -> Call + Clone + Send + Sync + 'static {
    let borrower = caller(Role::Borrower, Some(pilots::BOTKYRKABYGGEN));
    let core = caller(Role::CoreBanking, None);
    let (ops, api) = (ops.clone(), api.clone());
    move |i| {
        let (ops, api, borrower, core) = (ops.clone(), api.clone(), borrower.clone(), core.clone());
        Box::pin(async move {
            let result = match rpc {
                Rpc::Create => status(api.create_application(in_process(ops.create(), &borrower)).await),
                Rpc::Submit => match ops.submit() {
                    Some(m) => status(api.submit_application(in_process(m, &borrower)).await),
                    None => Err("out of seeded drafts".into()),
                },
                _ => status(api.tag_loan(in_process(ops.tag(i), &core)).await),
            };
            (label, result)
        })
    }
}

pub(super) async fn write_path(b: &mut Bench, r: &mut Report, ops: &Ops) -> Result<Peaks, String> {
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
    let mut peaks = Vec::new();
    r.table_head();
    let mut ratios = Vec::new();
    for rpc in [Rpc::Create, Rpc::Submit, Rpc::Tag] {
        let suite = per_call(ops, move |ops, i| async move { ("w", ops.suite(rpc, i).await) });
        let alone = in_process_write(ops, &api, rpc, "w");
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

pub(super) async fn open_loops(
    b: &mut Bench,
    r: &mut Report,
    ops: &Ops,
    peaks: &Peaks,
    first: bool,
) -> Result<(), String> {
    if first {
        r.section(
            "Latency at half the peak (open loop)",
            &format!(
                "Calls start at a fixed rate — half the closed-loop peak measured above — for {:.0} s, \
                 whatever the answers do; each latency counts from the moment its call was due, so \
                 queueing shows. Each runs after the services' event work from earlier load has settled. \
                 Each read is offered at the same rate to the tonic + sqlx floor too (the service's SELECT \
                 and pre-encoded answers, in the generator), and each write of the applications service to \
                 its own handlers called in-process (the same transactions, no gRPC, no token: the write's \
                 floor); the CPU seconds each process used during \
                 the loop say who else wanted the two cores (with how busy the whole machine was, and the \
                 share of its time the host stole from this virtual machine, from `/proc/stat`).",
                b.plan.span.as_secs_f64()
            ),
        );
        r.line(
            "| RPC | offered calls/s | p50 ms | p90 ms | p99 ms | max ms | errors | target p99 | \
             CPU s: applications / committee / monitoring / generator | machine busy / stolen |",
        );
        r.line("|---|---:|---:|---:|---:|---:|---:|---|---|---|");
    }
    let floor = if first { Some(floor_channel(b, ops).await?) } else { None };
    let api = Arc::new(handlers(&b.apps_pool));
    for (rpc, peak) in peaks {
        quiesce(&b.admin).await?;
        let (rpc, rate) = (*rpc, peak / 2.0);
        let target = if matches!(rpc, Rpc::Get | Rpc::List) { 5.0 } else { 20.0 };
        let suite = per_call(ops, move |ops, i| async move { ("o", ops.suite(rpc, i).await) });
        let (f, errors, run) = open_row(b, r, rpc.name(), rate, &format!("< {target} ms"), suite).await;
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
        if let Some(floor) = &floor {
            let floor = floor.clone();
            let op = per_call(ops, move |ops, i| {
                let read = echo_read(floor.clone(), rpc, ops.get(i));
                async move { ("o", read.await) }
            });
            open_row(b, r, &format!("{}: tonic + sqlx floor", rpc.name()), rate, "—", op).await;
        } else if matches!(rpc, Rpc::Create | Rpc::Submit | Rpc::Tag) {
            quiesce(&b.admin).await?;
            let op = in_process_write(ops, &api, rpc, "o");
            open_row(b, r, &format!("{}: its handlers in-process", rpc.name()), rate, "—", op).await;
        }
    }
    Ok(())
}

/// Offers `op` at `rate` for the plan's span and writes its row of the
/// open-loop table (`target` as the table shows it); its figures, errors
/// (overload included) and the run.
async fn open_row<F, Fut>(b: &Bench, r: &mut Report, label: &str, rate: f64, target: &str, op: F) -> (Figures, u64, Run)
where
    F: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = (&'static str, Result<(), String>)> + Send + 'static,
{
    let before = cpu_now(b);
    let run = measure::open(rate, b.plan.span, 4_096, op).await;
    let cpu = cpu_used(&before, &cpu_now(b));
    let f = run.figures("o");
    let errors = f.errors + run.figures("overload").errors;
    r.line(&format!(
        "| {label} | {rate:.0} | {} | {} | {} | {} | {errors} | {target} | {cpu} |",
        ms(f.p50),
        ms(f.p90),
        ms(f.p99),
        ms(f.max)
    ));
    (f, errors, run)
}

/// One read of `rpc` (`get` for GetApplication, a first page otherwise)
/// from an echo or floor server, which takes no token.
fn echo_read(
    channel: Channel,
    rpc: Rpc,
    get: ap::GetApplicationRequest,
) -> impl std::future::Future<Output = Result<(), String>> + Send + 'static {
    let mut client = ApplicationsServiceClient::new(channel);
    async move {
        match rpc {
            Rpc::Get => status(client.get_application(Request::new(get)).await),
            _ => status(client.list_applications(Request::new(Ops::list())).await),
        }
    }
}

/// A connection to the tonic + sqlx floor (see `echo`).
async fn floor_channel(b: &Bench, ops: &Ops) -> Result<Channel, String> {
    let addr = echo_server(ops, Some(b.apps_pool.clone())).await?;
    Channel::from_shared(format!("http://{addr}"))
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| e.to_string())
}

/// The CPU time used so far by each service and by the generator, in that
/// order, and the machine's.
fn cpu_now(b: &Bench) -> (Vec<Duration>, procs::Machine) {
    let pids = b.suite.pids().into_iter().map(|(_, pid)| pid).chain([std::process::id()]);
    (pids.map(|pid| procs::usage(pid).map(|u| u.cpu).unwrap_or_default()).collect(), procs::machine())
}

/// The CPU seconds each process used between two [`cpu_now`], as `a / b /
/// c / d`, then how busy the machine was and how much the host stole.
fn cpu_used(
    (before, machine_before): &(Vec<Duration>, procs::Machine),
    (after, machine): &(Vec<Duration>, procs::Machine),
) -> String {
    let used = after.iter().zip(before).map(|(a, b)| format!("{:.1}", a.saturating_sub(*b).as_secs_f64()));
    let (busy, steal) = procs::shares(*machine_before, *machine);
    format!("{} | {busy:.0} % / {steal:.1} %", used.collect::<Vec<_>>().join(" / "))
}
