//! What the unit tests share: one builder for a finding, as the store keeps it and as Codex
//! reports it in JSON; a migrated store holding one workspace.

use cxd_proto::domain::Severity;

use crate::finding::Finding;

/// A finding titled `title`: high, bug, a.rs lines 1-2, body "b", recommendation "r", 0.5 sure.
pub(crate) fn finding(title: &str) -> Finding {
    Finding {
        severity: Severity::High,
        category: "bug".into(),
        file: "a.rs".into(),
        line_start: 1,
        line_end: 2,
        title: title.into(),
        body: "b".into(),
        recommendation: "r".into(),
        confidence: 0.5,
    }
}

impl Finding {
    /// With this severity.
    pub(crate) fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }
    /// With this file ("" for the change as a whole).
    pub(crate) fn file(mut self, file: &str) -> Self {
        self.file = file.into();
        self
    }
    /// Covering these lines.
    pub(crate) fn lines(mut self, start: i64, end: i64) -> Self {
        self.line_start = start;
        self.line_end = end;
        self
    }
    /// With this body.
    pub(crate) fn body(mut self, body: &str) -> Self {
        self.body = body.into();
        self
    }
    /// With this recommendation.
    pub(crate) fn recommendation(mut self, recommendation: &str) -> Self {
        self.recommendation = recommendation.into();
        self
    }
    /// With this confidence.
    pub(crate) fn confidence(mut self, confidence: f64) -> Self {
        self.confidence = confidence;
        self
    }
    /// As Codex reports it in an answer's `findings`.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// A fresh, migrated store in a temporary directory (kept alive by the returned guard) with
/// one workspace: id 1, root `/r`.
pub(crate) fn store_with_workspace() -> (tempfile::TempDir, rusqlite::Connection) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let mut conn = rusqlite::Connection::open(&path).unwrap();
    crate::store::migrations::migrate(&mut conn, &path).unwrap();
    conn.execute(
        "INSERT INTO workspaces (id, root, added_at) VALUES (1, '/r', 't')",
        [],
    )
    .unwrap();
    (dir, conn)
}
