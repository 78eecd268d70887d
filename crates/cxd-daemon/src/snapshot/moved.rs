//! The HEAD-move path: a checkout, reset, pull or commit snapshotted in O(what changed)
//! instead of O(tree).
//!
//! The snapshot after a move is the new HEAD's tree with the work tree's differences put
//! back: for each path the move changed (`diff-tree` of the two commits), each path where the
//! last snapshot differed from the old HEAD (its uncommitted changes), and each path the
//! watcher reported, the new snapshot's entry is the work tree's (reported paths are hashed
//! here; the others have not changed since the last snapshot, so they keep its entry). Where
//! that differs from the new HEAD's entry, the tree is patched (`patch`). No git process
//! reads an index: two `diff-tree`s and the long-lived `cat-file --batch`.
//!
//! It falls back to the index path for anything it cannot decide so: a reported directory
//! (its contents were not listed), a new path that neither snapshot nor HEAD tracks (whether
//! it is ignored), a file becoming a directory or back, submodules, `.git*` files, what
//! `gate` rules out (attributes, autocrlf, index entries git leaves alone), a sparse checkout,
//! and more than [`MAX_MOVED`] paths.
//!
//! The private index is then behind for the reported paths. Few: they join the dirty paths
//! the next index refresh takes anyway. Many: the index is marked behind, and the next
//! snapshot that needs it reseeds it from the user's index (whose stat cache the move left
//! fresh) instead; until then edits keep taking the fast path. Either way the reported paths
//! are written to the state file `dirty`, so a restart refreshes them.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::parse::RawEntry;
use super::patch::{Patch, Patches};
use super::refresh::Cleaned;
use super::{MAX_PATHSPECS, SnapshotError, Snapshotter, gate, loose, parse};

/// Most paths (reported, moved or uncommitted) the HEAD-move path takes; more go to the
/// index path (which reads the whole index once either way).
pub(crate) const MAX_MOVED: usize = 50_000;

/// One side of a path: mode and object id (`None`: absent).
type Side = Option<(Vec<u8>, [u8; 20])>;

fn side(mode: &[u8], oid: &[u8]) -> Option<Side> {
    if mode == b"000000" {
        return Some(None);
    }
    // Submodules are left to git.
    if mode == b"160000" {
        return None;
    }
    Some(Some((mode.to_vec(), loose::unhex(oid)?)))
}

/// Both sides of each path a `diff-tree` names.
type Sides = HashMap<Vec<u8>, (Side, Side)>;

fn sides(entries: Vec<RawEntry>) -> Option<Sides> {
    entries
        .into_iter()
        .map(|e| {
            let old = side(&e.old_mode, &e.old_oid)?;
            let new = side(&e.new_mode, &e.new_oid)?;
            Some((e.path, (old, new)))
        })
        .collect()
}

