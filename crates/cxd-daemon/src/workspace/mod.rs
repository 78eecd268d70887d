//! One workspace's life: watch events in, settle, snapshot, review with codex, publish status.
//!
//! The rules of when a review runs are a pure state machine ([`machine`]); the actor
//! (`actor`) owns the I/O and carries out what the machine decides: it looks at the tree
//! (`tree`), runs codex (`runs`), answers the requests that are not about the cycle
//! (`requests`), reviews committed history (`history`) and publishes what `cxd status` shows
//! (`view`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cxd_proto::Response;
use cxd_proto::domain::{Trigger, WorkspaceState};
use cxd_proto::message::SessionAction;

use crate::caller::Caller;
use cxd_proto::status::{SeverityCounts, Tokens, WorkspaceStatus};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::context::Context;
use crate::store::{Store, WorkspaceRow};

mod actor;
mod catchup;
mod history;
mod intake;
pub mod machine;
mod opening;
mod quota;
mod requests;
mod rotation;
mod runs;
mod tree;
mod uncovered;
mod view;
mod wire;

pub use wire::{ANSWER_FINDINGS, review_info};

/// How a request that may start a run is answered: at once with why not (or that nothing
/// started), else with the receiver of the run's result.
pub type Started = oneshot::Sender<Result<Option<oneshot::Receiver<Response>>, Response>>;

/// What the registry may ask a workspace.
#[derive(Debug)]
pub enum Command {
    /// Review now, skipping the quiet period.
    Review {
        /// Against HEAD instead of the last review.
        all: bool,
        /// Model for this review only (None: the config's `review.model`).
        model: Option<String>,
        /// Reasoning effort for this review only (None: the config's `review.effort`).
        effort: Option<String>,
        /// manual | agent | stop
        trigger: Trigger,
        /// Retry after a failed review (`cxd review` does; the gate and stop hook do not).
        retry_halted: bool,
        /// Answered when the review starts (or why it cannot), then when it ends.
        started: Started,
    },
    /// `cxd pause` (true) or `cxd unpause` (false), answered with a sentence for the user.
    Pause(bool, Caller, oneshot::Sender<Response>),
    /// Show or change the thread.
    Session(SessionAction, Caller, oneshot::Sender<Response>),
    /// Record the user's approval of the tree as it is now.
    Approve(Option<String>, Caller, oneshot::Sender<Response>),
    /// Look at the whole tree now: is the newest review up to date with it?
    Check(oneshot::Sender<Result<bool, Response>>),
    /// Re-read findings from the store (after a dismissal or reopen); answered once the
    /// published status shows them, so the request that changed them reads its own write.
    Refresh(oneshot::Sender<()>),
    /// Validate a plan; answered like `Review`.
    Plan {
        /// The plan's text as the agent wrote it.
        text: String,
        /// Answered when the validation starts (or why it cannot), then when it ends.
        started: Started,
    },
    /// The user trusts (or stops trusting) this repository's `.cxd.toml` as it is now.
    Trust(bool, Caller, oneshot::Sender<Response>),
    /// Review committed history (a commit, a range, a branch, pushed commits); answered like
    /// `Review`, or at once with why not (nothing recorded then).
    ReviewRevisions {
        /// What to review.
        target: Target,
        /// Model for this review only (None: the config's `review.model`).
        model: Option<String>,
        /// Reasoning effort for this review only (None: the config's `review.effort`).
        effort: Option<String>,
        /// Answered when the review starts (or why it cannot, or `None`: nothing to review).
        started: Started,
    },
    /// The trees of the commits a push sends (see [`Target::Pushed`]).
    PushedTrees {
        /// The pushed commit.
        local: String,
        /// What the remote has (all zeros: nothing yet).
        remote: String,
        /// The remote pushed to (see [`Target::Pushed`]).
        remote_name: Option<String>,
        /// The trees, newest commit first, or why they cannot be listed.
        reply: oneshot::Sender<Result<Vec<String>, Response>>,
    },
    /// The agent edited this file (absolute): attribute it, settle from now.
    AgentEdit {
        /// The edited file, absolute; it need not exist any more.
        file: PathBuf,
        /// The agent's session id; findings are passed on to that session once.
        session: String,
    },
}

