//! The public [`Cluster`] handle: creating, starting, stopping, cleaning up.

use std::fmt;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::account::RunAs;
use crate::binaries::Binaries;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::secret::percent_encode;
use crate::server::{Server, StartError, StopMode};
use crate::setup;
use crate::watchdog::Watchdog;

/// How many fresh ports to try when another process grabs the chosen one
/// between our probe and the server's bind.
const PORT_ATTEMPTS: usize = 5;

/// A private PostgreSQL server listening on 127.0.0.1.
///
/// Shareable between threads (e.g. behind an `Arc`): [`stop`](Cluster::stop)
/// and [`start`](Cluster::start) take `&self`.
pub struct Cluster {
    server: Server,
    port: u16,
    password: String,
    temporary: bool,
    /// Serialises start/stop so that concurrent callers do not run two
    /// pg_ctl commands on the same data directory at once.
    lifecycle: Mutex<()>,
    watchdog: Option<Watchdog>,
}

impl Cluster {
    /// A new cluster in a fresh temporary directory (under
    /// `std::env::temp_dir()`), started; stopped and the directory removed on
    /// Drop.
    pub fn start_temporary() -> Result<Cluster> {
        let (bins, run_as) = (Binaries::locate()?, RunAs::detect()?);
        let template = crate::template::base(&bins, &run_as)?;
        Cluster::start_copy(bins, run_as, template)
    }

    /// A temporary cluster as [`start_temporary`](Cluster::start_temporary)
    /// makes it, with what `prepare` does to a fresh one already done:
    /// `prepare` runs once per machine for `name` (which must change when
    /// what `prepare` does changes), on a cluster whose data is then kept as a
    /// template; every call copies that template.
    pub fn start_temporary_prepared(
        name: &str,
        prepare: impl FnOnce(&Cluster) -> std::result::Result<(), String>,
    ) -> Result<Cluster> {
        let (bins, run_as) = (Binaries::locate()?, RunAs::detect()?);
        let root = crate::template::prepared_root(&bins, &run_as, name);
        let template = crate::template::ensure(&root, &run_as, |layout| {
            let fresh = Cluster::start_temporary()?;
            prepare(&fresh).map_err(|detail| Error::Server {
                action: format!("preparing the template {name}"),
                detail,
                log_tail: String::new(),
            })?;
            fresh.stop()?;
            crate::template::copy(&fresh.server, fresh.data_dir(), &layout.data)?;
            crate::template::write_private(&layout.password_file, &fresh.password)?;
            run_as.give(&layout.password_file)
        })?;
        Cluster::start_copy(bins, run_as, template)
    }

    /// A fresh temporary directory holding a copy of `template` (a data
    /// directory and its superuser password), started.
    fn start_copy(bins: Binaries, run_as: RunAs, (data, password): (PathBuf, String)) -> Result<Cluster> {
        let layout = Layout::create_temporary()
            .map_err(|e| Error::io(format!("creating a cluster directory in {}", std::env::temp_dir().display()), e))?;
        let server = Server { bins, run_as, layout, durable: false };
        let created =
            setup::initialise_from_template(&server, &data, &password).and_then(|()| start_on_free_port(&server, None));
        let port = match created {
            Ok(port) => port,
            Err(error) => {
                let _ = server.stop(StopMode::Immediate);
                remove_dirs(&server.layout, true);
                return Err(error);
            }
        };
        Ok(Cluster::new(server, port, password, true))
    }

    /// A cluster whose data lives in `dir` (created and initialised if empty,
    /// reused if already initialised), started; on Drop it is stopped but the
    /// directory is kept. The superuser password is kept in a file inside
    /// `dir` so that the next start can reuse it.
    ///
    /// The data directory proper is `dir/data` (see [`data_dir`](Cluster::data_dir)).
    /// A server that an earlier run left running on `dir` is stopped first,
    /// then started again with this run's settings.
    pub fn start_persistent(dir: &Path) -> Result<Cluster> {
        let (bins, run_as) = (Binaries::locate()?, RunAs::detect()?);
        let root = setup::prepare_persistent_root(dir, &run_as)?;
        let server = Server { bins, run_as, layout: Layout::new(root), durable: true };
        let started = setup::initialise_or_reuse(&server).and_then(|password| {
            server.stop(StopMode::Fast)?;
            let port = start_on_free_port(&server, setup::read_port(&server.layout))?;
            Ok((password, port))
        });
        let (password, port) = match started {
            Ok(started) => started,
            Err(error) => {
                remove_dirs(&server.layout, false);
                return Err(error);
            }
        };
        // From here on, Drop stops the server if anything else fails.
        let cluster = Cluster::new(server, port, password, false);
        setup::write_port(&cluster.server.layout, port)?;
        Ok(cluster)
    }

    fn new(server: Server, port: u16, password: String, temporary: bool) -> Cluster {
        let (mode, mut remove) = if temporary {
            (StopMode::Immediate, vec![server.layout.root.clone()])
        } else {
            (StopMode::Fast, Vec::new())
        };
        if server.layout.sock_outside_root {
            remove.push(server.layout.sock.clone());
        }
        let watchdog = Watchdog::spawn(&server, mode, &remove);
        Cluster { server, port, password, temporary, lifecycle: Mutex::new(()), watchdog }
    }

