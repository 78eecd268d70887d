//! The set of watched workspaces: resolves paths to work-tree roots, starts and stops their
//! actors, and answers status from what each actor publishes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cxd_proto::status::WorkspaceStatus;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::context::Context;
use crate::store::{self, Store};
use crate::workspace::{self, WorkspaceHandle};

/// Why a registry command failed; the message is for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The user named something wrong.
    #[error("{0}")]
    Usage(String),
    /// Something failed inside the daemon.
    #[error("{0}")]
    Internal(String),
}

/// What the registry is asked.
#[derive(Debug)]
pub enum Command {
    /// Watch the work tree holding `path`.
    Watch {
        /// Any path inside the work tree, absolute.
        path: PathBuf,
        /// (root, OS watches, already watched)
        reply: oneshot::Sender<Result<(PathBuf, u64, bool), RegistryError>>,
    },
    /// Stop watching the workspace holding `path`.
    Unwatch {
        /// Any path inside the workspace, absolute.
        path: PathBuf,
        /// The root that was unwatched.
        reply: oneshot::Sender<Result<PathBuf, RegistryError>>,
    },
    /// Status of every workspace, or of the one holding `path`.
    Status {
        /// Only the workspace holding this path (None: every workspace).
        path: Option<PathBuf>,
        /// Receives the statuses, sorted by root.
        reply: oneshot::Sender<Result<Vec<WorkspaceStatus>, RegistryError>>,
    },
    /// The root of the watched workspace holding `path`.
    Resolve {
        /// Any absolute path, inside a watched workspace or not.
        path: PathBuf,
        /// Receives the root, or an error when no watched workspace holds `path`.
        reply: oneshot::Sender<Result<PathBuf, RegistryError>>,
    },
    /// A way to talk to the workspace with this store id.
    LookupId {
        /// The `workspaces` row id, as findings and reviews refer to it.
        id: i64,
        /// Receives the workspace, or an error when it is not watched now.
        reply: oneshot::Sender<Result<WorkspaceRef, RegistryError>>,
    },
    /// A way to talk to the workspace holding `path`.
    Lookup {
        /// Any absolute path, inside a watched workspace or not.
        path: PathBuf,
        /// Receives the workspace, or an error when no watched workspace holds `path`.
        reply: oneshot::Sender<Result<WorkspaceRef, RegistryError>>,
    },
}

/// Enough of a workspace to send it commands.
#[derive(Debug, Clone)]
pub struct WorkspaceRef {
    /// The work tree's top directory, as the workspace was registered: the key requests find
    /// it by.
    pub root: PathBuf,
    /// The `workspaces` row id in the store, which reviews, findings and events refer to.
    pub id: i64,
    /// The workspace actor's inbox; a send fails once the actor has stopped (unwatched).
    pub commands: mpsc::Sender<workspace::Command>,
}

impl WorkspaceRef {
    /// Have the workspace re-read its findings from the store and wait until its published
    /// status shows them (a `cxd status` right after `cxd dismiss` sees the dismissal). Bounded:
    /// an actor that does not answer in time (or has stopped) is left to catch up by itself.
    pub async fn refresh(&self) {
        let (done, answered) = oneshot::channel();
        if self
            .commands
            .send(workspace::Command::Refresh(done))
            .await
            .is_ok()
        {
            let _ = tokio::time::timeout(REFRESH_BOUND, answered).await;
        }
    }
}

/// How long a request waits for a workspace to show a change it made to the store.
const REFRESH_BOUND: std::time::Duration = std::time::Duration::from_secs(5);

impl From<&WorkspaceHandle> for WorkspaceRef {
    fn from(h: &WorkspaceHandle) -> Self {
        Self {
            root: h.root.clone(),
            id: h.id,
            commands: h.commands(),
        }
    }
}

/// A handle to send the registry commands.
#[derive(Debug, Clone)]
pub struct Registry {
    tx: mpsc::Sender<Command>,
}

