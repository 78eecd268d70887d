//! Running codex: prompt on stdin, JSONL read to the end, stderr tail kept, a deadline that
//! kills the whole process group, and cancellation on shutdown.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use super::jsonl::{Activity, LineSplitter, Transcript};

/// Bytes of stderr kept (the tail).
const STDERR_TAIL: usize = 8 * 1024;
/// Between SIGTERM and SIGKILL when codex must stop.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// One codex run as the runner needs it: what to start, where, with what input and deadline.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The codex executable (`review.codex_bin` or `CXD_CODEX_BIN`).
    pub program: PathBuf,
    /// Its arguments after the program name, as [`super::argv::Invocation::args`] builds them.
    pub args: Vec<OsString>,
    /// Working directory (the work-tree root).
    pub cwd: PathBuf,
    /// Written to stdin, which is then closed.
    pub prompt: String,
    /// Its process group is killed after this long (`review.timeout_s`).
    pub timeout: Duration,
    /// Where the running codex's process group is recorded, so a daemon killed mid-review
    /// can end the orphan on its next start ([`reap_orphan`]).
    pub pidfile: Option<PathBuf>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// It exited by itself with this code.
    Exited(i32),
    /// A signal ended it (not one of ours).
    Signalled(i32),
    /// Killed because it ran past `review.timeout_s`.
    TimedOut,
    /// Killed because the daemon is stopping.
    Cancelled,
    /// It could not be started.
    SpawnFailed {
        /// The executable was not found.
        not_found: bool,
        /// The OS error in words (e.g. "Permission denied (os error 13)").
        message: String,
    },
}

/// Everything a run produced, for the job to classify and record.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// How it ended: exit code, signal, deadline, cancellation or spawn failure.
    pub ending: Ending,
    /// What its JSONL stdout said that a review needs (thread, usage, last message).
    pub transcript: Transcript,
    /// The end of its stderr.
    pub stderr_tail: String,
    /// Wall time from spawn to exit (or kill).
    pub duration: Duration,
}

impl RunOutcome {
    /// The exit code, if it exited by itself.
    pub fn exit_code(&self) -> Option<i32> {
        match self.ending {
            Ending::Exited(c) => Some(c),
            _ => None,
        }
    }
}

/// Run codex to the end; `on_activity` hears what it is doing as it goes.
pub async fn run(
    spec: RunSpec,
    cancel: &CancellationToken,
    mut on_activity: impl FnMut(Activity),
) -> RunOutcome {
    let started = std::time::Instant::now();
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .current_dir(&spec.cwd)
        // Only the daemon itself talks to systemd.
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout kills everything it started.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return RunOutcome {
                ending: Ending::SpawnFailed {
                    not_found: e.kind() == std::io::ErrorKind::NotFound,
                    message: format!("cannot run {}: {e}", spec.program.display()),
                },
                transcript: Transcript::default(),
                stderr_tail: String::new(),
                duration: started.elapsed(),
            };
        }
    };
    let pgid = child.id().and_then(|p| i32::try_from(p).ok());
    if let (Some(file), Some(pid)) = (&spec.pidfile, pgid) {
        let _ = std::fs::write(
            file,
            format!("{pid} {}\n", start_time(pid).unwrap_or_default()),
        );
    }

    // stdin: write the prompt and close it, concurrently with reading (a large prompt must not
    // deadlock against a full stdout pipe).
    let stdin_task = child.stdin.take().map(|mut stdin| {
        let prompt = spec.prompt.into_bytes();
        tokio::spawn(async move {
            let _ = stdin.write_all(&prompt).await;
            let _ = stdin.shutdown().await;
        })
    });
    let stderr_task = child.stderr.take().map(|mut err| {
        tokio::spawn(async move {
            let mut tail: Vec<u8> = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                tail.extend_from_slice(&buf[..n]);
                if tail.len() > 2 * STDERR_TAIL {
                    tail.drain(..tail.len() - STDERR_TAIL);
                }
            }
            let start = tail.len().saturating_sub(STDERR_TAIL);
            String::from_utf8_lossy(&tail[start..]).into_owned()
        })
    });

    let mut transcript = Transcript::default();
    let mut splitter = LineSplitter::default();
    let mut stdout = child.stdout.take();
    let deadline = tokio::time::sleep(spec.timeout);
    tokio::pin!(deadline);
    let mut killed: Option<Ending> = None;
    let mut exited: Option<std::process::ExitStatus> = None;
    // Once codex itself has exited, what is left of the pipe is drained briefly: a process it
    // left behind must not keep the review open.
    let drain = tokio::time::sleep(Duration::from_secs(3650 * 24 * 3600));
    tokio::pin!(drain);
    let mut buf = vec![0u8; 64 * 1024];
    // Read stdout to EOF (closing it early makes codex panic), unless we have to kill it.
    while let Some(out) = stdout.as_mut() {
        tokio::select! {
            n = out.read(&mut buf) => match n {
                Ok(0) | Err(_) => { stdout = None; }
                Ok(n) => {
                    let chunk = &buf[..n];
                    let skipped = splitter.feed(chunk, |line| {
                        if let Some(a) = transcript.line(line) {
                            on_activity(a);
                        }
                    });
                    transcript.oversized_lines += skipped;
                }
            },
            status = child.wait(), if exited.is_none() => {
                exited = Some(status.unwrap_or_else(|_| std::os::unix::process::ExitStatusExt::from_raw(0)));
                kill_group(pgid, libc::SIGKILL);
                drain.as_mut().reset(tokio::time::Instant::now() + KILL_GRACE);
            }
            () = &mut drain => { stdout = None; }
            () = &mut deadline, if killed.is_none() && exited.is_none() => {
                killed = Some(Ending::TimedOut);
                terminate(pgid).await;
            }
            () = cancel.cancelled(), if killed.is_none() && exited.is_none() => {
                killed = Some(Ending::Cancelled);
                terminate(pgid).await;
            }
        }
    }
    splitter.finish(|line| {
        if let Some(a) = transcript.line(line) {
            on_activity(a);
        }
    });
    let status = match exited {
        Some(s) => Some(s),
        None => match tokio::time::timeout(KILL_GRACE * 2, child.wait()).await {
            Ok(s) => s.ok(),
            Err(_) => {
                kill_group(pgid, libc::SIGKILL);
                child.wait().await.ok()
            }
        },
    };
    // Whatever it left behind in its group goes too.
    kill_group(pgid, libc::SIGKILL);
    if let Some(file) = &spec.pidfile {
        let _ = std::fs::remove_file(file);
    }
    if let Some(t) = stdin_task {
        t.abort();
    }
    let stderr_tail = match stderr_task {
        Some(t) => tokio::time::timeout(KILL_GRACE, t)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default(),
        None => String::new(),
    };
    let ending = killed.unwrap_or_else(|| {
        use std::os::unix::process::ExitStatusExt;
        match status {
            Some(s) => match (s.code(), s.signal()) {
                (Some(c), _) => Ending::Exited(c),
                (None, Some(sig)) => Ending::Signalled(sig),
                _ => Ending::Exited(-1),
            },
            None => Ending::Exited(-1),
        }
    });
    RunOutcome {
        ending,
        transcript,
        stderr_tail,
        duration: started.elapsed(),
    }
}

