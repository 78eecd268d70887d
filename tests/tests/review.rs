//! Reviews through a fake codex that speaks codex's JSONL protocol and records every argv.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::time::{Duration, Instant};

use cxd_e2e::{SETTLE_FAST, TestEnv, answer, argv, finding, init_repo, wait_for};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);

fn edit(repo: &Path, text: &str) {
    std::fs::write(repo.join("README"), text).unwrap();
}

#[test]
fn an_edit_is_reviewed_on_a_new_read_only_thread() {
    let (env, repo) = TestEnv::with_repo(&format!(
        "{SETTLE_FAST}[review]\nmodel = \"m-test\"\neffort = \"high\"\nextra_args = [\"--skip-git-repo-check\"]\n"
    ));
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    edit(&repo, "hello\nworld\n");
    let w = env.wait_reviews(1, T);
    let last = &w["last_review"];
    assert_eq!(last["verdict"], "approve");
    assert_eq!(last["trigger"], "edit");
    assert_eq!(last["exit_code"], 0);
    assert_eq!(last["model"], "m-test");
    assert_eq!(last["effort"], "high");
    assert!(last["tokens"]["input"].as_u64().unwrap() > 0);
    assert!(w["thread_id"].is_string());
    let calls = env.codex_calls();
    assert_eq!(calls.len(), 1);
    let a = argv(&calls[0]);
    let state = env.state.to_str().unwrap();
    assert_eq!(
        a[..10],
        [
            "exec",
            "--skip-git-repo-check",
            "--json",
            "-s",
            "read-only",
            "-m",
            "m-test",
            "-c",
            "model_reasoning_effort=high",
            "--output-schema"
        ]
    );
    assert!(
        a[10].starts_with(state) && a[10].ends_with("review-schema.json"),
        "{a:?}"
    );
    assert_eq!(a[11], "-o");
    assert!(a[12].starts_with(state), "{a:?}");
    assert_eq!(a[13..15], ["-C", repo.to_str().unwrap()]);
    // Then the isolation overrides (the user's hooks, notify program and MCP servers stay out;
    // tests/tests/real_codex.rs proves the real CLI honours them), and the prompt on stdin.
    assert_eq!(
        a[15..],
        [
            "-c",
            "features.hooks=false",
            "-c",
            "features.plugins=false",
            "-c",
            "features.apps=false",
            "-c",
            "notify=[]",
            "-"
        ]
    );
    // The prompt came on stdin and carries the diff.
    let prompt = calls[0]["prompt"].as_str().unwrap();
    assert!(prompt.contains("+world"), "{prompt}");
    assert!(
        prompt.contains("- \"README\" (modified, +1 -0)"),
        "{prompt}"
    );
}

