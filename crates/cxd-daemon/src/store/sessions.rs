//! Per-Claude-session memory: which findings it has been told about, and how many times its
//! stop was blocked (so the stop hook stays bounded).

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use super::findings::{self, FindingRow};

/// Open findings of a workspace this session has not been told about, at most `limit` of
/// them; marks those told (the rest stay untold for the next call).
pub fn undelivered(
    conn: &mut Connection,
    session: &str,
    workspace_id: i64,
    limit: usize,
) -> Result<Vec<FindingRow>, StoreError> {
    let tx = conn
        .transaction()
        .map_err(StoreError::query("begin delivery"))?;
    let open = findings::list(&tx, workspace_id, false)?;
    let mut fresh = Vec::new();
    for f in open {
        if fresh.len() == limit {
            break;
        }
        let n = tx
            .execute(
                "INSERT OR IGNORE INTO deliveries (session, finding) VALUES (?1, ?2)",
                params![session, f.id],
            )
            .map_err(StoreError::query("record delivery"))?;
        if n > 0 {
            fresh.push(f);
        }
    }
    tx.commit().map_err(StoreError::query("commit delivery"))?;
    Ok(fresh)
}

/// Record that the session was told about these findings (by the stop hook's block).
pub fn mark_told(conn: &Connection, session: &str, findings: &[i64]) -> Result<(), StoreError> {
    for f in findings {
        conn.execute(
            "INSERT OR IGNORE INTO deliveries (session, finding) VALUES (?1, ?2)",
            params![session, f],
        )
        .map_err(StoreError::query("record delivery"))?;
    }
    Ok(())
}

/// Add one blocked stop for the session (or reset the count); returns the count now.
pub fn bump_rounds(conn: &Connection, session: &str, reset: bool) -> Result<u32, StoreError> {
    if reset {
        conn.execute(
            "DELETE FROM stop_rounds WHERE session = ?1",
            params![session],
        )
        .map_err(StoreError::query("reset stop rounds"))?;
        return Ok(0);
    }
    conn.query_row(
        "INSERT INTO stop_rounds (session, rounds) VALUES (?1, 1)
         ON CONFLICT(session) DO UPDATE SET rounds = rounds + 1 RETURNING rounds",
        params![session],
        |r| r.get::<_, u32>(0),
    )
    .map_err(StoreError::query("count stop rounds"))
}

/// Remember where agent `session` began in the workspace (the newest review then: reviews
/// after it cover the session's change), the first time it is seen there; returns it.
pub fn began(conn: &Connection, session: &str, workspace_id: i64) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT OR IGNORE INTO agent_sessions (session, workspace_id, since_review)
         VALUES (?1, ?2, (SELECT COALESCE(MAX(id), 0) FROM reviews WHERE workspace_id = ?2))",
        params![session, workspace_id],
    )
    .map_err(StoreError::query("record session start"))?;
    since(conn, session, workspace_id).map(|s| s.unwrap_or(0))
}

/// Where agent `session` began in the workspace, for its stop: a session first seen at a stop
/// (it edited only through other tools, or not yet) began before every review, so every
/// reviewed change counts as its own; recorded, so a later edit does not narrow it.
pub fn began_by_stop(
    conn: &Connection,
    session: &str,
    workspace_id: i64,
) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT OR IGNORE INTO agent_sessions (session, workspace_id, since_review)
         VALUES (?1, ?2, 0)",
        params![session, workspace_id],
    )
    .map_err(StoreError::query("record session start"))?;
    since(conn, session, workspace_id).map(|s| s.unwrap_or(0))
}

/// The newest review of the workspace before agent `session` began there (None: the session
/// was never seen there).
pub fn since(
    conn: &Connection,
    session: &str,
    workspace_id: i64,
) -> Result<Option<i64>, StoreError> {
    conn.query_row(
        "SELECT since_review FROM agent_sessions WHERE session = ?1 AND workspace_id = ?2",
        params![session, workspace_id],
        |r| r.get(0),
    )
    .optional()
    .map_err(StoreError::query("read session start"))
}

