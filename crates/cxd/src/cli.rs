//! The command line, as clap parses it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use cxd_proto::domain::{GateScope, Severity};

/// cxd gives an AI coding agent a second, independent reviewer: a daemon watches your working
/// trees and has the Codex CLI review every settled burst of edits.
#[derive(Debug, Parser)]
#[command(name = "cxd", version, propagate_version = true, max_term_width = 100)]
#[command(
    after_help = "Exit codes: 0 ok, 1 a gate/check/review said no, 2 usage error, \
3 daemon not running or unreachable, 4 the review itself failed.\n\
Environment: CXD_SOCKET, CXD_STATE_DIR, CXD_CONFIG, CXD_CODEX_BIN."
)]
pub struct Cli {
    /// The subcommand given; each variant's doc comment is its `--help` text.
    #[command(subcommand)]
    pub command: Command,
}

/// Every `cxd` subcommand; `commands::run` hands each to the module named after it.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon in the foreground (what systemd or launchd start).
    Daemon(DaemonArgs),
    /// Show the daemon and every watched workspace.
    Status(StatusArgs),
    /// Stop the daemon gracefully.
    Stop,
    /// Watch the git work tree holding PATH (default: the current directory).
    ///
    /// Starts the daemon in the background if none is running.
    Watch(WatchArgs),
    /// Stop watching the workspace holding PATH (default: the current directory).
    Unwatch(PathArg),
    /// List the watched workspaces.
    List(ListArgs),
    /// Show the audit trail: edits, reviews and their results, approvals.
    Log(LogArgs),
    /// Review now, skipping the debounce; or committed history (--commit, --range, --base).
    ///
    /// With --wait, shows what codex is doing, then the verdict and findings; exits 0 when
    /// approved, 1 when changes are requested, 4 when the review itself failed. A revision
    /// git does not know, or a range with nothing in it, exits 2 with nothing recorded.
    Review(ReviewArgs),
    /// List a workspace's findings (open ones unless --all).
    Findings(FindingsArgs),
    /// Show or change the workspace's codex thread.
    Session(SessionArgs),
    /// Record edits but start no review until `cxd unpause`.
    Pause(PathArg),
    /// Resume reviewing (also clears a halt after a failed review).
    Unpause(PathArg),
    /// Accept the workspace's tree as it is now (a later edit makes the approval stale).
    Approve(ApproveArgs),
    /// Trust the workspace's `.cxd.toml` as it is now, so the settings a repository may not
    /// set alone (codex_bin, extra_args, timeout_s, the gate's threshold and rounds) apply.
    ///
    /// The file's SHA-256 is recorded: any later change of it needs `cxd trust` again. Read
    /// the file first: a repository you cloned chooses what it says.
    Trust(TrustArgs),
    /// Dismiss a finding: it no longer counts as open.
    Dismiss(DismissArgs),
    /// Reopen a dismissed, resolved or withdrawn finding.
    Reopen(ReopenArgs),
    /// Argue that an open finding is wrong: the next review rules on it, `withdraw` (it
    /// stops counting) or `uphold` (it stays open with Codex's reply).
    ///
    /// The dispute is the agent's with --session (the stop hook's block reason gives the
    /// command line) or when CLAUDE_CODE_SESSION_ID is set; a person's otherwise.
    Dispute(DisputeArgs),
    /// Exit 0 iff everything is reviewed and nothing open is at or above the threshold.
    ///
    /// Exit 1 and say why otherwise. With --wait, first reviews anything unreviewed (and waits
    /// for a running review), up to SECS seconds.
    Gate(GateArgs),
    /// Follow live events: edits settled, reviews started and finished, findings, approvals.
    Events(EventsArgs),
    /// Validate a plan with Codex before implementing it (logic, edge cases, architecture,
    /// security). A revised plan continues the same Codex thread.
    Plan(PlanArgs),
    /// Serve cxd's tools to a model over MCP (stdio): status, findings, review, plan, dispute.
    ///
    /// Claude Code starts it (the cxd plugin's `.mcp.json` names it) in the project directory;
    /// every tool works on the git work tree holding the directory it was started in. It is a
    /// client of the daemon: the daemon must be running and watching that work tree.
    Mcp,
    /// Hook handlers: `cxd hook claude post-tool-use|stop|pre-tool-use|session-start` (Claude Code) and `cxd hook git pre-push` (git).
    #[command(subcommand)]
    Hook(HookCommand),
    /// Run the daemon as a user service (systemd, launchd): install, uninstall, status.
    Service(crate::commands::service::ServiceArgs),
    /// Print findings as SARIF 2.1.0 or reviewdog rdjsonl.
    Export(crate::commands::export::ExportArgs),
    /// Print a shell completion script (bash, zsh or fish).
    Completions(crate::commands::completions::CompletionsArgs),
    /// Set up an integration: `cxd init claude` (Claude Code hooks), `cxd init git-hook`.
    Init(crate::commands::init::InitArgs),
}

