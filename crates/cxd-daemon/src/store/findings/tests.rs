//! The findings store on a real SQLite database: paging, counts, the lifecycle and its audit
//! entries, and words this build does not know.

use super::*;
use crate::test_support::finding;

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
    assert!(belongs(&conn, ws, ids[0]).unwrap());
    assert!(!belongs(&conn, ws, foreign[0]).unwrap());
    assert!(belongs(&conn, other, foreign[0]).unwrap());
    assert!(!belongs(&conn, ws, 999).unwrap());
    let row = change_status(
        &mut conn,
        ids[1],
        UserChange::Dismiss,
        Some("intended"),
        &crate::caller::Caller::Person,
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
    change_status(
        &mut conn,
        ids[4],
        UserChange::Dismiss,
        None,
        &crate::caller::Caller::Person,
        "t",
    )
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

    let changed = change_status(
        &mut conn,
        id,
        UserChange::Dismiss,
        Some("intended"),
        &crate::caller::Caller::Person,
        "t1",
    )
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
        serde_json::json!({"finding": public_id(id), "title": "leak", "reason": "intended",
                           "severity": "high", "by": "human"})
    );

    let changed = change_status(
        &mut conn,
        id,
        UserChange::Reopen,
        None,
        &crate::caller::Caller::Person,
        "t2",
    )
    .unwrap()
    .unwrap();
    assert_eq!(changed.row.status, FindingStatus::Open);
    assert_eq!(get(&conn, id).unwrap().unwrap().status, FindingStatus::Open);
    assert_eq!(audit_kinds(&conn), ["dismissal", "reopen"]);

    change_status(
        &mut conn,
        id,
        UserChange::Resolve,
        None,
        &crate::caller::Caller::Person,
        "t3",
    )
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

    let refused = change_status(
        &mut conn,
        id,
        UserChange::Reopen,
        Some("why"),
        &crate::caller::Caller::Person,
        "t",
    )
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

    let refused = change_status(
        &mut conn,
        999,
        UserChange::Dismiss,
        None,
        &crate::caller::Caller::Person,
        "t",
    )
    .unwrap()
    .unwrap_err();
    assert_eq!(refused, Refusal::NoSuchFinding(999));
    assert!(audit_kinds(&conn).is_empty());

    // A finding a review resolved cannot be dismissed (nor resolved again).
    resolve(&conn, ws, 2, &[public_id(id)], "t").unwrap();
    for change in [UserChange::Dismiss, UserChange::Resolve] {
        assert!(
            change_status(
                &mut conn,
                id,
                change,
                None,
                &crate::caller::Caller::Person,
                "t"
            )
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
    change_status(
        &mut conn,
        ids[3],
        UserChange::Dismiss,
        None,
        &crate::caller::Caller::Person,
        "t",
    )
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

fn new_dispute(reason: &str) -> NewDispute {
    NewDispute {
        by: cxd_proto::domain::Author::Agent,
        session: Some("sess-1".into()),
        reason: reason.into(),
    }
}

fn ruling(id: i64, ruling: cxd_proto::domain::Ruling, reply: &str) -> RulingInput {
    RulingInput {
        id: public_id(id),
        ruling,
        reply: reply.into(),
    }
}

#[test]
fn a_dispute_and_its_audit_entry_are_written_together() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = crate::store::open_connection(&dir.path().join("db")).unwrap();
    let ws = crate::store::workspaces::add(&conn, std::path::Path::new("/w"), "t")
        .unwrap()
        .id;
    let id = open_many(&conn, ws, 1, &[finding("leak")]).unwrap()[0];

    let changed = dispute(&mut conn, id, &new_dispute("freed in drop"), "t1")
        .unwrap()
        .unwrap();
    assert_eq!(changed.row.status, FindingStatus::Open);
    let d = changed.row.pending_dispute().expect("a pending dispute");
    assert_eq!(
        (d.by, d.session.as_deref(), d.reason.as_str(), d.at.as_str()),
        (
            cxd_proto::domain::Author::Agent,
            Some("sess-1"),
            "freed in drop",
            "t1"
        )
    );
    assert_eq!((d.ruling, d.reply.as_deref(), d.review), (None, None, None));
    let events = crate::store::events::recent(&conn, None, 10).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, "dispute");
    assert_eq!(
        events[0].data,
        serde_json::json!({"finding": public_id(id), "title": "leak", "by": "agent",
            "session": "sess-1", "reason": "freed in drop"})
    );
    // The list and the page read the dispute too.
    assert_eq!(
        list(&conn, ws, false).unwrap()[0].dispute,
        changed.row.dispute
    );

    // A dispute with a failing audit entry leaves no dispute either.
    let other = open_many(&conn, ws, 1, &[finding("race")]).unwrap()[0];
    conn.execute_batch(
        "CREATE TEMP TRIGGER no_audit BEFORE INSERT ON events
         BEGIN SELECT RAISE(ABORT, 'the audit trail is full'); END;",
    )
    .unwrap();
    assert!(dispute(&mut conn, other, &new_dispute("r"), "t2").is_err());
    assert_eq!(get(&conn, other).unwrap().unwrap().dispute, None);
}

