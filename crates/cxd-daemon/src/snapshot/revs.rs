//! Committed history as a reviewer needs it: a revision the user named resolved to a commit and
//! its tree, the commits of a range, a merge base. Read from the user's repository through the
//! same scrubbed git calls as snapshots (read-only, the repository's objects as an alternate),
//! and a revision is never taken for an option: names starting with `-` are refused and every
//! name goes after `--end-of-options` to `rev-parse --verify`, which takes exactly one.

use std::ffi::OsStr;

use super::git::Call;
use super::head::hex_line;
use super::{SnapshotError, Snapshotter};

/// Most commits a range lists (for the trees it covers); a longer range still reviews its diff.
pub const MAX_RANGE_COMMITS: usize = 10_000;

/// A commit and the tree it records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// The commit id (hex).
    pub id: String,
    /// Its tree id (hex).
    pub tree: String,
    /// Its first parent, None for a root commit.
    pub parent: Option<String>,
}

/// Why a revision or a range cannot be reviewed; each names the cause and the next command.
#[derive(Debug, thiserror::Error)]
pub enum RevError {
    /// The repository has no commit at all.
    #[error(
        "this repository has no commits yet: there is no history to review; commit first, or `cxd review` the uncommitted work"
    )]
    NoCommits,
    /// A name that would read as an option, or holds characters no revision has.
    #[error("{0:?} is not a revision name; name a commit, branch or tag (see `git log --oneline`)")]
    BadName(String),
    /// git knows no commit by that name.
    #[error(
        "unknown revision {0:?}: no commit is named so here; see `git log --oneline` or `git branch -a`"
    )]
    Unknown(String),
    /// A range with no commit in it.
    #[error(
        "{from}..{to} holds no commit ({to} is already in {from}); name the older revision first, or see `git log --oneline {from}..{to}`"
    )]
    Empty {
        /// Where the range starts, as the user named it.
        from: String,
        /// Where it ends, as the user named it.
        to: String,
    },
    /// HEAD has nothing the branch lacks (and no uncommitted work was asked for).
    #[error(
        "HEAD has no commit that {0} lacks: nothing to review; commit your work, or add --uncommitted to review what is not committed yet"
    )]
    NothingAhead(String),
    /// No common ancestor; in a shallow clone it may simply not have been fetched.
    #[error("{branch} and HEAD have no common ancestor here{hint}")]
    NoMergeBase {
        /// The branch as the user named it.
        branch: String,
        /// What to do: fetch the history of a shallow clone, or name a range.
        hint: &'static str,
    },
    /// `--base` compares the current branch, and there is none.
    #[error(
        "HEAD is detached: --base reviews the current branch against another; `git switch BRANCH` first, or `cxd review --range {0}..HEAD`"
    )]
    Detached(String),
    /// git itself failed.
    #[error(transparent)]
    Git(#[from] SnapshotError),
}

impl RevError {
    /// The user named something wrong (not git or cxd failing).
    #[must_use]
    pub fn is_usage(&self) -> bool {
        !matches!(self, Self::Git(_))
    }
}

/// A name that may be a revision: not empty, no option, no control character, not absurdly
/// long, and one revision (no `A..B` range and no `^A` exclusion inside it).
fn check_name(rev: &str) -> Result<(), RevError> {
    if rev.is_empty()
        || rev.starts_with('-')
        || rev.starts_with('^')
        || rev.contains("..")
        || rev.len() > 1024
        || rev.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(RevError::BadName(rev.to_owned()));
    }
    Ok(())
}

impl Snapshotter {
    /// Read-only git with exit 1 allowed (a "no" from `rev-parse -q`, `merge-base`, `symbolic-ref`).
    fn ask(&self, args: &[&str]) -> Result<Vec<u8>, SnapshotError> {
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        self.git.run(&Call {
            ok_codes: &[1],
            ..self.reader(&args)
        })
    }

