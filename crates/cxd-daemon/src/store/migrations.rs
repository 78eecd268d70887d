//! Schema versions, applied in order inside one transaction each; `user_version` records them.

use std::path::Path;

use rusqlite::Connection;

use super::StoreError;

/// Each entry moves the schema one version up. Never edit a shipped entry: add a new one.
const MIGRATIONS: &[&str] = &[
    // 1: workspaces and the audit trail.
    "CREATE TABLE workspaces (
        id INTEGER PRIMARY KEY,
        root TEXT NOT NULL UNIQUE,
        added_at TEXT NOT NULL,
        paused INTEGER NOT NULL DEFAULT 0,
        thread_id TEXT,
        baseline_tree TEXT,
        baseline_head TEXT
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        workspace TEXT,
        kind TEXT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX events_by_workspace ON events(workspace, id);",
    // 2: reviews, findings, and each workspace's cumulative codex usage on its thread.
    "CREATE TABLE reviews (
        id INTEGER PRIMARY KEY,
        workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        trigger TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        model TEXT NOT NULL,
        effort TEXT NOT NULL,
        thread_id TEXT,
        argv TEXT NOT NULL,
        exit_code INTEGER,
        verdict TEXT NOT NULL,
        error_class TEXT,
        error_message TEXT,
        summary TEXT,
        raw_answer TEXT,
        tokens_input INTEGER NOT NULL DEFAULT 0,
        tokens_cached INTEGER NOT NULL DEFAULT 0,
        tokens_output INTEGER NOT NULL DEFAULT 0,
        files INTEGER NOT NULL DEFAULT 0,
        insertions INTEGER NOT NULL DEFAULT 0,
        deletions INTEGER NOT NULL DEFAULT 0,
        base_tree TEXT,
        tree TEXT,
        duration_ms INTEGER
    );
    CREATE INDEX reviews_by_workspace ON reviews(workspace_id, id);
    CREATE TABLE findings (
        id INTEGER PRIMARY KEY,
        workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        severity TEXT NOT NULL,
        category TEXT NOT NULL,
        file TEXT NOT NULL,
        line_start INTEGER NOT NULL,
        line_end INTEGER NOT NULL,
        title TEXT NOT NULL,
        body TEXT NOT NULL,
        recommendation TEXT NOT NULL,
        confidence REAL NOT NULL,
        status TEXT NOT NULL DEFAULT 'open',
        first_review INTEGER NOT NULL,
        last_review INTEGER NOT NULL,
        status_note TEXT,
        status_at TEXT
    );
    CREATE INDEX findings_by_workspace ON findings(workspace_id, status);
    ALTER TABLE workspaces ADD COLUMN usage_input INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE workspaces ADD COLUMN usage_cached INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE workspaces ADD COLUMN usage_output INTEGER NOT NULL DEFAULT 0;",
    // 3: the user's approvals of a tree.
    "CREATE TABLE approvals (
        id INTEGER PRIMARY KEY,
        workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        at TEXT NOT NULL,
        tree TEXT NOT NULL,
        head TEXT,
        note TEXT
    );
    CREATE INDEX approvals_by_workspace ON approvals(workspace_id, id);",
    // 4: what each Claude session was told, and how often its stop was blocked.
    "CREATE TABLE deliveries (
        session TEXT NOT NULL,
        finding INTEGER NOT NULL,
        PRIMARY KEY (session, finding)
    );
    CREATE TABLE stop_rounds (
        session TEXT PRIMARY KEY,
        rounds INTEGER NOT NULL
    );",
    // 5: disputes of findings and Codex's rulings on them.
    "CREATE TABLE disputes (
        id INTEGER PRIMARY KEY,
        finding INTEGER NOT NULL REFERENCES findings(id) ON DELETE CASCADE,
        author TEXT NOT NULL,
        session TEXT,
        reason TEXT NOT NULL,
        at TEXT NOT NULL,
        ruling TEXT,
        reply TEXT,
        review INTEGER,
        ruled_at TEXT
    );
    CREATE INDEX disputes_by_finding ON disputes(finding, id);",
    // 6: a finding's identity (the fingerprint of the lines it points at), how many reviews
    // saw it, and whether the lines it pointed at were deleted.
    "ALTER TABLE findings ADD COLUMN fingerprint TEXT;
    ALTER TABLE findings ADD COLUMN seen INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE findings ADD COLUMN outdated INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX findings_by_identity ON findings(workspace_id, file, category, fingerprint);",
    // 7: decisions the stop hook handed to the user, and how each was answered.
    "CREATE TABLE escalations (
        id INTEGER PRIMARY KEY,
        workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        session TEXT,
        why TEXT NOT NULL,
        findings TEXT NOT NULL,
        at TEXT NOT NULL,
        told INTEGER NOT NULL DEFAULT 0,
        answered_at TEXT,
        answered_by TEXT
    );
    CREATE INDEX escalations_by_workspace ON escalations(workspace_id, answered_at);",
    // 8: the newest review whose change held each finding (the stop gate blocks only on
    // findings in the agent's change), and where each agent session began in a workspace.
    "ALTER TABLE findings ADD COLUMN changed_review INTEGER;
    CREATE TABLE agent_sessions (
        session TEXT NOT NULL,
        workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        since_review INTEGER NOT NULL,
        PRIMARY KEY (session, workspace_id)
    );",
    // 9: why a review ran with its model and effort (purpose, size rule, or as asked).
    "ALTER TABLE reviews ADD COLUMN model_reason TEXT;",
    // 10: the trees each answered review covered (a snapshot of the work tree, or the trees of
    // reviewed commits), so "was this already reviewed?" is a lookup.
    "CREATE TABLE reviewed_trees (
        workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        tree TEXT NOT NULL,
        review_id INTEGER NOT NULL,
        PRIMARY KEY (workspace_id, tree, review_id)
    );",
];

/// The schema version this build writes.
pub fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

/// Bring the database up to [`latest`].
pub fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let open_err = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let current: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(open_err)?;
    if current > latest() {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found: current,
            supported: latest(),
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i as i64 + 1;
        let tx = conn.transaction().map_err(open_err)?;
        tx.execute_batch(sql).map_err(open_err)?;
        tx.pragma_update(None, "user_version", version)
            .map_err(open_err)?;
        tx.commit().map_err(open_err)?;
        tracing::info!(version, "database schema migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_refuses_newer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let mut conn = Connection::open(&path).unwrap();
        migrate(&mut conn, &path).unwrap();
        migrate(&mut conn, &path).unwrap();
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, latest());
        conn.pragma_update(None, "user_version", latest() + 1)
            .unwrap();
        let err = migrate(&mut conn, &path).unwrap_err();
        assert!(err.to_string().contains("upgrade cxd"), "{err}");
    }
}
