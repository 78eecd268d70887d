//! Findings: opened by a review, resolved by a later one, dismissed or reopened by the user.

use std::path::PathBuf;

use cxd_proto::domain::{FindingStatus, Severity};
use cxd_proto::status::SeverityCounts;
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use super::events::{self, NewEvent};
use crate::finding::Finding;

/// A stored finding.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingRow {
    /// Row id (shown as `F<id>`).
    pub id: i64,
    /// The workspace row.
    pub workspace_id: i64,
    /// What Codex said (capped on the way in).
    pub finding: Finding,
    /// open | resolved | dismissed
    pub status: FindingStatus,
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
    list: &[Finding],
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
                "UPDATE findings SET status = ?5, last_review = ?3, status_at = ?4
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

/// A change the user makes to a finding's status (a review's own resolution is [`resolve`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserChange {
    /// `cxd dismiss`: it stops counting as open.
    Dismiss,
    /// `cxd reopen`: a dismissed or resolved finding counts again.
    Reopen,
    /// The user says it is fixed.
    Resolve,
}

impl UserChange {
    /// The status the finding ends in.
    pub fn target(self) -> FindingStatus {
        match self {
            UserChange::Dismiss => FindingStatus::Dismissed,
            UserChange::Reopen => FindingStatus::Open,
            UserChange::Resolve => FindingStatus::Resolved,
        }
    }

    /// The audit-trail kind (and live event kind) of the change.
    pub fn audit_kind(self) -> &'static str {
        match self {
            UserChange::Dismiss => "dismissal",
            UserChange::Reopen => "reopen",
            UserChange::Resolve => "resolution",
        }
    }

    /// The past tense, for the answer.
    pub fn verb(self) -> &'static str {
        match self {
            UserChange::Dismiss => "dismissed",
            UserChange::Reopen => "reopened",
            UserChange::Resolve => "resolved",
        }
    }

    /// Whether a finding in `from` may take this change: only an open finding is dismissed or
    /// resolved, only a closed one reopened.
    pub fn allowed_from(self, from: FindingStatus) -> bool {
        match self {
            UserChange::Dismiss | UserChange::Resolve => from == FindingStatus::Open,
            UserChange::Reopen => from != FindingStatus::Open,
        }
    }
}

/// Why a user's change to a finding was refused (nothing was written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No finding has this id.
    #[error("there is no finding {} (`cxd findings --all` lists them)", public_id(*.0))]
    NoSuchFinding(i64),
    /// The finding's status does not allow the change.
    #[error("{} is already {status}", public_id(*id))]
    Already {
        /// The finding's row id.
        id: i64,
        /// Its status, unchanged.
        status: FindingStatus,
    },
}

/// A change made: the finding after it and its workspace's root.
#[derive(Debug, Clone, PartialEq)]
pub struct Changed {
    /// The finding as it is now.
    pub row: FindingRow,
    /// Its workspace's root (None if the workspace is no longer stored).
    pub root: Option<PathBuf>,
}

