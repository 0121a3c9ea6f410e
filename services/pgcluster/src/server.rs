//! Driving `initdb` and `pg_ctl` for one cluster directory.
//!
//! Everything here is a single, non-retrying step; the policy (which port,
//! retries, cleanup) lives in `cluster.rs`.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::account::RunAs;
use crate::binaries::Binaries;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::logfile;

/// How long the server may take to start or stop.
const TIMEOUT_SECS: u64 = 30;

/// `pg_ctl stop` modes we use.
#[derive(Debug, Clone, Copy)]
pub(crate) enum StopMode {
    /// Disconnect clients, shut down cleanly.
    Fast,
    /// Kill everything; the next start runs crash recovery.
    Immediate,
}

impl StopMode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        }
    }
}

/// Why one start attempt failed.
pub(crate) enum StartError {
    /// Another process holds the port; try another one.
    PortInUse(Error),
    /// Anything else.
    Other(Error),
}

/// One cluster directory plus the means to run PostgreSQL programs on it.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) bins: Binaries,
    pub(crate) run_as: RunAs,
    pub(crate) layout: Layout,
    /// Persistent clusters keep fsync and full-page writes; throwaway ones
    /// trade crash safety for speed.
    pub(crate) durable: bool,
}

impl Server {
    /// Runs initdb with the superuser password already in `password_file`.
    pub(crate) fn init(&self) -> Result<()> {
        let mut command = self.command(&self.bins.initdb());
        command
            .arg("-D")
            .arg(&self.layout.data)
            .args(["-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", self.layout.password_file.display()))
            .args(["-E", "UTF8", "--locale=C", "--no-sync"]);
        self.run("initdb", command).map(drop)
    }

    /// Starts the server on `port` and waits until it accepts TCP connections.
    pub(crate) fn start(&self, port: u16) -> std::result::Result<(), StartError> {
        // Only the log written by this attempt tells whether *it* failed on the port.
        let log_offset = logfile::len(&self.layout.log);
        let mut command = self.command(&self.bins.pg_ctl());
        command.arg("-D").arg(&self.layout.data).arg("-l").arg(&self.layout.log).args([
            "-w",
            "-t",
            &TIMEOUT_SECS.to_string(),
            "-o",
            &self.server_options(port),
            "start",
        ]);
        let action = format!("pg_ctl start on 127.0.0.1:{port}");
        if let Err(error) = self.run(&action, command) {
            let new_log = logfile::read_from(&self.layout.log, log_offset);
            return Err(
                if new_log.contains("Address already in use") || new_log.contains("could not create any TCP/IP sockets")
                {
                    StartError::PortInUse(error)
                } else {
                    StartError::Other(error)
                },
            );
        }
        // pg_ctl -w already waited for "ready"; this confirms that it is *our*
        // server answering on TCP, bounded so a wedged start cannot hang tests.
        let deadline = Instant::now() + Duration::from_secs(TIMEOUT_SECS);
        while !tcp_accepts(port) || !self.socket_accepts(port) {
            if Instant::now() > deadline {
                return Err(StartError::Other(
                    self.failure(&action, format!("the server did not accept connections within {TIMEOUT_SECS} s")),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Stops the server if it runs; succeeds if it is not running.
    pub(crate) fn stop(&self, mode: StopMode) -> Result<()> {
        if !self.layout.pid_file().exists() {
            return Ok(());
        }
        let mut command = self.command(&self.bins.pg_ctl());
        command.arg("-D").arg(&self.layout.data).args([
            "-m",
            mode.as_str(),
            "-w",
            "-t",
            &TIMEOUT_SECS.to_string(),
            "stop",
        ]);
        match self.run(&format!("pg_ctl stop -m {}", mode.as_str()), command) {
            Ok(_) => Ok(()),
            // A stale postmaster.pid (server crashed or was killed) makes
            // pg_ctl stop fail although there is nothing to stop.
            Err(_) if !self.pg_ctl_status_running() => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Whether our server (not just anything on the port) is up: its lock
    /// file exists, its private unix socket and the TCP port accept connections.
    pub(crate) fn is_running(&self, port: u16) -> bool {
        self.layout.pid_file().exists() && self.socket_accepts(port) && tcp_accepts(port)
    }

    /// `pg_ctl status` exits with 3 when no server runs.
    fn pg_ctl_status_running(&self) -> bool {
        let mut command = self.command(&self.bins.pg_ctl());
        command.arg("-D").arg(&self.layout.data).arg("status");
        command.output().map_or(true, |out| out.status.code() != Some(3))
    }

    fn socket_accepts(&self, port: u16) -> bool {
        UnixStream::connect(self.layout.socket(port)).is_ok()
    }

    /// Options for the postgres process. pg_ctl hands this string to
    /// `/bin/sh`, so the socket path is shell-quoted.
    fn server_options(&self, port: u16) -> String {
        let mut options = format!(
            "-p {port} -h 127.0.0.1 -k {} -c max_connections=200",
            shell_quote(&self.layout.sock.to_string_lossy())
        );
        if !self.durable {
            options.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        }
        options
    }

    fn command(&self, program: &Path) -> Command {
        self.run_as.command(program, &self.layout.root)
    }

    /// Runs a command to completion; on failure the error carries its output
    /// and the server log tail.
    pub(crate) fn run(&self, action: &str, mut command: Command) -> Result<String> {
        let output =
            command.output().map_err(|e| Error::io(format!("running {action} ({:?})", command.get_program()), e))?;
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        if output.status.success() {
            Ok(text)
        } else {
            Err(self.failure(action, format!("{}\n{}", output.status, text.trim_end())))
        }
    }

    /// An error for `action` with the server log tail attached.
    pub(crate) fn failure(&self, action: &str, detail: String) -> Error {
        Error::Server { action: action.to_string(), detail, log_tail: logfile::tail(&self.layout.log) }
    }
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
pub(crate) fn tcp_accepts(port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_ok()
}

/// Wraps `text` in single quotes for /bin/sh.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn quotes_for_the_shell() {
        assert_eq!(shell_quote("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
