//! Hearing that the socket file was removed or replaced without waking up to look: on Linux an
//! inotify watch on the socket's directory, read on the runtime (no thread, no timer); elsewhere
//! a look every [`SOCKET_CHECK`]. An idle daemon then wakes for nothing at all.

use std::path::Path;
use std::time::Duration;

/// How often the socket file is looked at where the OS cannot say it changed.
pub const SOCKET_CHECK: Duration = Duration::from_secs(5);

/// Says when the socket's directory changed (something there was created, removed or renamed,
/// or the directory itself went): the caller then looks at the socket file.
pub struct SocketWatch {
    #[cfg(target_os = "linux")]
    inotify: Option<tokio::io::unix::AsyncFd<inotify::Inotify>>,
    /// The fallback: a look every [`SOCKET_CHECK`] (no inotify, or it failed).
    every: Option<tokio::time::Interval>,
}

impl SocketWatch {
    /// Watch the directory holding `socket` (call it before reading the socket's identity, so
    /// that a change in between is not missed). Must run inside the runtime.
    #[cfg_attr(not(target_os = "linux"), allow(unused_variables))]
    pub fn new(socket: &Path) -> Self {
        #[cfg(target_os = "linux")]
        {
            match socket.parent().map(linux::watch_dir) {
                Some(Ok(fd)) => {
                    return Self {
                        inotify: Some(fd),
                        every: None,
                    };
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "cannot watch the socket's directory; looking at it every {SOCKET_CHECK:?}");
                }
                None => {}
            }
        }
        Self {
            #[cfg(target_os = "linux")]
            inotify: None,
            every: Some(every()),
        }
    }

    /// Resolves when the socket may have changed.
    pub async fn changed(&mut self) {
        #[cfg(target_os = "linux")]
        if let Some(fd) = self.inotify.as_mut() {
            match linux::next(fd).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::debug!(error = %e, "the socket's directory watch failed; looking at it every {SOCKET_CHECK:?}");
                    self.inotify = None;
                    self.every = Some(every());
                    return;
                }
            }
        }
        match self.every.as_mut() {
            Some(every) => {
                every.tick().await;
            }
            None => std::future::pending().await,
        }
    }
}

fn every() -> tokio::time::Interval {
    let mut every =
        tokio::time::interval_at(tokio::time::Instant::now() + SOCKET_CHECK, SOCKET_CHECK);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every
}

#[cfg(target_os = "linux")]
mod linux {
    //! The inotify side: one non-blocking instance registered with the runtime's reactor.
    use std::io;
    use std::path::Path;

    use inotify::{Inotify, WatchMask};
    use tokio::io::Interest;
    use tokio::io::unix::AsyncFd;

    /// An inotify instance watching `dir` for entries created, removed or renamed, and for the
    /// directory's own removal or rename.
    pub(super) fn watch_dir(dir: &Path) -> io::Result<AsyncFd<Inotify>> {
        let inotify = Inotify::init()?;
        inotify.watches().add(
            dir,
            WatchMask::CREATE
                | WatchMask::DELETE
                | WatchMask::MOVED_FROM
                | WatchMask::MOVED_TO
                | WatchMask::DELETE_SELF
                | WatchMask::MOVE_SELF,
        )?;
        #[allow(unsafe_code)]
        // SAFETY: the Inotify owns its descriptor and closes it only when dropped, which is
        // when the AsyncFd drops it; `as_raw_fd` always returns that one descriptor.
        unsafe { AsyncFd::register_with_interest(inotify, Interest::READABLE) }
            .map_err(io::Error::from)
    }

    /// Wait for the next events and read them all.
    pub(super) async fn next(fd: &mut AsyncFd<Inotify>) -> io::Result<()> {
        let mut buf = [0u8; 1024];
        loop {
            let mut ready = fd.readable_mut().await?;
            match ready.get_inner_mut().read_events(&mut buf) {
                Ok(events) => {
                    // Drain what is queued: one look covers them all.
                    drop(events);
                    for _ in 0..64 {
                        if ready.get_inner_mut().read_events(&mut buf).is_err() {
                            break;
                        }
                    }
                    ready.clear_ready();
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => ready.clear_ready(),
                Err(e) => return Err(e),
            }
        }
    }
}
