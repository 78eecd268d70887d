//! The state dir on a full or read-only disk: the daemon keeps serving, says what is wrong,
//! loses nothing it had committed, and carries on once there is room again. Needs root (to
//! mount a small tmpfs); elsewhere it says so and checks nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cxd_e2e::{TestEnv, init_repo, wait_for};
use serde_json::Value;

const T: Duration = Duration::from_secs(30);

/// A small tmpfs, unmounted on drop.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            eprintln!(
                "SKIPPED: cannot mount a tmpfs here (needs root); the disk tests check nothing"
            );
            return None;
        }
        Some(Self(at.to_path_buf()))
    }

    fn remount(&self, mode: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&self.0)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Everything the workspace says is wrong, in one string.
fn complaints(w: &Value) -> String {
    format!(
        "{} {} {}",
        w["error"], w["warnings"], w["last_review"]["error"]
    )
}

fn fill(dir: &Path) -> PathBuf {
    let filler = dir.join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=64k"])
        .arg(format!("of={}", filler.display()))
        .output();
    filler
}

#[test]
fn a_full_disk_is_reported_and_survived() {
    let mut env = TestEnv::new();
    let Some(mount) = Mount::tmpfs(&env.dir.path().join("statefs"), "16M") else {
        return;
    };
    env.state = mount.0.join("state");
    env.write_config("[settle]\nquiet_ms = 200\nmax_wait_ms = 2000\n");
    let repo = init_repo(env.dir.path(), "repo");
    let d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    std::fs::write(repo.join("README"), "one\n").unwrap();
    wait_for("first review", T, || {
        (env.workspace()["reviews"] == 1 && env.workspace()["state"] == "idle").then_some(())
    });

    let filler = fill(&mount.0);
    std::fs::write(repo.join("README"), "two\n").unwrap();
    let w = wait_for("the full disk reported", T, || {
        let w = env.workspace();
        let text = complaints(&w).to_lowercase();
        (text.contains("full") || text.contains("no space")).then_some(w)
    });
    assert_eq!(w["reviews"], 1, "nothing half-recorded: {w:#}");
    assert!(d.log_text().contains("cxd daemon ready"));
    // Room again: the change is reviewed, and the first review is still on record.
    std::fs::remove_file(filler).unwrap();
    let out = env.run(&["review", "--wait", repo.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = env.log_json(100);
    let finished: Vec<_> = log
        .iter()
        .filter(|e| e["kind"] == "review_finished")
        .collect();
    assert_eq!(finished[0]["verdict"], "approve");
    assert!(
        env.codex_calls().last().unwrap()["prompt"]
            .as_str()
            .unwrap()
            .contains("+two")
    );
}

#[test]
fn a_read_only_state_dir_is_a_clear_error_at_start() {
    let mut env = TestEnv::new();
    let Some(mount) = Mount::tmpfs(&env.dir.path().join("statefs"), "16M") else {
        return;
    };
    env.state = mount.0.join("state");
    env.write_config("[settle]\nquiet_ms = 200\nmax_wait_ms = 2000\n");
    let repo = init_repo(env.dir.path(), "repo");
    let mut d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    env.ok(&["stop"]);
    d.wait_exit(T);
    // A read-only filesystem (even root cannot write to it).
    mount.remount("ro");
    let out = env.run(&["daemon", "--log-stderr"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(env.state.to_str().unwrap()) && err.contains("Read-only file system"),
        "{err}"
    );
    // Writable again: it starts, and the workspace it watched is back.
    mount.remount("rw");
    let _d = env.start_daemon();
    assert_eq!(env.workspace()["root"], repo.to_str().unwrap());
}
