//! Helpers for the end-to-end tests: a private environment per test, the real `cxd` binary,
//! a daemon started in it, and waiting on conditions with deadlines.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

pub mod codex_answer;
pub mod json_snapshot;
pub mod remote;

pub use codex_answer::{AnswerJson, FindingJson, answer, finding};

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The built `cxd` binary (next to the test executable's `deps/` directory).
pub fn cxd_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("CXD_TEST_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    let mut dir = exe.parent().unwrap();
    if dir.ends_with("deps") {
        dir = dir.parent().unwrap();
    }
    let bin = dir.join("cxd");
    assert!(
        bin.exists(),
        "{} is missing: it is built by `cargo nextest run --workspace` (or `cargo build -p cxd`)",
        bin.display()
    );
    bin
}

/// The fake codex that speaks codex's JSONL protocol (tests/fixtures/fake-codex).
pub fn fake_codex() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/fake-codex")
}

/// Poll `f` until it returns Some or `timeout` passes.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Poll `f` until it returns Some (that value) or `timeout` passes (None).
pub fn wait_for_or_none<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A private HOME, runtime dir, state dir and config for one test.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    pub runtime: PathBuf,
    pub state: PathBuf,
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl TestEnv {
    pub fn new() -> Self {
        // Short base path: socket paths must stay under 104 bytes.
        let dir = tempfile::Builder::new()
            .prefix("cxd")
            .tempdir_in("/tmp")
            .unwrap();
        let home = dir.path().join("home");
        let runtime = dir.path().join("run");
        let state = dir.path().join("state");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&runtime).unwrap();
        std::fs::write(dir.path().join("codex-script.json"), "[]").unwrap();
        Self {
            dir,
            home,
            runtime,
            state,
        }
    }

    pub fn socket(&self) -> PathBuf {
        self.runtime.join("cxd/cxd.sock")
    }

    pub fn config_path(&self) -> PathBuf {
        self.home.join(".config/cxd/config.toml")
    }

    pub fn write_config(&self, text: &str) {
        let p = self.config_path();
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// A `cxd` command with this environment and nothing inherited that could leak in.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(cxd_bin());
        c.args(args)
            .env_remove("CXD_SOCKET")
            .env_remove("CXD_CONFIG")
            .env_remove("CXD_CODEX_BIN")
            .env_remove("XDG_STATE_HOME")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("JOURNAL_STREAM")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("RUST_LOG")
            .env_remove("CLAUDE_CODE_SESSION_ID")
            // A person at a terminal unless a test says otherwise (`independence.rs`).
            .env_remove("CLAUDECODE")
            .env_remove("CLAUDE_CODE_ENTRYPOINT")
            .env_remove("CXD_CLOCK_FILE")
            // Local times (a quota's reset) read the same on every machine.
            .env("TZ", "UTC")
            .env("NO_COLOR", "1")
            .env("HOME", &self.home)
            .env("XDG_RUNTIME_DIR", &self.runtime)
            .env("CXD_STATE_DIR", &self.state)
            .env("CXD_CODEX_BIN", fake_codex())
            .env("FAKE_CODEX_LOG", self.codex_log())
            .env("FAKE_CODEX_STATE", self.dir.path().join("fake-codex-state"))
            .env("FAKE_CODEX_SCRIPT", self.codex_script())
            .stdin(Stdio::null());
        c
    }

    /// `program` with exactly the environment `cxd` commands get (see [`TestEnv::cmd`]).
    pub fn cmd_of(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let template = self.cmd(&[]);
        let mut c = Command::new(program);
        for (k, v) in template.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c.stdin(Stdio::null());
        c
    }

    /// Where the fake codex records every invocation (one JSON line each).
    pub fn codex_log(&self) -> PathBuf {
        self.dir.path().join("codex-calls.jsonl")
    }

    /// The fake codex's script: a JSON list of steps, one per run (see tests/fixtures/fake-codex).
    pub fn codex_script(&self) -> PathBuf {
        self.dir.path().join("codex-script.json")
    }

    /// Script the fake codex's next runs.
    pub fn script_codex(&self, steps: &serde_json::Value) {
        std::fs::write(self.codex_script(), steps.to_string()).unwrap();
    }

    /// Every codex invocation so far.
    pub fn codex_calls(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.codex_log())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Run `cxd ARGS` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Run `cxd ARGS`, assert it succeeded, return stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "cxd {args:?} failed with {}:\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `cxd status --json`, parsed.
    pub fn status_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["status", "--json"])).unwrap()
    }

    /// The first workspace of `cxd status --json`.
    pub fn workspace(&self) -> serde_json::Value {
        self.status_json()["workspaces"][0].clone()
    }

    /// Wait until the first workspace has `n` finished reviews and is not reviewing; its status.
    pub fn wait_reviews(&self, n: u64, timeout: Duration) -> serde_json::Value {
        wait_for(&format!("{n} finished review(s)"), timeout, || {
            let w = self.workspace();
            (w["reviews"].as_u64() == Some(n) && w["state"] != "reviewing").then_some(w)
        })
    }

    /// Wait until the first workspace is in `state` (`halted`, `idle`, ...); its status.
    pub fn wait_state(&self, state: &str, timeout: Duration) -> serde_json::Value {
        wait_for(state, timeout, || {
            let w = self.workspace();
            (w["state"] == state).then_some(w)
        })
    }

    /// Run `cxd COMMAND_LINE` (a shell command line after the binary) on a terminal, through
    /// `script`, with this environment; `script` writes what the terminal got to `typescript`.
    pub fn on_a_terminal(&self, command_line: &str, typescript: &Path) -> Output {
        let command = format!("{} {command_line}", cxd_bin().display());
        self.cmd(&[])
            .get_envs()
            .fold(Command::new("script"), |mut c, (k, v)| {
                match v {
                    Some(v) => c.env(k, v),
                    None => c.env_remove(k),
                };
                c
            })
            .args(["-q", "-e", "-c", &command])
            .arg(typescript)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Start `cxd daemon` and wait until it answers.
    pub fn start_daemon(&self) -> Daemon {
        self.start_daemon_with(|_| {})
    }

    /// Start `cxd daemon` with its command changed by `tweak` (say, no `CXD_CODEX_BIN`), and
    /// wait until it answers.
    pub fn start_daemon_with(&self, tweak: impl FnOnce(&mut Command)) -> Daemon {
        let log_path = self.dir.path().join(format!("daemon-{}.log", now_nanos()));
        let log = File::create(&log_path).unwrap();
        let mut cmd = self.cmd(&["daemon", "--log-stderr", "--log-level", "debug"]);
        tweak(&mut cmd);
        let child = cmd
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut daemon = Daemon {
            child: Some(child),
            log: log_path,
        };
        wait_for(
            "the daemon to answer status",
            Duration::from_secs(20),
            || {
                if let Some(status) = daemon.try_exit() {
                    panic!("daemon exited early with {status}:\n{}", daemon.log_text());
                }
                self.run(&["status", "--json"])
                    .status
                    .success()
                    .then_some(())
            },
        );
        daemon
    }
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// A running daemon; killed on drop if still alive.
pub struct Daemon {
    child: Option<Child>,
    pub log: PathBuf,
}

impl Daemon {
    pub fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, sig: i32) {
        #[allow(unsafe_code)]
        // SAFETY: kill(2) with a pid we spawned; no memory is touched.
        let rc = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(rc, 0, "kill({}, {sig}) failed", self.pid());
    }

    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().unwrap().try_wait().unwrap()
    }

    /// Wait (bounded) for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let status = wait_for("the daemon to exit", timeout, || self.try_exit());
        self.child = None;
        status
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The argv one recorded fake-codex call received (after the program name).
pub fn argv(call: &serde_json::Value) -> Vec<String> {
    call["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

/// Run `cmd` with `input` on its stdin (then closed); its output.
pub fn run_with_stdin(mut cmd: Command, input: &[u8]) -> Output {
    use std::io::Write as _;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// Run `cmd` the way Claude Code runs a hook: `input` as one JSON line on stdin; its output.
pub fn run_hook(cmd: Command, input: &serde_json::Value) -> Output {
    run_with_stdin(cmd, format!("{input}\n").as_bytes())
}

impl TestEnv {
    /// `cxd hook claude EVENT` with `input` on stdin, asserting the exit 0 every hook gives.
    pub fn hook(&self, event: &str, input: &serde_json::Value) -> Output {
        let out = run_hook(self.cmd(&["hook", "claude", event]), input);
        assert_eq!(
            out.status.code(),
            Some(0),
            "hooks always exit 0: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// The stop hook and the plan check (`ExitPlanMode`) of session `s` in `repo`, as Claude
    /// Code calls them: their JSON answers, for the tests that they fail open and say why.
    pub fn stop_and_plan_hooks(&self, repo: &Path) -> (serde_json::Value, serde_json::Value) {
        let json = |out: Output| -> serde_json::Value {
            serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&out.stdout)))
        };
        let stop = serde_json::json!({"session_id": "s", "transcript_path": "/tmp/t.jsonl",
            "cwd": repo, "hook_event_name": "Stop", "stop_hook_active": false,
            "last_assistant_message": "Done."});
        let plan = serde_json::json!({"session_id": "s", "cwd": repo,
            "hook_event_name": "PreToolUse", "tool_name": "ExitPlanMode",
            "tool_input": {"plan": "1. Do it."}});
        (
            json(self.hook("stop", &stop)),
            json(self.hook("pre-tool-use", &plan)),
        )
    }
}

/// Is `path` a socket file?
pub fn is_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

/// Run git in `dir`, asserting success; returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh repository with one committed file (`README`), `target/` and `node_modules/` ignored.
pub fn init_repo(parent: &Path, name: &str) -> PathBuf {
    let repo = parent.join(name);
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README"), "hello\n").unwrap();
    std::fs::write(repo.join(".gitignore"), "target/\nnode_modules/\n").unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "init"]);
    repo
}

