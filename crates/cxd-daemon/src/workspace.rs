//! One workspace's life: watch events in, settle, snapshot, and a review request out when a
//! settled burst changed something. Publishes its status for `cxd status`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cxd_proto::status::WorkspaceStatus;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::context::Context;
use crate::settle::{self, Settle};
use crate::snapshot::{Diff, Snapshot, Snapshotter};
use crate::store::{self, NewEvent, Store, WorkspaceRow};
use crate::watch::{WatchConfig, WatchEvent, Watcher};

/// At most this many file names go into one `edit` log entry (the count is always exact).
const MAX_LOGGED_FILES: usize = 200;

/// The registry's handle on a running workspace actor.
#[derive(Debug)]
pub struct WorkspaceHandle {
    /// Work-tree root.
    pub root: PathBuf,
    view: watch::Receiver<View>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// What the actor publishes.
#[derive(Debug, Clone)]
struct View {
    status: WorkspaceStatus,
    deadline: Option<Instant>,
}

impl WorkspaceHandle {
    /// The workspace's status now.
    pub fn view(&self) -> WorkspaceStatus {
        let v = self.view.borrow();
        let mut s = v.status.clone();
        s.settle_in_ms = v
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()).as_millis() as u64);
        s
    }

    /// Stop the actor and wait for it (its watches are released when it ends).
    pub async fn stop(self) {
        self.stop.cancel();
        if let Err(e) = self.task.await {
            tracing::warn!(root = %self.root.display(), error = %e, "workspace task ended abnormally");
        }
    }
}

