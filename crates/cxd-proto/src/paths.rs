//! Where cxd keeps its socket, state and config, shared so client and daemon agree.

use std::path::{Path, PathBuf};

use crate::ownership::{SocketDir, effective_uid};

/// The longest socket path `sun_path` holds on every supported platform (macOS: 104).
pub const MAX_SOCKET_PATH: usize = 103;

/// Resolved locations for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// The daemon's socket (`CXD_SOCKET`, or the default in cxd's own runtime directory).
    pub socket: PathBuf,
    /// Whether the socket's directory is cxd's own (held to 0700) or one `CXD_SOCKET` chose.
    pub socket_dir: SocketDir,
    /// Database, lock, logs and snapshots.
    pub state_dir: PathBuf,
    /// The user's config file (it need not exist).
    pub config: PathBuf,
}

/// Why paths could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum PathsError {
    /// No home directory could be found for this user.
    #[error("cannot find a home directory: set HOME, or CXD_STATE_DIR and CXD_SOCKET")]
    NoHome,
    /// The socket path is too long for a Unix socket address.
    #[error(
        "socket path {path} is {len} bytes, longer than the {max} a Unix socket allows: set CXD_SOCKET to a shorter path"
    )]
    SocketTooLong {
        /// The offending path.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
        /// The most bytes a Unix socket path may have on this OS.
        max: usize,
    },
}

impl Paths {
    /// Resolve from the environment (`CXD_SOCKET`, `CXD_STATE_DIR`, `CXD_CONFIG`) and the
    /// platform's conventions.
    pub fn from_env() -> Result<Self, PathsError> {
        Self::resolve(|k| std::env::var_os(k).filter(|v| !v.is_empty()))
    }

    /// Resolve with a custom environment lookup (tests).
    pub fn resolve(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> Result<Self, PathsError> {
        Self::resolve_for(env, effective_uid())
    }

    /// Resolve for the user `uid` (whose number names the fallback socket directory).
    pub fn resolve_for(
        env: impl Fn(&str) -> Option<std::ffi::OsString>,
        uid: u32,
    ) -> Result<Self, PathsError> {
        let home = env("HOME")
            .map(PathBuf::from)
            .or_else(|| directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf()));
        let state_dir = match env("CXD_STATE_DIR") {
            Some(p) => PathBuf::from(p),
            None => match env("XDG_STATE_HOME") {
                Some(p) => PathBuf::from(p).join("cxd"),
                None => default_state_dir(home.as_deref())?,
            },
        };
        let config = match env("CXD_CONFIG") {
            Some(p) => PathBuf::from(p),
            None => match env("XDG_CONFIG_HOME") {
                Some(p) => PathBuf::from(p).join("cxd/config.toml"),
                None => home
                    .ok_or(PathsError::NoHome)?
                    .join(".config/cxd/config.toml"),
            },
        };
        let (socket, socket_dir) = match env("CXD_SOCKET") {
            Some(p) => (PathBuf::from(p), SocketDir::Chosen),
            None => match env("XDG_RUNTIME_DIR") {
                Some(p) => (PathBuf::from(p).join("cxd/cxd.sock"), SocketDir::Private),
                None => (
                    default_runtime_dir(&state_dir, uid).join("cxd.sock"),
                    SocketDir::Private,
                ),
            },
        };
        let len = socket.as_os_str().len();
        if len > MAX_SOCKET_PATH {
            return Err(PathsError::SocketTooLong {
                path: socket,
                len,
                max: MAX_SOCKET_PATH,
            });
        }
        Ok(Self {
            socket,
            socket_dir,
            state_dir,
            config,
        })
    }
}

fn default_state_dir(home: Option<&Path>) -> Result<PathBuf, PathsError> {
    if cfg!(target_os = "macos") {
        let home = home.ok_or(PathsError::NoHome)?;
        return Ok(home.join("Library/Application Support/cxd"));
    }
    Ok(home.ok_or(PathsError::NoHome)?.join(".local/state/cxd"))
}

/// Without `XDG_RUNTIME_DIR` (macOS, some containers) the socket goes in a short per-user
/// directory: the state dir when its path is short enough, else `cxd-<uid>` in the temp dir.
/// The number, not `$USER`, names it: a name is not unique, and another user may have made a
/// directory of that name first (both sides refuse one that is not ours and 0700).
fn default_runtime_dir(state_dir: &Path, uid: u32) -> PathBuf {
    let candidate = state_dir.join("cxd.sock");
    if candidate.as_os_str().len() <= MAX_SOCKET_PATH {
        return state_dir.to_path_buf();
    }
    std::env::temp_dir().join(format!("cxd-{uid}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::ffi::OsString;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn overrides_win() {
        let p = Paths::resolve(env(&[
            ("HOME", "/h"),
            ("CXD_SOCKET", "/s/x.sock"),
            ("CXD_STATE_DIR", "/state"),
            ("CXD_CONFIG", "/c.toml"),
        ]))
        .unwrap();
        assert_eq!(p.socket, PathBuf::from("/s/x.sock"));
        assert_eq!(p.socket_dir, SocketDir::Chosen);
        assert_eq!(p.state_dir, PathBuf::from("/state"));
        assert_eq!(p.config, PathBuf::from("/c.toml"));
    }

    #[test]
    fn xdg_defaults() {
        let p = Paths::resolve(env(&[("HOME", "/h"), ("XDG_RUNTIME_DIR", "/run/user/1")])).unwrap();
        assert_eq!(p.socket, PathBuf::from("/run/user/1/cxd/cxd.sock"));
        assert_eq!(p.socket_dir, SocketDir::Private);
        assert_eq!(p.config, PathBuf::from("/h/.config/cxd/config.toml"));
        assert!(p.state_dir.ends_with("cxd"));
    }

    #[test]
    fn no_runtime_dir_uses_state_dir() {
        let p = Paths::resolve(env(&[("HOME", "/h"), ("CXD_STATE_DIR", "/st")])).unwrap();
        assert_eq!(p.socket, PathBuf::from("/st/cxd.sock"));
    }

    #[test]
    fn long_state_path_falls_back_to_a_temp_dir_named_by_uid() {
        let long = format!("/{}", "s".repeat(110));
        let p = Paths::resolve_for(
            env(&[("HOME", "/h"), ("CXD_STATE_DIR", &long), ("USER", "alice")]),
            4242,
        )
        .unwrap();
        assert_eq!(p.socket, std::env::temp_dir().join("cxd-4242/cxd.sock"));
        assert_eq!(p.socket_dir, SocketDir::Private);
    }

    #[test]
    fn long_socket_path_is_refused() {
        let long = format!("/{}/x.sock", "a".repeat(120));
        let err = Paths::resolve(env(&[("HOME", "/h"), ("CXD_SOCKET", &long)])).unwrap_err();
        assert!(err.to_string().contains("CXD_SOCKET"), "{err}");
    }
}
