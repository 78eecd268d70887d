//! Blocking scoped to the agent's change: the stop hook blocks on findings whose lines the
//! reviewed changes touched since the session began; findings on code it never touched are
//! listed, not blocking. `cxd gate` keeps judging every open finding unless told
//! `--scope change`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Output;

use cxd_e2e::{Daemon, SETTLE_NEVER, TestEnv, answer, finding};
use serde_json::{Value, json};

/// `src/a.rs` as committed: 20 numbered lines.
fn original() -> String {
    (1..=20).map(|i| format!("let a{i} = {i};\n")).collect()
}

/// `src/a.rs` with line 5 changed: the agent's edit.
fn edited() -> String {
    original().replace("let a5 = 5;", "let a5 = five();")
}

/// A repository holding `src/a.rs` and `src/b.rs`, watched; reviews run only when asked (the
/// stop hook asks). `user` is appended to the user's config.
fn setup(script: &Value, user: &str) -> (TestEnv, PathBuf, Daemon) {
    let (env, repo) = TestEnv::with_repo(&format!("{SETTLE_NEVER}{user}"));
    env.script_codex(script);
    std::fs::create_dir(repo.join("src")).unwrap();
    std::fs::write(repo.join("src/a.rs"), original()).unwrap();
    std::fs::write(repo.join("src/b.rs"), original()).unwrap();
    let daemon = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    (env, repo, daemon)
}

/// The agent writes `content` to `file` (the edit hook, as Claude Code runs it).
fn agent_write(env: &TestEnv, repo: &Path, file: &str, content: &str, session: &str) {
    let path = repo.join(file);
    std::fs::write(&path, content).unwrap();
    env.hook(
        "post-tool-use",
        &json!({"session_id": session, "cwd": repo, "hook_event_name": "PostToolUse",
                "tool_name": "Write", "tool_input": {"file_path": path, "content": content}}),
    );
}

/// The stop hook's answer for `session` (a new turn).
fn stop(env: &TestEnv, repo: &Path, session: &str) -> Value {
    let out = env.hook(
        "stop",
        &json!({"session_id": session, "cwd": repo, "hook_event_name": "Stop",
                "stop_hook_active": false, "last_assistant_message": "Done."}),
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&out.stdout)))
}

fn gate(env: &TestEnv, repo: &Path, extra: &[&str]) -> (Output, Value) {
    let mut args = vec!["gate", repo.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let out = env.run(&args);
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&out.stdout)));
    (out, json)
}

