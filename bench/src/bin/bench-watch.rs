//! Watching a big repository with the real release `cxd` and the fake codex (the targets:
//! ARCHITECTURE.md, "Targets"):
//! `cxd watch` → fully watched, OS watches, RSS, write → codex started beyond `quiet_ms`, idle
//! CPU, and how many reviews a checkout, a write burst and writes into ignored directories
//! cause. Run through `bench/run watch [--files N --dirs D ...]`.
//!
//! Nothing waits on a fixed sleep: every step polls a condition with a deadline. "No review"
//! is proven by a sentinel write afterwards whose review must cover only the sentinel.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cxd_bench::tree::{
    FILES_PER_IGNORED_DIR, Tree, clk_tck, count_dirs, cpu_ticks, median, now_f64, pct,
    proc_status_kib, ticks_ms, watched_inodes, write_file,
};
use cxd_e2e::{TestEnv, fake_codex, git, inotify_watches, wait_for};
use serde_json::Value;

const QUIET_MS: u64 = 200;
const MAX_WAIT_MS: u64 = 5000;

struct Args {
    files: usize,
    dirs: usize,
    node_modules: usize,
    target: usize,
    checkout: usize,
    burst: usize,
    writes: usize,
    runs: usize,
    idle_s: u64,
    repo: Option<PathBuf>,
}

fn usage() -> ! {
    eprintln!(
        "usage: bench-watch [--files N] [--dirs D] [--node-modules N] [--target N] [--checkout N] \
         [--burst N] [--writes N] [--runs N] [--idle-s S] [--repo DIR (kept and reused)]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        files: 100_000,
        dirs: 10_000,
        node_modules: 50_000,
        target: 20_000,
        checkout: 5_000,
        burst: 2_000,
        writes: 50,
        runs: 3,
        idle_s: 30,
        repo: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let val = it.next().unwrap_or_else(|| usage());
        let n = || val.parse::<usize>().unwrap_or_else(|_| usage());
        match flag.as_str() {
            "--files" => a.files = n(),
            "--dirs" => a.dirs = n(),
            "--node-modules" => a.node_modules = n(),
            "--target" => a.target = n(),
            "--checkout" => a.checkout = n(),
            "--burst" => a.burst = n(),
            "--writes" => a.writes = n(),
            "--runs" => a.runs = n(),
            "--idle-s" => a.idle_s = n() as u64,
            "--repo" => a.repo = Some(PathBuf::from(&val)),
            _ => usage(),
        }
    }
    if a.dirs == 0 || a.files < a.dirs || a.checkout > a.files / 2 || a.burst > a.files / 4 {
        eprintln!("need dirs ≥ 1, files ≥ dirs, checkout ≤ files/2, burst ≤ files/4");
        usage();
    }
    a
}

// ---------------------------------------------------------------- the synthetic repository

fn tree(a: &Args) -> Tree {
    Tree {
        files: a.files,
        dirs: a.dirs,
        node_modules: a.node_modules,
        target: a.target,
        checkout: a.checkout,
    }
}

/// Source file `g` (0..files): its path relative to the root.
fn src_path(a: &Args, g: usize) -> String {
    tree(a).src_path(g)
}

// ---------------------------------------------------------------- the daemon

/// `bench-stamp`: records when codex is exec'd, then runs the fake codex.
fn codex_stamp() -> PathBuf {
    cxd_bench::stamp_bin()
}

fn exec_log(env: &TestEnv) -> PathBuf {
    env.dir.path().join("codex-exec-times")
}

/// Every exec time the stamp recorded, in order.
fn exec_times(env: &TestEnv) -> Vec<f64> {
    fs::read_to_string(exec_log(env))
        .unwrap_or_default()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect()
}

struct Daemon {
    child: Child,
}

