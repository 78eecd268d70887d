//! Why a snapshot, diff or prune failed, each variant naming the git command or path and what
//! the user can do about it.

use std::path::{Path, PathBuf};

/// Why a snapshot, diff or prune failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The `git` executable could not be run.
    #[error("cannot run `git {command}` in {root}: {source}; is git installed and on PATH?")]
    Spawn {
        /// The git arguments, as shown in the message (e.g. `write-tree`).
        command: String,
        /// The work tree it ran in.
        root: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// git ran and exited non-zero (or was killed).
    #[error(
        "`git {command}` failed in {root} (exit {code:?}): {stderr}; check that the repository \
         is healthy (`git status`, `git fsck`), or remove cxd's state for this workspace to reseed"
    )]
    Git {
        /// The git arguments, as shown in the message (e.g. `write-tree`).
        command: String,
        /// The work tree it ran in.
        root: PathBuf,
        /// Its exit code (`None` if killed by a signal).
        code: Option<i32>,
        /// git's stderr, trimmed, as it explains the failure.
        stderr: String,
    },
    /// The directory is not the root of a git work tree.
    #[error(
        "{root} is not the root of a git work tree ({detail}); watch the repository's top directory"
    )]
    NotARepo {
        /// The directory the user asked to watch.
        root: PathBuf,
        /// What git said, or the real top directory.
        detail: String,
    },
    /// cxd's private state could not be read or written.
    #[error(
        "cannot {action} {path}: {source}; check the permissions and free space of cxd's state dir"
    )]
    Io {
        /// The path the step was about (in cxd's state dir, the user's index, or the root).
        path: PathBuf,
        /// What was being done, as a verb for the message (e.g. "create").
        action: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The repository's git config names something cxd cannot neutralise.
    #[error("cannot snapshot {root}: {source}")]
    UnsafeConfig {
        /// The work tree.
        root: PathBuf,
        /// What is wrong.
        source: crate::gitcmd::UnsafeDriver,
    },
    /// git printed something cxd does not understand.
    #[error(
        "unexpected output from `git {command}`: {detail}; please report this with `git --version`"
    )]
    Parse {
        /// The git arguments, as shown in the message (e.g. `write-tree`).
        command: String,
        /// What was wrong with the output, in the parser's words.
        detail: String,
    },
}

/// Wraps an I/O error with the path and the action that failed.
pub(super) fn io_err(
    path: &Path,
    action: &'static str,
) -> impl FnOnce(std::io::Error) -> SnapshotError {
    let path = path.to_owned();
    move |source| SnapshotError::Io {
        path,
        action,
        source,
    }
}
