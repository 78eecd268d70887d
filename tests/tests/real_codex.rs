//! One review through the REAL codex CLI (`@openai/codex`, installed from the npm registry by
//! tests/fixtures/install-codex.sh) against a loopback mock of the Responses API.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cxd_e2e::{TestEnv, init_repo, wait_for};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(120);

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn have(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The codex launcher: `CXD_REAL_CODEX`, else installed (idempotently) into `.tools/codex`.
fn real_codex() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CXD_REAL_CODEX") {
        return Some(PathBuf::from(p));
    }
    if !have("node") || !have("npm") {
        eprintln!("SKIPPED: node/npm are not installed, so the real codex CLI cannot be installed");
        return None;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/codex");
    let out = Command::new("bash")
        .arg(fixtures().join("install-codex.sh"))
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "install-codex.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()))
}

struct MockServer {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl MockServer {
    fn start(dir: &Path, answers: &Value) -> Self {
        let answers_path = dir.join("answers.json");
        std::fs::write(&answers_path, answers.to_string()).unwrap();
        let log = dir.join("requests.jsonl");
        let mut child = Command::new("python3")
            .arg(fixtures().join("mock_responses_server.py"))
            .arg("--log")
            .arg(&log)
            .arg("--answers")
            .arg(&answers_path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("PORT=")
            .expect("PORT= line")
            .parse()
            .unwrap();
        Self { child, port, log }
    }

    fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
        env.dir.path(),
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
