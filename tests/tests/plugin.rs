//! The Claude Code plugin's parts that run without Claude: the SessionStart hook (start the
//! daemon, watch the session's repository, hand over the open findings), the monitor's
//! `cxd events --blocking-only`, and the plugin's own files (valid JSON, hook commands that
//! exist, the install notice when `cxd` is not on PATH, the real CLI's `plugin validate`).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use cxd_e2e::{TestEnv, answer, finding, init_repo};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn plugin_dir() -> PathBuf {
    repo_root().join("plugin")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn session_start(repo: &Path, session: &str) -> Value {
    json!({"session_id": session, "transcript_path": "/tmp/t.jsonl", "cwd": repo,
           "hook_event_name": "SessionStart", "source": "startup"})
}

/// The `additionalContext` of a SessionStart hook's output.
fn context(out: &std::process::Output) -> String {
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {:?} stderr {:?}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(
        v["hookSpecificOutput"]["hookEventName"], "SessionStart",
        "{v}"
    );
    v["hookSpecificOutput"]["additionalContext"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn session_start_starts_the_daemon_watches_the_repository_and_says_nothing_is_open() {
    let env = TestEnv::new();
    let repo = init_repo(env.dir.path(), "repo");
    // No daemon yet: the hook starts one and watches the session's repository.
    let out = env.hook("session-start", &session_start(&repo.join("."), "s-1"));
    let said = context(&out);
    assert!(said.contains("No findings are open"), "{said}");
    assert!(said.contains(repo.to_str().unwrap()), "{said}");
    let ws = env.workspace();
    assert_eq!(ws["root"], repo.to_str().unwrap(), "{ws}");
    // Twice changes nothing.
    let again = env.hook("session-start", &session_start(&repo, "s-2"));
    assert!(context(&again).contains("No findings are open"));
    assert_eq!(env.status_json()["workspaces"].as_array().unwrap().len(), 1);
    env.ok(&["stop"]);
}

#[test]
fn session_start_hands_claude_the_open_findings_and_the_edit_hook_does_not_repeat_them() {
    let env = TestEnv::new();
    env.write_config("[settle]\nquiet_ms = 60000\nmax_wait_ms = 120000\n");
    env.script_codex(&json!([answer(vec![
        finding("add overflows on large inputs")
            .severity("high")
            .file("calc.rs")
            .recommendation("use checked_add")
    ])]));
    let repo = init_repo(env.dir.path(), "repo");
    let _daemon = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    std::fs::write(
        repo.join("calc.rs"),
        "pub fn add(a: u32, b: u32) -> u32 { a + b }\n",
    )
    .unwrap();
    let out = env.run(&["review", repo.to_str().unwrap(), "--wait", "--all"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");

    let session = "0b5e0000-0000-4000-8000-000000000001";
    let said = context(&env.hook("session-start", &session_start(&repo, session)));
    assert!(
        said.contains("1 finding(s) from its earlier reviews are open"),
        "{said}"
    );
    assert!(
        said.contains("F1 [high] calc.rs:1: add overflows on large inputs — fix: use checked_add"),
        "{said}"
    );
    assert!(
        said.contains(&format!("cxd dispute F1 --session {session} --reason")),
        "{said}"
    );
    // The edit hook passes on findings this session has not been told about: none now.
    let edit = env.hook(
        "post-tool-use",
        &json!({"session_id": session, "cwd": repo, "hook_event_name": "PostToolUse",
                "tool_name": "Write", "tool_input": {"file_path": repo.join("calc.rs"), "content": "x"}}),
    );
    assert!(
        edit.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&edit.stdout)
    );
}

#[test]
fn session_start_outside_a_git_repository_says_nothing() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon();
    let plain = env.dir.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let out = env.hook("session-start", &session_start(&plain, "s-1"));
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(env.status_json()["workspaces"], json!([]));
    // Bad input: nothing, exit 0.
    let out = cxd_e2e::run_with_stdin(env.cmd(&["hook", "claude", "session-start"]), b"{not json");
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
}

#[test]
fn the_monitor_prints_one_line_per_new_blocking_finding_of_its_workspace_and_nothing_else() {
    let env = TestEnv::new();
    env.write_config(
        "[settle]\nquiet_ms = 60000\nmax_wait_ms = 120000\n[gate]\nblock_on = \"high\"\n",
    );
    env.script_codex(&json!([
        answer(vec![
            finding("already open before the monitor")
                .severity("high")
                .file("calc.rs")
                .recommendation("use checked_add")
        ]),
        answer(vec![
            finding("already open before the monitor")
                .severity("high")
                .file("calc.rs")
                .recommendation("use checked_add"),
            finding("new \u{1b}]0;pwned\u{7} critical one")
                .severity("critical")
                .file("calc.rs")
                .recommendation("use checked_add"),
            finding("a low one does not block")
                .severity("low")
                .file("calc.rs")
                .recommendation("use checked_add"),
        ]),
        answer(vec![
            finding("in the other repository")
                .severity("high")
                .file("calc.rs")
                .recommendation("use checked_add")
        ]),
    ]));
    let repo = init_repo(env.dir.path(), "repo");
    let other = init_repo(env.dir.path(), "other");
    let _daemon = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    env.ok(&["watch", other.to_str().unwrap()]);
    let review = |dir: &Path, n: u32| {
        std::fs::write(dir.join("calc.rs"), format!("// {n}\n")).unwrap();
        env.run(&["review", dir.to_str().unwrap(), "--wait", "--all"])
    };
    assert_eq!(review(&repo, 1).status.code(), Some(1));

    let mut monitor = env
        .cmd(&["events", "--blocking-only"])
        .current_dir(&repo)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = monitor.stdout.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // It says on stderr (which a plugin monitor does not pass to the model) when it follows.
    let mut stderr = BufReader::new(monitor.stderr.take().unwrap());
    let mut ready = String::new();
    stderr.read_line(&mut ready).unwrap();
    assert!(
        ready.contains("following the blocking findings") && ready.contains(repo.to_str().unwrap()),
        "{ready}"
    );
    assert_eq!(review(&repo, 2).status.code(), Some(1));
    let line = lines
        .recv_timeout(T)
        .expect("a line for the new critical finding");
    assert!(
        line.starts_with("cxd: Codex found a critical problem, F2 at calc.rs:1: new "),
        "{line}"
    );
    assert!(
        !line.contains('\u{1b}') && line.contains("\\x1b]0;pwned"),
        "{line:?}"
    );
    // The other repository's finding, and nothing else, follows: no line for it here.
    assert_eq!(review(&other, 3).status.code(), Some(1));
    match lines.recv_timeout(Duration::from_millis(500)) {
        Err(RecvTimeoutError::Timeout) => {}
        other => panic!("only the new blocking finding of this workspace: {other:?}"),
    }
    let _ = monitor.kill();
    let _ = monitor.wait();
}

#[test]
fn the_monitor_waits_for_a_daemon_and_a_watch_that_come_after_it() {
    let env = TestEnv::new();
    env.write_config("[settle]\nquiet_ms = 60000\nmax_wait_ms = 120000\n");
    env.script_codex(&json!([answer(vec![
        finding("found after the monitor started")
            .severity("high")
            .file("calc.rs")
            .recommendation("use checked_add")
    ])]));
    let repo = init_repo(env.dir.path(), "repo");
    // Started before the session's daemon, as a plugin monitor may be.
    let mut monitor = env
        .cmd(&["events", "--blocking-only", repo.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = monitor.stdout.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let _daemon = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    let mut stderr = BufReader::new(monitor.stderr.take().unwrap());
    let mut ready = String::new();
    stderr.read_line(&mut ready).unwrap();
    assert!(ready.contains("following the blocking findings"), "{ready}");
    std::fs::write(repo.join("calc.rs"), "// 1\n").unwrap();
    let out = env.run(&["review", repo.to_str().unwrap(), "--wait", "--all"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let line = lines.recv_timeout(T).expect("a line for the new finding");
    assert!(
        line.contains("F1") && line.contains("found after the monitor started"),
        "{line}"
    );
    let _ = monitor.kill();
    let _ = monitor.wait();
}

#[test]
fn the_plugin_files_are_valid_and_name_hooks_and_commands_cxd_has() {
    let root = repo_root();
    let market = read_json(&root.join(".claude-plugin/marketplace.json"));
    assert_eq!(market["name"], "cxd");
    assert_eq!(market["plugins"][0]["name"], "cxd");
    assert_eq!(market["plugins"][0]["source"], "./plugin");
    let plugin = plugin_dir();
    let manifest = read_json(&plugin.join(".claude-plugin/plugin.json"));
    assert_eq!(manifest["name"], "cxd");
    // The plugin's version is the crate's: both ship together.
    assert_eq!(manifest["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(market["plugins"][0]["version"], env!("CARGO_PKG_VERSION"));
    let mcp = read_json(&plugin.join(".mcp.json"));
    assert_eq!(mcp["mcpServers"]["cxd"]["command"], "cxd");
    assert_eq!(mcp["mcpServers"]["cxd"]["args"], json!(["mcp"]));
    let monitors = read_json(&plugin.join("monitors/monitors.json"));
    assert!(
        monitors[0]["command"]
            .as_str()
            .unwrap()
            .contains("exec cxd events --blocking-only"),
        "{monitors}"
    );

    let hooks = read_json(&plugin.join("hooks/hooks.json"));
    let events = [
        ("SessionStart", "session-start"),
        ("PostToolUse", "post-tool-use"),
        ("Stop", "stop"),
        ("PreToolUse", "pre-tool-use"),
    ];
    for (event, handler) in events {
        let hook = &hooks["hooks"][event][0]["hooks"][0];
        let command = hook["command"].as_str().unwrap();
        assert!(
            command.contains(&format!("exec cxd hook claude {handler}'")),
            "{event}: {command}"
        );
        // The handler exists in this cxd.
        let help = Command::new(cxd_e2e::cxd_bin())
            .args(["hook", "claude", handler, "--help"])
            .output()
            .unwrap();
        assert!(help.status.success(), "{event}: cxd hook claude {handler}");
        // Hooks that wait on a review allow more than the longest review by default (900 s).
        let timeout = hook["timeout"].as_u64().unwrap();
        if matches!(event, "Stop" | "PreToolUse") {
            assert!(timeout > 900 + 60, "{event}: {timeout}");
        }
        // Without cxd on PATH the command runs, exits 0, and only SessionStart says anything:
        // the one install command.
        let out = without_cxd(command, &json!({"hook_event_name": event}));
        assert_eq!(out.status.code(), Some(0), "{event}: {out:?}");
        if event == "SessionStart" {
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            let msg = v["systemMessage"].as_str().unwrap();
            assert!(msg.contains("(cargo install cxd)"), "{msg}");
        } else {
            assert!(out.stdout.is_empty(), "{event}: {out:?}");
        }
    }
    for command in ["status", "findings", "review", "plan", "setup"] {
        let text = std::fs::read_to_string(plugin.join(format!("commands/{command}.md"))).unwrap();
        assert!(text.starts_with("---\ndescription: "), "{command}");
    }
    let skill = std::fs::read_to_string(plugin.join("skills/cxd-loop/SKILL.md")).unwrap();
    assert!(skill.starts_with("---\nname: cxd-loop\ndescription: "));
    let setup = std::fs::read_to_string(plugin.join("commands/setup.md")).unwrap();
    assert!(setup.contains("AskUserQuestion") && setup.contains(".cxd.toml"));
}

/// Run a hook command line with `input` on stdin and a PATH that holds no `cxd`; the command
/// may exit without reading its input.
fn without_cxd(command: &str, input: &Value) -> std::process::Output {
    use std::io::Write as _;
    // A PATH with `sh` and nothing else.
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/bin/sh", bin.path().join("sh")).unwrap();
    let mut child = Command::new("/bin/sh")
        .args(["-c", command])
        .env("PATH", bin.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = writeln!(child.stdin.take().unwrap(), "{input}");
    child.wait_with_output().unwrap()
}

/// The real Claude Code CLI's own validation of the marketplace and the plugin, strict.
#[test]
fn the_real_claude_code_cli_validates_the_marketplace_and_the_plugin() {
    let Some(claude) = cxd_e2e::npm_cli(
        "CXD_REAL_CLAUDE",
        "Claude Code CLI",
        "install-claude.sh",
        "claude",
    ) else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    for target in [repo_root(), plugin_dir()] {
        let out = Command::new(&claude)
            .args(["plugin", "validate", "--strict", "--json"])
            .arg(&target)
            .env("HOME", home.path())
            .env("DISABLE_AUTOUPDATER", "1")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .env_remove("CLAUDE_CONFIG_DIR")
            .output()
            .unwrap();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{e}: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        assert!(
            out.status.success() && report["success"] == true,
            "{}: {report:#}",
            target.display()
        );
        assert_eq!(report["manifest"]["errors"], json!([]), "{report:#}");
        assert_eq!(report["manifest"]["warnings"], json!([]), "{report:#}");
    }
}
