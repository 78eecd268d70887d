//! Edits committed before they settle are still reviewed, exactly once and as exactly that
//! edit; what git itself brings in (a checkout, a pull) still costs no review.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::time::Duration;

use cxd_e2e::{TestEnv, git, init_repo, wait_for};

const T: Duration = Duration::from_secs(30);

fn files_of(entry: &serde_json::Value) -> Vec<String> {
    entry["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect()
}

fn watched(env: &TestEnv, repo: &Path) {
    env.ok(&["watch", repo.to_str().unwrap()]);
}

/// The prompt of the `n`th codex call (from 1).
fn prompt(env: &TestEnv, n: usize) -> String {
    let calls = wait_for("the codex call", T, || {
        let c = env.codex_calls();
        (c.len() >= n).then_some(c)
    });
    calls[n - 1]["prompt"].as_str().unwrap().to_owned()
}

/// Edit SENTINEL and wait for its review: every review before it is in the log by then.
fn sentinel(env: &TestEnv, repo: &Path, before: usize) -> Vec<serde_json::Value> {
    std::fs::write(repo.join("SENTINEL"), format!("{before}\n")).unwrap();
    let reqs = env.wait_log("review_started", before + 1, T);
    assert_eq!(reqs.len(), before + 1, "{reqs:#?}");
    assert_eq!(files_of(&reqs[before]), ["SENTINEL"], "{reqs:#?}");
    reqs
}

#[test]
fn an_edit_committed_at_once_is_reviewed_once_as_that_edit() {
    let env = TestEnv::new();
    env.fast_settle();
    let repo = init_repo(env.dir.path(), "repo");
    let _d = env.start_daemon();
    watched(&env, &repo);
    std::fs::write(repo.join("README"), "hello\ncommitted at once\n").unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "quick"]);
    let reqs = env.wait_log("review_started", 1, T);
    assert_eq!(files_of(&reqs[0]), ["README"], "{:#?}", env.log_json(50));
    let p = prompt(&env, 1);
    assert!(p.contains("+committed at once"), "{p}");
    assert!(p.contains("- \"README\" (modified, +1 -0)"), "{p}");
    assert!(!p.contains("+hello"), "{p}");
    let reqs = sentinel(&env, &repo, 1);
    assert_eq!(reqs.len(), 2);
}

#[test]
fn commit_a_of_an_edit_is_reviewed_against_the_last_review() {
    let env = TestEnv::new();
    env.fast_settle();
    let repo = init_repo(env.dir.path(), "repo");
    let _d = env.start_daemon();
    watched(&env, &repo);
    std::fs::write(repo.join("README"), "one\n").unwrap();
    env.wait_reviews(1, T);
    std::fs::write(repo.join("README"), "two\n").unwrap();
    git(&repo, &["commit", "-q", "-am", "two"]);
    let reqs = env.wait_log("review_started", 2, T);
    assert_eq!(files_of(&reqs[1]), ["README"]);
    let p = prompt(&env, 2);
    assert!(p.contains("-one\n+two"), "{p}");
    env.wait_reviews(2, T);
    sentinel(&env, &repo, 2);
}

#[test]
fn a_partial_commit_reviews_both_edits_once() {
    let env = TestEnv::new();
    env.fast_settle();
    let repo = init_repo(env.dir.path(), "repo");
    let _d = env.start_daemon();
    watched(&env, &repo);
    std::fs::write(repo.join("README"), "hello\nstaged\n").unwrap();
    std::fs::write(repo.join("NOTES"), "left out\n").unwrap();
    git(&repo, &["add", "README"]);
    git(&repo, &["commit", "-q", "-m", "part"]);
    let reqs = env.wait_log("review_started", 1, T);
    assert_eq!(files_of(&reqs[0]), ["NOTES", "README"]);
    let p = prompt(&env, 1);
    assert!(p.contains("+staged") && p.contains("+left out"), "{p}");
    env.wait_reviews(1, T);
    sentinel(&env, &repo, 1);
}

