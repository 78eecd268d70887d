//! The cxd daemon as a library, so tests and the `cxd` binary can run it.
//!
//! One module a concern; each owns its state and talks through channels.

pub mod budget;
pub mod caller;
pub mod clock;
pub mod codex;
pub mod config;
pub mod context;
pub mod convergence;
pub mod daemon;
pub mod decisions;
pub mod escalation;
pub mod finding;
pub mod gate;
pub mod git_version;
pub mod gitcmd;
pub mod lock;
pub mod memory;
pub mod readiness;
pub mod registry;
pub mod requests;
pub mod scope;
pub mod server;
pub mod settle;
pub mod snapshot;
pub mod socket;
pub mod socket_watch;
pub mod state_dir;
pub mod store;
#[cfg(test)]
pub(crate) mod test_support;
pub mod watch;
pub mod workspace;

pub use config::Config;
pub use daemon::{DaemonError, DaemonOptions, run};
