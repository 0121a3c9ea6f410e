//! The crate's error type.
//!
//! Every message is meant to be read by a person looking at a failed test run,
//! so each variant says what went wrong, where, and (when the server was
//! involved) carries the tail of the server log: that is almost always where
//! the real reason is.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// What to tell the user when no PostgreSQL installation can be found.
/// Kept as one constant so the message is identical everywhere (and testable).
pub(crate) const INSTALL_HINT: &str = "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or under /usr/lib/postgresql/*/bin; install them, e.g. `apt-get install postgresql`";

/// Everything that can go wrong while creating, starting or stopping a cluster.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// No directory with `initdb`, `pg_ctl` and `postgres` was found.
    BinariesNotFound,
    /// `PG_BIN_DIR` is set but does not point at a PostgreSQL bin directory.
    BadBinDir {
        /// The value of `PG_BIN_DIR`.
        dir: PathBuf,
    },
    /// Running as root, but there is no `postgres` system user to run the
    /// server as (PostgreSQL refuses to run as root).
    NoPostgresUser,
    /// A directory handed to us cannot be used for a cluster.
    InvalidDirectory {
        /// The directory.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// A file-system or process-spawning operation failed.
    Io {
        /// What we were doing.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// An external command (initdb, pg_ctl) failed, or the server did not
    /// become ready in time.
    Server {
        /// What failed, e.g. "initdb" or "pg_ctl start on port 5433".
        action: String,
        /// Exit status and output of the command, or another explanation.
        detail: String,
        /// The last lines of the server log (may be empty).
        log_tail: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wraps an I/O error with a description of what was being done.
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BinariesNotFound => f.write_str(INSTALL_HINT),
            Error::BadBinDir { dir } => write!(
                f,
                "PG_BIN_DIR={} does not contain initdb, pg_ctl and postgres; point it at a \
                 PostgreSQL bin directory (e.g. /usr/lib/postgresql/15/bin) or unset it. {INSTALL_HINT}",
                dir.display()
            ),
            Error::NoPostgresUser => f.write_str(
                "running as root, but PostgreSQL refuses to run as root and there is no `postgres` \
                 system user to run it as; create one (`apt-get install postgresql` does, or \
                 `useradd --system postgres`)",
            ),
            Error::InvalidDirectory { path, reason } => {
                write!(f, "cannot use {} for a PostgreSQL cluster: {reason}", path.display())
            }
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Server { action, detail, log_tail } => {
                write!(f, "{action} failed: {}", detail.trim_end())?;
                if !log_tail.trim().is_empty() {
                    write!(f, "\n--- last lines of the server log ---\n{}", log_tail.trim_end())?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
