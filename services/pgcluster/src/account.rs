//! Which operating-system user runs the PostgreSQL programs.
//!
//! `initdb`, `pg_ctl` and `postgres` refuse to run as root (a server running
//! as root could be used to take over the machine). Sessions and CI here run
//! as root, so in that case every PostgreSQL program is started as the
//! unprivileged `postgres` system user, and every file or directory the server
//! must write is handed to that user first. Started by an ordinary user (a
//! developer laptop), the programs simply run as that user.
//!
//! Switching user is done with std's `CommandExt::uid`/`gid` — the same thing
//! `runuser -u postgres --` does (setgid, drop supplementary groups, setuid),
//! but without depending on the `runuser` binary or going through PAM.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// The user PostgreSQL programs run as.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RunAs {
    /// We are not root: run them as ourselves.
    CurrentUser,
    /// We are root: run them as the `postgres` system user.
    Postgres {
        /// Its user id.
        uid: u32,
        /// Its primary group id.
        gid: u32,
    },
}

impl RunAs {
    /// Decides from the effective user id of this process.
    pub(crate) fn detect() -> Result<Self> {
        if !effective_uid_is_root() {
            return Ok(RunAs::CurrentUser);
        }
        let (uid, gid) = lookup_postgres_user().ok_or(Error::NoPostgresUser)?;
        Ok(RunAs::Postgres { uid, gid })
    }

    /// A command for `program` running as this user, in `cwd`, with no stdin.
    ///
    /// The working directory matters: the default one (e.g. `/root`) may not
    /// be accessible to `postgres`, and initdb complains about that.
    /// `LC_ALL=C` keeps messages in English, because we look for
    /// "Address already in use" in the log.
    pub(crate) fn command(&self, program: &Path, cwd: &Path) -> Command {
        let mut command = Command::new(program);
        command.current_dir(cwd).env("LC_ALL", "C").stdin(Stdio::null());
        if let RunAs::Postgres { uid, gid } = *self {
            command.gid(gid).uid(uid);
        }
        command
    }

    /// The user id the server runs as.
    pub(crate) fn uid(&self) -> u32 {
        match *self {
            RunAs::CurrentUser => effective_uid(),
            RunAs::Postgres { uid, .. } => uid,
        }
    }

    /// Gives `path` to the user the server runs as (no-op unless root).
    pub(crate) fn give(&self, path: &Path) -> Result<()> {
        match *self {
            RunAs::CurrentUser => Ok(()),
            RunAs::Postgres { uid, gid } => std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .map_err(|e| Error::io(format!("chown {} to postgres", path.display()), e)),
        }
    }
}

/// Whether this process runs with root privileges.
fn effective_uid_is_root() -> bool {
    effective_uid() == 0
}

/// The effective user id of this process.
pub(crate) fn effective_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// uid and gid of the `postgres` user: /etc/passwd first, then `id` (which
/// also covers users that come from NSS sources such as LDAP).
fn lookup_postgres_user() -> Option<(u32, u32)> {
    if let Some(ids) = std::fs::read_to_string("/etc/passwd").ok().and_then(|text| parse_passwd(&text, "postgres")) {
        return Some(ids);
    }
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, "postgres"]).output().ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8(out.stdout).ok()?.trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

/// Finds `name:x:uid:gid:...` in passwd-format text.
fn parse_passwd(text: &str, name: &str) -> Option<(u32, u32)> {
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != name {
            return None;
        }
        let _password = fields.next()?;
        let uid = fields.next()?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        Some((uid, gid))
    })
}

#[cfg(test)]
mod tests {
    use super::parse_passwd;

    #[test]
    fn parses_passwd_lines() {
        let text = "root:x:0:0:root:/root:/bin/bash\n\
                    # comment\n\
                    postgresx:x:7:7::/:/bin/false\n\
                    postgres:x:101:104:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash\n";
        assert_eq!(parse_passwd(text, "postgres"), Some((101, 104)));
        assert_eq!(parse_passwd(text, "root"), Some((0, 0)));
        assert_eq!(parse_passwd(text, "nobody"), None);
    }
}
