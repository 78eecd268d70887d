//! Progress while waiting on codex: one updating line on a terminal, timestamped lines in a
//! pipe, nothing with --json.

use std::io::{IsTerminal, Write};

use cxd_proto::Response;

use crate::client::Client;
use crate::exit::Failure;

/// Read responses, showing `Progress` frames, until another response arrives; a daemon-side
/// error becomes a failure (usage errors exit 2, others 3).
pub fn until_answer(client: &mut Client, quiet: bool) -> Result<Response, Failure> {
    let mut progress = Progress::new(quiet);
    let answer = until_answer_with(client, |elapsed_ms, activity| {
        progress.update(elapsed_ms, activity);
    });
    progress.finish();
    answer
}

/// Read responses until one that is not `Progress` arrives, handing each progress frame
/// (milliseconds into the wait, what codex is doing) to `on_progress`; a daemon-side error
/// becomes a failure (usage errors exit 2, others 3).
pub fn until_answer_with(
    client: &mut Client,
    mut on_progress: impl FnMut(u64, &str),
) -> Result<Response, Failure> {
    loop {
        match client.recv() {
            Ok(Response::Progress {
                elapsed_ms,
                activity,
            }) => on_progress(elapsed_ms, &activity),
            Ok(Response::Error(e)) => {
                return Err(Failure::new(crate::client::exit_code(e.kind), e.message));
            }
            Ok(other) => return Ok(other),
            Err(e) => return Err(e),
        }
    }
}

/// What codex is doing, on stderr (stdout stays for the answer): one updating line on a
/// terminal, timestamped lines in a pipe, nothing when the caller prints JSON.
pub struct Progress {
    mode: Mode,
    last: String,
}

#[derive(PartialEq, Eq)]
enum Mode {
    Quiet,
    Line,
    Plain,
}

impl Progress {
    /// Progress on stderr, unless `quiet`.
    pub fn new(quiet: bool) -> Self {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Line
        } else {
            Mode::Plain
        };
        Self {
            mode,
            last: String::new(),
        }
    }

    /// Show what codex is doing `elapsed_ms` into the wait.
    pub fn update(&mut self, elapsed_ms: u64, activity: &str) {
        if activity == self.last {
            return;
        }
        self.last = activity.to_owned();
        // Codex's words: no escape sequence or newline may reach the terminal.
        let activity = crate::sanitize::line(activity);
        let elapsed = super::status::duration(elapsed_ms / 1000);
        let mut err = std::io::stderr().lock();
        match self.mode {
            Mode::Quiet => {}
            Mode::Line => {
                let width = 100usize;
                let mut line = format!("[{elapsed}] codex: {activity}");
                if line.chars().count() > width {
                    line = line.chars().take(width - 1).collect::<String>() + "…";
                }
                let _ = write!(err, "\r\x1b[2K{line}");
                let _ = err.flush();
            }
            Mode::Plain => {
                let _ = writeln!(err, "[{elapsed}] codex: {activity}");
            }
        }
    }

    /// Clear the updating line.
    pub fn finish(&mut self) {
        if self.mode == Mode::Line && !self.last.is_empty() {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}
