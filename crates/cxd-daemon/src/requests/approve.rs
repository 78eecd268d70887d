//! `cxd approve`: the user accepts a workspace's tree as it is now, whatever is still open.

use std::path::PathBuf;

use cxd_proto::Response;

use super::Handler;
use crate::caller::Caller;
use crate::workspace::Command;

/// Record the approval (with the user's `note`) of the workspace holding `path`.
pub(super) async fn answer(
    h: &Handler,
    path: PathBuf,
    note: Option<String>,
    who: Caller,
) -> Response {
    h.ask(path, |tx| Command::Approve(note, who, tx)).await
}
