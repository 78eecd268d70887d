//! Watched workspaces: they survive restarts, with their baseline and codex thread.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

/// A stored workspace: what survives a daemon restart about a watched work tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceRow {
    /// Row id; reviews, findings and approvals refer to the workspace by it.
    pub id: i64,
    /// The work-tree root, absolute and canonical (unique among rows).
    pub root: PathBuf,
    /// Whether `cxd pause` is in force: no review runs until `cxd unpause`.
    pub paused: bool,
    /// The daemon's own codex thread for it.
    pub thread_id: Option<String>,
    /// Tree id of the last reviewed snapshot.
    pub baseline_tree: Option<String>,
    /// HEAD when that snapshot was taken.
    pub baseline_head: Option<String>,
}

fn root_text(root: &Path) -> String {
    root.to_string_lossy().into_owned()
}

/// Add a workspace (idempotent) and return it.
pub fn add(conn: &Connection, root: &Path, at: &str) -> Result<WorkspaceRow, StoreError> {
    conn.execute(
        "INSERT INTO workspaces (root, added_at) VALUES (?1, ?2) ON CONFLICT(root) DO NOTHING",
        params![root_text(root), at],
    )
    .map_err(StoreError::query("add workspace"))?;
    get(conn, root)?.ok_or(StoreError::Query {
        action: "read back workspace",
        source: rusqlite::Error::QueryReturnedNoRows,
    })
}

/// Forget a workspace; returns whether it was there.
pub fn remove(conn: &Connection, root: &Path) -> Result<bool, StoreError> {
    let n = conn
        .execute(
            "DELETE FROM workspaces WHERE root = ?1",
            params![root_text(root)],
        )
        .map_err(StoreError::query("remove workspace"))?;
    Ok(n > 0)
}

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<WorkspaceRow> {
    Ok(WorkspaceRow {
        id: r.get(0)?,
        root: PathBuf::from(r.get::<_, String>(1)?),
        paused: r.get(2)?,
        thread_id: r.get(3)?,
        baseline_tree: r.get(4)?,
        baseline_head: r.get(5)?,
    })
}

const COLUMNS: &str = "id, root, paused, thread_id, baseline_tree, baseline_head";

/// One workspace by its canonical root; None when it is not stored.
pub fn get(conn: &Connection, root: &Path) -> Result<Option<WorkspaceRow>, StoreError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM workspaces WHERE root = ?1"),
        params![root_text(root)],
        from_row,
    )
    .optional()
    .map_err(StoreError::query("read workspace"))
}

/// Every workspace, in the order they were added.
pub fn list(conn: &Connection) -> Result<Vec<WorkspaceRow>, StoreError> {
    let mut stmt = conn
        .prepare(&format!("SELECT {COLUMNS} FROM workspaces ORDER BY id"))
        .map_err(StoreError::query("list workspaces"))?;
    let rows = stmt
        .query_map([], from_row)
        .map_err(StoreError::query("list workspaces"))?;
    rows.collect::<Result<_, _>>()
        .map_err(StoreError::query("list workspaces"))
}

/// Record the snapshot the next review diffs against.
pub fn set_baseline(
    conn: &Connection,
    id: i64,
    tree: &str,
    head: Option<&str>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE workspaces SET baseline_tree = ?2, baseline_head = ?3 WHERE id = ?1",
        params![id, tree, head],
    )
    .map_err(StoreError::query("set baseline"))?;
    Ok(())
}

/// The thread's cumulative usage as last read (input, cached input, output).
pub fn usage(conn: &Connection, id: i64) -> Result<(u64, u64, u64), StoreError> {
    conn.query_row(
        "SELECT usage_input, usage_cached, usage_output FROM workspaces WHERE id = ?1",
        params![id],
        |r| {
            Ok((
                r.get::<_, i64>(0)? as u64,
                r.get::<_, i64>(1)? as u64,
                r.get::<_, i64>(2)? as u64,
            ))
        },
    )
    .map_err(StoreError::query("read usage"))
}

/// Record the thread and its cumulative usage after a review.
pub fn set_thread_usage(
    conn: &Connection,
    id: i64,
    thread: Option<&str>,
    usage: (u64, u64, u64),
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE workspaces SET thread_id = ?2, usage_input = ?3, usage_cached = ?4, usage_output = ?5 WHERE id = ?1",
        params![id, thread, usage.0 as i64, usage.1 as i64, usage.2 as i64],
    )
    .map_err(StoreError::query("set thread usage"))?;
    Ok(())
}

/// Record `cxd pause` (true) or `cxd unpause` (false) so it survives a restart.
pub fn set_paused(conn: &Connection, id: i64, paused: bool) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE workspaces SET paused = ?2 WHERE id = ?1",
        params![id, paused],
    )
    .map_err(StoreError::query("set paused"))?;
    Ok(())
}

/// Set or clear the codex thread.
pub fn set_thread(conn: &Connection, id: i64, thread: Option<&str>) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE workspaces SET thread_id = ?2 WHERE id = ?1",
        params![id, thread],
    )
    .map_err(StoreError::query("set thread"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_list_update_remove() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_connection(&dir.path().join("db")).unwrap();
        let a = add(&conn, Path::new("/r/a"), "t").unwrap();
        assert_eq!(add(&conn, Path::new("/r/a"), "t2").unwrap().id, a.id);
        add(&conn, Path::new("/r/b"), "t").unwrap();
        set_baseline(&conn, a.id, "tree1", Some("head1")).unwrap();
        set_thread(&conn, a.id, Some("th")).unwrap();
        set_paused(&conn, a.id, true).unwrap();
        let all = list(&conn).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].baseline_tree.as_deref(), Some("tree1"));
        assert_eq!(all[0].thread_id.as_deref(), Some("th"));
        assert!(all[0].paused);
        assert!(remove(&conn, Path::new("/r/a")).unwrap());
        assert!(!remove(&conn, Path::new("/r/a")).unwrap());
        assert_eq!(list(&conn).unwrap().len(), 1);
    }
}
