//! The one shape of a finding: what Codex reports (severity, category, place, texts,
//! confidence). Codex's answer parses into it, the store keeps it inside a [`FindingRow`],
//! and the prompt and the wire convert from the row with `From`, so a new field is added to
//! this struct and its conversions, nowhere else.
//!
//! # Identity
//!
//! Codex rewords a finding it reports again and points at lines that moved, so neither the
//! title nor the line numbers say "the same finding". Two findings are the same problem when
//! ([`same_problem`]):
//!
//! 1. they are in the same file and the same category, and
//! 2. they are at the same place: their *fingerprint* is equal (a hash of the file, the
//!    category and the normalised text of the lines the finding points at, read from the
//!    reviewed tree: whitespace runs collapsed, blank lines dropped, so re-indenting or moving
//!    the code keeps it), or their line ranges overlap (a stored finding's lines follow later
//!    edits, see `snapshot::hunks`, so they are in the same numbering as a new report), and
//!    their titles share at least two fifths of their words ([`title_words`]); or
//! 3. at least one of them is about no lines (the file or the change as a whole) and their
//!    titles share at least half of their words.
//!
//! Two findings at different places in one file are never the same, even with the same title:
//! the same kind of mistake made twice is two findings. A title's words are normalised so a
//! rewording still matches: lower case, hyphens and underscores joined (`hard-coded` =
//! `hardcoded`), common English words and numbers dropped, a plural or verb ending cut
//! (`strings`, `hardcoded` and `hardcoding` keep their stem), the mark of a cut title dropped.
//!
//! What happens to a stored finding reported again (updated, kept dismissed, reopened) is in
//! `store::findings::merge`; Codex also names the listed findings that are still there in
//! `still_open_ids`, so a carried-over finding need not be recognised at all.

use cxd_proto::domain::Severity;
use cxd_proto::limits::{self, truncate};
use cxd_proto::status;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::codex::prompt::{DisputedFinding, OpenFinding};
use crate::store::findings::FindingRow;

/// A finding's content, as Codex reports it and the store keeps it (the store adds its id,
/// status and the reviews that saw it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// critical | high | medium | low | info (an unknown word fails the parse)
    pub severity: Severity,
    /// bug | security | performance | edge-case | architecture | test | style
    pub category: String,
    /// Path relative to the root, or "" for the change as a whole.
    pub file: String,
    /// First line (0 when not about a line).
    pub line_start: i64,
    /// Last line (equal to `line_start` for one line).
    pub line_end: i64,
    /// The finding in one line, for lists and the hooks.
    pub title: String,
    /// What is wrong and why it matters, a paragraph or so.
    pub body: String,
    /// How to fix it.
    pub recommendation: String,
    /// How sure Codex is, from 0 to 1 (parsing refuses anything outside).
    pub confidence: f64,
}

impl Finding {
    /// Where it points, as people read it: `file:line`, `file`, or "".
    pub fn location(&self) -> String {
        location(&self.file, self.line_start)
    }
}

/// `file:line` when `line` is positive, `file` when it is 0, "" when `file` is empty.
pub fn location(file: &str, line: i64) -> String {
    match (file.is_empty(), line > 0) {
        (true, _) => String::new(),
        (false, true) => format!("{file}:{line}"),
        (false, false) => file.to_owned(),
    }
}

/// Words that say nothing about which problem a title names.
const STOP_WORDS: &[&str] = &[
    "a", "an", "the", "is", "are", "was", "be", "been", "being", "of", "in", "on", "at", "to",
    "for", "from", "by", "with", "and", "or", "but", "not", "no", "this", "that", "these", "those",
    "it", "its", "as", "when", "which", "while", "into", "can", "could", "may", "might", "should",
    "would", "will", "does", "do", "has", "have", "had", "than", "then", "there", "here", "if",
    "so", "still", "yet", "also", "very", "line", "lines",
];

