//! Where a cluster keeps its files.
//!
//! One root directory per cluster holds everything, so that removing it
//! removes the cluster and nothing is shared with other clusters (tests run in
//! parallel processes):
//!
//! ```text
//! ROOT/data/                 PGDATA (created by initdb)
//! ROOT/sock/                 unix socket directory (/var/run/postgresql may not exist)
//! ROOT/postgres.log          server log
//! ROOT/superuser-password    the superuser password (initdb --pwfile; reused on the next start)
//! ROOT/port                  the last port used (persistent clusters reuse it)
//! ```

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Longest socket directory that still fits `DIR/.s.PGSQL.65535` into
/// `sockaddr_un.sun_path` (108 bytes including the terminating NUL).
const MAX_SOCKET_DIR_LEN: usize = 107 - ".s.PGSQL.65535".len() - 1;

/// The paths of one cluster.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// The cluster's own directory.
    pub(crate) root: PathBuf,
    /// PGDATA.
    pub(crate) data: PathBuf,
    /// Unix socket directory.
    pub(crate) sock: PathBuf,
    /// Whether `sock` lives outside `root` (its path would have been too long
    /// inside it) and must be removed separately.
    pub(crate) sock_outside_root: bool,
    /// Server log file.
    pub(crate) log: PathBuf,
    /// File holding the superuser password.
    pub(crate) password_file: PathBuf,
    /// File holding the port number.
    pub(crate) port_file: PathBuf,
}

impl Layout {
    /// The layout for an existing, absolute `root`.
    pub(crate) fn new(root: PathBuf) -> Self {
        let inside = root.join("sock");
        let sock_outside_root = inside.as_os_str().len() > MAX_SOCKET_DIR_LEN;
        let sock = if sock_outside_root { unique_temp_path("pgcluster-sock") } else { inside };
        Layout {
            data: root.join("data"),
            log: root.join("postgres.log"),
            password_file: root.join("superuser-password"),
            port_file: root.join("port"),
            sock,
            sock_outside_root,
            root,
        }
    }

    /// Creates a fresh, private (mode 0700) directory under the system temp
    /// directory and returns its layout.
    pub(crate) fn create_temporary() -> std::io::Result<Self> {
        let root = unique_temp_path("pgcluster");
        std::fs::DirBuilder::new().mode(0o700).create(&root)?;
        Ok(Layout::new(root))
    }

    /// Whether initdb has already run here.
    pub(crate) fn is_initialised(&self) -> bool {
        self.data.join("PG_VERSION").is_file()
    }

    /// The postmaster's lock file; present while a server runs (or after it
    /// crashed).
    pub(crate) fn pid_file(&self) -> PathBuf {
        self.data.join("postmaster.pid")
    }

    /// The server's unix socket for `port`.
    pub(crate) fn socket(&self, port: u16) -> PathBuf {
        self.sock.join(format!(".s.PGSQL.{port}"))
    }
}

/// A path under `std::env::temp_dir()` that no other process or thread will
/// pick: process id + per-process counter + wall-clock nanoseconds (the
/// nanoseconds guard against pid reuse after a crashed run left a directory).
pub(crate) fn unique_temp_path(prefix: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    std::env::temp_dir().join(format!("{prefix}-{}-{count}-{nanos}", std::process::id()))
}

/// Whether a directory is missing or has no entries.
pub(crate) fn is_missing_or_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut entries| entries.next().is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_paths_are_unique() {
        let a = unique_temp_path("x");
        let b = unique_temp_path("x");
        assert_ne!(a, b);
        assert!(a.starts_with(std::env::temp_dir()));
    }

    #[test]
    fn long_roots_get_a_socket_dir_elsewhere() {
        let short = Layout::new(PathBuf::from("/tmp/c"));
        assert_eq!(short.sock, PathBuf::from("/tmp/c/sock"));
        assert!(!short.sock_outside_root);

        let long = Layout::new(PathBuf::from("/tmp").join("d".repeat(120)));
        assert!(long.sock_outside_root);
        assert!(long.socket(65535).as_os_str().len() < 108);
    }
}
