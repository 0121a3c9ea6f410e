//! Services as real processes. A service crate's own tests pass
//! `env!("CARGO_BIN_EXE_<name>")`, which cargo builds for them.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    net::SocketAddr,
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc,
    time::Duration,
};

/// Runs `binary subcommand` with exactly `env` (plus PATH) and waits for it.
pub fn run(binary: &str, subcommand: &str, env: &HashMap<String, String>) -> std::process::Output {
    Command::new(binary)
        .arg(subcommand)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .output()
        .expect("run service binary")
}

/// A running service process.
pub struct ServiceProcess {
    child: Child,
    /// The gRPC address the process reported.
    pub grpc_addr: SocketAddr,
    /// Lines the process logged after start.
    pub logs: mpsc::Receiver<String>,
}

impl ServiceProcess {
    /// Starts `binary serve` with `env` and waits until it logs its address.
    #[allow(clippy::zombie_processes)] // `Drop` kills and waits; a failed start panics the test anyway
    pub fn spawn(binary: &str, env: &HashMap<String, String>) -> ServiceProcess {
        let mut child = Command::new(binary)
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn service");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let remaining = deadline.saturating_duration_since(std::time::Instant::now());
            let line = rx.recv_timeout(remaining).unwrap_or_else(|_| panic!("{binary} did not report serving in time"));
            let Ok(json) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if json["message"] == "serving"
                && let Some(addr) = json["grpc_addr"].as_str()
            {
                return ServiceProcess { child, grpc_addr: addr.parse().unwrap(), logs: rx };
            }
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let _ =
            rustix::process::kill_process(rustix::process::Pid::from_child(&self.child), rustix::process::Signal::TERM);
    }

    /// Waits for exit, at most `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
