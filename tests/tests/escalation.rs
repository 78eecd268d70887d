//! Escalation: when more rounds cannot settle it (an upheld dispute, an architecture finding, a
//! plateau), the stop hook stops asking for fixes and hands the decision to the user, and the
//! workspace shows `needs you` until a person answers.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::time::Duration;

use cxd_e2e::{SETTLE_FAST_STOP_WAIT, TestEnv, answer, finding, wait_for};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);

fn stop(env: &TestEnv, repo: &Path, active: bool) -> Value {
    let event = json!({"session_id": "sess-1", "transcript_path": "/tmp/t.jsonl", "cwd": repo,
        "hook_event_name": "Stop", "stop_hook_active": active, "last_assistant_message": "Done."});
    let out = env.hook("stop", &event);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&out.stdout)))
}

/// The agent writes `content` to src.rs, and its edit hook says so.
fn agent_writes(env: &TestEnv, repo: &Path, content: &str) {
    let path = repo.join("src.rs");
    std::fs::write(&path, content).unwrap();
    env.hook(
        "post-tool-use",
        &json!({"session_id": "sess-1", "cwd": repo, "hook_event_name": "PostToolUse",
                "tool_name": "Write", "tool_input": {"file_path": path, "content": content}}),
    );
}

/// The escalation block: stop fixing, ask the user with AskUserQuestion.
fn assert_escalates(v: &Value, why: &str) {
    assert_eq!(v["decision"], "block", "{v}");
    let reason = v["reason"].as_str().unwrap();
    assert!(reason.contains("AskUserQuestion"), "{reason}");
    assert!(reason.contains("Stop changing code now"), "{reason}");
    assert!(reason.contains(why), "{reason}");
}

fn needs_you(env: &TestEnv) -> Value {
    env.workspace()["needs_you"].clone()
}

#[test]
fn an_upheld_dispute_escalates_once_and_a_dismissal_answers_it() {
    let (env, repo) = TestEnv::with_repo(SETTLE_FAST_STOP_WAIT);
    env.script_codex(&json!([
        answer(vec![
            finding("overflow")
                .category("bug")
                .line(1)
                .recommendation("do it right")
        ])
        .rulings(json!([])),
        answer(vec![
            finding("overflow again")
                .category("bug")
                .line(1)
                .recommendation("do it right")
        ])
        .rulings(json!([{"id": "F1", "ruling": "uphold", "reply": "still overflows"}])),
    ]));
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    std::fs::write(repo.join("src.rs"), "fn f() {}\n").unwrap();
    let v = stop(&env, &repo, false);
    assert_eq!(v["decision"], "block", "{v}");
    assert!(!v["reason"].as_str().unwrap().contains("AskUserQuestion"));
    assert_eq!(needs_you(&env), Value::Null);
    env.ok(&[
        "dispute",
        "F1",
        repo.to_str().unwrap(),
        "--session",
        "sess-1",
        "--reason",
        "it cannot overflow",
    ]);

    // Codex upholds it: the hook hands the decision to the user.
    let v = stop(&env, &repo, true);
    assert_escalates(&v, "Codex upheld a finding that was disputed");
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .contains("Codex upheld it (review #2): still overflows"),
        "{v}"
    );
    let n = needs_you(&env);
    assert_eq!(n["why"], "upheld", "{n}");
    assert_eq!(n["findings"], json!(["F1"]));
    assert!(n["since"].as_str().is_some_and(|s| !s.is_empty()));
    let text = env.ok(&["status", repo.to_str().unwrap()]);
    assert!(text.contains("needs you  upheld since"), "{text}");
    let esc = env.log_kind("escalation");
    assert_eq!(esc.len(), 1);
    assert_eq!(esc[0]["why"], "upheld");
    assert_eq!(esc[0]["findings"], json!(["F1"]));

    // While it stands, Claude may stop: blocking again would only burn its turns.
    let v = stop(&env, &repo, true);
    assert!(v.get("decision").is_none(), "{v}");
    assert!(
        v["systemMessage"]
            .as_str()
            .unwrap()
            .contains("waiting for you (upheld: F1)"),
        "{v}"
    );
    assert_eq!(env.log_kind("escalation").len(), 1, "raised once");

    // A person answers by dismissing the finding.
    env.ok(&[
        "dismiss",
        "F1",
        repo.to_str().unwrap(),
        "--reason",
        "we accept the risk",
    ]);
    assert_eq!(needs_you(&env), Value::Null);
    assert_eq!(env.log_kind("escalation_answered")[0]["by"], "dismissal");
    let log = env.ok(&["log", repo.to_str().unwrap()]);
    assert!(
        log.contains("needs you: upheld (F1) — session sess-1")
            && log.contains("answered by dismissal"),
        "{log}"
    );
    let text = env.ok(&["status", repo.to_str().unwrap()]);
    assert!(!text.contains("needs you"), "{text}");
}

