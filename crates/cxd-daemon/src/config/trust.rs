//! The user's explicit trust in a repository's `.cxd.toml`: recorded with the file's SHA-256, so
//! a later change of the file needs trust again.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The file, in the state dir, that holds what the user trusted.
pub const TRUST_FILE: &str = "trust.json";

/// One trusted repository file: which one, and the exact bytes the user agreed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustEntry {
    /// The work tree whose `.cxd.toml` is trusted.
    pub root: PathBuf,
    /// SHA-256 (hex) of the file's bytes when it was trusted.
    pub sha256: String,
    /// When the user trusted it, RFC 3339 in UTC.
    pub at: String,
}

/// What the user has trusted, as kept on disk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustList {
    /// One entry per work-tree root; trusting again replaces the entry.
    pub trusted: Vec<TrustEntry>,
}

/// How a repository's file stands with the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// Never trusted (or trust was revoked).
    No,
    /// Trusted, and the file is byte for byte what was trusted.
    Yes,
    /// Trusted once, but the file changed since.
    Changed,
}

/// Why the trust file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// Reading or writing the trust file failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// The trust file (`trust.json` in the state dir).
        path: PathBuf,
        /// What was being done, as a verb for the message (e.g. "read", "write").
        action: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// There is no `.cxd.toml` to trust.
    #[error("{0} does not exist: there is nothing to trust")]
    NoFile(PathBuf),
    /// The `.cxd.toml` cannot be read as config (a FIFO, too big, a link out of the repository).
    #[error(transparent)]
    Unreadable(super::ConfigError),
    /// The file is not what cxd writes.
    #[error(
        "{path} is damaged ({reason}): remove it and run `cxd trust` again for the repositories you trust"
    )]
    Damaged {
        /// The trust file (`trust.json` in the state dir).
        path: PathBuf,
        /// What the JSON parser said about it.
        reason: String,
    },
}

/// SHA-256 of a config file's text, in hex.
pub fn fingerprint(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl TrustList {
    /// Load the list from `state_dir`; no file is an empty list.
    pub fn load(state_dir: &Path) -> Result<Self, TrustError> {
        let path = state_dir.join(TRUST_FILE);
        let text = match super::read::read_config(&path, super::read::Confine::Anywhere) {
            Ok(Some(t)) => t,
            Ok(None) => return Ok(Self::default()),
            Err(e) => {
                return Err(TrustError::Damaged {
                    path,
                    reason: e.to_string(),
                });
            }
        };
        serde_json::from_str(&text).map_err(|e| TrustError::Damaged {
            path,
            reason: e.to_string(),
        })
    }

    /// Whether `text`, the `.cxd.toml` of `root`, is what the user trusted.
    pub fn check(&self, root: &Path, text: &str) -> Trust {
        match self.trusted.iter().find(|e| e.root == root) {
            None => Trust::No,
            Some(e) if e.sha256 == fingerprint(text) => Trust::Yes,
            Some(_) => Trust::Changed,
        }
    }

    /// Trust `text` as the `.cxd.toml` of `root` (replacing an earlier entry).
    pub fn trust(&mut self, root: &Path, text: &str, at: String) {
        self.revoke(root);
        self.trusted.push(TrustEntry {
            root: root.to_path_buf(),
            sha256: fingerprint(text),
            at,
        });
    }

    /// Forget `root`; true when it was trusted.
    pub fn revoke(&mut self, root: &Path) -> bool {
        let before = self.trusted.len();
        self.trusted.retain(|e| e.root != root);
        self.trusted.len() != before
    }

    /// Write the list to `state_dir` atomically, readable by the user alone.
    pub fn save(&self, state_dir: &Path) -> Result<(), TrustError> {
        let path = state_dir.join(TRUST_FILE);
        let tmp = state_dir.join(format!("{TRUST_FILE}.tmp"));
        let io = |action: &'static str, p: &Path| {
            let p = p.to_path_buf();
            move |source| TrustError::Io {
                path: p,
                action,
                source,
            }
        };
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io("write", &tmp))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io("write", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io("replace", &path))
    }
}

impl TrustError {
    /// The user asked for something that cannot be done (as opposed to cxd failing).
    pub fn is_usage(&self) -> bool {
        matches!(self, Self::NoFile(_) | Self::Unreadable(_))
    }
}

/// What `cxd trust` did, so the client can report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The path of the repository's `.cxd.toml` that was trusted or revoked.
    pub file: PathBuf,
    /// Its SHA-256 now (of empty text when revoking a file that is gone).
    pub sha256: String,
    /// False when a revoke found nothing to revoke (nothing was written).
    pub changed: bool,
    /// What to tell the user.
    pub message: String,
}

/// Trust the `.cxd.toml` of `root` as it is now (or revoke that trust), and save the list in
/// `state_dir`.
pub fn record(
    state_dir: &Path,
    root: &Path,
    revoke: bool,
    at: String,
) -> Result<Recorded, TrustError> {
    use super::read::{Confine, read_config};
    let file = root.join(super::REPO_FILE);
    let text = match read_config(&file, Confine::Within(root)).map_err(TrustError::Unreadable)? {
        Some(t) => t,
        None if revoke => String::new(),
        None => return Err(TrustError::NoFile(file)),
    };
    let sha256 = fingerprint(&text);
    let mut list = TrustList::load(state_dir)?;
    let message = if revoke {
        if !list.revoke(root) {
            return Ok(Recorded {
                message: format!("{} was not trusted; nothing changed", file.display()),
                file,
                sha256,
                changed: false,
            });
        }
        format!(
            "{} is no longer trusted: only what a repository may set applies",
            file.display()
        )
    } else {
        list.trust(root, &text, at);
        let mut m = format!(
            "trusted {} (sha256 {}): its settings apply until the file changes",
            file.display(),
            &sha256[..12]
        );
        let sets = super::repo::needing_trust(&text);
        if !sets.is_empty() {
            m.push_str("; now in force: ");
            m.push_str(&sets.join(", "));
        }
        m
    };
    list.save(state_dir)?;
    Ok(Recorded {
        file,
        sha256,
        changed: true,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_follows_the_bytes_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = Path::new("/repo");
        let mut list = TrustList::load(dir.path()).unwrap();
        assert_eq!(list.check(root, "a"), Trust::No);
        list.trust(root, "a", "now".into());
        list.save(dir.path()).unwrap();
        let list = TrustList::load(dir.path()).unwrap();
        assert_eq!(list.check(root, "a"), Trust::Yes);
        assert_eq!(list.check(root, "a "), Trust::Changed);
        assert_eq!(list.check(Path::new("/other"), "a"), Trust::No);
        let mode = std::fs::metadata(dir.path().join(TRUST_FILE))
            .unwrap()
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        let mut list = list;
        assert!(list.revoke(root));
        assert_eq!(list.check(root, "a"), Trust::No);
    }

    #[test]
    fn a_damaged_file_is_an_error_that_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(TRUST_FILE), "{not json").unwrap();
        let err = TrustList::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("cxd trust"), "{err}");
    }
}
