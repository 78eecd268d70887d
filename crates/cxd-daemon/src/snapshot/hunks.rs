//! The hunks of a unified diff, reduced to what changed where: per file, the runs of removed
//! and added lines (context dropped). Two questions are answered from them: where do lines
//! `X..=Y` of a file go after the change ([`DiffHunks::follow`]), and did the change touch
//! lines `X..=Y` of a file ([`DiffHunks::touches`]).
//!
//! The parser reads the text git writes (`diff --git`, `---`/`+++`, `rename from/to`,
//! `@@ -a,b +c,d @@`); it never fails: a line it does not understand is skipped, so a diff cut
//! short or hostile costs at most the precision of the answer, never a crash.

use std::collections::HashMap;

/// One run of changed lines: `old_len` lines removed at `old_start` (old numbering) replaced
/// by `new_len` lines at `new_start` (new numbering). With a length of 0 the start is the
/// number the next line has on that side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// First removed line, old numbering.
    pub old_start: u64,
    /// Lines removed.
    pub old_len: u64,
    /// First added line, new numbering.
    pub new_start: u64,
    /// Lines added.
    pub new_len: u64,
}

/// What a change did to one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileHunks {
    /// The path before (None: the file was added).
    pub old_path: Option<String>,
    /// The path after (None: the file was deleted).
    pub new_path: Option<String>,
    /// The runs of changed lines, in order.
    pub blocks: Vec<Block>,
    /// git showed no lines (`Binary files … differ`): which lines changed is unknown.
    pub binary: bool,
}

/// Where a range of lines went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// The change did not touch the file.
    Untouched,
    /// The lines are now at `start..=end` of `file` (same numbers, or moved, or edited inside).
    Moved {
        /// The path after the change (differs on a rename).
        file: String,
        /// First line, new numbering.
        start: u64,
        /// Last line, new numbering.
        end: u64,
    },
    /// Every line of the range was removed (or the file was deleted): `start..=end` is where
    /// they were, in new numbering.
    Deleted {
        /// The path after the change (the old one when the file was deleted).
        file: String,
        /// Where the range was, new numbering.
        start: u64,
        /// Where it ended, new numbering.
        end: u64,
    },
}

/// Every file of a unified diff, by the path it had before the change and the one it has after.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffHunks {
    files: Vec<FileHunks>,
    by_old: HashMap<String, usize>,
    by_new: HashMap<String, usize>,
}

/// A path from a `---`/`+++`/`rename` line: git's C quoting undone, the `a/`/`b/` prefix
/// dropped, a trailing tab removed; `/dev/null` is None.
fn header_path(text: &str, prefix: Option<&str>) -> Option<String> {
    let text = text.strip_suffix('\t').unwrap_or(text);
    let unquoted = if text.len() >= 2 && text.starts_with('"') && text.ends_with('"') {
        unquote(&text[1..text.len() - 1])
    } else {
        text.to_owned()
    };
    if unquoted == "/dev/null" {
        return None;
    }
    match prefix {
        Some(p) => unquoted.strip_prefix(p).map(str::to_owned),
        None => Some(unquoted),
    }
}

/// The path of a `diff --git a/P b/P` line whose two sides name the same file (quoted or not);
/// None when they differ (a rename, said by the `rename` lines) or the line is not understood.
fn same_path(names: &str) -> Option<String> {
    names
        .match_indices(' ')
        .map(|(i, _)| (&names[..i], &names[i + 1..]))
        .find_map(|(a, b)| {
            let a = header_path(a, Some("a/"))?;
            (Some(&a) == header_path(b, Some("b/")).as_ref()).then_some(a)
        })
}

