//! Whether a finding is "in the change" a review covered: the stop gate blocks only on
//! findings about what the agent changed, not on code it never touched.
//!
//! A finding is in the change when the reviewed diff added or removed a line within the
//! lines it points at, or when it is about the change as a whole (no file). When the diff was
//! too large to go inline (Codex got only the file list), there are no hunks to compare: a
//! finding in any changed file counts as in the change. The store remembers the newest
//! review whose change held each finding; the gate compares that with the agent session's
//! start (`store::findings::scope`, `requests::gate`).

use crate::snapshot::hunks::DiffHunks;

/// What a review covered, as precisely as it is known.
#[derive(Debug, Clone)]
pub enum ReviewedChange {
    /// The unified diff Codex saw: changed lines are known.
    Hunks(DiffHunks),
    /// Only the changed files are known (the diff went as a file list): paths after the change.
    Files(Vec<String>),
}

impl ReviewedChange {
    /// Whether a finding on lines `start..=end` of `file` (numbered as in the reviewed tree;
    /// `file` empty: about the change as a whole; `start` 0: about the whole file) is in this
    /// change.
    #[must_use]
    pub fn holds(&self, file: &str, start: u64, end: u64) -> bool {
        if file.is_empty() {
            return true;
        }
        match self {
            ReviewedChange::Hunks(h) => h.touches(file, start, end),
            ReviewedChange::Files(files) => files.iter().any(|f| f == file),
        }
    }

    /// Whether the change touched `file` at all: only findings in these files can be in it.
    #[must_use]
    pub fn has_file(&self, file: &str) -> bool {
        match self {
            ReviewedChange::Hunks(h) => h
                .files()
                .iter()
                .any(|f| f.new_path.as_deref() == Some(file)),
            ReviewedChange::Files(files) => files.iter().any(|f| f == file),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `f.rs` with lines 10-12 replaced, and `new.rs` added.
    const DIFF: &str = "\
diff --git a/f.rs b/f.rs
--- a/f.rs
+++ b/f.rs
@@ -10,3 +10,3 @@
-a
-b
-c
+A
+B
+C
diff --git a/new.rs b/new.rs
new file mode 100644
--- /dev/null
+++ b/new.rs
@@ -0,0 +1,2 @@
+x
+y
";

    fn hunks() -> ReviewedChange {
        ReviewedChange::Hunks(DiffHunks::parse(DIFF))
    }

    #[test]
    fn a_finding_on_changed_lines_is_in_the_change() {
        let c = hunks();
        assert!(c.holds("f.rs", 11, 11));
        assert!(c.holds("f.rs", 5, 10), "overlapping the edit counts");
        assert!(c.holds("new.rs", 1, 1), "an added file counts whole");
        assert!(c.holds("f.rs", 0, 0), "about a changed file as a whole");
    }

    #[test]
    fn a_finding_on_untouched_lines_or_files_is_not() {
        let c = hunks();
        assert!(!c.holds("f.rs", 1, 9), "lines above the edit");
        assert!(!c.holds("f.rs", 13, 40), "lines below the edit");
        assert!(
            !c.holds("other.rs", 11, 11),
            "a file the change did not touch"
        );
        assert!(!c.has_file("other.rs"));
        assert!(c.has_file("f.rs") && c.has_file("new.rs"));
    }

    #[test]
    fn a_finding_about_the_change_as_a_whole_is_in_it() {
        assert!(hunks().holds("", 0, 0));
        assert!(ReviewedChange::Files(Vec::new()).holds("", 0, 0));
    }

    #[test]
    fn with_only_a_file_list_a_finding_in_a_changed_file_is_in_the_change() {
        let c = ReviewedChange::Files(vec!["f.rs".into(), "dir/g.rs".into()]);
        assert!(c.holds("f.rs", 1, 1), "any line of a changed file");
        assert!(c.holds("dir/g.rs", 900, 910));
        assert!(!c.holds("h.rs", 1, 1));
        assert!(!c.holds("dir", 1, 1), "a path's prefix is not the file");
    }
}
