//! What changed since the last review, as git trees in a private index and object store.
//!
//! A [`Snapshotter`] owns, under cxd's private directory for one workspace, an `index` and an
//! `objects/` directory. Every git call runs with `GIT_INDEX_FILE` and `GIT_OBJECT_DIRECTORY`
//! pointing there; calls that only read also see the repository's objects as an alternate
//! (`GIT_ALTERNATE_OBJECT_DIRECTORIES`). Calls that may write objects do not: git "freshens"
//! (touches) an object it is about to write when an alternate already has it, and that would
//! touch the user's packs. So cxd never writes into the user's `.git`, not even an mtime.
//!
//! The first snapshot seeds the private index from a copy of the user's index (its stat cache
//! spares re-hashing unchanged files) and refreshes everything. Later snapshots refresh only
//! the paths the watcher reported: one `git add -A` over them (which honours .gitignore and
//! handles a file that became a directory), plus one `git rm --cached` when some are gone,
//! then `git write-tree`. HEAD is read from the ref files when it can be (falling back to
//! `git rev-parse`). The module is synchronous; the daemon calls it in `spawn_blocking`.
//!
//! A HEAD move (a checkout, pull, reset, commit) takes the HEAD-move path (`moved`) when it
//! can: the new HEAD's tree patched with what the work tree has differently (the last
//! snapshot's uncommitted changes, the reported files, hashed here), no index read, so its
//! cost follows the files the move wrote, not the tree. The private index then lags behind
//! for the reported paths: a few join the dirty paths below; many mark it behind, and the
//! next snapshot that needs it reseeds it once. Reseeding (also the fallback for a move the
//! HEAD-move path cannot take) seeds the private index again from the user's (its stat cache
//! is fresh after a move), packs the new HEAD's trees privately, and refreshes only the paths
//! where the last snapshot differs from the user's index, plus those the watcher reported.
//!
//! The common case, a content edit of files the last snapshot already tracks (same type and
//! executable bit, HEAD unmoved, no attributes or autocrlf that could make `git add` store
//! other bytes), takes an index-free fast path (`fast`): the changed files' ancestor trees
//! are read with a long-lived `git cat-file --batch`, and the new blobs and trees are hashed
//! in-process and written as loose objects. The private index is then stale for those paths:
//! they are kept as dirty (in memory and in the state file `dirty`, for a restart) and
//! refreshed along with the next slow path's paths.
//!
//! The review diff comes from a long-lived `git diff-tree --stdin` (`differ`), which spares
//! the burst a git process. git reads config and attributes when it starts, so it is stopped
//! whenever a snapshot takes any path but the content-edit one (which refuses `.git*` files
//! and attributes), when the config changes, and after a prune.
//!
//! The private object directory only grows; [`Snapshotter::prune`] repacks what the kept
//! snapshots and the private index still need and deletes the rest.

mod change;
mod compare;
mod differ;
mod error;
mod fast;
mod gate;
mod git;
mod head;
pub mod hunks;
mod lines;
mod loose;
mod moved;
mod objects;
mod parse;
mod patch;
mod refresh;
pub mod revs;
#[cfg(test)]
mod tests;
pub mod upkeep;

use std::ffi::OsStr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

pub use change::{ChangeStatus, Diff, FileChange, Snapshot};
pub use error::SnapshotError;
use error::io_err;
use git::{Call, Git, Odb};
use head::hex_line;
pub use lines::TreeReader;

