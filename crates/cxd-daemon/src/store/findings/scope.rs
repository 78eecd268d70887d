//! Which findings were in a reviewed change (`changed_review`: the newest review whose change
//! held them), and the gate's counts and lists split by it. See [`crate::scope`].

use std::collections::HashSet;

use cxd_proto::domain::{FindingStatus, Severity};
use cxd_proto::status::SeverityCounts;
use rusqlite::{Connection, params};

use super::{COLUMNS, FindingRow, from_row};
use crate::scope::ReviewedChange;
use crate::store::StoreError;

/// A stored line number as the hunks count them (0: not about lines).
fn line(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Mark the open findings of `workspace_id` that `change` (reviewed by `review`) holds: those
/// in its files whose lines it touched (their lines already follow it), and, among `reported`
/// (the findings this review opened, reopened or carried), those about the change as a whole.
/// An old finding about the whole change that this review did not mention stays as it was.
/// Returns the ids marked.
pub fn mark_in_change(
    conn: &Connection,
    workspace_id: i64,
    review: i64,
    change: &ReviewedChange,
    reported: &[i64],
) -> Result<Vec<i64>, StoreError> {
    let err = || StoreError::query("mark findings in the change");
    let reported: HashSet<i64> = reported.iter().copied().collect();
    let mut select = conn
        .prepare_cached(
            "SELECT id, file, line_start, line_end FROM findings
             WHERE workspace_id = ?1 AND status = ?2",
        )
        .map_err(err())?;
    let rows: Vec<(i64, String, i64, i64)> = select
        .query_map(params![workspace_id, FindingStatus::Open], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .and_then(Iterator::collect)
        .map_err(err())?;
    let mut update = conn
        .prepare_cached("UPDATE findings SET changed_review = ?2 WHERE id = ?1")
        .map_err(err())?;
    let mut marked = Vec::new();
    for (id, file, start, end) in rows {
        let held = if file.is_empty() {
            reported.contains(&id)
        } else {
            change.has_file(&file) && change.holds(&file, line(start), line(end))
        };
        if held {
            update.execute(params![id, review]).map_err(err())?;
            marked.push(id);
        }
    }
    Ok(marked)
}

/// The SQL condition for "in the change since review `?2`".
const IN_CHANGE: &str = "(changed_review IS NOT NULL AND changed_review > ?2)";

/// A workspace's open findings counted by severity, split into those in a change reviewed
/// after review `since` and the rest: what the gate decides from with scope `change`.
pub fn open_counts_by_change(
    conn: &Connection,
    workspace_id: i64,
    since: i64,
) -> Result<(SeverityCounts, SeverityCounts), StoreError> {
    let err = || StoreError::query("count open findings by change");
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT severity, {IN_CHANGE}, COUNT(*) FROM findings
             WHERE workspace_id = ?1 AND status = ?3 GROUP BY severity, {IN_CHANGE}"
        ))
        .map_err(err())?;
    let rows = stmt
        .query_map(params![workspace_id, since, FindingStatus::Open], |r| {
            Ok((
                r.get::<_, Severity>(0)?,
                r.get::<_, bool>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .map_err(err())?;
    let (mut inside, mut outside) = (SeverityCounts::default(), SeverityCounts::default());
    for row in rows {
        let (severity, held, n) = row.map_err(err())?;
        let counts = if held { &mut inside } else { &mut outside };
        counts.add_n(severity, u64::try_from(n).unwrap_or(0));
    }
    Ok((inside, outside))
}

/// At most `limit` open findings at or above `min`, in id order: those in a change reviewed
/// after review `since` (`held`), or those not.
pub fn open_by_change(
    conn: &Connection,
    workspace_id: i64,
    since: i64,
    held: bool,
    min: Severity,
    limit: usize,
) -> Result<Vec<FindingRow>, StoreError> {
    let err = || StoreError::query("list open findings by change");
    let words: Vec<String> = min.and_above().iter().map(|s| format!("'{s}'")).collect();
    let not = if held { "" } else { "NOT " };
    // The severities are this build's own words, never input.
    let sql = format!(
        "SELECT {COLUMNS} FROM findings WHERE workspace_id = ?1 AND status = ?3
         AND severity IN ({}) AND {not}{IN_CHANGE} ORDER BY id LIMIT ?4",
        words.join(", ")
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(err())?;
    let rows = stmt
        .query_map(
            params![
                workspace_id,
                since,
                FindingStatus::Open,
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            from_row,
        )
        .map_err(err())?;
    rows.collect::<Result<_, _>>().map_err(err())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::finding::Finding;
    use crate::snapshot::hunks::DiffHunks;
    use crate::store::findings::open_many;
    use crate::test_support::finding;

    /// A finding named by where it is, at one line of `file`, with no text and full confidence.
    fn at(file: &str, start: i64, severity: Severity) -> Finding {
        finding(&format!("{file}:{start}"))
            .file(file)
            .lines(start, start)
            .severity(severity)
            .body("")
            .recommendation("")
            .confidence(1.0)
    }

    /// `f.rs` lines 10-12 replaced.
    const DIFF: &str = "diff --git a/f.rs b/f.rs\n--- a/f.rs\n+++ b/f.rs\n@@ -10,3 +10,3 @@\n-a\n-b\n-c\n+A\n+B\n+C\n";

    #[test]
    fn findings_in_the_change_count_apart_from_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_connection(&dir.path().join("db")).unwrap();
        let ws = crate::store::workspaces::add(&conn, Path::new("/w"), "t")
            .unwrap()
            .id;
        let ids = open_many(
            &conn,
            ws,
            3,
            &[
                at("f.rs", 11, Severity::High), // on the edit
                at("f.rs", 40, Severity::High), // same file, untouched lines
                at("g.rs", 11, Severity::High), // untouched file
                at("", 0, Severity::Critical),  // the whole change, reported now
                at("", 0, Severity::Critical),  // the whole change, from before
                at("f.rs", 12, Severity::Low),  // on the edit, below the threshold
            ],
        )
        .unwrap();
        let change = ReviewedChange::Hunks(DiffHunks::parse(DIFF));
        let marked = mark_in_change(&conn, ws, 3, &change, &[ids[3]]).unwrap();
        assert_eq!(marked, [ids[0], ids[3], ids[5]]);

        let (inside, outside) = open_counts_by_change(&conn, ws, 2).unwrap();
        assert_eq!(
            (inside.get(Severity::High), inside.get(Severity::Critical)),
            (1, 1)
        );
        assert_eq!(inside.get(Severity::Low), 1);
        assert_eq!(
            (outside.get(Severity::High), outside.get(Severity::Critical)),
            (2, 1)
        );
        let (inside, _) = open_counts_by_change(&conn, ws, 3).unwrap();
        assert_eq!(
            inside.get(Severity::High),
            0,
            "a change reviewed before the session began is not its change"
        );

        let held = |held| {
            open_by_change(&conn, ws, 2, held, Severity::High, 50)
                .unwrap()
                .iter()
                .map(|f| f.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(held(true), [ids[0], ids[3]]);
        assert_eq!(held(false), [ids[1], ids[2], ids[4]]);
    }

    #[test]
    fn with_only_a_file_list_every_finding_in_a_changed_file_is_held() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_connection(&dir.path().join("db")).unwrap();
        let ws = crate::store::workspaces::add(&conn, Path::new("/w"), "t")
            .unwrap()
            .id;
        let ids = open_many(
            &conn,
            ws,
            1,
            &[
                at("f.rs", 900, Severity::High),
                at("g.rs", 1, Severity::High),
            ],
        )
        .unwrap();
        let change = ReviewedChange::Files(vec!["f.rs".into()]);
        assert_eq!(
            mark_in_change(&conn, ws, 1, &change, &[]).unwrap(),
            [ids[0]]
        );
    }
}
