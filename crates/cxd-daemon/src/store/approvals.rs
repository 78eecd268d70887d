//! Approvals: the user accepts a tree as it is (`cxd approve`); a later change makes it stale.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

/// A stored approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRow {
    /// RFC 3339.
    pub at: String,
    /// The tree approved.
    pub tree: String,
    /// HEAD then.
    pub head: Option<String>,
    /// The user's note.
    pub note: Option<String>,
}

/// Record an approval.
pub fn add(conn: &Connection, workspace_id: i64, a: &ApprovalRow) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO approvals (workspace_id, at, tree, head, note) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![workspace_id, a.at, a.tree, a.head, a.note],
    )
    .map_err(StoreError::query("record approval"))?;
    Ok(())
}

/// The newest approval of a workspace.
pub fn last(conn: &Connection, workspace_id: i64) -> Result<Option<ApprovalRow>, StoreError> {
    conn.query_row(
        "SELECT at, tree, head, note FROM approvals WHERE workspace_id = ?1 ORDER BY id DESC LIMIT 1",
        params![workspace_id],
        |r| {
            Ok(ApprovalRow {
                at: r.get(0)?,
                tree: r.get(1)?,
                head: r.get(2)?,
                note: r.get(3)?,
            })
        },
    )
    .optional()
    .map_err(StoreError::query("read approval"))
}
