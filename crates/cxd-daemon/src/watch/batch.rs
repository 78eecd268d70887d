//! One drain of the raw event queue: the paths seen and how each fared, folded so that a file
//! both created and removed in the same drain (an editor's temp file) is never reported.

use std::collections::BTreeMap;
use std::path::PathBuf;

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
    /// Relative path → (first seen as created, gone at last).
    pub(super) paths: BTreeMap<PathBuf, (bool, bool)>,
    pub(super) rescan: bool,
    pub(super) git: bool,
    pub(super) head_moved: bool,
    pub(super) root_missing: bool,
    /// Directories whose ignore files changed: re-walk them before sending.
    pub(super) reconcile: Vec<PathBuf>,
}

impl Batch {
    /// Record that `rel` was seen with `fate`, keeping whether it was born in this batch.
    pub(super) fn mark(&mut self, rel: PathBuf, fate: Fate) {
        let seen = self
            .paths
            .entry(rel)
            .or_insert((fate == Fate::Created, false));
        seen.1 = fate == Fate::Gone;
    }

    /// The paths to report: all but those both born and gone in this batch (an editor's temp file).
    pub(super) fn take_changed(&mut self) -> Vec<PathBuf> {
        std::mem::take(&mut self.paths)
            .into_iter()
            .filter(|(_, (born, gone))| !(*born && *gone))
            .map(|(path, _)| path)
            .collect()
    }
}