/// SIGTERM the group, give it a grace period, then SIGKILL.
async fn terminate(pgid: Option<i32>) {
    kill_group(pgid, libc::SIGTERM);
    tokio::time::sleep(KILL_GRACE).await;
    kill_group(pgid, libc::SIGKILL);
}

/// A process's start time (clock ticks since boot, from /proc), to tell it from a later
/// process that reused its pid. None where /proc has no such process (or no /proc).
#[cfg(not(target_os = "macos"))]
fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// A process's start time (microseconds since the epoch, from the kernel's process table: macOS
/// has no /proc), to tell it from a later process that reused its pid. None without such a
/// process.
#[cfg(target_os = "macos")]
fn start_time(pid: i32) -> Option<u64> {
    let mut info = std::mem::MaybeUninit::<libc::proc_bsdinfo>::zeroed();
    let size = libc::c_int::try_from(std::mem::size_of::<libc::proc_bsdinfo>()).ok()?;
    #[allow(unsafe_code)]
    // SAFETY: proc_pidinfo writes at most `size` bytes, the size of the buffer it is given.
    let written = unsafe {
        libc::proc_pidinfo(
            pid,
            libc::PROC_PIDTBSDINFO,
            0,
            info.as_mut_ptr().cast(),
            size,
        )
    };
    if written != size {
        return None;
    }
    #[allow(unsafe_code)]
    // SAFETY: zeroed is a valid proc_bsdinfo (integers and byte arrays), and it was filled in.
    let info = unsafe { info.assume_init() };
    info.pbi_start_tvsec
        .checked_mul(1_000_000)?
        .checked_add(info.pbi_start_tvusec)
}

/// End a codex process group that a killed daemon left running (it would otherwise keep
/// writing to the workspace's thread). Only a group whose leader is provably the same process
/// (same pid and start time) is signalled. Returns whether one was ended.
pub fn reap_orphan(pidfile: &std::path::Path) -> bool {
    let Ok(text) = std::fs::read_to_string(pidfile) else {
        return false;
    };
    let _ = std::fs::remove_file(pidfile);
    let mut parts = text.split_whitespace();
    let (Some(pid), Some(started)) = (
        parts.next().and_then(|p| p.parse::<i32>().ok()),
        parts.next().and_then(|t| t.parse::<u64>().ok()),
    ) else {
        return false;
    };
    if started == 0 || start_time(pid) != Some(started) {
        return false;
    }
    kill_group(Some(pid), libc::SIGTERM);
    for _ in 0..40 {
        if start_time(pid) != Some(started) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    kill_group(Some(pid), libc::SIGKILL);
    true
}

fn kill_group(pgid: Option<i32>, sig: i32) {
    let Some(pgid) = pgid.filter(|&p| p > 1) else {
        return;
    };
    #[allow(unsafe_code)]
    // SAFETY: killpg(2) on the process group we created for this child; no memory is involved.
    unsafe {
        libc::killpg(pgid, sig);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Orphan reaping trusts a pid only while its start time matches (macOS reads it without
    /// /proc): steady for a live process, gone with the process.
    #[test]
    fn a_live_process_has_a_steady_start_time_and_a_reaped_one_none() {
        let me = i32::try_from(std::process::id()).unwrap();
        let first = start_time(me);
        assert!(first.is_some_and(|t| t > 0), "{first:?}");
        assert_eq!(start_time(me), first);
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        child.wait().unwrap();
        assert_eq!(start_time(pid), None);
    }
}
