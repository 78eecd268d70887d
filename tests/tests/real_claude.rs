//! The REAL Claude Code CLI (`@anthropic-ai/claude-code`, installed from the npm registry by
//! tests/fixtures/install-claude.sh) running cxd's hooks, offline against a loopback mock of the
//! Anthropic Messages API (tests/fixtures/mock_messages_server.py). Codex is the fake one.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use cxd_e2e::{Daemon, MockServer, TestEnv, cxd_bin, init_repo};
use serde_json::{Value, json};

/// How long one `claude -p` run may take (each runs in about a second plus the reviews).
const CLAUDE_T: Duration = Duration::from_secs(90);

fn real_claude() -> Option<PathBuf> {
    cxd_e2e::npm_cli(
        "CXD_REAL_CLAUDE",
        "Claude Code CLI",
        "install-claude.sh",
        "claude",
    )
}

/// The agent's turns: the requests that consumed an answer, in order.
fn agent_turns(server: &MockServer) -> Vec<Value> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.get("answer_index").is_some())
        .collect()
}

/// A Write of `path` as the model's tool call, after a sentence.
fn write_answer(path: &Path, content: &str, text: &str) -> Value {
    json!({"text": text, "tool_use": {"name": "Write", "input": {"file_path": path, "content": content}}})
}

