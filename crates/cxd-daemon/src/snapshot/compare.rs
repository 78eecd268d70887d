//! Comparing snapshots: the diff a reviewer reads, a baseline carried onto a moved HEAD, and
//! HEAD itself as a baseline.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::differ::{Asked, Differ};
use super::git::{Call, Odb};
use super::head::hex_line;
use super::patch::{Patch, Patches};
use super::{ChangeStatus, Diff, Snapshot, SnapshotError, Snapshotter, parse};

/// The options of the review diff: raw records and numstat (with renames) for the file list,
/// then the patch, with fixed prefixes and no external diff or textconv program. Run in the
/// private bare repository ([`Odb::Bare`]): no attribute or config of the repository decides
/// that a file is binary or how it is shown, only its bytes do.
const DIFF_OPTS: [&str; 10] = [
    "-r",
    "-M",
    "-z",
    "--raw",
    "--numstat",
    "-p",
    "--no-ext-diff",
    "--no-textconv",
    "--src-prefix=a/",
    "--dst-prefix=b/",
];

impl Snapshotter {
    /// The diff from `base` to `to`; the unified text is kept only up to `max_bytes`. Asks the
    /// long-lived `diff-tree --stdin` (started when missing), and runs `diff-tree` once when
    /// that cannot answer.
    pub fn diff(
        &self,
        base: &Snapshot,
        to: &Snapshot,
        max_bytes: usize,
    ) -> Result<Diff, SnapshotError> {
        if base.tree == to.tree {
            return Ok(Diff::empty());
        }
        if let Some(diff) = self.diff_asked(&base.tree, &to.tree, max_bytes) {
            return Ok(diff);
        }
        self.diff_once(&base.tree, &to.tree, max_bytes)
    }

    /// The diff from the long-lived `diff-tree --stdin`; `None` when it cannot answer (then
    /// it is stopped, unless it is still in step).
    fn diff_asked(&self, a: &str, b: &str, max_bytes: usize) -> Option<Diff> {
        let mut guard = self
            .differ
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if guard.is_none() {
            let mut args = vec![OsStr::new("diff-tree"), OsStr::new("--stdin")];
            args.extend(DIFF_OPTS.map(OsStr::new));
            let git = self
                .git
                .spawn_long(&self.bare_reader(&args), 64 * 1024)
                .ok()?;
            *guard = Some(Differ::new(git));
        }
        let differ = guard.as_mut()?;
        match differ.ask(a, b, |mut out| parse::diff(&mut out, max_bytes)) {
            Asked::Done(diff) => Some(diff),
            Asked::NoDiff => None,
            Asked::Broken => {
                tracing::debug!("the long-lived diff-tree is out of step; restarting it");
                *guard = None;
                None
            }
        }
    }

    /// The diff from one `diff-tree` run.
    pub(crate) fn diff_once(
        &self,
        a: &str,
        b: &str,
        max_bytes: usize,
    ) -> Result<Diff, SnapshotError> {
        let mut args = vec![OsStr::new("diff-tree")];
        args.extend(DIFF_OPTS.map(OsStr::new));
        args.extend([OsStr::new(a), OsStr::new(b)]);
        let call = self.bare_reader(&args);
        self.git.stream(&call, |out| {
            parse::diff(out, max_bytes).map_err(|detail| SnapshotError::Parse {
                command: "diff-tree".into(),
                detail,
            })
        })
    }

