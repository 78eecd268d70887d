//! `cxd`: the daemon (`cxd daemon`) and its thin client, in one binary.

mod cli;
mod client;
mod commands;
mod exit;
mod logging;
mod sanitize;
mod socket_check;
mod style;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => exit::report(&err),
    }
}
