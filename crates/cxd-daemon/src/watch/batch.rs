//! One drain of the raw event queue: the paths seen and how each fared, folded so that a file
//! both created and removed in the same drain (an editor's temp file) is never reported.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// How a file fared in an event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Fate {
    Created,
    Written,
    Gone,
}

/// What one drain of the raw queue found, sent as at most one message of each kind.
#[derive(Default)]
pub(super) struct Batch {
    /// Relative path → how it fared in this batch (hashed: a checkout marks each of its
    /// files several times; sorted once when sent).
    pub(super) paths: HashMap<PathBuf, Seen>,
    pub(super) rescan: bool,
    pub(super) git: bool,
    pub(super) head_moved: bool,
    pub(super) root_missing: bool,
    /// Directories whose ignore files changed: re-walk them before sending.
    pub(super) reconcile: Vec<PathBuf>,
}

/// How one path fared in a batch.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Seen {
    /// First seen as created.
    born: bool,
    /// Gone at last.
    gone: bool,
    /// Seen at least once while git did not hold the index lock: an edit, not git's own write.
    edited: bool,
}

impl Batch {
    /// Record that `rel` was seen with `fate`, keeping whether it was born in this batch;
    /// `by_git`: git held `.git/index.lock` then (a checkout, merge, reset is writing).
    pub(super) fn mark(&mut self, rel: &Path, fate: Fate, by_git: bool) {
        let seen = match self.paths.get_mut(rel) {
            Some(seen) => seen,
            None => self.paths.entry(rel.to_path_buf()).or_insert(Seen {
                born: fate == Fate::Created,
                ..Seen::default()
            }),
        };
        seen.gone = fate == Fate::Gone;
        seen.edited |= !by_git;
    }

    /// The paths to report: all but those both born and gone in this batch (an editor's temp
    /// file), as (edits, paths only git wrote), each sorted by bytes.
    pub(super) fn take_changed(&mut self) -> (Vec<PathBuf>, Vec<PathBuf>) {
        let (edits, by_git): (Vec<_>, Vec<_>) = std::mem::take(&mut self.paths)
            .into_iter()
            .filter(|(_, seen)| !(seen.born && seen.gone))
            .partition(|(_, seen)| seen.edited);
        let paths = |v: Vec<(PathBuf, Seen)>| {
            let mut paths: Vec<PathBuf> = v.into_iter().map(|(p, _)| p).collect();
            paths.sort_unstable_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
            paths
        };
        (paths(edits), paths(by_git))
    }
}
