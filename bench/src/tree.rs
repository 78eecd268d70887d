//! The synthetic repository the watch benchmarks share, and what /proc says about a watcher.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use cxd_e2e::git;

/// Files per directory inside node_modules/ and target/.
pub const FILES_PER_IGNORED_DIR: usize = 10;

/// The shape of the synthetic repository.
#[derive(Debug, Clone, Copy)]
pub struct Tree {
    /// Source files (tracked).
    pub files: usize,
    /// Source directories they are spread over.
    pub dirs: usize,
    /// Files in the ignored node_modules/.
    pub node_modules: usize,
    /// Files in the ignored target/.
    pub target: usize,
    /// Source files the `other` branch changes.
    pub checkout: usize,
}

impl Tree {
    /// Source file `g` (0..files): its path relative to the root.
    pub fn src_path(&self, g: usize) -> String {
        let d = g % self.dirs;
        let k = g / self.dirs;
        format!("src/g{:03}/d{d:05}/f{k}.rs", d / 100)
    }

    /// Written into .git/cxd-bench-params so a repository of the same shape is reused.
    pub fn params(&self) -> String {
        format!(
            "v1 files={} dirs={} node_modules={} target={} checkout={}",
            self.files, self.dirs, self.node_modules, self.target, self.checkout
        )
    }

    /// The source files the `other` branch changes.
    pub fn checkout_files(&self) -> impl Iterator<Item = usize> {
        let step = self.files / self.checkout.max(1);
        (0..self.checkout).map(move |i| i * step)
    }

    /// Whether source file `g` is one the `other` branch leaves alone.
    pub fn untouched_by_checkout(&self, g: usize) -> bool {
        !g.is_multiple_of(self.files / self.checkout.max(1))
    }

    /// Build (or reuse, reset to `main` and cleaned) the repository: `main` with the tree,
    /// `other` differing in `checkout` files.
    pub fn build(&self, repo: &Path) {
        let marker = repo.join(".git/cxd-bench-params");
        if fs::read_to_string(&marker).is_ok_and(|p| p == self.params()) {
            println!("reusing {}", repo.display());
            reset(repo);
            return;
        }
        if repo.exists() {
            fs::remove_dir_all(repo).unwrap();
        }
        let t = Instant::now();
        fs::create_dir_all(repo).unwrap();
        git(repo, &["init", "-q", "-b", "main"]);
        fs::write(repo.join(".gitignore"), "node_modules/\ntarget/\n").unwrap();
        fs::write(
            repo.join("README"),
            "synthetic repository for bench-watch\n",
        )
        .unwrap();
        for g in 0..self.files {
            write_file(
                &repo.join(self.src_path(g)),
                &format!("// file {g}\npub fn f() -> u64 {{ {g} }}\n"),
            );
        }
        for i in 0..self.node_modules {
            let p = format!(
                "node_modules/p{:05}/f{}.js",
                i / FILES_PER_IGNORED_DIR,
                i % FILES_PER_IGNORED_DIR
            );
            write_file(&repo.join(p), &format!("module.exports = {i};\n"));
        }
        for i in 0..self.target {
            let p = format!(
                "target/release/build/b{:05}/f{}.o",
                i / FILES_PER_IGNORED_DIR,
                i % FILES_PER_IGNORED_DIR
            );
            write_file(&repo.join(p), &format!("object {i}\n"));
        }
        println!("  files written in {:.1} s", t.elapsed().as_secs_f64());
        git(repo, &["add", "-A"]);
        git(repo, &["commit", "-q", "-m", "synthetic tree"]);
        git(repo, &["checkout", "-q", "-b", "other"]);
        for g in self.checkout_files() {
            write_file(
                &repo.join(self.src_path(g)),
                &format!("// file {g}, other branch\npub fn f() -> u64 {{ {g} + 1 }}\n"),
            );
        }
        git(repo, &["commit", "-q", "-a", "-m", "other branch"]);
        git(repo, &["checkout", "-q", "main"]);
        fs::write(&marker, self.params()).unwrap();
        println!(
            "  repository built and committed in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
}

/// Back to a clean `main`: local edits, untracked files and the benchmarks' own files in the
/// ignored directories removed.
pub fn reset(repo: &Path) {
    git(repo, &["checkout", "-q", "-f", "main"]);
    git(repo, &["clean", "-fdq"]);
    let _ = fs::remove_dir_all(repo.join("node_modules/cxd-bench"));
    let _ = fs::remove_dir_all(repo.join("target/cxd-bench"));
}

/// Write a file, creating its directory when missing.
pub fn write_file(path: &Path, text: &str) {
    match fs::write(path, text) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

/// Whether `name` directly under the root is one of the ignored directories.
fn ignored_top(name: &std::ffi::OsStr) -> bool {
    name == "node_modules" || name == "target"
}

/// Directories that are not ignored (what a watcher should watch, `.git` left out), and the
/// inodes of those in ignored trees.
pub fn count_dirs(repo: &Path) -> (usize, HashSet<u64>) {
    let mut watched = 0;
    let mut ignored = HashSet::new();
    let mut stack = vec![(repo.to_path_buf(), false)];
    while let Some((dir, in_ignored)) = stack.pop() {
        if in_ignored {
            ignored.insert(fs::metadata(&dir).unwrap().ino());
        } else {
            watched += 1;
        }
        for e in fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            if !e.file_type().unwrap().is_dir() {
                continue;
            }
            let name = e.file_name();
            if dir == repo && name == ".git" {
                continue;
            }
            let ign = in_ignored || (dir == repo && ignored_top(&name));
            stack.push((e.path(), ign));
        }
    }
    (watched, ignored)
}

/// The last non-ignored directory of a breadth-first walk in directory order (where a watcher
/// that walks breadth-first adds its last watch), relative to the root.
pub fn last_dir_breadth_first(repo: &Path) -> std::path::PathBuf {
    let mut queue = std::collections::VecDeque::from([repo.to_path_buf()]);
    let mut last = repo.to_path_buf();
    while let Some(dir) = queue.pop_front() {
        for e in fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name();
            if !e.file_type().unwrap().is_dir()
                || (dir == repo && (name == ".git" || ignored_top(&name)))
            {
                continue;
            }
            queue.push_back(e.path());
        }
        last = dir;
    }
    last.strip_prefix(repo).unwrap().to_path_buf()
}

/// Stat every file once, so no watcher pays for a cold cache the one before it warmed.
pub fn warm(repo: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![repo.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap().flatten() {
            n += 1;
            if fs::symlink_metadata(e.path()).is_ok_and(|m| m.is_dir()) {
                stack.push(e.path());
            }
        }
    }
    n
}

/// Inodes the process holds inotify watches on (from /proc/PID/fdinfo).
pub fn watched_inodes(pid: u32) -> Vec<u64> {
    let mut out = Vec::new();
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return out;
    };
    for e in dir.flatten() {
        let Ok(text) = fs::read_to_string(e.path()) else {
            continue;
        };
        for l in text.lines().filter(|l| l.starts_with("inotify wd:")) {
            if let Some(ino) = l.split_whitespace().find_map(|w| w.strip_prefix("ino:")) {
                out.push(u64::from_str_radix(ino, 16).unwrap());
            }
        }
    }
    out
}