#[test]
fn findings_open_then_resolve_and_later_reviews_resume_the_thread() {
    let (env, repo) = TestEnv::with_repo(SETTLE_FAST);
    env.script_codex(&json!([
        answer(vec![
            finding("off by one")
                .severity("high")
                .file("README")
                .line(2)
                .body("what and why")
                .recommendation("the fix"),
            finding("nit")
                .severity("low")
                .file("README")
                .line(2)
                .body("what and why")
                .recommendation("the fix")
        ])
        .verdict("changes_requested")
        .summary("changes_requested summary"),
        answer(vec![])
            .verdict("approve")
            .summary("approve summary")
            .fixed(&["F1"]),
    ]));
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    edit(&repo, "hello\nbroken\n");
    let w = env.wait_reviews(1, T);
    assert_eq!(w["last_review"]["verdict"], "changes_requested");
    assert_eq!(
        w["open_findings"],
        json!({"critical": 0, "high": 1, "medium": 0, "low": 1, "info": 0})
    );
    let thread = w["thread_id"].as_str().unwrap().to_owned();
    let findings: Value =
        serde_json::from_str(&env.ok(&["findings", repo.to_str().unwrap(), "--json"])).unwrap();
    assert_eq!(findings.as_array().unwrap().len(), 2);
    assert_eq!(findings[0]["id"], "F1");
    assert_eq!(findings[0]["status"], "open");
    assert_eq!(findings[0]["title"], "off by one");
    assert_eq!(findings[0]["first_review"], 1);
    let high: Value = serde_json::from_str(&env.ok(&[
        "findings",
        repo.to_str().unwrap(),
        "--severity",
        "high",
        "--json",
    ]))
    .unwrap();
    assert_eq!(high.as_array().unwrap().len(), 1);

    edit(&repo, "hello\nfixed\n");
    let w = env.wait_reviews(2, T);
    assert_eq!(w["last_review"]["verdict"], "approve");
    assert_eq!(w["thread_id"], thread.as_str());
    assert_eq!(w["open_findings"]["high"], 0);
    assert_eq!(w["open_findings"]["low"], 1);
    let all: Value =
        serde_json::from_str(&env.ok(&["findings", repo.to_str().unwrap(), "--all", "--json"]))
            .unwrap();
    assert_eq!(all[0]["status"], "resolved");
    assert_eq!(all[0]["last_review"], 2);
    assert_eq!(all[1]["status"], "open");

    let calls = env.codex_calls();
    assert_eq!(calls.len(), 2);
    let a = argv(&calls[1]);
    assert_eq!(
        a[..10],
        [
            "exec",
            "resume",
            thread.as_str(),
            "--json",
            "-m",
            "gpt-5.2-codex",
            "-c",
            "model_reasoning_effort=medium",
            "-c",
            "sandbox_mode=\"read-only\""
        ]
    );
    assert!(
        !a.iter().any(|x| x == "-s" || x == "-C" || x == "--last"),
        "{a:?}"
    );
    assert_eq!(a.last().unwrap(), "-");
    assert_eq!(calls[1]["cwd"], repo.to_str().unwrap());
    // The second prompt lists the open findings so codex can say which are fixed.
    let prompt = calls[1]["prompt"].as_str().unwrap();
    assert!(
        prompt.contains(
            r#"{"id":"F1","severity":"high","location":"README:2","title":"off by one"}"#
        ),
        "{prompt}"
    );
    // Per-review tokens are the difference of the thread's cumulative usage.
    let first = env.log_kind("review_finished")[0]["tokens"]["input"]
        .as_u64()
        .unwrap();
    let second = w["last_review"]["tokens"]["input"].as_u64().unwrap();
    assert_eq!(w["tokens_total"]["input"].as_u64().unwrap(), first + second);
}

#[test]
fn a_restart_between_reviews_still_resumes_the_thread() {
    let (env, repo) = TestEnv::with_repo(SETTLE_FAST);
    let mut d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    edit(&repo, "one\n");
    let thread = env.wait_reviews(1, T)["thread_id"]
        .as_str()
        .unwrap()
        .to_owned();
    env.ok(&["stop"]);
    d.wait_exit(Duration::from_secs(10));
    let _d = env.start_daemon();
    assert_eq!(env.workspace()["thread_id"], thread.as_str());
    edit(&repo, "two\n");
    env.wait_reviews(2, T);
    let a = argv(&env.codex_calls()[1]);
    assert_eq!(a[1..3], ["resume", thread.as_str()]);
    assert_eq!(env.ok(&["session", repo.to_str().unwrap()]).trim(), thread);
}

