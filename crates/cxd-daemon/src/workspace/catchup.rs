//! Catching up with the watcher before looking at the tree. A `git commit` moves HEAD within
//! milliseconds of an edit; a look at the tree (the gate, `cxd review`, the stop hook) that
//! comes before the watcher's report of them would take the edit for part of the commit and
//! carry the baseline past it unreviewed. So every look first takes in what the watcher has
//! sent, and when HEAD on disk moved but the watcher has not said so yet, waits (bounded) for
//! its report: the edits before the move arrive before it.

use std::time::Duration;

use tokio::time::Instant;

use super::actor::Actor;

/// How long a look at the tree waits for the watcher to report a HEAD move it has not yet.
const CATCH_UP: Duration = Duration::from_secs(2);

impl Actor {
    /// Take in every watch event sent so far; if HEAD moved on disk unreported, wait for the
    /// report up to [`CATCH_UP`]. The machine hears of the events after the look (`deferred`).
    pub(super) async fn catch_up(&mut self) {
        let deadline = Instant::now() + CATCH_UP;
        loop {
            while let Ok(ev) = self.events.try_recv() {
                if let Some(input) = self.take_in(ev) {
                    self.deferred.push_back(input);
                }
            }
            if !self.head_unreported() {
                return;
            }
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(ev)) => {
                    if let Some(input) = self.take_in(ev) {
                        self.deferred.push_back(input);
                    }
                }
                Ok(None) => return,
                Err(_) => {
                    tracing::warn!(root = %self.root().display(), "HEAD moved but the watcher did not report it within {CATCH_UP:?}; looking at the tree anyway");
                    return;
                }
            }
        }
    }

    /// HEAD on disk is not the one the last look saw, and the watcher has not reported a move.
    fn head_unreported(&self) -> bool {
        if self.head_reported {
            return false;
        }
        let Some(snap) = self.snapshotter.as_ref() else {
            return false;
        };
        match snap.head() {
            Ok(now) => now != self.known_head,
            Err(_) => false,
        }
    }

    /// The look at the tree saw HEAD at `head`.
    pub(super) fn head_seen(&mut self, head: Option<String>) {
        self.known_head = head;
        self.head_reported = false;
    }
}
