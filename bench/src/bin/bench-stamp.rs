//! The stamp the latency benches put where a command starts: it appends the moment it was
//! exec'd (Unix seconds) to a log, as early as a program can, then gets out of the way. A
//! compiled program starts in a fraction of the time a shell does, so less of the figure is
//! the measurement's own.
//!
//! - `bench-stamp LOG`: append to LOG and exit (watchexec's and watchman's command in
//!   bench-compare).
//! - with `CXD_BENCH_REAL_CODEX` set (cxd's codex in bench-watch and bench-compare): append to
//!   `$CXD_BENCH_EXEC_LOG`, then exec the real (fake) codex with the same arguments.

use std::io::Write as _;
use std::os::unix::process::CommandExt as _;

fn main() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let codex = std::env::var_os("CXD_BENCH_REAL_CODEX");
    let mut args = std::env::args_os().skip(1);
    let log = match &codex {
        Some(_) => std::env::var_os("CXD_BENCH_EXEC_LOG"),
        None => args.next(),
    };
    let Some(log) = log else {
        eprintln!("usage: bench-stamp LOG, or CXD_BENCH_REAL_CODEX and CXD_BENCH_EXEC_LOG set");
        std::process::exit(2);
    };
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .and_then(|mut f| f.write_all(format!("{now:.6}\n").as_bytes()));
    if let Err(e) = written {
        eprintln!(
            "bench-stamp: cannot append to {}: {e}",
            log.to_string_lossy()
        );
        std::process::exit(2);
    }
    if let Some(codex) = codex {
        let err = std::process::Command::new(codex).args(args).exec();
        eprintln!("bench-stamp: cannot run the codex: {err}");
        std::process::exit(127);
    }
}
