//! The user's changes to a finding (dismiss, reopen, resolve): one transaction with the audit
//! entry that records them, or nothing at all.

use std::path::PathBuf;

use cxd_proto::domain::FindingStatus;
use rusqlite::{Connection, OptionalExtension, params};

use super::{FindingRow, get, public_id};
use crate::store::StoreError;
use crate::store::events::{self, NewEvent};

/// A change the user makes to a finding's status (a review's own resolution is [`super::resolve`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserChange {
    /// `cxd dismiss`: it stops counting as open.
    Dismiss,
    /// `cxd reopen`: a dismissed or resolved finding counts again.
    Reopen,
    /// The user says it is fixed.
    Resolve,
}

impl UserChange {
    /// The status the finding ends in.
    pub fn target(self) -> FindingStatus {
        match self {
            UserChange::Dismiss => FindingStatus::Dismissed,
            UserChange::Reopen => FindingStatus::Open,
            UserChange::Resolve => FindingStatus::Resolved,
        }
    }

    /// The audit-trail kind (and live event kind) of the change.
    pub fn audit_kind(self) -> &'static str {
        match self {
            UserChange::Dismiss => "dismissal",
            UserChange::Reopen => "reopen",
            UserChange::Resolve => "resolution",
        }
    }

    /// The past tense, for the answer.
    pub fn verb(self) -> &'static str {
        match self {
            UserChange::Dismiss => "dismissed",
            UserChange::Reopen => "reopened",
            UserChange::Resolve => "resolved",
        }
    }

    /// Whether a finding in `from` may take this change: only an open finding is dismissed or
    /// resolved, only a closed one reopened.
    pub fn allowed_from(self, from: FindingStatus) -> bool {
        match self {
            UserChange::Dismiss | UserChange::Resolve => from == FindingStatus::Open,
            UserChange::Reopen => from != FindingStatus::Open,
        }
    }
}

/// Why a user's change to a finding was refused (nothing was written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No finding has this id.
    #[error("there is no finding {} (`cxd findings --all` lists them)", public_id(*.0))]
    NoSuchFinding(i64),
    /// The finding's status does not allow the change.
    #[error("{} is already {status}", public_id(*id))]
    Already {
        /// The finding's row id.
        id: i64,
        /// Its status now, which the change would not alter (e.g. dismissing a dismissed one).
        status: FindingStatus,
    },
    /// Only an open finding can be disputed.
    #[error(
        "{} is {status}: only an open finding can be disputed (`cxd reopen {}` first if it still matters)",
        public_id(*id),
        public_id(*id)
    )]
    NotOpen {
        /// The finding's row id.
        id: i64,
        /// Its status, unchanged.
        status: FindingStatus,
    },
    /// The finding's dispute has not been ruled on yet.
    #[error(
        "{} is already disputed and waits for the next review's ruling (`cxd findings` shows the dispute)",
        public_id(*.0)
    )]
    AlreadyDisputed(i64),
}

/// A change made: the finding after it and its workspace's root.
#[derive(Debug, Clone, PartialEq)]
pub struct Changed {
    /// The finding as it is now.
    pub row: FindingRow,
    /// Its workspace's root (None if the workspace is no longer stored).
    pub root: Option<PathBuf>,
}

/// The root of the workspace row `workspace_id` (None when it is no longer stored).
pub(super) fn root_of(conn: &Connection, workspace_id: i64) -> Result<Option<PathBuf>, StoreError> {
    let root: Option<String> = conn
        .query_row(
            "SELECT root FROM workspaces WHERE id = ?1",
            params![workspace_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(StoreError::query("read finding's workspace"))?;
    Ok(root.map(PathBuf::from))
}

/// Dismiss, reopen or resolve a finding for the user, and record it in the audit trail, in one
/// transaction: both happen or neither does. A refused change writes nothing.
pub fn change_status(
    conn: &mut Connection,
    id: i64,
    change: UserChange,
    note: Option<&str>,
    who: &crate::caller::Caller,
    at: &str,
) -> Result<Result<Changed, Refusal>, StoreError> {
    let tx = conn
        .transaction()
        .map_err(StoreError::query("begin finding change"))?;
    let Some(before) = get(&tx, id)? else {
        return Ok(Err(Refusal::NoSuchFinding(id)));
    };
    if !change.allowed_from(before.status) {
        return Ok(Err(Refusal::Already {
            id,
            status: before.status,
        }));
    }
    tx.execute(
        "UPDATE findings SET status = ?2, status_note = ?3, status_at = ?4 WHERE id = ?1",
        params![id, change.target(), note, at],
    )
    .map_err(StoreError::query("set finding status"))?;
    let root = root_of(&tx, before.workspace_id)?;
    let mut data = serde_json::json!({"finding": before.public_id(), "title": before.finding.title, "reason": note, "severity": before.finding.severity});
    who.audit_fields(&mut data);
    events::append(
        &tx,
        &NewEvent {
            at: at.to_owned(),
            workspace: root.clone(),
            kind: change.audit_kind().into(),
            data,
        },
    )?;
    let row = get(&tx, id)?.ok_or(StoreError::Query {
        action: "read back finding",
        source: rusqlite::Error::QueryReturnedNoRows,
    })?;
    tx.commit()
        .map_err(StoreError::query("commit finding change"))?;
    Ok(Ok(Changed { row, root }))
}
