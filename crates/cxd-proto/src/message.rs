//! Requests, responses and the handshake that travel over the local socket.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::domain::{Author, GateScope, Severity, Trigger, WorkspaceState};
use crate::status::{Finding, ReviewInfo, StatusReport};

/// The first frame a client sends on every connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Must equal the daemon's [`crate::PROTOCOL_VERSION`].
    pub protocol_version: u32,
    /// The client's `cxd` version, for the daemon's log.
    pub client_version: String,
}

impl Hello {
    /// The hello this build sends.
    pub fn new() -> Self {
        Self {
            protocol_version: crate::PROTOCOL_VERSION,
            client_version: crate::VERSION.to_owned(),
        }
    }
}

impl Default for Hello {
    fn default() -> Self {
        Self::new()
    }
}

/// What a client asks of the daemon, one per frame after the handshake.
///
/// New variants go at the end: the encoding numbers them by position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Request {
    /// Daemon and workspace status, optionally only the workspace holding `path`.
    Status {
        /// Narrow the report to the workspace containing this path.
        path: Option<PathBuf>,
    },
    /// Shut the daemon down gracefully.
    Stop,
    /// Turn this connection into a stream of [`Response::Event`] frames.
    Subscribe,
    /// Watch the git work tree that holds `path`.
    Watch {
        /// Any path inside the work tree (absolute).
        path: PathBuf,
    },
    /// Stop watching the workspace that holds `path`.
    Unwatch {
        /// Any path inside the workspace (absolute).
        path: PathBuf,
    },
    /// The audit trail, newest last.
    Log {
        /// Only this workspace's entries (any path inside it).
        path: Option<PathBuf>,
        /// How many of the newest entries to send at most.
        limit: u32,
    },
    /// Review now, skipping the debounce.
    Review {
        /// Any path inside the workspace.
        path: PathBuf,
        /// Every uncommitted change against HEAD, not only those since the last review.
        all: bool,
        /// Model for this review only (None: `review.model`).
        model: Option<String>,
        /// Reasoning effort for this review only (None: `review.effort`).
        effort: Option<String>,
        /// Answer only when the review is done, streaming progress until then.
        wait: bool,
    },
    /// Stop reviewing a workspace until unpaused.
    Pause {
        /// Any path inside the workspace.
        path: PathBuf,
    },
    /// Resume reviewing (and clear a halt).
    Unpause {
        /// Any path inside the workspace.
        path: PathBuf,
    },
    /// A workspace's findings, one page at a time (answers must stay under the frame limit).
    Findings {
        /// Any path inside the workspace.
        path: PathBuf,
        /// Resolved and dismissed ones too (false: only open ones).
        all: bool,
        /// Only this severity and above (None: every severity).
        severity: Option<Severity>,
        /// Continue after this point: the `next` of the previous page (None: from the start).
        after: Option<i64>,
    },
    /// Show or change the workspace's codex thread.
    Session {
        /// Any path inside the workspace.
        path: PathBuf,
        /// Show it, forget it (the next review starts a new one), or adopt one.
        action: SessionAction,
    },
    /// The user accepts the workspace's tree as it is now.
    Approve {
        /// Any path inside the workspace.
        path: PathBuf,
        /// Why, for the audit trail.
        note: Option<String>,
    },
    /// Dismiss a finding (it stops counting as open).
    Dismiss {
        /// The finding's id (`F12`), of the workspace holding `path`.
        id: String,
        /// Why, for the audit trail.
        reason: Option<String>,
        /// Any path inside the workspace: an id of another workspace is no finding.
        path: PathBuf,
    },
    /// Reopen a dismissed or resolved finding.
    Reopen {
        /// The finding's id (`F12`), of the workspace holding `path`.
        id: String,
        /// Any path inside the workspace: an id of another workspace is no finding.
        path: PathBuf,
    },
    /// Is the workspace reviewed up to date with nothing open at or above a severity?
    Gate {
        /// Any path inside the workspace.
        path: PathBuf,
        /// The threshold (default `gate.block_on`).
        block_on: Option<Severity>,
        /// Review anything unreviewed first and wait up to this many seconds for it.
        wait_s: Option<u64>,
        /// What asks: manual (cxd gate), stop (the Claude stop hook), agent.
        trigger: Trigger,
        /// Which findings block (default: `gate.scope` for the stop hook, `all` otherwise).
        scope: Option<GateScope>,
        /// The agent session whose stop asks (the stop hook): "the change" is what reviews
        /// since its start covered, and a gate that would block may hand the decision to the
        /// user instead (an escalation).
        session: Option<String>,
    },
    /// Validate a plan with Codex before it is implemented.
    Plan {
        /// Any path inside the workspace.
        path: PathBuf,
        /// The plan's text as the agent wrote it, sent to Codex verbatim.
        text: String,
        /// Answer when the validation is done, streaming progress until then.
        wait: bool,
    },
    /// The agent (Claude Code) edited a file: attribute it and start settling now.
    AgentEdit {
        /// The edited file's absolute path; it picks the workspace the edit counts for.
        file: PathBuf,
        /// The agent's working directory (used when the file is outside any workspace).
        cwd: Option<PathBuf>,
        /// The agent's session id.
        session: String,
    },
    /// Count a blocked stop for an agent session (or reset its count).
    StopRound {
        /// The agent's session id.
        session: String,
        /// Set the session's count back to 0 instead of adding one (a new turn, or the gate passed).
        reset: bool,
        /// Findings the block tells the agent about (not to be passed on again).
        told: Vec<String>,
    },
    /// Trust the workspace's `.cxd.toml` as it is now (or revoke that trust).
    Trust {
        /// Any path inside the workspace.
        path: PathBuf,
        /// Withdraw the trust instead, so the file's settings stop applying.
        revoke: bool,
    },
    /// Dispute an open finding: the next review rules on it (withdraw or uphold).
    Dispute {
        /// The finding's id (`F12`), of the workspace holding `path`.
        id: String,
        /// Why it is wrong (at most [`crate::limits::MAX_DISPUTE_REASON`] bytes).
        reason: String,
        /// Who disputes: the agent or a person.
        by: Author,
        /// The agent's session id, when the agent disputes.
        session: Option<String>,
        /// Any path inside the workspace: an id of another workspace is no finding.
        path: PathBuf,
    },
    /// Review committed history: a commit, a range, or a branch against its merge base.
    ReviewRevisions {
        /// Any path inside the workspace.
        path: PathBuf,
        /// What to review.
        revisions: Revisions,
        /// Model for this review only (None: `review.model`).
        model: Option<String>,
        /// Reasoning effort for this review only (None: `review.effort`).
        effort: Option<String>,
        /// Answer only when the review is done, streaming progress until then.
        wait: bool,
    },
    /// The pre-push hook: review the pushed commits no review covered yet (waiting for it, with
    /// progress), then judge the findings of the reviews that cover them.
    PrePush {
        /// Any path inside the workspace.
        path: PathBuf,
        /// The commit being pushed (`<local sha>` of git's pre-push input).
        local: String,
        /// What the remote has now (`<remote sha>`; all zeros for a new branch).
        remote: String,
        /// The remote pushed to (git's first hook argument): only its remote-tracking refs
        /// (`refs/remotes/NAME/*`) count as pushed already. None, or a URL: none do.
        #[serde(default)]
        remote_name: Option<String>,
        /// The threshold (default `gate.block_on`).
        block_on: Option<Severity>,
    },
}

