//! The index-free fast path: content edits of files the last snapshot already tracks.
//!
//! When every reported path is an existing regular file or symlink whose entry in the last
//! snapshot's tree has the same type and executable bit, the new tree differs from the last
//! one only in those blobs and in their ancestor trees. The ancestors are read with one
//! `git cat-file --batch` (no index read), and the new blobs and trees are hashed here (SHA-1)
//! and written as loose objects into the private object directory: no git process reads the
//! private index (9 MB at 100 000 files) for such an edit.
//!
//! `git add` would run the content through clean filters, eol conversion and the like, which
//! attributes and config select; the fast path is taken only when none can apply (see
//! `gate`), and never for sha256 repositories, `.git*` files, or an index whose entries
//! carry assume-unchanged or skip-worktree bits (git ignores edits to those).
//!
//! The private index is then stale for those paths: they are kept as dirty (in memory and in
//! the state file `dirty`, for a restart) and refreshed along with the next slow path's paths.

use std::ffi::OsStr;
use std::io::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::loose::split;
use super::refresh::Cleaned;
use super::{MAX_PATHSPECS, SnapshotError, Snapshotter, gate, io_err, loose};

impl Snapshotter {
    /// The index-free fast path (see the `fast` module): `Some(tree)` when every path is a
    /// content edit of a file the last snapshot tracks with the same type and mode, and the
    /// new tree was written; `None` to take the slow path.
    pub(super) fn fast(&mut self, paths: &[PathBuf], head: &Option<String>) -> Option<String> {
        use std::collections::{BTreeMap, BTreeSet, HashMap};
        use std::os::unix::fs::MetadataExt;
        let last = self.last.as_ref().filter(|l| l.head == *head)?;
        let last_tree = self
            .last_tree
            .clone()
            .filter(|t| *t == last.tree && t.len() == 40)?;
        if paths.len() > MAX_PATHSPECS {
            return None;
        }
        let mut files: BTreeMap<Vec<u8>, (&'static [u8], PathBuf)> = BTreeMap::new();
        for p in paths {
            let rel = match self.clean(p) {
                Cleaned::Path(rel) => rel,
                Cleaned::Skip => continue,
                Cleaned::Root => return None,
            };
            // .gitignore, .gitattributes, .gitmodules change more than their own bytes.
            if rel.file_name()?.as_bytes().starts_with(b".git") {
                return None;
            }
            let meta = self.git.root.join(&rel).symlink_metadata().ok()?;
            let mode: &'static [u8] = if meta.file_type().is_symlink() {
                b"120000"
            } else if meta.is_file() && meta.len() <= loose::MAX_BLOB {
                if meta.mode() & 0o100 != 0 {
                    b"100755"
                } else {
                    b"100644"
                }
            } else {
                return None;
            };
            files.insert(rel.as_os_str().as_bytes().to_vec(), (mode, rel));
        }
        if files.is_empty() {
            return Some(last_tree);
        }
        self.prime_fast();
        if self.index_clear != Some(true)
            || !self.gate.config_ok()
            || gate::global_attributes(&self.common_dir)
        {
            return None;
        }
        let dirs: BTreeSet<Vec<u8>> = files.keys().flat_map(|p| loose::ancestors(p)).collect();
        let mut request = Vec::new();
        for d in &dirs {
            let dir = self.git.root.join(OsStr::from_bytes(d));
            // A directory on disk (not a symlink to one), without attributes.
            if !dir.symlink_metadata().is_ok_and(|m| m.is_dir())
                || dir.join(".gitattributes").symlink_metadata().is_ok()
            {
                return None;
            }
            request.extend_from_slice(last_tree.as_bytes());
            if !d.is_empty() {
                request.push(b':');
                request.extend_from_slice(d);
            }
            request.push(0);
        }
        let parsed = self.with_batch(|b| b.trees(&request, dirs.len()))?;
        // Each tree is the one its parent names, the root the last snapshot's.
        let ids: HashMap<&[u8], [u8; 20]> = dirs
            .iter()
            .map(Vec::as_slice)
            .zip(parsed.iter().map(|(oid, _)| *oid))
            .collect();
        let consistent = dirs.iter().all(|d| {
            let Some(&oid) = ids.get(d.as_slice()) else {
                return false;
            };
            if d.is_empty() {
                return loose::hex(&oid) == last_tree;
            }
            let (parent, name) = split(d);
            dirs.iter()
                .position(|p| p.as_slice() == parent)
                .and_then(|i| parsed.get(i))
                .is_some_and(|(_, es)| {
                    es.iter()
                        .any(|e| e.name == name && e.mode == b"40000" && e.oid == oid)
                })
        });
        if !consistent {
            tracing::debug!("fast path: cat-file answers do not fit together");
            self.drop_batch();
            return None;
        }
        let mut trees: HashMap<Vec<u8>, Vec<loose::Entry>> = dirs
            .into_iter()
            .zip(parsed.into_iter().map(|(_, entries)| entries))
            .collect();
        if trees
            .values()
            .any(|es| es.iter().any(|e| e.name == b".gitattributes"))
        {
            return None;
        }
        for (path, (mode, rel)) in &files {
            let (dir, name) = split(path);
            let entry = trees.get_mut(dir)?.iter_mut().find(|e| e.name == name)?;
            if entry.mode != *mode {
                return None;
            }
            let full = self.git.root.join(rel);
            let body = if *mode == b"120000" {
                std::fs::read_link(&full)
                    .ok()?
                    .into_os_string()
                    .into_encoded_bytes()
            } else {
                std::fs::read(&full).ok()?
            };
            entry.oid = loose::write_object(&self.git.objects, "blob", &body).ok()?;
        }
        let root = loose::write_trees(&self.git.objects, trees).ok()?;
        let tree = loose::hex(&root);
        if let Err(e) = self.add_dirty(files.into_values().map(|(_, rel)| rel)) {
            tracing::debug!(error = %e, "cannot record the fast path's paths");
            return None;
        }
        self.last_tree = Some(tree.clone());
        self.fast_at = Some(std::time::SystemTime::now());
        self.fast_count += 1;
        Some(tree)
    }

