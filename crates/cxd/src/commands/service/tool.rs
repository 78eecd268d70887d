//! Talking to the service manager through its command-line tool (`systemctl --user` or
//! `launchctl`, or the program an override variable names), and saying why it failed.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};

use super::Manager;

/// What running the manager's tool gave.
pub(super) struct ToolRun {
    pub(super) ok: bool,
    pub(super) stdout: String,
    pub(super) stderr: String,
}

impl ToolRun {
    /// The output that explains a failure.
    pub(super) fn why(&self) -> String {
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
pub(super) struct Tool {
    pub(super) manager: Manager,
    pub(super) program: OsString,
}

impl Tool {
    pub(super) fn new(manager: Manager) -> Self {
        let (name, var) = manager.tool();
        let program = std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| OsString::from(name));
        Self { manager, program }
    }

    pub(super) fn line(&self, args: &[&str]) -> String {
        let (name, _) = self.manager.tool();
        let user = if self.manager == Manager::Systemd {
            " --user"
        } else {
            ""
        };
        format!("{name}{user} {}", args.join(" "))
    }

    /// Run with `args`; Err when the tool cannot be started at all.
    pub(super) fn run(&self, args: &[&str]) -> std::io::Result<ToolRun> {
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
    pub(super) fn must(&self, args: &[&str]) -> anyhow::Result<ToolRun> {
        let run = self
            .run(args)
            .with_context(|| format!("cannot run `{}`", self.line(args)))?;
        if !run.ok {
            bail!("`{}` failed: {}", self.line(args), run.why());
        }
        Ok(run)
    }

    /// Is a user service manager there to talk to? Err(why) when not.
    pub(super) fn reachable(&self, domain: Option<&str>) -> Result<(), String> {
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
pub(super) fn gui_domain() -> Option<String> {
    let out = Command::new("id").arg("-u").output().ok()?;
    let uid = String::from_utf8(out.stdout).ok()?;
    let uid = uid.trim();
    (out.status.success() && !uid.is_empty() && uid.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("gui/{uid}"))
}
