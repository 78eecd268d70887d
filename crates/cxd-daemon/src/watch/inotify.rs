//! inotify without notify: watches added by syscall on the watch thread, events read by a
//! reader thread that blocks on the fd and hands them over in paced batches.
//!
//! A checkout writes ~20 000 events in half a second. Handing each read over as it comes (one
//! or two events) costs a wake-up of the watch thread and of the workspace per read: most of
//! the daemon's CPU in a checkout went to context switches. So the reader paces a flood: a
//! read within [`FLOOD_GAP`] of the last hand-off continues a flood, and past the first
//! [`FREE_READS`] of a flood (a single save is three events at most, never delayed) each read
//! waits until `pace` after the last hand-off, then takes everything queued meanwhile in one
//! batch; `pace` doubles while the flood lasts, up to [`MAX_PACE`]. The kernel also merges
//! identical consecutive events (a file's repeated IN_MODIFY) while they wait in its queue.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use inotify::{EventMask, WatchMask, Watches};

use super::backend::{Kind, Msg, WatchFailure};

/// A read this soon after the last hand-off continues a flood.
const FLOOD_GAP: Duration = Duration::from_millis(1);
/// Reads of a flood handed over at once, before pacing starts.
const FREE_READS: u32 = 3;
/// The first wait of a paced read.
const MIN_PACE: Duration = Duration::from_micros(250);
/// The longest a read waits for the one before it: a flood costs one hand-off per this.
const MAX_PACE: Duration = Duration::from_millis(4);
/// Events per batch at most, so a flood still moves on in pieces.
const MAX_EVENTS: usize = 16_384;

/// What one hand-off carries: events in order, their names in one buffer.
#[derive(Debug, Default)]
pub(super) struct RawBatch {
    events: Vec<RawEvent>,
    names: Vec<u8>,
}

/// One raw event, its path still to be resolved from `wd`.
#[derive(Debug)]
struct RawEvent {
    wd: i32,
    mask: EventMask,
    /// The name's bytes in [`RawBatch::names`] (empty: about the watched directory itself).
    name: (u32, u32),
}

impl RawBatch {
    fn push(&mut self, event: inotify::Event<&OsStr>) {
        let start = self.names.len();
        if let Some(name) = event.name {
            self.names.extend_from_slice(name.as_bytes());
        }
        self.events.push(RawEvent {
            wd: event.wd.get_watch_descriptor_id(),
            mask: event.mask,
            name: (start as u32, self.names.len() as u32),
        });
    }

    fn len(&self) -> usize {
        self.events.len()
    }

    /// Each event as (descriptor, mask, name when about an entry of the directory).
    pub(super) fn iter(&self) -> impl Iterator<Item = (i32, EventMask, Option<&OsStr>)> {
        self.events.iter().map(|e| {
            let (start, end) = (e.name.0 as usize, e.name.1 as usize);
            let name = (end > start).then(|| OsStr::from_bytes(&self.names[start..end]));
            (e.wd, e.mask, name)
        })
    }
}

/// What a raw event is about, once its descriptor is looked up.
pub(super) enum Resolved {
    /// The kernel queue overflowed: anything may have changed.
    Overflow,
    /// A descriptor no longer watched (events queued before the watch went), or the kernel
    /// dropping a watch: nothing to report.
    Nothing,
    /// An event in the watched directory `dir`.
    In(Arc<OsStr>),
}

