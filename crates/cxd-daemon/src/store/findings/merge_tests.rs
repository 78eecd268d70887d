//! Merging a review's findings into those stored, and lines that follow a diff, on a real
//! SQLite database.

use super::*;
use crate::finding::fingerprint;
use crate::snapshot::hunks::DiffHunks;

fn reported(title: &str, lines: (i64, i64), text: &str) -> Reported {
    Reported {
        finding: Finding {
            severity: Severity::High,
            category: "style".into(),
            file: "src/main.rs".into(),
            line_start: lines.0,
            line_end: lines.1,
            title: title.into(),
            body: "b".into(),
            recommendation: "r".into(),
            confidence: 0.5,
        },
        fingerprint: fingerprint("src/main.rs", "style", Some(text)),
    }
}

const GREETING: &str = "println!(\"Hello, world\");";

fn setup() -> (tempfile::TempDir, Connection, i64) {
    let dir = tempfile::tempdir().unwrap();
    let conn = crate::store::open_connection(&dir.path().join("db")).unwrap();
    let ws = crate::store::workspaces::add(&conn, std::path::Path::new("/w"), "t")
        .unwrap()
        .id;
    (dir, conn, ws)
}

#[test]
fn an_open_finding_reported_again_is_updated_not_duplicated() {
    let (_d, conn, ws) = setup();
    let first = merge(
        &conn,
        ws,
        1,
        "t1",
        &[reported("Greeting text is hardcoded", (2, 2), GREETING)],
        &[],
    )
    .unwrap();
    assert_eq!(first.opened.len(), 1);
    let id = first.opened[0];
    // Reworded and moved down, with another problem in the same file.
    let second = merge(
        &conn,
        ws,
        2,
        "t2",
        &[
            reported("Hard-coded greeting string", (5, 5), GREETING),
            reported("Unchecked unwrap on parse", (9, 9), "x.parse().unwrap()"),
        ],
        &[],
    )
    .unwrap();
    assert_eq!(second.carried, [id]);
    assert_eq!(second.opened.len(), 1);
    assert_ne!(second.opened[0], id);
    let row = get(&conn, id).unwrap().unwrap();
    assert_eq!((row.seen, row.last_review, row.first_review), (2, 2, 1));
    assert_eq!(
        (row.finding.line_start, row.finding.title.as_str()),
        (5, "Hard-coded greeting string")
    );
    // Listed still open and reported again in one review: counted once.
    let third = merge(
        &conn,
        ws,
        3,
        "t3",
        &[reported("greeting text hardcoded", (5, 5), GREETING)],
        &[public_id(id)],
    )
    .unwrap();
    assert_eq!(third.carried, [id]);
    assert!(third.opened.is_empty());
    assert_eq!(get(&conn, id).unwrap().unwrap().seen, 3);
    assert_eq!(list(&conn, ws, false).unwrap().len(), 2);
}

#[test]
fn a_dismissed_finding_stays_dismissed_and_a_resolved_one_reopens() {
    let (_d, mut conn, ws) = setup();
    let ids = merge(
        &conn,
        ws,
        1,
        "t1",
        &[
            reported("Greeting text is hardcoded", (2, 2), GREETING),
            reported("Unchecked unwrap on parse", (9, 9), "x.parse().unwrap()"),
        ],
        &[],
    )
    .unwrap()
    .opened;
    change_status(
        &mut conn,
        ids[0],
        UserChange::Dismiss,
        Some("on purpose"),
        &crate::caller::Caller::Person,
        "t",
    )
    .unwrap()
    .unwrap();
    resolve(&conn, ws, 2, &[public_id(ids[1])], "t2").unwrap();

    let m = merge(
        &conn,
        ws,
        3,
        "t3",
        &[
            reported("The greeting is hardcoded", (2, 2), GREETING),
            reported(
                "parse result unwrapped unchecked",
                (9, 9),
                "x.parse().unwrap()",
            ),
        ],
        &[],
    )
    .unwrap();
    assert_eq!(m.dismissed_seen, [ids[0]]);
    assert_eq!(m.reopened, [ids[1]]);
    assert!(m.opened.is_empty() && m.carried.is_empty());
    let dismissed = get(&conn, ids[0]).unwrap().unwrap();
    assert_eq!(dismissed.status, FindingStatus::Dismissed);
    assert_eq!(dismissed.status_note.as_deref(), Some("on purpose"));
    assert_eq!(dismissed.seen, 2);
    let reopened = get(&conn, ids[1]).unwrap().unwrap();
    assert_eq!((reopened.status, reopened.seen), (FindingStatus::Open, 2));
    assert_eq!(list(&conn, ws, true).unwrap().len(), 2);
}

