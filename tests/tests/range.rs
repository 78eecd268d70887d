//! `cxd review --commit/--range/--base`: committed history reviewed on the workspace's thread,
//! the prompt carrying exactly git's own diff, the findings joining the workspace's; bad names,
//! empty ranges, shallow clones, detached HEADs and empty repositories refused with nothing
//! recorded.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use cxd_e2e::{TestEnv, git, init_repo, wait_for};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);

fn commit(repo: &Path, file: &str, text: &str, message: &str) -> String {
    std::fs::write(repo.join(file), text).unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", message]);
    git(repo, &["rev-parse", "HEAD"]).trim().to_owned()
}

/// A repository with history: main has three commits after `init`.
fn history(env: &TestEnv) -> (PathBuf, Vec<String>) {
    let repo = init_repo(env.dir.path(), "repo");
    let mut ids = vec![git(&repo, &["rev-parse", "HEAD"]).trim().to_owned()];
    ids.push(commit(&repo, "a.txt", "one\ntwo\n", "a"));
    ids.push(commit(&repo, "README", "hello\nagain\n", "readme"));
    std::fs::remove_file(repo.join("a.txt")).unwrap();
    ids.push(commit(&repo, "b.txt", "bee\n", "b, no a"));
    (repo, ids)
}

fn started(env: &TestEnv, repo: &Path) {
    env.ok(&["watch", repo.to_str().unwrap()]);
}

/// The diff between the prompt's fence lines.
fn fenced_diff(prompt: &str) -> String {
    let start = prompt.find("```diff\n").expect("a fenced diff") + "```diff\n".len();
    let end = prompt[start..].find("\n```\n").expect("the closing fence");
    prompt[start..start + end + 1].to_owned()
}

fn last_prompt(env: &TestEnv) -> String {
    let calls = env.codex_calls();
    calls.last().unwrap()["prompt"].as_str().unwrap().to_owned()
}

