//! What a diff between two snapshots shows for each kind of edit, odd names and partial refreshes.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{MAX, Repo, p, paths};
use crate::snapshot::{ChangeStatus, SnapshotError, Snapshotter};

#[test]
fn snapshot_edit_shows_with_numstat() {
    let repo = Repo::new(&[("src/a.rs", "one\ntwo\nthree\n"), ("b.txt", "b\n")]);
    let mut s = repo.open();
    let base = s.snapshot(None).unwrap();
    repo.write("src/a.rs", "one\n2\nthree\nfour\n");
    let now = s.snapshot(Some(&p(&["src/a.rs"]))).unwrap();
    let d = s.diff(&base, &now, MAX).unwrap();
    assert_eq!(paths(&d), ["src/a.rs"]);
    assert_eq!(d.files[0].status, ChangeStatus::Modified);
    assert_eq!(
        (d.files[0].insertions, d.files[0].deletions),
        (Some(2), Some(1))
    );
    assert_eq!((d.insertions(), d.deletions()), (2, 1));
    let unified = d.unified.unwrap();
    assert!(unified.contains("+four\n"), "{unified}");
    assert_eq!(unified.len(), d.bytes);
}

#[test]
fn snapshot_edit_then_revert_is_empty() {
    let repo = Repo::new(&[("a.txt", "a\n")]);
    let mut s = repo.open();
    let base = s.snapshot(None).unwrap();
    repo.write("a.txt", "changed\n");
    let mid = s.snapshot(Some(&p(&["a.txt"]))).unwrap();
    assert_ne!(mid.tree, base.tree);
    repo.write("a.txt", "a\n");
    let now = s.snapshot(Some(&p(&["a.txt"]))).unwrap();
    assert_eq!(now, base);
    assert!(s.diff(&base, &now, MAX).unwrap().is_empty());
}

#[test]
fn snapshot_new_untracked_file_shows() {
    let repo = Repo::new(&[("a.txt", "a\n")]);
    let mut s = repo.open();
    let base = s.snapshot(None).unwrap();
    repo.write("dir/new file.txt", "hello\n");
    let now = s.snapshot(Some(&p(&["dir"]))).unwrap();
    let d = s.diff(&base, &now, MAX).unwrap();
    assert_eq!(paths(&d), ["dir/new file.txt"]);
    assert_eq!(d.files[0].status, ChangeStatus::Added);
    assert_eq!(d.files[0].insertions, Some(1));
}

#[test]
fn snapshot_ignored_file_never_shows() {
    let repo = Repo::new(&[(".gitignore", "target/\n*.log\n"), ("a.txt", "a\n")]);
    let mut s = repo.open();
    let base = s.snapshot(None).unwrap();
    repo.write("target/debug/out", "bin\n");
    repo.write("x.log", "log\n");
    repo.write("ok.txt", "ok\n");
    let partial = s
        .snapshot(Some(&p(&["target/debug/out", "target", "x.log", "ok.txt"])))
        .unwrap();
    assert_eq!(paths(&s.diff(&base, &partial, MAX).unwrap()), ["ok.txt"]);
    let full = s.snapshot(None).unwrap();
    assert_eq!(full, partial);
    // One new ignored file alone (update-index refuses it, add -A skips it).
    repo.write("y.log", "log\n");
    assert_eq!(s.snapshot(Some(&p(&["y.log"]))).unwrap(), full);
    // One tracked file (update-index takes it).
    repo.write("a.txt", "a2\n");
    let edited = s.snapshot(Some(&p(&["a.txt"]))).unwrap();
    assert_eq!(paths(&s.diff(&full, &edited, MAX).unwrap()), ["a.txt"]);
    assert_eq!(s.snapshot(None).unwrap(), edited);
}

