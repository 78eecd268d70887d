//! The pre-push hook on a real local bare remote: the pushed commits no review covered are
//! reviewed (once), a blocking finding refuses the push with the way out printed, a dismissal
//! lets it through, and a commit already reviewed as an edit costs no second review.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use cxd_e2e::remote::{
    commit, git_as_user, output_text as text, pushed_bug_answer as blocking_answer, remote_main,
    with_remote,
};
use cxd_e2e::{TestEnv, git};
use serde_json::json;

const T: Duration = Duration::from_secs(30);

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
