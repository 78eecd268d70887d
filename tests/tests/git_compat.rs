//! Which git cxd works with, and what it tells the user when the git on PATH is unusable.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cxd_e2e::{TestEnv, init_repo, wait_for};

const T: Duration = Duration::from_secs(30);

/// A directory holding a `git` script that prints `version_line` for `--version` and fails
/// otherwise, first on a PATH that keeps the rest.
fn fake_git_path(env: &TestEnv, version_line: &str) -> String {
    let dir = env.dir.path().join("fake-git-bin");
    std::fs::create_dir_all(&dir).unwrap();
    let git = dir.join("git");
    std::fs::write(
        &git,
        format!(
            "#!/bin/sh\nif [ \"$1\" = --version ]; then echo '{version_line}'; exit 0; fi\n\
             echo 'fake git: unexpected call' >&2\nexit 1\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&git, std::fs::Permissions::from_mode(0o755)).unwrap();
    path_with(&dir)
}

fn path_with(dir: &Path) -> String {
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Run `cmd` to completion; a daemon that starts anyway is killed after a deadline (and the
/// test fails on its exit status).
fn output_bounded(mut cmd: std::process::Command) -> std::process::Output {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let exited = cxd_e2e::wait_for_or_none(std::time::Duration::from_secs(20), || {
        child.try_wait().unwrap()
    });
    if exited.is_none() {
        let _ = child.kill();
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_git_older_than_the_minimum_makes_the_daemon_refuse_to_start() {
    let env = TestEnv::new();
    let path = fake_git_path(&env, "git version 2.20.1");
    let mut cmd = env.cmd(&["daemon", "--log-stderr"]);
    cmd.env("PATH", &path);
    let out = output_bounded(cmd);
    assert!(!out.status.success(), "the daemon started with git 2.20.1");
    let err = stderr_of(&out);
    assert!(err.contains("git 2.20.1 is too old"), "{err}");
    assert!(err.contains("needs git 2.30.0 or newer"), "{err}");
    assert!(err.contains("install a newer git"), "{err}");
    assert!(!env.socket().exists(), "a refused daemon left its socket");
}

#[test]
fn cxd_watch_with_an_old_git_says_why_nothing_will_be_watched() {
    let env = TestEnv::new();
    let repo = init_repo(env.dir.path(), "repo");
    let path = fake_git_path(&env, "git version 2.20.1");
    // No daemon runs: `cxd watch` starts one, which refuses; the user sees why.
    let out = env
        .cmd(&["watch", repo.to_str().unwrap()])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(!out.status.success(), "cxd watch succeeded with git 2.20.1");
    let err = stderr_of(&out);
    assert!(err.contains("git 2.20.1 is too old"), "{err}");
    assert!(err.contains("2.30.0"), "{err}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("watching"));
}

#[test]
fn without_git_the_daemon_says_to_install_it() {
    let env = TestEnv::new();
    let empty: PathBuf = env.dir.path().join("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    let mut cmd = env.cmd(&["daemon", "--log-stderr"]);
    cmd.env("PATH", &empty);
    let out = output_bounded(cmd);
    assert!(!out.status.success(), "the daemon started without git");
    let err = stderr_of(&out);
    assert!(err.contains("cannot run `git --version`"), "{err}");
    assert!(err.contains("install git"), "{err}");
}

/// `len` bytes no compressor can shrink, different for each `seed`.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn workspace_dirs(env: &TestEnv) -> Vec<PathBuf> {
    match std::fs::read_dir(env.state.join("workspaces")) {
        Ok(d) => d.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn the_private_object_store_is_pruned_and_unwatch_removes_it() {
    const MIB: u64 = 1024 * 1024;
    let env = TestEnv::new();
    env.fast_settle();
    let repo = init_repo(env.dir.path(), "repo");
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    let rounds = 6;
    let mut sizes = Vec::new();
    for round in 1..=rounds {
        // A big file rewritten: each version's blob lands in the private store.
        std::fs::write(repo.join("big.bin"), noise(round, 8 * MIB as usize)).unwrap();
        let bytes = wait_for(&format!("review {round} in status"), T, || {
            let w = env.status_json()["workspaces"][0].clone();
            (w["reviews"] == round && w["state"] == "idle")
                .then(|| w["snapshot_bytes"].as_u64().expect("snapshot_bytes"))
        });
        sizes.push(bytes);
    }
    eprintln!("private store after each review: {sizes:?}");
    // Unpruned, six 8 MiB versions would take 48 MiB; only the reviewed one (plus at most
    // the prune threshold's worth of newer ones) may stay.
    let last = *sizes.last().unwrap();
    assert!(last >= 8 * MIB, "the reviewed version is gone: {sizes:?}");
    assert!(
        sizes.iter().all(|&s| s < 8 * MIB + 16 * MIB + 8 * MIB),
        "the store kept growing: {sizes:?}"
    );
    assert!(
        sizes.windows(2).any(|w| w[1] < w[0]),
        "the store never shrank: {sizes:?}"
    );
    let dirs = workspace_dirs(&env);
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    assert!(dirs[0].join("objects").is_dir());
    env.ok(&["unwatch", repo.to_str().unwrap()]);
    assert!(
        !dirs[0].exists(),
        "unwatch left {} behind",
        dirs[0].display()
    );
}

#[test]
fn tracked_files_that_gitignore_matches_are_still_reviewed() {
    let env = TestEnv::new();
    env.fast_settle();
    let repo = init_repo(env.dir.path(), "repo");
    // Tracked first, ignored afterwards: git keeps tracking them, so cxd keeps reviewing them.
    std::fs::write(repo.join("app.log"), "one\n").unwrap();
    std::fs::create_dir_all(repo.join("build/sub")).unwrap();
    std::fs::write(repo.join("build/sub/keep.txt"), "one\n").unwrap();
    cxd_e2e::git(&repo, &["add", "-A"]);
    cxd_e2e::git(&repo, &["commit", "-q", "-m", "tracked"]);
    std::fs::write(
        repo.join(".gitignore"),
        "target/\nnode_modules/\n*.log\nbuild/\n",
    )
    .unwrap();
    cxd_e2e::git(&repo, &["commit", "-q", "-am", "ignore them"]);
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    std::fs::write(repo.join("app.log"), "one\ntwo\n").unwrap();
    let reqs = env.wait_log("review_started", 1, T);
    assert_eq!(reqs[0]["files"], serde_json::json!(["app.log"]));
    std::fs::write(repo.join("build/sub/keep.txt"), "one\ntwo\n").unwrap();
    // An untracked file in the ignored directory stays ignored.
    std::fs::write(repo.join("build/sub/out.o"), "junk\n").unwrap();
    let reqs = env.wait_log("review_started", 2, T);
    assert_eq!(reqs[1]["files"], serde_json::json!(["build/sub/keep.txt"]));
    let prompt = wait_for("the second codex run", T, || {
        let calls = env.codex_calls();
        calls
            .get(1)
            .map(|c| c["prompt"].as_str().unwrap_or_default().to_owned())
    });
    assert!(
        prompt.contains("+two"),
        "the diff lacks the edit:\n{prompt}"
    );
}

#[test]
fn a_gitignore_added_over_a_tracked_file_leaves_it_reviewed() {
    let env = TestEnv::new();
    env.fast_settle();
    let repo = init_repo(env.dir.path(), "repo");
    std::fs::write(repo.join("notes.md"), "one\n").unwrap();
    cxd_e2e::git(&repo, &["add", "-A"]);
    cxd_e2e::git(&repo, &["commit", "-q", "-m", "notes"]);
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    std::fs::write(repo.join(".gitignore"), "target/\nnode_modules/\n*.md\n").unwrap();
    let reqs = env.wait_log("review_started", 1, T);
    assert_eq!(reqs[0]["files"], serde_json::json!([".gitignore"]));
    env.wait_log("review_finished", 1, T);
    std::fs::write(repo.join("notes.md"), "one\ntwo\n").unwrap();
    let reqs = env.wait_log("review_started", 2, T);
    assert_eq!(reqs[1]["files"], serde_json::json!(["notes.md"]));
}

#[test]
fn a_deleted_then_recreated_workspace_is_watched_again() {
    let env = TestEnv::new();
    env.fast_settle();
    let repo = init_repo(env.dir.path(), "repo");
    let d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    std::fs::write(repo.join("README"), "hello\nworld\n").unwrap();
    env.wait_log("review_finished", 1, T);
    std::fs::remove_dir_all(&repo).unwrap();
    wait_for("the workspace to go missing", T, || {
        (env.status_json()["workspaces"][0]["state"] == "missing").then_some(())
    });
    // Back, as a new repository with its own history.
    let repo = init_repo(env.dir.path(), "repo");
    cxd_e2e::git(&repo, &["commit", "-q", "--amend", "-m", "another root"]);
    std::fs::write(repo.join("extra.txt"), "committed\n").unwrap();
    cxd_e2e::git(&repo, &["add", "-A"]);
    cxd_e2e::git(&repo, &["commit", "-q", "-m", "a new history"]);
    wait_for("the workspace to be watched again", T, || {
        let w = env.status_json()["workspaces"][0].clone();
        (w["state"] != "missing" && w["os_watches"].as_u64().unwrap_or(0) > 0).then_some(())
    });
    std::fs::write(repo.join("after.txt"), "an edit after the return\n").unwrap();
    wait_for("a review of the edit made after the return", T, || {
        env.log_kind("review_started")
            .iter()
            .any(|r| {
                r["files"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|f| f == "after.txt"))
            })
            .then_some(())
    });
    let w = env.status_json()["workspaces"][0].clone();
    assert!(
        w["warnings"].as_array().unwrap().is_empty(),
        "warnings after the return: {w}"
    );
    assert!(
        d.log_text().contains("workspace root is back"),
        "{}",
        d.log_text()
    );
}

/// A child process killed when the test ends, however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_running_daemon_refuses_to_watch_once_git_was_downgraded() {
    let env = TestEnv::new();
    let repo = init_repo(env.dir.path(), "repo");
    // The daemon's PATH starts with a directory whose `git` is the real one at first.
    let bin = env.dir.path().join("swap-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let real = std::env::split_paths(&path)
        .map(|d| d.join("git"))
        .find(|g| g.is_file())
        .expect("git on PATH");
    std::os::unix::fs::symlink(&real, bin.join("git")).unwrap();
    let log = std::fs::File::create(env.dir.path().join("daemon.log")).unwrap();
    let _daemon = KillOnDrop(
        env.cmd(&["daemon", "--log-stderr"])
            .env("PATH", path_with(&bin))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    wait_for("the daemon to answer", T, || {
        env.run(&["status", "--json"])
            .status
            .success()
            .then_some(())
    });
    std::fs::remove_file(bin.join("git")).unwrap();
    fake_git_path(&env, "git version 2.20.1");
    std::fs::rename(env.dir.path().join("fake-git-bin/git"), bin.join("git")).unwrap();
    let out = env.run(&["watch", repo.to_str().unwrap()]);
    assert!(!out.status.success(), "watched with git 2.20.1");
    let err = stderr_of(&out);
    assert!(err.contains("git 2.20.1 is too old"), "{err}");
    assert!(err.contains("2.30.0"), "{err}");
}

#[test]
fn a_file_added_with_git_add_force_is_reviewed_from_then_on() {
    let env = TestEnv::new();
    env.fast_settle();
    let repo = init_repo(env.dir.path(), "repo");
    std::fs::create_dir_all(repo.join("target")).unwrap();
    std::fs::write(repo.join("target/config.toml"), "one\n").unwrap();
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    let watches = || {
        env.status_json()["workspaces"][0]["os_watches"]
            .as_u64()
            .unwrap()
    };
    let before = watches();
    // Ignored (target/) until the user forces it into the index.
    cxd_e2e::git(&repo, &["add", "-f", "target/config.toml"]);
    cxd_e2e::git(&repo, &["commit", "-q", "-m", "keep this one"]);
    wait_for("target/ to be watched", T, || {
        (watches() > before).then_some(())
    });
    wait_for("the commit to settle", T, || {
        (env.status_json()["workspaces"][0]["state"] == "idle").then_some(())
    });
    std::fs::write(repo.join("target/config.toml"), "one\ntwo\n").unwrap();
    let reqs = env.wait_log("review_started", 1, T);
    assert_eq!(reqs[0]["files"], serde_json::json!(["target/config.toml"]));
}
