//! Turns one request into a response (or, for a review someone waits on, a stream of progress
//! and then the result).
//!
//! One file per request (or per family that is one thing): each takes the request's fields,
//! asks the owner (the registry, a workspace actor, the store) and answers. This file holds the
//! one `match` that routes them and the helpers they share.

mod agent_edit;
mod approve;
mod dispute;
mod finding;
mod findings;
mod gate;
mod log;
mod pause;
mod plan;
mod prepush;
mod review;
mod session;
mod status;
mod stop_round;
mod trust;
mod watch;

use std::path::PathBuf;
use std::sync::Arc;

use cxd_proto::domain::Author;
use cxd_proto::message::Event;
use cxd_proto::{ErrorKind, ErrorReply, Request, Response};
use tokio::sync::{broadcast, oneshot};

use crate::caller::Caller;
use crate::context::Context;
use crate::registry::{Registry, RegistryError, WorkspaceRef};
use crate::store::Store;
use crate::workspace;

/// Everything a request may need.
#[derive(Debug, Clone)]
pub struct Handler {
    /// Shared daemon context: config in force, event bus, paths, review slots.
    pub ctx: Arc<Context>,
    /// The watched workspaces, to resolve a request's path to the one it concerns.
    pub registry: Registry,
    /// The database, for requests answered from stored rows (log, findings, dismiss).
    pub store: Store,
    /// The budget's spend as last counted, for status.
    pub spend: Arc<crate::budget::SpendCache>,
}

/// What the connection sends back.
#[derive(Debug)]
pub enum Reply {
    /// One response, after which the request is done.
    One(Response),
    /// Progress for `root` from `events` until `done` answers.
    Wait {
        /// The workspace root whose events become progress lines.
        root: PathBuf,
        /// Its live events (subscribed before the review started).
        events: broadcast::Receiver<Event>,
        /// Receives the final response (a `ReviewDone` or an error) that ends the wait.
        done: oneshot::Receiver<Response>,
    },
}

impl From<Response> for Reply {
    fn from(response: Response) -> Self {
        Self::One(response)
    }
}

impl Handler {
    /// Answer a request (the connection handles `Subscribe` and `Stop` itself); `who` asked
    /// (attributed for the user's decisions, which the audit trail names it in).
    pub async fn handle(&self, request: Request, who: Caller) -> Reply {
        match request {
            Request::Status { path } => status::answer(self, path).await.into(),
            Request::Watch { path } => watch::watch(self, path).await.into(),
            Request::Unwatch { path } => watch::unwatch(self, path, who).await.into(),
            Request::Log { path, limit } => log::answer(self, path, limit).await.into(),
            Request::Review {
                path,
                all,
                model,
                effort,
                wait,
            } => review::answer(self, path, all, model, effort, wait).await,
            Request::Pause { path } => pause::answer(self, path, true, who).await.into(),
            Request::Unpause { path } => pause::answer(self, path, false, who).await.into(),
            Request::Findings {
                path,
                all,
                severity,
                after,
            } => findings::answer(self, path, all, severity, after)
                .await
                .into(),
            Request::Session { path, action } => {
                session::answer(self, path, action, who).await.into()
            }
            Request::Trust { path, revoke } => trust::answer(self, path, revoke, who).await.into(),
            Request::Approve { path, note } => approve::answer(self, path, note, who).await.into(),
            Request::Dismiss { id, reason, path } => {
                finding::dismiss(self, path, &id, reason, who).await.into()
            }
            Request::Reopen { id, path } => finding::reopen(self, path, &id, who).await.into(),
            Request::Dispute {
                id,
                reason,
                by,
                session,
                path,
            } => {
                // The agent under review disputes as the agent, whatever its client says.
                let (by, session) = match &who {
                    Caller::Agent { session: known } => {
                        (Author::Agent, session.or_else(|| known.clone()))
                    }
                    _ => (by, session),
                };
                let asked = dispute::Asked {
                    id,
                    reason,
                    by,
                    session,
                    path,
                };
                dispute::answer(self, asked).await.into()
            }
            Request::Plan { path, text, wait } => plan::answer(self, path, text, wait).await,
            Request::AgentEdit { file, cwd, session } => {
                agent_edit::answer(self, file, cwd, session).await.into()
            }
            Request::StopRound {
                session,
                reset,
                told,
            } => stop_round::answer(self, session, reset, &told).await.into(),
            Request::Gate {
                path,
                block_on,
                wait_s,
                trigger,
                scope,
                session,
            } => {
                let ask = gate::Ask {
                    block_on,
                    wait_s,
                    trigger,
                    scope,
                    session,
                };
                gate::answer(self, path, ask).await
            }
            Request::ReviewRevisions {
                path,
                revisions,
                model,
                effort,
                wait,
            } => review::revisions(self, path, revisions, model, effort, wait).await,
            Request::PrePush {
                path,
                local,
                remote,
                remote_name,
                block_on,
            } => prepush::answer(self, path, (local, remote, remote_name), block_on).await,
            other => error(
                ErrorKind::Usage,
                format!("request {other:?} is not handled here"),
            )
            .into(),
        }
    }

