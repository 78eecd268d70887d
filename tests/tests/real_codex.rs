//! One review through the REAL codex CLI (`@openai/codex`, installed from the npm registry by
//! tests/fixtures/install-codex.sh) against a loopback mock of the Responses API.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::time::Duration;

use cxd_e2e::{MockServer, TestEnv, init_repo, wait_for};
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
    let codex_home = env.dir.path().join("codex-home");
    std::fs::create_dir_all(&codex_home).unwrap();
    std::fs::write(
        codex_home.join("config.toml"),
        format!(
            "model_provider = \"cxdmock\"\n\n[model_providers.cxdmock]\nname = \"cxd mock\"\nbase_url = \"http://127.0.0.1:{}/v1\"\nwire_api = \"responses\"\nenv_key = \"CXD_MOCK_API_KEY\"\n\n[features]\nunbounded_connection_retries = false\nplugins = false\n\n[analytics]\nenabled = false\n",
            server.port
        ),
    )
    .unwrap();
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
