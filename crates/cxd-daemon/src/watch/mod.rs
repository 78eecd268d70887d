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
mod git;
mod poll;
mod rules;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::io;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use self::backend::{Backend, BackendKind, Kind, Msg, WatchFailure};
use self::git::{GitDirs, GitHit};
use self::poll::{Change, Poller};
use self::rules::Rules;

/// What the watcher reports, batched: one message per drain of the raw event queue.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent {
    /// Files (paths relative to the root, deduplicated) created, modified, removed or renamed.
    /// Directories are not listed; files inside new directories are. One exception: a directory
    /// renamed away is listed by its own path, since its files can no longer be listed.
    Changed(Vec<PathBuf>),
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

/// What to watch.
#[derive(Debug, Clone, Default)]
pub struct WatchConfig {
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
        /// What was being done.
        action: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// The root is not a directory.
    #[error("cannot watch {path}: not a directory")]
    NotADirectory {
        /// The root given.
        path: PathBuf,
    },
    /// The OS watch facility refused.
    #[error("cannot {action} {path}: {reason}")]
    Watch {
        /// The path it was about.
        path: PathBuf,
        /// What was being done.
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
    pub fn start(
        config: WatchConfig,
        tx: UnboundedSender<WatchEvent>,
    ) -> Result<Watcher, WatchError> {
        Self::start_tuned(config, tx, Tuning::default())
    }

    fn start_tuned(
        config: WatchConfig,
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
        let root = fs::canonicalize(&config.root)
            .map_err(io_error(&config.root, "resolve the watch root"))?;
        let meta = fs::metadata(&root).map_err(io_error(&root, "read the watch root"))?;
        if !meta.is_dir() {
            return Err(WatchError::NotADirectory { path: root });
        }
        let exclude = config
            .exclude
            .iter()
            .map(|p| fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
            .collect();
        let git = GitDirs::find(&root);
        let info_exclude = git.as_ref().map(GitDirs::info_exclude);
        let rules = Rules::new(&root, &config.extra_ignore, info_exclude.as_deref());

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
            watched: BTreeSet::new(),
            git_watched: BTreeSet::new(),
            poller: Poller::default(),
            tuning,
            shared: Arc::clone(&shared),
            tx,
            batch: Batch::default(),
            polling_warned: false,
            index_len: None,
        };
        state.watch_git();
        match state.os_watch(&root) {
            Ok(()) => {
                state.watched.insert(root.clone());
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

/// How a file fared in an event.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fate {
    Created,
    Written,
    Gone,
}

/// What one drain of the raw queue found, sent as at most one message of each kind.
#[derive(Default)]
struct Batch {
    /// Relative path → (first seen as created, gone at last).
    paths: BTreeMap<PathBuf, (bool, bool)>,
    rescan: bool,
    git: bool,
    head_moved: bool,
    root_missing: bool,
    /// Directories whose ignore files changed: re-walk them before sending.
    reconcile: Vec<PathBuf>,
}

impl Batch {
    fn mark(&mut self, rel: PathBuf, fate: Fate) {
        let seen = self
            .paths
            .entry(rel)
            .or_insert((fate == Fate::Created, false));
        seen.1 = fate == Fate::Gone;
    }

    /// The paths to report: all but those both born and gone in this batch (an editor's temp file).
    fn take_changed(&mut self) -> Vec<PathBuf> {
        std::mem::take(&mut self.paths)
            .into_iter()
            .filter(|(_, (born, gone))| !(*born && *gone))
            .map(|(path, _)| path)
            .collect()
    }
}

/// Everything the watch thread owns.
struct State {
    root: PathBuf,
    /// (device, inode) of the root, to tell it was replaced.
    root_id: (u64, u64),
    exclude: Vec<PathBuf>,
    rules: Rules,
    git: Option<GitDirs>,
    /// The OS watches.
    backend: Backend,
    /// Tree directories holding an OS watch.
    watched: BTreeSet<PathBuf>,
    /// Directories under .git holding an OS watch.
    git_watched: BTreeSet<PathBuf>,
    /// Tree directories left without a watch (the OS ran out).
    poller: Poller,
    tuning: Tuning,
    shared: Arc<Shared>,
    tx: UnboundedSender<WatchEvent>,
    batch: Batch,
    polling_warned: bool,
    /// The user's index size when git last listed the tracked ignored files: a file added
    /// with `git add -f` (or untracked with `git rm --cached`) changes it.
    index_len: Option<u64>,
}

impl State {
    /// The watch thread: block for an event, drain the rest, send one batch; repeat.
    fn run(mut self, rx: Receiver<Msg>) {
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

    /// Ask git which tracked files its ignore rules match: those are reviewed all the same, so
    /// the directories holding them are watched (and left again when none is left there).
    fn refresh_tracked(&mut self) {
        self.index_len = self.user_index_len();
        let files = git::tracked_but_ignored(&self.root);
        let (added, removed) = self.rules.set_tracked(files);
        for dir in added {
            if !self.is_known_dir(&dir)
                && dir.parent().is_some_and(|p| self.is_known_dir(p))
                && !self.is_excluded(&dir)
                && !self.rules.is_ignored(&dir, true)
            {
                self.walk(&dir, false);
            }
        }
        for dir in removed {
            if let Some(parent) = dir.parent()
                && self.is_known_dir(&dir)
            {
                self.batch.reconcile.push(parent.to_path_buf());
            }
        }
    }

    /// The size of the user's index now (`None` without one).
    fn user_index_len(&self) -> Option<u64> {
        let git = self.git.as_ref()?;
        fs::metadata(git.git_dir.join("index"))
            .ok()
            .map(|m| m.len())
    }

    /// Drop every OS watch.
    fn release(&mut self) {
        self.backend.release();
        self.watched.clear();
        self.git_watched.clear();
        self.poller = Poller::default();
        self.publish();
    }

    /// Add one OS watch on `dir` (not yet recorded anywhere).
    fn os_watch(&mut self, dir: &Path) -> Result<(), WatchFailure> {
        if let Some(max) = self.tuning.max_watches
            && self.watched.len() + self.git_watched.len() >= max
        {
            return Err(WatchFailure::OutOfWatches);
        }
        self.backend.watch(dir)
    }

    fn os_unwatch(&mut self, dir: &Path) {
        self.backend.unwatch(dir);
    }

    /// Watch the git dir (HEAD, index.lock), the common dir (packed-refs) and refs/heads.
    fn watch_git(&mut self) {
        let Some(git) = self.git.clone() else {
            return;
        };
        self.watch_git_dir(&git.git_dir);
        if git.common_dir != git.git_dir {
            self.watch_git_dir(&git.common_dir);
        }
        let mut stack = vec![git.refs_heads];
        while let Some(dir) = stack.pop() {
            if !self.watch_git_dir(&dir) {
                continue;
            }
            for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(entry.path());
                }
            }
        }
    }

    fn watch_git_dir(&mut self, dir: &Path) -> bool {
        if self.git_watched.contains(dir) {
            return true;
        }
        match self.os_watch(dir) {
            Ok(()) => {
                self.git_watched.insert(dir.to_path_buf());
                true
            }
            Err(failure) => {
                tracing::warn!(path = %dir.display(), %failure, "cannot watch; git operations there go unseen");
                false
            }
        }
    }

    /// Make sure `dir` is watched (or polled); false when it cannot be read at all.
    fn watch_tree_dir(&mut self, dir: &Path) -> bool {
        if self.watched.contains(dir) || self.poller.contains(dir) {
            return true;
        }
        match self.os_watch(dir) {
            Ok(()) => {
                self.watched.insert(dir.to_path_buf());
                true
            }
            Err(WatchFailure::OutOfWatches) => {
                self.start_polling(dir);
                true
            }
            Err(WatchFailure::NotFound) => false,
            Err(WatchFailure::Other(error)) => {
                tracing::warn!(path = %dir.display(), %error, "cannot watch directory; skipping it");
                false
            }
        }
    }

    fn start_polling(&mut self, dir: &Path) {
        if !self.polling_warned {
            self.polling_warned = true;
            tracing::warn!(
                path = %dir.display(),
                "{OUT_OF_WATCHES}: polling the directories left unwatched; {}",
                out_of_watches_hint()
            );
        }
        self.poller.add(dir);
    }

    /// Watch `start` and every non-ignored directory below it, each watched before it is read
    /// so nothing written in between is lost. With `report`, the files found are marked created.
    /// Returns the directories visited.
    fn walk(&mut self, start: &Path, report: bool) -> Vec<PathBuf> {
        let mut visited = Vec::new();
        let mut stack = vec![start.to_path_buf()];
        let mut subdirs = Vec::new();
        let mut files = Vec::new();
        while let Some(dir) = stack.pop() {
            if !self.watch_tree_dir(&dir) {
                continue;
            }
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(error) => {
                    tracing::debug!(path = %dir.display(), %error, "cannot read directory");
                    continue;
                }
            };
            let (mut has_ignore, mut has_gitignore) = (false, false);
            for entry in entries.flatten() {
                let name = entry.file_name();
                if name == ".git" {
                    continue;
                }
                let Ok(file_type) = entry.file_type() else {
                    continue;
                };
                if file_type.is_dir() {
                    subdirs.push(dir.join(&name));
                } else {
                    has_ignore |= name == ".ignore";
                    has_gitignore |= name == ".gitignore";
                    if report {
                        files.push(dir.join(&name));
                    }
                }
            }
            self.rules.set_dir(&dir, has_ignore, has_gitignore);
            for sub in subdirs.drain(..) {
                if !self.is_excluded(&sub) && !self.rules.is_ignored(&sub, true) {
                    stack.push(sub);
                }
            }
            for file in files.drain(..) {
                if !self.rules.is_ignored(&file, false) {
                    self.mark(&file, Fate::Created);
                }
            }
            visited.push(dir);
        }
        visited
    }

    /// Re-walk `dir` under the current rules: newly un-ignored directories gain a watch, newly
    /// ignored ones (and anything gone) lose theirs.
    fn reconcile(&mut self, dir: &Path) {
        if !self.watched.contains(dir) && !self.poller.contains(dir) {
            return;
        }
        let visited: HashSet<PathBuf> = self.walk(dir, false).into_iter().collect();
        let stale: Vec<PathBuf> = self
            .watched
            .range::<Path, _>((Bound::Included(dir), Bound::Unbounded))
            .take_while(|d| d.starts_with(dir))
            .filter(|d| !visited.contains(*d))
            .cloned()
            .collect();
        for d in &stale {
            self.watched.remove(d);
            self.os_unwatch(d);
            self.rules.forget(d);
        }
        for d in self.poller.dirs() {
            if d.starts_with(dir) && !visited.contains(&d) {
                self.poller.remove(&d);
                self.rules.forget(&d);
            }
        }
        tracing::debug!(path = %dir.display(), unwatched = stale.len(), "re-evaluated ignore rules");
    }

    /// `dir` and everything below it are gone: drop their watches. With `list`, report the
    /// directory's own path, its files being out of reach.
    fn dir_gone(&mut self, dir: &Path, list: bool) {
        let under: Vec<PathBuf> = self
            .watched
            .range::<Path, _>((Bound::Included(dir), Bound::Unbounded))
            .take_while(|d| d.starts_with(dir))
            .cloned()
            .collect();
        for d in &under {
            self.watched.remove(d);
            self.os_unwatch(d);
            self.rules.forget(d);
        }
        let polled = self.poller.remove_under(dir);
        if list && under.len() + polled > 0 {
            self.mark(dir, Fate::Gone);
        }
    }

    fn is_known_dir(&self, path: &Path) -> bool {
        self.watched.contains(path) || self.poller.contains(path)
    }

    fn is_excluded(&self, path: &Path) -> bool {
        self.exclude.iter().any(|e| path.starts_with(e))
    }

    /// Whether an event about `path` comes from a directory still watched (or polled): events
    /// queued before a directory lost its watch are dropped.
    fn parent_watched(&self, path: &Path) -> bool {
        path.parent().is_some_and(|p| self.is_known_dir(p))
    }

    fn mark(&mut self, path: &Path, fate: Fate) {
        if let Ok(rel) = path.strip_prefix(&self.root) {
            self.batch.mark(rel.to_path_buf(), fate);
        }
    }

    /// A file in the tree was created, written or removed.
    fn file_event(&mut self, path: &Path, fate: Fate) {
        if !self.parent_watched(path) {
            return;
        }
        let name = path.file_name();
        if (name == Some(".gitignore".as_ref()) || name == Some(".ignore".as_ref()))
            && let Some(dir) = path.parent()
        {
            self.rules.reload_dir(dir);
            self.batch.reconcile.push(dir.to_path_buf());
        }
        // A path that is gone may have been an (ignored) directory: ignored either way, drop it.
        let ignored = self.rules.is_ignored(path, false)
            || (fate == Fate::Gone && self.rules.is_ignored(path, true));
        if !ignored {
            self.mark(path, fate);
        }
    }

    /// A directory appeared in the tree: watch it, then scan it, reporting its files.
    fn new_dir(&mut self, path: &Path) {
        if !self.parent_watched(path) || self.rules.is_ignored(path, true) {
            return;
        }
        self.walk(path, true);
    }

    /// Something was renamed to `path`: look at what it is.
    fn appeared(&mut self, path: &Path) {
        match fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => self.new_dir(path),
            Ok(_) => self.file_event(path, Fate::Created),
            Err(_) if self.is_known_dir(path) => self.dir_gone(path, true),
            Err(_) => self.file_event(path, Fate::Gone),
        }
    }

    fn check_root(&mut self) {
        match fs::symlink_metadata(&self.root) {
            Ok(meta) if file_id(&meta) == self.root_id => {}
            _ => self.batch.root_missing = true,
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Notify(event) => match backend::from_notify(&event) {
                Some(changes) => {
                    for (kind, path) in changes {
                        self.route(kind, &path);
                    }
                }
                None => self.batch.rescan = true,
            },
            #[cfg(target_os = "linux")]
            Msg::Inotify(raw) => {
                for raw in raw {
                    let Backend::Inotify(inotify) = &mut self.backend else {
                        return;
                    };
                    match inotify.resolve(raw) {
                        Some(changes) => {
                            for (kind, path) in changes {
                                self.route(kind, &path);
                            }
                        }
                        None => self.batch.rescan = true,
                    }
                }
            }
            Msg::Failed(error) => {
                tracing::error!(%error, "the OS watcher failed; asking for a rescan");
                self.batch.rescan = true;
            }
            Msg::Shutdown => {}
        }
    }

    fn route(&mut self, kind: Kind, path: &Path) {
        if self.batch.root_missing {
            return;
        }
        if path == self.root {
            if matches!(kind, Kind::Removed { .. } | Kind::MovedFrom) {
                self.check_root();
            }
            return;
        }
        if let Some(hit) = self.git.as_ref().and_then(|g| g.classify(path)) {
            self.git_event(kind, path, hit);
            return;
        }
        let Ok(rel) = path.strip_prefix(&self.root) else {
            return;
        };
        if rel.components().any(|c| c.as_os_str() == ".git") || self.is_excluded(path) {
            return;
        }
        let known_dir = self.is_known_dir(path);
        match kind {
            Kind::Created { dir: true } => self.new_dir(path),
            Kind::Created { dir: false } => self.file_event(path, Fate::Created),
            Kind::Removed { dir: Some(true) } => self.dir_gone(path, false),
            Kind::Removed { .. } if known_dir => self.dir_gone(path, false),
            Kind::Removed { .. } => self.file_event(path, Fate::Gone),
            Kind::MovedFrom if known_dir => self.dir_gone(path, true),
            Kind::MovedFrom => self.file_event(path, Fate::Gone),
            Kind::MovedTo { dir: Some(true) } => self.new_dir(path),
            Kind::MovedTo { dir: Some(false) } => self.file_event(path, Fate::Created),
            Kind::MovedTo { dir: None } => self.appeared(path),
            _ if known_dir => {}
            Kind::Written | Kind::Metadata { dir: Some(false) } => {
                self.file_event(path, Fate::Written)
            }
            Kind::Metadata { dir: Some(true) } => {}
            Kind::Metadata { dir: None } => {
                // chmod or touch, seen by notify: may be about an (ignored) directory.
                if !fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
                    self.file_event(path, Fate::Written);
                }
            }
        }
    }

