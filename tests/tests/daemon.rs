//! The daemon's lifecycle and wire protocol, driven through the real binary.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use cxd_e2e::{TestEnv, is_socket, wait_for};
use cxd_proto::{ErrorKind, Hello, Request, Response, read_frame, write_frame};

fn connect(env: &TestEnv) -> UnixStream {
    let s = UnixStream::connect(env.socket()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s
}

fn handshake(s: &mut UnixStream) {
    write_frame(s, &Hello::new()).unwrap();
    match read_frame::<_, Response>(s).unwrap() {
        Response::Welcome {
            protocol_version, ..
        } => assert_eq!(protocol_version, cxd_proto::PROTOCOL_VERSION),
        other => panic!("expected Welcome, got {other:?}"),
    }
}

fn status_over(s: &mut UnixStream) -> u32 {
    write_frame(s, &Request::Status { path: None }).unwrap();
    match read_frame::<_, Response>(s).unwrap() {
        Response::Status(r) => r.daemon.pid,
        other => panic!("expected Status, got {other:?}"),
    }
}

/// Reads the error reply the daemon sends before closing a bad connection.
fn expect_error_then_close(s: &mut UnixStream, kind: ErrorKind) -> String {
    let msg = match read_frame::<_, Response>(s).unwrap() {
        Response::Error(e) => {
            assert_eq!(e.kind, kind, "{}", e.message);
            e.message
        }
        other => panic!("expected an error reply, got {other:?}"),
    };
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "connection should close after the error");
    msg
}

