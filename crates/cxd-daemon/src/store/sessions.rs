//! Per-Claude-session memory: which findings it has been told about, and how many times its
//! stop was blocked (so the stop hook stays bounded).

use rusqlite::{Connection, params};

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
}
