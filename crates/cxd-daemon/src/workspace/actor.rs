//! The workspace actor: one task that owns the workspace's I/O (watcher, snapshotter, codex
//! runs, store, status) and its inbox. What happens goes to the [`Machine`]; what the machine
//! says is carried out here, one effect at a time.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cxd_proto::domain::Trigger;
use cxd_proto::{ErrorKind, ErrorReply, Response};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::history::RevReview;
use super::machine::{Effect, Ending, Input, Machine, Refusal};
use super::opening::{self, Opened, Opening};
use super::runs::{self, Recorded, Running};
use super::tree::Change;
use super::view::Summary;
use super::{Command, Started, View};
use crate::codex::job::{JobError, JobResult};
use crate::context::Context;
use crate::settle;
use crate::snapshot::{Snapshot, Snapshotter};
use crate::store::{Store, WorkspaceRow};
use crate::watch::{WatchEvent, Watcher};

/// How long `cxd watch` waits for the first baseline once the tree is watched, counted from
/// the start: on most trees it is in by then, and an edit right after `cxd watch` is reviewed
/// exactly as made; on a big tree the answer comes first and an edit made before the baseline
/// is in is reviewed against HEAD (see `opening`).
const BASELINE_WAIT: Duration = Duration::from_millis(250);

/// Everything that reaches the actor.
pub(super) struct Inbox {
    commands: mpsc::Receiver<Command>,
    activity: mpsc::UnboundedReceiver<String>,
    done: mpsc::UnboundedReceiver<Result<JobResult, JobError>>,
}

/// The request being answered while the machine handles it.
pub(super) enum Asker {
    /// `cxd review`, the gate, the stop hook.
    Review {
        /// Answered when the review starts, or why not.
        started: Started,
        /// manual | agent | stop
        trigger: Trigger,
        /// Model for this review only (None: the config's `review.model`).
        model: Option<String>,
        /// Reasoning effort for this review only (None: the config's `review.effort`).
        effort: Option<String>,
        /// `cxd review`: the user chose to spend, so the budget does not hold it back.
        spend: bool,
    },
    /// `cxd plan` or a review of committed history: a run beside the edit cycle, queued
    /// behind a running review.
    Side {
        /// What to run.
        side: Side,
        /// Answered when the run starts (or is queued), or why not.
        started: Started,
    },
    /// Is the newest review up to date with the tree?
    Check(oneshot::Sender<Result<bool, Response>>),
}

/// A codex run beside the edit cycle: it neither covers the working tree nor moves the
/// baseline.
pub(super) enum Side {
    /// Validate a plan (its text as the agent wrote it).
    Plan(String),
    /// Review committed history (`cxd review --commit/--range/--base`, the pre-push hook).
    Revisions(Box<RevReview>),
}

/// The private object store's size as last measured, and its size right after the last prune.
#[derive(Debug, Clone, Copy)]
pub(super) struct Upkeep {
    pub(super) bytes: u64,
    pub(super) after_prune: u64,
    pub(super) pruned_at: Instant,
}

impl Upkeep {
    /// The store measured at `bytes`, as if just pruned.
    pub(super) fn new(bytes: u64) -> Self {
        Self {
            bytes,
            after_prune: bytes,
            pruned_at: Instant::now(),
        }
    }
}

