//! One workspace's life: watch events in, settle, snapshot, review with codex, publish status.
//!
//! The state machine of DESIGN §2: idle → settling → reviewing → idle; edits during a review
//! earn exactly one follow-up; a failed review halts the workspace until `cxd review` or
//! `cxd unpause`; paused workspaces record edits but start no review.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cxd_proto::domain::{Severity, Trigger, WorkspaceState};
use cxd_proto::message::{ReviewDone, SessionAction};
use cxd_proto::status::{Approval, Finding, ReviewInfo, SeverityCounts, Tokens, WorkspaceStatus};
use cxd_proto::{ErrorKind, ErrorReply, Response};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::context::Context;
use crate::review::jsonl::Activity;
use crate::review::prompt::{self, ChangedFile, OpenFinding};
use crate::reviewer::{self, Job, JobError, JobResult};
use crate::settle::{self, Settle};
use crate::snapshot::{Diff, Snapshot, Snapshotter, upkeep};
use crate::store::findings::FindingRow;
use crate::store::{self, NewEvent, Store, WorkspaceRow};
use crate::watch::{WatchConfig, WatchEvent, Watcher};

/// At most this many file names go into one log entry (the count is always exact).
const MAX_LOGGED_FILES: usize = 200;

/// How often a missing root is looked for; no timer runs while nothing is missing.
const MISSING_POLL: Duration = Duration::from_secs(2);

/// What the registry may ask a workspace.
#[derive(Debug)]
pub enum Command {
    /// Review now.
    Review {
        /// Against HEAD instead of the last review.
        all: bool,
        /// Model override.
        model: Option<String>,
        /// Effort override.
        effort: Option<String>,
        /// manual | agent | stop
        trigger: Trigger,
        /// Retry after a failed review (`cxd review` does; the gate and stop hook do not).
        retry_halted: bool,
        /// Answered when the review starts (or why it cannot), then when it ends.
        started: oneshot::Sender<Result<Option<oneshot::Receiver<Response>>, Response>>,
    },
    /// Pause or unpause.
    Pause(bool, oneshot::Sender<Response>),
    /// Show or change the thread.
    Session(SessionAction, oneshot::Sender<Response>),
    /// Record the user's approval of the tree as it is now.
    Approve(Option<String>, oneshot::Sender<Response>),
    /// Look at the whole tree now: is the newest review up to date with it?
    Check(oneshot::Sender<Result<bool, Response>>),
    /// Re-read findings from the store (after a dismissal or reopen).
    Refresh,
    /// Validate a plan; answered like `Review`.
    Plan {
        /// The plan text.
        text: String,
        /// Answered when the validation starts (or why it cannot), then when it ends.
        started: oneshot::Sender<Result<Option<oneshot::Receiver<Response>>, Response>>,
    },
    /// The user trusts (or stops trusting) this repository's `.cxd.toml` as it is now.
    Trust(bool, oneshot::Sender<Response>),
    /// The agent edited this file (absolute): attribute it, settle from now.
    AgentEdit {
        /// The file.
        file: PathBuf,
        /// The agent's session.
        session: String,
    },
}

/// The registry's handle on a running workspace actor.
#[derive(Debug)]
pub struct WorkspaceHandle {
    /// Work-tree root.
    pub root: PathBuf,
    /// The store row id.
    pub id: i64,
    view: watch::Receiver<View>,
    commands: mpsc::Sender<Command>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// What the actor publishes.
#[derive(Debug, Clone)]
struct View {
    status: WorkspaceStatus,
    deadline: Option<Instant>,
    since: Option<Instant>,
}

impl WorkspaceHandle {
    /// The workspace's status now.
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

    /// The actor's inbox.
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
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let (commands, commands_rx) = mpsc::channel(16);
    let (activity_tx, activity_rx) = mpsc::unbounded_channel();
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let settle = {
        let c = &ctx.config.borrow().config.settle;
        Settle::new(
            Duration::from_millis(c.quiet_ms),
            Duration::from_millis(c.max_wait_ms),
        )
    };
    let mut actor = Actor {
        ctx,
        store,
        paused: row.paused,
        row,
        view_tx,
        settle,
        watcher: None,
        snapshotter: None,
        baseline: None,
        pending: BTreeSet::new(),
        full_rescan: false,
        missing: false,
        warnings: Vec::new(),
        running: None,
        follow_up: false,
        halted: None,
        activity_tx,
        done_tx,
        summary: Summary::default(),
        dirty: false,
        last_tree: None,
        agent_files: std::collections::HashSet::new(),
        agent_session: None,
        queued_plan: None,
        config_warnings: Vec::new(),
        upkeep: Upkeep {
            bytes: 0,
            after_prune: 0,
            pruned_at: Instant::now(),
        },
        root_check: None,
        baseline_unverified: false,
    };
    actor.start(events_tx).await;
    let channels = Inbox {
        events: events_rx,
        commands: commands_rx,
        activity: activity_rx,
        done: done_rx,
    };
    let task = tokio::spawn(actor.run(channels, stop.clone()));
    WorkspaceHandle {
        root,
        id,
        view,
        commands,
        stop,
        task,
    }
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
        reviewing_with: None,
        up_to_date: false,
        snapshot_bytes: 0,
    }
}

/// A review under way.
struct Running {
    cancel: CancellationToken,
    /// The tree a code review covers (None for a plan).
    to: Option<Snapshot>,
    started: Instant,
    with: String,
    activity: Option<String>,
    waiters: Vec<oneshot::Sender<Response>>,
}

/// What the store says about this workspace, refreshed after each review.
#[derive(Debug, Clone, Default)]
struct Summary {
    reviews: u64,
    thread_id: Option<String>,
    last_review: Option<ReviewInfo>,
    open: Vec<FindingRow>,
    tokens_total: Tokens,
    approval: Option<store::approvals::ApprovalRow>,
}

struct Actor {
    ctx: Arc<Context>,
    store: Store,
    row: WorkspaceRow,
    view_tx: watch::Sender<View>,
    settle: Settle,
    watcher: Option<Watcher>,
    snapshotter: Option<Snapshotter>,
    baseline: Option<Snapshot>,
    pending: BTreeSet<PathBuf>,
    full_rescan: bool,
    missing: bool,
    paused: bool,
    warnings: Vec<String>,
    running: Option<Running>,
    follow_up: bool,
    halted: Option<(Instant, String)>,
    activity_tx: mpsc::UnboundedSender<String>,
    done_tx: mpsc::UnboundedSender<Result<JobResult, JobError>>,
    summary: Summary,
    /// A change is known that no successful review covers yet.
    dirty: bool,
    /// The tree of the newest snapshot.
    last_tree: Option<String>,
    /// Files the agent reported editing since the last settle.
    agent_files: std::collections::HashSet<PathBuf>,
    /// The agent session that reported them.
    agent_session: Option<String>,
    /// A plan waiting for the running review to end.
    queued_plan: Option<(String, oneshot::Sender<Response>)>,
    /// What of the repository's `.cxd.toml` is broken or not applied, as last read.
    config_warnings: Vec<String>,
    /// The private object store's size, and when it was last pruned.
    upkeep: Upkeep,
    /// While the root is missing: when to look for it again.
    root_check: Option<Instant>,
    /// The baseline came from the store (a restart, or the root came back) and no diff
    /// against it has worked yet: if the repository was recreated, its objects may be gone.
    baseline_unverified: bool,
}

