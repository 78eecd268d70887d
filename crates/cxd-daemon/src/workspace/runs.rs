//! Codex runs of the workspace: starting a review of a change or a plan validation, recording
//! how it ended (baseline, audit trail, events, the answers to whoever waits), and the upkeep
//! of the private object store afterwards.

use std::time::Duration;

use cxd_proto::domain::{Severity, Trigger};
use cxd_proto::message::ReviewDone;
use cxd_proto::status::Finding;
use cxd_proto::{ErrorKind, ErrorReply, Response};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::actor::{Actor, Upkeep};
use super::machine::Ending;
use super::tree::{Change, MAX_LOGGED_FILES};
use super::wire::{ANSWER_FINDINGS, public_ids, review_info};
use crate::codex::job::{self, Job, JobError, JobResult};
use crate::codex::jsonl::Activity;
use crate::codex::prompt::{self, ChangedFile, DisputedFinding, OpenFinding};
use crate::config::models::{ChangeSize, ModelChoice};
use crate::scope::ReviewedChange;
use crate::snapshot::hunks::DiffHunks;
use crate::snapshot::{Snapshot, Snapshotter, upkeep};
use crate::store;

/// A review under way.
pub(super) struct Running {
    pub(super) cancel: CancellationToken,
    /// The tree a code review covers (None for a plan).
    pub(super) to: Option<Snapshot>,
    pub(super) with: String,
    /// The model it runs with, and for what: a model the provider refuses may be replaced.
    pub(super) model: String,
    pub(super) trigger: Trigger,
    pub(super) activity: Option<String>,
    pub(super) waiters: Vec<oneshot::Sender<Response>>,
    /// The edits (by sequence number) the reviewed tree holds: covered once it answers.
    pub(super) edits_seen: u64,
}

/// How a run ended, and the answers owed to whoever waited for it.
pub(super) struct Recorded {
    pub(super) ending: Ending,
    pub(super) answers: Vec<(oneshot::Sender<Response>, Response)>,
}

/// Answer whoever waited for a run.
pub(super) fn answer(answers: Vec<(oneshot::Sender<Response>, Response)>) {
    for (waiter, answer) in answers {
        let _ = waiter.send(answer);
    }
}

impl Actor {
    /// The open findings, as a prompt lists them for Codex to say which are fixed.
    pub(super) fn open_for_prompt(&self) -> Vec<OpenFinding> {
        self.summary.open.iter().map(OpenFinding::from).collect()
    }

    /// The open findings whose disputes wait for a ruling, for Codex to rule on; remembers the
    /// newest one shown, so that a review asked for without a change runs only for a dispute
    /// no review has seen yet.
    fn disputes_for_prompt(&mut self) -> Vec<DisputedFinding> {
        let shown = self
            .summary
            .open
            .iter()
            .filter_map(|f| f.pending_dispute().map(|d| d.id))
            .max();
        self.disputes_shown = self.disputes_shown.max(shown.unwrap_or(0));
        self.summary
            .open
            .iter()
            .filter_map(crate::finding::disputed)
            .collect()
    }

    pub(super) async fn start_plan(&mut self, text: String, waiter: oneshot::Sender<Response>) {
        let config = self.config();
        let open = self.open_for_prompt();
        let disputes = self.disputes_for_prompt();
        let ws = self.row.id;
        let revision = self
            .store
            .call(move |c| store::reviews::count_trigger(c, ws, Trigger::Plan))
            .await
            .unwrap_or(0)
            > 0;
        let choice = self.instead_of_refused(
            config.review.choose(Trigger::Plan, None, (None, None)),
            Trigger::Plan,
            None,
            (None, None),
        );
        let (model, effort) = (choice.model.clone(), choice.effort.clone());
        let prompt = prompt::plan(&text, &open, &disputes, revision);
        let (thread, brief) = self.thread_for_run(&config).await;
        let prompt = brief.unwrap_or_default() + &prompt;
        let job = Job {
            thread,
            ..self.job(&config, Trigger::Plan, prompt, &choice)
        };
        self.log(
            "plan",
            serde_json::json!({"revision": revision, "bytes": text.len(), "model": model, "effort": effort}),
        )
        .await;
        self.log(
            "review_started",
            serde_json::json!({"trigger": Trigger::Plan, "model": model, "effort": effort,
                               "reason": choice.reason, "count": 0}),
        )
        .await;
        self.ctx.emit(
            "review_started",
            Some(self.row.root.clone()),
            choice.reason.clone(),
        );
        self.launch(job, None, vec![waiter], choice.reason.clone());
    }

    /// A codex job on this workspace's thread with the config in force; a review of a change
    /// adds what it covers (stats, trees, the tree reader and hunks).
    pub(super) fn job(
        &self,
        config: &crate::config::Config,
        trigger: Trigger,
        prompt: String,
        choice: &ModelChoice,
    ) -> Job {
        Job {
            workspace_id: self.row.id,
            root: self.row.root.clone(),
            trigger,
            prompt,
            model: choice.model.clone(),
            effort: choice.effort.clone(),
            model_reason: choice.reason.clone(),
            timeout: Duration::from_secs(config.review.timeout_s),
            codex: job::codex_bin(&config.review.codex_bin),
            extra_args: config.review.extra_args.clone(),
            thread: self.summary.thread_id.clone(),
            dir: self.dir(),
            stats: (0, 0, 0),
            trees: (None, None),
            queued: Instant::now(),
            reader: None,
            hunks: None,
            change: None,
            covers: Vec::new(),
            isolation: None,
        }
    }

