//! Memory, CPU and start-up time of the services.

use super::*;

pub(super) async fn resources(b: &mut Bench, r: &mut Report, idle: &[(&str, procs::Usage)]) -> Result<(), String> {
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
pub(super) async fn start_up(b: &Bench, service: &str) -> Result<(Vec<Duration>, u64), String> {
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
            let one = socialloans::Endpoints {
                applications: url.clone(),
                committee: url.clone(),
                monitoring: url.clone(),
                notices: String::new(),
                bonds: String::new(),
                clock_file: None,
            };
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
