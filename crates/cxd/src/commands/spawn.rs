//! Starting a daemon in the background when a command needs one (as watchman's client does).

use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cxd_proto::paths::Paths;

use crate::client::Client;
use crate::exit::{Failure, UNREACHABLE};

/// How long a freshly spawned daemon has to answer.
const SPAWN_WAIT: Duration = Duration::from_secs(15);

/// Connect, starting `cxd daemon` in the background first if none answers.
pub fn connect_or_spawn(paths: &Paths, spawn: bool) -> Result<Client, Failure> {
    match Client::connect(paths) {
        Ok(c) => return Ok(c),
        Err(e) if !spawn || e.code != UNREACHABLE => return Err(e),
        Err(e) if paths.socket.exists() && !stale(&paths.socket) => return Err(e),
        Err(_) => {}
    }
    // An installed user service owns the daemon: start it rather than a second, unmanaged one.
    if let Some(client) = super::service::start_installed(paths)? {
        return Ok(client);
    }
    // The daemon checks the state dir (and closes one open to others); create it private.
    cxd_daemon::state_dir::create_private(&paths.state_dir).map_err(|e| {
        Failure::new(
            UNREACHABLE,
            format!("cannot create {}: {e}", paths.state_dir.display()),
        )
    })?;
    let err_path = paths.state_dir.join("daemon.stderr");
    let err_file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&err_path)
        .map_err(|e| {
            Failure::new(
                UNREACHABLE,
                format!("cannot create {}: {e}", err_path.display()),
            )
        })?;
    let exe = std::env::current_exe()
        .map_err(|e| Failure::new(UNREACHABLE, format!("cannot find the cxd executable: {e}")))?;
    let mut child = Command::new(exe)
        .arg("daemon")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err_file)
        // Its own process group: a Ctrl-C in this terminal does not stop it.
        .process_group(0)
        .spawn()
        .map_err(|e| Failure::new(UNREACHABLE, format!("cannot start cxd daemon: {e}")))?;
    eprintln!(
        "cxd: started the daemon in the background (pid {})",
        child.id()
    );
    let deadline = Instant::now() + SPAWN_WAIT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let why = std::fs::read_to_string(&err_path).unwrap_or_default();
            return Err(Failure::new(
                UNREACHABLE,
                format!("the daemon exited at start ({status}): {}", why.trim()),
            ));
        }
        if let Ok(c) = Client::connect(paths) {
            return Ok(c);
        }
        if Instant::now() > deadline {
            return Err(Failure::new(
                UNREACHABLE,
                format!(
                    "started a daemon but it did not answer within {}s; see {} and the logs in {}",
                    SPAWN_WAIT.as_secs(),
                    err_path.display(),
                    paths.state_dir.join("logs").display()
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A socket file nobody listens on.
fn stale(socket: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(socket).is_err()
}
