//! Turns one request into a response (or, for a review someone waits on, a stream of progress
//! and then the result).

use std::path::PathBuf;
use std::sync::Arc;

use cxd_proto::message::{Event, LogEntry, SessionAction};
use cxd_proto::status::{ConfigInfo, DaemonInfo, StatusReport};
use cxd_proto::{ErrorKind, ErrorReply, Request, Response};
use tokio::sync::{broadcast, oneshot};

use crate::context::Context;
use crate::registry::{Registry, RegistryError, WorkspaceRef};
use crate::store::{self, Store};
use crate::workspace::{self, finding_wire};

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

/// What the connection sends back.
#[derive(Debug)]
pub enum Reply {
    /// One response.
    One(Response),
    /// Progress for `root` from `events` until `done` answers.
    Wait {
        /// The workspace.
        root: PathBuf,
        /// Its live events (subscribed before the review started).
        events: broadcast::Receiver<Event>,
        /// The final response.
        done: oneshot::Receiver<Response>,
    },
}

fn error(kind: ErrorKind, message: impl Into<String>) -> Response {
    Response::Error(ErrorReply {
        kind,
        message: message.into(),
    })
}

fn gone() -> Response {
    error(
        ErrorKind::ShuttingDown,
        "the workspace stopped (the daemon is shutting down, or it was unwatched)",
    )
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
    pub async fn handle(&self, request: Request) -> Reply {
        let response = match request {
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
            Request::Review {
                path,
                all,
                model,
                effort,
                wait,
            } => {
                return self.review(path, all, model, effort, wait).await;
            }
            Request::Pause { path } => self.pause(path, true).await,
            Request::Unpause { path } => self.pause(path, false).await,
            Request::Findings {
                path,
                all,
                severity,
            } => self.findings(path, all, severity).await,
            Request::Session { path, action } => self.session(path, action).await,
            other => error(
                ErrorKind::Usage,
                format!("request {other:?} is not handled here"),
            ),
        };
        Reply::One(response)
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

    async fn lookup(&self, path: PathBuf) -> Result<WorkspaceRef, Response> {
        self.registry.lookup(path).await.map_err(Response::from)
    }

    async fn review(
        &self,
        path: PathBuf,
        all: bool,
        model: Option<String>,
        effort: Option<String>,
        wait: bool,
    ) -> Reply {
        let ws = match self.lookup(path).await {
            Ok(w) => w,
            Err(r) => return Reply::One(r),
        };
        let events = self.ctx.events.subscribe();
        let (started, started_rx) = oneshot::channel();
        let cmd = workspace::Command::Review {
            all,
            model,
            effort,
            trigger: "manual".into(),
            started,
        };
        if ws.commands.send(cmd).await.is_err() {
            return Reply::One(gone());
        }
        match started_rx.await {
            Err(_) => Reply::One(gone()),
            Ok(Err(response)) => Reply::One(response),
            Ok(Ok(None)) => Reply::One(Response::Ok {
                message: format!(
                    "nothing to review in {}: no change since the last review",
                    ws.root.display()
                ),
            }),
            Ok(Ok(Some(done))) if wait => Reply::Wait {
                root: ws.root,
                events,
                done,
            },
            Ok(Ok(Some(_))) => Reply::One(Response::ReviewStarted { root: ws.root }),
        }
    }

    async fn pause(&self, path: PathBuf, pause: bool) -> Response {
        let ws = match self.lookup(path).await {
            Ok(w) => w,
            Err(r) => return r,
        };
        let (tx, rx) = oneshot::channel();
        if ws
            .commands
            .send(workspace::Command::Pause(pause, tx))
            .await
            .is_err()
        {
            return gone();
        }
        rx.await.unwrap_or_else(|_| gone())
    }

    async fn session(&self, path: PathBuf, action: SessionAction) -> Response {
        let ws = match self.lookup(path).await {
            Ok(w) => w,
            Err(r) => return r,
        };
        let (tx, rx) = oneshot::channel();
        if ws
            .commands
            .send(workspace::Command::Session(action, tx))
            .await
            .is_err()
        {
            return gone();
        }
        rx.await.unwrap_or_else(|_| gone())
    }

    async fn findings(&self, path: PathBuf, all: bool, severity: Option<String>) -> Response {
        let ws = match self.lookup(path).await {
            Ok(w) => w,
            Err(r) => return r,
        };
        let min = match severity.as_deref().map(severity_rank) {
            None => 0,
            Some(Some(r)) => r,
            Some(None) => {
                return error(
                    ErrorKind::Usage,
                    format!(
                        "{:?} is not a severity; use one of critical, high, medium, low, info",
                        severity.unwrap_or_default()
                    ),
                );
            }
        };
        let id = ws.id;
        match self
            .store
            .call(move |c| store::findings::list(c, id, all))
            .await
        {
            Ok(rows) => Response::Findings(
                rows.iter()
                    .filter(|f| severity_rank(&f.finding.severity).unwrap_or(0) >= min)
                    .map(finding_wire)
                    .collect(),
            ),
            Err(e) => error(ErrorKind::Internal, e.to_string()),
        }
    }

    async fn log(&self, path: Option<PathBuf>, limit: u32) -> Response {
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

/// info 0 … critical 4; None for an unknown word.
pub fn severity_rank(s: &str) -> Option<usize> {
    crate::config::SEVERITIES.iter().position(|x| *x == s)
}
