//! cxd next to watchexec and watchman on the same synthetic repository, in one run (issue 8):
//! time until fully watched, RSS, OS watches, write → trigger latency beyond each tool's
//! debounce, idle CPU, and the triggers a `git checkout` and writes into ignored directories
//! cause. Run through `bench/run compare [--files N --dirs D ...]` after
//! `bench/install-tools.sh`.
//!
//! Each tool runs the way a user would run it, at its smallest debounce: cxd with a small
//! `quiet_ms` (subtracted) and the fake codex behind `bench-stamp`; `watchexec --debounce 0
//! --postpone -n -- bench-stamp LOG` in the repository (it honours .gitignore itself); a
//! private `watchman --foreground` server with a `.watchmanconfig` of `ignore_dirs` for
//! node_modules and target, `settle` 1 ms (0 makes watchman 4.9 spin at full CPU), and a
//! trigger running `bench-stamp`. A trigger is a codex start (cxd) or a command run (the
//! others), each stamped by the same compiled `bench-stamp` at exec.
//!
//! Nothing waits on a fixed sleep: every step polls a condition with a deadline; "quiescent"
//! means the tool's CPU ticks and trigger count have not moved for a while (and, for cxd, the
//! workspace is idle). The idle window is the one measurement that is a plain wait.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cxd_bench::tree::{
    FILES_PER_IGNORED_DIR, Tree, clk_tck, count_dirs, cpu_ticks, last_dir_breadth_first, machine,
    median, now_f64, pct, proc_status_kib, reset, ticks_ms, warm, watched_inodes, write_file,
};
use cxd_e2e::{TestEnv, fake_codex, git, inotify_watches, wait_for};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Cxd,
    Watchexec,
    Watchman,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Cxd => "cxd",
            Self::Watchexec => "watchexec",
            Self::Watchman => "watchman",
        }
    }
}

struct Args {
    tree: Tree,
    writes: usize,
    runs: usize,
    idle_s: u64,
    quiet_ms: u64,
    settle_ms: u64,
    repo: Option<PathBuf>,
    tools: Vec<Kind>,
}

fn usage() -> ! {
    eprintln!(
        "usage: bench-compare [--files N] [--dirs D] [--node-modules N] [--target N] [--checkout N] \
         [--writes N] [--runs N] [--idle-s S] [--quiet-ms MS] [--settle-ms MS] \
         [--tools cxd,watchexec,watchman] [--repo DIR (kept and reused)]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        tree: Tree {
            files: 100_000,
            dirs: 10_000,
            node_modules: 50_000,
            target: 20_000,
            checkout: 5_000,
        },
        writes: 50,
        runs: 3,
        idle_s: 60,
        quiet_ms: 50,
        settle_ms: 1,
        repo: None,
        tools: vec![Kind::Cxd, Kind::Watchexec, Kind::Watchman],
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let val = it.next().unwrap_or_else(|| usage());
        let n = || val.parse::<usize>().unwrap_or_else(|_| usage());
        match flag.as_str() {
            "--files" => a.tree.files = n(),
            "--dirs" => a.tree.dirs = n(),
            "--node-modules" => a.tree.node_modules = n(),
            "--target" => a.tree.target = n(),
            "--checkout" => a.tree.checkout = n(),
            "--writes" => a.writes = n(),
            "--runs" => a.runs = n().max(1),
            "--idle-s" => a.idle_s = n() as u64,
            "--quiet-ms" => a.quiet_ms = n() as u64,
            "--settle-ms" => a.settle_ms = n() as u64,
            "--repo" => a.repo = Some(PathBuf::from(&val)),
            "--tools" => {
                a.tools = val
                    .split(',')
                    .map(|t| match t {
                        "cxd" => Kind::Cxd,
                        "watchexec" => Kind::Watchexec,
                        "watchman" => Kind::Watchman,
                        _ => usage(),
                    })
                    .collect();
            }
            _ => usage(),
        }
    }
    let t = &a.tree;
    if t.dirs == 0
        || t.files < t.dirs
        || t.checkout == 0
        || t.checkout > t.files / 2
        || a.writes == 0
    {
        eprintln!("need dirs ≥ 1, files ≥ dirs, 1 ≤ checkout ≤ files/2, writes ≥ 1");
        usage();
    }
    a
}