impl Registry {
    /// Start the registry, re-watching every stored workspace.
    pub async fn start(
        ctx: Arc<Context>,
        store: Store,
        shutdown: CancellationToken,
    ) -> Result<(Self, tokio::task::JoinHandle<()>), store::StoreError> {
        let (tx, rx) = mpsc::channel(64);
        // Reviews a dead daemon left running are interrupted; their changes are still
        // unreviewed (the baseline did not move), so the workspaces review them again.
        let at = crate::clock::now_rfc3339();
        let interrupted = store
            .call(move |c| store::reviews::interrupt_running(c, &at))
            .await?;
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "reviews cut short by the last daemon's end are marked interrupted and will run again"
            );
        }
        let rows = store.call(|c| store::workspaces::list(c)).await?;
        let mut actor = Actor {
            ctx,
            store,
            shutdown,
            workspaces: BTreeMap::new(),
        };
        for row in rows {
            actor.start_workspace(row.root.clone(), row).await;
        }
        let task = tokio::spawn(actor.run(rx));
        Ok((Self { tx }, task))
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, RegistryError>>) -> Command,
    ) -> Result<T, RegistryError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| RegistryError::Internal("the daemon is shutting down".into()))?;
        rx.await
            .map_err(|_| RegistryError::Internal("the daemon is shutting down".into()))?
    }

    /// Watch the work tree holding `path`.
    pub async fn watch(&self, path: PathBuf) -> Result<(PathBuf, u64, bool), RegistryError> {
        self.ask(|reply| Command::Watch { path, reply }).await
    }

    /// Stop watching the workspace holding `path`.
    pub async fn unwatch(&self, path: PathBuf) -> Result<PathBuf, RegistryError> {
        self.ask(|reply| Command::Unwatch { path, reply }).await
    }

    /// Status of all workspaces or the one holding `path`.
    pub async fn status(
        &self,
        path: Option<PathBuf>,
    ) -> Result<Vec<WorkspaceStatus>, RegistryError> {
        self.ask(|reply| Command::Status { path, reply }).await
    }

    /// The root of the watched workspace holding `path`.
    pub async fn resolve(&self, path: PathBuf) -> Result<PathBuf, RegistryError> {
        self.ask(|reply| Command::Resolve { path, reply }).await
    }

    /// The workspace with this store id.
    pub async fn lookup_id(&self, id: i64) -> Result<WorkspaceRef, RegistryError> {
        self.ask(|reply| Command::LookupId { id, reply }).await
    }

    /// The watched workspace holding `path`, to send it commands; an error when none does.
    pub async fn lookup(&self, path: PathBuf) -> Result<WorkspaceRef, RegistryError> {
        self.ask(|reply| Command::Lookup { path, reply }).await
    }
}

struct Actor {
    ctx: Arc<Context>,
    store: Store,
    shutdown: CancellationToken,
    workspaces: BTreeMap<PathBuf, WorkspaceHandle>,
}

