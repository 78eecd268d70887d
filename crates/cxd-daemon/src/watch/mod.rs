//! Watching a working tree: non-recursive OS watches on every non-ignored directory.
//!
//! [`Watcher::start`] walks the tree once with the `ignore` crate's rules (nested `.gitignore`,
//! `.ignore`, `.git/info/exclude`, the global excludes file, plus the config's patterns) and adds
//! one non-recursive OS watch per directory that is not ignored; ignored directories such as
//! `target/` and `node_modules/` are never entered. The watches are inotify's, driven directly on
//! Linux (see `backend` for why), notify's elsewhere. A dedicated thread owns them: it drains the
//! raw events, keeps the watches in step with the tree (a new directory is watched first, then
//! scanned; a changed ignore file re-evaluates the rules) and sends one batched [`WatchEvent`]
//! per drain. `.git` is watched shallowly, only to report
//! [`WatchEvent::Git`]. Out of inotify watches, the directories left over are polled and
//! [`Watcher::warnings`] says how to raise the limit. Idle, nothing runs: both threads block.
mod backend;
mod batch;
mod git;
#[cfg(target_os = "linux")]
mod inotify;
mod paths;
mod poll;
mod routing;
mod rules;
#[cfg(test)]
mod tests;
mod thread;
mod tree;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use self::backend::{Backend, BackendKind, Msg, WatchFailure};
use self::batch::Batch;
use self::git::GitDirs;
use self::poll::Poller;
use self::rules::Rules;
use self::thread::State;

/// What the watcher reports, batched: one message per drain of the raw event queue.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent {
    /// Files (paths relative to the root, deduplicated) created, modified, removed or renamed.
    /// Directories are not listed; files inside new directories are. One exception: a directory
    /// renamed away is listed by its own path, since its files can no longer be listed.
    /// Only what changed while git did not hold `.git/index.lock`: edits.
    Changed {
        /// The files.
        paths: Vec<PathBuf>,
        /// When the watch thread had them: the quiet period counts from here, not from when
        /// the workspace got to them.
        seen: std::time::Instant,
    },
    /// Files changed only while git held `.git/index.lock`: git's own writes (a checkout,
    /// merge, pull, rebase or reset), told apart so a HEAD move never hides an edit.
    GitWrote {
        /// The files.
        paths: Vec<PathBuf>,
        /// When the watch thread had them.
        seen: std::time::Instant,
    },
    /// Something under .git moved: `head_moved` when HEAD or a ref changed, `index_locked`
    /// whether .git/index.lock exists now.
    Git {
        /// HEAD, packed-refs or a branch ref was replaced.
        head_moved: bool,
        /// `.git/index.lock` exists now: a git command is running.
        index_locked: bool,
    },
    /// The kernel queue overflowed or notify asked for a rescan: anything may have changed.
    Rescan,
    /// The root directory was deleted or renamed away. Nothing more is reported after it.
    RootMissing,
}

/// What a [`Watcher`] is started with: one tree, the config's extra ignore patterns, and the
/// directories never to watch. Built by the workspace from `[watch]` and the repository's config.
#[derive(Debug, Clone, Default)]
pub struct WatchSpec {
    /// The working tree's root directory.
    pub root: PathBuf,
    /// More gitignore-style patterns, relative to the root; they win over the tree's own files.
    pub extra_ignore: Vec<String>,
    /// Absolute directories never watched nor reported (cxd's own state dir may be in a tree).
    pub exclude: Vec<PathBuf>,
}

/// Why watching could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WatchError {
    /// A file-system call failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// The path it was about.
        path: PathBuf,
        /// What was being done, as a verb for the message (e.g. "read").
        action: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// The root is not a directory.
    #[error("cannot watch {path}: not a directory")]
    NotADirectory {
        /// The root the caller asked to watch.
        path: PathBuf,
    },
    /// The OS watch facility refused.
    #[error("cannot {action} {path}: {reason}")]
    Watch {
        /// The path it was about.
        path: PathBuf,
        /// What was being done, as a verb for the message (e.g. "watch").
        action: &'static str,
        /// What the OS (or notify) said.
        reason: String,
    },
}

/// A running watch on one tree. Dropping it stops the thread and releases every OS watch.
pub struct Watcher {
    shared: Arc<Shared>,
    /// Feeds the watch thread; `None` once dropped.
    control: Option<Sender<Msg>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("os_watches", &self.os_watches())
            .finish_non_exhaustive()
    }
}

/// What the watch thread publishes for the owner.
#[derive(Default)]
struct Shared {
    os_watches: AtomicUsize,
    warnings: Mutex<Vec<String>>,
}

