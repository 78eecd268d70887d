//! The audit trail: who edited what, what was reviewed, approved or dismissed, and when.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

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

/// The newest unwatch of a workspace holding `path` (its root, when, and `by`), if it came
/// after agent `session` was first seen in the audit trail, or within the last day when the
/// session left no trace (it had not edited yet).
pub fn unwatched_since_session(
    conn: &Connection,
    path: &Path,
    session: &str,
) -> Result<Option<(PathBuf, String, String)>, StoreError> {
    let mut stmt = conn
        .prepare(
            "SELECT workspace, at, json_extract(data, '$.by') FROM events
             WHERE kind = 'unwatch' ORDER BY id DESC LIMIT 200",
        )
        .map_err(StoreError::query("read unwatches"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, Option<String>>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })
        .map_err(StoreError::query("read unwatches"))?;
    let mut newest = None;
    for row in rows {
        let (root, at, by) = row.map_err(StoreError::query("read unwatches"))?;
        if let Some(root) = root.map(PathBuf::from)
            && path.starts_with(&root)
        {
            newest = Some((root, at, by.unwrap_or_else(|| "unknown".into())));
            break;
        }
    }
    let Some((root, at, by)) = newest else {
        return Ok(None);
    };
    // Watched again since: nothing to report.
    let rewatched: bool = conn
        .query_row(
            "SELECT EXISTS(SELECT 1 FROM workspaces WHERE root = ?1)",
            params![root.to_string_lossy()],
            |r| r.get(0),
        )
        .map_err(StoreError::query("read workspaces"))?;
    if rewatched {
        return Ok(None);
    }
    let first_seen: Option<String> = conn
        .query_row(
            "SELECT at FROM events WHERE json_extract(data, '$.session') = ?1 ORDER BY id LIMIT 1",
            params![session],
            |r| r.get(0),
        )
        .optional()
        .map_err(StoreError::query("read session events"))?;
    let during = match first_seen {
        Some(first) => at >= first,
        None => crate::clock::parse_rfc3339(&at)
            .is_some_and(|t| (crate::clock::now() - t).whole_seconds() <= 24 * 3600),
    };
    Ok(during.then_some((root, at, by)))
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