/// A field of /proc/PID/status in KiB (VmRSS, VmHWM).
pub fn proc_status_kib(pid: u32, key: &str) -> u64 {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = text.lines().find(|l| l.starts_with(key)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// CPU ticks: (the process's own utime+stime, its children's: reaped (cutime+cstime) and
/// still running).
pub fn cpu_ticks(pid: u32) -> (u64, u64) {
    let (own, reaped, _) = stat_ticks(pid).unwrap();
    // Children still running (a long-lived `git cat-file --batch`) count too: their CPU
    // reaches the parent's only when they end.
    let live: u64 = fs::read_dir("/proc")
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .filter_map(stat_ticks)
                .filter(|(_, _, ppid)| *ppid == pid)
                .map(|(own, _, _)| own)
                .sum()
        })
        .unwrap_or(0);
    (own, reaped + live)
}

/// utime+stime, cutime+cstime and the parent of a process, from /proc/PID/stat.
fn stat_ticks(pid: u32) -> Option<(u64, u64, u32)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<u64> = text[text.rfind(')')? + 2..]
        .split_whitespace()
        .map(|w| w.parse().unwrap_or(0))
        .collect();
    // Fields 14..17 of stat(5); f[0] is field 3, f[1] the parent.
    Some((
        f.get(11)? + f.get(12)?,
        f.get(13)? + f.get(14)?,
        u32::try_from(*f.get(1)?).ok()?,
    ))
}

/// Clock ticks per second.
pub fn clk_tck() -> u64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(100)
}

/// Milliseconds in `ticks` clock ticks.
pub fn ticks_ms(ticks: u64, hz: u64) -> u64 {
    ticks * 1000 / hz
}

/// Wall-clock seconds since the epoch (comparable with bash's $EPOCHREALTIME).
pub fn now_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The median (sorts `v`).
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The `q` quantile, nearest rank (sorts `v`).
pub fn pct(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * q).round() as usize]
}

/// "N cores, CPU model, kernel" of this machine.
pub fn machine() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpu
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_string();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = Command::new("uname")
        .arg("-sr")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!("{cores} cores, {model}, {kernel}")
}
