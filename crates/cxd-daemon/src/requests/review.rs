//! `cxd review`: review a workspace now, skipping the debounce, or committed history; answered
//! when it starts, or (with `--wait`) with its progress and then its result.

use std::path::PathBuf;

use cxd_proto::Response;
use cxd_proto::domain::Trigger;
use cxd_proto::message::Revisions;
use tokio::sync::oneshot;

use super::{Handler, Reply, gone};
use crate::workspace::{Command, Target};

/// Start a manual review of the workspace holding `path` (a halted one is retried).
pub(super) async fn answer(
    h: &Handler,
    path: PathBuf,
    all: bool,
    model: Option<String>,
    effort: Option<String>,
    wait: bool,
) -> Reply {
    let ws = match h.lookup(path).await {
        Ok(w) => w,
        Err(r) => return r.into(),
    };
    let events = h.ctx.events.subscribe();
    let (started, started_rx) = oneshot::channel();
    let cmd = Command::Review {
        all,
        model,
        effort,
        trigger: Trigger::Manual,
        retry_halted: true,
        started,
    };
    if ws.commands.send(cmd).await.is_err() {
        return gone().into();
    }
    match started_rx.await {
        Err(_) => gone().into(),
        Ok(Err(response)) => response.into(),
        Ok(Ok(None)) => Response::Ok {
            message: format!(
                "nothing to review in {}: no change since the last review",
                ws.root.display()
            ),
        }
        .into(),
        Ok(Ok(Some(done))) if wait => Reply::Wait {
            root: ws.root,
            events,
            done,
        },
        Ok(Ok(Some(_))) => Response::ReviewStarted { root: ws.root }.into(),
    }
}

/// Review committed history (`cxd review --commit/--range/--base`): refused at once, with
/// nothing recorded, when a revision is unknown or the range empty.
pub(super) async fn revisions(
    h: &Handler,
    path: PathBuf,
    revisions: Revisions,
    model: Option<String>,
    effort: Option<String>,
    wait: bool,
) -> Reply {
    let ws = match h.lookup(path).await {
        Ok(w) => w,
        Err(r) => return r.into(),
    };
    let events = h.ctx.events.subscribe();
    let (started, started_rx) = oneshot::channel();
    let cmd = Command::ReviewRevisions {
        target: Target::Revisions(revisions),
        model,
        effort,
        started,
    };
    if ws.commands.send(cmd).await.is_err() {
        return gone().into();
    }
    match started_rx.await {
        Err(_) => gone().into(),
        Ok(Err(response)) => response.into(),
        Ok(Ok(None)) => Response::Ok {
            message: "nothing to review: the revisions change no file".into(),
        }
        .into(),
        Ok(Ok(Some(done))) if wait => Reply::Wait {
            root: ws.root,
            events,
            done,
        },
        Ok(Ok(Some(_))) => Response::ReviewStarted { root: ws.root }.into(),
    }
}
