//! Findings: opened by a review, resolved by a later one, dismissed or reopened by the user.

use cxd_proto::domain::{FindingStatus, Severity};
use cxd_proto::status::SeverityCounts;
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use crate::finding::Finding;

mod dispute;
mod follow;
mod lifecycle;
mod merge;
mod scope;

pub use dispute::{
    DisputeRow, Ignored, NewDispute, RulingInput, Rulings, dispute, rule, unseen_disputes,
};
pub use follow::follow;
pub use lifecycle::{Changed, Refusal, UserChange, change_status};
pub use merge::{Merged, Reported, merge};
pub use scope::{mark_in_change, open_by_change, open_counts_by_change};

/// A stored finding: what Codex said plus where it is in its lifecycle.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingRow {
    /// Row id (shown as `F<id>`).
    pub id: i64,
    /// The `workspaces` row id of the workspace it was found in.
    pub workspace_id: i64,
    /// What Codex said (capped on the way in).
    pub finding: Finding,
    /// Where it is in its lifecycle: only open findings count and block.
    pub status: FindingStatus,
    /// The `reviews` row id of the review that opened it.
    pub first_review: i64,
    /// The last review that saw it (or resolved it).
    pub last_review: i64,
    /// The note given with the user's last status change, e.g. a dismissal's reason (None: none given).
    pub status_note: Option<String>,
    /// Its newest dispute, ruled on or not.
    pub dispute: Option<DisputeRow>,
    /// The fingerprint of the lines it points at ([`crate::finding::fingerprint`]); None for
    /// a finding about no lines, or stored before fingerprints existed.
    pub fingerprint: Option<String>,
    /// How many reviews reported it (the first one included).
    pub seen: u64,
    /// The lines it pointed at were deleted by a later change: still open, and the next
    /// review is asked about it explicitly.
    pub outdated: bool,
}

impl FindingRow {
    /// The id users type: `F12`.
    pub fn public_id(&self) -> String {
        public_id(self.id)
    }

    /// Its dispute waiting for a ruling, if it is open and has one.
    pub fn pending_dispute(&self) -> Option<&DisputeRow> {
        self.dispute
            .as_ref()
            .filter(|d| d.ruling.is_none() && self.status == FindingStatus::Open)
    }
}

/// The id users see and type for a finding row: `F` and the row id (`F12`).
pub fn public_id(id: i64) -> String {
    format!("F{id}")
}

/// Parse `F12` (or `12`) back into a row id.
pub fn parse_id(text: &str) -> Option<i64> {
    let t = text.trim();
    let digits = t
        .strip_prefix('F')
        .or_else(|| t.strip_prefix('f'))
        .unwrap_or(t);
    digits.parse().ok().filter(|&n: &i64| n > 0)
}

/// Whether finding `id` is workspace `workspace_id`'s. Ids are numbered across every
/// workspace; a request names one of its own workspace's, and another's is no finding.
pub fn belongs(conn: &Connection, workspace_id: i64, id: i64) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM findings WHERE id = ?1 AND workspace_id = ?2)",
        params![id, workspace_id],
        |r| r.get(0),
    )
    .map_err(StoreError::query("find a workspace's finding"))
}

/// Open findings from a review, without comparing them to those stored ([`merge`] does).
pub fn open_many(
    conn: &Connection,
    workspace_id: i64,
    review: i64,
    list: &[Finding],
) -> Result<Vec<i64>, StoreError> {
    let mut ids = Vec::with_capacity(list.len());
    for f in list {
        ids.push(open_one(conn, workspace_id, review, f, None)?);
    }
    Ok(ids)
}