    fn git_event(&mut self, kind: Kind, path: &Path, hit: GitHit) {
        let in_refs = self
            .git
            .as_ref()
            .is_some_and(|g| path.starts_with(&g.refs_heads));
        if in_refs {
            match kind {
                Kind::Created { dir: true } | Kind::MovedTo { dir: Some(true) } => {
                    self.watch_git_dir(path);
                }
                Kind::Removed { .. } | Kind::MovedFrom if self.git_watched.remove(path) => {
                    self.os_unwatch(path);
                }
                _ => {}
            }
        }
        match hit {
            GitHit::HeadMoved => {
                self.batch.git = true;
                self.batch.head_moved = true;
            }
            GitHit::Index => self.batch.git = true,
            GitHit::Noise => {}
        }
    }

    /// The OS ran out of watches: rescan the polled directories, and retry watching them.
    fn poll_tick(&mut self) {
        // Watch first, then scan once more, then stop polling: nothing written in between is lost.
        let mut promoted = Vec::new();
        for dir in self.poller.dirs() {
            match self.os_watch(&dir) {
                Ok(()) => {
                    self.watched.insert(dir.clone());
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
    fn publish(&mut self) {
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
    fn flush(&mut self) -> bool {
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
        let changed = self.batch.take_changed();
        if !changed.is_empty() {
            out.push(WatchEvent::Changed(changed));
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
const OUT_OF_WATCHES: &str = "out of inotify watches";
/// What running out of OS watches is called in warnings (no inotify here).
#[cfg(not(target_os = "linux"))]
const OUT_OF_WATCHES: &str = "out of OS file watches";

/// The fix for running out of inotify watches, with a limit twice the current one.
#[cfg(target_os = "linux")]
fn out_of_watches_hint() -> String {
    let current = fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
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
fn out_of_watches_hint() -> String {
    "ignore generated and dependency directories (.gitignore, or `watch.ignore` in the \
     config) so fewer need a watch, or raise the open-file limit (`ulimit -n`)"
        .to_owned()
}
