//! One initdb per machine instead of one per temporary cluster.
//!
//! `initdb` takes about a second; copying what it made takes a twentieth of
//! that. The first temporary cluster on a machine (for these binaries and
//! this server user) runs initdb into a template directory under the system
//! temp directory; every later one copies the template's data directory.
//! Processes that start clusters at the same time (cargo-nextest runs each
//! test in a process of its own) take turns on a lock file, so the template
//! is made once and never read half-made: it counts only once its `ready`
//! marker exists. The template's superuser password is shared by the
//! clusters copied from it, as their data is; the directory is private to
//! the user that made it and to the server's user.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::account::RunAs;
use crate::binaries::Binaries;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::secret::random_password;
use crate::server::Server;

/// Bumped when what initdb is asked for changes, so that an old template is
/// not reused.
const VERSION: u32 = 1;

/// The data directory of the machine's initdb template for `bins` and
/// `run_as`, made if needed, and its superuser password.
pub(crate) fn base(bins: &Binaries, run_as: &RunAs) -> Result<(PathBuf, String)> {
    let root = std::env::temp_dir().join(format!("pgcluster-template-{:016x}", key(bins, run_as)));
    ensure(&root, run_as, |layout| {
        let password = random_password()?;
        write_private(&layout.password_file, &password)?;
        run_as.give(&layout.password_file)?;
        let server =
            Server { bins: bins.clone(), run_as: *run_as, layout: Layout::new(layout.root.clone()), durable: false };
        server.init()?;
        Ok(())
    })
}

/// The data directory of the template kept in `root`, made by `make` (which
/// fills `layout.data` and writes `layout.password_file`) if no ready one is
/// there, and its superuser password. One process at a time.
pub(crate) fn ensure(
    root: &Path,
    run_as: &RunAs,
    make: impl FnOnce(&Layout) -> Result<()>,
) -> Result<(PathBuf, String)> {
    let lock_path = root.with_extension("lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)
        .map_err(|e| Error::io(format!("opening {}", lock_path.display()), e))?;
    // In a directory every user can write to, a template is used only if it
    // is ours: another user's could configure the server to run anything.
    let ours = |path: &Path, uid: u32| {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        std::fs::symlink_metadata(path)
            .is_ok_and(|m| m.uid() == uid && m.permissions().mode() & 0o077 == 0 && !m.file_type().is_symlink())
    };
    if !ours(&lock_path, crate::account::effective_uid()) {
        return Err(Error::io(
            format!("{} belongs to another user or others may read it; not using it", lock_path.display()),
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        ));
    }
    let _turn = Turn::take(&lock).map_err(|e| Error::io(format!("locking {}", lock_path.display()), e))?;
    let layout = Layout::new(root.to_path_buf());
    let ready = root.join("ready");
    if ready.is_file() && !ours(root, run_as.uid()) {
        return Err(Error::io(
            format!("{} belongs to another user or others may read it; not using it", root.display()),
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        ));
    }
    if !ready.is_file() {
        // Whatever a crashed attempt left is made again.
        let _ = std::fs::remove_dir_all(root);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(root)
            .map_err(|e| Error::io(format!("creating {}", root.display()), e))?;
        run_as.give(root)?;
        make(&layout)?;
        std::fs::write(&ready, b"").map_err(|e| Error::io(format!("writing {}", ready.display()), e))?;
    }
    let password = std::fs::read_to_string(&layout.password_file)
        .map_err(|e| Error::io(format!("reading {}", layout.password_file.display()), e))?;
    Ok((layout.data, password.lines().next().unwrap_or_default().to_owned()))
}

/// Copies the data directory `from` to `to`, as the server's user, so that
/// the copy is its own with the same modes.
pub(crate) fn copy(server: &Server, from: &Path, to: &Path) -> Result<()> {
    let mut copy = server.run_as.command("cp".as_ref(), "/".as_ref());
    copy.arg("-a").arg("--").arg(from).arg(to);
    server.run("copying a template cluster", copy).map(drop)
}

/// The name of a prepared template: the base's key and the caller's.
pub(crate) fn prepared_root(bins: &Binaries, run_as: &RunAs, name: &str) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    name.hash(&mut hasher);
    std::env::temp_dir().join(format!("pgcluster-template-{:016x}-{:016x}", key(bins, run_as), hasher.finish()))
}

/// Identifies a template: the binaries (their directory and when initdb was
/// installed), the server's user and [`VERSION`].
fn key(bins: &Binaries, run_as: &RunAs) -> u64 {
    use std::hash::{Hash, Hasher};
    // Fixed keys: the same in every process.
    let mut hasher = std::hash::DefaultHasher::new();
    VERSION.hash(&mut hasher);
    bins.initdb().hash(&mut hasher);
    std::fs::metadata(bins.initdb()).and_then(|m| m.modified()).ok().hash(&mut hasher);
    format!("{run_as:?}").hash(&mut hasher);
    hasher.finish()
}

pub(crate) fn write_private(path: &Path, text: &str) -> Result<()> {
    let context = || format!("writing {}", path.display());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io(context(), e))?;
    writeln!(file, "{text}").map_err(|e| Error::io(context(), e))
}

/// An exclusive lock on a file (`flock`), released when dropped (or when the
/// process ends, however it ends).
struct Turn<'a>(&'a std::fs::File);

impl<'a> Turn<'a> {
    fn take(file: &'a std::fs::File) -> std::io::Result<Turn<'a>> {
        file.lock()?;
        Ok(Turn(file))
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_that_others_could_have_written_is_not_used() {
        use std::os::unix::fs::PermissionsExt;
        let root = crate::layout::unique_temp_path("pgcluster-template-test");
        let lock = root.with_extension("lock");
        std::fs::write(&lock, b"").unwrap();
        std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o666)).unwrap();
        let made = std::cell::Cell::new(false);
        let refused = ensure(&root, &RunAs::CurrentUser, |_| {
            made.set(true);
            Ok(())
        });
        let _ = std::fs::remove_file(&lock);
        assert!(refused.is_err(), "a world-writable lock file was trusted");
        assert!(!made.get() && !root.exists(), "nothing is made beside a lock that is not ours");
    }
}