/// One workspace's task; see the module doc.
pub(super) struct Actor {
    pub(super) ctx: Arc<Context>,
    pub(super) store: Store,
    pub(super) row: WorkspaceRow,
    pub(super) view_tx: watch::Sender<View>,
    /// The pure state machine that decides when reviews run; the actor carries out its effects.
    pub(super) machine: Machine,
    pub(super) watcher: Option<Watcher>,
    pub(super) snapshotter: Option<Snapshotter>,
    /// The last reviewed tree (or the tree when watching began).
    pub(super) baseline: Option<Snapshot>,
    /// Paths the watcher reported since the last look at the tree.
    pub(super) pending: BTreeSet<PathBuf>,
    /// Paths edited (not written by git's own checkout, merge or reset) that no review has
    /// covered yet, each with the sequence number of its newest edit: a HEAD move (a commit of
    /// them) never carries the baseline past these.
    pub(super) edited: BTreeMap<PathBuf, u64>,
    /// The sequence number of the newest edit.
    pub(super) edit_seq: u64,
    /// Paths written while git held its index lock since the last look at the tree: git's own
    /// writes, unless HEAD moved only by commits meanwhile (then a hook wrote them: edits).
    pub(super) git_wrote: BTreeSet<PathBuf>,
    pub(super) warnings: Vec<String>,
    /// The codex run under way (its I/O side; the machine knows its phase).
    pub(super) running: Option<Running>,
    pub(super) activity_tx: mpsc::UnboundedSender<String>,
    pub(super) done_tx: mpsc::UnboundedSender<Result<JobResult, JobError>>,
    pub(super) summary: Summary,
    /// The tree of the newest snapshot.
    pub(super) last_tree: Option<String>,
    /// Files the agent reported editing since the last settle.
    pub(super) agent_files: HashSet<PathBuf>,
    /// The agent session that reported them.
    pub(super) agent_session: Option<String>,
    /// A HEAD move onto a tree no review covered, not reviewed yet.
    pub(super) uncovered: super::uncovered::Uncovered,
    /// Every file that session reported editing: a change to one of them (seen again after a
    /// failed review, say) is never taken for a person's answer to an escalation.
    pub(super) session_files: HashSet<PathBuf>,
    /// The newest dispute a prompt has carried (a dispute id; 0: none since the start).
    pub(super) disputes_shown: i64,
    /// A plan or a review of commits waiting for the running review to end.
    pub(super) queued_plan: Option<(Side, oneshot::Sender<Response>)>,
    /// What of the repository's `.cxd.toml` is broken or not applied, as last read.
    pub(super) config_warnings: Vec<String>,
    /// The private object store's size, and when it was last pruned.
    pub(super) upkeep: Upkeep,
    /// The baseline came from the store (a restart, or the root came back) and no diff
    /// against it has worked yet: if the repository was recreated, its objects may be gone.
    pub(super) baseline_unverified: bool,
    /// The change the last look at the tree found, for the review the machine may start.
    pub(super) change: Option<Change>,
    /// The request waiting on the machine's decision, answered when it starts or refuses a run.
    pub(super) asker: Option<Asker>,
    /// What the watcher reports (replaced when the root comes back).
    pub(super) events: mpsc::UnboundedReceiver<WatchEvent>,
    /// The root came back: `events` is a new watcher's channel, to be read again.
    pub(super) rewatched: bool,
    /// Halted by a spent usage limit that resets at a known time.
    pub(super) quota: Option<super::quota::QuotaPause>,
    /// Machine inputs from watch events taken in while looking at the tree, for `drive`.
    pub(super) deferred: VecDeque<Input>,
    /// HEAD as of the last look at the tree (or the start): a HEAD on disk that differs while
    /// the watcher has not reported a move means its report is still on the way.
    pub(super) known_head: Option<String>,
    /// The watcher reported a HEAD move since the last look at the tree.
    pub(super) head_reported: bool,
    /// A `.cxd.toml` edit was seen: take the timings again.
    pub(super) retime_due: bool,
    /// A person's edit asked the store to answer the open escalation; awaited once the
    /// burst's review is under way (the status then re-reads what it says).
    pub(super) answering: Option<crate::store::Pending<Option<i64>>>,
    /// Whether a review covered HEAD's tree, as last looked up (None: no HEAD, unknown, or
    /// HEAD is still the commit found at the first look and no review covered it).
    pub(super) head_reviewed: Option<bool>,
    /// HEAD at the first look (Some(None): unborn): a commit made before cxd watched is not
    /// reported as unreviewed.
    pub(super) first_head: Option<Option<String>>,
    /// The baseline task while the first baseline is being made: until it ends, the actor
    /// takes in no watch event and no request.
    pub(super) opening: Option<Opening>,
    /// Codex's isolation overrides, read beside the look at the tree for the review that may
    /// follow it (off the path from the settle to codex's start).
    pub(super) isolation_ahead: Option<
        tokio::task::JoinHandle<Result<Vec<String>, crate::codex::isolation::IsolationError>>,
    >,
    /// Models the repository's `.cxd.toml` named that the provider refused: reviews use the
    /// user's own model instead (a repository must not make every review fail).
    pub(super) refused_models: std::collections::BTreeSet<String>,
}

