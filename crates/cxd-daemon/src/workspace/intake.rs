//! What the watcher reported, taken in: edits (remembered until a review covers them) told
//! apart from git's own writes, which a HEAD move explains unless only commits moved it.

use std::path::{Path, PathBuf};

use super::actor::Actor;
use super::machine::Input;
use crate::watch::WatchEvent;

impl Actor {
    /// Take in one watch event: note its paths, say what the machine must hear.
    pub(super) fn take_in(&mut self, ev: WatchEvent) -> Option<Input> {
        let input = match ev {
            WatchEvent::Changed { paths, seen } => {
                if !self.machine.takes_edits() {
                    return None;
                }
                // The kernel reports the root's own deletion only once nothing holds it open
                // (a running codex has it as its working directory): look for ourselves.
                if !self.row.root.is_dir() {
                    Input::RootGone
                } else {
                    if paths.iter().any(|p| p == Path::new(".cxd.toml")) {
                        self.retime_due = true;
                    }
                    self.note_edits(&paths);
                    self.pending.extend(paths);
                    Input::Edited {
                        at: tokio::time::Instant::from_std(seen),
                    }
                }
            }
            WatchEvent::GitWrote { paths, seen } => {
                if !self.machine.takes_edits() {
                    return None;
                }
                if !self.row.root.is_dir() {
                    Input::RootGone
                } else {
                    // Git's own writes: looked at, but a HEAD move explains them (unless it
                    // was only commits: then a hook wrote them, see `claim_hook_writes`).
                    self.git_wrote.extend(paths.iter().cloned());
                    self.pending.extend(paths);
                    Input::Edited {
                        at: tokio::time::Instant::from_std(seen),
                    }
                }
            }
            WatchEvent::Git {
                head_moved,
                index_locked,
            } => {
                self.head_reported |= head_moved;
                Input::Git {
                    head_moved,
                    index_locked,
                }
            }
            WatchEvent::Rescan => {
                self.add_warning("the OS event queue overflowed: rescanned the whole tree".into());
                Input::Overflowed
            }
            WatchEvent::RootMissing => Input::RootGone,
        };
        Some(input)
    }

    /// Remember `paths` as edits no review has covered yet.
    pub(super) fn note_edits(&mut self, paths: &[PathBuf]) {
        self.edit_seq += 1;
        for path in paths {
            self.edited.insert(path.clone(), self.edit_seq);
        }
    }

    /// Files written while git held its lock are edits after all when HEAD moved only by
    /// commits since the baseline (a commit writes no file: a hook did, a formatter say).
    pub(super) fn claim_hook_writes(&mut self) {
        if self.git_wrote.is_empty() {
            return;
        }
        let written: Vec<PathBuf> = std::mem::take(&mut self.git_wrote).into_iter().collect();
        let from = self.baseline.as_ref().and_then(|b| b.head.clone());
        if self
            .snapshotter
            .as_ref()
            .is_some_and(|s| s.moved_by_commits(from.as_deref()))
        {
            self.note_edits(&written);
        }
    }

    /// The baseline now holds every edit up to sequence number `seen`: forget them.
    pub(super) fn edits_covered(&mut self, seen: u64) {
        self.edited.retain(|_, seq| *seq > seen);
    }
}
