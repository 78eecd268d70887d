//! The OS watches: inotify driven directly on Linux, notify elsewhere.
//!
//! notify's inotify watcher adds each watch by a round trip to its own thread (a channel, an
//! eventfd wake, a stat, a reply): about 30 µs of CPU a directory, 11 000 directories costing
//! ~300 ms. Driving inotify from the watch thread makes each watch one syscall, and lets the
//! mask leave out reads (IN_OPEN, IN_ACCESS, IN_CLOSE_NOWRITE), so a build reading every source
//! file wakes nobody. A small reader thread blocks on the inotify fd and forwards raw events in
//! paced batches (see `super::inotify`); paths are resolved on the watch thread, which owns the
//! descriptor → path map.

use std::ffi::OsStr;
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
    Inotify(super::inotify::RawBatch),
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
    Inotify(super::inotify::Inotify),
    Notify(RecommendedWatcher),
    /// Every watch was released (the thread is stopping); calls do nothing.
    None,
}

impl Backend {
    /// Start a backend that sends what it sees to `tx`.
    pub(super) fn new(kind: BackendKind, tx: Sender<Msg>) -> Result<Backend, String> {
        match kind {
            #[cfg(target_os = "linux")]
            BackendKind::Inotify => super::inotify::Inotify::new(tx).map(Backend::Inotify),
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
    pub(super) fn watch(&mut self, dir: &Arc<OsStr>) -> Result<i32, WatchFailure> {
        match self {
            #[cfg(target_os = "linux")]
            Backend::Inotify(inotify) => inotify.watch(dir),
            Backend::Notify(notify) => notify
                .watch(Path::new(dir.as_ref()), RecursiveMode::NonRecursive)
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