/// The kinds an event's mask holds, in the order they are reported; `true` with a kind that is
/// about the watched directory itself rather than the event's name.
pub(super) fn kinds(mask: EventMask) -> impl Iterator<Item = (Kind, bool)> {
    let is_dir = mask.contains(EventMask::ISDIR);
    [
        (EventMask::CREATE, Kind::Created { dir: is_dir }, false),
        (EventMask::MOVED_FROM, Kind::MovedFrom, false),
        (
            EventMask::MOVED_TO,
            Kind::MovedTo { dir: Some(is_dir) },
            false,
        ),
        (
            EventMask::MODIFY.union(EventMask::CLOSE_WRITE),
            Kind::Written,
            false,
        ),
        (
            EventMask::ATTRIB,
            Kind::Metadata { dir: Some(is_dir) },
            false,
        ),
        (
            EventMask::DELETE,
            Kind::Removed { dir: Some(is_dir) },
            false,
        ),
        (
            EventMask::DELETE_SELF,
            Kind::Removed { dir: Some(true) },
            true,
        ),
        (EventMask::MOVE_SELF, Kind::MovedFrom, true),
    ]
    .into_iter()
    .filter(move |(bits, _, _)| mask.intersects(*bits))
    .map(|(_, kind, itself)| (kind, itself))
}

/// The inotify instance of one Watcher, seen from the watch thread.
pub(super) struct Inotify {
    watches: Watches,
    by_wd: HashMap<i32, (Arc<OsStr>, inotify::WatchDescriptor)>,
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
    pub(super) fn new(tx: Sender<Msg>) -> Result<Inotify, String> {
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
    pub(super) fn watch(&mut self, dir: &Arc<OsStr>) -> Result<i32, WatchFailure> {
        match self.watches.add(Path::new(dir.as_ref()), MASK) {
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
    pub(super) fn unwatch(&mut self, id: i32) {
        if let Some((_, wd)) = self.by_wd.remove(&id) {
            // EINVAL when the kernel dropped it already (directory deleted): fine.
            let _ = self.watches.remove(wd);
        }
    }

    /// Look up the directory of a raw event.
    pub(super) fn resolve(&mut self, wd: i32, mask: EventMask) -> Resolved {
        if mask.contains(EventMask::Q_OVERFLOW) {
            return Resolved::Overflow;
        }
        if mask.contains(EventMask::IGNORED) {
            // The kernel dropped the watch (its directory is gone).
            self.by_wd.remove(&wd);
            return Resolved::Nothing;
        }
        match self.by_wd.get(&wd) {
            Some((dir, _)) => Resolved::In(Arc::clone(dir)),
            None => Resolved::Nothing,
        }
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
                tracing::warn!("cannot wake the inotify reader; it stays until the process exits");
            }
        }
    }
}

/// Read events until stopped, handing them to the watch thread paced as the module says.
fn read_loop(mut inotify: inotify::Inotify, tx: &Sender<Msg>, stop: &AtomicBool) {
    let mut buffer = vec![0u8; 64 * 1024];
    let mut last_sent: Option<Instant> = None;
    let mut streak = 0u32;
    let mut pace = MIN_PACE;
    loop {
        let mut batch = RawBatch::default();
        match inotify.read_events_blocking(&mut buffer) {
            Ok(events) => events.for_each(|e| batch.push(e)),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = tx.send(Msg::Failed(format!("cannot read inotify events: {e}")));
                return;
            }
        }
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let now = Instant::now();
        if last_sent.is_some_and(|sent| now.duration_since(sent) < FLOOD_GAP) {
            streak += 1;
        } else {
            (streak, pace) = (0, MIN_PACE);
        }
        if let Some(sent) = last_sent.filter(|_| streak > FREE_READS) {
            // Deep in a flood: wait out the pace, then take everything queued meanwhile.
            std::thread::sleep((sent + pace).saturating_duration_since(now));
            pace = (pace * 2).min(MAX_PACE);
            let mut failed = None;
            while batch.len() < MAX_EVENTS {
                match inotify.read_events(&mut buffer) {
                    Ok(events) => events.for_each(|e| batch.push(e)),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        failed = Some(format!("cannot read inotify events: {e}"));
                        break;
                    }
                }
            }
            if let Some(error) = failed {
                let _ = tx.send(Msg::Inotify(batch));
                let _ = tx.send(Msg::Failed(error));
                return;
            }
            if stop.load(Ordering::SeqCst) {
                return;
            }
        }
        if tx.send(Msg::Inotify(batch)).is_err() {
            return;
        }
        last_sent = Some(Instant::now());
    }
}
