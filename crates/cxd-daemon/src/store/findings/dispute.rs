//! Disputes: the agent or a person argues that a finding is wrong, and the next review rules
//! `withdraw` (the finding stops counting) or `uphold` (it stays open with Codex's reply).
//! A dispute and its audit entry are one transaction; so are a review's rulings and theirs.

use cxd_proto::domain::{Author, FindingStatus, Ruling};
use cxd_proto::limits::{self, truncate};
use rusqlite::{Connection, params};
use serde::Deserialize;

use super::lifecycle::root_of;
use super::{Changed, Refusal, get, parse_id};
use crate::store::StoreError;
use crate::store::events::{self, NewEvent};

/// A stored dispute (the newest of a finding is read with it).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DisputeRow {
    /// Row id: a higher id is a later dispute.
    pub id: i64,
    /// agent or human.
    pub by: Author,
    /// The agent's session, when the agent disputed.
    pub session: Option<String>,
    /// Why the finding is wrong.
    pub reason: String,
    /// When, RFC 3339.
    pub at: String,
    /// Codex's ruling (None: not ruled yet).
    pub ruling: Option<Ruling>,
    /// Codex's one-line reply.
    pub reply: Option<String>,
    /// The review that ruled.
    pub review: Option<i64>,
}

/// A dispute to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDispute {
    /// agent or human.
    pub by: Author,
    /// The agent's session, when the agent disputes.
    pub session: Option<String>,
    /// Why the finding is wrong (the caller checks its size).
    pub reason: String,
}

/// Record a dispute of the open finding `id` and its `dispute` audit entry in one
/// transaction. A refusal (no such finding, not open, a dispute still waiting) writes nothing.
pub fn dispute(
    conn: &mut Connection,
    id: i64,
    new: &NewDispute,
    at: &str,
) -> Result<Result<Changed, Refusal>, StoreError> {
    let tx = conn
        .transaction()
        .map_err(StoreError::query("begin dispute"))?;
    let Some(before) = get(&tx, id)? else {
        return Ok(Err(Refusal::NoSuchFinding(id)));
    };
    if before.status != FindingStatus::Open {
        return Ok(Err(Refusal::NotOpen {
            id,
            status: before.status,
        }));
    }
    if before.pending_dispute().is_some() {
        return Ok(Err(Refusal::AlreadyDisputed(id)));
    }
    tx.execute(
        "INSERT INTO disputes (finding, author, session, reason, at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, new.by, new.session, new.reason, at],
    )
    .map_err(StoreError::query("record dispute"))?;
    let root = root_of(&tx, before.workspace_id)?;
    events::append(
        &tx,
        &NewEvent {
            at: at.to_owned(),
            workspace: root.clone(),
            kind: "dispute".into(),
            data: serde_json::json!({
                "finding": before.public_id(),
                "title": before.finding.title,
                "by": new.by,
                "session": new.session,
                "reason": new.reason,
            }),
        },
    )?;
    let row = get(&tx, id)?.ok_or(StoreError::Query {
        action: "read back disputed finding",
        source: rusqlite::Error::QueryReturnedNoRows,
    })?;
    tx.commit().map_err(StoreError::query("commit dispute"))?;
    Ok(Ok(Changed { row, root }))
}

/// One ruling from Codex's answer, as it came (the id is the model's text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulingInput {
    /// The finding's public id, as Codex wrote it.
    pub id: String,
    /// withdraw | uphold
    pub ruling: Ruling,
    /// Codex's one-line reply.
    pub reply: String,
}

/// A ruling that was not applied, and why (logged as a warning; nothing else happens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    /// The id as Codex wrote it.
    pub id: String,
    /// Why it was ignored.
    pub why: &'static str,
}

/// What a review's rulings did: row ids of findings withdrawn and upheld, and what was ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rulings {
    /// Findings Codex withdrew (now `withdrawn`).
    pub withdrawn: Vec<i64>,
    /// Findings Codex upheld (still open, with its reply).
    pub upheld: Vec<i64>,
    /// Rulings for ids that are not disputed findings of this workspace.
    pub ignored: Vec<Ignored>,
}

/// Apply review `review`'s rulings to the pending disputes of workspace `workspace_id`, with a
/// `withdrawal` or `upheld` audit entry each, inside the caller's transaction. A ruling for
/// an id that is unknown, of another workspace, not open or not disputed is ignored (and
/// reported in [`Rulings::ignored`]): a model's answer never closes a finding nobody disputed.
pub fn rule(
    conn: &Connection,
    workspace_id: i64,
    review: i64,
    rulings: &[RulingInput],
    at: &str,
) -> Result<Rulings, StoreError> {
    let mut out = Rulings::default();
    let root = if rulings.is_empty() {
        None
    } else {
        root_of(conn, workspace_id)?
    };
    for r in rulings {
        let ignore = |why| Ignored {
            id: truncate(&r.id, 40).into_owned(),
            why,
        };
        let Some(id) = parse_id(&r.id) else {
            out.ignored.push(ignore("not a finding id"));
            continue;
        };
        let row = match get(conn, id)? {
            Some(row) if row.workspace_id == workspace_id => row,
            _ => {
                out.ignored
                    .push(ignore("no such finding in this workspace"));
                continue;
            }
        };
        let Some(dispute) = row.pending_dispute() else {
            out.ignored
                .push(ignore("not an open finding with a dispute waiting"));
            continue;
        };
        let reply = one_line(&r.reply);
        conn.execute(
            "UPDATE disputes SET ruling = ?2, reply = ?3, review = ?4, ruled_at = ?5 WHERE id = ?1",
            params![dispute.id, r.ruling, reply, review, at],
        )
        .map_err(StoreError::query("record ruling"))?;
        let kind = match r.ruling {
            Ruling::Withdraw => {
                conn.execute(
                    "UPDATE findings SET status = ?2, last_review = ?3, status_at = ?4 WHERE id = ?1",
                    params![id, FindingStatus::Withdrawn, review, at],
                )
                .map_err(StoreError::query("withdraw finding"))?;
                out.withdrawn.push(id);
                "withdrawal"
            }
            Ruling::Uphold => {
                // Upheld, it is reported by this review: counted once, like a finding Codex
                // reports again (the same review reporting it too does not count it twice).
                conn.execute(
                    "UPDATE findings SET seen = seen + (last_review <> ?2), last_review = ?2
                     WHERE id = ?1",
                    params![id, review],
                )
                .map_err(StoreError::query("uphold finding"))?;
                out.upheld.push(id);
                "upheld"
            }
        };
        events::append(
            conn,
            &NewEvent {
                at: at.to_owned(),
                workspace: root.clone(),
                kind: kind.into(),
                data: serde_json::json!({
                    "finding": row.public_id(),
                    "title": row.finding.title,
                    "review": review,
                    "reply": reply,
                    "disputed_by": dispute.by,
                }),
            },
        )?;
    }
    Ok(out)
}

/// Codex's reply kept to one line of at most [`limits::MAX_REPLY`] bytes: it is shown in lists
/// and in the stop hook's reason.
fn one_line(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate(&flat, limits::MAX_REPLY).into_owned()
}

/// Whether any open finding of `rows` has a dispute newer than `seen` (a dispute id) waiting.
pub fn unseen_disputes(rows: &[super::FindingRow], seen: i64) -> bool {
    rows.iter()
        .filter_map(super::FindingRow::pending_dispute)
        .any(|d| d.id > seen)
}
