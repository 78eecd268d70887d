//! A finished review's result in one transaction: the review row's ending, the thread's
//! usage, its rulings on disputed findings, the findings it opened and resolved, and its
//! audit entries (`withdrawal`, `upheld`, `review_finished`). Either
//! all of them are written or none is, so the audit trail never tells of a review the store
//! does not hold (nor the other way round).

use rusqlite::Connection;

use super::StoreError;
use super::events::{self, NewEvent};
use super::findings;
use super::reviews::{self, Finish};
use super::workspaces;
use crate::finding::Finding;

/// Everything one finished review writes.
#[derive(Debug, Clone)]
pub struct ReviewResult {
    /// The `workspaces` row id the review belongs to.
    pub workspace_id: i64,
    /// The review row, started before codex ran.
    pub review_id: i64,
    /// How it ended: verdict, failure, summary, tokens, duration.
    pub finish: Finish,
    /// The thread the workspace continues in and its cumulative usage now (None: no thread,
    /// and the workspace's thread and usage stay as they are).
    pub thread_usage: Option<(String, (u64, u64, u64))>,
    /// The findings Codex reported, to open.
    pub findings: Vec<Finding>,
    /// The public ids Codex said are fixed.
    pub fixed: Vec<String>,
    /// Codex's rulings on disputed findings.
    pub rulings: Vec<findings::RulingInput>,
}

/// What the result did to the findings: their row ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Row ids of the findings this review opened.
    pub opened: Vec<i64>,
    /// Row ids of the findings this review marked resolved.
    pub resolved: Vec<i64>,
    /// What the rulings did (withdrawn, upheld, ignored).
    pub rulings: findings::Rulings,
}