impl Actor {
    /// An actor for `row` with its inbox; nothing runs until [`Actor::begin`].
    pub(super) fn new(
        ctx: Arc<Context>,
        store: Store,
        row: WorkspaceRow,
        view_tx: watch::Sender<View>,
        commands: mpsc::Receiver<Command>,
    ) -> (Self, Inbox) {
        let (activity_tx, activity) = mpsc::unbounded_channel();
        let (done_tx, done) = mpsc::unbounded_channel();
        let (_, events) = mpsc::unbounded_channel();
        let machine = {
            let c = &ctx.config.borrow().config.settle;
            Machine::new(
                row.paused,
                Duration::from_millis(c.quiet_ms),
                Duration::from_millis(c.max_wait_ms),
            )
        };
        let actor = Self {
            ctx,
            store,
            row,
            view_tx,
            machine,
            watcher: None,
            snapshotter: None,
            baseline: None,
            pending: BTreeSet::new(),
            edited: BTreeMap::new(),
            edit_seq: 0,
            git_wrote: BTreeSet::new(),
            warnings: Vec::new(),
            running: None,
            activity_tx,
            done_tx,
            summary: Summary::default(),
            last_tree: None,
            agent_files: HashSet::new(),
            agent_session: None,
            uncovered: Default::default(),
            session_files: HashSet::new(),
            disputes_shown: 0,
            queued_plan: None,
            config_warnings: Vec::new(),
            refused_models: std::collections::BTreeSet::new(),
            upkeep: Upkeep {
                bytes: 0,
                after_prune: 0,
                pruned_at: Instant::now(),
            },
            baseline_unverified: false,
            change: None,
            asker: None,
            events,
            rewatched: false,
            quota: None,
            deferred: VecDeque::new(),
            known_head: None,
            head_reported: false,
            retime_due: false,
            answering: None,
            head_reviewed: None,
            first_head: None,
            opening: None,
            isolation_ahead: None,
        };
        let inbox = Inbox {
            commands,
            activity,
            done,
        };
        (actor, inbox)
    }

    pub(super) fn root(&self) -> &Path {
        &self.row.root
    }

    /// Watches, the baseline if it comes within [`BASELINE_WAIT`] of the start, first status.
    /// A baseline that takes longer is left under way (`run` takes it in).
    pub(super) async fn begin(&mut self) {
        let deadline = Instant::now() + BASELINE_WAIT;
        self.refresh_summary().await;
        self.retime().await;
        let (events_tx, events) = mpsc::unbounded_channel();
        self.events = events;
        match self.start_opening(events_tx).await {
            None => self.drive(Input::RootGone).await,
            Some(mut opening) => match tokio::time::timeout_at(deadline, &mut opening).await {
                Ok(opened) => self.opened(opened).await,
                Err(_) => self.opening = Some(opening),
            },
        }
        self.publish();
    }

    /// The baseline is in: the machine hears that watching began, then what came meanwhile.
    async fn opened(&mut self, opened: Result<Opened, tokio::task::JoinError>) {
        let input = self.finish_opening(opened).await;
        self.refresh_head_reviewed().await;
        self.drive(input).await;
        crate::memory::trim();
    }

    pub(super) async fn run(mut self, mut inbox: Inbox, stop: CancellationToken) {
        let mut config = self.ctx.config.clone();
        let mut watching = true;
        loop {
            let quota_deadline = self.quota_deadline();
            // Until the baseline is in, nothing else is taken in (edits wait in the channel,
            // requests in the inbox).
            let open = self.opening.is_none();
            tokio::select! {
                () = stop.cancelled() => break,
                opened = opening::opened(&mut self.opening), if !open => {
                    self.opening = None;
                    self.opened(opened).await;
                }
                ev = self.events.recv(), if watching && open => match ev {
                    Some(ev) => self.on_watch_event(ev).await,
                    // The watcher is gone (never started, or the root vanished).
                    None => watching = false,
                },
                Some(cmd) = inbox.commands.recv(), if open => self.on_command(cmd).await,
                Some(a) = inbox.activity.recv() => {
                    if let Some(r) = self.running.as_mut() {
                        r.activity = Some(a.clone());
                    }
                    self.ctx.emit("review_activity", Some(self.row.root.clone()), a);
                }
                Some(result) = inbox.done.recv() => {
                    let Recorded { ending, answers } = self.record_run(result).await;
                    self.drive(Input::Ended(ending)).await;
                    self.publish();
                    runs::answer(answers);
                }
                () = settle::until_exactly(self.machine.deadline()) => {
                    // The kernel may never report the root's own deletion while codex has it
                    // as its working directory: a settle that comes due looks for itself.
                    let input = if self.machine.takes_edits() && !self.row.root.is_dir() {
                        Input::RootGone
                    } else {
                        Input::Tick
                    };
                    self.drive(input).await;
                }
                () = settle::until(quota_deadline) => self.quota_poll().await,
                changed = config.changed() => {
                    if changed.is_err() { break; }
                    config.borrow_and_update();
                    self.retime().await;
                }
            }
            if std::mem::take(&mut self.rewatched) {
                watching = true;
            }
            if std::mem::take(&mut self.retime_due) {
                self.retime().await;
            }
            self.answered().await;
            self.publish();
        }
        // Shutdown before the first baseline was in: finish and store it, so that what is
        // edited while the daemon is down is reviewed after a restart.
        if let Some(opening) = self.opening.take() {
            let opened = opening.await;
            self.finish_opening(opened).await;
        }
        // Shutdown: a running review is cut short and recorded as interrupted; its changes
        // stay unreviewed (the baseline does not move) and are reviewed after a restart.
        if let Some(running) = self.running.as_ref() {
            running.cancel.cancel();
            if let Some(result) = inbox.done.recv().await {
                runs::answer(self.record_run(result).await.answers);
            }
        }
        drop(self.watcher.take());
        tracing::info!(root = %self.root().display(), "stopped watching workspace");
    }

