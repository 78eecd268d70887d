//! Snapshot cost on a big tree: 100 000 files in 10 000 directories, committed.
//!
//! Measures 50 rounds of (edit one file → `snapshot(Some(&[that file]))` → `diff` against the
//! previous snapshot) and prints p50/p99, then a 5 000-file checkout and its
//! `rebase_onto_head` plus diff, five times back and forth, with the CPU of the git children
//! (from `/proc/self/stat`). Run with `cargo run --release -p cxd-daemon --example snapshot_bench`
//! (optionally `-- DIR` to keep the repository in DIR).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cxd_daemon::snapshot::Snapshotter;

const DIRS: usize = 10_000;
const FILES_PER_DIR: usize = 10;
const ROUNDS: usize = 50;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn git(root: &Path, args: &[&str]) -> Res<()> {
    let status = Command::new("git")
        .args(["-c", "user.name=bench", "-c", "user.email=bench@localhost"])
        .args(args)
        .current_dir(root)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .status()?;
    if !status.success() {
        return Err(format!("git {args:?} failed").into());
    }
    Ok(())
}

fn file(d: usize, f: usize) -> PathBuf {
    PathBuf::from(format!("src/m{:02}/d{d:05}/f{f}.rs", d % 100))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    ms(sorted[rank.min(sorted.len()) - 1])
}

/// CPU used so far by this process and by its waited-for children, in ms (from
/// `/proc/self/stat`: utime, stime, cutime, cstime, in clock ticks of 10 ms).
fn cpu_ms() -> Res<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let after = stat.rsplit_once(')').ok_or("bad /proc/self/stat")?.1;
    let f: Vec<f64> = after
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    let [ut, st, cut, cst] = f[..] else {
        return Err("short /proc/self/stat".into());
    };
    Ok(((ut + st) * 10.0, (cut + cst) * 10.0))
}

