//! Commits, checkouts and resets: a baseline carried onto a moved HEAD shows only what the move
//! does not explain, and HEAD is read alike from the ref files and from git.

use std::collections::HashSet;
use std::path::PathBuf;

use super::{MAX, Repo, branched_repo, changed_by, p, paths};
use crate::snapshot::Snapshotter;

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
    let moved = s.rebase_onto_head(&edited, &now, &HashSet::new()).unwrap();
    assert_eq!(moved.head, now.head);
    assert!(s.diff(&moved, &now, MAX).unwrap().is_empty());
    // Not reviewed yet (baseline before the edits): the commit explains them, nothing to review.
    let moved = s.rebase_onto_head(&base, &now, &HashSet::new()).unwrap();
    assert!(s.diff(&moved, &now, MAX).unwrap().is_empty());
}

#[test]
fn snapshot_commit_of_kept_edits_still_shows_them() {
    let repo = Repo::new(&[("a.txt", "a\n"), ("b.txt", "b\n"), ("gone.txt", "g\n")]);
    let mut s = repo.open();
    let base = s.snapshot(None).unwrap();
    repo.write("a.txt", "edited\n");
    repo.write("new.txt", "new\n");
    repo.write("b.txt", "b2\n");
    std::fs::remove_file(repo.root.join("gone.txt")).unwrap();
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "edits"]);
    let now = s.snapshot(None).unwrap();
    // a.txt, new.txt and gone.txt were edits no review covered; b.txt came with the commit.
    let keep: HashSet<PathBuf> = p(&["a.txt", "new.txt", "gone.txt"]).into_iter().collect();
    let moved = s.rebase_onto_head(&base, &now, &keep).unwrap();
    assert_eq!(moved.head, now.head);
    let d = s.diff(&moved, &now, MAX).unwrap();
    assert_eq!(paths(&d), ["a.txt", "gone.txt", "new.txt"]);
    let text = d.unified.unwrap();
    assert!(text.contains("-a\n+edited"), "{text}");
    assert!(!text.contains("b2"), "{text}");
    // Once reviewed (the baseline is `now`), keeping them shows nothing.
    assert!(s.rebase_onto_head(&now, &now, &keep).unwrap() == now);
    // A kept path the move did not touch is an ordinary uncommitted edit.
    repo.write("b.txt", "b3\n");
    let later = s.snapshot(Some(&p(&["b.txt"]))).unwrap();
    let moved = s.rebase_onto_head(&base, &later, &keep).unwrap();
    assert_eq!(
        paths(&s.diff(&moved, &later, MAX).unwrap()),
        ["a.txt", "b.txt", "gone.txt", "new.txt"]
    );
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
    let moved = s.rebase_onto_head(&base, &now, &HashSet::new()).unwrap();
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
    let moved = s.rebase_onto_head(&base, &now, &HashSet::new()).unwrap();
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
    assert!(changed.len() > crate::snapshot::MAX_PATHSPECS);
    let now = s.snapshot(Some(&changed)).unwrap();
    // Reviewed up to `edited`: only the edit after the checkout is new.
    let moved = s.rebase_onto_head(&edited, &now, &HashSet::new()).unwrap();
    assert_eq!(paths(&s.diff(&moved, &now, MAX).unwrap()), ["d18/f398.txt"]);
    // The edits from before the checkout are still in the snapshot.
    let all = ["d17/f397.txt", "d18/f398.txt", "d19/f399.txt", "new.txt"];
    let head = s.head_snapshot().unwrap();
    let d = s.diff(&head, &now, MAX).unwrap();
    assert_eq!(paths(&d), all);
    assert!(d.unified.unwrap().contains("+edited before the checkout"));
    let moved = s.rebase_onto_head(&base, &now, &HashSet::new()).unwrap();
    assert_eq!(paths(&s.diff(&moved, &now, MAX).unwrap()), all);
    // A full refresh agrees, and so does a fresh seed.
    assert_eq!(s.snapshot(None).unwrap(), now);
    let mut fresh = Snapshotter::open(&repo.root, &repo.state.with_file_name("state2")).unwrap();
    assert_eq!(fresh.snapshot(None).unwrap(), now);
    // And back: the edits still show, the checkout does not.
    repo.git(&["checkout", "-q", "main"]);
    let back = s.snapshot(Some(&changed)).unwrap();
    assert_eq!(s.snapshot(None).unwrap(), back);
    let moved = s.rebase_onto_head(&now, &back, &HashSet::new()).unwrap();
    assert!(s.diff(&moved, &back, MAX).unwrap().is_empty());
    let head = s.head_snapshot().unwrap();
    assert_eq!(paths(&s.diff(&head, &back, MAX).unwrap()), all);
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
