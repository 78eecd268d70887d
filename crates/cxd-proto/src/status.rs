//! The status report: what `cxd status` shows and `cxd status --json` prints.
//!
//! Field names here are the JSON contract documented in the README: add, never rename.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The daemon itself.
    pub daemon: DaemonInfo,
    /// Every watched workspace (or only the one asked for).
    pub workspaces: Vec<WorkspaceStatus>,
}

/// Facts about the running daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonInfo {
    /// Process id.
    pub pid: u32,
    /// cxd version.
    pub version: String,
    /// The socket it listens on.
    pub socket: PathBuf,
    /// Whole seconds since it started.
    pub uptime_s: u64,
    /// The configuration in force.
    pub config: ConfigInfo,
}

/// Which config file is in force and whether the last load of it failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigInfo {
    /// The user config file's path (it need not exist).
    pub path: PathBuf,
    /// Why the last (re)load failed; the previous config is still in force.
    pub error: Option<String>,
}

/// One watched workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkspaceStatus {
    /// The git work-tree root.
    pub root: PathBuf,
    /// `idle`, `settling`, `reviewing`, `halted`, `paused` or `missing`.
    pub state: String,
    /// Files changed since the last review.
    pub pending_files: u64,
    /// Milliseconds until the pending changes settle (when `settling`).
    pub settle_in_ms: Option<u64>,
    /// OS (inotify/kqueue) watches held.
    pub os_watches: u64,
    /// Warnings a user should act on (e.g. out of inotify watches).
    pub warnings: Vec<String>,
}
