//! The watch thread: what it owns, its loop (block for an event, drain the rest, send one
//! batch), the polling fallback and what it publishes for the [`super::Watcher`].

use std::collections::BTreeMap;

use std::ffi::OsStr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use super::backend::{Backend, Msg};
use super::batch::{Batch, Fate};
use super::git::GitDirs;
use super::poll::{Change, Poller};
use super::rules::Rules;
use super::{MAX_BATCH, Shared, Tuning, WatchEvent};

/// Everything the watch thread owns.
pub(super) struct State {
    pub(super) root: PathBuf,
    /// (device, inode) of the root, to tell it was replaced.
    pub(super) root_id: (u64, u64),
    pub(super) exclude: Vec<PathBuf>,
    pub(super) rules: Rules,
    pub(super) git: Option<GitDirs>,
    /// The OS watch facility (inotify or notify), holding one watch per entry of `watched` and
    /// `git_watched`.
    pub(super) backend: Backend,
    /// Tree directories holding an OS watch, in byte order (see `super::paths`; the
    /// subtree of a directory is a range of it), each name shared with the backend.
    pub(super) watched: BTreeMap<Arc<OsStr>, i32>,
    /// Directories under .git holding an OS watch.
    pub(super) git_watched: BTreeMap<PathBuf, i32>,
    /// Tree directories left without a watch (the OS ran out).
    pub(super) poller: Poller,
    pub(super) tuning: Tuning,
    pub(super) shared: Arc<Shared>,
    pub(super) tx: UnboundedSender<WatchEvent>,
    pub(super) batch: Batch,
    pub(super) polling_warned: bool,
    /// The user's index size when git last listed the tracked ignored files: a file added
    /// with `git add -f` (or untracked with `git rm --cached`) changes it.
    pub(super) index_len: Option<u64>,
    /// Whether git held `.git/index.lock` as of the last event seen about it.
    pub(super) git_locked: bool,
}

