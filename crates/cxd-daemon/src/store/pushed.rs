//! The findings that hold back a push: open in a pushed tree as of the reviews that covered it.
//!
//! Findings are kept per workspace, not per tree, so "open now" is not "open in that commit":
//! a fix reviewed in the working tree and then stashed (or never committed) resolves a finding
//! that the pushed commit still has. Here a resolution counts only when it came from a review
//! that covered one of the pushed trees; a dismissal or a withdrawal (a judgement that the
//! finding does not apply anywhere) always counts.

use std::collections::HashSet;

use cxd_proto::domain::{FindingStatus, Severity, Trigger};
use rusqlite::{Connection, params};

use super::StoreError;
use super::findings::{FindingRow, list};

/// The findings at or above `min` open in the pushed trees, judged with `covering` (the
/// reviews that covered a pushed tree, from [`super::reviewed::reviews_covering`]):
/// - reported by a covering review (first or last), unless a covering review resolved it;
/// - or opened by an earlier review of the work tree and still open as of a covering review of
///   the work tree (not resolved by then, nor since by a covering review): the work tree's
///   reviews follow one another, so what one left open the next tree still has.
pub fn blocking(
    conn: &Connection,
    workspace_id: i64,
    covering: &[i64],
    min: Severity,
) -> Result<Vec<FindingRow>, StoreError> {
    if covering.is_empty() {
        return Ok(Vec::new());
    }
    let covered: HashSet<i64> = covering.iter().copied().collect();
    let of_work_tree = work_tree_reviews(conn, workspace_id)?;
    let covering_work_tree: Vec<i64> = covering
        .iter()
        .copied()
        .filter(|r| of_work_tree.contains(r))
        .collect();
    Ok(list(conn, workspace_id, true)?
        .into_iter()
        .filter(|f| f.finding.severity >= min)
        .filter(|f| {
            let resolver = match f.status {
                FindingStatus::Open => None,
                // `resolve` sets `last_review` to the review that said it is fixed.
                FindingStatus::Resolved => Some(f.last_review),
                FindingStatus::Dismissed | FindingStatus::Withdrawn => return false,
            };
            if resolver.is_some_and(|r| covered.contains(&r)) {
                return false;
            }
            let reported = covered.contains(&f.first_review) || covered.contains(&f.last_review);
            let inherited = of_work_tree.contains(&f.first_review)
                && covering_work_tree
                    .iter()
                    .any(|&r| f.first_review < r && resolver.is_none_or(|x| x > r));
            reported || inherited
        })
        .collect())
}

/// The workspace's reviews of its work tree (edit, stop, manual and agent reviews: one chain,
/// each from the snapshot the last one left), not of a plan or of committed history.
fn work_tree_reviews(conn: &Connection, workspace_id: i64) -> Result<HashSet<i64>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id FROM reviews WHERE workspace_id = ?1 AND trigger IN (?2, ?3, ?4, ?5)",
        )
        .map_err(StoreError::query("list work-tree reviews"))?;
    let rows = stmt
        .query_map(
            params![
                workspace_id,
                Trigger::Edit,
                Trigger::Stop,
                Trigger::Manual,
                Trigger::Agent
            ],
            |r| r.get::<_, i64>(0),
        )
        .map_err(StoreError::query("list work-tree reviews"))?;
    rows.collect::<Result<_, _>>()
        .map_err(StoreError::query("list work-tree reviews"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store with reviews 1..=5 (3 of committed history, the rest of the work tree) and
    /// findings given as (status, first, last).
    fn store(findings: &[(&str, i64, i64)]) -> (tempfile::TempDir, Connection) {
        let (dir, conn) = crate::test_support::store_with_workspace();
        for id in 1..=5 {
            let trigger = if id == 3 { "range" } else { "edit" };
            conn.execute(
                "INSERT INTO reviews (id, workspace_id, trigger, started_at, model, effort, argv, verdict)
                 VALUES (?1, 1, ?2, 't', 'm', 'e', '[]', 'approve')",
                params![id, trigger],
            )
            .unwrap();
        }
        for (status, first, last) in findings {
            conn.execute(
                "INSERT INTO findings (workspace_id, severity, category, file, line_start, line_end,
                   title, body, recommendation, confidence, status, first_review, last_review)
                 VALUES (1, 'high', 'bug', 'a', 1, 1, 't', 'b', 'r', 0.9, ?1, ?2, ?3)",
                params![status, first, last],
            )
            .unwrap();
        }
        (dir, conn)
    }

    fn ids(conn: &Connection, covering: &[i64]) -> Vec<i64> {
        blocking(conn, 1, covering, Severity::High)
            .unwrap()
            .iter()
            .map(|f| f.id)
            .collect()
    }

    #[test]
    fn a_resolution_counts_only_from_a_covering_review() {
        // F1 opened by 1, resolved by 2; F2 opened by 1, resolved by 4; F3 dismissed.
        let (_d, conn) = store(&[
            ("resolved", 1, 2),
            ("resolved", 1, 4),
            ("dismissed", 1, 1),
            ("withdrawn", 1, 2),
        ]);
        // Only review 1's tree is pushed: neither fix is in it.
        assert_eq!(ids(&conn, &[1]), [1, 2]);
        // Review 2's tree is pushed too: F1's fix is.
        assert_eq!(ids(&conn, &[1, 2]), [2]);
        assert_eq!(ids(&conn, &[1, 2, 4]), Vec::<i64>::new());
        assert_eq!(ids(&conn, &[]), Vec::<i64>::new());
    }

    #[test]
    fn what_an_earlier_work_tree_review_left_open_is_in_the_next_tree() {
        // F1 open since 1; F2 resolved by 2 (before 4); F3 from the range review 3; F4 from 5.
        let (_d, conn) = store(&[
            ("open", 1, 1),
            ("resolved", 1, 2),
            ("open", 3, 3),
            ("open", 5, 5),
        ]);
        assert_eq!(
            ids(&conn, &[4]),
            [1],
            "F2 was fixed before 4, F3 is another tree's"
        );
        // A range review's tree inherits nothing from the work tree's reviews.
        assert_eq!(ids(&conn, &[3]), [3]);
    }
}
