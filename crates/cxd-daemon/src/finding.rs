//! The one shape of a finding: what Codex reports (severity, category, place, texts,
//! confidence). Codex's answer parses into it, the store keeps it inside a [`FindingRow`],
//! and the prompt and the wire convert from the row with `From`, so a new field is added to
//! this struct and its conversions, nowhere else.

use cxd_proto::domain::Severity;
use cxd_proto::limits::{self, truncate};
use cxd_proto::status;
use serde::{Deserialize, Serialize};

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
