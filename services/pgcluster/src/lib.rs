//! A private, throwaway PostgreSQL cluster for tests and local runs.
//!
//! [`Cluster::start_temporary`] copies a cluster made by `initdb` once per
//! machine (a template under the system temp directory) into a fresh
//! directory there, starts the server with `pg_ctl` on a free port of
//! 127.0.0.1 and hands back connection URLs; dropping the [`Cluster`] stops
//! the server and deletes the directory. [`Cluster::start_persistent`] does
//! the same in a directory you choose and keeps it, for local runs whose data
//! should survive restarts.
//!
//! ```no_run
//! let cluster = pgcluster::Cluster::start_temporary()?;
//! let url = cluster.admin_url(); // postgres://postgres:<random>@127.0.0.1:<port>/postgres
//! # Ok::<(), pgcluster::Error>(())
//! ```
//!
//! # Why not a container or a shared server
//! Every test process gets its own server, port, socket directory and files,
//! so tests running in parallel processes (cargo-nextest) cannot see each
//! other's data, and nothing needs to be running beforehand. The machine's own
//! PostgreSQL binaries are used: `PG_BIN_DIR` if set, else `PATH`, else the
//! newest `/usr/lib/postgresql/*/bin`.
//!
//! # Why the programs may run as another user
//! `initdb`, `pg_ctl` and `postgres` refuse to run as root, yet CI and these
//! sessions run as root. So when this process is root, every PostgreSQL
//! program runs as the unprivileged `postgres` system user (what
//! `runuser -u postgres --` does, done through std's `CommandExt::uid`/`gid`)
//! and the cluster's directories are handed to that user. An ordinary user
//! (a developer laptop) simply runs them as themselves.
//!
//! # Speed over safety for throwaway clusters
//! Temporary clusters run with `fsync`, `synchronous_commit` and
//! `full_page_writes` off: a crash loses them anyway. Persistent clusters
//! keep the durable defaults.
//!
//! # Nothing left behind
//! Besides `Drop`, each cluster has a tiny watchdog process that stops the
//! server (and removes a temporary directory) when this process ends without
//! running `Drop` — a cluster kept in a `static`, or a test killed on timeout.

mod account;
mod binaries;
mod cluster;
mod error;
mod layout;
mod logfile;
mod secret;
mod server;
mod setup;
mod template;
mod watchdog;

pub use cluster::Cluster;

/// Whether the user the server would run as can reach `dir` (traverse every
/// parent): always when we are not root; as root, whether the `postgres`
/// user can. A directory it cannot reach (one under a private parent such
/// as /root) cannot hold the cluster.
pub fn server_can_reach(dir: &std::path::Path) -> bool {
    match account::RunAs::detect() {
        Ok(account::RunAs::CurrentUser) => true,
        Ok(run_as) => {
            // The nearest existing ancestor: the rest is created by us, for it.
            let existing = dir.ancestors().find(|d| d.exists()).unwrap_or(std::path::Path::new("/"));
            let mut command = run_as.command("/bin/sh".as_ref(), "/".as_ref());
            command.args(["-c", r#"test -d "$0" && test -x "$0""#]).arg(existing);
            command.status().is_ok_and(|s| s.success())
        }
        Err(_) => false,
    }
}
pub use error::{Error, Result};
