//! Other users on the same machine: they must not pose as our daemon (socket directory, socket
//! file and listener all checked before anything is sent), nor read our state dir; and local
//! accidents (a closed stderr pipe, a regular file at the socket path) cost nothing.
//!
//! The tests that need a second user run as root and start it with
//! `setpriv --reuid=65534 --regid=65534 --clear-groups`; elsewhere they print `SKIPPED: ...`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use cxd_e2e::{TestEnv, init_repo, wait_for};

const T: Duration = Duration::from_secs(20);
/// The other user.
const NOBODY: u32 = 65534;
/// The one system python every user can run (a per-user install may sit under /root).
const PYTHON: &str = "/usr/bin/python3";

/// A listener run by another user: it records every byte a client sends it.
const IMPOSTOR: &str = r#"
import os, socket, sys
path, record, ready = sys.argv[1:4]
os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
s = socket.socket(socket.AF_UNIX)
s.bind(path)
s.listen(16)
open(ready, "w").close()
while True:
    c, _ = s.accept()
    c.settimeout(2)
    try:
        data = c.recv(65536)
    except OSError:
        data = b""
    with open(record, "ab") as f:
        f.write(data)
    c.close()
"#;

fn euid() -> u32 {
    #[allow(unsafe_code)]
    // SAFETY: geteuid(2) reads the caller's effective uid and touches no memory.
    unsafe {
        libc::geteuid()
    }
}

/// Why a second user cannot be had here, if it cannot.
fn no_second_user() -> Option<&'static str> {
    if euid() != 0 {
        return Some("not root: cannot run a process as another user");
    }
    let setpriv = Command::new("setpriv")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !setpriv.is_ok_and(|s| s.success()) {
        return Some("setpriv (util-linux) is missing");
    }
    if !Path::new(PYTHON).exists() {
        return Some("/usr/bin/python3 is missing");
    }
    None
}

