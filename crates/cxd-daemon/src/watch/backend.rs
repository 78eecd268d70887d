//! The OS watches: inotify driven directly on Linux, notify elsewhere.
//!
//! notify's inotify watcher adds each watch by a round trip to its own thread (a channel, an
//! eventfd wake, a stat, a reply): about 30 µs of CPU a directory, 11 000 directories costing
//! ~300 ms. Driving inotify from the watch thread makes each watch one syscall, and lets the
//! mask leave out reads (IN_OPEN, IN_ACCESS, IN_CLOSE_NOWRITE), so a build reading every source
//! file wakes nobody. A small reader thread blocks on the inotify fd and forwards raw events;
//! paths are resolved on the watch thread, which owns the descriptor → path map.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::Sender;

use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RemoveKind, RenameMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};

/// What happened to a path, whichever backend saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Kind {
    /// Created; `dir` tells a directory.
    Created { dir: bool },
    /// Deleted; `dir` when known.
    Removed { dir: Option<bool> },
    /// Renamed away (or the watched directory itself moved).
    MovedFrom,
    /// Renamed here; `dir` when known.
    MovedTo { dir: Option<bool> },
    /// Content written.
    Written,
    /// Permissions or times changed; `dir` when known.
    Metadata { dir: Option<bool> },
}

/// What the watch thread receives.
pub(super) enum Msg {
    /// From notify's thread: an event it saw.
    Notify(notify::Event),
    /// From the inotify reader thread: one read's worth.
    #[cfg(target_os = "linux")]
    Inotify(Vec<inotify_backend::RawEvent>),
    /// The backend failed (its reader stopped, or it reported an error): events may be lost.
    Failed(String),
    /// The Watcher was dropped.
    Shutdown,
}

/// Why a watch could not be added.
#[derive(Debug)]
pub(super) enum WatchFailure {
    /// The OS has no watches left (inotify's ENOSPC, notify's MaxFilesWatch).
    OutOfWatches,
    /// The directory is gone.
    NotFound,
    /// Anything else (permissions...).
    Other(String),
}

impl std::fmt::Display for WatchFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WatchFailure::OutOfWatches => f.write_str(super::thread::OUT_OF_WATCHES),
            WatchFailure::NotFound => f.write_str("no such directory"),
            WatchFailure::Other(error) => f.write_str(error),
        }
    }
}

/// Which backend a Watcher uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum BackendKind {
    /// inotify directly (Linux).
    #[cfg(target_os = "linux")]
    Inotify,
    /// notify's recommended watcher (on Linux, only the tests pick it).
    #[cfg_attr(all(target_os = "linux", not(test)), allow(dead_code))]
    Notify,
}

impl Default for BackendKind {
    fn default() -> Self {
        #[cfg(target_os = "linux")]
        return BackendKind::Inotify;
        #[cfg(not(target_os = "linux"))]
        return BackendKind::Notify;
    }
}

/// The OS watches of one tree.
pub(super) enum Backend {
    #[cfg(target_os = "linux")]
    Inotify(inotify_backend::Inotify),
    Notify(RecommendedWatcher),
    /// Every watch was released (the thread is stopping); calls do nothing.
    None,
}

impl Backend {
    /// Start a backend that sends what it sees to `tx`.
    pub(super) fn new(kind: BackendKind, tx: Sender<Msg>) -> Result<Backend, String> {
        match kind {
            #[cfg(target_os = "linux")]
            BackendKind::Inotify => inotify_backend::Inotify::new(tx).map(Backend::Inotify),
            BackendKind::Notify => {
                notify::recommended_watcher(move |raw: notify::Result<notify::Event>| {
                    if let Some(msg) = notify_msg(raw) {
                        let _ = tx.send(msg);
                    }
                })
                .map(Backend::Notify)
                .map_err(|e| e.to_string())
            }
        }
    }

    /// Add a non-recursive watch on `dir` (its name shared with the caller's own set: one copy
    /// of each of the tree's directory names). Returns the token [`Backend::unwatch`] takes.
    pub(super) fn watch(&mut self, dir: &Arc<Path>) -> Result<i32, WatchFailure> {
        match self {
            #[cfg(target_os = "linux")]
            Backend::Inotify(inotify) => inotify.watch(dir),
            Backend::Notify(notify) => notify
                .watch(dir.as_ref(), RecursiveMode::NonRecursive)
                .map(|()| 0)
                .map_err(|error| match &error.kind {
                    notify::ErrorKind::MaxFilesWatch => WatchFailure::OutOfWatches,
                    notify::ErrorKind::PathNotFound => WatchFailure::NotFound,
                    notify::ErrorKind::Io(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                        WatchFailure::OutOfWatches
                    }
                    notify::ErrorKind::Io(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        WatchFailure::NotFound
                    }
                    _ => WatchFailure::Other(error.to_string()),
                }),
            Backend::None => Ok(0),
        }
    }