#[test]
fn a_refused_dispute_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = crate::store::open_connection(&dir.path().join("db")).unwrap();
    let ws = crate::store::workspaces::add(&conn, std::path::Path::new("/w"), "t")
        .unwrap()
        .id;
    let ids = open_many(&conn, ws, 1, &[finding("a"), finding("b")]).unwrap();
    change_status(
        &mut conn,
        ids[1],
        UserChange::Resolve,
        None,
        &crate::caller::Caller::Person,
        "t",
    )
    .unwrap()
    .unwrap();
    let kinds_before = audit_kinds(&conn);

    let e = dispute(&mut conn, 999, &new_dispute("r"), "t")
        .unwrap()
        .unwrap_err();
    assert_eq!(e, Refusal::NoSuchFinding(999));
    let e = dispute(&mut conn, ids[1], &new_dispute("r"), "t")
        .unwrap()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{0} is resolved: only an open finding can be disputed (`cxd reopen {0}` first if it still matters)",
            public_id(ids[1])
        )
    );
    dispute(&mut conn, ids[0], &new_dispute("first"), "t")
        .unwrap()
        .unwrap();
    let e = dispute(&mut conn, ids[0], &new_dispute("second"), "t")
        .unwrap()
        .unwrap_err();
    assert_eq!(e, Refusal::AlreadyDisputed(ids[0]));
    assert_eq!(
        get(&conn, ids[0]).unwrap().unwrap().dispute.unwrap().reason,
        "first"
    );
    assert_eq!(get(&conn, ids[1]).unwrap().unwrap().dispute, None);
    let mut kinds = kinds_before;
    kinds.push("dispute".into());
    assert_eq!(
        audit_kinds(&conn),
        kinds,
        "only the accepted dispute is logged"
    );
}

