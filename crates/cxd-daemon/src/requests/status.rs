//! `cxd status` (and `cxd list`): the daemon's own facts beside what every workspace, or the
//! one holding a path, publishes.

use std::path::PathBuf;

use cxd_proto::Response;
use cxd_proto::status::{ConfigInfo, DaemonInfo, StatusReport, WorkspaceStatus};

use super::Handler;
use crate::context::Context;

/// The status of every workspace, or only of the one holding `path`.
pub(super) async fn answer(h: &Handler, path: Option<PathBuf>) -> Response {
    match h.registry.status(path).await {
        Ok(workspaces) => Response::Status(report(&h.ctx, workspaces)),
        Err(e) => e.into(),
    }
}

fn report(ctx: &Context, workspaces: Vec<WorkspaceStatus>) -> StatusReport {
    let config = ctx.config.borrow();
    StatusReport {
        daemon: DaemonInfo {
            pid: std::process::id(),
            version: cxd_proto::VERSION.to_owned(),
            socket: ctx.socket.clone(),
            uptime_s: ctx.started.elapsed().as_secs(),
            config: ConfigInfo {
                path: ctx.config_path.clone(),
                error: config.error.clone(),
            },
            warnings: ctx.warnings.clone(),
        },
        workspaces,
    }
}
