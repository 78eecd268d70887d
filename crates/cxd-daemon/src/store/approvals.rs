//! Approvals: the user accepts a tree as it is (`cxd approve`); a later change makes it stale.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

/// A stored approval: the tree the user accepted with `cxd approve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRow {
    /// When the user approved, RFC 3339 in UTC.
    pub at: String,
    /// The git tree id (hex) approved; the approval is current while the work tree still has it.
    pub tree: String,
    /// The commit HEAD pointed at then (None on an unborn branch).
    pub head: Option<String>,
    /// The user's `--note`, for the audit trail (None when not given).
    pub note: Option<String>,
}

/// Record an approval; older ones stay, the newest is the one that counts.
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
