//! Findings with identity: a finding Codex reports again is the same finding (updated,
//! counted, kept dismissed or reopened), and its lines follow later edits.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::time::Duration;

use cxd_e2e::{FindingJson, TestEnv, answer, finding, init_repo, wait_for};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);

/// `src/greet.rs` with `above` lines before the greeting.
fn greet(above: usize) -> String {
    let mut text: String = (0..above).map(|i| format!("// note {i}\n")).collect();
    text.push_str("fn greet() {\n    println!(\"Hello, world\");\n}\n");
    text
}

/// A watched workspace whose reviews run only when a test asks for one.
struct Ws {
    env: TestEnv,
    repo: PathBuf,
    _daemon: cxd_e2e::Daemon,
}

impl Ws {
    fn new(script: &Value) -> Self {
        Self::with_config(script, "")
    }

    fn with_config(script: &Value, extra: &str) -> Self {
        let env = TestEnv::new();
        env.write_config(&format!(
            "[settle]\nquiet_ms = 600000\nmax_wait_ms = 600000\n{extra}"
        ));
        env.script_codex(script);
        let repo = init_repo(env.dir.path(), "repo");
        std::fs::create_dir(repo.join("src")).unwrap();
        let daemon = env.start_daemon();
        env.ok(&["watch", repo.to_str().unwrap()]);
        Self {
            env,
            repo,
            _daemon: daemon,
        }
    }

    fn r(&self) -> &str {
        self.repo.to_str().unwrap()
    }

    /// Write the file, wait for the watcher, review and wait for the answer (JSON).
    fn edit_and_review(&self, text: &str) -> Value {
        std::fs::write(self.repo.join("src/greet.rs"), text).unwrap();
        wait_for("the watcher to see the edit", T, || {
            (self.env.workspace()["pending_files"].as_u64() == Some(1)).then_some(())
        });
        let out = self.env.run(&["review", self.r(), "--wait", "--json"]);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stderr).into_owned()
            )
        })
    }

    fn findings(&self) -> Vec<Value> {
        let text = self.env.ok(&["findings", self.r(), "--all", "--json"]);
        serde_json::from_str::<Value>(&text)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }
}

/// The same problem reported three times, reworded, its lines shifted by edits above it, is
/// one open finding seen three times.
/// The finding these tests repeat: at `lines` of src/greet.rs, titled `title`.
fn hardcoded(title: &str, lines: (i64, i64)) -> FindingJson {
    finding(title)
        .category("style")
        .file("src/greet.rs")
        .lines(lines.0, lines.1)
        .body("the text cannot be translated")
        .recommendation("load it from the catalogue")
        .confidence(0.8)
}

#[test]
fn a_repeat_offender_gives_one_finding_seen_three_times() {
    let ws = Ws::new(&json!([
        answer(vec![hardcoded("Greeting text is hardcoded", (2, 2))]).still_open(&[]),
        answer(vec![hardcoded("Hard-coded greeting text", (4, 4))]).still_open(&[]),
        answer(vec![hardcoded("The greeting string is hardcoded", (5, 5))]).still_open(&["F1"]),
    ]));
    ws.edit_and_review(&greet(0));
    ws.edit_and_review(&greet(2));
    let last = ws.edit_and_review(&greet(3));
    assert_eq!(last["opened"], json!([]), "{last}");

    let all = ws.findings();
    assert_eq!(all.len(), 1, "{all:?}");
    let f = &all[0];
    assert_eq!(
        (&f["id"], &f["status"], &f["seen"], &f["line_start"]),
        (&json!("F1"), &json!("open"), &json!(3), &json!(5)),
        "{f}"
    );
    assert_eq!(
        (&f["title"], &f["first_review"], &f["last_review"]),
        (
            &json!("The greeting string is hardcoded"),
            &json!(1),
            &json!(3)
        )
    );
    let w = ws.env.workspace();
    assert_eq!(w["open_findings"]["high"], 1);
    assert_eq!(w["top_findings"][0]["seen"], 3, "{w}");
    let finished = ws.env.log_kind("review_finished");
    assert_eq!(finished.last().unwrap()["carried"], json!(["F1"]));
    let log = ws.env.ok(&["log", ws.r()]);
    assert!(log.contains("reported again F1"), "{log}");
}

/// With a diff too large to be inline, lines cannot follow it; the finding reported again at
/// its shifted lines is still the same one, by the fingerprint of the text it points at (read
/// from the reviewed tree).
#[test]
fn without_inline_hunks_the_fingerprint_still_recognises_a_moved_finding() {
    let ws = Ws::with_config(
        &json!([
            answer(vec![hardcoded("Greeting text is hardcoded", (2, 2))]).still_open(&[]),
            answer(vec![hardcoded("Hard-coded greeting text", (122, 122))]).still_open(&[]),
            // Another problem on other lines of the same file stays another finding.
            answer(vec![hardcoded("Greeting text is hardcoded", (1, 1))]).still_open(&[]),
        ]),
        "[review]\nmax_diff_bytes = 1024\n",
    );
    ws.edit_and_review(&greet(0));
    // 120 lines above it: a diff of more than 1024 bytes, sent as a file list.
    let moved = ws.edit_and_review(&greet(120));
    assert_eq!(moved["opened"], json!([]), "{moved}");
    let f = &ws.findings()[0];
    // Not followed (no hunks): the lines are those of the new report.
    assert_eq!(
        (&f["seen"], &f["line_start"]),
        (&json!(2), &json!(122)),
        "{f}"
    );
    let calls = ws.env.codex_calls();
    let prompt = calls.last().unwrap()["prompt"].as_str().unwrap();
    assert!(prompt.contains("too large"), "{prompt}");
    let other = ws.edit_and_review(&greet(121));
    assert_eq!(other["opened_total"], 1, "{other}");
    assert_eq!(ws.findings().len(), 2);
}