impl Actor {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        loop {
            let cmd = tokio::select! {
                () = self.shutdown.cancelled() => break,
                c = rx.recv() => match c { Some(c) => c, None => break },
            };
            match cmd {
                Command::Watch { path, reply } => {
                    let _ = reply.send(self.watch(path).await);
                }
                Command::Unwatch { path, reply } => {
                    let _ = reply.send(self.unwatch(path).await);
                }
                Command::Status { path, reply } => {
                    let _ = reply.send(self.status(path));
                }
                Command::Resolve { path, reply } => {
                    let _ = reply.send(self.holding(&path).map(|h| h.root.clone()));
                }
                Command::LookupId { id, reply } => {
                    let found = self.workspaces.values().find(|h| h.id == id);
                    let _ = reply.send(found.map(WorkspaceRef::from).ok_or_else(|| {
                        RegistryError::Usage(format!(
                            "the workspace with store id {id} is no longer watched"
                        ))
                    }));
                }
                Command::Lookup { path, reply } => {
                    let _ = reply.send(self.holding(&path).map(WorkspaceRef::from));
                }
            }
        }
        for (_, handle) in std::mem::take(&mut self.workspaces) {
            handle.stop().await;
        }
    }

    /// The watched workspace whose root is `path` or an ancestor of it.
    fn holding(&self, path: &Path) -> Result<&WorkspaceHandle, RegistryError> {
        let path = canonical_or_same(path);
        self.workspaces
            .values()
            .find(|h| path.starts_with(&h.root))
            .ok_or_else(|| RegistryError::Usage(format!("{} is not in a watched workspace: run `cxd watch` there first (`cxd list` shows what is watched)", path.display())))
    }

    async fn watch(&mut self, path: PathBuf) -> Result<(PathBuf, u64, bool), RegistryError> {
        let root = resolve_root(&path).await?;
        if let Some(h) = self.workspaces.get(&root) {
            return Ok((root, h.view().os_watches, true));
        }
        if let Some(outer) = self.workspaces.values().find(|h| root.starts_with(&h.root)) {
            return Err(RegistryError::Usage(format!(
                "{} is inside the watched workspace {}: it is already covered",
                root.display(),
                outer.root.display()
            )));
        }
        if let Some(inner) = self.workspaces.values().find(|h| h.root.starts_with(&root)) {
            return Err(RegistryError::Usage(format!(
                "{} holds the watched workspace {}: unwatch that first (`cxd unwatch {}`)",
                root.display(),
                inner.root.display(),
                inner.root.display()
            )));
        }
        let at = crate::clock::now_rfc3339();
        let r = root.clone();
        let row = self
            .store
            .call(move |c| store::workspaces::add(c, &r, &at))
            .await
            .map_err(|e| RegistryError::Internal(e.to_string()))?;
        self.start_workspace(root.clone(), row).await;
        let watches = self
            .workspaces
            .get(&root)
            .map_or(0, |h| h.view().os_watches);
        self.ctx.emit(
            "watch",
            Some(root.clone()),
            format!("watching {}", root.display()),
        );
        Ok((root, watches, false))
    }

    async fn start_workspace(&mut self, root: PathBuf, row: store::WorkspaceRow) {
        let handle = workspace::spawn(
            self.ctx.clone(),
            self.store.clone(),
            row,
            self.shutdown.child_token(),
        )
        .await;
        self.workspaces.insert(root, handle);
    }

    async fn unwatch(&mut self, path: PathBuf) -> Result<PathBuf, RegistryError> {
        let root = self.holding(&path)?.root.clone();
        if let Some(handle) = self.workspaces.remove(&root) {
            let dir = workspace::private_dir(&self.ctx.state_dir, handle.id);
            handle.stop().await;
            // Its snapshots (a copy of every blob it reviewed) go with it.
            let removed =
                tokio::task::spawn_blocking(move || match std::fs::remove_dir_all(&dir) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err((dir, e)),
                    _ => Ok(()),
                })
                .await;
            if let Ok(Err((dir, error))) = removed {
                tracing::warn!(path = %dir.display(), %error, "cannot remove an unwatched workspace's snapshots");
            }
        }
        let r = root.clone();
        self.store
            .call(move |c| store::workspaces::remove(c, &r))
            .await
            .map_err(|e| RegistryError::Internal(e.to_string()))?;
        self.ctx.emit(
            "unwatch",
            Some(root.clone()),
            format!("stopped watching {}", root.display()),
        );
        Ok(root)
    }

    fn status(&self, path: Option<PathBuf>) -> Result<Vec<WorkspaceStatus>, RegistryError> {
        match path {
            Some(p) => Ok(vec![self.holding(&p)?.view()]),
            None => Ok(self
                .workspaces
                .values()
                .map(WorkspaceHandle::view)
                .collect()),
        }
    }
}

fn canonical_or_same(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The git work-tree root holding `path`, canonical.
async fn resolve_root(path: &Path) -> Result<PathBuf, RegistryError> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || resolve_root_blocking(&path))
        .await
        .map_err(|e| RegistryError::Internal(e.to_string()))?
}

fn resolve_root_blocking(path: &Path) -> Result<PathBuf, RegistryError> {
    let meta = std::fs::metadata(path).map_err(|e| {
        RegistryError::Usage(format!(
            "{} does not exist or cannot be read: {e}",
            path.display()
        ))
    })?;
    let dir = if meta.is_dir() {
        path
    } else {
        path.parent().unwrap_or(path)
    };
    // The daemon checked git at start; it may have been replaced or removed since.
    crate::git_version::require().map_err(|e| RegistryError::Usage(e.to_string()))?;
    let out = crate::gitcmd::command()
        .args(["rev-parse", "--show-toplevel"])
        .current_dir(dir)
        .output()
        .map_err(|e| {
            RegistryError::Internal(format!(
                "cannot run git (is it installed and on PATH?): {e}"
            ))
        })?;
    if !out.status.success() {
        return Err(RegistryError::Usage(format!(
            "{} is not inside a git work tree: cxd reviews changes against git, so run `git init` there or pick a repository",
            path.display()
        )));
    }
    let top = String::from_utf8_lossy(&out.stdout)
        .trim_end_matches('\n')
        .to_owned();
    if top.is_empty() {
        return Err(RegistryError::Usage(format!(
            "{} is inside a bare repository or .git directory: pick a work tree",
            path.display()
        )));
    }
    Ok(canonical_or_same(Path::new(&top)))
}
