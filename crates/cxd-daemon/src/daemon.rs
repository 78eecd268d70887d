//! Start-up, the single-instance lock, signals, config reload and shutdown.

use std::sync::Arc;
use std::time::Instant;

use cxd_proto::paths::Paths;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError};
use crate::context::{ConfigState, Context, EVENT_BUS_CAPACITY};
use crate::lock::{InstanceLock, LockError};
use crate::registry::Registry;
use crate::requests::Handler;
use crate::socket::{self, SocketError};
use crate::state_dir::StateDirError;
use crate::store::{Store, StoreError};

/// How the daemon is started.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// Socket, state dir and config file.
    pub paths: Paths,
    /// What start-up already found worth telling the user (shown by `cxd status`).
    pub warnings: Vec<String>,
}

/// Why the daemon could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The state directory could not be created, or is not ours alone.
    #[error(transparent)]
    StateDir(#[from] StateDirError),
    /// Another daemon runs, or the lock file is unusable.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The socket could not be set up.
    #[error(transparent)]
    Socket(#[from] SocketError),
    /// The config file is broken.
    #[error("{0}\nfix the config file (or move it aside) and start the daemon again")]
    Config(#[from] ConfigError),
    /// The database could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// git is missing or too old to snapshot work trees.
    #[error(transparent)]
    Git(#[from] crate::git_version::GitVersionError),
    /// The async runtime or signal handling could not start.
    #[error("cannot start {what}: {source}")]
    Runtime {
        /// The piece that failed to start (the runtime, a signal handler), for the message.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

/// What the signal thread tells the async side.
#[derive(Debug, Clone, Copy)]
enum Signal {
    Reload,
    Terminate(i32),
}

/// How long an unused blocking thread waits for more work before it ends.
const BLOCKING_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(300);

/// Run the daemon in the foreground until SIGTERM/SIGINT or `cxd stop`.
pub fn run(opts: DaemonOptions) -> Result<(), DaemonError> {
    crate::memory::limit_arenas();
    let paths = opts.paths;
    let mut warnings = opts.warnings;
    crate::state_dir::restrict_umask();
    if let Some(w) = crate::state_dir::prepare(&paths.state_dir)? {
        tracing::warn!("{w}");
        warnings.push(w);
    }
    // Every workspace needs git: say so now rather than failing each snapshot later.
    let git = crate::git_version::require()?;
    tracing::info!(version = %git, "using git");
    let lock = InstanceLock::acquire(&paths.state_dir, &paths.socket)?;
    let config = Config::load(&paths.config)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("cxd-worker")
        // Blocking threads (snapshots, the walk) stay for the next burst (no thread to start
        // between a settle and codex) and end only after minutes unused: not 10 s after a
        // burst, when the daemon has gone idle.
        .thread_keep_alive(BLOCKING_KEEP_ALIVE)
        .enable_all()
        .build()
        .map_err(|source| DaemonError::Runtime {
            what: "the async runtime",
            source,
        })?;
    let result = runtime.block_on(serve(paths, config, warnings));
    // Requests in flight have had their grace period; don't wait on stragglers.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    drop(lock);
    result
}

async fn serve(paths: Paths, config: Config, warnings: Vec<String>) -> Result<(), DaemonError> {
    let listener = socket::listen(&paths.socket, paths.socket_dir)?;
    let shutdown = CancellationToken::new();
    crate::readiness::stopping_on(shutdown.clone());

    let (signal_tx, mut signal_rx) = mpsc::channel::<Signal>(8);
    let mut signals =
        Signals::new([SIGTERM, SIGINT, SIGHUP]).map_err(|source| DaemonError::Runtime {
            what: "signal handling",
            source,
        })?;
    let signals_handle = signals.handle();
    std::thread::Builder::new()
        .name("cxd-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                let msg = if sig == SIGHUP {
                    Signal::Reload
                } else {
                    Signal::Terminate(sig)
                };
                if signal_tx.blocking_send(msg).is_err() {
                    break;
                }
            }
        })
        .map_err(|source| DaemonError::Runtime {
            what: "the signal thread",
            source,
        })?;

    let review_slots = Arc::new(tokio::sync::Semaphore::new(
        config.review.max_concurrent as usize,
    ));
    let (config_tx, config_rx) = watch::channel(ConfigState {
        config: Arc::new(config),
        error: None,
    });
    let (events, _) = broadcast::channel(EVENT_BUS_CAPACITY);
    let ctx = Arc::new(Context {
        started: Instant::now(),
        socket: paths.socket.clone(),
        state_dir: paths.state_dir.clone(),
        config_path: paths.config.clone(),
        config: config_rx,
        events,
        review_slots,
        warnings,
        quota_next_turn: std::sync::Mutex::new(None),
    });

    let control = {
        let ctx = ctx.clone();
        let shutdown = shutdown.clone();
        let config_path = paths.config.clone();
        tokio::spawn(async move {
            loop {
                let sig = tokio::select! {
                    () = shutdown.cancelled() => break,
                    s = signal_rx.recv() => s,
                };
                match sig {
                    Some(Signal::Reload) => reload(&ctx, &config_tx, &config_path),
                    Some(Signal::Terminate(n)) => {
                        tracing::info!(signal = n, "shutting down on signal");
                        shutdown.cancel();
                    }
                    None => break,
                }
            }
        })
    };

    tracing::info!(
        pid = std::process::id(),
        socket = %paths.socket.display(),
        state_dir = %paths.state_dir.display(),
        config = %paths.config.display(),
        version = cxd_proto::VERSION,
        "cxd daemon ready"
    );
    let store = Store::open(&paths.state_dir.join("cxd.sqlite"))?;
    let (registry, registry_task) =
        Registry::start(ctx.clone(), store.clone(), shutdown.clone()).await?;
    let handler = Arc::new(Handler {
        ctx: ctx.clone(),
        registry,
        store: store.clone(),
        spend: Arc::default(),
    });
    // The socket listens and the stored workspaces are watched: systemd may go on.
    crate::readiness::ready();
    let endpoint = crate::server::Endpoint {
        socket: paths.socket.clone(),
        socket_dir: paths.socket_dir,
        uid: cxd_proto::ownership::effective_uid(),
    };
    crate::server::run(listener, endpoint, handler, shutdown.clone()).await;
    // The registry stops every workspace (releasing their watches) on the same token.
    if let Err(e) = registry_task.await {
        tracing::warn!(error = %e, "registry task ended abnormally");
    }
    // Fold the write-ahead log into the database so a clean stop leaves one file behind.
    if let Err(e) = store.call(|c| crate::store::checkpoint(c)).await {
        tracing::warn!(error = %e, "cannot checkpoint the database at shutdown");
    }

    socket::remove(&paths.socket);
    signals_handle.close();
    control.abort();
    tracing::info!("cxd daemon stopped");
    Ok(())
}

/// Re-read the config; a bad one keeps the old config and says why.
fn reload(ctx: &Context, tx: &watch::Sender<ConfigState>, path: &std::path::Path) {
    match Config::load(path) {
        Ok(config) => {
            tracing::info!(config = %path.display(), "config reloaded");
            // Resize the codex cap: slots in use cannot be taken back, so a cap lowered while
            // reviews run only lowers as far as the free slots allow.
            let (old, new) = (
                tx.borrow().config.review.max_concurrent as usize,
                config.review.max_concurrent as usize,
            );
            if new > old {
                ctx.review_slots.add_permits(new - old);
            } else if old > new {
                let forgotten = ctx.review_slots.forget_permits(old - new);
                if forgotten < old - new {
                    tracing::warn!(
                        cap = old - forgotten,
                        "review.max_concurrent was lowered while reviews ran; the cap is this until the daemon restarts"
                    );
                }
            }
            tx.send_replace(ConfigState {
                config: Arc::new(config),
                error: None,
            });
            ctx.emit(
                "config_reloaded",
                None,
                format!("config reloaded from {}", path.display()),
            );
        }
        Err(e) => {
            let message = format!("{e} (the previous config stays in force)");
            tracing::warn!(error = %message, "config reload failed");
            tx.send_modify(|state| state.error = Some(message.clone()));
            ctx.emit("config_error", None, message);
        }
    }
}
