//! Which git is installed, and whether it is new enough for cxd.
//!
//! Snapshots and the watch rules run the `git` found on PATH. Every git feature they use
//! exists in [`MIN_GIT`]; a few newer ones are used only when present (see
//! `supports_pack_filter_to_dir`). The daemon refuses to start, and `cxd watch` to watch,
//! with a git older than [`MIN_GIT`] or with none at all, naming what it found and what to do.

use std::fmt;
use std::process::Stdio;
use std::sync::OnceLock;

/// The oldest git cxd supports (Debian 11 ships 2.30, Ubuntu 22.04 2.34, Debian 12 2.39).
pub const MIN_GIT: GitVersion = GitVersion::new(2, 30, 0);

/// The first git whose `pack-objects --filter` writes a pack to a directory (older ones
/// need `--stdout`).
const PACK_FILTER_TO_DIR: GitVersion = GitVersion::new(2, 41, 0);

/// A git release number, compared field by field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GitVersion {
    /// The major release: 2 in git 2.41.0.
    pub major: u32,
    /// The minor release: 41 in git 2.41.0; features arrive here.
    pub minor: u32,
    /// The maintenance release: 0 in git 2.41.0 (0 when `git --version` omits it).
    pub patch: u32,
}

impl GitVersion {
    /// A version from its three numbers.
    #[must_use]
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    /// Read `git --version` output: `git version 2.39.5`, also with vendor suffixes such as
    /// `2.39.5.windows.1`, `2.45.0.rc1` or `2.37.1 (Apple Git-137.1)`.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.trim().strip_prefix("git version ")?;
        let token = rest.split_whitespace().next()?;
        let mut parts = token.split('.').map(|p| {
            let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<u32>().ok()
        });
        let major = parts.next().flatten()?;
        let minor = parts.next().flatten()?;
        let patch = parts.next().flatten().unwrap_or(0);
        Some(Self::new(major, minor, patch))
    }
}

impl fmt::Display for GitVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Why the installed git cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GitVersionError {
    /// `git` could not be run at all.
    #[error(
        "cannot run `git --version`: {source}; cxd needs git {MIN_GIT} or newer: install git \
         and make sure it is on the PATH the daemon runs with"
    )]
    Missing {
        /// The OS error.
        source: std::io::Error,
    },
    /// `git --version` said something unexpected.
    #[error(
        "`git --version` printed {output:?}, not a version; cxd needs git {MIN_GIT} or newer: \
         check which `git` is first on PATH"
    )]
    Unreadable {
        /// What it printed.
        output: String,
    },
    /// git is older than [`MIN_GIT`].
    #[error(
        "git {found} is too old: cxd needs git {MIN_GIT} or newer; install a newer git (from \
         your distribution's backports or git-scm.com) and put it first on PATH"
    )]
    TooOld {
        /// The version found.
        found: GitVersion,
    },
}

/// Run `git --version` (the git on PATH, with no inherited `GIT_*` settings).
pub fn detect() -> Result<GitVersion, GitVersionError> {
    let out = crate::gitcmd::version_command()
        .stderr(Stdio::null())
        .output()
        .map_err(|source| GitVersionError::Missing { source })?;
    let text = String::from_utf8_lossy(&out.stdout);
    match GitVersion::parse(&text) {
        Some(v) if out.status.success() => Ok(v),
        _ => Err(GitVersionError::Unreadable {
            output: text.trim().chars().take(200).collect(),
        }),
    }
}

/// The installed git, when it is at least [`MIN_GIT`].
pub fn require() -> Result<GitVersion, GitVersionError> {
    check(detect()?)
}

/// `found` when it is at least [`MIN_GIT`].
pub fn check(found: GitVersion) -> Result<GitVersion, GitVersionError> {
    if found < MIN_GIT {
        Err(GitVersionError::TooOld { found })
    } else {
        Ok(found)
    }
}

/// The installed git's version, detected once per process (`None` when unknown).
fn cached() -> Option<GitVersion> {
    static VERSION: OnceLock<Option<GitVersion>> = OnceLock::new();
    *VERSION.get_or_init(|| detect().ok())
}

/// Whether `pack-objects --filter` may write its pack to a directory. Unknown: assume not
/// (the fallback works with every git).
pub(crate) fn supports_pack_filter_to_dir() -> bool {
    cached().is_some_and(|v| v >= PACK_FILTER_TO_DIR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_vendor_versions() {
        let v = |s| GitVersion::parse(s);
        assert_eq!(v("git version 2.39.5\n"), Some(GitVersion::new(2, 39, 5)));
        assert_eq!(
            v("git version 2.39.5.windows.1"),
            Some(GitVersion::new(2, 39, 5))
        );
        assert_eq!(
            v("git version 2.37.1 (Apple Git-137.1)"),
            Some(GitVersion::new(2, 37, 1))
        );
        assert_eq!(v("git version 2.45.0.rc1"), Some(GitVersion::new(2, 45, 0)));
        assert_eq!(v("git version 2.41"), Some(GitVersion::new(2, 41, 0)));
        assert_eq!(v("hub version 2.14.2"), None);
        assert_eq!(v(""), None);
    }

    #[test]
    fn older_than_the_minimum_is_refused_with_what_to_do() {
        let err = check(GitVersion::new(2, 20, 1)).unwrap_err().to_string();
        assert!(err.contains("2.20.1"), "{err}");
        assert!(err.contains(&MIN_GIT.to_string()), "{err}");
        assert!(err.contains("install a newer git"), "{err}");
        assert!(check(MIN_GIT).is_ok());
        assert!(check(GitVersion::new(3, 0, 0)).is_ok());
        assert!(GitVersion::new(2, 9, 0) < GitVersion::new(2, 30, 0));
    }
}
