//! Committed history: how HEAD moved (only commits, or git wrote files), revisions resolved
//! without being taken for options, ranges and merge bases.

use super::Repo;
use crate::snapshot::revs::RevError;

#[test]
fn only_commits_since_a_head_are_told_from_checkouts_and_resets() {
    let repo = Repo::new(&[("a.txt", "a\n")]);
    let s = repo.open();
    let start = repo.git(&["rev-parse", "HEAD"]);
    assert!(!s.moved_by_commits(Some(&start)), "not moved");
    repo.write("a.txt", "b\n");
    repo.git(&["commit", "-q", "-am", "one"]);
    repo.git(&["commit", "-q", "--amend", "-m", "one, amended"]);
    repo.write("b.txt", "b\n");
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "two"]);
    assert!(s.moved_by_commits(Some(&start)));
    let two = repo.git(&["rev-parse", "HEAD"]);
    repo.git(&["checkout", "-q", "-b", "side", &start]);
    assert!(!s.moved_by_commits(Some(&two)), "a checkout");
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
    assert!(!s.moved_by_commits(Some(&two)), "a reset");
    let unborn = Repo::unborn();
    unborn.write("x", "x\n");
    unborn.git(&["add", "-A"]);
    unborn.git(&["commit", "-q", "-m", "first"]);
    assert!(unborn.open().moved_by_commits(None), "the first commit");
}

#[test]
fn revisions_resolve_and_ranges_list_their_commits() {
    let repo = Repo::new(&[("a.txt", "a\n")]);
    let first = repo.git(&["rev-parse", "HEAD"]);
    repo.write("a.txt", "b\n");
    repo.git(&["commit", "-q", "-am", "b"]);
    repo.write("a.txt", "c\n");
    repo.git(&["commit", "-q", "-am", "c"]);
    let s = repo.open();
    let head = s.resolve_commit("HEAD").unwrap();
    assert_eq!(head.tree, repo.git(&["rev-parse", "HEAD^{tree}"]));
    assert_eq!(
        head.parent.as_deref(),
        Some(repo.git(&["rev-parse", "HEAD~1"]).as_str())
    );
    let root = s.resolve_commit(&first).unwrap();
    assert_eq!(root.parent, None);
    assert_eq!(s.parent_tree(&root).unwrap(), s.empty_tree());
    let commits = s.commits_between(&head.id, &[&first]).unwrap();
    assert_eq!(commits.len(), 2);
    assert_eq!(commits[0].id, head.id, "newest first");
    assert!(s.commits_between(&first, &[&head.id]).unwrap().is_empty());
    assert!(matches!(
        s.resolve_commit("nope"),
        Err(RevError::Unknown(_))
    ));
    assert!(matches!(
        s.resolve_commit("--all"),
        Err(RevError::BadName(_))
    ));
    let base = s.merge_base("main", &first, &head.id).unwrap();
    assert_eq!(base.id, first);
    assert!(s.head_on_branch().unwrap());
    repo.git(&["checkout", "-q", "--detach"]);
    assert!(!s.head_on_branch().unwrap());
}
