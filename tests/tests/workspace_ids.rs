//! Finding ids belong to one workspace: from workspace A, `cxd dismiss|reopen|dispute` and the
//! MCP `dispute` tool never reach workspace B's finding. Another workspace's id is "no
//! finding", exactly as an id that never existed, and nothing of it (its title) is shown; the
//! agent's words never reach B's prompt. A path given names the workspace explicitly.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use cxd_e2e::{TestEnv, answer, finding, init_repo, wait_for};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);
const SECRET: &str = "b-secret-title";
const REASON: &str = "INJECTED-REASON from workspace a";

fn findings(env: &TestEnv, repo: &Path) -> Vec<Value> {
    let out = env.ok(&["findings", repo.to_str().unwrap(), "--all", "--json"]);
    serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn reviews(env: &TestEnv, repo: &Path) -> u64 {
    env.status_json()["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["root"].as_str() == repo.to_str())
        .and_then(|w| w["reviews"].as_u64())
        .unwrap_or(0)
}

/// `cxd ARGS` run in `dir`.
fn run_in(env: &TestEnv, dir: &Path, args: &[&str]) -> Output {
    env.cmd(args).current_dir(dir).output().unwrap()
}

/// Refused as an unknown id (exit 2), saying nothing of the other workspace's finding.
fn assert_not_found(what: &str, out: &Output) {
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(2), "{what}: {all}");
    assert!(all.contains("no finding F1"), "{what}: {all}");
    assert!(!all.contains(SECRET), "{what} reveals B's finding: {all}");
}

/// Call the MCP `dispute` tool from `dir`; the tool result.
fn mcp_dispute(env: &TestEnv, dir: &Path, id: &str) -> Value {
    let mut child = env
        .cmd(&["mcp"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    for m in [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "e2e", "version": "1"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "dispute", "arguments": {"id": id, "reason": REASON}}}),
    ] {
        writeln!(stdin, "{m}").unwrap();
    }
    stdin.flush().unwrap();
    let deadline = Instant::now() + T;
    let result = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("an answer to the dispute call");
        let v: Value = serde_json::from_str(&line).unwrap();
        if v["id"] == 2 {
            break v["result"].clone();
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    result
}

#[test]
fn a_finding_id_acts_only_on_the_callers_workspace() {
    let env = TestEnv::new();
    env.write_config("[settle]\nquiet_ms = 200\nmax_wait_ms = 2000\n");
    env.script_codex(&json!([answer([finding(SECRET)]).rulings(json!([])), answer([finding("a-title")]).rulings(json!([])), {"mode": "approve"}]));
    let a = init_repo(env.dir.path(), "a");
    let b = init_repo(env.dir.path(), "b");
    let _d = env.start_daemon();
    // B's review first: its finding is F1.
    env.ok(&["watch", b.to_str().unwrap()]);
    std::fs::write(b.join("src.rs"), "fn b() {}\n").unwrap();
    wait_for("b's review", T, || (reviews(&env, &b) == 1).then_some(()));
    env.ok(&["watch", a.to_str().unwrap()]);
    std::fs::write(a.join("src.rs"), "fn a() {}\n").unwrap();
    wait_for("a's review", T, || (reviews(&env, &a) == 1).then_some(()));
    assert_eq!(findings(&env, &b)[0]["id"], "F1");
    assert_eq!(findings(&env, &b)[0]["title"], SECRET);
    let a_id = findings(&env, &a)[0]["id"].as_str().unwrap().to_owned();
    assert_ne!(a_id, "F1");

    // From A (its root or a directory inside it), B's F1 is no finding.
    let sub = a.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    for dir in [&a, &sub] {
        let out = run_in(&env, dir, &["dispute", "F1", "--reason", REASON]);
        assert_not_found("dispute", &out);
        let out = run_in(
            &env,
            dir,
            &["dispute", "F1", "--reason", REASON, "--session", "s"],
        );
        assert_not_found("an agent's dispute", &out);
        assert_not_found(
            "dismiss",
            &run_in(&env, dir, &["dismiss", "F1", "--reason", "x"]),
        );
    }
    // As an id that never existed.
    let out = run_in(&env, &a, &["dismiss", "F99", "--reason", "x"]);
    assert_eq!(out.status.code(), Some(2));
    let result = mcp_dispute(&env, &a, "F1");
    assert_eq!(result["isError"], true, "{result}");
    let text = result["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("no finding F1"), "{text}");
    assert!(!text.contains(SECRET), "{text}");
    // A path in A given explicitly is A too.
    let out = env.run(&["dismiss", "F1", a.to_str().unwrap(), "--reason", "x"]);
    assert_not_found("dismiss with A's path", &out);

    let f1 = &findings(&env, &b)[0];
    assert_eq!(f1["status"], "open", "{f1}");
    assert_eq!(f1["dispute"], Value::Null, "{f1}");

    // Reopen from A does not reach B's dismissed finding either.
    env.ok(&["dismiss", "F1", b.to_str().unwrap(), "--reason", "b's own"]);
    assert_eq!(findings(&env, &b)[0]["status"], "dismissed");
    assert_not_found("reopen", &run_in(&env, &a, &["reopen", "F1"]));
    assert_eq!(findings(&env, &b)[0]["status"], "dismissed");
    let out = run_in(&env, &b, &["reopen", "F1"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(findings(&env, &b)[0]["status"], "open");

    // B's next prompt holds nothing A said.
    env.ok(&["review", b.to_str().unwrap(), "--wait", "--all"]);
    let calls = env.codex_calls();
    let prompt = calls.last().unwrap()["prompt"].as_str().unwrap();
    assert!(prompt.contains(SECRET), "B's own finding is in B's prompt");
    assert!(!prompt.contains(REASON), "{prompt}");

    // A's own finding, from A, is A's to dispute (the tool and the command).
    let result = mcp_dispute(&env, &a, &a_id);
    assert_ne!(result["isError"], true, "{result}");
    let a_f = &findings(&env, &a)[0];
    assert_eq!(a_f["dispute"]["by"], "agent", "{a_f}");
    let out = run_in(&env, &sub, &["dismiss", &a_id, "--reason", "mine"]);
    assert!(out.status.success(), "{out:?}");
}
