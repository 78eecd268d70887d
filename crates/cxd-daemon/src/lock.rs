//! The single-instance lock: one daemon per state dir, and proof that a leftover socket is stale.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// How long to wait for a lock whose holder no longer answers (it is shutting down).
const STOPPING_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Held for the daemon's lifetime; the OS releases it if the process dies.
#[derive(Debug)]
pub struct InstanceLock {
    file: File,
    path: PathBuf,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another daemon of this user holds it, so this one must not start.
    #[error("cxd daemon already running (pid {pid}, socket {socket})")]
    AlreadyRunning {
        /// The holder's pid, as it wrote it ("unknown" if not yet written).
        pid: String,
        /// The socket the holder wrote into the lock file, for the user to reach it.
        socket: String,
    },
    /// The lock file could not be opened or written.
    #[error("cannot {action} lock file {path}: {source}")]
    Io {
        /// The lock file in the state dir.
        path: PathBuf,
        /// What was being done, as a verb for the message (e.g. "open").
        action: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

impl InstanceLock {
    /// Take the lock in `state_dir`, recording our pid and socket in it.
    pub fn acquire(state_dir: &Path, socket: &Path) -> Result<Self, LockError> {
        let path = state_dir.join("daemon.lock");
        let io = |action| {
            let path = path.clone();
            move |source| LockError::Io {
                path,
                action,
                source,
            }
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io("open"))?;
        // A daemon that is stopping has removed its socket but holds the lock until it exits:
        // give it a moment rather than refusing a restart that raced with it.
        let deadline = std::time::Instant::now() + STOPPING_GRACE;
        let mut result = file.try_lock();
        while matches!(result, Err(std::fs::TryLockError::WouldBlock))
            && std::time::Instant::now() < deadline
            && std::os::unix::net::UnixStream::connect(socket).is_err()
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
            result = file.try_lock();
        }
        match result {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let mut lines = text.lines();
                let pid = lines.next().unwrap_or("unknown").to_owned();
                let socket = lines.next().unwrap_or("unknown").to_owned();
                return Err(LockError::AlreadyRunning { pid, socket });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io("lock")(e)),
        }
        file.set_len(0).map_err(io("truncate"))?;
        file.seek(SeekFrom::Start(0)).map_err(io("seek"))?;
        writeln!(file, "{}\n{}", std::process::id(), socket.display()).map_err(io("write"))?;
        file.sync_data().map_err(io("sync"))?;
        Ok(Self { file, path })
    }

    /// Where the lock file lives (in the state dir), for messages that name it.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for InstanceLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        // A live daemon answers on its socket: the second is refused at once.
        let socket = dir.path().join("s.sock");
        let _listening = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let first = InstanceLock::acquire(dir.path(), &socket).unwrap();
        let err = InstanceLock::acquire(dir.path(), &socket).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cxd daemon already running (pid {}, socket {})",
                std::process::id(),
                socket.display()
            )
        );
        drop(first);
        InstanceLock::acquire(dir.path(), &socket).unwrap();
    }

    #[test]
    fn a_stopping_holder_is_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("gone.sock");
        let first = InstanceLock::acquire(dir.path(), &socket).unwrap();
        // The holder releases the lock a little later, as a stopping daemon does.
        let release = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(200));
            drop(first);
        });
        InstanceLock::acquire(dir.path(), &socket).unwrap();
        release.join().unwrap();
    }
}
