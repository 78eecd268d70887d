//! `cxd trust`: trust a repository's `.cxd.toml` as it is now (or revoke that trust), so the
//! settings only a trusted file may set apply.

use std::path::PathBuf;

use cxd_proto::Response;

use super::Handler;
use crate::caller::Caller;
use crate::workspace::Command;

/// Trust (or, with `revoke`, distrust) the config of the workspace holding `path`.
pub(super) async fn answer(h: &Handler, path: PathBuf, revoke: bool, who: Caller) -> Response {
    h.ask(path, |tx| Command::Trust(revoke, who, tx)).await
}
