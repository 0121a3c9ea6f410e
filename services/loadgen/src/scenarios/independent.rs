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

/// Runs h2load against `path` of the service at `base` with `body` for
/// `span`, as `token`; the service `pid`'s CPU and the calls it answered
/// OK (`metrics`) are read before and after.
fn h2load(
    (base, metrics): (&str, &str),
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
    let answered_before = answered_ok(metrics, method)?;
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
    let answered = answered_ok(metrics, method)?.saturating_sub(answered_before);
    let text = String::from_utf8_lossy(&output.stdout);
    let done = requests(&text, "done");
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
             service (the same call each time); **pgbench** runs the service's own SELECT with \
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
        let run = tokio::task::spawn_blocking(move || h2load((&base, &metrics), path, &body, &token, span, pid)).await;
        match run.map_err(|e| e.to_string()).and_then(|r| r) {
            Ok(d) => {
                r.line(&format!("| {label} | h2load | {:.0} | {:.0} | {} |", d.per_second, d.cpu_us, d.failed));
                driven.push((label, d));
            }
            Err(e) => r.line(&format!("| {label} | h2load | — | — | {e} |")),
        }
    }
    let url = b.suite.service_url("applications").unwrap_or_default();
    let script = get_statement(ops.ids[0]);
    let pg = tokio::task::spawn_blocking(move || pgbench(&url, &script, span)).await.map_err(|e| e.to_string());
    let pg = match pg.and_then(|r| r) {
        Ok(tps) => {
            r.line(&format!("| GetApplication's SELECT | pgbench | {tps:.0} | — | 0 |"));
            Some(tps)
        }
        Err(e) => {
            r.line(&format!("| GetApplication's SELECT | pgbench | — | — | {e} |"));
            None
        }
    };
    r.line("");
    independent_ratios(r, &driven, pg);
}

/// The ratios of the targets: a read's CPU per call against the health
/// check's, and its rate against the ceiling.
fn independent_ratios(r: &mut Report, driven: &[(&str, Driven)], pg: Option<f64>) {
    let find = |label: &str| driven.iter().find(|(l, _)| *l == label).map(|(_, d)| d);
    let Some(health) = find("grpc.health.v1.Health/Check") else { return };
    for (label, cpu_bound) in [("GetApplication", 2.0), ("ListApplications (20)", 6.0)] {
        let Some(read) = find(label) else { continue };
        let cpu = read.cpu_us / health.cpu_us.max(1e-9);
        r.line(&format!(
            "- {label}: {:.0} µs of service CPU per call, **{cpu:.1}×** the health check's {:.0} µs.",
            read.cpu_us, health.cpu_us
        ));
        r.target(
            &format!("{label}: service CPU per call vs Health/Check (h2load)"),
            &format!("≤ {cpu_bound:.0}×"),
            format!("{cpu:.1}×"),
            cpu <= cpu_bound,
        );
    }
    if let (Some(get), Some(pg)) = (find("GetApplication"), pg) {
        let ceiling = 1.0 / (1.0 / health.per_second + 1.0 / pg);
        let share = get.per_second / ceiling;
        r.line(&format!(
            "- GetApplication: {:.0} calls/s against a ceiling of {ceiling:.0} (health {:.0}, pgbench {pg:.0}): \
             **{:.0} %**.",
            get.per_second,
            health.per_second,
            share * 100.0
        ));
        r.target(
            "GetApplication: throughput vs 1/(1/health + 1/PostgreSQL alone) (h2load, pgbench)",
            "≥ 70 %",
            format!("{:.0} %", share * 100.0),
            share >= 0.7,
        );
    }
}

/// The service's CPU per call of each write, by the generator's own closed
/// loop of 64 callers over the suite (h2load sends one body again and again,
/// which a write answers as a replay of its request id).
pub(super) async fn write_cpu(b: &mut Bench, r: &mut Report, ops: &Ops) {
    let Some(pid) = applications_pid(b) else {
        return;
    };
    r.line("");
    r.line("| write | calls/s | service CPU µs per call | errors |");
    r.line("|---|---:|---:|---:|");
    for rpc in [Rpc::Create, Rpc::Submit, Rpc::Tag] {
        let before = procs::usage(pid).map(|u| u.cpu).unwrap_or_default();
        let run = measure::closed(
            CALLERS,
            b.plan.span,
            per_call(ops, move |ops, i| async move { ("c", ops.suite(rpc, i).await) }),
        )
        .await;
        let cpu = procs::usage(pid).map(|u| u.cpu).unwrap_or_default().saturating_sub(before);
        let figures = run.figures("c");
        let per_call = cpu.as_secs_f64() * 1e6 / (figures.count.max(1) as f64);
        r.line(&format!("| {} | {:.0} | {per_call:.0} | {} |", rpc.name(), figures.per_second, figures.errors));
    }
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
