//! Tests of the watch module: real temp dirs holding real git repositories; every wait is on a
//! condition with a deadline. Absence is shown with a sentinel: a write after the one that must
//! not be reported, in a watched directory. Events come in order, so once the sentinel is seen,
//! anything the first write caused would have been seen too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use super::batch::{Batch, Fate};
use super::*;

const DEADLINE: Duration = Duration::from_secs(10);
/// A fresh repository holds two watches under .git: the git dir and refs/heads.
const GIT_WATCHES: usize = 2;

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args([
            "-c",
            "user.name=cxd",
            "-c",
            "user.email=cxd@example.invalid",
        ])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(status.status.success(), "git {args:?}: {status:?}");
}

/// A temp dir holding a git repository at `<tmp>/repo`.
fn repo() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap().join("repo");
    fs::create_dir(&root).unwrap();
    git(&root, &["init", "-q"]);
    (tmp, root)
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, text).unwrap();
}

fn start(config: WatchSpec) -> (Watcher, UnboundedReceiver<WatchEvent>) {
    start_tuned(config, Tuning::default())
}

fn start_tuned(config: WatchSpec, tuning: Tuning) -> (Watcher, UnboundedReceiver<WatchEvent>) {
    let (tx, rx) = unbounded_channel();
    let watcher = Watcher::start_tuned(config, tx, tuning).unwrap();
    (watcher, rx)
}

fn config(root: &Path) -> WatchSpec {
    WatchSpec {
        root: root.to_path_buf(),
        ..WatchSpec::default()
    }
}

/// Receive until `done` holds for an event; returns every event seen, that one last.
async fn recv_until(
    rx: &mut UnboundedReceiver<WatchEvent>,
    mut done: impl FnMut(&WatchEvent) -> bool,
) -> Vec<WatchEvent> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(event)) => {
                let stop = done(&event);
                seen.push(event);
                if stop {
                    return seen;
                }
            }
            Ok(None) => panic!("watcher stopped; seen {seen:?}"),
            Err(_) => panic!("deadline passed; seen {seen:?}"),
        }
    }
}

fn changed(events: &[WatchEvent]) -> Vec<PathBuf> {
    events
        .iter()
        .flat_map(|e| match e {
            WatchEvent::Changed { paths, .. } => paths.clone(),
            _ => Vec::new(),
        })
        .collect()
}

fn lists(event: &WatchEvent, rel: &str) -> bool {
    matches!(event, WatchEvent::Changed { paths, .. } if paths.iter().any(|p| p == Path::new(rel)))
}

/// Write a sentinel file in the root and return every path reported up to it.
async fn changed_until_sentinel(
    root: &Path,
    rx: &mut UnboundedReceiver<WatchEvent>,
) -> Vec<PathBuf> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = format!("sentinel-{}", N.fetch_add(1, Ordering::Relaxed));
    write(&root.join(&name), "s");
    changed(&recv_until(rx, |e| lists(e, &name)).await)
}

/// The inotify instance watching `dir` and its watch count, from /proc/self/fdinfo.
#[cfg(target_os = "linux")]
fn inotify_watches_on(dir: &Path) -> Option<usize> {
    use std::os::unix::fs::MetadataExt;
    let ino = format!("ino:{:x} ", fs::metadata(dir).ok()?.ino());
    for fd in fs::read_dir("/proc/self/fdinfo").ok()?.flatten() {
        let Ok(info) = fs::read_to_string(fd.path()) else {
            continue;
        };
        let lines: Vec<&str> = info
            .lines()
            .filter(|l| l.starts_with("inotify wd:"))
            .collect();
        if lines.iter().any(|l| l.contains(&ino)) {
            return Some(lines.len());
        }
    }
    None
}

#[tokio::test]
async fn a_write_is_reported_with_its_relative_path() {
    let (_tmp, root) = repo();
    write(&root.join("src/lib.rs"), "");
    let (_watcher, mut rx) = start(config(&root));
    write(&root.join("src/lib.rs"), "fn main() {}");
    recv_until(&mut rx, |e| lists(e, "src/lib.rs")).await;
}