/// The session's blocked stops so far.
pub fn rounds(conn: &Connection, session: &str) -> Result<u32, StoreError> {
    conn.query_row(
        "SELECT COALESCE((SELECT rounds FROM stop_rounds WHERE session = ?1), 0)",
        params![session],
        |r| r.get(0),
    )
    .map_err(StoreError::query("read stop rounds"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_once_and_rounds_count() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::store::open_connection(&dir.path().join("db")).unwrap();
        let ws = crate::store::workspaces::add(&conn, std::path::Path::new("/w"), "t")
            .unwrap()
            .id;
        let f = crate::finding::Finding {
            severity: cxd_proto::domain::Severity::High,
            category: "bug".into(),
            file: String::new(),
            line_start: 0,
            line_end: 0,
            title: "t".into(),
            body: String::new(),
            recommendation: String::new(),
            confidence: 1.0,
        };
        findings::open_many(&conn, ws, 1, std::slice::from_ref(&f)).unwrap();
        assert_eq!(undelivered(&mut conn, "s1", ws, 50).unwrap().len(), 1);
        assert!(undelivered(&mut conn, "s1", ws, 50).unwrap().is_empty());
        assert_eq!(
            undelivered(&mut conn, "s2", ws, 50).unwrap().len(),
            1,
            "per session"
        );
        findings::open_many(&conn, ws, 2, std::slice::from_ref(&f)).unwrap();
        assert_eq!(
            undelivered(&mut conn, "s1", ws, 50).unwrap().len(),
            1,
            "only the new one"
        );
        findings::open_many(&conn, ws, 3, &[f.clone(), f.clone(), f.clone()]).unwrap();
        assert_eq!(undelivered(&mut conn, "s1", ws, 2).unwrap().len(), 2);
        assert_eq!(
            undelivered(&mut conn, "s1", ws, 2).unwrap().len(),
            1,
            "the rest at the next call"
        );
        assert_eq!(bump_rounds(&conn, "s1", false).unwrap(), 1);
        assert_eq!(bump_rounds(&conn, "s1", false).unwrap(), 2);
        assert_eq!(rounds(&conn, "s1").unwrap(), 2);
        assert_eq!(bump_rounds(&conn, "s1", true).unwrap(), 0);
        assert_eq!(rounds(&conn, "s1").unwrap(), 0);
    }

    #[test]
    fn a_session_begins_once_per_workspace_at_the_newest_review() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_connection(&dir.path().join("db")).unwrap();
        let ws = crate::store::workspaces::add(&conn, std::path::Path::new("/w"), "t")
            .unwrap()
            .id;
        assert_eq!(since(&conn, "s1", ws).unwrap(), None);
        assert_eq!(began(&conn, "s1", ws).unwrap(), 0, "no review yet");
        conn.execute(
            "INSERT INTO reviews (workspace_id, trigger, started_at, model, effort, argv, verdict)
             VALUES (?1, 'edit', 't', 'm', 'e', '[]', 'approve')",
            params![ws],
        )
        .unwrap();
        assert_eq!(began(&conn, "s1", ws).unwrap(), 0, "the first start stays");
        assert_eq!(began(&conn, "s2", ws).unwrap(), 1);
        assert_eq!(since(&conn, "s2", ws).unwrap(), Some(1));
        assert_eq!(
            began_by_stop(&conn, "s2", ws).unwrap(),
            1,
            "seen first by an edit"
        );
        assert_eq!(
            began_by_stop(&conn, "s3", ws).unwrap(),
            0,
            "seen first by a stop"
        );
        assert_eq!(
            began(&conn, "s3", ws).unwrap(),
            0,
            "a later edit does not narrow it"
        );
    }
}
