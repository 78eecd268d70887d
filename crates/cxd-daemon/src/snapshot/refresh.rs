//! Keeping the private index in step with the work tree: seeding it from the user's index,
//! refreshing only the paths the watcher reported, and reseeding after a HEAD move.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use super::git::{Call, Odb};
use super::{ChangeStatus, MAX_PATHSPECS, Snapshot, SnapshotError, Snapshotter, io_err, parse};

/// A changed path, cleaned: relative, without `.`/`..`, never inside `.git`.
pub(super) enum Cleaned {
    Path(PathBuf),
    /// The root itself: refresh everything.
    Root,
    /// Outside the tree or inside a `.git`: nothing to do.
    Skip,
}

impl Snapshotter {
    /// The last snapshot, when HEAD moved since and the user's index was written after ours
    /// (a checkout, reset or pull refreshed its stat cache).
    pub(super) fn moved_from(&self, head: &Option<String>) -> Option<Snapshot> {
        let last = self.last.as_ref().filter(|l| l.head != *head)?;
        let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let ours = mtime(&self.index)?.max(self.fast_at.unwrap_or(std::time::UNIX_EPOCH));
        (mtime(&self.user_index)? > ours).then(|| last.clone())
    }

    /// After a HEAD move with many changed paths: take a fresh copy of the user's index (its
    /// stat cache is fresh, so nothing the move rewrote is hashed again), then refresh only
    /// the paths where `last` differs from that index (the uncommitted changes, untracked
    /// files) plus those the watcher reported. The trees of the new HEAD that the private
    /// object directory lacks are packed first, so that write-tree finds the copied
    /// cache-tree's trees instead of writing thousands of loose objects. Falls back to a
    /// full refresh when anything is unexpected.
    pub(super) fn reseed(
        &mut self,
        paths: &[PathBuf],
        last: &Snapshot,
        head: &Option<String>,
    ) -> Result<(), SnapshotError> {
        self.last_tree = None;
        self.behind = false;
        if let Some(new) = head
            && self.packed.as_ref() != Some(new)
        {
            let mut revs = vec![format!("{new}^{{tree}}")];
            // The trees packed last time (or, not knowing, those of the last snapshot's HEAD).
            if let Some(old) = self.packed.as_ref().or(last.head.as_ref()) {
                revs.push(format!("^{old}^{{tree}}"));
            }
            // No delta search: these packs are short-lived (prune repacks them).
            self.pack(&revs, Some("--filter=blob:none"), &["--window=0"])?;
            self.packed = Some(new.clone());
        }
        let temp = self.dir.join("index.seed");
        self.copy_user_index(&temp)?;
        self.index_clear = None;
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

    /// Copy the user's index (atomically, so a half copy never looks seeded), then refresh all.
    pub(super) fn seed(&mut self) -> Result<(), SnapshotError> {
        let temp = self.dir.join("index.seed");
        self.index_clear = None;
        if self.user_index.exists() {
            self.copy_user_index(&temp)?;
            std::fs::rename(&temp, &self.index).map_err(io_err(&self.index, "create"))?;
        }
        // The copied index's cache-tree names the repository's trees. write-tree checks
        // that every one exists, and rewrites those it cannot see: copy HEAD's trees (not
        // its blobs) into a private pack first, so that check is a pack lookup.
        if let Some(head) = self.read_head()? {
            self.pack_trees(&[format!("{head}^{{tree}}")])?;
            self.packed = Some(head);
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

    /// Copy the user's index to `to` with its mtime: git trusts an entry's stat data only when
    /// the file is older than the index that holds it ("racily clean" entries are re-hashed),
    /// and a copy stamped with the time of copying would make a file edited in the same
    /// timestamp tick as the user's index was written look unchanged.
    fn copy_user_index(&self, to: &Path) -> Result<(), SnapshotError> {
        let from = &self.user_index;
        std::fs::copy(from, to).map_err(io_err(from, "copy"))?;
        let mtime = std::fs::metadata(from)
            .and_then(|m| m.modified())
            .map_err(io_err(from, "stat"))?;
        std::fs::File::options()
            .write(true)
            .open(to)
            .and_then(|f| f.set_modified(mtime))
            .map_err(io_err(to, "stamp"))
    }

    pub(super) fn refresh_all(&mut self, odb: Odb) -> Result<(), SnapshotError> {
        self.last_tree = None;
        self.behind = false;
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
    pub(super) fn refresh_paths(&mut self, paths: &[PathBuf]) -> Result<(), SnapshotError> {
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

    pub(super) fn clean(&self, p: &Path) -> Cleaned {
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
}
