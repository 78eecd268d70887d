//! The index-free fast path: which edits take it, which must not (attributes, autocrlf,
//! assume-unchanged entries, HEAD moves, restarts), each snapshot checked against a tree
//! built from scratch.

use super::private_store::dot_git;
use super::{MAX, Repo, branched_repo, changed_by, p};
use crate::snapshot::{Snapshot, Snapshotter};

/// The work tree's tree from an empty index (`add -A`, plus `forced.log` when present: it is
/// tracked though ignored).
fn from_scratch(repo: &Repo) -> String {
    let scratch = tempfile::tempdir().unwrap();
    let tree = super::prop::reference(repo, scratch.path());
    if !repo.root.join("forced.log").exists() {
        return tree;
    }
    let index = scratch.path().join("index");
    let objects = scratch.path().join("objects");
    let env = [
        ("GIT_INDEX_FILE", index.as_path()),
        ("GIT_OBJECT_DIRECTORY", objects.as_path()),
    ];
    repo.try_git(&env, &["add", "-f", "forced.log"]).unwrap();
    repo.try_git(&env, &["write-tree"]).unwrap()
}

fn chmod(repo: &Repo, path: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(repo.root.join(path), std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Take a partial snapshot of `changed` and check it against a full refresh from scratch,
/// and whether the fast path took it.
fn step(repo: &Repo, s: &mut Snapshotter, changed: &[&str], fast: bool) -> Snapshot {
    let before = s.fast_snapshots();
    let now = s.snapshot(Some(&p(changed))).unwrap();
    assert_eq!(now.tree, from_scratch(repo), "after {changed:?}");
    assert_eq!(
        s.fast_snapshots() - before,
        u64::from(fast),
        "fast path for {changed:?}"
    );
    now
}

fn fast_repo() -> Repo {
    let repo = Repo::new(&[
        (".gitignore", "*.log\nbuild/\n"),
        ("top.txt", "top\n"),
        ("a/b/c/deep.txt", "deep\n"),
        ("a/b/sib.txt", "sib\n"),
        ("a/other.txt", "other\n"),
        ("sp ace/ü n\ni.txt", "odd\n"),
        ("run.sh", "#!/bin/sh\n"),
        ("z/last.txt", "z\n"),
    ]);
    std::os::unix::fs::symlink("top.txt", repo.root.join("link")).unwrap();
    repo.write("forced.log", "tracked though ignored\n");
    chmod(&repo, "run.sh", 0o755);
    repo.git(&["add", "-A"]);
    repo.git(&["add", "-f", "forced.log"]);
    repo.git(&["commit", "-q", "-m", "more"]);
    repo
}

#[test]
fn snapshot_fast_path_mixed_with_slow_changes_equals_full_refresh() {
    let repo = fast_repo();
    let before = dot_git(&repo.root);
    let mut s = repo.open();
    let base = s.snapshot(None).unwrap();
    repo.write("a/b/c/deep.txt", "deep 2\n");
    step(&repo, &mut s, &["a/b/c/deep.txt"], true);
    repo.write("sp ace/ü n\ni.txt", "odd 2\n");
    repo.write("top.txt", "top 2\n");
    repo.write("a/b/sib.txt", "sib 2\n");
    step(
        &repo,
        &mut s,
        &["sp ace/ü n\ni.txt", "top.txt", "a/b/sib.txt"],
        true,
    );
    // A symlink's target, an executable's content, a tracked ignored file.
    std::fs::remove_file(repo.root.join("link")).unwrap();
    std::os::unix::fs::symlink("a/other.txt", repo.root.join("link")).unwrap();
    repo.write("run.sh", "#!/bin/sh\necho 2\n");
    repo.write("forced.log", "tracked 2\n");
    step(&repo, &mut s, &["link", "run.sh", "forced.log"], true);
    // Mode changes, both ways: not the fast path.
    chmod(&repo, "top.txt", 0o755);
    step(&repo, &mut s, &["top.txt"], false);
    chmod(&repo, "run.sh", 0o644);
    repo.write("a/other.txt", "other 2\n");
    step(&repo, &mut s, &["run.sh", "a/other.txt"], false);
    repo.write("a/other.txt", "other 3\n");
    step(&repo, &mut s, &["a/other.txt"], true);
    // Add, delete, rename, ignored, type change, dir: the slow path, which also catches up
    // with what the fast path left out of the index.
    repo.write("a/b/new file.txt", "new\n");
    step(&repo, &mut s, &["a/b/new file.txt"], false);
    // Objects git must read back: several stored deflate blocks, and an empty file.
    let big: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
    assert!(big.len() > 3 * 65_535);
    let prev = s.snapshot(Some(&[])).unwrap();
    repo.write("a/other.txt", &big);
    repo.write("sp ace/ü n\ni.txt", "");
    let now = step(&repo, &mut s, &["a/other.txt", "sp ace/ü n\ni.txt"], true);
    let d = s.diff(&prev, &now, MAX).unwrap();
    assert_eq!(
        (d.insertions(), d.deletions()),
        (20_000, 2),
        "{:?}",
        d.files
    );
    assert!(d.unified.unwrap().contains("+line 19999\n"));
    // A new directory: cat-file says `missing`, and is restarted for the next fast path.
    repo.write("n e/w/x.txt", "new\n");
    step(&repo, &mut s, &["n e/w/x.txt"], false);
    repo.write("n e/w/x.txt", "new 2\n");
    step(&repo, &mut s, &["n e/w/x.txt"], true);
    repo.write("a/b/c/deep.txt", "deep 3\n");
    step(&repo, &mut s, &["a/b/c/deep.txt"], true);
    repo.remove("z/last.txt");
    step(&repo, &mut s, &["z/last.txt"], false);
    repo.write("a/b/c/deep.txt", "deep 4\n");
    std::fs::rename(repo.root.join("a/b/sib.txt"), repo.root.join("a/sib.txt")).unwrap();
    step(
        &repo,
        &mut s,
        &["a/b/c/deep.txt", "a/b/sib.txt", "a/sib.txt"],
        false,
    );
    repo.write("x.log", "ignored\n");
    step(&repo, &mut s, &["x.log"], false);
    repo.write("top.txt", "top 3\n");
    step(&repo, &mut s, &["top.txt"], true);
    repo.remove("top.txt");
    std::os::unix::fs::symlink("run.sh", repo.root.join("top.txt")).unwrap();
    step(&repo, &mut s, &["top.txt"], false);
    repo.write("a/b/c/deep.txt", "deep 5\n");
    step(&repo, &mut s, &["a/b/c/deep.txt", "a/b/c", "a"], false);
    repo.write("a/b/c/deep.txt", "deep 6\n");
    step(
        &repo,
        &mut s,
        &["a/b/c/deep.txt", "outside/../x", ".git/index"],
        true,
    );
    // A full refresh agrees, and reverting everything gives the base tree back.
    let fast_tree = s.snapshot(Some(&[])).unwrap();
    assert_eq!(s.snapshot(None).unwrap(), fast_tree);
    assert_eq!(
        before,
        dot_git(&repo.root),
        "cxd changed something under .git"
    );
    repo.git(&["checkout", "-q", "--", "."]);
    repo.git(&["clean", "-qfd"]);
    chmod(&repo, "top.txt", 0o644);
    let all: Vec<String> = [
        "top.txt",
        "a",
        "z",
        "run.sh",
        "link",
        "forced.log",
        "sp ace",
        "n e",
    ]
    .map(String::from)
    .to_vec();
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    assert_eq!(step(&repo, &mut s, &refs, false).tree, base.tree);
    repo.write("a/b/c/deep.txt", "deep 7\n");
    repo.write("a/b/c/deep.txt", "deep\n");
    assert_eq!(
        step(&repo, &mut s, &["a/b/c/deep.txt"], true).tree,
        base.tree
    );
}

#[test]
fn snapshot_fast_path_across_checkouts_and_restarts() {
    let repo = branched_repo();
    let mut s = repo.open();
    s.snapshot(None).unwrap();
    repo.write("d15/f375.txt", "edit\n");
    step(&repo, &mut s, &["d15/f375.txt"], true);
    // A HEAD move: the slow path, with the fast path's edit still in.
    repo.git(&["checkout", "-q", "other"]);
    let changed = changed_by(&repo, "main", "other");
    let refs: Vec<String> = changed.iter().map(|p| p.to_string_lossy().into()).collect();
    let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
    step(&repo, &mut s, &refs, false);
    repo.write("d16/f376.txt", "edit 2\n");
    step(&repo, &mut s, &["d16/f376.txt"], true);
    repo.write("d17/f377.txt", "edit 3\n");
    step(&repo, &mut s, &["d17/f377.txt"], true);
    // A commit moves HEAD without touching files.
    repo.git(&["commit", "-q", "-am", "edits"]);
    step(&repo, &mut s, &[], false);
    repo.write("d18/f378.txt", "edit 4\n");
    step(&repo, &mut s, &["d18/f378.txt"], true);
    // A restart: the private index does not have d18/f378.txt yet; `dirty` says so.
    drop(s);
    assert!(repo.state.join("dirty").exists());
    let mut s = repo.open();
    repo.write("d19/f379.txt", "edit 5\n");
    step(&repo, &mut s, &["d19/f379.txt"], false);
    assert!(!repo.state.join("dirty").exists());
    repo.write("d0/f380.txt", "edit 6\n");
    step(&repo, &mut s, &["d0/f380.txt"], true);
    // Back to main, many paths (the forced checkout also rewrites the uncommitted edits).
    repo.git(&["checkout", "-q", "-f", "main"]);
    let mut changed = changed_by(&repo, "main", "other");
    changed.extend(p(&["d18/f378.txt", "d19/f379.txt", "d0/f380.txt"]));
    let refs: Vec<String> = changed.iter().map(|p| p.to_string_lossy().into()).collect();
    let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
    step(&repo, &mut s, &refs, false);
    repo.write("d1/f381.txt", "edit 7\n");
    step(&repo, &mut s, &["d1/f381.txt"], true);
    // Prune keeps what the fast path wrote when asked to.
    let last = s.snapshot(Some(&[])).unwrap();
    s.prune(&[&last]).unwrap();
    repo.write("d2/f382.txt", "edit 8\n");
    step(&repo, &mut s, &["d2/f382.txt"], true);
}

#[test]
fn snapshot_fast_path_skipped_with_attributes_or_autocrlf() {
    let repo = fast_repo();
    let mut s = repo.open();
    s.snapshot(None).unwrap();
    repo.write("a/b/.gitattributes", "*.txt text eol=crlf\n");
    step(&repo, &mut s, &["a/b/.gitattributes"], false);
    repo.write("a/b/sib.txt", "crlf?\r\n");
    step(&repo, &mut s, &["a/b/sib.txt"], false);
    repo.write("top.txt", "elsewhere\n");
    step(&repo, &mut s, &["top.txt"], true);
    repo.git(&["config", "core.autocrlf", "input"]);
    repo.write("top.txt", "crlf\r\n");
    step(&repo, &mut s, &["top.txt"], false);
    repo.git(&["config", "core.autocrlf", "false"]);
    repo.write("top.txt", "crlf again\r\n");
    step(&repo, &mut s, &["top.txt"], true);
    std::fs::create_dir_all(repo.root.join(".git/info")).unwrap();
    std::fs::write(repo.root.join(".git/info/attributes"), "* text\n").unwrap();
    repo.write("z/last.txt", "z\r\n");
    step(&repo, &mut s, &["z/last.txt"], false);
}

#[test]
fn snapshot_fast_path_skips_assume_unchanged_entries() {
    let repo = fast_repo();
    repo.git(&["update-index", "--assume-unchanged", "a/other.txt"]);
    let mut s = repo.open();
    s.snapshot(None).unwrap();
    repo.write("top.txt", "top 2\n");
    step(&repo, &mut s, &["top.txt"], false);
}

/// Stamp `path` (a file, or the user's index) with `t`.
fn stamp(path: &std::path::Path, t: std::time::SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(t))
        .unwrap();
}

/// The cause of the wrong trees once blamed on this path: git trusts an index entry's stat
/// data unless the file is as new as the index holding it ("racily clean" entries are hashed
/// again). A copy of the user's index stamped with the time of copying turned an edit that kept
/// the size and landed in the tick the user's index was written into an unchanged file. Here
/// the tick is made by hand (an hour ago, `core.trustctime` off so only the mtime counts): the
/// first snapshot, which starts from a copy of the user's index, must still see the edit.
#[test]
fn a_same_size_edit_in_the_tick_the_users_index_was_written_is_seen() {
    let repo = Repo::new(&[("f.txt", "aaaa\n"), ("g.txt", "g\n")]);
    repo.git(&["config", "core.trustctime", "false"]);
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 3600;
    let tick = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    let f = repo.root.join("f.txt");
    stamp(&f, tick);
    repo.git(&["add", "f.txt"]);
    stamp(&repo.root.join(".git/index"), tick);
    // Same size, same mtime, same inode: only the content says it changed.
    std::fs::write(&f, "bbbb\n").unwrap();
    stamp(&f, tick);
    assert_eq!(
        // (without writing the index: a write would smudge the racy entry for good)
        repo.git(&["--no-optional-locks", "status", "--porcelain", "f.txt"]),
        "M f.txt",
        "git itself sees the edit (the entry is racily clean)"
    );
    let mut s = repo.open();
    let first = s.snapshot(None).unwrap();
    assert_eq!(first.tree, from_scratch(&repo));
}