#[test]
fn start_status_stop() {
    let env = TestEnv::new();
    let mut daemon = env.start_daemon();
    let status = env.status_json();
    let d = &status["daemon"];
    assert_eq!(d["pid"].as_i64().unwrap(), i64::from(daemon.pid()));
    assert_eq!(d["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(d["socket"], env.socket().to_str().unwrap());
    assert!(d["uptime_s"].as_u64().is_some());
    assert_eq!(d["config"]["path"], env.config_path().to_str().unwrap());
    assert!(d["config"]["error"].is_null());
    assert_eq!(status["workspaces"], serde_json::json!([]));

    let human = env.ok(&["status"]);
    assert!(
        human.starts_with(&format!(
            "cxd daemon {} — pid {}",
            env!("CARGO_PKG_VERSION"),
            daemon.pid()
        )),
        "{human}"
    );

    assert_eq!(env.ok(&["stop"]).trim(), "cxd daemon stopped");
    assert!(daemon.wait_exit(Duration::from_secs(5)).success());
    assert!(!env.socket().exists(), "socket removed on stop");
    let out = env.run(&["status"]);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn no_daemon_is_exit_3_with_a_way_forward() {
    let env = TestEnv::new();
    for args in [&["status"][..], &["status", "--json"], &["stop"]] {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("cxd daemon is not running"), "{err}");
        assert!(err.contains("cxd daemon`"), "says how to start it: {err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn second_daemon_is_refused_with_pid_and_socket() {
    let env = TestEnv::new();
    let daemon = env.start_daemon();
    let out = env.run(&["daemon", "--log-stderr"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let want = format!(
        "cxd daemon already running (pid {}, socket {})",
        daemon.pid(),
        env.socket().display()
    );
    assert!(err.contains(&want), "{err}");
    // The first one is unharmed.
    assert_eq!(
        env.status_json()["daemon"]["pid"].as_i64().unwrap(),
        i64::from(daemon.pid())
    );
}

#[test]
fn socket_directory_is_private() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon();
    let dir = env.socket().parent().unwrap().to_path_buf();
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert!(is_socket(&env.socket()));
    assert_eq!(
        std::fs::metadata(env.socket())
            .unwrap()
            .permissions()
            .mode()
            & 0o077,
        0
    );
}

#[test]
fn kill_9_then_restart_reclaims_the_socket() {
    let env = TestEnv::new();
    let mut daemon = env.start_daemon();
    daemon.signal(libc::SIGKILL);
    daemon.wait_exit(Duration::from_secs(5));
    assert!(is_socket(&env.socket()), "a crash leaves the socket behind");
    assert_eq!(env.run(&["status"]).status.code(), Some(3));
    let daemon = env.start_daemon();
    assert_eq!(
        env.status_json()["daemon"]["pid"].as_i64().unwrap(),
        i64::from(daemon.pid())
    );
}

#[test]
fn bad_frames_cost_only_their_connection() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon();
    let mut good = connect(&env);
    handshake(&mut good);

    // Garbage bytes where the hello should be.
    let mut s = connect(&env);
    s.write_all(&[0, 0, 0, 5, 0xde, 0xad, 0xbe, 0xef, 0xff])
        .unwrap();
    expect_error_then_close(&mut s, ErrorKind::BadFrame);
    status_over(&mut good);

    // A 4 GiB length prefix: refused before anything is allocated.
    let mut s = connect(&env);
    s.write_all(&[0xff, 0xff, 0xff, 0xff]).unwrap();
    let msg = expect_error_then_close(&mut s, ErrorKind::BadFrame);
    assert!(msg.contains("exceeds"), "{msg}");
    status_over(&mut good);

    // A truncated frame: the client hangs up mid-frame.
    let mut s = connect(&env);
    handshake(&mut s);
    s.write_all(&[0, 0, 0, 100, 1, 2, 3]).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    expect_error_then_close(&mut s, ErrorKind::BadFrame);
    status_over(&mut good);

    // Garbage after a good handshake.
    let mut s = connect(&env);
    handshake(&mut s);
    s.write_all(&[0, 0, 0, 2, 0xee, 0xee]).unwrap();
    expect_error_then_close(&mut s, ErrorKind::BadFrame);

    // The wrong protocol version.
    let mut s = connect(&env);
    write_frame(
        &mut s,
        &Hello {
            protocol_version: 999,
            client_version: "9.9.9".into(),
        },
    )
    .unwrap();
    let msg = expect_error_then_close(&mut s, ErrorKind::VersionMismatch);
    assert!(msg.contains("999"), "{msg}");

    // Still serving everyone else, on old and new connections.
    status_over(&mut good);
    let mut fresh = connect(&env);
    handshake(&mut fresh);
    status_over(&mut fresh);
}

#[test]
fn a_silent_client_is_timed_out_without_blocking_others() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon();
    let mut silent = connect(&env);
    // Others are served while the silent one waits.
    let mut other = connect(&env);
    handshake(&mut other);
    status_over(&mut other);
    let msg = expect_error_then_close(&mut silent, ErrorKind::HandshakeTimeout);
    assert!(msg.contains("handshake"), "{msg}");
}

#[test]
fn fifty_concurrent_clients_are_all_answered() {
    let env = TestEnv::new();
    let daemon = env.start_daemon();
    let pid = u32::try_from(daemon.pid()).unwrap();
    let threads: Vec<_> = (0..50)
        .map(|_| {
            let mut s = connect(&env);
            std::thread::spawn(move || {
                handshake(&mut s);
                (0..20).map(|_| status_over(&mut s)).collect::<Vec<_>>()
            })
        })
        .collect();
    let mut answered = 0;
    for t in threads {
        let pids = t.join().unwrap();
        assert!(pids.iter().all(|&p| p == pid));
        answered += pids.len();
    }
    assert_eq!(answered, 1000);
}

#[test]
fn sigterm_and_sigint_exit_zero_and_remove_the_socket() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let env = TestEnv::new();
        let mut daemon = env.start_daemon();
        let mut idle = connect(&env);
        handshake(&mut idle);
        daemon.signal(sig);
        let status = daemon.wait_exit(Duration::from_secs(2));
        assert!(
            status.success(),
            "signal {sig}: {status}\n{}",
            daemon.log_text()
        );
        assert!(!env.socket().exists());
        // The lock is released: a new daemon starts.
        let _again = env.start_daemon();
    }
}

#[test]
fn sighup_with_a_broken_config_keeps_serving_and_reports_it() {
    let env = TestEnv::new();
    env.write_config("[settle]\nquiet_ms = 100\nmax_wait_ms = 1000\n");
    let daemon = env.start_daemon();
    env.write_config("[settle]\nquiet_ms = 100\nmax_wait_ms = 1000\n\n[review]\nmodle = \"x\"\n");
    daemon.signal(libc::SIGHUP);
    let error = wait_for(
        "the reload error in status",
        Duration::from_secs(10),
        || {
            env.status_json()["daemon"]["config"]["error"]
                .as_str()
                .map(str::to_owned)
        },
    );
    let path = env.config_path();
    assert!(
        error.contains(&format!("{}:6:", path.display())),
        "names file and line: {error}"
    );
    assert!(error.contains("modle"), "names the key: {error}");
    let human = env.ok(&["status"]);
    assert!(human.contains("config error:"), "{human}");

    env.write_config("[settle]\nquiet_ms = 100\nmax_wait_ms = 1000\n");
    daemon.signal(libc::SIGHUP);
    wait_for("the error to clear", Duration::from_secs(10), || {
        env.status_json()["daemon"]["config"]["error"]
            .is_null()
            .then_some(())
    });
}

#[test]
fn a_broken_config_at_start_is_a_clear_error() {
    let env = TestEnv::new();
    env.write_config("[gate]\nblock_on = \"severe\"\n");
    let out = env.run(&["daemon", "--log-stderr"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:2: gate.block_on", env.config_path().display())),
        "{err}"
    );
}

#[test]
fn a_wedged_daemon_does_not_hang_the_client() {
    let env = TestEnv::new();
    let daemon = env.start_daemon();
    daemon.signal(libc::SIGSTOP);
    let started = std::time::Instant::now();
    let out = env.run(&["status"]);
    daemon.signal(libc::SIGCONT);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did not answer"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn daemon_logs_to_daily_files_without_log_stderr() {
    let env = TestEnv::new();
    let mut child = env
        .cmd(&["daemon"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for("status", Duration::from_secs(20), || {
        env.run(&["status"]).status.success().then_some(())
    });
    env.ok(&["stop"]);
    let status = wait_for("exit", Duration::from_secs(5), || child.try_wait().unwrap());
    assert!(status.success());
    let logs: Vec<_> = std::fs::read_dir(env.state.join("logs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    let name = logs[0].file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.starts_with("cxd.") && name.ends_with(".log"), "{name}");
    let text = std::fs::read_to_string(&logs[0]).unwrap();
    assert!(text.contains("cxd daemon ready"), "{text}");
}