#[test]
fn snapshot_deletion_shows() {
    let repo = Repo::new(&[("a.txt", "a\nb\n"), ("d/b.txt", "b\n"), ("d/c.txt", "c\n")]);
    let mut s = repo.open();
    let base = s.snapshot(None).unwrap();
    repo.remove("a.txt");
    std::fs::remove_dir_all(repo.root.join("d")).unwrap();
    // A removed directory is reported as the directory alone.
    let now = s
        .snapshot(Some(&p(&["a.txt", "d", "never-existed"])))
        .unwrap();
    let d = s.diff(&base, &now, MAX).unwrap();
    assert_eq!(paths(&d), ["a.txt", "d/b.txt", "d/c.txt"]);
    assert!(d.files.iter().all(|f| f.status == ChangeStatus::Deleted));
    assert_eq!(d.deletions(), 4);
    assert_eq!(s.snapshot(None).unwrap(), now);
}

#[test]
fn snapshot_rename_and_type_change() {
    let body = "line\n".repeat(50);
    let repo = Repo::new(&[("old.txt", &body), ("t", "x\n")]);
    let mut s = repo.open();
    let base = s.snapshot(None).unwrap();
    std::fs::rename(repo.root.join("old.txt"), repo.root.join("new.txt")).unwrap();
    repo.remove("t");
    std::os::unix::fs::symlink("new.txt", repo.root.join("t")).unwrap();
    let now = s.snapshot(Some(&p(&["old.txt", "new.txt", "t"]))).unwrap();
    let d = s.diff(&base, &now, MAX).unwrap();
    assert_eq!(d.files.len(), 2, "{d:?}");
    assert_eq!(d.files[0].status, ChangeStatus::Renamed);
    assert_eq!(d.files[0].old_path.as_deref(), Some(Path::new("old.txt")));
    assert_eq!(d.files[0].path, Path::new("new.txt"));
    assert_eq!(d.files[1].status, ChangeStatus::TypeChanged);
    assert_eq!(d.files[1].status.as_str(), "type_changed");
}

#[test]
fn snapshot_large_diff_lists_files_without_unified() {
    let repo = Repo::new(&[("a.txt", "a\n")]);
    let mut s = repo.open();
    let base = s.snapshot(None).unwrap();
    repo.write("a.txt", &"changed line\n".repeat(1000));
    repo.write("b.txt", "b\n");
    let now = s.snapshot(None).unwrap();
    let d = s.diff(&base, &now, 1000).unwrap();
    assert_eq!(d.unified, None);
    assert!(d.bytes > 13_000, "{}", d.bytes);
    assert_eq!(paths(&d), ["a.txt", "b.txt"]);
    assert_eq!(d.insertions(), 1001);
    let whole = s.diff(&base, &now, d.bytes).unwrap();
    assert_eq!(whole.unified.map(|u| u.len()), Some(d.bytes));
}

#[test]
fn snapshot_odd_file_names() {
    let repo = Repo::new(&[("plain", "p\n")]);
    let mut s = repo.open();
    let base = s.snapshot(None).unwrap();
    let names: Vec<PathBuf> = vec![
        PathBuf::from("with space.txt"),
        PathBuf::from("ünïcødé/日本.txt"),
        PathBuf::from("new\nline.txt"),
        PathBuf::from("tab\there"),
        PathBuf::from("*star"),
        PathBuf::from(":(glob)magic"),
        PathBuf::from(OsStr::from_bytes(b"latin1-\xe9.txt")),
    ];
    for n in &names {
        repo.write(n, "odd\n");
    }
    let now = s.snapshot(Some(&names)).unwrap();
    let d = s.diff(&base, &now, MAX).unwrap();
    let mut got: Vec<PathBuf> = d.files.iter().map(|f| f.path.clone()).collect();
    let mut want = names.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(s.snapshot(None).unwrap(), now);
    for n in &names {
        std::fs::remove_file(repo.root.join(n)).unwrap();
    }
    let gone = s.snapshot(Some(&names)).unwrap();
    assert_eq!(gone.tree, base.tree);
}

#[test]
fn snapshot_unborn_branch() {
    let repo = Repo::unborn();
    let mut s = repo.open();
    let empty = s.snapshot(None).unwrap();
    assert_eq!(empty.head, None);
    assert_eq!(empty.tree, s.empty_tree());
    assert_eq!(s.head_snapshot().unwrap(), empty);
    repo.write("first.txt", "1\n");
    let now = s.snapshot(Some(&p(&["first.txt"]))).unwrap();
    assert_eq!(paths(&s.diff(&empty, &now, MAX).unwrap()), ["first.txt"]);
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "first"]);
    let committed = s.snapshot(Some(&[])).unwrap();
    assert!(committed.head.is_some());
    let moved = s
        .rebase_onto_head(&empty, &committed, &HashSet::new())
        .unwrap();
    assert!(s.diff(&moved, &committed, MAX).unwrap().is_empty());
}

