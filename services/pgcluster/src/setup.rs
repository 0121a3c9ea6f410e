//! Preparing a cluster directory before the first start: ownership, the
//! password file, initdb, and the remembered port of persistent clusters.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::account::RunAs;
use crate::error::{Error, Result};
use crate::layout::{Layout, is_missing_or_empty};
use crate::secret::random_password;
use crate::server::Server;

/// Initialises a brand-new cluster directory; returns the superuser password.
pub(crate) fn initialise_fresh(server: &Server) -> Result<String> {
    let password = random_password()?;
    server.run_as.give(&server.layout.root)?;
    check_server_user_can_write(server)?;
    write_password(server, &password)?;
    prepare_socket_dir(server)?;
    server.init()?;
    Ok(password)
}

/// Initialises a brand-new temporary cluster directory as a copy of the
/// template data directory `template` (see `template`), whose superuser
/// password is `password`.
pub(crate) fn initialise_from_template(server: &Server, template: &Path, password: &str) -> Result<()> {
    server.run_as.give(&server.layout.root)?;
    check_server_user_can_write(server)?;
    write_password(server, password)?;
    prepare_socket_dir(server)?;
    crate::template::copy(server, template, &server.layout.data)
}

/// For a persistent directory: reuse an initialised cluster (and its
/// password), or initialise an empty one. Returns the superuser password.
pub(crate) fn initialise_or_reuse(server: &Server) -> Result<String> {
    let layout = &server.layout;
    if !layout.is_initialised() {
        if !is_missing_or_empty(&layout.data) {
            return Err(invalid(layout, "data/ exists but holds no PostgreSQL cluster (no PG_VERSION); remove it"));
        }
        // A password file without data is left over from a failed initdb; a
        // fresh password is just as good.
        return initialise_fresh(server);
    }
    let password = std::fs::read_to_string(&layout.password_file).map_err(|e| {
        invalid(layout, &format!("the cluster exists but {} cannot be read ({e})", layout.password_file.display()))
    })?;
    let password = password.lines().next().unwrap_or_default().to_string();
    if password.is_empty() {
        return Err(invalid(layout, "the superuser password file is empty"));
    }
    check_server_user_can_write(server)?;
    prepare_socket_dir(server)?;
    Ok(password)
}

/// Creates `dir` if needed and returns it as an absolute path (the server
/// runs in another working directory, so relative paths would break).
pub(crate) fn prepare_persistent_root(dir: &Path, run_as: &RunAs) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let root = dir.canonicalize().map_err(|e| Error::io(format!("resolving {}", dir.display()), e))?;
    run_as.give(&root)?;
    Ok(root)
}

/// The port a persistent cluster used last time, if recorded.
pub(crate) fn read_port(layout: &Layout) -> Option<u16> {
    std::fs::read_to_string(&layout.port_file).ok()?.trim().parse().ok()
}

/// Records the port so that the next run can reuse it (stable URLs for
/// local runs).
pub(crate) fn write_port(layout: &Layout, port: u16) -> Result<()> {
    std::fs::write(&layout.port_file, format!("{port}\n"))
        .map_err(|e| Error::io(format!("writing {}", layout.port_file.display()), e))
}

/// initdb reads the password from a file (never from the command line, where
/// other users could see it); readable only by the server's user.
fn write_password(server: &Server, password: &str) -> Result<()> {
    let path = &server.layout.password_file;
    let _ = std::fs::remove_file(path);
    crate::template::write_private(path, password)?;
    server.run_as.give(path)
}

/// The server creates its socket here, so it must be its user's.
fn prepare_socket_dir(server: &Server) -> Result<()> {
    let sock = &server.layout.sock;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(sock)
        .map_err(|e| Error::io(format!("creating socket directory {}", sock.display()), e))?;
    server.run_as.give(sock)
}

/// When we are root the server runs as `postgres`, which must be able to
/// reach the directory: a directory under e.g. /root is not, and initdb's own
/// error ("Permission denied") would not say why.
fn check_server_user_can_write(server: &Server) -> Result<()> {
    if matches!(server.run_as, RunAs::CurrentUser) {
        return Ok(());
    }
    let root = &server.layout.root;
    let mut command = server.run_as.command("/bin/sh".as_ref(), "/".as_ref());
    command.args(["-c", r#"test -d "$0" && test -w "$0" && test -x "$0""#]).arg(root);
    match command.status() {
        Ok(status) if status.success() => Ok(()),
        Ok(_) => Err(invalid(
            &server.layout,
            "running as root, so PostgreSQL runs as the `postgres` user, which cannot write there \
             (is a parent directory private, like /root?); choose a directory it can reach",
        )),
        Err(e) => Err(Error::io("checking access of the postgres user", e)),
    }
}

fn invalid(layout: &Layout, reason: &str) -> Error {
    Error::InvalidDirectory { path: layout.root.clone(), reason: reason.to_string() }
}
