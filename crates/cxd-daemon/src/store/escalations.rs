//! Decisions the stop hook handed to the user (`needs you`), and how each was answered: a
//! dismissal, an approval or an edit by a person, or a later review that closed every finding
//! it was about. Raising and answering write their audit entries (`escalation`,
//! `escalation_answered`) in the same call.

use std::collections::HashMap;
use std::path::Path;

use cxd_proto::domain::{EscalationWhy, FindingStatus, Severity};
use cxd_proto::status::{LOOP_ROUNDS, LoopStatus, NeedsYou, RoundCounts};
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use super::events::{self, NewEvent};
use super::findings::{self, public_id};
use crate::convergence;

/// An unanswered escalation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationRow {
    /// Row id.
    pub id: i64,
    /// Why it was raised.
    pub why: EscalationWhy,
    /// Row ids of the findings it is about.
    pub findings: Vec<i64>,
    /// When, RFC 3339.
    pub at: String,
    /// An agent has been told about it (the stop hook blocked with it once).
    pub told: bool,
}

impl EscalationRow {
    /// As status and the gate show it.
    pub fn needs_you(&self) -> NeedsYou {
        NeedsYou {
            why: self.why,
            since: self.at.clone(),
            findings: self.findings.iter().map(|&id| public_id(id)).collect(),
        }
    }
}

/// How an escalation was answered, the word the audit trail records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// A person dismissed a finding.
    Dismissal,
    /// A person approved the tree.
    Approval,
    /// A person (not the agent) edited the work tree.
    HumanEdit,
    /// A later review closed every finding it was about.
    Closed,
}

impl Answer {
    fn as_str(self) -> &'static str {
        match self {
            Answer::Dismissal => "dismissal",
            Answer::Approval => "approval",
            Answer::HumanEdit => "human_edit",
            Answer::Closed => "closed",
        }
    }
}

/// The workspace's unanswered escalation. One whose findings are all closed by now is
/// answered (`closed`) on the way and not returned.
pub fn current(
    conn: &Connection,
    workspace_id: i64,
    root: &Path,
    at: &str,
) -> Result<Option<EscalationRow>, StoreError> {
    let row = conn
        .query_row(
            "SELECT id, why, findings, at, told FROM escalations
             WHERE workspace_id = ?1 AND answered_at IS NULL ORDER BY id DESC LIMIT 1",
            params![workspace_id],
            |r| {
                let ids: String = r.get(2)?;
                Ok(EscalationRow {
                    id: r.get(0)?,
                    why: r.get(1)?,
                    findings: serde_json::from_str(&ids).unwrap_or_default(),
                    at: r.get(3)?,
                    told: r.get(4)?,
                })
            },
        )
        .optional()
        .map_err(StoreError::query("read escalation"))?;
    let Some(row) = row else {
        return Ok(None);
    };
    // Its findings were closed without the user: it stands until the user answers.
    if row.why == EscalationWhy::Unattributed {
        return Ok(Some(row));
    }
    let mut still_open = false;
    for id in &row.findings {
        if findings::get(conn, *id)?.is_some_and(|f| f.status == FindingStatus::Open) {
            still_open = true;
            break;
        }
    }
    if still_open {
        return Ok(Some(row));
    }
    answer(conn, workspace_id, Some(root), Answer::Closed, at)?;
    Ok(None)
}

/// Hand a decision to the user; returns the new escalation (not told yet).
pub fn raise(
    conn: &Connection,
    workspace_id: i64,
    root: &Path,
    session: Option<&str>,
    why: EscalationWhy,
    finding_ids: &[i64],
    at: &str,
) -> Result<EscalationRow, StoreError> {
    let ids = serde_json::to_string(finding_ids).unwrap_or_else(|_| "[]".into());
    conn.execute(
        "INSERT INTO escalations (workspace_id, session, why, findings, at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![workspace_id, session, why, ids, at],
    )
    .map_err(StoreError::query("record escalation"))?;
    let row = EscalationRow {
        id: conn.last_insert_rowid(),
        why,
        findings: finding_ids.to_vec(),
        at: at.to_owned(),
        told: false,
    };
    events::append(
        conn,
        &NewEvent {
            at: at.to_owned(),
            workspace: Some(root.to_path_buf()),
            kind: "escalation".into(),
            data: serde_json::json!({
                "why": why,
                "findings": row.needs_you().findings,
                "session": session,
            }),
        },
    )?;
    Ok(row)
}

/// Record that an agent was told about escalation `id`.
pub fn mark_told(conn: &Connection, id: i64) -> Result<(), StoreError> {
    conn.execute("UPDATE escalations SET told = 1 WHERE id = ?1", params![id])
        .map_err(StoreError::query("mark escalation told"))?;
    Ok(())
}