    /// Drop the watch on `dir` (`token`: what [`Backend::watch`] returned), if any (the OS may
    /// have dropped it already).
    #[cfg_attr(not(target_os = "linux"), allow(unused_variables))]
    pub(super) fn unwatch(&mut self, dir: &Path, token: i32) {
        match self {
            #[cfg(target_os = "linux")]
            Backend::Inotify(inotify) => inotify.unwatch(token),
            Backend::Notify(notify) => {
                let _ = notify.unwatch(dir);
            }
            Backend::None => {}
        }
    }

    /// Release every watch; returns once they are released where the backend allows.
    pub(super) fn release(&mut self) {
        match std::mem::replace(self, Backend::None) {
            #[cfg(target_os = "linux")]
            Backend::Inotify(inotify) => drop(inotify),
            Backend::Notify(notify) => drop(notify),
            Backend::None => {}
        }
    }
}

/// What notify's event handler passes on to the watch thread: an error is the backend failing
/// (FSEvents or kqueue on macOS, inotify under notify) and reaches it as [`Msg::Failed`], as
/// the inotify reader's failures do; a read is not a change and wakes nobody (`None`).
pub(super) fn notify_msg(raw: notify::Result<notify::Event>) -> Option<Msg> {
    match raw {
        Ok(event) if matches!(event.kind, EventKind::Access(a) if a != AccessKind::Close(AccessMode::Write)) => {
            None
        }
        Ok(event) => Some(Msg::Notify(event)),
        Err(error) => Some(Msg::Failed(format!("the notify watcher reported: {error}"))),
    }
}

/// Turn a notify event into (kind, path) pairs; `None` for a rescan request.
pub(super) fn from_notify(event: &notify::Event) -> Option<Vec<(Kind, PathBuf)>> {
    if event.need_rescan() {
        return None;
    }
    let kind = match event.kind {
        EventKind::Create(CreateKind::Folder) => Kind::Created { dir: true },
        EventKind::Create(_) => Kind::Created { dir: false },
        EventKind::Remove(RemoveKind::Folder) => Kind::Removed { dir: Some(true) },
        EventKind::Remove(RemoveKind::File) => Kind::Removed { dir: Some(false) },
        EventKind::Remove(_) => Kind::Removed { dir: None },
        EventKind::Modify(ModifyKind::Name(RenameMode::From)) => Kind::MovedFrom,
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => return Some(Vec::new()),
        EventKind::Modify(ModifyKind::Name(_)) => Kind::MovedTo { dir: None },
        EventKind::Modify(ModifyKind::Metadata(_)) => Kind::Metadata { dir: None },
        EventKind::Modify(_) | EventKind::Access(AccessKind::Close(AccessMode::Write)) => {
            Kind::Written
        }
        EventKind::Access(_) | EventKind::Any | EventKind::Other => return Some(Vec::new()),
    };
    Some(event.paths.iter().map(|p| (kind, p.clone())).collect())
}

#[cfg(target_os = "linux")]
pub(super) mod inotify_backend {
    //! inotify without notify: watches added by syscall on the watch thread, events read by a
    //! reader thread that blocks on the fd.

    use std::collections::HashMap;
    use std::ffi::OsString;
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc::Sender;
    use std::thread::JoinHandle;

    use inotify::{EventMask, WatchMask, Watches};

    use super::{Kind, Msg, WatchFailure};

    /// One raw event, its path still to be resolved from `wd`.
    #[derive(Debug)]
    pub(in crate::watch) struct RawEvent {
        wd: i32,
        mask: EventMask,
        name: Option<OsString>,
    }

    /// The inotify instance of one Watcher, seen from the watch thread.
    pub(in crate::watch) struct Inotify {
        watches: Watches,
        by_wd: HashMap<i32, (Arc<Path>, inotify::WatchDescriptor)>,
        stop: Arc<AtomicBool>,
        reader: Option<JoinHandle<()>>,
    }

    const MASK: WatchMask = WatchMask::CREATE
        .union(WatchMask::DELETE)
        .union(WatchMask::MOVED_FROM)
        .union(WatchMask::MOVED_TO)
        .union(WatchMask::CLOSE_WRITE)
        .union(WatchMask::MODIFY)
        .union(WatchMask::ATTRIB)
        .union(WatchMask::DELETE_SELF)
        .union(WatchMask::MOVE_SELF)
        .union(WatchMask::ONLYDIR)
        .union(WatchMask::DONT_FOLLOW)
        .union(WatchMask::EXCL_UNLINK);

    impl Inotify {
        pub(in crate::watch) fn new(tx: Sender<Msg>) -> Result<Inotify, String> {
            let inotify = inotify::Inotify::init().map_err(|e| {
                format!(
                    "{e} (too many inotify instances? raise `sudo sysctl fs.inotify.max_user_instances=...`)"
                )
            })?;
            let watches = inotify.watches();
            let stop = Arc::new(AtomicBool::new(false));
            let reader_stop = Arc::clone(&stop);
            let reader = std::thread::Builder::new()
                .name("cxd-inotify".into())
                .spawn(move || read_loop(inotify, &tx, &reader_stop))
                .map_err(|e| format!("cannot start the inotify reader thread: {e}"))?;
            Ok(Inotify {
                watches,
                by_wd: HashMap::new(),
                stop,
                reader: Some(reader),
            })
        }

