//! The HEAD-move path: a checkout snapshotted by patching the new HEAD's tree, without any
//! git process reading or writing the private index, and the index caught up afterwards.

use std::os::unix::fs::MetadataExt;

use super::{Repo, branched_repo, changed_by, p};
use crate::snapshot::Snapshotter;

/// The work tree's tree from an empty index.
fn from_scratch(repo: &Repo) -> String {
    let scratch = tempfile::tempdir().unwrap();
    super::prop::reference(repo, scratch.path())
}

/// The private index file's inode and mtime: any git call that writes it changes both.
fn index_stamp(repo: &Repo) -> (u64, i64, i64) {
    let m = std::fs::metadata(repo.state.join("index")).unwrap();
    (m.ino(), m.mtime(), m.mtime_nsec())
}

fn snap(repo: &Repo, s: &mut Snapshotter, changed: &[&str]) -> String {
    let tree = s.snapshot(Some(&p(changed))).unwrap().tree;
    assert_eq!(tree, from_scratch(repo), "after {changed:?}");
    tree
}

#[test]
fn snapshot_checkout_patches_the_tree_without_the_index() {
    let repo = branched_repo();
    let mut s = repo.open();
    s.snapshot(None).unwrap();
    // Uncommitted work the checkout carries along: an edit and an untracked file.
    repo.write("d15/f375.txt", "mine\n");
    repo.write("notes.txt", "untracked\n");
    snap(&repo, &mut s, &["d15/f375.txt", "notes.txt"]);
    let stamp = index_stamp(&repo);
    repo.git(&["checkout", "-q", "other"]);
    // Written in the same burst, after the checkout.
    repo.write("d16/f376.txt", "after\n");
    let mut changed = changed_by(&repo, "main", "other");
    changed.extend(p(&["d16/f376.txt"]));
    let now = s.snapshot(Some(&changed)).unwrap();
    assert_eq!(now.tree, from_scratch(&repo));
    assert_eq!(
        s.moved_snapshots(),
        1,
        "the HEAD-move path took the checkout"
    );
    assert_eq!(
        index_stamp(&repo),
        stamp,
        "no git process rewrote the private index for the checkout"
    );
    // Edits after it still take the fast path.
    let fast = s.fast_snapshots();
    repo.write("d17/f377.txt", "edit\n");
    snap(&repo, &mut s, &["d17/f377.txt"]);
    assert_eq!(s.fast_snapshots(), fast + 1);
    // What needs the index (a new file, a delete) catches it up once, from the user's.
    repo.write("newer.txt", "new\n");
    repo.remove("d18/f378.txt");
    snap(&repo, &mut s, &["newer.txt", "d18/f378.txt"]);
    assert_ne!(index_stamp(&repo), stamp);
    repo.write("d19/f379.txt", "edit 2\n");
    snap(&repo, &mut s, &["d19/f379.txt"]);
    // A commit and a checkout back, the second with a restart in between: the state file
    // `dirty` tells the new snapshotter what its index lacks.
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "work"]);
    snap(&repo, &mut s, &[]);
    repo.git(&["checkout", "-q", "main"]);
    let mut changed = changed_by(&repo, "other", "main");
    changed.extend(p(&[
        "d15/f375.txt",
        "notes.txt",
        "d16/f376.txt",
        "d17/f377.txt",
        "newer.txt",
        "d18/f378.txt",
        "d19/f379.txt",
    ]));
    let refs: Vec<String> = changed.iter().map(|p| p.to_string_lossy().into()).collect();
    let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
    snap(&repo, &mut s, &refs);
    assert_eq!(s.moved_snapshots(), 3, "the commit and the checkout back");
    drop(s);
    let mut s = repo.open();
    repo.write("d0/f380.txt", "after restart\n");
    snap(&repo, &mut s, &["d0/f380.txt"]);
}

#[test]
fn snapshot_checkout_falls_back_for_what_it_cannot_decide() {
    let repo = branched_repo();
    // Untracked, so no checkout touches it.
    repo.write(".gitignore", "*.log\n");
    let mut s = repo.open();
    s.snapshot(None).unwrap();
    // A reported directory (its files not listed) goes to the index path.
    repo.git(&["checkout", "-q", "other"]);
    let mut changed: Vec<String> = changed_by(&repo, "main", "other")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| !p.starts_with("newdir/"))
        .collect();
    changed.push("newdir".into());
    let refs: Vec<&str> = changed.iter().map(String::as_str).collect();
    snap(&repo, &mut s, &refs);
    assert_eq!(s.moved_snapshots(), 0);
    // A new ignored file and a new untracked one in the same burst as a checkout: the
    // ignore rules decide, without the index.
    repo.git(&["checkout", "-q", "main"]);
    repo.write("run.log", "ignored\n");
    repo.write("fresh.txt", "untracked\n");
    let mut changed: Vec<String> = changed_by(&repo, "other", "main")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    changed.extend(["run.log".into(), "fresh.txt".into()]);
    let refs: Vec<&str> = changed.iter().map(String::as_str).collect();
    snap(&repo, &mut s, &refs);
    assert_eq!(s.moved_snapshots(), 1);
}

#[test]
fn snapshot_head_move_removes_a_directory_the_diffs_do_not_name() {
    let repo = Repo::new(&[("d/a.txt", "a\n"), ("d/b.txt", "b\n"), ("top.txt", "t\n")]);
    repo.git(&["commit", "-q", "--allow-empty", "-m", "same tree"]);
    let mut s = repo.open();
    s.snapshot(None).unwrap();
    // The directory becomes a file (the index path), then that file is renamed away in the
    // same burst as a reset that moves HEAD: the diffs of the move and of the uncommitted
    // changes name `d` only as a blob the new HEAD lacks, yet the new HEAD has `d/` as a tree.
    std::fs::remove_dir_all(repo.root.join("d")).unwrap();
    repo.write("d", "now a file\n");
    snap(&repo, &mut s, &["d", "d/a.txt", "d/b.txt"]);
    std::fs::rename(repo.root.join("d"), repo.root.join("e.txt")).unwrap();
    repo.git(&["reset", "-q", "--mixed", "HEAD~1"]);
    snap(&repo, &mut s, &["d", "e.txt"]);
    assert_eq!(s.moved_snapshots(), 1);
}
