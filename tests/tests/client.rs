//! The client people and scripts use: approvals, dismissals, the gate, the audit trail, live
//! events, colour rules and the git hook.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use cxd_e2e::{Daemon, FindingJson, SETTLE_FAST, TestEnv, answer, finding, git, wait_for};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);

/// A watched repository whose first review opened one high finding, F1 ("leak").
fn with_a_high_finding() -> (TestEnv, std::path::PathBuf, Daemon) {
    let (env, repo) = TestEnv::with_repo(SETTLE_FAST);
    env.script_codex(&json!([answer(vec![readme("leak", "high")])]));
    let d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    std::fs::write(repo.join("README"), "changed\n").unwrap();
    wait_for("finding", T, || {
        (env.workspace()["open_findings"]["high"] == 1).then_some(())
    });
    (env, repo, d)
}

fn gate(env: &TestEnv, repo: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["gate", repo.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let out = env.run(&args);
    let code = out.status.code().unwrap();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    (code, report)
}

/// A finding on line 1 of the README, of this severity, half sure (what these tests open).
fn readme(title: &str, severity: &str) -> FindingJson {
    finding(title)
        .severity(severity)
        .file("README")
        .confidence(0.5)
}

#[test]
fn the_gate_says_no_until_reviewed_and_clean() {
    let (env, repo) = TestEnv::with_repo(SETTLE_FAST);
    env.script_codex(&json!([answer(vec![
        readme("leak", "high"),
        readme("nit", "low")
    ])]));
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    // Nothing changed: reviewed up to date, nothing open.
    let (code, r) = gate(&env, &repo, &[]);
    assert_eq!(
        (code, r["pass"].clone(), r["up_to_date"].clone()),
        (0, json!(true), json!(true)),
        "{r:#}"
    );
    // A write the watcher may not even have seen yet: not reviewed.
    std::fs::write(repo.join("README"), "changed\n").unwrap();
    let (code, r) = gate(&env, &repo, &[]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["up_to_date"], false);
    assert!(
        r["reason"].as_str().unwrap().contains("not reviewed yet"),
        "{r:#}"
    );
    // --wait reviews it; the high finding blocks.
    let (code, r) = gate(&env, &repo, &["--wait", "60"]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["up_to_date"], true);
    assert_eq!(r["blocking"].as_array().unwrap().len(), 1);
    assert_eq!(r["blocking"][0]["id"], "F1");
    assert_eq!(r["block_on"], "high");
    let human = env.run(&["gate", repo.to_str().unwrap()]);
    assert_eq!(human.status.code(), Some(1));
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.starts_with("gate fail: 1 open finding(s) at or above high"),
        "{text}"
    );
    assert!(text.contains("F1   high     README:1  leak"), "{text}");
    // A higher threshold passes; a lower one blocks on both.
    assert_eq!(gate(&env, &repo, &["--block-on", "critical"]).0, 0);
    assert_eq!(
        gate(&env, &repo, &["--block-on", "low"]).1["blocking"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        env.run(&["gate", repo.to_str().unwrap(), "--block-on", "severe"])
            .status
            .code(),
        Some(2)
    );
    // Dismissed, it no longer blocks.
    assert_eq!(
        env.ok(&[
            "dismiss",
            "F1",
            repo.to_str().unwrap(),
            "--reason",
            "intended"
        ])
        .trim(),
        "dismissed F1 (leak)"
    );
    assert_eq!(gate(&env, &repo, &[]).0, 0);
}

#[test]
fn a_halted_workspace_fails_the_gate() {
    let (env, repo) = TestEnv::with_repo(SETTLE_FAST);
    env.script_codex(&json!([{"mode": "fail_quota"}]));
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    std::fs::write(repo.join("README"), "changed\n").unwrap();
    env.wait_state("halted", T);
    let (code, r) = gate(&env, &repo, &[]);
    assert_eq!(code, 1);
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .starts_with("no review now: quota — resumes at 2099-03-17 17:46"),
        "{r:#}"
    );
}

#[test]
fn approval_goes_stale_after_an_edit() {
    let (env, repo) = TestEnv::with_repo(SETTLE_FAST);
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    assert!(env.workspace()["approval"].is_null());
    let out = env.ok(&["approve", repo.to_str().unwrap(), "--note", "ship it"]);
    assert_eq!(
        out.trim(),
        format!("approved {} as it is now", repo.display())
    );
    let a = env.workspace()["approval"].clone();
    assert_eq!(a["current"], true, "{a:#}");
    assert!(env.ok(&["status"]).contains("approval  current"));
    std::fs::write(repo.join("README"), "edited after approval\n").unwrap();
    wait_for("stale approval", T, || {
        (env.workspace()["approval"]["current"] == false).then_some(())
    });
    wait_for("reviewed", T, || {
        (env.workspace()["reviews"] == 1 && env.workspace()["state"] == "idle").then_some(())
    });
    assert_eq!(
        env.workspace()["approval"]["current"],
        false,
        "a review does not renew an approval"
    );
    assert!(env.ok(&["status"]).contains("approval  stale"));
    let approvals = env.log_kind("approval");
    assert_eq!(approvals[0]["note"], "ship it");
}

