//! Findings: opened by a review, resolved by a later one, dismissed or reopened by the user.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

/// A finding to open.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFinding {
    /// Severity word.
    pub severity: String,
    /// Category word.
    pub category: String,
    /// Relative path or "".
    pub file: String,
    /// First line.
    pub line_start: i64,
    /// Last line.
    pub line_end: i64,
    /// One line.
    pub title: String,
    /// What and why.
    pub body: String,
    /// The fix.
    pub recommendation: String,
    /// 0..1
    pub confidence: f64,
}

/// A stored finding.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingRow {
    /// Row id (shown as `F<id>`).
    pub id: i64,
    /// The workspace row.
    pub workspace_id: i64,
    /// What Codex said.
    pub finding: NewFinding,
    /// open | resolved | dismissed
    pub status: String,
    /// The review that opened it.
    pub first_review: i64,
    /// The last review that saw it (or resolved it).
    pub last_review: i64,
    /// The dismissal reason.
    pub status_note: Option<String>,
}

impl FindingRow {
    /// The id users type: `F12`.
    pub fn public_id(&self) -> String {
        public_id(self.id)
    }
}

/// `F<id>`.
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

/// Open findings from a review.
pub fn open_many(
    conn: &Connection,
    workspace_id: i64,
    review: i64,
    list: &[NewFinding],
) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO findings (workspace_id, severity, category, file, line_start, line_end, title, body,
                                   recommendation, confidence, first_review, last_review)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
        )
        .map_err(StoreError::query("open findings"))?;
    let mut ids = Vec::with_capacity(list.len());
    for f in list {
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
            review
        ])
        .map_err(StoreError::query("open findings"))?;
        ids.push(conn.last_insert_rowid());
    }
    Ok(ids)
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
                "UPDATE findings SET status = 'resolved', last_review = ?3, status_at = ?4
                 WHERE id = ?1 AND workspace_id = ?2 AND status = 'open'",
                params![id, workspace_id, review, at],
            )
            .map_err(StoreError::query("resolve findings"))?;
        if n > 0 {
            done.push(id);
        }
    }
    Ok(done)
}

/// Set a finding's status (dismiss / reopen) with a note; returns the row after the change.
pub fn set_status(
    conn: &Connection,
    id: i64,
    status: &str,
    note: Option<&str>,
    at: &str,
) -> Result<Option<FindingRow>, StoreError> {
    conn.execute(
        "UPDATE findings SET status = ?2, status_note = ?3, status_at = ?4 WHERE id = ?1",
        params![id, status, note, at],
    )
    .map_err(StoreError::query("set finding status"))?;
    get(conn, id)
}

const COLUMNS: &str =
    "id, workspace_id, severity, category, file, line_start, line_end, title, body,
    recommendation, confidence, status, first_review, last_review, status_note";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FindingRow> {
    Ok(FindingRow {
        id: r.get(0)?,
        workspace_id: r.get(1)?,
        finding: NewFinding {
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
    })
}

/// One finding.
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
    let sql = if all {
        format!("SELECT {COLUMNS} FROM findings WHERE workspace_id = ?1 ORDER BY id")
    } else {
        format!(
            "SELECT {COLUMNS} FROM findings WHERE workspace_id = ?1 AND status = 'open' ORDER BY id"
        )
    };
    let mut stmt = conn
        .prepare_cached(&sql)
        .map_err(StoreError::query("list findings"))?;
    let rows = stmt
        .query_map(params![workspace_id], from_row)
        .map_err(StoreError::query("list findings"))?;
    rows.collect::<Result<_, _>>()
        .map_err(StoreError::query("list findings"))
}

/// SQL for a severity's rank (info 0 … critical 4), to filter "at or above" in the query.
const RANK: &str = "CASE severity WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2
    WHEN 'low' THEN 1 ELSE 0 END";

/// What a paged query selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Filter {
    /// Resolved and dismissed ones too.
    pub all: bool,
    /// Only findings at or above this rank (info 0 … critical 4).
    pub min_rank: usize,
}