#[test]
fn an_architecture_finding_escalates_at_once_and_an_approval_answers_it() {
    let (env, repo) = TestEnv::with_repo(SETTLE_FAST_STOP_WAIT);
    env.script_codex(&json!([answer(vec![
        finding("the cache belongs in the store layer")
            .category("architecture")
            .line(1)
            .recommendation("do it right")
    ])
    .rulings(json!([]))]));
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    std::fs::write(repo.join("src.rs"), "fn f() {}\n").unwrap();
    let v = stop(&env, &repo, false);
    assert_escalates(&v, "about the architecture");
    assert_eq!(needs_you(&env)["why"], "architecture");
    assert_eq!(env.workspace()["loop"]["trend"], "needs_you");
    env.ok(&["approve", repo.to_str().unwrap()]);
    assert_eq!(needs_you(&env), Value::Null);
    assert_eq!(env.log_kind("escalation_answered")[0]["by"], "approval");
}

#[test]
fn a_plateau_escalates_and_status_shows_the_rounds() {
    let (env, repo) = TestEnv::with_repo(&format!("{SETTLE_FAST_STOP_WAIT}max_rounds = 10\n"));
    // Each review fixes the last finding and opens a new one in its place.
    env.script_codex(&json!([
        answer(vec![
            finding("a")
                .category("bug")
                .line(1)
                .recommendation("do it right")
        ])
        .rulings(json!([])),
        answer(vec![
            finding("b")
                .category("edge-case")
                .line(2)
                .recommendation("do it right")
        ])
        .fixed(&["F1"])
        .rulings(json!([])),
        answer(vec![
            finding("c")
                .category("performance")
                .line(3)
                .recommendation("do it right")
        ])
        .fixed(&["F2"])
        .rulings(json!([])),
    ]));
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    agent_writes(&env, &repo, "fn a() {}\n");
    let v = stop(&env, &repo, false);
    assert_eq!(v["decision"], "block", "{v}");
    agent_writes(&env, &repo, "fn a() {}\nfn b() {}\n");
    let v = stop(&env, &repo, true);
    assert_eq!(v["decision"], "block", "{v}");
    assert!(
        !v["reason"].as_str().unwrap().contains("AskUserQuestion"),
        "one churn is no plateau"
    );
    let l = env.workspace()["loop"].clone();
    assert_eq!(l["trend"], "converging", "{l}");
    agent_writes(&env, &repo, "fn a() {}\nfn b() {}\nfn c() {}\n");
    let v = stop(&env, &repo, true);
    assert_escalates(
        &v,
        "the last two reviews each opened as many blocking findings as they closed",
    );

    let w = env.workspace();
    assert_eq!(w["needs_you"]["why"], "plateau", "{w}");
    assert_eq!(w["needs_you"]["findings"], json!(["F3"]));
    let l = &w["loop"];
    assert_eq!(l["session"], "sess-1", "{l}");
    assert_eq!(l["round"], 3);
    assert_eq!(l["trend"], "needs_you");
    let per_round: Vec<(u64, u64, u64)> = l["rounds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["opened"].as_u64().unwrap(),
                r["fixed"].as_u64().unwrap(),
                r["blocking_closed"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(per_round, [(1, 0, 0), (1, 1, 1), (1, 1, 1)]);
    let text = env.ok(&["status", repo.to_str().unwrap()]);
    assert!(text.contains("needs you  plateau since"), "{text}");
    assert!(
        text.contains("loop      round 3 — needs you (session sess-1)"),
        "{text}"
    );
    assert!(
        text.contains(" 3. #3    opened 1 (1 blocking), carried 0, fixed 1, withdrawn 0"),
        "{text}"
    );

    // A person's own edit (not reported by the agent's hook) answers it.
    std::fs::write(repo.join("notes.txt"), "decided: keep going\n").unwrap();
    wait_for("needs you answered by the edit", T, || {
        (needs_you(&env) == Value::Null).then_some(())
    });
    assert_eq!(env.log_kind("escalation_answered")[0]["by"], "human_edit");
}

#[test]
fn infrastructure_trouble_still_fails_open_while_an_escalation_stands() {
    let (env, repo) = TestEnv::with_repo(SETTLE_FAST_STOP_WAIT);
    env.script_codex(&json!([
        answer(vec![finding("layering").category("architecture").line(1).recommendation("do it right")]).rulings(json!([])),
        {"mode": "fail_quota"},
    ]));
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    agent_writes(&env, &repo, "fn f() {}\n");
    assert_escalates(&stop(&env, &repo, false), "architecture");
    // The agent edits anyway and codex fails: the hook lets Claude stop, saying why; the
    // decision still waits for a person.
    agent_writes(&env, &repo, "fn g() {}\n");
    let v = stop(&env, &repo, false);
    assert!(v.get("decision").is_none(), "{v}");
    let msg = v["systemMessage"].as_str().unwrap();
    assert!(msg.contains("quota") && msg.contains("cxd pause"), "{msg}");
    assert_eq!(
        needs_you(&env)["why"],
        "architecture",
        "{:?}",
        env.log_json(30)
    );
}