#[test]
fn dismiss_and_reopen() {
    let (env, repo, _d) = with_a_high_finding();
    env.ok(&[
        "dismiss",
        "F1",
        repo.to_str().unwrap(),
        "--reason",
        "false positive",
    ]);
    assert_eq!(env.workspace()["open_findings"]["high"], 0);
    let out = env.run(&["dismiss", "F1", repo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already dismissed"));
    let out = env.run(&["dismiss", "F99", repo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no finding F99"));
    let out = env.run(&["dismiss", "bogus", repo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let all: Value =
        serde_json::from_str(&env.ok(&["findings", repo.to_str().unwrap(), "--all", "--json"]))
            .unwrap();
    assert_eq!(all[0]["status"], "dismissed");
    assert_eq!(
        env.ok(&["reopen", "F1", repo.to_str().unwrap()]).trim(),
        "reopened F1 (leak)"
    );
    assert_eq!(env.workspace()["open_findings"]["high"], 1);
    let d = env.log_kind("dismissal");
    assert_eq!(
        (d[0]["finding"].clone(), d[0]["reason"].clone()),
        (json!("F1"), json!("false positive"))
    );
    assert_eq!(env.log_kind("reopen").len(), 1);
}

/// A request that changes a finding answers after the workspace's status shows the change:
/// `cxd status` right after `cxd dismiss` never shows the finding still open.
#[test]
fn status_reads_a_dismissal_or_reopen_at_once() {
    let (env, repo, _d) = with_a_high_finding();
    for round in 0..25 {
        env.ok(&["dismiss", "F1", repo.to_str().unwrap()]);
        assert_eq!(env.workspace()["open_findings"]["high"], 0, "round {round}");
        env.ok(&["reopen", "F1", repo.to_str().unwrap()]);
        assert_eq!(env.workspace()["open_findings"]["high"], 1, "round {round}");
    }
}

#[test]
fn the_log_records_who_did_what() {
    let (env, repo) = TestEnv::with_repo(SETTLE_FAST);
    env.script_codex(&json!([answer(vec![readme("leak", "high")])]));
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    std::fs::write(repo.join("README"), "changed\n").unwrap();
    wait_for("reviewed", T, || {
        (env.workspace()["reviews"] == 1 && env.workspace()["state"] == "idle").then_some(())
    });
    env.ok(&["approve", repo.to_str().unwrap()]);
    env.ok(&["dismiss", "F1", repo.to_str().unwrap()]);
    let log = env.log_json(50);
    let kinds: Vec<&str> = log.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "edit",
            "review_started",
            "review_finished",
            "approval",
            "dismissal"
        ]
    );
    for e in &log {
        assert!(
            e["at"].as_str().unwrap().ends_with('Z'),
            "RFC 3339 UTC: {e}"
        );
        assert_eq!(e["workspace"], repo.to_str().unwrap());
    }
    assert_eq!(log[0]["by"], "human");
    assert_eq!(log[2]["verdict"], "changes_requested");
    assert_eq!(log[2]["model"], "gpt-5.2-codex");
    assert_eq!(log[2]["exit_code"], 0);
    assert!(log[2]["tokens"]["input"].as_u64().unwrap() > 0);
    assert_eq!(log[2]["opened"], json!(["F1"]));
    // -n limits to the newest entries; a path narrows to a workspace.
    assert_eq!(env.log_json(2).len(), 2);
    let human = env.ok(&["log", repo.to_str().unwrap()]);
    assert!(
        human.contains("review_finished") && human.contains("#1 changes_requested"),
        "{human}"
    );
}

#[test]
fn events_stream_a_review_in_order() {
    let (env, repo) = TestEnv::with_repo(SETTLE_FAST);
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    let mut child = env
        .cmd(&["events", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in lines {
            let ev: Value = serde_json::from_str(&line.unwrap()).unwrap();
            if tx.send(ev["kind"].as_str().unwrap().to_owned()).is_err() {
                break;
            }
        }
    });
    // Subscribed once an event of ours comes through: approve until one does.
    wait_for("the subscription", T, || {
        env.ok(&["approve", repo.to_str().unwrap()]);
        (rx.recv_timeout(Duration::from_millis(500)).ok()? == "approval").then_some(())
    });
    while rx.try_recv().is_ok() {}
    std::fs::write(repo.join("README"), "changed\n").unwrap();
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("review_finished") {
        seen.push(rx.recv_timeout(T).expect("the review's events"));
    }
    let _ = child.kill();
    let _ = child.wait();
    let pos = |k: &str| {
        seen.iter()
            .position(|s| s == k)
            .unwrap_or_else(|| panic!("{k} missing from {seen:?}"))
    };
    assert!(pos("edit") < pos("review_started"), "{seen:?}");
    assert!(pos("review_started") < pos("review_activity"), "{seen:?}");
    assert!(pos("review_activity") < pos("review_finished"), "{seen:?}");
}

#[test]
fn colour_only_on_request_and_never_with_no_color() {
    let (env, repo, _d) = with_a_high_finding();
    // A pipe, NO_COLOR set (the harness default): plain text.
    for args in [&["status"][..], &["findings", repo.to_str().unwrap()]] {
        let out = env.ok(args);
        assert!(!out.contains('\u{1b}'), "{args:?}: {out:?}");
    }
    // A pipe without NO_COLOR: still plain.
    let out = env
        .cmd(&["status"])
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains('\u{1b}'));
    // Forced colour: escapes appear; NO_COLOR still wins.
    let out = env
        .cmd(&["findings", repo.to_str().unwrap()])
        .env_remove("NO_COLOR")
        .env("CLICOLOR_FORCE", "1")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\u{1b}["),
        "forced colour"
    );
    let out = env
        .cmd(&["findings", repo.to_str().unwrap()])
        .env("CLICOLOR_FORCE", "1")
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains('\u{1b}'),
        "NO_COLOR wins"
    );
    // The text itself.
    let text = env.ok(&["findings", repo.to_str().unwrap()]);
    assert!(
        text.starts_with("high (1)\n  F1 high [bug] README:1  leak\n      b\n      fix: r\n"),
        "{text}"
    );
}

#[test]
fn the_git_hook_runs_the_gate_and_keeps_the_users_hook() {
    let (env, repo) = TestEnv::with_repo(SETTLE_FAST);
    env.script_codex(&json!([answer(vec![readme("leak", "high")])]));
    let hook = repo.join(".git/hooks/pre-commit");
    std::fs::write(
        &hook,
        "#!/bin/sh\necho users-own-hook-ran > \"$(git rev-parse --show-toplevel)/.git/own-hook\"\n",
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    let out = env.ok(&["init", "git-hook", repo.to_str().unwrap()]);
    assert!(out.contains("installed `cxd gate`"), "{out}");
    assert!(
        env.ok(&["init", "git-hook", repo.to_str().unwrap()])
            .contains("already runs")
    );
    let text = std::fs::read_to_string(&hook).unwrap();
    assert!(
        text.contains("users-own-hook-ran") && text.matches("\"$cxd\" gate ||").count() == 1,
        "{text}"
    );
    std::fs::write(repo.join("README"), "changed\n").unwrap();
    wait_for("finding", T, || {
        (env.workspace()["open_findings"]["high"] == 1).then_some(())
    });
    // The hook runs `cxd` from PATH with this test's environment.
    let bin_dir = cxd_e2e::cxd_bin().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let commit = |msg: &str| {
        let mut c = std::process::Command::new("git");
        c.args(["commit", "-qam", msg])
            .current_dir(&repo)
            .env("PATH", &path);
        for (k, v) in env.cmd(&[]).get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c.env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@x")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@x");
        c.output().unwrap()
    };
    let out = commit("blocked");
    assert!(!out.status.success(), "the gate blocks the commit");
    assert!(String::from_utf8_lossy(&out.stderr).contains("commit blocked by cxd gate"));
    assert!(
        repo.join(".git/own-hook").exists(),
        "the user's hook still runs"
    );
    env.ok(&["dismiss", "F1", repo.to_str().unwrap()]);
    let out = commit("allowed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(git(&repo, &["log", "--oneline"]).contains("allowed"));
}

#[test]
fn status_names_the_three_most_severe_open_findings_per_workspace() {
    let (env, repo) = TestEnv::with_repo(SETTLE_FAST);
    let at = |title: &str, severity: &str, file: &str, line: i64| {
        readme(title, severity).file(file).line(line)
    };
    env.script_codex(&json!([answer(vec![
        at("a style nit", "low", "README", 1),
        at("an off-by-one", "medium", "README", 2),
        at("the token leaks", "critical", "README", 3),
        at("unchecked input", "high", "", 0),
        at("another high one", "high", "README", 9),
    ])]));
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    std::fs::write(repo.join("README"), "changed\n").unwrap();
    wait_for("findings", T, || {
        (env.workspace()["open_findings"]["critical"] == 1).then_some(())
    });
    let out = env.ok(&["status"]);
    let named: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("            F"))
        .collect();
    assert_eq!(named.len(), 3, "{out}");
    // Most severe first; of two highs, the older.
    assert!(
        named[0].contains("critical") && named[0].contains("README:3  the token leaks"),
        "{out}"
    );
    assert!(
        named[1].contains("high") && named[1].contains("(whole change)  unchecked input"),
        "{out}"
    );
    assert!(
        named[2].contains("high") && named[2].contains("README:9  another high one"),
        "{out}"
    );
    assert!(
        !out.contains("a style nit") && !out.contains("off-by-one"),
        "{out}"
    );
    // The same three, in the same order, for scripts.
    let top = env.workspace()["top_findings"].clone();
    let titles: Vec<&str> = top
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        ["the token leaks", "unchecked input", "another high one"]
    );
    // Dismissing one brings the next into view.
    let id = top[0]["id"].as_str().unwrap().to_owned();
    env.ok(&[
        "dismiss",
        &id,
        repo.to_str().unwrap(),
        "--reason",
        "not reachable",
    ]);
    wait_for("the next finding named", T, || {
        env.ok(&["status"]).contains("off-by-one").then_some(())
    });
}