fn filter_sql(filter: Filter) -> String {
    let status = if filter.all {
        ""
    } else {
        " AND status = 'open'"
    };
    format!("workspace_id = ?1{status} AND ({RANK}) >= ?2")
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
        "SELECT {COLUMNS} FROM findings WHERE {} AND id > ?3 ORDER BY id LIMIT ?4",
        filter_sql(filter)
    );
    let mut stmt = conn
        .prepare_cached(&sql)
        .map_err(StoreError::query("list findings"))?;
    let rows = stmt
        .query_map(
            params![
                workspace_id,
                filter.min_rank as i64,
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
    conn.query_row(&sql, params![workspace_id, filter.min_rank as i64], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| u64::try_from(n).unwrap_or(0))
    .map_err(StoreError::query("count findings"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(title: &str) -> NewFinding {
        NewFinding {
            severity: "high".into(),
            category: "bug".into(),
            file: "a.rs".into(),
            line_start: 1,
            line_end: 2,
            title: title.into(),
            body: "b".into(),
            recommendation: "r".into(),
            confidence: 0.5,
        }
    }

    #[test]
    fn lifecycle() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_connection(&dir.path().join("db")).unwrap();
        let ws = crate::store::workspaces::add(&conn, std::path::Path::new("/w"), "t")
            .unwrap()
            .id;
        let other = crate::store::workspaces::add(&conn, std::path::Path::new("/o"), "t")
            .unwrap()
            .id;
        let ids = open_many(&conn, ws, 1, &[finding("a"), finding("b")]).unwrap();
        let foreign = open_many(&conn, other, 1, &[finding("c")]).unwrap();
        assert_eq!(list(&conn, ws, false).unwrap().len(), 2);
        let fixed = vec![
            public_id(ids[0]),
            public_id(foreign[0]),
            "F999".into(),
            "garbage".into(),
        ];
        assert_eq!(resolve(&conn, ws, 2, &fixed, "t").unwrap(), [ids[0]]);
        let open = list(&conn, ws, false).unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].finding.title, "b");
        assert_eq!(list(&conn, ws, true).unwrap().len(), 2);
        assert_eq!(
            list(&conn, other, false).unwrap().len(),
            1,
            "another workspace's finding stays open"
        );
        let row = set_status(&conn, ids[1], "dismissed", Some("intended"), "t")
            .unwrap()
            .unwrap();
        assert_eq!(row.status, "dismissed");
        assert!(list(&conn, ws, false).unwrap().is_empty());
    }

    #[test]
    fn pages_and_counts_filter_by_status_and_severity() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_connection(&dir.path().join("db")).unwrap();
        let ws = crate::store::workspaces::add(&conn, std::path::Path::new("/w"), "t")
            .unwrap()
            .id;
        let mut list = Vec::new();
        for (i, severity) in ["low", "high", "critical", "info", "high"]
            .iter()
            .enumerate()
        {
            let mut f = finding(&format!("t{i}"));
            f.severity = (*severity).into();
            list.push(f);
        }
        let ids = open_many(&conn, ws, 1, &list).unwrap();
        set_status(&conn, ids[4], "dismissed", None, "t").unwrap();
        let open = Filter {
            all: false,
            min_rank: 0,
        };
        let high = Filter {
            all: false,
            min_rank: 3,
        };
        assert_eq!(count(&conn, ws, open).unwrap(), 4);
        assert_eq!(count(&conn, ws, high).unwrap(), 2);
        assert_eq!(
            count(
                &conn,
                ws,
                Filter {
                    all: true,
                    min_rank: 3
                }
            )
            .unwrap(),
            3
        );
        let first = list_page(&conn, ws, open, 0, 2).unwrap();
        assert_eq!(first.iter().map(|f| f.id).collect::<Vec<_>>(), ids[..2]);
        let rest = list_page(&conn, ws, open, first[1].id, 10).unwrap();
        assert_eq!(rest.iter().map(|f| f.id).collect::<Vec<_>>(), ids[2..4]);
        let blocking = list_page(&conn, ws, high, 0, 10).unwrap();
        assert_eq!(
            blocking.iter().map(|f| f.id).collect::<Vec<_>>(),
            [ids[1], ids[2]]
        );
    }

    #[test]
    fn ids_round_trip() {
        assert_eq!(parse_id(&public_id(42)), Some(42));
        assert_eq!(parse_id("f7"), Some(7));
        assert_eq!(parse_id("7"), Some(7));
        assert_eq!(parse_id("F0"), None);
        assert_eq!(parse_id("Fx"), None);
    }
}
