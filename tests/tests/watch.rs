//! Watching work trees and settling edit bursts into review requests, through the real binary.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::time::Duration;

use cxd_e2e::{TestEnv, git, init_repo, wait_for};

const T: Duration = Duration::from_secs(30);

fn files_of(entry: &serde_json::Value) -> Vec<String> {
    entry["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect()
}

fn watch(env: &TestEnv, repo: &Path) {
    let out = env.ok(&["watch", repo.to_str().unwrap()]);
    assert!(
        out.starts_with(&format!("watching {}", repo.display())),
        "{out}"
    );
}

/// Edit `file`, wait for the request that names it, and return every request so far.
fn sentinel(env: &TestEnv, repo: &Path, before: usize) -> Vec<serde_json::Value> {
    std::fs::write(repo.join("SENTINEL"), format!("{before}\n")).unwrap();
    env.wait_log("review_started", before + 1, T)
}

#[test]
fn one_edit_gives_one_request_after_the_quiet_period() {
    let env = TestEnv::new();
    env.fast_settle();
    let repo = init_repo(env.dir.path(), "repo");
    let _d = env.start_daemon();
    watch(&env, &repo);
    std::fs::write(repo.join("README"), "hello\nworld\n").unwrap();
    let settling = wait_for("settling", T, || {
        let s = env.status_json();
        let w = &s["workspaces"][0];
        (w["state"] == "settling").then(|| w.clone())
    });
    assert_eq!(settling["pending_files"], 1);
    assert!(settling["settle_in_ms"].as_u64().unwrap() <= 3000);
    let reqs = env.wait_log("review_started", 1, T);
    assert_eq!(files_of(&reqs[0]), ["README"]);
    assert_eq!(reqs[0]["insertions"], 1);
    assert_eq!(reqs[0]["trigger"], "edit");
    let edits = env.log_kind("edit");
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0]["by"], "human");
    assert_eq!(files_of(&edits[0]), ["README"]);
    // Exactly one: the next request is the sentinel's alone.
    let reqs = sentinel(&env, &repo, 1);
    assert_eq!(reqs.len(), 2);
    assert_eq!(files_of(&reqs[1]), ["SENTINEL"]);
    wait_for("idle after the review", T, || {
        (env.status_json()["workspaces"][0]["state"] == "idle").then_some(())
    });
}

