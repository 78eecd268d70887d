//! `cxd service install|uninstall|status`: run the daemon as a systemd user unit (Linux) or a
//! launchd agent (macOS), and start that service when a command needs a daemon.
//!
//! The unit and the plist are rendered from the templates in `systemd/` and `launchd/` by a pure
//! function of (cxd's path, PATH, home, state dir). The service manager's tool is `systemctl` or
//! `launchctl`, or whatever `CXD_SYSTEMCTL` / `CXD_LAUNCHCTL` name (tests use a fake).

mod install;
mod render;
mod start;
mod status;
mod tool;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use cxd_proto::paths::Paths;

pub use render::{RenderInputs, render};
pub use start::start_installed;

/// `cxd service`
#[derive(Debug, clap::Args)]
pub struct ServiceArgs {
    /// install, uninstall or status; each variant's doc comment is its `--help` text.
    #[command(subcommand)]
    pub action: ServiceCommand,
    /// Which service manager (default: systemd on Linux, launchd on macOS).
    #[arg(long, value_enum, global = true)]
    pub manager: Option<Manager>,
}

/// `cxd service install|uninstall|status`
#[derive(Debug, clap::Subcommand)]
pub enum ServiceCommand {
    /// Install the daemon as a user service for this cxd and your PATH, start it now and at login.
    ///
    /// Writes ~/.config/systemd/user/cxd.service (Linux) or
    /// ~/Library/LaunchAgents/dev.cxd.daemon.plist (macOS), then enables and starts it. A daemon
    /// already running outside the service is stopped so the service can take over.
    Install {
        /// Only print the unit (or plist); change nothing.
        #[arg(long)]
        print: bool,
    },
    /// Stop the service and remove its unit (or plist).
    Uninstall,
    /// Show whether the service is installed and running (exit 1 when it is not).
    Status,
}

/// A user service manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Manager {
    /// A systemd user unit.
    Systemd,
    /// A launchd agent.
    Launchd,
}

/// The systemd unit's name.
const UNIT: &str = "cxd.service";
/// The launchd job's label.
const LABEL: &str = "dev.cxd.daemon";
/// How long a started service has to answer on the socket.
const START_WAIT: Duration = Duration::from_secs(15);

impl Manager {
    /// This platform's manager, if it has one cxd supports.
    fn native() -> Option<Self> {
        if cfg!(target_os = "macos") {
            Some(Self::Launchd)
        } else if cfg!(target_os = "linux") {
            Some(Self::Systemd)
        } else {
            None
        }
    }

    fn pick(choice: Option<Self>) -> anyhow::Result<Self> {
        match choice.or_else(Self::native) {
            Some(m) => Ok(m),
            None => bail!(
                "cxd knows systemd (Linux) and launchd (macOS) only: run `cxd daemon` from your \
                 own service manager, or pass --manager"
            ),
        }
    }

    /// Where the unit or plist is installed.
    fn file(self, home: &Path, xdg_config_home: Option<&Path>) -> PathBuf {
        match self {
            Self::Systemd => xdg_config_home
                .map_or_else(|| home.join(".config"), Path::to_path_buf)
                .join("systemd/user")
                .join(UNIT),
            Self::Launchd => home
                .join("Library/LaunchAgents")
                .join(format!("{LABEL}.plist")),
        }
    }

    /// The tool that talks to the manager, and the variable that overrides it.
    fn tool(self) -> (&'static str, &'static str) {
        match self {
            Self::Systemd => ("systemctl", "CXD_SYSTEMCTL"),
            Self::Launchd => ("launchctl", "CXD_LAUNCHCTL"),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Systemd => "systemd user unit cxd.service",
            Self::Launchd => "launchd agent dev.cxd.daemon",
        }
    }

    fn logs_hint(self, state_dir: &Path) -> String {
        match self {
            Self::Systemd => "journalctl --user -u cxd".to_owned(),
            Self::Launchd => format!(
                "{} (daily files) and {}",
                state_dir.join("logs").display(),
                state_dir.join("launchd.stderr.log").display()
            ),
        }
    }
}

/// The process's view of where things are.
struct Site {
    manager: Manager,
    home: PathBuf,
    file: PathBuf,
}

impl Site {
    fn from_env(manager: Manager) -> anyhow::Result<Self> {
        let home = env_path("HOME")
            .context("HOME is not set: cxd cannot tell where the service file belongs")?;
        let file = manager.file(&home, env_path("XDG_CONFIG_HOME").as_deref());
        Ok(Self {
            manager,
            home,
            file,
        })
    }
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

/// Run `cxd service …`.
pub fn run(paths: &Paths, args: &ServiceArgs) -> anyhow::Result<ExitCode> {
    let manager = Manager::pick(args.manager)?;
    let site = Site::from_env(manager)?;
    match args.action {
        ServiceCommand::Install { print } => install::install(paths, &site, print),
        ServiceCommand::Uninstall => install::uninstall(&site),
        ServiceCommand::Status => status::status(paths, &site),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_locations() {
        let home = Path::new("/home/ann");
        assert_eq!(
            Manager::Systemd.file(home, None),
            Path::new("/home/ann/.config/systemd/user/cxd.service")
        );
        assert_eq!(
            Manager::Systemd.file(home, Some(Path::new("/cfg"))),
            Path::new("/cfg/systemd/user/cxd.service")
        );
        assert_eq!(
            Manager::Launchd.file(home, None),
            Path::new("/home/ann/Library/LaunchAgents/dev.cxd.daemon.plist")
        );
    }
}