#[tokio::test]
async fn ignored_dirs_hold_no_watch_and_report_nothing() {
    let (_tmp, root) = repo();
    write(&root.join(".gitignore"), "target/\nnode_modules/\n");
    write(&root.join("src/deep/mod.rs"), "");
    write(&root.join("src/.gitignore"), "*.log\n");
    write(&root.join("target/debug/build/out.o"), "");
    write(&root.join("node_modules/pkg/lib/index.js"), "");
    let (watcher, mut rx) = start(config(&root));

    // root, src, src/deep
    assert_eq!(watcher.os_watches(), 3 + GIT_WATCHES);
    #[cfg(target_os = "linux")]
    assert_eq!(inotify_watches_on(&root), Some(watcher.os_watches()));

    write(&root.join("target/debug/build/out.o"), "x");
    write(&root.join("target/new.o"), "x");
    write(&root.join("node_modules/pkg/lib/index.js"), "x");
    write(&root.join("src/deep/trace.log"), "x");
    write(&root.join("src/deep/mod.rs"), "x");
    let seen = changed_until_sentinel(&root, &mut rx).await;
    assert!(seen.contains(&PathBuf::from("src/deep/mod.rs")), "{seen:?}");
    let leaked: Vec<_> = seen
        .iter()
        .filter(|p| {
            p.starts_with("target") || p.starts_with("node_modules") || p.ends_with("trace.log")
        })
        .collect();
    assert!(leaked.is_empty(), "ignored paths reported: {leaked:?}");
}

#[tokio::test]
async fn files_in_new_nested_dirs_are_reported() {
    let (_tmp, root) = repo();
    let (watcher, mut rx) = start(config(&root));
    let before = watcher.os_watches();
    write(&root.join("a/b/c/f"), "\n");
    recv_until(&mut rx, |e| lists(e, "a/b/c/f")).await;
    assert_eq!(watcher.os_watches(), before + 3);
    // The new directories are watched: a later write is reported too.
    write(&root.join("a/b/c/g"), "\n");
    recv_until(&mut rx, |e| lists(e, "a/b/c/g")).await;
}

#[tokio::test]
async fn write_temp_then_rename_reports_the_final_name() {
    let (_tmp, root) = repo();
    let (_watcher, mut rx) = start(config(&root));
    write(&root.join(".notes.md.swp"), "draft");
    fs::rename(root.join(".notes.md.swp"), root.join("notes.md")).unwrap();
    recv_until(&mut rx, |e| lists(e, "notes.md")).await;
}

#[tokio::test]
async fn a_gitignore_change_moves_watches() {
    let (_tmp, root) = repo();
    write(&root.join("build/old.o"), "");
    write(&root.join(".gitignore"), "*.tmp\n");
    let (watcher, mut rx) = start(config(&root));
    let before = watcher.os_watches();

    // A write is several events (truncate, write, close): the rules settle with the last one,
    // and the count is published before the batch that reports it.
    write(&root.join(".gitignore"), "*.tmp\nbuild/\n");
    recv_until(&mut rx, |e| {
        lists(e, ".gitignore") && watcher.os_watches() == before - 1
    })
    .await;
    write(&root.join("build/new.o"), "x");
    let seen = changed_until_sentinel(&root, &mut rx).await;
    assert!(!seen.iter().any(|p| p.starts_with("build")), "{seen:?}");

    write(&root.join(".gitignore"), "*.tmp\n");
    recv_until(&mut rx, |e| {
        lists(e, ".gitignore") && watcher.os_watches() == before
    })
    .await;
    write(&root.join("build/new.o"), "y");
    recv_until(&mut rx, |e| lists(e, "build/new.o")).await;
}