// ---------------------------------------------------------------- the tools

fn bench_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// .tools/watchexec/bin/watchexec (bench/install-tools.sh), else `watchexec` on PATH.
fn watchexec_bin() -> PathBuf {
    let local = bench_dir().join("../.tools/watchexec/bin/watchexec");
    if local.exists() {
        local
    } else {
        PathBuf::from("watchexec")
    }
}

fn version(bin: &Path) -> String {
    Command::new(bin)
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .unwrap_or_else(|e| panic!("{}: {e} (run bench/install-tools.sh)", bin.display()))
}

struct Running {
    kind: Kind,
    child: Child,
    /// Where every trigger's exec time is stamped, one line each.
    stamps: PathBuf,
    /// What is subtracted from the latency: cxd's quiet_ms, watchman's settle, 0 for watchexec.
    settle_ms: f64,
    /// watchman's socket.
    sock: PathBuf,
}

/// A tool watching `repo`, and what its start measured.
struct Started {
    run: Running,
    ready_ms: f64,
    /// OS watches at the moment it was found ready.
    watches_at_ready: usize,
}

struct Ctx<'a> {
    a: &'a Args,
    env: TestEnv,
    repo: PathBuf,
}

impl Ctx<'_> {
    fn repo_s(&self) -> &str {
        self.repo.to_str().unwrap()
    }

    fn start(&mut self, kind: Kind, run: usize) -> Started {
        let tag = format!("{}-{run}", kind.name());
        let stamps = self.env.dir.path().join(format!("stamps-{tag}"));
        let out = File::create(self.env.dir.path().join(format!("{tag}.log"))).unwrap();
        match kind {
            Kind::Cxd => self.start_cxd(run, stamps, out),
            Kind::Watchexec => self.start_watchexec(stamps, out),
            Kind::Watchman => self.start_watchman(&tag, stamps, out),
        }
    }

    fn start_cxd(&mut self, run: usize, stamps: PathBuf, out: File) -> Started {
        let env = &mut self.env;
        env.state = env.dir.path().join(format!("state-{run}"));
        env.write_config(&format!(
            "[settle]\nquiet_ms = {}\nmax_wait_ms = {}\n",
            self.a.quiet_ms,
            self.a.quiet_ms.max(1000) * 10
        ));
        let mut child = env
            .cmd(&["daemon", "--log-stderr"])
            .env("CXD_CODEX_BIN", cxd_bench::stamp_bin())
            .env("CXD_BENCH_REAL_CODEX", fake_codex())
            .env("CXD_BENCH_EXEC_LOG", &stamps)
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        wait_for("the daemon to answer", Duration::from_secs(20), || {
            assert!(child.try_wait().unwrap().is_none(), "the daemon exited");
            env.run(&["status", "--json"])
                .status
                .success()
                .then_some(())
        });
        let t = Instant::now();
        let o = env.run(&["watch", self.repo.to_str().unwrap()]);
        let ready_ms = t.elapsed().as_secs_f64() * 1e3;
        assert!(
            o.status.success(),
            "cxd watch: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let watches_at_ready = inotify_watches(child.id() as i32);
        let settle_ms = self.a.quiet_ms as f64;
        Started {
            run: Running {
                kind: Kind::Cxd,
                child,
                stamps,
                settle_ms,
                sock: PathBuf::new(),
            },
            ready_ms,
            watches_at_ready,
        }
    }

    /// Ready: the first run of the command caused by a probe file written (every 10 ms) into
    /// the last directory of a breadth-first walk, the order watchexec adds its watches in.
    fn start_watchexec(&mut self, stamps: PathBuf, out: File) -> Started {
        let probe = self
            .repo
            .join(last_dir_breadth_first(&self.repo))
            .join("cxd-bench-probe.txt");
        let t0 = now_f64();
        let child = Command::new(watchexec_bin())
            .args(["--debounce", "0", "--postpone", "-n", "--"])
            .arg(cxd_bench::stamp_bin())
            .arg(&stamps)
            .current_dir(&self.repo)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let mut run = Running {
            kind: Kind::Watchexec,
            child,
            stamps,
            settle_ms: 0.0,
            sock: PathBuf::new(),
        };
        let mut i = 0;
        let first = wait_for(
            "watchexec to answer a probe write",
            Duration::from_secs(300),
            || {
                assert!(run.child.try_wait().unwrap().is_none(), "watchexec exited");
                i += 1;
                fs::write(&probe, format!("probe {i}\n")).unwrap();
                run.triggers().first().copied()
            },
        );
        let watches_at_ready = inotify_watches(run.pid() as i32);
        Started {
            run,
            ready_ms: (first - t0) * 1e3,
            watches_at_ready,
        }
    }

    /// Ready: `watchman watch-project` and then a query (which waits for the crawl) returned.
    fn start_watchman(&mut self, tag: &str, stamps: PathBuf, out: File) -> Started {
        let dir = self.env.dir.path().join(tag);
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            self.repo.join(".watchmanconfig"),
            format!(
                "{{\"ignore_dirs\": [\"node_modules\", \"target\"], \"settle\": {}}}\n",
                self.a.settle_ms
            ),
        )
        .unwrap();
        let sock = dir.join("sock");
        let mut child = Command::new("watchman")
            .arg("--foreground")
            .arg(format!("--sockname={}", sock.display()))
            .arg(format!("--statefile={}", dir.join("state").display()))
            .arg(format!("--logfile={}", dir.join("log").display()))
            .arg(format!("--pidfile={}", dir.join("pid").display()))
            .arg("--no-save-state")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        wait_for(
            "the watchman server to listen",
            Duration::from_secs(20),
            || {
                assert!(child.try_wait().unwrap().is_none(), "watchman exited");
                (fs::symlink_metadata(&sock).is_ok() && watchman_cmd(&sock, &["get-pid"]).is_some())
                    .then_some(())
            },
        );
        let run = Running {
            kind: Kind::Watchman,
            child,
            stamps,
            settle_ms: self.a.settle_ms as f64,
            sock,
        };
        let t = Instant::now();
        run.wm_json(&serde_json::json!(["watch-project", self.repo_s()]));
        run.wm_json(&serde_json::json!(["query", self.repo_s(), {
            "expression": ["name", "cxd-bench-nonexistent"], "fields": ["name"], "case_sensitive": true
        }]));
        let ready_ms = t.elapsed().as_secs_f64() * 1e3;
        let watches_at_ready = inotify_watches(run.pid() as i32);
        run.wm_json(&serde_json::json!(["trigger", self.repo_s(), {
            "name": "cxd-bench", "expression": ["true"],
            "command": [cxd_bench::stamp_bin(), &run.stamps]
        }]));
        Started {
            run,
            ready_ms,
            watches_at_ready,
        }
    }
}

