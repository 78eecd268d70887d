//! The hooks cxd installs (git's pre-push and pre-commit, Claude Code's settings) run the
//! binary that installed them when PATH has no cxd (a desktop git client, a shell without
//! `~/.cargo/bin`), and when that binary is gone too they say so in one line and follow their
//! policy: the push and Claude's hooks go on, as with a daemon that does not answer.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cxd_e2e::remote::{commit, output_text as text, remote_main, with_remote};
use cxd_e2e::{TestEnv, cxd_bin, git, init_repo};
use serde_json::{Value, json};

/// A PATH with git and sh but no cxd.
const NO_CXD_PATH: &str = "/usr/bin:/bin";

/// `program ARGS` in `dir` with this test's environment and a PATH without cxd.
fn without_cxd_on_path(env: &TestEnv, program: &str, dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(program);
    for (k, v) in env.cmd(&[]).get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.args(args)
        .current_dir(dir)
        .env("PATH", NO_CXD_PATH)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid");
    cmd
}

/// A copy of the cxd binary under a directory whose name needs quoting in sh, to install
/// hooks from and then delete.
fn copied_binary(env: &TestEnv) -> PathBuf {
    let dir = env.dir.path().join("it's a $(dir)");
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("cxd");
    std::fs::copy(cxd_bin(), &copy).unwrap();
    copy
}