/// A dismissed finding reported again stays dismissed and is counted, not shown as new.
#[test]
fn a_dismissed_finding_reported_again_stays_dismissed() {
    let ws = Ws::new(&json!([
        answer(vec![hardcoded("Greeting text is hardcoded", (2, 2))]).still_open(&[]),
        answer(vec![hardcoded("Hardcoded greeting", (3, 3))]).still_open(&[]),
    ]));
    ws.edit_and_review(&greet(0));
    ws.env.ok(&[
        "dismiss",
        "F1",
        ws.r(),
        "--reason",
        "English only, on purpose",
    ]);
    let done = ws.edit_and_review(&greet(1));
    assert_eq!(done["opened"], json!([]), "{done}");
    assert_eq!(done["open_total"], 0, "{done}");

    let all = ws.findings();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(
        (&all[0]["status"], &all[0]["seen"]),
        (&json!("dismissed"), &json!(2))
    );
    assert_eq!(ws.env.workspace()["open_findings"]["high"], 0);
    let finished = ws.env.log_kind("review_finished");
    assert_eq!(finished.last().unwrap()["dismissed_seen"], json!(["F1"]));
}

/// A resolved finding reported again is reopened, and the answer and the log say so.
#[test]
fn a_resolved_finding_reported_again_reopens() {
    let ws = Ws::new(&json!([
        answer(vec![hardcoded("Greeting text is hardcoded", (2, 2))]).still_open(&[]),
        answer(vec![]).fixed(&["F1"]).still_open(&[]),
        answer(vec![hardcoded("greeting is hard coded text", (3, 3))]).still_open(&[]),
    ]));
    ws.edit_and_review(&greet(0));
    let fixed = ws.edit_and_review(&format!("{}\n", greet(0)));
    assert_eq!(fixed["resolved"], json!(["F1"]));
    let done = ws.edit_and_review(&greet(1));
    assert_eq!(done["reopened"], json!(["F1"]), "{done}");
    assert_eq!(done["opened"], json!([]), "{done}");
    assert_eq!(done["open_total"], 1);

    let all = ws.findings();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(
        (&all[0]["status"], &all[0]["seen"], &all[0]["line_start"]),
        (&json!("open"), &json!(2), &json!(3))
    );
    let finished = ws.env.log_kind("review_finished");
    assert_eq!(finished.last().unwrap()["reopened"], json!(["F1"]));
    let log = ws.env.ok(&["log", ws.r()]);
    assert!(log.contains("reopened F1"), "{log}");
}

/// Lines added above a finding move it; deleting its lines makes it outdated, and the next
/// review is asked about it.
#[test]
fn lines_follow_edits_and_deleted_lines_make_a_finding_outdated() {
    let ws = Ws::new(&json!([
        answer(vec![hardcoded("Greeting text is hardcoded", (2, 2))]).still_open(&[]),
        answer(vec![]).still_open(&[]),
        answer(vec![]).still_open(&[]),
        answer(vec![]).still_open(&["F1"]),
    ]));
    ws.edit_and_review(&greet(0));
    ws.edit_and_review(&greet(3));
    let f = &ws.findings()[0];
    assert_eq!(
        (&f["line_start"], &f["line_end"], &f["outdated"]),
        (&json!(5), &json!(5), &json!(false)),
        "{f}"
    );

    // The greeting line deleted.
    ws.edit_and_review(&greet(3).replace("    println!(\"Hello, world\");\n", ""));
    let f = &ws.findings()[0];
    assert_eq!(
        (&f["status"], &f["outdated"]),
        (&json!("open"), &json!(true))
    );
    assert_eq!(ws.env.workspace()["open_findings"]["high"], 1);
    let human = ws.env.ok(&["findings", ws.r()]);
    assert!(human.contains("outdated"), "{human}");

    ws.edit_and_review("fn greet() {}\n");
    let calls = ws.env.codex_calls();
    let prompt = calls.last().unwrap()["prompt"].as_str().unwrap();
    assert!(prompt.contains(r#""id":"F1""#), "{prompt}");
    assert!(prompt.contains(r#""outdated":true"#), "{prompt}");
    // Codex said it is still there: no longer outdated, still open.
    let f = &ws.findings()[0];
    assert_eq!(
        (&f["status"], &f["outdated"], &f["seen"]),
        (&json!("open"), &json!(false), &json!(2))
    );
}

/// `still_open_ids` naming unknown ids is ignored with a warning: no crash, no lost finding.
#[test]
fn unknown_still_open_ids_are_ignored_with_a_warning() {
    let ws = Ws::new(&json!([answer(vec![hardcoded(
        "Greeting text is hardcoded",
        (2, 2)
    )])
    .still_open(&["F99", "not an id", "F0", ""])]));
    let done = ws.edit_and_review(&greet(0));
    assert_eq!(done["review"]["verdict"], "changes_requested", "{done}");
    assert_eq!(ws.findings().len(), 1);
    let finished = ws.env.log_kind("review_finished");
    assert_eq!(
        finished[0]["ignored_still_open_ids"],
        json!(["F99", "not an id", "F0", ""])
    );
    assert!(ws._daemon.log_text().contains("still-open id"));
}
