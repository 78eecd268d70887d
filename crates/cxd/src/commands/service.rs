//! `cxd service install|uninstall|status`: run the daemon as a systemd user unit (Linux) or a
//! launchd agent (macOS), and start that service when a command needs a daemon.
//!
//! The unit and the plist are rendered from the templates in `systemd/` and `launchd/` by a pure
//! function of (cxd's path, PATH, home, state dir). The service manager's tool is `systemctl` or
//! `launchctl`, or whatever `CXD_SYSTEMCTL` / `CXD_LAUNCHCTL` name (tests use a fake).

use std::ffi::{OsStr, OsString};
use std::io::Write as _;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use cxd_proto::paths::Paths;
use cxd_proto::{Request, Response};

use crate::client::Client;
use crate::exit::{Failure, NO, UNREACHABLE};

/// `cxd service`
#[derive(Debug, clap::Args)]
pub struct ServiceArgs {
    /// What to do.
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

const SYSTEMD_TEMPLATE: &str = include_str!("../../../../systemd/cxd.service");
const LAUNCHD_TEMPLATE: &str = include_str!("../../../../launchd/dev.cxd.daemon.plist");

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

/// What a rendered unit or plist depends on, and nothing else.
#[derive(Debug, Clone, Copy)]
pub struct RenderInputs<'a> {
    /// The absolute path of the `cxd` binary the service runs.
    pub exe: &'a Path,
    /// The PATH the daemon (and the codex it starts) sees.
    pub path: &'a OsStr,
    /// The user's home directory.
    pub home: &'a Path,
    /// cxd's state directory.
    pub state_dir: &'a Path,
}

/// The unit (systemd) or plist (launchd) for `inputs`: the same bytes for the same inputs.
pub fn render(manager: Manager, inputs: RenderInputs<'_>) -> anyhow::Result<String> {
    let field = |name: &str, value: &OsStr| -> anyhow::Result<String> {
        let Some(text) = value.to_str() else {
            bail!(
                "{name} {} is not valid UTF-8, so it cannot go into a service file; \
                 install cxd under a UTF-8 path",
                value.to_string_lossy()
            );
        };
        if let Some(c) = text.chars().find(|c| c.is_control()) {
            bail!(
                "{name} {text:?} holds the control character {c:?}, which a service file cannot \
                 hold; fix {name} and run `cxd service install` again"
            );
        }
        Ok(text.to_owned())
    };
    if !inputs.exe.is_absolute() {
        bail!(
            "the cxd binary's path {} is not absolute",
            inputs.exe.display()
        );
    }
    let exe = field("the cxd binary's path", inputs.exe.as_os_str())?;
    let path = field("PATH", inputs.path)?;
    let home = field("the home directory", inputs.home.as_os_str())?;
    let state = field("the state directory", inputs.state_dir.as_os_str())?;
    let text = match manager {
        Manager::Systemd => SYSTEMD_TEMPLATE
            .replace("{{EXE}}", &systemd_quoted(&exe, true))
            .replace("{{PATH}}", &systemd_quoted(&path, false))
            .replace("{{HOME}}", &systemd_quoted(&home, false))
            .replace("{{STATE_DIR}}", &systemd_quoted(&state, false)),
        Manager::Launchd => LAUNCHD_TEMPLATE
            .replace("{{EXE}}", &xml_escaped(&exe))
            .replace("{{PATH}}", &xml_escaped(&path))
            .replace("{{HOME}}", &xml_escaped(&home))
            .replace("{{STATE_DIR}}", &xml_escaped(&state)),
    };
    Ok(text)
}

/// Escape for the inside of a double-quoted systemd value: `%` specifiers, C escapes, and in
/// command lines `$` variable expansion.
fn systemd_quoted(s: &str, command_line: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' if command_line => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out
}

fn xml_escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
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

/// What running the manager's tool gave.
struct ToolRun {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl ToolRun {
    /// The output that explains a failure.
    fn why(&self) -> String {
        let text = if self.stderr.trim().is_empty() {
            self.stdout.trim()
        } else {
            self.stderr.trim()
        };
        if text.is_empty() {
            "it printed nothing".to_owned()
        } else {
            text.to_owned()
        }
    }
}

/// `systemctl --user …` or `launchctl …`, through the override variable when it is set.
struct Tool {
    manager: Manager,
    program: OsString,
}

impl Tool {
    fn new(manager: Manager) -> Self {
        let (name, var) = manager.tool();
        let program = std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| OsString::from(name));
        Self { manager, program }
    }

