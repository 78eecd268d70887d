//! One module a subcommand; `run` picks the one the command line names.

pub mod completions;
mod daemon;
mod events;
pub mod export;
pub mod findings;
mod gate;
mod githook;
mod hook;
pub mod init;
mod launch;
mod log;
mod mcp;
mod new_findings;
pub mod plan;
mod prepush;
pub mod progress;
pub mod review;
pub mod service;
mod session;
pub mod spawn;
pub mod status;
mod stop;
pub mod verdicts;
mod watch;

use std::process::ExitCode;

use anyhow::Context as _;
use cxd_proto::paths::Paths;

use crate::cli::{Cli, Command};
use crate::exit::{Failure, NO, USAGE};

/// Run the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let paths = Paths::from_env()
        .map_err(|e| Failure::new(USAGE, e.to_string()))
        .context("cannot work out cxd's paths")?;
    if let Some(decision) = local_decision(&cli.command)
        && cxd_daemon::caller::of_self().is_agent()
    {
        return Err(Failure::new(NO, cxd_daemon::decisions::refusal(decision)).into());
    }
    match cli.command {
        Command::Daemon(args) => daemon::run(paths, &args),
        Command::Status(args) => status::run(&paths, &args),
        Command::Stop => stop::run(&paths),
        Command::Watch(args) => watch::watch(&paths, &args),
        Command::Unwatch(args) => watch::unwatch(&paths, &args),
        Command::List(args) => watch::list(&paths, &args),
        Command::Log(args) => log::run(&paths, &args),
        Command::Review(args) => review::run(&paths, &args),
        Command::Findings(args) => findings::run(&paths, &args),
        Command::Session(args) => session::run(&paths, args),
        Command::Pause(args) => watch::pause(&paths, &args, true),
        Command::Unpause(args) => watch::pause(&paths, &args, false),
        Command::Approve(args) => verdicts::approve(&paths, &args),
        Command::Trust(args) => verdicts::trust(&paths, &args),
        Command::Dismiss(args) => verdicts::dismiss(&paths, &args),
        Command::Reopen(args) => verdicts::reopen(&paths, &args),
        Command::Dispute(args) => verdicts::dispute(&paths, &args),
        Command::Gate(args) => gate::run(&paths, &args),
        Command::Events(args) => events::run(&paths, &args),
        Command::Plan(args) => plan::run(&paths, &args),
        Command::Mcp => mcp::run(&paths),
        Command::Hook(crate::cli::HookCommand::Claude(event)) => Ok(hook::run(&paths, event)),
        Command::Hook(crate::cli::HookCommand::Git(crate::cli::GitHook::PrePush {
            remote,
            ..
        })) => Ok(prepush::run(&paths, remote.as_deref())),
        Command::Service(args) => service::run(&paths, &args),
        Command::Export(args) => export::run(&paths, &args),
        Command::Completions(args) => completions::run(&args),
        Command::Init(args) => init::run(&paths, &args),
    }
}

/// The user's decisions the client carries out itself (no daemon to refuse them): taking
/// cxd's hooks or its service away switches the reviewer off (see `cxd_daemon::decisions`).
fn local_decision(command: &Command) -> Option<&'static str> {
    use init::InitTarget;
    match command {
        Command::Init(init::InitArgs {
            target: InitTarget::Claude(c),
        }) if c.remove && !c.print => Some("cxd init claude --remove"),
        Command::Service(service::ServiceArgs {
            action: service::ServiceCommand::Uninstall,
            ..
        }) => Some("cxd service uninstall"),
        _ => None,
    }
}

/// PATH made absolute (default: the current directory).
pub fn abs_path(path: Option<&std::path::Path>) -> anyhow::Result<std::path::PathBuf> {
    let p = path.unwrap_or(std::path::Path::new("."));
    std::path::absolute(p).with_context(|| format!("cannot resolve {}", p.display()))
}
