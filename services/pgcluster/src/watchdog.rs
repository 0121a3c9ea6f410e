//! Cleaning up after a process that never runs `Drop`.
//!
//! `pg_ctl start` puts the server in its own session, so it outlives the
//! process that started it. `Drop` normally stops it, but `Drop` does not run
//! for a cluster kept in a `static` (a common way to share one cluster between
//! tests), nor when the test process is killed (test-runner timeouts, Ctrl-C)
//! or aborts. Without help, each such run would leave a server and its
//! directory behind.
//!
//! The help is a tiny `sh` process per cluster, blocked reading a pipe whose
//! only writer is this process. When this process ends, however it ends, the
//! kernel closes the pipe, `read` returns, and the watchdog stops the server
//! and removes what must be removed. It ignores the usual termination signals
//! and sits in its own process group, so a runner that kills the test's
//! process group does not take it down too. A normal `Drop` cleans up itself
//! and then kills the watchdog.

use std::path::PathBuf;
use std::process::{Child, Stdio};

use std::os::unix::process::CommandExt;

use crate::server::{Server, StopMode};

/// `$0` = pg_ctl, `$1` = PGDATA, `$2` = stop mode, the rest = paths to remove.
const SCRIPT: &str = r#"trap '' HUP INT TERM QUIT PIPE
read _ignored
pg_ctl=$0 data=$1 mode=$2
shift 2
"$pg_ctl" -D "$data" -m "$mode" -w -t 30 stop >/dev/null 2>&1
rm -rf -- "$@"
"#;

/// A running watchdog process.
#[derive(Debug)]
pub(crate) struct Watchdog {
    child: Child,
}

impl Watchdog {
    /// Starts a watchdog that, once this process is gone, stops `server` with
    /// `mode` and removes `remove`. Best effort: `None` if it cannot start,
    /// since the cluster itself works fine without it.
    pub(crate) fn spawn(server: &Server, mode: StopMode, remove: &[PathBuf]) -> Option<Watchdog> {
        // Runs as the server's user: that user owns everything it must remove.
        let mut command = server.run_as.command("/bin/sh".as_ref(), "/".as_ref());
        command
            .arg("-c")
            .arg(SCRIPT)
            .arg(server.bins.pg_ctl())
            .arg(&server.layout.data)
            .arg(mode.as_str())
            .args(remove)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        // The pipe's write end is close-on-exec, so servers and other children
        // we spawn later do not keep it open.
        command.spawn().ok().map(|child| Watchdog { child })
    }

    /// Ends the watchdog without letting it act (the owner cleaned up itself).
    pub(crate) fn dismiss(mut self) {
        // SIGKILL cannot be trapped, so the script never reaches its cleanup.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