#[test]
fn a_two_thousand_file_burst_gives_one_request() {
    let env = TestEnv::new();
    env.fast_settle();
    let repo = init_repo(env.dir.path(), "repo");
    let _d = env.start_daemon();
    watch(&env, &repo);
    for d in 0..20 {
        let dir = repo.join(format!("src/m{d}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..100 {
            std::fs::write(dir.join(format!("f{f}.rs")), format!("// {d} {f}\n")).unwrap();
        }
    }
    let reqs = env.wait_log("review_started", 1, T);
    assert_eq!(reqs[0]["count"], 2000);
    let reqs = sentinel(&env, &repo, 1);
    assert_eq!(reqs.len(), 2, "{reqs:#?}");
}

#[test]
fn ignored_directories_and_cxds_own_state_never_trigger() {
    let env = TestEnv::new();
    env.fast_settle();
    let repo = init_repo(env.dir.path(), "repo");
    let _d = env.start_daemon();
    watch(&env, &repo);
    let before = env.status_json()["workspaces"][0]["os_watches"]
        .as_u64()
        .unwrap();
    for dir in ["target/debug/deps", "node_modules/pkg/lib"] {
        let p = repo.join(dir);
        std::fs::create_dir_all(&p).unwrap();
        for i in 0..200 {
            std::fs::write(p.join(format!("o{i}")), "x").unwrap();
        }
    }
    let reqs = sentinel(&env, &repo, 0);
    assert_eq!(reqs.len(), 1);
    assert_eq!(files_of(&reqs[0]), ["SENTINEL"]);
    let edits = env.log_kind("edit");
    assert!(
        edits
            .iter()
            .all(|e| files_of(e).iter().all(|f| f == "SENTINEL")),
        "{edits:#?}"
    );
    // No watch was added inside the ignored trees.
    assert_eq!(
        env.status_json()["workspaces"][0]["os_watches"]
            .as_u64()
            .unwrap(),
        before
    );
}

#[test]
fn state_dir_inside_the_tree_is_not_reviewed() {
    let env = TestEnv::new();
    env.fast_settle();
    let repo = init_repo(env.dir.path(), "repo");
    // The daemon's state (database, logs) lives inside the watched tree, unignored.
    let mut cmd_env = TestEnv::new();
    cmd_env.state = repo.join(".cxd-state");
    cmd_env.home = env.home.clone();
    let _d = cmd_env.start_daemon();
    watch(&cmd_env, &repo);
    let reqs = {
        std::fs::write(repo.join("SENTINEL"), "1\n").unwrap();
        cmd_env.wait_log("review_started", 1, T)
    };
    assert_eq!(files_of(&reqs[0]), ["SENTINEL"]);
    std::fs::write(repo.join("SENTINEL"), "2\n").unwrap();
    let reqs = cmd_env.wait_log("review_started", 2, T);
    assert_eq!(files_of(&reqs[1]), ["SENTINEL"], "{reqs:#?}");
    // After a restart the whole tree is rescanned: the state dir still stays out.
    cmd_env.ok(&["stop"]);
    drop(_d);
    std::fs::write(repo.join("SENTINEL"), "3\n").unwrap();
    let _d = cmd_env.start_daemon();
    let reqs = cmd_env.wait_log("review_started", 3, T);
    assert_eq!(files_of(&reqs[2]), ["SENTINEL"], "{reqs:#?}");
}

#[test]
fn temp_then_rename_save_names_the_real_file() {
    let env = TestEnv::new();
    env.fast_settle();
    let repo = init_repo(env.dir.path(), "repo");
    let _d = env.start_daemon();
    watch(&env, &repo);
    let tmp = repo.join(".README.swp~");
    std::fs::write(&tmp, "saved by an editor\n").unwrap();
    std::fs::rename(&tmp, repo.join("README")).unwrap();
    let reqs = env.wait_log("review_started", 1, T);
    assert_eq!(files_of(&reqs[0]), ["README"]);
    // The audit trail names the saved file, not the editor's temporary one.
    assert_eq!(files_of(&env.log_kind("edit")[0]), ["README"]);
    let reqs = sentinel(&env, &repo, 1);
    assert_eq!(reqs.len(), 2);
}

#[test]
fn files_in_new_nested_directories_are_seen() {
    let env = TestEnv::new();
    env.fast_settle();
    let repo = init_repo(env.dir.path(), "repo");
    let _d = env.start_daemon();
    watch(&env, &repo);
    std::fs::create_dir_all(repo.join("a/b/c")).unwrap();
    std::fs::write(repo.join("a/b/c/f"), "\n").unwrap();
    let reqs = env.wait_log("review_started", 1, T);
    assert_eq!(files_of(&reqs[0]), ["a/b/c/f"]);
    // The new directories are watched too.
    std::fs::write(repo.join("a/b/c/g"), "\n").unwrap();
    let reqs = env.wait_log("review_started", 2, T);
    assert_eq!(files_of(&reqs[1]), ["a/b/c/g"]);
}

#[test]
fn edit_then_revert_gives_no_request() {
    let env = TestEnv::new();
    env.fast_settle();
    let repo = init_repo(env.dir.path(), "repo");
    let _d = env.start_daemon();
    watch(&env, &repo);
    std::fs::write(repo.join("README"), "changed\n").unwrap();
    std::fs::write(repo.join("README"), "hello\n").unwrap();
    let edits = env.wait_log("edit", 1, T);
    assert_eq!(edits[0]["net_change"], false);
    assert!(env.log_kind("review_started").is_empty());
    let reqs = sentinel(&env, &repo, 0);
    assert_eq!(files_of(&reqs[0]), ["SENTINEL"]);
}

#[test]
fn a_checkout_of_three_thousand_files_gives_no_request() {
    let env = TestEnv::new();
    env.fast_settle();
    let repo = init_repo(env.dir.path(), "repo");
    git(&repo, &["checkout", "-q", "-b", "big"]);
    for d in 0..30 {
        let dir = repo.join(format!("gen/d{d}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..100 {
            std::fs::write(dir.join(format!("f{f}.txt")), format!("{d}/{f}\n")).unwrap();
        }
    }
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "big"]);
    git(&repo, &["checkout", "-q", "main"]);
    let _d = env.start_daemon();
    watch(&env, &repo);
    git(&repo, &["checkout", "-q", "big"]);
    let moved = env.wait_log("head_moved", 1, T);
    assert!(moved[0]["to"].is_string());
    assert!(
        env.log_kind("review_started").is_empty(),
        "{:#?}",
        env.log_json(50)
    );
    // And back again, with an uncommitted edit on top: only the edit is reviewed.
    git(&repo, &["checkout", "-q", "main"]);
    std::fs::write(repo.join("README"), "hello\nedited on main\n").unwrap();
    let reqs = env.wait_log("review_started", 1, T);
    assert_eq!(files_of(&reqs[0]), ["README"], "{:#?}", env.log_json(50));
}

