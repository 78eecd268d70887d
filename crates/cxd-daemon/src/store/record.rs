//! A finished review's result in one transaction: the review row's ending, the thread's
//! usage, its rulings on disputed findings, the findings it opened, carried, reopened and
//! resolved (and the lines of stored findings moved by its diff), and its audit entries
//! (`withdrawal`, `upheld`, `review_finished`). Either
//! all of them are written or none is, so the audit trail never tells of a review the store
//! does not hold (nor the other way round).

use rusqlite::Connection;

use super::StoreError;
use super::events::{self, NewEvent};
use super::findings;
use super::reviewed;
use super::reviews::{self, Finish};
use super::workspaces;
use crate::scope::ReviewedChange;
use crate::snapshot::hunks::DiffHunks;

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
    /// The findings Codex reported, merged into those stored ([`findings::merge`]).
    pub reported: Vec<findings::Reported>,
    /// The public ids Codex said are fixed.
    pub fixed: Vec<String>,
    /// Codex's rulings on disputed findings.
    pub rulings: Vec<findings::RulingInput>,
    /// The public ids Codex said are still open.
    pub still_open: Vec<String>,
    /// The reviewed diff's hunks, when it went from the tree the stored findings point into
    /// (None: lines stay where they are; see `workspace::runs`).
    pub hunks: Option<DiffHunks>,
    /// What the review covered: findings it holds are marked in the change (None: a plan).
    pub change: Option<ReviewedChange>,
    /// The tree ids an answered review covered (empty for a plan or a failed run).
    pub covers: Vec<String>,
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
    /// Open findings reported again or listed as still open.
    pub carried: Vec<i64>,
    /// Resolved findings reported again, open once more.
    pub reopened: Vec<i64>,
    /// Dismissed findings reported again (still dismissed).
    pub dismissed_seen: Vec<i64>,
    /// Open findings whose lines this review's diff deleted (and that the answer neither
    /// resolved nor reported again).
    pub outdated: Vec<i64>,
    /// `still_open_ids` that named no open finding (ignored).
    pub ignored: Vec<String>,
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
    // Lines first: the stored findings then count lines as the reviewed tree does, like the
    // findings Codex reports.
    let mut outdated = match &result.hunks {
        Some(h) => findings::follow(&tx, ws, h)?,
        None => Vec::new(),
    };
    let mut resolved = findings::resolve(&tx, ws, result.review_id, &result.fixed, at)?;
    let merged = findings::merge(
        &tx,
        ws,
        result.review_id,
        at,
        &result.reported,
        &result.still_open,
    )?;
    if let Some(change) = &result.change {
        let reported: Vec<i64> = [&merged.opened, &merged.carried, &merged.reopened]
            .into_iter()
            .flatten()
            .copied()
            .collect();
        findings::mark_in_change(&tx, ws, result.review_id, change, &reported)?;
    }
    // Said fixed and reported again in one answer: the report wins, nothing is lost.
    resolved.retain(|id| !merged.reopened.contains(id));
    // Outdated means open with its lines gone: not when this answer resolved it or reported it
    // at its new place.
    outdated.retain(|id| !resolved.contains(id) && !merged.carried.contains(id));
    let recorded = Recorded {
        rulings,
        opened: merged.opened,
        resolved,
        carried: merged.carried,
        reopened: merged.reopened,
        dismissed_seen: merged.dismissed_seen,
        outdated,
        ignored: merged.ignored,
    };
    reviewed::add(&tx, ws, result.review_id, &result.covers)?;
    events::append(&tx, &audit(&recorded))?;
    tx.commit()
        .map_err(StoreError::query("commit review result"))?;
    Ok(recorded)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use cxd_proto::domain::{FindingStatus, Trigger, Verdict};

    use super::*;
    use crate::store::reviews::NewReview;
    use crate::test_support::finding;

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
                    model_reason: None,
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
            reported: [finding("alpha overflow"), finding("beta leak")]
                .into_iter()
                .map(|finding| findings::Reported {
                    finding,
                    fingerprint: None,
                })
                .collect(),
            covers: vec!["t".repeat(40)],
            fixed: vec![findings::public_id(old)],
            rulings: Vec::new(),
            still_open: Vec::new(),
            hunks: None,
            change: None,
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
        bad.reported[1].finding.confidence = f64::NAN; // stored as NULL: NOT NULL refuses it
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