/// Start a workspace actor: snapshot the baseline (if none is stored), watch, and run.
pub async fn spawn(
    ctx: Arc<Context>,
    store: Store,
    row: WorkspaceRow,
    stop: CancellationToken,
) -> WorkspaceHandle {
    let root = row.root.clone();
    let status = WorkspaceStatus {
        root: root.clone(),
        state: "idle".into(),
        pending_files: 0,
        settle_in_ms: None,
        os_watches: 0,
        warnings: Vec::new(),
    };
    let (view_tx, view) = watch::channel(View {
        status,
        deadline: None,
    });
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let mut actor = Actor {
        ctx: ctx.clone(),
        store,
        row,
        view_tx,
        settle: {
            let c = &ctx.config.borrow().config.settle;
            Settle::new(
                Duration::from_millis(c.quiet_ms),
                Duration::from_millis(c.max_wait_ms),
            )
        },
        watcher: None,
        snapshotter: None,
        baseline: None,
        pending: BTreeSet::new(),
        full_rescan: false,
        state: State::Idle,
        warnings: Vec::new(),
    };
    actor.start(events_tx).await;
    let task = tokio::spawn(actor.run(events_rx, stop.clone()));
    WorkspaceHandle {
        root,
        view,
        stop,
        task,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Missing,
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
    state: State,
    warnings: Vec<String>,
}

impl Actor {
    fn root(&self) -> &std::path::Path {
        &self.row.root
    }

    /// Open the snapshotter, establish the baseline, start watching.
    async fn start(&mut self, events_tx: mpsc::UnboundedSender<WatchEvent>) {
        if !self.root().is_dir() {
            self.go_missing();
            return;
        }
        let dir = self
            .ctx
            .state_dir
            .join("workspaces")
            .join(self.row.id.to_string());
        let root = self.row.root.clone();
        let stored = match (&self.row.baseline_tree, &self.row.baseline_head) {
            (Some(tree), head) => Some(Snapshot {
                tree: tree.clone(),
                head: head.clone(),
            }),
            _ => None,
        };
        let opened = tokio::task::spawn_blocking(
            move || -> Result<(Snapshotter, Snapshot, bool), String> {
                let mut snap = Snapshotter::open(&root, &dir).map_err(|e| e.to_string())?;
                match stored {
                    Some(base) => Ok((snap, base, false)),
                    None => {
                        let base = snap.snapshot(None).map_err(|e| e.to_string())?;
                        Ok((snap, base, true))
                    }
                }
            },
        )
        .await;
        match opened {
            Ok(Ok((snap, base, fresh))) => {
                if fresh {
                    self.save_baseline(&base).await;
                } else {
                    // Edits made while the daemon was down are reviewed at the next settle.
                    self.full_rescan = true;
                    self.settle.change(Instant::now());
                }
                self.snapshotter = Some(snap);
                self.baseline = Some(base);
            }
            Ok(Err(e)) => self.warn(format!("cannot snapshot the work tree: {e}")),
            Err(e) => self.warn(format!("snapshot task failed: {e}")),
        }
        let mut exclude = vec![self.ctx.state_dir.clone()];
        if let Some(dir) = self.ctx.socket.parent() {
            exclude.push(dir.to_path_buf());
        }
        let config = WatchConfig {
            root: self.row.root.clone(),
            extra_ignore: self.ctx.config.borrow().config.watch.ignore.clone(),
            exclude,
        };
        match Watcher::start(config, events_tx) {
            Ok(w) => self.watcher = Some(w),
            Err(e) => self.warn(format!("cannot watch: {e}")),
        }
        self.publish();
        tracing::info!(root = %self.root().display(), watches = self.os_watches(), "watching workspace");
    }

    async fn run(
        mut self,
        mut events: mpsc::UnboundedReceiver<WatchEvent>,
        stop: CancellationToken,
    ) {
        let mut config = self.ctx.config.clone();
        let mut watching = true;
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                ev = events.recv(), if watching => match ev {
                    Some(ev) => self.on_watch_event(ev),
                    // The watcher is gone (never started, or the root vanished).
                    None => watching = false,
                },
                () = settle::until(self.settle.deadline()) => {
                    if self.settle.poll(Instant::now()) {
                        self.on_settled().await;
                    }
                }
                changed = config.changed() => {
                    if changed.is_err() { break; }
                    let c = config.borrow_and_update().config.settle.clone();
                    self.settle.set_timing(Duration::from_millis(c.quiet_ms), Duration::from_millis(c.max_wait_ms));
                }
            }
            self.publish();
        }
        drop(self.watcher.take());
        tracing::info!(root = %self.root().display(), "stopped watching workspace");
    }

    fn on_watch_event(&mut self, ev: WatchEvent) {
        let now = Instant::now();
        match ev {
            WatchEvent::Changed(paths) => {
                if self.state == State::Missing {
                    return;
                }
                self.pending.extend(paths);
                self.settle.change(now);
            }
            WatchEvent::Git {
                head_moved,
                index_locked,
            } => {
                self.settle.set_git_busy(index_locked);
                if head_moved {
                    // The settle snapshots, sees HEAD moved and moves the baseline with it.
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
        self.state = State::Missing;
        self.settle.clear();
        self.pending.clear();
        self.watcher = None;
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

    /// A burst settled: snapshot, move the baseline over HEAD moves, and request a review of
    /// what is left.
    async fn on_settled(&mut self) {
        let (Some(mut snap), Some(base)) = (self.snapshotter.take(), self.baseline.clone()) else {
            return;
        };
        let paths: Vec<PathBuf> = std::mem::take(&mut self.pending).into_iter().collect();
        let full = std::mem::take(&mut self.full_rescan);
        let max_bytes = self.ctx.config.borrow().config.review.max_diff_bytes as usize;
        let changed = paths.clone();
        let result = tokio::task::spawn_blocking(move || {
            let outcome = settle_snapshot(
                &mut snap,
                &base,
                if full { None } else { Some(&changed) },
                max_bytes,
            );
            (snap, outcome)
        })
        .await;
        let (snap, outcome) = match result {
            Ok(r) => r,
            Err(e) => {
                self.warn(format!("snapshot task failed: {e}"));
                return;
            }
        };
        self.snapshotter = Some(snap);
        match outcome {
            Err(e) => self.warn(format!("cannot snapshot the work tree: {e}")),
            Ok(settled) => self.after_settle(paths, settled).await,
        }
    }

    /// Record what the burst was, move the baseline over a HEAD move, and request a review of
    /// what is left.
    async fn after_settle(&mut self, watched: Vec<PathBuf>, Settled { base, to, diff }: Settled) {
        let previous_head = self.baseline.as_ref().and_then(|b| b.head.clone());
        let head_moved = base.head != previous_head;
        let names = |paths: &mut dyn Iterator<Item = String>| {
            paths.take(MAX_LOGGED_FILES).collect::<Vec<_>>()
        };
        let diff_files: Vec<String> = diff
            .files
            .iter()
            .map(|f| f.path.to_string_lossy().into_owned())
            .collect();
        if head_moved {
            tracing::info!(root = %self.root().display(), from = ?previous_head, to = ?to.head, "HEAD moved; the baseline follows it");
            self.log(
                "head_moved",
                serde_json::json!({
                    "from": previous_head,
                    "to": to.head,
                    "count": watched.len(),
                }),
            )
            .await;
            if !diff.is_empty() {
                self.log(
                    "edit",
                    serde_json::json!({
                        "files": names(&mut diff_files.iter().cloned()),
                        "count": diff_files.len(),
                        "by": "human",
                        "net_change": true,
                    }),
                )
                .await;
            }
        } else if !watched.is_empty() {
            self.log(
                "edit",
                serde_json::json!({
                    "files": names(&mut watched.iter().map(|p| p.to_string_lossy().into_owned())),
                    "count": watched.len(),
                    "by": "human",
                    "net_change": !diff.is_empty(),
                }),
            )
            .await;
        }
        if diff.is_empty() {
            if Some(&base) != self.baseline.as_ref() {
                self.baseline = Some(base.clone());
                self.save_baseline(&base).await;
            }
            return;
        }
        self.request_review(diff_files, to, diff).await;
    }

    /// Hand a review request on. Until reviews run, the request is recorded in the audit
    /// trail and counts as reviewed (the baseline moves to it).
    async fn request_review(&mut self, files: Vec<String>, to: Snapshot, diff: Diff) {
        self.log(
            "review_requested",
            serde_json::json!({
                "trigger": "edit",
                "files": files.iter().take(MAX_LOGGED_FILES).collect::<Vec<_>>(),
                "count": files.len(),
                "insertions": diff.insertions(),
                "deletions": diff.deletions(),
                "diff_bytes": diff.bytes,
                "diff_inline": diff.unified.is_some(),
                "tree": to.tree,
            }),
        )
        .await;
        tracing::info!(root = %self.root().display(), files = files.len(), bytes = diff.bytes, "review requested");
        self.ctx.emit(
            "review_requested",
            Some(self.row.root.clone()),
            format!("{} file(s) changed", files.len()),
        );
        self.baseline = Some(to.clone());
        self.save_baseline(&to).await;
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

    fn publish(&self) {
        let state = match self.state {
            State::Missing => "missing",
            State::Idle if self.settle.is_pending() => "settling",
            State::Idle => "idle",
        };
        let mut warnings = self.warnings.clone();
        if let Some(w) = &self.watcher {
            for warning in w.warnings() {
                if !warnings.contains(&warning) {
                    warnings.push(warning);
                }
            }
        }
        let status = WorkspaceStatus {
            root: self.row.root.clone(),
            state: state.into(),
            pending_files: self.pending.len() as u64,
            settle_in_ms: None,
            os_watches: self.os_watches(),
            warnings,
        };
        self.view_tx.send_replace(View {
            status,
            deadline: self.settle.deadline(),
        });
    }
}

/// The outcome of a settle: the (possibly HEAD-rebased) base, the new snapshot, their diff.
struct Settled {
    base: Snapshot,
    to: Snapshot,
    diff: Diff,
}

fn settle_snapshot(
    snap: &mut Snapshotter,
    base: &Snapshot,
    changed: Option<&[PathBuf]>,
    max_bytes: usize,
) -> Result<Settled, crate::snapshot::SnapshotError> {
    let to = snap.snapshot(changed)?;
    let base = if to.head != base.head {
        snap.rebase_onto_head(base, &to)?
    } else {
        base.clone()
    };
    let diff = snap.diff(&base, &to, max_bytes)?;
    Ok(Settled { base, to, diff })
}
