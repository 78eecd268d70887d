//! The pre-push hook: review the pushed commits no review covered yet (a commit already
//! reviewed, as an edit or a range, costs nothing), then judge the pushed trees by the reviews
//! that covered them (`store::pushed`: a fix reviewed only in a tree the push does not send
//! does not count). Answered with progress while the review runs, then a gate report naming
//! the pushed commit it judged.

use std::path::PathBuf;

use cxd_proto::Response;
use cxd_proto::domain::{GateScope, Severity};
use cxd_proto::limits::{PAGE_BYTES, fitting};
use cxd_proto::message::GateReport;
use tokio::sync::oneshot;

use super::{Handler, Reply, gone, internal};
use crate::registry::{Registry, WorkspaceRef};
use crate::store::{self, Store};
use crate::workspace::{Command, Target};

/// Review what the push sends that no review covered, then judge it at `block_on` (default:
/// the workspace's `gate.block_on`).
pub(super) async fn answer(
    h: &Handler,
    path: PathBuf,
    (local, remote, remote_name): (String, String, Option<String>),
    block_on: Option<Severity>,
) -> Reply {
    let ws = match h.lookup(path).await {
        Ok(w) => w,
        Err(r) => return r.into(),
    };
    let threshold = block_on.unwrap_or_else(|| {
        let user = h.ctx.config.borrow().config.clone();
        user.for_repo(&ws.root, &h.ctx.state_dir)
            .config
            .gate
            .threshold()
    });
    let events = h.ctx.events.subscribe();
    let (started, started_rx) = oneshot::channel();
    let cmd = Command::ReviewRevisions {
        target: Target::Pushed {
            local: local.clone(),
            remote: remote.clone(),
            remote_name: remote_name.clone(),
        },
        model: None,
        effort: None,
        started,
    };
    if ws.commands.send(cmd).await.is_err() {
        return gone().into();
    }
    let review = match started_rx.await {
        Err(_) => return gone().into(),
        Ok(Err(response)) => return response.into(),
        Ok(Ok(review)) => review,
    };
    let (done_tx, done) = oneshot::channel();
    let (registry, store, root) = (h.registry.clone(), h.store.clone(), ws.root.clone());
    tokio::spawn(async move {
        if let Some(rx) = review {
            // A failed review leaves its commits uncovered: the judgement says so.
            let _ = rx.await;
        }
        let report = judge(
            &registry,
            &store,
            &ws,
            (local, remote, remote_name),
            threshold,
        )
        .await;
        let _ = done_tx.send(report);
    });
    Reply::Wait { root, events, done }
}

/// The pushed commits' verdict: every one covered by an answered review, and no finding at
/// or above the threshold open in their trees as of those reviews.
async fn judge(
    registry: &Registry,
    store: &Store,
    ws: &WorkspaceRef,
    (local, remote, remote_name): (String, String, Option<String>),
    threshold: Severity,
) -> Response {
    let tip = local.get(..12).unwrap_or(&local).to_owned();
    let (tx, rx) = oneshot::channel();
    let cmd = Command::PushedTrees {
        local,
        remote,
        remote_name,
        reply: tx,
    };
    if ws.commands.send(cmd).await.is_err() {
        return gone();
    }
    let trees = match rx.await {
        Ok(Ok(t)) => t,
        Ok(Err(r)) => return r,
        Err(_) => return gone(),
    };
    let id = ws.id;
    let found = store
        .call(move |c| {
            let mut uncovered = 0;
            for t in &trees {
                if !store::reviewed::covered(c, id, t)? {
                    uncovered += 1;
                }
            }
            let reviews = store::reviewed::reviews_covering(c, id, &trees)?;
            let rows = store::pushed::blocking(c, id, &reviews, threshold)?;
            Ok((trees.len(), uncovered, rows))
        })
        .await;
    let (pushed, uncovered, rows) = match found {
        Ok(f) => f,
        Err(e) => return internal(e),
    };
    let status = match registry.status(Some(ws.root.clone())).await {
        Ok(mut s) if !s.is_empty() => s.remove(0),
        Ok(_) => return gone(),
        Err(e) => return e.into(),
    };
    let mut blocking: Vec<_> = rows.iter().map(cxd_proto::status::Finding::from).collect();
    blocking.truncate(fitting(&blocking, PAGE_BYTES / 2));
    let reason = if uncovered > 0 {
        format!(
            "{uncovered} of the {pushed} pushed commit(s) are not reviewed (the review failed or did not answer: see `cxd status`)"
        )
    } else if !rows.is_empty() {
        format!(
            "{} finding(s) at or above {threshold} open in the pushed commits up to {tip} (a fix counts once a pushed commit has it): fix them and commit, or `cxd dismiss ID` the ones that do not apply",
            rows.len()
        )
    } else if pushed == 0 {
        "nothing to review: the push sends no new commit".to_owned()
    } else {
        format!(
            "the {pushed} pushed commit(s) up to {tip} are reviewed with nothing open at or above {threshold}"
        )
    };
    Response::Gate(Box::new(GateReport {
        root: ws.root.clone(),
        pass: uncovered == 0 && rows.is_empty(),
        up_to_date: uncovered == 0,
        block_on: threshold,
        blocking,
        blocking_total: rows.len() as u64,
        reason,
        last_review: status.last_review,
        state: status.state,
        scope: GateScope::Change,
        outside: Vec::new(),
        outside_change: 0,
        escalation: None,
    }))
}
