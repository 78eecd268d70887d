//! `cxd daemon`: run the daemon in the foreground.

use std::process::ExitCode;

use cxd_daemon::DaemonOptions;
use cxd_proto::paths::Paths;

use crate::cli::DaemonArgs;

pub fn run(paths: Paths, args: &DaemonArgs) -> anyhow::Result<ExitCode> {
    // Logging needs the state dir; the daemon creates it too, with 0700.
    std::fs::create_dir_all(&paths.state_dir).ok();
    let _guard = crate::logging::init(&paths.state_dir, args.log_stderr, &args.log_level)?;
    if let Err(e) = cxd_daemon::run(DaemonOptions { paths }) {
        tracing::error!(error = %e, "cxd daemon failed");
        return Err(e.into());
    }
    Ok(ExitCode::SUCCESS)
}
