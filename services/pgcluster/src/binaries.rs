//! Locating the PostgreSQL server binaries.
//!
//! Search order: `PG_BIN_DIR` (an explicit choice always wins, and a wrong
//! value is an error rather than silently falling back), then `PATH`, then the
//! highest version under `/usr/lib/postgresql/*/bin` (Debian/Ubuntu keep the
//! server binaries there, off `PATH`).
//!
//! `pg_ctl` starts `postgres` from its own directory, so a usable directory
//! must hold all three of `initdb`, `pg_ctl` and `postgres`. On `PATH` these
//! are often symlinks (e.g. `/usr/local/bin/pg_ctl -> /usr/lib/postgresql/15/bin/pg_ctl`),
//! hence we resolve `pg_ctl` to its real directory and use that.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The programs that must sit side by side in a bin directory.
const REQUIRED: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

/// Where Debian-style installations keep one directory per major version.
const LIB_ROOT: &str = "/usr/lib/postgresql";

/// A directory holding `initdb`, `pg_ctl` and `postgres`.
#[derive(Debug, Clone)]
pub(crate) struct Binaries {
    dir: PathBuf,
}

impl Binaries {
    /// Finds the binaries using the process environment.
    pub(crate) fn locate() -> Result<Self> {
        find_binaries_in(
            std::env::var_os("PG_BIN_DIR").as_deref(),
            std::env::var_os("PATH").as_deref(),
            Path::new(LIB_ROOT),
        )
    }

    /// Path of `initdb`.
    pub(crate) fn initdb(&self) -> PathBuf {
        self.dir.join("initdb")
    }

    /// Path of `pg_ctl`.
    pub(crate) fn pg_ctl(&self) -> PathBuf {
        self.dir.join("pg_ctl")
    }
}

/// The search itself, with every input explicit so that tests can exercise
/// the "nothing installed" case without touching the process environment
/// (which would race with other tests).
pub(crate) fn find_binaries_in(
    pg_bin_dir: Option<&OsStr>,
    path_var: Option<&OsStr>,
    lib_root: &Path,
) -> Result<Binaries> {
    if let Some(dir) = pg_bin_dir.filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        return if is_bin_dir(&dir) { Ok(Binaries { dir }) } else { Err(Error::BadBinDir { dir }) };
    }
    if let Some(dir) = path_var.and_then(search_path) {
        return Ok(Binaries { dir });
    }
    highest_version_under(lib_root).map(|dir| Binaries { dir }).ok_or(Error::BinariesNotFound)
}

/// The real directory of the first `pg_ctl` on `PATH` that has `initdb`
/// (and `postgres`) beside it.
fn search_path(path_var: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(path_var)
        .filter(|entry| is_executable(&entry.join("pg_ctl")) && is_executable(&entry.join("initdb")))
        .find_map(|entry| {
            let real = entry.join("pg_ctl").canonicalize().ok()?;
            let dir = real.parent()?.to_path_buf();
            is_bin_dir(&dir).then_some(dir)
        })
}

/// `LIB_ROOT/<version>/bin` with the highest version that is complete.
fn highest_version_under(lib_root: &Path) -> Option<PathBuf> {
    let mut candidates: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir(lib_root)
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = parse_version(entry.file_name().to_str()?)?;
            let bin = entry.path().join("bin");
            is_bin_dir(&bin).then_some((version, bin))
        })
        .collect();
    candidates.sort();
    candidates.pop().map(|(_, dir)| dir)
}

/// "15" -> [15], "9.6" -> [9, 6]; anything else is not a version directory.
fn parse_version(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

fn is_bin_dir(dir: &Path) -> bool {
    REQUIRED.iter().all(|name| is_executable(&dir.join(name)))
}

fn is_executable(path: &Path) -> bool {
    // metadata() follows symlinks, which is what we want for PATH entries.
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::INSTALL_HINT;
    use crate::layout::unique_temp_path;

    /// A scratch directory removed when the test ends.
    struct Scratch(PathBuf);
    impl Scratch {
        fn new() -> Self {
            let path = unique_temp_path("pgcluster-bintest");
            std::fs::create_dir_all(&path).unwrap();
            Scratch(path)
        }
    }
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn fake_bin_dir(dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        for name in REQUIRED {
            let file = dir.join(name);
            std::fs::write(&file, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    #[test]
    fn nothing_installed_says_what_to_install() {
        let scratch = Scratch::new();
        let err = find_binaries_in(None, Some(OsStr::new("")), &scratch.0.join("none")).unwrap_err();
        assert!(matches!(err, Error::BinariesNotFound));
        assert_eq!(err.to_string(), INSTALL_HINT);
        assert!(err.to_string().contains("apt-get install postgresql"));
    }

    #[test]
    fn empty_pg_bin_dir_is_an_error_naming_it_and_the_package() {
        let scratch = Scratch::new();
        let err =
            find_binaries_in(Some(scratch.0.as_os_str()), Some(OsStr::new("")), &scratch.0.join("none")).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("PG_BIN_DIR="), "{message}");
        assert!(message.contains("apt-get install postgresql"), "{message}");
    }

    #[test]
    fn pg_bin_dir_wins() {
        let scratch = Scratch::new();
        fake_bin_dir(&scratch.0.join("custom"));
        let found =
            find_binaries_in(Some(scratch.0.join("custom").as_os_str()), None, Path::new("/nonexistent")).unwrap();
        assert_eq!(found.dir, scratch.0.join("custom"));
    }

    #[test]
    fn path_symlinks_resolve_to_the_real_directory() {
        let scratch = Scratch::new();
        let real = scratch.0.join("real");
        let on_path = scratch.0.join("path");
        fake_bin_dir(&real);
        std::fs::create_dir_all(&on_path).unwrap();
        for name in ["initdb", "pg_ctl"] {
            std::os::unix::fs::symlink(real.join(name), on_path.join(name)).unwrap();
        }
        let path_var = std::env::join_paths([scratch.0.join("empty"), on_path]).unwrap();
        let found = find_binaries_in(None, Some(&path_var), Path::new("/nonexistent")).unwrap();
        assert_eq!(found.dir, real.canonicalize().unwrap());
    }

    #[test]
    fn highest_version_is_chosen() {
        let scratch = Scratch::new();
        for version in ["9.6", "15", "16", "not-a-version"] {
            fake_bin_dir(&scratch.0.join(version).join("bin"));
        }
        // An incomplete newer installation is skipped.
        std::fs::create_dir_all(scratch.0.join("17").join("bin")).unwrap();
        let found = find_binaries_in(None, None, &scratch.0).unwrap();
        assert_eq!(found.dir, scratch.0.join("16").join("bin"));
    }
}
