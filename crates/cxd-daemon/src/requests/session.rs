//! `cxd session`: show, reset or adopt the codex thread a workspace's reviews continue.

use std::path::PathBuf;

use cxd_proto::Response;
use cxd_proto::message::SessionAction;

use super::Handler;
use crate::caller::Caller;
use crate::workspace::Command;

/// Carry out `action` on the thread of the workspace holding `path`.
pub(super) async fn answer(
    h: &Handler,
    path: PathBuf,
    action: SessionAction,
    who: Caller,
) -> Response {
    h.ask(path, |tx| Command::Session(action, who, tx)).await
}