#[tokio::test]
async fn excluded_dirs_are_neither_watched_nor_reported() {
    let (_tmp, root) = repo();
    write(&root.join(".cxd/state.db"), "");
    let mut cfg = config(&root);
    cfg.exclude = vec![root.join(".cxd")];
    let (watcher, mut rx) = start(cfg);
    assert_eq!(watcher.os_watches(), 1 + GIT_WATCHES);
    write(&root.join(".cxd/state.db"), "x");
    write(&root.join(".cxd/log/today"), "x");
    let seen = changed_until_sentinel(&root, &mut rx).await;
    assert!(!seen.iter().any(|p| p.starts_with(".cxd")), "{seen:?}");
}

#[tokio::test]
async fn git_commit_and_checkout_move_head_and_nothing_under_git_is_changed() {
    let (_tmp, root) = repo();
    write(&root.join("a.txt"), "a");
    let (_watcher, mut rx) = start(config(&root));
    let head_moved = |e: &WatchEvent| {
        matches!(
            e,
            WatchEvent::Git {
                head_moved: true,
                ..
            }
        )
    };

    git(&root, &["add", "a.txt"]);
    git(&root, &["commit", "-q", "-m", "first"]);
    let mut seen = changed(&recv_until(&mut rx, head_moved).await);
    git(&root, &["checkout", "-q", "-b", "feature/x"]);
    seen.extend(changed(&recv_until(&mut rx, head_moved).await));
    seen.extend(changed_until_sentinel(&root, &mut rx).await);
    assert!(!seen.iter().any(|p| p.starts_with(".git")), "{seen:?}");
}

#[tokio::test]
async fn index_lock_is_reported_while_it_exists() {
    let (_tmp, root) = repo();
    let (_watcher, mut rx) = start(config(&root));
    let lock = root.join(".git/index.lock");
    write(&lock, "");
    recv_until(&mut rx, |e| {
        matches!(
            e,
            WatchEvent::Git {
                index_locked: true,
                ..
            }
        )
    })
    .await;
    fs::remove_file(&lock).unwrap();
    recv_until(&mut rx, |e| {
        matches!(
            e,
            WatchEvent::Git {
                index_locked: false,
                ..
            }
        )
    })
    .await;
}

#[tokio::test]
async fn a_git_file_is_followed_into_a_worktree() {
    let (tmp, root) = repo();
    write(&root.join("a.txt"), "a");
    git(&root, &["add", "a.txt"]);
    git(&root, &["commit", "-q", "-m", "first"]);
    let wt = tmp.path().canonicalize().unwrap().join("wt");
    git(
        &root,
        &["worktree", "add", "-q", "-b", "side", wt.to_str().unwrap()],
    );
    assert!(wt.join(".git").is_file());
    let (_watcher, mut rx) = start(config(&wt));

    write(&wt.join("b.txt"), "b");
    recv_until(&mut rx, |e| lists(e, "b.txt")).await;
    git(&wt, &["add", "b.txt"]);
    git(&wt, &["commit", "-q", "-m", "second"]);
    recv_until(&mut rx, |e| {
        matches!(
            e,
            WatchEvent::Git {
                head_moved: true,
                ..
            }
        )
    })
    .await;
}

#[tokio::test]
async fn deleting_the_root_reports_root_missing() {
    let (_tmp, root) = repo();
    write(&root.join("src/lib.rs"), "");
    let (watcher, mut rx) = start(config(&root));
    fs::remove_dir_all(&root).unwrap();
    recv_until(&mut rx, |e| *e == WatchEvent::RootMissing).await;
    drop(watcher);
}

#[tokio::test]
async fn renaming_the_root_away_reports_root_missing() {
    let (tmp, root) = repo();
    let (_watcher, mut rx) = start(config(&root));
    fs::rename(&root, tmp.path().join("elsewhere")).unwrap();
    recv_until(&mut rx, |e| *e == WatchEvent::RootMissing).await;
}

