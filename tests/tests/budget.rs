//! `[budget]`: over a limit no review starts by itself, edits accumulate, status shows spend
//! against the budget, the hooks fail open saying "budget reached", and once the limit frees
//! up (the daemon's clock is moved through `CXD_CLOCK_FILE`, no sleeps) one review covers it all.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use cxd_e2e::{Clock, Daemon, FIVE_PM, TestEnv, init_repo};
use serde_json::json;

const T: Duration = Duration::from_secs(30);

fn start(env: &TestEnv, budget: &str) -> (Daemon, Clock) {
    env.write_config(&format!(
        "[settle]\nquiet_ms = 200\nmax_wait_ms = 2000\n[budget]\n{budget}"
    ));
    let clock = Clock(env.dir.path().join("clock"));
    clock.set(FIVE_PM);
    let path = clock.0.clone();
    let d = env.start_daemon_with(|c| {
        c.env("CXD_CLOCK_FILE", &path);
    });
    (d, clock)
}

#[test]
fn over_the_hourly_budget_edits_wait_and_one_review_covers_them_when_it_frees_up() {
    let env = TestEnv::new();
    let (_d, clock) = start(&env, "reviews_per_hour = 2\n");
    let repo = init_repo(env.dir.path(), "repo");
    env.ok(&["watch", repo.to_str().unwrap()]);
    for (n, text) in [(1, "one\n"), (2, "two\n")] {
        std::fs::write(repo.join("README"), text).unwrap();
        env.wait_reviews(n, T);
    }
    std::fs::write(repo.join("README"), "three\n").unwrap();
    let w = env.wait_state("halted", T);
    let error = w["error"].as_str().unwrap();
    assert!(
        error.starts_with("budget reached: 2 of 2 reviews this hour (budget.reviews_per_hour)")
            && error.ends_with("resumes at 18:00"),
        "{error}"
    );
    assert_eq!(w["resumes_at"], "2030-03-17T18:00:00Z");
    let status = env.status_json();
    assert_eq!(
        status["budget"],
        json!({"reviews_this_hour": 2, "reviews_per_hour": 2, "input_tokens_today": status["budget"]["input_tokens_today"], "input_tokens_per_day": null})
    );
    let text = env.ok(&["status"]);
    assert!(
        text.contains("budget  2 review(s) this hour of 2"),
        "{text}"
    );
    assert_eq!(env.codex_calls().len(), 2, "no codex run over budget");

    // More edits pile up; the stop hook and the gate say so and let through.
    std::fs::write(repo.join("a.rs"), "fn a() {}\n").unwrap();
    let (v, plan_answer) = env.stop_and_plan_hooks(&repo);
    assert!(v.get("decision").is_none(), "{v}");
    let msg = v["systemMessage"].as_str().unwrap();
    assert!(msg.contains("budget reached"), "{msg}");
    let v = plan_answer;
    assert!(v.get("hookSpecificOutput").is_none(), "{v}");
    assert!(
        v["systemMessage"]
            .as_str()
            .unwrap()
            .contains("budget reached"),
        "{v}"
    );
    let out = env.run(&["gate", repo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("budget reached"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(env.codex_calls().len(), 2);

    // An hour after the first review, one review covers everything pending.
    clock.set(FIVE_PM + 3600);
    let w = env.wait_reviews(3, T);
    assert_eq!(w["state"], "idle");
    let calls = env.codex_calls();
    assert_eq!(calls.len(), 3);
    let prompt = calls[2]["prompt"].as_str().unwrap();
    assert!(
        prompt.contains("a.rs") && prompt.contains("+three"),
        "{prompt}"
    );
    let resumed = env.log_kind("resumed");
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0]["after"], "budget");
}

#[test]
fn over_the_daily_token_budget_reviews_wait_for_midnight_but_cxd_review_runs() {
    let env = TestEnv::new();
    env.script_codex(&json!([{"answer": {"verdict": "approve", "summary": "ok", "findings": [],
        "fixed_finding_ids": []}, "usage": {"input_tokens": 150, "cached_input_tokens": 0, "output_tokens": 5}}]));
    let (_d, clock) = start(&env, "input_tokens_per_day = 100\n");
    let repo = init_repo(env.dir.path(), "repo");
    let r = repo.to_str().unwrap();
    env.ok(&["watch", r]);
    std::fs::write(repo.join("README"), "one\n").unwrap();
    env.wait_reviews(1, T);
    std::fs::write(repo.join("README"), "two\n").unwrap();
    let w = env.wait_state("halted", T);
    assert!(
        w["error"]
            .as_str()
            .unwrap()
            .starts_with("budget reached: 150 of 100 input tokens today"),
        "{w}"
    );
    assert_eq!(w["resumes_at"], "2030-03-18T00:00:00Z");
    assert_eq!(env.status_json()["budget"]["input_tokens_today"], 150);
    // The user may still spend on purpose.
    env.ok(&["review", r, "--wait"]);
    assert_eq!(env.codex_calls().len(), 2);
    // `cxd gate --wait` (a script's check) does not: it says why and starts nothing.
    std::fs::write(repo.join("README"), "two and a half\n").unwrap();
    let out = env.run(&["gate", r, "--wait", "20"]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("budget reached"), "{said}");
    assert_eq!(env.codex_calls().len(), 2);
    // A new day frees the budget.
    std::fs::write(repo.join("README"), "three\n").unwrap();
    env.wait_state("halted", T);
    clock.set(FIVE_PM + 7 * 3600 + 1);
    env.wait_reviews(3, T);
}

#[test]
fn a_bad_budget_value_names_file_line_and_key() {
    let env = TestEnv::new();
    for (text, want) in [
        (
            "[budget]\n\nreviews_per_hour = \"ten\"\n",
            ":3: budget.reviews_per_hour:",
        ),
        (
            "[budget]\ninput_tokens_per_day = 0\n",
            ":2: budget.input_tokens_per_day: must be at least 1",
        ),
    ] {
        env.write_config(text);
        let out = env.run(&["daemon", "--log-stderr"]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{text}: {err}");
    }
}
