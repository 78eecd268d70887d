//! The listening socket: a directory only we control, a file-path name, stale-socket reclaim
//! that never removes anything but a dead socket of our own.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::state_dir::Found;

use cxd_proto::ownership::{
    DirProblem, SocketDir, SocketProblem, effective_uid, judge_socket_dir, judge_socket_file,
};

use interprocess::local_socket::tokio::Listener;
use interprocess::local_socket::{GenericFilePath, ListenerOptions, ToFsName};

/// Why the socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// A filesystem step failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// The socket file or its directory.
        path: PathBuf,
        /// What was being done, as a verb for the message (e.g. "bind").
        action: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// A live daemon (with another state dir) answers on this socket.
    #[error("another cxd daemon is listening on {0}: stop it, or set CXD_SOCKET to another path")]
    InUse(PathBuf),
    /// Something other than a socket is at the socket path; it is never removed.
    #[error(
        "{0} exists and is not a socket, so cxd leaves it alone: point CXD_SOCKET at a path that does not exist yet"
    )]
    NotASocket(PathBuf),
    /// The socket's directory, or a socket already in it, is not ours alone.
    #[error("{why}: cxd will not listen there; {fix}")]
    Untrusted {
        /// What is wrong, naming the path.
        why: String,
        /// What to do about it.
        fix: String,
    },
}

/// What to do about a socket directory another user owns or can write to.
const FOREIGN_FIX: &str = "another user may have made it to pose as your daemon; remove it if it is yours to remove, or set XDG_RUNTIME_DIR or CXD_SOCKET to a directory only you can write to";

fn io_err(path: &Path, action: &'static str) -> impl FnOnce(std::io::Error) -> SocketError {
    let path = path.to_path_buf();
    move |source| SocketError::Io {
        path,
        action,
        source,
    }
}

/// Make sure the socket's directory is ours (creating it 0700 when missing), remove a stale
/// socket of ours (the caller holds the instance lock, so no daemon of this state dir is alive),
/// and listen.
pub fn listen(socket: &Path, kind: SocketDir) -> Result<Listener, SocketError> {
    let euid = effective_uid();
    if let Some(dir) = socket.parent().filter(|d| !d.as_os_str().is_empty()) {
        prepare_dir(dir, kind, euid)?;
    }
    match std::fs::symlink_metadata(socket) {
        Ok(meta) => {
            judge_socket_file(meta.file_type().is_socket(), meta.uid(), euid).map_err(
                |p| match p {
                    SocketProblem::NotASocket => SocketError::NotASocket(socket.to_path_buf()),
                    SocketProblem::Foreign { .. } => SocketError::Untrusted {
                        why: p.describe(socket, euid),
                        fix: FOREIGN_FIX.to_owned(),
                    },
                },
            )?;
            if std::os::unix::net::UnixStream::connect(socket).is_ok() {
                return Err(SocketError::InUse(socket.to_path_buf()));
            }
            tracing::info!(socket = %socket.display(), "removing stale socket left by an earlier daemon");
            std::fs::remove_file(socket).map_err(io_err(socket, "remove stale socket"))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(socket, "inspect")(e)),
    }
    let name = socket
        .to_fs_name::<GenericFilePath>()
        .map_err(io_err(socket, "name socket"))?;
    let listener = ListenerOptions::new()
        .name(name)
        .reclaim_name(false)
        .create_tokio()
        .map_err(io_err(socket, "listen on"))?;
    // Belt and braces: the directory is what protects it, but tighten the file too.
    let _ = std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600));
    Ok(listener)
}

/// Create the directory 0700 when it is missing (no window in which it is wider), then judge
/// whatever is there: another user's directory, or one others can reach into, is refused.
fn prepare_dir(dir: &Path, kind: SocketDir, euid: u32) -> Result<(), SocketError> {
    crate::state_dir::create_private(dir).map_err(io_err(dir, "create socket directory"))?;
    let meta = match crate::state_dir::inspect_dir(dir, euid).map_err(io_err(dir, "inspect"))? {
        Found::Dir(meta) => meta,
        Found::ForeignLink(why) => {
            return Err(SocketError::Untrusted {
                why,
                fix: FOREIGN_FIX.to_owned(),
            });
        }
        Found::NotADir(why) => {
            return Err(SocketError::Untrusted {
                why,
                fix: "move it aside, or set CXD_SOCKET to a path in a directory".to_owned(),
            });
        }
    };
    judge_socket_dir(kind, meta.uid(), meta.mode(), euid).map_err(|p| SocketError::Untrusted {
        why: p.describe(dir, euid),
        fix: match p {
            DirProblem::TooOpen { .. } => format!(
                "another user could have put a socket there; run `chmod 700 {}` and start the daemon again",
                dir.display()
            ),
            DirProblem::Foreign { .. } => FOREIGN_FIX.to_owned(),
            DirProblem::WritableByOthers { .. } => "other users could replace the socket; set CXD_SOCKET to a path in a directory only you can write to (or a sticky one such as /tmp)".to_owned(),
        },
    })
}

/// Remove the socket file on shutdown.
pub fn remove(socket: &Path) {
    if let Err(e) = std::fs::remove_file(socket)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(socket = %socket.display(), error = %e, "cannot remove socket");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn a_missing_socket_dir_is_created_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run/cxd");
        prepare_dir(&dir, SocketDir::Private, effective_uid()).unwrap();
        assert_eq!(mode(&dir), 0o700);
    }

    #[test]
    fn an_open_socket_dir_is_refused_unless_chosen_and_not_writable_by_others() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cxd");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = prepare_dir(&dir, SocketDir::Private, effective_uid()).unwrap_err();
        assert!(err.to_string().contains("chmod 700"), "{err}");
        assert_eq!(mode(&dir), 0o755, "left as it was");
        prepare_dir(&dir, SocketDir::Chosen, effective_uid()).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = prepare_dir(&dir, SocketDir::Chosen, effective_uid()).unwrap_err();
        assert!(
            err.to_string().contains("other users could replace"),
            "{err}"
        );
    }

    #[test]
    fn a_regular_file_at_the_socket_path_is_never_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("notes.txt");
        std::fs::write(&file, "keep\n").unwrap();
        let err = listen(&file, SocketDir::Chosen).err().unwrap();
        assert!(matches!(err, SocketError::NotASocket(_)), "{err}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep\n");
    }
}
