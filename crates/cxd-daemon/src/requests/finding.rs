//! `cxd dismiss` / `cxd reopen`: change one finding's status by its id, a finding of the
//! workspace holding the request's path (another workspace's id is no finding); the change and
//! its audit entry are one call of the store's lifecycle function, one transaction.

use std::path::PathBuf;

use cxd_proto::domain::EscalationWhy;
use cxd_proto::{ErrorKind, Response};

use rusqlite::Connection;

use super::{Handler, error, internal};
use crate::caller::Caller;
use crate::store::findings::{self, Changed, Refusal, UserChange};
use crate::store::{StoreError, escalations};

/// Dismiss the finding `id` (`F12`) of the workspace holding `path`, with the user's `reason`
/// for the audit trail.
pub(super) async fn dismiss(
    h: &Handler,
    path: PathBuf,
    id: &str,
    reason: Option<String>,
    who: Caller,
) -> Response {
    change(h, path, id, UserChange::Dismiss, reason, who).await
}

/// Reopen the dismissed or resolved finding `id` of the workspace holding `path`.
pub(super) async fn reopen(h: &Handler, path: PathBuf, id: &str, who: Caller) -> Response {
    change(h, path, id, UserChange::Reopen, None, who).await
}

/// Apply `apply` to the finding `row_id` of workspace `ws_id` in one store call (another
/// workspace's id is no finding; a refusal is a usage error), then have its workspace, if still
/// watched, re-read its open findings (the next prompt carries the change).
pub(super) async fn change_own<F>(
    h: &Handler,
    ws_id: i64,
    row_id: i64,
    apply: F,
) -> Result<Changed, Box<Response>>
where
    F: FnOnce(&mut Connection) -> Result<Result<Changed, Refusal>, StoreError> + Send + 'static,
{
    let result = h
        .store
        .call(move |c| {
            if !findings::belongs(c, ws_id, row_id)? {
                return Ok(Err(Refusal::NoSuchFinding(row_id)));
            }
            apply(c)
        })
        .await;
    let changed = match result {
        Ok(Ok(changed)) => changed,
        Ok(Err(refusal)) => return Err(Box::new(error(ErrorKind::Usage, refusal.to_string()))),
        Err(e) => return Err(Box::new(internal(e))),
    };
    if let Ok(w) = h.registry.lookup_id(changed.row.workspace_id).await {
        w.refresh().await;
    }
    Ok(changed)
}

/// The row id `id` (`F12`) names, or the answer saying it is not a finding id.
pub(super) fn row_id(id: &str) -> Result<i64, Box<Response>> {
    findings::parse_id(id).ok_or_else(|| {
        Box::new(error(
            ErrorKind::Usage,
            format!("{id:?} is not a finding id (they look like F12; `cxd findings` lists them)"),
        ))
    })
}

async fn change(
    h: &Handler,
    path: PathBuf,
    id: &str,
    change: UserChange,
    note: Option<String>,
    who: Caller,
) -> Response {
    let row_id = match row_id(id) {
        Ok(r) => r,
        Err(answer) => return *answer,
    };
    let ws = match h.lookup(path).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let at = crate::clock::now_rfc3339();
    let config = h.ctx.config.borrow().config.clone();
    let state_dir = h.ctx.state_dir.clone();
    let result = change_own(h, ws.id, row_id, move |c| {
        let changed = findings::change_status(c, row_id, change, note.as_deref(), &who, &at)?;
        // A blocking finding closed by a caller cxd cannot attribute to the user: the
        // decision goes to the user (the agent's next stop asks them).
        if let (Ok(done), UserChange::Dismiss, Caller::Unverified { .. }) = (&changed, change, &who)
            && let Some(root) = done.root.as_deref()
            && done.row.finding.severity
                >= config.for_repo(root, &state_dir).config.gate.threshold()
        {
            escalations::raise(
                c,
                done.row.workspace_id,
                root,
                None,
                EscalationWhy::Unattributed,
                &[done.row.id],
                &at,
            )?;
        }
        // A person's dismissal answers a decision the loop handed over (nobody else's).
        if let (Ok(done), UserChange::Dismiss, true) = (&changed, change, who.is_person()) {
            escalations::answer(
                c,
                done.row.workspace_id,
                done.root.as_deref(),
                escalations::Answer::Dismissal,
                &at,
            )?;
        }
        Ok(changed)
    })
    .await;
    let changed = match result {
        Ok(changed) => changed,
        Err(answer) => return *answer,
    };
    let row = &changed.row;
    let verb = change.verb();
    h.ctx.emit(
        change.audit_kind(),
        changed.root.clone(),
        format!("{verb} {}: {}", row.public_id(), row.finding.title),
    );
    Response::Ok {
        message: format!("{verb} {} ({})", row.public_id(), row.finding.title),
    }
}
