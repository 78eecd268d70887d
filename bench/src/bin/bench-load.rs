//! Load: 200 concurrent clients doing status round trips for 30 s while 10 000-file write
//! bursts are settled in a watched repo, twice: paced (each client asks, waits for the answer,
//! then pauses 10 ms, as a status bar or an editor integration does) and back to back; then
//! the daemon's memory after 1 000 stored reviews and the store's size per review. Run
//! through `bench/run load`.
//!
//! `bench-load [clients|reviews] [--pace-ms N]`: `clients` or `reviews` runs only that part;
//! `--pace-ms N` runs the crowd once with that pause (0 = back to back) instead of both modes.
//! `CXD_LOAD_CLIENTS`, `CXD_LOAD_SECS`, `CXD_LOAD_FILES` and `CXD_LOAD_REVIEWS` change the
//! defaults (200, 30, 10 000, 1 000).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cxd_bench::{mib, rss_kib, summarize};
use cxd_e2e::{TestEnv, git, init_repo, wait_for};
use cxd_proto::{Hello, Request, Response, read_frame, write_frame};

const T: Duration = Duration::from_secs(120);
/// What a status p99 during a burst must stay under, in both modes.
const TARGET_P99_MS: f64 = 5.0;
/// The paced clients' pause between an answer and their next request.
const DEFAULT_PACE_MS: u64 = 10;

fn var(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn connect(socket: &Path) -> std::io::Result<UnixStream> {
    let mut s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write_frame(&mut s, &Hello::new()).map_err(std::io::Error::other)?;
    match read_frame::<_, Response>(&mut s) {
        Ok(Response::Welcome { .. }) => Ok(s),
        other => Err(std::io::Error::other(format!("handshake: {other:?}"))),
    }
}

/// One request, one answer.
fn ask(s: &mut UnixStream, req: &Request) -> Result<Response, String> {
    write_frame(s, req).map_err(|e| e.to_string())?;
    read_frame(s).map_err(|e| e.to_string())
}

fn status_of(s: &mut UnixStream) -> serde_json::Value {
    match ask(s, &Request::Status { path: None }).unwrap() {
        Response::Status(r) => serde_json::to_value(&r.workspaces[0]).unwrap(),
        other => panic!("status: {other:?}"),
    }
}

/// The store's size with the daemon stopped: the WAL checkpointed into the database, then the
/// pages in use (free pages not counted), and the bytes of each table and index.
fn store_bytes(state: &Path) -> (u64, Vec<(String, u64)>) {
    let c = rusqlite::Connection::open(state.join("cxd.sqlite")).unwrap();
    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    let q = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap() as u64;
    let used = (q("PRAGMA page_count") - q("PRAGMA freelist_count")) * q("PRAGMA page_size");
    let mut by_name = Vec::new();
    if let Ok(mut st) =
        c.prepare("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC")
    {
        let rows = st
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })
            .unwrap();
        by_name = rows.map(Result::unwrap).collect();
    }
    (used, by_name)
}

/// Write (or rewrite) `n` files spread over 100 directories.
fn burst(repo: &Path, n: u64, round: u64) {
    for i in 0..n {
        let p = repo.join(format!("src/d{:02}/f{i:05}.txt", i % 100));
        std::fs::write(p, format!("burst {round} file {i}\n")).unwrap();
    }
}

struct Sample {
    at: Duration,
    took: Duration,
}

/// The machine's 1-minute load average, to print beside each figure.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

