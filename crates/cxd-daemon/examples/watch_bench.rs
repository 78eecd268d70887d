//! How long the watcher takes to fully watch a large synthetic repository, and what it holds.
//!
//! `cargo run --release -p cxd-daemon --example watch_bench -- [FILES] [DIRS] [RUNS]`
//!
//! Builds a git repository in a temp dir (under `$TMPDIR`) with FILES files spread over DIRS
//! directories (default 100 000 in 11 111), plus an ignored `node_modules/` (50 000 files) and
//! `target/` (20 000 files), then starts a `Watcher` RUNS times (default 3) and prints the time
//! to fully watched, the OS watches, the process RSS, and the CPU used while idle.

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cxd_daemon::watch::{WatchSpec, Watcher};

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let files: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100_000);
    let dirs: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(11_111);
    let runs: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(3);

    let tmp = tempfile::tempdir()?;
    let root = tmp.path().join("repo");
    let built = Instant::now();
    build_tree(&root, files, dirs)?;
    build_tree(&root.join("node_modules"), 50_000, 5_000)?;
    build_tree(&root.join("target"), 20_000, 1_000)?;
    fs::write(root.join(".gitignore"), "node_modules/\ntarget/\n")?;
    let git = Command::new("git")
        .args(["init", "-q"])
        .current_dir(&root)
        .status()?;
    if !git.success() {
        return Err("git init failed".into());
    }
    println!(
        "tree: {files} files in {dirs} dirs + node_modules/ 50000 files + target/ 20000 files \
         (ignored), built in {:.1} s at {}",
        built.elapsed().as_secs_f64(),
        root.display()
    );

    let rss_before = rss_kib();
    let mut times = Vec::new();
    let mut kept = None;
    for run in 0..runs {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let config = WatchSpec {
            root: root.clone(),
            ..WatchSpec::default()
        };
        let cpu = cpu_ticks();
        let started = Instant::now();
        let watcher = Watcher::start(config, tx)?;
        let took = started.elapsed();
        let cpu = cpu_ticks().saturating_sub(cpu);
        times.push(took);
        println!(
            "run {}: fully watched in {:.1} ms ({} ms of CPU), {} OS watches, RSS {} KiB",
            run + 1,
            took.as_secs_f64() * 1e3,
            cpu * 10,
            watcher.os_watches(),
            rss_kib()
        );
        for warning in watcher.warnings() {
            println!("  warning: {warning}");
        }
        kept = Some((watcher, rx));
    }
    times.sort();
    if let Some(median) = times.get(times.len() / 2) {
        println!(
            "median to fully watched: {:.1} ms",
            median.as_secs_f64() * 1e3
        );
    }
    println!(
        "RSS before start: {rss_before} KiB, after (one watcher live): {} KiB",
        rss_kib()
    );

    let cpu_before = cpu_ticks();
    std::thread::sleep(Duration::from_secs(5));
    println!(
        "idle CPU over 5 s: {} ticks (whole process)",
        cpu_ticks().saturating_sub(cpu_before)
    );

    // A 2 000-file write burst: how long until every path was reported.
    if let Some((watcher, mut rx)) = kept {
        let burst = root.join("burst");
        fs::create_dir(&burst)?;
        let started = Instant::now();
        for i in 0..2_000 {
            fs::write(burst.join(format!("f{i}.txt")), "x")?;
        }
        let mut seen = std::collections::HashSet::new();
        let mut messages = 0;
        while seen.len() < 2_000 && started.elapsed() < Duration::from_secs(30) {
            match rx.try_recv() {
                Ok(cxd_daemon::watch::WatchEvent::Changed { paths, .. }) => {
                    messages += 1;
                    seen.extend(paths.into_iter().filter(|p| p.starts_with("burst")));
                }
                Ok(_) => {}
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
        println!(
            "2000-file burst: {} paths reported in {messages} messages, {:.1} ms after the first write",
            seen.len(),
            started.elapsed().as_secs_f64() * 1e3
        );
        let dropped = Instant::now();
        drop(watcher);
        println!(
            "drop released the watches in {:.1} ms",
            dropped.elapsed().as_secs_f64() * 1e3
        );
    }
    Ok(())
}

/// `files` files spread over `dirs` directories (the root included), ten subdirectories each.
fn build_tree(root: &Path, files: usize, dirs: usize) -> std::io::Result<()> {
    let mut all: Vec<PathBuf> = vec![root.to_path_buf()];
    fs::create_dir_all(root)?;
    let mut next = 0;
    while all.len() < dirs {
        let parent = all[next].clone();
        for i in 0..10 {
            if all.len() >= dirs {
                break;
            }
            let dir = parent.join(format!("d{i}"));
            fs::create_dir(&dir)?;
            all.push(dir);
        }
        next += 1;
    }
    for i in 0..files {
        fs::write(all[i % all.len()].join(format!("f{i}.rs")), "")?;
    }
    Ok(())
}

fn rss_kib() -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// utime + stime of the process, in clock ticks.
fn cpu_ticks() -> u64 {
    let Ok(stat) = fs::read_to_string("/proc/self/stat") else {
        return 0;
    };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat: 11 and 12 counted from the state (field 3).
    field(11) + field(12)
}
