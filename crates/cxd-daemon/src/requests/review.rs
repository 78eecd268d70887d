//! `cxd review`: review a workspace now, skipping the debounce, or committed history; answered
//! when it starts, or (with `--wait`) with its progress and then its result.

use std::path::PathBuf;

use cxd_proto::Response;
use cxd_proto::domain::Trigger;
use cxd_proto::message::{Event, Revisions};
use tokio::sync::oneshot::error::RecvError;
use tokio::sync::{broadcast, oneshot};

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
    let nothing = format!(
        "nothing to review in {}: no change since the last review",
        ws.root.display()
    );
    started_reply(started_rx.await, ws.root, events, wait, nothing)
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
    let nothing = "nothing to review: the revisions change no file".to_owned();
    started_reply(started_rx.await, ws.root, events, wait, nothing)
}

/// The answer once the workspace said whether a review started: `nothing` when there was
/// nothing to review, its progress and result with `wait`, else that it started.
fn started_reply(
    started: Result<Result<Option<oneshot::Receiver<Response>>, Response>, RecvError>,
    root: PathBuf,
    events: broadcast::Receiver<Event>,
    wait: bool,
    nothing: String,
) -> Reply {
    match started {
        Err(_) => gone().into(),
        Ok(Err(response)) => response.into(),
        Ok(Ok(None)) => Response::Ok { message: nothing }.into(),
        Ok(Ok(Some(done))) if wait => Reply::Wait { root, events, done },
        Ok(Ok(Some(_))) => Response::ReviewStarted { root }.into(),
    }
}