/// Undo git's C-style quoting (`\"`, `\\`, `\t`, `\n`, octal bytes).
fn unquote(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            let c = b[i + 1];
            let simple = match c {
                b'n' => Some(b'\n'),
                b't' => Some(b'\t'),
                b'r' => Some(b'\r'),
                b'a' => Some(7),
                b'b' => Some(8),
                b'f' => Some(12),
                b'v' => Some(11),
                b'"' => Some(b'"'),
                b'\\' => Some(b'\\'),
                _ => None,
            };
            if let Some(v) = simple {
                out.push(v);
                i += 2;
                continue;
            }
            let oct = &b[i + 1..(i + 4).min(b.len())];
            if oct.len() == 3 && oct.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let v = oct
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                out.push(u8::try_from(v).unwrap_or(b'?'));
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `-a,b +c,d` from a hunk header (`,b` defaults to 1).
fn hunk_header(line: &str) -> Option<(u64, u64)> {
    let rest = line.strip_prefix("@@ -")?;
    let (old, rest) = rest.split_once(' ')?;
    let new = rest.strip_prefix('+')?.split(' ').next()?;
    let start = |part: &str| -> Option<u64> { part.split(',').next()?.parse().ok() };
    Some((start(old)?, start(new)?))
}

/// The parser's state inside one hunk: the next line number on each side, and the run of
/// changes being collected.
struct Cursor {
    old: u64,
    new: u64,
    run: Option<Block>,
}

impl Cursor {
    fn flush(&mut self, blocks: &mut Vec<Block>) {
        if let Some(b) = self.run.take() {
            blocks.push(b);
        }
    }

    fn run(&mut self) -> &mut Block {
        let (old, new) = (self.old, self.new);
        self.run.get_or_insert(Block {
            old_start: old,
            old_len: 0,
            new_start: new,
            new_len: 0,
        })
    }
}

impl DiffHunks {
    /// Parse a unified diff as `git diff-tree -p --src-prefix=a/ --dst-prefix=b/` writes it.
    #[must_use]
    pub fn parse(unified: &str) -> Self {
        let mut files: Vec<FileHunks> = Vec::new();
        let mut cursor: Option<Cursor> = None;
        for line in unified.lines() {
            if let Some(names) = line.strip_prefix("diff --git ") {
                if let (Some(c), Some(f)) = (cursor.as_mut(), files.last_mut()) {
                    c.flush(&mut f.blocks);
                }
                cursor = None;
                // A file without `---`/`+++` lines (binary, or only its mode changed) is
                // known by this line alone; the lines below correct it where they come.
                let path = same_path(names);
                files.push(FileHunks {
                    old_path: path.clone(),
                    new_path: path,
                    blocks: Vec::new(),
                    binary: false,
                });
                continue;
            }
            let Some(file) = files.last_mut() else {
                continue;
            };
            if let Some(c) = cursor.as_mut() {
                match line.as_bytes().first() {
                    Some(b'-') => {
                        c.run().old_len += 1;
                        c.old = c.old.saturating_add(1);
                        continue;
                    }
                    Some(b'+') => {
                        c.run().new_len += 1;
                        c.new = c.new.saturating_add(1);
                        continue;
                    }
                    Some(b' ') => {
                        c.flush(&mut file.blocks);
                        c.old = c.old.saturating_add(1);
                        c.new = c.new.saturating_add(1);
                        continue;
                    }
                    // "\ No newline at end of file"
                    Some(b'\\') => continue,
                    _ => {
                        c.flush(&mut file.blocks);
                        cursor = None;
                    }
                }
            }
            if let Some((old, new)) = hunk_header(line) {
                // A length of 0 names the line before: the next line is one further.
                let len0 = |side: char| {
                    line.split(' ')
                        .find(|p| p.starts_with(side))
                        .is_some_and(|p| p.ends_with(",0"))
                };
                cursor = Some(Cursor {
                    old: if len0('-') {
                        old.saturating_add(1)
                    } else {
                        old
                    },
                    new: if len0('+') {
                        new.saturating_add(1)
                    } else {
                        new
                    },
                    run: None,
                });
            } else if let Some(p) = line.strip_prefix("--- ") {
                file.old_path = header_path(p, Some("a/"));
            } else if let Some(p) = line.strip_prefix("+++ ") {
                file.new_path = header_path(p, Some("b/"));
            } else if line.starts_with("Binary files ") || line == "GIT binary patch" {
                file.binary = true;
            } else if line.starts_with("new file mode ") {
                file.old_path = None;
            } else if line.starts_with("deleted file mode ") {
                file.new_path = None;
            } else if let Some(p) = line.strip_prefix("rename from ") {
                file.old_path = header_path(p, None);
            } else if let Some(p) = line.strip_prefix("rename to ") {
                file.new_path = header_path(p, None);
            }
        }
        if let (Some(c), Some(f)) = (cursor.as_mut(), files.last_mut()) {
            c.flush(&mut f.blocks);
        }
        let mut out = Self::default();
        for (i, f) in files.into_iter().enumerate() {
            if let Some(p) = &f.old_path {
                out.by_old.insert(p.clone(), i);
            }
            if let Some(p) = &f.new_path {
                out.by_new.insert(p.clone(), i);
            }
            out.files.push(f);
        }
        out
    }

    /// The files, in diff order.
    #[must_use]
    pub fn files(&self) -> &[FileHunks] {
        &self.files
    }

    /// Where lines `start..=end` of `file` (old numbering, path before the change) are after
    /// it. Lines edited inside the range stay in it (the range grows or shrinks with the
    /// edit); lines inserted above move it; a range whose every line was removed is
    /// [`Fate::Deleted`]. A range with `start == 0` (not about lines) only follows renames.
    #[must_use]
    pub fn follow(&self, file: &str, start: u64, end: u64) -> Fate {
        let Some(f) = self.by_old.get(file).map(|&i| &self.files[i]) else {
            return Fate::Untouched;
        };
        let Some(new_file) = f.new_path.clone() else {
            return Fate::Deleted {
                file: file.to_owned(),
                start,
                end,
            };
        };
        if start == 0 {
            return if new_file == file {
                Fate::Untouched
            } else {
                Fate::Moved {
                    file: new_file,
                    start,
                    end,
                }
            };
        }
        let end = end.max(start);
        let mut kept = false;
        let mut new_start = None;
        let mut new_end = 0;
        // Walk the range line by line only across blocks; kept stretches are mapped whole.
        let mut line = start;
        while line <= end {
            let block = f.blocks.iter().find(|b| {
                b.old_len > 0
                    && (b.old_start..b.old_start.saturating_add(b.old_len)).contains(&line)
            });
            match block {
                Some(b) => {
                    let (s, e) = if b.new_len > 0 {
                        (b.new_start, b.new_start.saturating_add(b.new_len - 1))
                    } else {
                        (b.new_start, b.new_start.saturating_sub(1).max(1))
                    };
                    new_start.get_or_insert(s);
                    new_end = new_end.max(e);
                    line = b.old_start.saturating_add(b.old_len);
                }
                None => {
                    kept = true;
                    let mapped = self.map_kept(f, line);
                    new_start.get_or_insert(mapped);
                    // The rest of the kept stretch up to the next block (or the range's end).
                    let next = f
                        .blocks
                        .iter()
                        .filter(|b| b.old_len > 0 && b.old_start > line)
                        .map(|b| b.old_start)
                        .min()
                        .unwrap_or(u64::MAX)
                        .min(end.saturating_add(1));
                    new_end = new_end.max(mapped.saturating_add(next - 1 - line));
                    line = next;
                }
            }
            // Lines added right after the range's last line are not inside it.
        }
        let start_new = new_start.unwrap_or(start);
        let end_new = new_end.max(start_new);
        if kept {
            Fate::Moved {
                file: new_file,
                start: start_new,
                end: end_new,
            }
        } else {
            Fate::Deleted {
                file: new_file,
                start: start_new,
                end: end_new,
            }
        }
    }

    /// The new number of old line `line`, which no block removed.
    fn map_kept(&self, f: &FileHunks, line: u64) -> u64 {
        let mut shift: i128 = 0;
        for b in &f.blocks {
            // A block entirely before the line (an insertion at `line` goes before it too).
            if b.old_start.saturating_add(b.old_len) <= line
                && !(b.old_len == 0 && b.old_start > line)
            {
                shift += i128::from(b.new_len) - i128::from(b.old_len);
            }
        }
        u64::try_from(i128::from(line) + shift)
            .unwrap_or(line)
            .max(1)
    }

    /// Whether the change added or removed a line within `start..=end` of `file` (new
    /// numbering, path after the change): "did this diff touch lines X..Y of file F?". A
    /// removal between two lines of the range counts; an added or deleted file counts whole,
    /// and so does a changed file without hunks (binary, or only its mode changed): which of
    /// its lines changed is unknown. A rename without hunks changed no line.
    #[must_use]
    pub fn touches(&self, file: &str, start: u64, end: u64) -> bool {
        let Some(f) = self.by_new.get(file).map(|&i| &self.files[i]) else {
            return false;
        };
        let renamed = f.old_path != f.new_path;
        if f.old_path.is_none() || f.binary || (f.blocks.is_empty() && !renamed) {
            return true;
        }
        if start == 0 {
            return !f.blocks.is_empty();
        }
        let end = end.max(start);
        f.blocks.iter().any(|b| {
            if b.new_len > 0 {
                b.new_start <= end && start < b.new_start.saturating_add(b.new_len)
            } else {
                // A pure removal sits before new line `new_start`: inside if between two
                // lines of the range.
                start < b.new_start && b.new_start <= end
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A diff of `f.rs`: git's text for the old and new contents given as lines.
    fn diff(old: &[&str], new: &[&str]) -> DiffHunks {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, old.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
        std::fs::write(&b, new.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
        let out = std::process::Command::new("git")
            .args(["diff", "--no-index", "--no-ext-diff"])
            .arg(&a)
            .arg(&b)
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let a = a.to_string_lossy().trim_start_matches('/').to_owned();
        let b = b.to_string_lossy().trim_start_matches('/').to_owned();
        DiffHunks::parse(
            &text
                .replace(&format!("a/{a}"), "a/f.rs")
                .replace(&format!("b/{b}"), "b/f.rs"),
        )
    }

    fn lines(n: u32) -> Vec<String> {
        (1..=n).map(|i| format!("line {i}")).collect()
    }

    fn moved(start: u64, end: u64) -> Fate {
        Fate::Moved {
            file: "f.rs".into(),
            start,
            end,
        }
    }

    #[test]
    fn lines_inserted_above_move_the_range_down() {
        let old = lines(20);
        let mut new = old.clone();
        new.splice(2..2, ["a".to_owned(), "b".to_owned(), "c".to_owned()]);
        let old: Vec<&str> = old.iter().map(String::as_str).collect();
        let new: Vec<&str> = new.iter().map(String::as_str).collect();
        let d = diff(&old, &new);
        assert_eq!(d.follow("f.rs", 10, 12), moved(13, 15));
        assert_eq!(d.follow("f.rs", 1, 2), moved(1, 2));
        assert_eq!(d.follow("other.rs", 10, 12), Fate::Untouched);
        assert!(d.touches("f.rs", 3, 3));
        assert!(d.touches("f.rs", 1, 4));
        assert!(!d.touches("f.rs", 6, 20));
        assert!(!d.touches("other.rs", 1, 100));
    }

    #[test]
    fn lines_removed_above_move_the_range_up() {
        let old = lines(20);
        let mut new = old.clone();
        new.drain(0..4);
        let old: Vec<&str> = old.iter().map(String::as_str).collect();
        let new: Vec<&str> = new.iter().map(String::as_str).collect();
        let d = diff(&old, &new);
        assert_eq!(d.follow("f.rs", 10, 12), moved(6, 8));
        // A removal counts as touching the lines around it.
        assert!(!d.touches("f.rs", 1, 9));
    }

    #[test]
    fn deleting_the_lines_makes_them_deleted() {
        let old = lines(20);
        let mut new = old.clone();
        new.drain(9..12); // lines 10..=12
        let old: Vec<&str> = old.iter().map(String::as_str).collect();
        let new: Vec<&str> = new.iter().map(String::as_str).collect();
        let d = diff(&old, &new);
        assert!(matches!(
            d.follow("f.rs", 10, 12),
            Fate::Deleted { start: 10, .. }
        ));
        assert!(matches!(d.follow("f.rs", 11, 11), Fate::Deleted { .. }));
        // Partly deleted: what is left stays.
        assert_eq!(d.follow("f.rs", 8, 11), moved(8, 9));
        assert_eq!(d.follow("f.rs", 15, 16), moved(12, 13));
        // The removal sits between new lines 9 and 10.
        assert!(d.touches("f.rs", 9, 10));
        assert!(!d.touches("f.rs", 10, 12));
    }

    #[test]
    fn an_edit_inside_the_range_keeps_it_and_resizes_it() {
        let old = lines(20);
        let mut new = old.clone();
        new.splice(
            10..11,
            ["x".to_owned(), "y".to_owned(), "z".to_owned()], // line 11 -> 3 lines
        );
        let old: Vec<&str> = old.iter().map(String::as_str).collect();
        let new: Vec<&str> = new.iter().map(String::as_str).collect();
        let d = diff(&old, &new);
        assert_eq!(d.follow("f.rs", 10, 12), moved(10, 14));
        assert_eq!(d.follow("f.rs", 15, 15), moved(17, 17));
        // The one line replaced: the lines it pointed at are gone.
        assert!(matches!(
            d.follow("f.rs", 11, 11),
            Fate::Deleted {
                start: 11,
                end: 13,
                ..
            }
        ));
        assert!(d.touches("f.rs", 12, 12));
        assert!(!d.touches("f.rs", 14, 20));
    }

    #[test]
    fn renames_deletions_and_quoted_paths() {
        let text = "diff --git a/old.rs b/new.rs\nsimilarity index 100%\nrename from old.rs\nrename to new.rs\n\
diff --git a/gone.rs b/gone.rs\ndeleted file mode 100644\n--- a/gone.rs\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-a\n-b\n\
diff --git \"a/t\\tab.rs\" \"b/t\\tab.rs\"\n--- \"a/t\\tab.rs\"\n+++ \"b/t\\tab.rs\"\n@@ -1 +1 @@\n-x\n+y\n\
diff --git a/new.txt b/new.txt\nnew file mode 100644\n--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1 @@\n+hi\n";
        let d = DiffHunks::parse(text);
        assert_eq!(
            d.follow("old.rs", 3, 4),
            Fate::Moved {
                file: "new.rs".into(),
                start: 3,
                end: 4
            }
        );
        assert!(matches!(d.follow("gone.rs", 1, 1), Fate::Deleted { .. }));
        assert!(matches!(d.follow("t\tab.rs", 1, 1), Fate::Deleted { .. }));
        assert!(d.touches("t\tab.rs", 1, 1));
        assert!(d.touches("new.txt", 0, 0));
        assert!(!d.touches("new.rs", 1, 1));
    }

    #[test]
    fn garbage_never_panics() {
        for text in [
            "",
            "@@ -1 +1 @@\n-x\n",
            "diff --git a b\n@@ -99999999999999999999 +1 @@\n-x\n",
            "diff --git a b\n@@ -0,0 +0,0 @@\n+\n-\n",
            "diff --git \"a/\\",
        ] {
            let d = DiffHunks::parse(text);
            let _ = d.follow("a", 1, u64::MAX - 1);
            let _ = d.touches("b", 0, u64::MAX);
        }
    }

    #[test]
    fn a_changed_file_without_hunks_counts_whole() {
        let d = DiffHunks::parse(
            "diff --git a/img.bin b/img.bin\nindex 1..2 100644\n\
             Binary files a/img.bin and b/img.bin differ\n\
             diff --git \"a/sp ace b/x\" \"b/sp ace b/x\"\nold mode 100644\nnew mode 100755\n\
             diff --git a/new.bin b/new.bin\nnew file mode 100644\nindex 0..3\n\
             Binary files /dev/null and b/new.bin differ\n\
             diff --git a/gone.bin b/gone.bin\ndeleted file mode 100644\n\
             Binary files a/gone.bin and /dev/null differ\n\
             diff --git a/old.bin b/moved.bin\nsimilarity index 90%\nrename from old.bin\n\
             rename to moved.bin\nindex 1..2 100644\nBinary files a/old.bin and b/moved.bin differ\n",
        );
        for f in ["img.bin", "sp ace b/x", "new.bin", "moved.bin"] {
            assert!(d.touches(f, 7, 9), "{f}");
            assert!(d.touches(f, 0, 0), "{f}");
        }
        assert!(!d.touches("gone.bin", 1, 1));
        assert_eq!(d.files()[2].old_path, None);
        assert_eq!(d.files()[3].new_path, None);
        assert!(!d.touches("other", 1, 1));
    }

    #[test]
    fn the_header_of_a_renamed_file_names_no_path() {
        assert_eq!(same_path("a/x b/y"), None);
        assert_eq!(same_path("a/x b/x"), Some("x".into()));
        assert_eq!(same_path("a/a b/a b/a b/a"), Some("a b/a".into()));
    }
}
