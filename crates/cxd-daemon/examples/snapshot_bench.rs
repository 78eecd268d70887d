//! Snapshot cost on a big tree: 100 000 files in 10 000 directories, committed.
//!
//! Measures 50 rounds of (edit one file → `snapshot(Some(&[that file]))` → `diff` against the
//! previous snapshot) and prints p50/p99, then a 5 000-file checkout and its
//! `rebase_onto_head`. Run with `cargo run --release -p cxd-daemon --example snapshot_bench`
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

fn main() -> Res<()> {
    let keep = std::env::args().nth(1).map(PathBuf::from);
    let tmp = tempfile::tempdir()?;
    let base = keep.unwrap_or_else(|| tmp.path().to_owned());
    let root = base.join("repo");
    let state = base.join("state");
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_dir_all(&state);
    std::fs::create_dir_all(&root)?;

    let t = Instant::now();
    git(&root, &["init", "-q", "-b", "main"])?;
    std::fs::write(root.join(".gitignore"), "target/\n")?;
    for d in 0..DIRS {
        std::fs::create_dir_all(root.join(file(d, 0)).parent().ok_or("no parent")?)?;
        for f in 0..FILES_PER_DIR {
            let body = format!("// file {d}/{f}\nfn f{f}() -> u32 {{\n    {d}\n}}\n");
            std::fs::write(root.join(file(d, f)), body)?;
        }
    }
    git(&root, &["add", "-A"])?;
    git(&root, &["commit", "-q", "-m", "100k files"])?;
    // A branch differing in 5 000 files, for the checkout figure.
    git(&root, &["checkout", "-q", "-b", "other"])?;
    let mut checkout_paths = Vec::new();
    for d in 0..5_000 {
        let p = file(d, 0);
        std::fs::write(root.join(&p), format!("// other {d}\n"))?;
        checkout_paths.push(p);
    }
    git(&root, &["commit", "-q", "-am", "other"])?;
    git(&root, &["checkout", "-q", "main"])?;
    println!(
        "repo: {} files in {DIRS} dirs, built in {:.1} s",
        DIRS * FILES_PER_DIR,
        t.elapsed().as_secs_f64()
    );

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

    // Revert the edits so the checkout is clean, then switch branches.
    git(&root, &["checkout", "-q", "--", "."])?;
    let reverted = snap.snapshot(None)?;
    git(&root, &["checkout", "-q", "other"])?;
    let t = Instant::now();
    let moved = snap.snapshot(Some(&checkout_paths))?;
    let t_snap = t.elapsed();
    let t = Instant::now();
    let rebased = snap.rebase_onto_head(&reverted, &moved)?;
    let t_rebase = t.elapsed();
    let t = Instant::now();
    let diff = snap.diff(&rebased, &moved, 256 * 1024)?;
    let t_diff = t.elapsed();
    assert!(diff.is_empty(), "{:?}", diff.files.first());
    println!(
        "5 000-file checkout: snapshot {:.1} ms, rebase_onto_head {:.1} ms, diff {:.1} ms (empty)",
        ms(t_snap),
        ms(t_rebase),
        ms(t_diff)
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
