//! The `--json` output of every command that has it, pinned by snapshots: scripts rely on it,
//! so a field may be added but never renamed, removed or change its type.
//!
//! Each test plays a deterministic scenario (a long settle, so only the reviews the test asks
//! for run; the fake codex scripted with findings of every severity and fixed token counts)
//! and compares the whole document with `tests/snapshots/json_contract/<name>.json`, volatile
//! values replaced by their type (see `cxd_e2e::json_snapshot`). After an intended change:
//!
//! ```text
//! CXD_UPDATE_SNAPSHOTS=1 cargo nextest run -p cxd-e2e -E 'binary(json_contract)'
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use cxd_e2e::json_snapshot::{assert_json_snapshot, normalise};
use cxd_e2e::{Daemon, TestEnv, answer, finding, git, init_repo, wait_for};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);

/// A workspace watched by a running daemon; reviews run only when a test asks for one.
struct Ws {
    env: TestEnv,
    repo: PathBuf,
    daemon: Option<Daemon>,
}

impl Ws {
    fn new() -> Self {
        let env = TestEnv::new();
        env.write_config(
            "[review]\nmodel = \"m-json\"\neffort = \"high\"\n\
             [settle]\nquiet_ms = 600000\nmax_wait_ms = 600000\n",
        );
        let repo = init_repo(env.dir.path(), "repo");
        std::fs::create_dir(repo.join("src")).unwrap();
        std::fs::write(repo.join("src/lib.rs"), "fn main() {}\n").unwrap();
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", "src"]);
        let daemon = env.start_daemon();
        env.ok(&["watch", repo.to_str().unwrap()]);
        Self {
            env,
            repo,
            daemon: Some(daemon),
        }
    }

    fn r(&self) -> &str {
        self.repo.to_str().unwrap()
    }

    /// Write `files` and wait until the watcher has reported every one of them, so what the
    /// next review records does not depend on timing.
    fn edit(&self, files: &[(&str, &str)]) {
        for (name, text) in files {
            std::fs::write(self.repo.join(name), text).unwrap();
        }
        wait_for("the watcher to see the edit", T, || {
            let w = self.env.workspace();
            (w["pending_files"].as_u64() == Some(files.len() as u64)).then_some(())
        });
    }

    /// Run `cxd ARGS`, expecting exit `code`; stdout parsed as one JSON document.
    fn json(&self, args: &[&str], code: i32) -> Value {
        let out = self.env.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "cxd {args:?}: {}",
            show(&out)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("cxd {args:?} printed no JSON ({e}): {}", show(&out)))
    }

    fn snapshot(&self, name: &str, value: &Value) {
        assert_json_snapshot(name, value, self.env.dir.path());
    }
}

