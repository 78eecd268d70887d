//! What every request handler may read: start time, paths, the config in force, the event bus.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use cxd_proto::message::Event;
use tokio::sync::{broadcast, watch};

use crate::config::Config;

/// Capacity of the live event bus; a subscriber further behind is told how many it missed.
pub const EVENT_BUS_CAPACITY: usize = 1024;

/// The config in force and, if the last reload failed, why.
#[derive(Debug, Clone)]
pub struct ConfigState {
    /// The config in force, shared so a reload swaps it without copying.
    pub config: Arc<Config>,
    /// The last reload's error; `config` is then the previous good one.
    pub error: Option<String>,
}

/// Shared, read-mostly handles for the request handlers.
#[derive(Debug)]
pub struct Context {
    /// When the daemon started, for `uptime_s` in status.
    pub started: Instant,
    /// The socket it listens on.
    pub socket: PathBuf,
    /// Where the database, lock, logs and snapshots live (`CXD_STATE_DIR` or the default).
    pub state_dir: PathBuf,
    /// The user config file's path, watched for reloads (it need not exist).
    pub config_path: PathBuf,
    /// The config in force, published by the reload task.
    pub config: watch::Receiver<ConfigState>,
    /// Sends live events to every `cxd events` subscriber ([`EVENT_BUS_CAPACITY`] buffered).
    pub events: broadcast::Sender<Event>,
    /// Codex processes allowed at once across workspaces (`review.max_concurrent` at start).
    pub review_slots: Arc<tokio::sync::Semaphore>,
    /// Problems start-up found and repaired (such as a state dir open to others), for `status`.
    pub warnings: Vec<String>,
    /// The earliest time the next workspace may resume after a usage limit reset.
    pub quota_next_turn: std::sync::Mutex<Option<time::OffsetDateTime>>,
}

/// Workspaces resuming after a usage-limit reset start this far apart (never a storm).
pub const QUOTA_STAGGER: time::Duration = time::Duration::seconds(30);

impl Context {
    /// Whether a workspace whose limit has reset may resume at `now`: one at a time,
    /// [`QUOTA_STAGGER`] apart, however many reset together or how far the clock jumped.
    pub fn quota_turn(&self, now: time::OffsetDateTime) -> bool {
        let Ok(mut next) = self.quota_next_turn.lock() else {
            return true;
        };
        if next.is_some_and(|n| now < n) {
            return false;
        }
        *next = Some(now.saturating_add(QUOTA_STAGGER));
        true
    }

    /// Publish a live event (nobody listening is fine).
    pub fn emit(&self, kind: &str, workspace: Option<PathBuf>, message: String) {
        let _ = self.events.send(Event {
            at: crate::clock::now_rfc3339(),
            kind: kind.to_owned(),
            workspace,
            message,
        });
    }
}