#[test]
fn snapshot_partial_refresh_equals_full() {
    let repo = Repo::new(&[
        (".gitignore", "*.o\n"),
        ("a.txt", "a\n"),
        ("f", "file\n"),
        ("dir/x.txt", "x\n"),
        ("keep/y.txt", "y\n"),
    ]);
    let mut partial = repo.open();
    let other_state = repo.state.with_file_name("state2");
    let mut full = Snapshotter::open(&repo.root, &other_state).unwrap();
    partial.snapshot(None).unwrap();
    full.snapshot(None).unwrap();
    // A file becomes a directory, a directory a file, plus edits, additions, ignores.
    repo.remove("f");
    repo.write("f/inner.txt", "inner\n");
    std::fs::remove_dir_all(repo.root.join("dir")).unwrap();
    repo.write("dir", "now a file\n");
    repo.write("a.txt", "a2\n");
    repo.write("n/e/w.txt", "new\n");
    repo.write("n/e/w.o", "obj\n");
    repo.write("keep/z.o", "obj\n");
    let changed = p(&[
        "f",
        "f/inner.txt",
        "dir",
        "dir/x.txt",
        "a.txt",
        "n",
        "keep/z.o",
        "/abs/elsewhere",
        ".git/index",
        "../x",
    ]);
    let a = partial.snapshot(Some(&changed)).unwrap();
    let b = full.snapshot(None).unwrap();
    assert_eq!(a, b);
    let abs = vec![repo.root.join("a.txt")];
    repo.write("a.txt", "a3\n");
    assert_eq!(
        partial.snapshot(Some(&abs)).unwrap(),
        full.snapshot(None).unwrap()
    );
}

#[test]
fn snapshot_open_rejects_a_subdirectory_and_a_non_repo() {
    let repo = Repo::new(&[("sub/a.txt", "a\n")]);
    let err = Snapshotter::open(&repo.root.join("sub"), &repo.state).unwrap_err();
    assert!(matches!(err, SnapshotError::NotARepo { .. }), "{err}");
    assert!(err.to_string().contains("work tree starts at"), "{err}");
    let plain = tempfile::tempdir().unwrap();
    let err = Snapshotter::open(plain.path(), &repo.state).unwrap_err();
    assert!(matches!(err, SnapshotError::NotARepo { .. }), "{err}");
}

/// A finding's lines are read from the snapshot's tree, not from the working tree that has
/// moved on since; what cannot be read is None, never an error.
#[test]
fn a_tree_reader_reads_lines_of_a_snapshot() {
    let repo = Repo::new(&[("a.txt", "one\ntwo\nthree\n")]);
    let mut snap = repo.open();
    repo.write("a.txt", "one\nTWO\nthree\nfour\n");
    let s = snap.snapshot(None).unwrap();
    repo.write("a.txt", "moved on\n");
    let reader = snap.tree_reader();
    assert_eq!(
        reader.lines(&s.tree, "a.txt", 2, 3).as_deref(),
        Some("TWO\nthree\n")
    );
    assert_eq!(
        reader.lines(&s.tree, "a.txt", 4, 9).as_deref(),
        Some("four\n")
    );
    assert_eq!(reader.lines(&s.tree, "a.txt", 5, 5), None);
    assert_eq!(reader.lines(&s.tree, "a.txt", 0, 1), None);
    assert_eq!(reader.lines(&s.tree, "missing.txt", 1, 1), None);
    assert_eq!(reader.lines(&s.tree, "a.txt\n", 1, 1), None);
    assert_eq!(reader.lines(&s.tree, "../../etc/passwd", 1, 1), None);
    assert_eq!(reader.lines("not-a-tree", "a.txt", 1, 1), None);
}