/// A title's words as identity compares them: sorted, without duplicates (see the module
/// documentation for what is normalised).
pub fn title_words(title: &str) -> Vec<String> {
    // The mark of a title cut at the stored size says nothing about the problem.
    let title = title.strip_suffix(limits::TRUNCATED).unwrap_or(title);
    let joined: String = title
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | '\'' | '\u{2019}'))
        .flat_map(char::to_lowercase)
        .collect();
    let mut words: Vec<String> = joined
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !w.chars().all(|c| c.is_ascii_digit()))
        .filter(|w| !STOP_WORDS.contains(w))
        .map(stem)
        .collect();
    words.sort_unstable();
    words.dedup();
    words
}

/// A word without its plural or verb ending and a final `e`, when enough of it is left to
/// mean something (`hardcode`, `hardcoded` and `hardcoding` are `hardcod`; `unwrapped` is
/// `unwrap`).
fn stem(word: &str) -> String {
    let mut w = word.to_owned();
    for suffix in ["ing", "ed", "es", "s", "ly"] {
        if let Some(rest) = word.strip_suffix(suffix)
            && rest.chars().count() >= 4
        {
            w = rest.to_owned();
            // A doubled final consonant (`unwrapp`, `stopp`) is one.
            let mut tail = w.chars().rev();
            if let (Some(a), Some(b)) = (tail.next(), tail.next())
                && a == b
                && !"aeiouls".contains(a)
            {
                w.pop();
            }
            break;
        }
    }
    if w.chars().count() >= 5 && w.ends_with('e') {
        w.pop();
    }
    w
}

/// How alike two titles are: the share of their words they have in common (0..=1).
pub fn title_likeness(a: &[String], b: &[String]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let common = a.iter().filter(|w| b.binary_search(w).is_ok()).count();
    let all = a.len() + b.len() - common;
    common as f64 / all as f64
}

