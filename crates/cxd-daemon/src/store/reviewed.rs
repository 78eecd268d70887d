//! The trees answered reviews covered: a work-tree snapshot an edit review read, the trees of
//! the commits a commit or range review read. "Was this tree already reviewed?" is a lookup
//! here, for the pre-push hook and `cxd status`.

use rusqlite::{Connection, params};

use super::StoreError;

/// Record that review `review_id` covered `trees` (repeats are ignored).
pub fn add(
    conn: &Connection,
    workspace_id: i64,
    review_id: i64,
    trees: &[String],
) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO reviewed_trees (workspace_id, tree, review_id) VALUES (?1, ?2, ?3)",
        )
        .map_err(StoreError::query("record reviewed trees"))?;
    for tree in trees {
        stmt.execute(params![workspace_id, tree, review_id])
            .map_err(StoreError::query("record reviewed trees"))?;
    }
    Ok(())
}

/// Whether any answered review of the workspace covered `tree`.
pub fn covered(conn: &Connection, workspace_id: i64, tree: &str) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM reviewed_trees WHERE workspace_id = ?1 AND tree = ?2)",
        params![workspace_id, tree],
        |r| r.get(0),
    )
    .map_err(StoreError::query("look up a reviewed tree"))
}

/// Whether a review of the workspace newer than review `after` covered `tree`.
pub fn covered_after(
    conn: &Connection,
    workspace_id: i64,
    tree: &str,
    after: i64,
) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM reviewed_trees
                        WHERE workspace_id = ?1 AND tree = ?2 AND review_id > ?3)",
        params![workspace_id, tree, after],
        |r| r.get(0),
    )
    .map_err(StoreError::query("look up a reviewed tree"))
}

/// The newest review id of the workspace (0: none yet).
pub fn newest_review(conn: &Connection, workspace_id: i64) -> Result<i64, StoreError> {
    conn.query_row(
        "SELECT COALESCE(MAX(id), 0) FROM reviews WHERE workspace_id = ?1",
        params![workspace_id],
        |r| r.get(0),
    )
    .map_err(StoreError::query("look up the newest review"))
}

/// The reviews that covered any of `trees`, oldest first.
pub fn reviews_covering(
    conn: &Connection,
    workspace_id: i64,
    trees: &[String],
) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT review_id FROM reviewed_trees WHERE workspace_id = ?1 AND tree = ?2",
        )
        .map_err(StoreError::query("look up reviewed trees"))?;
    let mut ids = Vec::new();
    for tree in trees {
        let rows = stmt
            .query_map(params![workspace_id, tree], |r| r.get::<_, i64>(0))
            .map_err(StoreError::query("look up reviewed trees"))?;
        for id in rows {
            ids.push(id.map_err(StoreError::query("look up reviewed trees"))?);
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_covered_tree_is_found_and_others_are_not() {
        let (_dir, conn) = crate::test_support::store_with_workspace();
        let (a, b) = ("a".repeat(40), "b".repeat(40));
        add(&conn, 1, 7, std::slice::from_ref(&a)).unwrap();
        add(&conn, 1, 7, std::slice::from_ref(&a)).unwrap();
        add(&conn, 1, 9, &[a.clone(), b.clone()]).unwrap();
        assert!(covered(&conn, 1, &a).unwrap());
        assert!(!covered(&conn, 1, &"c".repeat(40)).unwrap());
        assert!(!covered(&conn, 2, &a).unwrap());
        assert_eq!(reviews_covering(&conn, 1, &[b]).unwrap(), [9]);
        assert_eq!(
            reviews_covering(&conn, 1, std::slice::from_ref(&a)).unwrap(),
            [7, 9]
        );
        assert!(covered_after(&conn, 1, &a, 7).unwrap());
        assert!(!covered_after(&conn, 1, &a, 9).unwrap());
        assert!(!covered_after(&conn, 2, &a, 0).unwrap());
    }

    #[test]
    fn the_newest_review_is_zero_without_reviews() {
        let (_dir, conn) = crate::test_support::store_with_workspace();
        assert_eq!(newest_review(&conn, 1).unwrap(), 0);
        for id in [3, 5] {
            conn.execute(
                "INSERT INTO reviews (id, workspace_id, trigger, started_at, model, effort, argv, verdict)
                 VALUES (?1, 1, 'edit', 't', 'm', 'e', '[]', 'approve')",
                params![id],
            )
            .unwrap();
        }
        assert_eq!(newest_review(&conn, 1).unwrap(), 5);
        assert_eq!(newest_review(&conn, 2).unwrap(), 0);
    }
}