macro_rules! need_second_user {
    () => {
        if let Some(why) = no_second_user() {
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
}

/// A listener of user 65534 on `socket`, killed on drop.
struct Impostor {
    child: Child,
    record: PathBuf,
}

impl Impostor {
    /// Start it in `shared` (a world-writable sticky dir, as /tmp is) and wait until it listens.
    fn start(socket: &Path, shared: &Path, tag: &str) -> Self {
        let record = shared.join(format!("{tag}.received"));
        let ready = shared.join(format!("{tag}.ready"));
        let child = Command::new("setpriv")
            .args([
                &format!("--reuid={NOBODY}"),
                &format!("--regid={NOBODY}"),
                "--clear-groups",
                PYTHON,
                "-c",
                IMPOSTOR,
            ])
            .arg(socket)
            .arg(&record)
            .arg(&ready)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let mut imp = Self { child, record };
        wait_for("the other user's listener", T, || {
            if let Some(status) = imp.child.try_wait().unwrap() {
                panic!("the other user's listener exited with {status}");
            }
            ready.exists().then_some(())
        });
        imp
    }

    /// Every byte clients sent it.
    fn received(&self) -> Vec<u8> {
        std::fs::read(&self.record).unwrap_or_default()
    }
}

impl Drop for Impostor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory like /tmp (root's, mode 1777) inside the test's own, which other users may enter.
fn shared_tmp(env: &TestEnv) -> PathBuf {
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let shared = env.dir.path().join("tmp");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    shared
}

/// A victim's command with no XDG_RUNTIME_DIR and a state path too long for a socket, so the
/// socket falls back to the temp dir (`shared`).
fn fallback_cmd(env: &TestEnv, shared: &Path, args: &[&str]) -> Command {
    let mut c = env.cmd(args);
    c.env_remove("XDG_RUNTIME_DIR")
        .env("CXD_STATE_DIR", env.dir.path().join("s".repeat(100)))
        .env("TMPDIR", shared)
        .env("USER", "victim");
    c
}

/// Run to completion, but no longer than `T`: a daemon that should have refused to start and
/// did not is killed, and the test fails.
fn run_bounded(mut cmd: Command) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
    let started = std::time::Instant::now();
    while !waiter.is_finished() {
        if started.elapsed() > T {
            #[allow(unsafe_code)]
            // SAFETY: kill(2) on the child this function spawned; no memory is touched.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
            let out = waiter.join().unwrap();
            panic!(
                "still running after {T:?} (it should have refused):\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    waiter.join().unwrap()
}

/// Run a hook the way Claude Code does: JSON on stdin.
fn hook(cmd: Command, input: &serde_json::Value) -> Output {
    cxd_e2e::run_hook(cmd, input)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn edit_input(repo: &Path) -> serde_json::Value {
    serde_json::json!({
        "session_id": "s1",
        "cwd": repo,
        "hook_event_name": "PostToolUse",
        "tool_name": "Write",
        "tool_input": {"file_path": repo.join("a.txt"), "content": "secret\n"},
    })
}

#[test]
fn an_impostor_in_the_fallback_socket_dir_is_refused_and_gets_nothing() {
    need_second_user!();
    let env = TestEnv::new();
    let shared = shared_tmp(&env);
    let repo = init_repo(env.dir.path(), "repo");
    // The other user got there first, under the name by uid and the name by $USER alike.
    let by_uid = Impostor::start(
        &shared.join(format!("cxd-{}/cxd.sock", euid())),
        &shared,
        "by-uid",
    );
    let by_name = Impostor::start(&shared.join("cxd-victim/cxd.sock"), &shared, "by-name");

    let out = run_bounded(fallback_cmd(&env, &shared, &["status"]));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "cxd-{} belongs to uid {NOBODY}, not to you (uid {})",
            euid(),
            euid()
        )),
        "{err}"
    );
    assert!(err.contains("nothing was sent"), "{err}");

    // `cxd watch` neither talks to it nor starts a daemon beside it.
    let out = run_bounded(fallback_cmd(
        &env,
        &shared,
        &["watch", repo.to_str().unwrap()],
    ));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(!stderr(&out).contains("watching"), "{}", stderr(&out));

    // The edit hook stays silent and fails open, and tells the impostor nothing either.
    let out = hook(
        fallback_cmd(&env, &shared, &["hook", "claude", "post-tool-use"]),
        &edit_input(&repo),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Our own daemon refuses the other user's directory rather than taking it over.
    let out = run_bounded(fallback_cmd(&env, &shared, &["daemon", "--log-stderr"]));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("belongs to uid {NOBODY}")),
        "{}",
        stderr(&out)
    );

    assert_eq!(by_uid.received(), b"", "the impostor received data");
    assert_eq!(by_name.received(), b"", "the impostor received data");
}

#[test]
fn a_chosen_socket_in_a_shared_dir_is_checked_for_owner_and_listener() {
    need_second_user!();
    let env = TestEnv::new();
    let shared = shared_tmp(&env);
    let repo = init_repo(env.dir.path(), "repo");
    let socket = shared.join("x.sock");
    let imp = Impostor::start(&socket, &shared, "x");
    let cmd = |args: &[&str]| {
        let mut c = env.cmd(args);
        c.env("CXD_SOCKET", &socket);
        c
    };

    // The socket file is the other user's.
    let out = run_bounded(cmd(&["status"]));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("x.sock belongs to uid {NOBODY}, not to you")),
        "{}",
        stderr(&out)
    );

    // Even a socket file that looks like ours: the listener's uid gives it away.
    std::os::unix::fs::chown(&socket, Some(euid()), Some(euid())).unwrap();
    let out = run_bounded(cmd(&["status"]));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("runs as uid {NOBODY}, not as you")),
        "{}",
        stderr(&out)
    );
    let out = hook(
        cmd(&["hook", "claude", "post-tool-use"]),
        &edit_input(&repo),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty());

    assert_eq!(imp.received(), b"", "the impostor received data");
}

/// Every file and directory under `dir` with group or other permission bits.
fn open_entries(dir: &Path) -> Vec<String> {
    let mut open = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let meta = std::fs::symlink_metadata(&d).unwrap();
        if meta.mode() & 0o077 != 0 {
            open.push(format!("{} {:o}", d.display(), meta.mode() & 0o777));
        }
        if meta.is_dir() {
            for e in std::fs::read_dir(&d).unwrap() {
                stack.push(e.unwrap().path());
            }
        }
    }
    open
}

