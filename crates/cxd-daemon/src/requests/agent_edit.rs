//! The post-tool-use hook's `AgentEdit`: the agent edited a file. Tell its workspace (watching
//! the repository first when `watch.auto` is on) and hand back the findings this agent session
//! has not seen yet. Never waits on a busy workspace: the hook must return at once.

use std::path::{Path, PathBuf};

use cxd_proto::Response;

use super::{Handler, internal};
use crate::registry::WorkspaceRef;
use crate::store::sessions;
use crate::workspace::Command;

/// At most this many findings go back to the agent after one edit; the rest follow later.
const UNDELIVERED_FINDINGS: usize = 50;

/// Attribute the edit of `file` to the agent `session` (whose working directory is `cwd`).
pub(super) async fn answer(
    h: &Handler,
    file: PathBuf,
    cwd: Option<PathBuf>,
    session: String,
) -> Response {
    // Outside every watched tree (e.g. the agent's own plan files): nothing to do.
    let Some(ws) = workspace_of(h, &file, cwd).await else {
        return Response::Undelivered(Vec::new());
    };
    let _ = ws.commands.try_send(Command::AgentEdit {
        file,
        session: session.clone(),
    });
    let id = ws.id;
    match h
        .store
        .call(move |c| {
            // The session's change starts here: the stop gate blocks on what reviews after
            // this one find in it.
            sessions::began(c, &session, id)?;
            sessions::undelivered(c, &session, id, UNDELIVERED_FINDINGS)
        })
        .await
    {
        Ok(rows) => {
            Response::Undelivered(rows.iter().map(cxd_proto::status::Finding::from).collect())
        }
        Err(e) => internal(e),
    }
}

/// The watched workspace holding `file`; with `watch.auto`, the work tree holding it (or else
/// `cwd`) is watched first.
async fn workspace_of(h: &Handler, file: &Path, cwd: Option<PathBuf>) -> Option<WorkspaceRef> {
    if let Ok(ws) = h.registry.lookup(file.to_path_buf()).await {
        return Some(ws);
    }
    if !h.ctx.config.borrow().config.watch.auto {
        return None;
    }
    let target = match file.parent() {
        Some(dir) if dir.is_dir() => dir.to_path_buf(),
        _ => cwd.unwrap_or_default(),
    };
    h.registry.watch(target).await.ok()?;
    h.registry.lookup(file.to_path_buf()).await.ok()
}