#[tokio::test]
async fn a_rescan_request_is_passed_on() {
    let (_tmp, root) = repo();
    let (watcher, mut rx) = start(config(&root));
    watcher.inject(Ok(
        notify::Event::new(notify::EventKind::Other).set_flag(notify::event::Flag::Rescan)
    ));
    recv_until(&mut rx, |e| *e == WatchEvent::Rescan).await;
}

/// An error from notify's handler (FSEvents or kqueue failing on macOS) is the backend
/// failing: events may be lost, so the watcher asks for a rescan, as when inotify fails.
#[tokio::test]
async fn a_notify_error_is_a_failure_and_asks_for_a_rescan() {
    let (_tmp, root) = repo();
    let (watcher, mut rx) = start(config(&root));
    watcher.inject(Err(notify::Error::generic("the event stream failed")));
    recv_until(&mut rx, |e| *e == WatchEvent::Rescan).await;
}

#[test]
fn notify_errors_become_failures_and_reads_are_dropped() {
    let failed = backend::notify_msg(Err(notify::Error::generic("the event stream failed")));
    assert!(
        matches!(&failed, Some(Msg::Failed(why)) if why.contains("the event stream failed")),
        "an error must reach the watch thread as a failure"
    );
    let read = notify::Event::new(notify::EventKind::Access(notify::event::AccessKind::Read));
    assert!(backend::notify_msg(Ok(read)).is_none());
    let written = notify::Event::new(notify::EventKind::Access(notify::event::AccessKind::Close(
        notify::event::AccessMode::Write,
    )));
    assert!(matches!(
        backend::notify_msg(Ok(written)),
        Some(Msg::Notify(_))
    ));
}

#[tokio::test]
async fn out_of_watches_keeps_running_warns_and_polls() {
    let (_tmp, root) = repo();
    write(&root.join("a/old.txt"), "");
    write(&root.join("b/old.txt"), "");
    let tuning = Tuning {
        max_watches: Some(GIT_WATCHES + 1),
        poll_every: Duration::from_millis(50),
        ..Tuning::default()
    };
    let (watcher, mut rx) = start_tuned(config(&root), tuning);
    assert_eq!(watcher.os_watches(), GIT_WATCHES + 1);
    let warnings = watcher.warnings();
    #[cfg(target_os = "linux")]
    let fix = "sysctl fs.inotify.max_user_watches=";
    #[cfg(not(target_os = "linux"))]
    let fix = "ulimit -n";
    assert!(warnings.iter().any(|w| w.contains(fix)), "{warnings:?}");
    write(&root.join("a/old.txt"), "changed");
    recv_until(&mut rx, |e| lists(e, "a/old.txt")).await;
    write(&root.join("b/new/deep.txt"), "new");
    recv_until(&mut rx, |e| lists(e, "b/new/deep.txt")).await;
}

/// Linux only: /proc shows inotify's watches; no other OS has such a view.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn dropping_the_watcher_releases_its_os_watches() {
    let (_tmp, root) = repo();
    write(&root.join("src/lib.rs"), "");
    let (watcher, _rx) = start(config(&root));
    assert_eq!(watcher.os_watches(), 2 + GIT_WATCHES);
    assert_eq!(inotify_watches_on(&root), Some(watcher.os_watches()));
    drop(watcher);
    assert_eq!(inotify_watches_on(&root), None);
}