/// A person answered: the workspace's unanswered escalation (if any) is answered `by`; returns
/// its id.
pub fn answer(
    conn: &Connection,
    workspace_id: i64,
    root: Option<&Path>,
    by: Answer,
    at: &str,
) -> Result<Option<i64>, StoreError> {
    let id: Option<i64> = conn
        .query_row(
            "UPDATE escalations SET answered_at = ?2, answered_by = ?3
             WHERE workspace_id = ?1 AND answered_at IS NULL RETURNING id",
            params![workspace_id, at, by.as_str()],
            |r| r.get(0),
        )
        .optional()
        .map_err(StoreError::query("answer escalation"))?;
    if id.is_some() {
        events::append(
            conn,
            &NewEvent {
                at: at.to_owned(),
                workspace: root.map(Path::to_path_buf),
                kind: "escalation_answered".into(),
                data: serde_json::json!({ "by": by.as_str() }),
            },
        )?;
    }
    Ok(id)
}

/// How many audit entries the loop status reads: enough for a session's rounds.
const LOOP_EVENTS: u32 = 2_000;

/// The review loop of `session` (else of the newest agent session) in a workspace, counted at
/// `threshold`: the session and its rounds, oldest first (all of them, for the decisions).
pub fn rounds(
    conn: &Connection,
    workspace_id: i64,
    root: &Path,
    threshold: Severity,
    session: Option<&str>,
) -> Result<(Option<String>, Vec<RoundCounts>), StoreError> {
    let events = events::recent(conn, Some(root), LOOP_EVENTS)?;
    let (session, rounds) = convergence::session_rounds(&events, session);
    let severity: HashMap<i64, Severity> = findings::list(conn, workspace_id, true)?
        .into_iter()
        .map(|f| (f.id, f.finding.severity))
        .collect();
    let counts = rounds
        .iter()
        .map(|r| convergence::counts(r, &severity, threshold))
        .collect();
    Ok((session, counts))
}

/// What `cxd status` shows of the loop: None before the first review of the session.
pub fn loop_status(
    session: Option<String>,
    rounds: &[RoundCounts],
    needs_you: bool,
) -> Option<LoopStatus> {
    if rounds.is_empty() && !needs_you {
        return None;
    }
    Some(LoopStatus {
        session,
        round: rounds.len() as u64,
        trend: convergence::trend(rounds, needs_you),
        rounds: rounds[rounds.len().saturating_sub(LOOP_ROUNDS)..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Finding;

    #[test]
    fn an_escalation_stands_until_answered_or_its_findings_close() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_connection(&dir.path().join("db")).unwrap();
        let root = Path::new("/w");
        let ws = crate::store::workspaces::add(&conn, root, "t").unwrap().id;
        let f = Finding {
            severity: Severity::High,
            category: "architecture".into(),
            file: String::new(),
            line_start: 0,
            line_end: 0,
            title: "t".into(),
            body: String::new(),
            recommendation: String::new(),
            confidence: 1.0,
        };
        let ids = findings::open_many(&conn, ws, 1, std::slice::from_ref(&f)).unwrap();
        assert_eq!(current(&conn, ws, root, "t0").unwrap(), None);
        let raised = raise(
            &conn,
            ws,
            root,
            Some("s"),
            EscalationWhy::Architecture,
            &ids,
            "t1",
        )
        .unwrap();
        assert_eq!(raised.needs_you().findings, [public_id(ids[0])]);
        mark_told(&conn, raised.id).unwrap();
        let got = current(&conn, ws, root, "t2").unwrap().unwrap();
        assert!(got.told);
        assert_eq!(
            answer(&conn, ws, Some(root), Answer::Approval, "t3").unwrap(),
            Some(raised.id)
        );
        assert_eq!(current(&conn, ws, root, "t4").unwrap(), None);
        assert_eq!(
            answer(&conn, ws, Some(root), Answer::Approval, "t5").unwrap(),
            None,
            "nothing left to answer"
        );

        raise(&conn, ws, root, None, EscalationWhy::Plateau, &ids, "t6").unwrap();
        findings::resolve(&conn, ws, 2, &[public_id(ids[0])], "t7").unwrap();
        assert_eq!(
            current(&conn, ws, root, "t8").unwrap(),
            None,
            "its finding was fixed"
        );
        let kinds: Vec<String> = events::recent(&conn, Some(root), 10)
            .unwrap()
            .into_iter()
            .map(|e| {
                format!(
                    "{} {}",
                    e.kind,
                    e.data["why"]
                        .as_str()
                        .or(e.data["by"].as_str())
                        .unwrap_or("")
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "escalation architecture",
                "escalation_answered approval",
                "escalation plateau",
                "escalation_answered closed"
            ]
        );
    }
}
