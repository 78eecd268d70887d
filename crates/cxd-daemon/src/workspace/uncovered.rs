//! HEAD moves to trees no review covered. A checkout, reset, merge or cherry-pick moves the
//! baseline and costs no review (ARCHITECTURE.md, "HEAD moves"), but what it brought in is
//! code no review saw when the tree it landed on is not one a review covered (`hash-object` +
//! `commit-tree` + `reset --hard` write any tree at all). So such a move is remembered with
//! the last reviewed snapshot before it, and:
//! - a look that must be honest (the gate, `cxd approve`, `cxd review`, the stop hook) diffs
//!   from that snapshot, so the gate is not "up to date" and a review covers what came in;
//! - while an agent session is known (its post-tool-use hook reported an edit), a settled burst
//!   does the same, so the move is reviewed as soon as it settles;
//! - a person's checkout with no agent session costs no review at settle, as before.
//!
//! It is forgotten once a review from that snapshot covered the tree, or HEAD lands on a tree a
//! review covered. It is kept in the workspace's private directory (file `uncovered`), so a
//! restart of the daemon does not forget it.

use super::actor::Actor;
use super::tree::Change;
use crate::snapshot::Snapshot;
use crate::store;

/// The file in the workspace's private directory that keeps `from`.
const FILE: &str = "uncovered";

/// What the actor remembers of a HEAD move to an uncovered tree.
#[derive(Debug, Clone, Default)]
pub(super) struct Uncovered {
    /// `from` was read from the private directory (once, at the first look).
    loaded: bool,
    /// The last reviewed snapshot before the move: reviews diff from here while it is set.
    pub(super) from: Option<Snapshot>,
    /// The tree of the last change that was diffed from `from`, and the newest review id then:
    /// once a later review covered that tree, the move is reviewed.
    pub(super) reviewing: Option<(String, i64)>,
}

impl Actor {
    /// Whether an answered review of this workspace covered `tree` (a store error counts as
    /// not covered: the gate then reviews rather than pass).
    async fn covered(&self, tree: &str) -> bool {
        let (id, tree) = (self.row.id, tree.to_owned());
        self.store
            .call(move |c| store::reviewed::covered(c, id, &tree))
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot look up a reviewed tree");
                false
            })
    }

    /// `from` as the private directory keeps it (None: no file, or not a snapshot).
    fn load_uncovered(&self) -> Option<Snapshot> {
        let text = std::fs::read_to_string(self.dir().join(FILE)).ok()?;
        let mut words = text.split_whitespace();
        let hex =
            |s: &str| (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit());
        let tree = words.next().filter(|t| hex(t))?.to_owned();
        let head = match words.next()? {
            "-" => None,
            h if hex(h) => Some(h.to_owned()),
            _ => return None,
        };
        Some(Snapshot { tree, head })
    }

    /// Keep `from` (or remove the file when it is None).
    fn save_uncovered(&self) {
        let path = self.dir().join(FILE);
        let result = match &self.uncovered.from {
            Some(s) => std::fs::write(
                &path,
                format!("{} {}\n", s.tree, s.head.as_deref().unwrap_or("-")),
            ),
            None => match std::fs::remove_file(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                other => other,
            },
        };
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), error = %e, "cannot keep the unreviewed HEAD move");
        }
    }

    /// Forget the move: it is reviewed, or nothing of it is left.
    fn forget_uncovered(&mut self) {
        if self.uncovered.from.is_some() {
            self.uncovered = Uncovered {
                loaded: true,
                ..Uncovered::default()
            };
            self.save_uncovered();
        }
    }

    /// Before a look at the tree: forget a move whose tree a review has covered since.
    pub(super) async fn uncovered_reviewed(&mut self) {
        if !self.uncovered.loaded {
            self.uncovered.loaded = true;
            self.uncovered.from = self.load_uncovered();
        }
        if self.uncovered.from.is_none() {
            return;
        }
        let Some((tree, after)) = self.uncovered.reviewing.clone() else {
            return;
        };
        let id = self.row.id;
        let reviewed = self
            .store
            .call(move |c| store::reviewed::covered_after(c, id, &tree, after))
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot look up a reviewed tree");
                false
            });
        if reviewed {
            tracing::info!(root = %self.root().display(), "the HEAD move's tree is reviewed");
            self.forget_uncovered();
        }
    }

    /// After a look at the tree (`before`: the baseline it was measured from): remember a HEAD
    /// move onto a tree no review covered, forget one onto a covered tree; then, when `strict`
    /// (or an agent session is known), measure `change` from the last reviewed snapshot before
    /// the move instead. Returns whether it did.
    pub(super) async fn uncovered_change(
        &mut self,
        before: Option<Snapshot>,
        change: &mut Change,
        strict: bool,
    ) -> Result<bool, String> {
        let Some(before) = before else {
            return Ok(false);
        };
        if change.base.head != before.head {
            if change.base.tree == before.tree || self.covered(&change.base.tree).await {
                // Nothing came in that a review did not see (a commit of reviewed edits, a
                // checkout of a reviewed branch).
                if change.base.tree != before.tree {
                    self.forget_uncovered();
                }
            } else if self.uncovered.from.is_none() {
                tracing::info!(root = %self.root().display(), tree = %change.base.tree, "HEAD moved to a tree no review covered");
                self.uncovered.from = Some(before);
                self.save_uncovered();
            }
        }
        let Some(from) = self.uncovered.from.clone() else {
            return Ok(false);
        };
        if !(strict || self.agent_session.is_some()) {
            // Measured from the baseline: a review of this change does not cover the move.
            self.uncovered.reviewing = None;
            return Ok(false);
        }
        let Some(snap) = self.snapshotter.take() else {
            return Err("this workspace has no snapshot (see its warnings in `cxd status`)".into());
        };
        let max_bytes = self.config().review.max_diff_bytes as usize;
        let to = change.to.clone();
        let root = self.row.root.clone();
        let result = tokio::task::spawn_blocking(move || {
            let diff = match snap.diff(&from, &to, max_bytes) {
                Ok(d) => Ok((from, d)),
                Err(e) => {
                    // The last reviewed tree is unreadable (its objects are gone): everything
                    // is reviewed rather than nothing.
                    tracing::warn!(root = %root.display(), error = %e, "the tree before the HEAD move is unreadable; reviewing the whole tree");
                    let empty = Snapshot {
                        tree: snap.empty_tree().to_owned(),
                        head: None,
                    };
                    snap.diff(&empty, &to, max_bytes).map(|d| (empty, d))
                }
            };
            (snap, diff)
        })
        .await;
        let (snap, diff) = result.map_err(|e| format!("snapshot task failed: {e}"))?;
        self.snapshotter = Some(snap);
        let (from, diff) = diff.map_err(|e| e.to_string())?;
        if self.uncovered.from.as_ref() != Some(&from) {
            self.uncovered.from = Some(from.clone());
            self.save_uncovered();
        }
        change.diff = diff;
        change.base = from;
        if change.diff.is_empty() {
            // Back where the last review was: nothing is uncovered.
            self.forget_uncovered();
        } else {
            let id = self.row.id;
            let newest = self
                .store
                .call(move |c| store::reviewed::newest_review(c, id))
                .await
                .map_err(|e| e.to_string())?;
            self.uncovered.reviewing = Some((change.to.tree.clone(), newest));
        }
        Ok(true)
    }
}
