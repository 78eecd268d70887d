//! Where a working tree's git metadata lives, and what an event inside it means.

use std::fs;
use std::path::{Path, PathBuf};

use super::paths;

/// The directories of a working tree's repository.
#[derive(Debug, Clone)]
pub(super) struct GitDirs {
    /// Holds HEAD and the index: `<root>/.git`, or where a `.git` file points.
    pub(super) git_dir: PathBuf,
    /// Holds refs, packed-refs and info/exclude: the git dir, or its `commondir` (worktrees).
    pub(super) common_dir: PathBuf,
    /// `<common_dir>/refs/heads`, watched per directory.
    pub(super) refs_heads: PathBuf,
}

/// What an event under the git dirs says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum GitHit {
    /// HEAD, packed-refs or a branch ref was replaced.
    HeadMoved,
    /// The index or its lock changed.
    Index,
    /// Anything else under .git: nothing to report.
    Noise,
}

impl GitDirs {
    /// The git dirs of the tree at `root`, following a `.git` file (`gitdir: ...`).
    pub(super) fn find(root: &Path) -> Option<GitDirs> {
        let dot_git = root.join(".git");
        let meta = fs::metadata(&dot_git).ok()?;
        let git_dir = if meta.is_dir() {
            dot_git
        } else {
            let text = match fs::read_to_string(&dot_git) {
                Ok(text) => text,
                Err(error) => {
                    tracing::warn!(path = %dot_git.display(), %error, "cannot read .git file");
                    return None;
                }
            };
            let Some(target) = text.lines().find_map(|l| l.strip_prefix("gitdir:")) else {
                tracing::warn!(path = %dot_git.display(), "no `gitdir:` line in .git file");
                return None;
            };
            let target = root.join(target.trim());
            match fs::canonicalize(&target) {
                Ok(dir) => dir,
                Err(error) => {
                    tracing::warn!(path = %target.display(), %error, "the git dir named in .git is missing");
                    return None;
                }
            }
        };
        let common_dir = fs::read_to_string(git_dir.join("commondir"))
            .ok()
            .and_then(|text| fs::canonicalize(git_dir.join(text.trim())).ok())
            .unwrap_or_else(|| git_dir.clone());
        Some(GitDirs {
            refs_heads: common_dir.join("refs").join("heads"),
            git_dir,
            common_dir,
        })
    }

    /// `.git/info/exclude`, whose patterns apply to the tree.
    pub(super) fn info_exclude(&self) -> PathBuf {
        self.common_dir.join("info").join("exclude")
    }

    /// What an event at `path` means, or `None` when the path is outside the git dirs.
    pub(super) fn classify(&self, path: &Path) -> Option<GitHit> {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if paths::is_under(path, &self.refs_heads) {
            return Some(if name.ends_with(".lock") {
                GitHit::Noise
            } else {
                GitHit::HeadMoved
            });
        }
        let parent = paths::parent(path).map(paths::bytes);
        if parent == Some(paths::bytes(&self.git_dir)) {
            return Some(match name {
                "HEAD" | "packed-refs" => GitHit::HeadMoved,
                "index" | "index.lock" => GitHit::Index,
                _ => GitHit::Noise,
            });
        }
        if parent == Some(paths::bytes(&self.common_dir)) && name == "packed-refs" {
            return Some(GitHit::HeadMoved);
        }
        if paths::is_under(path, &self.git_dir) || paths::is_under(path, &self.common_dir) {
            return Some(GitHit::Noise);
        }
        None
    }

    /// Whether `.git/index.lock` exists now.
    pub(super) fn index_locked(&self) -> bool {
        self.git_dir.join("index.lock").exists()
    }
}

/// The files git tracks at `root` although its ignore rules match them (absolute paths), from
/// `git ls-files -c -i --exclude-standard`. Empty when git cannot say (it is logged).
pub(super) fn tracked_but_ignored(root: &Path) -> Vec<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let out = crate::gitcmd::command()
        .args(["-c", "core.quotepath=off"])
        .args(["ls-files", "-z", "-c", "-i", "--exclude-standard"])
        .current_dir(root)
        .output();
    match out {
        Ok(out) if out.status.success() => out
            .stdout
            .split(|&b| b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| root.join(std::ffi::OsStr::from_bytes(p)))
            .collect(),
        Ok(out) => {
            tracing::debug!(root = %root.display(), stderr = %String::from_utf8_lossy(&out.stderr).trim(), "cannot list tracked ignored files");
            Vec::new()
        }
        Err(error) => {
            tracing::debug!(root = %root.display(), %error, "cannot run git to list tracked ignored files");
            Vec::new()
        }
    }
}
