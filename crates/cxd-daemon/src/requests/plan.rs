//! `cxd plan`: have a plan validated before it is implemented; answered when the validation
//! starts, or (with `--wait`) with its progress and then its result.

use std::path::PathBuf;

use cxd_proto::Response;
use tokio::sync::oneshot;

use super::{Handler, Reply, gone};
use crate::workspace::Command;

/// Start validating `text` in the workspace holding `path`.
pub(super) async fn answer(h: &Handler, path: PathBuf, text: String, wait: bool) -> Reply {
    let ws = match h.lookup(path).await {
        Ok(w) => w,
        Err(r) => return r.into(),
    };
    let events = h.ctx.events.subscribe();
    let (started, started_rx) = oneshot::channel();
    if ws
        .commands
        .send(Command::Plan { text, started })
        .await
        .is_err()
    {
        return gone().into();
    }
    match started_rx.await {
        Err(_) | Ok(Ok(None)) => gone().into(),
        Ok(Err(response)) => response.into(),
        Ok(Ok(Some(done))) if wait => Reply::Wait {
            root: ws.root,
            events,
            done,
        },
        Ok(Ok(Some(_))) => Response::ReviewStarted { root: ws.root }.into(),
    }
}