    /// Superuser connection URL: `postgres://postgres:<password>@127.0.0.1:<port>/postgres`.
    pub fn admin_url(&self) -> String {
        self.url("postgres", &self.password, "postgres")
    }

    /// URL for another database/user:
    /// `postgres://<user>:<password>@127.0.0.1:<port>/<database>`, with each
    /// part percent-encoded where needed.
    pub fn url(&self, user: &str, password: &str, database: &str) -> String {
        format!(
            "postgres://{}:{}@127.0.0.1:{}/{}",
            percent_encode(user),
            percent_encode(password),
            self.port,
            percent_encode(database)
        )
    }

    /// The TCP port on 127.0.0.1; it stays the same across stop/start.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The PostgreSQL data directory (PGDATA).
    pub fn data_dir(&self) -> &Path {
        &self.server.layout.data
    }

    /// Stop the server (`pg_ctl stop -m fast`, waiting). Idempotent.
    pub fn stop(&self) -> Result<()> {
        let _guard = self.lifecycle.lock().unwrap_or_else(|p| p.into_inner());
        self.server.stop(StopMode::Fast)
    }

    /// Stop the server as a crash would (`pg_ctl stop -m immediate`: no
    /// checkpoint, every session cut), then start it again on the same port:
    /// `pg_ctl restart -m immediate`, for tests of what survives one.
    pub fn restart_immediate(&self) -> Result<()> {
        let _guard = self.lifecycle.lock().unwrap_or_else(|p| p.into_inner());
        self.server.stop(StopMode::Immediate)?;
        self.server.start(self.port).map_err(|e| match e {
            StartError::PortInUse(error) | StartError::Other(error) => error,
        })
    }

    /// Start it again on the same port (after stop). Idempotent if already
    /// running. Fails if another process took the port in the meantime.
    pub fn start(&self) -> Result<()> {
        let _guard = self.lifecycle.lock().unwrap_or_else(|p| p.into_inner());
        if self.server.is_running(self.port) {
            return Ok(());
        }
        self.server.start(self.port).map_err(|e| match e {
            StartError::PortInUse(error) | StartError::Other(error) => error,
        })
    }

    /// Switches TLS on with the given server certificate and key (PEM),
    /// restarting the server on the same port. Clients choose whether to use
    /// it (`sslmode`); with `verify-full` they check `certificate` against
    /// their CA and the host name they connect to.
    pub fn enable_ssl(&self, certificate: &str, key: &str) -> Result<()> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let data = self.data_dir();
        let owner = std::fs::metadata(data).map_err(|e| Error::io(format!("reading {}", data.display()), e))?;
        for (name, contents) in [("server.crt", certificate), ("server.key", key)] {
            let path = data.join(name);
            let io = |e| Error::io(format!("writing {}", path.display()), e);
            std::fs::write(&path, contents).map_err(io)?;
            // PostgreSQL refuses a key that others can read, or that is not its own.
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
            std::os::unix::fs::chown(&path, Some(owner.uid()), Some(owner.gid())).map_err(io)?;
        }
        let conf = data.join("postgresql.conf");
        let settings = "\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n";
        let mut text =
            std::fs::read_to_string(&conf).map_err(|e| Error::io(format!("reading {}", conf.display()), e))?;
        text.push_str(settings);
        std::fs::write(&conf, text).map_err(|e| Error::io(format!("writing {}", conf.display()), e))?;
        self.stop()?;
        self.start()
    }

    /// Whether the server accepts connections now.
    pub fn is_running(&self) -> bool {
        self.server.is_running(self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _guard = self.lifecycle.lock().unwrap_or_else(|p| p.into_inner());
        if self.server.stop(StopMode::Fast).is_err() {
            let _ = self.server.stop(StopMode::Immediate);
        }
        remove_dirs(&self.server.layout, self.temporary);
        if let Some(watchdog) = self.watchdog.take() {
            watchdog.dismiss();
        }
    }
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("root", &self.server.layout.root)
            .field("port", &self.port)
            .field("temporary", &self.temporary)
            .field("password", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Starts the server on `preferred` if that port is free, else on a fresh
/// one; retries with new ports when another process wins the race for one.
fn start_on_free_port(server: &Server, preferred: Option<u16>) -> Result<u16> {
    let mut candidate = preferred.filter(|&port| port_is_free(port));
    for attempt in 1..=PORT_ATTEMPTS {
        let port = match candidate.take() {
            Some(port) => port,
            None => free_port()?,
        };
        match server.start(port) {
            Ok(()) => return Ok(port),
            Err(StartError::PortInUse(error)) if attempt == PORT_ATTEMPTS => return Err(error),
            Err(StartError::PortInUse(_)) => continue,
            Err(StartError::Other(error)) => return Err(error),
        }
    }
    unreachable!("the last attempt always returns")
}

/// A port the kernel just considered free (bind to port 0, then release it).
fn free_port() -> Result<u16> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|e| Error::io("finding a free port on 127.0.0.1", e))
}

fn port_is_free(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// Removes the cluster's directories: all of it when temporary, otherwise
/// only a socket directory that had to live outside the root.
fn remove_dirs(layout: &Layout, temporary: bool) {
    let mut dirs: Vec<&PathBuf> = Vec::new();
    if temporary {
        dirs.push(&layout.root);
    }
    if layout.sock_outside_root {
        dirs.push(&layout.sock);
    }
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}
