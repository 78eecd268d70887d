//! Opening a workspace: the watches first, then the baseline tree behind them. `cxd watch`
//! answers once the tree is watched and the baseline is in, or at the latest a moment after the
//! watches (the actor's `BASELINE_WAIT`): the baseline (a snapshot of every file, hundreds of
//! ms on a big tree) may still be under way then, and the workspace takes in no event and no
//! request until it is in, so every review has a baseline. An edit made while the baseline is
//! being taken is reported by the watches and never hidden in the baseline: see
//! [`Actor::unsee`].

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinHandle};

use super::actor::{Actor, Upkeep};
use super::machine::Input;
use crate::codex::job;
use crate::snapshot::{Snapshot, SnapshotError, Snapshotter};
use crate::watch::{WatchEvent, WatchSpec, Watcher};

/// What the baseline task hands back: the snapshotter, the baseline, for a new one (not the
/// stored one) HEAD as it was when the watches were in, and the private object store's size.
pub(super) type Opened = Result<(Snapshotter, Snapshot, Option<Option<String>>, u64), String>;

/// The baseline task under way.
pub(super) type Opening = JoinHandle<Opened>;

/// Wait for the baseline task, or forever when there is none (for a `select!` branch).
pub(super) async fn opened(slot: &mut Option<Opening>) -> Result<Opened, JoinError> {
    match slot {
        Some(task) => task.await,
        None => std::future::pending().await,
    }
}

impl Actor {
    /// Watch the tree (blocking until every directory holds its watch) and start the baseline
    /// task behind it. `None`: the root is gone (the machine must hear it).
    pub(super) async fn start_opening(
        &mut self,
        events_tx: mpsc::UnboundedSender<WatchEvent>,
    ) -> Option<Opening> {
        if !self.root().is_dir() {
            return None;
        }
        let mut exclude = vec![self.ctx.state_dir.clone()];
        if let Some(dir) = self.ctx.socket.parent() {
            exclude.push(dir.to_path_buf());
        }
        // The root is canonical; so must be what is compared against it.
        let exclude: Vec<PathBuf> = exclude
            .into_iter()
            .map(|p| std::fs::canonicalize(&p).unwrap_or(p))
            .collect();
        let spec = WatchSpec {
            root: self.row.root.clone(),
            extra_ignore: self.config().watch.ignore.clone(),
            exclude: exclude.clone(),
        };
        let dir = self.dir();
        let root = self.row.root.clone();
        let stored = self.baseline.clone().or_else(|| {
            self.row.baseline_tree.clone().map(|tree| Snapshot {
                tree,
                head: self.row.baseline_head.clone(),
            })
        });
        let orphan = job::pidfile(&dir);
        // The snapshotter opens (two git calls) beside the walk.
        let snap_open = tokio::task::spawn_blocking(move || {
            if crate::codex::runner::reap_orphan(&orphan) {
                tracing::warn!(root = %root.display(), "ended a codex left running by a daemon that was killed");
            }
            let mut snap = Snapshotter::open(&root, &dir).map_err(|e| e.to_string())?;
            snap.set_exclude(&exclude);
            Ok::<_, String>(snap)
        });
        // The watches come first: whatever is written from here on is reported. The baseline
        // then runs alone instead of competing with the walk for the CPU.
        let watching = tokio::task::spawn_blocking(move || {
            let watcher = Watcher::start(spec, events_tx);
            // The walk's own buffers are free now: give their pages back.
            crate::memory::trim();
            watcher
        });
        match watching.await {
            Ok(Ok(w)) => self.watcher = Some(w),
            Ok(Err(e)) => self.warn(format!("cannot watch: {e}")),
            Err(e) => self.warn(format!("watch task failed: {e}")),
        }
        let snap = snap_open.await;
        Some(tokio::task::spawn_blocking(move || -> Opened {
            let mut snap = snap.map_err(|e| format!("snapshot task failed: {e}"))??;
            let (base, head) = match stored {
                Some(base) => (base, None),
                None => {
                    // HEAD as the watches found it (read from the ref files: no git runs).
                    let head = snap.head().map_err(|e| e.to_string())?;
                    (snap.snapshot(None).map_err(|e| e.to_string())?, Some(head))
                }
            };
            let bytes = snap.store_bytes().unwrap_or(0);
            Ok((snap, base, head, bytes))
        }))
    }

