//! Turns one request into one response.

use std::sync::Arc;

use cxd_proto::message::LogEntry;
use cxd_proto::status::{ConfigInfo, DaemonInfo, StatusReport};
use cxd_proto::{ErrorKind, ErrorReply, Request, Response};

use crate::context::Context;
use crate::registry::{Registry, RegistryError};
use crate::store::{self, Store};

/// Everything a request may need.
#[derive(Debug, Clone)]
pub struct Handler {
    /// Shared daemon context.
    pub ctx: Arc<Context>,
    /// The watched workspaces.
    pub registry: Registry,
    /// The database.
    pub store: Store,
}

fn error(kind: ErrorKind, message: impl Into<String>) -> Response {
    Response::Error(ErrorReply {
        kind,
        message: message.into(),
    })
}

impl From<RegistryError> for Response {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::Usage(m) => error(ErrorKind::Usage, m),
            RegistryError::Internal(m) => error(ErrorKind::Internal, m),
        }
    }
}

impl Handler {
    /// Answer a request (the connection handles `Subscribe` and `Stop` itself).
    pub async fn handle(&self, request: Request) -> Response {
        match request {
            Request::Status { path } => match self.registry.status(path).await {
                Ok(workspaces) => Response::Status(self.status(workspaces)),
                Err(e) => e.into(),
            },
            Request::Watch { path } => match self.registry.watch(path).await {
                Ok((root, os_watches, already)) => Response::Watching {
                    root,
                    os_watches,
                    already,
                },
                Err(e) => e.into(),
            },
            Request::Unwatch { path } => match self.registry.unwatch(path).await {
                Ok(root) => Response::Ok {
                    message: format!("stopped watching {}", root.display()),
                },
                Err(e) => e.into(),
            },
            Request::Log { path, limit } => self.log(path, limit).await,
            other => error(
                ErrorKind::Usage,
                format!("request {other:?} is not handled here"),
            ),
        }
    }

    fn status(&self, workspaces: Vec<cxd_proto::status::WorkspaceStatus>) -> StatusReport {
        let ctx = &self.ctx;
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
            workspaces,
        }
    }

    async fn log(&self, path: Option<std::path::PathBuf>, limit: u32) -> Response {
        let root = match path {
            Some(p) => match self.registry.resolve(p).await {
                Ok(r) => Some(r),
                Err(e) => return e.into(),
            },
            None => None,
        };
        let rows = self
            .store
            .call(move |c| store::events::recent(c, root.as_deref(), limit))
            .await;
        match rows {
            Ok(rows) => Response::Log(
                rows.into_iter()
                    .map(|r| LogEntry {
                        at: r.at,
                        kind: r.kind,
                        workspace: r.workspace,
                        data_json: r.data.to_string(),
                    })
                    .collect(),
            ),
            Err(e) => error(ErrorKind::Internal, e.to_string()),
        }
    }
}
