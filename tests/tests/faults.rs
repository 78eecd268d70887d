//! What real machines do to a daemon: its socket removed, codex killed, a workspace deleted
//! mid-review. Each ends in a clear state and message, never a crash or silent loss.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use cxd_e2e::{SETTLE_FAST, TestEnv, is_socket, wait_for};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);

#[test]
fn a_removed_socket_is_recreated() {
    let (env, repo) = TestEnv::with_repo(SETTLE_FAST);
    let d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    std::fs::remove_file(env.socket()).unwrap();
    // The daemon hears of it and listens again, with its state intact.
    let status = wait_for("the socket back", T, || {
        let out = env.run(&["status", "--json"]);
        out.status
            .success()
            .then(|| serde_json::from_slice::<Value>(&out.stdout).unwrap())
    });
    assert_eq!(
        status["daemon"]["pid"].as_i64().unwrap(),
        i64::from(d.pid())
    );
    assert_eq!(status["workspaces"][0]["root"], repo.to_str().unwrap());
    assert!(is_socket(&env.socket()));
    assert!(
        d.log_text()
            .contains("the socket file was removed or replaced")
    );
}

#[test]
fn codex_killed_by_a_signal_halts_with_the_reason() {
    let (env, repo) = TestEnv::with_repo(SETTLE_FAST);
    env.script_codex(&json!([{"mode": "hang"}]));
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    std::fs::write(repo.join("README"), "changed\n").unwrap();
    let call = wait_for("codex running", T, || env.codex_calls().first().cloned());
    let pid = call["pid"].as_i64().unwrap() as i32;
    #[allow(unsafe_code)]
    // SAFETY: kill(2) on the fake codex this test's daemon started.
    let rc = unsafe { libc::kill(pid, libc::SIGKILL) };
    assert_eq!(rc, 0);
    let w = env.wait_state("halted", T);
    assert_eq!(w["last_review"]["error_class"], "crash");
    assert!(
        w["error"].as_str().unwrap().contains("killed by signal 9"),
        "{w:#}"
    );
    // Its leftover child was ended with it.
    let child = call["child_pid"].as_i64().unwrap();
    wait_for("the child gone", T, || {
        cxd_e2e::process_ended(child).then_some(())
    });
}

#[test]
fn a_workspace_deleted_during_a_review_goes_missing() {
    let (env, repo) = TestEnv::with_repo(SETTLE_FAST);
    env.script_codex(&json!([{"mode": "slow", "seconds": 20, "answer": {"verdict": "approve", "summary": "s", "findings": [], "fixed_finding_ids": []}}]));
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    std::fs::write(repo.join("README"), "changed\n").unwrap();
    wait_for("codex running", T, || env.codex_calls().first().cloned());
    std::fs::remove_dir_all(&repo).unwrap();
    let w = wait_for("missing and done", T, || {
        let w = env.workspace();
        (w["state"] == "missing" && w["reviews"] == 1).then_some(w)
    });
    assert_eq!(w["last_review"]["verdict"], "interrupted", "{w:#}");
    let human = env.ok(&["status"]);
    assert!(
        human.contains("missing — the directory is gone; `cxd unwatch` forgets it"),
        "{human}"
    );
    // The daemon carries on: other commands work, and the workspace can be forgotten.
    assert_eq!(
        env.run(&["review", repo.to_str().unwrap()]).status.code(),
        Some(2)
    );
    env.ok(&["unwatch", repo.to_str().unwrap()]);
}

#[test]
fn another_user_cannot_connect() {
    let (env, _repo) = TestEnv::with_repo(SETTLE_FAST);
    let _d = env.start_daemon();
    // The socket's directory is private to its owner.
    let dir = env.socket().parent().unwrap().to_path_buf();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o077,
        0
    );
    // Connecting as another user (when this test may switch users) is refused by the kernel.
    let nobody = 65534u32;
    #[allow(unsafe_code)]
    // SAFETY: geteuid(2) reads the caller's effective uid and touches no memory.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!(
            "not root: cannot switch to another user to try; the directory mode above is the check"
        );
        return;
    }
    let out = {
        use std::os::unix::process::CommandExt;
        env.cmd(&["status"])
            .uid(nobody)
            .gid(nobody)
            .output()
            .unwrap()
    };
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Permission denied")
            || err.contains("permission denied")
            || err.contains("not running")
            // The client itself refuses a socket directory that is not the caller's.
            || err.contains("belongs to uid 0, not to you"),
        "{err}"
    );
}