    fn line(&self, args: &[&str]) -> String {
        let (name, _) = self.manager.tool();
        let user = if self.manager == Manager::Systemd {
            " --user"
        } else {
            ""
        };
        format!("{name}{user} {}", args.join(" "))
    }

    /// Run with `args`; Err when the tool cannot be started at all.
    fn run(&self, args: &[&str]) -> std::io::Result<ToolRun> {
        let mut cmd = Command::new(&self.program);
        if self.manager == Manager::Systemd {
            cmd.arg("--user");
        }
        let out = cmd.args(args).stdin(Stdio::null()).output()?;
        Ok(ToolRun {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Run and require success; the error names the command and what it said.
    fn must(&self, args: &[&str]) -> anyhow::Result<ToolRun> {
        let run = self
            .run(args)
            .with_context(|| format!("cannot run `{}`", self.line(args)))?;
        if !run.ok {
            bail!("`{}` failed: {}", self.line(args), run.why());
        }
        Ok(run)
    }

    /// Is a user service manager there to talk to? Err(why) when not.
    fn reachable(&self, domain: Option<&str>) -> Result<(), String> {
        let probe: Vec<&str> = match (self.manager, domain) {
            (Manager::Systemd, _) => vec!["show-environment"],
            (Manager::Launchd, Some(d)) => vec!["print", d],
            (Manager::Launchd, None) => return Err("cannot tell the user's id".to_owned()),
        };
        match self.run(&probe) {
            Err(e) => Err(format!(
                "cannot run {}: {e}",
                Path::new(&self.program).display()
            )),
            Ok(run) if !run.ok => Err(format!("`{}`: {}", self.line(&probe), run.why())),
            Ok(_) => Ok(()),
        }
    }
}

/// `gui/<uid>`, launchd's domain for the logged-in user.
fn gui_domain() -> Option<String> {
    let out = Command::new("id").arg("-u").output().ok()?;
    let uid = String::from_utf8(out.stdout).ok()?;
    let uid = uid.trim();
    (out.status.success() && !uid.is_empty() && uid.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("gui/{uid}"))
}

/// Run `cxd service …`.
pub fn run(paths: &Paths, args: &ServiceArgs) -> anyhow::Result<ExitCode> {
    let manager = Manager::pick(args.manager)?;
    let site = Site::from_env(manager)?;
    match args.action {
        ServiceCommand::Install { print } => install(paths, &site, print),
        ServiceCommand::Uninstall => uninstall(&site),
        ServiceCommand::Status => status(paths, &site),
    }
}

fn rendered(paths: &Paths, site: &Site) -> anyhow::Result<String> {
    let exe = std::env::current_exe().context("cannot find the path of the running cxd")?;
    let path = std::env::var_os("PATH").unwrap_or_default();
    render(
        site.manager,
        RenderInputs {
            exe: &exe,
            path: &path,
            home: &site.home,
            state_dir: &paths.state_dir,
        },
    )
}

fn unreachable_help(site: &Site, why: &str) -> anyhow::Error {
    let (by_hand, manual) = match site.manager {
        Manager::Systemd => (
            "no systemd user manager is reachable",
            format!(
                "where systemd runs, install by hand:\n  cxd service install --print > {}\n  \
                 systemctl --user daemon-reload && systemctl --user enable --now cxd",
                site.file.display()
            ),
        ),
        Manager::Launchd => (
            "no launchd user session is reachable",
            format!(
                "in a logged-in session, install by hand:\n  cxd service install --print > {}\n  \
                 launchctl bootstrap gui/$(id -u) {}",
                site.file.display(),
                site.file.display()
            ),
        ),
    };
    anyhow::anyhow!(
        "{by_hand} ({why}), so nothing was installed.\n\
         Without a service, `cxd watch` starts the daemon on demand, or run `cxd daemon` \
         yourself (from a terminal multiplexer or your session's startup).\n{manual}"
    )
}

fn install(paths: &Paths, site: &Site, print: bool) -> anyhow::Result<ExitCode> {
    let text = rendered(paths, site)?;
    if print {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .context("cannot write to stdout")?;
        return Ok(ExitCode::SUCCESS);
    }
    let tool = Tool::new(site.manager);
    let domain = gui_domain();
    tool.reachable(domain.as_deref())
        .map_err(|why| unreachable_help(site, &why))?;

    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&paths.state_dir)
        .with_context(|| {
            format!(
                "cannot create the state directory {}",
                paths.state_dir.display()
            )
        })?;
    let previous = std::fs::read(&site.file).ok();
    write_atomic(&site.file, text.as_bytes())?;
    if let Err(e) = activate(paths, site, &tool, domain.as_deref()) {
        let undo = roll_back(site, &tool, domain.as_deref(), previous.as_deref());
        return Err(e.context(format!(
            "installing the {} failed, so {}",
            site.manager.describe(),
            undo
        )));
    }
    println!(
        "installed {}: {}",
        site.manager.describe(),
        site.file.display()
    );
    match wait_answering(paths, START_WAIT) {
        Some(pid) => println!(
            "the daemon (pid {pid}) answers on {}; it starts at login from now on",
            paths.socket.display()
        ),
        None => eprintln!(
            "cxd: the service was started but the daemon does not answer on {} yet; see {}",
            paths.socket.display(),
            site.manager.logs_hint(&paths.state_dir)
        ),
    }
    println!("logs: {}", site.manager.logs_hint(&paths.state_dir));
    Ok(ExitCode::SUCCESS)
}

/// Load the written file into the manager and start it.
fn activate(paths: &Paths, site: &Site, tool: &Tool, domain: Option<&str>) -> anyhow::Result<()> {
    if site.manager == Manager::Systemd {
        tool.must(&["daemon-reload"])?;
    }
    // One daemon a user: a daemon outside the service would hold the lock the service needs. The
    // workspaces it watched are stored; the service's daemon watches them again.
    if let Some(pid) = wait_answering(paths, Duration::ZERO) {
        eprintln!("cxd: stopping the running daemon (pid {pid}) so the service can take over");
        super::stop::run(paths).context("cannot stop the running daemon")?;
    }
    match site.manager {
        Manager::Systemd => {
            tool.must(&["enable", "--now", UNIT])?;
        }
        Manager::Launchd => {
            let domain = domain.context("cannot tell the user's id (`id -u` failed)")?;
            let file = site.file.to_string_lossy();
            // A reinstall replaces the loaded job; "not loaded" is fine.
            let _ = tool.run(&["bootout", &format!("{domain}/{LABEL}")]);
            tool.must(&["bootstrap", domain, &file])?;
        }
    }
    Ok(())
}

/// Undo a failed install; says what was done.
fn roll_back(site: &Site, tool: &Tool, domain: Option<&str>, previous: Option<&[u8]>) -> String {
    if site.manager == Manager::Systemd && previous.is_none() {
        let _ = tool.run(&["disable", UNIT]);
    }
    let restored = match previous {
        Some(bytes) => write_atomic(&site.file, bytes)
            .map(|()| format!("the previous {} is back", site.file.display())),
        None => std::fs::remove_file(&site.file)
            .map(|()| format!("{} was removed again", site.file.display()))
            .map_err(anyhow::Error::from),
    };
    match site.manager {
        Manager::Systemd => {
            let _ = tool.run(&["daemon-reload"]);
        }
        Manager::Launchd => {
            if let (Some(d), Some(_)) = (domain, previous) {
                let _ = tool.run(&["bootstrap", d, &site.file.to_string_lossy()]);
            }
        }
    }
    restored.unwrap_or_else(|e| {
        format!(
            "it could not be undone ({e:#}): remove {} yourself",
            site.file.display()
        )
    })
}

fn write_atomic(file: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = file
        .parent()
        .with_context(|| format!("{} has no parent directory", file.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.cxd-tmp",
        file.file_name()
            .map(OsStr::to_string_lossy)
            .unwrap_or_default()
    ));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, file).with_context(|| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot move {} to {}", tmp.display(), file.display())
    })
}

