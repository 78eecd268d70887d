//! Claude Code hooks through the real binary, with real-shaped hook JSON on stdin.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use cxd_e2e::{SETTLE_FAST, TestEnv, answer, finding, wait_for};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);

fn hook(env: &TestEnv, event: &str, input: &Value) -> Output {
    env.hook(event, input)
}

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&out.stdout)))
}

/// A Write as Claude Code 2.1 reports it to PostToolUse.
fn write_event(repo: &Path, file: &str, content: &str, session: &str) -> Value {
    let path = repo.join(file);
    std::fs::write(&path, content).unwrap();
    json!({
        "session_id": session,
        "transcript_path": "/tmp/transcript.jsonl",
        "cwd": repo,
        "permission_mode": "acceptEdits",
        "hook_event_name": "PostToolUse",
        "tool_name": "Write",
        "tool_input": {"file_path": path, "content": content},
        "tool_response": {"type": "create", "filePath": path, "content": content, "structuredPatch": []}
    })
}

fn stop_event(repo: &Path, session: &str, active: bool) -> Value {
    json!({"session_id": session, "transcript_path": "/tmp/t.jsonl", "cwd": repo, "hook_event_name": "Stop",
           "stop_hook_active": active, "last_assistant_message": "Done."})
}

#[test]
fn post_tool_use_attributes_the_edit_and_passes_findings_on_once() {
    let (env, repo) = TestEnv::with_repo(SETTLE_FAST);
    env.script_codex(&json!([answer([finding("overflow")
        .line(3)
        .recommendation("check the bound")])]));
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    let started = Instant::now();
    let out = hook(
        &env,
        "post-tool-use",
        &write_event(&repo, "src.rs", "fn main() {}\n", "sess-1"),
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(out.stdout.is_empty(), "nothing to report yet");
    let edits = env.wait_log("edit", 1, T);
    assert_eq!(edits[0]["by"], "agent");
    assert_eq!(edits[0]["session"], "sess-1");
    assert_eq!(edits[0]["files"], json!(["src.rs"]));
    wait_for("the review", T, || {
        (env.workspace()["reviews"] == 1).then_some(())
    });
    // The next edit hears about the finding, once.
    let out = hook(
        &env,
        "post-tool-use",
        &write_event(&repo, "other.rs", "x\n", "sess-1"),
    );
    let v = stdout_json(&out);
    assert_eq!(v["hookSpecificOutput"]["hookEventName"], "PostToolUse");
    let ctx = v["hookSpecificOutput"]["additionalContext"]
        .as_str()
        .unwrap();
    assert!(
        ctx.contains("F1 [high] src.rs:3: overflow — fix: check the bound"),
        "{ctx}"
    );
    // A finding the agent believes wrong is argued, not ignored: it is told how.
    assert!(
        ctx.contains("cxd dispute F1 --session sess-1 --reason"),
        "{ctx}"
    );
    let out = hook(
        &env,
        "post-tool-use",
        &write_event(&repo, "other.rs", "y\n", "sess-1"),
    );
    assert!(
        out.stdout.is_empty(),
        "told once: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Another session has not heard it yet.
    let out = hook(
        &env,
        "post-tool-use",
        &write_event(&repo, "other.rs", "z\n", "sess-2"),
    );
    assert!(
        stdout_json(&out)["hookSpecificOutput"]["additionalContext"]
            .as_str()
            .unwrap()
            .contains("overflow")
    );
}

#[test]
fn hooks_stay_out_of_the_way() {
    let (env, repo) = TestEnv::with_repo(SETTLE_FAST);
    // No daemon: the edit hook is silent.
    let out = hook(
        &env,
        "post-tool-use",
        &write_event(&repo, "a.rs", "x\n", "s"),
    );
    assert!(out.stdout.is_empty());
    // The stop hook lets Claude stop and says why.
    let out = hook(&env, "stop", &stop_event(&repo, "s", false));
    let v = stdout_json(&out);
    assert!(v.get("decision").is_none());
    assert!(
        v["systemMessage"]
            .as_str()
            .unwrap()
            .contains("daemon is not running"),
        "{v}"
    );
    let _d = env.start_daemon();
    // Garbage input, or an unwatched tree: nothing at all.
    for input in [
        json!("not an object"),
        json!({"tool_input": 5}),
        write_event(&repo, "a.rs", "y\n", "s"),
    ] {
        for event in ["post-tool-use", "stop", "pre-tool-use"] {
            let out = hook(&env, event, &input);
            assert!(
                out.stdout.is_empty(),
                "{event} {input}: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
    let mut child = env
        .cmd(&["hook", "claude", "stop"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"{not json").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
}

#[test]
fn the_stop_hook_blocks_then_fails_open_past_max_rounds() {
    let (env, repo) = TestEnv::with_repo(&format!(
        "{SETTLE_FAST}[gate]\nmax_rounds = 2\nstop_wait_s = 60\n"
    ));
    env.script_codex(&json!([answer([finding("overflow")
        .line(3)
        .recommendation("check the bound")])]));
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    // An edit not yet reviewed: the stop hook reviews it, then blocks.
    std::fs::write(repo.join("src.rs"), "fn f() {}\n").unwrap();
    let out = hook(&env, "stop", &stop_event(&repo, "sess", false));
    let v = stdout_json(&out);
    assert_eq!(v["decision"], "block", "{v}");
    let reason = v["reason"].as_str().unwrap();
    assert!(
        reason.contains("F1 [high] src.rs:3: overflow — fix: check the bound"),
        "{reason}"
    );
    assert!(
        reason.contains("cxd dismiss") && reason.contains("cxd pause"),
        "{reason}"
    );
    assert!(reason.len() < 10_000);
    assert_eq!(env.workspace()["last_review"]["trigger"], "stop");
    // The block told this session about F1: its next edit does not hear it again.
    let out = hook(
        &env,
        "post-tool-use",
        &write_event(&repo, "other.rs", "x\n", "sess"),
    );
    assert!(
        out.stdout.is_empty(),
        "told once: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Claude keeps going (stop_hook_active) and stops again: the last block the cap allows
    // (round 2 of 2) hands the decision to the user instead of asking for more fixes ...
    let v = stdout_json(&hook(&env, "stop", &stop_event(&repo, "sess", true)));
    assert_eq!(v["decision"], "block", "{v}");
    let reason = v["reason"].as_str().unwrap();
    assert!(
        reason.contains("AskUserQuestion")
            && reason.contains("the last of the 2 blocked stop(s) allowed in a turn"),
        "{reason}"
    );
    assert_eq!(env.workspace()["needs_you"]["why"], "round_cap");
    // ... and then lets go, saying the user is waited for.
    let v = stdout_json(&hook(&env, "stop", &stop_event(&repo, "sess", true)));
    assert!(v.get("decision").is_none(), "{v}");
    assert!(
        v["systemMessage"]
            .as_str()
            .unwrap()
            .contains("waiting for you (round_cap: F1)"),
        "{v}"
    );
    // A new turn does not block again while the decision waits for a person.
    let v = stdout_json(&hook(&env, "stop", &stop_event(&repo, "sess", false)));
    assert!(v.get("decision").is_none(), "{v}");
    // Dismissed: Claude may stop.
    env.ok(&["dismiss", "F1", repo.to_str().unwrap()]);
    let v = stdout_json(&hook(&env, "stop", &stop_event(&repo, "sess", true)));
    assert!(v.get("decision").is_none(), "{v}");
}

#[test]
fn the_stop_hook_names_the_approving_review_and_fails_open_on_codex_failure() {
    let (env, repo) = TestEnv::with_repo(SETTLE_FAST);
    env.script_codex(&json!([{"answer": {"verdict": "approve", "summary": "fine", "findings": [], "fixed_finding_ids": []}}, {"mode": "fail_quota"}]));
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    std::fs::write(repo.join("src.rs"), "fn f() {}\n").unwrap();
    let v = stdout_json(&hook(&env, "stop", &stop_event(&repo, "s", false)));
    assert_eq!(
        v["systemMessage"], "cxd: Codex approved the changes (review #1)",
        "{v}"
    );
    std::fs::write(repo.join("src.rs"), "fn g() {}\n").unwrap();
    let v = stdout_json(&hook(&env, "stop", &stop_event(&repo, "s", false)));
    assert!(v.get("decision").is_none(), "{v}");
    let msg = v["systemMessage"].as_str().unwrap();
    assert!(
        msg.contains("no review now: quota — resumes at") && msg.contains("cxd pause"),
        "{msg}"
    );
}

#[test]
fn a_plan_is_denied_then_allowed_after_a_revision_on_the_same_thread() {
    let (env, repo) = TestEnv::with_repo(SETTLE_FAST);
    let concern = json!({"severity": "high", "category": "edge-case", "file": "", "line_start": 0, "line_end": 0,
        "title": "no plan for an empty input", "body": "b", "recommendation": "say what happens on empty input", "confidence": 0.8});
    env.script_codex(&json!([
        {"answer": {"verdict": "changes_requested", "summary": "one gap", "findings": [concern], "fixed_finding_ids": []}},
        {"answer": {"verdict": "approve", "summary": "addressed", "findings": [], "fixed_finding_ids": ["F1"]}},
    ]));
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    let event = |plan: &str| {
        json!({"session_id": "s", "cwd": repo, "hook_event_name": "PreToolUse", "tool_name": "ExitPlanMode",
        "tool_input": {"plan": plan, "planFilePath": "/home/u/.claude/plans/p.md"}})
    };
    let v = stdout_json(&hook(
        &env,
        "pre-tool-use",
        &event("1. Parse the input.\n2. Sum it."),
    ));
    let out = &v["hookSpecificOutput"];
    assert_eq!(out["hookEventName"], "PreToolUse");
    assert_eq!(out["permissionDecision"], "deny");
    let reason = out["permissionDecisionReason"].as_str().unwrap();
    assert!(reason.contains("F1 [high] (whole change): no plan for an empty input — fix: say what happens on empty input"), "{reason}");
    let out = hook(
        &env,
        "pre-tool-use",
        &event("1. Parse the input; empty input gives 0.\n2. Sum it."),
    );
    assert!(
        out.stdout.is_empty(),
        "approved: no decision: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let calls = env.codex_calls();
    assert_eq!(calls.len(), 2);
    let thread = env.workspace()["thread_id"].as_str().unwrap().to_owned();
    assert_eq!(calls[1]["argv"][1], "resume");
    assert_eq!(calls[1]["argv"][2], thread.as_str());
    let prompt = calls[1]["prompt"].as_str().unwrap();
    assert!(
        prompt.contains("revision")
            && prompt.contains(
                r#"{"id":"F1","severity":"high","location":"","title":"no plan for an empty input"}"#
            ),
        "{prompt}"
    );
    assert!(
        prompt.contains("```markdown\n1. Parse the input; empty input gives 0."),
        "{prompt}"
    );
    let plans = env.log_kind("plan");
    assert_eq!(
        (plans[0]["revision"].clone(), plans[1]["revision"].clone()),
        (json!(false), json!(true))
    );
    assert_eq!(env.workspace()["last_review"]["trigger"], "plan");
    assert_eq!(
        env.workspace()["open_findings"]["high"],
        0,
        "the revision resolved the concern"
    );
}

#[test]
fn cxd_plan_from_a_file_or_stdin() {
    let (env, repo) = TestEnv::with_repo(SETTLE_FAST);
    env.script_codex(&json!([answer([finding("gap")
        .line(3)
        .recommendation("check the bound")])
    .summary("gap"),]));
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    let plan = env.dir.path().join("PLAN.md");
    std::fs::write(&plan, "1. Do the thing.\n").unwrap();
    let out = env.run(&[
        "plan",
        plan.to_str().unwrap(),
        repo.to_str().unwrap(),
        "--wait",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(": changes_requested"));
    let out = cxd_e2e::run_with_stdin(
        env.cmd(&["plan", "-", repo.to_str().unwrap(), "--wait", "--json"]),
        b"1. Do the thing, carefully.\n",
    );
    assert_eq!(out.status.code(), Some(0));
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(done["review"]["trigger"], "plan");
    let empty = env.dir.path().join("EMPTY.md");
    std::fs::write(&empty, "  \n").unwrap();
    assert_eq!(
        env.run(&["plan", empty.to_str().unwrap(), repo.to_str().unwrap()])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn watch_auto_watches_the_repo_an_agent_edits() {
    let (env, repo) = TestEnv::with_repo(&format!("{SETTLE_FAST}[watch]\nauto = true\n"));
    let _d = env.start_daemon();
    let out = hook(
        &env,
        "post-tool-use",
        &write_event(&repo, "new.rs", "x\n", "s"),
    );
    assert!(out.stdout.is_empty());
    wait_for("auto watch", T, || {
        (env.workspace()["root"] == repo.to_str().unwrap()).then_some(())
    });
}
