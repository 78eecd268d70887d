//! Bounds on what Codex may put in a finding: sizes that keep answers under the frame limit
//! and prompts small, and locations that stay inside the repository. The daemon applies them
//! when it records an answer; exports apply them again to what older versions stored.

use std::borrow::Cow;
use std::path::{Component, Path};

use crate::status::Finding;

/// Most bytes of a finding's title kept.
pub const MAX_TITLE: usize = 300;
/// Most bytes of a finding's body kept.
pub const MAX_BODY: usize = 8 * 1024;
/// Most bytes of a finding's recommendation kept.
pub const MAX_RECOMMENDATION: usize = 8 * 1024;
/// Most bytes of a finding's file path kept (a longer one is dropped, not cut).
pub const MAX_FILE: usize = 1024;
/// Most bytes of a review's summary kept.
pub const MAX_SUMMARY: usize = 8 * 1024;
/// Most bytes kept of a final message that did not match the schema.
pub const MAX_RAW_ANSWER: usize = 16 * 1024;
/// Most bytes kept of a failure message Codex printed (its stderr tail is kept besides).
pub const MAX_ERROR: usize = 16 * 1024;
/// Most bytes of a dispute's reason accepted (a longer one is refused, not cut: the disputer
/// is there to shorten it).
pub const MAX_DISPUTE_REASON: usize = 4 * 1024;
/// Why a dispute's reason is refused (empty, or over [`MAX_DISPUTE_REASON`]): the client
/// says so before sending, the daemon again before recording.
pub fn check_dispute_reason(reason: &str) -> Result<(), String> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err("the reason is empty: say why the finding is wrong (--reason TEXT)".into());
    }
    if reason.len() > MAX_DISPUTE_REASON {
        return Err(format!(
            "the reason is {} bytes; at most {MAX_DISPUTE_REASON} are accepted: shorten it to the argument Codex should weigh",
            reason.len()
        ));
    }
    Ok(())
}

/// Most bytes of Codex's reply to a dispute kept.
pub const MAX_REPLY: usize = 1024;
/// The highest line number a finding may point at; beyond it the finding has no lines.
pub const MAX_LINE: i64 = 10_000_000;

/// Bytes of findings one answer carries at most: far under [`crate::MAX_FRAME`], leaving room
/// for the rest of the answer. A finding within the caps above is under 20 KiB, so one always fits.
pub const PAGE_BYTES: usize = 2 * 1024 * 1024;

/// An upper estimate of a finding's encoded size on the wire.
pub fn wire_size(f: &Finding) -> usize {
    [
        f.id.as_str(),
        f.severity.as_str(),
        &f.category,
        &f.file,
        &f.title,
        &f.body,
        &f.recommendation,
        f.status.as_str(),
    ]
    .iter()
    .map(|s| s.len() + 10)
    .sum::<usize>()
        + 64
        + f.dispute.as_ref().map_or(0, |d| {
            d.reason.len() + d.at.len() + d.reply.as_ref().map_or(0, String::len) + 64
        })
}

/// How many of `findings`, from the first, fit in `budget` bytes (at least one, so that a
/// paged reader always moves on).
pub fn fitting(findings: &[Finding], budget: usize) -> usize {
    let mut used = 0;
    for (i, f) in findings.iter().enumerate() {
        used += wire_size(f);
        if used > budget {
            return i.max(1);
        }
    }
    findings.len()
}

/// What a cut text ends with.
pub const TRUNCATED: &str = "… [truncated]";

/// `text` cut to at most `max` bytes at a char boundary, ending in [`TRUNCATED`] when cut.
pub fn truncate(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max.saturating_sub(TRUNCATED.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}{TRUNCATED}", &text[..end]))
}

/// A finding's file as a path relative to the repository root, `/`-separated, or None when
/// it cannot be one: outside the root (`../..`, an absolute path elsewhere), a NUL byte, or
/// longer than [`MAX_FILE`]. `""` (the change as a whole) stays `""`. An absolute path inside
/// `root` is made relative.
pub fn normalize_file(file: &str, root: Option<&Path>) -> Option<String> {
    if file.is_empty() {
        return Some(String::new());
    }
    if file.len() > MAX_FILE || file.contains('\0') {
        return None;
    }
    let path = Path::new(file);
    let relative = if path.is_absolute() {
        path.strip_prefix(root?).ok()?
    } else {
        path
    };
    let mut parts: Vec<&str> = Vec::new();
    for component in relative.components() {
        match component {
            Component::Normal(p) => parts.push(p.to_str()?),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(parts.join("/"))
}

/// Sane lines: a start in `1..=MAX_LINE` and an end from the start to `MAX_LINE`; `(0, 0)`
/// (not about lines) when the start is out of range.
pub fn normalize_lines(start: i64, end: i64) -> (i64, i64) {
    if !(1..=MAX_LINE).contains(&start) {
        return (0, 0);
    }
    let end = if (start..=MAX_LINE).contains(&end) {
        end
    } else {
        start
    };
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_cuts_at_a_char_boundary_with_a_marker() {
        assert_eq!(truncate("short", 10), "short");
        let long = "é".repeat(400);
        let cut = truncate(&long, MAX_TITLE);
        assert!(cut.len() <= MAX_TITLE, "{}", cut.len());
        assert!(cut.ends_with(TRUNCATED));
        assert!(cut.starts_with("éé"));
    }

    #[test]
    fn files_stay_inside_the_repository() {
        let root = Some(Path::new("/work/repo"));
        assert_eq!(normalize_file("", root).as_deref(), Some(""));
        assert_eq!(
            normalize_file("./src/a.rs", root).as_deref(),
            Some("src/a.rs")
        );
        assert_eq!(normalize_file("src/../b.rs", root).as_deref(), Some("b.rs"));
        assert_eq!(
            normalize_file("/work/repo/src/a.rs", root).as_deref(),
            Some("src/a.rs")
        );
        assert_eq!(normalize_file("/work/repo/src/a.rs", None), None);
        for bad in [
            "../../etc/passwd",
            "src/../../x",
            "/etc/passwd",
            "/work/repository/a",
            "a\0b",
            ".",
        ] {
            assert_eq!(normalize_file(bad, root), None, "{bad:?}");
        }
        assert_eq!(normalize_file(&"a".repeat(MAX_FILE + 1), root), None);
        assert_eq!(
            normalize_file("odd\nname`.rs", root).as_deref(),
            Some("odd\nname`.rs")
        );
    }

    #[test]
    fn lines_are_sane() {
        assert_eq!(normalize_lines(3, 5), (3, 5));
        assert_eq!(normalize_lines(5, 3), (5, 5));
        assert_eq!(normalize_lines(0, 9), (0, 0));
        assert_eq!(normalize_lines(-4, 9), (0, 0));
        assert_eq!(normalize_lines(i64::MAX, i64::MAX), (0, 0));
        assert_eq!(normalize_lines(7, i64::MAX), (7, 7));
    }
}