    /// Stop the long-lived `diff-tree --stdin` (config or attributes may have changed, or a
    /// prune removed the packs it had open); the next diff starts another.
    pub(super) fn drop_differ(&self) {
        *self
            .differ
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// `base` moved onto `to.head`: every path that differs between `base.head` and `to.head`
    /// takes its version at `to.head` (or is deleted). So `diff(rebased, to)` shows only what
    /// the HEAD move does not explain: a checkout, pull, rebase, reset or commit shows nothing,
    /// uncommitted edits on top still show.
    ///
    /// Except the `keep` paths (edits no review covered, which the move may merely have
    /// committed): they keep their version in `base`, so the diff still shows exactly the edit.
    pub fn rebase_onto_head(
        &self,
        base: &Snapshot,
        to: &Snapshot,
        keep: &HashSet<PathBuf>,
    ) -> Result<Snapshot, SnapshotError> {
        self.rebase(base, to, keep, true)
    }

    /// `rebase_onto_head` through an index only (what the tree patch must equal).
    #[cfg(test)]
    pub(crate) fn rebase_by_index(
        &self,
        base: &Snapshot,
        to: &Snapshot,
        keep: &HashSet<PathBuf>,
    ) -> Result<Snapshot, SnapshotError> {
        self.rebase(base, to, keep, false)
    }

    fn rebase(
        &self,
        base: &Snapshot,
        to: &Snapshot,
        keep: &HashSet<PathBuf>,
        patch: bool,
    ) -> Result<Snapshot, SnapshotError> {
        if base.head == to.head {
            return Ok(base.clone());
        }
        let from = base.head.as_deref().unwrap_or(&self.empty_tree);
        let onto = to.head.as_deref().unwrap_or(&self.empty_tree);
        let entries = match self.cached_move(from, onto) {
            Some(entries) => entries,
            None => self.diff_raw(from, onto)?,
        };
        if entries.is_empty() {
            return Ok(Snapshot {
                tree: base.tree.clone(),
                head: to.head.clone(),
            });
        }
        // Start from `to.head` and put back what `base` changed on top of `base.head` where
        // the move left the path alone: the same tree as `base` with the moved paths taken
        // from `to.head`, but the index starts from trees the object directory has (after a
        // checkout, its new trees are packed), and only the few uncommitted changes are
        // written. Without such changes, the result is `to.head`'s tree itself.
        let kept: HashSet<&[u8]> = keep.iter().map(|p| p.as_os_str().as_bytes()).collect();
        let moved: HashSet<&[u8]> = entries
            .iter()
            .map(|e| e.path.as_slice())
            .filter(|p| !kept.contains(p))
            .collect();
        let moved_kept: HashSet<&[u8]> = entries
            .iter()
            .map(|e| e.path.as_slice())
            .filter(|p| kept.contains(p))
            .collect();
        let args = [
            "diff-tree",
            "-r",
            "--no-renames",
            "-z",
            "--raw",
            from,
            &base.tree,
        ]
        .map(OsStr::new);
        let mut edits = self.git.stream(&self.reader(&args), |out| {
            parse::raw_entries(out).map_err(|detail| SnapshotError::Parse {
                command: "diff-tree --raw".into(),
                detail,
            })
        })?;
        edits.retain(|e| {
            let path = e.path.as_slice();
            !moved.contains(path) && !moved_kept.contains(path)
        });
        let onto_tree = || match &to.head {
            Some(head) => {
                let spec = format!("{head}^{{tree}}");
                let out = self
                    .git
                    .run(&self.reader(&["rev-parse", "--verify", "-q", &spec].map(OsStr::new)))?;
                hex_line(&out, "rev-parse HEAD^{tree}")
            }
            None => Ok(self.empty_tree.clone()),
        };
        if !moved_kept.is_empty() {
            let onto_tree = onto_tree()?;
            // A kept path the move touched takes its version in `base` (deleted if absent).
            let args = [
                "diff-tree",
                "-r",
                "--no-renames",
                "-z",
                "--raw",
                &onto_tree,
                &base.tree,
            ]
            .map(OsStr::new);
            let mut back = self.git.stream(&self.reader(&args), |out| {
                parse::raw_entries(out).map_err(|detail| SnapshotError::Parse {
                    command: "diff-tree --raw".into(),
                    detail,
                })
            })?;
            back.retain(|e| moved_kept.contains(e.path.as_slice()));
            edits.extend(back);
        }
        if edits.is_empty() {
            return Ok(Snapshot {
                tree: onto_tree()?,
                head: to.head.clone(),
            });
        }
        // The new HEAD's tree patched with the edits, without an index; the index below
        // when that cannot be (a file that became a directory, a submodule).
        if patch
            && let Some(head) = &to.head
            && let Some(patches) = edit_patches(&edits)
            && let Some(tree) = self.patch_tree(head, &patches)
        {
            return Ok(Snapshot {
                tree,
                head: to.head.clone(),
            });
        }
        let onto_tree = onto_tree()?;
        let zero = "0".repeat(self.empty_tree.len());
        let mut info = Vec::new();
        for e in &edits {
            if e.status == ChangeStatus::Deleted {
                info.extend_from_slice(b"0 ");
                info.extend_from_slice(zero.as_bytes());
            } else {
                info.extend_from_slice(&e.new_mode);
                info.push(b' ');
                info.extend_from_slice(&e.new_oid);
            }
            info.push(b'\t');
            info.extend_from_slice(&e.path);
            info.push(0);
        }
        let temp = self.dir.join("rebase.index");
        let _ = std::fs::remove_file(&temp);
        let result = (|| {
            self.git.run(&Call {
                args: &[OsStr::new("read-tree"), OsStr::new(&onto_tree)],
                index: &temp,
                odb: Odb::WithRepo,
                stdin: None,
                ok_codes: &[],
            })?;
            self.git.run(&Call {
                args: &[
                    OsStr::new("update-index"),
                    OsStr::new("-z"),
                    OsStr::new("--index-info"),
                ],
                index: &temp,
                odb: Odb::Private,
                stdin: Some(&info),
                ok_codes: &[],
            })?;
            self.write_tree(&temp)
        })();
        let _ = std::fs::remove_file(&temp);
        Ok(Snapshot {
            tree: result?,
            head: to.head.clone(),
        })
    }

    /// HEAD itself, for reviewing every uncommitted change. On an unborn branch: the empty
    /// tree with `head: None`.
    pub fn head_snapshot(&self) -> Result<Snapshot, SnapshotError> {
        let Some(head) = self.read_head()? else {
            return Ok(Snapshot {
                tree: self.empty_tree.clone(),
                head: None,
            });
        };
        let spec = format!("{head}^{{tree}}");
        let out = self
            .git
            .run(&self.reader(&["rev-parse", "--verify", "-q", &spec].map(OsStr::new)))?;
        Ok(Snapshot {
            tree: hex_line(&out, "rev-parse HEAD^{tree}")?,
            head: Some(head),
        })
    }
}

/// The edits as tree patches; `None` when one has a mode a patch does not write (a
/// submodule).
fn edit_patches(edits: &[parse::RawEntry]) -> Option<Patches> {
    let mut patches = Patches::new();
    for e in edits {
        let patch = if e.status == ChangeStatus::Deleted {
            Patch::Remove
        } else {
            let mode: &'static [u8] = match e.new_mode.as_slice() {
                b"100644" => b"100644",
                b"100755" => b"100755",
                b"120000" => b"120000",
                _ => return None,
            };
            Patch::Set(mode, super::loose::unhex(&e.new_oid)?)
        };
        patches.insert(e.path.clone(), patch);
    }
    Some(patches)
}