impl State {
    /// The watch thread: block for an event, drain the rest, send one batch; repeat.
    pub(super) fn run(mut self, rx: Receiver<Msg>) {
        // Off `start`'s path: asking git costs ~200 ms on a 100 000-file tree. Events that
        // come meanwhile wait in the queue.
        self.refresh_tracked();
        self.publish();
        let mut next_poll: Option<Instant> = None;
        let mut shutting_down = false;
        loop {
            if self.poller.is_empty() {
                next_poll = None;
            } else if next_poll.is_none() {
                next_poll = Some(Instant::now() + self.tuning.poll_every);
            }
            let first = match next_poll {
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(at) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
            };
            match first {
                Ok(Msg::Shutdown) | Err(RecvTimeoutError::Disconnected) => {
                    shutting_down = true;
                    break;
                }
                Ok(msg) => self.handle(msg),
                Err(RecvTimeoutError::Timeout) => {
                    self.poll_tick();
                    next_poll = Some(Instant::now() + self.tuning.poll_every);
                }
            }
            for _ in 0..MAX_BATCH {
                match rx.try_recv() {
                    Ok(Msg::Shutdown) | Err(TryRecvError::Disconnected) => {
                        shutting_down = true;
                        break;
                    }
                    Ok(msg) => self.handle(msg),
                    Err(TryRecvError::Empty) => break,
                }
            }
            if !self.flush() || shutting_down || self.batch.root_missing {
                break;
            }
        }
        let notify = matches!(self.backend, Backend::Notify(_));
        self.release();
        if shutting_down && notify {
            // notify closes its inotify instance on its own thread, then drops its handler and
            // with it the last sender: waiting for that makes dropping a Watcher synchronous.
            let deadline = Instant::now() + Duration::from_secs(2);
            while let Ok(_) | Err(RecvTimeoutError::Timeout) =
                rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                if Instant::now() >= deadline {
                    tracing::warn!("notify did not release its watches within 2 s");
                    break;
                }
            }
        }
    }

    /// The OS ran out of watches: rescan the polled directories, and retry watching them.
    pub(super) fn poll_tick(&mut self) {
        // Watch first, then scan once more, then stop polling: nothing written in between is lost.
        let mut promoted = Vec::new();
        for dir in self.poller.dirs() {
            match self.os_watch(&dir) {
                Ok((kept, token)) => {
                    self.watched.insert(kept, token);
                    promoted.push(dir);
                }
                Err(_) => break,
            }
        }
        for change in self.poller.scan() {
            match change {
                Change::Created(path) => self.file_event(&path, Fate::Created),
                Change::Written(path) => self.file_event(&path, Fate::Written),
                Change::Gone(path) => self.file_event(&path, Fate::Gone),
                Change::NewDir(path) => self.new_dir(&path),
                Change::GoneDir(path) => {
                    if self.is_known_dir(&path) {
                        self.dir_gone(&path, true);
                    }
                }
                Change::Unreadable(dir) if dir == self.root => self.check_root(),
                Change::Unreadable(dir) => self.dir_gone(&dir, true),
            }
        }
        for dir in &promoted {
            self.poller.remove(dir);
        }
        if !promoted.is_empty() {
            tracing::info!(
                count = promoted.len(),
                "watching directories that were polled"
            );
        }
    }

    /// Publish the watch count and the warnings.
    pub(super) fn publish(&mut self) {
        let count = self.watched.len() + self.git_watched.len();
        self.shared.os_watches.store(count, Ordering::Relaxed);
        let warnings = if self.poller.is_empty() {
            Vec::new()
        } else {
            vec![format!(
                "{OUT_OF_WATCHES}: {} directories under {} are polled every {} s instead of \
                 watched; {}",
                self.poller.len(),
                self.root.display(),
                self.tuning.poll_every.as_secs_f32(),
                out_of_watches_hint()
            )]
        };
        match self.shared.warnings.lock() {
            Ok(mut w) => *w = warnings,
            Err(poisoned) => *poisoned.into_inner() = warnings,
        }
    }

    /// Finish a batch: re-walk where rules changed, then send what was seen. False once the
    /// receiver is gone.
    pub(super) fn flush(&mut self) -> bool {
        // Every event of this drain was in by now (the workspace's quiet period counts from
        // here).
        let seen = Instant::now();
        let index_changed = self.batch.git
            && !self.git.as_ref().is_some_and(GitDirs::index_locked)
            && self.user_index_len() != self.index_len;
        if self.batch.rescan || !self.batch.reconcile.is_empty() || index_changed {
            // An ignore file changed (or anything may have), or the index gained or lost
            // entries: which tracked files the ignore rules match may have changed.
            self.refresh_tracked();
        }
        if self.batch.rescan {
            self.batch.reconcile.clear();
            let root = self.root.clone();
            self.reconcile(&root);
        } else {
            let mut dirs = std::mem::take(&mut self.batch.reconcile);
            dirs.sort();
            dirs.dedup();
            let mut done: Vec<PathBuf> = Vec::new();
            for dir in dirs {
                if !done.iter().any(|d| dir.starts_with(d)) {
                    self.reconcile(&dir);
                    done.push(dir);
                }
            }
        }
        self.publish();
        let mut out = Vec::new();
        if std::mem::take(&mut self.batch.rescan) {
            out.push(WatchEvent::Rescan);
        }
        let (changed, by_git) = self.batch.take_changed();
        if !changed.is_empty() {
            out.push(WatchEvent::Changed {
                paths: changed,
                seen,
            });
        }
        if !by_git.is_empty() {
            out.push(WatchEvent::GitWrote {
                paths: by_git,
                seen,
            });
        }
        if std::mem::take(&mut self.batch.git) {
            out.push(WatchEvent::Git {
                head_moved: std::mem::take(&mut self.batch.head_moved),
                index_locked: self.git.as_ref().is_some_and(GitDirs::index_locked),
            });
        }
        if self.batch.root_missing {
            tracing::warn!(path = %self.root.display(), "the watched root is gone");
            out.push(WatchEvent::RootMissing);
        }
        out.into_iter().all(|event| self.tx.send(event).is_ok())
    }
}

/// What running out of OS watches is called in warnings.
#[cfg(target_os = "linux")]
pub(super) const OUT_OF_WATCHES: &str = "out of inotify watches";
/// What running out of OS watches is called in warnings (no inotify here).
#[cfg(not(target_os = "linux"))]
pub(super) const OUT_OF_WATCHES: &str = "out of OS file watches";

/// The fix for running out of inotify watches, with a limit twice the current one.
#[cfg(target_os = "linux")]
pub(super) fn out_of_watches_hint() -> String {
    let current = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    let suggested = current.map_or(524_288, |c| (c * 2).max(524_288));
    format!(
        "raise the limit with `sudo sysctl fs.inotify.max_user_watches={suggested}` \
         (and persist it in /etc/sysctl.d/)"
    )
}

/// The fix for running out of OS watches where no inotify sysctl sets the limit: fewer
/// directories to watch, or a higher open-file limit (kqueue takes a descriptor per watch).
#[cfg(not(target_os = "linux"))]
pub(super) fn out_of_watches_hint() -> String {
    "ignore generated and dependency directories (.gitignore, or `watch.ignore` in the \
     config) so fewer need a watch, or raise the open-file limit (`ulimit -n`)"
        .to_owned()
}