fn show(out: &Output) -> String {
    format!(
        "{}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// What the main scenario printed along the way.
struct Story {
    ws: Ws,
    changes_requested: Value,
    approved: Value,
    plan: Value,
    revised_plan: Value,
}

/// Two reviews (findings of every severity, then two fixed), a dismissal, an agent's edit, a
/// plan validation and its approved revision, and an approval.
fn story() -> Story {
    let ws = Ws::new();
    let plan_finding = finding("the plan has no rollback")
        .severity("medium")
        .category("architecture")
        .file("")
        .lines(0, 0)
        .body("why: the plan has no rollback")
        .recommendation("fix: the plan has no rollback")
        .confidence(0.6);
    ws.env.script_codex(&json!([
        answer(vec![
            finding("query built from input")
                .severity("critical")
                .category("security")
                .file("src/lib.rs")
                .lines(2, 3)
                .body("why: query built from input")
                .recommendation("fix: query built from input")
                .confidence(0.95),
            finding("off by one")
                .severity("high")
                .category("bug")
                .file("src/lib.rs")
                .lines(5, 5)
                .body("why: off by one")
                .recommendation("fix: off by one")
                .confidence(0.9),
            finding("empty input")
                .severity("medium")
                .category("edge-case")
                .file("README")
                .lines(1, 1)
                .body("why: empty input")
                .recommendation("fix: empty input")
                .confidence(0.7),
            finding("unclear name")
                .severity("low")
                .category("style")
                .file("src/lib.rs")
                .lines(7, 7)
                .body("why: unclear name")
                .recommendation("fix: unclear name")
                .confidence(0.5),
            finding("no test covers this")
                .severity("info")
                .category("test")
                .file("")
                .lines(0, 0)
                .body("why: no test covers this")
                .recommendation("fix: no test covers this")
                .confidence(0.4),
        ])
        .verdict("changes_requested")
        .summary("five problems")
        .usage(1000, 250, 100),
        answer(vec![])
            .verdict("approve")
            .summary("two fixed")
            .fixed(&["F1", "F2"])
            .usage(2000, 500, 200),
        answer(vec![plan_finding])
            .verdict("changes_requested")
            .summary("the plan needs a rollback")
            .usage(400, 100, 40),
        answer(vec![])
            .verdict("approve")
            .summary("the plan is sound now")
            .fixed(&["F6"])
            .usage(350, 87, 35),
        // For `gate --wait` (gate_json_pass_and_fail).
        answer(vec![])
            .verdict("approve")
            .summary("nothing new")
            .usage(300, 75, 30),
    ]));

    ws.edit(&[
        ("README", "hello\nworld\n"),
        (
            "src/lib.rs",
            "fn main() {\n    let q = input();\n    run(q);\n}\n",
        ),
    ]);
    let changes_requested = ws.json(&["review", ws.r(), "--wait", "--json"], 1);
    ws.env.ok(&[
        "dismiss",
        "F4",
        ws.r(),
        "--reason",
        "the name is the domain's",
    ]);

    // The agent edits (its hook reports the file), then a review finds two problems fixed.
    let hook = json!({"session_id": "s-json", "cwd": ws.repo, "hook_event_name": "PostToolUse",
                      "tool_name": "Write", "tool_input": {"file_path": ws.repo.join("src/lib.rs")}});
    std::fs::write(
        ws.repo.join("src/lib.rs"),
        "fn main() {\n    run(safe());\n}\n",
    )
    .unwrap();
    ws.env.hook("post-tool-use", &hook);
    wait_for("the watcher to see the agent's edit", T, || {
        (ws.env.workspace()["pending_files"] == 1).then_some(())
    });
    let approved = ws.json(&["review", ws.r(), "--wait", "--json"], 0);

    let plan_file = ws.env.dir.path().join("plan.md");
    std::fs::write(&plan_file, "1. add a cache\n2. ship it\n").unwrap();
    let plan = ws.json(
        &[
            "plan",
            plan_file.to_str().unwrap(),
            ws.r(),
            "--wait",
            "--json",
        ],
        1,
    );
    std::fs::write(
        &plan_file,
        "1. add a cache\n2. ship it\n3. roll back on error\n",
    )
    .unwrap();
    let revised_plan = ws.json(
        &[
            "plan",
            plan_file.to_str().unwrap(),
            ws.r(),
            "--wait",
            "--json",
        ],
        0,
    );
    ws.env.ok(&["approve", ws.r(), "--note", "ship it"]);
    Story {
        ws,
        changes_requested,
        approved,
        plan,
        revised_plan,
    }
}

#[test]
fn review_wait_json_changes_requested_and_approved() {
    let s = story();
    s.ws.snapshot("review_wait_changes_requested", &s.changes_requested);
    s.ws.snapshot("review_wait_approved", &s.approved);
}

#[test]
fn plan_wait_json_changes_requested_and_approved() {
    let s = story();
    s.ws.snapshot("plan_wait_changes_requested", &s.plan);
    s.ws.snapshot("plan_wait_revised_approved", &s.revised_plan);
}

#[test]
fn status_json_after_reviews_a_plan_and_an_approval() {
    let s = story();
    let status = s.ws.json(&["status", "--json"], 0);
    s.ws.snapshot("status", &status);
    let one = s.ws.json(&["status", s.ws.r(), "--json"], 0);
    let tmp = s.ws.env.dir.path();
    assert_eq!(
        normalise(&one, tmp),
        normalise(&status, tmp),
        "status PATH shows the same (only) workspace"
    );
}

#[test]
fn list_json() {
    let s = story();
    let list = s.ws.json(&["list", "--json"], 0);
    s.ws.snapshot("list", &list);
}

#[test]
fn findings_json_open_and_all() {
    let s = story();
    let r = s.ws.r();
    s.ws.snapshot("findings_open", &s.ws.json(&["findings", r, "--json"], 0));
    s.ws.snapshot(
        "findings_all",
        &s.ws.json(&["findings", r, "--all", "--json"], 0),
    );
    s.ws.snapshot(
        "findings_all_medium_and_above",
        &s.ws.json(
            &["findings", r, "--all", "--severity", "medium", "--json"],
            0,
        ),
    );
}

#[test]
fn log_json() {
    let s = story();
    s.ws.snapshot("log", &s.ws.json(&["log", "--json", "-n", "100"], 0));
    s.ws.snapshot(
        "log_last_2",
        &s.ws.json(&["log", s.ws.r(), "--json", "-n", "2"], 0),
    );
}

#[test]
fn gate_json_pass_and_fail() {
    let s = story();
    let r = s.ws.r();
    s.ws.snapshot("gate_pass", &s.ws.json(&["gate", r, "--json"], 0));
    s.ws.snapshot(
        "gate_fail",
        &s.ws.json(&["gate", r, "--block-on", "medium", "--json"], 1),
    );
    // An unreviewed edit: the gate fails for that alone; --wait reviews it first.
    s.ws.edit(&[("README", "hello\nagain\n")]);
    s.ws.snapshot(
        "gate_fail_unreviewed",
        &s.ws.json(&["gate", r, "--json"], 1),
    );
    s.ws.snapshot(
        "gate_wait_pass",
        &s.ws.json(&["gate", r, "--wait", "30", "--json"], 0),
    );
}

#[test]
fn review_wait_json_failed_and_status_halted() {
    let ws = Ws::new();
    ws.env.script_codex(&json!([{"mode": "fail_quota"}]));
    ws.edit(&[("README", "hello\nquota\n")]);
    let failed = ws.json(&["review", ws.r(), "--wait", "--json"], 4);
    ws.snapshot("review_wait_failed", &failed);
    ws.snapshot("status_halted", &ws.json(&["status", "--json"], 0));
}

#[test]
fn review_and_plan_json_without_a_result_still_print_json() {
    let ws = Ws::new();
    ws.env.script_codex(&json!([answer(vec![])
        .verdict("approve")
        .summary("fine")
        .usage(10, 2, 1)]));
    // Nothing changed: nothing to review, said in JSON.
    let nothing = ws.json(&["review", ws.r(), "--wait", "--json"], 0);
    ws.snapshot("review_nothing_to_review", &nothing);
    // Started without --wait: the review is null until it ends.
    ws.edit(&[("README", "hello\nstarted\n")]);
    let started = ws.json(&["review", ws.r(), "--json"], 0);
    ws.snapshot("review_started", &started);
    ws.env.wait_reviews(1, T);
    let plan = cxd_e2e::run_with_stdin(ws.env.cmd(&["plan", "-", ws.r(), "--json"]), b"1. do it\n");
    assert_eq!(plan.status.code(), Some(0), "{}", show(&plan));
    let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();
    ws.snapshot("plan_started", &plan);
}

#[test]
fn status_and_list_json_with_no_workspace() {
    let env = TestEnv::new();
    let _d = env.start_daemon();
    let status: Value = serde_json::from_str(&env.ok(&["status", "--json"])).unwrap();
    assert_json_snapshot("status_no_workspace", &status, env.dir.path());
    let list: Value = serde_json::from_str(&env.ok(&["list", "--json"])).unwrap();
    assert_json_snapshot("list_no_workspace", &list, env.dir.path());
}

/// `cxd events --json` prints one object a line; read them until the daemon stops (which
/// ends the stream), with a deadline on every line.
#[test]
fn events_json() {
    let mut ws = Ws::new();
    ws.env.script_codex(&json!([answer(vec![
        finding("typo")
            .severity("high")
            .category("bug")
            .file("README")
            .lines(2, 2)
            .body("why: typo")
            .recommendation("fix: typo")
            .confidence(0.8)
    ])
    .verdict("changes_requested")
    .summary("one problem")
    .usage(500, 125, 50)]));
    let mut child = ws
        .env
        .cmd(&["events", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (tx, rx) = std::sync::mpsc::channel::<Option<String>>();
    std::thread::spawn(move || {
        for line in lines {
            let Ok(line) = line else { break };
            if tx.send(Some(line)).is_err() {
                return;
            }
        }
        let _ = tx.send(None);
    });
    // Subscribed once an event of ours comes through: approve until one does.
    wait_for("the subscription", T, || {
        ws.env.ok(&["approve", ws.r()]);
        let line = rx.recv_timeout(Duration::from_millis(500)).ok()??;
        line.contains("\"approval\"").then_some(())
    });

    ws.edit(&[("README", "hello\ntypo\n")]);
    ws.json(&["review", ws.r(), "--wait", "--json"], 1);
    ws.env
        .ok(&["dismiss", "F1", ws.r(), "--reason", "not a typo"]);
    let mut events = Vec::new();
    let next = || {
        let line = rx.recv_timeout(T).expect("an event line, or the end")?;
        Some(
            serde_json::from_str::<Value>(&line)
                .unwrap_or_else(|e| panic!("an events line that is not JSON ({e}): {line}")),
        )
    };
    // Every event up to the dismissal, the last one asked for.
    while events
        .last()
        .is_none_or(|e: &Value| e["kind"] != "dismissal")
    {
        events.push(next().expect("the dismissal event before the stream ends"));
    }
    // Stopping the daemon ends the stream (no event was delivered after the dismissal).
    ws.env.ok(&["stop"]);
    while let Some(ev) = next() {
        events.push(ev);
    }
    assert!(child.wait().unwrap().success());
    ws.daemon.take().unwrap().wait_exit(T);
    // A late echo of the subscription's approvals may lead.
    let first = events.iter().position(|e| e["kind"] != "approval").unwrap();
    ws.snapshot("events", &Value::Array(events.split_off(first)));
}

/// `cxd export` prints JSON too (no `--json` flag: it is the format): SARIF, and rdjsonl
/// (one object a line, pinned here as an array of lines).
#[test]
fn export_sarif_and_rdjsonl() {
    let s = story();
    let r = s.ws.r();
    let sarif = s.ws.json(&["export", r, "--format", "sarif", "--all"], 0);
    s.ws.snapshot("export_sarif_all", &sarif);
    let out = s.ws.env.ok(&["export", r, "--format", "rdjsonl", "--all"]);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    s.ws.snapshot("export_rdjsonl_all", &Value::Array(lines));
}

/// `cxd dispute --json` prints the finding with its dispute; after the ruling, `cxd findings
/// --json` shows Codex's ruling and reply (withdrawn and upheld).
#[test]
fn dispute_json_and_rulings_in_findings_json() {
    let ws = Ws::new();
    ws.env.script_codex(&json!([
        answer(vec![
            finding("off by one")
                .severity("high")
                .category("bug")
                .file("src/lib.rs")
                .lines(2, 2)
                .body("why: off by one")
                .recommendation("fix: off by one")
                .confidence(0.9),
            finding("empty input")
                .severity("medium")
                .category("edge-case")
                .file("README")
                .lines(1, 1)
                .body("why: empty input")
                .recommendation("fix: empty input")
                .confidence(0.7),
        ])
        .verdict("changes_requested")
        .summary("two problems")
        .usage(500, 125, 50),
        {"answer": {"verdict": "approve", "summary": "ruled", "findings": [], "fixed_finding_ids": [],
                    "rulings": [{"id": "F1", "ruling": "uphold", "reply": "the loop still reads one past the end"},
                                {"id": "F2", "ruling": "withdraw", "reply": "the caller rejects empty input"}]},
         "usage": {"input_tokens": 100, "cached_input_tokens": 25, "output_tokens": 10}},
    ]));
    ws.edit(&[("src/lib.rs", "fn main() {\n    run();\n}\n")]);
    ws.json(&["review", ws.r(), "--wait", "--json"], 1);
    let disputed = ws.json(
        &[
            "dispute",
            "F1",
            ws.r(),
            "--session",
            "s-json",
            "--reason",
            "the bound is exclusive",
            "--json",
        ],
        0,
    );
    ws.snapshot("dispute", &disputed);
    ws.env.ok(&[
        "dispute",
        "F2",
        ws.r(),
        "--reason",
        "empty input is rejected upstream",
    ]);
    ws.json(&["review", ws.r(), "--wait", "--json"], 0);
    ws.snapshot(
        "findings_ruled",
        &ws.json(&["findings", ws.r(), "--all", "--json"], 0),
    );
}
