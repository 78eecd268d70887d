//! A review never runs with isolation cxd could not apply: every MCP server in the user's
//! and the project's codex config is turned off however large the file is, and a config file
//! cxd cannot read halts the workspace with a warning naming the file, and codex never runs.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::time::Duration;

use cxd_e2e::{SETTLE_NEVER, TestEnv, argv};

const T: Duration = Duration::from_secs(30);

fn codex_config(env: &TestEnv) -> PathBuf {
    let dir = env.home.join(".codex");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("config.toml")
}

#[test]
fn a_server_after_64_kib_of_padding_is_turned_off() {
    let (env, repo) = TestEnv::with_repo(SETTLE_NEVER);
    let pad: String = (0..4000)
        .map(|i| format!("# padding line {i:>20}\n"))
        .collect();
    assert!(pad.len() > 100 * 1024);
    std::fs::write(
        codex_config(&env),
        format!("[mcp_servers.early]\ncommand = \"e\"\n{pad}[mcp_servers.late]\ncommand = \"l\"\n"),
    )
    .unwrap();
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    std::fs::write(repo.join("README"), "changed\n").unwrap();
    let out = env.run(&["review", "--wait", repo.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = env.codex_calls();
    assert_eq!(calls.len(), 1);
    let a = argv(&calls[0]);
    for name in ["early", "late"] {
        let want = format!("mcp_servers.{name}.enabled=false");
        assert!(
            a.windows(2).any(|w| w[0] == "-c" && w[1] == want),
            "{want} missing from {a:?}"
        );
    }
}

#[test]
fn an_unreadable_codex_config_halts_the_workspace_naming_it() {
    let (env, repo) = TestEnv::with_repo(SETTLE_NEVER);
    let file = codex_config(&env);
    // Past any size cxd reads: a sparse file, the server name at its very end.
    let f = std::fs::File::create(&file).unwrap();
    f.set_len(64 * 1024 * 1024).unwrap();
    drop(f);
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    std::fs::write(repo.join("README"), "changed\n").unwrap();
    let out = env.run(&["review", "--wait", repo.to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0));
    let w = env.wait_state("halted", T);
    let why = w["error"].as_str().unwrap_or_default().to_owned();
    assert!(why.contains(file.to_str().unwrap()), "{w:#}");
    assert!(env.codex_calls().is_empty(), "codex ran without isolation");
    // A project's codex config that is not a regular file halts the same way.
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir_all(repo.join(".codex")).unwrap();
    let fifo = repo.join(".codex/config.toml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    std::fs::write(repo.join("README"), "changed again\n").unwrap();
    let out = env.run(&["review", "--wait", repo.to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0));
    let w = env.wait_state("halted", T);
    let why = w["error"].as_str().unwrap_or_default().to_owned();
    assert!(why.contains(fifo.to_str().unwrap()), "{w:#}");
    assert!(env.codex_calls().is_empty(), "codex ran without isolation");
}
