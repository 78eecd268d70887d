//! A repository with a local bare remote, and git run as a user would run it: what the
//! pre-push tests share.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::{TestEnv, cxd_bin, git, init_repo};

/// `git ARGS` in `dir` as a user would run it, with cxd on PATH and the test's environment (so
/// a hook reaches the test's daemon).
pub fn git_as_user(env: &TestEnv, dir: &Path, args: &[&str]) -> Output {
    let bin_dir = cxd_bin().parent().unwrap().to_path_buf();
    let path = std::env::join_paths(
        std::iter::once(bin_dir).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    env.cmd_of("git")
        .args(args)
        .current_dir(dir)
        .env("PATH", path)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .output()
        .unwrap()
}

/// A repository whose `origin` is a bare repository holding `main` as it is now; returns both.
pub fn with_remote(env: &TestEnv) -> (PathBuf, PathBuf) {
    let repo = init_repo(env.dir.path(), "repo");
    let remote = env.dir.path().join("remote.git");
    git(
        env.dir.path(),
        &["init", "-q", "--bare", remote.to_str().unwrap()],
    );
    git(
        &repo,
        &["remote", "add", "origin", remote.to_str().unwrap()],
    );
    git(&repo, &["push", "-q", "origin", "main"]);
    (repo, remote)
}

/// Write `file` with `text` and commit everything (the message is the file's name).
pub fn commit(repo: &Path, file: &str, text: &str) {
    std::fs::write(repo.join(file), text).unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", file]);
}

/// What the remote's `main` points at.
pub fn remote_main(remote: &Path) -> String {
    git(remote, &["rev-parse", "main"]).trim().to_owned()
}

/// A process's stdout and stderr, one after the other, for assertions and their messages.
pub fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The fake codex's answer with one high finding, "pushed bug", on `lib.txt:1`.
pub fn pushed_bug_answer() -> serde_json::Value {
    serde_json::json!({"answer": {"verdict": "changes_requested", "summary": "s",
        "findings": [{"severity": "high", "category": "bug", "file": "lib.txt", "line_start": 1,
        "line_end": 1, "title": "pushed bug", "body": "b", "recommendation": "r",
        "confidence": 0.9}], "fixed_finding_ids": [], "still_open_ids": [], "rulings": []}})
}
