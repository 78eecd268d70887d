//! Starting the installed service when a command needs a daemon, and waiting until the daemon
//! answers on the socket.

use std::time::{Duration, Instant};

use cxd_proto::paths::Paths;
use cxd_proto::{Request, Response};

use super::tool::{Tool, gui_domain};
use super::{LABEL, Manager, START_WAIT, Site, UNIT};
use crate::client::Client;
use crate::exit::{Failure, UNREACHABLE};

/// The pid of a daemon answering on `socket`, polling until `wait` passes.
pub(super) fn wait_answering(paths: &Paths, wait: Duration) -> Option<u32> {
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