    /// The commit a user-named revision names, with its tree and first parent.
    pub fn resolve_commit(&self, rev: &str) -> Result<Commit, RevError> {
        check_name(rev)?;
        if self.read_head()?.is_none() {
            return Err(RevError::NoCommits);
        }
        let spec = format!("{rev}^{{commit}}");
        // The repository reads (HEAD did): a name git cannot verify as one commit, whether it
        // says so with exit 1, exit 128 (`HEAD@{99999}`) or by printing more than one id
        // (`A^@`), is the user's to change.
        let args = ["rev-parse", "--verify", "-q", "--end-of-options", &spec];
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        let out = self.git.run(&Call {
            ok_codes: &[1, 128],
            ..self.reader(&args)
        })?;
        let Ok(id) = hex_line(&out, "rev-parse --verify") else {
            return Err(RevError::Unknown(rev.to_owned()));
        };
        self.commit(&id)
    }

    /// A commit id's tree and first parent.
    fn commit(&self, id: &str) -> Result<Commit, RevError> {
        let tree = hex_line(
            &self.ask(&["rev-parse", "--verify", "-q", &format!("{id}^{{tree}}")])?,
            "rev-parse ^{tree}",
        )?;
        let parent = self.ask(&["rev-parse", "--verify", "-q", &format!("{id}^1")])?;
        let parent = if parent.trim_ascii().is_empty() {
            None
        } else {
            Some(hex_line(&parent, "rev-parse ^1")?)
        };
        Ok(Commit {
            id: id.to_owned(),
            tree,
            parent,
        })
    }

    /// The tree of a commit's first parent (the empty tree for a root commit).
    pub fn parent_tree(&self, commit: &Commit) -> Result<String, RevError> {
        match &commit.parent {
            Some(p) => Ok(self.commit(p)?.tree),
            None => Ok(self.empty_tree.clone()),
        }
    }

    /// The commits reachable from `to` but not from any of `not` (commit ids, or a `--glob=`),
    /// children before parents, at most [`MAX_RANGE_COMMITS`].
    pub fn commits_between(&self, to: &str, not: &[&str]) -> Result<Vec<Commit>, RevError> {
        let max = format!("--max-count={MAX_RANGE_COMMITS}");
        let mut args = vec![
            "rev-list",
            "--topo-order",
            "--format=%T %P",
            max.as_str(),
            to,
            "--not",
        ];
        args.extend_from_slice(not);
        let out = self.ask(&args)?;
        let text = String::from_utf8_lossy(&out);
        let mut commits = Vec::new();
        let mut lines = text.lines();
        while let Some(header) = lines.next() {
            let Some(id) = header.strip_prefix("commit ") else {
                continue;
            };
            let body = lines.next().unwrap_or_default();
            let mut words = body.split(' ');
            let tree = words.next().unwrap_or_default();
            let parent = words.next().filter(|p| !p.is_empty());
            commits.push(Commit {
                id: hex_line(id.as_bytes(), "rev-list")?,
                tree: hex_line(tree.as_bytes(), "rev-list --format=%T")?,
                parent: parent.map(str::to_owned),
            });
        }
        Ok(commits)
    }

    /// The best common ancestor of two commits, or why there is none.
    pub fn merge_base(&self, branch: &str, a: &str, b: &str) -> Result<Commit, RevError> {
        let out = self.ask(&["merge-base", a, b])?;
        if out.trim_ascii().is_empty() {
            let shallow = self.ask(&["rev-parse", "--is-shallow-repository"])?;
            let hint = if shallow.trim_ascii() == b"true" {
                ": this clone is shallow and may lack the history they share; `git fetch --unshallow` (or `git fetch --deepen=100`), then try again"
            } else {
                "; review an explicit range instead: `cxd review --range A..B`"
            };
            return Err(RevError::NoMergeBase {
                branch: branch.to_owned(),
                hint,
            });
        }
        let id = hex_line(&out, "merge-base")?;
        self.commit(&id)
    }

    /// Whether HEAD is a branch (false: detached).
    pub fn head_on_branch(&self) -> Result<bool, RevError> {
        let out = self.ask(&["symbolic-ref", "-q", "HEAD"])?;
        Ok(!out.trim_ascii().is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_like_and_odd_names_are_refused() {
        for bad in [
            "",
            "--output=x",
            "-p",
            "a b",
            "a\nb",
            "x\u{1b}[2J",
            "a..b",
            "a...b",
            "..",
            "^main",
        ] {
            assert!(
                matches!(check_name(bad), Err(RevError::BadName(_))),
                "{bad:?}"
            );
        }
        for good in ["HEAD~2", "main", "v1.0", "origin/main", "abc123^{tree}"] {
            assert!(check_name(good).is_ok(), "{good:?}");
        }
    }
}