    /// Tell the machine what happened and carry out what it says, including what follows
    /// from that (a look at the tree reports what it found, and so on).
    pub(super) async fn drive(&mut self, input: impl Into<Option<Input>>) {
        let mut queue: VecDeque<Input> = input.into().into_iter().collect();
        while let Some(input) = queue.pop_front().or_else(|| self.deferred.pop_front()) {
            for effect in self.machine.step(input, Instant::now()) {
                if let Some(next) = self.perform(effect).await {
                    queue.push_back(next);
                }
            }
        }
    }

    async fn perform(&mut self, effect: Effect) -> Option<Input> {
        match effect {
            Effect::Inspect { why, full } => return Some(self.inspect(why, full).await),
            Effect::StartReview { asked } => return self.start_asked_review(asked).await,
            Effect::StartPlan => match self.asker.take() {
                Some(Asker::Side { side, started }) => {
                    let (tx, rx) = oneshot::channel();
                    self.start_side(side, tx).await;
                    let _ = started.send(Ok(Some(rx)));
                }
                other => {
                    self.asker = other;
                    if let Some((side, waiter)) = self.queued_plan.take() {
                        self.start_side(side, waiter).await;
                    }
                }
            },
            Effect::JoinRunning => {
                if let (Some(Asker::Review { started, .. }), Some(running)) =
                    (self.asker.take(), self.running.as_mut())
                {
                    let (tx, rx) = oneshot::channel();
                    running.waiters.push(tx);
                    let _ = started.send(Ok(Some(rx)));
                }
            }
            Effect::QueuePlan => {
                if let Some(Asker::Side { side, started }) = self.asker.take() {
                    let (tx, rx) = oneshot::channel();
                    self.queued_plan = Some((side, tx));
                    let _ = started.send(Ok(Some(rx)));
                }
            }
            Effect::Refuse(why) => {
                let reply = self.refusal(why);
                self.answer_no(reply);
            }
            Effect::RefuseQueuedPlan(why) => {
                if let Some((_, waiter)) = self.queued_plan.take() {
                    let _ = waiter.send(self.refusal(why));
                }
            }
            Effect::NoReview => {
                if let Some(Asker::Review { started, .. }) = self.asker.take() {
                    let _ = started.send(Ok(None));
                }
            }
            Effect::UpToDate(up_to_date) => {
                if let Some(Asker::Check(tx)) = self.asker.take() {
                    let _ = tx.send(Ok(up_to_date));
                }
            }
            Effect::Fail(message) => self.answer_no(Response::Error(ErrorReply {
                kind: ErrorKind::Internal,
                message,
            })),
            Effect::Warn(e) => self.warn(format!("cannot snapshot the work tree: {e}")),
            Effect::Cancel => {
                if let Some(r) = &self.running {
                    r.cancel.cancel();
                }
            }
            Effect::Unwatch => self.unwatch(),
            Effect::LookForRoot => {
                return Some(if self.root_is_back() {
                    Input::RootBack
                } else {
                    Input::RootStillGone
                });
            }
            Effect::Rewatch => return self.come_back().await,
        }
        None
    }