    /// Run `f` with the long-lived `cat-file --batch` (started when missing). `None` when it
    /// cannot start or `f` fails; then it is out of step (or dead) and a fresh one is
    /// started next time.
    pub(super) fn with_batch<T>(
        &self,
        f: impl FnOnce(&mut loose::Batch) -> Option<T>,
    ) -> Option<T> {
        let mut guard = self
            .batch
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if guard.is_none() {
            let args = ["cat-file", "--batch", "-z"].map(OsStr::new);
            let git = self.git.spawn_long(&self.reader(&args), 8 * 1024).ok()?;
            *guard = Some(loose::Batch(git));
        }
        let out = f(guard.as_mut()?);
        if out.is_none() {
            *guard = None;
        }
        out
    }

    /// Stop the `cat-file --batch` (its answers did not fit together).
    pub(super) fn drop_batch(&self) {
        *self
            .batch
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// Check what the fast path needs to know when it is stale: whether the private index
    /// has entries git leaves alone, and the config. Done after every slow path, so that the
    /// fast path itself rarely pays for it.
    pub(super) fn prime_fast(&mut self) {
        if self.index_clear.is_none() {
            self.index_clear = Some(gate::index_flags_clear(&self.index));
        }
        if !self.gate.fresh() {
            // The config changed (or was never read): so may the diff options git took in.
            self.drop_differ();
            let args = ["config", "-z", "--list", "--show-origin"].map(OsStr::new);
            match self.git.run(&self.reader(&args)) {
                Ok(out) => {
                    let places = gate::config_places(&self.common_dir, &self.git.git_dir);
                    self.gate.load(&out, places);
                }
                Err(e) => tracing::debug!(error = %e, "cannot read the config"),
            }
        }
    }

    /// Remember paths the private index has not seen yet (in memory and in `dirty`).
    pub(super) fn add_dirty(
        &mut self,
        paths: impl Iterator<Item = PathBuf>,
    ) -> Result<(), SnapshotError> {
        let new: Vec<PathBuf> = paths.filter(|p| !self.dirty.contains(p)).collect();
        if new.is_empty() {
            return Ok(());
        }
        let mut bytes = Vec::new();
        for p in &new {
            bytes.extend_from_slice(p.as_os_str().as_bytes());
            bytes.push(0);
        }
        let path = self.dir.join("dirty");
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(&bytes))
            .map_err(io_err(&path, "write"))?;
        self.dirty.extend(new);
        Ok(())
    }

    /// The private index is up to date again.
    pub(super) fn clear_dirty(&mut self) -> Result<(), SnapshotError> {
        let path = self.dir.join("dirty");
        if !self.dirty.is_empty() || path.exists() {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&path, "remove")(e)),
            }
            self.dirty.clear();
        }
        Ok(())
    }
}

/// The paths a crashed run left in `dirty`.
pub(super) fn read_dirty(path: &Path) -> std::collections::BTreeSet<PathBuf> {
    std::fs::read(path)
        .unwrap_or_default()
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| PathBuf::from(OsStr::from_bytes(p)))
        .collect()
}
