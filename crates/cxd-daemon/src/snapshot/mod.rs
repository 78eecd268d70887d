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
//! then `git write-tree`. After a HEAD move that rewrote many files (a checkout, pull, reset),
//! the private index is seeded again from the user's (its stat cache is fresh), the new HEAD's
//! trees are packed privately, and only the paths where the last snapshot differs from the
//! user's index, plus those the watcher reported, are refreshed. HEAD is read from the ref files when it can be (falling back to
//! `git rev-parse`). The module is synchronous; the daemon calls it in `spawn_blocking`.
//!
//! The private object directory only grows; [`Snapshotter::prune`] repacks what the kept
//! snapshots and the private index still need and deletes the rest.

mod git;
mod parse;
#[cfg(test)]
mod tests;
pub mod upkeep;

use std::ffi::OsStr;
use std::io::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Component, Path, PathBuf};

use git::{Call, Git, Odb};

/// A working tree at one moment: a git tree id, and the commit HEAD pointed at.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    /// The tree id (hex).
    pub tree: String,
    /// HEAD's commit id (hex); `None` on an unborn branch.
    pub head: Option<String>,
}

/// How a file changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChangeStatus {
    /// New file.
    Added,
    /// Content or mode changed.
    Modified,
    /// Removed.
    Deleted,
    /// Moved, maybe with edits (`old_path` says from where).
    Renamed,
    /// File became a symlink or submodule, or the other way round.
    TypeChanged,
}

impl ChangeStatus {
    /// The name a reviewer sees: `added`, `modified`, `deleted`, `renamed`, `type_changed`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::Modified => "modified",
            Self::Deleted => "deleted",
            Self::Renamed => "renamed",
            Self::TypeChanged => "type_changed",
        }
    }
}

/// One changed file, with its line counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// The path after the change (relative to the work-tree root).
    pub path: PathBuf,
    /// For a rename, the path before it.
    pub old_path: Option<PathBuf>,
    /// How it changed.
    pub status: ChangeStatus,
    /// Lines added; `None` for a binary file.
    pub insertions: Option<u64>,
    /// Lines removed; `None` for a binary file.
    pub deletions: Option<u64>,
}

/// The change between two snapshots, as a reviewer needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    /// Every changed file, in git's path order.
    pub files: Vec<FileChange>,
    /// The unified diff; `None` when it is larger than the caller's `max_bytes` (then the
    /// reviewer gets `files` and reads the files itself).
    pub unified: Option<String>,
    /// The size of the full unified diff in bytes.
    pub bytes: usize,
}

impl Diff {
    /// No file changed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Lines added over all text files.
    #[must_use]
    pub fn insertions(&self) -> u64 {
        self.files.iter().filter_map(|f| f.insertions).sum()
    }

    /// Lines removed over all text files.
    #[must_use]
    pub fn deletions(&self) -> u64 {
        self.files.iter().filter_map(|f| f.deletions).sum()
    }

    fn empty() -> Self {
        Self {
            files: Vec::new(),
            unified: Some(String::new()),
            bytes: 0,
        }
    }
}

/// Why a snapshot, diff or prune failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The `git` executable could not be run.
    #[error("cannot run `git {command}` in {root}: {source}; is git installed and on PATH?")]
    Spawn {
        /// The git arguments.
        command: String,
        /// The work tree it ran in.
        root: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// git ran and failed.
    #[error(
        "`git {command}` failed in {root} (exit {code:?}): {stderr}; check that the repository \
         is healthy (`git status`, `git fsck`), or remove cxd's state for this workspace to reseed"
    )]
    Git {
        /// The git arguments.
        command: String,
        /// The work tree it ran in.
        root: PathBuf,
        /// Its exit code (`None` if killed by a signal).
        code: Option<i32>,
        /// What it said.
        stderr: String,
    },
    /// The directory is not the root of a git work tree.
    #[error(
        "{root} is not the root of a git work tree ({detail}); watch the repository's top directory"
    )]
    NotARepo {
        /// The directory given.
        root: PathBuf,
        /// What git said, or the real top directory.
        detail: String,
    },
    /// cxd's private state could not be read or written.
    #[error(
        "cannot {action} {path}: {source}; check the permissions and free space of cxd's state dir"
    )]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// git printed something cxd does not understand.
    #[error(
        "unexpected output from `git {command}`: {detail}; please report this with `git --version`"
    )]
    Parse {
        /// The git arguments.
        command: String,
        /// What was wrong.
        detail: String,
    },
}