/// Open one finding with its fingerprint; its row id.
fn open_one(
    conn: &Connection,
    workspace_id: i64,
    review: i64,
    f: &Finding,
    fingerprint: Option<&str>,
) -> Result<i64, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO findings (workspace_id, severity, category, file, line_start, line_end, title, body,
                                   recommendation, confidence, first_review, last_review, fingerprint)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12)",
        )
        .map_err(StoreError::query("open findings"))?;
    {
        stmt.execute(params![
            workspace_id,
            f.severity,
            f.category,
            f.file,
            f.line_start,
            f.line_end,
            f.title,
            f.body,
            f.recommendation,
            f.confidence,
            review,
            fingerprint
        ])
        .map_err(StoreError::query("open findings"))?;
    }
    Ok(conn.last_insert_rowid())
}

/// Resolve the open findings of this workspace whose public ids Codex listed as fixed.
/// Ids that are unknown, not open, or of another workspace are ignored. Returns the ids resolved.
pub fn resolve(
    conn: &Connection,
    workspace_id: i64,
    review: i64,
    ids: &[String],
    at: &str,
) -> Result<Vec<i64>, StoreError> {
    let mut done = Vec::new();
    for id in ids.iter().filter_map(|s| parse_id(s)) {
        let n = conn
            .execute(
                "UPDATE findings SET status = ?5, last_review = ?3, status_at = ?4, outdated = 0
                 WHERE id = ?1 AND workspace_id = ?2 AND status = ?6",
                params![
                    id,
                    workspace_id,
                    review,
                    at,
                    FindingStatus::Resolved,
                    FindingStatus::Open
                ],
            )
            .map_err(StoreError::query("resolve findings"))?;
        if n > 0 {
            done.push(id);
        }
    }
    Ok(done)
}

/// The columns [`from_row`] reads; the last is the newest dispute as one JSON object.
const COLUMNS: &str =
    "id, workspace_id, severity, category, file, line_start, line_end, title, body,
    recommendation, confidence, status, first_review, last_review, status_note, fingerprint, seen,
    outdated,
    (SELECT json_object('id', d.id, 'by', d.author, 'session', d.session, 'reason', d.reason,
                        'at', d.at, 'ruling', d.ruling, 'reply', d.reply, 'review', d.review)
     FROM disputes d WHERE d.finding = findings.id ORDER BY d.id DESC LIMIT 1)";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FindingRow> {
    Ok(FindingRow {
        id: r.get(0)?,
        workspace_id: r.get(1)?,
        finding: Finding {
            severity: r.get(2)?,
            category: r.get(3)?,
            file: r.get(4)?,
            line_start: r.get(5)?,
            line_end: r.get(6)?,
            title: r.get(7)?,
            body: r.get(8)?,
            recommendation: r.get(9)?,
            confidence: r.get(10)?,
        },
        status: r.get(11)?,
        first_review: r.get(12)?,
        last_review: r.get(13)?,
        status_note: r.get(14)?,
        fingerprint: r.get(15)?,
        seen: u64::try_from(r.get::<_, i64>(16)?).unwrap_or(1),
        outdated: r.get(17)?,
        dispute: r
            .get::<_, Option<String>>(18)?
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    18,
                    rusqlite::types::Type::Text,
                    Box::new(e),
                )
            })?,
    })
}

/// One finding by row id; None when there is none.
pub fn get(conn: &Connection, id: i64) -> Result<Option<FindingRow>, StoreError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM findings WHERE id = ?1"),
        params![id],
        from_row,
    )
    .optional()
    .map_err(StoreError::query("read finding"))
}

/// A workspace's findings: open ones only, or all.
pub fn list(
    conn: &Connection,
    workspace_id: i64,
    all: bool,
) -> Result<Vec<FindingRow>, StoreError> {
    // `?2 IS NULL`: every status; else only open ones.
    let open = (!all).then_some(FindingStatus::Open);
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM findings WHERE workspace_id = ?1 AND (?2 IS NULL OR status = ?2)
             ORDER BY id"
        ))
        .map_err(StoreError::query("list findings"))?;
    let rows = stmt
        .query_map(params![workspace_id, open], from_row)
        .map_err(StoreError::query("list findings"))?;
    rows.collect::<Result<_, _>>()
        .map_err(StoreError::query("list findings"))
}