/// `cxd plan`
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The plan file, or - for standard input (the default when input is piped).
    pub file: Option<PathBuf>,
    /// A path inside the workspace (default: the current directory).
    pub path: Option<PathBuf>,
    /// Wait for the verdict, showing progress.
    #[arg(long)]
    pub wait: bool,
    /// Print the result as JSON (without --wait: `review` is null).
    #[arg(long)]
    pub json: bool,
}

/// `cxd hook ...`
#[derive(Debug, Subcommand)]
pub enum HookCommand {
    /// Claude Code hooks (hook JSON on stdin).
    #[command(subcommand)]
    Claude(ClaudeHook),
    /// git hooks (what `cxd init git-hook` installs).
    #[command(subcommand)]
    Git(GitHook),
}

/// The git hooks cxd handles.
#[derive(Debug, Clone, Subcommand)]
pub enum GitHook {
    /// git's pre-push input on stdin: review the pushed commits no review covered yet, wait
    /// for it (progress on stderr), exit 1 on open findings at or above gate.block_on.
    ///
    /// The way out of a refusal: `git push --no-verify`, or `cxd dismiss ID`. A daemon that
    /// does not answer lets the push through, saying so.
    PrePush {
        /// The remote's name, as git passes it: only its remote-tracking refs count as pushed.
        remote: Option<String>,
        /// The remote's URL, as git passes it (shown only).
        url: Option<String>,
    },
}

/// The Claude Code hook events cxd handles.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum ClaudeHook {
    /// After Edit|Write|MultiEdit|NotebookEdit: attribute the edit, pass on unseen findings.
    PostToolUse,
    /// When Claude would stop: review what is unreviewed and block on open findings (bounded).
    Stop,
    /// Before ExitPlanMode: validate the plan, deny it with Codex's findings.
    PreToolUse,
    /// When a session starts: start the daemon if needed, watch the session's repository,
    /// and give Claude the open findings as context.
    SessionStart,
}

/// `cxd approve`
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// A path inside the workspace (default: the current directory).
    pub path: Option<PathBuf>,
    /// Why, for the audit trail.
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
}

/// `cxd trust`
#[derive(Debug, Args)]
pub struct TrustArgs {
    /// A path inside the workspace (default: the current directory).
    pub path: Option<PathBuf>,
    /// Stop trusting the file.
    #[arg(long)]
    pub revoke: bool,
}

/// `cxd dismiss`
#[derive(Debug, Args)]
pub struct DismissArgs {
    /// The finding's id, e.g. F12.
    pub id: String,
    /// A path inside the workspace the finding is in (default: the current directory).
    pub path: Option<PathBuf>,
    /// Why, for the audit trail.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

/// `cxd reopen`
#[derive(Debug, Args)]
pub struct ReopenArgs {
    /// The finding's id, e.g. F12.
    pub id: String,
    /// A path inside the workspace the finding is in (default: the current directory).
    pub path: Option<PathBuf>,
}

/// `cxd dispute`
#[derive(Debug, Args)]
pub struct DisputeArgs {
    /// The finding's id, e.g. F12.
    pub id: String,
    /// A path inside the workspace the finding is in (default: the current directory).
    pub path: Option<PathBuf>,
    /// Why the finding is wrong (at most 4 KiB): Codex weighs it at the next review.
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// The agent session disputing (Claude Code's session id): the dispute is the agent's.
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
    /// Print the disputed finding as JSON (as `cxd findings --json` prints one).
    #[arg(long)]
    pub json: bool,
}

/// `cxd gate`
#[derive(Debug, Args)]
pub struct GateArgs {
    /// A path inside the workspace (default: the current directory).
    pub path: Option<PathBuf>,
    /// Review anything unreviewed first, waiting up to SECS seconds.
    #[arg(long, value_name = "SECS")]
    pub wait: Option<u64>,
    /// Severity at or above which open findings fail the gate (default: gate.block_on).
    #[arg(long, value_name = "SEVERITY")]
    pub block_on: Option<Severity>,
    /// Which open findings fail the gate: `all` (the default here), or `change`: only those
    /// whose lines a reviewed change touched (or about a change as a whole).
    #[arg(long, value_name = "SCOPE")]
    pub scope: Option<GateScope>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `cxd events`
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// One JSON object per line: {"at", "kind", "workspace", "message"}.
    #[arg(long, conflicts_with = "blocking_only")]
    pub json: bool,
    /// Print only one line per finding that starts blocking (open, at or above gate.block_on)
    /// in the workspace holding PATH, and nothing else; wait through daemon restarts. What the
    /// cxd Claude Code plugin's monitor runs.
    #[arg(long)]
    pub blocking_only: bool,
    /// With --blocking-only: a path inside the workspace (default: the current directory).
    #[arg(requires = "blocking_only")]
    pub path: Option<PathBuf>,
}

/// `cxd review`
#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// A path inside the workspace (default: the current directory).
    pub path: Option<PathBuf>,
    /// Wait for the verdict, showing progress.
    #[arg(long)]
    pub wait: bool,
    /// Review every uncommitted change against HEAD, not only what changed since the last review.
    #[arg(long, conflicts_with_all = ["commit", "range", "base"])]
    pub all: bool,
    /// Review one commit against its first parent (`git show REV`), on the workspace's thread;
    /// its findings join the workspace's. Trigger `commit`.
    #[arg(long, value_name = "REV", conflicts_with_all = ["range", "base"])]
    pub commit: Option<String>,
    /// Review what `git diff A B` shows, for the commits in A..B (A excluded). Trigger `range`.
    #[arg(long, value_name = "A..B", conflicts_with = "base")]
    pub range: Option<String>,
    /// Review the current branch's work since it forked from BRANCH (its merge base with
    /// HEAD, to HEAD). Trigger `range`.
    #[arg(long, value_name = "BRANCH")]
    pub base: Option<String>,
    /// With --base: up to the working tree, so uncommitted work is reviewed too.
    #[arg(long, requires = "base")]
    pub uncommitted: bool,
    /// Model for this review (default: review.model).
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
    /// Reasoning effort for this review (default: review.effort).
    #[arg(long, value_name = "EFFORT")]
    pub effort: Option<String>,
    /// Print the result as JSON (without --wait, or with nothing to review: `review` is null).
    #[arg(long)]
    pub json: bool,
}