/// Dismiss, reopen or resolve a finding for the user, and record it in the audit trail, in one
/// transaction: both happen or neither does. A refused change writes nothing.
pub fn change_status(
    conn: &mut Connection,
    id: i64,
    change: UserChange,
    note: Option<&str>,
    at: &str,
) -> Result<Result<Changed, Refusal>, StoreError> {
    let tx = conn
        .transaction()
        .map_err(StoreError::query("begin finding change"))?;
    let Some(before) = get(&tx, id)? else {
        return Ok(Err(Refusal::NoSuchFinding(id)));
    };
    if !change.allowed_from(before.status) {
        return Ok(Err(Refusal::Already {
            id,
            status: before.status,
        }));
    }
    tx.execute(
        "UPDATE findings SET status = ?2, status_note = ?3, status_at = ?4 WHERE id = ?1",
        params![id, change.target(), note, at],
    )
    .map_err(StoreError::query("set finding status"))?;
    let root: Option<String> = tx
        .query_row(
            "SELECT root FROM workspaces WHERE id = ?1",
            params![before.workspace_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(StoreError::query("read finding's workspace"))?;
    let root = root.map(PathBuf::from);
    events::append(
        &tx,
        &NewEvent {
            at: at.to_owned(),
            workspace: root.clone(),
            kind: change.audit_kind().into(),
            data: serde_json::json!({"finding": before.public_id(), "title": before.finding.title, "reason": note}),
        },
    )?;
    let row = get(&tx, id)?.ok_or(StoreError::Query {
        action: "read back finding",
        source: rusqlite::Error::QueryReturnedNoRows,
    })?;
    tx.commit()
        .map_err(StoreError::query("commit finding change"))?;
    Ok(Ok(Changed { row, root }))
}

const COLUMNS: &str =
    "id, workspace_id, severity, category, file, line_start, line_end, title, body,
    recommendation, confidence, status, first_review, last_review, status_note";

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
mod tests {
    use super::*;

    fn finding(title: &str) -> Finding {
        Finding {
            severity: Severity::High,
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
        let mut conn = crate::store::open_connection(&dir.path().join("db")).unwrap();
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
        let row = change_status(
            &mut conn,
            ids[1],
            UserChange::Dismiss,
            Some("intended"),
            "t",
        )
        .unwrap()
        .unwrap()
        .row;
        assert_eq!(row.status, FindingStatus::Dismissed);
        assert!(list(&conn, ws, false).unwrap().is_empty());
    }

    #[test]
    fn pages_and_counts_filter_by_status_and_severity() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::store::open_connection(&dir.path().join("db")).unwrap();
        let ws = crate::store::workspaces::add(&conn, std::path::Path::new("/w"), "t")
            .unwrap()
            .id;
        let mut list = Vec::new();
        for (i, severity) in [
            Severity::Low,
            Severity::High,
            Severity::Critical,
            Severity::Info,
            Severity::High,
        ]
        .iter()
        .enumerate()
        {
            let mut f = finding(&format!("t{i}"));
            f.severity = *severity;
            list.push(f);
        }
        let ids = open_many(&conn, ws, 1, &list).unwrap();
        change_status(&mut conn, ids[4], UserChange::Dismiss, None, "t")
            .unwrap()
            .unwrap();
        let open = Filter {
            all: false,
            min: Severity::Info,
        };
        let high = Filter {
            all: false,
            min: Severity::High,
        };
        assert_eq!(count(&conn, ws, open).unwrap(), 4);
        assert_eq!(count(&conn, ws, high).unwrap(), 2);
        assert_eq!(
            count(
                &conn,
                ws,
                Filter {
                    all: true,
                    min: Severity::High
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

    fn audit_kinds(conn: &Connection) -> Vec<String> {
        crate::store::events::recent(conn, None, 100)
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }

    #[test]
    fn a_user_change_and_its_audit_entry_are_written_together() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::store::open_connection(&dir.path().join("db")).unwrap();
        let ws = crate::store::workspaces::add(&conn, std::path::Path::new("/w"), "t")
            .unwrap()
            .id;
        let id = open_many(&conn, ws, 1, &[finding("leak")]).unwrap()[0];

        let changed = change_status(&mut conn, id, UserChange::Dismiss, Some("intended"), "t1")
            .unwrap()
            .unwrap();
        assert_eq!(changed.row.status, FindingStatus::Dismissed);
        assert_eq!(changed.row.status_note.as_deref(), Some("intended"));
        assert_eq!(changed.root.as_deref(), Some(std::path::Path::new("/w")));
        let events = crate::store::events::recent(&conn, None, 10).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, "dismissal");
        assert_eq!(
            events[0].workspace.as_deref(),
            Some(std::path::Path::new("/w"))
        );
        assert_eq!(
            events[0].data,
            serde_json::json!({"finding": public_id(id), "title": "leak", "reason": "intended"})
        );

        let changed = change_status(&mut conn, id, UserChange::Reopen, None, "t2")
            .unwrap()
            .unwrap();
        assert_eq!(changed.row.status, FindingStatus::Open);
        assert_eq!(get(&conn, id).unwrap().unwrap().status, FindingStatus::Open);
        assert_eq!(audit_kinds(&conn), ["dismissal", "reopen"]);

        change_status(&mut conn, id, UserChange::Resolve, None, "t3")
            .unwrap()
            .unwrap();
        assert_eq!(
            get(&conn, id).unwrap().unwrap().status,
            FindingStatus::Resolved
        );
        assert_eq!(audit_kinds(&conn), ["dismissal", "reopen", "resolution"]);
    }

    #[test]
    fn a_refused_change_writes_neither_status_nor_audit_entry() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::store::open_connection(&dir.path().join("db")).unwrap();
        let ws = crate::store::workspaces::add(&conn, std::path::Path::new("/w"), "t")
            .unwrap()
            .id;
        let id = open_many(&conn, ws, 1, &[finding("leak")]).unwrap()[0];

        let refused = change_status(&mut conn, id, UserChange::Reopen, Some("why"), "t")
            .unwrap()
            .unwrap_err();
        assert_eq!(
            refused,
            Refusal::Already {
                id,
                status: FindingStatus::Open
            }
        );
        assert_eq!(
            refused.to_string(),
            format!("{} is already open", public_id(id))
        );
        let row = get(&conn, id).unwrap().unwrap();
        assert_eq!((row.status, row.status_note), (FindingStatus::Open, None));
        assert!(audit_kinds(&conn).is_empty());

        let refused = change_status(&mut conn, 999, UserChange::Dismiss, None, "t")
            .unwrap()
            .unwrap_err();
        assert_eq!(refused, Refusal::NoSuchFinding(999));
        assert!(audit_kinds(&conn).is_empty());

        // A finding a review resolved cannot be dismissed (nor resolved again).
        resolve(&conn, ws, 2, &[public_id(id)], "t").unwrap();
        for change in [UserChange::Dismiss, UserChange::Resolve] {
            assert!(
                change_status(&mut conn, id, change, None, "t")
                    .unwrap()
                    .is_err()
            );
        }
        assert!(audit_kinds(&conn).is_empty());
    }

    /// A word this build does not know in a stored row (written by hand, or by another
    /// version) is a clear store error naming the word, never a panic and never a guess.
    #[test]
    fn an_unknown_stored_word_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_connection(&dir.path().join("db")).unwrap();
        let ws = crate::store::workspaces::add(&conn, std::path::Path::new("/w"), "t")
            .unwrap()
            .id;
        let id = open_many(&conn, ws, 1, &[finding("a")]).unwrap()[0];
        conn.execute(
            "UPDATE findings SET severity = 'blocker' WHERE id = ?1",
            params![id],
        )
        .unwrap();
        for e in [
            list(&conn, ws, true).unwrap_err(),
            get(&conn, id).unwrap_err(),
            open_counts(&conn, ws).unwrap_err(),
        ] {
            let text = e.to_string();
            assert!(
                text.contains(r#""blocker" is not a severity; use one of info"#),
                "{text}"
            );
        }
        conn.execute(
            "UPDATE findings SET severity = 'high', status = 'wontfix' WHERE id = ?1",
            params![id],
        )
        .unwrap();
        let text = get(&conn, id).unwrap_err().to_string();
        assert!(
            text.contains(r#""wontfix" is not a finding status"#),
            "{text}"
        );
    }

    #[test]
    fn open_counts_count_only_open_findings_by_severity() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::store::open_connection(&dir.path().join("db")).unwrap();
        let ws = crate::store::workspaces::add(&conn, std::path::Path::new("/w"), "t")
            .unwrap()
            .id;
        let mut list = Vec::new();
        for severity in [
            Severity::High,
            Severity::High,
            Severity::Low,
            Severity::Critical,
        ] {
            let mut f = finding("t");
            f.severity = severity;
            list.push(f);
        }
        let ids = open_many(&conn, ws, 1, &list).unwrap();
        change_status(&mut conn, ids[3], UserChange::Dismiss, None, "t")
            .unwrap()
            .unwrap();
        let c = open_counts(&conn, ws).unwrap();
        assert_eq!(
            (c.critical, c.high, c.medium, c.low, c.info),
            (0, 2, 0, 1, 0)
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
