//! The pre-push hook on a real local bare remote: the pushed commits no review covered are
//! reviewed (once), a blocking finding refuses the push with the way out printed, a dismissal
//! lets it through, and a commit already reviewed as an edit costs no second review.

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

#[test]
fn a_blocking_finding_refuses_the_push_until_dismissed_and_reviews_run_once() {
    let env = TestEnv::new();
    env.fast_settle();
    let (repo, remote) = with_remote(&env);
    // Committed before cxd watched: no review covers it.
    commit(&repo, "lib.txt", "unreviewed\n");
    commit(&repo, "lib2.txt", "also unreviewed\n");
    let base = remote_main(&remote);
    env.script_codex(&json!([blocking_answer()]));
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    env.ok(&["init", "git-hook", "--pre-push", repo.to_str().unwrap()]);

    let out = git_as_user(&env, &repo, &["push", "origin", "main"]);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("pushed bug"), "{said}");
    assert!(!said.contains("\x1b["), "no colour off a terminal: {said}");
    assert!(said.contains("git push --no-verify"), "{said}");
    assert!(said.contains("cxd dismiss"), "{said}");
    assert_eq!(remote_main(&remote), base, "the push was refused");
    let calls = env.codex_calls();
    assert_eq!(calls.len(), 1);
    let p = calls[0]["prompt"].as_str().unwrap();
    assert!(
        p.contains("+unreviewed") && p.contains("+also unreviewed"),
        "{p}"
    );
    let w = env.workspace();
    assert_eq!(w["last_review"]["trigger"], "range");
    assert_eq!(w["head_reviewed"], true, "{w:#}");

    env.ok(&[
        "dismiss",
        "F1",
        repo.to_str().unwrap(),
        "--reason",
        "not a bug",
    ]);
    let out = git_as_user(&env, &repo, &["push", "origin", "main"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        remote_main(&remote),
        git(&repo, &["rev-parse", "HEAD"]).trim()
    );
    assert_eq!(
        env.codex_calls().len(),
        1,
        "already reviewed: no second review"
    );

    // An edit reviewed as an edit, then committed and pushed: no review for the push.
    std::fs::write(repo.join("lib.txt"), "reviewed as an edit\n").unwrap();
    env.wait_reviews(2, T);
    git(&repo, &["commit", "-q", "-am", "edit"]);
    env.wait_log("head_moved", 1, T);
    let out = git_as_user(&env, &repo, &["push", "origin", "main"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        env.codex_calls().len(),
        2,
        "the edit's review covers the commit"
    );
}

#[test]
fn a_new_branch_reviews_only_what_no_remote_has_and_a_hook_already_there_still_runs() {
    let env = TestEnv::new();
    env.fast_settle();
    let (repo, _remote) = with_remote(&env);
    let hooks = repo.join(".git/hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    let seen = env.dir.path().join("seen-by-own-hook");
    std::fs::write(
        hooks.join("pre-push"),
        format!("#!/bin/sh\ncat > '{}'\n", seen.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        hooks.join("pre-push"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    git(&repo, &["checkout", "-q", "-b", "feature"]);
    commit(&repo, "feature.txt", "new on the branch\n");
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    env.ok(&["init", "git-hook", "--pre-push", repo.to_str().unwrap()]);
    let out = git_as_user(&env, &repo, &["push", "origin", "feature"]);
    assert!(out.status.success(), "{}", text(&out));
    let calls = env.codex_calls();
    assert_eq!(calls.len(), 1);
    let p = calls[0]["prompt"].as_str().unwrap();
    assert!(p.contains("+new on the branch"), "{p}");
    assert!(!p.contains("+hello"), "main is on the remote already: {p}");
    let own = std::fs::read_to_string(&seen).unwrap();
    assert!(own.contains("refs/heads/feature"), "{own}");
    // Deleting a branch reviews nothing.
    let out = git_as_user(&env, &repo, &["push", "origin", ":feature"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(env.codex_calls().len(), 1);
}

#[test]
fn a_daemon_that_does_not_answer_lets_the_push_through_saying_so() {
    let env = TestEnv::new();
    let (repo, remote) = with_remote(&env);
    commit(&repo, "lib.txt", "unreviewed\n");
    env.ok(&["init", "git-hook", "--pre-push", repo.to_str().unwrap()]);
    let out = git_as_user(&env, &repo, &["push", "origin", "main"]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("without cxd's review"), "{said}");
    assert_eq!(
        remote_main(&remote),
        git(&repo, &["rev-parse", "HEAD"]).trim()
    );
}

#[test]
fn a_review_that_fails_refuses_the_push_and_a_spent_limit_then_lets_pushes_through() {
    let env = TestEnv::new();
    env.fast_settle();
    let (repo, remote) = with_remote(&env);
    commit(&repo, "lib.txt", "unreviewed\n");
    let base = remote_main(&remote);
    env.script_codex(&json!([{"mode": "fail_quota"}]));
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    env.ok(&["init", "git-hook", "--pre-push", repo.to_str().unwrap()]);
    let out = git_as_user(&env, &repo, &["push", "origin", "main"]);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("1 of the 1 pushed commit(s) are not reviewed"),
        "{said}"
    );
    assert!(said.contains("git push --no-verify"), "{said}");
    assert_eq!(remote_main(&remote), base);
    // Now the limit is known to be spent (until 2099, the fake's message says): the next push
    // waits for no review that cannot run and goes through, saying why; codex is not called.
    let calls = env.codex_calls().len();
    let out = git_as_user(&env, &repo, &["push", "origin", "main"]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("usage limit is spent"), "{said}");
    assert!(said.contains("without cxd's review"), "{said}");
    assert_eq!(
        remote_main(&remote),
        git(&repo, &["rev-parse", "HEAD"]).trim()
    );
    assert_eq!(env.codex_calls().len(), calls);
    // Installing again changes nothing.
    let again = env.ok(&["init", "git-hook", "--pre-push", repo.to_str().unwrap()]);
    assert!(again.contains("already runs"), "{again}");
}
