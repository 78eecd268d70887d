//! The audit trail: who edited what, what was reviewed, approved or dismissed, and when.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};

use super::StoreError;

/// An audit-trail event to append, as a workspace or request handler reports it.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// When it happened, RFC 3339 in UTC.
    pub at: String,
    /// The workspace root, if any.
    pub workspace: Option<PathBuf>,
    /// `edit`, `review_requested`, `review_started`, ...
    pub kind: String,
    /// Kind-specific fields, a JSON object.
    pub data: serde_json::Value,
}

/// A stored audit-trail event, as `cxd log` reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    /// Row id, increasing.
    pub id: i64,
    /// When it happened, RFC 3339 in UTC.
    pub at: String,
    /// The workspace root, if any.
    pub workspace: Option<PathBuf>,
    /// What happened, a snake_case word (`edit`, `review_finished`, `approval`, ...).
    pub kind: String,
    /// Kind-specific fields, a JSON object (for `edit`: `files`, `count`, `by`, `session`).
    pub data: serde_json::Value,
}

/// Append one event; returns its row id.
pub fn append(conn: &Connection, ev: &NewEvent) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO events (at, workspace, kind, data) VALUES (?1, ?2, ?3, ?4)",
        params![
            ev.at,
            ev.workspace
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned()),
            ev.kind,
            ev.data.to_string()
        ],
    )
    .map_err(StoreError::query("append event"))?;
    Ok(conn.last_insert_rowid())
}

/// The newest `limit` events (of one workspace, if given), oldest first.
pub fn recent(
    conn: &Connection,
    workspace: Option<&Path>,
    limit: u32,
) -> Result<Vec<EventRow>, StoreError> {
    let ws = workspace.map(|p| p.to_string_lossy().into_owned());
    let mut stmt = conn
        .prepare(
            "SELECT id, at, workspace, kind, data FROM events
             WHERE ?1 IS NULL OR workspace = ?1 ORDER BY id DESC LIMIT ?2",
        )
        .map_err(StoreError::query("read events"))?;
    let rows = stmt
        .query_map(params![ws, limit], |r| {
            let data: String = r.get(4)?;
            Ok(EventRow {
                id: r.get(0)?,
                at: r.get(1)?,
                workspace: r.get::<_, Option<String>>(2)?.map(PathBuf::from),
                kind: r.get(3)?,
                data: serde_json::from_str(&data).unwrap_or(serde_json::Value::String(data)),
            })
        })
        .map_err(StoreError::query("read events"))?;
    let mut out: Vec<EventRow> = rows
        .collect::<Result<_, _>>()
        .map_err(StoreError::query("read events"))?;
    out.reverse();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_and_read_back_per_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_connection(&dir.path().join("db")).unwrap();
        for i in 0..5 {
            let ws = if i % 2 == 0 { "/a" } else { "/b" };
            append(
                &conn,
                &NewEvent {
                    at: format!("t{i}"),
                    workspace: Some(ws.into()),
                    kind: "edit".into(),
                    data: serde_json::json!({"files": [format!("f{i}")]}),
                },
            )
            .unwrap();
        }
        let a = recent(&conn, Some(Path::new("/a")), 10).unwrap();
        assert_eq!(
            a.iter().map(|e| e.at.as_str()).collect::<Vec<_>>(),
            ["t0", "t2", "t4"]
        );
        let last2 = recent(&conn, None, 2).unwrap();
        assert_eq!(
            last2.iter().map(|e| e.at.as_str()).collect::<Vec<_>>(),
            ["t3", "t4"]
        );
        assert_eq!(last2[1].data["files"][0], "f4");
    }
}
