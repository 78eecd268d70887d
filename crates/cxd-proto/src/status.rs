//! The status report: what `cxd status` shows and `cxd status --json` prints.
//!
//! Field names here are the JSON contract documented in the README: add, never rename.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::domain::{
    Author, ErrorClass, EscalationWhy, FindingStatus, Ruling, Severity, Trend, Trigger, Verdict,
    WorkspaceState,
};

/// Everything `cxd status` shows: the daemon, then each workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The daemon itself (the same for every workspace).
    pub daemon: DaemonInfo,
    /// Every watched workspace (or only the one asked for).
    pub workspaces: Vec<WorkspaceStatus>,
    /// What reviews spent across all workspaces, against `[budget]`.
    #[serde(default)]
    pub budget: BudgetStatus,
}

/// Spend against the budget (`[budget]`; a limit of None is no limit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetStatus {
    /// Codex runs started in the last 60 minutes that reached the model.
    pub reviews_this_hour: u64,
    /// `budget.reviews_per_hour`.
    pub reviews_per_hour: Option<u64>,
    /// Input tokens of reviews started since local midnight.
    pub input_tokens_today: u64,
    /// `budget.input_tokens_per_day`.
    pub input_tokens_per_day: Option<u64>,
}

/// Facts about the running daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonInfo {
    /// Process id, for `kill` or a service manager.
    pub pid: u32,
    /// cxd version of the daemon (a client of another build is refused at the handshake).
    pub version: String,
    /// The socket it listens on.
    pub socket: PathBuf,
    /// Whole seconds since it started.
    pub uptime_s: u64,
    /// The configuration in force.
    pub config: ConfigInfo,
    /// Problems about the daemon itself that the user should know of (such as a state dir
    /// that was open to other users and has been closed).
    pub warnings: Vec<String>,
}

/// Which config file is in force and whether the last load of it failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigInfo {
    /// The user config file's path (it need not exist).
    pub path: PathBuf,
    /// Why the last (re)load failed; the previous config is still in force.
    pub error: Option<String>,
}

/// One watched workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkspaceStatus {
    /// The git work-tree root.
    pub root: PathBuf,
    /// `idle`, `settling`, `reviewing`, `halted`, `paused` or `missing`.
    pub state: WorkspaceState,
    /// Files changed since the last review.
    pub pending_files: u64,
    /// Milliseconds until the pending changes settle (when `settling`).
    pub settle_in_ms: Option<u64>,
    /// OS (inotify/kqueue) watches held.
    pub os_watches: u64,
    /// Warnings a user should act on (e.g. out of inotify watches).
    pub warnings: Vec<String>,
    /// How many reviews of this workspace have finished, failed ones and plan validations included.
    pub reviews: u64,
    /// The daemon's own codex thread for this workspace.
    pub thread_id: Option<String>,
    /// The newest finished review.
    pub last_review: Option<ReviewInfo>,
    /// Open findings by severity.
    pub open_findings: SeverityCounts,
    /// The user's approval of the tree, if any.
    pub approval: Option<Approval>,
    /// Tokens spent on this workspace's reviews, in total.
    pub tokens_total: Tokens,
    /// What codex is doing now (when `reviewing`).
    pub activity: Option<String>,
    /// Seconds in the current state (reviewing, halted).
    pub state_for_s: Option<u64>,
    /// Why the workspace is halted (None unless `halted`).
    pub error: Option<String>,
    /// Halted by a spent usage limit: when it resets and a review runs by itself (RFC 3339,
    /// UTC; None when codex gave no time).
    #[serde(default)]
    pub resumes_at: Option<String>,
    /// Model and effort of the running review.
    pub reviewing_with: Option<String>,
    /// The newest review covers the working tree as the daemon last saw it.
    pub up_to_date: bool,
    /// Bytes in cxd's private object store for this workspace (pruned now and then).
    pub snapshot_bytes: u64,
    /// The most severe open findings (at most [`TOP_FINDINGS`]; most severe first, then the
    /// oldest), so `cxd status` names what blocks without another request.
    pub top_findings: Vec<Finding>,
    /// The decision the review loop handed to a person and nobody has answered yet (None:
    /// nothing waits for anyone).
    #[serde(default)]
    pub needs_you: Option<NeedsYou>,
    /// How the review loop of the current agent session goes, review by review (None: no
    /// review since the session began).
    #[serde(default, rename = "loop")]
    pub review_loop: Option<LoopStatus>,
    /// Whether a review covered HEAD's tree (as an edit, a commit or a range); None: no HEAD
    /// yet, not known, or HEAD is still the commit found when the daemon began watching and
    /// no review covered it.
    #[serde(default)]
    pub head_reviewed: Option<bool>,
}

/// A decision the stop hook handed to the user instead of asking the agent for more fixes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeedsYou {
    /// upheld | architecture | plateau | round_cap
    pub why: EscalationWhy,
    /// When it was handed over, RFC 3339.
    pub since: String,
    /// The open findings it is about (`F12`).
    pub findings: Vec<String>,
}

/// The review loop of the agent session working in a workspace, so a person sees whether it
/// converges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoopStatus {
    /// The agent session (None: no agent edit is known; then every recent review counts).
    pub session: Option<String>,
    /// How many reviews the session has had.
    pub round: u64,
    /// converging | plateau | needs_you
    pub trend: Trend,
    /// Per review, oldest first (the newest [`LOOP_ROUNDS`] of them).
    pub rounds: Vec<RoundCounts>,
}

/// How many rounds a loop status lists.
pub const LOOP_ROUNDS: usize = 10;

