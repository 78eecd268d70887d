//! The workspace's tree: opening the snapshotter and the watches, looking at what changed
//! since the last review (and recording the burst in the audit trail), following the root
//! when it disappears and comes back.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use super::actor::Actor;
use super::machine::{Input, Inspection, Why};
use super::private_dir;
use crate::snapshot::{Diff, Snapshot, SnapshotError};
use crate::store;
use crate::watch::WatchEvent;

/// At most this many file names go into one log entry (the count is always exact).
pub(super) const MAX_LOGGED_FILES: usize = 200;

/// What a review would cover now.
pub(super) struct Change {
    pub(super) base: Snapshot,
    pub(super) to: Snapshot,
    pub(super) diff: Diff,
    /// The newest edit (by sequence number) `to` holds: a review of it covers them all.
    pub(super) edits_seen: u64,
}

impl Actor {
    pub(super) fn dir(&self) -> PathBuf {
        private_dir(&self.ctx.state_dir, self.row.id)
    }

    /// Start watching, then establish the baseline (waiting for it). Says what the machine
    /// must hear: the root is gone, or watching began (from a stored baseline or a new one).
    pub(super) async fn open(
        &mut self,
        events_tx: mpsc::UnboundedSender<WatchEvent>,
    ) -> Option<Input> {
        let Some(opening) = self.start_opening(events_tx).await else {
            return Some(Input::RootGone);
        };
        let opened = opening.await;
        Some(self.finish_opening(opened).await)
    }

    /// The root is gone: drop the watches and what they reported, and tell the user.
    pub(super) fn unwatch(&mut self) {
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

    /// The root is a git work tree again (recreated, or moved back).
    pub(super) fn root_is_back(&self) -> bool {
        self.row.root.is_dir() && self.row.root.join(".git").exists()
    }

    /// The root came back: snapshot and watch it again. The private index is dropped (it may
    /// describe another repository now); the baseline stays, so what changed since the last
    /// review is reviewed at the next settle (against HEAD if the baseline's objects are gone).
    pub(super) async fn come_back(&mut self) -> Option<Input> {
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
        let (events_tx, events) = mpsc::unbounded_channel();
        // The new channel is read at once: the baseline takes in what comes meanwhile.
        self.events = events;
        self.rewatched = true;
        self.open(events_tx).await
    }

    /// Look at the tree for the machine: snapshot, diff, record the burst, and keep the change
    /// for the review that may follow.
    pub(super) async fn inspect(&mut self, why: Why, full: bool) -> Input {
        if why == Why::Settled && !self.row.root.is_dir() {
            // Deleted (the kernel may not say so while codex still has it as its cwd).
            return Input::RootGone;
        }
        let all = why == (Why::Review { all: true });
        // Read ahead what the review's command line needs from codex's config files.
        let root = self.row.root.clone();
        self.isolation_ahead = Some(tokio::task::spawn_blocking(move || {
            crate::codex::isolation::args(crate::codex::sessions::codex_home().as_deref(), &root)
        }));
        self.catch_up().await;
        self.claim_hook_writes();
        let watched: Vec<PathBuf> = self.pending.iter().cloned().collect();
        self.uncovered_reviewed().await;
        let before = self.baseline.clone();
        let mut change = match self.prepare(all, full).await {
            Ok(c) => c,
            Err(e) => return Input::Inspected(why, Inspection::Failed(e)),
        };
        if !all {
            self.record_burst(&watched, &change).await;
            if change.diff.is_empty() && Some(&change.base) != self.baseline.as_ref() {
                // No net change: the baseline follows a HEAD move.
                self.baseline = Some(change.base.clone());
                self.save_baseline(&change.base).await;
            }
            if change.diff.is_empty() {
                // Nothing to review: the edits seen so far left no change behind.
                self.edits_covered(change.edits_seen);
            }
            // A HEAD move onto a tree no review covered is measured from the last review.
            let strict = why != Why::Settled;
            if let Err(e) = self.uncovered_change(before, &mut change, strict).await {
                return Input::Inspected(why, Inspection::Failed(e));
            }
        }
        // A review asked for with no change still runs for a dispute no review has seen: the
        // disputer waits for its ruling (the stop hook asks, then blocks or lets Claude stop).
        let unseen_dispute = matches!(why, Why::Review { .. })
            && store::findings::unseen_disputes(&self.summary.open, self.disputes_shown);
        let found = if change.diff.is_empty() && !unseen_dispute {
            Inspection::Unchanged
        } else {
            Inspection::Changed
        };
        self.change = Some(change);
        Input::Inspected(why, found)
    }

    /// Snapshot the tree (every file when `full`, else the reported paths) and diff it against
    /// the baseline (or HEAD with `all`), moving the baseline over a HEAD move.
    async fn prepare(&mut self, all: bool, full: bool) -> Result<Change, String> {
        let (Some(mut snap), Some(base)) = (self.snapshotter.take(), self.baseline.clone()) else {
            return Err("this workspace has no snapshot (see its warnings in `cxd status`)".into());
        };
        let paths: Vec<PathBuf> = std::mem::take(&mut self.pending).into_iter().collect();
        let max_bytes = self.config().review.max_diff_bytes as usize;
        let unverified = self.baseline_unverified && !all;
        let root = self.row.root.clone();
        // Edits no review covered keep their reviewed version when HEAD moved (a commit
        // recorded them; a checkout's writes are not among them).
        let keep: HashSet<PathBuf> = self.edited.keys().cloned().collect();
        let edits_seen = self.edit_seq;
        let result = tokio::task::spawn_blocking(move || {
            let outcome: Result<(Change, bool), SnapshotError> = (|| {
                let to = snap.snapshot(if full { None } else { Some(&paths) })?;
                let against = |base: Snapshot| {
                    let base = if all {
                        snap.head_snapshot()?
                    } else if to.head != base.head {
                        snap.rebase_onto_head(&base, &to, &keep)?
                    } else {
                        base
                    };
                    let diff = snap.diff(&base, &to, max_bytes)?;
                    Ok::<_, SnapshotError>((base, diff))
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
                Ok((
                    Change {
                        base,
                        to,
                        diff,
                        edits_seen,
                    },
                    replaced,
                ))
            })();
            (snap, outcome)
        })
        .await;
        let (snap, outcome) = result.map_err(|e| format!("snapshot task failed: {e}"))?;
        self.snapshotter = Some(snap);
        let (change, replaced) = outcome.map_err(|e| e.to_string())?;
        self.baseline_unverified = false;
        if replaced {
            self.baseline = Some(change.base.clone());
            self.save_baseline(&change.base).await;
        }
        if !all {
            self.last_tree = Some(change.to.tree.clone());
        }
        self.head_seen(change.to.head.clone());
        Ok(change)
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
                self.log_edit(&diff_files, true, false).await;
            }
            self.refresh_head_reviewed().await;
        } else if !watched.is_empty() {
            // Editors and agents save through temporary files that are gone by now: name only
            // what exists or what the change touched (a deletion).
            let names: Vec<String> = watched
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .filter(|p| self.row.root.join(p).exists() || diff_files.contains(p))
                .collect();
            if !names.is_empty() {
                self.log_edit(&names, !change.diff.is_empty(), true).await;
            } else if !change.diff.is_empty() {
                self.log_edit(&diff_files, true, true).await;
            }
        } else if !change.diff.is_empty() {
            // Found by a full rescan (a restart, an overflow, a manual review) rather than
            // reported path by path.
            self.log_edit(&diff_files, true, false).await;
        }
    }

