//! The state dir holds findings, repository paths, logs and snapshots of the user's code: it is
//! created 0700 from the start, refused when another user owns it, and closed again when it is
//! ours but open to others. Files in it are private through the daemon's umask.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use cxd_proto::ownership::{DirProblem, effective_uid, judge_private_dir};

/// Why the state dir cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateDirError {
    /// A filesystem step failed.
    #[error("cannot {action} state directory {path}: {source}")]
    Io {
        /// The state directory (`CXD_STATE_DIR` or the default).
        path: PathBuf,
        /// What was being done, as a verb for the message (e.g. "create").
        action: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// Another user owns it (or the symlink leading to it), or it is not a directory.
    #[error(
        "{why}: cxd will not keep its database there; set CXD_STATE_DIR to a directory of your own"
    )]
    Untrusted {
        /// What is wrong, naming the path.
        why: String,
    },
}

/// Make every file and directory the daemon creates from now on private to its user
/// (database, -wal, -shm, lock, logs, snapshot objects, codex's last-message files): a umask
/// of 077 covers them all, including files created by SQLite and by git on our behalf.
pub fn restrict_umask() {
    #[allow(unsafe_code)]
    // SAFETY: umask(2) only swaps the process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

/// Create `dir` with mode 0700 from the start (its parents as usual); false when it was there.
pub fn create_private(dir: &Path) -> std::io::Result<bool> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// What stands where a directory of ours should be.
#[derive(Debug)]
pub enum Found {
    /// A directory (through a link of ours or root's, if a link): its metadata.
    Dir(std::fs::Metadata),
    /// A symlink another user made: why (naming the path).
    ForeignLink(String),
    /// Something other than a directory: why (naming the path).
    NotADir(String),
}

/// Look at `dir` without trusting it: a symlink made by another user (whoever owns a link
/// decides where it points) or anything but a directory is not to be used.
pub fn inspect_dir(dir: &Path, euid: u32) -> std::io::Result<Found> {
    let link = std::fs::symlink_metadata(dir)?;
    if link.file_type().is_symlink() && link.uid() != euid && link.uid() != 0 {
        return Ok(Found::ForeignLink(format!(
            "{} is a symlink made by uid {}, not by you (uid {euid})",
            dir.display(),
            link.uid()
        )));
    }
    let meta = std::fs::metadata(dir)?;
    if !meta.is_dir() {
        return Ok(Found::NotADir(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    Ok(Found::Dir(meta))
}

/// Create the state dir 0700 (its parents as usual), or check the one that is there: another
/// user's is refused; ours with group/other access is set to 0700, and the returned warning says
/// so (for the log and `cxd status`).
pub fn prepare(dir: &Path) -> Result<Option<String>, StateDirError> {
    let io = |action: &'static str| {
        move |source| StateDirError::Io {
            path: dir.to_path_buf(),
            action,
            source,
        }
    };
    if create_private(dir).map_err(io("create"))? {
        return Ok(None);
    }
    let euid = effective_uid();
    let meta = match inspect_dir(dir, euid).map_err(io("inspect"))? {
        Found::Dir(meta) => meta,
        Found::ForeignLink(why) | Found::NotADir(why) => {
            return Err(StateDirError::Untrusted { why });
        }
    };
    match judge_private_dir(meta.uid(), meta.mode(), euid) {
        Ok(()) => Ok(None),
        Err(p @ DirProblem::TooOpen { .. }) => {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(io("set mode 0700 on"))?;
            Ok(Some(format!(
                "{}; cxd set it to 700 (check who else may have read its findings and logs)",
                p.describe(dir, euid)
            )))
        }
        Err(p) => Err(StateDirError::Untrusted {
            why: p.describe(dir, euid),
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().mode() & 0o777
    }

    #[test]
    fn a_new_state_dir_is_private_from_the_start() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b/state");
        assert_eq!(prepare(&dir).unwrap(), None);
        assert_eq!(mode(&dir), 0o700);
    }

    #[test]
    fn an_open_state_dir_of_ours_is_closed_with_a_warning() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let warning = prepare(&dir).unwrap().unwrap();
        assert!(warning.contains("mode 755"), "{warning}");
        assert_eq!(mode(&dir), 0o700);
        // Once closed, nothing more to say.
        assert_eq!(prepare(&dir).unwrap(), None);
    }

    #[test]
    fn a_file_in_its_place_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        std::fs::write(&dir, "x").unwrap();
        let err = prepare(&dir).unwrap_err().to_string();
        assert!(err.contains("is not a directory"), "{err}");
        assert!(err.contains("CXD_STATE_DIR"), "{err}");
    }
}