/// Write `result` and the audit entry `audit` builds from what was opened and resolved, in
/// one transaction.
pub fn review_result(
    conn: &mut Connection,
    result: &ReviewResult,
    audit: impl FnOnce(&Recorded) -> NewEvent,
) -> Result<Recorded, StoreError> {
    let tx = conn
        .transaction()
        .map_err(StoreError::query("begin review result"))?;
    let ws = result.workspace_id;
    reviews::finish(&tx, result.review_id, &result.finish)?;
    if let Some((thread, usage)) = &result.thread_usage {
        workspaces::set_thread_usage(&tx, ws, Some(thread), *usage)?;
    }
    let at = &result.finish.finished_at;
    // Rulings first: a withdrawn finding is closed by its ruling, not also "fixed".
    let rulings = findings::rule(&tx, ws, result.review_id, &result.rulings, at)?;
    let resolved = findings::resolve(&tx, ws, result.review_id, &result.fixed, at)?;
    let opened = findings::open_many(&tx, ws, result.review_id, &result.findings)?;
    let recorded = Recorded {
        opened,
        resolved,
        rulings,
    };
    events::append(&tx, &audit(&recorded))?;
    tx.commit()
        .map_err(StoreError::query("commit review result"))?;
    Ok(recorded)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use cxd_proto::domain::{FindingStatus, Severity, Trigger, Verdict};

    use super::*;
    use crate::store::reviews::NewReview;

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

    /// A workspace with one open finding (from review 1) and a second review running.
    fn setup(dir: &Path) -> (Connection, i64, i64, i64) {
        let conn = crate::store::open_connection(&dir.join("db")).unwrap();
        let ws = workspaces::add(&conn, Path::new("/w"), "t").unwrap().id;
        let start = |conn: &Connection| {
            reviews::start(
                conn,
                &NewReview {
                    workspace_id: ws,
                    trigger: Trigger::Manual,
                    started_at: "t0".into(),
                    model: "m".into(),
                    effort: "e".into(),
                    thread_id: None,
                    argv: "[]".into(),
                    files: 1,
                    insertions: 1,
                    deletions: 0,
                    base_tree: None,
                    tree: None,
                },
            )
            .unwrap()
        };
        let first = start(&conn);
        let old = findings::open_many(&conn, ws, first, &[finding("old")]).unwrap()[0];
        let review = start(&conn);
        (conn, ws, review, old)
    }

    fn result(ws: i64, review: i64, old: i64) -> ReviewResult {
        ReviewResult {
            workspace_id: ws,
            review_id: review,
            finish: Finish {
                tokens: (10, 2, 3),
                summary: Some("two new".into()),
                ..Finish::new("t1".into(), Verdict::ChangesRequested)
            },
            thread_usage: Some(("thread-1".into(), (110, 20, 30))),
            findings: vec![finding("new a"), finding("new b")],
            fixed: vec![findings::public_id(old)],
            rulings: Vec::new(),
        }
    }

    fn audit(recorded: &Recorded) -> NewEvent {
        NewEvent {
            at: "t1".into(),
            workspace: Some("/w".into()),
            kind: "review_finished".into(),
            data: serde_json::json!({"opened": recorded.opened, "resolved": recorded.resolved}),
        }
    }

    #[test]
    fn a_review_result_writes_every_part_together() {
        let dir = tempfile::tempdir().unwrap();
        let (mut conn, ws, review, old) = setup(dir.path());

        let recorded = review_result(&mut conn, &result(ws, review, old), audit).unwrap();

        assert_eq!(recorded.resolved, [old]);
        assert_eq!(recorded.opened.len(), 2);
        let row = reviews::get(&conn, review).unwrap().unwrap();
        assert_eq!(row.verdict, Verdict::ChangesRequested);
        assert_eq!(row.tokens, (10, 2, 3));
        assert_eq!(row.summary.as_deref(), Some("two new"));
        assert_eq!(workspaces::usage(&conn, ws).unwrap(), (110, 20, 30));
        let all = findings::list(&conn, ws, true).unwrap();
        let status = |id: i64| all.iter().find(|f| f.id == id).unwrap().status;
        assert_eq!(status(old), FindingStatus::Resolved);
        assert!(
            recorded
                .opened
                .iter()
                .all(|&id| status(id) == FindingStatus::Open)
        );
        let events = crate::store::events::recent(&conn, None, 10).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, "review_finished");
        assert_eq!(
            events[0].data,
            serde_json::json!({"opened": recorded.opened, "resolved": [old]})
        );
    }

    /// What the store holds that a review result writes: the review's verdict, the
    /// workspace's usage, the findings (id, status) and the number of audit entries.
    type Written = (Verdict, (u64, u64, u64), Vec<(i64, FindingStatus)>, usize);

    fn written(conn: &Connection, ws: i64, review: i64) -> Written {
        let verdict = reviews::get(conn, review).unwrap().unwrap().verdict;
        let usage = workspaces::usage(conn, ws).unwrap();
        let list = findings::list(conn, ws, true)
            .unwrap()
            .into_iter()
            .map(|f| (f.id, f.status))
            .collect();
        let events = crate::store::events::recent(conn, None, 10).unwrap().len();
        (verdict, usage, list, events)
    }

    /// A failure at the last step (the audit entry) or in the middle (a finding the schema
    /// refuses) leaves none of the parts: not the verdict, the usage, a resolution nor an
    /// opened finding.
    #[test]
    fn a_failure_mid_way_leaves_none_of_the_parts() {
        let dir = tempfile::tempdir().unwrap();
        let (mut conn, ws, review, old) = setup(dir.path());
        let before = written(&conn, ws, review);
        assert_eq!(before.0, Verdict::Running);

        conn.execute_batch(
            "CREATE TEMP TRIGGER no_audit BEFORE INSERT ON events
             BEGIN SELECT RAISE(ABORT, 'the audit trail is full'); END;",
        )
        .unwrap();
        let e = review_result(&mut conn, &result(ws, review, old), audit).unwrap_err();
        assert!(e.to_string().contains("append event"), "{e}");
        assert_eq!(written(&conn, ws, review), before);

        conn.execute_batch("DROP TRIGGER no_audit").unwrap();
        let mut bad = result(ws, review, old);
        bad.findings[1].confidence = f64::NAN; // stored as NULL: NOT NULL refuses it
        let e = review_result(&mut conn, &bad, audit).unwrap_err();
        assert!(e.to_string().contains("open findings"), "{e}");
        assert_eq!(written(&conn, ws, review), before);

        // The same result without the fault is written whole.
        review_result(&mut conn, &result(ws, review, old), audit).unwrap();
        let after = written(&conn, ws, review);
        assert_eq!(after.0, Verdict::ChangesRequested);
        assert_eq!(after.3, 1);
    }
}
