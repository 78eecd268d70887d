//! Lines that follow the code: a reviewed diff moves the lines stored findings point at, and
//! marks open findings whose lines it deleted `outdated`.

use cxd_proto::domain::FindingStatus;
use rusqlite::{Connection, params};

use crate::snapshot::hunks::{DiffHunks, Fate};
use crate::store::StoreError;

/// A stored line number as the hunks count them (0: not about lines).
fn line(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Move the findings of `workspace_id` in the files `hunks` changed to where their lines are
/// after the change (every status: a re-report is compared with closed findings too). An
/// open finding whose every line was deleted becomes `outdated`. `hunks` must be the diff
/// from the tree the findings point into (the last reviewed one) to the reviewed tree.
/// Returns the ids that became outdated.
pub fn follow(
    conn: &Connection,
    workspace_id: i64,
    hunks: &DiffHunks,
) -> Result<Vec<i64>, StoreError> {
    let err = StoreError::query("follow finding lines");
    let mut select = conn
        .prepare_cached(
            "SELECT id, line_start, line_end, status, outdated FROM findings
             WHERE workspace_id = ?1 AND file = ?2",
        )
        .map_err(err)?;
    let mut update = conn
        .prepare_cached(
            "UPDATE findings SET file = ?2, line_start = ?3, line_end = ?4, outdated = ?5
             WHERE id = ?1",
        )
        .map_err(StoreError::query("follow finding lines"))?;
    let mut outdated = Vec::new();
    // Collected first, written after: a file renamed onto another's old name must not move twice.
    let mut moves = Vec::new();
    for f in hunks.files() {
        let Some(old) = &f.old_path else { continue };
        let rows: Vec<(i64, i64, i64, FindingStatus, bool)> = select
            .query_map(params![workspace_id, old], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .and_then(Iterator::collect)
            .map_err(StoreError::query("follow finding lines"))?;
        for (id, start, end, status, was_outdated) in rows {
            let (file, start, end, deleted) = match hunks.follow(old, line(start), line(end)) {
                Fate::Untouched => continue,
                Fate::Moved { file, start, end } => (file, start, end, false),
                Fate::Deleted { file, start, end } => (file, start, end, true),
            };
            let now_outdated = was_outdated || (deleted && status == FindingStatus::Open);
            if now_outdated && !was_outdated {
                outdated.push(id);
            }
            moves.push((id, file, start, end, now_outdated));
        }
    }
    let to_i64 = |n: u64| i64::try_from(n).unwrap_or(0);
    for (id, file, start, end, now_outdated) in moves {
        update
            .execute(params![id, file, to_i64(start), to_i64(end), now_outdated])
            .map_err(StoreError::query("follow finding lines"))?;
    }
    Ok(outdated)
}
