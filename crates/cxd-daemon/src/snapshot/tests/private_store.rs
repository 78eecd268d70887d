//! The private index and object directory: the user's `.git` is never written, prunes keep what
//! is needed, and packs come out the same with and without `pack-objects --filter`.

use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{MAX, Repo, branched_repo, p, paths};
use crate::snapshot::{Snapshot, SnapshotError};

/// Every file and directory under `.git`: size, mtime and a content hash.
pub(super) fn dot_git(root: &Path) -> BTreeMap<PathBuf, (u64, i64, i64, u64)> {
    fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, (u64, i64, i64, u64)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let hash = if meta.is_file() {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                std::fs::read(&path).unwrap().hash(&mut h);
                h.finish()
            } else {
                0
            };
            out.insert(
                path.clone(),
                (meta.len(), meta.mtime(), meta.mtime_nsec(), hash),
            );
            if meta.is_dir() {
                walk(&path, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&root.join(".git"), &mut out);
    out
}

#[test]
fn snapshot_never_touches_the_users_git_dir() {
    let repo = branched_repo();
    repo.git(&["gc", "-q"]); // packs, so a write of an existing blob would freshen a pack
    repo.write("loose.txt", "loose\n");
    repo.git(&["add", "loose.txt"]);
    repo.git(&["commit", "-q", "-m", "loose"]);
    repo.write("d0/f0.txt", "dirty\n");
    let before = dot_git(&repo.root);
    let objects = before
        .keys()
        .filter(|k| k.starts_with(repo.root.join(".git/objects")))
        .count();

    let mut s = repo.open();
    let base = s.snapshot(None).unwrap();
    repo.write("d0/f0.txt", "v1 0\n"); // back to HEAD's content: the blob exists, packed
    repo.write("loose.txt", "other\n");
    let mid = s.snapshot(Some(&p(&["d0/f0.txt", "loose.txt"]))).unwrap();
    repo.write("loose.txt", "loose\n"); // HEAD's content again, a loose object
    let now = s.snapshot(None).unwrap();
    s.diff(&base, &mid, MAX).unwrap();
    s.diff(&mid, &now, MAX).unwrap();
    s.head_snapshot().unwrap();
    let other = Snapshot {
        tree: now.tree.clone(),
        head: Some(repo.git(&["rev-parse", "other"])),
    };
    s.rebase_onto_head(&other, &now, &HashSet::new()).unwrap();
    s.prune(&[&now]).unwrap();

    let after = dot_git(&repo.root);
    assert_eq!(before, after, "cxd changed something under .git");
    assert_eq!(
        objects,
        after
            .keys()
            .filter(|k| k.starts_with(repo.root.join(".git/objects")))
            .count()
    );
    assert!(repo.state.join("index").exists());
}

#[test]
fn snapshot_prune_keeps_what_is_needed() {
    let repo = Repo::new(&[("a.txt", "a\n")]);
    let mut s = repo.open();
    let base = s.snapshot(None).unwrap();
    let mut last = base.clone();
    let mut mid = base.clone();
    for i in 0..20 {
        repo.write("a.txt", &format!("edit {i}\n"));
        repo.write(format!("new{i}.txt"), "n\n");
        last = s
            .snapshot(Some(&p(&["a.txt", &format!("new{i}.txt")])))
            .unwrap();
        if i == 10 {
            mid = last.clone();
        }
    }
    let loose = s.loose_objects().unwrap();
    assert!(loose >= 40, "{loose}");
    let removed = s.prune(&[&base, &last]).unwrap();
    assert!(removed >= loose, "{removed} < {loose}");
    assert_eq!(s.loose_objects().unwrap(), 0);
    let d = s.diff(&base, &last, MAX).unwrap();
    assert_eq!(d.files.len(), 21);
    assert!(d.unified.unwrap().contains("+edit 19"));
    repo.write("a.txt", "after prune\n");
    let now = s.snapshot(Some(&p(&["a.txt"]))).unwrap();
    assert_eq!(paths(&s.diff(&last, &now, MAX).unwrap()), ["a.txt"]);
    // `mid` was not kept: its tree is gone; HEAD's tree (the user's) still diffs.
    let err = s.diff(&mid, &now, MAX).unwrap_err();
    assert!(matches!(err, SnapshotError::Git { .. }), "{err}");
    s.prune(&[&now]).unwrap();
    assert_eq!(s.loose_objects().unwrap(), 0);
    assert_eq!(s.diff(&base, &now, MAX).unwrap().files.len(), 21);
}

/// The object ids in a private pack (`pack-HASH.` prefix), from its index.
fn pack_objects(repo: &Repo, prefix: &str) -> std::collections::BTreeSet<String> {
    let idx = repo.state.join("objects/pack").join(format!("{prefix}idx"));
    let out = Command::new("git")
        .args(["show-index"])
        .stdin(std::fs::File::open(&idx).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
        .collect()
}

#[test]
fn snapshot_packs_trees_alike_with_any_git() {
    let repo = Repo::new(&[
        ("a.txt", "a\n"),
        ("src/b.rs", "b\n"),
        ("src/deep/c.rs", "c\n"),
        ("docs/d.md", "d\n"),
    ]);
    let s = repo.open();
    let head = repo.git(&["rev-parse", "HEAD^{tree}"]);
    let mut trees: std::collections::BTreeSet<String> = repo
        .git(&["ls-tree", "-r", "-t", "HEAD"])
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some("tree"))
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_owned))
        .collect();
    trees.insert(head.clone());
    let filter = Some("--filter=blob:none");
    // Through rev-list (what gits before 2.41 need): the trees, no blob.
    let walked = s
        .pack_with(std::slice::from_ref(&head), filter, &[], false)
        .unwrap();
    assert_eq!(pack_objects(&repo, &walked), trees);
    if crate::git_version::supports_pack_filter_to_dir() {
        let direct = s.pack_with(&[head], filter, &[], true).unwrap();
        assert_eq!(pack_objects(&repo, &direct), trees);
    }
}
