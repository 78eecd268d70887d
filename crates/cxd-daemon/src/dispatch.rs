//! Turns one request into one response.

use cxd_proto::status::{ConfigInfo, DaemonInfo, StatusReport};
use cxd_proto::{ErrorKind, ErrorReply, Request, Response};

use crate::context::Context;

/// Answer a request (the connection handles `Subscribe` and `Stop` itself).
pub async fn handle(ctx: &Context, request: Request) -> Response {
    match request {
        Request::Status { path: _ } => Response::Status(status(ctx)),
        other => Response::Error(ErrorReply {
            kind: ErrorKind::Usage,
            message: format!("request {other:?} is not handled here"),
        }),
    }
}

fn status(ctx: &Context) -> StatusReport {
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
        },
        workspaces: Vec::new(),
    }
}
