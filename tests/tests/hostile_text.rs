//! Hostile text: what Codex says and what a repository names its files is shown to people and
//! put in prompts; none of it may drive a terminal, and none of it may break the gate.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use cxd_e2e::{TestEnv, init_repo, wait_for};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);

/// A window-title change, a bell, a screen clear, a newline that fakes a finding line and a
/// right-to-left override.
const HOSTILE: &str = "t\u{1b}]0;pwned\u{7}x\u{1b}[2J\nF9 critical fake\u{202e}z";

/// Byte strings that must never reach a terminal from hostile text.
fn assert_clean(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for bad in [
        "\u{1b}]",
        "\u{1b}[2J",
        "\u{7}",
        "\u{202e}",
        "\u{9b}",
        "\nF9 critical fake",
    ] {
        assert!(
            !text.contains(bad),
            "{what}: the output holds {bad:?}:\n{text:?}"
        );
    }
}

fn assert_output_clean(what: &str, out: &Output) {
    assert_clean(&format!("{what} (stdout)"), &out.stdout);
    assert_clean(&format!("{what} (stderr)"), &out.stderr);
}

fn hostile_finding() -> Value {
    json!({"severity": "high", "category": "security", "file": format!("src/{HOSTILE}.rs"),
           "line_start": 1, "line_end": 2, "title": HOSTILE, "body": format!("{HOSTILE}\nsecond line"),
           "recommendation": HOSTILE, "confidence": 0.9})
}

fn hostile_answer() -> Value {
    json!({"verdict": "changes_requested", "summary": HOSTILE, "findings": [hostile_finding()],
           "fixed_finding_ids": []})
}

/// `cxd ARGS` run on a terminal (through `script`); returns its exit code and what the
/// terminal received.
fn on_a_terminal(env: &TestEnv, args: &str) -> (Option<i32>, Vec<u8>) {
    let typescript = env.dir.path().join(format!("typescript-{}", args.len()));
    let out = env.on_a_terminal(args, &typescript);
    (out.status.code(), std::fs::read(&typescript).unwrap())
}

