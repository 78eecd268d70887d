//! Snapshots of real temporary repositories.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{ChangeStatus, Diff, Snapshot, SnapshotError, Snapshotter};

const MAX: usize = 1 << 20;

/// A repository in a temp dir, with cxd's private dir beside it.
struct Repo {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    state: PathBuf,
}

impl Repo {
    /// `git init` with one commit holding `files`.
    fn new(files: &[(&str, &str)]) -> Self {
        let repo = Self::unborn();
        for (path, text) in files {
            repo.write(path, text);
        }
        repo.git(&["add", "-A"]);
        repo.git(&["commit", "-q", "-m", "initial"]);
        repo
    }

    fn unborn() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("work");
        let state = tmp.path().join("state");
        std::fs::create_dir(&root).unwrap();
        let repo = Self {
            _tmp: tmp,
            root,
            state,
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    fn git(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("git");
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("GIT_") {
                cmd.env_remove(k);
            }
        }
        let out = cmd
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .current_dir(&self.root)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn write(&self, path: impl AsRef<Path>, text: &str) {
        let path = self.root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn remove(&self, path: &str) {
        std::fs::remove_file(self.root.join(path)).unwrap();
    }

    fn open(&self) -> Snapshotter {
        Snapshotter::open(&self.root, &self.state).unwrap()
    }
}

fn paths(d: &Diff) -> Vec<String> {
    d.files
        .iter()
        .map(|f| f.path.to_string_lossy().into_owned())
        .collect()
}

fn p(list: &[&str]) -> Vec<PathBuf> {
    list.iter().map(PathBuf::from).collect()
}

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
fn snapshot_commit_then_rebase_is_empty() {
    let repo = Repo::new(&[("a.txt", "a\n")]);
    let mut s = repo.open();
    let base = s.snapshot(None).unwrap();
    repo.write("a.txt", "edited\n");
    repo.write("new.txt", "new\n");
    let edited = s.snapshot(Some(&p(&["a.txt", "new.txt"]))).unwrap();
    assert_eq!(s.diff(&base, &edited, MAX).unwrap().files.len(), 2);
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "edits"]);
    let now = s.snapshot(Some(&[])).unwrap();
    assert_eq!(now.tree, edited.tree);
    assert_ne!(now.head, edited.head);
    // The edits were reviewed at `edited`: nothing new.
    let moved = s.rebase_onto_head(&edited, &now).unwrap();
    assert_eq!(moved.head, now.head);
    assert!(s.diff(&moved, &now, MAX).unwrap().is_empty());
    // Not reviewed yet (baseline before the edits): the commit explains them, nothing to review.
    let moved = s.rebase_onto_head(&base, &now).unwrap();
    assert!(s.diff(&moved, &now, MAX).unwrap().is_empty());
}

/// Two branches differing in 300 files (changed, added and deleted).
fn branched_repo() -> Repo {
    let files: Vec<(String, String)> = (0..400)
        .map(|i| (format!("d{}/f{i}.txt", i % 20), format!("v1 {i}\n")))
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let repo = Repo::new(&refs);
    repo.git(&["checkout", "-q", "-b", "other"]);
    for i in 0..250 {
        repo.write(format!("d{}/f{i}.txt", i % 20), &format!("v2 {i}\n"));
    }
    for i in 250..275 {
        repo.remove(&format!("d{}/f{i}.txt", i % 20));
    }
    for i in 0..25 {
        repo.write(format!("newdir/g{i}.txt"), "g\n");
    }
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "other"]);
    repo.git(&["checkout", "-q", "main"]);
    repo
}

fn changed_by(repo: &Repo, from: &str, to: &str) -> Vec<PathBuf> {
    let out = repo.git(&["diff", "--name-only", from, to]);
    out.lines().map(PathBuf::from).collect()
}

#[test]
fn snapshot_checkout_300_files_is_empty_after_rebase() {
    let repo = branched_repo();
    let mut s = repo.open();
    let base = s.snapshot(None).unwrap();
    repo.git(&["checkout", "-q", "other"]);
    let changed = changed_by(&repo, "main", "other");
    assert_eq!(changed.len(), 300);
    let now = s.snapshot(Some(&changed)).unwrap();
    assert_eq!(s.diff(&base, &now, MAX).unwrap().files.len(), 300);
    let moved = s.rebase_onto_head(&base, &now).unwrap();
    assert!(s.diff(&moved, &now, MAX).unwrap().is_empty());
    assert_eq!(moved.tree, now.tree);
}