/// The private object store's size as last measured, and its size right after the last prune.
#[derive(Debug, Clone, Copy)]
struct Upkeep {
    bytes: u64,
    after_prune: u64,
    pruned_at: Instant,
}

/// Everything that reaches the actor.
struct Inbox {
    events: mpsc::UnboundedReceiver<WatchEvent>,
    commands: mpsc::Receiver<Command>,
    activity: mpsc::UnboundedReceiver<String>,
    done: mpsc::UnboundedReceiver<Result<JobResult, JobError>>,
}

/// What a review would cover now.
struct Change {
    base: Snapshot,
    to: Snapshot,
    diff: Diff,
}

impl Actor {
    fn root(&self) -> &std::path::Path {
        &self.row.root
    }

    /// The config in force here: the user's, with what the repository's `.cxd.toml` may decide
    /// over it. A broken file and every key not applied are warnings in status.
    fn config(&mut self) -> crate::config::Config {
        let user = self.ctx.config.borrow().config.clone();
        let rc = user.for_repo(&self.row.root, &self.ctx.state_dir);
        let fresh = rc.warnings();
        if fresh != self.config_warnings {
            for w in &fresh {
                tracing::warn!(root = %self.row.root.display(), "{w}");
            }
            self.config_warnings = fresh;
        }
        rc.config
    }

    /// Take the settle timings of the config in force.
    fn retime(&mut self) {
        let c = self.config().settle;
        self.settle.set_timing(
            Duration::from_millis(c.quiet_ms),
            Duration::from_millis(c.max_wait_ms),
        );
    }

    fn dir(&self) -> PathBuf {
        private_dir(&self.ctx.state_dir, self.row.id)
    }

    /// Open the snapshotter, establish the baseline, start watching.
    async fn start(&mut self, events_tx: mpsc::UnboundedSender<WatchEvent>) {
        self.refresh_summary().await;
        self.retime();
        if !self.root().is_dir() {
            self.go_missing();
            return;
        }
        let dir = self.dir();
        let root = self.row.root.clone();
        let mut exclude = vec![self.ctx.state_dir.clone()];
        if let Some(dir) = self.ctx.socket.parent() {
            exclude.push(dir.to_path_buf());
        }
        // The root is canonical; so must be what is compared against it.
        let exclude: Vec<PathBuf> = exclude
            .into_iter()
            .map(|p| std::fs::canonicalize(&p).unwrap_or(p))
            .collect();
        let snap_exclude = exclude.clone();
        let stored = self.baseline.clone().or_else(|| {
            self.row.baseline_tree.clone().map(|tree| Snapshot {
                tree,
                head: self.row.baseline_head.clone(),
            })
        });
        let orphan = reviewer::pidfile(&dir);
        let opened = tokio::task::spawn_blocking(
            move || -> Result<(Snapshotter, Snapshot, bool, u64), String> {
                if crate::review::runner::reap_orphan(&orphan) {
                    tracing::warn!(root = %root.display(), "ended a codex left running by a daemon that was killed");
                }
                let mut snap = Snapshotter::open(&root, &dir).map_err(|e| e.to_string())?;
                snap.set_exclude(&snap_exclude);
                let (base, fresh) = match stored {
                    Some(base) => (base, false),
                    None => (snap.snapshot(None).map_err(|e| e.to_string())?, true),
                };
                let bytes = snap.store_bytes().unwrap_or(0);
                Ok((snap, base, fresh, bytes))
            },
        )
        .await;
        match opened {
            Ok(Ok((snap, base, fresh, bytes))) => {
                self.upkeep = Upkeep {
                    bytes,
                    after_prune: bytes,
                    pruned_at: Instant::now(),
                };
                if fresh {
                    self.save_baseline(&base).await;
                } else {
                    // Edits made while the daemon was down (or a review it was running when it
                    // stopped) are reviewed at the next settle.
                    self.baseline_unverified = true;
                    self.full_rescan = true;
                    self.settle.change(Instant::now());
                }
                self.snapshotter = Some(snap);
                self.last_tree = Some(base.tree.clone());
                self.baseline = Some(base);
            }
            Ok(Err(e)) => self.warn(format!("cannot snapshot the work tree: {e}")),
            Err(e) => self.warn(format!("snapshot task failed: {e}")),
        }
        let config = WatchConfig {
            root: self.row.root.clone(),
            extra_ignore: self.config().watch.ignore.clone(),
            exclude,
        };
        // Walking a big tree takes a while: keep it off the async workers.
        match tokio::task::spawn_blocking(move || Watcher::start(config, events_tx)).await {
            Ok(Ok(w)) => self.watcher = Some(w),
            Ok(Err(e)) => self.warn(format!("cannot watch: {e}")),
            Err(e) => self.warn(format!("watch task failed: {e}")),
        }
        self.publish();
        tracing::info!(root = %self.root().display(), watches = self.os_watches(), "watching workspace");
    }