/// Lines as the fingerprint reads them: each trimmed with its whitespace runs collapsed,
/// blank ones dropped.
pub fn normalised_lines(text: &str) -> String {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The fingerprint of a finding at `file` in `category` pointing at lines whose text is
/// `lines` (None when it points at no lines, or they could not be read: then it has none).
pub fn fingerprint(file: &str, category: &str, lines: Option<&str>) -> Option<String> {
    let text = normalised_lines(lines?);
    if file.is_empty() || text.is_empty() {
        return None;
    }
    let mut h = Sha256::new();
    for part in [file, category, &text] {
        h.update(part.len().to_le_bytes());
        h.update(part.as_bytes());
    }
    Some(
        h.finalize()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

/// A finding and its fingerprint: what identity compares.
#[derive(Debug, Clone, Copy)]
pub struct Placed<'a> {
    /// What it says and where.
    pub finding: &'a Finding,
    /// Its fingerprint, if it points at lines that could be read.
    pub fingerprint: Option<&'a str>,
}

/// Whether two findings name the same problem (see the module documentation).
pub fn same_problem(a: Placed<'_>, b: Placed<'_>) -> bool {
    let (fa, fb) = (a.finding, b.finding);
    if fa.file != fb.file || fa.category != fb.category {
        return false;
    }
    let likeness = title_likeness(&title_words(&fa.title), &title_words(&fb.title));
    let about_lines = |f: &Finding| f.line_start > 0;
    if !about_lines(fa) || !about_lines(fb) {
        return likeness >= 0.5;
    }
    let same_text = matches!((a.fingerprint, b.fingerprint), (Some(x), Some(y)) if x == y);
    let overlap = fa.line_start <= fb.line_end.max(fb.line_start)
        && fb.line_start <= fa.line_end.max(fa.line_start);
    (same_text || overlap) && likeness >= 0.4
}

/// A stored finding as the wire shows it. Sizes are capped again here, for rows stored before
/// answers were capped on the way in: one finding must never outgrow an answer.
impl From<&FindingRow> for status::Finding {
    fn from(row: &FindingRow) -> Self {
        let f = &row.finding;
        Self {
            id: row.public_id(),
            severity: f.severity,
            category: f.category.clone(),
            file: if f.file.len() > limits::MAX_FILE {
                String::new()
            } else {
                f.file.clone()
            },
            line_start: f.line_start,
            line_end: f.line_end,
            title: truncate(&f.title, limits::MAX_TITLE).into_owned(),
            body: truncate(&f.body, limits::MAX_BODY).into_owned(),
            recommendation: truncate(&f.recommendation, limits::MAX_RECOMMENDATION).into_owned(),
            confidence: f.confidence,
            status: row.status,
            first_review: row.first_review,
            last_review: row.last_review,
            seen: row.seen,
            outdated: row.outdated,
            dispute: row.dispute.as_ref().map(|d| status::Dispute {
                by: d.by,
                reason: truncate(&d.reason, limits::MAX_DISPUTE_REASON).into_owned(),
                at: d.at.clone(),
                ruling: d.ruling,
                reply: d
                    .reply
                    .as_ref()
                    .map(|r| truncate(r, limits::MAX_REPLY).into_owned()),
                review: d.review,
            }),
        }
    }
}

/// An open finding as a prompt lists it, for Codex to say which are fixed.
impl From<&FindingRow> for OpenFinding {
    fn from(row: &FindingRow) -> Self {
        Self {
            id: row.public_id(),
            severity: row.finding.severity,
            location: row.finding.location(),
            title: row.finding.title.clone(),
            outdated: row.outdated,
        }
    }
}

/// A finding whose dispute waits for a ruling, as a prompt lists it (None: nothing to rule on).
pub fn disputed(row: &FindingRow) -> Option<DisputedFinding> {
    let d = row.pending_dispute()?;
    Some(DisputedFinding {
        finding: OpenFinding::from(row),
        by: d.by,
        reason: d.reason.clone(),
    })
}

#[cfg(test)]
mod tests {
    use cxd_proto::domain::FindingStatus;

    use super::*;

    fn row(file: &str, text: &str) -> FindingRow {
        FindingRow {
            id: 7,
            workspace_id: 1,
            finding: Finding {
                severity: Severity::High,
                category: "bug".into(),
                file: file.into(),
                line_start: 3,
                line_end: 4,
                title: text.into(),
                body: text.into(),
                recommendation: text.into(),
                confidence: 0.5,
            },
            status: FindingStatus::Open,
            first_review: 1,
            last_review: 2,
            status_note: None,
            fingerprint: None,
            seen: 2,
            outdated: true,
            dispute: None,
        }
    }

    #[test]
    fn the_wire_and_the_prompt_convert_from_a_stored_row() {
        let w = status::Finding::from(&row("src/a.rs", "leak"));
        assert_eq!(
            (
                w.id.as_str(),
                w.file.as_str(),
                w.line_start,
                w.title.as_str()
            ),
            ("F7", "src/a.rs", 3, "leak")
        );
        assert_eq!(
            (w.status, w.first_review, w.last_review),
            (FindingStatus::Open, 1, 2)
        );
        let p = OpenFinding::from(&row("src/a.rs", "leak"));
        assert_eq!((p.id.as_str(), p.location.as_str()), ("F7", "src/a.rs:3"));
        assert_eq!(OpenFinding::from(&row("", "t")).location, "");
    }

    /// A row stored before answers were capped on the way in still fits an answer.
    #[test]
    fn the_wire_caps_an_oversized_stored_row() {
        let huge = "é".repeat(50_000);
        let w = status::Finding::from(&row(&"d/".repeat(limits::MAX_FILE), &huge));
        assert_eq!(w.file, "");
        assert!(w.title.len() <= limits::MAX_TITLE);
        assert!(w.body.len() <= limits::MAX_BODY);
        assert!(w.recommendation.len() <= limits::MAX_RECOMMENDATION);
    }
}

#[cfg(test)]
mod identity_tests {
    use super::*;

    fn at(file: &str, category: &str, lines: (i64, i64), title: &str) -> Finding {
        Finding {
            severity: Severity::Medium,
            category: category.into(),
            file: file.into(),
            line_start: lines.0,
            line_end: lines.1,
            title: title.into(),
            body: String::new(),
            recommendation: String::new(),
            confidence: 0.5,
        }
    }

    fn same(a: (&Finding, &str), b: (&Finding, &str)) -> bool {
        let fp = |f: &Finding, text: &str| fingerprint(&f.file, &f.category, Some(text));
        let (pa, pb) = (fp(a.0, a.1), fp(b.0, b.1));
        same_problem(
            Placed {
                finding: a.0,
                fingerprint: pa.as_deref(),
            },
            Placed {
                finding: b.0,
                fingerprint: pb.as_deref(),
            },
        )
    }

    const CODE: &str = "fn greet() {\n    println!(\"Hello, world\");\n}\n";

    #[test]
    fn a_reworded_title_is_the_same_finding() {
        let a = at("src/main.rs", "style", (2, 2), "Greeting text is hardcoded");
        for title in [
            "Hard-coded greeting text",
            "The greeting string is hardcoded in main",
            "greeting TEXT hardcoding",
        ] {
            let b = at("src/main.rs", "style", (2, 2), title);
            assert!(same((&a, CODE), (&b, CODE)), "{title}");
        }
        assert_eq!(
            title_words("The greeting strings are hard-coded (line 42)"),
            ["greet", "hardcod", "string"]
        );
        assert_eq!(
            title_words("hardcode hardcoding unwrapped unwrap stores store"),
            ["hardcod", "stor", "unwrap"]
        );
        assert_eq!(title_words(&format!("cut {}", limits::TRUNCATED)), ["cut"]);
        // One distinguishing word of three in common is another finding.
        let t1 = at("src/main.rs", "style", (2, 2), "T0-1 tttttttt");
        let t2 = at("src/main.rs", "style", (2, 2), "T0-2 tttttttt");
        assert!(!same((&t1, CODE), (&t2, CODE)));
    }

    #[test]
    fn shifted_lines_with_the_same_text_are_the_same_finding() {
        let a = at("src/main.rs", "bug", (2, 3), "Greeting text is hardcoded");
        let b = at("src/main.rs", "bug", (12, 13), "Hardcoded greeting text");
        // Re-indented, and a blank line in between: the text is the same.
        let moved = "  fn   greet() {\n\n        println!(\"Hello, world\");\n}";
        assert!(same((&a, CODE), (&b, moved)));
        assert_eq!(
            fingerprint("src/main.rs", "bug", Some(CODE)),
            fingerprint("src/main.rs", "bug", Some(moved))
        );
        // Other text elsewhere: another place.
        assert!(!same((&a, CODE), (&b, "let x = 1;")));
    }

    #[test]
    fn two_problems_in_one_file_stay_two() {
        let a = at("src/main.rs", "bug", (2, 2), "Greeting text is hardcoded");
        // Same lines, another problem.
        let b = at(
            "src/main.rs",
            "bug",
            (2, 2),
            "Unchecked unwrap panics on bad input",
        );
        assert!(!same((&a, CODE), (&b, CODE)));
        // The same kind of mistake at two places.
        let c = at("src/main.rs", "bug", (10, 10), "Missing null check on user");
        let d = at("src/main.rs", "bug", (50, 50), "Missing null check on user");
        assert!(!same((&c, "user.name"), (&d, "order.total")));
        // Another file or category.
        let e = at("src/lib.rs", "bug", (2, 2), "Greeting text is hardcoded");
        assert!(!same((&a, CODE), (&e, CODE)));
        let f = at("src/main.rs", "style", (2, 2), "Greeting text is hardcoded");
        assert!(!same((&a, CODE), (&f, CODE)));
    }

    #[test]
    fn findings_about_no_lines_compare_by_title() {
        let a = at("", "architecture", (0, 0), "Plan skips the migration step");
        let b = at("", "architecture", (0, 0), "The plan skips migrations");
        let c = at("", "architecture", (0, 0), "No tests for the parser");
        assert!(same((&a, ""), (&b, "")));
        assert!(!same((&a, ""), (&c, "")));
        assert_eq!(fingerprint("", "bug", Some("x")), None);
        assert_eq!(fingerprint("a.rs", "bug", Some("  \n ")), None);
    }
}
