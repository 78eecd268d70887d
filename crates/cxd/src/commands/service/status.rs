//! `cxd service status`: whether the unit or plist is installed, what the manager says of it,
//! and whether a daemon answers on the socket.

use std::process::ExitCode;
use std::time::Duration;

use cxd_proto::paths::Paths;

use super::start::wait_answering;
use super::tool::{Tool, gui_domain};
use super::{LABEL, Manager, Site, UNIT};
use crate::exit::NO;

pub(super) fn status(paths: &Paths, site: &Site) -> anyhow::Result<ExitCode> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_launchctl_print() {
        let text =
            "gui/501/dev.cxd.daemon = {\n\tactive count = 1\n\tstate = running\n\tpid = 42\n";
        assert_eq!(launchd_field(text, "state"), Some("running"));
        assert_eq!(launchd_field(text, "pid"), Some("42"));
        assert_eq!(launchd_field(text, "program"), None);
    }
}
