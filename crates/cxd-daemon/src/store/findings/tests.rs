//! The findings store on a real SQLite database: paging, counts, the lifecycle and its audit
//! entries, and words this build does not know.

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