impl TestEnv {
    /// `cxd log --json` (all workspaces, the newest `n`).
    pub fn log_json(&self, n: u32) -> Vec<serde_json::Value> {
        let out = self.ok(&["log", "--json", "-n", &n.to_string()]);
        serde_json::from_str::<serde_json::Value>(&out)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    /// Wait until the log holds at least `count` entries of `kind`; returns those entries.
    pub fn wait_log(&self, kind: &str, count: usize, timeout: Duration) -> Vec<serde_json::Value> {
        wait_for(&format!("{count} `{kind}` log entries"), timeout, || {
            let entries: Vec<_> = self
                .log_json(10_000)
                .into_iter()
                .filter(|e| e["kind"] == kind)
                .collect();
            (entries.len() >= count).then_some(entries)
        })
    }

    /// Entries of `kind` in the log now.
    pub fn log_kind(&self, kind: &str) -> Vec<serde_json::Value> {
        self.log_json(10_000)
            .into_iter()
            .filter(|e| e["kind"] == kind)
            .collect()
    }

    /// A fresh environment with this config and an empty committed repository "repo" in it.
    pub fn with_repo(config: &str) -> (TestEnv, PathBuf) {
        let env = TestEnv::new();
        env.write_config(config);
        let repo = init_repo(env.dir.path(), "repo");
        (env, repo)
    }

    /// A fast settle so tests run quickly.
    pub fn fast_settle(&self) {
        self.write_config("[settle]\nquiet_ms = 300\nmax_wait_ms = 3000\n");
    }
}

/// Config: an edit settles 200 ms after the last write, 2 s at the most.
pub const SETTLE_FAST: &str = "[settle]\nquiet_ms = 200\nmax_wait_ms = 2000\n";
/// Config: an edit never settles within a test (it waits for a hook or a command).
pub const SETTLE_NEVER: &str = "[settle]\nquiet_ms = 600000\nmax_wait_ms = 600000\n";
/// Config: a fast settle, and the stop hook waits up to 60 s for a review.
pub const SETTLE_FAST_STOP_WAIT: &str =
    "[settle]\nquiet_ms = 200\nmax_wait_ms = 2000\n[gate]\nstop_wait_s = 60\n";

/// OS inotify watches a process holds (Linux), from /proc/PID/fdinfo; 0 without /proc.
pub fn inotify_watches(pid: i32) -> usize {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .map(|text| {
            text.lines()
                .filter(|l| l.starts_with("inotify wd:"))
                .count()
        })
        .sum()
}

/// Whether process `pid` has ended: gone, or a zombie waiting to be reaped. From /proc on
/// Linux, from ps(1) elsewhere (macOS has no /proc: reading it there would always say "gone").
pub fn process_ended(pid: i64) -> bool {
    if cfg!(target_os = "linux") {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        return stat.is_empty() || stat.split_whitespace().nth(2) == Some("Z");
    }
    let out = Command::new("ps")
        .args(["-o", "stat=", "-p", &pid.to_string()])
        .output()
        .unwrap_or_else(|e| panic!("cannot run ps to see whether process {pid} ended: {e}"));
    let stat = String::from_utf8_lossy(&out.stdout);
    stat.trim().is_empty() || stat.trim_start().starts_with('Z')
}

/// The test fixtures (fake codex, mock model servers, install scripts).
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn have(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A real CLI from the npm registry for the tests that run one: `$env_var` if set, else
/// installed (idempotently) by `fixtures/<install>` into `.tools/<dir>`. None, with a
/// `SKIPPED` line, where node or npm is missing.
pub fn npm_cli(env_var: &str, what: &str, install: &str, dir: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env_var) {
        return Some(PathBuf::from(p));
    }
    if !have("node") || !have("npm") {
        eprintln!("SKIPPED: node/npm are not installed, so the real {what} cannot be installed");
        return None;
    }
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools");
    std::fs::create_dir_all(&tools).unwrap();
    // Tests run as parallel processes: one installs while the others wait, then find it
    // installed (two npm installs into one prefix would overwrite a launcher being run).
    let lock = std::fs::File::create(tools.join(format!("{dir}.lock"))).unwrap();
    lock.lock()
        .unwrap_or_else(|e| panic!("cannot lock .tools/{dir}.lock: {e}"));
    let dir = tools.join(dir);
    let out = Command::new("bash")
        .arg(fixtures().join(install))
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{install} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()))
}