/// Snapshots of one work tree, in a private index and object directory.
#[derive(Debug)]
pub struct Snapshotter {
    git: Git,
    /// The repository's common dir (refs live there, also for a linked worktree).
    common_dir: PathBuf,
    /// The user's index, copied once to seed ours.
    user_index: PathBuf,
    /// cxd's private directory for this workspace.
    dir: PathBuf,
    /// The private index file (`<dir>/index`): `GIT_INDEX_FILE` of every call that writes.
    index: PathBuf,
    /// A path that is never created, the index of read-only calls.
    no_index: PathBuf,
    /// The empty tree's id in this repository's hash.
    empty_tree: String,
    /// Refs are plain files (not reftable), so HEAD can be read without git.
    files_refs: bool,
    /// The tree the private index held after the last write-tree.
    last_tree: Option<String>,
    /// The last snapshot taken (to see whether HEAD moved since).
    last: Option<Snapshot>,
    /// Paths (relative to the root, NUL-separated) never snapshotted: cxd's own files when its
    /// state dir lies inside the tree.
    exclude: Vec<u8>,
    /// Paths the fast path put into snapshots but not into the private index; the next slow
    /// path refreshes them too. Also kept in the file `dirty`, for a restart.
    dirty: std::collections::BTreeSet<PathBuf>,
    /// When the fast path last made a snapshot (stands in for the index's mtime).
    fast_at: Option<std::time::SystemTime>,
    /// Whether the config lets the fast path hash raw bytes.
    gate: gate::Gate,
    /// Whether the private index has no assume-unchanged/skip-worktree entries (`None`: not
    /// checked since it was seeded).
    index_clear: Option<bool>,
    /// How many snapshots the fast path made.
    fast_count: u64,
    /// The `cat-file --batch` of the fast path and the tree patches, started on first use
    /// (behind a lock so that the read-only calls, which take `&self`, can use it too).
    batch: std::sync::Mutex<Option<loose::Batch>>,
    /// The long-lived `diff-tree --stdin` of the review diffs, started on first use.
    differ: std::sync::Mutex<Option<differ::Differ>>,
    /// The last `diff-tree` of two commits the HEAD-move path ran (from, to, entries): the
    /// rebase onto the moved HEAD that follows asks for the same.
    moved_diff: std::sync::Mutex<Option<(String, String, Vec<parse::RawEntry>)>>,
    /// How many snapshots the HEAD-move path made.
    moved_count: u64,
    /// Set when the HEAD-move path left the private index behind for more paths than a
    /// partial refresh takes: the next snapshot that needs the index reseeds it from the
    /// user's index instead.
    behind: bool,
    /// The HEAD whose trees were last packed into the private object directory (by a seed
    /// or a reseed), so that the next reseed packs only the trees it lacks.
    packed: Option<String>,
}

/// Most paths refreshed one by one; more take a full refresh (see `refresh_paths`).
const MAX_PATHSPECS: usize = 100;