impl Snapshotter {
    /// The HEAD-move path (see the `moved` module): `Some(tree)` when HEAD moved since the
    /// last snapshot and the new tree was built without the index; `None` to take the
    /// index path.
    pub(super) fn moved(&mut self, paths: &[PathBuf], head: &Option<String>) -> Option<String> {
        let last = self.last.clone().filter(|l| l.head != *head)?;
        let (Some(from), Some(to)) = (last.head.clone(), head.clone()) else {
            return None;
        };
        if last.tree.len() != 40 || paths.len() > MAX_MOVED {
            return None;
        }
        let mut reported = BTreeSet::new();
        for p in paths {
            match self.clean(p) {
                Cleaned::Path(rel) => {
                    // .gitignore, .gitattributes, .gitmodules change more than their bytes;
                    // `check-ignore` would read a leading `:` as pathspec magic; cxd's own
                    // directories are never snapshotted.
                    let bytes = rel.into_os_string().into_encoded_bytes();
                    let name = bytes.rsplit(|&b| b == b'/').next().unwrap_or_default();
                    if name.starts_with(b".git") || bytes.starts_with(b":") || self.excluded(&bytes)
                    {
                        return None;
                    }
                    reported.insert(bytes);
                }
                Cleaned::Skip => {}
                Cleaned::Root => return None,
            }
        }
        self.prime_fast();
        if self.index_clear != Some(true)
            || !self.gate.config_ok()
            || gate::global_attributes(&self.common_dir)
            || self.git.git_dir.join("info/sparse-checkout").exists()
            || self.common_dir.join("info/sparse-checkout").exists()
        {
            return None;
        }
        let started = std::time::Instant::now();
        let moved = self.diff_sides(&from, &to, true)?;
        let uncommitted = self.diff_sides(&from, &last.tree, false)?;
        if moved.len() + uncommitted.len() > MAX_MOVED {
            return None;
        }
        let diffed = started.elapsed();
        let mut patches = Patches::new();
        let mut dirs = DirCheck::default();
        // Present paths neither diff says are tracked: (path, mode, blob).
        let mut unsure = Vec::new();
        // Reported paths that are gone.
        let mut absent = BTreeSet::new();
        for p in &reported {
            let (moved_p, unc_p) = (moved.get(p), uncommitted.get(p));
            // The last snapshot's and the new HEAD's entries, where the diffs tell.
            let in_last: Option<Side> = match (unc_p, moved_p) {
                (Some((_, new)), _) => Some(new.clone()),
                (None, Some((old, _))) => Some(old.clone()),
                (None, None) => None,
            };
            let in_head: Option<Side> = match (moved_p, unc_p) {
                (Some((_, new)), _) => Some(new.clone()),
                (None, Some((old, _))) => Some(old.clone()),
                (None, None) => None,
            };
            let rel = Path::new(OsStr::from_bytes(p));
            let full = self.git.root.join(rel);
            let meta = match full.symlink_metadata() {
                Ok(m) => m,
                // Gone, or below what is now a file.
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                    ) =>
                {
                    // Whatever the new HEAD has there goes: the diffs name blobs only,
                    // and a directory there would stay otherwise (a no-op when absent).
                    patches.insert(p.clone(), Patch::Remove);
                    absent.insert(p.clone());
                    continue;
                }
                Err(_) => return None,
            };
            if !dirs.plain(&self.git.root, rel) {
                return None;
            }
            let (mode, body): (&'static [u8], Vec<u8>) = if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&full).ok()?;
                (b"120000", target.into_os_string().into_encoded_bytes())
            } else if meta.is_file() && meta.len() <= loose::MAX_BLOB {
                let mode: &'static [u8] = if meta.mode() & 0o100 != 0 {
                    b"100755"
                } else {
                    b"100644"
                };
                (mode, std::fs::read(&full).ok()?)
            } else {
                // A directory (its contents were not listed), or something else.
                return None;
            };
            let oid = loose::hash_object("blob", &body);
            let known = |s: &Option<Side>| matches!(s, Some(Some((m, o))) if m.as_slice() == mode && *o == oid);
            let exists = |s: &Option<Side>| matches!(s, Some(Some((_, o))) if *o == oid);
            if known(&in_head) {
                continue;
            }
            if !exists(&in_head) && !exists(&in_last) {
                loose::write_object(&self.git.objects, "blob", &body).ok()?;
            }
            match (&in_head, &in_last) {
                // Tracked now, so included.
                (Some(Some(_)), _) => {
                    patches.insert(p.clone(), Patch::Set(mode, oid));
                }
                // Untracked now, but included before and the move left it alone.
                (Some(None), Some(Some(_))) if moved_p.is_none() => {
                    patches.insert(p.clone(), Patch::Set(mode, oid));
                }
                // Neither diff names it (the same in both snapshots, which the patch finds
                // out), or a new path: included unless ignored (or, ignored, where tracked).
                (None, _) | (Some(None), None | Some(None)) => {
                    unsure.push((p.clone(), mode, oid));
                }
                // Untracked by the move yet still there: whether git keeps it is for git.
                (Some(None), Some(Some(_))) => return None,
            }
        }
        let hashed = started.elapsed();
        if !unsure.is_empty() {
            let ignored = self.ignored(unsure.iter().map(|(p, _, _)| p.as_slice()))?;
            for (p, mode, oid) in unsure {
                let patch = if ignored.contains(&p) {
                    Patch::Tracked(mode, oid)
                } else {
                    Patch::Set(mode, oid)
                };
                patches.insert(p, patch);
            }
        }
        // The rest has not changed since the last snapshot: it keeps that entry where the
        // new HEAD's differs.
        let gone = |p: &[u8]| {
            loose::ancestors(p)
                .iter()
                .skip(1)
                .any(|a| reported.contains(a))
        };
        for (p, (old, new)) in &moved {
            if reported.contains(p) || gone(p) {
                continue;
            }
            let in_last = uncommitted.get(p).map_or(old, |(_, n)| n);
            if in_last != new {
                patches.insert(p.clone(), entry_patch(in_last)?);
            }
        }
        for (p, (_, new)) in &uncommitted {
            if reported.contains(p) || gone(p) || moved.contains_key(p) {
                continue;
            }
            patches.insert(p.clone(), entry_patch(new)?);
        }
        // Below a reported path that is gone nothing else matters (a tree patch takes
        // nothing below a removal; other removals with patches below fall back there).
        patches.retain(|p, _| {
            !loose::ancestors(p)
                .iter()
                .skip(1)
                .any(|a| absent.contains(a))
        });
        if patches.len() > MAX_MOVED {
            return None;
        }
        let checked = started.elapsed();
        let tree = self.patch_tree(&to, &patches)?;
        let patched = started.elapsed();
        let reported: Vec<PathBuf> = reported
            .into_iter()
            .map(|p| PathBuf::from(OsStr::from_bytes(&p)))
            .collect();
        if self.dirty.len() + reported.len() > MAX_PATHSPECS {
            // The next index refresh would take everything: reseed it instead.
            self.behind = true;
        }
        if let Err(e) = self.add_dirty(reported.into_iter()) {
            tracing::debug!(error = %e, "cannot record the HEAD-move path's paths");
            return None;
        }
        self.last_tree = Some(tree.clone());
        self.fast_at = Some(std::time::SystemTime::now());
        self.moved_count += 1;
        tracing::debug!(
            reported = paths.len(),
            patches = patches.len(),
            diff_ms = diffed.as_secs_f64() * 1e3,
            hash_ms = (hashed - diffed).as_secs_f64() * 1e3,
            ignore_ms = (checked - hashed).as_secs_f64() * 1e3,
            patch_ms = (patched - checked).as_secs_f64() * 1e3,
            total_ms = started.elapsed().as_secs_f64() * 1e3,
            "snapshot by the HEAD-move path"
        );
        Some(tree)
    }

    /// Whether `path` is one of cxd's own directories (`set_exclude`) or lies below one.
    fn excluded(&self, path: &[u8]) -> bool {
        self.exclude
            .split(|&b| b == 0)
            .filter(|e| !e.is_empty())
            .any(|e| path.starts_with(e) && (path.len() == e.len() || path[e.len()] == b'/'))
    }

    /// Which of `paths` the ignore rules exclude (`check-ignore --no-index`: the rules
    /// alone, as for a path no index tracks); `None` when git fails.
    fn ignored<'a>(&self, paths: impl Iterator<Item = &'a [u8]>) -> Option<HashSet<Vec<u8>>> {
        let mut input = Vec::new();
        for p in paths {
            input.extend_from_slice(p);
            input.push(0);
        }
        let args = ["check-ignore", "--no-index", "-z", "--stdin"].map(OsStr::new);
        let out = self
            .git
            .run(&super::git::Call {
                stdin: Some(&input),
                ok_codes: &[1],
                ..self.reader(&args)
            })
            .map_err(|e| tracing::debug!(error = %e, "HEAD-move path: check-ignore failed"))
            .ok()?;
        Some(
            out.split(|&b| b == 0)
                .filter(|p| !p.is_empty())
                .map(<[u8]>::to_vec)
                .collect(),
        )
    }

    /// Both sides of every path `diff-tree` finds between `a` and `b`; `None` on a failure
    /// or a submodule. A diff of two commits is kept for `cached_move`.
    fn diff_sides(&self, a: &str, b: &str, keep: bool) -> Option<Sides> {
        let entries = self
            .diff_raw(a, b)
            .map_err(|e| tracing::debug!(error = %e, "HEAD-move path: diff-tree failed"))
            .ok()?;
        if keep {
            *self
                .moved_diff
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some((a.to_owned(), b.to_owned(), entries.clone()));
        }
        sides(entries)
    }

    /// `diff-tree -r --raw` of `a` and `b` (commits or trees).
    pub(super) fn diff_raw(&self, a: &str, b: &str) -> Result<Vec<RawEntry>, SnapshotError> {
        let args = ["diff-tree", "-r", "--no-renames", "-z", "--raw", a, b].map(OsStr::new);
        self.git.stream(&self.reader(&args), |out| {
            parse::raw_entries(out).map_err(|detail| SnapshotError::Parse {
                command: "diff-tree --raw".into(),
                detail,
            })
        })
    }

    /// The diff of the commits `a` and `b` when the HEAD-move path just ran it.
    pub(super) fn cached_move(&self, a: &str, b: &str) -> Option<Vec<RawEntry>> {
        let guard = self
            .moved_diff
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &*guard {
            Some((from, to, entries)) if from == a && to == b => Some(entries.clone()),
            _ => None,
        }
    }

    /// After the HEAD-move path left the private index behind: bring it up to date from
    /// the user's index for the last snapshot plus `paths` (see `reseed`).
    pub(super) fn catch_up(
        &mut self,
        paths: &[PathBuf],
        head: &Option<String>,
    ) -> Result<(), SnapshotError> {
        self.behind = false;
        match self.last.clone() {
            Some(last) if self.user_index.exists() => {
                // Not knowing which HEAD's trees were packed (a restart since), pack all of
                // this one's: the reseed would otherwise take the last snapshot's HEAD, this
                // same one, and pack none.
                if let (None, Some(now)) = (&self.packed, head) {
                    let revs = [format!("{now}^{{tree}}")];
                    self.pack(&revs, Some("--filter=blob:none"), &["--window=0"])?;
                    self.packed = Some(now.clone());
                }
                self.reseed(paths, &last, head)
            }
            _ => self.refresh_all(super::git::Odb::Private),
        }
    }
}