/// Every string in `v` joined, to search the request bodies for what Claude sent the model.
fn texts(v: &Value) -> String {
    let mut out = String::new();
    fn walk(v: &Value, out: &mut String) {
        match v {
            Value::String(s) => {
                out.push_str(s);
                out.push('\n');
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(o) => o.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(v, &mut out);
    out
}

/// The messages of the last user turn Claude sent (what came back since the previous answer).
fn last_messages(turn: &Value) -> String {
    let msgs = turn["body"]["messages"].as_array().unwrap();
    let last_assistant = msgs
        .iter()
        .rposition(|m| m["role"] == "assistant")
        .map_or(0, |i| i + 1);
    texts(&Value::Array(msgs[last_assistant..].to_vec()))
}

struct ClaudeRun {
    status: ExitStatus,
    /// `--output-format stream-json` lines.
    events: Vec<Value>,
    stdout: String,
    stderr: String,
}

impl ClaudeRun {
    /// Everything a failed assertion needs: how claude ended, the turns, what codex was
    /// asked, the audit log and the daemon's log.
    fn diagnosis(&self, turns: usize, env: &TestEnv, daemon: &Daemon) -> String {
        format!(
            "claude exit {}\nstdout:\n{}\nstderr:\n{}\nturns: {turns}\ncodex calls: {:#?}\nlog: {:#?}\ndaemon log:\n{}",
            self.status,
            self.stdout,
            self.stderr,
            env.codex_calls(),
            env.log_json(50),
            daemon.log_text()
        )
    }

    /// The `systemMessage`s of hooks, as Claude reports them ("Stop says: ...").
    fn notices(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e["type"] == "system" && e["subtype"] == "informational")
            .filter_map(|e| e["content"].as_str().map(str::to_owned))
            .collect()
    }
}

/// `claude -p PROMPT` in `repo`, against `server`, with the test's environment (so the hooks
/// reach the test's daemon) and `path_dir` (holding `cxd`) first on PATH.
fn run_claude(
    env: &TestEnv,
    claude: &Path,
    repo: &Path,
    path_dir: &Path,
    server: &MockServer,
    session: &str,
    prompt: &str,
) -> ClaudeRun {
    let mut cmd = Command::new(claude);
    // Exactly what `cxd` commands get: HOME, XDG_RUNTIME_DIR, CXD_STATE_DIR, fake codex, ...
    for (k, v) in env.cmd(&[]).get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into());
    let tag = session.split('-').next().unwrap();
    let stdout_path = env.dir.path().join(format!("claude-{tag}.stdout"));
    let stderr_path = env.dir.path().join(format!("claude-{tag}.stderr"));
    cmd.args(["-p", prompt, "--permission-mode", "acceptEdits"])
        .args(["--session-id", session])
        .args(["--output-format", "stream-json", "--verbose"])
        .current_dir(repo)
        .env("PATH", format!("{}:{path}", path_dir.display()))
        .env(
            "ANTHROPIC_BASE_URL",
            format!("http://127.0.0.1:{}", server.port),
        )
        .env("ANTHROPIC_API_KEY", "dummy")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_TELEMETRY", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .env_remove("CLAUDE_CONFIG_DIR")
        .env_remove("CLAUDECODE")
        .env_remove("CLAUDE_CODE_ENTRYPOINT")
        .env_remove("ANTHROPIC_AUTH_TOKEN")
        .env_remove("ANTHROPIC_MODEL")
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + CLAUDE_T;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "claude did not finish within {CLAUDE_T:?}\nstdout:\n{}\nstderr:\n{}",
                std::fs::read_to_string(&stdout_path).unwrap_or_default(),
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let events = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    ClaudeRun {
        status,
        events,
        stdout,
        stderr,
    }
}

/// What each hook got on stdin, recorded by an extra user-level hook next to cxd's.
fn recorded_hook_inputs(env: &TestEnv) -> Vec<Value> {
    std::fs::read_to_string(env.dir.path().join("hook-inputs.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn real_claude_code_runs_the_hooks_the_stop_gate_blocks_once_then_lets_it_finish() {
    let Some(claude) = real_claude() else { return };
    let env = TestEnv::new();
    env.write_config("[settle]\nquiet_ms = 1000\nmax_wait_ms = 5000\n[gate]\nstop_wait_s = 60\n");
    let finding = json!({"severity": "high", "category": "bug", "file": "calc.rs", "line_start": 1,
        "line_end": 1, "title": "add overflows on large inputs", "body": "u32 + u32 wraps in release builds",
        "recommendation": "use checked_add", "confidence": 0.9});
    env.script_codex(&json!([
        {"answer": {"verdict": "changes_requested", "summary": "one bug", "findings": [finding], "fixed_finding_ids": []}},
        {"answer": {"verdict": "approve", "summary": "fixed", "findings": [], "fixed_finding_ids": ["F1"]}},
    ]));
    let repo = init_repo(env.dir.path(), "repo");

    // `cxd` on PATH (a symlink to the binary under test); the hooks still run the binary that
    // installed them, by its absolute path, and fall back to PATH.
    let bin = env.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(cxd_bin(), bin.join("cxd")).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = env
        .cmd(&["init", "claude", repo.to_str().unwrap()])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cxd init claude: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let settings: Value =
        serde_json::from_str(&std::fs::read_to_string(repo.join(".claude/settings.json")).unwrap())
            .unwrap();
    let stop = settings["hooks"]["Stop"][0]["hooks"][0]["command"]
        .as_str()
        .unwrap();
    assert!(
        stop.ends_with("exec \"$cxd\" hook claude stop")
            && stop.contains(std::fs::canonicalize(cxd_bin()).unwrap().to_str().unwrap()),
        "{stop}"
    );
    // A user-level hook records what Claude sends on stdin, next to cxd's project hooks.
    let record = format!(
        "cat >> '{}'; echo >> '{}'",
        env.dir.path().join("hook-inputs.jsonl").display(),
        env.dir.path().join("hook-inputs.jsonl").display()
    );
    std::fs::create_dir_all(env.home.join(".claude")).unwrap();
    std::fs::write(
        env.home.join(".claude/settings.json"),
        json!({"hooks": {
            "PostToolUse": [{"matcher": "Write", "hooks": [{"type": "command", "command": record}]}],
            "Stop": [{"hooks": [{"type": "command", "command": record}]}],
        }})
        .to_string(),
    )
    .unwrap();

    let daemon = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);

    let calc = repo.join("calc.rs");
    let buggy = "pub fn add(a: u32, b: u32) -> u32 { a + b }\n";
    let fixed = "pub fn add(a: u32, b: u32) -> Option<u32> { a.checked_add(b) }\n";
    let server = MockServer::start(
        "mock_messages_server.py",
        env.dir.path(),
        "run1",
        &json!([
            write_answer(&calc, buggy, "I'll add the helper."),
            "Added calc.rs with `add`.",
            write_answer(&calc, fixed, "Fixing the overflow Codex found."),
            "Fixed: `add` now uses checked_add.",
        ]),
    );
    let session = "c1a0de00-0000-4000-8000-000000000001";
    let started = Instant::now();
    let run = run_claude(
        &env,
        &claude,
        &repo,
        &bin,
        &server,
        session,
        "Add an add function in calc.rs",
    );
    let elapsed = started.elapsed();
    let turns = agent_turns(&server);
    let diag = || run.diagnosis(turns.len(), &env, &daemon);
    assert!(run.status.success(), "{}", diag());
    eprintln!("claude run with two reviews took {elapsed:?}");

    // 1. Claude's Write landed, and cxd attributes the edit to the agent and its session.
    assert_eq!(std::fs::read_to_string(&calc).unwrap(), fixed, "{}", diag());
    let edits = env.log_kind("edit");
    assert!(
        edits
            .iter()
            .any(|e| e["by"] == "agent" && e["session"] == session && e["files"][0] == "calc.rs"),
        "no agent edit of calc.rs by {session}: {edits:#?}\n{}",
        diag()
    );
    assert!(
        edits.iter().all(|e| e["by"] == "agent"),
        "every edit came through the hook: {edits:#?}"
    );

    // 2. The stop hook had the edit reviewed and blocked once with the finding; Claude fixed it,
    //    the second review approved, and Claude stopped.
    assert_eq!(env.codex_calls().len(), 2, "{}", diag());
    // Offline, 2.1.330 calls nothing but `POST /v1/messages?beta=true` (no count_tokens).
    let paths: Vec<_> = server
        .requests()
        .iter()
        .map(|r| format!("{} {}", r["method"], r["path"]))
        .collect();
    assert!(
        paths
            .iter()
            .all(|p| p == "\"POST\" \"/v1/messages?beta=true\""),
        "{paths:?}"
    );
    assert_eq!(turns.len(), 4, "{}", diag());
    assert!(
        last_messages(&turns[1]).contains("File created successfully"),
        "the Write's tool result: {}",
        last_messages(&turns[1])
    );
    let feedback = last_messages(&turns[2]);
    assert!(
        feedback.contains("Stop hook feedback")
            && feedback.contains("add overflows on large inputs"),
        "the blocked stop reached the model: {feedback}"
    );
    assert!(
        feedback.contains("cxd dismiss") && feedback.contains("use checked_add"),
        "{feedback}"
    );
    assert!(
        turns[..2]
            .iter()
            .chain(&turns[3..])
            .all(|t| !last_messages(t).contains("Stop hook feedback")),
        "blocked exactly once"
    );
    let notices = run.notices();
    assert!(
        notices
            .iter()
            .any(|n| n.contains("cxd: Codex approved the changes (review #2)")),
        "the stop hook's approval notice: {notices:#?}\n{}",
        diag()
    );
    let ws = &env.status_json()["workspaces"][0];
    assert_eq!(ws["last_review"]["verdict"], "approve", "{ws}");
    assert_eq!(ws["open_findings"]["high"], 0, "{ws}");

    // The hook input carried what cxd reads (ARCHITECTURE.md, "Claude Code hooks").
    let inputs = recorded_hook_inputs(&env);
    let post = inputs
        .iter()
        .find(|i| i["hook_event_name"] == "PostToolUse")
        .expect("a PostToolUse input");
    assert_eq!(post["session_id"], session);
    assert_eq!(post["tool_name"], "Write");
    assert_eq!(post["tool_input"]["file_path"], calc.to_str().unwrap());
    assert_eq!(post["cwd"], repo.to_str().unwrap());
    let stops: Vec<_> = inputs
        .iter()
        .filter(|i| i["hook_event_name"] == "Stop")
        .collect();
    assert_eq!(stops.len(), 2, "{inputs:#?}");
    assert_eq!(
        (
            stops[0]["stop_hook_active"].clone(),
            stops[1]["stop_hook_active"].clone()
        ),
        (json!(false), json!(true))
    );

    // 3. With the daemon stopped, the hooks fail open: Claude writes, stops and exits 0.
    env.ok(&["stop"]);
    let mut daemon = daemon;
    daemon.wait_exit(Duration::from_secs(20));
    let notes = repo.join("NOTES.md");
    let server2 = MockServer::start(
        "mock_messages_server.py",
        env.dir.path(),
        "run2",
        &json!([write_answer(&notes, "# Notes\n", "Writing notes."), "Done."]),
    );
    let started = Instant::now();
    let run2 = run_claude(
        &env,
        &claude,
        &repo,
        &bin,
        &server2,
        "c1a0de00-0000-4000-8000-000000000002",
        "Write NOTES.md",
    );
    eprintln!("claude run without a daemon took {:?}", started.elapsed());
    assert!(
        run2.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        run2.stdout,
        run2.stderr
    );
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "# Notes\n");
    let turns2 = agent_turns(&server2);
    assert_eq!(turns2.len(), 2, "no block: {}", run2.stdout);
    assert!(
        !last_messages(&turns2[1]).contains("hook additional context"),
        "{turns2:#?}"
    );
    assert!(
        run2.notices()
            .iter()
            .any(|n| n.contains("daemon is not running")),
        "the stop hook says why it let Claude go: {:#?}",
        run2.notices()
    );
}

/// The block reason tells the agent how to dispute; the (mock) model runs exactly that
/// command through Claude Code's Bash tool, the next review carries the dispute, Codex
/// withdraws the finding, and Claude may stop.
#[test]
fn real_claude_code_disputes_a_finding_with_the_command_the_block_reason_gave() {
    let Some(claude) = real_claude() else { return };
    let env = TestEnv::new();
    env.write_config("[settle]\nquiet_ms = 1000\nmax_wait_ms = 5000\n[gate]\nstop_wait_s = 60\n");
    let finding = json!({"severity": "high", "category": "bug", "file": "calc.rs", "line_start": 1,
        "line_end": 1, "title": "add overflows on large inputs", "body": "u64 + u64 wraps",
        "recommendation": "use checked_add", "confidence": 0.6});
    env.script_codex(&json!([
        {"answer": {"verdict": "changes_requested", "summary": "one bug", "findings": [finding], "fixed_finding_ids": []}},
        {"answer": {"verdict": "approve", "summary": "ruled", "findings": [], "fixed_finding_ids": [],
                    "rulings": [{"id": "F1", "ruling": "withdraw", "reply": "agreed: inputs are bounded by the caller"}]}},
    ]));
    let repo = init_repo(env.dir.path(), "repo");
    // The user lets the agent run `cxd dispute` (a Bash command) without asking.
    let bin = agent_setup(&env, &repo, true, "Bash(cxd dispute:*)");
    let daemon = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);

    let session = "c1a0de00-0000-4000-8000-000000000003";
    let reason = "inputs are bounded to 2^20 by the only caller";
    let command = format!("cxd dispute F1 --session {session} --reason \"{reason}\"");
    let calc = repo.join("calc.rs");
    let server = MockServer::start(
        "mock_messages_server.py",
        env.dir.path(),
        "dispute",
        &json!([
            write_answer(&calc, "pub fn add(a: u64, b: u64) -> u64 { a + b }\n", "Adding add."),
            "Added calc.rs.",
            {"text": "That finding is wrong; disputing it.",
             "tool_use": {"name": "Bash", "input": {"command": command, "description": "Dispute F1"}}},
            "Disputed F1.",
        ]),
    );
    let run = run_claude(
        &env,
        &claude,
        &repo,
        &bin,
        &server,
        session,
        "Add an add function in calc.rs",
    );
    let turns = agent_turns(&server);
    let diag = || run.diagnosis(turns.len(), &env, &daemon);
    assert!(run.status.success(), "{}", diag());
    assert_eq!(turns.len(), 4, "{}", diag());
    let feedback = last_messages(&turns[2]);
    assert!(
        feedback.contains("Stop hook feedback")
            && feedback.contains(&format!("cxd dispute F1 --session {session} --reason")),
        "the block reason gave the command: {feedback}"
    );
    let disputes = env.log_kind("dispute");
    assert_eq!(disputes.len(), 1, "{}", diag());
    assert_eq!(disputes[0]["by"], "agent");
    assert_eq!(disputes[0]["session"], session);
    assert_eq!(disputes[0]["reason"], reason);
    let calls = env.codex_calls();
    assert_eq!(calls.len(), 2, "{}", diag());
    assert!(
        calls[1]["prompt"].as_str().unwrap().contains(reason),
        "the next review saw the dispute"
    );
    let all: Value =
        serde_json::from_str(&env.ok(&["findings", repo.to_str().unwrap(), "--all", "--json"]))
            .unwrap();
    assert_eq!(all[0]["status"], "withdrawn", "{all}");
    assert_eq!(
        all[0]["dispute"]["reply"],
        "agreed: inputs are bounded by the caller"
    );
}