    /// Log an edit of `files`; `witnessed`: the watcher saw them change just now (not a rescan
    /// or a HEAD move finding a change again), so a person's edit can answer an escalation.
    async fn log_edit(&mut self, files: &[String], net_change: bool, witnessed: bool) {
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
        let agents = files
            .iter()
            .any(|f| self.session_files.contains(Path::new(f)));
        if by == "human" && net_change && witnessed && !agents {
            // A person's own edit answers a decision the loop handed over.
            // Queued in order with what follows; awaited after the review started.
            let (id, root) = (self.row.id, self.row.root.clone());
            let at = crate::clock::now_rfc3339();
            self.answering = Some(Box::pin(self.store.call(move |c| {
                store::escalations::answer(
                    c,
                    id,
                    Some(&root),
                    store::escalations::Answer::HumanEdit,
                    &at,
                )
            })));
        }
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

    /// The answer a person's edit gave an escalation is in: re-read the status if it
    /// answered one.
    pub(super) async fn answered(&mut self) {
        let Some(answering) = self.answering.take() else {
            return;
        };
        match answering.await {
            Ok(Some(_)) => self.refresh_summary().await,
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "cannot record the answer to an escalation"),
        }
    }

    pub(super) async fn save_baseline(&self, base: &Snapshot) {
        let (id, tree, head) = (self.row.id, base.tree.clone(), base.head.clone());
        if let Err(e) = self
            .store
            .call(move |c| store::workspaces::set_baseline(c, id, &tree, head.as_deref()))
            .await
        {
            tracing::error!(error = %e, "cannot store the baseline");
        }
    }

    /// Append to the audit trail. Queued, not waited for: whatever reads the store later
    /// (a request, the next write) comes after it on the store's one thread, and a review
    /// starts without a round trip per entry.
    pub(super) async fn log(&self, kind: &str, data: serde_json::Value) {
        let ev = store::NewEvent {
            at: crate::clock::now_rfc3339(),
            workspace: Some(self.row.root.clone()),
            kind: kind.to_owned(),
            data,
        };
        drop(self.store.call(move |c| {
            let appended = store::events::append(c, &ev);
            if let Err(e) = &appended {
                tracing::error!(error = %e, "cannot append to the audit trail");
            }
            appended
        }));
    }

    pub(super) fn os_watches(&self) -> u64 {
        self.watcher.as_ref().map_or(0, |w| w.os_watches() as u64)
    }
}