fn review_json(env: &TestEnv, args: &[&str]) -> Value {
    let out = env.run(args);
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_range_prompt_carries_exactly_gits_diff_and_its_findings_join_the_store() {
    let env = TestEnv::new();
    env.fast_settle();
    let (repo, ids) = history(&env);
    env.script_codex(
        &json!([{"answer": {"verdict": "changes_requested", "summary": "s",
        "findings": [{"severity": "high", "category": "bug", "file": "b.txt", "line_start": 1,
        "line_end": 1, "title": "bee is wrong", "body": "b", "recommendation": "r",
        "confidence": 0.9}], "fixed_finding_ids": [], "still_open_ids": [], "rulings": []}}]),
    );
    let _d = env.start_daemon();
    started(&env, &repo);
    let range = format!("{}..{}", ids[1], ids[3]);
    let r = review_json(
        &env,
        &[
            "review",
            repo.to_str().unwrap(),
            "--range",
            &range,
            "--wait",
            "--json",
        ],
    );
    assert_eq!(r["review"]["trigger"], "range", "{r:#}");
    assert_eq!(r["review"]["verdict"], "changes_requested");
    assert_eq!(r["opened_total"], 1);
    let expected = git(&repo, &["diff", &ids[1], &ids[3]]);
    let prompt = last_prompt(&env);
    assert_eq!(fenced_diff(&prompt), expected, "{prompt}");
    assert!(prompt.contains("\"a.txt\" (deleted"), "{prompt}");
    // The finding joined the workspace's; the working tree's baseline did not move.
    let w = env.workspace();
    assert_eq!(w["open_findings"]["high"], 1, "{w:#}");
    assert_eq!(w["reviews"], 1);
    let findings: Value =
        serde_json::from_str(&env.ok(&["findings", repo.to_str().unwrap(), "--json"])).unwrap();
    assert_eq!(findings[0]["title"], "bee is wrong");
    // HEAD's tree was covered by that review.
    assert_eq!(w["head_reviewed"], true, "{w:#}");
    // An edit afterwards is reviewed as usual, on the same thread, against the tree as it was.
    let thread = w["thread_id"].as_str().unwrap().to_owned();
    std::fs::write(repo.join("README"), "hello\nagain\nedited\n").unwrap();
    let w = env.wait_reviews(2, T);
    assert_eq!(w["thread_id"], thread.as_str());
    let p = last_prompt(&env);
    assert!(p.contains("+edited") && !p.contains("+bee"), "{p}");
}

#[test]
fn a_commit_is_reviewed_against_its_parent_even_on_a_detached_head() {
    let env = TestEnv::new();
    env.fast_settle();
    let (repo, ids) = history(&env);
    git(&repo, &["checkout", "-q", "--detach", &ids[2]]);
    let _d = env.start_daemon();
    started(&env, &repo);
    let r = review_json(
        &env,
        &[
            "review",
            repo.to_str().unwrap(),
            "--commit",
            "HEAD",
            "--wait",
            "--json",
        ],
    );
    assert_eq!(r["review"]["trigger"], "commit", "{r:#}");
    assert_eq!(r["review"]["verdict"], "approve");
    let expected = git(&repo, &["diff", &format!("{}^", ids[2]), &ids[2]]);
    assert_eq!(fenced_diff(&last_prompt(&env)), expected);
    // The root commit: against the empty tree.
    review_json(
        &env,
        &[
            "review",
            repo.to_str().unwrap(),
            "--commit",
            &ids[0],
            "--wait",
            "--json",
        ],
    );
    let p = last_prompt(&env);
    assert!(p.contains("+hello") && p.contains("new file mode"), "{p}");
    // --base needs a branch.
    let out = env.run(&["review", repo.to_str().unwrap(), "--base", "main"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("HEAD is detached") && err.contains("git switch"),
        "{err}"
    );
}

#[test]
fn base_reviews_the_branch_since_its_merge_base_and_optionally_the_uncommitted_work() {
    let env = TestEnv::new();
    env.fast_settle();
    let (repo, ids) = history(&env);
    git(&repo, &["checkout", "-q", "-b", "feature", &ids[1]]);
    commit(&repo, "f.txt", "feature\n", "f");
    // main moves on after the fork: its commits are not the branch's.
    git(&repo, &["checkout", "-q", "main"]);
    commit(&repo, "m.txt", "main only\n", "m");
    git(&repo, &["checkout", "-q", "feature"]);
    let _d = env.start_daemon();
    started(&env, &repo);
    review_json(
        &env,
        &[
            "review",
            repo.to_str().unwrap(),
            "--base",
            "main",
            "--wait",
            "--json",
        ],
    );
    let expected = git(&repo, &["diff", &ids[1], "HEAD"]);
    assert_eq!(fenced_diff(&last_prompt(&env)), expected);
    assert!(!last_prompt(&env).contains("main only"));
    // Uncommitted work too, with --uncommitted (compared with `git diff BASE`, the work tree).
    std::fs::write(repo.join("f.txt"), "feature\nnot committed\n").unwrap();
    let expected = git(&repo, &["diff", &ids[1]]);
    let r = review_json(
        &env,
        &[
            "review",
            repo.to_str().unwrap(),
            "--base",
            "main",
            "--uncommitted",
            "--wait",
            "--json",
        ],
    );
    assert_eq!(r["review"]["trigger"], "range", "{r:#}");
    let calls = env.codex_calls();
    let p = calls
        .iter()
        .rev()
        .map(|c| c["prompt"].as_str().unwrap().to_owned())
        .find(|p| p.contains("merge base"))
        .unwrap();
    assert_eq!(fenced_diff(&p), expected);
}

#[test]
fn a_large_range_goes_as_a_file_list_with_stats() {
    let env = TestEnv::new();
    env.write_config(
        "[settle]\nquiet_ms = 300\nmax_wait_ms = 3000\n[review]\nmax_diff_bytes = 1024\n",
    );
    let (repo, ids) = history(&env);
    let big: String = (0..200).map(|i| format!("line {i}\n")).collect();
    let tip = commit(&repo, "big.txt", &big, "big");
    let _d = env.start_daemon();
    started(&env, &repo);
    let range = format!("{}..{tip}", ids[0]);
    review_json(
        &env,
        &[
            "review",
            repo.to_str().unwrap(),
            "--range",
            &range,
            "--wait",
            "--json",
        ],
    );
    let p = last_prompt(&env);
    assert!(!p.contains("```diff"), "{p}");
    assert!(p.contains("\"big.txt\" (added, +200 -0)"), "{p}");
    assert!(p.contains("too large"), "{p}");
}

/// Refused with exit 2 and a message holding every `words`; nothing ran, nothing recorded.
fn refused(env: &TestEnv, repo: &Path, args: &[&str], words: &[&str]) {
    let mut all = vec!["review", repo.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = env.run(&all);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    for w in words {
        assert!(err.contains(w), "{args:?}: {w:?} not in {err}");
    }
    assert!(env.codex_calls().is_empty(), "{args:?}");
    assert_eq!(env.workspace()["reviews"], 0, "{args:?}");
    assert!(env.log_kind("review_started").is_empty(), "{args:?}");
}

#[test]
fn bad_names_and_empty_ranges_are_refused_with_nothing_recorded() {
    let env = TestEnv::new();
    env.fast_settle();
    let (repo, ids) = history(&env);
    let _d = env.start_daemon();
    started(&env, &repo);
    refused(
        &env,
        &repo,
        &["--commit", "no-such-branch"],
        &["unknown revision", "no-such-branch", "git log"],
    );
    // A name that reads as an option is never passed to git as one.
    let written = env.dir.path().join("written");
    let option = format!("--commit=--output={}", written.display());
    refused(&env, &repo, &[&option], &["not a revision name"]);
    assert!(!written.exists());
    let back = format!("{}..{}", ids[3], ids[1]);
    refused(
        &env,
        &repo,
        &["--range", &back],
        &["holds no commit", "git log --oneline"],
    );
    let same = format!("{}..{}", ids[2], ids[2]);
    refused(&env, &repo, &["--range", &same], &["holds no commit"]);
    refused(&env, &repo, &["--range", "main"], &["--range takes A..B"]);
    refused(
        &env,
        &repo,
        &["--base", "main"],
        &["nothing to review", "--uncommitted"],
    );
    refused(
        &env,
        &repo,
        &["--base", "nope"],
        &["unknown revision", "nope"],
    );
}

#[test]
fn every_malformed_revision_is_a_usage_error_never_daemon_unreachable() {
    let env = TestEnv::new();
    env.fast_settle();
    let (repo, ids) = history(&env);
    let _d = env.start_daemon();
    started(&env, &repo);
    let (a, b) = (ids[3].as_str(), ids[1].as_str());
    for args in [
        vec!["--range".to_owned(), format!("{a}..{b}..HEAD")],
        vec!["--range".to_owned(), "A..B..C".to_owned()],
        vec!["--range".to_owned(), format!("{a}...{b}")],
        vec!["--range".to_owned(), format!("{a}..")],
        vec!["--range".to_owned(), format!("..{b}")],
        vec!["--range".to_owned(), "..".to_owned()],
        vec!["--range".to_owned(), format!("^{a}..{b}")],
        vec!["--range".to_owned(), format!("{a}..{b}^!")],
        vec!["--range".to_owned(), format!("{a}..HEAD@{{99999}}")],
        vec!["--range".to_owned(), format!("{a}..HEAD:README")],
        vec!["--commit".to_owned(), format!("{a}..{b}")],
        vec!["--commit".to_owned(), format!("{a}...{b}")],
        vec!["--commit".to_owned(), format!("^{a}")],
        vec!["--commit".to_owned(), "HEAD^@".to_owned()],
        vec!["--commit".to_owned(), "HEAD@{99999}".to_owned()],
        vec!["--commit".to_owned(), "HEAD^{tree}".to_owned()],
        vec!["--commit".to_owned(), String::new()],
        vec![
            "--commit".to_owned(),
            "HEAD~99999999999999999999".to_owned(),
        ],
        vec!["--base".to_owned(), format!("{a}..{b}")],
        vec!["--base".to_owned(), "HEAD@{99999}".to_owned()],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(&env, &repo, &args, &[]);
    }
}

#[test]
fn a_repository_without_commits_is_refused() {
    let env = TestEnv::new();
    env.fast_settle();
    let repo = env.dir.path().join("empty");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    let _d = env.start_daemon();
    started(&env, &repo);
    refused(
        &env,
        &repo,
        &["--commit", "HEAD"],
        &["no commits yet", "commit first"],
    );
    refused(&env, &repo, &["--base", "main"], &["no commits yet"]);
}

#[test]
fn a_shallow_clone_missing_the_base_says_to_fetch_it() {
    let env = TestEnv::new();
    env.fast_settle();
    let (repo, ids) = history(&env);
    git(&repo, &["checkout", "-q", "-b", "other", &ids[1]]);
    commit(&repo, "o.txt", "other\n", "o");
    git(&repo, &["checkout", "-q", "main"]);
    let shallow = env.dir.path().join("shallow");
    git(
        env.dir.path(),
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            "--no-single-branch",
            &format!("file://{}", repo.display()),
            shallow.to_str().unwrap(),
        ],
    );
    let _d = env.start_daemon();
    started(&env, &shallow);
    refused(
        &env,
        &shallow,
        &["--base", "origin/other"],
        &["shallow", "git fetch --unshallow"],
    );
    wait_for("no review", T, || {
        (env.workspace()["state"] == "idle").then_some(())
    });
}

/// A fresh watch does not call the commit it found "not reviewed"; a commit made while cxd
/// watches, which no review covered, is.
#[test]
fn head_found_at_the_watch_is_not_reported_unreviewed_but_a_new_commit_is() {
    let env = TestEnv::new();
    env.fast_settle();
    let (repo, _ids) = history(&env);
    let _d = env.start_daemon();
    started(&env, &repo);
    let w = env.workspace();
    assert!(w["head_reviewed"].is_null(), "{w:#}");
    assert!(!env.ok(&["status"]).contains("HEAD "));
    env.ok(&["pause", repo.to_str().unwrap()]);
    commit(&repo, "c.txt", "sea\n", "c, unreviewed");
    let w = wait_for("the new HEAD looked up", T, || {
        let w = env.workspace();
        (w["head_reviewed"] == false).then_some(w)
    });
    assert_eq!(w["reviews"], 0, "{w:#}");
    assert!(
        env.ok(&["status"])
            .contains("HEAD      not reviewed as committed"),
    );
}