    async fn run(mut self, mut inbox: Inbox, stop: CancellationToken) {
        let mut config = self.ctx.config.clone();
        let mut watching = true;
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                ev = inbox.events.recv(), if watching => match ev {
                    Some(ev) => self.on_watch_event(ev),
                    // The watcher is gone (never started, or the root vanished).
                    None => watching = false,
                },
                Some(cmd) = inbox.commands.recv() => self.on_command(cmd).await,
                Some(a) = inbox.activity.recv() => {
                    if let Some(r) = self.running.as_mut() {
                        r.activity = Some(a.clone());
                    }
                    self.ctx.emit("review_activity", Some(self.row.root.clone()), a);
                }
                Some(result) = inbox.done.recv() => self.on_review_done(result).await,
                () = settle::until(self.root_check), if self.missing => {
                    if self.root_is_back() {
                        let (events_tx, events) = mpsc::unbounded_channel();
                        inbox.events = events;
                        watching = true;
                        self.come_back(events_tx).await;
                    } else {
                        self.root_check = Some(Instant::now() + MISSING_POLL);
                    }
                }
                () = settle::until(self.settle.deadline()) => {
                    if self.settle.poll(Instant::now()) {
                        self.on_settled().await;
                    }
                }
                changed = config.changed() => {
                    if changed.is_err() { break; }
                    config.borrow_and_update();
                    self.retime();
                }
            }
            self.publish();
        }
        // Shutdown: a running review is cut short and recorded as interrupted; its changes
        // stay unreviewed (the baseline does not move) and are reviewed after a restart.
        if let Some(running) = self.running.as_ref() {
            running.cancel.cancel();
            if let Some(result) = inbox.done.recv().await {
                self.on_review_done(result).await;
            }
        }
        drop(self.watcher.take());
        tracing::info!(root = %self.root().display(), "stopped watching workspace");
    }

    fn on_watch_event(&mut self, ev: WatchEvent) {
        let now = Instant::now();
        match ev {
            WatchEvent::Changed(paths) => {
                if self.missing {
                    return;
                }
                // The kernel reports the root's own deletion only once nothing holds it open
                // (a running codex has it as its working directory): look for ourselves.
                if !self.row.root.is_dir() {
                    self.go_missing();
                    return;
                }
                if paths.iter().any(|p| p == Path::new(".cxd.toml")) {
                    self.retime();
                }
                self.pending.extend(paths);
                self.settle.change(now);
            }
            WatchEvent::Git {
                head_moved,
                index_locked,
            } => {
                let released = self.settle.git_busy() && !index_locked;
                self.settle.set_git_busy(index_locked);
                // git moves HEAD just after it lets go of the index: a quiet period from the
                // release (or the move) lets the settle see both, so a checkout's files are
                // never mistaken for edits.
                if head_moved || (released && self.settle.is_pending()) {
                    self.settle.change(now);
                }
            }
            WatchEvent::Rescan => {
                self.full_rescan = true;
                self.settle.change(now);
                self.add_warning("the OS event queue overflowed: rescanned the whole tree".into());
            }
            WatchEvent::RootMissing => self.go_missing(),
        }
    }

    fn go_missing(&mut self) {
        self.missing = true;
        self.root_check = Some(Instant::now() + MISSING_POLL);
        self.settle.clear();
        self.pending.clear();
        self.watcher = None;
        if let Some(r) = &self.running {
            r.cancel.cancel();
        }
        tracing::warn!(root = %self.root().display(), "workspace root is gone");
        self.ctx.emit(
            "missing",
            Some(self.row.root.clone()),
            format!(
                "{} was deleted or moved: `cxd unwatch {}` forgets it",
                self.root().display(),
                self.root().display()
            ),
        );
    }

    /// The root is a git work tree again (recreated, or moved back).
    fn root_is_back(&self) -> bool {
        self.row.root.is_dir() && self.row.root.join(".git").exists()
    }

    /// The root came back: snapshot and watch it again. The private index is dropped (it may
    /// describe another repository now); the baseline stays, so what changed since the last
    /// review is reviewed at the next settle (against HEAD if the baseline's objects are gone).
    async fn come_back(&mut self, events_tx: mpsc::UnboundedSender<WatchEvent>) {
        self.missing = false;
        self.root_check = None;
        self.watcher = None;
        self.snapshotter = None;
        self.warnings.clear();
        let index = self.dir().join("index");
        if let Err(e) = std::fs::remove_file(&index)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %index.display(), error = %e, "cannot remove a stale private index");
        }
        tracing::info!(root = %self.root().display(), "workspace root is back");
        self.ctx.emit(
            "returned",
            Some(self.row.root.clone()),
            format!("{} is back: watching it again", self.root().display()),
        );
        // With a baseline, `start` queues a full rescan and marks the baseline unverified.
        self.start(events_tx).await;
    }

    async fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Review {
                all,
                model,
                effort,
                trigger,
                retry_halted,
                started,
            } => {
                let answer = if self.halted.is_some() && !retry_halted {
                    Ok(None)
                } else {
                    self.manual_review(all, model, effort, trigger).await
                };
                let _ = started.send(answer);
            }
            Command::Pause(pause, reply) => {
                let _ = reply.send(self.set_paused(pause).await);
            }
            Command::Session(action, reply) => {
                let _ = reply.send(self.session(action).await);
            }
            Command::Approve(note, reply) => {
                let _ = reply.send(self.approve(note).await);
            }
            Command::Check(reply) => {
                let _ = reply.send(self.check().await);
            }
            Command::Trust(revoke, reply) => {
                let _ = reply.send(self.trust(revoke).await);
            }
            Command::Refresh => self.refresh_summary().await,
            Command::Plan { text, started } => {
                let _ = started.send(self.plan(text).await);
            }
            Command::AgentEdit { file, session } => {
                if let Ok(rel) = file.strip_prefix(&self.row.root)
                    && !self.missing
                {
                    self.pending.insert(rel.to_path_buf());
                    self.agent_files.insert(rel.to_path_buf());
                    self.agent_session = Some(session);
                    self.settle.change(Instant::now());
                }
            }
        }
    }

    /// `cxd review`: review now whatever changed (or everything against HEAD).
    async fn manual_review(
        &mut self,
        all: bool,
        model: Option<String>,
        effort: Option<String>,
        trigger: Trigger,
    ) -> Result<Option<oneshot::Receiver<Response>>, Response> {
        let usage = |m: String| {
            Response::Error(ErrorReply {
                kind: ErrorKind::Usage,
                message: m,
            })
        };
        if self.missing {
            return Err(usage(format!(
                "{} is missing: nothing to review",
                self.root().display()
            )));
        }
        if self.paused {
            return Err(usage(format!(
                "{} is paused: `cxd unpause` first",
                self.root().display()
            )));
        }
        if let Some(r) = self.running.as_mut() {
            // One codex per workspace: wait for the running review, and follow up after it.
            self.follow_up = true;
            let (tx, rx) = oneshot::channel();
            r.waiters.push(tx);
            return Ok(Some(rx));
        }
        self.halted = None;
        self.settle.clear();
        let watched: Vec<PathBuf> = self.pending.iter().cloned().collect();
        // A write made just before `cxd review` may not have reached the watcher yet: look at
        // the whole tree rather than only the paths it reported.
        self.full_rescan = true;
        let change = match self.prepare(all).await {
            Ok(c) => c,
            Err(e) => {
                return Err(Response::Error(ErrorReply {
                    kind: ErrorKind::Internal,
                    message: e,
                }));
            }
        };
        if !all {
            self.record_burst(&watched, &change).await;
            self.absorb(&change).await;
        }
        if change.diff.is_empty() {
            return Ok(None);
        }
        let (tx, rx) = oneshot::channel();
        self.start_review(change, trigger, model, effort, vec![tx])
            .await;
        Ok(Some(rx))
    }

    async fn set_paused(&mut self, pause: bool) -> Response {
        self.paused = pause;
        let id = self.row.id;
        if let Err(e) = self
            .store
            .call(move |c| store::workspaces::set_paused(c, id, pause))
            .await
        {
            return Response::Error(ErrorReply {
                kind: ErrorKind::Internal,
                message: e.to_string(),
            });
        }
        let message = if pause {
            format!(
                "paused {}: edits are recorded, no review runs until `cxd unpause`",
                self.root().display()
            )
        } else {
            let was_halted = self.halted.take().is_some();
            // Anything left unreviewed is reviewed after the usual quiet period.
            self.full_rescan = true;
            self.settle.change(Instant::now());
            if was_halted {
                format!("unpaused {} (the halt is cleared)", self.root().display())
            } else {
                format!("unpaused {}", self.root().display())
            }
        };
        self.log(
            if pause { "pause" } else { "unpause" },
            serde_json::json!({}),
        )
        .await;
        Response::Ok { message }
    }

    async fn session(&mut self, action: SessionAction) -> Response {
        let id = self.row.id;
        let new_thread = match action {
            SessionAction::Show => {
                return Response::Session {
                    root: self.row.root.clone(),
                    thread_id: self.summary.thread_id.clone(),
                };
            }
            SessionAction::Reset => None,
            SessionAction::Adopt(t) => {
                if !crate::review::invocation::is_thread_id(&t) {
                    return Response::Error(ErrorReply {
                        kind: ErrorKind::Usage,
                        message: format!(
                            "{t:?} is not a codex thread id (a UUID such as 01a20bcf-a64a-7b03-bf54-a703d0125150)"
                        ),
                    });
                }
                Some(t)
            }
            SessionAction::AdoptLast => match crate::codex_sessions::newest_thread_for(self.root())
            {
                Ok(Some(t)) => Some(t),
                Ok(None) => {
                    return Response::Error(ErrorReply {
                        kind: ErrorKind::Usage,
                        message: format!(
                            "no codex session found whose working directory is {}",
                            self.root().display()
                        ),
                    });
                }
                Err(e) => {
                    return Response::Error(ErrorReply {
                        kind: ErrorKind::Internal,
                        message: e,
                    });
                }
            },
        };
        let t = new_thread.clone();
        if let Err(e) = self
            .store
            .call(move |c| store::workspaces::set_thread(c, id, t.as_deref()))
            .await
        {
            return Response::Error(ErrorReply {
                kind: ErrorKind::Internal,
                message: e.to_string(),
            });
        }
        self.log("session", serde_json::json!({ "thread_id": new_thread }))
            .await;
        self.refresh_summary().await;
        Response::Session {
            root: self.row.root.clone(),
            thread_id: new_thread,
        }
    }

    /// Snapshot the tree and diff it against the baseline (or HEAD with `all`), moving the
    /// baseline over a HEAD move.
    async fn prepare(&mut self, all: bool) -> Result<Change, String> {
        let (Some(mut snap), Some(base)) = (self.snapshotter.take(), self.baseline.clone()) else {
            return Err("this workspace has no snapshot (see its warnings in `cxd status`)".into());
        };
        let paths: Vec<PathBuf> = std::mem::take(&mut self.pending).into_iter().collect();
        let full = std::mem::take(&mut self.full_rescan);
        let max_bytes = self.config().review.max_diff_bytes as usize;
        let unverified = self.baseline_unverified && !all;
        let root = self.row.root.clone();
        let result = tokio::task::spawn_blocking(move || {
            let outcome: Result<(Change, bool), crate::snapshot::SnapshotError> = (|| {
                let to = snap.snapshot(if full { None } else { Some(&paths) })?;
                let against = |base: Snapshot| {
                    let base = if all {
                        snap.head_snapshot()?
                    } else if to.head != base.head {
                        snap.rebase_onto_head(&base, &to)?
                    } else {
                        base
                    };
                    let diff = snap.diff(&base, &to, max_bytes)?;
                    Ok::<_, crate::snapshot::SnapshotError>((base, diff))
                };
                let (base, diff, replaced) = match against(base) {
                    Err(e) if unverified => {
                        // The repository was recreated: the last reviewed tree's objects went
                        // with the old one. Every uncommitted change is reviewed instead.
                        tracing::warn!(root = %root.display(), error = %e, "the last reviewed tree is unreadable; reviewing against HEAD");
                        let (base, diff) = against(snap.head_snapshot()?)?;
                        (base, diff, true)
                    }
                    other => {
                        let (base, diff) = other?;
                        (base, diff, false)
                    }
                };
                Ok((Change { base, to, diff }, replaced))
            })();
            (snap, outcome)
        })
        .await;
        match result {
            Ok((snap, outcome)) => {
                self.snapshotter = Some(snap);
                let outcome = match outcome {
                    Ok((change, replaced)) => {
                        self.baseline_unverified = false;
                        if replaced {
                            self.baseline = Some(change.base.clone());
                            self.save_baseline(&change.base).await;
                        }
                        Ok(change)
                    }
                    Err(e) => Err(e),
                };
                if let Ok(c) = &outcome
                    && !all
                {
                    self.last_tree = Some(c.to.tree.clone());
                }
                outcome.map_err(|e| e.to_string())
            }
            Err(e) => Err(format!("snapshot task failed: {e}")),
        }
    }

    /// A burst settled: record it, and review what is left after any HEAD move.
    async fn on_settled(&mut self) {
        if !self.row.root.is_dir() {
            // Deleted (the kernel may not say so while codex still has it as its cwd).
            self.go_missing();
            return;
        }
        if self.running.is_some() {
            // One codex per workspace: a single follow-up review runs after this one.
            self.follow_up = true;
            return;
        }
        let watched: Vec<PathBuf> = self.pending.iter().cloned().collect();
        let change = match self.prepare(false).await {
            Ok(c) => c,
            Err(e) => {
                self.warn(format!("cannot snapshot the work tree: {e}"));
                return;
            }
        };
        self.record_burst(&watched, &change).await;
        if self.absorb(&change).await {
            return;
        }
        if self.paused || self.halted.is_some() {
            // Recorded; reviewed once unpaused (or by `cxd review`).
            return;
        }
        self.start_review(change, Trigger::Edit, None, None, Vec::new())
            .await;
    }

    /// Take in what a snapshot showed: with no net change the baseline follows any HEAD move
    /// and the workspace is up to date (true); otherwise it holds unreviewed changes (false).
    async fn absorb(&mut self, change: &Change) -> bool {
        if !change.diff.is_empty() {
            self.dirty = true;
            return false;
        }
        self.dirty = false;
        if Some(&change.base) != self.baseline.as_ref() {
            self.baseline = Some(change.base.clone());
            self.save_baseline(&change.base).await;
        }
        true
    }

    /// Look at the whole tree now (a write may not have reached the watcher yet) and say
    /// whether the newest review covers it. Unreviewed changes are queued for review.
    async fn check(&mut self) -> Result<bool, Response> {
        if self.missing || self.running.is_some() {
            return Ok(false);
        }
        let watched: Vec<PathBuf> = self.pending.iter().cloned().collect();
        self.full_rescan = true;
        let change = self.prepare(false).await.map_err(|message| {
            Response::Error(ErrorReply {
                kind: ErrorKind::Internal,
                message,
            })
        })?;
        self.record_burst(&watched, &change).await;
        if self.absorb(&change).await {
            self.settle.clear();
            return Ok(true);
        }
        if !self.paused && self.halted.is_none() {
            self.settle.change(Instant::now());
        }
        Ok(false)
    }

    /// `cxd plan`: validate a plan on the workspace's thread. Queued behind a running review.
    async fn plan(
        &mut self,
        text: String,
    ) -> Result<Option<oneshot::Receiver<Response>>, Response> {
        let usage = |m: String| {
            Response::Error(ErrorReply {
                kind: ErrorKind::Usage,
                message: m,
            })
        };
        if self.missing {
            return Err(usage(format!("{} is missing", self.root().display())));
        }
        if text.trim().is_empty() {
            return Err(usage("the plan is empty".into()));
        }
        let (tx, rx) = oneshot::channel();
        if self.running.is_some() {
            if self.queued_plan.is_some() {
                return Err(usage(
                    "a plan is already waiting for the running review: try again when it is done"
                        .into(),
                ));
            }
            self.queued_plan = Some((text, tx));
            return Ok(Some(rx));
        }
        self.start_plan(text, tx).await;
        Ok(Some(rx))
    }

    /// The open findings, as a prompt lists them for Codex to say which are fixed.
    fn open_for_prompt(&self) -> Vec<OpenFinding> {
        self.summary
            .open
            .iter()
            .map(|f| OpenFinding {
                id: f.public_id(),
                severity: f.finding.severity,
                location: location(&f.finding.file, f.finding.line_start),
                title: f.finding.title.clone(),
            })
            .collect()
    }

    async fn start_plan(&mut self, text: String, waiter: oneshot::Sender<Response>) {
        self.halted = None;
        let config = self.config();
        let open = self.open_for_prompt();
        let ws = self.row.id;
        let revision = self
            .store
            .call(move |c| store::reviews::count_trigger(c, ws, Trigger::Plan))
            .await
            .unwrap_or(0)
            > 0;
        let (model, effort) = (config.review.model.clone(), config.review.effort.clone());
        let job = Job {
            workspace_id: self.row.id,
            root: self.row.root.clone(),
            trigger: Trigger::Plan,
            prompt: prompt::plan(&text, &open, revision),
            model: model.clone(),
            effort: effort.clone(),
            timeout: Duration::from_secs(config.review.timeout_s),
            codex: reviewer::codex_bin(&config.review.codex_bin),
            extra_args: config.review.extra_args.clone(),
            thread: self.summary.thread_id.clone(),
            dir: self.dir(),
            stats: (0, 0, 0),
            trees: (None, None),
        };
        self.log(
            "plan",
            serde_json::json!({"revision": revision, "bytes": text.len(), "model": model, "effort": effort}),
        )
        .await;
        self.log(
            "review_started",
            serde_json::json!({"trigger": Trigger::Plan, "model": model, "effort": effort, "count": 0}),
        )
        .await;
        self.ctx.emit(
            "review_started",
            Some(self.row.root.clone()),
            format!("plan validation, {model} ({effort})"),
        );
        self.launch(job, None, vec![waiter], format!("{model}, {effort}"));
    }

    /// Record the user's trust in this repository's `.cxd.toml` (its SHA-256, so a change of
    /// the file needs trust again), or revoke it; the config in force follows at once.
    async fn trust(&mut self, revoke: bool) -> Response {
        let at = crate::clock::now_rfc3339();
        let recorded =
            match crate::config::trust::record(&self.ctx.state_dir, &self.row.root, revoke, at) {
                Ok(r) => r,
                Err(e) => {
                    let kind = if e.is_usage() {
                        ErrorKind::Usage
                    } else {
                        ErrorKind::Internal
                    };
                    return Response::Error(ErrorReply {
                        kind,
                        message: e.to_string(),
                    });
                }
            };
        if recorded.changed {
            self.log(
                "trust",
                serde_json::json!({"file": recorded.file, "sha256": recorded.sha256, "revoked": revoke}),
            )
            .await;
            self.retime();
            self.publish();
        }
        Response::Ok {
            message: recorded.message,
        }
    }

    /// `cxd approve`: the user accepts the tree as it is now.
    async fn approve(&mut self, note: Option<String>) -> Response {
        let up_to_date = match self.check().await {
            Ok(u) => u,
            Err(r) => return r,
        };
        let Some(tree) = self.last_tree.clone() else {
            return Response::Error(ErrorReply {
                kind: ErrorKind::Internal,
                message: "this workspace has no snapshot to approve (see `cxd status`)".into(),
            });
        };
        let row = store::approvals::ApprovalRow {
            at: crate::clock::now_rfc3339(),
            tree: tree.clone(),
            head: self.baseline.as_ref().and_then(|b| b.head.clone()),
            note: note.clone(),
        };
        let id = self.row.id;
        if let Err(e) = self
            .store
            .call(move |c| store::approvals::add(c, id, &row))
            .await
        {
            return Response::Error(ErrorReply {
                kind: ErrorKind::Internal,
                message: e.to_string(),
            });
        }
        let open = self.summary.open.len();
        self.log("approval", serde_json::json!({"note": note, "tree": tree, "up_to_date": up_to_date, "open_findings": open}))
            .await;
        self.ctx.emit(
            "approval",
            Some(self.row.root.clone()),
            format!("approved {}", self.root().display()),
        );
        self.refresh_summary().await;
        let mut message = format!("approved {} as it is now", self.root().display());
        if !up_to_date {
            message.push_str(" (it has changes no review covers yet)");
        }
        if open > 0 {
            message.push_str(&format!(" with {open} finding(s) still open"));
        }
        Response::Ok { message }
    }

    /// Put a settled burst in the audit trail: a HEAD move, and the edits (with whether they
    /// changed anything in the end).
    async fn record_burst(&mut self, watched: &[PathBuf], change: &Change) {
        let previous_head = self.baseline.as_ref().and_then(|b| b.head.clone());
        let head_moved = change.base.head != previous_head;
        let diff_files: Vec<String> = change
            .diff
            .files
            .iter()
            .map(|f| f.path.to_string_lossy().into_owned())
            .collect();
        if head_moved {
            tracing::info!(root = %self.root().display(), from = ?previous_head, to = ?change.to.head, "HEAD moved; the baseline follows it");
            self.log("head_moved", serde_json::json!({"from": previous_head, "to": change.to.head, "count": watched.len()})).await;
            if !change.diff.is_empty() {
                self.log_edit(&diff_files, true).await;
            }
        } else if !watched.is_empty() {
            // Editors and agents save through temporary files that are gone by now: name only
            // what exists or what the change touched (a deletion).
            let names: Vec<String> = watched
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .filter(|p| self.row.root.join(p).exists() || diff_files.contains(p))
                .collect();
            if !names.is_empty() {
                self.log_edit(&names, !change.diff.is_empty()).await;
            } else if !change.diff.is_empty() {
                self.log_edit(&diff_files, true).await;
            }
        } else if !change.diff.is_empty() {
            // Found by a full rescan (a restart, an overflow, a manual review) rather than
            // reported path by path.
            self.log_edit(&diff_files, true).await;
        }
    }

    async fn log_edit(&mut self, files: &[String], net_change: bool) {
        // The agent's hook reported (some of) these files: the agent edited them.
        let by = if files
            .iter()
            .any(|f| self.agent_files.contains(Path::new(f)))
        {
            "agent"
        } else {
            "human"
        };
        let session = if by == "agent" {
            self.agent_session.clone()
        } else {
            None
        };
        self.agent_files.clear();
        let shown: Vec<&str> = files.iter().take(5).map(String::as_str).collect();
        let more = files.len().saturating_sub(shown.len());
        let mut message = format!("{} file(s) edited: {}", files.len(), shown.join(", "));
        if more > 0 {
            message.push_str(&format!(" (+{more} more)"));
        }
        if !net_change {
            message.push_str(" — no net change, nothing to review");
        }
        self.ctx.emit("edit", Some(self.row.root.clone()), message);
        self.log(
            "edit",
            serde_json::json!({
                "files": files.iter().take(MAX_LOGGED_FILES).collect::<Vec<_>>(),
                "count": files.len(),
                "by": by,
                "session": session,
                "net_change": net_change,
            }),
        )
        .await;
    }

    /// Start codex on a change (one per workspace; `review.max_concurrent` across all).
    async fn start_review(
        &mut self,
        change: Change,
        trigger: Trigger,
        model: Option<String>,
        effort: Option<String>,
        waiters: Vec<oneshot::Sender<Response>>,
    ) {
        let config = self.config();
        let model = model.unwrap_or_else(|| config.review.model.clone());
        let effort = effort.unwrap_or_else(|| config.review.effort.clone());
        let open = self.open_for_prompt();
        let files: Vec<ChangedFile> = change
            .diff
            .files
            .iter()
            .map(|f| ChangedFile {
                path: f.path.to_string_lossy().into_owned(),
                status: f.status.as_str().to_owned(),
                insertions: f.insertions,
                deletions: f.deletions,
            })
            .collect();
        let prompt = prompt::review(&prompt::ReviewInput {
            files: &files,
            diff: change.diff.unified.as_deref(),
            open: &open,
        });
        let job = Job {
            workspace_id: self.row.id,
            root: self.row.root.clone(),
            trigger,
            prompt,
            model: model.clone(),
            effort: effort.clone(),
            timeout: Duration::from_secs(config.review.timeout_s),
            codex: reviewer::codex_bin(&config.review.codex_bin),
            extra_args: config.review.extra_args.clone(),
            thread: self.summary.thread_id.clone(),
            dir: self.dir(),
            stats: (
                files.len() as u64,
                change.diff.insertions(),
                change.diff.deletions(),
            ),
            trees: (Some(change.base.tree.clone()), Some(change.to.tree.clone())),
        };
        self.log(
            "review_started",
            serde_json::json!({
                "trigger": trigger,
                "model": model,
                "effort": effort,
                "files": files.iter().take(MAX_LOGGED_FILES).map(|f| &f.path).collect::<Vec<_>>(),
                "count": files.len(),
                "insertions": change.diff.insertions(),
                "deletions": change.diff.deletions(),
                "diff_bytes": change.diff.bytes,
                "diff_inline": change.diff.unified.is_some(),
            }),
        )
        .await;
        self.ctx.emit(
            "review_started",
            Some(self.row.root.clone()),
            format!("{} file(s), {model} ({effort})", files.len()),
        );
        self.launch(job, Some(change.to), waiters, format!("{model}, {effort}"));
    }

    /// Run a job in the background (one per workspace; `review.max_concurrent` across all).
    fn launch(
        &mut self,
        job: Job,
        to: Option<Snapshot>,
        waiters: Vec<oneshot::Sender<Response>>,
        with: String,
    ) {
        let cancel = CancellationToken::new();
        let slots = self.ctx.review_slots.clone();
        let store = self.store.clone();
        let activity_tx = self.activity_tx.clone();
        let done_tx = self.done_tx.clone();
        let root = self.row.root.clone();
        let ctx = self.ctx.clone();
        let task_cancel = cancel.clone();
        tokio::spawn(async move {
            let permit = tokio::select! {
                p = slots.acquire_owned() => p.ok(),
                () = task_cancel.cancelled() => None,
            };
            let result = if permit.is_some() || !task_cancel.is_cancelled() {
                let notes_root = root.clone();
                reviewer::run(
                    job,
                    &store,
                    &task_cancel,
                    |a| {
                        let text = match a {
                            Activity::Thinking(t) => t,
                            Activity::Running(c) => format!("running {c}"),
                        };
                        let _ = activity_tx.send(text);
                    },
                    |note| {
                        tracing::warn!(root = %notes_root.display(), "{note}");
                        ctx.emit("thread_replaced", Some(notes_root.clone()), note);
                    },
                )
                .await
            } else {
                Err(JobError::Store(store::StoreError::Closed))
            };
            drop(permit);
            let _ = done_tx.send(result);
        });
        self.running = Some(Running {
            cancel,
            to,
            started: Instant::now(),
            with,
            activity: None,
            waiters,
        });
    }

    async fn on_review_done(&mut self, result: Result<JobResult, JobError>) {
        let Some(running) = self.running.take() else {
            return;
        };
        let outcome = match result {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(root = %self.root().display(), error = %e, "review could not be recorded");
                self.halted = Some((
                    Instant::now(),
                    format!("the review could not be recorded: {e}"),
                ));
                for w in running.waiters {
                    let _ = w.send(Response::Error(ErrorReply {
                        kind: ErrorKind::Internal,
                        message: e.to_string(),
                    }));
                }
                return;
            }
        };
        if let (true, Some(to)) = (outcome.reviewed(), &running.to) {
            self.dirty = false;
            self.baseline = Some(to.clone());
            self.save_baseline(to).await;
        } else if let Some((class, msg)) = &outcome.error
            && *class != crate::review::ErrorClass::Interrupted
        {
            // No automatic retry: `cxd review` or `cxd unpause` starts again.
            let advice = class.advice();
            self.halted = Some((
                Instant::now(),
                format!("{msg} ({}) — {advice}", class.as_str()),
            ));
        }
        self.refresh_summary().await;
        let r = self.summary.last_review.clone();
        self.log(
            "review_finished",
            serde_json::json!({
                "review": outcome.review_id,
                "verdict": outcome.verdict,
                "error_class": outcome.error.as_ref().map(|(c, _)| c.as_str()),
                "exit_code": outcome.exit_code,
                "model": r.as_ref().map(|r| r.model.clone()),
                "effort": r.as_ref().map(|r| r.effort.clone()),
                "duration_ms": running.started.elapsed().as_millis() as u64,
                "tokens": {"input": outcome.tokens.input, "cached_input": outcome.tokens.cached_input, "output": outcome.tokens.output},
                "opened": public_ids(&outcome.opened),
                "resolved": public_ids(&outcome.resolved),
                "thread_id": outcome.thread_id,
            }),
        )
        .await;
        let msg = match &outcome.error {
            Some((class, m)) => format!(
                "review {} failed ({}): {m}",
                outcome.review_id,
                class.as_str()
            ),
            None => format!(
                "review {}: {} — {} new finding(s), {} resolved",
                outcome.review_id,
                outcome.verdict,
                outcome.opened.len(),
                outcome.resolved.len()
            ),
        };
        self.ctx
            .emit("review_finished", Some(self.row.root.clone()), msg);
        for (kind, ids) in [
            ("findings_opened", &outcome.opened),
            ("findings_resolved", &outcome.resolved),
        ] {
            if !ids.is_empty() {
                self.ctx
                    .emit(kind, Some(self.row.root.clone()), public_ids(ids).join(" "));
            }
        }
        if !running.waiters.is_empty() {
            let done = self.review_done(&outcome).await;
            for w in running.waiters {
                let _ = w.send(done.clone());
            }
        }
        self.upkeep().await;
        // A review's diff, prompt and transcript are freed now: hand the memory back.
        crate::memory::trim();
        if let Some((text, waiter)) = self.queued_plan.take() {
            // The plan waited for this review; a follow-up review waits for the plan.
            self.start_plan(text, waiter).await;
            return;
        }
        if std::mem::take(&mut self.follow_up) && self.halted.is_none() && !self.missing {
            // Edits came in during the review: exactly one follow-up, now.
            self.on_settled().await;
        }
    }

    async fn review_done(&self, outcome: &JobResult) -> Response {
        let id = outcome.review_id;
        let ws = self.row.id;
        let opened_ids = outcome.opened.clone();
        let open_filter = store::findings::Filter {
            all: false,
            min: Severity::Info,
        };
        let rows = self
            .store
            .call(move |c| {
                let review = store::reviews::get(c, id)?;
                // The answer carries the first open findings and the count: a list of every
                // open finding could outgrow the frame limit.
                let open = store::findings::list_page(c, ws, open_filter, 0, ANSWER_FINDINGS)?;
                let open_total = store::findings::count(c, ws, open_filter)?;
                let mut opened = Vec::new();
                for i in opened_ids.into_iter().take(ANSWER_FINDINGS) {
                    if let Some(f) = store::findings::get(c, i)? {
                        opened.push(f);
                    }
                }
                Ok((review, open, open_total, opened))
            })
            .await;
        match rows {
            Ok((Some(review), open, open_total, opened)) => {
                let half = cxd_proto::limits::PAGE_BYTES / 2;
                let mut opened: Vec<Finding> = opened.iter().map(finding_wire).collect();
                opened.truncate(cxd_proto::limits::fitting(&opened, half));
                let mut open: Vec<Finding> = open.iter().map(finding_wire).collect();
                open.truncate(cxd_proto::limits::fitting(&open, half));
                Response::ReviewDone(Box::new(ReviewDone {
                    root: self.row.root.clone(),
                    review: review_info(&review),
                    opened,
                    opened_total: outcome.opened.len() as u64,
                    resolved: public_ids(&outcome.resolved),
                    open,
                    open_total,
                }))
            }
            Ok((None, ..)) => Response::Error(ErrorReply {
                kind: ErrorKind::Internal,
                message: format!("review {id} vanished"),
            }),
            Err(e) => Response::Error(ErrorReply {
                kind: ErrorKind::Internal,
                message: e.to_string(),
            }),
        }
    }

    /// Measure the private object store and prune it when it grew enough (see
    /// [`crate::snapshot::upkeep`]): only what the baseline and the last snapshot need stays.
    async fn upkeep(&mut self) {
        if self.running.is_some() {
            return;
        }
        let Some(snap) = self.snapshotter.take() else {
            return;
        };
        let keep: Vec<Snapshot> = self.baseline.iter().cloned().collect();
        let upkeep = self.upkeep;
        let result = tokio::task::spawn_blocking(move || {
            let outcome = (|| {
                let bytes = snap.store_bytes()?;
                if !upkeep::prune_due(bytes, upkeep.after_prune, upkeep.pruned_at.elapsed()) {
                    return Ok((bytes, None));
                }
                let removed = snap.prune(&keep.iter().collect::<Vec<_>>())?;
                Ok::<_, crate::snapshot::SnapshotError>((
                    bytes,
                    Some((removed, snap.store_bytes()?)),
                ))
            })();
            (snap, outcome)
        })
        .await;
        match result {
            Ok((snap, outcome)) => {
                self.snapshotter = Some(snap);
                match outcome {
                    Ok((bytes, None)) => self.upkeep.bytes = bytes,
                    Ok((before, Some((removed, after)))) => {
                        tracing::info!(root = %self.root().display(), before, after, removed, "pruned the private object store");
                        self.upkeep = Upkeep {
                            bytes: after,
                            after_prune: after,
                            pruned_at: Instant::now(),
                        };
                    }
                    Err(e) => {
                        tracing::warn!(root = %self.root().display(), error = %e, "cannot prune the private object store");
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "the prune task failed"),
        }
    }

    async fn refresh_summary(&mut self) {
        let ws = self.row.id;
        let root = self.row.root.clone();
        let got = self
            .store
            .call(move |c| {
                let row = store::workspaces::get(c, &root)?;
                let last = store::reviews::last(c, ws)?;
                let (reviews, tokens) = store::reviews::totals(c, ws)?;
                let open = store::findings::list(c, ws, false)?;
                let approval = store::approvals::last(c, ws)?;
                Ok((
                    row.and_then(|r| r.thread_id),
                    last,
                    reviews,
                    tokens,
                    open,
                    approval,
                ))
            })
            .await;
        match got {
            Ok((thread_id, last, reviews, tokens, open, approval)) => {
                self.summary = Summary {
                    reviews,
                    thread_id,
                    last_review: last.as_ref().map(review_info),
                    open,
                    tokens_total: Tokens {
                        input: tokens.0,
                        cached_input: tokens.1,
                        output: tokens.2,
                    },
                    approval,
                };
            }
            Err(e) => tracing::error!(error = %e, "cannot read the workspace's reviews"),
        }
    }

    async fn save_baseline(&self, base: &Snapshot) {
        let (id, tree, head) = (self.row.id, base.tree.clone(), base.head.clone());
        if let Err(e) = self
            .store
            .call(move |c| store::workspaces::set_baseline(c, id, &tree, head.as_deref()))
            .await
        {
            tracing::error!(error = %e, "cannot store the baseline");
        }
    }

    async fn log(&self, kind: &str, data: serde_json::Value) {
        let ev = NewEvent {
            at: crate::clock::now_rfc3339(),
            workspace: Some(self.row.root.clone()),
            kind: kind.to_owned(),
            data,
        };
        if let Err(e) = self
            .store
            .call(move |c| store::events::append(c, &ev))
            .await
        {
            tracing::error!(error = %e, "cannot append to the audit trail");
        }
    }

    fn warn(&mut self, message: String) {
        tracing::warn!(root = %self.root().display(), "{message}");
        self.add_warning(message);
    }

    fn add_warning(&mut self, message: String) {
        if !self.warnings.contains(&message) {
            self.warnings.push(message);
        }
    }

    fn os_watches(&self) -> u64 {
        self.watcher.as_ref().map_or(0, |w| w.os_watches() as u64)
    }

    /// No change the daemon knows of is waiting for a review.
    fn up_to_date(&self) -> bool {
        !self.missing
            && !self.dirty
            && self.running.is_none()
            && self.pending.is_empty()
            && !self.settle.is_pending()
    }

    fn publish(&self) {
        let (state, since) = if self.missing {
            (WorkspaceState::Missing, None)
        } else if self.paused {
            (WorkspaceState::Paused, None)
        } else if let Some(r) = &self.running {
            (WorkspaceState::Reviewing, Some(r.started))
        } else if let Some((at, _)) = &self.halted {
            (WorkspaceState::Halted, Some(*at))
        } else if self.settle.is_pending() {
            (WorkspaceState::Settling, None)
        } else {
            (WorkspaceState::Idle, None)
        };
        let mut warnings = self.warnings.clone();
        warnings.extend(self.config_warnings.iter().cloned());
        if let Some(w) = &self.watcher {
            for warning in w.warnings() {
                if !warnings.contains(&warning) {
                    warnings.push(warning);
                }
            }
        }
        let mut open_findings = SeverityCounts::default();
        for f in &self.summary.open {
            open_findings.add(f.finding.severity);
        }
        let status = WorkspaceStatus {
            root: self.row.root.clone(),
            state,
            pending_files: self.pending.len() as u64,
            settle_in_ms: None,
            os_watches: self.os_watches(),
            warnings,
            reviews: self.summary.reviews,
            thread_id: self.summary.thread_id.clone(),
            last_review: self.summary.last_review.clone(),
            open_findings,
            approval: self.summary.approval.as_ref().map(|a| Approval {
                at: a.at.clone(),
                current: Some(&a.tree) == self.last_tree.as_ref()
                    && self.pending.is_empty()
                    && !self.settle.is_pending(),
            }),
            tokens_total: self.summary.tokens_total,
            activity: self.running.as_ref().and_then(|r| r.activity.clone()),
            state_for_s: None,
            error: self.halted.as_ref().map(|(_, m)| m.clone()),
            reviewing_with: self.running.as_ref().map(|r| r.with.clone()),
            up_to_date: self.up_to_date(),
            snapshot_bytes: self.upkeep.bytes,
        };
        let deadline = if state == WorkspaceState::Settling {
            self.settle.deadline()
        } else {
            None
        };
        self.view_tx.send_replace(View {
            status,
            deadline,
            since,
        });
    }
}

/// At most this many findings of each list in one answer (a byte budget cuts them further).
pub const ANSWER_FINDINGS: usize = 200;

/// cxd's private directory for the workspace with this store id: its snapshot index and
/// objects, the codex pid file and answers. Removed when the workspace is unwatched.
pub fn private_dir(state_dir: &Path, id: i64) -> PathBuf {
    state_dir.join("workspaces").join(id.to_string())
}

/// `F1`, `F2`, ... for row ids.
fn public_ids(ids: &[i64]) -> Vec<String> {
    ids.iter().map(|&i| store::findings::public_id(i)).collect()
}

/// `file:line`, `file`, or "".
pub fn location(file: &str, line: i64) -> String {
    match (file.is_empty(), line > 0) {
        (true, _) => String::new(),
        (false, true) => format!("{file}:{line}"),
        (false, false) => file.to_owned(),
    }
}

/// A stored review as the wire shows it.
pub fn review_info(r: &store::reviews::ReviewRow) -> ReviewInfo {
    ReviewInfo {
        id: r.id,
        verdict: r.verdict,
        error_class: r.error_class,
        trigger: r.trigger,
        model: r.model.clone(),
        effort: r.effort.clone(),
        exit_code: r.exit_code,
        tokens: Tokens {
            input: r.tokens.0,
            cached_input: r.tokens.1,
            output: r.tokens.2,
        },
        summary: r.summary.clone(),
        error: r.error_message.clone(),
        raw_answer: r.raw_answer.clone(),
        finished_at: r.finished_at.clone(),
        duration_ms: r.duration_ms,
    }
}

/// A stored finding as the wire shows it. Sizes are capped again here, for rows stored before
/// answers were capped on the way in: one finding must never outgrow an answer.
pub fn finding_wire(f: &FindingRow) -> Finding {
    use cxd_proto::limits::{self, truncate};
    Finding {
        id: f.public_id(),
        severity: f.finding.severity,
        category: f.finding.category.clone(),
        file: if f.finding.file.len() > limits::MAX_FILE {
            String::new()
        } else {
            f.finding.file.clone()
        },
        line_start: f.finding.line_start,
        line_end: f.finding.line_end,
        title: truncate(&f.finding.title, limits::MAX_TITLE).into_owned(),
        body: truncate(&f.finding.body, limits::MAX_BODY).into_owned(),
        recommendation: truncate(&f.finding.recommendation, limits::MAX_RECOMMENDATION)
            .into_owned(),
        confidence: f.finding.confidence,
        status: f.status,
        first_review: f.first_review,
        last_review: f.last_review,
    }
}
