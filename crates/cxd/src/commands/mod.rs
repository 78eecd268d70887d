//! One module a subcommand; `run` picks the one the command line names.

mod daemon;
mod status;
mod stop;

use std::process::ExitCode;

use anyhow::Context as _;
use cxd_proto::paths::Paths;

use crate::cli::{Cli, Command};
use crate::exit::{Failure, USAGE};

/// Run the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let paths = Paths::from_env()
        .map_err(|e| Failure::new(USAGE, e.to_string()))
        .context("cannot work out cxd's paths")?;
    match cli.command {
        Command::Daemon(args) => daemon::run(paths, &args),
        Command::Status(args) => status::run(&paths, &args),
        Command::Stop => stop::run(&paths),
    }
}