    /// The watched workspace holding `path`, or the answer saying why there is none.
    async fn lookup(&self, path: PathBuf) -> Result<WorkspaceRef, Response> {
        self.registry.lookup(path).await.map_err(Response::from)
    }

    /// Send the workspace holding `path` a command that answers with a response.
    async fn ask(
        &self,
        path: PathBuf,
        make: impl FnOnce(oneshot::Sender<Response>) -> workspace::Command,
    ) -> Response {
        let ws = match self.lookup(path).await {
            Ok(w) => w,
            Err(r) => return r,
        };
        let (tx, rx) = oneshot::channel();
        if ws.commands.send(make(tx)).await.is_err() {
            return gone();
        }
        rx.await.unwrap_or_else(|_| gone())
    }
}

/// Put a decision with nothing else to say (`kind`: an unwatch, a stop) in the audit trail with
/// who made it; best effort: the decision stands either way.
pub(crate) async fn audit_decision(
    store: &Store,
    workspace: Option<PathBuf>,
    kind: &'static str,
    who: &Caller,
) {
    let mut data = serde_json::json!({});
    who.audit_fields(&mut data);
    let ev = crate::store::NewEvent {
        at: crate::clock::now_rfc3339(),
        workspace,
        kind: kind.into(),
        data,
    };
    if let Err(e) = store
        .call(move |c| crate::store::events::append(c, &ev))
        .await
    {
        tracing::warn!(error = %e, kind, "cannot record a decision in the audit trail");
    }
}

fn error(kind: ErrorKind, message: impl Into<String>) -> Response {
    Response::Error(ErrorReply {
        kind,
        message: message.into(),
    })
}

/// Something inside the daemon failed (the store, mostly): the message says what.
fn internal(e: impl std::fmt::Display) -> Response {
    error(ErrorKind::Internal, e.to_string())
}

/// Ask the workspace holding `path` to start a codex run (`ask` wraps the channel it answers
/// on in its command) and answer: `nothing` when it had nothing to run, the run's progress and
/// result with `wait`, else that it started. Review, history review and plan share this.
async fn start_run(
    h: &Handler,
    path: PathBuf,
    wait: bool,
    ask: impl FnOnce(workspace::Started) -> workspace::Command,
    nothing: impl FnOnce(&std::path::Path) -> Reply,
) -> Reply {
    let ws = match h.lookup(path).await {
        Ok(w) => w,
        Err(r) => return r.into(),
    };
    let events = h.ctx.events.subscribe();
    let (started, started_rx) = oneshot::channel();
    if ws.commands.send(ask(started)).await.is_err() {
        return gone().into();
    }
    match started_rx.await {
        Err(_) => gone().into(),
        Ok(Err(response)) => response.into(),
        Ok(Ok(None)) => nothing(&ws.root),
        Ok(Ok(Some(done))) if wait => Reply::Wait {
            root: ws.root,
            events,
            done,
        },
        Ok(Ok(Some(_))) => Response::ReviewStarted { root: ws.root }.into(),
    }
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
