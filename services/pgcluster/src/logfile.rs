//! Reading the server log for error messages.
//!
//! When initdb or the server fails, the reason is in the log, not in pg_ctl's
//! "could not start server"; errors therefore carry the log's last lines.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// How many trailing lines of the log go into an error message.
const TAIL_LINES: usize = 30;
/// At most this many bytes are read from the end of the log.
const TAIL_BYTES: u64 = 16 * 1024;

/// Current size of the log (0 if it does not exist yet).
pub(crate) fn len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Everything written to the log from byte `offset` on (lossy UTF-8).
pub(crate) fn read_from(path: &Path, offset: u64) -> String {
    let mut text = Vec::new();
    let read = std::fs::File::open(path).and_then(|mut file| {
        file.seek(SeekFrom::Start(offset))?;
        file.read_to_end(&mut text)
    });
    match read {
        Ok(_) => String::from_utf8_lossy(&text).into_owned(),
        Err(_) => String::new(),
    }
}

/// The last lines of the log, or an empty string if there is none.
pub(crate) fn tail(path: &Path) -> String {
    let text = read_from(path, len(path).saturating_sub(TAIL_BYTES));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::unique_temp_path;

    #[test]
    fn tail_and_offsets() {
        let path = unique_temp_path("pgcluster-logtest");
        assert_eq!(tail(&path), "");
        let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, &text).unwrap();
        let tail = tail(&path);
        assert!(tail.starts_with("line 70\n") && tail.ends_with("line 99"), "{tail}");
        assert_eq!(read_from(&path, len(&path) - 8), "line 99\n");
        std::fs::remove_file(&path).unwrap();
    }
}