/// The notify backend (the default off Linux) through the same paces, in one go.
#[tokio::test]
async fn the_notify_backend_reports_the_same() {
    let (_tmp, root) = repo();
    write(&root.join(".gitignore"), "target/\n");
    write(&root.join("target/x.o"), "");
    write(&root.join("src/lib.rs"), "");
    let tuning = Tuning {
        backend: BackendKind::Notify,
        ..Tuning::default()
    };
    let (watcher, mut rx) = start_tuned(config(&root), tuning);
    assert_eq!(watcher.os_watches(), 2 + GIT_WATCHES);

    write(&root.join("src/lib.rs"), "x");
    recv_until(&mut rx, |e| lists(e, "src/lib.rs")).await;
    write(&root.join("a/b/c/f"), "\n");
    recv_until(&mut rx, |e| lists(e, "a/b/c/f")).await;
    write(&root.join(".notes.md.swp"), "draft");
    fs::rename(root.join(".notes.md.swp"), root.join("notes.md")).unwrap();
    recv_until(&mut rx, |e| lists(e, "notes.md")).await;
    write(&root.join("target/y.o"), "");
    let seen = changed_until_sentinel(&root, &mut rx).await;
    assert!(!seen.iter().any(|p| p.starts_with("target")), "{seen:?}");

    git(&root, &["add", "src"]);
    git(&root, &["commit", "-q", "-m", "first"]);
    recv_until(&mut rx, |e| {
        matches!(
            e,
            WatchEvent::Git {
                head_moved: true,
                ..
            }
        )
    })
    .await;

    fs::remove_dir_all(&root).unwrap();
    recv_until(&mut rx, |e| *e == WatchEvent::RootMissing).await;
}

#[test]
fn start_fails_on_a_missing_root_with_the_path() {
    let (tx, _rx) = unbounded_channel();
    let missing = Path::new("/nonexistent/cxd-watch-root");
    let error = Watcher::start(config(missing), tx).unwrap_err();
    assert!(
        error.to_string().contains("/nonexistent/cxd-watch-root"),
        "{error}"
    );
}

#[test]
fn batches_drop_temp_files_born_and_gone() {
    let mut batch = Batch::default();
    batch.mark(Path::new("tmp"), Fate::Created, false);
    batch.mark(Path::new("tmp"), Fate::Written, false);
    batch.mark(Path::new("tmp"), Fate::Gone, false);
    batch.mark(Path::new("kept"), Fate::Written, false);
    batch.mark(Path::new("deleted"), Fate::Written, false);
    batch.mark(Path::new("deleted"), Fate::Gone, false);
    batch.mark(Path::new("recreated"), Fate::Created, false);
    batch.mark(Path::new("recreated"), Fate::Gone, false);
    batch.mark(Path::new("recreated"), Fate::Created, false);
    let names: Vec<PathBuf> = ["deleted", "kept", "recreated"].map(PathBuf::from).into();
    assert_eq!(batch.take_changed(), (names, Vec::new()));
}

#[test]
fn batches_tell_git_writes_from_edits() {
    let mut batch = Batch::default();
    batch.mark(Path::new("edited"), Fate::Written, false);
    batch.mark(Path::new("checked-out"), Fate::Written, true);
    batch.mark(Path::new("both"), Fate::Written, true);
    batch.mark(Path::new("both"), Fate::Written, false);
    let (edits, by_git) = batch.take_changed();
    assert_eq!(edits, ["both", "edited"].map(PathBuf::from));
    assert_eq!(by_git, [PathBuf::from("checked-out")]);
}

/// The watched set is kept in byte order, where `d-x` and `d.y` sort between `d` and `d/sub`:
/// removing `d` releases `d` and `d/sub`, and its neighbours stay watched.
#[tokio::test]
async fn removing_a_dir_releases_its_subtree_and_nothing_else() {
    let (_tmp, root) = repo();
    for dir in ["d/sub", "d-x", "d.y", "d0"] {
        write(&root.join(dir).join("f"), "");
    }
    let (watcher, mut rx) = start(config(&root));
    let before = watcher.os_watches();
    fs::remove_dir_all(root.join("d")).unwrap();
    changed_until_sentinel(&root, &mut rx).await;
    assert_eq!(watcher.os_watches(), before - 2);
    #[cfg(target_os = "linux")]
    assert_eq!(inotify_watches_on(&root), Some(before - 2));
    for dir in ["d-x", "d.y", "d0"] {
        let rel = format!("{dir}/f");
        write(&root.join(&rel), "x");
        recv_until(&mut rx, |e| lists(e, &rel)).await;
    }
}
