//! Bounded thread cost: once the thread's newest review sent `review.max_thread_input_tokens`
//! or more, the next review starts a new thread with a brief, and what earlier reviews
//! established (open findings, the last summary) carries over.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use cxd_e2e::{TestEnv, answer, argv, finding, init_repo};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);

#[test]
fn a_thread_past_its_size_is_replaced_by_a_new_one_that_resolves_the_old_findings() {
    let env = TestEnv::new();
    env.write_config(
        "[settle]\nquiet_ms = 200\nmax_wait_ms = 2000\n[review]\nmax_thread_input_tokens = 1000\n",
    );
    let bug = vec![finding("greeting lost").file("README")];
    env.script_codex(&json!([
        answer(bug)
            .verdict("changes_requested")
            .summary("The greeting went missing.")
            .usage(600, 0, 10),
        answer(vec![])
            .verdict("changes_requested")
            .summary("Still missing the greeting.")
            .usage(1200, 0, 10),
        answer(vec![])
            .verdict("approve")
            .summary("Greeting restored.")
            .fixed(&["F1"])
            .usage(700, 0, 10),
    ]));
    let repo = init_repo(env.dir.path(), "repo");
    let r = repo.to_str().unwrap();
    let _d = env.start_daemon();
    env.ok(&["watch", r]);

    std::fs::write(repo.join("README"), "bye\n").unwrap();
    let w = env.wait_reviews(1, T);
    let first_thread = w["thread_id"].as_str().unwrap().to_owned();
    std::fs::write(repo.join("README"), "bye\nbye\n").unwrap();
    env.wait_reviews(2, T);
    // The second review resumed the thread, and `cxd session` shows its size.
    assert_eq!(argv(&env.codex_calls()[1])[1], "resume");
    let out = env.run(&["session", r]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), first_thread);
    let size = String::from_utf8_lossy(&out.stderr);
    assert!(
        size.contains("its last review sent 1200 input tokens")
            && size.contains("once a review sends 1000 or more"),
        "{size}"
    );

    // The thread passed 1000 tokens: the third review starts a new one, with a brief.
    std::fs::write(repo.join("README"), "hello\n").unwrap();
    let w = env.wait_reviews(3, T);
    let calls = env.codex_calls();
    let a = argv(&calls[2]);
    assert_ne!(a[1], "resume", "a new thread: {a:?}");
    let prompt = calls[2]["prompt"].as_str().unwrap();
    assert!(
        prompt.starts_with("This is a new review thread for this workspace"),
        "{prompt}"
    );
    assert!(prompt.contains("Still missing the greeting."), "{prompt}");
    assert!(
        prompt.contains("greeting lost"),
        "the open finding is listed: {prompt}"
    );
    // The finding opened before the rotation is resolved after it.
    assert_eq!(w["last_review"]["verdict"], "approve");
    assert_ne!(w["thread_id"].as_str().unwrap(), first_thread);
    let findings: Value =
        serde_json::from_str(&env.ok(&["findings", r, "--all", "--json"])).unwrap();
    assert_eq!(findings[0]["id"], "F1");
    assert_eq!(findings[0]["status"], "resolved", "{findings:#}");
    // The rotation is in the log.
    let rotated = env.log_kind("thread_rotated");
    assert_eq!(rotated.len(), 1);
    assert_eq!(rotated[0]["from"], first_thread.as_str());
    assert_eq!(rotated[0]["input_tokens"], 1200);
    // The new thread is resumed by the next review (it is small again).
    std::fs::write(repo.join("README"), "hello\nagain\n").unwrap();
    env.wait_reviews(4, T);
    assert_eq!(argv(&env.codex_calls()[3])[1], "resume");
}