    /// Start a run beside the edit cycle: a plan validation or a review of commits.
    async fn start_side(&mut self, side: Side, waiter: oneshot::Sender<Response>) {
        match side {
            Side::Plan(text) => self.start_plan(text, waiter).await,
            Side::Revisions(review) => self.start_revisions(*review, waiter).await,
        }
    }

    /// Start the review the machine decided on, for the asker or for an edit burst.
    async fn start_asked_review(&mut self, asked: bool) -> Option<Input> {
        let Some(change) = self.change.take() else {
            tracing::error!(root = %self.root().display(), "a review was due with no change to review");
            return None;
        };
        let (trigger, spend) = match (&self.asker, asked) {
            (Some(Asker::Review { trigger, spend, .. }), true) => (*trigger, *spend),
            (_, true) => (Trigger::Manual, false),
            (_, false) => (Trigger::Edit, false),
        };
        if let Some(why) = self.budget_halt(trigger, spend).await {
            // Nothing starts; the change stays pending for the review after the halt.
            if let (true, Some(Asker::Review { started, .. })) = (asked, self.asker.take()) {
                let _ = started.send(Ok(None));
            }
            return Some(Input::Ended(Ending::Failed(why)));
        }
        if !asked {
            self.start_review(change, Trigger::Edit, None, None, Vec::new())
                .await;
            return None;
        }
        match self.asker.take() {
            Some(Asker::Review {
                started,
                trigger,
                model,
                effort,
                ..
            }) => {
                let (tx, rx) = oneshot::channel();
                self.start_review(change, trigger, model, effort, vec![tx])
                    .await;
                let _ = started.send(Ok(Some(rx)));
            }
            other => {
                self.asker = other;
                self.start_review(change, Trigger::Manual, None, None, Vec::new())
                    .await;
            }
        }
        None
    }

    /// Tell the asker, whoever it is, no.
    fn answer_no(&mut self, reply: Response) {
        match self.asker.take() {
            Some(Asker::Review { started, .. } | Asker::Side { started, .. }) => {
                let _ = started.send(Err(reply));
            }
            Some(Asker::Check(tx)) => {
                let _ = tx.send(Err(reply));
            }
            None => {}
        }
    }

    fn refusal(&self, why: Refusal) -> Response {
        let root = self.root().display();
        let message = match why {
            Refusal::Missing => format!("{root} is missing: nothing to review"),
            Refusal::Paused => format!("{root} is paused: `cxd unpause` first"),
            Refusal::PlanQueued => {
                "a plan or a review of commits is already waiting for the running review: try again when it is done"
                    .to_owned()
            }
        };
        Response::Error(ErrorReply {
            kind: ErrorKind::Usage,
            message,
        })
    }

    /// Handle a request with the machine, as `asker`.
    pub(super) async fn ask(&mut self, asker: Asker, input: Input) {
        self.asker = Some(asker);
        self.drive(input).await;
        if self.asker.take().is_some() {
            tracing::error!(root = %self.root().display(), "a request went unanswered");
        }
    }

    /// Look at the whole tree now (a write may not have reached the watcher yet) and say
    /// whether the newest review covers it. Unreviewed changes are queued for review.
    pub(super) async fn check(&mut self) -> Result<bool, Response> {
        let (tx, mut rx) = oneshot::channel();
        self.ask(Asker::Check(tx), Input::CheckAsked).await;
        match rx.try_recv() {
            Ok(answer) => answer,
            Err(_) => Err(Response::Error(ErrorReply {
                kind: ErrorKind::Internal,
                message: "the workspace did not answer".into(),
            })),
        }
    }

    async fn on_watch_event(&mut self, ev: WatchEvent) {
        if let Some(input) = self.take_in(ev) {
            self.drive(input).await;
        }
    }

    /// The config in force here: the user's, with what the repository's `.cxd.toml` may decide
    /// over it. A broken file and every key not applied are warnings in status.
    pub(super) fn config(&mut self) -> crate::config::Config {
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
    pub(super) async fn retime(&mut self) {
        let c = self.config().settle;
        let timing = Input::Timing {
            quiet: Duration::from_millis(c.quiet_ms),
            max_wait: Duration::from_millis(c.max_wait_ms),
        };
        self.drive(timing).await;
    }

    pub(super) fn warn(&mut self, message: String) {
        tracing::warn!(root = %self.root().display(), "{message}");
        self.add_warning(message);
    }

    pub(super) fn add_warning(&mut self, message: String) {
        if !self.warnings.contains(&message) {
            self.warnings.push(message);
        }
    }
}