#[test]
fn a_finding_on_untouched_code_does_not_block_the_stop_hook_but_is_listed() {
    let script = json!([answer(vec![
        finding("untouched file").file("src/b.rs").line(3),
        finding("untouched lines").file("src/a.rs").line(15),
    ])]);
    let (env, repo, _d) = setup(&script, "");
    agent_write(&env, &repo, "src/a.rs", &edited(), "s1");

    let v = stop(&env, &repo, "s1");
    assert!(v.get("decision").is_none(), "not blocked: {v}");
    let msg = v["systemMessage"].as_str().unwrap();
    assert!(msg.contains("Not blocking: not in your change"), "{msg}");
    assert!(
        msg.contains("F1 [high] src/b.rs:3: untouched file"),
        "{msg}"
    );
    assert!(
        msg.contains("F2 [high] src/a.rs:15: untouched lines"),
        "{msg}"
    );

    // A person's gate still judges every open finding ...
    let (out, json) = gate(&env, &repo, &[]);
    assert_eq!(out.status.code(), Some(1), "{json}");
    assert_eq!(json["scope"], "all");
    assert_eq!(json["blocking_total"], 2);
    assert_eq!(json["outside_change"], 0);
    // ... unless told to judge only the change.
    let (out, json) = gate(&env, &repo, &["--scope", "change"]);
    assert_eq!(out.status.code(), Some(0), "{json}");
    assert_eq!(json["scope"], "change");
    assert_eq!(json["blocking_total"], 0);
    assert_eq!(json["outside_change"], 2);
    assert_eq!(json["outside"].as_array().unwrap().len(), 2);
    let text = env.run(&["gate", repo.to_str().unwrap(), "--scope", "change"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("not blocking: not in the change (2)"),
        "{text}"
    );
}

#[test]
fn a_finding_on_the_changed_lines_blocks_and_the_rest_are_listed_apart() {
    let script = json!([answer(vec![
        finding("five may fail").file("src/a.rs").line(5),
        finding("untouched file").file("src/b.rs").line(3),
    ])]);
    let (env, repo, _d) = setup(&script, "");
    agent_write(&env, &repo, "src/a.rs", &edited(), "s1");

    let v = stop(&env, &repo, "s1");
    assert_eq!(v["decision"], "block", "{v}");
    let reason = v["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("Codex (review #1) found 1 open problem(s)"),
        "{reason}"
    );
    let (mine, theirs) = reason
        .split_once("Not blocking: not in your change")
        .unwrap_or_else(|| panic!("no separate list: {reason}"));
    assert!(
        mine.contains("F1 [high] src/a.rs:5: five may fail"),
        "{reason}"
    );
    assert!(!mine.contains("untouched file"), "{reason}");
    assert!(
        theirs.contains("F2 [high] src/b.rs:3: untouched file"),
        "{reason}"
    );
}

#[test]
fn a_change_reviewed_before_the_session_began_is_not_its_change() {
    let script = json!([
        answer(vec![finding("five may fail").file("src/a.rs").line(5)]),
        {"answer": {"verdict": "approve", "summary": "s", "findings": [], "fixed_finding_ids": []}},
    ]);
    let (env, repo, _d) = setup(&script, "");
    // Someone else's change, reviewed before the agent's session began.
    std::fs::write(repo.join("src/a.rs"), edited()).unwrap();
    cxd_e2e::wait_for(
        "the watcher to see the edit",
        std::time::Duration::from_secs(30),
        || (env.workspace()["pending_files"].as_u64() == Some(1)).then_some(()),
    );
    let out = env.run(&["review", repo.to_str().unwrap(), "--wait"]);
    assert_eq!(out.status.code(), Some(1), "changes requested");
    // The session edits another file; its stop is not blocked by the earlier finding.
    agent_write(&env, &repo, "src/b.rs", &edited(), "s2");
    let v = stop(&env, &repo, "s2");
    assert!(v.get("decision").is_none(), "not blocked: {v}");
    let msg = v["systemMessage"].as_str().unwrap();
    assert!(
        msg.contains("F1 [high] src/a.rs:5: five may fail"),
        "listed: {msg}"
    );
    // A session first seen at its stop counts every reviewed change as its own.
    assert_eq!(stop(&env, &repo, "other")["decision"], "block");
}

#[test]
fn gate_scope_all_blocks_on_everything_and_a_repository_cannot_narrow_it_untrusted() {
    let script = json!([answer(vec![
        finding("untouched file").file("src/b.rs").line(3)
    ])]);
    let (env, repo, _d) = setup(&script, "[gate]\nscope = \"all\"\n");
    std::fs::write(repo.join(".cxd.toml"), "[gate]\nscope = \"change\"\n").unwrap();
    agent_write(&env, &repo, "src/a.rs", &edited(), "s1");
    let v = stop(&env, &repo, "s1");
    assert_eq!(v["decision"], "block", "{v}");
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .contains("src/b.rs:3: untouched file"),
        "{v}"
    );
    let status = env.status_json();
    assert!(status["daemon"]["config"]["error"].is_null(), "{status}");
    let warnings = status["workspaces"][0]["warnings"].to_string();
    assert!(
        warnings.contains("gate.scope not applied: a repository may not widen"),
        "{warnings}"
    );
}
