//! A review's findings merged into those stored: a finding Codex reports again is the stored
//! one (see [`crate::finding`] for what "the same" means), never a second copy.
//!
//! - open: updated (its texts, lines and fingerprint are the new report's; `seen` and
//!   `last_review` go up);
//! - dismissed: stays dismissed, counted (`seen`, `last_review`), not shown as new;
//! - resolved: reopened, and the result says so;
//! - none: a new finding is opened.
//!
//! Ids Codex lists in `still_open_ids` are counted like a re-report of an open finding; an id
//! that names no open finding of the workspace is ignored with a warning.

use cxd_proto::domain::FindingStatus;
use rusqlite::{Connection, params};

use super::{COLUMNS, FindingRow, from_row, open_one, parse_id};
use crate::finding::{Finding, Placed, same_problem};
use crate::store::StoreError;

/// A finding from Codex's answer, with the fingerprint of the lines it points at.
#[derive(Debug, Clone, PartialEq)]
pub struct Reported {
    /// What Codex said (capped and made relative already).
    pub finding: Finding,
    /// [`crate::finding::fingerprint`] of its lines in the reviewed tree.
    pub fingerprint: Option<String>,
}

/// What merging did, by row id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Merged {
    /// New findings.
    pub opened: Vec<i64>,
    /// Open findings reported again or listed as still open.
    pub carried: Vec<i64>,
    /// Resolved findings reported again: open once more.
    pub reopened: Vec<i64>,
    /// Dismissed findings reported again: still dismissed.
    pub dismissed_seen: Vec<i64>,
    /// `still_open_ids` that name no open finding of the workspace.
    pub ignored: Vec<String>,
}

/// Merge `reported` and `still_open` (public ids) into the findings of `workspace_id`, as
/// review `review` finishing at `at` saw them.
pub fn merge(
    conn: &Connection,
    workspace_id: i64,
    review: i64,
    at: &str,
    reported: &[Reported],
    still_open: &[String],
) -> Result<Merged, StoreError> {
    let mut merged = Merged::default();
    for text in still_open {
        let row = match parse_id(text) {
            Some(id) => super::get(conn, id)?,
            None => None,
        };
        match row {
            Some(row) if row.workspace_id == workspace_id && row.status == FindingStatus::Open => {
                seen_again(conn, &row, review)?;
                push_new(&mut merged.carried, row.id);
            }
            _ => {
                tracing::warn!(id = %text, "Codex listed a still-open id that names no open finding of this workspace; ignored");
                merged.ignored.push(text.clone());
            }
        }
    }
    for r in reported {
        let Some(row) = best_match(conn, workspace_id, r)? else {
            merged.opened.push(open_one(
                conn,
                workspace_id,
                review,
                &r.finding,
                r.fingerprint.as_deref(),
            )?);
            continue;
        };
        match row.status {
            FindingStatus::Open => {
                update(conn, &row, r, review, None)?;
                if !merged.opened.contains(&row.id) {
                    push_new(&mut merged.carried, row.id);
                }
            }
            // Closed by the user, or withdrawn by Codex after a dispute: raising it again does
            // not reopen it (no flip-flop); it is counted.
            FindingStatus::Dismissed | FindingStatus::Withdrawn => {
                seen_again(conn, &row, review)?;
                push_new(&mut merged.dismissed_seen, row.id);
            }
            FindingStatus::Resolved => {
                update(conn, &row, r, review, Some(at))?;
                push_new(&mut merged.reopened, row.id);
            }
        }
    }
    Ok(merged)
}

fn push_new(ids: &mut Vec<i64>, id: i64) {
    if !ids.contains(&id) {
        ids.push(id);
    }
}

/// Most stored findings (the newest) a report is compared with: a file with years of closed
/// findings must not make every review slower.
const MAX_CANDIDATES: usize = 1000;

/// The stored finding `r` names again: an open one first, else the newest closed one.
fn best_match(
    conn: &Connection,
    workspace_id: i64,
    r: &Reported,
) -> Result<Option<FindingRow>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM findings WHERE workspace_id = ?1 AND file = ?2 AND category = ?3
             ORDER BY id DESC LIMIT {MAX_CANDIDATES}"
        ))
        .map_err(StoreError::query("match findings"))?;
    let rows: Vec<FindingRow> = stmt
        .query_map(
            params![workspace_id, r.finding.file, r.finding.category],
            from_row,
        )
        .and_then(Iterator::collect)
        .map_err(StoreError::query("match findings"))?;
    let new = Placed {
        finding: &r.finding,
        fingerprint: r.fingerprint.as_deref(),
    };
    let mut same = rows.into_iter().filter(|row| {
        same_problem(
            new,
            Placed {
                finding: &row.finding,
                fingerprint: row.fingerprint.as_deref(),
            },
        )
    });
    let first = same.next();
    if first
        .as_ref()
        .is_some_and(|f| f.status == FindingStatus::Open)
    {
        return Ok(first);
    }
    Ok(same.find(|f| f.status == FindingStatus::Open).or(first))
}

/// `row` seen by `review`: counted once per review.
fn seen_again(conn: &Connection, row: &FindingRow, review: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE findings SET seen = seen + (last_review <> ?2), last_review = ?2, outdated = 0
         WHERE id = ?1",
        params![row.id, review],
    )
    .map_err(StoreError::query("count a finding seen again"))?;
    Ok(())
}

/// `row` takes the new report's texts, lines and fingerprint (and is reopened when `reopen_at`).
fn update(
    conn: &Connection,
    row: &FindingRow,
    r: &Reported,
    review: i64,
    reopen_at: Option<&str>,
) -> Result<(), StoreError> {
    let f = &r.finding;
    conn.execute(
        "UPDATE findings SET severity = ?2, line_start = ?3, line_end = ?4, title = ?5, body = ?6,
             recommendation = ?7, confidence = ?8, fingerprint = ?9,
             seen = seen + (last_review <> ?10), last_review = ?10, outdated = 0,
             status = CASE WHEN ?11 IS NULL THEN status ELSE ?12 END,
             status_note = CASE WHEN ?11 IS NULL THEN status_note ELSE NULL END,
             status_at = COALESCE(?11, status_at)
         WHERE id = ?1",
        params![
            row.id,
            f.severity,
            f.line_start,
            f.line_end,
            f.title,
            f.body,
            f.recommendation,
            f.confidence,
            r.fingerprint,
            review,
            reopen_at,
            FindingStatus::Open,
        ],
    )
    .map_err(StoreError::query("update a finding reported again"))?;
    Ok(())
}