#[test]
fn a_usage_limit_halts_without_retrying_until_asked() {
    let (env, repo) = TestEnv::with_repo(SETTLE_FAST);
    env.script_codex(&json!([{"mode": "fail_quota"}, answer(vec![]).verdict("approve").summary("approve summary")]));
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    edit(&repo, "one\n");
    let w = env.wait_state("halted", T);
    assert_eq!(w["last_review"]["verdict"], "error");
    assert_eq!(w["last_review"]["error_class"], "quota");
    assert_eq!(w["last_review"]["exit_code"], 1);
    assert!(
        w["error"].as_str().unwrap().contains("usage limit"),
        "{w:#}"
    );
    assert_eq!(
        w["open_findings"],
        json!({"critical": 0, "high": 0, "medium": 0, "low": 0, "info": 0})
    );
    // Another edit is recorded but does not run codex again.
    edit(&repo, "two\n");
    env.wait_log("edit", 2, T);
    assert_eq!(env.codex_calls().len(), 1);
    assert_eq!(env.workspace()["state"], "halted");
    // `cxd review` retries, and covers both edits.
    let out = env.run(&["review", "--wait", repo.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(": approve"));
    assert_eq!(env.codex_calls().len(), 2);
    assert_eq!(env.workspace()["state"], "idle");
}

#[test]
fn review_wait_exit_codes() {
    let (env, repo) = TestEnv::with_repo(SETTLE_FAST);
    env.script_codex(&json!([
        answer(vec![finding("bad").severity("high").file("README").line(2).body("what and why").recommendation("the fix")]).verdict("changes_requested").summary("changes_requested summary"),
        {"mode": "fail_auth"},
    ]));
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    let out = env.run(&["review", "--wait", repo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to review"));
    edit(&repo, "changed\n");
    let out = env.run(&["review", "--wait", repo.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("F1 high [bug] README:2  bad"), "{stdout}");
    assert!(stdout.contains("fix: the fix"), "{stdout}");
    // Piped, progress comes as timestamped lines on stderr: what codex is doing.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with('[') && l.contains("] codex: ")),
        "{stderr}"
    );
    // The write right before `cxd review` is in the audit trail as an edit.
    let edits = env.log_kind("edit");
    assert_eq!(edits[0]["files"], json!(["README"]));
    edit(&repo, "changed again\n");
    let out = env.run(&["review", "--wait", "--json", repo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        out.stderr.is_empty(),
        "--json prints nothing extra: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(done["review"]["error_class"], "auth");
}

#[test]
fn a_hung_codex_is_killed_at_the_timeout_with_its_children() {
    let (env, repo) = TestEnv::with_repo(&format!("{SETTLE_FAST}[review]\ntimeout_s = 2\n"));
    env.script_codex(&json!([{"mode": "hang"}]));
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    edit(&repo, "one\n");
    let w = env.wait_state("halted", T);
    assert_eq!(w["last_review"]["error_class"], "timeout");
    let call = &env.codex_calls()[0];
    for pid in [
        call["pid"].as_i64().unwrap(),
        call["child_pid"].as_i64().unwrap(),
    ] {
        wait_for(&format!("process {pid} gone"), T, || {
            cxd_e2e::process_ended(pid).then_some(())
        });
    }
}

#[test]
fn garbage_plain_text_and_empty_answers() {
    let (env, repo) = TestEnv::with_repo(SETTLE_FAST);
    env.script_codex(&json!([
        {"mode": "garbage"},
        {"mode": "plain_text"},
        {"mode": "empty"},
        {"mode": "crash"},
    ]));
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    edit(&repo, "one\n");
    // Junk around a good turn: the turn counts.
    assert_eq!(env.wait_reviews(1, T)["last_review"]["verdict"], "approve");
    edit(&repo, "two\n");
    let w = env.wait_reviews(2, T);
    assert_eq!(w["state"], "halted");
    assert_eq!(w["last_review"]["error_class"], "schema");
    assert!(
        w["last_review"]["raw_answer"].is_string(),
        "the answer is kept verbatim: {w:#}"
    );
    let out = env.run(&["review", "--wait", repo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(env.workspace()["last_review"]["error_class"], "schema");
    let out = env.run(&["review", "--wait", repo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(env.workspace()["last_review"]["error_class"], "crash");
    assert_eq!(env.workspace()["last_review"]["exit_code"], 101);
    // The daemon is unharmed and says why the workspace stopped.
    let w = env.workspace();
    assert_eq!(w["state"], "halted");
    assert!(
        w["last_review"]["error"]
            .as_str()
            .unwrap()
            .contains("codex exited 101"),
        "{w:#}"
    );
}

#[test]
fn a_missing_codex_says_how_to_install_it() {
    let (env, repo) = TestEnv::with_repo(&format!(
        "{SETTLE_FAST}[review]\ncodex_bin = \"/nonexistent/codex\"\n"
    ));
    let mut d = {
        // Only the config names codex here.
        let log = std::fs::File::create(env.dir.path().join("d.log")).unwrap();
        env.cmd(&["daemon", "--log-stderr"])
            .env_remove("CXD_CODEX_BIN")
            .stderr(log)
            .spawn()
            .unwrap()
    };
    wait_for("daemon", T, || {
        env.run(&["status"]).status.success().then_some(())
    });
    env.ok(&["watch", repo.to_str().unwrap()]);
    edit(&repo, "one\n");
    let w = env.wait_state("halted", T);
    assert_eq!(w["last_review"]["error_class"], "not_found");
    assert!(
        w["error"]
            .as_str()
            .unwrap()
            .contains("codex not found — install it with npm install -g @openai/codex"),
        "{w:#}"
    );
    env.ok(&["stop"]);
    d.wait().unwrap();
}

#[test]
fn edits_during_a_review_give_exactly_one_follow_up() {
    let (env, repo) = TestEnv::with_repo(SETTLE_FAST);
    env.script_codex(&json!([{"mode": "slow", "seconds": 3, "answer": {"verdict": "approve", "summary": "s", "findings": [], "fixed_finding_ids": []}}]));
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    edit(&repo, "one\n");
    wait_for("reviewing", T, || {
        (env.workspace()["state"] == "reviewing").then_some(())
    });
    for i in 0..5 {
        std::fs::write(repo.join(format!("during{i}")), "x\n").unwrap();
        // Paced like an agent at work, so that several bursts settle during the review.
        std::thread::sleep(Duration::from_millis(300));
    }
    let w = env.wait_reviews(2, T);
    assert_eq!(w["state"], "idle");
    let calls = env.codex_calls();
    assert_eq!(calls.len(), 2);
    let prompt = calls[1]["prompt"].as_str().unwrap();
    for i in 0..5 {
        assert!(
            prompt.contains(&format!("during{i}")),
            "the follow-up covers every edit: {prompt}"
        );
    }
    // Nothing more runs: the next review is a new edit's alone.
    std::fs::write(repo.join("SENTINEL"), "x\n").unwrap();
    env.wait_reviews(3, T);
    let calls = env.codex_calls();
    assert_eq!(calls.len(), 3);
    assert!(!calls[2]["prompt"].as_str().unwrap().contains("during0"));
}

#[test]
fn two_workspaces_share_the_concurrency_cap() {
    let (env, repo) = TestEnv::with_repo(&format!("{SETTLE_FAST}[review]\nmax_concurrent = 1\n"));
    let other = init_repo(env.dir.path(), "other");
    let slow = json!({"mode": "slow", "seconds": 1.5, "answer": {"verdict": "approve", "summary": "s", "findings": [], "fixed_finding_ids": []}});
    env.script_codex(&json!([slow.clone(), slow]));
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    env.ok(&["watch", other.to_str().unwrap()]);
    edit(&repo, "one\n");
    std::fs::write(other.join("README"), "two\n").unwrap();
    wait_for("both reviewed", T, || {
        let s = env.status_json();
        let ws = s["workspaces"].as_array().unwrap().clone();
        ws.iter()
            .all(|w| w["reviews"] == 1 && w["state"] == "idle")
            .then_some(())
    });
    let calls = env.codex_calls();
    assert_eq!(calls.len(), 2);
    let (t0, t1) = (
        calls[0]["time"].as_f64().unwrap(),
        calls[1]["time"].as_f64().unwrap(),
    );
    assert!(
        (t1 - t0).abs() >= 1.4,
        "with max_concurrent = 1 the second codex starts after the first ends: {t0} {t1}"
    );
    let roots: Vec<&str> = calls.iter().map(|c| c["cwd"].as_str().unwrap()).collect();
    assert!(roots.contains(&repo.to_str().unwrap()) && roots.contains(&other.to_str().unwrap()));
}

#[test]
fn a_forgotten_thread_is_replaced_once() {
    let (env, repo) = TestEnv::with_repo(SETTLE_FAST);
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    edit(&repo, "one\n");
    let old = env.wait_reviews(1, T)["thread_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // codex forgets it (the user cleared its sessions).
    std::fs::remove_file(
        env.dir
            .path()
            .join(format!("fake-codex-state/threads/{old}.json")),
    )
    .unwrap();
    edit(&repo, "two\n");
    let started = Instant::now();
    let w = wait_for("a new thread", T, || {
        let w = env.workspace();
        (w["thread_id"].as_str().is_some_and(|t| t != old) && w["state"] == "idle").then_some(w)
    });
    assert!(started.elapsed() < T);
    assert_eq!(w["last_review"]["verdict"], "approve");
    let calls = env.codex_calls();
    assert_eq!(argv(&calls[1])[1..3], ["resume", old.as_str()]);
    assert_eq!(
        argv(&calls[2])[1],
        "--json",
        "the replacement starts a new thread"
    );
}

#[test]
fn pause_records_edits_and_unpause_reviews_them() {
    let (env, repo) = TestEnv::with_repo(SETTLE_FAST);
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    assert!(
        env.ok(&["pause", repo.to_str().unwrap()])
            .starts_with("paused")
    );
    assert_eq!(env.workspace()["state"], "paused");
    edit(&repo, "while paused\n");
    env.wait_log("edit", 1, T);
    assert!(env.codex_calls().is_empty());
    let out = env.run(&["review", repo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        env.ok(&["unpause", repo.to_str().unwrap()])
            .starts_with("unpaused")
    );
    let w = env.wait_reviews(1, T);
    assert_eq!(w["last_review"]["verdict"], "approve");
    assert!(
        env.codex_calls()[0]["prompt"]
            .as_str()
            .unwrap()
            .contains("+while paused")
    );
}

#[test]
fn a_review_cut_short_is_interrupted_and_runs_again_after_restart() {
    let slow = json!({"mode": "slow", "seconds": 30, "answer": {"verdict": "approve", "summary": "s", "findings": [], "fixed_finding_ids": []}});
    for sig in [libc::SIGTERM, libc::SIGKILL] {
        let (env, repo) = TestEnv::with_repo(SETTLE_FAST);
        env.script_codex(&json!([slow.clone()]));
        let mut d = env.start_daemon();
        env.ok(&["watch", repo.to_str().unwrap()]);
        edit(&repo, "one\n");
        wait_for("reviewing", T, || {
            (env.workspace()["state"] == "reviewing").then_some(())
        });
        // codex is up and has taken its (slow) step.
        let first = wait_for("codex running", T, || env.codex_calls().first().cloned());
        d.signal(sig);
        let status = d.wait_exit(T);
        if sig == libc::SIGTERM {
            assert!(status.success(), "graceful stop during a review: {status}");
        }
        let _d2 = env.start_daemon();
        // A codex orphaned by kill -9 is ended by the next daemon.
        let pid = first["pid"].as_i64().unwrap();
        wait_for(&format!("codex {pid} gone"), T, || {
            cxd_e2e::process_ended(pid).then_some(())
        });
        // The interrupted review is on record, and the change is reviewed again.
        let w = env.wait_reviews(2, T);
        assert_eq!(
            w["last_review"]["verdict"], "approve",
            "signal {sig}: {w:#}"
        );
        let finished = env.log_kind("review_finished");
        if sig == libc::SIGTERM {
            assert_eq!(finished[0]["verdict"], "interrupted");
        }
        let calls = env.codex_calls();
        assert_eq!(calls.len(), 2);
        assert!(calls[1]["prompt"].as_str().unwrap().contains("+one"));
    }
}

#[test]
fn a_repositorys_cxd_toml_overrides_the_user_config() {
    let (env, repo) =
        TestEnv::with_repo(&format!("{SETTLE_FAST}[review]\nmodel = \"user-model\"\n"));
    std::fs::write(
        repo.join(".cxd.toml"),
        "[review]\nmodel = \"repo-model\"\neffort = \"low\"\n",
    )
    .unwrap();
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    edit(&repo, "one\n");
    let w = env.wait_reviews(1, T);
    assert_eq!(
        (
            w["last_review"]["model"].clone(),
            w["last_review"]["effort"].clone()
        ),
        (json!("repo-model"), json!("low"))
    );
    assert_eq!(argv(&env.codex_calls()[0])[5], "repo-model");
    // A broken one is reported, and the user's config applies meanwhile.
    std::fs::write(repo.join(".cxd.toml"), "[review]\nmodle = \"x\"\n").unwrap();
    let w = env.wait_reviews(2, T);
    assert_eq!(w["last_review"]["model"], "user-model");
    let warning = w["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .find(|s| s.starts_with("ignoring .cxd.toml"))
        .map(str::to_owned);
    let warning = warning.unwrap_or_else(|| panic!("{w:#}"));
    assert!(
        warning.contains(".cxd.toml:2:") && warning.contains("modle"),
        "{warning}"
    );
}

#[test]
fn on_a_terminal_progress_is_one_updating_line() {
    let (env, repo) = TestEnv::with_repo(SETTLE_FAST);
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    edit(&repo, "one\n");
    // `script` gives the command a terminal; its transcript is what the terminal received.
    let typescript = env.dir.path().join("typescript");
    let out = env.on_a_terminal(&format!("review --wait {}", repo.display()), &typescript);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = std::fs::read_to_string(&typescript).unwrap();
    // Redrawn in place (carriage return + erase line), then cleared before the verdict.
    assert!(seen.contains("\r\u{1b}[2K[0s] codex: "), "{seen:?}");
    assert!(seen.contains(": approve ("), "{seen:?}");
}

#[test]
fn sighup_raises_the_concurrency_cap() {
    let (env, repo) = TestEnv::with_repo(&format!("{SETTLE_FAST}[review]\nmax_concurrent = 1\n"));
    let other = init_repo(env.dir.path(), "other");
    let slow = json!({"mode": "slow", "seconds": 2, "answer": {"verdict": "approve", "summary": "s", "findings": [], "fixed_finding_ids": []}});
    env.script_codex(&json!([slow.clone(), slow]));
    let d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    env.ok(&["watch", other.to_str().unwrap()]);
    env.write_config(
        "[settle]\nquiet_ms = 200\nmax_wait_ms = 2000\n[review]\nmax_concurrent = 2\n",
    );
    d.signal(libc::SIGHUP);
    wait_for("the reload", T, || {
        d.log_text().contains("config reloaded").then_some(())
    });
    edit(&repo, "one\n");
    std::fs::write(other.join("README"), "two\n").unwrap();
    // Both run at once: the second starts while the first (2 s) is still going.
    let calls = wait_for("both codex runs", T, || {
        let c = env.codex_calls();
        (c.len() == 2).then_some(c)
    });
    let (t0, t1) = (
        calls[0]["time"].as_f64().unwrap(),
        calls[1]["time"].as_f64().unwrap(),
    );
    assert!(
        (t1 - t0).abs() < 1.9,
        "with max_concurrent = 2 both run together: {t0} {t1}"
    );
}
