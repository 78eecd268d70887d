//! Turns one request into a response (or, for a review someone waits on, a stream of progress
//! and then the result).

use std::path::PathBuf;
use std::sync::Arc;

use cxd_proto::domain::{Severity, Trigger};
use cxd_proto::message::{Event, FindingsPage, LogEntry, SessionAction};
use cxd_proto::status::{ConfigInfo, DaemonInfo, StatusReport};
use cxd_proto::{ErrorKind, ErrorReply, Request, Response};
use tokio::sync::{broadcast, oneshot};

use crate::context::Context;
use crate::gate::{self, Facts};
use crate::registry::{Registry, RegistryError, WorkspaceRef};
use crate::store::findings::UserChange;
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
                after,
            } => self.findings(path, all, severity, after).await,
            Request::Session { path, action } => self.session(path, action).await,
            Request::Trust { path, revoke } => {
                self.ask(path, |tx| workspace::Command::Trust(revoke, tx))
                    .await
            }
            Request::Approve { path, note } => {
                self.ask(path, |tx| workspace::Command::Approve(note, tx))
                    .await
            }
            Request::Dismiss { id, reason } => {
                self.set_finding(&id, UserChange::Dismiss, reason).await
            }
            Request::Reopen { id } => self.set_finding(&id, UserChange::Reopen, None).await,
            Request::Plan { path, text, wait } => return self.plan(path, text, wait).await,
            Request::AgentEdit { file, cwd, session } => self.agent_edit(file, cwd, session).await,
            Request::StopRound {
                session,
                reset,
                told,
            } => {
                let ids: Vec<i64> = told
                    .iter()
                    .filter_map(|t| store::findings::parse_id(t))
                    .collect();
                let counted = self
                    .store
                    .call(move |c| {
                        store::sessions::mark_told(c, &session, &ids)?;
                        store::sessions::bump_rounds(c, &session, reset)
                    })
                    .await;
                match counted {
                    Ok(n) => Response::Rounds(n),
                    Err(e) => error(ErrorKind::Internal, e.to_string()),
                }
            }
            Request::Gate {
                path,
                block_on,
                wait_s,
                trigger,
            } => {
                return self.gate(path, block_on, wait_s, trigger).await;
            }
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
                warnings: ctx.warnings.clone(),
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
            trigger: Trigger::Manual,
            retry_halted: true,
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

    async fn plan(&self, path: PathBuf, text: String, wait: bool) -> Reply {
        let ws = match self.lookup(path).await {
            Ok(w) => w,
            Err(r) => return Reply::One(r),
        };
        let events = self.ctx.events.subscribe();
        let (started, started_rx) = oneshot::channel();
        if ws
            .commands
            .send(workspace::Command::Plan { text, started })
            .await
            .is_err()
        {
            return Reply::One(gone());
        }
        match started_rx.await {
            Err(_) | Ok(Ok(None)) => Reply::One(gone()),
            Ok(Err(response)) => Reply::One(response),
            Ok(Ok(Some(done))) if wait => Reply::Wait {
                root: ws.root,
                events,
                done,
            },
            Ok(Ok(Some(_))) => Reply::One(Response::ReviewStarted { root: ws.root }),
        }
    }

    /// The agent edited `file`: tell its workspace (watching the repo first when
    /// `watch.auto` is on), and hand back the findings this session has not seen.
    async fn agent_edit(&self, file: PathBuf, cwd: Option<PathBuf>, session: String) -> Response {
        let ws = match self.registry.lookup(file.clone()).await {
            Ok(w) => w,
            Err(_) if self.ctx.config.borrow().config.watch.auto => {
                let target = if file.parent().is_some_and(std::path::Path::is_dir) {
                    file.parent()
                        .map(std::path::Path::to_path_buf)
                        .unwrap_or_default()
                } else {
                    cwd.unwrap_or_default()
                };
                if self.registry.watch(target).await.is_err() {
                    return Response::Undelivered(Vec::new());
                }
                match self.registry.lookup(file.clone()).await {
                    Ok(w) => w,
                    Err(_) => return Response::Undelivered(Vec::new()),
                }
            }
            // Outside every watched tree (e.g. Claude's own plan files): nothing to do.
            Err(_) => return Response::Undelivered(Vec::new()),
        };
        // Never wait on a busy workspace: the hook must return at once.
        let _ = ws.commands.try_send(workspace::Command::AgentEdit {
            file,
            session: session.clone(),
        });
        let id = ws.id;
        match self
            .store
            .call(move |c| store::sessions::undelivered(c, &session, id, UNDELIVERED_FINDINGS))
            .await
        {
            Ok(rows) => Response::Undelivered(rows.iter().map(finding_wire).collect()),
            Err(e) => error(ErrorKind::Internal, e.to_string()),
        }
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

    async fn pause(&self, path: PathBuf, pause: bool) -> Response {
        self.ask(path, |tx| workspace::Command::Pause(pause, tx))
            .await
    }

    async fn session(&self, path: PathBuf, action: SessionAction) -> Response {
        self.ask(path, |tx| workspace::Command::Session(action, tx))
            .await
    }

    /// Dismiss or reopen a finding by its id: the change and its audit entry are one store
    /// transaction.
    async fn set_finding(&self, id: &str, change: UserChange, note: Option<String>) -> Response {
        let Some(row_id) = store::findings::parse_id(id) else {
            return error(
                ErrorKind::Usage,
                format!(
                    "{id:?} is not a finding id (they look like F12; `cxd findings` lists them)"
                ),
            );
        };
        let at = crate::clock::now_rfc3339();
        let result = self
            .store
            .call(move |c| store::findings::change_status(c, row_id, change, note.as_deref(), &at))
            .await;
        let changed = match result {
            Ok(Ok(changed)) => changed,
            Ok(Err(refusal)) => return error(ErrorKind::Usage, refusal.to_string()),
            Err(e) => return error(ErrorKind::Internal, e.to_string()),
        };
        let row = &changed.row;
        if let Ok(w) = self.registry.lookup_id(row.workspace_id).await {
            let _ = w.commands.send(workspace::Command::Refresh).await;
        }
        let verb = change.verb();
        self.ctx.emit(
            change.audit_kind(),
            changed.root.clone(),
            format!("{verb} {}: {}", row.public_id(), row.finding.title),
        );
        Response::Ok {
            message: format!("{verb} {} ({})", row.public_id(), row.finding.title),
        }
    }

    /// `cxd gate` and the stop hook: optionally review what is unreviewed (bounded wait), then
    /// judge.
    async fn gate(
        &self,
        path: PathBuf,
        block_on: Option<Severity>,
        wait_s: Option<u64>,
        trigger: Trigger,
    ) -> Reply {
        let ws = match self.lookup(path).await {
            Ok(w) => w,
            Err(r) => return Reply::One(r),
        };
        let threshold = block_on.unwrap_or_else(|| {
            let user = self.ctx.config.borrow().config.clone();
            user.for_repo(&ws.root, &self.ctx.state_dir)
                .config
                .gate
                .threshold()
        });
        let Some(secs) = wait_s else {
            return Reply::One(judge(&self.registry, &self.store, &ws, threshold, false).await);
        };
        let events = self.ctx.events.subscribe();
        let (done_tx, done) = oneshot::channel();
        let (registry, store, root) = (self.registry.clone(), self.store.clone(), ws.root.clone());
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
            let mut timed_out = false;
            // Review until nothing is left (edits during a review earn one follow-up).
            for _ in 0..4 {
                let (started, started_rx) = oneshot::channel();
                let cmd = workspace::Command::Review {
                    all: false,
                    model: None,
                    effort: None,
                    trigger,
                    retry_halted: false,
                    started,
                };
                if ws.commands.send(cmd).await.is_err() {
                    break;
                }
                let Ok(Ok(Some(rx))) = started_rx.await else {
                    break;
                };
                if tokio::time::timeout_at(deadline, rx).await.is_err() {
                    timed_out = true;
                    break;
                }
            }
            let _ = done_tx.send(judge(&registry, &store, &ws, threshold, timed_out).await);
        });
        Reply::Wait { root, events, done }
    }

    /// One page of a workspace's findings: at most [`workspace::ANSWER_FINDINGS`] and
    /// [`cxd_proto::limits::PAGE_BYTES`], the client asks for the next until there is none.
    async fn findings(
        &self,
        path: PathBuf,
        all: bool,
        severity: Option<Severity>,
        after: Option<i64>,
    ) -> Response {
        let ws = match self.lookup(path).await {
            Ok(w) => w,
            Err(r) => return r,
        };
        let id = ws.id;
        let filter = store::findings::Filter {
            all,
            min: severity.unwrap_or(Severity::Info),
        };
        let after = after.unwrap_or(0);
        let page = self
            .store
            .call(move |c| {
                // One more than a page: whether another page follows.
                let rows = store::findings::list_page(
                    c,
                    id,
                    filter,
                    after,
                    workspace::ANSWER_FINDINGS + 1,
                )?;
                Ok((rows, store::findings::count(c, id, filter)?))
            })
            .await;
        match page {
            Ok((rows, total)) => {
                let mut findings: Vec<_> = rows
                    .iter()
                    .take(workspace::ANSWER_FINDINGS)
                    .map(finding_wire)
                    .collect();
                let fit = cxd_proto::limits::fitting(&findings, cxd_proto::limits::PAGE_BYTES);
                findings.truncate(fit);
                let next = (rows.len() > findings.len())
                    .then(|| rows.get(findings.len().saturating_sub(1)).map(|r| r.id))
                    .flatten();
                Response::Findings(FindingsPage {
                    findings,
                    next,
                    total,
                })
            }
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
            Ok(rows) => {
                let entries: Vec<LogEntry> = rows
                    .into_iter()
                    .map(|r| LogEntry {
                        at: r.at,
                        kind: r.kind,
                        workspace: r.workspace,
                        data_json: r.data.to_string(),
                    })
                    .collect();
                Response::Log(newest_within(entries, LOG_BYTES))
            }
            Err(e) => error(ErrorKind::Internal, e.to_string()),
        }
    }
}

