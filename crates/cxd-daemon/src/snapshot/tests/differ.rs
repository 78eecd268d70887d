//! The long-lived `diff-tree --stdin` answers what one `diff-tree` run answers, reads no
//! attributes, and gives way to one run when it cannot answer.

use std::os::unix::fs::PermissionsExt;

use super::{MAX, Repo, p, paths};
use crate::snapshot::{Snapshot, SnapshotError, Snapshotter};

/// How many `diff-tree --stdin` processes run in the private bare repository of `s`.
fn differs_for(bare: &std::path::Path) -> usize {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return 0;
    };
    procs
        .flatten()
        .filter(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let cwd = std::fs::read_link(e.path().join("cwd")).ok();
            let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
            args.contains(&&b"diff-tree"[..])
                && args.contains(&&b"--stdin"[..])
                && cwd.is_some_and(|c| c == bare.canonicalize().unwrap())
        })
        .count()
}

/// One change to a work tree.
type Edit = Box<dyn Fn(&Repo)>;

#[test]
fn snapshot_differ_answers_what_one_run_answers() {
    let repo = Repo::new(&[
        ("src/a.rs", "one\ntwo\nthree\n"),
        (
            "moved.txt",
            "a long enough line to be found again after the rename\n",
        ),
        ("bin.dat", "x\0y\0z"),
        ("run.sh", "#!/bin/sh\n"),
        ("gone.txt", "bye\n"),
    ]);
    let mut s = repo.open();
    let base = s.snapshot(None).unwrap();
    let mut last = base.clone();
    let steps: Vec<(Edit, Vec<&str>)> = vec![
        (
            Box::new(|r: &Repo| r.write("src/a.rs", "one\n2\nthree\n")),
            vec!["src/a.rs"],
        ),
        (
            Box::new(|r: &Repo| {
                std::fs::create_dir_all(r.root.join("dir")).unwrap();
                let to = r.root.join("dir/re\nnamed.txt");
                std::fs::rename(r.root.join("moved.txt"), to).unwrap();
            }),
            vec!["moved.txt", "dir/re\nnamed.txt"],
        ),
        (
            Box::new(|r: &Repo| r.write("bin.dat", "x\0y\0z\0w")),
            vec!["bin.dat"],
        ),
        (
            Box::new(|r: &Repo| {
                let f = r.root.join("run.sh");
                std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
            }),
            vec!["run.sh"],
        ),
        (Box::new(|r: &Repo| r.remove("gone.txt")), vec!["gone.txt"]),
        (
            Box::new(|r: &Repo| r.write("src/a.rs", "one\n2\nthree\nfour\n")),
            vec!["src/a.rs"],
        ),
    ];
    for (i, (change, reported)) in steps.iter().enumerate() {
        change(&repo);
        let now = s.snapshot(Some(&p(reported))).unwrap();
        for from in [&base, &last] {
            let asked = s.diff(from, &now, MAX).unwrap();
            let once = s.diff_once(&from.tree, &now.tree, MAX).unwrap();
            assert_eq!(asked, once, "step {i}");
            assert!(!asked.is_empty(), "step {i}");
            // Cut short the same way.
            let small = s.diff(from, &now, 10).unwrap();
            assert_eq!(small, s.diff_once(&from.tree, &now.tree, 10).unwrap());
            assert_eq!(small.unified, None);
        }
        last = now;
    }
    // One process served every diff since the last snapshot that was not a content edit.
    let bare = s.git.bare.clone();
    assert_eq!(differs_for(&bare), 1);
    drop(s);
    assert_eq!(differs_for(&bare), 0, "dropping the snapshotter stops it");
}

/// A repository with `a.txt` edited once after the first snapshot, and the diff of that edit
/// asked for (which starts the long-lived diff-tree): the repo, its snapshotter, the first
/// snapshot and the edited one.
fn edited_once() -> (Repo, Snapshotter, Snapshot, Snapshot) {
    let repo = Repo::new(&[("a.txt", "one\n")]);
    let mut s = repo.open();
    let base = s.snapshot(None).unwrap();
    repo.write("a.txt", "two\n");
    let edited = s.snapshot(Some(&p(&["a.txt"]))).unwrap();
    let d = s.diff(&base, &edited, MAX).unwrap();
    assert_eq!(paths(&d), ["a.txt"]);
    assert!(d.unified.unwrap().contains("+two\n"));
    (repo, s, base, edited)
}

#[test]
fn snapshot_differ_reads_no_attributes() {
    let (repo, mut s, base, _) = edited_once();
    // No attribute makes a text file binary for the review, in the tree or in `.git`.
    repo.write(".gitattributes", "a.txt binary\n");
    std::fs::write(repo.root.join(".git/info/attributes"), "* -diff\n").unwrap();
    repo.write("a.txt", "three\n");
    let marked = s.snapshot(Some(&p(&[".gitattributes", "a.txt"]))).unwrap();
    let edited_again = {
        repo.write("a.txt", "four\n");
        s.snapshot(Some(&p(&["a.txt"]))).unwrap()
    };
    for to in [&marked, &edited_again] {
        let d = s.diff(&base, to, MAX).unwrap();
        let text = d.unified.unwrap();
        assert!(!text.contains("Binary files"), "{text}");
        assert!(text.contains("+three") || text.contains("+four"), "{text}");
    }
}

#[test]
fn snapshot_differ_gives_way_to_one_run_for_an_unreadable_tree() {
    let (_repo, s, base, now) = edited_once();
    let missing = Snapshot {
        tree: "0123456789012345678901234567890123456789".into(),
        head: None,
    };
    let err = s.diff(&missing, &now, MAX).unwrap_err();
    assert!(matches!(err, SnapshotError::Git { .. }), "{err:?}");
    // Still in step: the next diff is right, from the same process.
    assert_eq!(paths(&s.diff(&base, &now, MAX).unwrap()), ["a.txt"]);
    assert_eq!(differs_for(&s.git.bare), 1);
}

#[test]
fn snapshot_differ_restarts_after_a_prune() {
    let (_repo, s, base, now) = edited_once();
    s.prune(&[&base, &now]).unwrap();
    assert_eq!(differs_for(&s.git.bare), 0);
    assert_eq!(paths(&s.diff(&base, &now, MAX).unwrap()), ["a.txt"]);
    assert_eq!(differs_for(&s.git.bare), 1);
}