#[test]
fn the_state_dir_and_everything_in_it_are_private() {
    let env = TestEnv::new();
    let repo = init_repo(env.dir.path(), "repo");
    // Logging to files (not stderr), as a daemon started in the background does.
    let mut daemon = env
        .cmd(&["daemon"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the daemon to answer", T, || {
        if let Some(s) = daemon.try_wait().unwrap() {
            panic!("daemon exited with {s}");
        }
        env.run(&["status"]).status.success().then_some(())
    });
    env.ok(&["watch", repo.to_str().unwrap()]);
    std::fs::write(repo.join("a.txt"), "one\n").unwrap();
    env.ok(&["review", repo.to_str().unwrap(), "--wait"]);
    assert!(env.state.join("cxd.sqlite").exists());
    assert!(env.state.join("logs").is_dir());
    let open = open_entries(&env.state);
    env.ok(&["stop"]);
    let _ = daemon.wait();
    assert!(open.is_empty(), "readable by others: {open:#?}");
}

#[test]
fn an_open_state_dir_is_closed_and_reported() {
    let env = TestEnv::new();
    std::fs::create_dir_all(&env.state).unwrap();
    std::fs::set_permissions(&env.state, std::fs::Permissions::from_mode(0o755)).unwrap();
    let _daemon = env.start_daemon();
    assert_eq!(std::fs::metadata(&env.state).unwrap().mode() & 0o777, 0o700);
    let status = env.status_json();
    let warnings = status["daemon"]["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{status:#}");
    let w = warnings[0].as_str().unwrap();
    assert!(
        w.contains("has mode 755, open to other users") && w.contains("set it to 700"),
        "{w}"
    );
    let human = env.ok(&["status"]);
    assert!(human.contains("warning: "), "{human}");
}

#[test]
fn another_users_state_dir_is_refused() {
    if euid() != 0 {
        eprintln!("SKIPPED: not root: cannot give the state dir to another user");
        return;
    }
    let env = TestEnv::new();
    std::fs::create_dir_all(&env.state).unwrap();
    std::os::unix::fs::chown(&env.state, Some(NOBODY), Some(NOBODY)).unwrap();
    std::fs::set_permissions(&env.state, std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = run_bounded({
        let mut c = env.cmd(&["daemon", "--log-stderr"]);
        c.stdin(Stdio::null());
        c
    });
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("belongs to uid {NOBODY}, not to you"))
            && err.contains("CXD_STATE_DIR"),
        "{err}"
    );
    assert!(!env.state.join("cxd.sqlite").exists());
}

#[test]
fn the_daemon_outlives_a_closed_stderr_pipe() {
    let env = TestEnv::new();
    let repo = init_repo(env.dir.path(), "repo");
    let mut daemon = env
        .cmd(&["daemon", "--log-stderr", "--log-level", "debug"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away (as `cxd daemon --log-stderr 2>&1 | head -1` does).
    drop(daemon.stderr.take());
    wait_for("the daemon to answer", T, || {
        if let Some(s) = daemon.try_wait().unwrap() {
            panic!("daemon exited with {s} once its stderr reader was gone");
        }
        env.run(&["status"]).status.success().then_some(())
    });
    // Plenty to log.
    env.ok(&["watch", repo.to_str().unwrap()]);
    std::fs::write(repo.join("a.txt"), "one\n").unwrap();
    env.ok(&["review", repo.to_str().unwrap(), "--wait"]);
    env.ok(&["status"]);
    assert!(daemon.try_wait().unwrap().is_none(), "the daemon died");
    env.ok(&["stop"]);
    let status = wait_for("the daemon to stop", T, || daemon.try_wait().unwrap());
    assert!(status.success(), "{status}");
}

#[test]
fn a_regular_file_at_the_socket_path_is_refused_and_kept() {
    let env = TestEnv::new();
    let file = env.dir.path().join("notes.txt");
    std::fs::write(&file, "precious\n").unwrap();
    let cmd = |args: &[&str]| {
        let mut c = env.cmd(args);
        c.env("CXD_SOCKET", &file);
        c
    };
    let out = run_bounded(cmd(&["daemon", "--log-stderr"]));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{} exists and is not a socket", file.display())),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious\n");

    let out = run_bounded(cmd(&["status"]));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("{} exists but is not a socket", file.display())),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious\n");
}