/// The patch that puts `side` in place.
fn entry_patch(side: &Side) -> Option<Patch> {
    Some(match side {
        None => Patch::Remove,
        Some((mode, oid)) => Patch::Set(static_mode(mode)?, *oid),
    })
}

fn static_mode(mode: &[u8]) -> Option<&'static [u8]> {
    Some(match mode {
        b"100644" => b"100644",
        b"100755" => b"100755",
        b"120000" => b"120000",
        _ => return None,
    })
}

/// Directories already checked to be real directories (not symlinks) without attributes.
#[derive(Default)]
struct DirCheck {
    ok: HashSet<PathBuf>,
}

impl DirCheck {
    /// Whether every directory holding `rel` is a plain directory on disk without a
    /// `.gitattributes` (which could make `git add` store other bytes).
    fn plain(&mut self, root: &Path, rel: &Path) -> bool {
        let mut dir = rel.parent();
        while let Some(d) = dir {
            if self.ok.contains(d) {
                return true;
            }
            let full = root.join(d);
            if !full.symlink_metadata().is_ok_and(|m| m.is_dir())
                || full.join(".gitattributes").symlink_metadata().is_ok()
            {
                return false;
            }
            self.ok.insert(d.to_owned());
            dir = d.parent();
        }
        true
    }
}