/// Committed history a review covers.
#[derive(Debug, Clone)]
pub enum Target {
    /// What `cxd review --commit/--range/--base` named.
    Revisions(cxd_proto::message::Revisions),
    /// The pre-push hook: the commits `local` holds that the remote lacks (`remote`, or the
    /// pushed-to remote's remote-tracking refs when it is new), from the oldest no review
    /// covered yet.
    Pushed {
        /// The pushed commit (hex).
        local: String,
        /// The remote's commit (hex; all zeros: none).
        remote: String,
        /// The remote's name: only `refs/remotes/NAME/*` count as pushed (None or a URL: no ref).
        remote_name: Option<String>,
    },
}

/// The registry's handle on a running workspace actor.
#[derive(Debug)]
pub struct WorkspaceHandle {
    /// The work-tree root, canonical: the registry's key for it.
    pub root: PathBuf,
    /// The `workspaces` row id, as findings and reviews refer to it.
    pub id: i64,
    view: watch::Receiver<View>,
    commands: mpsc::Sender<Command>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// What the actor publishes on every change, so status never waits on a busy actor.
#[derive(Debug, Clone)]
struct View {
    status: WorkspaceStatus,
    deadline: Option<Instant>,
    since: Option<Instant>,
}

impl WorkspaceHandle {
    /// The workspace's status now, with the settle countdown and time in state computed at the call.
    pub fn view(&self) -> WorkspaceStatus {
        let v = self.view.borrow();
        let mut s = v.status.clone();
        let now = Instant::now();
        s.settle_in_ms = v
            .deadline
            .map(|d| d.saturating_duration_since(now).as_millis() as u64);
        s.state_for_s = v.since.map(|t| now.saturating_duration_since(t).as_secs());
        s
    }

    /// A sender to the actor's inbox, for requests to queue commands on.
    pub fn commands(&self) -> mpsc::Sender<Command> {
        self.commands.clone()
    }

    /// Stop the actor and wait for it (its watches are released when it ends; a running
    /// review is cut short and recorded as interrupted).
    pub async fn stop(self) {
        self.stop.cancel();
        if let Err(e) = self.task.await {
            tracing::warn!(root = %self.root.display(), error = %e, "workspace task ended abnormally");
        }
    }
}

/// Start a workspace actor: baseline, watches, and its loop.
pub async fn spawn(
    ctx: Arc<Context>,
    store: Store,
    row: WorkspaceRow,
    stop: CancellationToken,
) -> WorkspaceHandle {
    let root = row.root.clone();
    let id = row.id;
    let (view_tx, view) = watch::channel(View {
        status: empty_status(&root),
        deadline: None,
        since: None,
    });
    let (commands, commands_rx) = mpsc::channel(16);
    let (mut actor, inbox) = actor::Actor::new(ctx, store, row, view_tx, commands_rx);
    // The watches exist before the registry hears of the workspace; the baseline follows
    // (the actor takes in nothing before it is in).
    actor.begin().await;
    let task = tokio::spawn(actor.run(inbox, stop.clone()));
    WorkspaceHandle {
        root,
        id,
        view,
        commands,
        stop,
        task,
    }
}

/// cxd's private directory for the workspace with this store id: its snapshot index and
/// objects, the codex pid file and answers. Removed when the workspace is unwatched.
pub fn private_dir(state_dir: &Path, id: i64) -> PathBuf {
    state_dir.join("workspaces").join(id.to_string())
}

fn empty_status(root: &std::path::Path) -> WorkspaceStatus {
    WorkspaceStatus {
        root: root.to_path_buf(),
        state: WorkspaceState::Idle,
        pending_files: 0,
        settle_in_ms: None,
        os_watches: 0,
        warnings: Vec::new(),
        reviews: 0,
        thread_id: None,
        last_review: None,
        open_findings: SeverityCounts::default(),
        approval: None,
        tokens_total: Tokens::default(),
        activity: None,
        state_for_s: None,
        error: None,
        resumes_at: None,
        reviewing_with: None,
        up_to_date: false,
        snapshot_bytes: 0,
        top_findings: Vec::new(),
        needs_you: None,
        review_loop: None,
        head_reviewed: None,
    }
}