#[test]
fn rulings_withdraw_or_uphold_disputed_findings_and_ignore_the_rest() {
    use cxd_proto::domain::Ruling::{Uphold, Withdraw};
    let dir = tempfile::tempdir().unwrap();
    let mut conn = crate::store::open_connection(&dir.path().join("db")).unwrap();
    let ws = crate::store::workspaces::add(&conn, std::path::Path::new("/w"), "t")
        .unwrap()
        .id;
    let other = crate::store::workspaces::add(&conn, std::path::Path::new("/o"), "t")
        .unwrap()
        .id;
    let ids = open_many(&conn, ws, 1, &[finding("a"), finding("b"), finding("c")]).unwrap();
    let foreign = open_many(&conn, other, 1, &[finding("d")]).unwrap()[0];
    for id in [ids[0], ids[1], foreign] {
        dispute(&mut conn, id, &new_dispute("wrong"), "t")
            .unwrap()
            .unwrap();
    }
    let before = audit_kinds(&conn).len();

    let rulings = [
        ruling(ids[0], Withdraw, "right,\nthe caller checks"),
        ruling(ids[1], Uphold, "still overflows"),
        ruling(ids[2], Withdraw, "not disputed"),
        ruling(foreign, Withdraw, "another workspace"),
        ruling(ids[0], Uphold, "a second ruling"),
        RulingInput {
            id: "F999".into(),
            ruling: Withdraw,
            reply: "r".into(),
        },
        RulingInput {
            id: "garbage".into(),
            ruling: Uphold,
            reply: "r".into(),
        },
    ];
    let done = rule(&conn, ws, 2, &rulings, "t2").unwrap();
    assert_eq!((done.withdrawn, done.upheld), (vec![ids[0]], vec![ids[1]]));
    assert_eq!(done.ignored.len(), 5, "{:?}", done.ignored);

    let row = |id| get(&conn, id).unwrap().unwrap();
    assert_eq!(row(ids[0]).status, FindingStatus::Withdrawn);
    let d = row(ids[0]).dispute.unwrap();
    assert_eq!(
        (d.ruling, d.reply.as_deref(), d.review),
        (Some(Withdraw), Some("right, the caller checks"), Some(2))
    );
    assert_eq!(row(ids[1]).status, FindingStatus::Open);
    assert_eq!(row(ids[1]).last_review, 2);
    assert_eq!(row(ids[1]).pending_dispute(), None, "ruled");
    assert_eq!(
        row(ids[1]).dispute.unwrap().reply.as_deref(),
        Some("still overflows")
    );
    assert_eq!(row(ids[2]).status, FindingStatus::Open);
    assert_eq!(row(foreign).status, FindingStatus::Open);
    assert!(row(foreign).pending_dispute().is_some());
    assert_eq!(audit_kinds(&conn)[before..], ["withdrawal", "upheld"]);
    // Withdrawn stops counting; `cxd reopen` brings it back.
    assert_eq!(open_counts(&conn, ws).unwrap().high, 2);
    change_status(
        &mut conn,
        ids[0],
        UserChange::Reopen,
        None,
        &crate::caller::Caller::Person,
        "t3",
    )
    .unwrap()
    .unwrap();
    assert_eq!(open_counts(&conn, ws).unwrap().high, 3);
}

/// A review asked for with no change runs only for a dispute no prompt has carried yet.
#[test]
fn only_a_dispute_newer_than_the_last_shown_is_unseen() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = crate::store::open_connection(&dir.path().join("db")).unwrap();
    let ws = crate::store::workspaces::add(&conn, std::path::Path::new("/w"), "t")
        .unwrap()
        .id;
    let ids = open_many(&conn, ws, 1, &[finding("a"), finding("b")]).unwrap();
    assert!(!unseen_disputes(&list(&conn, ws, false).unwrap(), 0));
    dispute(&mut conn, ids[0], &new_dispute("r"), "t")
        .unwrap()
        .unwrap();
    let open = list(&conn, ws, false).unwrap();
    let shown = open[0].dispute.as_ref().unwrap().id;
    assert!(unseen_disputes(&open, 0));
    assert!(!unseen_disputes(&open, shown), "shown already");
    dispute(&mut conn, ids[1], &new_dispute("r"), "t")
        .unwrap()
        .unwrap();
    assert!(unseen_disputes(&list(&conn, ws, false).unwrap(), shown));
    // Ruled, nothing waits any more.
    let rulings = [
        ruling(ids[0], cxd_proto::domain::Ruling::Uphold, "no"),
        ruling(ids[1], cxd_proto::domain::Ruling::Uphold, "no"),
    ];
    rule(&conn, ws, 2, &rulings, "t").unwrap();
    assert!(!unseen_disputes(&list(&conn, ws, false).unwrap(), 0));
}