impl Snapshotter {
    /// Open snapshots of the work tree at `root`, keeping state in `dir` (created if missing,
    /// mode 0700). Runs git twice: to find the repository and to learn its empty tree id.
    pub fn open(root: &Path, dir: &Path) -> Result<Self, SnapshotError> {
        let located = git::discover(root)?;
        let canonical = root.canonicalize().map_err(io_err(root, "resolve"))?;
        let top = located
            .toplevel
            .canonicalize()
            .map_err(io_err(&located.toplevel, "resolve"))?;
        if top != canonical {
            return Err(SnapshotError::NotARepo {
                root: root.to_owned(),
                detail: format!("its work tree starts at {}", top.display()),
            });
        }
        let objects = dir.join("objects");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&objects)
            .map_err(io_err(&objects, "create"))?;
        let git = Git::new(canonical, &located, objects)?;
        let index = dir.join("index");
        let empty = git.run(&Call {
            args: &[
                OsStr::new("hash-object"),
                OsStr::new("-t"),
                OsStr::new("tree"),
                OsStr::new("--stdin"),
            ],
            index: &index,
            odb: Odb::Private,
            stdin: Some(b""),
            ok_codes: &[],
        })?;
        let empty_tree = hex_line(&empty, "hash-object -t tree --stdin")?;
        Ok(Self {
            files_refs: !located.common_dir.join("reftable").exists(),
            git,
            common_dir: located.common_dir,
            user_index: located.index,
            dir: dir.to_owned(),
            no_index: dir.join("no-index"),
            index,
            empty_tree,
            last_tree: None,
            last: None,
            exclude: Vec::new(),
            dirty: fast::read_dirty(&dir.join("dirty")),
            fast_at: None,
            gate: gate::Gate::default(),
            index_clear: None,
            fast_count: 0,
            batch: std::sync::Mutex::new(None),
            differ: std::sync::Mutex::new(None),
            moved_diff: std::sync::Mutex::new(None),
            moved_count: 0,
            behind: false,
            packed: None,
        })
    }

    /// Never snapshot these directories (absolute; those outside the tree are ignored).
    pub fn set_exclude(&mut self, dirs: &[PathBuf]) {
        self.exclude.clear();
        for d in dirs {
            if let Ok(rel) = d.strip_prefix(&self.git.root)
                && !rel.as_os_str().is_empty()
            {
                self.exclude
                    .extend_from_slice(rel.as_os_str().as_encoded_bytes());
                self.exclude.push(0);
            }
        }
    }

    /// How many snapshots took the index-free fast path (for benchmarks and tests).
    #[must_use]
    pub fn fast_snapshots(&self) -> u64 {
        self.fast_count
    }

    /// How many snapshots took the HEAD-move path without the index (for benchmarks and
    /// tests).
    #[must_use]
    pub fn moved_snapshots(&self) -> u64 {
        self.moved_count
    }

    /// The empty tree's id (the baseline when there is nothing yet).
    #[must_use]
    pub fn empty_tree(&self) -> &str {
        &self.empty_tree
    }

    /// Snapshot the working tree as it is now: tracked files plus untracked files that are
    /// not ignored. With `changed`, only those paths (relative to the root, or absolute under
    /// it) are refreshed in the private index; otherwise everything is. The first call seeds
    /// the private index from a copy of the user's and refreshes everything.
    pub fn snapshot(&mut self, changed: Option<&[PathBuf]>) -> Result<Snapshot, SnapshotError> {
        let head = self.read_head()?;
        if !self.index.exists() {
            self.drop_differ();
            self.seed()?;
            self.clear_dirty()?;
        } else if let Some(paths) = changed {
            // The index-free paths: a content edit, then a HEAD move. Anything but a content
            // edit may have changed what the long-lived diff-tree read when it started.
            let taken = self.fast(paths, &head).or_else(|| {
                self.drop_differ();
                self.moved(paths, &head)
            });
            if let Some(tree) = taken {
                let snapshot = Snapshot { tree, head };
                self.last = Some(snapshot.clone());
                return Ok(snapshot);
            }
            if self.behind {
                self.catch_up(paths, &head)?;
            } else {
                let mut all = paths.to_vec();
                all.extend(self.dirty.iter().cloned());
                match self.moved_from(&head) {
                    Some(last) if paths.len() > MAX_PATHSPECS => {
                        self.reseed(&all, &last, &head)?;
                    }
                    _ => self.refresh_paths(&all)?,
                }
            }
            self.clear_dirty()?;
        } else {
            self.drop_differ();
            self.refresh_all(Odb::Private)?;
            self.clear_dirty()?;
        }
        let tree = match &self.last_tree {
            Some(tree) => tree.clone(),
            None => {
                let tree = self.write_tree(&self.index)?;
                self.last_tree = Some(tree.clone());
                tree
            }
        };
        self.prime_fast();
        let snapshot = Snapshot { tree, head };
        self.last = Some(snapshot.clone());
        Ok(snapshot)
    }

    /// A read-only call. It gets an index file that does not exist: `diff-tree` reads the
    /// index (for nothing we need), which costs 15 ms on 100 000 entries.
    fn reader<'a>(&'a self, args: &'a [&'a OsStr]) -> Call<'a> {
        Call {
            args,
            index: &self.no_index,
            odb: Odb::WithRepo,
            stdin: None,
            ok_codes: &[],
        }
    }

    /// A read-only call in the private bare repository (see [`Odb::Bare`]).
    fn bare_reader<'a>(&'a self, args: &'a [&'a OsStr]) -> Call<'a> {
        Call {
            odb: Odb::Bare,
            ..self.reader(args)
        }
    }

    fn write_tree(&self, index: &Path) -> Result<String, SnapshotError> {
        let out = self.git.run(&Call {
            args: &[OsStr::new("write-tree"), OsStr::new("--missing-ok")],
            index,
            odb: Odb::Private,
            stdin: None,
            ok_codes: &[],
        })?;
        hex_line(&out, "write-tree")
    }
}