#[test]
fn snapshot_edit_on_top_of_checkout_still_shows() {
    let repo = branched_repo();
    repo.write("d0/f0.txt", "uncommitted before\n");
    let mut s = repo.open();
    let base = s.snapshot(None).unwrap();
    repo.git(&["stash", "-q"]);
    repo.git(&["checkout", "-q", "other"]);
    repo.write("d1/f1.txt", "uncommitted after\n");
    repo.write("untracked.txt", "u\n");
    let mut changed = changed_by(&repo, "main", "other");
    changed.extend(p(&["d1/f1.txt", "untracked.txt"]));
    let now = s.snapshot(Some(&changed)).unwrap();
    let moved = s.rebase_onto_head(&base, &now).unwrap();
    let d = s.diff(&moved, &now, MAX).unwrap();
    assert_eq!(paths(&d), ["d1/f1.txt", "untracked.txt"]);
    assert!(d.unified.unwrap().contains("+uncommitted after"));
}

#[test]
fn snapshot_edit_then_checkout_then_snapshot_shows_the_edit() {
    let repo = branched_repo();
    let mut s = repo.open();
    let base = s.snapshot(None).unwrap();
    // Edits the checkout carries along (files it leaves alone): unstaged, staged, untracked.
    repo.write("d19/f399.txt", "edited before the checkout\n");
    repo.write("d17/f397.txt", "staged before the checkout\n");
    repo.git(&["add", "d17/f397.txt"]);
    repo.write("new.txt", "untracked\n");
    let edited = s
        .snapshot(Some(&p(&["d19/f399.txt", "d17/f397.txt", "new.txt"])))
        .unwrap();
    assert_eq!(s.diff(&base, &edited, MAX).unwrap().files.len(), 3);
    repo.git(&["checkout", "-q", "other"]);
    repo.write("d18/f398.txt", "edited after the checkout\n");
    let mut changed = changed_by(&repo, "main", "other");
    changed.extend(p(&["d18/f398.txt"]));
    assert!(changed.len() > super::MAX_PATHSPECS);
    let now = s.snapshot(Some(&changed)).unwrap();
    // Reviewed up to `edited`: only the edit after the checkout is new.
    let moved = s.rebase_onto_head(&edited, &now).unwrap();
    assert_eq!(paths(&s.diff(&moved, &now, MAX).unwrap()), ["d18/f398.txt"]);
    // The edits from before the checkout are still in the snapshot.
    let all = ["d17/f397.txt", "d18/f398.txt", "d19/f399.txt", "new.txt"];
    let head = s.head_snapshot().unwrap();
    let d = s.diff(&head, &now, MAX).unwrap();
    assert_eq!(paths(&d), all);
    assert!(d.unified.unwrap().contains("+edited before the checkout"));
    let moved = s.rebase_onto_head(&base, &now).unwrap();
    assert_eq!(paths(&s.diff(&moved, &now, MAX).unwrap()), all);
    // A full refresh agrees, and so does a fresh seed.
    assert_eq!(s.snapshot(None).unwrap(), now);
    let mut fresh = Snapshotter::open(&repo.root, &repo.state.with_file_name("state2")).unwrap();
    assert_eq!(fresh.snapshot(None).unwrap(), now);
    // And back: the edits still show, the checkout does not.
    repo.git(&["checkout", "-q", "main"]);
    let back = s.snapshot(Some(&changed)).unwrap();
    assert_eq!(s.snapshot(None).unwrap(), back);
    let moved = s.rebase_onto_head(&now, &back).unwrap();
    assert!(s.diff(&moved, &back, MAX).unwrap().is_empty());
    let head = s.head_snapshot().unwrap();
    assert_eq!(paths(&s.diff(&head, &back, MAX).unwrap()), all);
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

/// Every file and directory under `.git`: size, mtime and a content hash.
fn dot_git(root: &Path) -> BTreeMap<PathBuf, (u64, i64, i64, u64)> {
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
    s.rebase_onto_head(&other, &now).unwrap();
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
    let moved = s.rebase_onto_head(&empty, &committed).unwrap();
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
fn snapshot_head_snapshot_reviews_every_uncommitted_change() {
    let repo = Repo::new(&[("a.txt", "a\n")]);
    repo.write("a.txt", "dirty\n");
    let mut s = repo.open();
    let now = s.snapshot(None).unwrap();
    let head = s.head_snapshot().unwrap();
    assert_eq!(head.head, now.head);
    assert_eq!(head.tree, repo.git(&["rev-parse", "HEAD^{tree}"]));
    assert_eq!(paths(&s.diff(&head, &now, MAX).unwrap()), ["a.txt"]);
}

#[test]
fn snapshot_head_read_from_files_agrees_with_git() {
    let repo = Repo::new(&[("a.txt", "a\n")]);
    let s = repo.open();
    let want = Some(repo.git(&["rev-parse", "HEAD"]));
    assert_eq!(s.read_head().unwrap(), want);
    repo.git(&["pack-refs", "--all"]);
    assert!(!repo.root.join(".git/refs/heads/main").exists());
    assert_eq!(s.read_head_files(), Some(want.clone()));
    repo.git(&["checkout", "-q", "--detach"]);
    assert_eq!(s.read_head_files(), Some(want));
    repo.git(&["checkout", "-q", "--orphan", "fresh"]);
    assert_eq!(s.read_head_files(), Some(None));
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
