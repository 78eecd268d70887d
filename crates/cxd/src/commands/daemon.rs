//! `cxd daemon`: run the daemon in the foreground.

use std::process::ExitCode;

use cxd_daemon::DaemonOptions;
use cxd_proto::paths::Paths;

use crate::cli::DaemonArgs;

pub fn run(paths: Paths, args: &DaemonArgs) -> anyhow::Result<ExitCode> {
    // Private from the first file on: the log files are created before the daemon proper runs.
    cxd_daemon::state_dir::restrict_umask();
    let repaired = cxd_daemon::state_dir::prepare(&paths.state_dir)?;
    let _guard = crate::logging::init(&paths.state_dir, args.log_stderr, &args.log_level)?;
    if let Some(w) = &repaired {
        tracing::warn!("{w}");
    }
    let warnings = repaired.into_iter().collect();
    if let Err(e) = cxd_daemon::run(DaemonOptions { paths, warnings }) {
        tracing::error!(error = %e, "cxd daemon failed");
        return Err(e.into());
    }
    Ok(ExitCode::SUCCESS)
}