/// What a paged query selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Filter {
    /// Resolved and dismissed ones too.
    pub all: bool,
    /// Only findings at or above this severity.
    pub min: Severity,
}

/// The WHERE clause for `filter` (`?1` is the workspace). The severities are this build's own
/// words, never input, so they go into the text; the statement cache keeps one per threshold.
fn filter_sql(filter: Filter) -> String {
    let status = if filter.all {
        String::new()
    } else {
        format!(" AND status = '{}'", FindingStatus::Open)
    };
    let severity = if filter.min == Severity::Info {
        String::new()
    } else {
        let words: Vec<String> = filter
            .min
            .and_above()
            .iter()
            .map(|s| format!("'{s}'"))
            .collect();
        format!(" AND severity IN ({})", words.join(", "))
    };
    format!("workspace_id = ?1{status}{severity}")
}

/// At most `limit` of a workspace's findings with ids above `after`, in id order: one page of
/// an answer that must stay under the frame limit.
pub fn list_page(
    conn: &Connection,
    workspace_id: i64,
    filter: Filter,
    after: i64,
    limit: usize,
) -> Result<Vec<FindingRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM findings WHERE {} AND id > ?2 ORDER BY id LIMIT ?3",
        filter_sql(filter)
    );
    let mut stmt = conn
        .prepare_cached(&sql)
        .map_err(StoreError::query("list findings"))?;
    let rows = stmt
        .query_map(
            params![
                workspace_id,
                after,
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            from_row,
        )
        .map_err(StoreError::query("list findings"))?;
    rows.collect::<Result<_, _>>()
        .map_err(StoreError::query("list findings"))
}

/// How many of a workspace's findings match: the gate decides from this, never from a list.
pub fn count(conn: &Connection, workspace_id: i64, filter: Filter) -> Result<u64, StoreError> {
    let sql = format!("SELECT COUNT(*) FROM findings WHERE {}", filter_sql(filter));
    conn.query_row(&sql, params![workspace_id], |r| r.get::<_, i64>(0))
        .map(|n| u64::try_from(n).unwrap_or(0))
        .map_err(StoreError::query("count findings"))
}

/// A workspace's open findings counted by severity: what the gate decides from.
pub fn open_counts(conn: &Connection, workspace_id: i64) -> Result<SeverityCounts, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT severity, COUNT(*) FROM findings WHERE workspace_id = ?1 AND status = ?2
             GROUP BY severity",
        )
        .map_err(StoreError::query("count open findings"))?;
    let rows = stmt
        .query_map(params![workspace_id, FindingStatus::Open], |r| {
            Ok((r.get::<_, Severity>(0)?, r.get::<_, i64>(1)?))
        })
        .map_err(StoreError::query("count open findings"))?;
    let mut counts = SeverityCounts::default();
    for row in rows {
        let (severity, n) = row.map_err(StoreError::query("count open findings"))?;
        counts.add_n(severity, u64::try_from(n).unwrap_or(0));
    }
    Ok(counts)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod merge_tests;

/// The open findings at or above `min` that one of `reviews` reported (opened or saw again),
/// oldest first: what the pre-push hook blocks on.
pub fn open_from_reviews(
    conn: &Connection,
    workspace_id: i64,
    reviews: &[i64],
    min: Severity,
) -> Result<Vec<FindingRow>, StoreError> {
    if reviews.is_empty() {
        return Ok(Vec::new());
    }
    let set: std::collections::HashSet<i64> = reviews.iter().copied().collect();
    Ok(list(conn, workspace_id, false)?
        .into_iter()
        .filter(|f| f.finding.severity >= min)
        .filter(|f| set.contains(&f.first_review) || set.contains(&f.last_review))
        .collect())
}