/// Run a watchman client command against `sock`; its stdout when it succeeded.
fn watchman_cmd(sock: &Path, args: &[&str]) -> Option<String> {
    let o = Command::new("watchman")
        .arg(format!("--sockname={}", sock.display()))
        .args(["--no-spawn", "--no-pretty"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

impl Running {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every trigger's exec time, in order.
    fn triggers(&self) -> Vec<f64> {
        fs::read_to_string(&self.stamps)
            .unwrap_or_default()
            .lines()
            .map(|l| l.trim().parse().unwrap())
            .collect()
    }

    fn wm_json(&self, cmd: &serde_json::Value) -> serde_json::Value {
        let mut c = Command::new("watchman")
            .arg(format!("--sockname={}", self.sock.display()))
            .args(["--no-spawn", "--no-pretty", "-j"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        serde_json::to_writer(c.stdin.take().unwrap(), cmd).unwrap();
        let o = c.wait_with_output().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(
            o.status.success() && v.get("error").is_none(),
            "watchman {cmd}: {v}"
        );
        v
    }

    /// cxd: the workspace idle with nothing pending (always true for the others).
    fn settled(&self, env: &TestEnv) -> bool {
        if self.kind != Kind::Cxd {
            return true;
        }
        let w = env.status_json()["workspaces"][0].clone();
        w["state"] == "idle" && w["pending_files"] == 0
    }

    /// Wait until the tool is settled and neither its CPU ticks (own and children's) nor its
    /// trigger count have moved for `still`; returns the ticks then.
    fn quiescent(&mut self, env: &TestEnv, still: Duration) -> (u64, u64) {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            wait_for("the tool to settle", Duration::from_secs(300), || {
                self.settled(env).then_some(())
            });
            let pid = self.pid();
            let mut last = (cpu_ticks(pid), self.triggers().len());
            let mut since = Instant::now();
            wait_for("the tool to go quiet", Duration::from_secs(300), || {
                assert!(
                    self.child.try_wait().unwrap().is_none(),
                    "{} exited",
                    self.kind.name()
                );
                let now = (cpu_ticks(pid), self.triggers().len());
                if now != last {
                    last = now;
                    since = Instant::now();
                }
                (since.elapsed() >= still).then_some(())
            });
            if self.settled(env) {
                return last.0;
            }
            assert!(
                Instant::now() < deadline,
                "{} never went quiet",
                self.kind.name()
            );
        }
    }

    /// Write a sentinel file at the root and wait for the trigger it causes: proves the tool
    /// still fires after what was just counted.
    fn sentinel(&mut self, env: &TestEnv, repo: &Path, label: &str) -> bool {
        let n = self.triggers().len();
        fs::write(
            repo.join(format!("sentinel-{label}.txt")),
            format!("{label}\n"),
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let fired = wait_for("the sentinel's trigger", Duration::from_secs(61), || {
            if self.triggers().len() > n {
                Some(true)
            } else {
                (Instant::now() >= deadline).then_some(false)
            }
        });
        self.quiescent(env, Duration::from_millis(500));
        fired
    }

    fn stop(mut self, env: &TestEnv) {
        if self.kind == Kind::Cxd {
            env.ok(&["stop"]);
        } else {
            let _ = self.child.kill();
        }
        wait_for("the tool to exit", Duration::from_secs(20), || {
            self.child.try_wait().unwrap()
        });
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- one tool's figures

#[derive(Default)]
struct Figures {
    ready_ms: f64,
    rss_mib: f64,
    watches: usize,
    watches_at_ready: usize,
    in_ignored: usize,
    lat_p50: f64,
    lat_p99: f64,
    lat_max: f64,
    extra_triggers: usize,
    idle_ticks: u64,
    idle_triggers: usize,
    checkout_triggers: Vec<usize>,
    checkout_span_s: f64,
    checkout_cpu_ms: u64,
    ignored_triggers: usize,
    ignored_cpu_ms: u64,
    sentinels_ok: bool,
    hwm_mib: f64,
}

fn measure(
    cx: &mut Ctx<'_>,
    kind: Kind,
    hz: u64,
    ignored_inodes: &std::collections::HashSet<u64>,
) -> Figures {
    let a = cx.a;
    let t = a.tree;
    let mut f = Figures {
        sentinels_ok: true,
        ..Figures::default()
    };
    println!("{}:", kind.name());

    // Fully watched, RSS, watches: a fresh process per run, the last one kept.
    let mut ready = Vec::new();
    let mut rss = Vec::new();
    let mut kept = None;
    for run in 0..a.runs {
        reset(&cx.repo);
        let mut s = cx.start(kind, run);
        s.run.quiescent(&cx.env, Duration::from_secs(1));
        let pid = s.run.pid();
        let r = proc_status_kib(pid, "VmRSS") as f64 / 1024.0;
        let w = inotify_watches(pid as i32);
        let ign = watched_inodes(pid)
            .iter()
            .filter(|i| ignored_inodes.contains(i))
            .count();
        println!(
            "  run {run}: fully watched {:.0} ms, RSS {r:.1} MiB, OS watches {} at ready / {w} settled ({ign} in ignored dirs)",
            s.ready_ms, s.watches_at_ready
        );
        ready.push(s.ready_ms);
        rss.push(r);
        (f.watches, f.in_ignored, f.watches_at_ready) = (w, ign, s.watches_at_ready);
        if run + 1 < a.runs {
            s.run.stop(&cx.env);
        } else {
            kept = Some(s.run);
        }
    }
    f.ready_ms = median(&mut ready);
    f.rss_mib = median(&mut rss);
    let mut r = kept.unwrap();
    let pid = r.pid();

    // Write → trigger, beyond the tool's debounce.
    let mut lat = Vec::new();
    for i in 0..a.writes {
        let mut g = i * (t.files / a.writes) + 1;
        if !t.untouched_by_checkout(g) {
            g += 1;
        }
        let path = cx.repo.join(t.src_path(g));
        let mut text = fs::read_to_string(&path).unwrap();
        text.push_str(&format!("// edit {i}\n"));
        let n = r.triggers().len();
        fs::write(&path, text).unwrap();
        let written = now_f64();
        let at = wait_for("the write's trigger", Duration::from_secs(60), || {
            r.triggers().get(n).copied()
        });
        lat.push((at - written) * 1e3 - r.settle_ms);
        r.quiescent(&cx.env, Duration::from_millis(300));
        f.extra_triggers += r.triggers().len() - n - 1;
    }
    f.lat_p50 = pct(&mut lat, 0.5);
    f.lat_p99 = pct(&mut lat, 0.99);
    f.lat_max = pct(&mut lat, 1.0);
    println!(
        "  write → trigger beyond {} ms: p50 {:.1} / p99 {:.1} / max {:.1} ms, extra triggers {}",
        r.settle_ms, f.lat_p50, f.lat_p99, f.lat_max, f.extra_triggers
    );

    // Idle CPU.
    let before = r.quiescent(&cx.env, Duration::from_secs(1));
    let n = r.triggers().len();
    let w = Instant::now();
    while w.elapsed() < Duration::from_secs(a.idle_s) {
        std::thread::sleep(Duration::from_millis(200)); // the measurement window itself
    }
    let after = cpu_ticks(pid);
    f.idle_ticks = (after.0 + after.1) - (before.0 + before.1);
    f.idle_triggers = r.triggers().len() - n;
    println!(
        "  idle {} s: {} + {} ticks (self + children), triggers {}",
        a.idle_s,
        after.0 - before.0,
        after.1 - before.1,
        f.idle_triggers
    );

    // Checkouts of the other branch and back, each followed by a sentinel.
    let mut cpu = Vec::new();
    let mut span = Vec::new();
    for (i, branch) in ["other", "main"].iter().enumerate() {
        let before = r.quiescent(&cx.env, Duration::from_secs(1));
        let n = r.triggers().len();
        let tg = Instant::now();
        git(&cx.repo, &["checkout", "-q", branch]);
        let git_ms = tg.elapsed().as_secs_f64() * 1e3;
        let after = r.quiescent(&cx.env, Duration::from_secs(1));
        let trig = r.triggers().split_off(n);
        let ms = ticks_ms((after.0 + after.1) - (before.0 + before.1), hz);
        let (own, kids) = (
            ticks_ms(after.0 - before.0, hz),
            ticks_ms(after.1 - before.1, hz),
        );
        let sp = trig.last().zip(trig.first()).map_or(0.0, |(l, f)| l - f);
        let ok = r.sentinel(&cx.env, &cx.repo, &format!("checkout{i}"));
        f.sentinels_ok &= ok;
        println!(
            "  checkout {branch}: git {git_ms:.0} ms, triggers {} over {sp:.1} s, CPU {own} + {kids} ms (self + children), sentinel fired: {ok}",
            trig.len()
        );
        f.checkout_triggers.push(trig.len());
        cpu.push(ms as f64);
        span.push(sp);
    }
    f.checkout_cpu_ms = median(&mut cpu) as u64;
    f.checkout_span_s = span.iter().copied().fold(0.0, f64::max);

    // Writes into node_modules/ and target/: new directories and files, and edits.
    let before = r.quiescent(&cx.env, Duration::from_secs(1));
    let n = r.triggers().len();
    for i in 0..1000 {
        write_file(
            &cx.repo
                .join(format!("node_modules/cxd-bench/m{:03}/f{i}.js", i / 10)),
            "x\n",
        );
        write_file(
            &cx.repo
                .join(format!("target/cxd-bench/t{:03}/f{i}.o", i / 10)),
            "x\n",
        );
    }
    for i in 0..t.node_modules.min(1000) {
        let p = format!(
            "node_modules/p{:05}/f{}.js",
            i / FILES_PER_IGNORED_DIR,
            i % FILES_PER_IGNORED_DIR
        );
        fs::write(cx.repo.join(p), format!("module.exports = {i} + 1;\n")).unwrap();
    }
    let after = r.quiescent(&cx.env, Duration::from_secs(1));
    f.ignored_triggers = r.triggers().len() - n;
    f.ignored_cpu_ms = ticks_ms((after.0 + after.1) - (before.0 + before.1), hz);
    let ok = r.sentinel(&cx.env, &cx.repo, "ignored");
    f.sentinels_ok &= ok;
    println!(
        "  ignored writes ({} files): triggers {}, CPU {} ms, sentinel fired: {ok}",
        2000 + t.node_modules.min(1000),
        f.ignored_triggers,
        f.ignored_cpu_ms
    );
    f.hwm_mib = proc_status_kib(pid, "VmHWM") as f64 / 1024.0;
    r.stop(&cx.env);
    reset(&cx.repo);
    f
}

// ---------------------------------------------------------------- the run

fn main() {
    let a = parse_args();
    let hz = clk_tck();
    let env = TestEnv::new();
    let repo = a
        .repo
        .clone()
        .unwrap_or_else(|| env.dir.path().join("repo"));
    let t = a.tree;
    println!("machine: {}", machine());
    let mut versions = Vec::new();
    for k in &a.tools {
        versions.push(match k {
            Kind::Cxd => format!("cxd (quiet_ms {}, subtracted)", a.quiet_ms),
            Kind::Watchexec => format!("{} (--debounce 0)", version(&watchexec_bin())),
            Kind::Watchman => format!(
                "watchman {} (settle {} ms, subtracted)",
                version(Path::new("watchman")),
                a.settle_ms
            ),
        });
    }
    println!("tools: {}", versions.join("; "));
    println!(
        "bench-compare: {} files in {} source dirs, node_modules/ {} files, target/ {} files; checkout changes {}",
        t.files, t.dirs, t.node_modules, t.target, t.checkout
    );
    t.build(&repo);
    let repo = fs::canonicalize(&repo).unwrap();
    let (expected_dirs, ignored_inodes) = count_dirs(&repo);
    println!(
        "  {} entries stat'ed to warm the cache; {expected_dirs} non-ignored dirs",
        warm(&repo)
    );
    let mut cx = Ctx { a: &a, env, repo };

    let mut all = Vec::new();
    for &k in &a.tools {
        all.push((k, measure(&mut cx, k, hz, &ignored_inodes)));
    }

    // The table: a column per tool, ratios against cxd where cxd was measured.
    let base = all.iter().find(|(k, _)| *k == Kind::Cxd).map(|(_, f)| f);
    println!();
    println!("machine: {}", machine());
    println!(
        "tree: {} files in {} dirs ({expected_dirs} not ignored) + node_modules/ {} + target/ {} files (ignored); checkout changes {}",
        t.files, t.dirs, t.node_modules, t.target, t.checkout
    );
    let mut head = format!("{:<52}", "figure");
    for (k, _) in &all {
        head.push_str(&format!(" {:>22}", k.name()));
    }
    println!("{head}");
    let row = |label: &str, get: &dyn Fn(&Figures) -> f64, fmt: &dyn Fn(f64) -> String| {
        let mut line = format!("{label:<52}");
        for (k, f) in &all {
            let v = get(f);
            let mut cell = fmt(v);
            if let Some(b) = base.filter(|_| *k != Kind::Cxd) {
                let bv = get(b);
                if bv > 0.0 {
                    cell.push_str(&format!(" ×{:.1}", v / bv));
                } else if v > 0.0 {
                    cell.push_str(" (cxd 0)");
                }
            }
            line.push_str(&format!(" {cell:>22}"));
        }
        println!("{line}");
    };
    let text_row = |label: &str, get: &dyn Fn(&Figures) -> String| {
        let mut line = format!("{label:<52}");
        for (_, f) in &all {
            line.push_str(&format!(" {:>22}", get(f)));
        }
        println!("{line}");
    };
    let ms0 = |v: f64| format!("{v:.0} ms");
    let ms1 = |v: f64| format!("{v:.1} ms");
    let int = |v: f64| format!("{v:.0}");
    row(
        &format!("fully watched (median of {})", a.runs),
        &|f| f.ready_ms,
        &ms0,
    );
    row("RSS after watching (median)", &|f| f.rss_mib, &|v| {
        format!("{v:.1} MiB")
    });
    row("  peak RSS at the end (VmHWM)", &|f| f.hwm_mib, &|v| {
        format!("{v:.1} MiB")
    });
    row("OS inotify watches held", &|f| f.watches as f64, &int);
    text_row("  at ready / in ignored dirs", &|f| {
        format!("{} / {}", f.watches_at_ready, f.in_ignored)
    });
    row(
        &format!("write → trigger p50, n={} (debounce subtracted)", a.writes),
        &|f| f.lat_p50,
        &ms1,
    );
    row("write → trigger p99", &|f| f.lat_p99, &ms1);
    text_row("  extra triggers over the single writes", &|f| {
        f.extra_triggers.to_string()
    });
    row(
        &format!("idle CPU over {} s (ticks, self + children)", a.idle_s),
        &|f| f.idle_ticks as f64,
        &int,
    );
    text_row(
        &format!("{}-file checkout: triggers (there / back)", t.checkout),
        &|f| {
            f.checkout_triggers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" / ")
        },
    );
    row(
        "  CPU per checkout (larger, self + children)",
        &|f| f.checkout_cpu_ms as f64,
        &ms0,
    );
    text_row("  first → last trigger (longest)", &|f| {
        format!("{:.1} s", f.checkout_span_s)
    });
    text_row("writes into node_modules/, target/: triggers", &|f| {
        f.ignored_triggers.to_string()
    });
    row(
        "  CPU for them (self + children)",
        &|f| f.ignored_cpu_ms as f64,
        &ms0,
    );
    text_row("every sentinel write triggered afterwards", &|f| {
        f.sentinels_ok.to_string()
    });
    println!(
        "(×N: the tool's figure over cxd's; a trigger is a codex start for cxd, a command run for the others)"
    );
}