/// `cxd watch` answers once the tree is watched, before the first snapshot is done: an edit
/// made then must not hide in that snapshot. A clean filter of the user's own config (a
/// repository's would not run) holds the snapshot at `gate.txt`
/// (untracked, so hashed) until the test lets it go; `late.txt`, read after it, is edited
/// meanwhile and must be reviewed.
#[test]
fn an_edit_made_while_the_first_snapshot_is_taken_is_reviewed() {
    let env = TestEnv::new();
    env.fast_settle();
    let repo = init_repo(env.dir.path(), "repo");
    std::fs::write(repo.join(".gitattributes"), "gate.txt filter=gate\n").unwrap();
    git(&repo, &["add", ".gitattributes"]);
    git(&repo, &["commit", "-q", "-m", "attributes"]);
    let started = env.dir.path().join("filter-started");
    let fifo = env.dir.path().join("filter-gate");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    // Blocks once, the first time it runs; passes the content through.
    let clean = format!(
        "sh -c 'if [ ! -e \"{s}\" ]; then : > \"{s}\"; cat \"{f}\" > /dev/null; fi; cat'",
        s = started.display(),
        f = fifo.display()
    );
    std::fs::write(
        env.home.join(".gitconfig"),
        format!(
            "[filter \"gate\"]\n\tclean = \"{}\"\n",
            clean.replace('\\', "\\\\").replace('"', "\\\"")
        ),
    )
    .unwrap();
    std::fs::write(repo.join("gate.txt"), "gate\n").unwrap();
    std::fs::write(repo.join("late.txt"), "before\n").unwrap();
    let _d = env.start_daemon();
    let mut watching = env
        .cmd(&["watch", repo.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The snapshot is under way (so the watches are in): edit, then let it finish.
    wait_for("the first snapshot to reach the filter", T, || {
        started.exists().then_some(())
    });
    std::fs::write(repo.join("late.txt"), "before\nafter\n").unwrap();
    std::fs::write(&fifo, "go\n").unwrap();
    assert!(watching.wait().unwrap().success());
    let reqs = env.wait_log("review_started", 1, T);
    assert_eq!(files_of(&reqs[0]), ["late.txt"]);
    // Exactly one: the next request is the sentinel's alone.
    let reqs = sentinel(&env, &repo, 1);
    assert_eq!(reqs.len(), 2);
    assert_eq!(files_of(&reqs[1]), ["SENTINEL"]);
}

#[test]
fn a_commit_of_a_reviewed_edit_moves_the_baseline_without_a_request() {
    let env = TestEnv::new();
    env.fast_settle();
    let repo = init_repo(env.dir.path(), "repo");
    let _d = env.start_daemon();
    watch(&env, &repo);
    std::fs::write(repo.join("README"), "one\n").unwrap();
    env.wait_reviews(1, T);
    git(&repo, &["commit", "-q", "-am", "one"]);
    env.wait_log("head_moved", 1, T);
    let reqs = sentinel(&env, &repo, 1);
    assert_eq!(reqs.len(), 2, "{reqs:#?}");
    assert_eq!(files_of(&reqs[1]), ["SENTINEL"]);
}

/// Linux only: /proc shows the daemon's inotify watches; no other OS has such a view.
#[cfg(target_os = "linux")]
#[test]
fn unwatch_releases_every_os_watch() {
    let env = TestEnv::new();
    let repo = init_repo(env.dir.path(), "repo");
    for d in ["a/b", "c", "d/e/f"] {
        std::fs::create_dir_all(repo.join(d)).unwrap();
    }
    let d = env.start_daemon();
    let baseline = cxd_e2e::inotify_watches(d.pid());
    watch(&env, &repo);
    let held = env.status_json()["workspaces"][0]["os_watches"]
        .as_u64()
        .unwrap() as usize;
    assert!(held >= 7, "root, a, a/b, c, d, d/e, d/e/f at least: {held}");
    assert_eq!(cxd_e2e::inotify_watches(d.pid()), baseline + held);
    assert_eq!(
        env.ok(&["unwatch", repo.to_str().unwrap()]).trim(),
        format!("stopped watching {}", repo.display())
    );
    wait_for("watches released", T, || {
        (cxd_e2e::inotify_watches(d.pid()) == baseline).then_some(())
    });
    assert_eq!(env.status_json()["workspaces"], serde_json::json!([]));
}

#[test]
fn workspaces_come_back_after_a_restart() {
    let env = TestEnv::new();
    env.fast_settle();
    let repo = init_repo(env.dir.path(), "repo");
    let mut d = env.start_daemon();
    watch(&env, &repo);
    env.ok(&["stop"]);
    d.wait_exit(Duration::from_secs(10));
    // Edited while the daemon was down: reviewed once it is back.
    std::fs::write(repo.join("README"), "edited offline\n").unwrap();
    let _d = env.start_daemon();
    let s = env.status_json();
    assert_eq!(s["workspaces"][0]["root"], repo.to_str().unwrap());
    assert!(s["workspaces"][0]["os_watches"].as_u64().unwrap() > 0);
    let reqs = env.wait_log("review_started", 1, T);
    assert_eq!(files_of(&reqs[0]), ["README"]);
}

#[test]
fn watch_errors_are_clear() {
    let env = TestEnv::new();
    let repo = init_repo(env.dir.path(), "repo");
    let _d = env.start_daemon();
    let plain = env.dir.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let out = env.run(&["watch", plain.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not inside a git work tree"));
    let out = env.run(&["watch", "/no/such/dir"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    watch(&env, &repo);
    // A path inside the same tree is the same workspace.
    std::fs::create_dir_all(repo.join("sub")).unwrap();
    let out = env.ok(&["watch", repo.join("sub").to_str().unwrap()]);
    assert_eq!(out.trim(), format!("already watching {}", repo.display()));
    // A nested repository inside a watched one.
    let inner = init_repo(&repo, "inner");
    let out = env.run(&["watch", inner.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is inside the watched workspace"));
    let out = env.run(&["unwatch", plain.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not in a watched workspace"));
}

#[test]
fn watch_starts_the_daemon_unless_told_not_to() {
    let env = TestEnv::new();
    let repo = init_repo(env.dir.path(), "repo");
    let out = env.run(&["watch", "--no-spawn", repo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let out = env.run(&["watch", repo.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("started the daemon in the background"));
    let s = env.status_json();
    assert_eq!(s["workspaces"][0]["root"], repo.to_str().unwrap());
    env.ok(&["stop"]);
}

#[test]
fn a_deleted_root_turns_the_workspace_missing() {
    let env = TestEnv::new();
    let repo = init_repo(env.dir.path(), "repo");
    let _d = env.start_daemon();
    watch(&env, &repo);
    std::fs::remove_dir_all(&repo).unwrap();
    wait_for("missing", T, || {
        (env.status_json()["workspaces"][0]["state"] == "missing").then_some(())
    });
    // Still serving; unwatch forgets it.
    env.ok(&["unwatch", repo.to_str().unwrap()]);
    assert_eq!(env.status_json()["workspaces"], serde_json::json!([]));
}
