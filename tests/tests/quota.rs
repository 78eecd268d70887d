//! A spent usage limit: the reset time codex prints is read, status shows it, the hooks fail
//! open with it, and when the daemon's clock (set through `CXD_CLOCK_FILE`, no sleeps) passes
//! it, exactly one review of what is pending runs, workspaces one at a time.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::time::Duration;

use cxd_e2e::{Clock, Daemon, FIVE_PM, TestEnv, init_repo, wait_for};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);

const SAME_DAY: &str = "You've hit your usage limit. Visit https://chatgpt.com/codex/settings/usage to purchase more credits or try again at 5:46 PM.";

/// A daemon (in UTC, as every test's) whose clock reads 17:00 from a file the test moves.
fn start(env: &TestEnv) -> (Daemon, Clock) {
    env.write_config("[settle]\nquiet_ms = 200\nmax_wait_ms = 2000\n");
    let clock = Clock(env.dir.path().join("clock"));
    clock.set(FIVE_PM);
    let path = clock.0.clone();
    let d = env.start_daemon_with(|c| {
        c.env("CXD_CLOCK_FILE", &path);
    });
    (d, clock)
}

fn ws(env: &TestEnv, root: &Path) -> Value {
    env.status_json()["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["root"].as_str() == root.to_str())
        .unwrap()
        .clone()
}

#[test]
fn a_spent_limit_resumes_by_itself_at_the_reset_with_one_review_of_everything_pending() {
    let env = TestEnv::new();
    env.script_codex(&json!([{"mode": "fail_quota", "message": SAME_DAY}]));
    let (_d, clock) = start(&env);
    let repo = init_repo(env.dir.path(), "repo");
    env.ok(&["watch", repo.to_str().unwrap()]);
    std::fs::write(repo.join("README"), "hello\nworld\n").unwrap();
    let w = wait_for("the quota halt", T, || {
        let w = ws(&env, &repo);
        (w["state"] == "halted").then_some(w)
    });
    assert_eq!(w["resumes_at"], "2030-03-17T17:46:00Z", "{w}");
    assert_eq!(w["last_review"]["error_class"], "quota");
    let text = env.ok(&["status"]);
    assert!(text.contains("quota — resumes at 17:46"), "{text}");

    // Meanwhile edits pile up, and nothing reviews them.
    std::fs::write(repo.join("a.rs"), "fn a() {}\n").unwrap();
    std::fs::write(repo.join("b.rs"), "fn b() {}\n").unwrap();
    wait_for("the edits to be seen", T, || {
        (ws(&env, &repo)["pending_files"].as_u64() == Some(0)).then_some(())
    });

    // The stop hook and the plan check fail open, saying why and when.
    let (v, plan_answer) = env.stop_and_plan_hooks(&repo);
    assert!(v.get("decision").is_none(), "{v}");
    let msg = v["systemMessage"].as_str().unwrap();
    assert!(msg.contains("quota — resumes at 17:46"), "{msg}");
    let v = plan_answer;
    assert!(v.get("hookSpecificOutput").is_none(), "{v}");
    let msg = v["systemMessage"].as_str().unwrap();
    assert!(
        msg.contains("usage limit is spent") && msg.contains("17:46"),
        "{msg}"
    );
    assert_eq!(
        env.codex_calls().len(),
        1,
        "no codex run while the limit is spent"
    );

    // The clock jumps well past the reset (a laptop waking up): one review covers it all.
    clock.set(FIVE_PM + 3 * 3600);
    let w = wait_for("the review after the reset", T, || {
        let w = ws(&env, &repo);
        (w["reviews"].as_u64() == Some(2) && w["state"] == "idle").then_some(w)
    });
    assert_eq!(w["last_review"]["verdict"], "approve");
    assert_eq!(w["resumes_at"], Value::Null);
    let calls = env.codex_calls();
    assert_eq!(calls.len(), 2);
    let prompt = calls[1]["prompt"].as_str().unwrap();
    assert!(
        prompt.contains("a.rs") && prompt.contains("b.rs") && prompt.contains("README"),
        "one review of everything pending: {prompt}"
    );
    let resumed = env.log_kind("resumed");
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0]["after"], "quota");
}

#[test]
fn an_unreadable_reset_time_halts_with_the_raw_text_and_never_guesses() {
    let env = TestEnv::new();
    let odd = "You've hit your usage limit. Try again after the full moon.";
    env.script_codex(&json!([{"mode": "fail_quota", "message": odd}]));
    let (_d, clock) = start(&env);
    let repo = init_repo(env.dir.path(), "repo");
    env.ok(&["watch", repo.to_str().unwrap()]);
    std::fs::write(repo.join("README"), "hello\nworld\n").unwrap();
    let w = wait_for("the quota halt", T, || {
        let w = ws(&env, &repo);
        (w["state"] == "halted").then_some(w)
    });
    assert_eq!(w["resumes_at"], Value::Null);
    assert_eq!(w["last_review"]["error_class"], "quota");
    assert!(
        w["error"].as_str().unwrap().contains("after the full moon"),
        "{w}"
    );
    clock.set(FIVE_PM + 86_400 * 30);
    std::fs::write(repo.join("README"), "hello\nagain\n").unwrap();
    wait_for("the edit to be seen", T, || {
        (ws(&env, &repo)["pending_files"].as_u64() == Some(0)).then_some(())
    });
    assert_eq!(ws(&env, &repo)["state"], "halted");
    assert_eq!(env.codex_calls().len(), 1);
}

#[test]
fn workspaces_whose_limits_reset_together_resume_one_at_a_time() {
    let env = TestEnv::new();
    env.script_codex(&json!([
        {"mode": "fail_quota", "message": SAME_DAY},
        {"mode": "fail_quota", "message": SAME_DAY},
    ]));
    let (_d, clock) = start(&env);
    let repos = [
        init_repo(env.dir.path(), "one"),
        init_repo(env.dir.path(), "two"),
    ];
    for r in &repos {
        env.ok(&["watch", r.to_str().unwrap()]);
        std::fs::write(r.join("README"), "hello\nworld\n").unwrap();
    }
    wait_for("both halted", T, || {
        repos
            .iter()
            .all(|r| ws(&env, r)["state"] == "halted")
            .then_some(())
    });
    clock.set(FIVE_PM + 3600);
    let first = wait_for("one resumed", T, || {
        repos
            .iter()
            .position(|r| ws(&env, r)["reviews"].as_u64() == Some(2))
    });
    let other = &repos[1 - first];
    let w = ws(&env, other);
    assert_eq!(w["state"], "halted", "the other waits its turn: {w}");
    assert_eq!(env.codex_calls().len(), 3);
    // Its turn comes 30 seconds later.
    clock.set(FIVE_PM + 3600 + 31);
    wait_for("the other resumed", T, || {
        (ws(&env, other)["reviews"].as_u64() == Some(2)).then_some(())
    });
    assert_eq!(env.codex_calls().len(), 4);
}