    /// The baseline task ended: keep what it made, take in what the watcher reported
    /// meanwhile, and say what the machine must hear (watching began).
    pub(super) async fn finish_opening(&mut self, opened: Result<Opened, JoinError>) -> Input {
        let mut resumed = false;
        let (snap, base) = match opened {
            Ok(Ok((snap, base, Some(head), bytes))) => {
                self.upkeep = Upkeep::new(bytes);
                // What was written while the baseline was taken (the machine hears of it after
                // `Watching`: `drive` takes `deferred` last). When HEAD moved since the watches
                // were in, its report is waited for: the edits before the move come first.
                self.snapshotter = Some(snap);
                self.head_seen(head.clone());
                self.catch_up().await;
                let head_reported = self.head_reported;
                let Some(snap) = self.snapshotter.take() else {
                    return Input::Watching { resumed };
                };
                match self.unsee(snap, base, head).await {
                    Ok((snap, base)) => {
                        self.save_baseline(&base).await;
                        // The baseline's HEAD is the one the next look at the tree starts
                        // from; a move the watcher reported since stays reported.
                        self.head_seen(base.head.clone());
                        self.head_reported = head_reported;
                        (snap, base)
                    }
                    Err(e) => {
                        self.warn(format!("snapshot task failed: {e}"));
                        return Input::Watching { resumed };
                    }
                }
            }
            Ok(Ok((snap, base, None, bytes))) => {
                self.upkeep = Upkeep::new(bytes);
                // Edits made while the daemon was down (or a review it was running when it
                // stopped) are reviewed at the next settle.
                self.baseline_unverified = true;
                resumed = true;
                self.head_seen(snap.head().ok().flatten());
                (snap, base)
            }
            Ok(Err(e)) => {
                self.warn(format!("cannot snapshot the work tree: {e}"));
                return Input::Watching { resumed };
            }
            Err(e) => {
                self.warn(format!("snapshot task failed: {e}"));
                return Input::Watching { resumed };
            }
        };
        self.snapshotter = Some(snap);
        self.last_tree = Some(base.tree.clone());
        self.baseline = Some(base);
        tracing::info!(root = %self.root().display(), watches = self.os_watches(), "watching workspace");
        Input::Watching { resumed }
    }

    /// A new baseline reads each file at some moment after the watches were in: a file the
    /// watcher reported meanwhile may be in it with the edit already made (and committed, even),
    /// which would then never be reviewed. Such files take their version at `head` (HEAD when
    /// the watches were in) instead, and the baseline's HEAD is `head`: the next settle reviews
    /// them (with whatever else was uncommitted in them: more than the edit, never less). Files
    /// nobody touched keep the version the baseline read.
    async fn unsee(
        &mut self,
        snap: Snapshotter,
        base: Snapshot,
        head: Option<String>,
    ) -> Result<(Snapshotter, Snapshot), JoinError> {
        if self.pending.is_empty() {
            return Ok((snap, base));
        }
        let reported: Vec<PathBuf> = self.pending.iter().cloned().collect();
        let (snap, base, unseen) = tokio::task::spawn_blocking(move || {
            let unseen = unsee_in(&snap, &base, head, &reported);
            (snap, base, unseen)
        })
        .await?;
        Ok(match unseen {
            Ok(unseen) => (snap, unseen),
            Err(e) => {
                tracing::warn!(root = %self.root().display(), error = %e, "cannot take the files edited during the first snapshot out of it; an edit made then may go unreviewed");
                (snap, base)
            }
        })
    }
}

/// `base` with every file under a `reported` path put back at its version in `head` (deleted
/// when `head` has none), on `head`. `base` itself when no reported file differs from `head`
/// and HEAD stayed.
fn unsee_in(
    snap: &Snapshotter,
    base: &Snapshot,
    head: Option<String>,
    reported: &[PathBuf],
) -> Result<Snapshot, SnapshotError> {
    let head = Snapshot {
        // A commit names its tree wherever git expects one.
        tree: head.clone().unwrap_or_else(|| snap.empty_tree().to_owned()),
        head,
    };
    // What differed from `head` when the baseline was read.
    let differs = snap.diff(&head, base, 0)?;
    let touched = |p: &Path| reported.iter().any(|r| p.starts_with(r));
    let mut keep: HashSet<PathBuf> = HashSet::new();
    let mut put_back = false;
    for f in &differs.files {
        for p in std::iter::once(&f.path).chain(f.old_path.as_ref()) {
            if touched(p) {
                put_back = true;
            } else {
                keep.insert(p.clone());
            }
        }
    }
    if !put_back && base.head == head.head {
        return Ok(base.clone());
    }
    // Carried from `base` onto `head`, every path keeps its version in `base` except the
    // reported ones, which take `head`'s.
    let from = Snapshot {
        tree: base.tree.clone(),
        head: Some(base.tree.clone()),
    };
    snap.rebase_onto_head(&from, &head, &keep)
}
