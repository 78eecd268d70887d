//! Running as a user service: readiness over `NOTIFY_SOCKET`, the rendered unit and plist, and
//! `cxd service install|status|uninstall` against a fake systemctl/launchctl (never the real one).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use cxd_e2e::{TestEnv, cxd_bin, init_repo, is_socket, wait_for};

/// A PATH with a space and a `%` in it, so quoting shows.
const FIXED_PATH: &str = "/opt/my tools/100%/bin:/usr/bin:/bin";

fn fake_manager() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/fake-service-manager")
}

/// The fake service manager's state for one test; ends the daemon it started.
struct Fake<'a> {
    env: &'a TestEnv,
    log: PathBuf,
}

impl<'a> Fake<'a> {
    fn new(env: &'a TestEnv) -> Self {
        Self {
            env,
            log: env.dir.path().join("service-manager.log"),
        }
    }

    /// `cxd ARGS` with the fake as both systemctl and launchctl.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.env.cmd(args);
        c.env("CXD_SYSTEMCTL", fake_manager())
            .env("CXD_LAUNCHCTL", fake_manager())
            .env("FAKE_SM_LOG", &self.log)
            .env("FAKE_SM_CXD", cxd_bin())
            .env_remove("FAKE_SM_FAIL")
            .env_remove("XDG_CONFIG_HOME");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// The calls so far, one string each.
    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Fake<'_> {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(self.log.with_extension("log.pid"));
        if let Some(pid) = pid.ok().and_then(|p| p.trim().parse::<i32>().ok()) {
            #[allow(unsafe_code)]
            // SAFETY: kill(2) on the daemon the fake started for this test; no memory involved.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_ok(out: &Output, what: &str) -> (String, String) {
    let (stdout, stderr) = text(out);
    assert!(
        out.status.success(),
        "{what} failed with {}:\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    (stdout, stderr)
}

fn print_service(env: &TestEnv, manager: &str) -> String {
    let out = env
        .cmd(&["service", "install", "--print", "--manager", manager])
        .env("PATH", FIXED_PATH)
        .output()
        .unwrap();
    assert_ok(&out, "cxd service install --print").0
}

fn unit_file(env: &TestEnv) -> PathBuf {
    env.home.join(".config/systemd/user/cxd.service")
}

/// Kills the daemon on drop unless it has been waited for.
struct Child(Option<std::process::Child>);

impl Drop for Child {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn recv(sock: &UnixDatagram) -> String {
    let mut buf = [0u8; 512];
    let n = sock
        .recv(&mut buf)
        .expect("no notification within the timeout");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn ready_comes_once_stored_workspaces_are_watched_and_stopping_on_stop() {
    let env = TestEnv::new();
    let repo = init_repo(env.dir.path(), "repo");
    let mut first = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    env.ok(&["stop"]);
    first.wait_exit(Duration::from_secs(15));

    let notify_path = env.dir.path().join("notify.sock");
    let listener = UnixDatagram::bind(&notify_path).unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let log = std::fs::File::create(env.dir.path().join("daemon-notify.log")).unwrap();
    let mut daemon = Child(Some(
        env.cmd(&["daemon", "--log-stderr", "--log-level", "debug"])
            .env("NOTIFY_SOCKET", &notify_path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    ));

    let first_message = recv(&listener);
    assert!(
        first_message.lines().any(|l| l == "READY=1"),
        "the first notification must be READY=1: {first_message:?}"
    );
    // READY=1 has arrived: the stored workspace must already be watched (seen from outside the
    // daemon, before asking it anything) and the daemon must answer.
    #[cfg(target_os = "linux")]
    {
        let pid = daemon.0.as_ref().unwrap().id() as i32;
        let watches = cxd_e2e::inotify_watches(pid);
        assert!(watches > 0, "READY=1 came before the workspace was watched");
    }
    let status = env.status_json();
    let ws = &status["workspaces"][0];
    assert_eq!(ws["root"], repo.to_str().unwrap(), "{status:#}");
    assert!(ws["os_watches"].as_u64().unwrap() > 0, "{status:#}");

    env.ok(&["stop"]);
    let message = recv(&listener);
    assert!(
        message.lines().any(|l| l == "STOPPING=1"),
        "expected STOPPING=1, got {message:?}"
    );
    let status = wait_for("the daemon to exit", Duration::from_secs(15), || {
        daemon.0.as_mut().unwrap().try_wait().unwrap()
    });
    daemon.0 = None;
    assert!(status.success(), "{status}");
}

#[test]
fn install_print_is_byte_stable_and_fills_in_the_template() {
    let env = TestEnv::new();
    let unit = print_service(&env, "systemd");
    assert_eq!(unit, print_service(&env, "systemd"), "two renders differ");
    let template = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/cxd.service"),
    )
    .unwrap();
    let exe = cxd_bin();
    let state = env.state.to_str().unwrap();
    let expected = template
        .replace("{{EXE}}", exe.to_str().unwrap())
        .replace("{{PATH}}", &FIXED_PATH.replace('%', "%%"))
        .replace("{{STATE_DIR}}", state);
    assert_eq!(unit, expected);
    assert!(unit.contains("Environment=\"PATH=/opt/my tools/100%%/bin:/usr/bin:/bin\"\n"));

    let plist = print_service(&env, "launchd");
    assert_eq!(plist, print_service(&env, "launchd"), "two renders differ");
    assert!(plist.contains(&format!("<string>{FIXED_PATH}</string>")));
}

#[cfg(target_os = "linux")]
#[test]
fn the_rendered_unit_passes_systemd_analyze_verify() {
    let env = TestEnv::new();
    let unit = print_service(&env, "systemd");
    let path = env.dir.path().join("cxd.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run systemd-analyze ({e}): install Debian's `systemd` package")
        });
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    let complaints: Vec<&str> = stderr
        .lines()
        .chain(stdout.lines())
        .filter(|l| l.contains("cxd.service"))
        .collect();
    assert!(complaints.is_empty(), "systemd-analyze: {complaints:#?}");
}

#[test]
fn the_plist_parses_and_has_the_keys() {
    let env = TestEnv::new();
    let plist = print_service(&env, "launchd");
    let script = r#"
import json, plistlib, sys
d = plistlib.loads(sys.stdin.buffer.read())
print(json.dumps(d))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is needed for this test");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), plist.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = assert_ok(&out, "plistlib.loads");
    let d: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(d["Label"], "dev.cxd.daemon");
    assert_eq!(
        d["ProgramArguments"],
        serde_json::json!([cxd_bin().to_str().unwrap(), "daemon"])
    );
    assert_eq!(d["RunAtLoad"], true);
    assert_eq!(d["KeepAlive"], serde_json::json!({"SuccessfulExit": false}));
    assert_eq!(d["EnvironmentVariables"]["PATH"], FIXED_PATH);
    assert_eq!(
        d["EnvironmentVariables"]["CXD_STATE_DIR"],
        env.state.to_str().unwrap()
    );
    assert_eq!(
        d["StandardErrorPath"],
        env.state.join("launchd.stderr.log").to_str().unwrap()
    );
    assert_eq!(d["WorkingDirectory"], env.home.to_str().unwrap());
}

#[test]
fn install_status_watch_uninstall_through_systemctl() {
    let env = TestEnv::new();
    let fake = Fake::new(&env);
    let repo = init_repo(env.dir.path(), "repo");
    // A daemon started on demand, before the service existed: the service takes over from it.
    let mut unmanaged = env.start_daemon();
    let old_pid = unmanaged.pid();

    let (stdout, stderr) = assert_ok(&fake.run(&["service", "install"]), "service install");
    assert!(stderr.contains("stopping the running daemon"), "{stderr}");
    assert!(unmanaged.wait_exit(Duration::from_secs(15)).success());
    assert!(
        stdout.contains(unit_file(&env).to_str().unwrap()),
        "{stdout}"
    );
    assert!(stdout.contains("journalctl --user -u cxd"), "{stdout}");
    assert_eq!(
        fake.calls(),
        [
            "--user show-environment",
            "--user daemon-reload",
            "--user enable --now cxd.service"
        ]
    );
    let written = std::fs::read_to_string(unit_file(&env)).unwrap();
    let printed = text(&fake.run(&["service", "install", "--print"])).0;
    assert_eq!(written, printed);
    let pid = env.status_json()["daemon"]["pid"].as_i64().unwrap();
    assert_ne!(pid, i64::from(old_pid), "the service's daemon is a new one");

    let (stdout, _) = assert_ok(&fake.run(&["service", "status"]), "service status");
    assert!(stdout.contains("(installed)"), "{stdout}");
    assert!(stdout.contains("active (enabled)"), "{stdout}");
    assert!(stdout.contains(&format!("pid {pid}")), "{stdout}");

    // `cxd stop` ends the service's daemon (exit 0: systemd leaves it stopped). `cxd watch` then
    // starts the service rather than a daemon of its own.
    env.ok(&["stop"]);
    let before = fake.calls().len();
    let (_, stderr) = assert_ok(
        &fake.run(&["watch", repo.to_str().unwrap()]),
        "watch with the service installed",
    );
    assert!(stderr.contains("started the systemd user unit"), "{stderr}");
    assert!(!stderr.contains("in the background"), "{stderr}");
    assert_eq!(
        fake.calls()[before..],
        ["--user show-environment", "--user start cxd.service"]
    );
    assert_eq!(
        env.status_json()["workspaces"][0]["root"],
        repo.to_str().unwrap()
    );

    let before = fake.calls().len();
    let (stdout, _) = assert_ok(&fake.run(&["service", "uninstall"]), "service uninstall");
    assert!(stdout.contains("removed"), "{stdout}");
    assert!(!unit_file(&env).exists());
    assert_eq!(
        fake.calls()[before..],
        [
            "--user show-environment",
            "--user disable --now cxd.service",
            "--user daemon-reload"
        ]
    );
    wait_for("the socket to go", Duration::from_secs(15), || {
        (!is_socket(&env.socket())).then_some(())
    });
    let out = fake.run(&["service", "status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).0.contains("not installed"));
}

#[test]
fn install_without_a_user_manager_changes_nothing() {
    let env = TestEnv::new();
    let fake = Fake::new(&env);
    let out = fake
        .cmd(&["service", "install"])
        .env("FAKE_SM_FAIL", "show-environment")
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    for needle in [
        "no systemd user manager is reachable",
        "Failed to connect to bus",
        "nothing was installed",
        "cxd daemon",
        "cxd service install --print >",
    ] {
        assert!(stderr.contains(needle), "{needle} missing: {stderr}");
    }
    assert!(!unit_file(&env).exists());
    assert_eq!(fake.calls(), ["--user show-environment"]);

    let out = fake
        .cmd(&["service", "install"])
        .env("CXD_SYSTEMCTL", env.dir.path().join("no-such-systemctl"))
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("no-such-systemctl"), "{stderr}");
    assert!(stderr.contains("nothing was installed"), "{stderr}");
    assert!(!unit_file(&env).exists());
    assert!(!env.home.join(".config/systemd").exists());
}

#[test]
fn a_failed_enable_is_rolled_back() {
    let env = TestEnv::new();
    let fake = Fake::new(&env);
    let out = fake
        .cmd(&["service", "install"])
        .env("FAKE_SM_FAIL", "enable")
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("was removed again"), "{stderr}");
    assert!(
        stderr.contains("systemctl --user enable --now cxd.service"),
        "{stderr}"
    );
    assert!(!unit_file(&env).exists());
    assert_eq!(fake.calls().last().unwrap(), "--user daemon-reload");
}

#[test]
fn launchd_install_and_uninstall_with_a_fake_launchctl() {
    let env = TestEnv::new();
    let fake = Fake::new(&env);
    let plist = env.home.join("Library/LaunchAgents/dev.cxd.daemon.plist");
    let uid = String::from_utf8(Command::new("id").arg("-u").output().unwrap().stdout).unwrap();
    let domain = format!("gui/{}", uid.trim());

    let (stdout, _) = assert_ok(
        &fake.run(&["service", "install", "--manager", "launchd"]),
        "service install --manager launchd",
    );
    assert!(stdout.contains(plist.to_str().unwrap()), "{stdout}");
    assert_eq!(
        fake.calls(),
        [
            format!("print {domain}"),
            format!("bootout {domain}/dev.cxd.daemon"),
            format!("bootstrap {domain} {}", plist.display()),
        ]
    );
    assert!(
        env.state.is_dir(),
        "install creates the state dir for StandardErrorPath"
    );
    env.status_json();

    let (stdout, _) = assert_ok(
        &fake.run(&["service", "status", "--manager", "launchd"]),
        "service status",
    );
    assert!(stdout.contains("running (loaded)"), "{stdout}");

    assert_ok(
        &fake.run(&["service", "uninstall", "--manager", "launchd"]),
        "service uninstall",
    );
    assert!(!plist.exists());
    assert_eq!(
        fake.calls().last().unwrap(),
        &format!("bootout {domain}/dev.cxd.daemon")
    );
    wait_for("the socket to go", Duration::from_secs(15), || {
        (!is_socket(&env.socket())).then_some(())
    });
}
