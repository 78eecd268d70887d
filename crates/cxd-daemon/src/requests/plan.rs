//! `cxd plan`: have a plan validated before it is implemented; answered when the validation
//! starts, or (with `--wait`) with its progress and then its result.

use std::path::PathBuf;

use super::{Handler, Reply, gone, start_run};
use crate::workspace::Command;

/// Start validating `text` in the workspace holding `path`.
pub(super) async fn answer(h: &Handler, path: PathBuf, text: String, wait: bool) -> Reply {
    let ask = |started| Command::Plan { text, started };
    // A plan always runs once the workspace took it: no answer means it stopped.
    start_run(h, path, wait, ask, |_| gone().into()).await
}