fn load(pace: Duration) {
    let clients = var("CXD_LOAD_CLIENTS", 200);
    let secs = var("CXD_LOAD_SECS", 30);
    let files = var("CXD_LOAD_FILES", 10_000);

    let env = TestEnv::new();
    env.write_config("[settle]\nquiet_ms = 300\nmax_wait_ms = 5000\n");
    let repo = init_repo(env.dir.path(), "repo");
    for d in 0..100 {
        let dir = repo.join(format!("src/d{d:02}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("keep"), "").unwrap();
    }
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "dirs"]);
    let mut d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    let pid = d.pid();
    let socket = env.socket();
    let mut probe = connect(&socket).unwrap();
    wait_for("the workspace idle", T, || {
        (status_of(&mut probe)["state"] == "idle").then_some(())
    });
    let rss_before = rss_kib(pid);

    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let load_at_start = loadavg();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (socket, stop, errors) = (socket.clone(), stop.clone(), errors.clone());
            std::thread::spawn(move || {
                let mut samples = Vec::new();
                let mut s = match connect(&socket) {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!("connect: {e}");
                        errors.fetch_add(1, Ordering::Relaxed);
                        return samples;
                    }
                };
                while !stop.load(Ordering::Relaxed) {
                    let at = start.elapsed();
                    let t = Instant::now();
                    match ask(&mut s, &Request::Status { path: None }) {
                        Ok(Response::Status(_)) => {
                            samples.push(Sample {
                                at,
                                took: t.elapsed(),
                            });
                            if !pace.is_zero() {
                                std::thread::sleep(pace);
                            }
                        }
                        other => {
                            eprintln!("status: {other:?}");
                            errors.fetch_add(1, Ordering::Relaxed);
                            match connect(&socket) {
                                Ok(n) => s = n,
                                Err(_) => return samples,
                            }
                        }
                    }
                }
                samples
            })
        })
        .collect();

    // Bursts: create every file, then rewrite them all, each settled while the clients run.
    let mut windows = Vec::new();
    let mut reviews_seen = 0;
    for round in 0..2 {
        let t0 = start.elapsed();
        burst(&repo, files, round);
        let written = start.elapsed();
        let settled = wait_for("the burst reviewed", T, || {
            let w = status_of(&mut probe);
            (w["reviews"].as_u64() > Some(reviews_seen) && w["state"] == "idle").then_some(w)
        });
        reviews_seen = settled["reviews"].as_u64().unwrap();
        let t1 = start.elapsed();
        println!(
            "burst {}: {files} files written in {:.0} ms, settled and reviewed {:.0} ms after the first write",
            round + 1,
            (written - t0).as_secs_f64() * 1e3,
            (t1 - t0).as_secs_f64() * 1e3
        );
        windows.push((t0, t1));
        if start.elapsed() > Duration::from_secs(secs) {
            break;
        }
        if round == 0 {
            // The second burst halfway through the run.
            let half = Duration::from_secs(secs / 2);
            while start.elapsed() < half {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    while start.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let samples: Vec<Sample> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let wall = start.elapsed();
    let load_at_end = loadavg();
    let rss_after = rss_kib(pid);
    let in_burst = |s: &Sample| windows.iter().any(|&(a, b)| s.at >= a && s.at <= b);
    let mut all: Vec<Duration> = samples.iter().map(|s| s.took).collect();
    let mut burst_only: Vec<Duration> = samples
        .iter()
        .filter(|s| in_burst(s))
        .map(|s| s.took)
        .collect();
    let all_s = summarize(&mut all);
    let burst_s = summarize(&mut burst_only);
    std::thread::sleep(Duration::from_secs(10));
    let rss_idle = rss_kib(pid);
    let status = status_of(&mut probe);
    drop(probe);
    env.ok(&["stop"]);
    d.wait_exit(T);
    // Control: a fresh daemon over the tree as the bursts left it (10 000 more files) and a
    // review of it, to tell memory kept for the bigger tree from memory not given back.
    std::fs::write(repo.join("README"), "control\n").unwrap();
    let fresh = env.start_daemon();
    env.ok(&["review", "--wait", repo.to_str().unwrap()]);
    let rss_control = rss_kib(fresh.pid());
    drop(fresh);

    let mode = if pace.is_zero() {
        "back to back".to_owned()
    } else {
        format!("paced: {} ms pause after each answer", pace.as_millis())
    };
    println!();
    println!("| load figure ({mode}) | value |");
    println!("|---|---|");
    println!(
        "| clients × duration | {clients} × {:.1} s |",
        wall.as_secs_f64()
    );
    println!("| load average (1 min) at start / end | {load_at_start} / {load_at_end} |");
    println!(
        "| write bursts settled (files each) | {} ({files}) |",
        windows.len()
    );
    println!("| requests answered | {} |", samples.len());
    println!(
        "| throughput | {:.0} req/s |",
        samples.len() as f64 / wall.as_secs_f64()
    );
    println!("| errors | {} |", errors.load(Ordering::Relaxed));
    println!(
        "| status round trip, whole run p50 / p99 / max | {:.2} / {:.2} / {:.2} ms |",
        all_s.p50_us / 1e3,
        all_s.p99_us / 1e3,
        all_s.max_us / 1e3
    );
    println!(
        "| … during the bursts (n={}) p50 / p99 / max | {:.2} / {:.2} / {:.2} ms (target p99 < {TARGET_P99_MS} ms: {}) |",
        burst_s.n,
        burst_s.p50_us / 1e3,
        burst_s.p99_us / 1e3,
        burst_s.max_us / 1e3,
        if burst_s.p99_us / 1e3 < TARGET_P99_MS {
            "met"
        } else {
            "missed"
        }
    );
    println!("| daemon RSS before | {} |", mib(rss_before));
    println!("| daemon RSS right after | {} |", mib(rss_after));
    println!("| daemon RSS after 10 s idle | {} |", mib(rss_idle));
    println!(
        "| control: fresh daemon on the final tree, after one review | {} |",
        mib(rss_control)
    );
    println!(
        "| reviews / OS watches at the end | {} / {} |",
        status["reviews"], status["os_watches"]
    );
}

/// Drive the daemon through `n` real reviews (one edit, then `Review { wait }` on the socket)
/// with a fast fake codex that approves.
fn reviews() {
    let n = var("CXD_LOAD_REVIEWS", 1_000);
    let env = TestEnv::new();
    // Edits alone never trigger a review here: every review is asked for.
    env.write_config("[settle]\nquiet_ms = 3600000\nmax_wait_ms = 3600000\n");
    let repo = init_repo(env.dir.path(), "repo");
    let mut d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    env.ok(&["stop"]);
    d.wait_exit(T);
    let (bytes_before, tables_before) = store_bytes(&env.state);

    let mut d = env.start_daemon();
    let rss_start = rss_kib(d.pid());
    let mut s = connect(&env.socket()).unwrap();
    let start = Instant::now();
    let mut nothing = 0u64;
    let mut done = 0u64;
    let mut i = 0u64;
    while done < n {
        i += 1;
        std::fs::write(repo.join("README"), format!("edit {i}\n")).unwrap();
        let req = Request::Review {
            path: repo.clone(),
            all: false,
            model: None,
            effort: None,
            wait: true,
        };
        write_frame(&mut s, &req).unwrap();
        loop {
            match read_frame::<_, Response>(&mut s).unwrap() {
                Response::Progress { .. } => {}
                Response::ReviewDone(r) => {
                    assert_eq!(r.review.verdict.as_str(), "approve", "{r:?}");
                    done += 1;
                    break;
                }
                // The watcher had not seen the edit yet: it is reviewed next time round.
                Response::Ok { .. } => {
                    nothing += 1;
                    break;
                }
                other => panic!("review {i}: {other:?}"),
            }
        }
    }
    let took = start.elapsed();
    let rss_driven = rss_kib(d.pid());
    drop(s);
    env.ok(&["stop"]);
    d.wait_exit(T);
    let (bytes_after, tables_after) = store_bytes(&env.state);

    // A fresh daemon over the store that holds them, answering queries about it.
    let d = env.start_daemon();
    let rss_fresh = rss_kib(d.pid());
    let mut s = connect(&env.socket()).unwrap();
    let root = PathBuf::from(&repo);
    for _ in 0..20 {
        let w = status_of(&mut s);
        assert_eq!(w["reviews"].as_u64(), Some(n));
        for req in [
            Request::Findings {
                path: root.clone(),
                all: true,
                severity: None,
                after: None,
            },
            Request::Log {
                path: None,
                limit: 10_000,
            },
        ] {
            assert!(!matches!(ask(&mut s, &req).unwrap(), Response::Error(_)));
        }
    }
    let rss_queried = rss_kib(d.pid());

    println!();
    println!("| store figure | value |");
    println!("|---|---|");
    println!(
        "| reviews driven through the daemon | {done} in {:.1} s ({:.0} ms each; {nothing} asks found the edit not yet seen) |",
        took.as_secs_f64(),
        took.as_secs_f64() * 1e3 / done as f64
    );
    println!("| daemon RSS at start (empty store) | {} |", mib(rss_start));
    println!(
        "| daemon RSS after driving {done} reviews | {} |",
        mib(rss_driven)
    );
    println!(
        "| RSS of a fresh daemon over {done} stored reviews, after status/findings/log | {} (at start {}) |",
        mib(rss_queried),
        mib(rss_fresh)
    );
    println!(
        "| store size: before / after | {} / {} bytes |",
        bytes_before, bytes_after
    );
    println!(
        "| store bytes per review (pages in use, WAL checkpointed) | {:.0} |",
        (bytes_after.saturating_sub(bytes_before)) as f64 / done as f64
    );
    for (name, after) in &tables_after {
        let before = tables_before
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |t| t.1);
        if after > &before {
            println!(
                "| … of which {name} | {:.0} |",
                (after - before) as f64 / done as f64
            );
        }
    }
}

fn main() {
    let mut which = String::new();
    let mut pace: Option<u64> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--pace-ms" => {
                let v = args.next().and_then(|v| v.parse().ok());
                let Some(v) = v else {
                    eprintln!("--pace-ms needs a number of milliseconds (0 = back to back)");
                    std::process::exit(2);
                };
                pace = Some(v);
            }
            "clients" | "reviews" => which = a,
            other => {
                eprintln!("usage: bench-load [clients|reviews] [--pace-ms N] (not {other:?})");
                std::process::exit(2);
            }
        }
    }
    if which.is_empty() || which == "clients" {
        match pace {
            Some(ms) => load(Duration::from_millis(ms)),
            None => {
                load(Duration::from_millis(DEFAULT_PACE_MS));
                load(Duration::ZERO);
            }
        }
    }
    if which.is_empty() || which == "reviews" {
        reviews();
    }
}