/// `cxd findings`
#[derive(Debug, Args)]
pub struct FindingsArgs {
    /// A path inside the workspace (default: the current directory).
    pub path: Option<PathBuf>,
    /// Include resolved and dismissed findings.
    #[arg(long)]
    pub all: bool,
    /// Only this severity and above (critical, high, medium, low, info).
    #[arg(long, value_name = "SEVERITY")]
    pub severity: Option<Severity>,
    /// Print JSON (see the README).
    #[arg(long)]
    pub json: bool,
}

/// `cxd session`
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SessionArgs {
    /// What to do (default: print the thread id).
    #[command(subcommand)]
    pub action: Option<SessionCommand>,
    /// A path inside the workspace (default: the current directory).
    pub path: Option<PathBuf>,
}

/// `cxd session reset|adopt`
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// Start a fresh codex thread at the next review.
    Reset {
        /// A path inside the workspace.
        path: Option<PathBuf>,
    },
    /// Continue an existing codex thread from now on (e.g. the one a plan was discussed in).
    Adopt {
        /// The thread id (a UUID); with --last, the workspace path instead.
        id: Option<String>,
        /// Adopt the newest codex thread started in the workspace's root.
        #[arg(long)]
        last: bool,
        /// A path inside the workspace.
        path: Option<PathBuf>,
    },
}

/// `cxd watch`
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// A path inside the work tree.
    pub path: Option<PathBuf>,
    /// Fail instead of starting a daemon when none is running.
    #[arg(long)]
    pub no_spawn: bool,
}

/// A command that takes an optional path.
#[derive(Debug, Args)]
pub struct PathArg {
    /// A path inside the workspace (default: the current directory).
    pub path: Option<PathBuf>,
}

/// `cxd list`
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON: `[{"root", "state", "pending_files", "os_watches"}]`.
    #[arg(long)]
    pub json: bool,
}

/// `cxd log`
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Only the workspace holding this path (default: every workspace).
    pub path: Option<PathBuf>,
    /// How many entries, newest last.
    #[arg(short = 'n', long = "lines", default_value_t = 20)]
    pub lines: u32,
    /// Print JSON: `[{"at", "kind", "workspace", ...}]`.
    #[arg(long)]
    pub json: bool,
}

/// `cxd daemon`
#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Log to stderr instead of the daily files in the state dir (automatic under systemd).
    #[arg(long)]
    pub log_stderr: bool,
    /// Log level or filter (`info`, `debug`, `cxd_daemon=trace`); RUST_LOG overrides it.
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    pub log_level: String,
}

/// `cxd status`
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Show only the workspace that holds this path.
    pub path: Option<PathBuf>,
    /// Print the stable JSON form (see the README).
    #[arg(long)]
    pub json: bool,
}