/// Bytes of audit-trail entries one answer carries at most (far under the frame limit).
const LOG_BYTES: usize = 4 * 1024 * 1024;

/// The newest of `entries` (oldest first) that fit in `budget` bytes, still oldest first: a
/// long trail must not outgrow an answer.
fn newest_within(mut entries: Vec<LogEntry>, budget: usize) -> Vec<LogEntry> {
    let mut used = 0;
    let keep = entries
        .iter()
        .rev()
        .take_while(|e| {
            let size = e.at.len()
                + e.kind.len()
                + e.data_json.len()
                + e.workspace.as_ref().map_or(0, |w| w.as_os_str().len())
                + 32;
            used += size;
            used <= budget
        })
        .count();
    entries.drain(..entries.len() - keep);
    entries
}

/// At most this many blocking findings are listed in a gate's answer (all are counted).
const GATE_FINDINGS: usize = 50;

/// At most this many findings go back to the agent after one edit; the rest follow later.
const UNDELIVERED_FINDINGS: usize = 50;

/// The gate's verdict on a workspace as it is now.
async fn judge(
    registry: &Registry,
    store: &Store,
    ws: &WorkspaceRef,
    threshold: Severity,
    timed_out: bool,
) -> Response {
    let (tx, rx) = oneshot::channel();
    if ws
        .commands
        .send(workspace::Command::Check(tx))
        .await
        .is_err()
    {
        return gone();
    }
    let up_to_date = match rx.await {
        Ok(Ok(u)) => u,
        Ok(Err(r)) => return r,
        Err(_) => return gone(),
    };
    let status = match registry.status(Some(ws.root.clone())).await {
        Ok(mut s) if !s.is_empty() => s.remove(0),
        Ok(_) => return gone(),
        Err(e) => return e.into(),
    };
    let id = ws.id;
    // The decision comes from the counts; the answer shows only the first blocking findings,
    // so its size can never make the gate fail open.
    let filter = store::findings::Filter {
        all: false,
        min: threshold,
    };
    let (rows, open) = match store
        .call(move |c| {
            let rows = store::findings::list_page(c, id, filter, 0, GATE_FINDINGS)?;
            Ok((rows, store::findings::open_counts(c, id)?))
        })
        .await
    {
        Ok(got) => got,
        Err(e) => return error(ErrorKind::Internal, e.to_string()),
    };
    let mut blocking: Vec<_> = rows.iter().map(finding_wire).collect();
    blocking.truncate(cxd_proto::limits::fitting(
        &blocking,
        cxd_proto::limits::PAGE_BYTES,
    ));
    let facts = Facts {
        threshold,
        open,
        up_to_date,
        state: status.state,
        halt_error: status.error.clone(),
        timed_out,
    };
    let decision = gate::decide(&facts);
    Response::Gate(Box::new(cxd_proto::message::GateReport {
        root: ws.root.clone(),
        pass: decision.passed(),
        up_to_date,
        block_on: threshold,
        blocking,
        blocking_total: facts.blocking(),
        reason: decision.to_string(),
        last_review: status.last_review,
        state: status.state,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_log_keeps_its_newest_entries_within_the_budget() {
        let entry = |i: usize| LogEntry {
            at: format!("t{i}"),
            kind: "dismissal".into(),
            workspace: None,
            data_json: "x".repeat(1000),
        };
        let entries: Vec<LogEntry> = (0..100).map(entry).collect();
        let kept = newest_within(entries.clone(), 10_500);
        assert_eq!(kept.len(), 10);
        assert_eq!(kept[0].at, "t90");
        assert_eq!(kept[9].at, "t99");
        assert_eq!(newest_within(entries, usize::MAX).len(), 100);
    }
}