        /// Watch `dir`; returns the watch descriptor's number.
        pub(in crate::watch) fn watch(&mut self, dir: &Arc<Path>) -> Result<i32, WatchFailure> {
            match self.watches.add(dir.as_ref(), MASK) {
                Ok(wd) => {
                    let id = wd.get_watch_descriptor_id();
                    self.by_wd.insert(id, (Arc::clone(dir), wd));
                    Ok(id)
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => Err(WatchFailure::OutOfWatches),
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                    Err(WatchFailure::NotFound)
                }
                Err(e) => Err(WatchFailure::Other(e.to_string())),
            }
        }

        /// Drop the watch numbered `id` (see [`Inotify::watch`]).
        pub(in crate::watch) fn unwatch(&mut self, id: i32) {
            if let Some((_, wd)) = self.by_wd.remove(&id) {
                // EINVAL when the kernel dropped it already (directory deleted): fine.
                let _ = self.watches.remove(wd);
            }
        }

        /// Resolve a raw event into (kind, path) pairs; `None` when the queue overflowed.
        pub(in crate::watch) fn resolve(&mut self, raw: RawEvent) -> Option<Vec<(Kind, PathBuf)>> {
            if raw.mask.contains(EventMask::Q_OVERFLOW) {
                return None;
            }
            let mut out = Vec::new();
            let Some((dir, _)) = self.by_wd.get(&raw.wd) else {
                return Some(out);
            };
            let dir = dir.clone();
            if raw.mask.contains(EventMask::IGNORED) {
                // The kernel dropped the watch (its directory is gone).
                self.by_wd.remove(&raw.wd);
                return Some(out);
            }
            let is_dir = raw.mask.contains(EventMask::ISDIR);
            let path = match &raw.name {
                Some(name) => dir.join(name),
                None => dir.to_path_buf(),
            };
            let mask = raw.mask;
            if mask.contains(EventMask::CREATE) {
                out.push((Kind::Created { dir: is_dir }, path.clone()));
            }
            if mask.contains(EventMask::MOVED_FROM) {
                out.push((Kind::MovedFrom, path.clone()));
            }
            if mask.contains(EventMask::MOVED_TO) {
                out.push((Kind::MovedTo { dir: Some(is_dir) }, path.clone()));
            }
            if mask.intersects(EventMask::MODIFY | EventMask::CLOSE_WRITE) {
                out.push((Kind::Written, path.clone()));
            }
            if mask.contains(EventMask::ATTRIB) {
                out.push((Kind::Metadata { dir: Some(is_dir) }, path.clone()));
            }
            if mask.contains(EventMask::DELETE) {
                out.push((Kind::Removed { dir: Some(is_dir) }, path.clone()));
            }
            if mask.contains(EventMask::DELETE_SELF) {
                out.push((Kind::Removed { dir: Some(true) }, dir.to_path_buf()));
            }
            if mask.contains(EventMask::MOVE_SELF) {
                out.push((Kind::MovedFrom, dir.to_path_buf()));
            }
            Some(out)
        }
    }

    impl Drop for Inotify {
        /// Remove every watch, stop the reader and wait for it: the fd is closed on return.
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            let mut woken = false;
            for (_, (_, wd)) in self.by_wd.drain() {
                // Each removal queues IN_IGNORED, which wakes the reader.
                woken |= self.watches.remove(wd).is_ok();
            }
            if !woken {
                // No watch left to remove: make one, on a directory that always exists.
                if let Ok(wd) = self
                    .watches
                    .add("/", WatchMask::ATTRIB | WatchMask::ONESHOT)
                {
                    woken = self.watches.remove(wd).is_ok();
                }
            }
            if let Some(reader) = self.reader.take() {
                if woken {
                    if reader.join().is_err() {
                        tracing::error!("the inotify reader thread panicked");
                    }
                } else {
                    tracing::warn!(
                        "cannot wake the inotify reader; it stays until the process exits"
                    );
                }
            }
        }
    }

    fn read_loop(mut inotify: inotify::Inotify, tx: &Sender<Msg>, stop: &AtomicBool) {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let events = match inotify.read_events_blocking(&mut buffer) {
                Ok(events) => events,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = tx.send(Msg::Failed(format!("cannot read inotify events: {e}")));
                    return;
                }
            };
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let raw: Vec<RawEvent> = events
                .map(|e| RawEvent {
                    wd: e.wd.get_watch_descriptor_id(),
                    mask: e.mask,
                    name: e.name.map(ToOwned::to_owned),
                })
                .collect();
            if tx.send(Msg::Inotify(raw)).is_err() {
                return;
            }
        }
    }
}
