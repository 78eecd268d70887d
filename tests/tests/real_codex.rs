//! One review through the REAL codex CLI (`@openai/codex`, installed from the npm registry by
//! tests/fixtures/install-codex.sh) against a loopback mock of the Responses API.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::time::Duration;

use cxd_e2e::{MockServer, TestEnv, init_repo, mock_codex_home, wait_for};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(120);

fn real_codex() -> Option<PathBuf> {
    cxd_e2e::npm_cli("CXD_REAL_CODEX", "codex CLI", "install-codex.sh", "codex")
}

#[test]
fn a_review_through_real_codex_stores_findings_and_the_next_resumes_its_thread() {
    let Some(codex) = real_codex() else { return };
    let env = TestEnv::new();
    let first = json!({"verdict": "changes_requested", "summary": "one problem",
        "findings": [{"severity": "high", "category": "bug", "file": "README", "line_start": 2, "line_end": 2,
                      "title": "greeting lost", "body": "b", "recommendation": "r", "confidence": 0.9}],
        "fixed_finding_ids": []});
    let second = json!({"verdict": "approve", "summary": "fixed", "findings": [], "fixed_finding_ids": ["F1"]});
    let server = MockServer::start(
        "mock_responses_server.py",
        env.dir.path(),
        "model",
        &json!([
            {"text": first.to_string(), "reasoning": "Reading the diff."},
            second.to_string(),
        ]),
    );
    let codex_home = mock_codex_home(env.dir.path(), server.port, "");
    env.write_config("[settle]\nquiet_ms = 200\nmax_wait_ms = 2000\n[review]\nmodel = \"mock-model\"\ntimeout_s = 120\n");
    let repo = init_repo(env.dir.path(), "repo");
    let log = std::fs::File::create(env.dir.path().join("daemon.log")).unwrap();
    let mut daemon = env
        .cmd(&["daemon", "--log-stderr"])
        .env("CXD_CODEX_BIN", &codex)
        .env("CODEX_HOME", &codex_home)
        .env("CXD_MOCK_API_KEY", "dummy")
        .env_remove("RUST_BACKTRACE")
        .stderr(log)
        .spawn()
        .unwrap();
    wait_for("daemon", T, || {
        env.run(&["status"]).status.success().then_some(())
    });
    env.ok(&["watch", repo.to_str().unwrap()]);

    std::fs::write(repo.join("README"), "hello\nbye\n").unwrap();
    let out = env.run(&["review", "--wait", "--json", repo.to_str().unwrap()]);
    let text = std::fs::read_to_string(env.dir.path().join("daemon.log")).unwrap_or_default();
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout {}\nstderr {}\ndaemon log:\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(done["review"]["verdict"], "changes_requested");
    assert_eq!(done["opened"][0]["id"], "F1");
    assert_eq!(done["opened"][0]["title"], "greeting lost");
    let status = env.status_json();
    let thread = status["workspaces"][0]["thread_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        status["workspaces"][0]["last_review"]["tokens"]["input"]
            .as_u64()
            .unwrap()
            > 0
    );

    std::fs::write(repo.join("README"), "hello\nhello again\n").unwrap();
    let out = env.run(&["review", "--wait", "--json", repo.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(done["resolved"], json!(["F1"]));
    let status = env.status_json();
    assert_eq!(
        status["workspaces"][0]["thread_id"],
        thread.as_str(),
        "the second review resumed the same thread"
    );
    // The model server saw both turns; the second carries the first turn's history.
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert!(
        requests[1].to_string().contains("greeting lost"),
        "resume sends the thread's history"
    );

    env.ok(&["stop"]);
    let _ = daemon.wait();
}

/// The user's Codex hooks (SessionStart, UserPromptSubmit, Stop), notify program and MCP
/// server each append a line to a marker file. Run directly, the same codex with the same
/// home fires all of them; run by cxd, none fires, and the review still goes through the
/// user's model provider.
#[test]
fn a_cxd_review_runs_none_of_the_users_hooks_notify_or_mcp_servers() {
    let Some(codex) = real_codex() else { return };
    let env = TestEnv::new();
    let answer =
        json!({"verdict": "approve", "summary": "fine", "findings": [], "fixed_finding_ids": []});
    let server = MockServer::start(
        "mock_responses_server.py",
        env.dir.path(),
        "model",
        &json!([answer.to_string()]),
    );
    let marker = env.dir.path().join("markers.txt");
    let script = env.dir.path().join("mark.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$1\" >> '{}'\nexec cat > /dev/null\n",
            marker.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let s = script.display();
    let codex_home = mock_codex_home(
        env.dir.path(),
        server.port,
        &format!(
            "notify = [\"{s}\", \"notify\"]\n\n[mcp_servers.marker]\ncommand = \"{s}\"\nargs = [\"mcp\"]\nstartup_timeout_sec = 5\n"
        ),
    );
    let hook =
        |event: &str| json!([{"hooks": [{"type": "command", "command": format!("{s} {event}")}]}]);
    std::fs::write(
        codex_home.join("hooks.json"),
        json!({"hooks": {"SessionStart": hook("session_start"),
                         "UserPromptSubmit": hook("prompt"), "Stop": hook("stop")}})
        .to_string(),
    )
    .unwrap();
    // Hooks need the user's trust; bypassing it here makes them fire whenever hooks are on.
    let bypass = "--dangerously-bypass-hook-trust";
    let repo = init_repo(env.dir.path(), "repo");
    let markers = || {
        let text = std::fs::read_to_string(&marker).unwrap_or_default();
        let mut seen: Vec<String> = text.lines().map(str::to_owned).collect();
        seen.sort();
        seen.dedup();
        seen
    };

    // Control: the same codex, without cxd's overrides, runs every one of them.
    let control = cxd_e2e::run_with_stdin(
        {
            let mut c = std::process::Command::new(&codex);
            c.args([
                "exec",
                bypass,
                "--json",
                "-s",
                "read-only",
                "-m",
                "mock-model",
                "-C",
            ])
            .arg(&repo)
            .arg("-")
            .env("CODEX_HOME", &codex_home)
            .env("CXD_MOCK_API_KEY", "dummy");
            c
        },
        b"review nothing",
    );
    assert!(
        control.status.success(),
        "{}",
        String::from_utf8_lossy(&control.stderr)
    );
    let all = ["mcp", "notify", "prompt", "session_start", "stop"];
    wait_for("the control run's hooks, notify and MCP server", T, || {
        (markers() == all).then_some(())
    });
    std::fs::remove_file(&marker).unwrap();

    env.write_config(&format!(
        "[settle]\nquiet_ms = 200\nmax_wait_ms = 2000\n[review]\nmodel = \"mock-model\"\ntimeout_s = 120\nextra_args = [\"{bypass}\"]\n"
    ));
    let mut daemon = env
        .cmd(&["daemon", "--log-stderr"])
        .env("CXD_CODEX_BIN", &codex)
        .env("CODEX_HOME", &codex_home)
        .env("CXD_MOCK_API_KEY", "dummy")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for("daemon", T, || {
        env.run(&["status"]).status.success().then_some(())
    });
    env.ok(&["watch", repo.to_str().unwrap()]);
    std::fs::write(repo.join("README"), "hello\nbye\n").unwrap();
    let out = env.run(&["review", "--wait", "--json", repo.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(done["review"]["verdict"], "approve", "{done}");
    assert_eq!(
        server
            .requests()
            .iter()
            .filter(|r| r["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("/responses")))
            .count(),
        2
    );
    assert_eq!(
        markers(),
        Vec::<String>::new(),
        "a hook, notify or MCP server ran in a cxd review"
    );

    env.ok(&["stop"]);
    let _ = daemon.wait();
}
