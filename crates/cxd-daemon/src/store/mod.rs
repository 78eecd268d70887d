//! The embedded SQLite store: workspaces, the audit trail, reviews and findings.
//!
//! One thread owns the connection; callers send it closures and await the answer, so no lock
//! is shared and a slow write never blocks the async runtime.

pub mod approvals;
pub mod escalations;
pub mod events;
pub mod findings;
pub mod migrations;
pub mod pushed;
pub mod record;
pub mod reviewed;
pub mod reviews;
pub mod sessions;
pub mod workspaces;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

pub use events::{EventRow, NewEvent};
pub use workspaces::WorkspaceRow;

/// A store call queued and not yet awaited, kept to await later (see [`Store::call`]).
pub type Pending<R> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<R, StoreError>> + Send + Sync>>;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Opening or migrating the database failed.
    #[error("cannot open the database {path}: {source}")]
    Open {
        /// The database file (`cxd.sqlite` in the state dir).
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// A query failed after the database was open.
    #[error("database {action} failed: {source}")]
    Query {
        /// What was being done, for the message (e.g. "record approval").
        action: &'static str,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The database was written by a newer cxd.
    #[error(
        "the database {path} has schema version {found}, newer than this cxd ({supported}): upgrade cxd"
    )]
    TooNew {
        /// The database file (`cxd.sqlite` in the state dir).
        path: PathBuf,
        /// Its schema version (`PRAGMA user_version`), higher than `supported`.
        found: i64,
        /// The newest this build knows.
        supported: i64,
    },
    /// The store thread is gone (the daemon is shutting down).
    #[error("the store is closed")]
    Closed,
    /// The store thread could not be started.
    #[error("cannot start the store thread: {0}")]
    Thread(std::io::Error),
}

impl StoreError {
    /// A query error with what was being done.
    pub(crate) fn query(action: &'static str) -> impl FnOnce(rusqlite::Error) -> Self {
        move |source| Self::Query { action, source }
    }
}

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// A handle to the store thread; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    tx: mpsc::UnboundedSender<Job>,
    /// Rows written by the connection so far, published after each job, before its answer.
    written: Arc<AtomicU64>,
}

impl Store {
    /// Open (creating and migrating) the database at `path` and start its thread.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = open_connection(path)?;
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        std::thread::Builder::new()
            .name("cxd-store".into())
            .spawn(move || {
                let mut conn = conn;
                while let Some(job) = rx.blocking_recv() {
                    job(&mut conn);
                }
                if let Err((_, e)) = conn.close() {
                    tracing::warn!(error = %e, "closing the database failed");
                }
            })
            .map_err(StoreError::Thread)?;
        Ok(Self {
            tx,
            written: Arc::new(AtomicU64::new(0)),
        })
    }

    /// A number that moves whenever a job has written rows (SQLite's total changes on the
    /// store's connection): an answer computed from the store at one value still holds while it
    /// stays the same. It moves before the writing job's caller gets its answer.
    pub fn generation(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    /// Run `f` on the store thread and return its result. `f` is queued at once, before the
    /// returned future is first polled: a caller may start other work and await the answer
    /// later, or drop the future to write without waiting (jobs run in the order queued).
    pub fn call<R, F>(&self, f: F) -> impl Future<Output = Result<R, StoreError>> + use<R, F>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let (reply_tx, reply_rx) = oneshot::channel();
        let written = self.written.clone();
        let job: Job = Box::new(move |conn| {
            let result = f(conn);
            written.store(conn.total_changes(), Ordering::Release);
            let _ = reply_tx.send(result);
        });
        let sent = self.tx.send(job).map_err(|_| StoreError::Closed);
        async move {
            sent?;
            reply_rx.await.map_err(|_| StoreError::Closed)?
        }
    }
}

/// Open a connection with cxd's pragmas and the schema migrated.
pub fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let open_err = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let mut conn = Connection::open(path).map_err(open_err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(open_err)?;
    // WAL: readers never block the writer; NORMAL sync is durable against a killed process
    // (only an OS crash can lose the last transactions).
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(open_err)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(open_err)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(open_err)?;
    migrations::migrate(&mut conn, path)?;
    Ok(conn)
}

/// Fold the write-ahead log into the database file, so a clean stop leaves one file behind.
pub fn checkpoint(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .map_err(StoreError::query("checkpoint"))
}