/// `cxd` on a PATH of the test's own (returned), cxd's hooks in `repo`'s settings when `hooks`,
/// and the user's permission `allow` for the agent's Bash commands.
fn agent_setup(env: &TestEnv, repo: &Path, hooks: bool, allow: &str) -> PathBuf {
    let bin = env.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(cxd_bin(), bin.join("cxd")).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    if hooks {
        let out = env
            .cmd(&["init", "claude", repo.to_str().unwrap()])
            .env("PATH", &path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::create_dir_all(env.home.join(".claude")).unwrap();
    std::fs::write(
        env.home.join(".claude/settings.json"),
        json!({"permissions": {"allow": [allow]}}).to_string(),
    )
    .unwrap();
    bin
}

/// `claude plugin ARGS` with the test's scratch HOME, offline.
fn claude_plugin(env: &TestEnv, claude: &Path, args: &[&str]) -> String {
    let out = Command::new(claude)
        .arg("plugin")
        .args(args)
        .env("HOME", &env.home)
        .env("DISABLE_AUTOUPDATER", "1")
        .env("DISABLE_TELEMETRY", "1")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env_remove("CLAUDE_CONFIG_DIR")
        .current_dir(env.dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "claude plugin {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The plugin, installed the way users install it (`claude plugin marketplace add` of this
/// repository, `claude plugin install cxd@cxd`), with no `cxd init claude`: its SessionStart
/// hook hands Claude the open findings, its MCP tools reach the model and the findings tool
/// answers a call, and its edit hook attributes the agent's edit.
#[test]
fn real_claude_code_with_the_plugin_installed_gets_the_findings_from_its_hooks_and_mcp_tools() {
    let Some(claude) = real_claude() else { return };
    let env = TestEnv::new();
    env.write_config("[settle]\nquiet_ms = 1000\nmax_wait_ms = 5000\n[gate]\nstop_wait_s = 60\n");
    let finding = json!({"severity": "high", "category": "bug", "file": "calc.rs", "line_start": 1,
        "line_end": 1, "title": "add overflows on large inputs", "body": "u32 + u32 wraps",
        "recommendation": "use checked_add", "confidence": 0.9});
    env.script_codex(&json!([
        {"answer": {"verdict": "changes_requested", "summary": "one bug", "findings": [finding], "fixed_finding_ids": []}},
        {"answer": {"verdict": "approve", "summary": "notes are fine", "findings": [], "fixed_finding_ids": []}},
    ]));
    let repo = init_repo(env.dir.path(), "repo");
    let bin = env.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(cxd_bin(), bin.join("cxd")).unwrap();

    // A finding is open before the session starts.
    let daemon = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    std::fs::write(
        repo.join("calc.rs"),
        "pub fn add(a: u32, b: u32) -> u32 { a + b }\n",
    )
    .unwrap();
    let out = env.run(&["review", repo.to_str().unwrap(), "--wait", "--all"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    claude_plugin(
        &env,
        &claude,
        &["marketplace", "add", root.to_str().unwrap()],
    );
    claude_plugin(&env, &claude, &["install", "cxd@cxd"]);
    assert!(
        !repo.join(".claude").exists(),
        "nothing is written into the repository"
    );
    // The user lets the model call cxd's MCP tools without asking (this run has no one to ask).
    let settings_path = env.home.join(".claude/settings.json");
    let mut settings: Value =
        serde_json::from_str(&std::fs::read_to_string(&settings_path).unwrap()).unwrap();
    assert_eq!(settings["enabledPlugins"]["cxd@cxd"], true, "{settings}");
    let tool = "mcp__plugin_cxd_cxd__findings";
    settings["permissions"] = json!({"allow": [tool]});
    std::fs::write(&settings_path, settings.to_string()).unwrap();

    let notes = repo.join("NOTES.md");
    let server = MockServer::start(
        "mock_messages_server.py",
        env.dir.path(),
        "plugin",
        &json!([
            {"text": "Loading cxd's findings tool.",
             "tool_use": {"name": "ToolSearch", "input": {"query": format!("select:{tool}"), "max_results": 1}}},
            {"text": "Checking cxd's findings first.", "tool_use": {"name": tool, "input": {}}},
            write_answer(&notes, "# Notes\n", "Writing notes."),
            "Done.",
        ]),
    );
    let session = "c1a0de00-0000-4000-8000-000000000004";
    let run = run_claude(
        &env,
        &claude,
        &repo,
        &bin,
        &server,
        session,
        "Look at cxd's findings, then write NOTES.md",
    );
    let turns = agent_turns(&server);
    let diag = || run.diagnosis(turns.len(), &env, &daemon);
    assert!(run.status.success(), "{}", diag());
    assert_eq!(turns.len(), 4, "{}", diag());

    // The model is offered cxd's MCP tools: Claude Code lists them by name as deferred tools
    // (loaded with ToolSearch), and never a dismiss or approve tool.
    let offered = texts(&turns[0]["body"]);
    for t in ["status", "findings", "review", "plan", "dispute"] {
        let name = format!("mcp__plugin_cxd_cxd__{t}\n");
        assert!(offered.contains(&name), "{name} offered: {offered}");
    }
    assert!(
        !offered.contains("mcp__plugin_cxd_cxd__dismiss")
            && !offered.contains("mcp__plugin_cxd_cxd__approve")
    );
    // The SessionStart context carried the open finding.
    let first = texts(&turns[0]["body"]["messages"]);
    assert!(
        first.contains("finding(s) from its earlier reviews are open")
            && first.contains("F1 [high] calc.rs:1: add overflows on large inputs"),
        "the session start's context: {first}\n{}",
        diag()
    );
    // The findings tool answered the model's call with the open finding.
    let result = last_messages(&turns[2]);
    assert!(
        result.contains("high (1)")
            && result.contains("add overflows on large inputs")
            && result.contains("fix: use checked_add"),
        "the findings tool's result: {result}\n{}",
        diag()
    );
    // The plugin's edit hook attributed the Write to the agent's session.
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "# Notes\n");
    let edits = env.log_kind("edit");
    assert!(
        edits
            .iter()
            .any(|e| e["by"] == "agent" && e["session"] == session && e["files"][0] == "NOTES.md"),
        "{edits:#?}\n{}",
        diag()
    );
    // The plugin's stop hook had the edit reviewed before Claude finished.
    assert!(
        run.notices()
            .iter()
            .any(|n| n.contains("cxd: Codex approved the changes")),
        "{:#?}\n{}",
        run.notices(),
        diag()
    );
}

/// The agent under review, through Claude Code's own Bash tool, tries to answer for the user:
/// dismiss the finding, approve the tree, and approve again with Claude Code's variables
/// removed. Without cxd's hooks the daemon refuses each (it finds Claude Code among the
/// client's ancestors); with them, the PreToolUse hook denies the commands before they run.
#[test]
fn real_claude_code_cannot_dismiss_or_approve_for_the_user() {
    let Some(claude) = real_claude() else { return };
    for hooks in [false, true] {
        let env = TestEnv::new();
        env.write_config(
            "[settle]\nquiet_ms = 200\nmax_wait_ms = 2000\n[gate]\nstop_wait_s = 60\n",
        );
        let finding = json!({"severity": "high", "category": "bug", "file": "calc.rs", "line_start": 1,
            "line_end": 1, "title": "add overflows", "body": "u32 + u32 wraps",
            "recommendation": "use checked_add", "confidence": 0.9});
        env.script_codex(&json!([
            {"answer": {"verdict": "changes_requested", "summary": "one bug", "findings": [finding], "fixed_finding_ids": []}},
        ]));
        let repo = init_repo(env.dir.path(), "repo");
        // The user lets the agent run any Bash command without asking.
        let bin = agent_setup(&env, &repo, hooks, "Bash");
        let daemon = env.start_daemon();
        env.ok(&["watch", repo.to_str().unwrap()]);
        // A person's edit: its review opens F1 before the agent's turn.
        std::fs::write(
            repo.join("calc.rs"),
            "pub fn add(a: u32, b: u32) -> u32 { a + b }\n",
        )
        .unwrap();
        env.wait_reviews(1, Duration::from_secs(30));

        let agent_env = env.dir.path().join("agent-env.txt");
        let command = format!(
            "env > {}; cxd dismiss F1 --reason 'not a real problem'; cxd approve; env -u CLAUDECODE -u CLAUDE_CODE_ENTRYPOINT -u CLAUDE_CODE_SESSION_ID cxd approve",
            agent_env.display()
        );
        let server = MockServer::start(
            "mock_messages_server.py",
            env.dir.path(),
            "answer-for-user",
            &json!([
                {"text": "The finding is noise; closing it.",
                 "tool_use": {"name": "Bash", "input": {"command": command, "description": "Close F1"}}},
                "Closed it.",
            ]),
        );
        let session = "c1a0de00-0000-4000-8000-000000000022";
        let run = run_claude(
            &env,
            &claude,
            &repo,
            &bin,
            &server,
            session,
            "Close the finding",
        );
        let turns = agent_turns(&server);
        let diag = || run.diagnosis(turns.len(), &env, &daemon);
        assert!(run.status.success(), "{}", diag());
        assert!(turns.len() >= 2, "{}", diag());
        let result = last_messages(&turns[1]);
        assert!(
            result.contains("the user's decision") && result.contains("cxd dispute ID"),
            "the agent was told why and what to do instead: {result}\n{}",
            diag()
        );
        // Nothing it tried took effect.
        let open: Value =
            serde_json::from_str(&env.ok(&["findings", repo.to_str().unwrap(), "--json"])).unwrap();
        assert_eq!(open[0]["id"], "F1", "{}", diag());
        assert!(env.log_kind("dismissal").is_empty(), "{}", diag());
        assert!(env.log_kind("approval").is_empty(), "{}", diag());
        let refused_by_daemon = daemon.log_text().contains("refused a user's decision");
        if hooks {
            // Denied before it ran: the daemon never heard of it.
            assert!(!refused_by_daemon, "{}", diag());
            assert!(!agent_env.exists(), "the command did not run");
        } else {
            assert!(refused_by_daemon, "{}", diag());
            let seen = std::fs::read_to_string(&agent_env).unwrap();
            assert!(
                seen.lines().any(|l| l == "CLAUDECODE=1"),
                "Claude Code's Bash environment: {seen}"
            );
        }
    }
}