#[test]
fn hostile_text_never_reaches_a_terminal_and_json_keeps_it_exact() {
    let env = TestEnv::new();
    // No automatic reviews: every review here is asked for.
    env.write_config("[settle]\nquiet_ms = 600000\nmax_wait_ms = 600000\n");
    let repo = init_repo(env.dir.path(), "repo");
    let r = repo.to_str().unwrap();
    env.script_codex(&json!([
        {"answer": hostile_answer(), "reasoning": format!("**{HOSTILE}**")},
        {"mode": "fail_network", "message": HOSTILE},
        {"answer": hostile_answer()},
    ]));
    let _d = env.start_daemon();
    env.ok(&["watch", r]);

    // Live events, in the human form, from before anything happens.
    let mut events = env.cmd(&["events"]).stdout(Stdio::piped()).spawn().unwrap();
    let reader = BufReader::new(events.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        for line in reader.split(b'\n') {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    wait_for("the subscription", T, || {
        env.ok(&["approve", r]);
        let line = rx.recv_timeout(Duration::from_millis(500)).ok()?;
        String::from_utf8_lossy(&line)
            .contains("approval")
            .then_some(())
    });

    // A file whose very name is hostile, then a review on a terminal (progress line included).
    std::fs::write(repo.join(format!("evil{HOSTILE}.txt")), "x\n").unwrap();
    let (code, seen) = on_a_terminal(&env, &format!("review --wait {r}"));
    assert_eq!(code, Some(1), "{}", String::from_utf8_lossy(&seen));
    assert_clean("review --wait on a terminal", &seen);
    let seen = String::from_utf8_lossy(&seen);
    assert!(seen.contains("codex: t\\x1b]0;pwned"), "{seen:?}");
    assert!(seen.contains("new findings:"), "{seen:?}");

    // findings: plain, and with colour forced (nothing strips escapes then).
    let out = env.run(&["findings", r]);
    assert_output_clean("findings", &out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("  F1 high [security] src/t\\x1b]0;pwned\\x07x\\x1b[2J\\nF9 critical fake\\u{202e}z.rs:1-2  t\\x1b]0;pwned"),
        "{text}"
    );
    assert!(text.contains("\n      F9 critical fake"), "{text}");
    let out = env
        .cmd(&["findings", r])
        .env_remove("NO_COLOR")
        .env("CLICOLOR_FORCE", "1")
        .output()
        .unwrap();
    assert_output_clean("findings with colour", &out);

    // --json keeps every byte, escaped as JSON (no raw control or bidi character).
    let out = env.run(&["findings", r, "--json"]);
    assert!(!out.stdout.contains(&0x1b), "raw ESC in JSON");
    assert_clean("findings --json", &out.stdout);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["title"], HOSTILE);
    assert_eq!(list[0]["body"], format!("{HOSTILE}\nsecond line"));
    assert_eq!(list[0]["recommendation"], HOSTILE);
    assert_eq!(list[0]["file"], format!("src/{HOSTILE}.rs"));

    let out = env.run(&["gate", r]);
    assert_eq!(out.status.code(), Some(1));
    assert_output_clean("gate", &out);

    // The hook's JSON to Claude: no raw control or bidi character, not even once parsed (a
    // newline in a title would start a line that passes for another finding): escaped.
    let out = edit_hook(&env, &repo);
    assert_clean("the edit hook", &out);
    let hook: Value = serde_json::from_slice(&out).unwrap();
    let context = hook["hookSpecificOutput"]["additionalContext"]
        .as_str()
        .unwrap();
    assert!(!context.contains('\u{1b}'), "{context:?}");
    assert!(context.contains("t\\x1b]0;pwned\\x07x"), "{context:?}");

    let out = env.run(&["log", r, "-n", "100"]);
    assert_output_clean("log", &out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("evilt\\x1b]0;pwned"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // A review that fails with codex's hostile message: the failure, status and gate.
    std::fs::write(repo.join("README"), "changed\n").unwrap();
    let out = env.run(&["review", "--wait", r]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert_output_clean("a failed review --wait", &out);
    let out = env.run(&["status"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("halted"),
        "{out:?}"
    );
    assert_output_clean("status", &out);
    let out = env.run(&["gate", r]);
    assert_output_clean("gate after a failure", &out);

    // A plan validation answered with the same text.
    let plan = env.dir.path().join("plan.md");
    std::fs::write(&plan, "1. do it\n").unwrap();
    let out = env.run(&["plan", plan.to_str().unwrap(), r, "--wait"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_output_clean("plan --wait", &out);

    let out = env.run(&["dismiss", "F1", repo.to_str().unwrap()]);
    assert_output_clean("dismiss", &out);

    // Every event line, up to the dismissal.
    let mut lines = Vec::new();
    loop {
        let line = rx.recv_timeout(T).expect("the events up to the dismissal");
        let done = String::from_utf8_lossy(&line).contains(" dismissal ");
        lines.push(line);
        if done {
            break;
        }
    }
    let _ = events.kill();
    let _ = events.wait();
    for line in &lines {
        assert_clean("events", line);
    }
    assert!(
        lines
            .iter()
            .any(|l| String::from_utf8_lossy(l).contains("review_activity")),
        "{lines:?}"
    );
}

/// The edit hook's JSON for Claude carries findings it has not seen.
fn edit_hook(env: &TestEnv, repo: &Path) -> Vec<u8> {
    let input = json!({"session_id": "s1", "cwd": repo, "hook_event_name": "PostToolUse",
                       "tool_name": "Write", "tool_input": {"file_path": repo.join("README")}});
    let out = env.hook("post-tool-use", &input);
    out.stdout
}

/// Run a hook with `input` on stdin; hooks always exit 0.
fn hook(env: &TestEnv, event: &str, input: &Value) -> Value {
    let out = env.hook(event, input);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn more_open_findings_than_one_answer_holds_still_block_the_gate() {
    const REVIEWS: usize = 5;
    const EACH: usize = 120;
    let env = TestEnv::new();
    env.write_config("[settle]\nquiet_ms = 600000\nmax_wait_ms = 600000\n");
    let repo = init_repo(env.dir.path(), "repo");
    let r = repo.to_str().unwrap();
    // Each finding is ~25 KB as Codex writes it and ~17 KB once capped: 600 of them are more
    // than the 8 MiB an answer may be, before and after the caps.
    let steps: Vec<Value> = (0..REVIEWS)
        .map(|review| {
            let findings: Vec<Value> = (0..EACH)
                .map(|i| {
                    json!({"severity": "high", "category": "bug", "file": "README",
                           "line_start": 1, "line_end": 1,
                           "title": format!("T{review}-{i} {}", "t".repeat(1000)),
                           "body": "b".repeat(12_000), "recommendation": "r".repeat(12_000),
                           "confidence": 0.5})
                })
                .collect();
            json!({"answer": {"verdict": "changes_requested", "summary": "s",
                              "findings": findings, "fixed_finding_ids": []}})
        })
        .collect();
    env.script_codex(&Value::Array(steps));
    let _d = env.start_daemon();
    env.ok(&["watch", r]);
    for review in 0..REVIEWS {
        std::fs::write(repo.join("README"), format!("edit {review}\n")).unwrap();
        let out = env.run(&["review", "--wait", r]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "review {review}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if review == REVIEWS - 1 {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                text.contains("more (`cxd findings` lists them all)"),
                "{text}"
            );
        }
    }
    let total = REVIEWS * EACH;

    // Every finding, page after page, each capped at the stored sizes.
    let out = env.run(&["findings", r, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.len() > 8 * 1024 * 1024, "{}", out.stdout.len());
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.len(), total);
    let mut ids: Vec<&str> = list.iter().map(|f| f["id"].as_str().unwrap()).collect();
    ids.dedup();
    assert_eq!(ids.len(), total, "no finding twice");
    let title = list[0]["title"].as_str().unwrap();
    assert!(
        title.starts_with("T0-0 ttt") && title.len() <= 300,
        "{title}"
    );
    assert!(title.ends_with("… [truncated]"), "{title}");
    assert!(list[total - 1]["body"].as_str().unwrap().len() <= 8 * 1024);
    let export = env.ok(&["export", r, "--format", "rdjsonl"]);
    assert_eq!(export.lines().count(), total);
    assert_eq!(env.ok(&["findings", r]).matches("\n  F").count(), total);

    // The gate says no (exit 1, never 3), and counts every blocking finding.
    let out = env.run(&["gate", r, "--json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["pass"], false);
    assert_eq!(report["blocking_total"], total);
    let out = env.run(&["gate", r]);
    assert_eq!(out.status.code(), Some(1));

    // The stop hook blocks Claude.
    let v = hook(
        &env,
        "stop",
        &json!({"session_id": "s", "cwd": repo, "hook_event_name": "Stop",
                "stop_hook_active": false, "last_assistant_message": "Done."}),
    );
    assert_eq!(v["decision"], "block", "{v}");
    let reason = v["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("found {total} open problem(s)")),
        "{reason}"
    );
    assert!(reason.len() < 10_000, "{}", reason.len());
}

#[test]
fn locations_outside_the_repository_are_dropped_when_recorded() {
    let env = TestEnv::new();
    env.write_config("[settle]\nquiet_ms = 600000\nmax_wait_ms = 600000\n");
    let repo = init_repo(env.dir.path(), "repo");
    let r = repo.to_str().unwrap();
    // Four different problems (different titles): identity keeps them apart.
    let at = |file: String, start: i64, end: i64, title: &str| {
        json!({"severity": "high", "category": "security", "file": file, "line_start": start,
               "line_end": end, "title": title, "body": "b", "recommendation": "r", "confidence": 0.5})
    };
    let inside = repo.join("README").to_str().unwrap().to_owned();
    env.script_codex(
        &json!([{"answer": {"verdict": "changes_requested", "summary": "s",
        "findings": [
            at("../../etc/passwd".into(), 1, 2, "alpha"),
            at("/etc/passwd".into(), 1, 2, "beta"),
            at(inside, i64::MAX, i64::MAX, "gamma"),
            at("./README".into(), 1, i64::MAX, "delta"),
        ],
        "fixed_finding_ids": []}}]),
    );
    let _d = env.start_daemon();
    env.ok(&["watch", r]);
    std::fs::write(repo.join("README"), "changed\n").unwrap();
    assert_eq!(env.run(&["review", "--wait", r]).status.code(), Some(1));
    let list: Vec<Value> = serde_json::from_str(&env.ok(&["findings", r, "--json"])).unwrap();
    let places: Vec<(String, i64, i64)> = list
        .iter()
        .map(|f| {
            (
                f["file"].as_str().unwrap().to_owned(),
                f["line_start"].as_i64().unwrap(),
                f["line_end"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        places,
        [
            (String::new(), 0, 0),
            (String::new(), 0, 0),
            ("README".to_owned(), 0, 0),
            ("README".to_owned(), 1, 1),
        ]
    );
    // What Codex named stays readable in the body.
    assert!(
        list[0]["body"]
            .as_str()
            .unwrap()
            .contains("../../etc/passwd")
    );
    let export = env.ok(&["export", r, "--format", "rdjsonl"]);
    assert!(!export.contains("etc/passwd\""), "{export}");
    assert!(!export.contains(&i64::MAX.to_string()), "{export}");
    let sarif = env.ok(&["export", r, "--format", "sarif"]);
    assert!(
        !sarif.contains("\"uri\": \"..") && !sarif.contains("%2Fetc"),
        "{sarif}"
    );
}

#[test]
fn a_plan_deny_reason_stays_under_claude_codes_limit() {
    let env = TestEnv::new();
    env.write_config("[settle]\nquiet_ms = 600000\nmax_wait_ms = 600000\n");
    let repo = init_repo(env.dir.path(), "repo");
    let findings: Vec<Value> = (0..40)
        .map(|i| {
            json!({"severity": "high", "category": "architecture", "file": "", "line_start": 0,
                   "line_end": 0, "title": format!("concern {i} {}", "c".repeat(400)),
                   "body": "b", "recommendation": "r".repeat(400), "confidence": 0.5})
        })
        .collect();
    env.script_codex(&json!([{"answer": {"verdict": "changes_requested",
        "summary": "s".repeat(20_000), "findings": findings, "fixed_finding_ids": []}}]));
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    let v = hook(
        &env,
        "pre-tool-use",
        &json!({"session_id": "s", "cwd": repo, "hook_event_name": "PreToolUse",
                "tool_name": "ExitPlanMode", "tool_input": {"plan": "1. do it"}}),
    );
    let out = &v["hookSpecificOutput"];
    assert_eq!(out["permissionDecision"], "deny", "{v}");
    let reason = out["permissionDecisionReason"].as_str().unwrap();
    assert!(reason.chars().count() < 10_000, "{}", reason.len());
    assert!(reason.contains("- F1 [high]"), "{reason}");
    assert!(reason.ends_with("then present it again."), "{reason}");
}

#[test]
fn a_log_larger_than_an_answer_shows_its_newest_entries() {
    let env = TestEnv::new();
    env.write_config("[settle]\nquiet_ms = 600000\nmax_wait_ms = 600000\n");
    let repo = init_repo(env.dir.path(), "repo");
    let r = repo.to_str().unwrap();
    env.script_codex(&json!([{"answer": hostile_answer()}]));
    let _d = env.start_daemon();
    env.ok(&["watch", r]);
    std::fs::write(repo.join("README"), "changed\n").unwrap();
    assert_eq!(env.run(&["review", "--wait", r]).status.code(), Some(1));
    // 90 dismissals with 100 KB reasons: 9 MB of audit trail.
    let reason = "why ".repeat(25_000);
    for i in 0..90 {
        env.ok(&[
            "dismiss",
            "F1",
            repo.to_str().unwrap(),
            "--reason",
            &format!("{i} {reason}"),
        ]);
        env.ok(&["reopen", "F1", repo.to_str().unwrap()]);
    }
    let out = env.run(&["log", "--json", "-n", "1000"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let entries: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(entries.len() < 180, "{}", entries.len());
    let last_dismissal = entries
        .iter()
        .rev()
        .find(|e| e["kind"] == "dismissal")
        .unwrap();
    assert!(
        last_dismissal["reason"]
            .as_str()
            .unwrap()
            .starts_with("89 why")
    );
    assert_eq!(entries.last().unwrap()["kind"], "reopen");
    assert!(env.run(&["log", "-n", "1000"]).status.success());
}

#[test]
fn megabytes_of_codex_failure_text_do_not_break_status() {
    let env = TestEnv::new();
    env.write_config("[settle]\nquiet_ms = 600000\nmax_wait_ms = 600000\n");
    let repos = [
        init_repo(env.dir.path(), "one"),
        init_repo(env.dir.path(), "two"),
    ];
    let message = "x".repeat(3 * 1024 * 1024);
    env.script_codex(&json!([
        {"mode": "fail_network", "message": message},
        {"mode": "fail_network", "message": message},
    ]));
    let _d = env.start_daemon();
    for repo in &repos {
        let r = repo.to_str().unwrap();
        env.ok(&["watch", r]);
        std::fs::write(repo.join("README"), "changed\n").unwrap();
        assert_eq!(env.run(&["review", "--wait", r]).status.code(), Some(4));
    }
    let out = env.run(&["status", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    for w in status["workspaces"].as_array().unwrap() {
        assert_eq!(w["state"], "halted", "{}", w["root"]);
        let error = w["last_review"]["error"].as_str().unwrap();
        assert!(error.len() < 32 * 1024, "{}", error.len());
        assert!(error.contains("… [truncated]"));
    }
    assert!(env.run(&["status"]).status.success());
}
