//! The suite measured by tools nobody here wrote: h2load (nghttp2) drives
//! gRPC calls with real protobuf bodies, pgbench drives the service's own
//! SQL with the pool's width, and the service's CPU per call is read from
//! `/proc`. Each gives a ceiling the suite is held against.

use std::{path::PathBuf, process::Command};

use prost::Message;

use super::*;

/// Streams h2load keeps open: 4 connections × 16 streams, like the generator's 64 callers.
const CONNECTIONS: usize = 4;
const STREAMS: usize = 16;
/// pgbench's clients: the service pool's width.
const POOL_WIDTH: usize = 10;

/// What one h2load run measured.
struct Driven {
    per_second: f64,
    /// Calls h2load made that the service did not answer OK, by its own count.
    failed: u64,
    /// The service's CPU time per call, in µs.
    cpu_us: f64,
}

/// `message` as one gRPC frame: uncompressed, its length, its bytes.
fn grpc_frame(message: &impl Message) -> Vec<u8> {
    let body = message.encode_to_vec();
    let mut frame = Vec::with_capacity(body.len() + 5);
    frame.push(0);
    frame.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

/// A program on the PATH, or PostgreSQL's newest bin directory for `pgbench`.
fn program(name: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    on_path.or_else(|| {
        let mut dirs: Vec<PathBuf> =
            std::fs::read_dir("/usr/lib/postgresql").ok()?.filter_map(|e| Some(e.ok()?.path())).collect();
        dirs.sort();
        dirs.into_iter().rev().map(|d| d.join("bin").join(name)).find(|p| p.is_file())
    })
}

/// The number after `label` in h2load's or pgbench's report.
fn number_after(text: &str, label: &str) -> Option<f64> {
    let rest = &text[text.find(label)? + label.len()..];
    let number: String = rest.trim_start().chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    number.parse().ok()
}

/// The calls of `method` the service answered OK so far, from its metrics
/// at `url` (h2load sees HTTP statuses, never gRPC's: this is what says the
/// calls it made were answered, not refused).
fn answered_ok(url: &str, method: &str) -> Result<u64, String> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").ok_or("not an http URL")?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream = std::net::TcpStream::connect(host).map_err(|e| format!("{url}: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    write!(stream, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut text = String::new();
    stream.read_to_string(&mut text).map_err(|e| e.to_string())?;
    Ok(ok_count(&text, method))
}

/// The `grpc_server_calls` counter of `method` with code OK in a metrics exposition.
fn ok_count(exposition: &str, method: &str) -> u64 {
    exposition
        .lines()
        .filter(|l| l.starts_with("socialloans_grpc_server_calls_total{"))
        .filter(|l| l.contains(&format!("method=\"{method}\"")) && l.contains("code=\"OK\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

/// Runs h2load against `path` of the server at `base` with `body` for
/// `span`, as `token`; the server `pid`'s CPU and the calls it answered
/// OK (by its `metrics`; without them, by h2load's count of HTTP successes)
/// are read before and after.
fn h2load(
    (base, metrics): (&str, Option<&str>),
    path: &str,
    body: &[u8],
    token: &str,
    span: Duration,
    pid: u32,
) -> Result<Driven, String> {
    let h2load = program("h2load").ok_or("h2load is not installed (Debian: nghttp2-client)")?;
    let file = std::env::temp_dir().join(format!("loadgen-body-{}", Uuid::now_v7()));
    std::fs::write(&file, body).map_err(|e| e.to_string())?;
    let method = path.trim_start_matches('/');
    let answered_before = metrics.map(|m| answered_ok(m, method)).transpose()?;
    let before = procs::usage(pid).map(|u| u.cpu).unwrap_or_default();
    let output = Command::new(h2load)
        .args(["-c", &CONNECTIONS.to_string(), "-m", &STREAMS.to_string(), "-t", "1"])
        .args(["-D", &format!("{}ms", span.as_millis().max(100))])
        .args(["-H", "content-type: application/grpc", "-H", "te: trailers"])
        .args(["-H", &format!("authorization: {token}")])
        .arg("-d")
        .arg(&file)
        .arg(format!("{base}{path}"))
        .output()
        .map_err(|e| format!("h2load: {e}"));
    let _ = std::fs::remove_file(&file);
    let output = output?;
    let cpu = procs::usage(pid).map(|u| u.cpu).unwrap_or_default().saturating_sub(before);
    let text = String::from_utf8_lossy(&output.stdout);
    for line in text.lines().filter(|l| l.starts_with("finished in") || l.starts_with("time for request")) {
        println!("  h2load {path}: {line}");
    }
    let done = requests(&text, "done");
    let answered = match (metrics, answered_before) {
        (Some(metrics), Some(before)) => answered_ok(metrics, method)?.saturating_sub(before),
        _ => requests(&text, "succeeded"),
    };
    let per_second = text
        .lines()
        .find(|l| l.starts_with("finished in"))
        .and_then(|l| l.split(',').nth(1))
        .and_then(|p| p.split_whitespace().next()?.parse::<f64>().ok())
        .ok_or_else(|| said("h2load", &text, &output.stderr))?;
    let cpu_us = cpu.as_secs_f64() * 1e6 / answered.max(1) as f64;
    Ok(Driven { per_second, failed: done.saturating_sub(answered), cpu_us })
}

/// What a tool said when it gave no figure, on one line (it goes into a table).
fn said(tool: &str, stdout: &str, stderr: &[u8]) -> String {
    let all = format!("{stdout} {}", String::from_utf8_lossy(stderr));
    format!("{tool} said: {}", all.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "/"))
}

/// The count h2load's `requests:` line gives for `what` (`done`, `succeeded`).
fn requests(text: &str, what: &str) -> u64 {
    let line = text.lines().find(|l| l.trim_start().starts_with("requests:")).unwrap_or_default();
    line.split(',')
        .find(|part| part.trim_end().ends_with(what))
        .and_then(|part| part.split_whitespace().rev().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// Runs pgbench with `script` against `url` for `span`, `POOL_WIDTH`
/// clients on prepared statements; transactions per second.
fn pgbench(url: &str, script: &str, span: Duration) -> Result<f64, String> {
    let pgbench = program("pgbench").ok_or("pgbench is not installed")?;
    let file = std::env::temp_dir().join(format!("loadgen-pgbench-{}.sql", Uuid::now_v7()));
    std::fs::write(&file, script).map_err(|e| e.to_string())?;
    let output = Command::new(pgbench)
        .args(["-n", "-M", "prepared", "-c", &POOL_WIDTH.to_string(), "-j", "2"])
        .args(["-T", &span.as_secs().max(1).to_string()])
        .arg("-f")
        .arg(&file)
        .arg(url)
        .output()
        .map_err(|e| format!("pgbench: {e}"));
    let _ = std::fs::remove_file(&file);
    let output = output?;
    let text = String::from_utf8_lossy(&output.stdout);
    number_after(&text, "tps =").ok_or_else(|| said("pgbench", &text, &output.stderr))
}

/// The statement `store::get` runs, for pgbench: the same text, its
/// parameters given (the application, and no borrower to confine it to).
fn get_statement(id: Uuid) -> String {
    format!(
        "SELECT id, organization_number, state, category, revision, create_time, update_time,\n\
         submit_time, content, contact_person\n\
         FROM applications.application\n\
         WHERE id = '{id}'::uuid AND (NULL::text IS NULL OR organization_number = NULL::text);\n"
    )
}

/// The statement `store::list` runs for a first page of `size` with no
/// filter, for pgbench: the same text, its parameters given.
fn list_statement(size: i64) -> String {
    let parameters = [
        ("$1", "NULL::text[]".to_owned()),
        ("$2", "'{}'::text[]".to_owned()),
        ("$3", "NULL::text".to_owned()),
        ("$4", "NULL::timestamptz".to_owned()),
        ("$5", "NULL::timestamptz".to_owned()),
        ("$6", "NULL::timestamptz".to_owned()),
        ("$7", "NULL::uuid".to_owned()),
        ("$8", format!("{}::bigint", size + 1)),
        ("$9", "NULL::timestamptz".to_owned()),
    ];
    let text = parameters.iter().fold(store::list_statement().to_owned(), |text, (p, v)| text.replace(p, v));
    format!("{};\n", text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The applications service's process, whose CPU the contenders read.
fn applications_pid(b: &Bench) -> Option<u32> {
    b.suite.pids().into_iter().find(|(name, _)| *name == "applications").map(|(_, pid)| pid)
}

/// The calls the contenders drive, as (label, gRPC path, one frame).
fn calls(ops: &Ops) -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let health = tonic_health::pb::HealthCheckRequest { service: String::new() };
    vec![
        ("grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Check", grpc_frame(&health)),
        ("GetApplication", "/socialloans.applications.v1.ApplicationsService/GetApplication", grpc_frame(&ops.get(0))),
        (
            "ListApplications (20)",
            "/socialloans.applications.v1.ApplicationsService/ListApplications",
            grpc_frame(&Ops::list()),
        ),
    ]
}

/// The section: h2load's calls/s and the service's CPU per call for the
/// health check and each read, pgbench on the read's SQL, and the ratios the
/// targets hold them to.
pub(super) async fn independent(b: &mut Bench, r: &mut Report, ops: &Ops) {
    r.section(
        "Independent contenders: h2load and pgbench",
        &format!(
            "In the same run, tools nobody here wrote: **h2load** (nghttp2) sends gRPC calls with real \
             protobuf bodies over {CONNECTIONS} connections × {STREAMS} streams to the applications \
             service (the same call each time), and to the *floor*: a tonic server in the generator \
             that runs the service's own SELECT through sqlx and answers pre-encoded bytes (its CPU is \
             the generator's, idle otherwise); **pgbench** runs each read's SELECT with \
             {POOL_WIDTH} clients (the pool's width) on prepared statements. The service's CPU per call \
             is its process's user + system time from `/proc` over the run, divided by the calls \
             answered. The ceiling of a read is 1 / (1/health check + 1/PostgreSQL alone): what the \
             gRPC stack and the SQL cost together if the service added nothing."
        ),
    );
    let span = b.plan.span;
    let base = b.suite.endpoints.applications.clone();
    let metrics = b.apps_metrics.clone();
    let Some(pid) = applications_pid(b) else {
        r.line("- no applications process to measure");
        return;
    };
    let token = ops.analyst.to_str().unwrap_or_default().to_owned();
    let mut driven = Vec::new();
    r.line("| call | driven by | calls/s | service CPU µs per call | failed |");
    r.line("|---|---|---:|---:|---:|");
    for (label, path, body) in calls(ops) {
        let (base, metrics, token) = (base.clone(), metrics.clone(), token.clone());
        let run =
            tokio::task::spawn_blocking(move || h2load((&base, Some(&metrics)), path, &body, &token, span, pid)).await;
        if let Some(d) = driven_row(r, label, "h2load", run) {
            driven.push((label, d));
        }
    }
    // The floor: tonic and sqlx with the same SELECT, nothing of the service's own.
    let floor = echo_server(ops, Some(b.apps_pool.clone())).await;
    for (_, path, body) in calls(ops).into_iter().skip(1) {
        let (floor, token) = (floor.clone(), token.clone());
        let run = tokio::task::spawn_blocking(move || {
            let base = format!("http://{}", floor?);
            h2load((&base, None), path, &body, &token, span, std::process::id())
        })
        .await;
        let floor_label = if path.ends_with("GetApplication") { FLOOR_GET } else { FLOOR_LIST };
        if let Some(d) = driven_row(r, floor_label, "h2load", run) {
            driven.push((floor_label, d));
        }
    }
    let url = b.suite.service_url("applications").unwrap_or_default();
    let mut pg = Vec::new();
    for (label, script) in
        [("GetApplication's SELECT", get_statement(ops.ids[0])), ("ListApplications' SELECT", list_statement(20))]
    {
        let url = url.clone();
        let run = tokio::task::spawn_blocking(move || pgbench(&url, &script, span)).await.map_err(|e| e.to_string());
        match run.and_then(|r| r) {
            Ok(tps) => {
                r.line(&format!("| {label} | pgbench | {tps:.0} | — | 0 |"));
                pg.push(Some(tps));
            }
            Err(e) => {
                r.line(&format!("| {label} | pgbench | — | — | {e} |"));
                pg.push(None);
            }
        }
    }
    r.line("");
    independent_ratios(r, &driven, (pg[0], pg[1]));
}

/// The labels of the floor's rows.
const FLOOR_GET: &str = "GetApplication: tonic + sqlx floor";
const FLOOR_LIST: &str = "ListApplications (20): tonic + sqlx floor";

/// A row of the contenders' table for one h2load `run`; its figures.
fn driven_row(
    r: &mut Report,
    label: &str,
    tool: &str,
    run: Result<Result<Driven, String>, tokio::task::JoinError>,
) -> Option<Driven> {
    match run.map_err(|e| e.to_string()).and_then(|r| r) {
        Ok(d) => {
            r.line(&format!("| {label} | {tool} | {:.0} | {:.0} | {} |", d.per_second, d.cpu_us, d.failed));
            Some(d)
        }
        Err(e) => {
            r.line(&format!("| {label} | {tool} | — | — | {e} |"));
            None
        }
    }
}

/// The ratios of the targets: a read's CPU per call against the health
/// check's and against the floor's, and its rate against the ceiling.
fn independent_ratios(r: &mut Report, driven: &[(&str, Driven)], (pg_get, pg_list): (Option<f64>, Option<f64>)) {
    let find = |label: &str| driven.iter().find(|(l, _)| *l == label).map(|(_, d)| d);
    let Some(health) = find("grpc.health.v1.Health/Check") else { return };
    let reads =
        [("GetApplication", FLOOR_GET, 2.0, pg_get, 0.7), ("ListApplications (20)", FLOOR_LIST, 6.0, pg_list, 0.6)];
    for (label, floor_label, cpu_bound, pg, share_bound) in reads {
        let Some(read) = find(label) else { continue };
        let cpu = read.cpu_us / health.cpu_us.max(1e-9);
        let floor = find(floor_label).map_or(String::new(), |f| {
            format!(
                "; the tonic + sqlx floor costs {:.0} µs ({:.1}× the health check), so the service's own \
                 work is {:.0} µs",
                f.cpu_us,
                f.cpu_us / health.cpu_us.max(1e-9),
                read.cpu_us - f.cpu_us
            )
        });
        r.line(&format!(
            "- {label}: {:.0} µs of service CPU per call, **{cpu:.1}×** the health check's {:.0} µs{floor}.",
            read.cpu_us, health.cpu_us
        ));
        r.target(
            &format!("{label}: service CPU per call vs Health/Check (h2load)"),
            &format!("≤ {cpu_bound:.0}×"),
            format!("{cpu:.1}×"),
            cpu <= cpu_bound,
        );
        let Some(pg) = pg else { continue };
        let ceiling = 1.0 / (1.0 / health.per_second + 1.0 / pg);
        let share = read.per_second / ceiling;
        r.line(&format!(
            "- {label}: {:.0} calls/s against a ceiling of {ceiling:.0} (health {:.0}, pgbench {pg:.0}): \
             **{:.0} %**.",
            read.per_second,
            health.per_second,
            share * 100.0
        ));
        r.target(
            &format!("{label}: throughput vs 1/(1/health + 1/PostgreSQL alone) (h2load, pgbench)"),
            &format!("≥ {:.0} %", share_bound * 100.0),
            format!("{:.0} %", share * 100.0),
            share >= share_bound,
        );
    }
}

/// The service's CPU per call of each write, by the generator's own closed
/// loop of 64 callers over the suite (h2load sends one body again and again,
/// which a write answers as a replay of its request id); each write's
/// service is the one measured (the monitoring service for
/// SubmitOutcomeReport). SubmitOutcomeReport's peak, for the open loop.
pub(super) async fn write_cpu(b: &mut Bench, r: &mut Report, ops: &Ops) -> Peaks {
    let mut peaks = Vec::new();
    r.line("");
    r.line("| write | service | calls/s | service CPU µs per call | p50 ms | p99 ms | errors |");
    r.line("|---|---|---:|---:|---:|---:|---:|");
    for rpc in [Rpc::Create, Rpc::Submit, Rpc::Tag, Rpc::Report] {
        let service = if rpc == Rpc::Report { "monitoring" } else { "applications" };
        let Some(pid) = b.suite.pids().into_iter().find(|(name, _)| *name == service).map(|(_, pid)| pid) else {
            continue;
        };
        let before = procs::usage(pid).map(|u| u.cpu).unwrap_or_default();
        let run = measure::closed(
            CALLERS,
            b.plan.span,
            per_call(ops, move |ops, i| async move { ("c", ops.suite(rpc, i).await) }),
        )
        .await;
        let cpu = procs::usage(pid).map(|u| u.cpu).unwrap_or_default().saturating_sub(before);
        let f = run.figures("c");
        let per_call = cpu.as_secs_f64() * 1e6 / (f.count.max(1) as f64);
        r.line(&format!(
            "| {} | {service} | {:.0} | {per_call:.0} | {} | {} | {} |",
            rpc.name(),
            f.per_second,
            ms(f.p50),
            ms(f.p99),
            f.errors
        ));
        if let Some(e) = run.first_error() {
            r.line(&format!("\n> errors ({}): {e}\n", rpc.name()));
        }
        if rpc == Rpc::Report {
            peaks.push((rpc, f.per_second));
        }
    }
    peaks
}

/// How many of a profile's top entries the report gives.
const PROFILE_ENTRIES: usize = 15;

/// `--profile`: the applications service sampled by `perf record` while
/// h2load drives each read, after the measured runs; its top functions by
/// own time, and the shares of the kernel, the C library and our binary.
pub(super) async fn profile(b: &mut Bench, r: &mut Report, ops: &Ops) {
    r.section(
        "Profile of the applications service",
        "`perf record` at 1999 Hz on the applications process while h2load drives the call as above, \
         in a separate run after the measured ones (sampling costs CPU). Shares are of the process's \
         samples, by the function that was running (its own time, callees not included).",
    );
    let Some(pid) = applications_pid(b) else { return };
    let (base, metrics) = (b.suite.endpoints.applications.clone(), b.apps_metrics.clone());
    let token = ops.analyst.to_str().unwrap_or_default().to_owned();
    let span = b.plan.span;
    for (label, path, body) in calls(ops).into_iter().skip(1) {
        let (base, metrics, token) = (base.clone(), metrics.clone(), token.clone());
        let run = tokio::task::spawn_blocking(move || {
            let data = std::env::temp_dir().join(format!("loadgen-perf-{}.data", Uuid::now_v7()));
            let sampled = sampled(&data, pid, span, || h2load((&base, Some(&metrics)), path, &body, &token, span, pid));
            let _ = std::fs::remove_file(&data);
            sampled
        })
        .await;
        r.line(&format!("\n**{label}**\n"));
        match run.map_err(|e| e.to_string()).and_then(|r| r) {
            Ok(top) => {
                r.line("| share | where | function |");
                r.line("|---:|---|---|");
                for line in top {
                    r.line(&line);
                }
            }
            Err(e) => r.line(&format!("- no profile: {e}")),
        }
    }
}

/// Runs `drive` while `perf record` samples `pid` into `data`; the top
/// entries of the report as table rows, led by the share of each object.
fn sampled<T>(
    data: &std::path::Path,
    pid: u32,
    span: Duration,
    drive: impl FnOnce() -> Result<T, String>,
) -> Result<Vec<String>, String> {
    let perf = program("perf").ok_or("perf is not installed (Debian: linux-perf)")?;
    let seconds = span.as_secs_f64().max(0.5);
    let recorder = Command::new(&perf)
        .args(["record", "-q", "-F", "1999", "-p", &pid.to_string(), "-o"])
        .arg(data)
        .args(["--", "sleep", &format!("{seconds:.1}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("perf: {e}"))?;
    let driven = drive();
    let recorded = recorder.wait_with_output().map_err(|e| format!("perf: {e}"))?;
    driven?;
    if !recorded.status.success() {
        return Err(said("perf record", "", &recorded.stderr));
    }
    let report = |sort: &str| {
        Command::new(&perf)
            .args(["report", "-q", "--stdio", "--no-children", "--sort", sort, "-i"])
            .arg(data)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .map_err(|e| format!("perf report: {e}"))
    };
    let mut rows: Vec<String> = report("dso")?
        .lines()
        .filter_map(|l| profile_entry(l, 1))
        .map(|(share, parts)| format!("| {share} | {} | (all) |", parts[0]))
        .take(4)
        .collect();
    rows.extend(
        report("dso,symbol")?
            .lines()
            .filter_map(|l| profile_entry(l, 2))
            .map(|(share, parts)| format!("| {share} | {} | `{}` |", parts[0], shortened(&parts[1])))
            .take(PROFILE_ENTRIES),
    );
    Ok(rows)
}

/// A line of `perf report --stdio`: its share and its `columns` columns
/// (the object, then the symbol without its `[k]`/`[.]` mark).
fn profile_entry(line: &str, columns: usize) -> Option<(String, Vec<String>)> {
    let line = line.trim();
    let (share, rest) = line.split_once(char::is_whitespace)?;
    share.strip_suffix('%')?.parse::<f64>().ok()?;
    let rest = rest.trim_start();
    let (object, symbol) = match columns {
        1 => (rest.to_owned(), String::new()),
        _ => {
            let (object, symbol) = rest.split_once(char::is_whitespace)?;
            // perf pads the column and may add more after it: the symbol ends at a double space.
            let symbol = symbol.trim_start().split("  ").next().unwrap_or_default();
            let symbol = symbol.strip_prefix("[k]").or_else(|| symbol.strip_prefix("[.]")).unwrap_or(symbol);
            (object.to_owned(), symbol.trim().to_owned())
        }
    };
    Some((share.to_owned(), vec![object.replace('|', "/"), symbol]))
}

/// A symbol short enough for a table: `<T as Trait>::f` as `T::f`, generic
/// arguments and the hash dropped.
fn shortened(symbol: &str) -> String {
    let symbol = match symbol.rsplit_once("::h") {
        Some((path, hash)) if hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()) => path,
        _ => symbol,
    };
    let mut out = String::new();
    let (mut depth, mut skipping) = (0usize, false);
    for c in symbol.chars() {
        match c {
            // `<T as Trait>`: keep `T`, drop ` as Trait`.
            '<' if depth == 0 && (out.is_empty() || out.ends_with(' ')) => depth = usize::MAX / 2,
            '<' => depth += 1,
            '>' if depth == usize::MAX / 2 => (depth, skipping) = (0, false),
            '>' => depth = depth.saturating_sub(1),
            ' ' if depth == usize::MAX / 2 && out.ends_with(|c: char| c != ' ') => skipping = true,
            _ if depth == usize::MAX / 2 && !skipping => out.push(c),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    let out = out.replace('|', "/").replace('`', "'");
    if out.chars().count() > 90 { out.chars().take(89).chain(['…']).collect() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grpc_frame_is_a_zero_flag_a_big_endian_length_and_the_message() {
        let frame = grpc_frame(&tonic_health::pb::HealthCheckRequest { service: "ab".into() });
        assert_eq!(frame, [0, 0, 0, 0, 4, 0x0a, 2, b'a', b'b']);
    }

    #[test]
    fn a_profile_line_gives_its_share_object_and_symbol_without_generics() {
        let line =
            "    12.50%  socialloans  [.] <h2::proto::streams::Recv as Foo<T>>::poll_data::h0        -      -   ";
        let (share, parts) = profile_entry(line, 2).expect("an entry");
        assert_eq!(share, "12.50%");
        assert_eq!(parts[0], "socialloans");
        assert_eq!(shortened(&parts[1]), "h2::proto::streams::Recv::poll_data::h0");
        assert_eq!(
            shortened("core::ptr::drop_in_place<alloc::vec::Vec<u8>>::h0123456789abcdef"),
            "core::ptr::drop_in_place"
        );
        assert_eq!(profile_entry("# Samples: 10", 2), None);
        assert_eq!(
            profile_entry("  3.00%  [kernel.kallsyms]", 1).map(|(_, p)| p[0].clone()),
            Some("[kernel.kallsyms]".into())
        );
    }

    #[test]
    fn the_list_statement_for_pgbench_has_every_parameter_given_and_is_one_line() {
        let text = list_statement(20);
        assert!(!text.contains('$'), "{text}");
        assert!(text.contains("21::bigint") && text.ends_with(";\n") && !text.trim_end().contains('\n'), "{text}");
    }

    #[test]
    fn the_figures_are_read_from_the_tools_reports() {
        let h2 = "finished in 5.00s, 4350.20 req/s, 3.10MB/s\nrequests: 21751 total, 21751 started, 21751 done, 21700 succeeded, 51 failed, 0 errored, 0 timeout\n";
        assert_eq!((requests(h2, "done"), requests(h2, "succeeded")), (21751, 21700));
        assert_eq!(number_after("tps = 22301.5 (without initial connection time)", "tps ="), Some(22301.5));
        assert_eq!(number_after("nothing here", "tps ="), None);
        let exposition = "# TYPE socialloans_grpc_server_calls counter\n\
            socialloans_grpc_server_calls_total{method=\"a.S/Get\",code=\"OK\"} 41\n\
            socialloans_grpc_server_calls_total{method=\"a.S/Get\",code=\"NOT_FOUND\"} 2\n\
            socialloans_grpc_server_calls_total{method=\"a.S/List\",code=\"OK\"} 7\n";
        assert_eq!(ok_count(exposition, "a.S/Get"), 41);
    }
}