/// Run the copy with this test's environment.
fn run_copy(env: &TestEnv, copy: &Path, args: &[&str]) -> String {
    let cmd = env.cmd(args);
    let mut c = Command::new(copy);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c.args(cmd.get_args());
    if let Some(d) = cmd.get_current_dir() {
        c.current_dir(d);
    }
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A repository with `origin` (a bare remote) and one commit, `lib.txt`, not pushed yet.
fn with_unpushed_commit(env: &TestEnv) -> (PathBuf, PathBuf) {
    let (repo, remote) = with_remote(env);
    commit(&repo, "lib.txt", "pushed\n");
    (repo, remote)
}

#[test]
fn the_pre_push_hook_runs_the_installing_binary_without_cxd_on_path() {
    let env = TestEnv::new();
    env.fast_settle();
    let (repo, remote) = with_unpushed_commit(&env);
    env.script_codex(&json!([{"answer": {"verdict": "approve", "summary": "fine",
        "findings": [], "fixed_finding_ids": []}}]));
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    env.ok(&["init", "git-hook", "--pre-push", repo.to_str().unwrap()]);
    let out = without_cxd_on_path(&env, "git", &repo, &["push", "origin", "main"])
        .output()
        .unwrap();
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(!said.contains("not found"), "{said}");
    assert!(said.contains("cxd pre-push, refs/heads/main"), "{said}");
    assert_eq!(env.codex_calls().len(), 1, "the hook reviewed the push");
    assert_eq!(
        remote_main(&remote),
        git(&repo, &["rev-parse", "HEAD"]).trim()
    );
}

#[test]
fn a_pre_push_hook_whose_binary_is_gone_lets_the_push_through_in_one_line() {
    let env = TestEnv::new();
    let (repo, remote) = with_unpushed_commit(&env);
    let copy = copied_binary(&env);
    let out = run_copy(
        &env,
        &copy,
        &["init", "git-hook", "--pre-push", repo.to_str().unwrap()],
    );
    assert!(out.contains("installed"), "{out}");
    // From PATH while the installing binary is gone.
    std::fs::remove_file(&copy).unwrap();
    let out = without_cxd_on_path(&env, "git", &repo, &["push", "origin", "main"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{said}");
    let line: Vec<_> = said.lines().filter(|l| l.starts_with("cxd")).collect();
    assert_eq!(line.len(), 1, "{said}");
    assert!(
        line[0].contains("not found")
            && line[0].contains(copy.to_str().unwrap())
            && line[0].contains("without cxd's review"),
        "{said}"
    );
    assert_eq!(
        remote_main(&remote),
        git(&repo, &["rev-parse", "HEAD"]).trim()
    );
}

#[test]
fn the_pre_commit_hook_runs_the_installing_binary_and_an_old_hook_is_updated() {
    let env = TestEnv::new();
    let repo = init_repo(env.dir.path(), "repo");
    // The form an older cxd wrote: `cxd` by name.
    let hook = repo.join(".git/hooks/pre-commit");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(
        &hook,
        "#!/bin/sh\necho own\n\n# cxd gate (added by `cxd init git-hook`)\ncxd gate || { echo 'commit blocked by cxd gate (git commit --no-verify skips it)' >&2; exit 1; }\n",
    )
    .unwrap();
    let out = env.ok(&["init", "git-hook", repo.to_str().unwrap()]);
    assert!(out.contains("updated"), "{out}");
    let again = env.ok(&["init", "git-hook", repo.to_str().unwrap()]);
    assert!(again.contains("already runs"), "{again}");
    let script = std::fs::read_to_string(&hook).unwrap();
    assert!(script.starts_with("#!/bin/sh\necho own\n"), "{script}");
    assert_eq!(script.matches("gate ||").count(), 1, "{script}");
    // No daemon: the gate itself answers (it cannot judge), not the shell's "not found".
    std::fs::write(repo.join("a.txt"), "a\n").unwrap();
    git(&repo, &["add", "a.txt"]);
    let out = without_cxd_on_path(&env, "git", &repo, &["commit", "-qm", "a"])
        .output()
        .unwrap();
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("own"), "{said}");
    assert!(!said.contains("not found"), "{said}");
    assert!(said.contains("commit blocked by cxd gate"), "{said}");
}

/// The hook commands `cxd init claude` wrote, by event.
fn claude_commands(settings: &Value) -> Vec<(String, String)> {
    let mut all = Vec::new();
    for (event, groups) in settings["hooks"].as_object().unwrap() {
        for g in groups.as_array().unwrap() {
            for h in g["hooks"].as_array().unwrap() {
                all.push((event.clone(), h["command"].as_str().unwrap().to_owned()));
            }
        }
    }
    all
}

/// Run a settings hook command as Claude Code does (through sh), PATH without cxd.
fn run_claude_hook(env: &TestEnv, dir: &Path, command: &str) -> Output {
    let input = env.dir.path().join("hook-input.json");
    std::fs::write(
        &input,
        r#"{"session_id":"s","cwd":"/nonexistent","hook_event_name":"Stop"}"#,
    )
    .unwrap();
    // From a file: a hook that ends before reading its input must not break the pipe.
    without_cxd_on_path(env, "/bin/sh", dir, &["-c", command])
        .stdin(std::fs::File::open(&input).unwrap())
        .output()
        .unwrap()
}

#[test]
fn claude_hooks_run_the_installing_binary_and_say_so_when_it_is_gone() {
    let env = TestEnv::new();
    let dir = env.dir.path().join("project");
    std::fs::create_dir_all(&dir).unwrap();
    // Installed from a shell that has cxd on PATH: the hooks must not depend on that PATH.
    let bin = env.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(cxd_bin(), bin.join("cxd")).unwrap();
    let out = env
        .cmd(&["init", "claude", "--print"])
        .current_dir(&dir)
        .env("PATH", format!("{}:{NO_CXD_PATH}", bin.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let settings: Value = serde_json::from_slice(&out.stdout).unwrap();
    let commands = claude_commands(&settings);
    assert_eq!(commands.len(), 3, "{commands:?}");
    for (event, command) in &commands {
        let out = run_claude_hook(&env, &dir, command);
        assert!(out.status.success(), "{event}: {command}: {}", text(&out));
        assert!(!text(&out).contains("not found"), "{event}: {}", text(&out));
    }

    // Installed by a binary that is then removed, and none on PATH: one line, exit 0.
    let copy = copied_binary(&env);
    let printed = run_copy(
        &env,
        &copy,
        &["init", "claude", dir.to_str().unwrap(), "--print"],
    );
    std::fs::remove_file(&copy).unwrap();
    let settings: Value = serde_json::from_str(&printed).unwrap();
    let stop: Vec<_> = claude_commands(&settings)
        .into_iter()
        .filter(|(e, _)| e == "Stop")
        .collect();
    assert_eq!(stop.len(), 1);
    let out = run_claude_hook(&env, &dir, &stop[0].1);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{said}");
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(
        said.contains("not found") && said.contains(copy.to_str().unwrap()),
        "{said}"
    );
    // Recognised as cxd's own: --remove takes them out.
    let wrote = env.ok(&["init", "claude", dir.to_str().unwrap()]);
    assert!(wrote.contains("added"), "{wrote}");
    let removed = env.ok(&["init", "claude", dir.to_str().unwrap(), "--remove"]);
    assert!(removed.contains("removed"), "{removed}");
    let left = std::fs::read_to_string(dir.join(".claude/settings.json")).unwrap();
    assert_eq!(left, "{}\n");
}
