//! Daemon logging: journald-friendly stderr under systemd, daily-rotated files otherwise.

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Log files kept in `<state>/logs/`.
pub const MAX_LOG_FILES: usize = 7;

/// Lines the log writer may fall behind by (more are dropped, never waited for). The default,
/// 128 000, is a channel allocated and touched in full at start: 4 MiB of the daemon's memory
/// for a log that writes a few lines a minute.
const BUFFERED_LINES: usize = 4_096;

/// Install the global subscriber; keep the guard alive until exit so files are flushed.
pub fn init(state_dir: &Path, to_stderr: bool, level: &str) -> anyhow::Result<Option<WorkerGuard>> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => {
            EnvFilter::try_new(&v).with_context(|| format!("RUST_LOG={v} is not a valid filter"))?
        }
        _ => EnvFilter::try_new(level)
            .with_context(|| format!("--log-level {level} is not a valid level or filter"))?,
    };
    let under_systemd = std::env::var_os("JOURNAL_STREAM").is_some();
    if to_stderr || under_systemd {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(|| QuietStderr)
            .log_internal_errors(false)
            .with_ansi(false)
            .with_target(false)
            // journald stamps every line itself
            .without_time()
            .init();
        return Ok(None);
    }
    let dir = state_dir.join("logs");
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create log directory {}", dir.display()))?;
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("cxd")
        .filename_suffix("log")
        .max_log_files(MAX_LOG_FILES)
        .build(&dir)
        .with_context(|| format!("cannot open a log file in {}", dir.display()))?;
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(BUFFERED_LINES)
        .finish(appender);
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .log_internal_errors(false)
        .with_ansi(false)
        .with_target(false)
        .init();
    Ok(Some(guard))
}

/// Stderr that swallows write errors. When whoever reads the daemon's stderr goes away
/// (`cxd daemon --log-stderr 2>&1 | head -1`), writes fail with EPIPE (Rust ignores SIGPIPE);
/// the fmt layer would then report the failure with `eprintln!`, which panics on that same
/// closed pipe and ends the daemon. A log line that cannot be written is simply lost.
struct QuietStderr;

impl Write for QuietStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}
