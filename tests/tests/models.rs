//! Model and effort by purpose: `[review.<purpose>]` sections, the size rule, and status/log
//! saying which model ran and why.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use cxd_e2e::{TestEnv, argv, init_repo};
use serde_json::Value;

const T: Duration = Duration::from_secs(30);

/// The value after `flag` in the argv of codex call `n`.
fn flag(env: &TestEnv, n: usize, flag: &str) -> String {
    let a = argv(&env.codex_calls()[n]);
    let i = a.iter().position(|x| x == flag).unwrap();
    a[i + 1].clone()
}

#[test]
fn each_purpose_runs_its_model_and_a_big_change_the_large_model() {
    let env = TestEnv::new();
    env.write_config(
        "[settle]\nquiet_ms = 200\nmax_wait_ms = 2000\n\
         [review]\nmodel = \"base\"\neffort = \"medium\"\nlarge_model = \"big\"\nlarge_effort = \"xhigh\"\nlarge_diff_lines = 20\n\
         [review.edit]\nmodel = \"mini\"\neffort = \"low\"\n\
         [review.manual]\neffort = \"high\"\n\
         [review.plan]\nmodel = \"planner\"\n",
    );
    let repo = init_repo(env.dir.path(), "repo");
    let r = repo.to_str().unwrap();
    let _d = env.start_daemon();
    env.ok(&["watch", r]);

    // A small edit burst: the edit section's model and effort.
    std::fs::write(repo.join("README"), "hello\nworld\n").unwrap();
    let w = env.wait_reviews(1, T);
    assert_eq!(flag(&env, 0, "-m"), "mini");
    assert_eq!(flag(&env, 0, "-c"), "model_reasoning_effort=low");
    assert_eq!(
        w["last_review"]["model_reason"],
        "edit review, small: mini low"
    );
    let text = env.ok(&["status"]);
    assert!(
        text.contains("edit review, small: mini low"),
        "status says which model and why:\n{text}"
    );

    // A manual review: [review.model] with the manual section's effort.
    std::fs::write(repo.join("README"), "hello\nworld\nagain\n").unwrap();
    let out = env.run(&["review", r, "--wait", "--json"]);
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        done["review"]["model_reason"],
        "manual review, small: base high"
    );
    let manual = env.codex_calls().len() - 1;
    assert_eq!(flag(&env, manual, "-m"), "base");

    // A big change goes to the large model, whatever its purpose.
    let big: String = (0..30).map(|i| format!("line {i}\n")).collect();
    std::fs::write(repo.join("README"), big).unwrap();
    let out = env.run(&["review", r, "--wait", "--json"]);
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    let reason = done["review"]["model_reason"].as_str().unwrap();
    assert!(
        reason.starts_with("manual review, large (") && reason.ends_with("): big xhigh"),
        "{reason}"
    );
    let last = env.codex_calls().len() - 1;
    assert_eq!(flag(&env, last, "-m"), "big");

    // `--model` wins, and says so.
    let mut bigger: String = (0..30).map(|i| format!("line {i}\n")).collect();
    bigger.push_str("one more\n");
    std::fs::write(repo.join("README"), bigger).unwrap();
    let out = env.run(&["review", r, "--wait", "--json", "--model", "chosen"]);
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        done["review"]["model_reason"],
        "manual review, small, as asked: chosen high"
    );

    // A plan validation: the plan section's model.
    let out = cxd_e2e::run_with_stdin(
        env.cmd(&["plan", "-", r, "--wait", "--json"]),
        b"1. Do the thing.\n",
    );
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        done["review"]["model_reason"],
        "plan validation: planner medium"
    );

    // The log says why each review ran with its model.
    let started: Vec<String> = env
        .log_kind("review_started")
        .iter()
        .map(|e| e["reason"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(started.len(), 5, "{started:?}");
    assert!(
        started.contains(&"edit review, small: mini low".to_owned()),
        "{started:?}"
    );
    let text = env.ok(&["log", "-n", "50"]);
    assert!(text.contains("plan validation: planner medium"), "{text}");
}

#[test]
fn a_bad_purpose_key_names_file_line_and_key() {
    let env = TestEnv::new();
    env.write_config("[review.stop]\nmodel = \"--yolo\"\n");
    let out = env.run(&["daemon", "--log-stderr"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(":2: review.stop.model"), "{err}");
}