#[test]
fn an_amended_edit_is_reviewed() {
    let env = TestEnv::new();
    env.fast_settle();
    let repo = init_repo(env.dir.path(), "repo");
    let _d = env.start_daemon();
    watched(&env, &repo);
    std::fs::write(repo.join("README"), "one\n").unwrap();
    env.wait_reviews(1, T);
    // The reviewed edit committed: nothing new.
    git(&repo, &["commit", "-q", "-am", "one"]);
    env.wait_log("head_moved", 1, T);
    std::fs::write(repo.join("README"), "two\n").unwrap();
    git(
        &repo,
        &["commit", "-q", "-a", "--amend", "-m", "one, amended"],
    );
    let reqs = env.wait_log("review_started", 2, T);
    assert_eq!(files_of(&reqs[1]), ["README"], "{:#?}", env.log_json(50));
    let p = prompt(&env, 2);
    assert!(p.contains("-one\n+two"), "{p}");
    env.wait_reviews(2, T);
    sentinel(&env, &repo, 2);
}

#[test]
fn a_checkout_and_a_pull_cost_no_review() {
    let env = TestEnv::new();
    env.fast_settle();
    let repo = init_repo(env.dir.path(), "repo");
    git(&repo, &["checkout", "-q", "-b", "other"]);
    std::fs::write(repo.join("OTHER"), "on other\n").unwrap();
    std::fs::write(repo.join("README"), "hello\nother\n").unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "other"]);
    git(&repo, &["checkout", "-q", "main"]);
    let upstream = env.dir.path().join("upstream");
    git(
        env.dir.path(),
        &[
            "clone",
            "-q",
            repo.to_str().unwrap(),
            upstream.to_str().unwrap(),
        ],
    );
    git(&upstream, &["checkout", "-q", "main"]);
    std::fs::write(upstream.join("PULLED"), "from upstream\n").unwrap();
    git(&upstream, &["add", "-A"]);
    git(&upstream, &["commit", "-q", "-m", "upstream"]);
    let _d = env.start_daemon();
    watched(&env, &repo);
    git(&repo, &["checkout", "-q", "other"]);
    env.wait_log("head_moved", 1, T);
    git(&repo, &["checkout", "-q", "main"]);
    env.wait_log("head_moved", 2, T);
    git(
        &repo,
        &[
            "pull",
            "-q",
            "--ff-only",
            upstream.to_str().unwrap(),
            "main",
        ],
    );
    env.wait_log("head_moved", 3, T);
    assert!(repo.join("PULLED").exists());
    sentinel(&env, &repo, 0);
}

