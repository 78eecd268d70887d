//! `cxd pause` / `cxd unpause`: stop reviewing a workspace until told to go on (unpausing also
//! clears a halt).

use std::path::PathBuf;

use cxd_proto::Response;

use super::Handler;
use crate::caller::Caller;
use crate::workspace::Command;

/// Pause (`true`) or unpause (`false`) the workspace holding `path`.
pub(super) async fn answer(h: &Handler, path: PathBuf, pause: bool, who: Caller) -> Response {
    h.ask(path, |tx| Command::Pause(pause, who, tx)).await
}