    /// Start codex on a change (one per workspace; `review.max_concurrent` across all).
    pub(super) async fn start_review(
        &mut self,
        change: Change,
        trigger: Trigger,
        model: Option<String>,
        effort: Option<String>,
        waiters: Vec<oneshot::Sender<Response>>,
    ) {
        let config = self.config();
        let size = ChangeSize::of(&change.diff);
        let asked = (model, effort);
        let choice = self.instead_of_refused(
            config.review.choose(trigger, Some(size), asked.clone()),
            trigger,
            Some(size),
            asked,
        );
        let (model, effort) = (choice.model.clone(), choice.effort.clone());
        let open = self.open_for_prompt();
        let disputes = self.disputes_for_prompt();
        let files = ChangedFile::list(&change.diff);
        // Stored findings point into the last reviewed tree (the baseline). Their lines follow
        // this diff only when it starts there: not for `review --all` (from HEAD) nor after a
        // HEAD move (from the baseline carried onto the new HEAD). A diff too large to be
        // inline (only a file list went to Codex) has no hunks to follow: lines stay where
        // they are until a later review reports the finding at its new place.
        let parsed = change.diff.unified.as_deref().map(DiffHunks::parse);
        let hunks = parsed
            .clone()
            .filter(|_| self.baseline.as_ref() == Some(&change.base));
        // Which findings are in the change: by its hunks, or by its files when only the list
        // went to Codex.
        let reviewed = Some(match parsed {
            Some(h) => ReviewedChange::Hunks(h),
            None => ReviewedChange::Files(files.iter().map(|f| f.path.clone()).collect()),
        });
        let prompt = prompt::review(&prompt::ReviewInput {
            files: &files,
            diff: change.diff.unified.as_deref(),
            open: &open,
            disputes: &disputes,
        });
        let isolation = match self.isolation_ahead.take() {
            // An error is met again, and reported, when the run reads the files itself.
            Some(ahead) => ahead.await.ok().and_then(Result::ok),
            None => None,
        };
        let (thread, brief) = self.thread_for_run(&config).await;
        let prompt = brief.unwrap_or_default() + &prompt;
        let job = Job {
            thread,
            stats: (
                files.len() as u64,
                change.diff.insertions(),
                change.diff.deletions(),
            ),
            trees: (Some(change.base.tree.clone()), Some(change.to.tree.clone())),
            reader: self.snapshotter.as_ref().map(Snapshotter::tree_reader),
            hunks,
            change: reviewed,
            covers: vec![change.to.tree.clone()],
            isolation,
            ..self.job(&config, trigger, prompt, &choice)
        };
        self.log(
            "review_started",
            serde_json::json!({
                "trigger": trigger,
                "model": model,
                "effort": effort,
                "reason": choice.reason,
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
            format!("{} file(s), {}", files.len(), choice.reason),
        );
        self.launch(job, Some(change.to), waiters, choice.reason.clone());
        if let Some(running) = self.running.as_mut() {
            running.edits_seen = change.edits_seen;
        }
    }

    /// Run a job in the background (one per workspace; `review.max_concurrent` across all).
    pub(super) fn launch(
        &mut self,
        job: Job,
        to: Option<Snapshot>,
        waiters: Vec<oneshot::Sender<Response>>,
        with: String,
    ) {
        let (model, trigger) = (job.model.clone(), job.trigger);
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
                job::run(
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
            with,
            model,
            trigger,
            activity: None,
            waiters,
            edits_seen: 0,
        });
    }

    /// Record how a run ended: the baseline moves when a review answered, the live events say
    /// how it went (the job wrote the audit entry with the result). Says how it ended, for the machine, and what to answer
    /// whoever waits: the answers go out once the status shows the end (a script that runs
    /// `cxd status` right after `cxd review --wait` sees the halt, not the run).
    pub(super) async fn record_run(&mut self, result: Result<JobResult, JobError>) -> Recorded {
        let Some(running) = self.running.take() else {
            return Recorded {
                ending: Ending::Interrupted,
                answers: Vec::new(),
            };
        };
        let outcome = match result {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(root = %self.root().display(), error = %e, "the review did not run or could not be recorded");
                let answer = Response::Error(ErrorReply {
                    kind: ErrorKind::Internal,
                    message: e.to_string(),
                });
                let why = match &e {
                    JobError::Isolation(e) => e.to_string(),
                    e => format!("the review could not be recorded: {e}"),
                };
                return Recorded {
                    ending: Ending::Failed(why),
                    answers: running
                        .waiters
                        .into_iter()
                        .map(|w| (w, answer.clone()))
                        .collect(),
                };
            }
        };
        let ending = match &outcome.error {
            None => Ending::Answered,
            Some((crate::codex::ErrorClass::Interrupted, _)) => Ending::Interrupted,
            // The repository's model was refused: once, at once, with the user's own.
            Some((_, msg)) if self.fall_back(&running, msg).await => Ending::Retry,
            // No automatic retry: `cxd review` or `cxd unpause` starts again.
            Some((class, msg)) => Ending::Failed(self.halt_reason(*class, msg)),
        };
        if outcome.error.is_none() {
            self.quota = None;
        }
        if let (Ending::Answered, Some(to)) = (&ending, &running.to) {
            self.baseline = Some(to.clone());
            self.save_baseline(to).await;
            self.edits_covered(running.edits_seen);
        }
        // The job wrote the `review_finished` audit entry with its result.
        self.refresh_summary().await;
        self.refresh_head_reviewed().await;
        let msg = match &outcome.error {
            Some((class, m)) => format!(
                "review {} failed ({}): {m}",
                outcome.review_id,
                class.as_str()
            ),
            None => {
                let mut msg = format!(
                    "review {}: {} — {} new finding(s), {} resolved",
                    outcome.review_id,
                    outcome.verdict,
                    outcome.opened.len(),
                    outcome.resolved.len()
                );
                let again = outcome.carried.len() + outcome.dismissed_seen.len();
                for (n, what) in [
                    (outcome.reopened.len(), "reopened"),
                    (again, "reported again"),
                    (outcome.outdated.len(), "outdated"),
                ] {
                    if n > 0 {
                        msg.push_str(&format!(", {n} {what}"));
                    }
                }
                msg
            }
        };
        self.ctx
            .emit("review_finished", Some(self.row.root.clone()), msg);
        for (kind, ids) in [
            ("findings_opened", &outcome.opened),
            ("findings_resolved", &outcome.resolved),
            ("findings_withdrawn", &outcome.withdrawn),
            ("findings_upheld", &outcome.upheld),
            ("findings_reopened", &outcome.reopened),
            ("findings_outdated", &outcome.outdated),
        ] {
            if !ids.is_empty() {
                self.ctx
                    .emit(kind, Some(self.row.root.clone()), public_ids(ids).join(" "));
            }
        }
        let mut answers = Vec::new();
        if !running.waiters.is_empty() {
            let done = self.review_done(&outcome).await;
            answers = running
                .waiters
                .into_iter()
                .map(|w| (w, done.clone()))
                .collect();
        }
        self.upkeep().await;
        // A review's diff, prompt and transcript are freed now: hand the memory back.
        crate::memory::trim();
        Recorded { ending, answers }
    }