fn uninstall(site: &Site) -> anyhow::Result<ExitCode> {
    if !site.file.exists() {
        println!(
            "the {} is not installed ({} does not exist)",
            site.manager.describe(),
            site.file.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let tool = Tool::new(site.manager);
    let domain = gui_domain();
    match tool.reachable(domain.as_deref()) {
        Ok(()) => match (site.manager, domain.as_deref()) {
            (Manager::Systemd, _) => {
                tool.must(&["disable", "--now", UNIT])?;
            }
            (Manager::Launchd, Some(d)) => {
                let target = format!("{d}/{LABEL}");
                if let Ok(run) = tool.run(&["bootout", &target])
                    && !run.ok
                {
                    eprintln!(
                        "cxd: `launchctl bootout {target}`: {} (going on)",
                        run.why()
                    );
                }
            }
            (Manager::Launchd, None) => {}
        },
        Err(why) => eprintln!(
            "cxd: {why}; removing {} only (a daemon still running is stopped by `cxd stop`)",
            site.file.display()
        ),
    }
    std::fs::remove_file(&site.file).with_context(|| {
        format!(
            "cannot remove {}: remove it yourself, or `cxd watch` keeps starting the service",
            site.file.display()
        )
    })?;
    if site.manager == Manager::Systemd {
        let _ = tool.run(&["daemon-reload"]);
    }
    println!(
        "removed the {} ({}); `cxd watch` starts its own daemon again",
        site.manager.describe(),
        site.file.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn status(paths: &Paths, site: &Site) -> anyhow::Result<ExitCode> {
    let installed = site.file.exists();
    println!("service: {}", site.manager.describe());
    println!(
        "file:    {} ({})",
        site.file.display(),
        if installed {
            "installed"
        } else {
            "not installed"
        }
    );
    let mut running = false;
    if installed {
        let tool = Tool::new(site.manager);
        let domain = gui_domain();
        match tool.reachable(domain.as_deref()) {
            Err(why) => println!("manager: not reachable ({why})"),
            Ok(()) => match (site.manager, domain.as_deref()) {
                (Manager::Systemd, _) => {
                    let word = |args: &[&str]| {
                        tool.run(args).map_or_else(
                            |e| format!("unknown ({e})"),
                            |r| r.stdout.trim().to_owned(),
                        )
                    };
                    let active = word(&["is-active", UNIT]);
                    let enabled = word(&["is-enabled", UNIT]);
                    running = active == "active";
                    println!("state:   {active} ({enabled})");
                }
                (Manager::Launchd, Some(d)) => {
                    match tool.run(&["print", &format!("{d}/{LABEL}")]) {
                        Ok(r) if r.ok => {
                            let state = launchd_field(&r.stdout, "state").unwrap_or("unknown");
                            running = state == "running";
                            println!("state:   {state} (loaded)");
                        }
                        Ok(_) | Err(_) => println!("state:   not loaded"),
                    }
                }
                (Manager::Launchd, None) => {}
            },
        }
    }
    match wait_answering(paths, Duration::ZERO) {
        Some(pid) => println!(
            "daemon:  pid {pid}, answering on {}",
            paths.socket.display()
        ),
        None => {
            running = false;
            println!("daemon:  not answering on {}", paths.socket.display());
        }
    }
    println!("logs:    {}", site.manager.logs_hint(&paths.state_dir));
    if !installed {
        println!("install: cxd service install");
    }
    Ok(if installed && running {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(NO)
    })
}

/// `key = value` from `launchctl print`'s top level.
fn launchd_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix(key)?.trim_start().strip_prefix('='))
        .map(str::trim)
}

/// The pid of a daemon answering on `socket`, polling until `wait` passes.
fn wait_answering(paths: &Paths, wait: Duration) -> Option<u32> {
    let deadline = Instant::now() + wait;
    loop {
        if let Ok(mut c) = Client::connect(paths)
            && let Ok(Response::Status(r)) = c.request(&Request::Status { path: None })
        {
            return Some(r.daemon.pid);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// When the service is installed, start it (rather than an unmanaged daemon) and connect once it
/// answers. `Ok(None)`: no service here, or no manager to start it; spawn as before.
pub fn start_installed(paths: &Paths) -> Result<Option<Client>, Failure> {
    let Some(manager) = Manager::native() else {
        return Ok(None);
    };
    let Ok(site) = Site::from_env(manager) else {
        return Ok(None);
    };
    if !site.file.exists() {
        return Ok(None);
    }
    let tool = Tool::new(manager);
    let domain = gui_domain();
    if let Err(why) = tool.reachable(domain.as_deref()) {
        eprintln!(
            "cxd: the {} is installed ({}) but {why}; starting a daemon outside it",
            manager.describe(),
            site.file.display()
        );
        return Ok(None);
    }
    let fail = |what: String| {
        Failure::new(
            UNREACHABLE,
            format!(
                "{what}; see {} and `cxd service status` (or `cxd service uninstall` to let cxd \
                 start its own daemon)",
                manager.logs_hint(&paths.state_dir)
            ),
        )
    };
    let started = match (manager, domain.as_deref()) {
        (Manager::Systemd, _) => tool.must(&["start", UNIT]).map(drop),
        (Manager::Launchd, Some(d)) => tool
            .must(&["kickstart", &format!("{d}/{LABEL}")])
            .map(drop)
            .or_else(|_| {
                tool.must(&["bootstrap", d, &site.file.to_string_lossy()])
                    .map(drop)
            }),
        (Manager::Launchd, None) => Err(anyhow::anyhow!("cannot tell the user's id")),
    };
    started.map_err(|e| fail(format!("cannot start the {}: {e:#}", manager.describe())))?;
    eprintln!("cxd: started the {}", manager.describe());
    let deadline = Instant::now() + START_WAIT;
    loop {
        if let Ok(c) = Client::connect(paths) {
            return Ok(Some(c));
        }
        if Instant::now() > deadline {
            return Err(fail(format!(
                "started the {} but the daemon did not answer on {} within {}s",
                manager.describe(),
                paths.socket.display(),
                START_WAIT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs<'a>(path: &'a str) -> RenderInputs<'a> {
        RenderInputs {
            exe: Path::new("/opt/cxd tools/bin/cxd"),
            path: OsStr::new(path),
            home: Path::new("/home/ann"),
            state_dir: Path::new("/home/ann/.local/state/cxd"),
        }
    }

    #[test]
    fn the_unit_is_a_pure_function_of_its_inputs() {
        let unit = render(Manager::Systemd, inputs("/usr/local/bin:/usr/bin:/bin")).unwrap();
        let again = render(Manager::Systemd, inputs("/usr/local/bin:/usr/bin:/bin")).unwrap();
        assert_eq!(unit, again);
        assert!(!unit.contains("{{"), "{unit}");
        let service: Vec<&str> = unit
            .lines()
            .skip_while(|l| *l != "[Service]")
            .filter(|l| !l.starts_with('#'))
            .take_while(|l| !l.is_empty())
            .collect();
        assert_eq!(
            service,
            [
                "[Service]",
                "Type=notify",
                "ExecStart=\"/opt/cxd tools/bin/cxd\" daemon",
                "Environment=\"PATH=/usr/local/bin:/usr/bin:/bin\"",
                "Environment=\"CXD_STATE_DIR=/home/ann/.local/state/cxd\"",
                "Restart=on-failure",
                "RestartSec=2",
                "KillMode=mixed",
                "TimeoutStopSec=20",
            ]
        );
        for line in [
            "StartLimitIntervalSec=60",
            "StartLimitBurst=5",
            "WantedBy=default.target",
        ] {
            assert!(unit.lines().any(|l| l == line), "{line} missing:\n{unit}");
        }
    }

    #[test]
    fn the_unit_escapes_specifiers_quotes_and_variables() {
        let mut i = inputs("/a%b:/c\"d\\e:/f$g");
        let exe = PathBuf::from("/x/$HOME%n/cxd");
        i.exe = &exe;
        let unit = render(Manager::Systemd, i).unwrap();
        assert!(
            unit.contains("ExecStart=\"/x/$$HOME%%n/cxd\" daemon\n"),
            "{unit}"
        );
        assert!(
            unit.contains("Environment=\"PATH=/a%%b:/c\\\"d\\\\e:/f$g\"\n"),
            "{unit}"
        );
    }

    #[test]
    fn the_plist_is_a_pure_function_of_its_inputs() {
        let plist = render(Manager::Launchd, inputs("/opt/homebrew/bin:/usr/bin&x")).unwrap();
        assert_eq!(
            plist,
            render(Manager::Launchd, inputs("/opt/homebrew/bin:/usr/bin&x")).unwrap()
        );
        assert!(!plist.contains("{{"), "{plist}");
        for needle in [
            "<key>Label</key>\n\t<string>dev.cxd.daemon</string>",
            "<array>\n\t\t<string>/opt/cxd tools/bin/cxd</string>\n\t\t<string>daemon</string>\n\t</array>",
            "<key>RunAtLoad</key>\n\t<true/>",
            "<key>SuccessfulExit</key>\n\t\t<false/>",
            "<key>PATH</key>\n\t\t<string>/opt/homebrew/bin:/usr/bin&amp;x</string>",
            "<key>WorkingDirectory</key>\n\t<string>/home/ann</string>",
            "<string>/home/ann/.local/state/cxd/launchd.stderr.log</string>",
        ] {
            assert!(plist.contains(needle), "{needle} missing:\n{plist}");
        }
    }

    #[test]
    fn bad_inputs_are_refused_with_the_reason() {
        let err = render(Manager::Systemd, inputs("/bin\n/evil")).unwrap_err();
        assert!(err.to_string().contains("PATH"), "{err}");
        let mut i = inputs("/bin");
        i.exe = Path::new("cxd");
        let err = render(Manager::Launchd, i).unwrap_err();
        assert!(err.to_string().contains("not absolute"), "{err}");
    }

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

    #[test]
    fn reads_launchctl_print() {
        let text =
            "gui/501/dev.cxd.daemon = {\n\tactive count = 1\n\tstate = running\n\tpid = 42\n";
        assert_eq!(launchd_field(text, "state"), Some("running"));
        assert_eq!(launchd_field(text, "pid"), Some("42"));
        assert_eq!(launchd_field(text, "program"), None);
    }
}