impl Daemon {
    /// `cxd daemon` at its default log level, waited for until it answers.
    fn start(env: &TestEnv, log: &Path) -> Self {
        let log = File::create(log).unwrap();
        let child = env
            .cmd(&["daemon", "--log-stderr"])
            .env("CXD_CODEX_BIN", codex_stamp())
            .env("CXD_BENCH_REAL_CODEX", fake_codex())
            .env("CXD_BENCH_EXEC_LOG", exec_log(env))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut d = Self { child };
        wait_for("the daemon to answer", Duration::from_secs(20), || {
            assert!(d.child.try_wait().unwrap().is_none(), "the daemon exited");
            env.run(&["status", "--json"])
                .status
                .success()
                .then_some(())
        });
        d
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(mut self, env: &TestEnv) {
        env.ok(&["stop"]);
        wait_for("the daemon to exit", Duration::from_secs(20), || {
            self.child.try_wait().unwrap()
        });
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The single watched workspace in `cxd status --json`.
fn workspace(env: &TestEnv) -> Value {
    env.status_json()["workspaces"][0].clone()
}

/// The changed files a review prompt lists.
fn prompt_files(call: &Value) -> Vec<String> {
    let prompt = call["prompt"].as_str().unwrap_or_default();
    let Some(start) = prompt.find("\nChanged files (") else {
        return Vec::new();
    };
    prompt[start + 1..]
        .lines()
        .skip(1)
        .map_while(|l| l.strip_prefix("- "))
        // Each path is a JSON string (the prompt keeps repository text as data).
        .map(|l| {
            let quoted = l.rsplit_once(" (").map_or(l, |(p, _)| p);
            serde_json::from_str::<String>(quoted).unwrap_or_else(|_| quoted.to_owned())
        })
        .collect()
}

/// Wait for the codex calls past `calls_before` to appear and the workspace to be idle with
/// every review finished; returns the new calls.
fn wait_reviewed(env: &TestEnv, calls_before: usize, reviews_before: u64) -> Vec<Value> {
    wait_for("codex to be started", Duration::from_secs(60), || {
        (env.codex_calls().len() > calls_before).then_some(())
    });
    wait_for("the review to finish", Duration::from_secs(120), || {
        let w = workspace(env);
        let n = env.codex_calls().len() as u64;
        let done = w["state"] == "idle"
            && w["pending_files"] == 0
            && w["reviews"].as_u64().unwrap() >= reviews_before + n - calls_before as u64;
        done.then_some(())
    });
    env.codex_calls().split_off(calls_before)
}

/// Wait until the daemon is idle with nothing pending and has used no CPU for a full second
/// (ticks polled); returns the ticks at that point. No request follows the quiet second: the
/// CPU a status request costs would otherwise count in what is measured next.
fn wait_quiescent(env: &TestEnv, pid: u32) -> (u64, u64) {
    wait_for("the workspace to be idle", Duration::from_secs(120), || {
        let w = workspace(env);
        (w["state"] == "idle" && w["pending_files"] == 0).then_some(())
    });
    let mut last = cpu_ticks(pid);
    let mut since = Instant::now();
    wait_for("the daemon to go quiet", Duration::from_secs(120), || {
        let now = cpu_ticks(pid);
        if now != last {
            last = now;
            since = Instant::now();
        }
        (since.elapsed() >= Duration::from_secs(1)).then_some(())
    });
    last
}

/// Write a sentinel file and wait for its review: returns (reviews started, whether the only
/// review covered exactly the sentinel, what that review listed).
fn sentinel(
    env: &TestEnv,
    repo: &Path,
    calls_before: usize,
    label: &str,
) -> (usize, bool, Vec<String>) {
    let reviews = workspace(env)["reviews"].as_u64().unwrap();
    let calls_now = env.codex_calls().len();
    let name = format!("sentinel-{label}.txt");
    fs::write(repo.join(&name), format!("{label}\n")).unwrap();
    let new = wait_reviewed(env, calls_now, reviews);
    let listed = new.last().map(prompt_files).unwrap_or_default();
    let only = new.len() == 1 && listed == [name];
    (calls_now - calls_before, only, listed)
}

/// Seconds from spawning the fake codex to the `time` it logs (interpreter start-up and
/// reading the prompt): the floor under the latency figure that is not cxd's.
fn fake_codex_floor(env: &TestEnv) -> f64 {
    let dir = env.dir.path().join("floor");
    fs::create_dir_all(&dir).unwrap();
    let log = dir.join("calls.jsonl");
    fs::write(dir.join("script.json"), "[]").unwrap();
    let mut samples: Vec<f64> = (0..11)
        .map(|_| {
            let t0 = now_f64();
            let mut c = Command::new(fake_codex())
                .args(["exec", "--json", "-s", "read-only", "-C"])
                .arg(&dir)
                .arg("-")
                .env("FAKE_CODEX_LOG", &log)
                .env("FAKE_CODEX_STATE", dir.join("state"))
                .env("FAKE_CODEX_SCRIPT", dir.join("script.json"))
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            drop(c.stdin.take());
            c.wait().unwrap();
            let last = fs::read_to_string(&log).unwrap();
            let v: Value = serde_json::from_str(last.lines().last().unwrap()).unwrap();
            v["time"].as_f64().unwrap() - t0
        })
        .collect();
    median(&mut samples)
}

/// Seconds from spawning the stamp to the time it records (its start-up).
fn stamp_floor(env: &TestEnv) -> f64 {
    let log = env.dir.path().join("stamp-floor");
    let mut samples: Vec<f64> = (0..21)
        .map(|_| {
            let t0 = now_f64();
            let st = Command::new(codex_stamp())
                .env("CXD_BENCH_REAL_CODEX", "/bin/true")
                .env("CXD_BENCH_EXEC_LOG", &log)
                .status()
                .unwrap();
            assert!(st.success());
            let text = fs::read_to_string(&log).unwrap();
            text.lines().last().unwrap().parse::<f64>().unwrap() - t0
        })
        .collect();
    median(&mut samples)
}

/// Milliseconds the git half of a one-file review costs on this repo outside the daemon (a
/// diagnostic for the latency figure): a fresh copy of the user's index as a private index,
/// then `git add -A -- FILE` and `git write-tree` into a private object dir; median of 11.
fn git_floor(env: &TestEnv, repo: &Path, rel: &str) -> f64 {
    let dir = env.dir.path().join("git-floor");
    fs::create_dir_all(dir.join("objects")).unwrap();
    let index = dir.join("index");
    let git = |args: &[&str]| {
        let st = Command::new("git")
            .args(args)
            .current_dir(repo)
            .env("GIT_INDEX_FILE", &index)
            .env("GIT_OBJECT_DIRECTORY", dir.join("objects"))
            .env(
                "GIT_ALTERNATE_OBJECT_DIRECTORIES",
                repo.join(".git/objects"),
            )
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "git {args:?}");
    };
    let mut samples: Vec<f64> = (0..11)
        .map(|_| {
            fs::copy(repo.join(".git/index"), &index).unwrap();
            let t = Instant::now();
            git(&["add", "-A", "--", rel]);
            git(&["write-tree", "--missing-ok"]);
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    median(&mut samples)
}

// ---------------------------------------------------------------- the run

fn main() {
    let a = parse_args();
    let hz = clk_tck();
    let mut env = TestEnv::new();
    let repo = a
        .repo
        .clone()
        .unwrap_or_else(|| env.dir.path().join("repo"));
    println!(
        "bench-watch: {} files in {} source dirs, node_modules/ {} files, target/ {} files; checkout changes {}",
        a.files, a.dirs, a.node_modules, a.target, a.checkout
    );
    tree(&a).build(&repo);
    let repo = fs::canonicalize(&repo).unwrap();
    let (expected_dirs, ignored_inodes) = count_dirs(&repo);
    let config = format!("[settle]\nquiet_ms = {QUIET_MS}\nmax_wait_ms = {MAX_WAIT_MS}\n");
    let repo_s = repo.to_str().unwrap().to_string();

    // 1 + 2: `cxd watch` → fully watched, watches, RSS; a fresh daemon and state dir per run.
    let base_state = env.state.clone();
    let mut watch_ms = Vec::new();
    let mut rss_mib = Vec::new();
    let mut runs = Vec::new();
    let mut daemon = None;
    for run in 0..a.runs {
        env.state = base_state.with_file_name(format!("state-{run}"));
        env.write_config(&config);
        let d = Daemon::start(&env, &env.dir.path().join(format!("daemon-{run}.log")));
        let t = Instant::now();
        let out = env.run(&["watch", &repo_s]);
        let ms = t.elapsed().as_secs_f64() * 1e3;
        assert!(
            out.status.success(),
            "cxd watch: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let w = workspace(&env);
        let kernel = inotify_watches(d.pid() as i32);
        let in_ignored = watched_inodes(d.pid())
            .iter()
            .filter(|i| ignored_inodes.contains(i))
            .count();
        let rss = proc_status_kib(d.pid(), "VmRSS") as f64 / 1024.0;
        println!(
            "  run {run}: watch {ms:.0} ms, os_watches {}, kernel {kernel} (in ignored dirs {in_ignored}), RSS {rss:.1} MiB, warnings {}",
            w["os_watches"], w["warnings"]
        );
        watch_ms.push(ms);
        rss_mib.push(rss);
        runs.push((w["os_watches"].as_u64().unwrap(), kernel, in_ignored));
        if run + 1 < a.runs {
            d.stop(&env);
        } else {
            daemon = Some(d);
        }
    }
    let d = daemon.unwrap();
    let pid = d.pid();

    // 3: write → codex started, beyond quiet_ms.
    let floor = fake_codex_floor(&env);
    let sfloor = stamp_floor(&env);
    let mut lat_ms = Vec::new();
    let mut exec_ms = Vec::new();
    let mut last_rel = String::new();
    let mut extra_reviews = 0;
    wait_quiescent(&env, pid);
    for i in 0..a.writes {
        let reviews = workspace(&env)["reviews"].as_u64().unwrap();
        let calls = env.codex_calls().len();
        let execs = exec_times(&env).len();
        // Files the other branch leaves alone, so the local edits do not block the checkouts.
        let mut g = i * (a.files / a.writes) + 1;
        if g.is_multiple_of(a.files / a.checkout.max(1)) {
            g += 1;
        }
        let rel = src_path(&a, g);
        let path = repo.join(&rel);
        let mut text = fs::read_to_string(&path).unwrap();
        text.push_str(&format!("// edit {i}\n"));
        fs::write(&path, text).unwrap();
        let written = now_f64();
        let new = wait_reviewed(&env, calls, reviews);
        last_rel.clone_from(&rel);
        extra_reviews += new.len() - 1;
        assert_eq!(
            prompt_files(&new[0]),
            std::slice::from_ref(&rel),
            "review {i} listed other files"
        );
        let started = new[0]["time"].as_f64().unwrap();
        lat_ms.push((started - written) * 1e3 - QUIET_MS as f64);
        let exec = exec_times(&env)[execs];
        exec_ms.push((exec - written) * 1e3 - QUIET_MS as f64);
    }
    let lat_p50 = pct(&mut lat_ms, 0.5);
    let lat_p99 = pct(&mut lat_ms, 0.99);
    let lat_max = pct(&mut lat_ms, 1.0);
    let lat_min = pct(&mut lat_ms, 0.0);
    let exec_p50 = pct(&mut exec_ms, 0.5);
    let exec_p99 = pct(&mut exec_ms, 0.99);
    let exec_max = pct(&mut exec_ms, 1.0);
    let exec_min = pct(&mut exec_ms, 0.0);

    let git_ms = git_floor(&env, &repo, &last_rel);

    // 4: idle CPU.
    let before = wait_quiescent(&env, pid);
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(a.idle_s) {
        std::thread::sleep(Duration::from_millis(200)); // the measurement window itself
    }
    let after = cpu_ticks(pid);
    let idle = (after.0 - before.0, after.1 - before.1);

    // 5a: checkouts of the other branch (and back), each followed by a sentinel.
    let mut co = Vec::new();
    for (i, branch) in ["other", "main", "other"].iter().enumerate() {
        let calls = env.codex_calls().len();
        let before = wait_quiescent(&env, pid);
        let t = Instant::now();
        git(&repo, &["checkout", "-q", branch]);
        let git_ms = t.elapsed().as_secs_f64() * 1e3;
        let after = wait_quiescent(&env, pid);
        let warnings = workspace(&env)["warnings"].clone();
        let (reviews, only, listed) = sentinel(&env, &repo, calls, &format!("checkout{i}"));
        println!(
            "  checkout {branch}: git {git_ms:.0} ms, reviews {reviews}, daemon CPU {} ms (+ children {} ms), sentinel alone: {only} ({} files listed), warnings {warnings}",
            ticks_ms(after.0 - before.0, hz),
            ticks_ms(after.1 - before.1, hz),
            listed.len()
        );
        co.push((
            reviews,
            only,
            (after.0 - before.0) as f64,
            (after.1 - before.1) as f64,
        ));
    }

    // 5b: write bursts.
    let mut bursts = Vec::new();
    for r in 0..3 {
        let calls = env.codex_calls().len();
        let reviews = workspace(&env)["reviews"].as_u64().unwrap();
        wait_quiescent(&env, pid);
        let step = a.files / a.burst;
        let t = Instant::now();
        for i in 0..a.burst {
            let path = repo.join(src_path(&a, i * step + 1 + r));
            let mut text = fs::read_to_string(&path).unwrap();
            text.push_str(&format!("// burst {r}\n"));
            fs::write(&path, text).unwrap();
        }
        let write_ms = t.elapsed().as_secs_f64() * 1e3;
        let new = wait_reviewed(&env, calls, reviews);
        wait_quiescent(&env, pid);
        let listed: usize = new.iter().map(|c| prompt_files(c).len()).sum();
        let (extra, only, _) = sentinel(&env, &repo, calls + new.len(), &format!("burst{r}"));
        let total = new.len() + extra;
        println!(
            "  burst {r}: {} files written in {write_ms:.0} ms, reviews {total} listing {listed} files, sentinel alone: {only}, warnings {}",
            a.burst,
            workspace(&env)["warnings"]
        );
        bursts.push((total, only));
    }

    // 5c: writes into node_modules/ and target/.
    let calls = env.codex_calls().len();
    wait_quiescent(&env, pid);
    let ign_before = cpu_ticks(pid);
    for i in 0..1000 {
        write_file(
            &repo.join(format!("node_modules/cxd-bench/m{:03}/f{i}.js", i / 10)),
            "x\n",
        );
        write_file(
            &repo.join(format!("target/cxd-bench/t{:03}/f{i}.o", i / 10)),
            "x\n",
        );
    }
    for i in 0..a.node_modules.min(1000) {
        let p = format!(
            "node_modules/p{:05}/f{}.js",
            i / FILES_PER_IGNORED_DIR,
            i % FILES_PER_IGNORED_DIR
        );
        fs::write(repo.join(p), format!("module.exports = {i} + 1;\n")).unwrap();
    }
    let ign_after = wait_quiescent(&env, pid);
    let (ign_reviews, ign_only, ign_listed) = sentinel(&env, &repo, calls, "ignored");
    println!(
        "  ignored writes (3 000 files): reviews {ign_reviews}, daemon CPU {} ms, sentinel alone: {ign_only} (listed {ign_listed:?})",
        ticks_ms(ign_after.0 - ign_before.0, hz)
    );
    let final_w = workspace(&env);
    let hwm = proc_status_kib(pid, "VmHWM") as f64 / 1024.0;
    let rss_end = proc_status_kib(pid, "VmRSS") as f64 / 1024.0;
    d.stop(&env);

    // The table.
    let (osw, kern, inign) = runs[runs.len() / 2];
    let co_reviews: usize = co.iter().map(|c| c.0).sum();
    let co_only = co.iter().all(|c| c.1);
    let mut co_self: Vec<f64> = co.iter().map(|c| c.2).collect();
    let mut co_child: Vec<f64> = co.iter().map(|c| c.3).collect();
    let burst_counts: Vec<String> = bursts.iter().map(|b| b.0.to_string()).collect();
    let ms = |t: f64| t * 1000.0 / hz as f64;
    println!();
    println!(
        "{:<58} {:>26}   target (ARCHITECTURE.md)",
        "figure", "measured"
    );
    let row = |f: &str, m: String, t: &str| println!("{f:<58} {m:>26}   {t}");
    row(
        &format!("`cxd watch` → fully watched (median of {})", a.runs),
        format!("{:.0} ms", median(&mut watch_ms)),
        "≤ 400 ms (100 000 files)",
    );
    row(
        "daemon RSS after watching (median)",
        format!("{:.1} MiB", median(&mut rss_mib)),
        "≤ 15 MiB",
    );
    row(
        "OS watches: status / kernel / non-ignored dirs (+2 .git)",
        format!("{osw} / {kern} / {expected_dirs}"),
        "one per non-ignored dir",
    );
    row(
        "OS watches on dirs inside node_modules/, target/",
        inign.to_string(),
        "0",
    );
    row(
        &format!("write → codex exec'd beyond quiet_ms, n={}", a.writes),
        format!("p50 {exec_p50:.1} / p99 {exec_p99:.1} ms"),
        "p50 ≤ 5 ms, p99 ≤ 10 ms",
    );
    row(
        &format!(
            "  min / max (stamp start-up {:.1} ms included)",
            sfloor * 1e3
        ),
        format!("{exec_min:.1} / {exec_max:.1} ms"),
        "",
    );
    row(
        "  same to the fake codex's own `time` (python start-up)",
        format!("p50 {lat_p50:.1} / p99 {lat_p99:.1} ms"),
        "",
    );
    row(
        &format!(
            "  min / max; python start-up alone {:.1} ms (median)",
            floor * 1e3
        ),
        format!("{lat_min:.1} / {lat_max:.1} ms"),
        "",
    );
    row(
        "  git alone per one-file snapshot (add -A FILE + write-tree)",
        format!("{git_ms:.1} ms"),
        "",
    );
    row(
        "  extra reviews during the single writes",
        extra_reviews.to_string(),
        "0",
    );
    row(
        &format!("idle CPU over {} s (daemon + children)", a.idle_s),
        format!("{} + {} ticks", idle.0, idle.1),
        "0 ticks over 60 s",
    );
    row(
        &format!(
            "checkout of {} files ×3: reviews (sentinel alone: {co_only})",
            a.checkout
        ),
        co_reviews.to_string(),
        "0",
    );
    row(
        "  daemon CPU per checkout (median), + git children",
        format!(
            "{:.0} ms + {:.0} ms",
            ms(median(&mut co_self)),
            ms(median(&mut co_child))
        ),
        "≤ 170 ms",
    );
    row(
        &format!("{}-file write burst ×3: reviews each", a.burst),
        burst_counts.join(", "),
        "exactly 1",
    );
    row(
        &format!("writes into node_modules/, target/: reviews (sentinel alone: {ign_only})"),
        ign_reviews.to_string(),
        "0",
    );
    row(
        "daemon RSS at the end / peak (VmHWM)",
        format!("{rss_end:.1} / {hwm:.1} MiB"),
        "",
    );
    println!("final workspace warnings: {}", final_w["warnings"]);

    if a.repo.is_some() {
        git(&repo, &["checkout", "-q", "-f", "main"]);
        git(&repo, &["clean", "-fdq"]);
    }
}
