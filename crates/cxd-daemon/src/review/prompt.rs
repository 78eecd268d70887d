//! The review and plan prompts.

use std::fmt::Write as _;

/// An open finding the prompt lists, so Codex can say which are fixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenFinding {
    /// Its id.
    pub id: String,
    /// Severity word.
    pub severity: String,
    /// `file:line` or "".
    pub location: String,
    /// One line.
    pub title: String,
}

/// One changed file, for the file list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedFile {
    /// Path relative to the root.
    pub path: String,
    /// added | modified | deleted | renamed | type_changed
    pub status: String,
    /// Lines added (None for binary).
    pub insertions: Option<u64>,
    /// Lines removed (None for binary).
    pub deletions: Option<u64>,
}

/// What a code review covers.
#[derive(Debug, Clone)]
pub struct ReviewInput<'a> {
    /// The changed files.
    pub files: &'a [ChangedFile],
    /// The unified diff, or None when it was too large to send.
    pub diff: Option<&'a str>,
    /// Open findings from earlier reviews.
    pub open: &'a [OpenFinding],
}

const ANSWER_RULES: &str = "Answer with one JSON object matching the given output schema, nothing else:
- verdict: \"approve\" when nothing at severity medium or above remains, else \"changes_requested\";
- summary: two or three sentences;
- findings: only NEW problems introduced by this change, each with severity (critical, high, medium, low, info), category (bug, security, performance, edge-case, architecture, test, style), file (relative path, or \"\" for the change as a whole), line_start and line_end (0 when not about lines), a one-line title, body (what is wrong and why), recommendation (the fix), confidence 0..1;
- fixed_finding_ids: the ids of the open findings listed below that this change fixes.
Do not repeat an open finding as a new one. Be concise; no praise, no restating the diff.";

fn open_findings(out: &mut String, open: &[OpenFinding]) {
    if open.is_empty() {
        out.push_str("\nThere are no open findings from earlier reviews.\n");
        return;
    }
    out.push_str("\nOpen findings from earlier reviews (list the ids this change fixes in fixed_finding_ids):\n");
    for f in open {
        let loc = if f.location.is_empty() {
            String::new()
        } else {
            format!(" {}", f.location)
        };
        let _ = writeln!(out, "- {} [{}]{loc}: {}", f.id, f.severity, f.title);
    }
}

/// The prompt for a code review of a change.
pub fn review(input: &ReviewInput<'_>) -> String {
    let mut out = String::from(
        "You are reviewing a change an AI coding agent just made in this repository. Your sandbox is read-only: read any file you need, change nothing.\n\
Look for bugs, security problems, performance problems, unhandled edge cases, architecture problems, missing or wrong tests, and departures from the codebase's own practices. Report only problems the change introduces or leaves unfixed; cite file and line.\n\n",
    );
    out.push_str(ANSWER_RULES);
    out.push('\n');
    open_findings(&mut out, input.open);
    let _ = writeln!(out, "\nChanged files ({}):", input.files.len());
    for f in input.files {
        let stat = match (f.insertions, f.deletions) {
            (Some(i), Some(d)) => format!("+{i} -{d}"),
            _ => "binary".into(),
        };
        let _ = writeln!(out, "- {} ({}, {stat})", f.path, f.status);
    }
    match input.diff {
        Some(diff) => {
            out.push_str("\nThe change as a unified diff:\n```diff\n");
            out.push_str(diff);
            if !diff.ends_with('\n') {
                out.push('\n');
            }
            out.push_str("```\n");
        }
        None => out.push_str(
            "\nThe diff is too large to include: read the changed files listed above in the working tree yourself (and `git diff` may help).\n",
        ),
    }
    out
}

/// The prompt for validating a plan before it is implemented.
pub fn plan(plan: &str, open: &[OpenFinding], revision: bool) -> String {
    let mut out = String::from(
        "You are validating an implementation plan an AI coding agent wrote for this repository, before any code is written. Your sandbox is read-only: read the code you need, change nothing.\n\
Check the plan for logic errors, missing edge cases, architecture flaws, security concerns and missing tests. Findings are about the plan: use file \"\" and lines 0 unless a concern is about a specific existing file.\n\n",
    );
    out.push_str(ANSWER_RULES);
    out.push('\n');
    if revision {
        out.push_str("\nThis is a revision of a plan you reviewed earlier in this conversation: say which earlier concerns it addresses.\n");
    }
    open_findings(&mut out, open);
    out.push_str("\nThe plan:\n<plan>\n");
    out.push_str(plan);
    out.push_str("\n</plan>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn review_prompt_has_the_diff_files_and_open_findings() {
        let files = [ChangedFile {
            path: "src/a.rs".into(),
            status: "modified".into(),
            insertions: Some(3),
            deletions: Some(1),
        }];
        let open = [OpenFinding {
            id: "F7".into(),
            severity: "high".into(),
            location: "src/a.rs:3".into(),
            title: "overflow".into(),
        }];
        let p = review(&ReviewInput {
            files: &files,
            diff: Some("--- a\n+++ b\n"),
            open: &open,
        });
        assert!(p.contains("- src/a.rs (modified, +3 -1)"));
        assert!(p.contains("- F7 [high] src/a.rs:3: overflow"));
        assert!(p.contains("```diff\n--- a\n+++ b\n```"));
        assert!(p.contains("fixed_finding_ids"));
        let p = review(&ReviewInput {
            files: &files,
            diff: None,
            open: &[],
        });
        assert!(p.contains("too large"));
        assert!(p.contains("no open findings"));
    }

    #[test]
    fn plan_prompt_wraps_the_plan() {
        let p = plan("1. do it", &[], true);
        assert!(p.contains("<plan>\n1. do it\n</plan>"));
        assert!(p.contains("revision"));
    }
}
