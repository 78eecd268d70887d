//! The listening socket: a private directory, a file-path name, stale-socket reclaim.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use interprocess::local_socket::tokio::Listener;
use interprocess::local_socket::{GenericFilePath, ListenerOptions, ToFsName};

/// Why the socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// A filesystem step failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// A live daemon (with another state dir) answers on this socket.
    #[error("another cxd daemon is listening on {0}: stop it, or set CXD_SOCKET to another path")]
    InUse(PathBuf),
}

fn io_err(path: &Path, action: &'static str) -> impl FnOnce(std::io::Error) -> SocketError {
    let path = path.to_path_buf();
    move |source| SocketError::Io {
        path,
        action,
        source,
    }
}

/// Create the socket's directory as 0700 (tightening it if cxd owns it), remove a stale socket
/// (the caller holds the instance lock, so no daemon of this state dir is alive), and listen.
pub fn listen(socket: &Path, state_dir: &Path) -> Result<Listener, SocketError> {
    if let Some(dir) = socket.parent() {
        prepare_dir(dir, state_dir)?;
    }
    if socket.exists() {
        if std::os::unix::net::UnixStream::connect(socket).is_ok() {
            return Err(SocketError::InUse(socket.to_path_buf()));
        }
        tracing::info!(socket = %socket.display(), "removing stale socket left by an earlier daemon");
        std::fs::remove_file(socket).map_err(io_err(socket, "remove stale socket"))?;
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

fn prepare_dir(dir: &Path, state_dir: &Path) -> Result<(), SocketError> {
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_err(dir, "create socket directory"))?;
        return Ok(());
    }
    // An existing directory: tighten it only when it is cxd's own (the state dir, or one named
    // cxd*), never a shared one such as /tmp or $HOME that a CXD_SOCKET path might point into.
    let ours = dir == state_dir
        || dir
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("cxd"));
    if ours {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io_err(dir, "set mode 0700 on"))?;
    }
    Ok(())
}

/// Remove the socket file on shutdown.
pub fn remove(socket: &Path) {
    if let Err(e) = std::fs::remove_file(socket)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(socket = %socket.display(), error = %e, "cannot remove socket");
    }
}