/// 100 000 files on `main`, and a branch `other` that changes 5 000 of them.
fn build(root: &Path) -> Res<()> {
    std::fs::create_dir_all(root)?;
    let t = Instant::now();
    git(root, &["init", "-q", "-b", "main"])?;
    std::fs::write(root.join(".gitignore"), "target/\n")?;
    for d in 0..DIRS {
        std::fs::create_dir_all(root.join(file(d, 0)).parent().ok_or("no parent")?)?;
        for f in 0..FILES_PER_DIR {
            let body = format!("// file {d}/{f}\nfn f{f}() -> u32 {{\n    {d}\n}}\n");
            std::fs::write(root.join(file(d, f)), body)?;
        }
    }
    git(root, &["add", "-A"])?;
    git(root, &["commit", "-q", "-m", "100k files"])?;
    git(root, &["checkout", "-q", "-b", "other"])?;
    for d in 0..5_000 {
        std::fs::write(root.join(file(d, 0)), format!("// other {d}\n"))?;
    }
    git(root, &["commit", "-q", "-am", "other"])?;
    git(root, &["checkout", "-q", "main"])?;
    println!(
        "repo: {} files in {DIRS} dirs, built in {:.1} s",
        DIRS * FILES_PER_DIR,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

fn main() -> Res<()> {
    let keep = std::env::args().nth(1).map(PathBuf::from);
    let tmp = tempfile::tempdir()?;
    let base = keep.unwrap_or_else(|| tmp.path().to_owned());
    let root = base.join("repo");
    let state = base.join("state");
    let _ = std::fs::remove_dir_all(&state);
    let mut checkout_paths: Vec<PathBuf> = (0..5_000).map(|d| file(d, 0)).collect();
    checkout_paths.sort();
    if root.join(".git").is_dir() {
        // Left by an earlier run with the same DIR: reset it rather than build it again.
        git(&root, &["checkout", "-qf", "main"])?;
        git(&root, &["reset", "-q", "--hard"])?;
        git(&root, &["clean", "-qfd"])?;
        println!("repo: reusing {}", root.display());
    } else {
        build(&root)?;
    }
    let t = Instant::now();
    let mut snap = Snapshotter::open(&root, &state)?;
    let open = t.elapsed();
    let t = Instant::now();
    let mut prev = snap.snapshot(None)?;
    println!(
        "open: {:.1} ms, first snapshot (seed + full refresh): {:.1} ms",
        ms(open),
        ms(t.elapsed())
    );

    let t = Instant::now();
    let again = snap.snapshot(None)?;
    println!("full refresh, nothing changed: {:.1} ms", ms(t.elapsed()));
    assert_eq!(again, prev);

    let mut total = Vec::with_capacity(ROUNDS);
    let mut snaps = Vec::with_capacity(ROUNDS);
    let mut diffs = Vec::with_capacity(ROUNDS);
    for i in 0..ROUNDS {
        let path = file((i * 7919) % DIRS, i % FILES_PER_DIR);
        std::fs::write(root.join(&path), format!("// edit {i}\nfn edited() {{}}\n"))?;
        let t0 = Instant::now();
        let now = snap.snapshot(Some(std::slice::from_ref(&path)))?;
        let t1 = Instant::now();
        let diff = snap.diff(&prev, &now, 256 * 1024)?;
        let t2 = Instant::now();
        assert_eq!(diff.files.len(), 1, "round {i}: {diff:?}");
        snaps.push(t1 - t0);
        diffs.push(t2 - t1);
        total.push(t2 - t0);
        prev = now;
    }
    for (name, v) in [
        ("snapshot", &mut snaps),
        ("diff", &mut diffs),
        ("snapshot+diff", &mut total),
    ] {
        v.sort();
        println!(
            "{name:>14}: p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  (n={ROUNDS})",
            percentile(v, 50.0),
            percentile(v, 99.0),
            ms(*v.last().ok_or("no rounds")?)
        );
    }

    println!(
        "{:>14}: {} of {ROUNDS} one-file snapshots took the index-free fast path",
        "fast path",
        snap.fast_snapshots()
    );

    let (self0, child0) = cpu_ms()?;
    for i in 0..ROUNDS {
        let path = file((i * 7919) % DIRS, i % FILES_PER_DIR);
        std::fs::write(root.join(&path), format!("// cpu {i}\nfn edited() {{}}\n"))?;
        let now = snap.snapshot(Some(std::slice::from_ref(&path)))?;
        snap.diff(&prev, &now, 256 * 1024)?;
        prev = now;
    }
    let (self1, child1) = cpu_ms()?;
    println!(
        "{:>14}: daemon {:.1} ms  git children {:.1} ms  per round (n={ROUNDS}, 10 ms ticks)",
        "cpu",
        (self1 - self0) / ROUNDS as f64,
        (child1 - child0) / ROUNDS as f64
    );

    // Revert the edits, keep one uncommitted edit (in a file the checkout does not touch)
    // and one untracked file, then switch branches back and forth.
    git(&root, &["checkout", "-q", "--", "."])?;
    std::fs::write(root.join(file(DIRS - 1, 5)), "// dirty across checkouts\n")?;
    std::fs::write(root.join("untracked.txt"), "u\n")?;
    let mut base = snap.snapshot(None)?;
    let mut moved = base.clone();
    let mut rows = Vec::new();
    for (i, branch) in ["other", "main", "other", "main", "other"]
        .iter()
        .enumerate()
    {
        git(&root, &["checkout", "-q", branch])?;
        let (s0, c0) = cpu_ms()?;
        let t = Instant::now();
        moved = snap.snapshot(Some(&checkout_paths))?;
        let t_snap = t.elapsed();
        let rebased = snap.rebase_onto_head(&base, &moved, &std::collections::HashSet::new())?;
        let t_rebase = t.elapsed() - t_snap;
        let diff = snap.diff(&rebased, &moved, 256 * 1024)?;
        let wall = t.elapsed();
        let (s1, c1) = cpu_ms()?;
        assert!(diff.is_empty(), "{:?}", diff.files.first());
        // A full refresh must agree, and still show the uncommitted edit against HEAD.
        let full = snap.snapshot(None)?;
        assert_eq!(
            full, moved,
            "checkout {i}: partial and full snapshots differ"
        );
        let head = snap.head_snapshot()?;
        let d = snap.diff(&head, &full, 256 * 1024)?;
        assert_eq!(d.files.len(), 2, "checkout {i}: {:?}", d.files);
        println!(
            "checkout {i} ({branch}, 5 000 files): snapshot {:.1} ms, rebase {:.1} ms, total {:.1} ms; \
             cpu daemon {:.0} ms, git children {:.0} ms",
            ms(t_snap),
            ms(t_rebase),
            ms(wall),
            s1 - s0,
            c1 - c0
        );
        rows.push((ms(wall), c1 - c0 + s1 - s0));
        base = moved.clone();
    }
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut cpu: Vec<f64> = rows.iter().map(|r| r.1).collect();
    cpu.sort_by(f64::total_cmp);
    println!(
        "5 000-file checkout snapshot+rebase+diff: median wall {:.1} ms, median cpu (daemon + git) {:.0} ms",
        rows[rows.len() / 2].0,
        cpu[cpu.len() / 2]
    );

    println!(
        "{:>14}: {} of 5 checkouts took the HEAD-move path (no index)",
        "HEAD-move path",
        snap.moved_snapshots()
    );

    let loose = snap.loose_objects()?;
    let t = Instant::now();
    let removed = snap.prune(&[&moved])?;
    println!(
        "prune: {loose} loose objects, {removed} removed in {:.1} ms",
        ms(t.elapsed())
    );
    Ok(())
}
