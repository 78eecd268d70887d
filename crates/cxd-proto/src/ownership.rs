//! Who may own cxd's socket and directories: the rules the daemon and the client both apply
//! before trusting a path another local user might have prepared.
//!
//! The functions here decide from owner and mode bits only; reading the metadata is left to
//! each side, so the rules are unit-tested without touching the filesystem.

use std::path::Path;

/// Group and other permission bits.
const GROUP_OTHER: u32 = 0o077;
/// Group and other write bits.
const GROUP_OTHER_WRITE: u32 = 0o022;
/// The sticky bit: in such a directory only a file's owner may remove or rename it.
const STICKY: u32 = 0o1000;

/// The effective uid of this process: the user whose daemon, socket and files cxd uses.
pub fn effective_uid() -> u32 {
    #[allow(unsafe_code)]
    // SAFETY: geteuid(2) takes no arguments, cannot fail and touches no memory of ours.
    unsafe {
        libc::geteuid()
    }
}

/// How far a socket's directory is to be trusted on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketDir {
    /// cxd's own directory (the default location): it must be ours and closed to everyone else.
    Private,
    /// A directory named by `CXD_SOCKET`, possibly shared (such as /tmp): it must not let another
    /// user replace the socket, and the socket file and the peer are checked on every connect.
    Chosen,
}

/// Why a directory cannot be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirProblem {
    /// Another user owns it.
    Foreign {
        /// Its owner's uid.
        owner: u32,
    },
    /// It is ours, but group or others have access to it.
    TooOpen {
        /// Its permission bits (`st_mode & 0o7777`, e.g. `0o755`).
        mode: u32,
    },
    /// Group or others may create and delete files in it, so they could swap the socket.
    WritableByOthers {
        /// Its owner's uid.
        owner: u32,
        /// Its permission bits (`st_mode & 0o7777`, e.g. `0o777`).
        mode: u32,
    },
}

impl DirProblem {
    /// What is wrong with `dir`, in words; the caller adds what to do about it.
    pub fn describe(&self, dir: &Path, euid: u32) -> String {
        let dir = dir.display();
        match *self {
            Self::Foreign { owner } => {
                format!("{dir} belongs to uid {owner}, not to you (uid {euid})")
            }
            Self::TooOpen { mode } => format!("{dir} has mode {mode:o}, open to other users"),
            Self::WritableByOthers { owner, mode } => format!(
                "{dir} (owner uid {owner}, mode {mode:o}) lets other users put files in it and remove them"
            ),
        }
    }
}

/// Judge a directory of cxd's own (socket or state dir): ours with no group/other access.
pub fn judge_private_dir(owner: u32, mode: u32, euid: u32) -> Result<(), DirProblem> {
    if owner != euid {
        return Err(DirProblem::Foreign { owner });
    }
    if mode & GROUP_OTHER != 0 {
        return Err(DirProblem::TooOpen {
            mode: mode & 0o7777,
        });
    }
    Ok(())
}

/// Judge the directory a socket lives in.
///
/// A private one must pass [`judge_private_dir`]. A chosen one may be shared, as long as no
/// other user can put a socket of their own in place of ours: it is ours or root's, and either
/// nobody else may write to it or it is sticky (as /tmp is).
pub fn judge_socket_dir(
    kind: SocketDir,
    owner: u32,
    mode: u32,
    euid: u32,
) -> Result<(), DirProblem> {
    match kind {
        SocketDir::Private => judge_private_dir(owner, mode, euid),
        SocketDir::Chosen => {
            if owner != euid && owner != 0 {
                return Err(DirProblem::Foreign { owner });
            }
            if mode & GROUP_OTHER_WRITE != 0 && mode & STICKY == 0 {
                return Err(DirProblem::WritableByOthers {
                    owner,
                    mode: mode & 0o7777,
                });
            }
            Ok(())
        }
    }
}

/// Why a socket file cannot be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketProblem {
    /// The path is something other than a socket (a regular file, a directory, a symlink).
    NotASocket,
    /// Another user created it.
    Foreign {
        /// Its owner's uid.
        owner: u32,
    },
}

impl SocketProblem {
    /// What is wrong with `socket`, in words; the caller adds what to do about it.
    pub fn describe(&self, socket: &Path, euid: u32) -> String {
        let socket = socket.display();
        match *self {
            Self::NotASocket => format!("{socket} exists but is not a socket"),
            Self::Foreign { owner } => {
                format!("{socket} belongs to uid {owner}, not to you (uid {euid})")
            }
        }
    }
}

/// Judge the socket file itself, from its `lstat`: a socket that we own.
pub fn judge_socket_file(is_socket: bool, owner: u32, euid: u32) -> Result<(), SocketProblem> {
    if !is_socket {
        return Err(SocketProblem::NotASocket);
    }
    if owner != euid {
        return Err(SocketProblem::Foreign { owner });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: u32 = 1000;
    const OTHER: u32 = 1001;

    #[test]
    fn private_dir_must_be_ours_and_closed() {
        assert_eq!(judge_private_dir(ME, 0o40700, ME), Ok(()));
        assert_eq!(
            judge_private_dir(OTHER, 0o40700, ME),
            Err(DirProblem::Foreign { owner: OTHER })
        );
        assert_eq!(
            judge_private_dir(ME, 0o40755, ME),
            Err(DirProblem::TooOpen { mode: 0o755 })
        );
        assert_eq!(
            judge_private_dir(ME, 0o40710, ME),
            Err(DirProblem::TooOpen { mode: 0o710 })
        );
        // Even root's directory is not ours when we are not root.
        assert_eq!(
            judge_private_dir(0, 0o40700, ME),
            Err(DirProblem::Foreign { owner: 0 })
        );
        assert_eq!(judge_private_dir(0, 0o40700, 0), Ok(()));
    }

    #[test]
    fn chosen_dir_may_be_shared_but_not_swappable() {
        // /tmp: root's, world-writable, sticky.
        assert_eq!(judge_socket_dir(SocketDir::Chosen, 0, 0o41777, ME), Ok(()));
        // Our home, readable by others but writable by us alone.
        assert_eq!(judge_socket_dir(SocketDir::Chosen, ME, 0o40755, ME), Ok(()));
        // World-writable without the sticky bit: anyone could replace the socket.
        assert_eq!(
            judge_socket_dir(SocketDir::Chosen, 0, 0o40777, ME),
            Err(DirProblem::WritableByOthers {
                owner: 0,
                mode: 0o777
            })
        );
        assert_eq!(
            judge_socket_dir(SocketDir::Chosen, ME, 0o40775, ME),
            Err(DirProblem::WritableByOthers {
                owner: ME,
                mode: 0o775
            })
        );
        // Another user's directory, whatever its mode.
        assert_eq!(
            judge_socket_dir(SocketDir::Chosen, OTHER, 0o40700, ME),
            Err(DirProblem::Foreign { owner: OTHER })
        );
        // The default location is held to the private rule.
        assert_eq!(
            judge_socket_dir(SocketDir::Private, 0, 0o41777, ME),
            Err(DirProblem::Foreign { owner: 0 })
        );
    }

    #[test]
    fn socket_file_must_be_our_socket() {
        assert_eq!(judge_socket_file(true, ME, ME), Ok(()));
        assert_eq!(
            judge_socket_file(false, ME, ME),
            Err(SocketProblem::NotASocket)
        );
        assert_eq!(
            judge_socket_file(true, OTHER, ME),
            Err(SocketProblem::Foreign { owner: OTHER })
        );
    }
}