/// Which committed history `cxd review` covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Revisions {
    /// One commit against its first parent (`--commit REV`).
    Commit(String),
    /// `git diff A B` (`--range A..B`).
    Range {
        /// Where the range starts (excluded).
        from: String,
        /// Where it ends (included).
        to: String,
    },
    /// The merge base of `branch` and HEAD to HEAD (`--base BRANCH`), or to the working tree
    /// with `uncommitted`.
    Base {
        /// The branch (any revision) the work forked from.
        branch: String,
        /// Include uncommitted work: up to the working tree instead of HEAD.
        uncommitted: bool,
    },
}

/// What `cxd session` does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionAction {
    /// Show the thread id (or that there is none yet); change nothing.
    Show,
    /// Start a fresh thread at the next review.
    Reset,
    /// Continue this existing codex thread from now on.
    Adopt(String),
    /// Adopt the newest codex thread whose working directory is the workspace root.
    AdoptLast,
}

/// What the daemon answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Response {
    /// The handshake was accepted.
    Welcome {
        /// The daemon's protocol version (equal to the client's).
        protocol_version: u32,
        /// The daemon's cxd version.
        daemon_version: String,
        /// The daemon's process id.
        pid: u32,
    },
    /// The request was refused or failed.
    Error(ErrorReply),
    /// A status report.
    Status(StatusReport),
    /// The request was carried out; nothing more to say.
    Ok {
        /// A short human sentence about what happened.
        message: String,
    },
    /// One live event on a subscribed connection.
    Event(Event),
    /// A workspace is now watched.
    Watching {
        /// Its work-tree root.
        root: PathBuf,
        /// OS (inotify/kqueue) watches it holds, counted against the user's limit.
        os_watches: u64,
        /// Whether it was already watched (a no-op).
        already: bool,
    },
    /// Audit-trail entries, oldest first.
    Log(Vec<LogEntry>),
    /// A review is under way (answer to a `Review` without `wait`).
    ReviewStarted {
        /// The workspace root.
        root: PathBuf,
    },
    /// What codex is doing while a waited-for review runs.
    Progress {
        /// Milliseconds since the request.
        elapsed_ms: u64,
        /// A reasoning heading or a command.
        activity: String,
    },
    /// A waited-for review finished.
    ReviewDone(Box<ReviewDone>),
    /// One page of findings.
    Findings(FindingsPage),
    /// The workspace's codex thread.
    Session {
        /// The workspace root.
        root: PathBuf,
        /// The thread, if there is one yet.
        thread_id: Option<String>,
        /// Input tokens the thread's newest review sent: what resuming it sends again.
        #[serde(default)]
        thread_input_tokens: Option<u64>,
        /// `review.max_thread_input_tokens`: past it the next review starts a new thread
        /// (0: never).
        #[serde(default)]
        max_thread_input_tokens: u64,
    },
    /// A gate's answer.
    Gate(Box<GateReport>),
    /// Findings the agent session had not been told about (answer to `AgentEdit`).
    Undelivered(Vec<Finding>),
    /// Blocked stops counted for the session.
    Rounds(u32),
    /// The finding as it is after a dispute was recorded.
    Disputed(Box<Finding>),
}

