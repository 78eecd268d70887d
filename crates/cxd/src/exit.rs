//! Exit codes (0 ok, 1 no, 2 usage, 3 unreachable, 4 review failed) and how an error becomes one.

use std::process::ExitCode;

/// A gate, check or review said no.
pub const NO: u8 = 1;
/// The request was wrong (an unknown id, a path outside any workspace, unusable cxd paths):
/// the user has to change what they asked, retrying the same will not help.
pub const USAGE: u8 = 2;
/// The daemon is not running or does not answer.
pub const UNREACHABLE: u8 = 3;
/// The review itself failed (quota, auth, timeout, ...): no verdict, so neither yes nor no.
pub const REVIEW_FAILED: u8 = 4;

/// An error that carries the exit code it should end the process with.
#[derive(Debug)]
pub struct Failure {
    /// The status the process exits with: one of the constants above.
    pub code: u8,
    /// The message, printed as `cxd: {message}`.
    pub message: String,
}

impl std::error::Error for Failure {}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl Failure {
    /// A failure that prints `cxd: {message}` and ends the process with `code`.
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// Print an error and pick its exit code (1 for anything unclassified).
pub fn report(err: &anyhow::Error) -> ExitCode {
    let code = err.downcast_ref::<Failure>().map_or(NO, |f| f.code);
    // Messages can quote file names and Codex's words: make them safe for a terminal.
    eprintln!("cxd: {}", crate::sanitize::lines(&format!("{err:#}"), "  "));
    ExitCode::from(code)
}
