//! Crash safety: `kill -9` the daemon at random moments while reviews run (a fake codex in
//! `slow` mode with random short durations) and edits keep the store busy, then restart it
//! and check the store. Run through `bench/run crash`.
//!
//! Each round: run for a random while (sometimes until a review is under way, sometimes a few
//! milliseconds after reading the committed state), `kill -9`, then
//! - `PRAGMA integrity_check` is `ok` on the database as the kill left it, and again once
//!   the next daemon has opened it;
//! - every review seen finished before the kill (`cxd log --json`) and every one committed
//!   in the database is still there with the same verdict, and so is every finding seen
//!   (`cxd findings --all --json`) or committed;
//! - a review the kill cut short is marked `interrupted` and its change is reviewed again.
//!
//! At the end the edits stop, codex approves, and the workspace must settle on `approve`.
//! `CXD_BENCH_SEED` replays a run's random choices (thread timing still varies);
//! `CXD_CRASH_ROUNDS` changes the number of rounds (30).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cxd_bench::Rng;
use cxd_e2e::{Daemon, TestEnv, init_repo, wait_for};
use rusqlite::{Connection, OpenFlags};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(60);

/// What the store holds, as read straight from the database.
#[derive(Debug, Default)]
struct DbState {
    integrity: String,
    /// Review id → verdict (`running` included).
    reviews: BTreeMap<i64, String>,
    /// Finding id → (title, first review).
    findings: BTreeMap<i64, (String, i64)>,
}

fn open_ro(db: &Path) -> Connection {
    Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap()
}

fn read_db(db: &Path) -> DbState {
    let c = open_ro(db);
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    let integrity: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    let mut st = DbState {
        integrity,
        ..DbState::default()
    };
    let mut q = c.prepare("SELECT id, verdict FROM reviews").unwrap();
    for row in q
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
        .unwrap()
    {
        let (id, v) = row.unwrap();
        st.reviews.insert(id, v);
    }
    let mut q = c
        .prepare("SELECT id, title, first_review FROM findings")
        .unwrap();
    for row in q
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .unwrap()
    {
        let (id, title, first) = row.unwrap();
        st.findings.insert(id, (title, first));
    }
    st
}