/// What `cxd gate` (and the stop hook) decide from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateReport {
    /// The workspace root.
    pub root: PathBuf,
    /// Exit 0: reviewed up to date and nothing open at or above `block_on`.
    pub pass: bool,
    /// The newest review covers the working tree as it is.
    pub up_to_date: bool,
    /// The severity threshold applied.
    pub block_on: Severity,
    /// Open findings at or above the threshold: the first of them, as many as fit an answer.
    pub blocking: Vec<Finding>,
    /// How many open findings are at or above the threshold (`blocking` may hold fewer).
    pub blocking_total: u64,
    /// One sentence: why it passed or not, and what to do.
    pub reason: String,
    /// The newest finished review.
    pub last_review: Option<ReviewInfo>,
    /// The workspace state (idle, settling, reviewing, halted, paused, missing).
    pub state: WorkspaceState,
    /// Which findings could block: those in the change, or all.
    pub scope: GateScope,
    /// Open findings at or above the threshold outside the change (not blocking): the first
    /// of them, as many as fit an answer. Empty with scope `all`.
    pub outside: Vec<Finding>,
    /// How many open findings at or above the threshold are outside the change.
    pub outside_change: u64,
    /// The decision handed to the user instead of another round of fixes (only when an agent
    /// session asks and the gate does not pass).
    #[serde(default)]
    pub escalation: Option<Escalation>,
}

/// An escalation as the stop hook reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    /// What the user is asked about, and when, and which findings.
    pub needs_you: crate::status::NeedsYou,
    /// This answer is the first to tell an agent about it (the stop hook blocks once, then lets
    /// the agent stop while the escalation stands).
    pub first: bool,
}

/// The result of a review someone waited for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewDone {
    /// The workspace root.
    pub root: PathBuf,
    /// How the review (or plan validation) ended: verdict, cost, summary or error.
    pub review: ReviewInfo,
    /// Findings it opened: the first of them, as many as fit an answer.
    pub opened: Vec<Finding>,
    /// How many findings it opened.
    pub opened_total: u64,
    /// Ids of findings it resolved.
    pub resolved: Vec<String>,
    /// Ids of resolved findings it reported again, open once more.
    pub reopened: Vec<String>,
    /// Findings open now: the first of them, as many as fit an answer.
    pub open: Vec<Finding>,
    /// How many findings are open now.
    pub open_total: u64,
}

/// One page of a findings list: a list can outgrow the frame limit, a page cannot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingsPage {
    /// The findings on this page, in id order.
    pub findings: Vec<Finding>,
    /// Ask again with `after` set to this for the next page; None on the last page.
    pub next: Option<i64>,
    /// How many findings match in all.
    pub total: u64,
}

/// One audit-trail entry: `data` is a JSON object whose fields depend on `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// RFC 3339, UTC.
    pub at: String,
    /// `edit`, `review_requested`, `review_started`, `review_finished`, `approval`, ...
    pub kind: String,
    /// The workspace root, if any.
    pub workspace: Option<PathBuf>,
    /// The kind's own fields as a JSON object (text, so any field can be added).
    pub data_json: String,
}

/// Why a request failed, with a message meant for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// The class of failure, for scripts and exit codes.
    pub kind: ErrorKind,
    /// What happened and what to do about it.
    pub message: String,
}

/// Classes of request failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The frame could not be decoded or was too large.
    BadFrame,
    /// Client and daemon speak different protocol versions.
    VersionMismatch,
    /// The handshake did not come in time.
    HandshakeTimeout,
    /// The request was understood but its arguments are wrong.
    Usage,
    /// The daemon is shutting down.
    ShuttingDown,
    /// Something failed inside the daemon.
    Internal,
    /// The peer is another user.
    Forbidden,
    /// The request is one of the user's decisions and came from the agent under review.
    UserDecision,
}

/// A live event, as streamed to `cxd events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When it happened, RFC 3339 in UTC.
    pub at: String,
    /// What happened, a short snake_case word (`config_reloaded`, `daemon_stopping`, ...).
    pub kind: String,
    /// The workspace root it concerns, if any.
    pub workspace: Option<PathBuf>,
    /// What happened, one sentence for a person (its wording is not stable).
    pub message: String,
}
