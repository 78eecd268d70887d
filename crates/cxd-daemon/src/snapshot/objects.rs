//! The private object directory: packing trees so write-tree's checks stay pack lookups,
//! measuring it, and pruning what no kept snapshot needs.

use std::ffi::OsStr;
use std::io::Write as _;
use std::os::unix::ffi::OsStrExt;

use super::git::Call;
use super::head::hex_line;
use super::{Snapshot, SnapshotError, Snapshotter, io_err, upkeep};

impl Snapshotter {
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
        // The long-lived processes may hold the removed packs open.
        self.drop_batch();
        self.drop_differ();
        Ok(removed)
    }

    /// Pack every tree reachable from `roots` into the private object directory.
    /// Returns the pack's name prefix (`pack-HASH.`).
    pub(super) fn pack_trees(&self, roots: &[String]) -> Result<String, SnapshotError> {
        self.pack(roots, Some("--filter=blob:none"), &[])
    }

    /// Pack the objects `revs` (one `--revs` line each, `^` to exclude) reach, less those
    /// `filter` (an object filter such as `--filter=blob:none`) leaves out.
    ///
    /// Before git 2.41, `pack-objects --filter` only writes to `--stdout`: there the walk is
    /// `rev-list --objects --filter`, whose object list `pack-objects` then packs.
    pub(super) fn pack(
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
    pub(super) fn pack_with(
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
}
