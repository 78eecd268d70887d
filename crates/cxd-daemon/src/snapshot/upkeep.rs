//! Keeping the private object store small: how big it is, and when a prune is worth its cost.
//!
//! Every snapshot writes the blobs of changed files into the private object directory, so a
//! big file rewritten ten times is stored ten times. A prune (see
//! [`super::Snapshotter::prune`]) walks the kept trees, which costs a few hundred ms on a
//! 100 000-file tree: it runs when the store grew by [`PRUNE_GROWTH`] since the last one, or
//! grew at all and [`PRUNE_EVERY`] passed. The daemon asks after each review; nothing runs
//! while the workspace is idle.

use std::path::Path;
use std::time::Duration;

/// Growth of the private store since the last prune that is worth a prune now.
pub const PRUNE_GROWTH: u64 = 16 * 1024 * 1024;

/// How long any growth may stay before a review prunes it.
pub const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Whether to prune a store of `bytes` that held `after_last` bytes right after the last
/// prune (or when it was opened), `since` that moment.
#[must_use]
pub fn prune_due(bytes: u64, after_last: u64, since: Duration) -> bool {
    let grown = bytes.saturating_sub(after_last);
    grown >= PRUNE_GROWTH || (grown > 0 && since >= PRUNE_EVERY)
}

/// Bytes of every file under `dir` (symlinks are not followed; unreadable entries count 0).
pub(super) fn tree_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if d != dir && e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total += meta.len();
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prunes_on_growth_or_after_an_hour_of_any_growth() {
        let mib = 1024 * 1024;
        let now = Duration::ZERO;
        assert!(!prune_due(10 * mib, 10 * mib, now));
        assert!(!prune_due(20 * mib, 10 * mib, now));
        assert!(prune_due(26 * mib, 10 * mib, now));
        assert!(!prune_due(
            10 * mib + 1,
            10 * mib,
            PRUNE_EVERY - Duration::from_secs(1)
        ));
        assert!(prune_due(10 * mib + 1, 10 * mib, PRUNE_EVERY));
        // Smaller than after the last prune (e.g. a prune by hand): nothing to do.
        assert!(!prune_due(5 * mib, 10 * mib, PRUNE_EVERY * 2));
    }

    #[test]
    fn counts_every_file_below() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ab")).unwrap();
        std::fs::write(dir.path().join("ab/cd"), [0u8; 100]).unwrap();
        std::fs::write(dir.path().join("x"), [0u8; 11]).unwrap();
        assert_eq!(tree_bytes(dir.path()).unwrap(), 111);
    }
}