#[test]
fn the_gate_is_not_up_to_date_while_a_committed_edit_is_unreviewed() {
    let env = TestEnv::new();
    env.write_config("[settle]\nquiet_ms = 2000\nmax_wait_ms = 20000\n");
    let repo = init_repo(env.dir.path(), "repo");
    let _d = env.start_daemon();
    watched(&env, &repo);
    std::fs::write(repo.join("README"), "hello\nsneaked in\n").unwrap();
    git(&repo, &["commit", "-q", "-am", "quick"]);
    // The watcher has seen the edit (the settle is pending); no review has run.
    wait_for("settling", T, || {
        (env.workspace()["state"] == "settling").then_some(())
    });
    let out = env.run(&["gate", repo.to_str().unwrap(), "--json"]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{r:#}");
    assert_eq!(r["up_to_date"], false, "{r:#}");
    let out = env.run(&["gate", repo.to_str().unwrap(), "--json", "--wait", "60"]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["up_to_date"], true, "{r:#}");
    assert_eq!(env.workspace()["reviews"], 1);
    assert!(prompt(&env, 1).contains("+sneaked in"));
}

fn hook(repo: &Path, name: &str, script: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = repo.join(".git/hooks").join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn an_edit_a_pre_commit_hook_makes_and_commits_is_reviewed_once_with_the_users() {
    let env = TestEnv::new();
    env.fast_settle();
    let repo = init_repo(env.dir.path(), "repo");
    // A formatter-like hook: it writes a file while git runs, and stages it.
    hook(
        &repo,
        "pre-commit",
        "echo 'written by the hook' > HOOKED\ngit add HOOKED",
    );
    let _d = env.start_daemon();
    watched(&env, &repo);
    std::fs::write(repo.join("README"), "hello\nby the user\n").unwrap();
    git(&repo, &["commit", "-q", "-am", "with a hook"]);
    assert_eq!(
        git(&repo, &["show", "HEAD:HOOKED"]),
        "written by the hook\n"
    );
    let reqs = env.wait_log("review_started", 1, T);
    assert_eq!(
        files_of(&reqs[0]),
        ["HOOKED", "README"],
        "{:#?}",
        env.log_json(50)
    );
    let p = prompt(&env, 1);
    assert!(
        p.contains("+by the user") && p.contains("+written by the hook"),
        "{p}"
    );
    env.wait_reviews(1, T);
    sentinel(&env, &repo, 1);
}

#[test]
fn a_commit_a_post_commit_hook_makes_is_reviewed_once() {
    let env = TestEnv::new();
    env.fast_settle();
    let repo = init_repo(env.dir.path(), "repo");
    // A hook that commits on its own (once: the guard file stops it recursing).
    hook(
        &repo,
        "post-commit",
        "[ -e .git/hooked ] && exit 0\ntouch .git/hooked\necho 'committed by the hook' > BYHOOK\ngit add BYHOOK\ngit commit -q -m 'by the hook'",
    );
    let _d = env.start_daemon();
    watched(&env, &repo);
    std::fs::write(repo.join("README"), "hello\nby the user\n").unwrap();
    git(&repo, &["commit", "-q", "-am", "user"]);
    assert_eq!(
        git(&repo, &["log", "--format=%s", "-2"]),
        "by the hook\nuser\n"
    );
    let reqs = env.wait_log("review_started", 1, T);
    assert_eq!(
        files_of(&reqs[0]),
        ["BYHOOK", "README"],
        "{:#?}",
        env.log_json(50)
    );
    let p = prompt(&env, 1);
    assert!(
        p.contains("+by the user") && p.contains("+committed by the hook"),
        "{p}"
    );
    env.wait_reviews(1, T);
    sentinel(&env, &repo, 1);
}

#[test]
fn an_edit_committed_while_a_review_runs_is_reviewed_once_as_the_follow_up() {
    let env = TestEnv::new();
    env.fast_settle();
    let repo = init_repo(env.dir.path(), "repo");
    let gate = env.dir.path().join("release");
    // The first review waits until the test has committed a second edit.
    env.script_codex(&serde_json::json!([
        {"mode": "slow", "seconds": 3, "answer": {"verdict": "approve", "summary": "s",
         "findings": [], "fixed_finding_ids": [], "still_open_ids": [], "rulings": []}}
    ]));
    let _ = gate;
    let _d = env.start_daemon();
    watched(&env, &repo);
    std::fs::write(repo.join("README"), "hello\nfirst\n").unwrap();
    wait_for("the first review to run", T, || {
        (env.workspace()["state"] == "reviewing").then_some(())
    });
    std::fs::write(repo.join("NOTES"), "second, committed during the review\n").unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "during"]);
    let reqs = env.wait_log("review_started", 2, T);
    assert_eq!(files_of(&reqs[0]), ["README"], "{reqs:#?}");
    assert_eq!(files_of(&reqs[1]), ["NOTES"], "{:#?}", env.log_json(50));
    let p = prompt(&env, 2);
    assert!(p.contains("+second, committed during the review"), "{p}");
    assert!(!p.contains("+first"), "{p}");
    env.wait_reviews(2, T);
    sentinel(&env, &repo, 2);
}

#[test]
fn a_gate_right_after_a_commit_of_an_unreviewed_edit_is_not_up_to_date() {
    let env = TestEnv::new();
    // A long quiet period: only the gate looks at the tree in this test.
    env.write_config("[settle]\nquiet_ms = 60000\nmax_wait_ms = 120000\n");
    let repo = init_repo(env.dir.path(), "repo");
    // Many empty directories: nothing to review, but a change of the ignore rules has the
    // watcher walk them all again, so its report of what follows comes late.
    for i in 0..100 {
        for j in 0..100 {
            std::fs::create_dir_all(repo.join(format!("busy/d{i}/e{j}"))).unwrap();
        }
    }
    let _d = env.start_daemon();
    watched(&env, &repo);
    for round in 0..2 {
        std::fs::write(repo.join(".gitignore"), "target/\nnode_modules/\n").unwrap();
        std::fs::write(repo.join("README"), format!("hello\nround {round}\n")).unwrap();
        git(&repo, &["commit", "-q", "-am", &format!("round {round}")]);
        // At once: the watcher may not have reported the edit nor the commit yet.
        let out = env.run(&["gate", repo.to_str().unwrap(), "--json"]);
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(r["up_to_date"], false, "round {round}: {r:#}");
        assert_eq!(out.status.code(), Some(1), "round {round}: {r:#}");
    }
    // Nothing was lost: one review now covers every round's edit.
    let out = env.run(&["gate", repo.to_str().unwrap(), "--json", "--wait", "60"]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["up_to_date"], true, "{r:#}");
    assert_eq!(env.codex_calls().len(), 1);
    let p = prompt(&env, 1);
    assert!(p.contains(" hello\n+round 1\n"), "{p}");
}
