//! `cxd service install` and `uninstall`: writing the unit or plist atomically, handing it to
//! the manager, and rolling back to what was there when the manager refuses.

use std::ffi::OsStr;
use std::io::Write as _;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use cxd_proto::paths::Paths;

use super::start::wait_answering;
use super::tool::{Tool, gui_domain};
use super::{LABEL, Manager, RenderInputs, START_WAIT, Site, UNIT, render};

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

pub(super) fn install(paths: &Paths, site: &Site, print: bool) -> anyhow::Result<ExitCode> {
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
        crate::commands::stop::run(paths).context("cannot stop the running daemon")?;
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

pub(super) fn uninstall(site: &Site) -> anyhow::Result<ExitCode> {
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
