//! The pre-push gate judges the pushed commits' own trees: a fix reviewed only in a tree the
//! push does not send (stashed, never committed, or on a commit left behind) does not count,
//! and for a new branch only the pushed-to remote's refs count as pushed already.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use cxd_e2e::{TestEnv, cxd_bin, git, init_repo};
use serde_json::json;

const T: Duration = Duration::from_secs(30);

/// `git ARGS` in `dir` as a user would run it, with cxd on PATH and this test's environment
/// (so the hook reaches this test's daemon).
fn git_as_user(env: &TestEnv, dir: &Path, args: &[&str]) -> Output {
    let bin_dir = cxd_bin().parent().unwrap().to_path_buf();
    let path = std::env::join_paths(
        std::iter::once(bin_dir).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let mut cmd = Command::new("git");
    for (k, v) in env.cmd(&[]).get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.args(args)
        .current_dir(dir)
        .env("PATH", path)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .output()
        .unwrap()
}

/// A repository whose `origin` is a bare repository holding `main` as it is now.
fn with_remote(env: &TestEnv) -> (PathBuf, PathBuf) {
    let repo = init_repo(env.dir.path(), "repo");
    let remote = env.dir.path().join("remote.git");
    git(
        env.dir.path(),
        &["init", "-q", "--bare", remote.to_str().unwrap()],
    );
    git(
        &repo,
        &["remote", "add", "origin", remote.to_str().unwrap()],
    );
    git(&repo, &["push", "-q", "origin", "main"]);
    (repo, remote)
}

fn commit(repo: &Path, file: &str, text: &str) {
    std::fs::write(repo.join(file), text).unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", file]);
}

fn blocking_answer() -> serde_json::Value {
    json!({"answer": {"verdict": "changes_requested", "summary": "s",
        "findings": [{"severity": "high", "category": "bug", "file": "lib.txt", "line_start": 1,
        "line_end": 1, "title": "pushed bug", "body": "b", "recommendation": "r",
        "confidence": 0.9}], "fixed_finding_ids": [], "still_open_ids": [], "rulings": []}})
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn remote_main(remote: &Path) -> String {
    git(remote, &["rev-parse", "main"]).trim().to_owned()
}

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