    /// The user's own model and effort for `trigger` when `choice` names a model the provider
    /// refused (the repository's), else `choice`.
    fn instead_of_refused(
        &self,
        choice: ModelChoice,
        trigger: Trigger,
        size: Option<ChangeSize>,
        asked: (Option<String>, Option<String>),
    ) -> ModelChoice {
        if !self.refused_models.contains(&choice.model) {
            return choice;
        }
        let user = self.ctx.config.borrow().config.clone();
        let mut mine = user.review.choose(trigger, size, asked);
        if mine.model == choice.model {
            return choice;
        }
        mine.reason = format!(
            "{} (the repository's model {} was refused by the provider)",
            mine.reason, choice.model
        );
        mine
    }

    /// Whether the failed run `running` (codex said `msg`) failed because the provider refused
    /// a model the repository chose, one the user's own config does not name: then that model
    /// is not used again here, with a warning, and the run is to be retried.
    async fn fall_back(&mut self, running: &Running, msg: &str) -> bool {
        if !crate::codex::classify::model_refused(msg)
            || self.refused_models.contains(&running.model)
        {
            return false;
        }
        let user = self.ctx.config.borrow().config.clone();
        let mine = user.review.choose(running.trigger, None, (None, None));
        if mine.model == running.model {
            return false;
        }
        self.refused_models.insert(running.model.clone());
        let warning = format!(
            "the provider refused the model {} that this repository's .cxd.toml names: reviews here use your own model ({}) instead",
            running.model, mine.model
        );
        tracing::warn!(root = %self.root().display(), "{warning}");
        self.log(
            "model_fallback",
            serde_json::json!({"refused": running.model, "instead": mine.model}),
        )
        .await;
        self.ctx.emit(
            "model_fallback",
            Some(self.row.root.clone()),
            warning.clone(),
        );
        if !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
        true
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
                let mut opened: Vec<Finding> = opened.iter().map(Finding::from).collect();
                opened.truncate(cxd_proto::limits::fitting(&opened, half));
                let mut open: Vec<Finding> = open.iter().map(Finding::from).collect();
                open.truncate(cxd_proto::limits::fitting(&open, half));
                Response::ReviewDone(Box::new(ReviewDone {
                    root: self.row.root.clone(),
                    review: review_info(&review),
                    opened,
                    opened_total: outcome.opened.len() as u64,
                    resolved: public_ids(&outcome.resolved),
                    reopened: public_ids(&outcome.reopened),
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
}