/// What one review did to the findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundCounts {
    /// The review id (`#N`).
    pub review: i64,
    /// Findings it opened (new or reopened).
    pub opened: u64,
    /// Open findings it reported again or said are still open.
    pub carried: u64,
    /// Findings it said are fixed.
    pub fixed: u64,
    /// Disputed findings it withdrew.
    pub withdrawn: u64,
    /// Of those opened, how many are at or above the gate's threshold.
    pub blocking_opened: u64,
    /// Of those fixed or withdrawn, how many are at or above the gate's threshold.
    pub blocking_closed: u64,
}

/// How many open findings a workspace's status names.
pub const TOP_FINDINGS: usize = 3;

/// A finished review, as status shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewInfo {
    /// Review id, as `cxd log` and `#N` in status name it.
    pub id: i64,
    /// approve | changes_requested | error | interrupted
    pub verdict: Verdict,
    /// quota | auth | network | schema | timeout | crash | not_found | interrupted
    pub error_class: Option<ErrorClass>,
    /// edit | manual | agent | plan | stop
    pub trigger: Trigger,
    /// The model codex ran with (the config's, a `.cxd.toml`'s, or `--model`).
    pub model: String,
    /// The reasoning effort codex ran with.
    pub effort: String,
    /// Why that model and effort, e.g. "edit review, small: gpt-5.1-codex-mini low" (None for
    /// a review recorded before cxd said).
    #[serde(default)]
    pub model_reason: Option<String>,
    /// codex's exit code (None: killed by a signal or never started).
    pub exit_code: Option<i32>,
    /// Tokens the review spent (from codex's `turn.completed` usage).
    pub tokens: Tokens,
    /// Codex's one-paragraph summary of the change (None when the review failed).
    pub summary: Option<String>,
    /// The failure, with codex's stderr tail.
    pub error: Option<String>,
    /// The final message verbatim when it did not match the schema.
    pub raw_answer: Option<String>,
    /// When it ended, RFC 3339 in UTC (None while it runs).
    pub finished_at: Option<String>,
    /// How long it took, in milliseconds of wall time (None while it runs).
    pub duration_ms: Option<u64>,
}

/// Token counts of one review or a workspace's total, as codex reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    /// Input tokens, cached ones included.
    pub input: u64,
    /// Of which served from cache.
    pub cached_input: u64,
    /// Output tokens (reasoning included).
    pub output: u64,
}

/// Open findings by severity: what the gate and `cxd status` count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeverityCounts {
    /// Open findings rated critical.
    pub critical: u64,
    /// Open findings rated high.
    pub high: u64,
    /// Open findings rated medium.
    pub medium: u64,
    /// Open findings rated low.
    pub low: u64,
    /// Open findings rated info.
    pub info: u64,
}

impl SeverityCounts {
    /// Count one finding of `severity`.
    pub fn add(&mut self, severity: Severity) {
        self.add_n(severity, 1);
    }

    /// Count `n` findings of `severity`.
    pub fn add_n(&mut self, severity: Severity, n: u64) {
        *self.slot(severity) += n;
    }

    /// How many findings of `severity`.
    pub fn get(&self, severity: Severity) -> u64 {
        match severity {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
            Severity::Info => self.info,
        }
    }

    fn slot(&mut self, severity: Severity) -> &mut u64 {
        match severity {
            Severity::Critical => &mut self.critical,
            Severity::High => &mut self.high,
            Severity::Medium => &mut self.medium,
            Severity::Low => &mut self.low,
            Severity::Info => &mut self.info,
        }
    }

    /// Open findings of every severity.
    pub fn total(&self) -> u64 {
        self.critical + self.high + self.medium + self.low + self.info
    }
}

/// The user's approval of a tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// When the user approved, RFC 3339 in UTC.
    pub at: String,
    /// False once the tree changed after it.
    pub current: bool,
}

/// A finding, as `cxd findings --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Short stable id (`F12`).
    pub id: String,
    /// critical | high | medium | low | info
    pub severity: Severity,
    /// bug | security | performance | edge-case | architecture | test | style
    pub category: String,
    /// Relative path, or "" for the change as a whole.
    pub file: String,
    /// First line (0: not about lines).
    pub line_start: i64,
    /// Last line (equal to `line_start` for one line).
    pub line_end: i64,
    /// The finding in one line, for lists.
    pub title: String,
    /// What is wrong and why it matters.
    pub body: String,
    /// How to fix it.
    pub recommendation: String,
    /// How sure Codex is, from 0 to 1.
    pub confidence: f64,
    /// open | resolved | dismissed | withdrawn: only open findings block the gate.
    pub status: FindingStatus,
    /// The id of the review that opened it (`cxd log` names reviews by it).
    pub first_review: i64,
    /// The last review that saw or resolved it.
    pub last_review: i64,
    /// How many reviews reported it (a finding reported again is this one, not a new one).
    pub seen: u64,
    /// The lines it pointed at were deleted by a later edit: still open, and the next review
    /// is asked about it.
    pub outdated: bool,
    /// Its newest dispute and Codex's ruling on it (None: never disputed).
    pub dispute: Option<Dispute>,
}

/// An objection to a finding and Codex's answer to it, so a finding believed wrong is argued
/// (and decided) rather than ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispute {
    /// agent (from a Claude Code session) or human.
    pub by: Author,
    /// Why the finding is wrong, in the disputer's words (at most
    /// [`crate::limits::MAX_DISPUTE_REASON`] bytes).
    pub reason: String,
    /// When it was disputed, RFC 3339.
    pub at: String,
    /// withdraw | uphold; None until a review rules on it.
    pub ruling: Option<Ruling>,
    /// Codex's one-line reply with its ruling.
    pub reply: Option<String>,
    /// The review that ruled.
    pub review: Option<i64>,
}
