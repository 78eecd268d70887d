//! Making sure the socket leads to our own daemon before a single byte is sent to it.
//!
//! Another local user who can create the socket's directory, or the socket in a shared one,
//! could otherwise run a daemon of their own there and receive our diffs and feed text to the
//! agent. So the client checks the directory (ours and closed, or a chosen one nobody else can
//! swap files in), the socket file (a socket we own), and after connecting the uid of the
//! process that listens on it.

use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixStream;
use std::path::Path;

use cxd_daemon::state_dir::{Found, inspect_dir};
use cxd_proto::ownership::{
    DirProblem, SocketDir, SocketProblem, effective_uid, judge_socket_dir, judge_socket_file,
};
use interprocess::local_socket::traits::StreamCommon as _;

use crate::exit::{Failure, UNREACHABLE};

/// What a refusal tells the user to do about a socket that is not (provably) theirs.
const IMPOSTOR_HINT: &str = "another user may be posing as your cxd daemon, so nothing was sent; remove it if it is yours to remove, or set XDG_RUNTIME_DIR or CXD_SOCKET to a directory only you can write to";

/// The message for a socket that does not exist or that nobody listens on.
pub fn not_running(socket: &Path) -> Failure {
    Failure::new(
        UNREACHABLE,
        format!(
            "cxd daemon is not running (no daemon at {}): start it with `cxd daemon`, or install the service with `cxd service install`",
            socket.display()
        ),
    )
}

/// Check the socket's directory and the socket file before connecting.
pub fn check_location(socket: &Path, kind: SocketDir) -> Result<(), Failure> {
    let euid = effective_uid();
    let dir = match socket.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let refuse = |what: String| Failure::new(UNREACHABLE, format!("{what}: {IMPOSTOR_HINT}"));
    let cannot_check = |path: &Path, e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::NotFound {
            not_running(socket)
        } else {
            Failure::new(
                UNREACHABLE,
                format!(
                    "cannot check who owns {} before connecting to the cxd daemon: {e}",
                    path.display()
                ),
            )
        }
    };
    // A symlink in place of the directory is judged by its own owner as well as its target's:
    // in a shared place such as /tmp, whoever owns the link decides where it points.
    let meta = match inspect_dir(dir, euid).map_err(|e| cannot_check(dir, e))? {
        Found::Dir(meta) => meta,
        Found::ForeignLink(why) => return Err(refuse(why)),
        Found::NotADir(why) => {
            return Err(Failure::new(
                UNREACHABLE,
                format!("{why}: point CXD_SOCKET at a path in a directory"),
            ));
        }
    };
    judge_socket_dir(kind, meta.uid(), meta.mode(), euid).map_err(|p| match p {
        DirProblem::TooOpen { .. } => Failure::new(
            UNREACHABLE,
            format!(
                "{}: another user could have put a socket there, so nothing was sent; run `chmod 700 {}` and try again",
                p.describe(dir, euid),
                dir.display()
            ),
        ),
        _ => refuse(p.describe(dir, euid)),
    })?;
    let file = std::fs::symlink_metadata(socket).map_err(|e| cannot_check(socket, e))?;
    judge_socket_file(file.file_type().is_socket(), file.uid(), euid).map_err(|p| match p {
        SocketProblem::NotASocket => Failure::new(
            UNREACHABLE,
            format!(
                "{}: cxd will not talk to it; point CXD_SOCKET at cxd's socket, or at a path that does not exist yet (where `cxd daemon` creates one)",
                p.describe(socket, euid)
            ),
        ),
        SocketProblem::Foreign { .. } => refuse(p.describe(socket, euid)),
    })?;
    Ok(())
}

/// Check, on a fresh connection, that the listening process runs as us (`SO_PEERCRED` on
/// Linux, `LOCAL_PEERCRED` on macOS); give the stream back only then.
pub fn check_peer(stream: UnixStream, socket: &Path) -> Result<UnixStream, Failure> {
    let euid = effective_uid();
    let probe = interprocess::os::unix::uds_local_socket::Stream::from(stream);
    let peer = probe.peer_creds().map(|c| c.euid());
    let stream = UnixStream::from(OwnedFd::from(probe));
    match peer {
        Ok(Some(uid)) if uid == euid => Ok(stream),
        Ok(Some(uid)) => Err(Failure::new(
            UNREACHABLE,
            format!(
                "the process listening on {} runs as uid {uid}, not as you (uid {euid}): {IMPOSTOR_HINT}",
                socket.display()
            ),
        )),
        Ok(None) => Err(Failure::new(
            UNREACHABLE,
            format!(
                "this system does not say which user listens on {}, so cxd cannot tell its daemon from an impostor",
                socket.display()
            ),
        )),
        Err(e) => Err(Failure::new(
            UNREACHABLE,
            format!(
                "cannot learn which user listens on {}: {e}; nothing was sent",
                socket.display()
            ),
        )),
    }
}
