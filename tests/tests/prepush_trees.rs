//! The pre-push gate judges the pushed commits' own trees: a fix reviewed only in a tree the
//! push does not send (stashed, never committed, or on a commit left behind) does not count,
//! and for a new branch only the pushed-to remote's refs count as pushed already.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::time::Duration;

use cxd_e2e::remote::{
    commit, git_as_user, output_text as text, pushed_bug_answer as blocking_answer, remote_main,
    with_remote,
};
use cxd_e2e::{TestEnv, git};
use serde_json::json;

const T: Duration = Duration::from_secs(30);

fn fixed_answer() -> serde_json::Value {
    json!({"answer": {"verdict": "approve", "summary": "fixed", "findings": [],
        "fixed_finding_ids": ["F1"]}})
}

fn approve() -> serde_json::Value {
    json!({"answer": {"verdict": "approve", "summary": "fine", "findings": [],
        "fixed_finding_ids": []}})
}

fn finding_status(env: &TestEnv, repo: &Path, id: &str) -> String {
    let all: serde_json::Value =
        serde_json::from_str(&env.ok(&["findings", repo.to_str().unwrap(), "--all", "--json"]))
            .unwrap();
    let f = all.as_array().unwrap().iter().find(|f| f["id"] == id);
    f.map(|f| f["status"].as_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[test]
fn a_fix_reviewed_only_in_the_work_tree_does_not_let_the_buggy_commit_through() {
    let env = TestEnv::new();
    env.fast_settle();
    let (repo, remote) = with_remote(&env);
    let base = remote_main(&remote);
    env.script_codex(&json!([
        blocking_answer(),
        fixed_answer(),
        approve(),
        approve()
    ]));
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    env.ok(&["init", "git-hook", "--pre-push", repo.to_str().unwrap()]);

    // The bug, reviewed as an edit, then committed: the edit's review covers the commit.
    std::fs::write(repo.join("lib.txt"), "bug\n").unwrap();
    env.wait_reviews(1, T);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "bug"]);
    env.wait_log("head_moved", 1, T);
    // The fix, reviewed in the work tree only: the finding is resolved there.
    std::fs::write(repo.join("lib.txt"), "fixed\n").unwrap();
    env.wait_reviews(2, T);
    assert_eq!(finding_status(&env, &repo, "F1"), "resolved");
    // Stashed: the work tree is the buggy commit again, and its review says nothing new.
    git(&repo, &["stash", "-q"]);
    env.wait_reviews(3, T);

    let out = git_as_user(&env, &repo, &["push", "origin", "main"]);
    let said = text(&out);
    assert!(
        !out.status.success(),
        "the buggy commit must not pass: {said}"
    );
    assert!(said.contains("pushed bug"), "{said}");
    assert_eq!(remote_main(&remote), base, "the push was refused");
    assert_eq!(
        env.codex_calls().len(),
        3,
        "the commit was reviewed already"
    );

    // Only that commit, with the fix committed after it but not pushed: still refused.
    git(&repo, &["stash", "pop", "-q"]);
    env.wait_reviews(4, T);
    git(&repo, &["commit", "-q", "-am", "fix"]);
    env.wait_log("head_moved", 2, T);
    let out = git_as_user(&env, &repo, &["push", "origin", "HEAD~1:main"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert_eq!(remote_main(&remote), base);
    // The fix pushed with it: its review covers a pushed tree, so the resolution counts.
    let out = git_as_user(&env, &repo, &["push", "origin", "main"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        remote_main(&remote),
        git(&repo, &["rev-parse", "HEAD"]).trim()
    );
    assert_eq!(env.codex_calls().len(), 4, "no review for the push");
}

#[test]
fn a_finding_left_open_by_an_earlier_review_holds_back_the_commit_that_has_it() {
    let env = TestEnv::new();
    env.fast_settle();
    let (repo, remote) = with_remote(&env);
    let base = remote_main(&remote);
    env.script_codex(&json!([blocking_answer(), approve()]));
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    env.ok(&["init", "git-hook", "--pre-push", repo.to_str().unwrap()]);
    std::fs::write(repo.join("lib.txt"), "bug\n").unwrap();
    env.wait_reviews(1, T);
    // A later edit elsewhere, reviewed without a word about the bug; then all of it committed.
    std::fs::write(repo.join("other.txt"), "more\n").unwrap();
    env.wait_reviews(2, T);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "both"]);
    env.wait_log("head_moved", 1, T);
    let out = git_as_user(&env, &repo, &["push", "origin", "main"]);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("pushed bug"), "{said}");
    assert_eq!(remote_main(&remote), base);
}

#[test]
fn a_hand_made_remote_tracking_ref_of_another_remote_does_not_count_as_pushed() {
    let env = TestEnv::new();
    env.fast_settle();
    let (repo, remote) = with_remote(&env);
    git(&repo, &["checkout", "-q", "-b", "feature"]);
    // Committed before cxd watched: no review covers it.
    commit(&repo, "lib.txt", "unreviewed on the branch\n");
    git(&repo, &["update-ref", "refs/remotes/x/y", "HEAD"]);
    env.script_codex(&json!([blocking_answer()]));
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    env.ok(&["init", "git-hook", "--pre-push", repo.to_str().unwrap()]);
    let out = git_as_user(&env, &repo, &["push", "origin", "feature"]);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("pushed bug"), "{said}");
    let calls = env.codex_calls();
    assert_eq!(calls.len(), 1, "{said}");
    let p = calls[0]["prompt"].as_str().unwrap();
    assert!(p.contains("+unreviewed on the branch"), "{p}");
    assert!(
        !p.contains("+hello"),
        "origin/main is on the remote already: {p}"
    );
    assert!(
        git(&remote, &["branch", "--list", "feature"])
            .trim()
            .is_empty(),
        "the push was refused"
    );
}