/// A loopback mock model server from the fixtures (it prints `PORT=<n>` first and logs every
/// request as a JSON line); killed on drop.
pub struct MockServer {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl MockServer {
    /// Start `fixtures/<script>` answering with `answers` (a JSON list), files under `dir`
    /// named after `name`.
    pub fn start(script: &str, dir: &Path, name: &str, answers: &serde_json::Value) -> Self {
        use std::io::{BufRead, BufReader};
        let answers_path = dir.join(format!("{name}-answers.json"));
        std::fs::write(&answers_path, answers.to_string()).unwrap();
        let log = dir.join(format!("{name}-requests.jsonl"));
        let mut child = Command::new("python3")
            .arg(fixtures().join(script))
            .arg("--log")
            .arg(&log)
            .arg("--answers")
            .arg(&answers_path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("PORT=")
            .expect("PORT= line")
            .parse()
            .unwrap();
        Self { child, port, log }
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// A `CODEX_HOME` under `dir` whose config sends the real codex to a [`MockServer`] on `port`
/// (API key from `CXD_MOCK_API_KEY`), with `extra` TOML appended; returns its path.
pub fn mock_codex_home(dir: &Path, port: u16, extra: &str) -> PathBuf {
    let home = dir.join("codex-home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        home.join("config.toml"),
        format!(
            "model_provider = \"cxdmock\"\n{extra}\n\n[model_providers.cxdmock]\nname = \"cxd mock\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\nwire_api = \"responses\"\nenv_key = \"CXD_MOCK_API_KEY\"\n\n[features]\nunbounded_connection_retries = false\nplugins = false\n\n[analytics]\nenabled = false\n"
        ),
    )
    .unwrap();
    home
}

impl Drop for MockServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// 2030-03-17T17:00:00Z: where the tests that set the daemon's clock start it.
pub const FIVE_PM: i64 = 1_899_997_200;

/// The daemon's clock in a test: a file of Unix seconds that `CXD_CLOCK_FILE` names and the
/// test moves (written whole, by rename, so the daemon never reads half a number).
pub struct Clock(pub PathBuf);

impl Clock {
    pub fn set(&self, unix: i64) {
        let tmp = self.0.with_extension("tmp");
        std::fs::write(&tmp, unix.to_string()).unwrap();
        std::fs::rename(&tmp, &self.0).unwrap();
    }
}