fn io_err(path: &Path, action: &'static str) -> impl FnOnce(std::io::Error) -> SnapshotError {
    let path = path.to_owned();
    move |source| SnapshotError::Io {
        path,
        action,
        source,
    }
}

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
    /// The private index.
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
}

/// Most paths refreshed one by one; more take a full refresh (see `refresh_paths`).
const MAX_PATHSPECS: usize = 100;

/// A changed path, cleaned: relative, without `.`/`..`, never inside `.git`.
enum Cleaned {
    Path(PathBuf),
    /// The root itself: refresh everything.
    Root,
    /// Outside the tree or inside a `.git`: nothing to do.
    Skip,
}

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
        let git = Git::new(canonical, located.git_dir, located.objects, objects);
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
            self.seed()?;
        } else if let Some(paths) = changed {
            match self.moved_from(&head) {
                Some(last) if paths.len() > MAX_PATHSPECS => self.reseed(paths, &last, &head)?,
                _ => self.refresh_paths(paths)?,
            }
        } else {
            self.refresh_all(Odb::Private)?;
        }
        let tree = match &self.last_tree {
            Some(tree) => tree.clone(),
            None => {
                let tree = self.write_tree(&self.index)?;
                self.last_tree = Some(tree.clone());
                tree
            }
        };
        let snapshot = Snapshot { tree, head };
        self.last = Some(snapshot.clone());
        Ok(snapshot)
    }

    /// The last snapshot, when HEAD moved since and the user's index was written after ours
    /// (a checkout, reset or pull refreshed its stat cache).
    fn moved_from(&self, head: &Option<String>) -> Option<Snapshot> {
        let last = self.last.as_ref().filter(|l| l.head != *head)?;
        let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        (mtime(&self.user_index)? > mtime(&self.index)?).then(|| last.clone())
    }

    /// After a HEAD move with many changed paths: take a fresh copy of the user's index (its
    /// stat cache is fresh, so nothing the move rewrote is hashed again), then refresh only
    /// the paths where `last` differs from that index (the uncommitted changes, untracked
    /// files) plus those the watcher reported. The trees of the new HEAD that the private
    /// object directory lacks are packed first, so that write-tree finds the copied
    /// cache-tree's trees instead of writing thousands of loose objects. Falls back to a
    /// full refresh when anything is unexpected.
    fn reseed(
        &mut self,
        paths: &[PathBuf],
        last: &Snapshot,
        head: &Option<String>,
    ) -> Result<(), SnapshotError> {
        self.last_tree = None;
        if let Some(new) = head {
            let mut revs = vec![format!("{new}^{{tree}}")];
            if let Some(old) = &last.head {
                revs.push(format!("^{old}^{{tree}}"));
            }
            // No delta search: these packs are short-lived (prune repacks them).
            self.pack(&revs, Some("--filter=blob:none"), &["--window=0"])?;
        }
        let temp = self.dir.join("index.seed");
        std::fs::copy(&self.user_index, &temp).map_err(io_err(&self.user_index, "copy"))?;
        let user_tree = match self.write_tree(&temp) {
            Ok(tree) => tree,
            Err(e) => {
                // E.g. a sparse index: the full refresh of the index we have gets it right.
                tracing::debug!(error = %e, "cannot write the user's index as a tree");
                let _ = std::fs::remove_file(&temp);
                return self.refresh_all(Odb::Private);
            }
        };
        let args = [
            "diff-tree",
            "-r",
            "--no-renames",
            "-z",
            "--raw",
            &last.tree,
            &user_tree,
        ]
        .map(OsStr::new);
        let entries = match self.git.stream(&self.reader(&args), |out| {
            parse::raw_entries(out).map_err(|detail| SnapshotError::Parse {
                command: "diff-tree --raw".into(),
                detail,
            })
        }) {
            Ok(entries) => entries,
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                return Err(e);
            }
        };
        std::fs::rename(&temp, &self.index).map_err(io_err(&self.index, "replace"))?;
        // Tracked in the user's index: `update-index` (one lookup per path, no pathspec
        // matching; tracked files ignore .gitignore anyway). The rest (untracked files,
        // directories, what the watcher saw besides) goes through `add -A`/`rm --cached`.
        let mut tracked = Vec::new();
        let mut rest = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for e in &entries {
            let path = PathBuf::from(OsStr::from_bytes(&e.path));
            let meta = self.git.root.join(&path).symlink_metadata();
            if e.status == ChangeStatus::Deleted {
                if meta.is_ok() {
                    rest.push(path.clone());
                }
            } else if meta.is_ok_and(|m| m.is_dir()) {
                rest.push(path.clone());
            } else {
                tracked.extend_from_slice(&e.path);
                tracked.push(0);
            }
            seen.insert(path);
        }
        for p in paths {
            match self.clean(p) {
                Cleaned::Path(rel) if !seen.contains(&rel) => rest.push(rel),
                Cleaned::Path(_) | Cleaned::Skip => {}
                Cleaned::Root => return self.refresh_all(Odb::Private),
            }
        }
        if !tracked.is_empty() {
            let args = ["update-index", "--add", "--remove", "-z", "--stdin"].map(OsStr::new);
            if let Err(e) = self.git.run(&Call {
                args: &args,
                index: &self.index,
                odb: Odb::Private,
                stdin: Some(&tracked),
                ok_codes: &[],
            }) {
                tracing::debug!(error = %e, "update-index after a HEAD move failed");
                return self.refresh_all(Odb::Private);
            }
        }
        self.refresh_paths(&rest)?;
        self.remove_excluded(Odb::Private)
    }

    /// The diff from `base` to `to`; the unified text is kept only up to `max_bytes`.
    pub fn diff(
        &self,
        base: &Snapshot,
        to: &Snapshot,
        max_bytes: usize,
    ) -> Result<Diff, SnapshotError> {
        if base.tree == to.tree {
            return Ok(Diff::empty());
        }
        let args = [
            "diff-tree",
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
            &base.tree,
            &to.tree,
        ]
        .map(OsStr::new);
        let call = self.reader(&args);
        self.git.stream(&call, |out| {
            parse::diff(out, max_bytes).map_err(|detail| SnapshotError::Parse {
                command: "diff-tree".into(),
                detail,
            })
        })
    }

    /// `base` moved onto `to.head`: every path that differs between `base.head` and `to.head`
    /// takes its version at `to.head` (or is deleted). So `diff(rebased, to)` shows only what
    /// the HEAD move does not explain: a checkout, pull, rebase, reset or commit shows nothing,
    /// uncommitted edits on top still show.
    pub fn rebase_onto_head(
        &self,
        base: &Snapshot,
        to: &Snapshot,
    ) -> Result<Snapshot, SnapshotError> {
        if base.head == to.head {
            return Ok(base.clone());
        }
        let from = base.head.as_deref().unwrap_or(&self.empty_tree);
        let onto = to.head.as_deref().unwrap_or(&self.empty_tree);
        let args = ["diff-tree", "-r", "--no-renames", "-z", "--raw", from, onto].map(OsStr::new);
        let entries = self.git.stream(&self.reader(&args), |out| {
            parse::raw_entries(out).map_err(|detail| SnapshotError::Parse {
                command: "diff-tree --raw".into(),
                detail,
            })
        })?;
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
        let moved: std::collections::HashSet<&[u8]> =
            entries.iter().map(|e| e.path.as_slice()).collect();
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
        edits.retain(|e| !moved.contains(e.path.as_slice()));
        let onto_tree = match &to.head {
            Some(head) => {
                let spec = format!("{head}^{{tree}}");
                let out = self
                    .git
                    .run(&self.reader(&["rev-parse", "--verify", "-q", &spec].map(OsStr::new)))?;
                hex_line(&out, "rev-parse HEAD^{tree}")?
            }
            None => self.empty_tree.clone(),
        };
        if edits.is_empty() {
            return Ok(Snapshot {
                tree: onto_tree,
                head: to.head.clone(),
            });
        }
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

    /// Delete private objects that neither `keep` nor the private index need: their trees and
    /// the objects the repository lacks are repacked into two packs, and every other loose
    /// object and pack is removed. Costs a walk of the kept trees (a few hundred ms on a
    /// 100 000-file tree), so call it now and then, e.g. when [`Self::loose_objects`] is large.
    /// Returns how many object files were removed.
    pub fn prune(&self, keep: &[&Snapshot]) -> Result<usize, SnapshotError> {
        let mut roots: Vec<String> = keep.iter().map(|s| s.tree.clone()).collect();
        if self.index.exists() {
            roots.push(self.write_tree(&self.index)?);
        }
        roots.sort();
        roots.dedup();
        roots.retain(|t| *t != self.empty_tree);
        // Every tree (so write-tree's existence checks stay pack lookups), and every object
        // the repository lacks (our blobs).
        let trees = self.pack_trees(&roots)?;
        let ours = self.pack(&roots, None, &["--local"])?;
        let pack_dir = self.git.objects.join("pack");
        let mut removed = 0;
        let objects = &self.git.objects;
        for entry in std::fs::read_dir(objects).map_err(io_err(objects, "list"))? {
            let entry = entry.map_err(io_err(objects, "list"))?;
            let name = entry.file_name();
            let name = name.as_bytes();
            if name.len() == 2 && name.iter().all(u8::is_ascii_hexdigit) {
                let path = entry.path();
                removed += std::fs::read_dir(&path).map(Iterator::count).unwrap_or(0);
                std::fs::remove_dir_all(&path).map_err(io_err(&path, "remove"))?;
            }
        }
        for entry in std::fs::read_dir(&pack_dir).map_err(io_err(&pack_dir, "list"))? {
            let entry = entry.map_err(io_err(&pack_dir, "list"))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("pack-") && !name.starts_with(&trees) && !name.starts_with(&ours) {
                let path = entry.path();
                std::fs::remove_file(&path).map_err(io_err(&path, "remove"))?;
                removed += usize::from(name.ends_with(".pack"));
            }
        }
        Ok(removed)
    }

    /// Pack every tree reachable from `roots` into the private object directory.
    /// Returns the pack's name prefix (`pack-HASH.`).
    fn pack_trees(&self, roots: &[String]) -> Result<String, SnapshotError> {
        self.pack(roots, Some("--filter=blob:none"), &[])
    }

    /// Pack the objects `revs` (one `--revs` line each, `^` to exclude) reach, less those
    /// `filter` (an object filter such as `--filter=blob:none`) leaves out.
    ///
    /// Before git 2.41, `pack-objects --filter` only writes to `--stdout`: there the walk is
    /// `rev-list --objects --filter`, whose object list `pack-objects` then packs.
    fn pack(
        &self,
        roots: &[String],
        filter: Option<&str>,
        opts: &[&str],
    ) -> Result<String, SnapshotError> {
        let direct = crate::git_version::supports_pack_filter_to_dir();
        self.pack_with(roots, filter, opts, direct)
    }

    /// [`Self::pack`], filtering in `pack-objects` itself (`direct`, git 2.41+) or through
    /// `rev-list`.
    fn pack_with(
        &self,
        roots: &[String],
        filter: Option<&str>,
        opts: &[&str],
        direct: bool,
    ) -> Result<String, SnapshotError> {
        let pack_dir = self.git.objects.join("pack");
        std::fs::create_dir_all(&pack_dir).map_err(io_err(&pack_dir, "create"))?;
        let mut revs = Vec::new();
        for r in roots {
            let _ = writeln!(revs, "{r}");
        }
        let base = pack_dir.join("pack");
        let mut args = vec![OsStr::new("pack-objects"), OsStr::new("-q")];
        args.extend(opts.iter().map(OsStr::new));
        let objects;
        let stdin = match filter {
            Some(filter) if !direct => {
                let list = ["rev-list", "--objects", filter, "--stdin"].map(OsStr::new);
                objects = self.git.run(&Call {
                    stdin: Some(&revs),
                    ..self.reader(&list)
                })?;
                &objects
            }
            Some(filter) => {
                args.extend([OsStr::new("--revs"), OsStr::new(filter)]);
                &revs
            }
            None => {
                args.push(OsStr::new("--revs"));
                &revs
            }
        };
        args.push(base.as_os_str());
        let out = self.git.run(&Call {
            stdin: Some(stdin),
            ..self.reader(&args)
        })?;
        Ok(format!("pack-{}.", hex_line(&out, "pack-objects")?))
    }

    /// Bytes the private object directory holds (loose objects and packs).
    pub fn store_bytes(&self) -> Result<u64, SnapshotError> {
        upkeep::tree_bytes(&self.git.objects).map_err(io_err(&self.git.objects, "measure"))
    }

    /// How many loose objects the private object directory holds (a hint for [`Self::prune`]).
    pub fn loose_objects(&self) -> Result<usize, SnapshotError> {
        let objects = &self.git.objects;
        let mut n = 0;
        for entry in std::fs::read_dir(objects).map_err(io_err(objects, "list"))? {
            let entry = entry.map_err(io_err(objects, "list"))?;
            let name = entry.file_name();
            if name.len() == 2 && name.as_bytes().iter().all(u8::is_ascii_hexdigit) {
                n += std::fs::read_dir(entry.path())
                    .map(Iterator::count)
                    .unwrap_or(0);
            }
        }
        Ok(n)
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

    /// Copy the user's index (atomically, so a half copy never looks seeded), then refresh all.
    fn seed(&mut self) -> Result<(), SnapshotError> {
        let temp = self.dir.join("index.seed");
        if self.user_index.exists() {
            std::fs::copy(&self.user_index, &temp).map_err(io_err(&self.user_index, "copy"))?;
            std::fs::rename(&temp, &self.index).map_err(io_err(&self.index, "create"))?;
        }
        // The copied index's cache-tree names the repository's trees. write-tree checks
        // that every one exists, and rewrites those it cannot see: copy HEAD's trees (not
        // its blobs) into a private pack first, so that check is a pack lookup.
        if let Some(head) = self.read_head()? {
            self.pack_trees(&[format!("{head}^{{tree}}")])?;
        }
        // A sparse index must be expanded, which reads trees: retry with the repository's
        // objects visible (this may freshen a few of them, once).
        let result = self
            .refresh_all(Odb::Private)
            .or_else(|_| self.refresh_all(Odb::WithRepo));
        if result.is_err() {
            let _ = std::fs::remove_file(&self.index);
        }
        result
    }

    fn refresh_all(&mut self, odb: Odb) -> Result<(), SnapshotError> {
        self.last_tree = None;
        self.git.run(&Call {
            args: &[OsStr::new("add"), OsStr::new("-A")],
            index: &self.index,
            odb,
            stdin: None,
            ok_codes: &[],
        })?;
        self.remove_excluded(odb)
    }

    /// `rm --cached` cxd's own directories, when they lie inside the tree.
    fn remove_excluded(&self, odb: Odb) -> Result<(), SnapshotError> {
        if self.exclude.is_empty() {
            return Ok(());
        }
        let args = [
            "rm",
            "-r",
            "--cached",
            "-f",
            "-q",
            "--ignore-unmatch",
            "--pathspec-from-file=-",
            "--pathspec-file-nul",
        ]
        .map(OsStr::new);
        self.git
            .run(&Call {
                args: &args,
                index: &self.index,
                odb,
                stdin: Some(&self.exclude),
                ok_codes: &[],
            })
            .map(drop)
    }

    /// Refresh only `paths`; anything unexpected falls back to a full refresh.
    fn refresh_paths(&mut self, paths: &[PathBuf]) -> Result<(), SnapshotError> {
        // git matches every pathspec against every index entry: 5 000 paths against 100 000
        // entries take seconds, a full refresh a few hundred ms. Past this many, refresh all.
        if paths.len() > MAX_PATHSPECS {
            return self.refresh_all(Odb::Private);
        }
        let mut present = Vec::new();
        let mut gone = Vec::new();
        let mut all_files = true;
        for p in paths {
            let rel = match self.clean(p) {
                Cleaned::Path(rel) => rel,
                Cleaned::Root => return self.refresh_all(Odb::Private),
                Cleaned::Skip => continue,
            };
            let list = match self.git.root.join(&rel).symlink_metadata() {
                Ok(m) => {
                    all_files &= !m.is_dir();
                    &mut present
                }
                Err(_) => &mut gone,
            };
            list.extend_from_slice(rel.as_os_str().as_bytes());
            list.push(0);
        }
        if present.is_empty() && gone.is_empty() {
            return Ok(());
        }
        self.last_tree = None;
        let pathspec = |cmd: &'static [&'static str], list: &[u8], ok: &'static [i32]| {
            if list.is_empty() {
                return Ok(());
            }
            let mut args: Vec<&OsStr> = cmd.iter().map(OsStr::new).collect();
            args.extend(["--pathspec-from-file=-", "--pathspec-file-nul"].map(OsStr::new));
            self.git
                .run(&Call {
                    args: &args,
                    index: &self.index,
                    odb: Odb::Private,
                    stdin: Some(list),
                    ok_codes: ok,
                })
                .map(drop)
        };
        // `rm --cached` for what is gone: it matches whole directories and never fails on
        // a path the index lacks (`add -A` dies on those). `add -A` for the rest: it
        // honours .gitignore (exit 1 when an ignored path was given: that is fine) and
        // replaces a file by a directory and back.
        let result = pathspec(
            &["rm", "-r", "--cached", "-f", "-q", "--ignore-unmatch"],
            &gone,
            &[],
        )
        .and_then(|()| {
            // Files the index already tracks (an edit): `update-index` without `--add` does
            // the same as `add -A` without matching pathspecs against every entry, and fails
            // untouched on anything else (a new file, a directory), which `add -A` then takes.
            if all_files && !present.is_empty() {
                let args = ["update-index", "--remove", "-z", "--stdin"].map(OsStr::new);
                let tracked = self.git.run(&Call {
                    args: &args,
                    index: &self.index,
                    odb: Odb::Private,
                    stdin: Some(&present),
                    ok_codes: &[],
                });
                if tracked.is_ok() {
                    return Ok(());
                }
            }
            pathspec(&["add", "-A"], &present, &[1])
        });
        if let Err(e) = result {
            // E.g. a path vanished between our lstat and git's, or lies beyond a symlink or
            // inside a submodule: the full refresh gets these right.
            tracing::debug!(error = %e, "partial snapshot refresh failed; refreshing everything");
            return self.refresh_all(Odb::Private);
        }
        Ok(())
    }

    fn clean(&self, p: &Path) -> Cleaned {
        let rel = if p.is_absolute() {
            match p.strip_prefix(&self.git.root) {
                Ok(rel) => rel,
                Err(_) => return Cleaned::Skip,
            }
        } else {
            p
        };
        let mut out = PathBuf::new();
        for c in rel.components() {
            match c {
                Component::Normal(name) if name == ".git" => return Cleaned::Skip,
                Component::Normal(name) => out.push(name),
                Component::CurDir => {}
                Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                    return Cleaned::Skip;
                }
            }
        }
        if out.as_os_str().is_empty() {
            Cleaned::Root
        } else {
            Cleaned::Path(out)
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

    /// HEAD's commit, `None` when unborn. Read from the ref files when they are plain files.
    fn read_head(&self) -> Result<Option<String>, SnapshotError> {
        if self.files_refs
            && let Some(head) = self.read_head_files()
        {
            return Ok(head);
        }
        let out = self.git.run(&Call {
            ok_codes: &[1],
            ..self.reader(&["rev-parse", "-q", "--verify", "HEAD"].map(OsStr::new))
        })?;
        if out.is_empty() {
            return Ok(None);
        }
        hex_line(&out, "rev-parse HEAD").map(Some)
    }

    /// `Some(head)` when the files say for sure; `None` to ask git (symref chains, odd refs).
    fn read_head_files(&self) -> Option<Option<String>> {
        let head = std::fs::read(self.git.git_dir.join("HEAD")).ok()?;
        let head = head.trim_ascii_end();
        let Some(name) = head.strip_prefix(b"ref: ") else {
            return is_hex(head).then(|| Some(String::from_utf8_lossy(head).into_owned()));
        };
        if !name.starts_with(b"refs/heads/") {
            return None;
        }
        let name = std::str::from_utf8(name).ok()?;
        match std::fs::read(self.common_dir.join(name)) {
            Ok(v) => {
                let v = v.trim_ascii_end();
                is_hex(v).then(|| Some(String::from_utf8_lossy(v).into_owned()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let packed = match std::fs::read(self.common_dir.join("packed-refs")) {
                    Ok(p) => p,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(None),
                    Err(_) => return None,
                };
                for line in packed.split(|&b| b == b'\n') {
                    if let Some((oid, refname)) = line.split_once_byte(b' ')
                        && refname == name.as_bytes()
                        && is_hex(oid)
                    {
                        return Some(Some(String::from_utf8_lossy(oid).into_owned()));
                    }
                }
                Some(None)
            }
            Err(_) => None,
        }
    }
}

trait SplitOnce {
    fn split_once_byte(&self, b: u8) -> Option<(&[u8], &[u8])>;
}

impl SplitOnce for [u8] {
    fn split_once_byte(&self, b: u8) -> Option<(&[u8], &[u8])> {
        let i = self.iter().position(|&c| c == b)?;
        Some((&self[..i], &self[i + 1..]))
    }
}

fn is_hex(s: &[u8]) -> bool {
    (s.len() == 40 || s.len() == 64) && s.iter().all(|b| b.is_ascii_hexdigit())
}

fn hex_line(out: &[u8], command: &str) -> Result<String, SnapshotError> {
    let line = out.trim_ascii_end();
    if is_hex(line) {
        Ok(String::from_utf8_lossy(line).into_owned())
    } else {
        Err(SnapshotError::Parse {
            command: command.into(),
            detail: format!(
                "expected an object id, got {:?}",
                String::from_utf8_lossy(out)
            ),
        })
    }
}