/// Codex withdrew it after a dispute: raising it again later does not flip it back open.
#[test]
fn a_withdrawn_finding_raised_again_stays_withdrawn() {
    let (_d, conn, ws) = setup();
    let id = merge(
        &conn,
        ws,
        1,
        "t1",
        &[reported("Greeting text is hardcoded", (2, 2), GREETING)],
        &[],
    )
    .unwrap()
    .opened[0];
    conn.execute(
        "UPDATE findings SET status = ?2 WHERE id = ?1",
        rusqlite::params![id, FindingStatus::Withdrawn],
    )
    .unwrap();
    let m = merge(
        &conn,
        ws,
        2,
        "t2",
        &[reported("The greeting is hardcoded", (2, 2), GREETING)],
        &[],
    )
    .unwrap();
    assert_eq!(m.dismissed_seen, [id]);
    assert!(m.opened.is_empty() && m.reopened.is_empty(), "{m:?}");
    let row = get(&conn, id).unwrap().unwrap();
    assert_eq!((row.status, row.seen), (FindingStatus::Withdrawn, 2));
}

#[test]
fn unknown_still_open_ids_are_ignored_and_nothing_is_lost() {
    let (_d, conn, ws) = setup();
    let other = crate::store::workspaces::add(&conn, std::path::Path::new("/o"), "t")
        .unwrap()
        .id;
    let foreign = open_many(&conn, other, 1, &[reported("x", (1, 1), "x").finding]).unwrap()[0];
    let m = merge(
        &conn,
        ws,
        1,
        "t1",
        &[reported("Greeting text is hardcoded", (2, 2), GREETING)],
        &[
            "F999".into(),
            "garbage".into(),
            public_id(foreign),
            String::new(),
        ],
    )
    .unwrap();
    assert_eq!(m.opened.len(), 1);
    assert_eq!(m.ignored.len(), 4);
    assert_eq!(get(&conn, foreign).unwrap().unwrap().seen, 1);
}

fn diff(old: &str, new: &str) -> DiffHunks {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("old"), old).unwrap();
    std::fs::write(dir.path().join("new"), new).unwrap();
    let out = std::process::Command::new("git")
        .current_dir(dir.path())
        .args(["diff", "--no-index", "old", "new"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout)
        .unwrap()
        .replace("a/old", "a/src/main.rs")
        .replace("b/new", "b/src/main.rs");
    DiffHunks::parse(&text)
}

#[test]
fn lines_follow_a_diff_and_deleted_lines_make_a_finding_outdated() {
    let (_d, conn, ws) = setup();
    let old: String = (1..=10).map(|i| format!("line {i}\n")).collect();
    let ids = merge(
        &conn,
        ws,
        1,
        "t1",
        &[
            reported("first problem here", (4, 5), "line 4\nline 5"),
            reported("second problem there", (8, 8), "line 8"),
        ],
        &[],
    )
    .unwrap()
    .opened;
    // Two lines added above, line 8 deleted.
    let new: String = ["new a\n", "new b\n"]
        .into_iter()
        .map(str::to_owned)
        .chain((1..=10).filter(|&i| i != 8).map(|i| format!("line {i}\n")))
        .collect();
    let outdated = follow(&conn, ws, &diff(&old, &new)).unwrap();
    assert_eq!(outdated, [ids[1]]);
    let moved = get(&conn, ids[0]).unwrap().unwrap();
    assert_eq!(
        (
            moved.finding.line_start,
            moved.finding.line_end,
            moved.outdated
        ),
        (6, 7, false)
    );
    assert!(get(&conn, ids[1]).unwrap().unwrap().outdated);
    // Reported anew at its new place: the same finding, no longer outdated.
    let m = merge(
        &conn,
        ws,
        2,
        "t2",
        &[reported("first problem", (6, 7), "line 4\nline 5")],
        &[],
    )
    .unwrap();
    assert_eq!(m.carried, [ids[0]]);
    // Still open, said Codex: no longer outdated.
    merge(&conn, ws, 2, "t2", &[], &[public_id(ids[1])]).unwrap();
    assert!(!get(&conn, ids[1]).unwrap().unwrap().outdated);
}