/// Is a review running right now (a `running` row)?
fn running_review(db: &Path) -> bool {
    if !db.exists() {
        return false;
    }
    let c = open_ro(db);
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    c.query_row(
        "SELECT count(*) FROM reviews WHERE verdict = 'running'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .unwrap_or(0)
        > 0
}

fn max_review_id(db: &Path) -> i64 {
    let c = open_ro(db);
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    c.query_row("SELECT coalesce(max(id), 0) FROM reviews", [], |r| r.get(0))
        .unwrap()
}

/// What the daemon showed through its API: finished reviews and findings.
#[derive(Debug, Default)]
struct Seen {
    /// Review id → verdict, from `review_finished` log entries.
    reviews: BTreeMap<i64, String>,
    /// Finding id (numeric part of `F12`) → title.
    findings: BTreeMap<i64, String>,
}

fn seen(env: &TestEnv, repo: &Path) -> Seen {
    let mut s = Seen::default();
    for e in env.log_kind("review_finished") {
        s.reviews.insert(
            e["review"].as_i64().unwrap(),
            e["verdict"].as_str().unwrap().to_owned(),
        );
    }
    let out = env.ok(&["findings", "--all", "--json", repo.to_str().unwrap()]);
    let list: Value = serde_json::from_str(&out).unwrap();
    for f in list.as_array().unwrap() {
        let id = f["id"].as_str().unwrap().trim_start_matches('F');
        s.findings
            .insert(id.parse().unwrap(), f["title"].as_str().unwrap().to_owned());
    }
    s
}

/// The fake codex's script: slow reviews of random short length, some with findings.
fn script(rng: &mut Rng, n: usize) -> Value {
    let steps: Vec<Value> = (0..n)
        .map(|i| {
            let seconds = rng.range(50, 800) as f64 / 1000.0;
            let findings: Vec<Value> = if rng.chance(0.4) {
                (0..rng.range(1, 3))
                    .map(|j| {
                        json!({"severity": "medium", "category": "bug", "file": "src/f0.txt",
                               "line_start": 1, "line_end": 1, "title": format!("finding {i}.{j}"),
                               "body": "b", "recommendation": "r", "confidence": 0.8})
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let verdict = if findings.is_empty() {
                "approve"
            } else {
                "changes_requested"
            };
            json!({"mode": "slow", "seconds": seconds, "answer": {
                "verdict": verdict, "summary": format!("step {i}"),
                "findings": findings, "fixed_finding_ids": []}})
        })
        .collect();
    Value::Array(steps)
}

/// Edits files in the repo at random intervals while `on` is set, until `stop`.
fn writer(repo: PathBuf, seed: u64, on: Arc<AtomicBool>, stop: Arc<AtomicBool>) {
    let mut rng = Rng::new(seed);
    std::fs::create_dir_all(repo.join("src")).unwrap();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if on.load(Ordering::Relaxed) {
            n += 1;
            let f = repo.join(format!("src/f{}.txt", rng.range(0, 8)));
            std::fs::write(f, format!("edit {n}\n{}\n", rng.next_u64())).unwrap();
            std::thread::sleep(Duration::from_millis(rng.range(20, 250)));
        } else {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[derive(Debug, Default)]
struct Tally {
    rounds: u32,
    integrity_ok_after_kill: u32,
    integrity_ok_after_restart: u32,
    killed_mid_review: u32,
    committed_checked: usize,
    findings_checked: usize,
    lost_reviews: Vec<String>,
    lost_findings: Vec<String>,
    interrupted: u32,
    requeued: u32,
}

fn main() {
    let seed = Rng::seed_from_env();
    let rounds: u32 = std::env::var("CXD_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    println!("crash: {rounds} rounds of kill -9, seed {seed} (CXD_BENCH_SEED={seed} replays it)");
    let mut rng = Rng::new(seed);

    let env = TestEnv::new();
    env.write_config("[settle]\nquiet_ms = 100\nmax_wait_ms = 1000\n");
    let repo = init_repo(env.dir.path(), "repo");
    env.script_codex(&script(&mut rng, 5_000));
    let db = env.state.join("cxd.sqlite");

    let on = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let w = {
        let (repo, on, stop) = (repo.clone(), on.clone(), stop.clone());
        let seed = rng.next_u64();
        std::thread::spawn(move || writer(repo, seed, on, stop))
    };

    let mut d: Daemon = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    let mut t = Tally::default();
    let started = Instant::now();

    for round in 1..=rounds {
        on.store(true, Ordering::Relaxed);
        // Let it run: a random while, or until a review is under way and then a little.
        let how = rng.range(0, 3);
        match how {
            0 => std::thread::sleep(Duration::from_millis(rng.range(100, 2500))),
            _ => {
                let deadline = Instant::now() + Duration::from_secs(10);
                while !running_review(&db) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(2));
                }
                std::thread::sleep(Duration::from_millis(rng.range(0, 400)));
            }
        }
        // What the daemon has shown as done; then the kill, a moment later.
        let before = seen(&env, &repo);
        std::thread::sleep(Duration::from_millis(rng.range(0, 30)));
        let pid = d.pid();
        d.signal(libc::SIGKILL);
        d.wait_exit(T);
        on.store(false, Ordering::Relaxed);

        // The database as the kill left it.
        let after_kill = read_db(&db);
        t.rounds += 1;
        if after_kill.integrity == "ok" {
            t.integrity_ok_after_kill += 1;
        } else {
            println!(
                "round {round}: integrity after kill: {}",
                after_kill.integrity
            );
        }
        for (id, verdict) in &before.reviews {
            t.committed_checked += 1;
            if after_kill.reviews.get(id) != Some(verdict) {
                t.lost_reviews.push(format!(
                    "round {round}: review {id} ({verdict}) seen before the kill, in the database: {:?}",
                    after_kill.reviews.get(id)
                ));
            }
        }
        for (id, title) in &before.findings {
            t.findings_checked += 1;
            if after_kill.findings.get(id).map(|f| &f.0) != Some(title) {
                t.lost_findings.push(format!(
                    "round {round}: finding F{id} ({title}) seen before the kill, in the database: {:?}",
                    after_kill.findings.get(id)
                ));
            }
        }
        let cut_short: Vec<i64> = after_kill
            .reviews
            .iter()
            .filter(|(_, v)| *v == "running")
            .map(|(id, _)| *id)
            .collect();
        if !cut_short.is_empty() {
            t.killed_mid_review += 1;
        }

        // Restart; the edits stay paused until any cut-short review has run again.
        d = env.start_daemon();
        assert_ne!(d.pid(), pid);
        let after_restart = read_db(&db);
        if after_restart.integrity == "ok" {
            t.integrity_ok_after_restart += 1;
        } else {
            println!(
                "round {round}: integrity after restart: {}",
                after_restart.integrity
            );
        }
        for (id, verdict) in &after_kill.reviews {
            let now = after_restart.reviews.get(id);
            let kept = if verdict == "running" {
                now.is_some_and(|v| v == "interrupted")
            } else {
                now == Some(verdict)
            };
            if !kept {
                t.lost_reviews.push(format!(
                    "round {round}: review {id} ({verdict}) after the kill, after restart: {now:?}"
                ));
            }
        }
        for (id, f) in &after_kill.findings {
            if after_restart.findings.get(id) != Some(f) {
                t.lost_findings.push(format!(
                    "round {round}: finding F{id} {f:?} after the kill, after restart: {:?}",
                    after_restart.findings.get(id)
                ));
            }
        }
        // The API agrees with what it showed before the kill.
        let now = seen(&env, &repo);
        for (id, verdict) in &before.reviews {
            if now.reviews.get(id) != Some(verdict) {
                t.lost_reviews.push(format!(
                    "round {round}: review {id} ({verdict}) missing from `cxd log` after restart"
                ));
            }
        }
        for (id, title) in &before.findings {
            if now.findings.get(id) != Some(title) {
                t.lost_findings.push(format!(
                    "round {round}: finding F{id} ({title}) missing from `cxd findings` after restart"
                ));
            }
        }
        if let Some(&last) = cut_short.iter().max() {
            t.interrupted += cut_short.len() as u32;
            // Nothing was edited since the kill: a new review can only be the re-queued one.
            let requeued = wait_until(T, || max_review_id(&db) > last);
            if requeued {
                t.requeued += 1;
            } else {
                println!("round {round}: review {last} was interrupted but did not run again");
            }
        }
    }

    // Stop editing, let codex approve from now on, and wait for the workspace to settle.
    on.store(false, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    w.join().unwrap();
    env.script_codex(&json!([]));
    let final_ws = wait_for("the workspace to settle on approve", T, || {
        let w = env.status_json()["workspaces"][0].clone();
        (w["state"] == "idle"
            && w["up_to_date"] == true
            && w["last_review"]["verdict"] == "approve")
            .then_some(w)
    });
    let final_db = read_db(&db);
    let finished = final_db
        .reviews
        .values()
        .filter(|v| *v != "running")
        .count();
    let interrupted_total = final_db
        .reviews
        .values()
        .filter(|v| *v == "interrupted")
        .count();
    drop(d);

    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!("| rounds of kill -9 | {} |", t.rounds);
    println!(
        "| integrity_check ok (as killed / after restart) | {} / {} |",
        t.integrity_ok_after_kill, t.integrity_ok_after_restart
    );
    println!(
        "| kills that cut a review short | {} |",
        t.killed_mid_review
    );
    println!(
        "| committed reviews checked (sum over rounds) | {} |",
        t.committed_checked
    );
    println!(
        "| findings checked (sum over rounds) | {} |",
        t.findings_checked
    );
    println!("| lost committed reviews | {} |", t.lost_reviews.len());
    println!("| lost findings | {} |", t.lost_findings.len());
    println!(
        "| interrupted reviews / re-queued and run again | {} / {} |",
        t.interrupted, t.requeued
    );
    println!(
        "| reviews stored at the end (of which interrupted) | {finished} ({interrupted_total}) |"
    );
    println!(
        "| workspace reviews count / final verdict | {} / {} |",
        final_ws["reviews"], final_ws["last_review"]["verdict"]
    );
    println!("| wall time | {:.1} s |", started.elapsed().as_secs_f64());
    for l in t.lost_reviews.iter().chain(&t.lost_findings) {
        println!("LOST: {l}");
    }
    let ok = t.integrity_ok_after_kill == t.rounds
        && t.integrity_ok_after_restart == t.rounds
        && t.lost_reviews.is_empty()
        && t.lost_findings.is_empty()
        && t.requeued == t.killed_mid_review;
    if !ok {
        eprintln!(
            "crash safety FAILED (seed {seed}); the environment is kept at {}",
            env.dir.path().display()
        );
        std::mem::forget(env);
        std::process::exit(1);
    }
}

/// Poll `f` until true or the deadline; returns whether it became true.
fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}
