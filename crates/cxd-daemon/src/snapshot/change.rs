//! What a snapshot is and how two of them differ: the plain values the reviewer and the store
//! read, with no git behind them.

use std::path::PathBuf;

/// A working tree at one moment: a git tree id, and the commit HEAD pointed at.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    /// The git tree id (hex) of the work tree: tracked files plus untracked ones not ignored.
    pub tree: String,
    /// HEAD's commit id (hex); `None` on an unborn branch.
    pub head: Option<String>,
}

/// How a file changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChangeStatus {
    /// The file exists only in the newer snapshot.
    Added,
    /// Same path in both snapshots, with other content or mode bits.
    Modified,
    /// The file is gone in the newer snapshot.
    Deleted,
    /// Moved, maybe with edits (`old_path` says from where).
    Renamed,
    /// File became a symlink or submodule, or the other way round.
    TypeChanged,
}

impl ChangeStatus {
    /// The name a reviewer sees: `added`, `modified`, `deleted`, `renamed`, `type_changed`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::Modified => "modified",
            Self::Deleted => "deleted",
            Self::Renamed => "renamed",
            Self::TypeChanged => "type_changed",
        }
    }
}

/// One changed file, with its line counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// The path after the change (relative to the work-tree root).
    pub path: PathBuf,
    /// For a rename, the path before it.
    pub old_path: Option<PathBuf>,
    /// How it changed, as the reviewer's file list names it ([`ChangeStatus::as_str`]).
    pub status: ChangeStatus,
    /// Lines added; `None` for a binary file.
    pub insertions: Option<u64>,
    /// Lines removed; `None` for a binary file.
    pub deletions: Option<u64>,
}

/// The change between two snapshots, as a reviewer needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// Every changed file, in git's path order.
    pub files: Vec<FileChange>,
    /// The unified diff; `None` when it is larger than the caller's `max_bytes` (then the
    /// reviewer gets `files` and reads the files itself).
    pub unified: Option<String>,
    /// The size of the full unified diff in bytes.
    pub bytes: usize,
}

impl Diff {
    /// No file changed: there is nothing to review.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Lines added over all text files.
    #[must_use]
    pub fn insertions(&self) -> u64 {
        self.files.iter().filter_map(|f| f.insertions).sum()
    }

    /// Lines removed over all text files.
    #[must_use]
    pub fn deletions(&self) -> u64 {
        self.files.iter().filter_map(|f| f.deletions).sum()
    }

    pub(super) fn empty() -> Self {
        Self {
            files: Vec::new(),
            unified: Some(String::new()),
            bytes: 0,
        }
    }
}