/// Knobs the tests turn; the defaults are what the daemon uses.
#[derive(Debug, Clone, Copy)]
struct Tuning {
    /// Fail watches past this many, as if the OS were out of them.
    max_watches: Option<usize>,
    /// How often directories left unwatched are rescanned.
    poll_every: Duration,
    /// inotify directly (Linux) or notify.
    backend: BackendKind,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            max_watches: None,
            poll_every: Duration::from_secs(3),
            backend: BackendKind::default(),
        }
    }
}

/// Raw events handled in one batch at most, so a flood still yields a message now and then.
const MAX_BATCH: usize = 65_536;

impl Watcher {
    /// Walk the tree, add one non-recursive OS watch per non-ignored directory, and start
    /// delivering events to `tx`. Blocks until the tree is fully watched (from async code,
    /// call it in `spawn_blocking`).
    pub fn start(spec: WatchSpec, tx: UnboundedSender<WatchEvent>) -> Result<Watcher, WatchError> {
        Self::start_tuned(spec, tx, Tuning::default())
    }

    fn start_tuned(
        spec: WatchSpec,
        tx: UnboundedSender<WatchEvent>,
        tuning: Tuning,
    ) -> Result<Watcher, WatchError> {
        let io_error = |path: &Path, action| {
            let path = path.to_path_buf();
            move |source| WatchError::Io {
                path,
                action,
                source,
            }
        };
        let root =
            fs::canonicalize(&spec.root).map_err(io_error(&spec.root, "resolve the watch root"))?;
        let meta = fs::metadata(&root).map_err(io_error(&root, "read the watch root"))?;
        if !meta.is_dir() {
            return Err(WatchError::NotADirectory { path: root });
        }
        // Compared by bytes (see `paths`): one spelling, without `.` or a trailing separator.
        let exclude = spec
            .exclude
            .iter()
            .map(|p| fs::canonicalize(p).unwrap_or_else(|_| p.components().collect()))
            .collect();
        let git = GitDirs::find(&root);
        let info_exclude = git.as_ref().map(GitDirs::info_exclude);
        let rules = Rules::new(&root, &spec.extra_ignore, info_exclude.as_deref());

        let (raw_tx, raw_rx) = mpsc::channel();
        let backend =
            Backend::new(tuning.backend, raw_tx.clone()).map_err(|reason| WatchError::Watch {
                path: root.clone(),
                action: "create an OS watcher for",
                reason,
            })?;

        let shared = Arc::new(Shared::default());
        let mut state = State {
            root_id: file_id(&meta),
            root: root.clone(),
            exclude,
            rules,
            git,
            backend,
            watched: BTreeMap::new(),
            git_watched: BTreeMap::new(),
            poller: Poller::default(),
            tuning,
            shared: Arc::clone(&shared),
            tx,
            batch: Batch::default(),
            polling_warned: false,
            index_len: None,
            git_locked: false,
        };
        state.git_locked = state.git.as_ref().is_some_and(GitDirs::index_locked);
        state.watch_git();
        match state.os_watch(&root) {
            Ok((dir, token)) => {
                state.watched.insert(dir, token);
            }
            Err(WatchFailure::OutOfWatches) => state.start_polling(&root),
            Err(failure) => {
                state.release();
                return Err(WatchError::Watch {
                    path: root,
                    action: "watch",
                    reason: failure.to_string(),
                });
            }
        }
        state.walk(&root, false);
        state.publish();
        let thread = std::thread::Builder::new()
            .name("cxd-watch".into())
            .spawn(move || state.run(raw_rx))
            .map_err(io_error(&root, "start the watch thread for"))?;
        Ok(Watcher {
            shared,
            control: Some(raw_tx),
            thread: Some(thread),
        })
    }

    /// OS watches held right now (one per watched directory, plus the few under .git).
    pub fn os_watches(&self) -> usize {
        self.shared.os_watches.load(Ordering::Relaxed)
    }

    /// Problems worth showing the user, each with its fix (e.g. out of inotify watches).
    pub fn warnings(&self) -> Vec<String> {
        match self.shared.warnings.lock() {
            Ok(warnings) => warnings.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Feed what notify's event handler receives to the watch thread, through the same path.
    #[cfg(test)]
    fn inject(&self, raw: notify::Result<notify::Event>) {
        if let Some(control) = &self.control
            && let Some(msg) = backend::notify_msg(raw)
        {
            let _ = control.send(msg);
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if let Some(control) = self.control.take() {
            let _ = control.send(Msg::Shutdown);
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the watch thread panicked");
        }
    }
}

#[cfg(unix)]
fn file_id(meta: &fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn file_id(_meta: &fs::Metadata) -> (u64, u64) {
    (0, 0)
}
